"""Read-only views of recording sessions, shared by the core, the API and the CLI.

They serialise to and from JSON with dataclasses-json (``to_dict``/``from_dict``);
:meth:`SessionSnapshot.to_dict` is written out by hand because it runs twice per
call on the SIP process's loop, where dataclasses-json's generic walk cost ~0.5 ms
per snapshot (a test checks both give the same dict).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from dataclasses_json import DataClassJsonMixin, config


def plain(value: Any) -> Any:
    """A JSON-able copy of ``value``: dicts and lists copied, tuples as lists."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamInfo(DataClassJsonMixin):
    """One offered ``m=`` line of a recording session and how we answered it."""

    index: int
    label: str | None
    port: int
    rtcp_port: int | None
    codecs: tuple[str, ...]
    direction: str
    paused: bool
    packets: int = 0
    # RFC 4568 crypto suite of an SRTP stream, never a key; absent for plain RTP.
    srtp_suite: str | None = field(
        default=None, metadata=config(exclude=lambda value: value is None)
    )

    def to_dict(self, encode_json: bool = False) -> dict[str, Any]:
        """As dataclasses-json gives it (``srtp_suite`` left out when None)."""
        out = {
            "index": self.index,
            "label": self.label,
            "port": self.port,
            "rtcp_port": self.rtcp_port,
            "codecs": list(self.codecs),
            "direction": self.direction,
            "paused": self.paused,
            "packets": self.packets,
        }
        if self.srtp_suite is not None:
            out["srtp_suite"] = self.srtp_suite
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class ParticipantView(DataClassJsonMixin):
    """A participant from the metadata and the m-lines (by index) it sends/receives."""

    id: str
    aor: str | None
    name: str | None
    sends: tuple[int, ...] = ()
    receives: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionSnapshot(DataClassJsonMixin):
    """A recording session as the REST API shows it."""

    id: str
    call_id: str
    state: str
    src_address: str
    transport: str
    streams: tuple[StreamInfo, ...]
    started_at: float
    is_siprec: bool
    metadata_parts: int = 0
    ended_at: float | None = None
    end_reason: str | None = None
    warnings: tuple[str, ...] = field(default=())
    participants: tuple[ParticipantView, ...] = field(default=())
    facts: dict[str, Any] = field(default_factory=dict)
    metadata_versions: int = 0
    metadata_problems: tuple[str, ...] = field(default=())
    # Paused by the operator (REST API); filled by the appliance, not the core.
    recording_paused: bool = False
    # The recording policy's decision (rules), as JSON; filled by the appliance.
    decision: dict[str, Any] | None = None

    def to_dict(self, encode_json: bool = False) -> dict[str, Any]:
        """As dataclasses-json gives it, field by field, without its generic walk."""
        out: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "streams":
                out["streams"] = [stream.to_dict() for stream in value]
            elif item.name == "participants":
                out["participants"] = [
                    {
                        "id": p.id,
                        "aor": p.aor,
                        "name": p.name,
                        "sends": list(p.sends),
                        "receives": list(p.receives),
                    }
                    for p in value
                ]
            else:
                out[item.name] = plain(value)
        return out

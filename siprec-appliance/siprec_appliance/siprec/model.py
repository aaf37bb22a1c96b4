"""Read-only views of recording sessions, shared by the core, the API and the CLI.

They serialise to and from JSON with dataclasses-json (``to_dict``/``from_dict``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dataclasses_json import DataClassJsonMixin, config


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

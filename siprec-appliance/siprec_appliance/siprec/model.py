"""Read-only views of recording sessions, shared by the core, the API and the CLI.

They serialise to and from JSON with dataclasses-json (``to_dict``/``from_dict``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dataclasses_json import DataClassJsonMixin


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

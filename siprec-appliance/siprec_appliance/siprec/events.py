"""Events the SIPREC core hands to the appliance (pull them with ``next_event()``)."""

from __future__ import annotations

from dataclasses import dataclass

from siprec_appliance.sip.multipart import BodyPart


@dataclass(frozen=True, slots=True)
class SessionOffered:
    """A new recording session awaits ``accept()`` or ``reject()`` (100 Trying was sent)."""

    session_id: str


@dataclass(frozen=True, slots=True)
class SessionAnswered:
    """200 OK with our SDP answer was sent; the ports of its streams are bound."""

    session_id: str


@dataclass(frozen=True, slots=True)
class SessionEstablished:
    """The ACK for our 200 OK arrived."""

    session_id: str


@dataclass(frozen=True, slots=True)
class StreamsChanged:
    """A re-INVITE or UPDATE changed streams: ports, codecs or pause state."""

    session_id: str
    paused: tuple[int, ...]
    resumed: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class MetadataReceived:
    """Recording metadata (RFC 7865) arrived in an INVITE, re-INVITE or UPDATE."""

    session_id: str
    parts: tuple[BodyPart, ...]
    method: str


@dataclass(frozen=True, slots=True)
class SessionEnded:
    session_id: str
    reason: str


Event = (
    SessionOffered
    | SessionAnswered
    | SessionEstablished
    | StreamsChanged
    | MetadataReceived
    | SessionEnded
)

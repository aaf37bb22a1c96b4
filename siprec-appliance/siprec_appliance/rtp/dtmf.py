"""RFC 4733 telephone-events: payload parsing and aggregation into DTMF events.

A key press is sent as several packets that share the RTP timestamp of the event
start, each with the duration so far; the last one has the E bit and is repeated
(three times, usually) for reliability (RFC 4733 §2.5.1.4). The
:class:`DtmfAggregator` turns the packets, in sequence order as a jitter buffer
releases them, into one :class:`DtmfEvent` per press.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from siprec_appliance.rtp.packet import RtpError, RtpPacket

__all__ = ["DtmfAggregator", "DtmfEvent", "TelephoneEvent", "event_name"]

# RFC 4733 §3.2 (Table 3): DTMF named events 0-15; 16 is hook flash.
_DTMF_NAMES = "0123456789*#ABCD"
_EVENT = struct.Struct("!BBH")
_MAX_DURATION = 0xFFFF


def event_name(event: int) -> str | None:
    """The key of a DTMF event code ("0"-"9", "*", "#", "A"-"D"), or None."""
    return _DTMF_NAMES[event] if 0 <= event < len(_DTMF_NAMES) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class TelephoneEvent:
    """One RFC 4733 §2.3 payload block: event, E bit, volume (-dBm0), duration."""

    event: int
    end: bool
    volume: int
    duration: int

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        """Parse the first event block of a telephone-event payload."""
        if len(payload) < 4:
            raise RtpError(f"telephone-event payload is {len(payload)} bytes, shorter than 4")
        event, flags, duration = _EVENT.unpack_from(payload)
        # The R bit (0x40) is reserved: ignored on receipt (RFC 4733 §2.3).
        return cls(event=event, end=bool(flags & 0x80), volume=flags & 0x3F, duration=duration)

    def __bytes__(self) -> bytes:
        flags = (0x80 if self.end else 0) | (self.volume & 0x3F)
        return _EVENT.pack(self.event, flags, self.duration)


@dataclass(frozen=True, slots=True, kw_only=True)
class DtmfEvent:
    """A whole event: start RTP timestamp and duration in RTP clock units.

    ``end`` is False when the end packets never came (the next event, a new SSRC
    or :meth:`DtmfAggregator.flush` closed it).
    """

    event: int
    start_timestamp: int
    duration: int
    end: bool
    volume: int
    ssrc: int

    @property
    def name(self) -> str | None:
        return event_name(self.event)


@dataclass(slots=True)
class _Current:
    ssrc: int
    event: int
    start_timestamp: int
    segment_timestamp: int  # RFC 4733 §2.5.1.3: a long event restarts the timestamp
    base: int  # duration of the segments before the current one
    duration: int
    volume: int

    def close(self, end: bool) -> DtmfEvent:
        return DtmfEvent(
            event=self.event,
            start_timestamp=self.start_timestamp,
            duration=self.base + self.duration,
            end=end,
            volume=self.volume,
            ssrc=self.ssrc,
        )


class DtmfAggregator:
    """Aggregates telephone-event packets into :class:`DtmfEvent` items."""

    def __init__(self) -> None:
        self._current: _Current | None = None
        self._ended: tuple[int, int] | None = None  # (SSRC, timestamp) already reported

    def push(self, packet: RtpPacket) -> list[DtmfEvent]:
        """Feed one telephone-event packet; return the events it completed.

        Raises :class:`~siprec_appliance.rtp.packet.RtpError` for a short payload.
        """
        block = TelephoneEvent.parse(packet.payload)
        key = (packet.ssrc, packet.timestamp)
        if key == self._ended:
            return []  # a retransmitted end packet (RFC 4733 §2.5.1.4)
        out: list[DtmfEvent] = []
        current = self._current
        if current is not None and (current.ssrc, current.segment_timestamp) != key:
            if self._continues(current, packet, block):
                current.base += current.duration
                current.segment_timestamp = packet.timestamp
                current.duration = 0
            else:
                out.append(current.close(end=False))
                current = None
        if current is None:
            current = _Current(
                packet.ssrc, block.event, packet.timestamp, packet.timestamp, 0, 0, block.volume
            )
        current.duration = max(current.duration, block.duration)
        current.volume = block.volume
        if block.end:
            out.append(current.close(end=True))
            self._ended = key
            self._current = None
        else:
            self._current = current
        return out

    @staticmethod
    def _continues(current: _Current, packet: RtpPacket, block: TelephoneEvent) -> bool:
        # RFC 4733 §2.5.1.3: when the duration would pass 0xFFFF, the sender starts a
        # new segment whose timestamp is the old one plus the old segment's duration.
        return (
            packet.ssrc == current.ssrc
            and block.event == current.event
            and current.duration == _MAX_DURATION
            and packet.timestamp == (current.segment_timestamp + _MAX_DURATION) % (1 << 32)
        )

    def flush(self) -> list[DtmfEvent]:
        """Close an event whose end packets never came (end of stream)."""
        current, self._current = self._current, None
        return [current.close(end=False)] if current is not None else []

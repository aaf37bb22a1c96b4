"""Jitter buffer: packets in, packets in sequence order out, losses as gaps.

A recorder does not play audio out on a clock, so this buffer never delays a packet
that can go now: the next expected packet is released at once, and only packets
behind a hole are held. A hole becomes a :class:`Gap` (loss) once it can no longer
be filled: more than ``capacity_packets`` packets wait behind it, or the first of
them has waited ``max_delay`` seconds. Time is always passed in as ``now``.

Sequence numbers are extended to integers (RFC 3550 §A.1) so the 16-bit wrap is
invisible inside. A jump of more than MAX_DROPOUT ahead or MAX_MISORDER behind is
taken as a sender restart only when the next packet follows it (§A.1 ``bad_seq``);
the buffer then flushes and starts over, as it does when the SSRC changes.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

from siprec_appliance.errors import LocalProtocolError
from siprec_appliance.rtp.packet import RtpPacket
from siprec_appliance.rtp.stats import MAX_DROPOUT, MAX_MISORDER, StreamStats

__all__ = ["Gap", "JitterBuffer", "Released"]

_SEQ_MOD = 1 << 16
_TS_MOD = 1 << 32
_RING = 1024  # released sequence numbers remembered, to tell duplicates from late
_EMPTY_RING = array("q", [-1]) * _RING


def _empty_ring() -> array[int]:
    # An array, not a list: it holds no object references, so the cyclic garbage
    # collector never traverses it (1,024 slots per stream made full collections of
    # a media worker with 1,000 streams take tens of milliseconds).
    return array("q", _EMPTY_RING)


_RETIRED = 4  # previous SSRCs remembered, to drop their stragglers


@dataclass(frozen=True, slots=True)
class Gap:
    """Packets given up as lost (RFC 3550 §A.3), in place of the missing packets.

    ``start_seq`` is the first missing sequence number and ``count`` how many are
    missing. ``start_ts`` and ``samples`` (in RTP clock units) estimate the audio
    they carried: it starts one packet interval after the last released packet and
    lasts ``count`` intervals, never past the next packet.
    """

    start_seq: int
    count: int
    start_ts: int
    samples: int


Released = RtpPacket | Gap


class JitterBuffer:
    """Reorders one RTP stream; ``push`` and ``poll`` return what is released."""

    def __init__(
        self, capacity_packets: int, max_delay: float, *, stats: StreamStats | None = None
    ) -> None:
        if capacity_packets < 1 or max_delay < 0:
            raise LocalProtocolError("capacity_packets must be >= 1 and max_delay >= 0")
        self.capacity_packets = capacity_packets
        self.max_delay = max_delay
        self.stats = stats if stats is not None else StreamStats()
        self._ssrc: int | None = None
        self._retired: dict[int, tuple[int, float]] = {}  # SSRC -> (next seq, when)
        self._pending: dict[int, tuple[RtpPacket, float]] = {}  # extended seq -> packet
        self._released = _empty_ring()
        self._next = 0  # extended sequence number of the next packet to release
        self._highest = 0
        self._last_ext = -2
        self._last_pt = -1
        self._last_ts = 0
        self._step = 0  # RTP clock units per packet, learned from in-order packets
        self._bad_seq = -1
        self._bad: tuple[RtpPacket, float] | None = None

    @property
    def pending(self) -> int:
        """Packets held behind a hole."""
        return len(self._pending)

    def deadline(self) -> float | None:
        """When :meth:`poll` would give up on the current hole, or None."""
        if not self._pending:
            return None
        return min(arrival for _, arrival in self._pending.values()) + self.max_delay

    def push(self, packet: RtpPacket, now: float) -> list[Released]:
        """Add one arriving packet; return the packets and gaps now released."""
        if packet.ssrc != self._ssrc:
            return self._new_source(packet, now)
        self.stats.on_packet(packet, now)
        ext = self._next
        if not self._pending and packet.sequence_number == ext & 0xFFFF:
            # Fast path, the common case: the next expected packet and nothing held.
            self._bad = None
            if ext < self._highest:
                self.stats.reordered += 1
            else:
                self._highest = ext
            out: list[Released] = []
            self._release(packet, ext, out)
            return out
        delta = _seq_delta(packet.sequence_number, self._next)
        if delta > MAX_DROPOUT or delta < -MAX_MISORDER:
            return self._probation(packet, now)
        self._bad = None
        ext = self._next + delta
        out = []
        if delta < 0 or ext in self._pending:
            if delta < 0 and self._released[ext % _RING] != ext:
                self.stats.late += 1  # its slot was already given up as lost
            else:
                self.stats.duplicated += 1
            return out
        if ext < self._highest:
            self.stats.reordered += 1
        else:
            self._highest = ext
        if delta == 0:
            self._release(packet, ext, out)
            self._drain(out)
        else:
            self._pending[ext] = (packet, now)
        if self._pending:
            self._expire(now, out)
        return out

    def poll(self, now: float) -> list[Released]:
        """Release what timed out without a new packet (call at :meth:`deadline`)."""
        out: list[Released] = []
        if self._pending:
            self._expire(now, out)
        return out

    def flush(self) -> list[Released]:
        """Release everything held, gaps included (end of stream, SSRC change)."""
        out: list[Released] = []
        while self._pending:
            self._give_up(out)
        return out

    def _new_source(self, packet: RtpPacket, now: float) -> list[Released]:
        retired = self._retired.get(packet.ssrc)
        if retired is not None and (
            _seq_delta(packet.sequence_number, retired[0]) < 0 or now < retired[1] + self.max_delay
        ):
            # A straggler from an SSRC already replaced: behind where it stopped, or
            # within max_delay of the switch. Later and ahead, the source came back.
            self.stats.late += 1
            return []
        out = self.flush()
        self._restart(packet, now, out)
        return out

    def _restart(self, packet: RtpPacket, now: float, out: list[Released]) -> None:
        """Start over at ``packet`` (new SSRC or sender restart)."""
        if self._ssrc is not None and self._ssrc != packet.ssrc:
            self._retired[self._ssrc] = (self._next % _SEQ_MOD, now)
            while len(self._retired) > _RETIRED:
                del self._retired[next(iter(self._retired))]
        self._retired.pop(packet.ssrc, None)
        if self._ssrc != packet.ssrc:
            self.stats.on_packet(packet, now)
        self._ssrc = packet.ssrc
        self._released = _empty_ring()
        self._bad = None
        self._step = 0
        self._last_ext = -2
        ext = _SEQ_MOD + packet.sequence_number  # positive, so -1 never matches
        self._highest = ext
        self._release(packet, ext, out)

    def _probation(self, packet: RtpPacket, now: float) -> list[Released]:
        # RFC 3550 §A.1: a big jump is believed when the next packet follows it.
        out: list[Released] = []
        if self._bad is not None and packet.sequence_number == self._bad_seq:
            first = self._bad[0]
            out = self.flush()
            self._restart(first, now, out)
            self._release(packet, self._next, out)
            self._highest = self._next - 1
            return out
        self._bad = (packet, now)
        self._bad_seq = (packet.sequence_number + 1) % _SEQ_MOD
        return out

    def _release(self, packet: RtpPacket, ext: int, out: list[Released]) -> None:
        # Learn the packet interval from consecutive packets of one payload type; a
        # marker starts a talkspurt after silence (RFC 3551 §4.1): not an interval.
        step = (packet.timestamp - self._last_ts) % _TS_MOD
        if (
            ext == self._last_ext + 1
            and packet.payload_type == self._last_pt
            and not packet.marker
            and 0 < step < _TS_MOD // 2
        ):
            self._step = step
        out.append(packet)
        self._released[ext % _RING] = ext
        self._next = ext + 1
        self._last_ext = ext
        self._last_pt = packet.payload_type
        self._last_ts = packet.timestamp

    def _drain(self, out: list[Released]) -> None:
        while self._next in self._pending:
            packet, _ = self._pending.pop(self._next)
            self._release(packet, self._next, out)

    def _expire(self, now: float, out: list[Released]) -> None:
        while self._pending and (
            len(self._pending) > self.capacity_packets or self._timed_out(now)
        ):
            self._give_up(out)

    def _timed_out(self, now: float) -> bool:
        deadline = self.deadline()
        return deadline is not None and now >= deadline

    def _give_up(self, out: list[Released]) -> None:
        """Declare the hole before the first held packet lost, release what follows."""
        first = min(self._pending)
        packet = self._pending[first][0]
        count = first - self._next
        span = (packet.timestamp - self._last_ts) % _TS_MOD
        if span >= _TS_MOD // 2:
            span = 0
        step = self._step or span // (count + 1)
        samples = max(0, min(count * step, span - step))
        out.append(Gap(self._next % _SEQ_MOD, count, (self._last_ts + step) % _TS_MOD, samples))
        self._next = first
        self._drain(out)


def _seq_delta(seq: int, reference: int) -> int:
    """``seq - reference`` modulo 2^16 as a signed number (RFC 1982 style)."""
    return (seq - reference + 0x8000) % _SEQ_MOD - 0x8000

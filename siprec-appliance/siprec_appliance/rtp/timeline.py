"""Per-stream timeline: where each released packet's audio goes in the recording.

:class:`StreamTimeline` consumes what a :class:`~siprec_appliance.rtp.jitter.JitterBuffer`
releases (packets in sequence order, and :class:`Gap` items for losses) and yields
:class:`Segment` items: a sample offset, a kind and a length in output samples, so
a writer can place decoded audio exactly and fill the holes.

Placement rules (``sample_rate`` is the decoded audio rate, ``clock_rate`` the RTP
clock; they differ for G.722, RFC 3551 §4.5.2: clock 8000, audio 16000):

* An audio packet starts at ``base_offset + (ts - base_ts) * sample_rate //
  clock_rate``, with ``ts`` extended over the 32-bit wrap (RFC 3550 §5.1).
* A hole between the end of the previous audio and the next packet is "loss" where
  a :class:`Gap` says packets were lost, and "silence" otherwise: DTX, a timestamp
  jump without a sequence gap, or the time after a comfort-noise packet (RFC 3389;
  the CN packet rides on the silence segment). Loss is placed first in a hole.
* A new sub-timeline starts when the SSRC changes, when sequence numbers restart
  (a packet that does not follow the previous one or its gap), or when the RTP
  timestamp goes backwards. It starts at the wall-clock-aligned position of its
  first packet, ``(arrival - first arrival of the stream) * sample_rate``, but never
  before the end of what is already placed; the hole in between is silence without
  a packet.
* telephone-event packets (RFC 4733, ``event_types``) are not placed: their
  timestamp is the start of an event, not of audio. Route them to a
  :class:`~siprec_appliance.rtp.dtmf.DtmfAggregator` as well.

:class:`InOrderPath` is a fast path past a jitter buffer, its stats and a timeline
for runs of in-order G.711 packets: the same state and placement, one
:class:`AudioRun` per run instead of a packet and a segment per packet.

Wall clock: :meth:`StreamTimeline.map_rtp_to_wall` uses the latest RTCP SR of the
current SSRC (the sender's NTP clock, as Unix time) and falls back to
:meth:`StreamTimeline.map_rtp_to_arrival` (the ``now`` of the sub-timeline's first
packet). Pass ``now`` as Unix time (``time.time()`` at the socket) so that both
are on one scale; to align two legs, compare ``map_rtp_to_wall`` of their first
segments, or ``origin_arrival`` when either has no SR.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Literal, NamedTuple, TypeVar

from siprec_appliance.errors import LocalProtocolError
from siprec_appliance.rtp.jitter import _RING, Gap, JitterBuffer, Released
from siprec_appliance.rtp.packet import RtpPacket
from siprec_appliance.rtp.rtcp import SenderReport
from siprec_appliance.rtp.stats import MAX_DROPOUT

__all__ = ["AudioRun", "InOrderPath", "Segment", "SegmentKind", "StreamTimeline"]

SegmentKind = Literal["audio", "silence", "loss"]

_SEQ_MOD = 1 << 16
_TS_MOD = 1 << 32
_MAX_REPORTS = 8  # SSRCs whose latest SR is kept
PT_CN = 13  # RFC 3551 Table 4, RFC 3389


@dataclass(frozen=True, slots=True)
class Segment:
    """``duration`` output samples of one kind, from ``sample_offset`` on.

    ``packet`` is the RTP packet for "audio", the comfort-noise packet (if any) for
    "silence", and None for "loss" and for silence between sub-timelines.
    """

    sample_offset: int
    kind: SegmentKind
    duration: int
    packet: RtpPacket | None = None


def _ts_delta(ts: int, reference: int) -> int:
    """``ts - reference`` modulo 2^32 as a signed number."""
    return (ts - reference + 0x80000000) % _TS_MOD - 0x80000000


class StreamTimeline:
    """Turns released packets and gaps of one stream into placed segments."""

    def __init__(
        self,
        clock_rate: int,
        sample_rate: int | None = None,
        *,
        ptime: float = 0.02,
        comfort_noise_types: Collection[int] = (PT_CN,),
        event_types: Collection[int] = (),
        packet_duration: Callable[[RtpPacket], int] | None = None,
    ) -> None:
        """``packet_duration(packet)`` gives a packet's length in RTP clock units
        (G.711 and G.722: ``len(payload)``). Without it the length is learned from
        consecutive packets, starting from ``ptime`` seconds."""
        if clock_rate <= 0 or (sample_rate is not None and sample_rate <= 0):
            raise LocalProtocolError("clock_rate and sample_rate must be positive")
        self.clock_rate = clock_rate
        self.sample_rate = sample_rate or clock_rate
        self.sub_timelines = 0
        self._cn_types = frozenset(comfort_noise_types)
        self._event_types = frozenset(event_types)
        self._packet_duration = packet_duration
        self._step = max(1, round(clock_rate * ptime))
        self._reports: dict[int, tuple[int, float]] = {}
        self._origin_arrival: float | None = None
        self._ssrc: int | None = None
        self._end = 0
        self._begin_state(0, 0, 0.0)

    def _begin_state(self, offset: int, timestamp: int, now: float) -> None:
        self._base_offset = offset
        self._base_ts = timestamp
        self._base_ext = timestamp
        self._base_arrival = now
        self._last_ext = timestamp
        self._expected_seq = -1
        self._gap: Gap | None = None
        self._cn: RtpPacket | None = None
        self._last_audio: tuple[int, int] | None = None  # (sequence number, ext ts)

    @property
    def ssrc(self) -> int | None:
        return self._ssrc

    @property
    def end(self) -> int:
        """Output samples placed so far (end of the last audio or filler)."""
        return self._end

    @property
    def origin_arrival(self) -> float | None:
        """Arrival time of the stream's first packet, placed at sample offset 0."""
        return self._origin_arrival

    @property
    def wall_clock_source(self) -> Literal["rtcp", "arrival"]:
        """Which mapping :meth:`map_rtp_to_wall` uses for the current SSRC."""
        return "rtcp" if self._ssrc in self._reports else "arrival"

    def push(self, item: Released, now: float) -> list[Segment]:
        """Place one released packet or gap; ``now`` is when it was released."""
        if isinstance(item, Gap):
            previous = self._gap
            if previous is not None:  # adjacent gaps: one hole
                item = replace(
                    previous,
                    count=previous.count + item.count,
                    samples=previous.samples + item.samples,
                )
            self._gap = item
            self._expected_seq = (item.start_seq + item.count) % _SEQ_MOD
            return []
        out: list[Segment] = []
        packet = item
        if (
            packet.ssrc == self._ssrc
            and packet.sequence_number == self._expected_seq
            and packet.payload_type not in self._event_types
        ):
            # Fast path, the common case: the next packet of the current sub-timeline.
            last = self._last_ext
            ext = last + (packet.timestamp - last + 0x80000000) % _TS_MOD - 0x80000000
            if ext >= last:
                self._expected_seq = (packet.sequence_number + 1) % _SEQ_MOD
                self._place(packet, ext, out)
                return out
        if self._ssrc is None:
            self._origin_arrival = now
            self._start_sub(packet, 0, now)
        elif packet.ssrc != self._ssrc or packet.sequence_number != self._expected_seq:
            self._new_sub(packet, now, out)
        self._expected_seq = (packet.sequence_number + 1) % _SEQ_MOD
        if packet.payload_type in self._event_types:
            return out
        ext = self._last_ext + _ts_delta(packet.timestamp, self._last_ext)
        if ext < self._last_ext:
            self._new_sub(packet, now, out)
            ext = self._base_ext
        self._place(packet, ext, out)
        return out

    def push_all(self, items: Iterable[Released], now: float) -> list[Segment]:
        """:meth:`push` for everything one ``JitterBuffer.push`` released."""
        out: list[Segment] = []
        for item in items:
            out.extend(self.push(item, now))
        return out

    def offset_of(self, rtp_ts: int) -> int:
        """Output sample offset of an RTP timestamp of the current sub-timeline."""
        delta = _ts_delta(rtp_ts, self._last_ext) + self._last_ext - self._base_ext
        return self._base_offset + delta * self.sample_rate // self.clock_rate

    def on_sender_report(self, report: SenderReport) -> None:
        """Remember the latest NTP/RTP pair of an SSRC (RFC 3550 §6.4.1)."""
        self._reports.pop(report.ssrc, None)
        self._reports[report.ssrc] = (report.rtp_timestamp, report.unix_time)
        while len(self._reports) > _MAX_REPORTS:
            del self._reports[next(iter(self._reports))]

    def map_rtp_to_wall(self, rtp_ts: int) -> float:
        """Wall-clock time (Unix seconds) of an RTP timestamp of the current SSRC.

        From the latest RTCP SR of that SSRC when there is one (the sender's clock),
        else from the arrival time of the sub-timeline's first packet.
        """
        report = self._reports.get(self._ssrc) if self._ssrc is not None else None
        if report is None:
            return self.map_rtp_to_arrival(rtp_ts)
        return report[1] + _ts_delta(rtp_ts, report[0]) / self.clock_rate

    def map_rtp_to_arrival(self, rtp_ts: int) -> float:
        """Arrival-clock time of an RTP timestamp, from the sub-timeline's first packet."""
        if self._ssrc is None:
            raise LocalProtocolError("no RTP packet has been placed yet")
        return self._base_arrival + _ts_delta(rtp_ts, self._base_ts) / self.clock_rate

    def _start_sub(self, packet: RtpPacket, offset: int, now: float) -> None:
        self._ssrc = packet.ssrc
        self.sub_timelines += 1
        self._begin_state(offset, packet.timestamp, now)

    def _new_sub(self, packet: RtpPacket, now: float, out: list[Segment]) -> None:
        """Continue at the wall-clock-aligned position, never overlapping (see module)."""
        origin = self._origin_arrival if self._origin_arrival is not None else now
        start = max(self._end, round((now - origin) * self.sample_rate))
        if start > self._end:
            out.append(Segment(self._end, "silence", start - self._end))
        self._end = start
        self._start_sub(packet, start, now)

    def _place(self, packet: RtpPacket, ext: int, out: list[Segment]) -> None:
        offset = self._base_offset + (ext - self._base_ext) * self.sample_rate // self.clock_rate
        self._fill(offset, out)
        self._last_ext = ext
        if packet.payload_type in self._cn_types:
            self._cn = packet  # silence until the next packet (RFC 3389 §4)
            self._end = max(self._end, offset)
            return
        duration = self._duration(packet, ext) * self.sample_rate // self.clock_rate
        out.append(Segment(offset, "audio", duration, packet))
        self._end = max(self._end, offset + duration)
        self._cn = None

    def _duration(self, packet: RtpPacket, ext: int) -> int:
        if self._packet_duration is not None:
            return self._packet_duration(packet)
        last = self._last_audio
        self._last_audio = (packet.sequence_number, ext)
        if (
            last is not None
            and (last[0] + 1) % _SEQ_MOD == packet.sequence_number
            and not packet.marker
            and ext > last[1]
        ):
            self._step = ext - last[1]
        return self._step

    def _fill(self, offset: int, out: list[Segment]) -> None:
        """Fill the hole before ``offset`` with loss (per the pending gap) and silence."""
        gap, self._gap = self._gap, None
        start = self._end
        if offset <= start:
            return
        loss_start = loss_end = start
        if gap is not None and gap.samples > 0:
            gap_ext = self._last_ext + _ts_delta(gap.start_ts, self._last_ext)
            scaled = (gap_ext - self._base_ext) * self.sample_rate // self.clock_rate
            loss_start = min(max(self._base_offset + scaled, start), offset)
            loss_end = min(offset, loss_start + gap.samples * self.sample_rate // self.clock_rate)
        if loss_start > start:
            out.append(Segment(start, "silence", loss_start - start, self._cn))
        if loss_end > loss_start:
            out.append(Segment(loss_start, "loss", loss_end - loss_start))
        if offset > loss_end:
            out.append(Segment(loss_end, "silence", offset - loss_end, self._cn))
        self._end = offset


# --------------------------------------------------------------------------------
# The in-order fast path: the common packet without per-packet objects.
#
# Almost every packet of a call is the next one: the locked SSRC, the next sequence
# number, a timestamp that continues the timeline exactly, the payload type of the
# packet before, no marker, a plain 12-byte header, nothing held in the jitter
# buffer. For such a packet JitterBuffer.push, StreamStats.on_packet and
# StreamTimeline.push each take their own fast branch, and what they do is a handful
# of integer updates. InOrderPath does exactly those updates for a run of such
# packets, reading the header with one struct.unpack_from and joining the payloads,
# with no RtpPacket, Segment or released list per packet; the run comes back as one
# AudioRun (one decode, one write).
#
# State stays in the three objects: InOrderPath.take reads what it needs from them
# when it starts ("arming": every condition under which their fast branches would
# run) and, before it returns, writes back exactly the state their fast branches
# would have left after the same packets. So the full path can take over at any
# packet, and nothing is cached between calls. The first packet that is not in
# order (gap, reorder, duplicate, other SSRC or source, marker, timestamp jump, CN,
# telephone-event, CSRC/extension/padding, RTCP, sequence number wrap, an arrival
# the caller wants checked) is handed back untouched, for the full path.
#
# Only payload types whose packets last one RTP clock unit and one output sample
# per payload octet qualify (G.711, RFC 3551 §4.5.14), and only while the
# timeline's sample rate is its clock rate: a packet's length is len(payload).

_HEADER = struct.Struct("!BBHII")  # RFC 3550 §5.1 fixed header
_PLAIN = 0x80  # V=2, no padding, no extension, no CSRC
_TS_MASK = _TS_MOD - 1
_TS_HALF = _TS_MOD // 2

Item = TypeVar("Item", bound=tuple[bytes, object, float])


class AudioRun(NamedTuple):
    """Packets of one payload type placed back to back from ``sample_offset``.

    ``payload`` is their payloads joined (one octet per sample), ``duration`` the
    output samples they fill (``len(payload)``), ``packets`` how many there were.
    """

    payload_type: int
    sample_offset: int
    payload: bytes
    duration: int
    packets: int


class InOrderPath:
    """Consumes in-order packets on behalf of a jitter buffer, its stats and a timeline."""

    def __init__(self, jitter: JitterBuffer, timeline: StreamTimeline) -> None:
        self.jitter = jitter
        self.stats = jitter.stats
        self.timeline = timeline
        self.last_arrival = 0.0  # arrival of the last packet taken

    def take(
        self,
        items: Iterator[Item],
        source: object,
        ssrc: int,
        quiet_from: float,
        payload_types: Collection[int],
    ) -> tuple[AudioRun | None, Item | None]:
        """Take packets from ``items`` while they are in order. Returns their run
        (None when none was taken) and the first item not taken (for the full path;
        None when ``items`` ran out).

        ``source`` is the latched source address and ``ssrc`` the locked SSRC (the
        recorder's policies); packets that arrived before ``quiet_from`` (a muted
        span may cover them) are left to the full path.
        """
        armed = self._arm(ssrc, payload_types)
        if armed is None:
            return None, next(items, None)
        payload_type, expected_seq, offset, expected_ext, delta = armed
        base = expected_ext - offset  # extended timestamp of output sample 0
        stats = self.stats
        clock = stats.clock_rate
        jitter = stats.jitter
        last_arrival = stats._last_arrival
        assert last_arrival is not None  # checked by _arm
        mask = _TS_MASK
        expected_ts = expected_ext & mask
        unpack = _HEADER.unpack_from
        plain = _PLAIN  # V=2, no padding, extension or CSRC; and no marker below
        payloads: list[bytes] = []
        append = payloads.append
        left: Item | None = None
        for item in items:
            raw, addr, arrival = item
            size = len(raw) - 12  # the payload; an empty one goes the full way
            if (
                size > 0
                and addr == source
                and arrival >= quiet_from
                and unpack(raw) == (plain, payload_type, expected_seq, expected_ts, ssrc)
            ):
                append(raw[12:])
                # RFC 3550 §A.8: D(i-1,i) = (Ri - Ri-1) - (Si - Si-1), J += (|D| - J)/16,
                # as StreamStats.on_packet computes it (same operations, same order).
                d = (arrival - last_arrival) * clock - delta
                jitter += (abs(d) - jitter) / 16.0
                last_arrival = arrival
                delta = size  # Si+1 - Si: one clock unit per octet
                expected_seq += 1  # never wraps here: seq 0 after 65535 goes the full way
                expected_ext += size
                expected_ts = expected_ext & mask
                continue
            left = item
            break
        if not payloads:
            return None, left
        stats.jitter = jitter
        self.last_arrival = last_arrival
        return self._commit(payload_type, offset, base, payloads), left

    def _arm(
        self, ssrc: int, payload_types: Collection[int]
    ) -> tuple[int, int, int, int, int] | None:
        """``(payload type, next seq, sample offset, next extended ts, ts delta for
        the stats)`` when the next in-order packet would take the fast branch of
        the jitter buffer, the stats and the timeline; None otherwise."""
        jitter, stats, timeline = self.jitter, self.stats, self.timeline
        payload_type = jitter._last_pt
        if (
            jitter._ssrc != ssrc
            or jitter._pending
            or payload_type not in payload_types
            or jitter._next < jitter._highest
            or jitter._last_ext != jitter._next - 1
        ):
            return None
        expected_seq = jitter._next & 0xFFFF
        if (
            stats._ssrc != ssrc
            or stats._last_arrival is None
            or not 0 < expected_seq - stats._max_seq < MAX_DROPOUT
        ):
            return None
        if (
            timeline._ssrc != ssrc
            or timeline._expected_seq != expected_seq
            or timeline._gap is not None
            or timeline._cn is not None
            or timeline._packet_duration is None
            or timeline.sample_rate != timeline.clock_rate
            or payload_type in timeline._event_types
            or payload_type in timeline._cn_types
        ):
            return None
        # The next packet must land where the timeline ends: offset == end, so its
        # extended timestamp is base_ext + (end - base_offset) (sample rate = clock).
        offset = timeline._end
        expected_ext = timeline._base_ext + offset - timeline._base_offset
        if not 0 <= expected_ext - timeline._last_ext < _TS_HALF:
            return None
        delta = ((expected_ext - stats._last_ts + _TS_HALF) & _TS_MASK) - _TS_HALF
        return payload_type, expected_seq, offset, expected_ext, delta

    def _commit(self, payload_type: int, offset: int, base: int, payloads: list[bytes]) -> AudioRun:
        """Leave the state the fast branches would have left after ``payloads``,
        placed from ``offset``; ``base`` is extended timestamp minus offset."""
        jitter, stats, timeline = self.jitter, self.stats, self.timeline
        count = len(payloads)
        payload = b"".join(payloads)
        end = offset + len(payload)
        last_ext = base + end - len(payloads[-1])
        last_ts = last_ext & _TS_MASK
        last_seq = (timeline._expected_seq + count - 1) & 0xFFFF
        # StreamStats.on_packet, fast branch (RFC 3550 §A.1: same run, ahead, no wrap).
        stats._max_seq = last_seq
        stats.received += count
        stats._run_received += count
        stats._last_arrival = self.last_arrival
        stats._last_ts = last_ts
        # JitterBuffer.push, fast branch, and _release: the packet interval is learned
        # from consecutive packets of one payload type without a marker.
        if count > 1:
            jitter._step = len(payloads[-2])
        else:
            step = (last_ext - jitter._last_ts) & _TS_MASK
            if 0 < step < _TS_HALF:
                jitter._step = step
        start = jitter._next
        last = start + count - 1
        ring = jitter._released
        for ext in range(max(start, last + 1 - _RING), last + 1):
            ring[ext % _RING] = ext  # released: a copy arriving later is a duplicate
        jitter._bad = None
        jitter._highest = last
        jitter._next = last + 1
        jitter._last_ext = last
        jitter._last_ts = last_ts
        # StreamTimeline.push, fast branch, and _place at offset == end (no filler).
        timeline._expected_seq = (last_seq + 1) & 0xFFFF
        timeline._last_ext = last_ext
        timeline._end = end
        return AudioRun(payload_type, offset, payload, end - offset, count)

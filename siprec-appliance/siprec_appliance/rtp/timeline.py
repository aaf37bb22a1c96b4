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

Wall clock: :meth:`StreamTimeline.map_rtp_to_wall` uses the latest RTCP SR of the
current SSRC (the sender's NTP clock, as Unix time) and falls back to
:meth:`StreamTimeline.map_rtp_to_arrival` (the ``now`` of the sub-timeline's first
packet). Pass ``now`` as Unix time (``time.time()`` at the socket) so that both
are on one scale; to align two legs, compare ``map_rtp_to_wall`` of their first
segments, or ``origin_arrival`` when either has no SR.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from typing import Literal

from siprec_appliance.errors import LocalProtocolError
from siprec_appliance.rtp.jitter import Gap, Released
from siprec_appliance.rtp.packet import RtpPacket
from siprec_appliance.rtp.rtcp import SenderReport

__all__ = ["Segment", "SegmentKind", "StreamTimeline"]

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

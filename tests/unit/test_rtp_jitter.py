"""Jitter buffer and stream timeline with the clock passed in (no sleeping, no I/O)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siprec_appliance.errors import LocalProtocolError
from siprec_appliance.rtp import (
    Gap,
    JitterBuffer,
    Released,
    RtpPacket,
    Segment,
    SenderReport,
    StreamStats,
    StreamTimeline,
)

SSRC = 0x5EC0
PTIME = 0.02


def pkt(
    seq: int, ts: int | None = None, *, ssrc: int = SSRC, pt: int = 0, marker: bool = False
) -> RtpPacket:
    timestamp = (160 * seq if ts is None else ts) % (1 << 32)
    size = 1 if pt == 13 else 160
    return RtpPacket(
        payload_type=pt,
        sequence_number=seq % 65536,
        timestamp=timestamp,
        ssrc=ssrc,
        payload=bytes(size),
        marker=marker,
    )


class Leg:
    """A buffer and a timeline fed together, as the receive path would."""

    def __init__(self, capacity: int = 8, max_delay: float = 0.1, **timeline: object) -> None:
        self.stats = StreamStats(8000)
        self.buffer = JitterBuffer(capacity, max_delay, stats=self.stats)
        self.timeline = StreamTimeline(8000, **timeline)  # type: ignore[arg-type]
        self.released: list[Released] = []
        self.segments: list[Segment] = []

    def push(self, packet: RtpPacket, now: float) -> list[Released]:
        out = self.buffer.push(packet, now)
        self.released.extend(out)
        self.segments.extend(self.timeline.push_all(out, now))
        return out

    def flush(self, now: float) -> list[Released]:
        out = self.buffer.flush()
        self.released.extend(out)
        self.segments.extend(self.timeline.push_all(out, now))
        return out

    def seqs(self) -> list[int | str]:
        return [
            item.sequence_number if isinstance(item, RtpPacket) else "gap" for item in self.released
        ]

    def layout(self) -> list[tuple[int, str, int]]:
        return [(s.sample_offset, s.kind, s.duration) for s in self.segments]


def test_in_order_packets_are_released_at_once_and_placed_back_to_back() -> None:
    leg = Leg()
    for seq in range(5):
        assert leg.push(pkt(seq, 1000 + 160 * seq), PTIME * seq) == [leg.released[-1]]
    assert leg.seqs() == [0, 1, 2, 3, 4]
    assert leg.layout() == [(160 * i, "audio", 160) for i in range(5)]
    assert leg.segments[2].packet is leg.released[2]
    assert leg.buffer.pending == 0
    assert leg.stats.received == 5


def test_reordering_within_capacity() -> None:
    leg = Leg(capacity=4)
    for seq, now in ((0, 0.0), (1, 0.02), (3, 0.06), (4, 0.08)):
        leg.push(pkt(seq), now)
    assert leg.seqs() == [0, 1]
    assert leg.buffer.pending == 2
    assert [p.sequence_number for p in leg.push(pkt(2), 0.09)] == [2, 3, 4]  # type: ignore[union-attr]
    assert leg.stats.reordered == 1
    assert leg.layout() == [(160 * i, "audio", 160) for i in range(5)]


def test_duplicates_are_dropped_and_counted() -> None:
    leg = Leg()
    leg.push(pkt(0), 0.0)
    leg.push(pkt(1), 0.02)
    assert leg.push(pkt(1), 0.021) == []  # already released
    leg.push(pkt(3), 0.06)
    assert leg.push(pkt(3), 0.061) == []  # already held
    leg.push(pkt(2), 0.07)
    assert leg.seqs() == [0, 1, 2, 3]
    assert leg.stats.duplicated == 2
    assert leg.stats.late == 0


def test_lost_packet_becomes_a_gap_of_exact_length_after_max_delay() -> None:
    leg = Leg(capacity=8, max_delay=0.06)
    for seq in (0, 1, 3, 4, 5):  # 2 is lost; 3 arrives at 0.06
        leg.push(pkt(seq), PTIME * seq)
    assert leg.seqs() == [0, 1]
    assert leg.buffer.deadline() == pytest.approx(0.12)
    assert leg.buffer.poll(0.119) == []
    leg.push(pkt(6), 0.12)
    assert leg.seqs() == [0, 1, "gap", 3, 4, 5, 6]
    assert leg.released[2] == Gap(start_seq=2, count=1, start_ts=320, samples=160)
    assert leg.layout() == [
        (0, "audio", 160),
        (160, "audio", 160),
        (320, "loss", 160),
        *[(160 * i, "audio", 160) for i in range(3, 7)],
    ]
    assert leg.stats.lost == 1


def test_gap_by_capacity_and_by_poll() -> None:
    leg = Leg(capacity=2, max_delay=10.0)
    for seq in (0, 3, 4):  # 1 and 2 lost
        leg.push(pkt(seq), PTIME * seq)
    assert leg.seqs() == [0]
    leg.push(pkt(5), 0.1)  # three held > capacity 2
    assert leg.seqs() == [0, "gap", 3, 4, 5]
    assert leg.released[1] == Gap(start_seq=1, count=2, start_ts=160, samples=320)
    assert leg.layout()[1] == (160, "loss", 320)

    timed = JitterBuffer(8, 0.05)
    timed.push(pkt(0), 0.0)
    timed.push(pkt(2), 0.04)
    assert timed.deadline() == pytest.approx(0.09)
    out = timed.poll(0.09)
    assert out == [Gap(1, 1, 160, 160), pkt(2)]
    assert timed.deadline() is None


def test_sequence_wrap_with_loss_and_reordering() -> None:
    leg = Leg(capacity=2)
    for seq in (65533, 65534, 0, 65535, 2, 3, 4):  # 65535 late-but-in-time, 1 lost
        leg.push(pkt(seq, 160 * (seq if seq > 60000 else seq + 65536)), 0.0)
    assert leg.seqs() == [65533, 65534, 65535, 0, "gap", 2, 3, 4]
    assert leg.released[4] == Gap(1, 1, 160 * 65537 % (1 << 32), 160)
    assert leg.stats.reordered == 1
    assert leg.stats.lost == 1
    assert leg.stats.extended_highest_sequence == 65536 + 4
    assert leg.layout()[4] == (4 * 160, "loss", 160)


def test_timestamp_wrap_keeps_offsets_increasing() -> None:
    leg = Leg()
    start = (1 << 32) - 320
    for i in range(4):
        leg.push(pkt(i, start + 160 * i), PTIME * i)
    assert [p.timestamp for p in leg.released] == [4294966976, 4294967136, 0, 160]  # type: ignore[union-attr]
    assert leg.layout() == [(160 * i, "audio", 160) for i in range(4)]


def test_dtx_with_comfort_noise_is_silence_of_exact_length() -> None:
    leg = Leg()
    leg.push(pkt(0, 0), 0.0)
    leg.push(pkt(1, 160), 0.02)
    cn = pkt(2, 320, pt=13)  # RFC 3389 comfort noise, then the sender goes quiet
    leg.push(cn, 0.04)
    leg.push(pkt(3, 8320, marker=True), 1.04)  # talkspurt 1 s later (RFC 3551 §4.1)
    leg.push(pkt(4, 8480), 1.06)
    assert leg.layout() == [
        (0, "audio", 160),
        (160, "audio", 160),
        (320, "silence", 8000),
        (8320, "audio", 160),
        (8480, "audio", 160),
    ]
    assert leg.segments[2].packet is cn
    assert leg.stats.lost == 0


def test_timestamp_jump_without_sequence_gap_is_silence() -> None:
    leg = Leg()
    leg.push(pkt(0, 0), 0.0)
    leg.push(pkt(1, 4000, marker=True), 0.5)
    assert leg.layout() == [(0, "audio", 160), (160, "silence", 3840), (4000, "audio", 160)]
    assert leg.segments[1].packet is None


def test_g722_places_16khz_samples_on_an_8khz_clock() -> None:
    leg = Leg(sample_rate=16000, packet_duration=lambda p: len(p.payload))
    leg.push(pkt(0, 0, pt=9), 0.0)
    leg.push(pkt(2, 320, pt=9), 0.04)
    leg.push(pkt(3, 480, pt=9), 0.2)
    assert leg.layout() == [
        (0, "audio", 320),
        (320, "loss", 320),
        (640, "audio", 320),
        (960, "audio", 320),
    ]


def test_ssrc_change_continues_at_the_wall_clock_aligned_position() -> None:
    leg = Leg()
    for seq in range(3):
        leg.push(pkt(seq, 1000 + 160 * seq), PTIME * seq)
    other = pkt(9000, 123456, ssrc=0xB)
    assert leg.push(other, 0.5) == [other]
    leg.push(pkt(9001, 123616, ssrc=0xB), 0.52)
    assert leg.layout() == [
        (0, "audio", 160),
        (160, "audio", 160),
        (320, "audio", 160),
        (480, "silence", 3520),  # 0.5 s after the first packet = sample 4000
        (4000, "audio", 160),
        (4160, "audio", 160),
    ]
    assert leg.stats.ssrc_changes == 1
    assert leg.timeline.sub_timelines == 2
    assert leg.push(pkt(3, 1480), 0.53) == []  # a straggler of the old SSRC
    assert leg.push(pkt(1, 1160), 2.0) == []  # behind where the old SSRC stopped
    assert leg.stats.late == 2
    assert leg.stats.ssrc_changes == 1
    back = pkt(10, 2600)
    assert leg.push(back, 2.0) == [back]  # later and ahead: the old source is back
    assert leg.stats.ssrc_changes == 2
    assert leg.layout()[-2:] == [(4320, "silence", 16000 - 4320), (16000, "audio", 160)]


def test_new_ssrc_never_overlaps_what_is_placed() -> None:
    leg = Leg()
    for seq in range(3):
        leg.push(pkt(seq), PTIME * seq)
    leg.push(pkt(7, 99999, ssrc=0xB), 0.05)  # 0.05 s = 400 < end 480
    assert leg.layout()[-1] == (480, "audio", 160)


def test_late_packet_after_its_gap_was_released_is_counted_late() -> None:
    leg = Leg(capacity=2)
    for seq in (0, 1, 3, 4, 5):
        leg.push(pkt(seq), PTIME * seq)
    assert leg.seqs() == [0, 1, "gap", 3, 4, 5]
    assert leg.push(pkt(2), 0.2) == []
    assert leg.stats.late == 1
    assert leg.stats.duplicated == 0
    assert leg.stats.loss_percent() == pytest.approx(100 / 6)


def test_flush_releases_everything_with_gaps() -> None:
    leg = Leg(capacity=8, max_delay=1.0)
    for seq in (0, 2, 3, 6):
        leg.push(pkt(seq), PTIME * seq)
    assert leg.seqs() == [0]
    leg.flush(0.2)
    assert leg.seqs() == [0, "gap", 2, 3, "gap", 6]
    assert leg.buffer.pending == 0
    assert leg.buffer.flush() == []
    assert [s.kind for s in leg.segments] == ["audio", "loss", "audio", "audio", "loss", "audio"]
    assert leg.timeline.end == 7 * 160


def test_sender_restart_with_a_sequence_jump() -> None:
    leg = Leg()
    for seq in range(3):
        leg.push(pkt(seq), PTIME * seq)
    assert leg.push(pkt(40000, 50000), 1.0) == []  # probation (RFC 3550 §A.1)
    leg.push(pkt(40001, 50160), 1.02)
    assert leg.seqs() == [0, 1, 2, 40000, 40001]
    assert leg.timeline.sub_timelines == 2
    # Both are released at 1.02 s, the moment the restart is believed.
    assert leg.layout()[3:] == [(480, "silence", 7680), (8160, "audio", 160), (8320, "audio", 160)]


def test_wall_clock_mapping_from_arrival_then_from_sender_report() -> None:
    timeline = StreamTimeline(8000)
    with pytest.raises(LocalProtocolError):
        timeline.map_rtp_to_wall(0)
    timeline.push(pkt(0, 1000), 100.0)
    assert timeline.wall_clock_source == "arrival"
    assert timeline.origin_arrival == 100.0
    assert timeline.map_rtp_to_wall(9000) == pytest.approx(101.0)
    report = SenderReport(
        ssrc=SSRC,
        ntp_timestamp=(1704067200 + 2208988800) << 32,
        rtp_timestamp=1800,
        packet_count=5,
        octet_count=800,
    )
    timeline.on_sender_report(report)
    source: str = timeline.wall_clock_source
    assert source == "rtcp"
    assert timeline.map_rtp_to_wall(9800) == pytest.approx(1704067201.0)
    assert timeline.map_rtp_to_wall(1000) == pytest.approx(1704067199.9)
    assert timeline.map_rtp_to_arrival(9000) == pytest.approx(101.0)
    assert timeline.offset_of(9000) == 8000
    timeline.push(pkt(5, 7777, ssrc=0xB), 102.0)  # the SR was for the old SSRC
    assert timeline.wall_clock_source == "arrival"
    assert timeline.map_rtp_to_wall(7777 + 80) == pytest.approx(102.01)


def test_telephone_events_share_sequence_numbers_but_are_not_placed() -> None:
    leg = Leg(event_types=(101,))
    leg.push(pkt(0, 0), 0.0)
    leg.push(pkt(1, 160, pt=101, marker=True), 0.02)
    leg.push(pkt(2, 160, pt=101), 0.04)
    leg.push(pkt(3, 480), 0.06)
    assert leg.timeline.sub_timelines == 1
    assert leg.layout() == [(0, "audio", 160), (160, "silence", 320), (480, "audio", 160)]


def test_invalid_construction() -> None:
    with pytest.raises(LocalProtocolError):
        JitterBuffer(0, 0.1)
    with pytest.raises(LocalProtocolError):
        StreamTimeline(0)


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[list[RtpPacket], list[int], set[int], int]:
    """A 20 ms stream with drops, duplicates and short-range reordering.

    Returns the arrival order, the sequence numbers kept, the dropped ones and the
    number of duplicates. The first packet arrives first and is never dropped.
    """
    count = draw(st.integers(2, 60))
    first_seq = draw(st.integers(0, 65535))
    first_ts = draw(st.integers(0, (1 << 32) - 1))
    packets = [pkt(first_seq + i, first_ts + 160 * i) for i in range(count)]
    dropped = (
        set(draw(st.sets(st.integers(1, count - 2), max_size=count // 3))) if count > 2 else set()
    )
    order = [i for i in range(count) if i not in dropped]
    # Each packet is late by 0-3 positions at most; the first stays first.
    delays = draw(st.lists(st.integers(0, 3), min_size=len(order), max_size=len(order)))
    order = [order[0], *sorted(order[1:], key=lambda i: (i + delays[order.index(i)], i))]
    dups = draw(st.lists(st.integers(0, len(order) - 1), max_size=5))
    for position in sorted(dups, reverse=True):
        order.insert(position + 1, order[position])
    return [packets[i] for i in order], sorted(set(order)), dropped, len(dups)


@given(arrivals())
def test_any_mild_disorder_is_repaired_exactly(
    case: tuple[list[RtpPacket], list[int], set[int], int],
) -> None:
    order, kept, dropped, duplicates = case
    leg = Leg(capacity=8, max_delay=0.2, packet_duration=lambda p: len(p.payload))
    for i, packet in enumerate(order):
        leg.push(packet, PTIME * i)
    leg.flush(PTIME * len(order))
    released = [item for item in leg.released if isinstance(item, RtpPacket)]
    first = order[0].sequence_number
    assert [(p.sequence_number - first) % 65536 for p in released] == kept
    gaps = [item for item in leg.released if isinstance(item, Gap)]
    assert sum(g.count for g in gaps) == len(dropped)
    assert leg.stats.duplicated == duplicates
    assert leg.stats.late == 0
    assert leg.stats.lost == len(dropped) - duplicates
    # The timeline tiles the stream exactly: no overlap, no hole, loss where dropped.
    position = 0
    for segment in leg.segments:
        assert segment.sample_offset == position
        position += segment.duration
    assert position == 160 * (kept[-1] + 1)
    assert sum(s.duration for s in leg.segments if s.kind == "loss") == 160 * len(dropped)
    assert all(s.kind != "silence" for s in leg.segments)


def test_the_released_ring_gives_the_garbage_collector_nothing_to_traverse() -> None:
    """1,024 remembered sequence numbers per stream, 1,000 streams per media worker:
    as a list of ints they made every full collection traverse a million references
    (tens of milliseconds of stalled media tick)."""
    import gc

    buffer = JitterBuffer(8, 0.05)
    assert [r for r in gc.get_referents(buffer._released) if not isinstance(r, type)] == []

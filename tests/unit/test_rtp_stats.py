"""RFC 3550 statistics (§A.1, §A.3, §A.8) and the simplified E-model (G.107)."""

from __future__ import annotations

import pytest

from siprec_appliance.rtp import RtpPacket, StreamStats, mos_from_r, r_factor


def pkt(seq: int, ts: int, ssrc: int = 0x1234) -> RtpPacket:
    return RtpPacket(payload_type=0, sequence_number=seq, timestamp=ts, ssrc=ssrc)


def test_interarrival_jitter_matches_hand_computation() -> None:
    stats = StreamStats(clock_rate=8000)
    # 20 ms packets (160 timestamp units) arriving 0, 20, 45, 60, 85 ms after start.
    arrivals = [10.000, 10.020, 10.045, 10.060, 10.085]
    for i, now in enumerate(arrivals):
        stats.on_packet(pkt(i, 1000 + 160 * i), now)
    # D = 0, 40, -40, 40 timestamp units; J += (|D| - J) / 16 (RFC 3550 §A.8):
    # 0 -> 0 -> 2.5 -> 4.84375 -> 7.041015625
    assert stats.jitter == pytest.approx(7.041015625, abs=1e-6)
    assert stats.jitter_ms == pytest.approx(7.041015625 / 8, abs=1e-9)


def test_jitter_ignores_timestamp_wrap() -> None:
    stats = StreamStats(clock_rate=8000)
    for i in range(4):
        stats.on_packet(pkt(i, (0xFFFFFF00 + 160 * i) % (1 << 32)), 0.02 * i)
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)


def test_loss_fraction_and_duplicates() -> None:
    stats = StreamStats()
    for seq in (1, 2, 4, 5, 7):  # 3 and 6 lost
        stats.on_packet(pkt(seq, 160 * seq), 0.02 * seq)
    assert stats.received == 5
    assert stats.expected == 7
    assert stats.lost == 2
    # RFC 3550 §A.3: fraction = (lost_interval << 8) / expected_interval.
    assert stats.take_fraction_lost() == (2 << 8) // 7
    assert stats.take_fraction_lost() == 0  # nothing new in this interval
    stats.on_packet(pkt(5, 800), 0.2)  # a duplicate counts as received (§A.1)
    assert stats.lost == 1
    stats.on_packet(pkt(10, 1600), 0.22)  # 8 and 9 lost
    assert stats.lost == 3
    # This interval: 3 expected (8, 9, 10), 2 received (the duplicate and 10).
    assert stats.take_fraction_lost() == (1 << 8) // 3


def test_sequence_wrap_extends_the_highest_sequence() -> None:
    stats = StreamStats()
    for i, seq in enumerate((65534, 65535, 0, 2)):
        stats.on_packet(pkt(seq, 160 * i), 0.02 * i)
    assert stats.extended_highest_sequence == 65536 + 2
    assert stats.expected == 5
    assert stats.lost == 1


def test_sequence_restart_is_believed_after_two_packets() -> None:
    stats = StreamStats()
    stats.on_packet(pkt(100, 0), 0.0)
    stats.on_packet(pkt(101, 160), 0.02)
    stats.on_packet(pkt(30000, 320), 0.04)  # a jump: probation (§A.1 bad_seq)
    assert stats.received == 2
    stats.on_packet(pkt(30001, 480), 0.06)  # follows it: the sender restarted
    assert stats.received == 3
    assert stats.lost == 0
    assert stats.extended_highest_sequence == 30001


def test_ssrc_change_keeps_totals() -> None:
    stats = StreamStats()
    for seq in (10, 12):  # 11 lost
        stats.on_packet(pkt(seq, 160 * seq), 0.02 * seq)
    for seq in (500, 501, 503):  # 502 lost
        stats.on_packet(pkt(seq, 160 * seq, ssrc=0xBEEF), 1 + 0.02 * seq)
    assert stats.ssrc_changes == 1
    assert stats.ssrc == 0xBEEF
    assert stats.received == 5
    assert stats.expected == 7
    assert stats.lost == 2


def test_r_factor_and_mos_hand_values() -> None:
    # No loss, no delay: R = 93.2, MOS = 1 + 0.035 R + R (R - 60)(100 - R) 7e-6.
    assert r_factor("PCMU", 0.0) == pytest.approx(93.2)
    assert mos_from_r(93.2) == pytest.approx(4.409285824)
    # G.711 with PLC (Bpl 25.1), 1 % random loss: Ie_eff = 95 * 1 / (1 + 25.1).
    assert r_factor("pcma", 1.0) == pytest.approx(93.2 - 95 / 26.1)
    # G.729A (Ie 11, Bpl 19), 2 %: Ie_eff = 11 + 84 * 2 / 21 = 19.
    assert r_factor("g729", 2.0) == pytest.approx(74.2)
    # Delay 200 ms: Id = 0.024 * 200 + 0.11 * (200 - 177.3).
    assert r_factor("pcmu", 0.0, 200.0) == pytest.approx(93.2 - 4.8 - 0.11 * 22.7)
    assert mos_from_r(-5) == 1.0
    assert mos_from_r(120) == 4.5
    with pytest.raises(ValueError, match="no E-model impairment factors for codec 'speex'"):
        r_factor("speex", 0.0)


def test_stream_mos_counts_late_packets_as_lost() -> None:
    stats = StreamStats()
    for seq in range(100):
        if seq != 50:
            stats.on_packet(pkt(seq, 160 * seq), 0.02 * seq)
    assert stats.loss_percent() == pytest.approx(1.0)
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)
    assert stats.mos("pcmu") == pytest.approx(mos_from_r(93.2 - 95 / 26.1))
    stats.late += 1
    assert stats.loss_percent() == pytest.approx(2.0)
    assert stats.mos("pcmu", delay_ms=0.0) == pytest.approx(mos_from_r(93.2 - 190 / 27.1))

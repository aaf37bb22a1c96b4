"""RFC 4733 telephone-events: payload parsing and aggregation into key presses."""

from __future__ import annotations

import pytest

from siprec_appliance.rtp import (
    DtmfAggregator,
    DtmfEvent,
    JitterBuffer,
    RtpError,
    RtpPacket,
    TelephoneEvent,
    event_name,
)

SSRC = 0xD7F


def event_packet(
    seq: int, ts: int, event: int, duration: int, *, end: bool = False, marker: bool = False
) -> RtpPacket:
    payload = bytes(TelephoneEvent(event=event, end=end, volume=10, duration=duration))
    return RtpPacket(
        payload_type=101,
        sequence_number=seq,
        timestamp=ts,
        ssrc=SSRC,
        payload=payload,
        marker=marker,
    )


def press(
    seq: int, ts: int, event: int, durations: list[int], end_repeats: int = 3
) -> list[RtpPacket]:
    """A key press as RFC 4733 §2.5.1 sends it: marker first, E bit repeated at the end."""
    packets = [
        event_packet(seq + i, ts, event, d, marker=i == 0) for i, d in enumerate(durations[:-1])
    ]
    base = seq + len(packets)
    packets += [
        event_packet(base + i, ts, event, durations[-1], end=True) for i in range(end_repeats)
    ]
    return packets


def test_parse_payload_fields() -> None:
    # RFC 4733 §2.3: event 5, E=1, R=0, volume 10, duration 1760.
    block = TelephoneEvent.parse(bytes.fromhex("058a06e0"))
    assert block == TelephoneEvent(event=5, end=True, volume=10, duration=1760)
    assert bytes(block) == bytes.fromhex("058a06e0")
    # The reserved R bit is ignored on receipt.
    assert TelephoneEvent.parse(bytes.fromhex("0b4a0190")).end is False
    with pytest.raises(RtpError) as caught:
        TelephoneEvent.parse(b"\x05\x8a\x06")
    assert str(caught.value) == "telephone-event payload is 3 bytes, shorter than 4"


def test_event_names() -> None:
    assert [event_name(e) for e in (0, 5, 9, 10, 11, 12, 15, 16)] == [
        "0", "5", "9", "*", "#", "A", "D", None,
    ]  # fmt: skip


def test_five_press_with_redundant_end_packets_is_one_event() -> None:
    aggregator = DtmfAggregator()
    events: list[DtmfEvent] = []
    for packet in press(100, 48000, 5, [400, 800, 1200, 1600, 1760]):
        events += aggregator.push(packet)
    assert events == [
        DtmfEvent(event=5, start_timestamp=48000, duration=1760, end=True, volume=10, ssrc=SSRC)
    ]
    assert events[0].name == "5"
    assert aggregator.flush() == []


def test_press_through_the_jitter_buffer_with_reordering() -> None:
    packets = press(100, 48000, 5, [400, 800, 1200, 1600, 1760])
    order = [0, 2, 1, 3, 4, 6, 5]  # two swaps on the way
    buffer = JitterBuffer(8, 0.1)
    aggregator = DtmfAggregator()
    events: list[DtmfEvent] = []
    for i, index in enumerate(order):
        for item in buffer.push(packets[index], 0.05 * i):
            assert isinstance(item, RtpPacket)
            events += aggregator.push(item)
    assert [(e.name, e.start_timestamp, e.duration, e.end) for e in events] == [
        ("5", 48000, 1760, True)
    ]


def test_lost_end_packets_close_the_event_at_the_next_one() -> None:
    aggregator = DtmfAggregator()
    events: list[DtmfEvent] = []
    for packet in press(1, 1000, 1, [400, 800, 960], end_repeats=0):  # no end packets
        events += aggregator.push(packet)
    for packet in press(10, 9000, 11, [400, 640]):
        events += aggregator.push(packet)
    assert [(e.name, e.start_timestamp, e.duration, e.end) for e in events] == [
        ("1", 1000, 800, False),
        ("#", 9000, 640, True),
    ]


def test_flush_closes_an_unfinished_event() -> None:
    aggregator = DtmfAggregator()
    aggregator.push(event_packet(1, 500, 0, 400, marker=True))
    aggregator.push(event_packet(2, 500, 0, 800))
    assert aggregator.flush() == [
        DtmfEvent(event=0, start_timestamp=500, duration=800, end=False, volume=10, ssrc=SSRC)
    ]
    assert aggregator.flush() == []


def test_long_event_segments_are_joined() -> None:
    # RFC 4733 §2.5.1.3: past 0xFFFF the sender restarts the timestamp and duration.
    aggregator = DtmfAggregator()
    assert aggregator.push(event_packet(1, 1000, 7, 0xFFFF, marker=True)) == []
    assert aggregator.push(event_packet(2, 1000 + 0xFFFF, 7, 800)) == []
    (event,) = aggregator.push(event_packet(3, 1000 + 0xFFFF, 7, 1200, end=True))
    assert (event.start_timestamp, event.duration, event.end) == (1000, 0xFFFF + 1200, True)

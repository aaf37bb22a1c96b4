"""RTCP compound packets (RFC 3550 §6): golden packets, exact errors, round trips."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siprec_appliance.rtp import (
    Bye,
    RawRtcp,
    ReceiverReport,
    ReportBlock,
    RtcpPacket,
    SdesChunk,
    SdesItem,
    SenderReport,
    SourceDescription,
    is_rtcp,
    ntp_to_unix,
    parse_compound,
    serialize_compound,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "rtp"


def load_hex(name: str) -> bytes:
    text = re.sub(r"#[^\n]*", "", (DATA / name).read_text())
    return bytes.fromhex("".join(text.split()))


def test_sender_report_and_sdes_compound() -> None:
    data = load_hex("rtcp_sr_sdes.hex")
    assert is_rtcp(data)
    sr, sdes = parse_compound(data)
    assert isinstance(sr, SenderReport)
    assert sr.ssrc == 0x11223344
    assert sr.ntp_timestamp == 0xE93C7F00_80000000
    assert sr.ntp_seconds == 3913056000.5
    assert sr.unix_time == 1704067200.5
    assert sr.compact_ntp == 0x7F008000
    assert (sr.rtp_timestamp, sr.packet_count, sr.octet_count) == (8000, 50, 8000)
    assert sr.reports == (
        ReportBlock(
            ssrc=0xDEADBEEF,
            fraction_lost=25,
            cumulative_lost=5,
            highest_sequence=0x10003,
            jitter=32,
            last_sr=0x7F008000,
            delay_since_last_sr=65536,
        ),
    )
    assert sr.extension == b""
    assert isinstance(sdes, SourceDescription)
    assert sdes.chunks == (SdesChunk(0x11223344, (SdesItem(1, b"rec@192.0.2.10"),)),)
    assert sdes.chunks[0].cname == "rec@192.0.2.10"
    assert serialize_compound([sr, sdes]) == data


def test_receiver_report_with_negative_cumulative_loss() -> None:
    data = load_hex("rtcp_rr.hex")
    (rr,) = parse_compound(data)
    assert isinstance(rr, ReceiverReport)
    assert rr.ssrc == 0xDEADBEEF
    (block,) = rr.reports
    assert block.cumulative_lost == -1
    assert block.highest_sequence == 65534
    assert block.jitter == 256
    assert bytes(rr) == data


def test_bye_with_reason_and_raw_app_with_padding() -> None:
    data = load_hex("rtcp_rr_bye_app_padded.hex")
    rr, bye, app = parse_compound(data)
    assert rr == ReceiverReport(ssrc=0xDEADBEEF)
    assert bye == Bye(sources=(0xDEADBEEF,), reason=b"call ended")
    assert app == RawRtcp(
        packet_type=204,
        count=3,
        body=bytes.fromhex("deadbeef 53524543 01020304"),
        padding=bytes.fromhex("00000004"),
    )
    assert serialize_compound([rr, bye, app]) == data


def test_ntp_to_unix() -> None:
    assert ntp_to_unix(2208988800 << 32) == 0.0
    assert ntp_to_unix((2208988801 << 32) | 0x40000000) == 1.25


def test_sr_profile_extension_is_kept_raw() -> None:
    sr = SenderReport(
        ssrc=1, ntp_timestamp=2, rtp_timestamp=3, packet_count=4, octet_count=5, extension=b"XTRA"
    )
    (parsed,) = parse_compound(bytes(sr))
    assert parsed == sr


@pytest.mark.parametrize(
    ("hex_data", "message"),
    [
        ("", "RTCP compound packet is empty"),
        ("80c8", "RTCP packet is 2 bytes, shorter than the 4-byte header"),
        ("40c90001 00000000", "RTCP version is 1, expected 2"),
        ("80c90002 00000000", "RTCP length of 12 bytes overruns the 8 bytes left"),
        ("81c90001 00000000", "RTCP RR with 1 report blocks needs 28 bytes, has 4"),
        ("80c80001 00000000", "RTCP SR with 0 report blocks needs 24 bytes, has 4"),
        ("a0c90001 00000000", "RTCP padding count 0 does not fit the packet"),
        ("a0c90001 00000009", "RTCP padding count 9 does not fit the packet"),
        ("81ca0001 00000001", "RTCP SDES chunk has no terminating null item"),
        ("81ca0002 00000001 0105abcd", "RTCP SDES item overruns the packet"),
        ("82ca0002 00000001 00000000", "RTCP SDES chunk overruns the packet"),
        ("82cb0001 00000001", "RTCP BYE with 2 sources needs 8 bytes, has 4"),
        ("81cb0002 00000001 09414243", "RTCP BYE reason overruns the packet"),
        ("80c90001 00000001 80", "RTCP packet is 1 bytes, shorter than the 4-byte header"),
    ],
)
def test_malformed_rtcp_raises_exact_messages(hex_data: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_compound(bytes.fromhex(hex_data))
    assert str(caught.value) == message


@given(st.binary(max_size=120))
def test_any_bytes_parse_or_raise_value_error(data: bytes) -> None:
    try:
        packets = parse_compound(data)
    except ValueError:
        return
    # Whatever parsed serializes to something that parses to the same packets.
    assert parse_compound(serialize_compound(packets)) == packets


_u32 = st.integers(0, 0xFFFFFFFF)
_blocks = st.builds(
    ReportBlock,
    ssrc=_u32,
    fraction_lost=st.integers(0, 255),
    cumulative_lost=st.integers(-(1 << 23), (1 << 23) - 1),
    highest_sequence=_u32,
    jitter=_u32,
    last_sr=_u32,
    delay_since_last_sr=_u32,
)
_reports = st.lists(_blocks, max_size=3).map(tuple)
_chunks = st.lists(
    st.builds(
        SdesChunk,
        _u32,
        st.lists(st.builds(SdesItem, st.integers(1, 8), st.binary(max_size=20)), max_size=3).map(
            tuple
        ),
    ),
    max_size=3,
).map(tuple)
_rtcp_packets = st.one_of(
    st.builds(
        SenderReport,
        ssrc=_u32,
        ntp_timestamp=st.integers(0, (1 << 64) - 1),
        rtp_timestamp=_u32,
        packet_count=_u32,
        octet_count=_u32,
        reports=_reports,
    ),
    st.builds(ReceiverReport, ssrc=_u32, reports=_reports),
    st.builds(SourceDescription, chunks=_chunks),
    st.builds(
        Bye,
        sources=st.lists(_u32, max_size=4).map(tuple),
        reason=st.none() | st.binary(max_size=30),
    ),
    st.builds(
        RawRtcp,
        packet_type=st.sampled_from([204, 205, 206, 207]),
        count=st.integers(0, 31),
        body=st.binary(max_size=40).map(lambda b: b[: len(b) // 4 * 4]),
    ),
)


@given(st.lists(_rtcp_packets, min_size=1, max_size=4))
def test_generated_compounds_round_trip(packets: list[RtcpPacket]) -> None:
    data = serialize_compound(packets)
    assert is_rtcp(data)
    assert parse_compound(data) == packets

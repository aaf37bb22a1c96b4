"""RTP packets (RFC 3550 §5.1): golden packets, exact errors, round-trip properties."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siprec_appliance.errors import LocalProtocolError
from siprec_appliance.rtp import RtpError, RtpPacket, is_rtcp

DATA = Path(__file__).resolve().parents[1] / "data" / "rtp"
PACKAGE = Path(__file__).resolve().parents[2] / "siprec-appliance" / "siprec_appliance" / "rtp"


def load_hex(name: str) -> bytes:
    """A golden packet: hex digits, with ``#`` comments and whitespace ignored."""
    text = re.sub(r"#[^\n]*", "", (DATA / name).read_text())
    return bytes.fromhex("".join(text.split()))


def test_plain_pcmu_packet_fields_and_round_trip() -> None:
    data = load_hex("rtp_pcmu.hex")
    packet = RtpPacket.parse(data)
    assert packet == RtpPacket(
        payload_type=0,
        sequence_number=0x1234,
        timestamp=41136,
        ssrc=0xDEADBEEF,
        payload=b"\xff" * 160,
    )
    assert packet.marker is False
    assert packet.extension_profile is None
    assert bytes(packet) == data


def test_packet_with_csrcs_extension_and_padding() -> None:
    data = load_hex("rtp_csrc_ext_padding.hex")
    packet = RtpPacket.parse(data)
    assert packet.marker is True
    assert packet.payload_type == 8
    assert packet.sequence_number == 65535
    assert packet.timestamp == 0xFFFFFFF0
    assert packet.ssrc == 0x11223344
    assert packet.csrc == (0xAAAAAAAA, 0xBBBBBBBB)
    assert packet.extension_profile == 0xBEDE
    assert packet.extension == bytes.fromhex("107f0000")
    assert packet.payload == b"\xd5" * 4
    assert packet.padding == b"\x00\x00\x03"
    assert bytes(packet) == data


def test_extension_with_empty_body_round_trips() -> None:
    packet = RtpPacket(
        payload_type=96, sequence_number=1, timestamp=2, ssrc=3, extension_profile=0x1000
    )
    data = bytes(packet)
    assert data[0] == 0x90
    assert RtpPacket.parse(data) == packet


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "RTP packet is 0 bytes, shorter than the 12-byte header"),
        (bytes(11), "RTP packet is 11 bytes, shorter than the 12-byte header"),
        (bytes.fromhex("40000001 00000000 00000000"), "RTP version is 1, expected 2"),
        (bytes.fromhex("c0000001 00000000 00000000"), "RTP version is 3, expected 2"),
        (
            bytes.fromhex("80c80001 00000000 00000000"),
            "RTP second octet 200 is an RTCP packet type (RFC 5761 §4)",
        ),
        (
            bytes.fromhex("82000001 00000000 00000000 00000001"),
            "RTP CSRC list of 2 entries overruns the 16-byte packet",
        ),
        (
            bytes.fromhex("90000001 00000000 00000000 bede"),
            "RTP header extension overruns the packet",
        ),
        (
            bytes.fromhex("90000001 00000000 00000000 bede0002 00000000"),
            "RTP header extension overruns the packet",
        ),
        (
            bytes.fromhex("a0000001 00000000 00000000"),
            "RTP padding count 0 does not fit the packet",
        ),
        (
            bytes.fromhex("a0000001 00000000 00000000 0000"),
            "RTP padding count 0 does not fit the packet",
        ),
        (
            bytes.fromhex("a0000001 00000000 00000000 0005"),
            "RTP padding count 5 does not fit the packet",
        ),
    ],
)
def test_malformed_packets_raise_exact_messages(data: bytes, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        RtpPacket.parse(data)
    assert str(caught.value) == message
    assert isinstance(caught.value, RtpError)


def test_marker_with_low_payload_type_is_rtp_not_rtcp() -> None:
    # PT 96 with marker = second octet 224, just above the RTCP range 192-223.
    data = bytes.fromhex("80e00001 00000000 00000000")
    assert not is_rtcp(data)
    assert RtpPacket.parse(data).payload_type == 96
    assert is_rtcp(bytes.fromhex("80c9"))
    assert is_rtcp(bytes.fromhex("80df"))
    assert not is_rtcp(bytes.fromhex("80bf"))
    assert not is_rtcp(b"\x80")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"payload_type": 128}, "RTP payload_type 128 is out of range 0..127"),
        ({"sequence_number": 65536}, "RTP sequence_number 65536 is out of range 0..65535"),
        ({"csrc": tuple(range(16))}, "RTP allows at most 15 CSRCs, got 16"),
        ({"extension": b"abcd"}, "RTP extension body needs an extension_profile"),
        (
            {"extension_profile": 1, "extension": b"abc"},
            "RTP extension body must be whole 32-bit words",
        ),
        ({"padding": b"\x00\x01"}, "RTP padding must end with its own length (1-255)"),
    ],
)
def test_constructor_rejects_invalid_fields(fields: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"payload_type": 0, "sequence_number": 0, "timestamp": 0, "ssrc": 0}
    with pytest.raises(LocalProtocolError, match=re.escape(message)):
        RtpPacket(**{**base, **fields})  # type: ignore[arg-type]


def test_packets_are_frozen() -> None:
    packet = RtpPacket.parse(load_hex("rtp_pcmu.hex"))
    with pytest.raises(AttributeError):
        packet.sequence_number = 1  # type: ignore[misc]


@given(st.binary(max_size=200))
def test_any_bytes_parse_or_raise_value_error(data: bytes) -> None:
    try:
        packet = RtpPacket.parse(data)
    except ValueError:
        return
    assert bytes(packet) == data


_words = st.binary(max_size=64).map(lambda b: b[: len(b) // 4 * 4])
_padding = st.integers(min_value=0, max_value=255).map(
    lambda n: b"" if n == 0 else bytes(n - 1) + bytes((n,))
)


@st.composite
def rtp_packets(draw: st.DrawFn) -> RtpPacket:
    marker = draw(st.booleans())
    # RFC 5761 §4: marker plus PT 64-95 would look like RTCP.
    pt = draw(st.integers(0, 127).filter(lambda p: not (marker and 64 <= p <= 95)))
    has_extension = draw(st.booleans())
    return RtpPacket(
        payload_type=pt,
        sequence_number=draw(st.integers(0, 0xFFFF)),
        timestamp=draw(st.integers(0, 0xFFFFFFFF)),
        ssrc=draw(st.integers(0, 0xFFFFFFFF)),
        payload=draw(st.binary(max_size=300)),
        marker=marker,
        csrc=tuple(draw(st.lists(st.integers(0, 0xFFFFFFFF), max_size=15))),
        extension_profile=draw(st.integers(0, 0xFFFF)) if has_extension else None,
        extension=draw(_words) if has_extension else b"",
        padding=draw(_padding),
    )


@given(rtp_packets())
def test_generated_packets_round_trip(packet: RtpPacket) -> None:
    data = bytes(packet)
    assert RtpPacket.parse(data) == packet
    assert bytes(RtpPacket.parse(data)) == data


def test_rtp_package_does_no_io() -> None:
    forbidden = {"asyncio", "socket", "ssl", "sanic", "selectors", "os", "pathlib", "time"}
    files = sorted(PACKAGE.glob("*.py"))
    assert len(files) == 8
    for path in files:
        tree = ast.parse(path.read_text())
        names = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert not names & forbidden, f"{path.name} imports {sorted(names & forbidden)}"

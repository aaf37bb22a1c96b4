"""SDP model (RFC 8866): parsing golden files, round trips, tolerance, exact errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siprec_appliance.errors import SdpError
from siprec_appliance.sdp import (
    Connection,
    MediaDescription,
    Origin,
    RtcpAttribute,
    RtpMap,
    SessionDescription,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "sdp"
CRLF_FILES = sorted(p.name for p in DATA.glob("*.sdp") if p.name != "bare_lf.sdp")


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def test_golden_files_are_present() -> None:
    assert len(CRLF_FILES) == 9
    for name in CRLF_FILES:
        assert b"\r\n" in load(name), name


@pytest.mark.parametrize("name", CRLF_FILES)
def test_round_trip_is_byte_exact(name: str) -> None:
    data = load(name)
    sdp = SessionDescription.parse(data)
    assert bytes(sdp) == data
    assert sdp.to_bytes() == data
    assert SessionDescription.parse(data.decode()) == sdp


def test_bare_lf_parses_and_serialises_with_crlf() -> None:
    data = load("bare_lf.sdp")
    assert b"\r" not in data
    sdp = SessionDescription.parse(data)
    assert bytes(sdp) == data.replace(b"\n", b"\r\n")
    assert sdp.origin.session_version == 1700000001
    [media] = sdp.media
    assert media.payload_types == [0, 13, 101]
    assert media.label == "mixed"


def test_two_stream_siprec_offer_fields() -> None:
    sdp = SessionDescription.parse(load("siprec_two_streams.sdp"))
    assert sdp.version == 0
    assert sdp.origin == Origin("SRC", "1234567890", 1, "IN", "IP4", "192.0.2.10")
    assert sdp.session_name == "SIPREC"
    assert sdp.connection == Connection("IN", "IP4", "192.0.2.10")
    assert sdp.times == ["0 0"]
    assert sdp.attributes == []
    assert sdp.other_lines == []
    assert [m.label for m in sdp.media] == ["1", "2"]
    first, second = sdp.media
    assert (first.media, first.port, first.port_count, first.proto) == (
        "audio",
        20000,
        None,
        "RTP/AVP",
    )
    assert second.port == 20002
    assert first.formats == ["0", "8", "101"]
    assert first.payload_types == [0, 8, 101]
    assert first.rtpmaps[101] == RtpMap(101, "telephone-event", 8000, None)
    assert first.rtpmaps[0].codec == "PCMU/8000"
    assert first.fmtps == {101: "0-15"}
    assert first.attribute("ptime") == "20"
    assert first.direction == "sendonly"
    assert sdp.effective_direction(first) == "sendonly"
    assert first.connection is None
    assert sdp.connection_for(first) == sdp.connection
    assert first.rtcp is None
    assert first.rtcp_mux is False


def test_rtpengine_shape_has_media_level_connection_and_rtcp() -> None:
    sdp = SessionDescription.parse(load("opensips_rtpengine.sdp"))
    assert sdp.connection is None
    assert sdp.session_name == "-"
    assert [m.label for m in sdp.media] == ["1", "0"]
    for media, rtcp_port in zip(sdp.media, (35001, 35003), strict=True):
        assert media.connection == Connection("IN", "IP4", "127.0.0.1")
        assert sdp.connection_for(media) == media.connection
        assert media.rtcp == RtcpAttribute(rtcp_port, None)
        assert media.payload_types == [8, 101]
        assert sdp.effective_direction(media) == "sendonly"


def test_avaya_bandwidth_lines_are_kept_in_other_lines() -> None:
    sdp = SessionDescription.parse(load("avaya_single_mono.sdp"))
    assert sdp.other_lines == [("b", "AS:64")]
    [media] = sdp.media
    assert media.other_lines == [("b", "TIAS:64000")]
    assert media.label == "1001"


def test_session_level_direction_applies_to_media() -> None:
    sdp = SessionDescription.parse(load("metaswitch_mixed.sdp"))
    assert sdp.other_lines == [("i", "Mixed recording")]
    assert sdp.direction == "sendonly"
    [media] = sdp.media
    assert media.direction is None
    assert sdp.effective_direction(media) == "sendonly"
    assert media.fmtps == {18: "annexb=no"}


def test_default_direction_is_sendrecv() -> None:
    sdp = SessionDescription.parse("v=0\no=- 1 1 IN IP4 h\nm=audio 1 RTP/AVP 0\n")
    assert sdp.effective_direction(sdp.media[0]) == "sendrecv"


def test_hold_offer_direction_inactive() -> None:
    sdp = SessionDescription.parse(load("hold_inactive.sdp"))
    assert [m.direction for m in sdp.media] == ["inactive", "sendonly"]


def test_rtcp_mux_offer() -> None:
    sdp = SessionDescription.parse(load("rtcp_mux.sdp"))
    [media] = sdp.media
    assert media.rtcp_mux is True
    assert media.rtcp == RtcpAttribute(50000, None)
    assert set(media.rtpmaps) == {101}
    assert media.attribute_values("rtcp-fb") == ["* nack"]


def test_rtcp_attribute_with_address() -> None:
    # RFC 3605 §2.1 example.
    media = MediaDescription("audio", 49170, None, "RTP/AVP", ["0"])
    media.attributes.append(("rtcp", "53020 IN IP4 126.16.64.4"))
    assert media.rtcp == RtcpAttribute(53020, "126.16.64.4")
    media.attributes[0] = ("rtcp", "junk")
    assert media.rtcp is None


def test_srtp_and_video_offers_parse() -> None:
    srtp = SessionDescription.parse(load("srtp_savp.sdp"))
    assert srtp.media[0].proto == "RTP/SAVP"
    crypto = srtp.media[0].attribute("crypto")
    assert crypto is not None
    assert crypto.startswith("1 AES_CM_128_HMAC_SHA1_80 inline:")
    video = SessionDescription.parse(load("with_video.sdp"))
    assert [m.media for m in video.media] == ["audio", "video"]
    assert video.media[1].rtpmaps[96] == RtpMap(96, "H264", 90000, None)


def test_opus_rtpmap_has_channels() -> None:
    sdp = SessionDescription.parse(load("opus_g722.sdp"))
    opus = sdp.media[0].rtpmaps[111]
    assert opus == RtpMap(111, "opus", 48000, 2)
    assert opus.codec == "opus/48000/2"
    assert str(opus) == "111 opus/48000/2"
    assert RtpMap.from_codec(111, "opus/48000/2") == opus


def test_attribute_lookup_is_case_insensitive_and_case_preserving() -> None:
    text = "v=0\no=- 1 1 IN IP4 h\ns=-\nt=0 0\nm=audio 1 RTP/AVP 0\na=SendOnly\na=Label:7\n"
    sdp = SessionDescription.parse(text)
    media = sdp.media[0]
    assert media.direction == "sendonly"
    assert media.label == "7"
    assert media.has_attribute("LABEL")
    assert media.attribute("sendonly") == ""
    assert media.attribute("recvonly") is None
    assert media.attribute_values("nothing") == []
    assert b"a=SendOnly\r\na=Label:7\r\n" in bytes(sdp)


def test_tolerates_whitespace_blank_lines_unknown_lines_and_missing_s_t() -> None:
    text = (
        "\n  v=0  \r\n\r\no=- 1 2 IN IP4 h \nx=private\n\nm=audio 9 RTP/AVP 0 \ny=z\na=ptime:20 \n"
    )
    sdp = SessionDescription.parse(text)
    assert sdp.session_name == "-"
    assert sdp.times == ["0 0"]
    assert sdp.other_lines == [("x", "private")]
    assert sdp.media[0].other_lines == [("y", "z")]
    assert sdp.media[0].attribute("ptime") == "20"
    expected = (
        "v=0\no=- 1 2 IN IP4 h\ns=-\nt=0 0\nx=private\nm=audio 9 RTP/AVP 0\ny=z\na=ptime:20\n"
    )
    assert bytes(sdp) == crlf(expected)


def test_unknown_lines_are_written_before_attributes() -> None:
    text = "v=0\no=- 1 1 IN IP4 h\ns=-\nt=0 0\na=x\nq=1\nm=audio 1 RTP/AVP 0\na=y\nq=2\ni=info\n"
    sdp = SessionDescription.parse(text)
    expected = (
        "v=0\no=- 1 1 IN IP4 h\ns=-\nt=0 0\nq=1\na=x\nm=audio 1 RTP/AVP 0\ni=info\nq=2\na=y\n"
    )
    assert bytes(sdp) == crlf(expected)
    assert SessionDescription.parse(bytes(sdp)) == sdp


def test_single_space_session_name_round_trips() -> None:
    # RFC 8866 §5.3 recommends "s= " when there is no name.
    data = crlf("v=0\no=- 1 1 IN IP4 h\ns= \nt=0 0\n")
    sdp = SessionDescription.parse(data)
    assert sdp.session_name == " "
    assert bytes(sdp) == data


def test_utf8_bom_and_port_count_and_odd_formats() -> None:
    data = "\ufeffv=0\no=- 1 1 IN IP4 h\nm=audio 49170/2 RTP/AVP 0 foo 200 96\n"
    sdp = SessionDescription.parse(data.encode())
    media = sdp.media[0]
    assert (media.port, media.port_count) == (49170, 2)
    assert media.formats == ["0", "foo", "200", "96"]
    assert media.payload_types == [0, 96]
    assert b"m=audio 49170/2 RTP/AVP 0 foo 200 96\r\n" in bytes(sdp)


def test_malformed_rtpmap_and_fmtp_are_skipped() -> None:
    media = MediaDescription("audio", 1, None, "RTP/AVP", ["96", "97"])
    media.attributes += [
        ("rtpmap", "96 opus"),
        ("rtpmap", "x PCMU/8000"),
        ("rtpmap", "97 AMR/8000/one"),
        ("rtpmap", "97 AMR/8000"),
        ("fmtp", "x y"),
        ("fmtp", "97"),
    ]
    assert media.rtpmaps == {97: RtpMap(97, "AMR", 8000, None)}
    assert media.fmtps == {97: ""}


def test_multiple_connection_lines_are_kept() -> None:
    data = crlf("v=0\no=- 1 1 IN IP4 h\ns=-\nm=audio 1 RTP/AVP 0\nc=IN IP4 a\nc=IN IP4 b\n")
    sdp = SessionDescription.parse(data)
    assert sdp.media[0].connection == Connection("IN", "IP4", "a")
    assert sdp.media[0].other_lines == [("c", "IN IP4 b")]
    assert b"c=IN IP4 a\r\nc=IN IP4 b\r\n" in bytes(sdp)


def test_serialises_missing_times_as_zero() -> None:
    sdp = SessionDescription(0, Origin("u", "1", 1, "IN", "IP4", "h"), "x", None, [], [], [], [])
    assert bytes(sdp) == crlf("v=0\no=u 1 1 IN IP4 h\ns=x\nt=0 0\n")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"o=- 1 1 IN IP4 h\r\n", "no v= line"),
        (b"", "no v= line"),
        (b"v=0\r\ns=-\r\n", "no o= line"),
        (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=\xff\r\n", "SDP is not UTF-8 text (byte 25)"),
        ("v=0\no=\ud800 1 1 IN IP4 h\n", "SDP text is not encodable as UTF-8 (character 6)"),
        (b"v=x\r\n", "v= line: version 'x' is not a number"),
        (b"v=0\r\no=- 1 IN IP4 h\r\n", "o= line: expected 6 fields, got 5"),
        (b"v=0\r\no=- 1 v2 IN IP4 h\r\n", "o= line: session version 'v2' is not a number"),
        (b"v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4\r\n", "session c= line: expected 3 fields, got 2"),
        (
            b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 1 RTP/AVP 0\r\nm=audio abc RTP/AVP 0\r\n",
            "m= line 2: port 'abc' is not a number",
        ),
        (
            b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 1\r\n",
            "m= line 1: expected at least 3 fields, got 2",
        ),
        (
            b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 70000 RTP/AVP 0\r\n",
            "m= line 1: port 70000 is out of range",
        ),
        (
            b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 1/x RTP/AVP 0\r\n",
            "m= line 1: port count 'x' is not a number",
        ),
        (
            b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 1 RTP/AVP 0\r\nc=IN\r\n",
            "c= line in m= line 1: expected 3 fields, got 1",
        ),
    ],
)
def test_unusable_sdp_raises_exact_message(data: bytes | str, message: str) -> None:
    with pytest.raises(SdpError) as info:
        SessionDescription.parse(data)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


# --- Property tests: the fuzz invariant of every network parser (STYLE.md) ---

_LINE_TYPES = st.sampled_from(["v", "o", "s", "i", "c", "b", "t", "r", "z", "k", "a", "m", "x", ""])
_VALUES = st.one_of(
    st.sampled_from(
        [
            "0",
            "- 1 1 IN IP4 h",
            "IN IP4 1.2.3.4",
            "audio 1000 RTP/AVP 0 8 101",
            "audio 0 RTP/SAVP 0",
            "video 2/2 RTP/AVP 96",
            "rtpmap:101 telephone-event/8000",
            "rtpmap:96 opus/48000/2",
            "fmtp:101 0-15",
            "rtcp:1001 IN IP4 h",
            "rtcp-mux",
            "sendonly",
            "inactive",
            "label:1",
            "",
            " ",
        ]
    ),
    st.text(max_size=30),
)
_LINES = st.builds(lambda t, v: f"{t}={v}", _LINE_TYPES, _VALUES)
_SDP_LIKE = st.builds(
    lambda body, sep: sep.join(["v=0", "o=- 1 1 IN IP4 h", *body]) + sep,
    st.lists(st.one_of(_LINES, st.text(max_size=20)), max_size=15),
    st.sampled_from(["\r\n", "\n"]),
)


def _check_invariant(data: bytes | str) -> bool:
    try:
        sdp = SessionDescription.parse(data)
    except SdpError:
        return False
    again = SessionDescription.parse(bytes(sdp))
    assert again == sdp
    assert bytes(again) == bytes(sdp)
    return True


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_any_input_parses_or_raises_sdp_error(data: bytes | str) -> None:
    _check_invariant(data)


@settings(max_examples=500, deadline=None)
@given(_SDP_LIKE, st.booleans())
def test_sdp_like_input_is_idempotent(text: str, as_bytes: bool) -> None:
    _check_invariant(text.encode() if as_bytes else text)

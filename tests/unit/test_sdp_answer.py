"""Recorder offer/answer (RFC 3264) and codec tables (RFC 3551) on golden offers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siprec_appliance.errors import LocalProtocolError, SdpError
from siprec_appliance.sdp import (
    STATIC_PAYLOAD_TYPES,
    MediaDescription,
    Origin,
    PortPair,
    RtpMap,
    SessionDescription,
    StreamPlan,
    is_auxiliary,
    is_recordable,
    new_origin,
    plan_streams,
    render_answer,
    render_offer,
    resolve_rtpmap,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "sdp"
ADDRESS = "192.0.2.99"
HEAD = "v=0\no=siprec 42 1 IN IP4 192.0.2.99\ns=-\nc=IN IP4 192.0.2.99\nt=0 0\n"


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def offer_of(name: str) -> SessionDescription:
    return SessionDescription.parse((DATA / name).read_bytes())


def parse(text: str) -> SessionDescription:
    return SessionDescription.parse(text)


def ports_for(plans: list[StreamPlan]) -> dict[int, PortPair]:
    """RTP on 40000 + 4*i, RTCP on RTP + 1 unless muxed."""
    ports = {}
    for plan in plans:
        if plan.accepted:
            rtp = 40000 + 4 * plan.index
            ports[plan.index] = PortPair(rtp, None if plan.rtcp_mux else rtp + 1)
    return ports


def answer(offer: SessionDescription, address: str = ADDRESS) -> bytes:
    plans = plan_streams(offer)
    sdp = render_answer(
        offer, plans, ports_for(plans), address=address, origin=new_origin("42", address)
    )
    return bytes(sdp)


def test_two_stream_siprec_answer_is_exact() -> None:
    stream = (
        "m=audio {port} RTP/AVP 0 8 101\na=label:{label}\na=rtpmap:0 PCMU/8000\n"
        "a=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\n"
        "a=ptime:20\na=recvonly\n"
    )
    expected = HEAD + stream.format(port=40000, label="1") + stream.format(port=40004, label="2")
    assert answer(offer_of("siprec_two_streams.sdp")) == crlf(expected)


def test_rtpengine_answer_keeps_8_and_101_and_sends_rtcp_ports() -> None:
    stream = (
        "m=audio {port} RTP/AVP 8 101\na=label:{label}\na=rtpmap:8 PCMA/8000\n"
        "a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\na=ptime:20\n"
        "a=rtcp:{rtcp}\na=recvonly\n"
    )
    expected = (
        HEAD
        + stream.format(port=40000, label="1", rtcp=40001)
        + stream.format(port=40004, label="0", rtcp=40005)
    )
    assert answer(offer_of("opensips_rtpengine.sdp")) == crlf(expected)


def test_plan_fields_for_rtpengine_offer() -> None:
    first, second = plan_streams(offer_of("opensips_rtpengine.sdp"))
    assert first == StreamPlan(
        index=0,
        media="audio",
        proto="RTP/AVP",
        accepted=True,
        refuse_reason=None,
        label="1",
        offered_direction="sendonly",
        answer_direction="recvonly",
        payload_types=(8, 101),
        codecs=("PCMA/8000", "telephone-event/8000"),
        rtcp_mux=False,
        rtcp_attribute=True,
        offered_formats=("8", "101"),
        fmtps=((101, "0-16"),),
        ptime="20",
        dropped_codecs=(),
    )
    assert (second.index, second.label) == (1, "0")


def test_avaya_single_mono_answer() -> None:
    expected = HEAD + (
        "m=audio 40000 RTP/AVP 0 101\na=label:1001\na=rtpmap:0 PCMU/8000\n"
        "a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\na=ptime:20\na=recvonly\n"
    )
    assert answer(offer_of("avaya_single_mono.sdp")) == crlf(expected)


def test_metaswitch_session_level_sendonly_answers_recvonly() -> None:
    expected = HEAD + (
        "m=audio 40000 RTP/AVP 18 0 101\na=label:mixed\na=rtpmap:18 G729/8000\n"
        "a=rtpmap:0 PCMU/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:18 annexb=no\n"
        "a=recvonly\n"
    )
    assert answer(offer_of("metaswitch_mixed.sdp")) == crlf(expected)


def test_rtcp_mux_answer_has_no_rtcp_port_and_only_offered_rtpmaps() -> None:
    [plan] = plan_streams(offer_of("rtcp_mux.sdp"))
    assert plan.rtcp_mux is True
    assert plan.codecs == ("PCMA/8000", "PCMU/8000", "telephone-event/8000")
    expected = HEAD + (
        "m=audio 40000 RTP/AVPF 8 0 101\na=label:1\na=rtpmap:101 telephone-event/8000\n"
        "a=rtcp-mux\na=recvonly\n"
    )
    assert answer(offer_of("rtcp_mux.sdp")) == crlf(expected)


def test_srtp_offer_with_mki_is_accepted_with_its_crypto_line() -> None:
    # RFC 4568 §6.1 example shape: inline key, lifetime 2^20, MKI 1 on 32 bytes.
    [plan] = plan_streams(offer_of("srtp_savp.sdp"))
    assert plan.accepted is True
    assert plan.crypto is not None
    assert (plan.crypto.tag, plan.srtp_suite, plan.crypto.mki) == (
        1,
        "AES_CM_128_HMAC_SHA1_80",
        (1, 32),
    )
    assert plan.payload_types == (0, 101)
    assert plan.answer_direction == "recvonly"


def test_video_stream_is_refused_audio_kept() -> None:
    audio, video = plan_streams(offer_of("with_video.sdp"))
    assert audio.accepted is True
    assert video.refuse_reason == "only audio is recorded"
    expected = HEAD + (
        "m=audio 40000 RTP/AVP 8 101\na=label:1\na=rtpmap:8 PCMA/8000\n"
        "a=rtpmap:101 telephone-event/8000\na=recvonly\n"
        "m=video 0 RTP/AVP 96\na=label:2\n"
    )
    assert answer(offer_of("with_video.sdp")) == crlf(expected)


def test_opus_g722_keeps_recordable_and_drops_ilbc() -> None:
    [plan] = plan_streams(offer_of("opus_g722.sdp"))
    assert plan.payload_types == (111, 9, 110, 101)
    assert plan.codecs == (
        "opus/48000/2",
        "G722/8000",
        "telephone-event/48000",
        "telephone-event/8000",
    )
    assert plan.dropped_codecs == ("iLBC/8000",)
    assert plan.fmtps == ((111, "minptime=10;useinbandfec=1"), (101, "0-15"))
    lines = answer(offer_of("opus_g722.sdp")).decode().split("\r\n")
    assert "m=audio 40000 RTP/AVP 111 9 110 101" in lines
    assert "a=rtpmap:111 opus/48000/2" in lines
    assert "a=fmtp:111 minptime=10;useinbandfec=1" in lines
    assert not any("97" in line for line in lines)


def test_hold_offer_answers_inactive_on_held_stream() -> None:
    held, active = plan_streams(offer_of("hold_inactive.sdp"))
    assert (held.offered_direction, held.answer_direction) == ("inactive", "inactive")
    assert (active.offered_direction, active.answer_direction) == ("sendonly", "recvonly")
    text = answer(offer_of("hold_inactive.sdp")).decode()
    first, second = text.split("m=audio ")[1:]
    assert first.startswith("40000 RTP/AVP 8 101\r\n")
    assert first.endswith("a=rtcp:40001\r\na=inactive\r\n")
    assert second.endswith("a=rtcp:40005\r\na=recvonly\r\n")


def test_bare_lf_offer_answer() -> None:
    [plan] = plan_streams(offer_of("bare_lf.sdp"))
    assert plan.payload_types == (0, 13, 101)
    assert plan.codecs == ("PCMU/8000", "CN/8000", "telephone-event/8000")
    assert b"m=audio 40000 RTP/AVP 0 13 101\r\na=label:mixed\r\n" in answer(offer_of("bare_lf.sdp"))


OFFER_HEAD = "v=0\no=- 1 1 IN IP4 h\ns=-\nc=IN IP4 h\nt=0 0\n"


@pytest.mark.parametrize(
    ("m_lines", "reason"),
    [
        ("m=audio 0 RTP/AVP 0\n", "stream disabled by the offer"),
        ("m=application 9 UDP/BFCP *\n", "only audio is recorded"),
        ("m=audio 9 RTP/SAVPF 0\n", "no usable a=crypto for SRTP"),
        ("m=audio 9 UDP/TLS/RTP/SAVP 0\n", "DTLS-SRTP is not supported"),
        ("m=audio 9 udp 0\n", "transport udp is not supported"),
        (
            "m=audio 9 RTP/AVP 3 97 101\na=rtpmap:97 iLBC/8000\n"
            "a=rtpmap:101 telephone-event/8000\n",
            "no recordable codec in the offer: GSM/8000, iLBC/8000, telephone-event/8000",
        ),
        ("m=audio 9 RTP/AVP 96 x\n", "no recordable codec in the offer: 96, x"),
        ("m=audio 9 RTP/AVP\n", "no recordable codec in the offer: none"),
    ],
)
def test_refusal_reasons(m_lines: str, reason: str) -> None:
    offer = parse(OFFER_HEAD + m_lines)
    [plan] = plan_streams(offer)
    assert plan.accepted is False
    assert plan.refuse_reason == reason
    assert plan.offered_formats == tuple(offer.media[0].formats)
    refused = SessionDescription.parse(answer(offer)).media[0]
    assert refused.port == 0
    assert refused.formats == offer.media[0].formats
    assert refused.attributes == []


def test_recvonly_offer_answers_inactive_and_sendrecv_answers_recvonly() -> None:
    offer = parse(OFFER_HEAD + "m=audio 9 RTP/AVP 0\na=recvonly\nm=audio 11 RTP/AVP 0\n")
    plans = plan_streams(offer)
    assert [p.answer_direction for p in plans] == ["inactive", "recvonly"]
    assert [p.offered_direction for p in plans] == ["recvonly", "sendrecv"]


def test_duplicate_payload_types_kept_once() -> None:
    offer = parse(OFFER_HEAD + "m=audio 9 RTP/AVP 8 8 0\n")
    [plan] = plan_streams(offer)
    assert plan.payload_types == (8, 0)


def test_ipv6_answer() -> None:
    address = "2001:db8::5"
    text = answer(offer_of("avaya_single_mono.sdp"), address=address).decode()
    assert text.startswith(
        "v=0\r\no=siprec 42 1 IN IP6 2001:db8::5\r\ns=-\r\nc=IN IP6 2001:db8::5\r\n"
    )


def test_new_origin() -> None:
    assert new_origin("99", "10.0.0.1") == Origin("siprec", "99", 1, "IN", "IP4", "10.0.0.1")
    assert new_origin("99", "::1").addrtype == "IP6"


def test_answer_copies_origin() -> None:
    offer = offer_of("avaya_single_mono.sdp")
    plans = plan_streams(offer)
    origin = new_origin("7", ADDRESS)
    sdp = render_answer(offer, plans, ports_for(plans), address=ADDRESS, origin=origin)
    origin.session_version += 1
    assert sdp.origin.session_version == 1
    assert sdp.origin is not origin


def test_rtcp_port_not_adjacent_is_always_announced() -> None:
    # RFC 3605 §2.1: a=rtcp whenever RTCP is not on RTP + 1, even if the offer had none.
    offer = offer_of("avaya_single_mono.sdp")
    plans = plan_streams(offer)
    sdp = render_answer(
        offer, plans, {0: PortPair(40000, 41000)}, address=ADDRESS, origin=new_origin("1", ADDRESS)
    )
    assert sdp.media[0].attribute("rtcp") == "41000"
    adjacent = render_answer(
        offer, plans, {0: PortPair(40000, 40001)}, address=ADDRESS, origin=new_origin("1", ADDRESS)
    )
    assert adjacent.media[0].has_attribute("rtcp") is False


def test_render_offer_regenerates_every_rtpmap() -> None:
    offer = offer_of("with_video.sdp")
    plans = plan_streams(offer)
    sdp = render_offer(plans, ports_for(plans), address=ADDRESS, origin=new_origin("42", ADDRESS))
    expected = HEAD + (
        "m=audio 40000 RTP/AVP 8 101\na=label:1\na=rtpmap:8 PCMA/8000\n"
        "a=rtpmap:101 telephone-event/8000\na=recvonly\n"
        "m=video 0 RTP/AVP 96\na=label:2\n"
    )
    assert bytes(sdp) == crlf(expected)


def test_render_offer_matches_answer_for_fully_described_offer() -> None:
    offer = offer_of("opensips_rtpengine.sdp")
    plans = plan_streams(offer)
    origin = new_origin("42", ADDRESS)
    as_offer = render_offer(plans, ports_for(plans), address=ADDRESS, origin=origin)
    as_answer = render_answer(offer, plans, ports_for(plans), address=ADDRESS, origin=origin)
    assert as_offer == as_answer
    rtcp_mux = plan_streams(offer_of("rtcp_mux.sdp"))
    reoffer = render_offer(rtcp_mux, ports_for(rtcp_mux), address=ADDRESS, origin=origin)
    assert reoffer.media[0].attribute_values("rtpmap") == [
        "8 PCMA/8000",
        "0 PCMU/8000",
        "101 telephone-event/8000",
    ]


def test_local_errors() -> None:
    offer = offer_of("siprec_two_streams.sdp")
    plans = plan_streams(offer)
    origin = new_origin("1", ADDRESS)
    with pytest.raises(LocalProtocolError, match=r"^no ports allocated for accepted stream 1$"):
        render_answer(offer, plans, {0: PortPair(1000, 1001)}, address=ADDRESS, origin=origin)
    with pytest.raises(LocalProtocolError, match=r"^stream 0 needs an RTCP port \(no rtcp-mux\)$"):
        render_offer(
            plans,
            {0: PortPair(1000, None), 1: PortPair(1002, 1003)},
            address=ADDRESS,
            origin=origin,
        )
    with pytest.raises(LocalProtocolError, match=r"^1 stream plans for an offer with 2 m= lines$"):
        render_answer(offer, plans[:1], ports_for(plans), address=ADDRESS, origin=origin)
    with pytest.raises(LocalProtocolError, match=r"^stream plan at position 0 has index 1$"):
        render_offer(plans[1:], ports_for(plans), address=ADDRESS, origin=origin)


# --- codecs (RFC 3551) ---


def test_static_payload_types_follow_rfc_3551() -> None:
    table = {pt: m.codec for pt, m in STATIC_PAYLOAD_TYPES.items() if pt <= 18}
    assert table == {
        0: "PCMU/8000",
        3: "GSM/8000",
        4: "G723/8000",
        5: "DVI4/8000",
        6: "DVI4/16000",
        7: "LPC/8000",
        8: "PCMA/8000",
        9: "G722/8000",
        10: "L16/44100/2",
        11: "L16/44100",
        12: "QCELP/8000",
        13: "CN/8000",
        14: "MPA/90000",
        15: "G728/8000",
        16: "DVI4/11025",
        17: "DVI4/22050",
        18: "G729/8000",
    }
    assert all(pt < 96 for pt in STATIC_PAYLOAD_TYPES)


def test_resolve_rtpmap_prefers_explicit_then_static() -> None:
    media = MediaDescription("audio", 1, None, "RTP/AVP", ["0", "8", "96", "97"])
    media.attributes += [("rtpmap", "0 PCMU/8000/1"), ("rtpmap", "96 AMR-WB/16000")]
    assert resolve_rtpmap(media, 0) == RtpMap(0, "PCMU", 8000, 1)
    assert resolve_rtpmap(media, 8) == RtpMap(8, "PCMA", 8000, None)
    assert resolve_rtpmap(media, 96) == RtpMap(96, "AMR-WB", 16000, None)
    assert resolve_rtpmap(media, 97) is None


@pytest.mark.parametrize(
    ("encoding", "recordable", "auxiliary"),
    [
        ("PCMU", True, False),
        ("pcma", True, False),
        ("G722", True, False),
        ("G729", True, False),
        ("OPUS", True, False),
        ("AMR", True, False),
        ("amr-wb", True, False),
        ("L16", True, False),
        ("telephone-event", False, True),
        ("CN", False, True),
        ("iLBC", False, False),
        ("GSM", False, False),
        ("H264", False, False),
    ],
)
def test_recordable_encodings(encoding: str, recordable: bool, auxiliary: bool) -> None:
    rtpmap = RtpMap(96, encoding, 8000, None)
    assert is_recordable(rtpmap) is recordable
    assert is_auxiliary(rtpmap) is auxiliary


# --- property: any offer that parses gets a well-formed answer ---

_MEDIA_LINE = st.builds(
    "m={} {} {} {}".format,
    st.sampled_from(["audio", "video", "AUDIO", "x"]),
    st.sampled_from(["0", "9", "1000/2"]),
    st.sampled_from(["RTP/AVP", "RTP/AVPF", "RTP/SAVP", "udp", "rtp/avp"]),
    st.lists(st.sampled_from(["0", "8", "9", "13", "18", "96", "101", "127", "x"])).map(" ".join),
)
_ATTRIBUTE = st.sampled_from(
    [
        "a=rtpmap:96 opus/48000/2",
        "a=rtpmap:96 iLBC/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=rtpmap:127 AMR/8000/x",
        "a=fmtp:96 useinbandfec=1",
        "a=fmtp:101 0-15",
        "a=rtcp:4001",
        "a=rtcp-mux",
        "a=sendonly",
        "a=recvonly",
        "a=inactive",
        "a=label:1",
        "a=ptime:20",
        "c=IN IP4 h",
        "b=AS:64",
    ]
)
_OFFER = st.lists(st.one_of(_MEDIA_LINE, _ATTRIBUTE, st.text(max_size=20)), max_size=12).map(
    lambda lines: "\n".join([OFFER_HEAD.rstrip("\n"), *lines]) + "\n"
)


@settings(max_examples=300, deadline=None)
@given(_OFFER)
def test_any_parsed_offer_gets_a_parseable_answer(text: str) -> None:
    try:
        offer = SessionDescription.parse(text)
    except SdpError:
        return
    plans = plan_streams(offer)
    assert [p.index for p in plans] == list(range(len(offer.media)))
    result = SessionDescription.parse(answer(offer))
    assert len(result.media) == len(offer.media)
    for plan, media in zip(plans, result.media, strict=True):
        assert len(plan.payload_types) == len(plan.codecs)
        if plan.accepted:
            assert media.port == 40000 + 4 * plan.index
            assert media.payload_types == list(plan.payload_types)
            assert media.direction == plan.answer_direction
            assert any(is_recordable(RtpMap.from_codec(96, c)) for c in plan.codecs)
        else:
            assert media.port == 0
            assert plan.refuse_reason
            assert media.formats == offer.media[plan.index].formats


def test_plans_are_frozen() -> None:
    [plan] = plan_streams(offer_of("avaya_single_mono.sdp"))
    with pytest.raises(AttributeError):
        plan.accepted = False  # type: ignore[misc]
    assert replace(plan, accepted=False).accepted is False


# ------------------------------------------------------------ SRTP (RFC 4568)
SRC_KEY = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"  # 30 x "A": the SRC's key
SRTP_OFFER = OFFER_HEAD + (
    "m=audio 9 RTP/SAVP 0\na=label:1\n"
    "a=crypto:1 F8_128_HMAC_SHA1_80 inline:" + SRC_KEY + "\n"
    "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:" + SRC_KEY + "|2^20\n"
    "a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:" + SRC_KEY + "\n"
    "a=sendonly\n"
    "m=audio 11 RTP/AVP 0\na=label:2\na=sendonly\n"
)


def test_srtp_answer_carries_our_key_with_the_first_usable_tag() -> None:
    from siprec_appliance.sdp.crypto import answer_crypto

    offer = parse(SRTP_OFFER)
    srtp, plain = plan_streams(offer)
    assert srtp.accepted and plain.accepted
    assert srtp.crypto is not None and (srtp.crypto.tag, srtp.srtp_suite) == (
        2,
        "AES_CM_128_HMAC_SHA1_32",
    )
    assert plain.crypto is None and plain.srtp_suite is None
    ours = answer_crypto(srtp.crypto, lambda n: bytes([0x42]) * n)
    sdp = render_answer(
        offer,
        [srtp, plain],
        ports_for([srtp, plain]),
        address=ADDRESS,
        origin=new_origin("42", ADDRESS),
        crypto={0: ours},
    )
    expected = HEAD + (
        "m=audio 40000 RTP/SAVP 0\na=label:1\n"
        "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJC\n"
        "a=recvonly\n"
        "m=audio 40004 RTP/AVP 0\na=label:2\na=recvonly\n"
    )
    assert bytes(sdp) == crlf(expected)
    assert SRC_KEY not in bytes(sdp).decode()
    offer_again = render_offer(
        [srtp, plain],
        ports_for([srtp, plain]),
        address=ADDRESS,
        origin=new_origin("42", ADDRESS),
        crypto={0: ours},
    )
    assert offer_again.media[0].attribute_values("crypto") == [str(ours)]


def test_srtp_stream_without_our_crypto_is_a_local_error() -> None:
    offer = parse(SRTP_OFFER)
    plans = plan_streams(offer)
    origin = new_origin("42", ADDRESS)
    with pytest.raises(LocalProtocolError):
        render_answer(offer, plans, ports_for(plans), address=ADDRESS, origin=origin)
    wrong = plans[0].crypto
    assert wrong is not None
    with pytest.raises(LocalProtocolError):
        render_answer(
            offer,
            plans,
            ports_for(plans),
            address=ADDRESS,
            origin=origin,
            crypto={0: replace(wrong, tag=9)},
        )


def test_savp_with_only_unusable_crypto_is_refused_next_to_a_plain_stream() -> None:
    offer = parse(SRTP_OFFER.replace("AES_CM_128_HMAC_SHA1_", "NULL_HMAC_SHA1_"))
    srtp, plain = plan_streams(offer)
    assert plain.accepted is True
    assert srtp.accepted is False and srtp.crypto is None
    assert srtp.refuse_reason == (
        "no usable a=crypto for SRTP (crypto suite F8_128_HMAC_SHA1_80 is not supported; "
        "crypto suite NULL_HMAC_SHA1_32 is not supported; "
        "crypto suite NULL_HMAC_SHA1_80 is not supported)"
    )
    refused = SessionDescription.parse(answer(offer)).media[0]
    assert (refused.port, refused.attributes) == (0, [("label", "1")])


def test_crypto_on_a_plain_rtp_offer_is_ignored() -> None:
    offer = parse(OFFER_HEAD + "m=audio 9 RTP/AVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 "
                  "inline:" + SRC_KEY + "\n")  # fmt: skip
    [plan] = plan_streams(offer)
    assert plan.accepted and plan.crypto is None
    assert b"crypto" not in answer(offer)

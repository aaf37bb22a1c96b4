"""SRTP with SDES keys (RFC 4568) through the SRS core, in memory, clock passed in."""

from __future__ import annotations

import base64
import json
import logging
import random
from collections.abc import Callable

import pytest

from siprec_appliance.sdp.crypto import CryptoAttribute
from siprec_appliance.sdp.model import MediaDescription, SessionDescription
from siprec_appliance.sip.message import Response
from siprec_appliance.siprec.events import SessionOffered
from siprec_appliance.siprec.ports import PortPool
from siprec_appliance.siprec.settings import SrsSettings
from siprec_appliance.siprec.srs import SrsCore
from support.src import Src, multipart

KEY_A = base64.b64encode(b"A" * 30).decode()  # the SRC's keys
KEY_C = base64.b64encode(b"C" * 30).decode()
GCM_KEY = base64.b64encode(b"G" * 44).decode()


def counter() -> Callable[[int], bytes]:
    state = [0x60]

    def source(n: int) -> bytes:
        state[0] += 1
        return bytes([state[0]]) * n

    return source


def core_with_keys() -> SrsCore:
    pool = PortPool(20000, 20100, cooldown=10.0)
    return SrsCore(SrsSettings(), pool, rng=random.Random(1), key_source=counter())


def body(*media: str, version: int = 1) -> bytes:
    head = ["v=0", f"o=SRC 1 {version} IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0"]
    return ("\r\n".join(head + list(media)) + "\r\n").encode()


def savp(label: int, port: int, *cryptos: str, proto: str = "RTP/SAVP") -> list[str]:
    return [
        f"m=audio {port} {proto} 0 101",
        "a=rtpmap:101 telephone-event/8000",
        f"a=label:{label}",
        *(f"a=crypto:{c}" for c in cryptos),
        "a=sendonly",
    ]


def avp(label: int, port: int) -> list[str]:
    return [f"m=audio {port} RTP/AVP 0", f"a=label:{label}", "a=sendonly"]


TWO_SRTP = body(
    *savp(1, 30000, f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_A}|2^20"),
    *savp(
        2,
        30002,
        f"5 AES_CM_128_HMAC_SHA1_32 inline:{KEY_A}",
        f"6 AES_CM_128_HMAC_SHA1_80 inline:{KEY_A}",
    ),
)


def start(src: Src, sdp_body: bytes, now: float = 0.0) -> tuple[str, Response]:
    src.send(src.invite(multipart(sdp_body)), now)
    ids = []
    while (event := src.core.next_event()) is not None:
        if isinstance(event, SessionOffered):
            ids.append(event.session_id)
    [sid] = ids
    assert src.core.accept(sid, now)
    [ok] = src.drain()
    assert isinstance(ok, Response) and ok.status == 200
    assert src.ack(now + 0.1) == []
    return sid, ok


def sdp_of(message: Response) -> SessionDescription:
    return SessionDescription.parse(message.body)


def crypto_of(media: MediaDescription) -> CryptoAttribute:
    [value] = media.attribute_values("crypto")
    return CryptoAttribute.parse(value)


def reinvite(src: Src, sdp_body: bytes | None, now: float) -> Response:
    [out] = src.send(src.request("INVITE", body=sdp_body or b""), now)
    assert isinstance(out, Response)
    if sdp_body is not None:
        assert src.ack(now + 0.05) == []  # an offer in the 200 waits for the test's ACK
    return out


def test_answer_echoes_tags_with_our_own_keys_and_the_api_shows_only_suites() -> None:
    core = core_with_keys()
    sid, ok = start(Src(core), TWO_SRTP)
    first, second = sdp_of(ok).media
    assert [m.proto for m in (first, second)] == ["RTP/SAVP", "RTP/SAVP"]
    ours = [crypto_of(first), crypto_of(second)]
    assert [(c.tag, c.suite) for c in ours] == [
        (1, "AES_CM_128_HMAC_SHA1_80"),
        (5, "AES_CM_128_HMAC_SHA1_32"),
    ]
    assert [c.key_salt for c in ours] == [b"\x61" * 30, b"\x62" * 30]  # from key_source
    assert all(c.key_salt != b"A" * 30 for c in ours)
    session = core.sessions[sid]
    assert [s.plan.crypto.key_salt for s in session.streams if s.plan.crypto] == [b"A" * 30] * 2
    snapshot = core.snapshot(sid)
    assert snapshot is not None
    assert [s.srtp_suite for s in snapshot.streams] == [
        "AES_CM_128_HMAC_SHA1_80",
        "AES_CM_128_HMAC_SHA1_32",
    ]
    text = json.dumps(snapshot.to_dict())
    for key in (KEY_A, base64.b64encode(b"\x61" * 30).decode(), "inline"):
        assert key not in text


def test_gcm_suite_gets_a_44_byte_key() -> None:
    core = core_with_keys()
    _, ok = start(Src(core), body(*savp(1, 30000, f"3 AEAD_AES_256_GCM inline:{GCM_KEY}")))
    ours = crypto_of(sdp_of(ok).media[0])
    assert (ours.tag, ours.suite, len(ours.key_salt)) == (3, "AEAD_AES_256_GCM", 44)


@pytest.mark.parametrize("proto", ["RTP/SAVP", "RTP/SAVPF"])
def test_savp_with_only_unsupported_suites_gets_488_with_warning(proto: str) -> None:
    core = core_with_keys()
    src = Src(core)
    offer = body(*savp(1, 30000, f"1 F8_128_HMAC_SHA1_80 inline:{KEY_A}", proto=proto))
    out = [m for m in src.send(src.invite(multipart(offer)), 0.0) if isinstance(m, Response)]
    assert [m.status for m in out] == [488]
    warning = out[0].headers.get("Warning") or ""
    assert warning == (
        '305 127.0.0.1 "No recordable audio: '
        'no usable a=crypto for SRTP (crypto suite F8_128_HMAC_SHA1_80 is not supported)"'
    )
    assert core.active_count() == 0


def test_savp_without_any_crypto_line_gets_488() -> None:
    src = Src(core_with_keys())
    out = [m for m in src.send(src.invite(multipart(body(*savp(1, 30000)))), 0.0)]
    assert [m.status for m in out if isinstance(m, Response)] == [488]


def test_mixed_offer_plain_and_srtp_streams() -> None:
    core = core_with_keys()
    good = body(*avp(1, 30000), *savp(2, 30002, f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_A}"))
    sid, ok = start(Src(core), good)
    plain, secure = sdp_of(ok).media
    snapshot = core.snapshot(sid)
    assert snapshot is not None
    listed = snapshot.to_dict()["streams"]
    assert "srtp_suite" not in listed[0]  # plain RTP: the API JSON is as before
    assert listed[1]["srtp_suite"] == "AES_CM_128_HMAC_SHA1_80"
    assert (plain.proto, plain.attribute_values("crypto")) == ("RTP/AVP", [])
    assert secure.port != 0 and crypto_of(secure).tag == 1
    # The SAVP stream without a usable line is refused alone; the plain one is recorded.
    bad = body(*avp(1, 30000), *savp(2, 30002, f"1 F8_128_HMAC_SHA1_80 inline:{KEY_A}"))
    _, ok = start(Src(core, call_id="c2"), bad)
    plain, refused = sdp_of(ok).media
    assert plain.port != 0 and refused.port == 0
    assert refused.attribute_values("crypto") == []


def test_reinvite_keeps_our_key_until_the_src_changes_its_crypto() -> None:
    core = core_with_keys()
    src = Src(core)
    sid, ok = start(src, TWO_SRTP)
    before = [crypto_of(m) for m in sdp_of(ok).media]
    same = sdp_of(reinvite(src, TWO_SRTP, 1.0))
    assert [crypto_of(m) for m in same.media] == before
    # RFC 4568 §7.1.4: the SRC rekeys stream 1 only: we rekey that stream only.
    rekeyed = TWO_SRTP.replace(f"inline:{KEY_A}|2^20".encode(), f"inline:{KEY_C}|2^20".encode())
    after = [crypto_of(m) for m in sdp_of(reinvite(src, rekeyed, 2.0)).media]
    assert after[1] == before[1]
    assert (after[0].tag, after[0].suite) == (before[0].tag, before[0].suite)
    assert after[0].key_salt not in (before[0].key_salt, b"C" * 30)
    plan = core.sessions[sid].streams[0].plan
    assert plan.crypto is not None and plan.crypto.key_salt == b"C" * 30  # decrypt with it
    # Another suite chosen (tag 6 now first usable on stream 2): new key there too.
    switched = rekeyed.replace(b"a=crypto:5 AES_CM_128_HMAC_SHA1_32", b"a=crypto:5 X")
    last = [crypto_of(m) for m in sdp_of(reinvite(src, switched, 3.0)).media]
    assert (last[1].tag, last[1].suite) == (6, "AES_CM_128_HMAC_SHA1_80")
    assert last[1].key_salt != after[1].key_salt and last[0] == after[0]


def test_offerless_reinvite_offers_our_key_and_takes_the_srcs_new_key_from_the_ack() -> None:
    core = core_with_keys()
    src = Src(core)
    sid, ok = start(src, TWO_SRTP)
    ours = [crypto_of(m) for m in sdp_of(ok).media]
    our_offer = sdp_of(reinvite(src, None, 1.0))
    assert [crypto_of(m) for m in our_offer.media] == ours
    ack_answer = body(
        *savp(1, 30000, f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_C}"),
        *savp(2, 30002, f"9 AES_CM_128_HMAC_SHA1_32 inline:{KEY_C}"),  # not our tag 5
        version=2,
    )
    assert src.ack(1.1, body=ack_answer) == []
    streams = core.sessions[sid].streams
    assert [s.plan.crypto.key_salt for s in streams if s.plan.crypto] == [
        b"C" * 30,
        b"A" * 30,  # the line with a foreign tag is ignored: the old key stays
    ]


def test_keys_are_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    core = core_with_keys()
    src = Src(core)
    start(src, TWO_SRTP)
    reinvite(src, TWO_SRTP.replace(KEY_A.encode(), KEY_C.encode()), 1.0)
    bad = body(*savp(1, 30000, f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_A[:-4]}"))
    Src(core, call_id="c3").send(Src(core, call_id="c3").invite(multipart(bad)), 2.0)
    assert caplog.records  # something was logged, and no key in it
    ours = [base64.b64encode(bytes([n]) * 30).decode() for n in range(0x61, 0x66)]
    for key in (KEY_A, KEY_C, KEY_A[:-4], *ours):
        assert key not in caplog.text

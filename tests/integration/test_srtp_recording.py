"""SRTP/SDES (RFC 4568, RFC 3711) end to end against the real daemon.

The SRC offers two RTP/SAVP streams, AES_CM_128_HMAC_SHA1_80 and _32, each with its
own key, and encrypts its media with those keys: the key of an ``a=crypto`` line is
its sender's (RFC 4568 §6.1), so the SRS decrypts with the offer's keys. The SRS
answers with fresh keys of its own, which it would send with (it never does).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
from pathlib import Path

import pytest

from siprec_appliance.sdp.crypto import CryptoAttribute
from siprec_appliance.sdp.model import SessionDescription
from support.daemon import SipClient, establish_call, running_daemon
from support.recorded import SIPREC_TYPE, peak_hz, read_wav, session_dir, wait_for
from support.rtp_sender import SrtpSender, g711_stream, send_paced, tamper
from support.src import multipart

pytestmark = pytest.mark.integration
SR = struct.pack("!BBH6I", 0x80, 200, 6, 0x1111, 0, 0, 0, 0, 0)  # RFC 3550 §6.4.1


def _offer(key1: bytes, key2: bytes) -> bytes:
    k1, k2 = base64.b64encode(key1).decode(), base64.b64encode(key2).decode()
    lines = [
        "v=0",
        "o=SRC 1 1 IN IP4 127.0.0.1",
        "s=SIPREC",
        "c=IN IP4 127.0.0.1",
        "t=0 0",
        "m=audio 40000 RTP/SAVP 0 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
        f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{k1}|2^31",
        "a=label:1",
        "a=sendonly",
        "m=audio 40002 RTP/SAVP 0 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
        f"a=crypto:3 F8_128_HMAC_SHA1_80 inline:{k2}",
        f"a=crypto:4 AES_CM_128_HMAC_SHA1_32 inline:{k2}",
        "a=label:2",
        "a=sendonly",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def test_srtp_call_is_decrypted_with_the_offers_keys(tmp_path: Path) -> None:
    key1, key2 = os.urandom(30), os.urandom(30)
    with running_daemon(tmp_path) as daemon:
        client = SipClient(daemon.sip_port)
        try:
            call = establish_call(
                client, multipart(_offer(key1, key2)), SIPREC_TYPE, call_id="srtp-1"
            )
            answer = SessionDescription.parse(call.answer.body)
            first, second = answer.media
            assert [m.proto for m in answer.media] == ["RTP/SAVP", "RTP/SAVP"]
            ours = [CryptoAttribute.parse(m.attribute_values("crypto")[0]) for m in answer.media]
            assert [(c.tag, c.suite) for c in ours] == [
                (1, "AES_CM_128_HMAC_SHA1_80"),
                (4, "AES_CM_128_HMAC_SHA1_32"),
            ]
            assert [len(c.key_salt) for c in ours] == [30, 30]
            assert ours[0].key_salt != key1 and ours[1].key_salt != key2
            assert ours[0].key_salt != ours[1].key_salt
            ports = [first.port, second.port]
            srtp1 = SrtpSender("AES_CM_128_HMAC_SHA1_80", key1)
            srtp2 = SrtpSender("AES_CM_128_HMAC_SHA1_32", key2)
            a = g711_stream(("127.0.0.1", ports[0]), 440, 2.0, ssrc=0x1111)
            b = g711_stream(("127.0.0.1", ports[1]), 1000, 2.0, ssrc=0x2222)
            a.packets = srtp1.protect(a.packets)
            b.packets = srtp2.protect(b.packets)
            # A forged packet 20 (before the real one) and a replay of packet 10.
            a.packets = [*a.packets[:20], tamper(a.packets[20]), *a.packets[20:]]
            a.packets.insert(45, a.packets[10])
            send_paced([a, b])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.sendto(srtp1.protect_rtcp(SR), ("127.0.0.1", ports[0] + 1))  # SRTCP
            time.sleep(0.3)
            assert call.bye().status == 200
            directory = session_dir(daemon)
            document_path = directory / "session.json"
            wait_for(lambda: json.loads(document_path.read_text())["state"] == "completed")
        finally:
            client.close()
    text = document_path.read_text()
    for key in (key1, key2, *(c.key_salt for c in ours)):
        assert base64.b64encode(key).decode() not in text
    assert "inline" not in text
    document = json.loads(text)
    assert [s["srtp_suite"] for s in document["session"]["streams"]] == [
        "AES_CM_128_HMAC_SHA1_80",
        "AES_CM_128_HMAC_SHA1_32",
    ]
    streams = {s["index"]: s for s in document["streams"]}
    assert (streams[0]["srtp_auth_failures"], streams[0]["srtp_replays"]) == (1, 1)
    assert (streams[0]["received"], streams[0]["lost"], streams[0]["duplicated"]) == (100, 0, 0)
    assert (streams[0]["rtcp"], streams[0]["malformed"]) == (1, 0)
    assert (streams[1]["srtp_auth_failures"], streams[1]["srtp_replays"]) == (0, 0)
    assert (streams[1]["received"], streams[1]["lost"]) == (100, 0)
    for index, frequency in ((0, 440.0), (1, 1000.0)):
        rate, samples = read_wav(directory / streams[index]["file"])
        assert rate == 8000
        assert len(samples) / rate == pytest.approx(2.0, abs=0.02)
        assert peak_hz(samples, rate) == pytest.approx(frequency, abs=10)

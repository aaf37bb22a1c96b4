"""SRTP/SRTCP decryption in StreamRecorder (RFC 3711, RFC 4568, RFC 7714), no sockets."""

from __future__ import annotations

import struct
from dataclasses import replace

import numpy as np
import pytest

from siprec_appliance.appliance.receiver import StreamRecorder
from siprec_appliance.sdp.answer import StreamPlan
from siprec_appliance.sdp.crypto import SUITES, CryptoAttribute, KeyParam
from support.rtp_sender import SrtpSender, add_mki, g711_stream, tamper

SRC = ("192.0.2.1", 4000)
SR = struct.pack("!BBH6I", 0x80, 200, 6, 7, 0, 0, 0, 0, 0)  # RFC 3550 §6.4.1, SSRC 7


def plan(crypto: CryptoAttribute | None) -> StreamPlan:
    return StreamPlan(
        index=0,
        media="audio",
        proto="RTP/SAVP",
        accepted=True,
        refuse_reason=None,
        label="1",
        offered_direction="sendonly",
        answer_direction="recvonly",
        payload_types=(0,),
        codecs=("PCMU/8000",),
        rtcp_mux=True,
        rtcp_attribute=False,
        offered_formats=("0",),
        crypto=crypto,
    )


def crypto(suite: str, fill: int = 0x33, mki: tuple[int, int] | None = None) -> CryptoAttribute:
    key = bytes([fill]) * SUITES[suite].master_length
    return CryptoAttribute(1, suite, (KeyParam(key, None, mki),))


class Sink:
    def __init__(self) -> None:
        self.samples = np.zeros(0, dtype=np.int16)

    def write_at(self, offset: int, samples: np.ndarray) -> None:
        self.pad_to(offset)
        self.samples = np.concatenate([self.samples[:offset], samples])

    def pad_to(self, offset: int) -> None:
        if offset > len(self.samples):
            extra = np.zeros(offset - len(self.samples), dtype=np.int16)
            self.samples = np.concatenate([self.samples, extra])


def run(recorder: StreamRecorder, packets: list[bytes]) -> None:
    for n, data in enumerate(packets):
        recorder.process([(data, SRC, 1000.0 + 0.02 * n)], 1000.0 + 0.02 * n)
    recorder.finish()


def reference(seconds: float = 0.4) -> np.ndarray:
    sink = Sink()
    run(StreamRecorder(plan(None), sink), g711_stream(SRC, 440, seconds, ssrc=7).packets)
    return sink.samples


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_decrypts_and_drops_tampered_and_replayed_packets(suite: str) -> None:
    keys = crypto(suite)
    packets = SrtpSender(suite, keys.key_salt).protect(g711_stream(SRC, 440, 0.4, ssrc=7).packets)
    # A forged copy of packet 5 first, then the real one, then a replay of packet 3.
    wire = [*packets[:5], tamper(packets[5]), *packets[5:10], packets[3], *packets[10:]]
    sink = Sink()
    recorder = StreamRecorder(plan(keys), sink)
    run(recorder, wire)
    report = recorder.report()
    assert (report["srtp_auth_failures"], report["srtp_replays"]) == (1, 1)
    assert (report["received"], report["malformed"], report["srtp_suite"]) == (20, 0, suite)
    assert np.array_equal(sink.samples, reference())


def test_wrong_key_decrypts_nothing_and_latches_no_source() -> None:
    packets = SrtpSender("AES_CM_128_HMAC_SHA1_80", bytes(30)).protect(
        g711_stream(SRC, 440, 0.2, ssrc=7).packets
    )
    recorder = StreamRecorder(plan(crypto("AES_CM_128_HMAC_SHA1_80")), Sink())
    run(recorder, packets)
    assert recorder.counters["srtp_auth_failures"] == 10
    assert recorder.source is None and recorder.report()["received"] == 0


def test_srtcp_is_decrypted_and_forged_srtcp_dropped() -> None:
    keys = crypto("AES_CM_128_HMAC_SHA1_32")
    sender = SrtpSender("AES_CM_128_HMAC_SHA1_32", keys.key_salt)
    rtp = sender.protect(g711_stream(SRC, 440, 0.1, ssrc=7).packets)
    srtcp = sender.protect_rtcp(SR)
    assert srtcp != SR
    recorder = StreamRecorder(plan(keys), Sink())
    run(recorder, [*rtp, srtcp, tamper(srtcp), srtcp])
    assert recorder.counters["rtcp"] == 1  # muxed (RFC 5761) and on its own port alike
    assert recorder.counters["srtp_auth_failures"] == 1
    assert recorder.counters["srtp_replays"] == 1
    recorder.receive_rtcp([(sender.protect_rtcp(SR), SRC, 1001.0)])
    assert recorder.counters["rtcp"] == 2


def test_mki_is_stripped_and_a_foreign_mki_refused() -> None:
    keys = crypto("AES_CM_128_HMAC_SHA1_80", mki=(258, 2))  # RFC 4568 "|258:2"
    sender = SrtpSender("AES_CM_128_HMAC_SHA1_80", keys.key_salt)
    packets = sender.protect(g711_stream(SRC, 440, 0.4, ssrc=7).packets)
    wire = [add_mki(p, b"\x01\x02", 10) for p in packets]
    wire[7] = add_mki(packets[7], b"\x01\x03", 10)
    sink = Sink()
    recorder = StreamRecorder(plan(keys), sink)
    run(recorder, [*wire, add_mki(sender.protect_rtcp(SR), b"\x01\x02", 10)])
    assert recorder.counters["srtp_auth_failures"] == 1
    assert recorder.counters["rtcp"] == 1
    assert recorder.report()["received"] == 19


def test_a_new_src_key_on_renegotiation_means_a_new_context() -> None:
    old, new = crypto("AES_CM_128_HMAC_SHA1_80", 0x33), crypto("AES_CM_128_HMAC_SHA1_80", 0x44)
    stream = g711_stream(SRC, 440, 0.4, ssrc=7).packets
    recorder = StreamRecorder(plan(old), Sink())
    run(recorder, SrtpSender(old.suite, old.key_salt).protect(stream[:10]))
    recorder.renegotiated(replace(plan(old), crypto=new))
    run(recorder, SrtpSender(new.suite, new.key_salt).protect(stream[10:]))
    assert recorder.counters["srtp_auth_failures"] == 0
    assert recorder.report()["received"] == 20
    recorder.renegotiated(plan(new))  # same key: the context (and its replay list) stays
    run(recorder, SrtpSender(new.suite, new.key_salt).protect(stream[10:12]))
    assert recorder.counters["srtp_replays"] == 2


def test_plain_rtp_stream_reports_no_suite() -> None:
    recorder = StreamRecorder(plan(None), Sink())
    report = recorder.report()
    assert (report["srtp_suite"], report["srtp_auth_failures"], report["srtp_replays"]) == (
        None,
        0,
        0,
    )

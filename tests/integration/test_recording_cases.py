"""Recording cases through the real daemon: an SRC that restarts its RTP with a new
SSRC, and a hold (re-INVITE ``a=inactive``, RTP stopped) then resume."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from support.daemon import Call, SipClient, establish_call, running_daemon
from support.recorded import (
    SIPREC_TYPE,
    answered_ports,
    held_channel,
    peak_hz,
    read_wav,
    restamp,
    session_dir,
    sound_and_gap,
    wait_for,
)
from support.rtp_sender import PTIME, RATE, g711_stream
from support.src import multipart, sdp

pytestmark = pytest.mark.integration

TONE = 1.0  # seconds of each tone part


def _send(sock: socket.socket, target: tuple[str, int], packets: list[bytes]) -> None:
    """Packet ``n`` at start + n * 20 ms, all from ``sock``: one source address, as an
    SRC keeps its port when it restarts RTP (``send_paced`` takes a new socket)."""
    start = time.monotonic()
    for n, packet in enumerate(packets):
        delay = start + n * PTIME - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sock.sendto(packet, target)


def _completed(directory: Path) -> dict[str, Any]:
    path = directory / "session.json"
    wait_for(lambda: json.loads(path.read_text())["state"] == "completed")
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def _reinvite(call: Call, direction: str) -> None:
    call.in_dialog("INVITE", body=multipart(sdp(direction)), content_type=SIPREC_TYPE)
    assert call.client.final_response(f"{call.cseq} INVITE").status == 200
    call.in_dialog("ACK")


def test_ssrc_change_mid_stream_keeps_both_parts_in_time(tmp_path: Path) -> None:
    with running_daemon(tmp_path) as daemon:
        client = SipClient(daemon.sip_port)
        try:
            call = establish_call(client, multipart(sdp()), SIPREC_TYPE, call_id="ssrc-1")
            target = ("127.0.0.1", answered_ports(call.answer.body)[0])
            first = g711_stream(target, 440, TONE, ssrc=0x1111, seq=1000)
            second = g711_stream(target, 1000, TONE, ssrc=0x2222, seq=40000)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                began = time.monotonic()
                _send(sock, target, first.packets)
                time.sleep(1.1)  # the old SSRC silent for more than 1 s: a new one may lock
                restarted = time.monotonic()
                _send(sock, target, second.packets)
            span = restarted + TONE - began  # first packet of part 1 to the end of part 2
            time.sleep(0.2)
            assert call.bye().status == 200
            directory = session_dir(daemon)
            document = _completed(directory)
        finally:
            client.close()
    stream = next(s for s in document["streams"] if s["index"] == 0)
    assert stream["ssrc_changes"] >= 1, stream
    rate, samples = read_wav(directory / stream["file"])
    assert len(samples) / rate == pytest.approx(span, abs=0.02)
    start, gap_start, gap_end, end = sound_and_gap(samples)
    assert start / rate == pytest.approx(0.0, abs=0.02)
    assert gap_start / rate == pytest.approx(TONE, abs=0.02)
    assert gap_end / rate == pytest.approx(restarted - began, abs=0.02)
    assert end / rate == pytest.approx(span, abs=0.02)
    assert peak_hz(samples[start:gap_start], rate) == pytest.approx(440, abs=10)
    assert peak_hz(samples[gap_end:end], rate) == pytest.approx(1000, abs=10)


def test_hold_and_resume_is_silence_of_the_hold_length(tmp_path: Path) -> None:
    with running_daemon(tmp_path) as daemon:
        client = SipClient(daemon.sip_port)
        try:
            call = establish_call(client, multipart(sdp()), SIPREC_TYPE, call_id="hold-rec")
            target = ("127.0.0.1", answered_ports(call.answer.body)[0])
            part = g711_stream(target, 440, TONE, ssrc=0x3333, seq=1000).packets
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                began = time.monotonic()
                _send(sock, target, part)
                _reinvite(call, "inactive")
                time.sleep(1.5)
                _reinvite(call, "sendonly")
                resumed = time.monotonic()  # the sender's clock ran on: so do its timestamps
                later = g711_stream(target, 440, TONE, ssrc=0x3333, seq=1000 + len(part))
                _send(sock, target, restamp(later.packets, round((resumed - began) * RATE)))
            time.sleep(0.2)
            assert call.bye().status == 200
            directory = session_dir(daemon)
            document = _completed(directory)
        finally:
            client.close()
    hold = resumed - began - TONE  # end of part 1 to the first packet of part 2
    rate, samples = held_channel(directory, document, 0)
    start, gap_start, gap_end, end = sound_and_gap(samples)
    assert (gap_start - start) / rate == pytest.approx(TONE, abs=0.02)
    assert (gap_end - gap_start) / rate == pytest.approx(hold, abs=0.02)
    assert (end - gap_end) / rate == pytest.approx(TONE, abs=0.02)
    assert peak_hz(samples[gap_end:end], rate) == pytest.approx(440, abs=10)

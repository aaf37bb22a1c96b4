"""SIPp-signalled recording cases: SIPp places the SIPREC call, the test sends the RTP.

SIPp sends media only to the first m= line (INTEROP.md), so the scenarios here send
none: they hold the call open while the test reads both streams' ports from the
REST API and sends its own RTP there. Each case is a separate call:

* two tones (440 Hz on stream 1, 1000 Hz on stream 2, 300 ms later) with loss,
  reordering and a duplicate on stream 1: each tone on its WAV and on its channel of
  the combined file, durations and the legs' alignment within 20 ms;
* hold and resume by SIPp re-INVITEs (``a=inactive``, then ``sendonly``, the full
  metadata each time as OpenSIPS sends it), the test's RTP paused meanwhile: silence
  of the hold's length in the combined file;
* SRTP: SIPp offers RTP/SAVP with ``a=crypto`` keys the test made; the test encrypts
  with them;
* an SSRC change in the middle of stream 2.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from support.daemon import Daemon, running_daemon
from support.recorded import (
    decode_audio,
    held_channel,
    onset_lag,
    peak_hz,
    read_wav,
    restamp,
    session_dir,
    sound_and_gap,
    tone_envelope,
    wait_for,
)
from support.rtp_sender import PTIME, RATE, SrtpSender, Stream, g711_stream, send_paced
from support.sipp import Sipp, sipp_available, sipp_command

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not sipp_available(), reason="SIPp (Debian sip-tester) is not installed"),
]

RTP_RANGE = (20000, 23999)  # outside Linux's ephemeral range, as in test_sipp.py
TOLERANCE = 0.02  # seconds: the bound for durations and alignment
GRACE = {"SIPREC_SIP_SHUTDOWN_GRACE": "1"}


def _call(daemon: Daemon, scenario: str, workdir: Path, duration_ms: int, **options: Any) -> Sipp:
    return sipp_command(
        scenario, daemon.sip_port, workdir, duration_ms=duration_ms, timeout=20, **options
    ).start()


def _ports(daemon: Daemon, run: Sipp, timeout: float = 5.0) -> list[int]:
    """The two streams' ports of the one session, as soon as the API lists it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sessions = daemon.sessions()
        if sessions:
            streams = sessions[0]["streams"]
            assert isinstance(streams, list) and len(streams) == 2, sessions[0]
            return [int(s["port"]) for s in streams]
        assert run.running(), "SIPp ended before the session appeared"
        time.sleep(0.02)
    raise AssertionError("the API never listed the SIPp call")


def _streams_paused(daemon: Daemon) -> list[bool]:
    sessions = daemon.sessions()
    streams = sessions[0]["streams"] if sessions else []
    assert isinstance(streams, list)
    return [bool(s["paused"]) for s in streams]


def _finish(daemon: Daemon, run: Sipp) -> tuple[Path, dict[str, Any]]:
    """Wait for SIPp (every check passed) and for the session to be completed."""
    assert run.running(), "SIPp hung up before the test's RTP was sent: raise its pause"
    result = run.wait()
    assert result.ok, result.explain()
    directory = session_dir(daemon)
    path = directory / "session.json"
    wait_for(lambda: json.loads(path.read_text())["state"] == "completed", timeout=15.0)
    document: dict[str, Any] = json.loads(path.read_text())
    return directory, document


def _send_ticks(target: tuple[str, int], ticks: Sequence[Sequence[bytes]]) -> None:
    """Tick ``n``'s packets at start + n * 20 ms, all from one socket."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        start = time.monotonic()
        for n, packets in enumerate(ticks):
            delay = start + n * PTIME - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            for packet in packets:
                sock.sendto(packet, target)


def _impaired_ticks(
    packets: list[bytes], *, lose: set[int], swap: set[int], duplicate: set[int]
) -> list[list[bytes]]:
    """One list per 20 ms tick: ``lose`` never sent, each ``i`` in ``swap`` sent at
    ``i + 1``'s tick and ``i + 1`` at ``i``'s, ``duplicate`` sent twice. The sending
    clock stays regular, so only the packets, not the timing, are impaired."""
    order = list(range(len(packets)))
    for i in swap:
        order[i], order[i + 1] = order[i + 1], order[i]
    ticks: list[list[bytes]] = []
    for i in order:
        tick = [] if i in lose else [packets[i]]
        if i in duplicate:
            tick.append(packets[i])
        ticks.append(tick)
    return ticks


def test_sipp_two_tones_with_impairments_on_their_channels(tmp_path: Path) -> None:
    seconds, delay = 2.0, 0.3
    with running_daemon(tmp_path, rtp_range=RTP_RANGE, extra_env=GRACE) as daemon:
        run = _call(daemon, "siprec_tones_call.xml", tmp_path / "sipp", 3500)
        ports = _ports(daemon, run)
        caller = g711_stream(("127.0.0.1", ports[0]), 440, seconds, ssrc=0x1111)
        callee = g711_stream(("127.0.0.1", ports[1]), 1000, seconds, ssrc=0x2222)
        ticks = _impaired_ticks(caller.packets, lose={15, 40}, swap={25, 60}, duplicate={30})
        started: dict[str, float] = {}

        def send_caller() -> None:
            started["caller"] = time.monotonic()
            _send_ticks(caller.target, ticks)

        first = threading.Thread(target=send_caller)
        first.start()
        time.sleep(delay)
        started["callee"] = time.monotonic()
        send_paced([callee])
        first.join(5)
        directory, document = _finish(daemon, run)
    sent_delay = started["callee"] - started["caller"]
    assert sent_delay == pytest.approx(delay, abs=0.05)

    streams = {s["index"]: s for s in document["streams"]}
    assert (streams[0]["lost"], streams[0]["duplicated"]) == (2, 1), streams[0]
    assert streams[0]["received"] == 99, streams[0]  # the duplicate counts too
    assert (streams[1]["received"], streams[1]["lost"]) == (100, 0), streams[1]
    for index, frequency in ((0, 440), (1, 1000)):
        rate, samples = read_wav(directory / streams[index]["file"])
        assert rate == 8000
        assert len(samples) / rate == pytest.approx(seconds, abs=TOLERANCE)
        assert peak_hz(samples, rate) == pytest.approx(frequency, abs=10)

    combined = document["combined"]
    assert combined["channel_count"] == 2
    # Alice (first participant: the caller) sends label 1, Bob label 2.
    assert [(c["channel"], c["role"], c["aor"], c["streams"]) for c in combined["channels"]] == [
        (0, "caller", "sip:alice@example.com", [0]),
        (1, "callee", "sip:bob@example.com", [1]),
    ]
    rate, samples = decode_audio(directory / combined["file"])
    assert rate == 8000 and samples.shape[1] == 2
    left, right = samples[:, 0], samples[:, 1]
    assert peak_hz(left, rate) == pytest.approx(440, abs=10)
    assert peak_hz(right, rate) == pytest.approx(1000, abs=10)
    assert len(samples) / rate == pytest.approx(seconds + sent_delay, abs=TOLERANCE)
    lag = onset_lag(tone_envelope(right, rate), tone_envelope(left, rate), rate)
    assert lag == pytest.approx(sent_delay, abs=TOLERANCE)
    onset_left = np.flatnonzero(np.abs(left) > 1000)[0] / rate
    assert onset_left == pytest.approx(0.0, abs=TOLERANCE)
    assert not right[: int((sent_delay - TOLERANCE) * rate)].any()


def test_sipp_hold_and_resume_is_silence_of_the_hold_length(tmp_path: Path) -> None:
    tone_seconds = 1.0
    with running_daemon(tmp_path, rtp_range=RTP_RANGE, extra_env=GRACE) as daemon:
        run = _call(daemon, "siprec_hold_media.xml", tmp_path / "sipp", 1500)
        ports = _ports(daemon, run)
        target = ("127.0.0.1", ports[0])
        part = g711_stream(target, 440, tone_seconds, ssrc=0x3333, seq=1000).packets
        began = time.monotonic()
        _send_ticks(target, [[p] for p in part])
        wait_for(lambda: _streams_paused(daemon) == [True, True], timeout=5.0)
        wait_for(lambda: _streams_paused(daemon) == [False, False], timeout=5.0)
        resumed = time.monotonic()  # the sender's clock ran on: so do its timestamps
        later = g711_stream(target, 440, tone_seconds, ssrc=0x3333, seq=1000 + len(part))
        packets = restamp(later.packets, round((resumed - began) * RATE))
        _send_ticks(target, [[p] for p in packets])
        directory, document = _finish(daemon, run)
    hold = resumed - began - tone_seconds  # end of part 1 to the first packet of part 2
    assert hold > 1.0, hold
    rate, samples = held_channel(directory, document, 0)
    start, gap_start, gap_end, end = sound_and_gap(samples)
    assert (gap_start - start) / rate == pytest.approx(tone_seconds, abs=TOLERANCE)
    assert (gap_end - gap_start) / rate == pytest.approx(hold, abs=TOLERANCE)
    assert (end - gap_end) / rate == pytest.approx(tone_seconds, abs=TOLERANCE)
    assert peak_hz(samples[start:gap_start], rate) == pytest.approx(440, abs=10)
    assert peak_hz(samples[gap_end:end], rate) == pytest.approx(440, abs=10)


def test_sipp_srtp_call_is_decrypted_with_the_offered_keys(tmp_path: Path) -> None:
    seconds = 2.0
    key1, key2 = os.urandom(30), os.urandom(30)
    keys = {"key1": base64.b64encode(key1).decode(), "key2": base64.b64encode(key2).decode()}
    with running_daemon(tmp_path, rtp_range=RTP_RANGE, extra_env=GRACE) as daemon:
        run = _call(daemon, "siprec_srtp_call.xml", tmp_path / "sipp", 3000, variables=keys)
        ports = _ports(daemon, run)
        a = g711_stream(("127.0.0.1", ports[0]), 440, seconds, ssrc=0x1111)
        b = g711_stream(("127.0.0.1", ports[1]), 1000, seconds, ssrc=0x2222)
        a.packets = SrtpSender("AES_CM_128_HMAC_SHA1_80", key1).protect(a.packets)
        b.packets = SrtpSender("AES_CM_128_HMAC_SHA1_32", key2).protect(b.packets)
        send_paced([a, b])
        directory, document = _finish(daemon, run)
    assert [s["srtp_suite"] for s in document["session"]["streams"]] == [
        "AES_CM_128_HMAC_SHA1_80",
        "AES_CM_128_HMAC_SHA1_32",
    ]
    assert "inline" not in (directory / "session.json").read_text()
    streams = {s["index"]: s for s in document["streams"]}
    for index, frequency in ((0, 440), (1, 1000)):
        stream = streams[index]
        assert (stream["srtp_auth_failures"], stream["received"], stream["lost"]) == (0, 100, 0)
        rate, samples = read_wav(directory / stream["file"])
        assert rate == 8000
        assert len(samples) / rate == pytest.approx(seconds, abs=TOLERANCE)
        assert peak_hz(samples, rate) == pytest.approx(frequency, abs=10)


def test_sipp_ssrc_change_on_stream_2_keeps_both_parts_in_time(tmp_path: Path) -> None:
    part_seconds, pause = 1.0, 1.1  # the old SSRC silent for more than 1 s
    with running_daemon(tmp_path, rtp_range=RTP_RANGE, extra_env=GRACE) as daemon:
        run = _call(daemon, "siprec_tones_call.xml", tmp_path / "sipp", 4200)
        ports = _ports(daemon, run)
        target = ("127.0.0.1", ports[1])
        steady = g711_stream(("127.0.0.1", ports[0]), 440, 2 * part_seconds + pause, ssrc=0x1111)
        first = g711_stream(target, 1000, part_seconds, ssrc=0x2222, seq=1000)
        second = g711_stream(target, 1000, part_seconds, ssrc=0x4444, seq=40000)
        other = threading.Thread(target=send_paced, args=([steady],))
        other.start()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            began = time.monotonic()
            _paced_from(sock, first)
            time.sleep(pause)
            restarted = time.monotonic()
            _paced_from(sock, second)
        other.join(5)
        directory, document = _finish(daemon, run)
    span = restarted + part_seconds - began
    streams = {s["index"]: s for s in document["streams"]}
    assert streams[1]["ssrc_changes"] >= 1, streams[1]
    rate, samples = read_wav(directory / streams[1]["file"])
    assert len(samples) / rate == pytest.approx(span, abs=TOLERANCE)
    start, gap_start, gap_end, end = sound_and_gap(samples)
    assert start / rate == pytest.approx(0.0, abs=TOLERANCE)
    assert gap_start / rate == pytest.approx(part_seconds, abs=TOLERANCE)
    assert gap_end / rate == pytest.approx(restarted - began, abs=TOLERANCE)
    assert end / rate == pytest.approx(span, abs=TOLERANCE)
    assert peak_hz(samples[start:gap_start], rate) == pytest.approx(1000, abs=10)
    assert peak_hz(samples[gap_end:end], rate) == pytest.approx(1000, abs=10)
    rate, steady_samples = read_wav(directory / streams[0]["file"])
    assert peak_hz(steady_samples, rate) == pytest.approx(440, abs=10)


def _paced_from(sock: socket.socket, stream: Stream) -> None:
    """Packet ``n`` at start + n * 20 ms, all from ``sock``: one source address, as an
    SRC keeps its port when it restarts RTP (``send_paced`` takes a new socket)."""
    start = time.monotonic()
    for n, packet in enumerate(stream.packets):
        delay = start + n * PTIME - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sock.sendto(packet, stream.target)

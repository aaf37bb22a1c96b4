"""SIPp records a real call: pcap audio on the first stream, a jittered tone on the second.

SIPp (Debian sip-tester) places the SIPREC call and plays Debian's ``g711a.pcap``
(PCMA, speech-like) to the first m= line, the only one it sends media to
(INTEROP.md). While SIPp holds the call, the test finds the second stream's port
through the REST API and sends a 1000 Hz PCMU tone there with 0-30 ms of random
arrival jitter per packet but regular RTP timestamps. The recording must come out
whole: audio on stream 0, the tone at its exact length on stream 1, nothing lost.
"""

from __future__ import annotations

import json
import random
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from support.daemon import Daemon, running_daemon
from support.recorded import peak_hz, read_wav, session_dir, wait_for
from support.rtp_sender import PTIME, g711_stream
from support.sipp import sipp_available, sipp_command

PCAP = Path("/usr/share/sip-tester/g711a.pcap")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not sipp_available(), reason="SIPp (Debian sip-tester) is not installed"),
    pytest.mark.skipif(not PCAP.is_file(), reason="sip-tester's g711a.pcap is not installed"),
]

RTP_RANGE = (20000, 23999)  # outside Linux's ephemeral range, as in test_sipp.py
HOLD_MS = 4500  # SIPp's pause between ACK and BYE
TONE_SECONDS = 3.0
MAX_JITTER = 0.030


def second_stream_port(daemon: Daemon, running: Callable[[], bool], timeout: float = 5.0) -> int:
    """streams[1].port of the one session, as soon as the API lists it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sessions = daemon.sessions()
        if sessions:
            streams = sessions[0]["streams"]
            assert isinstance(streams, list) and len(streams) == 2, sessions[0]
            return int(streams[1]["port"])
        assert running(), "SIPp ended before the session appeared"
        time.sleep(0.02)
    raise AssertionError("the API never listed the SIPp call")


def send_jittered(packets: list[bytes], target: tuple[str, int], seed: int) -> None:
    """Packet n leaves at n * 20 ms plus a random 0-30 ms: arrival jitter (and some
    reordering) while the RTP timestamps inside stay regular."""
    rng = random.Random(seed)
    schedule = sorted((n * PTIME + rng.uniform(0, MAX_JITTER), n) for n in range(len(packets)))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        start = time.monotonic()
        for at, n in schedule:
            delay = start + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sock.sendto(packets[n], target)


def test_sipp_call_with_pcap_and_jittered_tone_is_recorded(tmp_path: Path) -> None:
    grace = {"SIPREC_SIP_SHUTDOWN_GRACE": "1"}
    with running_daemon(tmp_path, rtp_range=RTP_RANGE, extra_env=grace) as daemon:
        run = sipp_command(
            "siprec_media_call.xml",
            daemon.sip_port,
            tmp_path / "sipp",
            duration_ms=HOLD_MS,
            timeout=20,
        ).start()
        port = second_stream_port(daemon, run.running)
        tone = g711_stream(("127.0.0.1", port), 1000, TONE_SECONDS, ssrc=0x5EED)
        send_jittered(tone.packets, tone.target, seed=7866)
        assert run.running(), "SIPp hung up before the tone was sent: raise HOLD_MS"
        result = run.wait()
        assert result.ok, result.explain()
        assert re.search(r"^call 1 answered: ports \d+ \d+", result.scenario_log, re.M)
        directory = session_dir(daemon)
        document_path = directory / "session.json"
        wait_for(lambda: json.loads(document_path.read_text())["state"] == "completed")
    document = json.loads(document_path.read_text())
    streams = {s["index"]: s for s in document["streams"]}
    assert sorted(streams) == [0, 1], document["streams"]

    # Stream 0: what SIPp played from the pcap (speech-like, so no frequency check).
    rate, speech = read_wav(directory / streams[0]["file"])
    assert rate == 8000
    assert len(speech) / rate >= 3.0, len(speech) / rate
    rms = float(np.sqrt(np.mean(speech.astype(np.float64) ** 2)))
    assert rms > 500, rms

    # Stream 1: the tone, whole and at its sent length despite the arrival jitter.
    rate, samples = read_wav(directory / streams[1]["file"])
    assert rate == 8000
    assert len(samples) / rate == pytest.approx(TONE_SECONDS, abs=0.02)
    assert peak_hz(samples, rate) == pytest.approx(1000, abs=10)
    assert streams[1]["lost"] == 0, streams[1]
    assert streams[1]["received"] == len(tone.packets), streams[1]

    combined = document["combined"]
    assert (directory / combined["file"]).is_file(), combined

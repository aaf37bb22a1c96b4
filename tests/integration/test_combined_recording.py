"""The combined recording end to end: two legs, one starting later, on their channels.

The metadata says the caller (first participant) sends the second m= line, so the
test also proves that channels follow participants, not m= order. The callee's
stream starts first; the caller's about 300 ms later.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from support.daemon import SipClient, establish_call, running_daemon
from support.recorded import (
    SIPREC_TYPE,
    decode_audio,
    onset_lag,
    peak_hz,
    session_dir,
    tone_envelope,
    wait_for,
)
from support.rtp_sender import g711_stream, send_paced
from support.src import multipart, sdp

pytestmark = pytest.mark.integration
TOLERANCE = 0.02  # seconds: the bound for duration and alignment
SECONDS = 2.0
DELAY = 0.3

METADATA = b"""<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns="urn:ietf:params:xml:ns:recording:1">
  <datamode>complete</datamode>
  <session session_id="c0mb"><sipSessionID>abc</sipSessionID></session>
  <participant participant_id="p1"><nameID aor="sip:alice@example.com"/></participant>
  <participant participant_id="p2"><nameID aor="sip:bob@example.com"/></participant>
  <stream stream_id="s1" session_id="c0mb"><label>1</label></stream>
  <stream stream_id="s2" session_id="c0mb"><label>2</label></stream>
  <participantstreamassoc participant_id="p1">
    <send>s2</send><recv>s1</recv>
  </participantstreamassoc>
  <participantstreamassoc participant_id="p2">
    <send>s1</send><recv>s2</recv>
  </participantstreamassoc>
</recording>
"""


def test_combined_file_puts_each_leg_on_its_channel_in_time(tmp_path: Path) -> None:
    with running_daemon(tmp_path) as daemon:
        client = SipClient(daemon.sip_port)
        try:
            body = multipart(sdp(), METADATA)
            call = establish_call(client, body, SIPREC_TYPE, call_id="combined-1")
            ports = [int(p) for p in re.findall(rb"^m=audio (\d+) ", call.answer.body, re.M)]
            assert len(ports) == 2 and all(ports), call.answer.text()
            callee = g711_stream(("127.0.0.1", ports[0]), 440, SECONDS, ssrc=0x1111)
            caller = g711_stream(("127.0.0.1", ports[1]), 1000, SECONDS, ssrc=0x2222)
            started: dict[str, float] = {}

            def send(name: str, stream: object) -> None:
                started[name] = time.monotonic()
                send_paced([stream])  # type: ignore[list-item]

            first = threading.Thread(target=send, args=("callee", callee))
            first.start()
            time.sleep(DELAY)
            send("caller", caller)
            first.join(5)
            time.sleep(0.2)
            assert call.bye().status == 200
            directory = session_dir(daemon)
            document_path = directory / "session.json"
            wait_for(
                lambda: json.loads(document_path.read_text())["state"] == "completed",
                timeout=15.0,
            )
        finally:
            client.close()
    delay = started["caller"] - started["callee"]
    assert delay == pytest.approx(DELAY, abs=0.05)  # what the sender really did

    document = json.loads(document_path.read_text())
    combined = document["combined"]
    assert combined["file"] == "combined.wav" and combined["format"] == "wav"
    assert combined["clock"] == "arrival" and combined["channel_count"] == 2
    assert [(c["channel"], c["role"], c["aor"], c["streams"]) for c in combined["channels"]] == [
        (0, "caller", "sip:alice@example.com", [1]),
        (1, "callee", "sip:bob@example.com", [0]),
    ]
    assert combined["offsets"]["1"] - combined["offsets"]["0"] == pytest.approx(delay, abs=0.02)

    rate, samples = decode_audio(directory / combined["file"])
    assert rate == 8000 and samples.shape[1] == 2
    left, right = samples[:, 0], samples[:, 1]
    # Each tone on its channel: the caller's 1000 Hz left, the callee's 440 Hz right.
    assert peak_hz(left, rate) == pytest.approx(1000, abs=10)
    assert peak_hz(right, rate) == pytest.approx(440, abs=10)
    # Duration: from the first leg's start to the last leg's end.
    assert len(samples) / rate == pytest.approx(SECONDS + delay, abs=TOLERANCE)
    assert combined["duration"] == pytest.approx(len(samples) / rate, abs=0.001)
    # Alignment: the caller's tone follows the callee's by the real sending delay.
    lag = onset_lag(tone_envelope(left, rate), tone_envelope(right, rate), rate)
    assert lag == pytest.approx(delay, abs=TOLERANCE)
    onset_right = np.flatnonzero(np.abs(right) > 1000)[0] / rate
    assert onset_right == pytest.approx(0.0, abs=TOLERANCE)
    # Nothing of one leg leaks into the other's channel.
    assert peak_hz(left[int((delay + 0.1) * rate) :], rate) == pytest.approx(1000, abs=10)
    assert not left[: int((delay - TOLERANCE) * rate)].any()

"""RTP to WAV end to end: a SIPREC call with two PCMU streams, and a crash mid-call."""

from __future__ import annotations

import json
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from support.daemon import SipClient, establish_call, running_daemon, start_daemon
from support.recorded import SIPREC_TYPE, answered_ports, peak_hz, read_wav, session_dir, wait_for
from support.rtp_sender import g711_stream, impair, send_paced
from support.src import multipart, sdp

pytestmark = pytest.mark.integration


def test_two_pcmu_streams_become_two_wav_files(tmp_path: Path) -> None:
    with running_daemon(tmp_path) as daemon:
        client = SipClient(daemon.sip_port)
        try:
            call = establish_call(client, multipart(sdp()), SIPREC_TYPE, call_id="rec-1")
            ports = answered_ports(call.answer.body)
            assert len(ports) == 2 and all(ports), call.answer.text()
            first = g711_stream(("127.0.0.1", ports[0]), 440, 2.0, ssrc=0x1111)
            first.packets = impair(first.packets, lose=[30], swap=[50], duplicate=[70])
            second = g711_stream(("127.0.0.1", ports[1]), 1000, 2.0, ssrc=0x2222)
            started = time.monotonic()
            send_paced([first, second])
            assert time.monotonic() - started < 4.0
            time.sleep(0.2)
            assert call.bye().status == 200
            directory = session_dir(daemon)
            document_path = directory / "session.json"
            wait_for(lambda: json.loads(document_path.read_text())["state"] == "completed")
        finally:
            client.close()
    document = json.loads(document_path.read_text())
    assert document["session"]["call_id"] == "rec-1"
    assert document["session"]["participants"], "metadata participants are kept"
    streams = {s["index"]: s for s in document["streams"]}
    assert streams[0]["file"] == "stream-0-1.wav" and streams[1]["file"] == "stream-1-2.wav"
    assert (streams[0]["received"], streams[0]["lost"], streams[0]["duplicated"]) == (100, 1, 1)
    assert streams[0]["reordered"] >= 1
    assert (streams[1]["received"], streams[1]["lost"], streams[1]["duplicated"]) == (100, 0, 0)
    for index, frequency in ((0, 440.0), (1, 1000.0)):
        path = directory / streams[index]["file"]
        assert not path.with_name(path.name + ".recording").exists()
        rate, samples = read_wav(path)
        assert rate == 8000
        assert len(samples) / rate == pytest.approx(2.0, abs=0.02)
        assert peak_hz(samples, rate) == pytest.approx(frequency, abs=10)
        assert streams[index]["duration"] == pytest.approx(2.0, abs=0.02)
    lost = read_wav(directory / streams[0]["file"])[1][30 * 160 : 31 * 160]
    assert not lost.any(), "the lost packet is silence"


def test_crash_mid_call_is_recovered_at_restart(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path)
    client = SipClient(daemon.sip_port)
    stop = threading.Event()
    try:
        call = establish_call(client, multipart(sdp()), SIPREC_TYPE, call_id="rec-crash")
        ports = answered_ports(call.answer.body)
        streams = [g711_stream(("127.0.0.1", port), 440, 5.0, ssrc=0x3333 + port) for port in ports]
        sender = threading.Thread(target=send_paced, args=(streams, stop))
        sender.start()
        time.sleep(1.5)
        daemon.process.kill()  # SIGKILL: no chance to finish anything
        daemon.process.wait(5)
        stop.set()
        sender.join(5)
    finally:
        stop.set()
        client.close()
        daemon.stop()
    directory = session_dir(daemon)
    wavs = sorted(directory.glob("*.wav"))
    assert len(wavs) == 2
    leftover = directory / ".combined.wav.part"  # as if killed during the mixdown
    leftover.write_bytes(b"RIFF")
    assert all(w.with_name(w.name + ".recording").exists() for w in wavs)
    with running_daemon(tmp_path) as restarted:
        assert session_dir(restarted) == directory
    for path in wavs:
        assert not path.with_name(path.name + ".recording").exists()
        rate, samples = read_wav(path)
        assert 0.5 <= len(samples) / rate <= 1.6
        assert peak_hz(samples, rate) == pytest.approx(440, abs=10)
    document = json.loads((directory / "session.json").read_text())
    assert document["state"] == "interrupted"
    assert document["session"]["call_id"] == "rec-crash"
    assert sorted(f["file"] for f in document["recovered"]["files"]) == [w.name for w in wavs]
    assert not list(directory.glob("*.part")) and not list(directory.glob(".*.part"))
    assert document["recovered"]["removed"] == [leftover.name]
    combined = document["combined"]
    assert combined["file"] == "combined.wav" and combined["clock"] == "unknown (recovered)"
    assert combined["channel_count"] == 2
    with wave.open(str(directory / "combined.wav"), "rb") as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (2, 8000)
        mixed = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
    longest = max(len(read_wav(path)[1]) for path in wavs)
    assert len(mixed) == longest
    for channel in (0, 1):
        assert peak_hz(mixed[:, channel], 8000) == pytest.approx(440, abs=10)

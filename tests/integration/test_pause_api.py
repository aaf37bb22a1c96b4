"""Pausing a live recording (API and siprecctl), and the RTP timeout, on a real daemon."""

from __future__ import annotations

import json
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from siprec_appliance.cli import main
from support.daemon import Daemon, SipClient, establish_call, running_daemon
from support.recorded import SIPREC_TYPE, answered_ports, session_dir, wait_for
from support.rtp_sender import g711_stream, send_paced
from support.src import multipart, sdp

pytestmark = pytest.mark.integration


def _completed(daemon: Daemon) -> dict[str, object]:
    path = session_dir(daemon) / "session.json"
    wait_for(lambda: json.loads(path.read_text())["state"] == "completed")
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def _rms(samples: np.ndarray, rate: int, start: float, end: float) -> float:
    part = samples[int(start * rate) : int(end * rate)].astype(np.float64)
    assert len(part) > rate // 20, (start, end, len(samples))
    return float(np.sqrt(np.mean(part**2)))


def test_pause_writes_silence_and_resume_records_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_daemon(tmp_path) as daemon:
        client = SipClient(daemon.sip_port)
        try:
            call = establish_call(client, multipart(sdp()), SIPREC_TYPE, call_id="pause-1")
            ports = answered_ports(call.answer.body)
            session_id = str(daemon.sessions()[0]["id"])
            stream = g711_stream(("127.0.0.1", ports[0]), 440, 2.0, ssrc=0x1111)
            sender = threading.Thread(target=send_paced, args=([stream],))
            started = time.monotonic()
            sender.start()
            time.sleep(0.5)
            before_pause = time.monotonic() - started
            status, body = daemon.request("POST", f"/api/sessions/{session_id}/pause")
            after_pause = time.monotonic() - started
            assert (status, body) == (202, {"id": session_id, "paused": True})
            assert daemon.get(f"/api/sessions/{session_id}")["recording_paused"] is True
            status, body = daemon.request("POST", f"/api/sessions/{session_id}/pause")
            assert status == 409 and body["error"]["status"] == 409  # type: ignore[index]
            time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
            before_resume = time.monotonic() - started
            argv = ["--url", daemon.api, "--token", daemon.token, "resume", session_id]
            assert main(argv) == 0
            after_resume = time.monotonic() - started
            assert "recording resumed" in capsys.readouterr().out
            assert daemon.get(f"/api/sessions/{session_id}")["recording_paused"] is False
            assert main(argv) == 1  # not paused any more: 409
            sender.join()
            time.sleep(0.2)
            assert call.bye().status == 200
            document = _completed(daemon)
        finally:
            client.close()
    streams = {s["index"]: s for s in document["streams"]}  # type: ignore[attr-defined]
    pauses = streams[0]["pauses"]
    assert [sorted(p) for p in pauses] == [["by", "paused"], ["by", "resumed"]], pauses
    assert all(p["by"] == "api" for p in pauses)
    with wave.open(str(session_dir(daemon) / streams[0]["file"]), "rb") as wav:
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    assert _rms(samples, rate, 0.05, before_pause - 0.1) > 2000  # the tone
    assert _rms(samples, rate, after_pause + 0.1, before_resume - 0.05) < 50  # silence
    assert _rms(samples, rate, after_resume + 0.15, 1.9) > 2000  # the tone again


def test_pause_unknown_session_is_404_json(tmp_path: Path) -> None:
    with running_daemon(tmp_path) as daemon:
        for action in ("pause", "resume"):
            status, body = daemon.request("POST", f"/api/sessions/nope/{action}")
            assert status == 404
            assert body == {"error": {"status": 404, "message": "no active session 'nope'"}}


def test_rtp_timeout_is_noted_and_never_ends_the_session(tmp_path: Path) -> None:
    config = "media:\n  rtp_timeout: 1\n"
    with running_daemon(tmp_path, config_text=config) as daemon:
        client = SipClient(daemon.sip_port)
        try:
            call = establish_call(client, multipart(sdp()), SIPREC_TYPE, call_id="quiet-1")
            ports = answered_ports(call.answer.body)
            target = ("127.0.0.1", ports[0])
            send_paced([g711_stream(target, 440, 0.3, ssrc=0x1111)])
            wait_for(lambda: "stream 0: no RTP for 1 s" in daemon.log(), timeout=5.0)
            time.sleep(1.2)
            assert daemon.log().count("stream 0: no RTP for 1 s") == 1  # logged once
            assert [s["state"] for s in daemon.sessions()] == ["active"]
            send_paced([g711_stream(target, 440, 0.3, ssrc=0x1111, seq=2000)])
            wait_for(lambda: "stream 0: RTP resumed" in daemon.log(), timeout=3.0)
            assert call.bye().status == 200
            document = _completed(daemon)
        finally:
            client.close()
    timeouts = document["rtp_timeouts"]
    assert isinstance(timeouts, list)
    first = next(t for t in timeouts if t["stream"] == 0)
    assert first["at"] > 0 and first["resumed_at"] > first["at"]
    # Stream 1 never received a packet: quiet since the answer, noted too.
    assert any(t["stream"] == 1 for t in timeouts)


def test_hold_is_not_an_rtp_timeout(tmp_path: Path) -> None:
    config = "media:\n  rtp_timeout: 1\n"
    with running_daemon(tmp_path, config_text=config) as daemon:
        client = SipClient(daemon.sip_port)
        try:
            call = establish_call(client, multipart(sdp()), SIPREC_TYPE, call_id="hold-1")
            call.in_dialog("INVITE", body=multipart(sdp("inactive")), content_type=SIPREC_TYPE)
            assert client.final_response(f"{call.cseq} INVITE").status == 200
            call.in_dialog("ACK")
            time.sleep(2.5)
            assert "no RTP" not in daemon.log()
            assert call.bye().status == 200
            document = _completed(daemon)
        finally:
            client.close()
    assert document["rtp_timeouts"] == []

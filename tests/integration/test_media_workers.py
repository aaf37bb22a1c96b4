"""Media worker processes: sessions spread over workers, the in-process mode, and
the workers' lifetime tied to the SIP process."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from support.daemon import SipClient, establish_call, running_daemon, start_daemon
from support.recorded import SIPREC_TYPE, answered_ports, peak_hz, read_wav, wait_for
from support.rtp_sender import g711_stream, send_paced
from support.src import multipart, sdp

pytestmark = pytest.mark.integration


def _documents(data_dir: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for path in (data_dir / "recordings").glob("*/*/session.json"):
        document = json.loads(path.read_text())
        if document["state"] == "completed":
            found[document["session"]["call_id"]] = {**document, "directory": path.parent}
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its dead parent's reaper) counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_two_calls_are_recorded_by_two_workers(tmp_path: Path) -> None:
    with running_daemon(tmp_path, extra_env={"SIPREC_MEDIA_WORKERS": "2"}) as daemon:
        health = daemon.get("/api/health")
        media: Any = health["media"]
        assert media["mode"] == "workers" and len(media["workers"]) == 2
        pids = {w["pid"] for w in media["workers"]}
        assert os.getpid() not in pids and daemon.process.pid not in pids
        client = SipClient(daemon.sip_port)
        try:
            calls = [
                establish_call(client, multipart(sdp()), SIPREC_TYPE, call_id=f"wk-{n}")
                for n in range(2)
            ]
            streams = []
            for n, call in enumerate(calls):
                for k, port in enumerate(answered_ports(call.answer.body)):
                    tone = (440, 1000)[k] + 200 * n
                    streams.append(g711_stream(("127.0.0.1", port), tone, 1.0, ssrc=10 * n + k))
            time.sleep(0.6)  # a report from each worker
            loads = daemon.get("/api/health")["media"]["workers"]  # type: ignore[index]
            assert sorted(w["recordings"] for w in loads) == [1, 1], loads
            send_paced(streams)
            time.sleep(0.2)
            for call in calls:
                assert call.bye().status == 200
            wait_for(lambda: len(_documents(daemon.data_dir)) == 2)
        finally:
            client.close()
    documents = _documents(daemon.data_dir)
    for n in range(2):
        document = documents[f"wk-{n}"]
        for k, stream in enumerate(sorted(document["streams"], key=lambda s: s["index"])):
            assert (stream["received"], stream["lost"]) == (50, 0)
            rate, samples = read_wav(document["directory"] / stream["file"])
            assert len(samples) / rate == pytest.approx(1.0, abs=0.02)
            assert peak_hz(samples, rate) == pytest.approx((440, 1000)[k] + 200 * n, abs=10)
        assert (document["directory"] / "combined.wav").exists()


def test_in_process_mode_records_without_workers(tmp_path: Path) -> None:
    with running_daemon(tmp_path, extra_env={"SIPREC_MEDIA_WORKERS": "0"}) as daemon:
        media: Any = daemon.get("/api/health")["media"]
        assert media["mode"] == "in-process" and "tick_lag_ms" in media
        client = SipClient(daemon.sip_port)
        try:
            call = establish_call(client, multipart(sdp()), SIPREC_TYPE, call_id="inproc")
            ports = answered_ports(call.answer.body)
            send_paced([g711_stream(("127.0.0.1", p), 440, 0.5, ssrc=p) for p in ports])
            time.sleep(0.2)
            assert call.bye().status == 200
            wait_for(lambda: "inproc" in _documents(daemon.data_dir))
        finally:
            client.close()
    document = _documents(daemon.data_dir)["inproc"]
    assert [s["received"] for s in document["streams"]] == [25, 25]


def test_workers_die_with_the_sip_process(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path, extra_env={"SIPREC_MEDIA_WORKERS": "2"})
    try:
        media: Any = daemon.get("/api/health")["media"]
        pids = [w["pid"] for w in media["workers"]]
        assert all(_alive(pid) for pid in pids)
        daemon.process.send_signal(signal.SIGKILL)
        daemon.process.wait(5)
        wait_for(lambda: not any(_alive(pid) for pid in pids), timeout=5)
    finally:
        daemon.stop()


def test_sigterm_lets_workers_finish_their_files(tmp_path: Path) -> None:
    """A shutdown with a call in progress: the workers finalise the files (no
    ``.recording`` markers left) before the daemon exits 0."""
    with running_daemon(
        tmp_path,
        extra_env={"SIPREC_MEDIA_WORKERS": "2", "SIPREC_SIP_SHUTDOWN_GRACE": "0.5"},
    ) as daemon:
        client = SipClient(daemon.sip_port)
        try:
            call = establish_call(client, multipart(sdp()), SIPREC_TYPE, call_id="wk-term")
            ports = answered_ports(call.answer.body)
            send_paced([g711_stream(("127.0.0.1", p), 440, 0.5, ssrc=p) for p in ports])
        finally:
            client.close()
    document = _documents(daemon.data_dir)["wk-term"]
    assert not list(document["directory"].glob("*.recording"))
    assert [s["received"] for s in document["streams"]] == [25, 25]


def test_a_dead_worker_is_reported_and_replaced(tmp_path: Path) -> None:
    """SIGKILL one worker during a call: the loss is logged critical and alerted
    (recording_failed), a replacement starts, and the next call is recorded."""
    with running_daemon(tmp_path, extra_env={"SIPREC_MEDIA_WORKERS": "1"}) as daemon:
        media: Any = daemon.get("/api/health")["media"]
        first_pid = media["workers"][0]["pid"]
        client = SipClient(daemon.sip_port)
        try:
            call = establish_call(client, multipart(sdp()), SIPREC_TYPE, call_id="wk-dead")
            os.kill(first_pid, signal.SIGKILL)
            wait_for(lambda: "died" in daemon.log())

            def replaced() -> bool:
                workers: Any = daemon.get("/api/health")["media"]["workers"]
                return workers[0]["pid"] != first_pid and workers[0]["alive"]

            wait_for(replaced)
            assert call.bye().status == 200
            alerts: Any = daemon.get("/api/alerts")["alerts"]
            failed = [a for a in alerts if a["type"] == "recording_failed"]
            assert failed and "died" in json.dumps(failed[0])
            again = establish_call(client, multipart(sdp()), SIPREC_TYPE, call_id="wk-after")
            ports = answered_ports(again.answer.body)
            send_paced([g711_stream(("127.0.0.1", p), 440, 0.5, ssrc=p) for p in ports])
            time.sleep(0.2)
            assert again.bye().status == 200
            wait_for(lambda: "wk-after" in _documents(daemon.data_dir))
        finally:
            client.close()
    document = _documents(daemon.data_dir)["wk-after"]
    assert [s["received"] for s in document["streams"]] == [25, 25]

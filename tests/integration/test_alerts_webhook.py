"""Signed webhooks against a real HTTP receiver on 127.0.0.1: the receiver verifies the
signature with ``verify_signature``, server errors are retried, 4xx fail for good, and
an alert accepted while the receiver is down is delivered after a restart."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from siprec_appliance.alerts import (
    SIGNATURE_HEADER,
    AlertService,
    DiskCritical,
    RecordingFailed,
    verify_signature,
)
from siprec_appliance.alerts.settings import AlertsConfig, RetryConfig
from support.alerts import deliver, run_bounded, settled, until, webhook_config
from support.daemon import free_port
from support.webhook import Receiver, webhook_receiver

pytestmark = pytest.mark.integration

SECRET = "whsec-3f9a1c7e5b2d4086-integration"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver(SECRET) as state:
        yield state


def config(url: str, **retry: Any) -> AlertsConfig:
    retries = RetryConfig(**{"initial_delay": 0.1, "max_delay": 0.5, **retry})
    return webhook_config(url, appliance_name="srs-it", retry=retries)


def service(url: str, data_dir: Path, **retry: Any) -> AlertService:
    return AlertService(config(url, **retry), data_dir, env={"HOOK_SECRET": SECRET})


def test_signature_verifies_and_tampering_fails(receiver: Receiver, tmp_path: Path) -> None:
    event = DiskCritical(path="/var", free_bytes=10, total_bytes=1000, retry_after=60)
    [alert] = deliver(service(receiver.url, tmp_path), event)
    [request] = receiver.requests
    assert request.verified
    assert request.path == "/hooks/siprec"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Siprec-Alert-Id"] == alert["id"]
    assert request.headers["X-Siprec-Event"] == "disk_critical"
    payload = json.loads(request.body)
    assert payload["type"] == "disk_critical" and payload["facts"]["free_bytes"] == 10
    assert payload["appliance"] == "srs-it" and "Disk space CRITICAL" in payload["text"]
    header, now = request.headers[SIGNATURE_HEADER], time.time()
    assert verify_signature(SECRET, header, request.body, now)
    tampered = request.body.replace(b'"free_bytes":10', b'"free_bytes":99')
    assert tampered != request.body
    assert not verify_signature(SECRET, header, tampered, now)
    assert not verify_signature("another-secret", header, request.body, now)
    assert not verify_signature(SECRET, header, request.body, now + 3600, tolerance=300)


def test_server_errors_are_retried_then_delivered(receiver: Receiver, tmp_path: Path) -> None:
    receiver.answers = [(500, {}), (503, {"Retry-After": "1"}), (200, {})]

    event = RecordingFailed(session_id="s1", reason="encoder crashed")
    [alert] = deliver(service(receiver.url, tmp_path), event)
    delivery = alert["deliveries"][0]
    assert len(receiver.requests) == 3 and all(r.verified for r in receiver.requests)
    assert (delivery["attempts"], delivery["failures"]) == (3, 1)  # the 503 was not counted
    assert receiver.requests[2].at - receiver.requests[1].at >= 0.99  # Retry-After: 1
    ids = {r.headers["X-Siprec-Alert-Id"] for r in receiver.requests}
    assert len(ids) == 1  # the same id on every retry


def test_client_errors_fail_for_good(receiver: Receiver, tmp_path: Path) -> None:
    receiver.answers = [(410, {})]

    event = RecordingFailed(session_id="s1", reason="x")
    [alert] = deliver(service(receiver.url, tmp_path), event, "failed")
    delivery = alert["deliveries"][0]
    assert (delivery["state"], delivery["last_error"]) == ("failed", "webhook: HTTP 410")
    assert len(receiver.requests) == 1


def test_alert_waits_in_the_outbox_across_a_restart(receiver: Receiver, tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}/hooks/siprec"

    async def scenario() -> dict[str, Any]:
        first = service(down, tmp_path, initial_delay=30.0)
        await first.start()
        first.emit(RecordingFailed(session_id="s77", reason="disk"))
        await until(lambda: _failed_once(first))
        [before] = await first.recent()
        await first.stop()
        second = service(receiver.url, tmp_path)  # the receiver is reachable now
        await second.start()
        await until(lambda: settled(second, "delivered"))
        await asyncio.sleep(0.3)  # nothing more arrives
        [after] = await second.recent()
        await second.stop()
        assert before["state"] == "pending"
        assert "cannot POST" in before["deliveries"][0]["last_error"]
        return dict(after)

    alert = run_bounded(scenario())
    [request] = receiver.requests
    assert request.verified and request.headers["X-Siprec-Alert-Id"] == alert["id"]
    assert json.loads(request.body)["facts"]["session_id"] == "s77"
    assert alert["deliveries"][0]["attempts"] == 2


async def _failed_once(alerts: AlertService) -> bool:
    recent = await alerts.recent()
    return bool(recent) and recent[0]["deliveries"][0]["failures"] >= 1


def test_send_test_and_missing_secret(receiver: Receiver, tmp_path: Path) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        alerts = service(receiver.url, tmp_path)
        await alerts.start()
        good = await alerts.send_test("hook", requested_by="ops")
        await alerts.stop()
        unset = AlertService(config(receiver.url), tmp_path / "b", env={})
        await unset.start()
        bad = await unset.send_test("hook")
        await unset.stop()
        return good, bad

    good, bad = run_bounded(scenario())
    assert good["ok"] and good["type"] == "webhook" and good["elapsed"] >= 0
    assert json.loads(receiver.requests[0].body)["type"] == "test"
    assert bad == {**bad, "ok": False, "error": "environment variable HOOK_SECRET is not set"}
    assert len(receiver.requests) == 1


def test_the_secret_is_never_logged(
    receiver: Receiver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.answers = [(500, {})] * 5

    alerts = service(receiver.url, tmp_path, max_attempts=2)
    with caplog.at_level(logging.DEBUG):
        recent = json.dumps(deliver(alerts, RecordingFailed(session_id="s1", reason="x"), "failed"))
    assert "NOT delivered to hook: webhook: HTTP 500" in caplog.text
    assert SECRET not in caplog.text and SECRET not in recent

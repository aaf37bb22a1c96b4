"""The alert routes of the REST API with a real AlertService whose webhook channel
points at a signature-checking receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import http.client
import itertools
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from siprec_appliance.alerts import AlertService, RecordingFailed
from siprec_appliance.appliance.api import create_app, start_api
from support.alerts import webhook_alerts
from support.fake_control import FakeControl
from support.webhook import Receiver, webhook_receiver

pytestmark = pytest.mark.integration

TOKEN = "alerts-token-0123456789abcdef"
SECRET = "whsec-alerts-api-5c1d9e27"
_names = itertools.count()
T = TypeVar("T")


@dataclass
class Reply:
    status: int
    body: Any
    raw: bytes


def fetch(port: int, method: str, path: str, body: Any = None) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    data = None if body is None else json.dumps(body)
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    return Reply(response.status, json.loads(raw) if raw else None, raw)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver(SECRET) as state:
        yield state


def alert_service(url: str, data_dir: Path) -> AlertService:
    return webhook_alerts(url, data_dir, SECRET, appliance_name="srs-api-test")


def serve(
    alerts: AlertService | None,
    scenario: Callable[[int], T],
    *,
    start: bool = True,
    before: Callable[[AlertService], Awaitable[None]] | None = None,
) -> T:
    """Alerting (started unless ``start`` is false) and the API in one fresh loop;
    ``before`` runs in the loop first, ``scenario(port)`` then in a thread."""

    async def main() -> T:
        if alerts is not None and start:
            await alerts.start()
        try:
            if alerts is not None and before is not None:
                await before(alerts)
            control = FakeControl(alerts=alerts)
            app = create_app(control, token=TOKEN, version="0", name=f"alerts_{next(_names)}")
            server = await start_api(app, "127.0.0.1", 0)
            try:
                return await asyncio.to_thread(scenario, server.port)
            finally:
                await server.close()
        finally:
            if alerts is not None:
                await alerts.stop()

    return asyncio.run(asyncio.wait_for(main(), 30))


def test_list_is_empty_at_first_and_shows_channels_without_secrets(
    receiver: Receiver, tmp_path: Path
) -> None:
    reply = serve(
        alert_service(receiver.url, tmp_path), lambda port: fetch(port, "GET", "/api/alerts")
    )
    assert reply.status == 200
    assert reply.body["alerts"] == []
    assert reply.body["channels"] == [{"name": "hook", "type": "webhook", "url": receiver.url}]
    stats = reply.body["stats"]
    assert stats["running"] is True and stats["enabled"] is True
    assert stats["emitted"] == 0 and stats["delivered"] == 0
    assert SECRET.encode() not in reply.raw


def test_send_a_test_alert_then_see_it_listed(receiver: Receiver, tmp_path: Path) -> None:
    def scenario(port: int) -> tuple[Reply, Reply, Reply]:
        sent = fetch(port, "POST", "/api/alerts/test", {"channel": "hook"})
        listed = fetch(port, "GET", "/api/alerts")
        limited = fetch(port, "GET", "/api/alerts?limit=1")
        return sent, listed, limited

    sent, listed, limited = serve(alert_service(receiver.url, tmp_path), scenario)
    assert sent.status == 200
    assert sent.body["ok"] is True and sent.body["state"] == "delivered"
    assert (sent.body["channel"], sent.body["type"], sent.body["error"]) == (
        "hook",
        "webhook",
        None,
    )
    [request] = receiver.requests
    assert request.verified and request.headers["X-Siprec-Event"] == "test"
    assert request.headers["X-Siprec-Alert-Id"] == sent.body["alert_id"]
    [alert] = listed.body["alerts"]
    assert alert["id"] == sent.body["alert_id"] and alert["type"] == "test"
    assert alert["state"] == "delivered"
    assert [d["channel"] for d in alert["deliveries"]] == ["hook"]
    assert limited.body["alerts"] == listed.body["alerts"]


def test_list_shows_emitted_alerts_newest_first_and_honours_limit(
    receiver: Receiver, tmp_path: Path
) -> None:
    async def emit_two(alerts: AlertService) -> None:
        alerts.emit(RecordingFailed(session_id="s1", reason="disk full"))
        await asyncio.sleep(0.05)
        alerts.emit(RecordingFailed(session_id="s2", reason="encoder crashed"))
        deadline = time.monotonic() + 10
        while len(await alerts.recent()) < 2:
            assert time.monotonic() < deadline, "alerts not stored"
            await asyncio.sleep(0.02)

    def scenario(port: int) -> tuple[Reply, Reply]:
        return fetch(port, "GET", "/api/alerts"), fetch(port, "GET", "/api/alerts?limit=1")

    every, one = serve(alert_service(receiver.url, tmp_path), scenario, before=emit_two)
    assert [a["facts"]["session_id"] for a in every.body["alerts"]] == ["s2", "s1"]
    assert [a["type"] for a in every.body["alerts"]] == ["recording_failed"] * 2
    assert [a["facts"]["session_id"] for a in one.body["alerts"]] == ["s2"]
    assert every.body["stats"]["emitted"] == 2


def test_a_failed_test_alert_is_reported(receiver: Receiver, tmp_path: Path) -> None:
    receiver.answers = [(500, {})]
    reply = serve(
        alert_service(receiver.url, tmp_path),
        lambda port: fetch(port, "POST", "/api/alerts/test", {"channel": "hook"}),
    )
    assert reply.status == 200
    assert reply.body["ok"] is False and reply.body["state"] == "failed"
    assert "500" in reply.body["error"]


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (("POST", "/api/alerts/test", {"channel": "pager"}), (404, "no alert channel 'pager'")),
        (("POST", "/api/alerts/test", {}), (400, "'channel' must be a string")),
        (("POST", "/api/alerts/test", None), (400, "JSON object")),
        (("GET", "/api/alerts?limit=0", None), (400, "limit must be an integer from 1 to 500")),
        (("GET", "/api/alerts?limit=501", None), (400, "limit")),
        (("GET", "/api/alerts?limit=-1", None), (400, "limit")),
        (("GET", "/api/alerts?limit=ten", None), (400, "limit")),
    ],
)
def test_errors(
    receiver: Receiver, tmp_path: Path, sent: tuple[str, str, Any], expected: tuple[int, str]
) -> None:
    status, message = expected
    reply = serve(alert_service(receiver.url, tmp_path), lambda port: fetch(port, *sent))
    assert reply.status == status
    assert reply.body["error"]["status"] == status
    assert message in reply.body["error"]["message"]
    assert receiver.requests == []


def test_alerting_not_started_is_503(receiver: Receiver, tmp_path: Path) -> None:
    def scenario(port: int) -> tuple[Reply, Reply]:
        return (
            fetch(port, "GET", "/api/alerts"),
            fetch(port, "POST", "/api/alerts/test", {"channel": "hook"}),
        )

    for reply in serve(alert_service(receiver.url, tmp_path), scenario, start=False):
        assert reply.status == 503
        assert reply.body == {"error": {"status": 503, "message": "alerting is not running"}}
    assert receiver.requests == []

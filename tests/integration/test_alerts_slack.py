"""Slack through slack-sdk against a local server speaking Slack's wire formats: an
incoming webhook (POST JSON, answers ``ok``) and ``chat.postMessage`` (answers
``{"ok": true}``), 429 with Retry-After, permanent API errors, and secrets that never
reach the log."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from siprec_appliance.alerts import AlertService, RecordingFailed, RulesReloadFailed
from siprec_appliance.alerts.settings import (
    AlertsConfig,
    RetryConfig,
    RouteConfig,
    SecretRef,
    SlackChannelConfig,
)
from support.alerts import deliver

pytestmark = pytest.mark.integration

WEBHOOK_PATH = "/services/T0000/B0000/k3EpS3cr3tW3bh00kPath"
TOKEN = "xoxb-1234-5678-s3cr3tB0tT0ken"


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeSlack:
    """Answers queued per path: (status, headers, body); default success."""

    answers: dict[str, list[tuple[int, dict[str, str], str]]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    port: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def default(self, path: str) -> tuple[int, dict[str, str], str]:
        if path.startswith("/api/chat.postMessage"):
            return 200, {}, json.dumps({"ok": True, "channel": "C0OPS", "ts": "1700000000.1"})
        return 200, {}, "ok"


def _handler(slack: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            slack.requests.append(Request(self.path, dict(self.headers), body, time.monotonic()))
            queued = slack.answers.get(self.path)
            status, headers, text = queued.pop(0) if queued else slack.default(self.path)
            data = text.encode()
            self.send_response(status)
            kind = "application/json" if text.startswith("{") else "text/plain"
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    state = FakeSlack()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def alerts_for(channel: SlackChannelConfig, data_dir: Path, env: dict[str, str]) -> AlertService:
    config = AlertsConfig(
        channels=(channel,),
        routes=(RouteConfig(min_severity="warning", channels=(channel.name,)),),
        retry=RetryConfig(initial_delay=0.1, max_delay=0.5, max_attempts=3),
        appliance_name="srs-it",
    )
    return AlertService(config, data_dir, env=env)


def webhook_channel(slack: FakeSlack) -> tuple[SlackChannelConfig, dict[str, str]]:
    channel = SlackChannelConfig(name="ops-slack", webhook_url=SecretRef(env="SLACK_URL"))
    return channel, {"SLACK_URL": slack.base + WEBHOOK_PATH}


def bot_channel(slack: FakeSlack, tmp_path: Path) -> SlackChannelConfig:
    token_file = tmp_path / "slack-token"
    token_file.write_text(TOKEN + "\n")
    return SlackChannelConfig(
        name="ops-bot",
        token=SecretRef(file=token_file),
        channel="#recording-ops",
        api_url=slack.base + "/api/",
    )


def test_incoming_webhook_gets_block_kit(slack: FakeSlack, tmp_path: Path) -> None:
    channel, env = webhook_channel(slack)
    event = RulesReloadFailed(source="rules/vip.yaml", error="line 3: unknown action 'recrod'")
    [alert] = deliver(alerts_for(channel, tmp_path, env), event)
    [request] = slack.requests
    assert request.path == WEBHOOK_PATH
    assert request.headers["Content-Type"].startswith("application/json")
    body = request.json()
    assert body["text"].startswith(":warning: [WARNING] Rules reload failed (rules/vip.yaml)")
    header, section, context = body["blocks"][0], body["blocks"][1], body["blocks"][-1]
    assert header["type"] == "header" and "Rules reload failed" in header["text"]["text"]
    assert "line 3: unknown action 'recrod'" in section["text"]["text"]
    assert "srs-it" in context["elements"][0]["text"]
    assert alert["deliveries"][0]["channel"] == "ops-slack"


def test_bot_token_posts_to_the_channel(slack: FakeSlack, tmp_path: Path) -> None:
    event = RecordingFailed(session_id="s9", reason="disk full", stream="1")
    [alert] = deliver(alerts_for(bot_channel(slack, tmp_path), tmp_path, {}), event)
    [request] = slack.requests
    assert request.path == "/api/chat.postMessage"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    body = request.json()
    assert body["channel"] == "#recording-ops"
    assert body["text"].startswith(":red_circle: [CRITICAL] Recording failed for session s9")
    blocks = body["blocks"]
    assert blocks[0]["type"] == "header"
    assert any(block["type"] == "context" for block in blocks)
    assert alert["state"] == "delivered"


def test_webhook_429_waits_for_retry_after(slack: FakeSlack, tmp_path: Path) -> None:
    channel, env = webhook_channel(slack)
    slack.answers[WEBHOOK_PATH] = [(429, {"Retry-After": "1"}, "rate_limited")]
    [alert] = deliver(
        alerts_for(channel, tmp_path, env), RecordingFailed(session_id="s", reason="x")
    )
    first, second = slack.requests
    assert second.at - first.at >= 1.0
    delivery = alert["deliveries"][0]
    assert (delivery["attempts"], delivery["failures"]) == (2, 0)
    assert delivery["last_error"] == "Slack webhook (rate_limited): HTTP 429, retry after 1 s"


def test_chat_post_message_429_waits_for_retry_after(slack: FakeSlack, tmp_path: Path) -> None:
    slack.answers["/api/chat.postMessage"] = [
        (429, {"Retry-After": "1"}, json.dumps({"ok": False, "error": "ratelimited"}))
    ]
    alerts = alerts_for(bot_channel(slack, tmp_path), tmp_path, {})
    [alert] = deliver(alerts, RecordingFailed(session_id="s", reason="x"))
    first, second = slack.requests
    assert second.at - first.at >= 1.0
    assert alert["deliveries"][0]["failures"] == 0


def test_api_error_is_permanent(slack: FakeSlack, tmp_path: Path) -> None:
    slack.answers["/api/chat.postMessage"] = [
        (200, {}, json.dumps({"ok": False, "error": "channel_not_found"}))
    ]
    alerts = alerts_for(bot_channel(slack, tmp_path), tmp_path, {})
    [alert] = deliver(alerts, RecordingFailed(session_id="s", reason="x"), state="failed")
    assert alert["deliveries"][0]["last_error"] == "Slack chat.postMessage: channel_not_found"
    assert len(slack.requests) == 1


def test_secrets_never_reach_the_log(
    slack: FakeSlack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    channel, env = webhook_channel(slack)
    slack.answers[WEBHOOK_PATH] = [(500, {}, "internal_error")] * 3
    slack.answers["/api/chat.postMessage"] = [
        (200, {}, json.dumps({"ok": False, "error": "invalid_auth"}))
    ]
    with caplog.at_level(logging.DEBUG):
        webhook_recent = deliver(
            alerts_for(channel, tmp_path / "a", env),
            RecordingFailed(session_id="s", reason="x"),
            state="failed",
        )
        bot_recent = deliver(
            alerts_for(bot_channel(slack, tmp_path), tmp_path / "b", {}),
            RecordingFailed(session_id="s", reason="x"),
            state="failed",
        )
    assert len(slack.requests) == 4  # the failures really happened
    assert "NOT delivered to ops-slack" in caplog.text
    assert "NOT delivered to ops-bot: Slack chat.postMessage: invalid_auth" in caplog.text
    stored = json.dumps([webhook_recent, bot_recent])
    for secret in ("k3EpS3cr3tW3bh00kPath", TOKEN, "s3cr3tB0tT0ken"):
        assert secret not in caplog.text
        assert secret not in stored

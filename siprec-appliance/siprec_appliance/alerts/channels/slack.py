"""Slack through slack-sdk: an incoming webhook (``WebhookClient``) or a bot token and a
channel (``WebClient.chat_postMessage``), with a Block Kit message.

The synchronous clients run in a thread (no aiohttp). slack-sdk's own retry handlers
are off (the outbox retries) and it gets a logger outside the logging hierarchy,
because its debug output contains the webhook URL and request bodies. HTTP 429 answers
(webhooks return them, the Web API raises ``SlackApiError``) become a
:class:`~siprec_appliance.alerts.errors.DeliveryError` with the Retry-After seconds,
and the whole channel waits that long (https://api.slack.com/apis/rate-limits).
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import time
import urllib.error
from collections.abc import Mapping
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

from siprec_appliance.alerts.channels.base import http_error
from siprec_appliance.alerts.credentials import Redactor, read_secret
from siprec_appliance.alerts.errors import DeliveryError, SecretError
from siprec_appliance.alerts.render import Message, show
from siprec_appliance.alerts.settings import SlackChannelConfig

__all__ = ["SlackChannel", "slack_payload"]

# Not attached to the logging tree and above CRITICAL: slack-sdk logs nothing.
_QUIET = logging.Logger("siprec.alerts.slack_sdk", level=logging.CRITICAL + 1)
_QUIET.addHandler(logging.NullHandler())
_EMOJI = {"critical": ":red_circle:", "warning": ":warning:", "info": ":information_source:"}
_TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
MAX_FIELDS = 10


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape(text: str) -> str:
    """Slack mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _context_line(message: Message) -> str:
    alert = message.alert
    parts = [str(alert.severity).upper(), alert.event_type, message.appliance]
    parts.append(alert.to_dict()["created_at"] or "")
    if alert.occurrences > 1:
        parts.append(f"seen {alert.occurrences} times")
    if message.suppressed:
        parts.append(f"{message.suppressed} similar alerts suppressed")
    return _escape(" · ".join(part for part in parts if part))


def slack_payload(message: Message) -> dict[str, Any]:
    """``text`` (notification fallback) and Block Kit ``blocks`` for ``message``."""
    alert = message.alert
    emoji = _EMOJI.get(str(alert.severity), "")
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(f"{emoji} {message.subject}", 150)},
        }
    ]
    if message.summary and message.summary != message.subject:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _cut(_escape(message.summary), 3000)},
            }
        )
    fields = [
        {"type": "mrkdwn", "text": _cut(f"*{_escape(name)}*\n{_escape(show(value))}", 2000)}
        for name, value in sorted(alert.facts.items())
        if show(value) not in message.summary
    ][:MAX_FIELDS]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _context_line(message)}]}
    )
    text = f"{emoji} [{str(alert.severity).upper()}] {message.subject}"
    if message.suppressed:
        text += f" ({message.suppressed} similar alerts suppressed)"
    return {"text": _cut(text, 3000), "blocks": blocks}


class SlackChannel:
    """One ``type: slack`` channel."""

    kind = "slack"

    def __init__(self, config: SlackChannelConfig, env: Mapping[str, str]) -> None:
        self.name = config.name
        self.config = config
        self._env = env
        self._redact = Redactor()

    def describe(self) -> dict[str, Any]:
        config = self.config
        if config.uses_webhook:
            return {"name": self.name, "type": self.kind, "mode": "webhook"}
        return {
            "name": self.name,
            "type": self.kind,
            "mode": "bot",
            "channel": config.channel,
            "api_url": config.api_url,
        }

    async def send(self, message: Message) -> None:
        await asyncio.to_thread(self._send, slack_payload(message))

    def _send(self, payload: dict[str, Any]) -> None:
        try:
            if self.config.uses_webhook:
                self._send_webhook(payload)
            else:
                self._send_bot(payload)
        except DeliveryError as exc:
            raise DeliveryError(
                self._redact(str(exc)), permanent=exc.permanent, retry_after=exc.retry_after
            ) from None
        except SecretError as exc:
            raise DeliveryError(str(exc), permanent=True) from None
        except (OSError, urllib.error.URLError, http.client.HTTPException, SlackClientError) as exc:
            raise DeliveryError(self._redact(f"cannot reach Slack: {exc}")) from None

    def _send_webhook(self, payload: dict[str, Any]) -> None:
        url = self._redact.add(read_secret(self.config.webhook_url, self._env))
        client = WebhookClient(
            url, timeout=max(1, round(self.config.timeout)), logger=_QUIET, retry_handlers=[]
        )
        response = client.send_dict(payload)
        if response.status_code == 200 and response.body.strip() in ("ok", ""):
            return
        if response.status_code == 200:
            raise DeliveryError(f"Slack webhook answered {response.body[:200]!r}", permanent=True)
        body = response.body.strip()[:80]
        what = f"Slack webhook ({body})" if body else "Slack webhook"
        raise http_error(response.status_code, response.headers, what, time.time())

    def _send_bot(self, payload: dict[str, Any]) -> None:
        token = self._redact.add(read_secret(self.config.token, self._env))
        client = WebClient(
            token=token,
            base_url=self.config.api_url,
            timeout=max(1, round(self.config.timeout)),
            logger=_QUIET,
            retry_handlers=[],
        )
        try:
            client.chat_postMessage(
                channel=self.config.channel or "", text=payload["text"], blocks=payload["blocks"]
            )
        except SlackApiError as exc:
            raise _api_error(exc) from None


def _api_error(exc: SlackApiError) -> DeliveryError:
    response = exc.response
    status = int(response.status_code)
    data = response.data if isinstance(response.data, dict) else {}
    code = str(data.get("error") or f"HTTP {status}")
    if status != 200:
        error = http_error(
            status, response.headers, f"Slack chat.postMessage ({code})", time.time()
        )
        return error
    return DeliveryError(f"Slack chat.postMessage: {code}", permanent=code not in _TRANSIENT_ERRORS)

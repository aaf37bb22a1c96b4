"""What every delivery channel offers, and the HTTP answer rules Slack and webhooks share.

A channel's :meth:`Channel.send` delivers one rendered message or raises
:class:`~siprec_appliance.alerts.errors.DeliveryError` (permanent, transient, or
"wait ``retry_after`` seconds"). Blocking work (HTTP through urllib or slack-sdk,
reading secret files) runs in a thread; the event loop only awaits. Error text is
passed through the channel's :class:`~siprec_appliance.alerts.credentials.Redactor`
so that no secret reaches a log line, the outbox or the API.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from datetime import UTC
from typing import Any, Protocol

from siprec_appliance.alerts.errors import DeliveryError
from siprec_appliance.alerts.render import Message

__all__ = ["MAX_RETRY_AFTER", "Channel", "http_error", "parse_retry_after"]

MAX_RETRY_AFTER = 3600.0
DEFAULT_RETRY_AFTER = 30.0


class Channel(Protocol):
    """A configured destination of alerts."""

    name: str
    kind: str

    async def send(self, message: Message) -> None:
        """Deliver ``message`` or raise :class:`DeliveryError`."""
        ...

    def describe(self) -> dict[str, Any]:
        """JSON-able description for the API (no secrets)."""
        ...


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After (RFC 9110 §10.2.3): delta-seconds or an HTTP-date; capped, None if bad."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), MAX_RETRY_AFTER)
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return min(max(moment.timestamp() - now, 0.0), MAX_RETRY_AFTER)


def _header(headers: Mapping[str, Any] | Any, name: str) -> str | None:
    getter = getattr(headers, "get", None)
    if getter is None:
        return None
    for candidate in (name, name.lower()):
        value = getter(candidate)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None:
            return str(value)
    return None


def http_error(
    status: int, headers: Mapping[str, Any] | Any, what: str, now: float
) -> DeliveryError:
    """The :class:`DeliveryError` for an HTTP answer that is not a success.

    429, and 503 with Retry-After: wait as told (429 without it: 30 s). 408 and other
    5xx: transient. 3xx (redirects are not followed) and other 4xx: permanent.
    """
    retry_after = parse_retry_after(_header(headers, "Retry-After"), now)
    if status == 429:
        wait = DEFAULT_RETRY_AFTER if retry_after is None else retry_after
        return DeliveryError(f"{what}: HTTP 429, retry after {wait:g} s", retry_after=wait)
    if status == 503 and retry_after is not None:
        return DeliveryError(
            f"{what}: HTTP 503, retry after {retry_after:g} s", retry_after=retry_after
        )
    if status == 408 or status >= 500:
        return DeliveryError(f"{what}: HTTP {status}")
    return DeliveryError(f"{what}: HTTP {status}", permanent=True)

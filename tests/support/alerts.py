"""Helpers for the alerting tests against real channels: waiting on an AlertService,
delivering one event end to end, and the usual webhook channel setup."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from siprec_appliance.alerts import AlertService
from siprec_appliance.alerts.settings import (
    AlertsConfig,
    RetryConfig,
    RouteConfig,
    SecretRef,
    WebhookChannelConfig,
)

T = TypeVar("T")


async def until(predicate: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Poll ``predicate`` every 20 ms; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def settled(alerts: AlertService, state: str) -> bool:
    """There are alerts, and every one of them is in ``state``."""
    recent = await alerts.recent()
    return bool(recent) and all(alert["state"] == state for alert in recent)


def run_bounded(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` in a fresh loop, failing after 30 seconds."""
    return asyncio.run(asyncio.wait_for(coroutine, 30))


def deliver(
    alerts: AlertService, event: Any, state: str = "delivered", *, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Start ``alerts``, emit ``event``, wait until every alert is in ``state``, stop;
    return the recent alerts."""

    async def scenario() -> list[dict[str, Any]]:
        await alerts.start()
        alerts.emit(event)
        await until(lambda: settled(alerts, state), timeout)
        recent = await alerts.recent()
        await alerts.stop()
        return recent

    return run_bounded(scenario())


def webhook_config(
    url: str,
    *,
    appliance_name: str,
    routed: bool = True,
    retry: RetryConfig | None = None,
) -> AlertsConfig:
    """One webhook channel ``hook`` (secret from ``$HOOK_SECRET``), warnings and worse
    routed to it unless ``routed`` is false."""
    channel = WebhookChannelConfig(
        name="hook", url=url, secret=SecretRef(env="HOOK_SECRET"), timeout=5.0
    )
    values: dict[str, Any] = {"channels": (channel,), "appliance_name": appliance_name}
    if routed:
        values["routes"] = (RouteConfig(min_severity="warning", channels=("hook",)),)
    if retry is not None:
        values["retry"] = retry
    return AlertsConfig(**values)


def webhook_alerts(
    url: str, data_dir: Path, secret: str, *, appliance_name: str, **options: Any
) -> AlertService:
    """An AlertService over :func:`webhook_config` whose ``$HOOK_SECRET`` is ``secret``."""
    config = webhook_config(url, appliance_name=appliance_name, **options)
    return AlertService(config, data_dir, env={"HOOK_SECRET": secret})

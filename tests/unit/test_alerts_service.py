"""The alert service with in-memory channels: routing, de-duplication, rate limit,
retries, give-up, restart from the outbox, tests, and a non-blocking emit."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from siprec_appliance.alerts import (
    AlertService,
    DeliveryError,
    RecordingFailed,
    RtpTimeout,
    RuleAlert,
    SessionEnded,
    UnknownChannelError,
)
from siprec_appliance.alerts.render import Message
from siprec_appliance.alerts.settings import (
    AlertsConfig,
    RateLimitConfig,
    RetryConfig,
    RouteConfig,
)


class FakeChannel:
    """Records what it is sent; ``script`` lists outcomes (an exception, or None: ok)."""

    kind = "fake"

    def __init__(self, name: str, script: Sequence[BaseException | None] = ()) -> None:
        self.name = name
        self.script = list(script)
        self.sent: list[Message] = []
        self.tries: list[float] = []
        self.hang = False

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.kind}

    async def send(self, message: Message) -> None:
        self.tries.append(time.monotonic())
        if self.hang:
            await asyncio.sleep(3600)
        if self.script:
            outcome = self.script.pop(0)
            if outcome is not None:
                raise outcome
        self.sent.append(message)


def make_config(**overrides: Any) -> AlertsConfig:
    values: dict[str, Any] = {
        "routes": (RouteConfig(min_severity="warning", channels=("ops",)),),
        "retry": RetryConfig(initial_delay=0.05, factor=2.0, max_delay=0.2, max_attempts=5),
        "rate_limit": RateLimitConfig(count=100, period=60.0),
        "appliance_name": "srs-unit",
    }
    values.update(overrides)
    return AlertsConfig(**values)


async def until(predicate: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def states(service: AlertService) -> list[str]:
    return [alert["state"] for alert in await service.recent(100)]


async def settled(service: AlertService) -> bool:
    """Nothing pending any more (a send is recorded just after the channel returns)."""
    return "pending" not in await states(service)


def run(coroutine: Awaitable[None]) -> None:
    asyncio.run(asyncio.wait_for(coroutine, 20))  # type: ignore[arg-type]


def failed_disk(n: int = 0) -> RecordingFailed:
    return RecordingFailed(session_id=f"s{n}", reason="No space left on device")


def test_routed_event_is_delivered_and_listed(tmp_path: Path) -> None:
    async def scenario() -> None:
        ops = FakeChannel("ops")
        service = AlertService(make_config(), tmp_path, channels={"ops": ops})
        await service.start()
        service.emit(failed_disk())
        await until(lambda: _has(ops, 1))
        await until(lambda: settled(service))
        recent = await service.recent()
        await service.stop()
        assert ops.sent[0].subject == "Recording failed for session s0: No space left on device"
        assert ops.sent[0].appliance == "srs-unit"
        [alert] = recent
        assert alert["type"] == "recording_failed" and alert["severity"] == "critical"
        assert alert["state"] == "delivered" and alert["facts"]["session_id"] == "s0"
        [delivery] = alert["deliveries"]
        assert delivery["channel"] == "ops" and delivery["attempts"] == 1
        assert delivery["delivered_at"] is not None and delivery["last_error"] is None
        assert service.stats()["delivered"] == 1

    run(scenario())


async def _has(channel: FakeChannel, count: int) -> bool:
    return len(channel.sent) >= count


def test_unrouted_info_is_dropped_unrouted_warning_is_kept(tmp_path: Path) -> None:
    async def scenario() -> None:
        service = AlertService(make_config(routes=()), tmp_path, channels={})
        await service.start()
        service.emit(SessionEnded(session_id="s", call_id="c"))
        service.emit(failed_disk())
        await until(lambda: _count(service, 1))
        await asyncio.sleep(0.1)
        recent = await service.recent()
        await service.stop()
        assert [(a["type"], a["state"]) for a in recent] == [("recording_failed", "unrouted")]

    run(scenario())


async def _count(service: AlertService, count: int) -> bool:
    return len(await service.recent(100)) >= count


def test_duplicates_within_the_window_are_one_alert_with_a_count(tmp_path: Path) -> None:
    async def scenario() -> None:
        ops = FakeChannel("ops")
        service = AlertService(make_config(), tmp_path, channels={"ops": ops})
        await service.start()
        for _ in range(5):
            service.emit(RtpTimeout(session_id="s1", stream="0", seconds=60))
        service.emit(RtpTimeout(session_id="s1", stream="1", seconds=60))
        await until(lambda: _has(ops, 2))
        await until(lambda: _occurrences(service, 5))
        recent = await service.recent()
        await service.stop()
        assert len(ops.sent) == 2
        assert sorted(a["occurrences"] for a in recent) == [1, 5]
        assert service.stats()["duplicates"] == 4

    run(scenario())


async def _occurrences(service: AlertService, count: int) -> bool:
    return any(a["occurrences"] == count for a in await service.recent(100))


def test_rate_limit_suppresses_and_sends_a_summary(tmp_path: Path) -> None:
    async def scenario() -> None:
        ops = FakeChannel("ops")
        config = make_config(rate_limit=RateLimitConfig(count=2, period=0.5))
        service = AlertService(config, tmp_path, channels={"ops": ops})
        await service.start()
        for n in range(5):
            service.emit(failed_disk(n))
        await until(lambda: _has(ops, 3))
        await until(lambda: settled(service))
        recent = await service.recent()
        await service.stop()
        assert [m.alert.event_type for m in ops.sent] == [
            "recording_failed",
            "recording_failed",
            "alerts_suppressed",
        ]
        assert ops.sent[2].subject == "3 similar alerts suppressed by the rate limit of ops"
        assert "3 similar alerts suppressed" in ops.sent[2].text
        assert "recording_failed: 3" in ops.sent[2].text
        suppressed = [a for a in recent if a["state"] == "suppressed"]
        assert len(suppressed) == 3
        assert suppressed[0]["deliveries"][0]["state"] == "suppressed"

    run(scenario())


def test_transient_failures_are_retried_with_backoff(tmp_path: Path) -> None:
    async def scenario() -> None:
        ops = FakeChannel("ops", [DeliveryError("connection refused")] * 2)
        service = AlertService(make_config(), tmp_path, channels={"ops": ops})
        await service.start()
        service.emit(failed_disk())
        await until(lambda: _has(ops, 1))
        await until(lambda: settled(service))
        [alert] = await service.recent()
        await service.stop()
        delivery = alert["deliveries"][0]
        assert (delivery["state"], delivery["attempts"], delivery["failures"]) == (
            "delivered",
            3,
            2,
        )
        assert delivery["last_error"] == "connection refused"  # history of the last failure
        gaps = [b - a for a, b in zip(ops.tries, ops.tries[1:], strict=False)]
        assert gaps[0] >= 0.045 and gaps[1] >= 0.095  # 0.05 s, then 0.1 s

    run(scenario())


def test_retry_after_is_obeyed_and_not_counted(tmp_path: Path) -> None:
    async def scenario() -> None:
        ops = FakeChannel("ops", [DeliveryError("HTTP 429", retry_after=0.4)])
        service = AlertService(make_config(), tmp_path, channels={"ops": ops})
        await service.start()
        service.emit(failed_disk())
        service.emit(failed_disk(2))  # the whole channel waits, not only the first alert
        await until(lambda: _has(ops, 2))
        await until(lambda: settled(service))
        recent = await service.recent()
        await service.stop()
        assert ops.tries[1] - ops.tries[0] >= 0.39
        first = next(a for a in recent if a["facts"]["session_id"] == "s0")["deliveries"][0]
        assert (first["attempts"], first["failures"]) == (2, 0)

    run(scenario())


def test_permanent_failure_is_failed_at_once_logged_and_visible(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        ops = FakeChannel("ops", [DeliveryError("HTTP 404", permanent=True)])
        service = AlertService(make_config(), tmp_path, channels={"ops": ops})
        await service.start()
        service.emit(failed_disk())
        await until(lambda: _state(service, "failed"))
        [alert] = await service.recent()
        await service.stop()
        delivery = alert["deliveries"][0]
        assert (delivery["state"], delivery["attempts"], delivery["last_error"]) == (
            "failed",
            1,
            "HTTP 404",
        )
        assert len(ops.tries) == 1

    with caplog.at_level(logging.ERROR, logger="siprec.alerts"):
        run(scenario())
    assert any("NOT delivered to ops: HTTP 404" in r.getMessage() for r in caplog.records)


async def _state(service: AlertService, state: str) -> bool:
    return state in await states(service)


def test_gives_up_after_max_attempts(tmp_path: Path) -> None:
    async def scenario() -> None:
        ops = FakeChannel("ops", [DeliveryError("timed out")] * 10)
        config = make_config(retry=RetryConfig(initial_delay=0.02, max_delay=0.02, max_attempts=3))
        service = AlertService(config, tmp_path, channels={"ops": ops})
        await service.start()
        service.emit(failed_disk())
        await until(lambda: _state(service, "failed"))
        [alert] = await service.recent()
        await service.stop()
        delivery = alert["deliveries"][0]
        assert delivery["last_error"] == "timed out (gave up after 3 tries)"
        assert delivery["failures"] == 3 and len(ops.tries) == 3
        assert service.stats()["failed"] == 1

    run(scenario())


def test_outbox_survives_a_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        down = FakeChannel("ops", [DeliveryError("connection refused")] * 100)
        slow = make_config(retry=RetryConfig(initial_delay=60.0))
        first = AlertService(slow, tmp_path, channels={"ops": down})
        await first.start()
        first.emit(failed_disk())
        await until(lambda: _tried(down))
        await first.stop()  # the alert is still pending

        up = FakeChannel("ops")
        second = AlertService(make_config(), tmp_path, channels={"ops": up})
        await second.start()
        await until(lambda: _has(up, 1))
        second.emit(failed_disk())  # same key within the window: a repeat, not a new alert
        await until(lambda: _occurrences(second, 2))
        await until(lambda: settled(second))
        recent = await second.recent()
        await second.stop()
        assert up.sent[0].alert.facts["session_id"] == "s0"
        assert len(up.sent) == 1 and len(recent) == 1
        assert recent[0]["deliveries"][0]["attempts"] == 2

    run(scenario())


async def _tried(channel: FakeChannel) -> bool:
    return bool(channel.tries)


def test_pending_deliveries_to_removed_channels_fail_at_start(tmp_path: Path) -> None:
    async def scenario() -> None:
        hanging = FakeChannel("old")
        hanging.hang = True
        config = make_config(routes=(RouteConfig(channels=("old",)),))
        first = AlertService(config, tmp_path, channels={"old": hanging}, stop_grace=0.1)
        await first.start()
        first.emit(failed_disk())
        await until(lambda: _tried(hanging))
        started = time.monotonic()
        await first.stop()
        assert time.monotonic() - started < 2.0  # a hung send does not hold up shutdown
        second = AlertService(make_config(), tmp_path, channels={"ops": FakeChannel("ops")})
        await second.start()
        [alert] = await second.recent()
        await second.stop()
        assert alert["deliveries"][0]["state"] == "failed"
        assert alert["deliveries"][0]["last_error"] == "channel no longer configured"

    run(scenario())


def test_rule_alert_to_a_named_channel(tmp_path: Path) -> None:
    async def scenario() -> None:
        ops, vip = FakeChannel("ops"), FakeChannel("vip")
        service = AlertService(make_config(), tmp_path, channels={"ops": ops, "vip": vip})
        await service.start()
        service.emit(
            RuleAlert(
                rule_id="vip-callers",
                channel="vip",
                session_id="s5",
                call_facts={"caller": "+14155550100"},
                template="VIP {{ facts.caller }}",
            )
        )
        service.emit(RuleAlert(rule_id="r2", channel="nowhere", session_id="s5"))
        await until(lambda: _has(vip, 1))
        await until(lambda: _state(service, "failed"))
        recent = await service.recent()
        await service.stop()
        assert vip.sent[0].summary == "VIP +14155550100" and ops.sent == []
        nowhere = next(a for a in recent if a["facts"]["rule_id"] == "r2")
        assert nowhere["deliveries"][0]["last_error"] == "no alert channel 'nowhere' is configured"

    run(scenario())


def test_send_test_reports_the_outcome(tmp_path: Path) -> None:
    async def scenario() -> None:
        ops = FakeChannel("ops", [None, DeliveryError("SMTP: 535 authentication failed")])
        service = AlertService(make_config(), tmp_path, channels={"ops": ops})
        await service.start()
        good = await service.send_test("ops", requested_by="admin")
        bad = await service.send_test("ops")
        with pytest.raises(UnknownChannelError, match="no alert channel 'nope'"):
            await service.send_test("nope")
        recent = await service.recent()
        await service.stop()
        assert good["ok"] is True and good["state"] == "delivered" and good["error"] is None
        assert good["channel"] == "ops" and good["type"] == "fake"
        assert bad["ok"] is False and bad["error"] == "SMTP: 535 authentication failed"
        assert "requested by admin" in ops.sent[0].text
        assert [a["type"] for a in recent] == ["test", "test"]
        assert {a["state"] for a in recent} == {"delivered", "failed"}

    run(scenario())


def test_emit_never_blocks_and_drops_when_full(tmp_path: Path) -> None:
    service = AlertService(make_config(), tmp_path, channels={}, queue_size=3)
    started = time.perf_counter()
    for n in range(1000):
        service.emit(failed_disk(n))
    assert time.perf_counter() - started < 0.5
    assert service.stats()["queued"] == 3
    assert service.counters["dropped"] == 997 and service.counters["emitted"] == 3


def test_disabled_service_ignores_events(tmp_path: Path) -> None:
    service = AlertService(make_config(enabled=False), tmp_path, channels={})
    service.emit(failed_disk())
    assert service.stats()["queued"] == 0 and service.stats()["enabled"] is False


def test_emit_threadsafe_and_events_queued_before_start(tmp_path: Path) -> None:
    async def scenario() -> None:
        ops = FakeChannel("ops")
        service = AlertService(make_config(), tmp_path, channels={"ops": ops})
        service.emit(failed_disk(1))  # before start: kept in the queue
        await service.start()
        thread = threading.Thread(target=service.emit_threadsafe, args=(failed_disk(2),))
        thread.start()
        thread.join()
        await until(lambda: _has(ops, 2))
        await service.stop()
        assert {m.alert.facts["session_id"] for m in ops.sent} == {"s1", "s2"}

    run(scenario())


def test_events_queued_at_stop_are_stored_and_sent_after_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        unsent = FakeChannel("ops")
        first = AlertService(make_config(), tmp_path, channels={"ops": unsent})
        await first.start()
        for n in range(3):
            first.emit(failed_disk(n))
        await first.stop()  # before the intake ran: it stores them, nothing is sent
        ops = FakeChannel("ops")
        second = AlertService(make_config(), tmp_path, channels={"ops": ops})
        await second.start()
        await until(lambda: _has(ops, 3))
        await second.stop()
        assert unsent.tries == []
        assert [m.alert.facts["session_id"] for m in ops.sent] == ["s0", "s1", "s2"]

    run(scenario())

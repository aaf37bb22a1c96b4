"""The alert service: a thin asyncio shell around the pure parts and the outbox.

:meth:`AlertService.emit` only puts the event on a bounded queue (never blocks, never
raises, safe on the SIP/RTP hot path; when full the event is counted and dropped).
One *intake* task takes events off the queue: de-duplication
(:class:`~siprec_appliance.alerts.throttle.Deduplicator`), routing
(:class:`~siprec_appliance.alerts.routing.Router`), the per-channel rate limit
(:class:`~siprec_appliance.alerts.throttle.RateLimiter`), then one transaction in the
outbox (:mod:`siprec_appliance.alerts.outbox`). One *worker* task per channel sends
that channel's due deliveries one at a time, oldest first; blocking work runs in
threads. A failure is retried with backoff
(:class:`~siprec_appliance.alerts.throttle.RetryPolicy`), a 429 waits for its
Retry-After, and after a transient failure the whole channel rests
(:class:`~siprec_appliance.alerts.throttle.ChannelHealth`). A delivery that finally
fails is logged at ERROR and stays visible in :meth:`AlertService.recent` as
``failed`` with its last error.

Times stored and compared are Unix seconds from ``clock`` (default ``time.time``), so
the schedule survives restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from siprec_appliance.alerts.channels import Channel, build_channel
from siprec_appliance.alerts.errors import DeliveryError, UnknownChannelError
from siprec_appliance.alerts.events import AlertEvent, AlertsSuppressed, Severity, TestAlert
from siprec_appliance.alerts.model import Alert, Delivery, DeliveryState
from siprec_appliance.alerts.outbox import Outbox, OutboxStore
from siprec_appliance.alerts.render import Renderer
from siprec_appliance.alerts.routing import Router
from siprec_appliance.alerts.settings import AlertsConfig
from siprec_appliance.alerts.throttle import (
    ChannelHealth,
    Deduplicator,
    RateLimiter,
    RetryPolicy,
    Summary,
)

__all__ = ["AlertService"]

log = logging.getLogger("siprec.alerts")
T = TypeVar("T")

QUEUE_SIZE = 10_000
SEND_DEADLINE = 120.0  # a safety net over the channels' own timeouts
HOUSEKEEPING_INTERVAL = 3600.0
MAX_RECENT = 500


class AlertService:
    """Alerting for the appliance (see the module docstring).

    ``channels`` replaces the channels built from ``config`` (tests); ``env`` is where
    ``*_env`` secrets are looked up (default ``os.environ``).
    """

    def __init__(
        self,
        config: AlertsConfig,
        data_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        channels: Mapping[str, Channel] | None = None,
        queue_size: int = QUEUE_SIZE,
        stop_grace: float = 5.0,
    ) -> None:
        self.config = config
        self.data_dir = data_dir
        self._clock = clock
        self._stop_grace = stop_grace
        environ = os.environ if env is None else env
        self._channels: dict[str, Channel] = (
            dict(channels)
            if channels is not None
            else {c.name: build_channel(c, environ) for c in config.channels}
        )
        retry = config.retry
        self._policy = RetryPolicy(
            initial_delay=retry.initial_delay,
            factor=retry.factor,
            max_delay=retry.max_delay,
            max_attempts=retry.max_attempts,
            max_age=retry.max_age,
        )
        self._router = Router.from_config(config.routes)
        self._dedup = Deduplicator(config.dedup_window)
        self._limiter = RateLimiter(config.rate_limit.count, config.rate_limit.period)
        self._health = {name: ChannelHealth(self._policy) for name in self._channels}
        self._wake = {name: asyncio.Event() for name in self._channels}
        self._renderer = Renderer(config.appliance_name or socket.gethostname())
        self._queue: asyncio.Queue[AlertEvent | None] = asyncio.Queue(queue_size)
        self._outbox: Outbox | None = None
        self._intake_task: asyncio.Task[None] | None = None
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._next_housekeeping = 0.0
        self.counters = {"emitted": 0, "dropped": 0, "duplicates": 0, "delivered": 0, "failed": 0}

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Open the outbox, retry pending deliveries at once, start the tasks."""
        if self._outbox is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._outbox = await Outbox.open(self.data_dir)
        now = self._clock()
        orphans = await self._db(lambda s: s.fail_unknown_channels(self._channels, now))
        if orphans:
            log.warning("alerts: %d pending deliveries to removed channels marked failed", orphans)
        resumed = await self._db(lambda s: s.resume(now))
        if resumed:
            log.info("alerts: %d undelivered alerts from before the restart are retried", resumed)
        window = self.config.dedup_window
        for key, alert_id, created_at, count in await self._db(
            lambda s: s.recent_keys(now - window)
        ):
            self._dedup.seed(key, alert_id, created_at, count)
        self._stopping = False
        self._intake_task = asyncio.create_task(self._intake(), name="alerts-intake")
        for name in self._channels:
            self._workers[name] = asyncio.create_task(
                self._channel_loop(name), name=f"alerts-{name}"
            )
        log.info(
            "alerts: %d channels (%s), outbox %s",
            len(self._channels),
            ", ".join(self._channels) or "none",
            self._outbox.path,
        )

    async def stop(self) -> None:
        """Store what is queued, let sends in flight finish (bounded), close the outbox.

        Deliveries still pending are retried by the next :meth:`start`.
        """
        if self._outbox is None:
            return
        self._stopping = True
        if not self._queue.full():
            self._queue.put_nowait(None)  # wakes the intake, which drains and returns
        for wake in self._wake.values():
            wake.set()
        tasks = [task for task in (self._intake_task, *self._workers.values()) if task]
        _, late = await asyncio.wait(tasks, timeout=self._stop_grace) if tasks else ((), ())
        for task in late:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._intake_task = None
        self._workers.clear()
        outbox, self._outbox = self._outbox, None
        await outbox.close()

    # ------------------------------------------------------------------ the public face
    def emit(self, event: AlertEvent) -> None:
        """Queue ``event`` for alerting: O(1), never blocks, never raises.

        Call it from the event loop thread; other threads use :meth:`emit_threadsafe`.
        """
        if not self.config.enabled:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.counters["dropped"] += 1
            if self.counters["dropped"] & (self.counters["dropped"] - 1) == 0:  # 1, 2, 4...
                log.error("alerts: queue full, %d events dropped", self.counters["dropped"])
            return
        self.counters["emitted"] += 1

    def emit_threadsafe(self, event: AlertEvent) -> None:
        """:meth:`emit` from another thread (after :meth:`start`)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.emit, event)

    async def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest alerts (at most ``limit``, 1 to 500) with each delivery's state."""
        if self._outbox is None:
            return []
        count = min(max(int(limit), 1), MAX_RECENT)
        return await self._db(lambda s: s.recent(count))

    async def get(self, alert_id: str) -> dict[str, Any] | None:
        """One alert as in :meth:`recent`, or None."""
        if self._outbox is None:
            return None
        return await self._db(lambda s: s.get(alert_id))

    def channels(self) -> list[dict[str, Any]]:
        """The configured channels (no secrets)."""
        return [channel.describe() for channel in self._channels.values()]

    def stats(self) -> dict[str, Any]:
        """Counters for health pages: emitted, dropped, duplicates, delivered, failed."""
        return {
            "enabled": self.config.enabled,
            "running": self._outbox is not None,
            "queued": self._queue.qsize(),
            **self.counters,
        }

    async def send_test(self, channel: str, *, requested_by: str | None = None) -> dict[str, Any]:
        """Send a test alert to ``channel`` now (no retry) and report the outcome.

        Raises :class:`UnknownChannelError` for a name not configured. The result
        (``ok``, ``error``, ``elapsed``) is also recorded in the outbox history.
        """
        target = self._channels.get(channel)
        if target is None:
            raise UnknownChannelError(channel, list(self._channels))
        now = self._clock()
        event = TestAlert(channel=channel, requested_by=requested_by, nonce=uuid.uuid4().hex)
        alert = Alert.from_event(event, alert_id=uuid.uuid4().hex, now=now)
        self._limiter.note_sent(channel, now)
        started = time.monotonic()
        failure = await self._try_send(target, alert, 0)
        elapsed = time.monotonic() - started
        finished = self._clock()
        ok = failure is None
        error = None if failure is None else str(failure)
        delivery = Delivery(
            alert_id=alert.id,
            channel=channel,
            state=DeliveryState.DELIVERED if ok else DeliveryState.FAILED,
            attempts=1,
            failures=0 if ok else 1,
            last_attempt_at=finished,
            last_error=error,
            delivered_at=finished if ok else None,
        )
        if self._outbox is not None:
            await self._db(lambda s: s.add(alert, [delivery]))
        log.log(
            logging.INFO if ok else logging.WARNING,
            "alerts: test of channel %s: %s",
            channel,
            "delivered" if ok else error,
        )
        return {
            "alert_id": alert.id,
            "channel": channel,
            "type": target.kind,
            "ok": ok,
            "state": str(delivery.state),
            "error": error,
            "retry_after": None if failure is None else failure.retry_after,
            "elapsed": round(elapsed, 3),
        }

    # ------------------------------------------------------------------ intake
    async def _db(self, function: Callable[[OutboxStore], T]) -> T:
        if self._outbox is None:
            raise RuntimeError("alert service not started")
        return await self._outbox.run(function)

    async def _intake(self) -> None:
        while not (self._stopping and self._queue.empty()):
            try:
                event = await asyncio.wait_for(self._queue.get(), self._intake_timeout())
            except TimeoutError:
                event = None
            try:
                if event is not None:
                    await self._accept(event, self._clock())
                await self._housekeeping(self._clock())
            except Exception:
                log.exception("alerts: cannot store an alert")

    def _intake_timeout(self) -> float:
        now = self._clock()
        due = [self._next_housekeeping]
        summary = self._limiter.next_summary_at()
        if summary is not None:
            due.append(summary)
        return min(max(min(due) - now, 0.05), HOUSEKEEPING_INTERVAL)

    async def _accept(self, event: AlertEvent, now: float) -> None:
        alert_id = uuid.uuid4().hex
        for key in event.clears:
            self._dedup.forget(key)
        channels = self._router.channels_for(event)
        if not channels and Severity(event.severity) is Severity.INFO:
            return  # an unrouted info event is not an alert (every call start and end)
        if not isinstance(event, AlertsSuppressed | TestAlert):
            duplicate = self._dedup.admit(event.key, now, alert_id)
            if duplicate is not None:
                self.counters["duplicates"] += 1
                await self._db(lambda s: s.repeat(duplicate.token, now))
                return
        deliveries = [self._plan(event, alert_id, name, now) for name in channels]
        alert = Alert.from_event(event, alert_id=alert_id, now=now)
        await self._db(lambda s: s.add(alert, deliveries))
        for delivery in deliveries:
            if delivery.state is DeliveryState.PENDING:
                self._wake[delivery.channel].set()

    def _plan(self, event: AlertEvent, alert_id: str, channel: str, now: float) -> Delivery:
        if channel not in self._channels:
            log.warning("alerts: %s names unknown channel %r", event.event_type, channel)
            return Delivery(
                alert_id=alert_id,
                channel=channel,
                state=DeliveryState.FAILED,
                last_error=f"no alert channel {channel!r} is configured",
            )
        held: int | None = 0
        if not isinstance(event, AlertsSuppressed):
            held = self._limiter.admit(channel, now, event.event_type)
        if held is None:
            return Delivery(alert_id=alert_id, channel=channel, state=DeliveryState.SUPPRESSED)
        return Delivery(
            alert_id=alert_id, channel=channel, next_attempt_at=now, suppressed_before=held
        )

    async def _housekeeping(self, now: float) -> None:
        for summary in self._limiter.due_summaries(now):
            await self._accept(_summary_event(summary), now)
        if now >= self._next_housekeeping:
            self._next_housekeeping = now + HOUSEKEEPING_INTERVAL
            self._dedup.expire(now)
            before = now - self.config.retention_days * 86400.0
            pruned = await self._db(lambda s: s.prune(before))
            if pruned:
                days = self.config.retention_days
                log.info("alerts: %d alerts older than %g days removed", pruned, days)

    # ------------------------------------------------------------------ delivery
    async def _channel_loop(self, name: str) -> None:
        while not self._stopping:
            try:
                await self._channel_step(name)
            except Exception:  # the outbox failed (disk?): keep the worker alive
                log.exception("alerts: channel %s: cannot use the outbox", name)
                await asyncio.sleep(1.0)

    async def _channel_step(self, name: str) -> None:
        """Send one due delivery of ``name``, or sleep until one is due or a wake-up."""
        wake, health = self._wake[name], self._health[name]
        wake.clear()
        now = self._clock()
        delay: float | None = health.wait(now)
        if delay == 0:
            item = await self._db(functools.partial(OutboxStore.next_due, channel=name, now=now))
            if item is not None:
                await self._attempt(self._channels[name], *item)
                return
            next_time = await self._db(lambda s: s.next_time(name))
            delay = None if next_time is None else max(next_time - now, 0.0)
            if delay == 0:
                return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), delay)

    async def _try_send(
        self, channel: Channel, alert: Alert, suppressed: int
    ) -> DeliveryError | None:
        """None when delivered, else what went wrong."""
        try:
            message = self._renderer.render(alert, suppressed=suppressed)
            await asyncio.wait_for(channel.send(message), SEND_DEADLINE)
        except DeliveryError as exc:
            return exc
        except TimeoutError:
            return DeliveryError(f"no answer within {SEND_DEADLINE:g} s")
        except Exception as exc:  # a bug: the type only, its text might hold a secret
            log.error("alerts: unexpected %s sending to %s", type(exc).__name__, channel.name)
            return DeliveryError(f"unexpected {type(exc).__name__}")
        return None

    async def _attempt(self, channel: Channel, alert: Alert, delivery: Delivery) -> None:
        now = self._clock()
        if self._policy.expired(alert.created_at, now):
            error = f"not delivered within {self._policy.max_age:g} s"
            if delivery.last_error:
                error += f"; last error: {delivery.last_error}"
            await self._give_up(alert, delivery, error, False)
            return
        failure = await self._try_send(channel, alert, delivery.suppressed_before)
        if failure is None:
            done = self._clock()
            await self._db(lambda s: s.delivered(alert.id, channel.name, done))
            self._health[channel.name].succeeded()
            self.counters["delivered"] += 1
            log.info("alerts: %s %s delivered to %s", alert.event_type, alert.id, channel.name)
            return
        await self._retry_or_fail(alert, delivery, failure)

    async def _retry_or_fail(
        self, alert: Alert, delivery: Delivery, failure: DeliveryError
    ) -> None:
        now = self._clock()
        error, retry_after = str(failure), failure.retry_after
        counted = retry_after is None
        at = None
        if not failure.permanent:
            at = self._policy.next_attempt(
                failures=delivery.failures + int(counted),
                created_at=alert.created_at,
                now=now,
                retry_after=retry_after,
            )
        if at is None:
            if not failure.permanent:
                error += f" (gave up after {delivery.attempts + 1} tries)"
            await self._give_up(alert, delivery, error, True)
            return
        await self._db(
            lambda s: s.retry(
                alert.id, delivery.channel, now=now, at=at, error=error, counted=counted
            )
        )
        health = self._health[delivery.channel]
        if retry_after is not None:
            health.rate_limited(now, retry_after)
        else:
            health.failed(now)
        log.warning(
            "alerts: %s %s to %s: %s; next try in %.1f s",
            alert.event_type,
            alert.id,
            delivery.channel,
            error,
            at - now,
        )

    async def _give_up(self, alert: Alert, delivery: Delivery, error: str, attempted: bool) -> None:
        now = self._clock()
        await self._db(
            lambda s: s.failed(
                alert.id, delivery.channel, now=now, error=error, attempted=attempted
            )
        )
        self.counters["failed"] += 1
        log.error(
            "alerts: %s %s (%s) NOT delivered to %s: %s",
            alert.event_type,
            alert.id,
            alert.title,
            delivery.channel,
            error,
        )


def _summary_event(summary: Summary) -> AlertsSuppressed:
    return AlertsSuppressed(channel=summary.channel, count=summary.count, by_type=summary.by_type)

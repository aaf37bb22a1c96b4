"""Pure scheduling logic of alert delivery; the clock is always passed in as ``now``.

- :class:`Deduplicator`: the same key within ``window`` seconds of its first sighting
  is one alert; later sightings only raise its count. The window is anchored at the
  first sighting, so a condition that keeps recurring yields one alert per window.
- :class:`RateLimiter`: per channel, at most ``count`` messages in any ``period``
  seconds (a sliding log). What it holds back is counted by type; the next message
  admitted carries the count ("N similar alerts suppressed"), and if none comes within
  a period, :meth:`RateLimiter.due_summaries` asks for a summary message.
- :class:`RetryPolicy`: exponential backoff ``initial * factor**(n-1)`` capped at
  ``max_delay``, a server's Retry-After (HTTP 429/503, RFC 9110 §10.2.3) obeyed
  instead, and the give-up rule (``max_attempts`` counted failures, or ``max_age``).
- :class:`ChannelHealth`: after a transient failure the whole channel waits (one probe
  per backoff step, not one timeout per queued alert); a success resets it.

No I/O, no asyncio: :mod:`siprec_appliance.alerts.service` drives these.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

__all__ = ["ChannelHealth", "Deduplicator", "Duplicate", "RateLimiter", "RetryPolicy", "Summary"]


@dataclass(slots=True)
class _Seen:
    token: str
    first_seen: float
    count: int = 1


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A repeat of an alert already accepted: its token (alert id) and the new count."""

    token: str
    count: int


class Deduplicator:
    """One alert per key per ``window`` seconds (see the module docstring)."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._seen: dict[str, _Seen] = {}

    def admit(self, key: str, now: float, token: str) -> Duplicate | None:
        """None: new, remembered under ``token``. Else the earlier alert it repeats."""
        seen = self._seen.get(key)
        if seen is not None and now - seen.first_seen < self.window:
            seen.count += 1
            return Duplicate(seen.token, seen.count)
        self._seen.pop(key, None)  # re-inserted at the end: the dict stays in first_seen order
        self._seen[key] = _Seen(token, now)
        if len(self._seen) > 1024:
            self._expire_oldest(now)
        return None

    def seed(self, key: str, token: str, first_seen: float, count: int = 1) -> None:
        """Remember an alert accepted before a restart (from the outbox). Seeds older
        than what is already held are expired late (after it), never wrongly."""
        self._seen.pop(key, None)
        self._seen[key] = _Seen(token, first_seen, count)

    def forget(self, key: str) -> None:
        """The condition of ``key`` ended: its next sighting is news again."""
        self._seen.pop(key, None)

    def expire(self, now: float) -> None:
        """Forget every key whose window has passed (a full scan: housekeeping)."""
        for key in [k for k, seen in self._seen.items() if now - seen.first_seen >= self.window]:
            del self._seen[key]

    def _expire_oldest(self, now: float) -> None:
        """Forget the oldest keys while their window has passed: amortised O(1) per
        admitted key (a full scan on every admit made thousands of calls a minute
        quadratic). Keys are held in first-seen order, seeds aside, so this stops
        at the first key still in its window; :meth:`expire` catches the rest."""
        seen = self._seen
        while seen:
            key = next(iter(seen))
            if now - seen[key].first_seen < self.window:
                return
            del seen[key]

    def __len__(self) -> int:
        return len(self._seen)


@dataclass(frozen=True, slots=True)
class Summary:
    """What the rate limiter of ``channel`` held back since ``since``."""

    channel: str
    count: int
    by_type: dict[str, int]
    since: float


@dataclass(slots=True)
class _Window:
    sent: deque[float] = field(default_factory=deque)
    suppressed: Counter[str] = field(default_factory=Counter)
    suppressed_since: float | None = None


class RateLimiter:
    """At most ``count`` messages per channel in any ``period`` seconds."""

    def __init__(self, count: int, period: float) -> None:
        self.count = count
        self.period = period
        self._windows: dict[str, _Window] = {}

    def _window(self, channel: str, now: float) -> _Window:
        window = self._windows.setdefault(channel, _Window())
        while window.sent and now - window.sent[0] >= self.period:
            window.sent.popleft()
        return window

    def admit(self, channel: str, now: float, event_type: str) -> int | None:
        """None: held back (counted). Else the number held back before, to report."""
        window = self._window(channel, now)
        if len(window.sent) >= self.count:
            window.suppressed[event_type] += 1
            if window.suppressed_since is None:
                window.suppressed_since = now
            return None
        window.sent.append(now)
        return self._take_suppressed(window)

    def note_sent(self, channel: str, now: float) -> None:
        """A message that bypasses the limit (a test, a summary) still uses a slot."""
        self._window(channel, now).sent.append(now)

    @staticmethod
    def _take_suppressed(window: _Window) -> int:
        held = sum(window.suppressed.values())
        window.suppressed.clear()
        window.suppressed_since = None
        return held

    def due_summaries(self, now: float) -> list[Summary]:
        """Channels that held messages back a period ago and have a free slot again.

        Each summary returned resets its channel's count and takes a slot.
        """
        due: list[Summary] = []
        for channel in list(self._windows):
            window = self._window(channel, now)
            since = window.suppressed_since
            if since is None or now - since < self.period or len(window.sent) >= self.count:
                continue
            by_type = dict(window.suppressed)
            due.append(Summary(channel, self._take_suppressed(window), by_type, since))
            window.sent.append(now)
        return due

    def next_summary_at(self) -> float | None:
        """Earliest time :meth:`due_summaries` may return something (None: nothing held)."""
        times = [
            window.suppressed_since + self.period
            for window in self._windows.values()
            if window.suppressed_since is not None
        ]
        return min(times, default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Backoff and give-up rule for one delivery (see the module docstring)."""

    initial_delay: float = 5.0
    factor: float = 2.0
    max_delay: float = 600.0
    max_attempts: int = 20
    max_age: float = 86400.0

    def delay(self, failures: int) -> float:
        """Wait after the ``failures``-th consecutive failure (1 -> ``initial_delay``)."""
        exponent = max(failures - 1, 0)
        try:
            wait = self.initial_delay * self.factor**exponent
        except OverflowError:
            return self.max_delay
        return min(wait, self.max_delay)

    def expired(self, created_at: float, now: float) -> bool:
        return now - created_at >= self.max_age

    def next_attempt(
        self, *, failures: int, created_at: float, now: float, retry_after: float | None = None
    ) -> float | None:
        """When to try again after ``failures`` counted failures; None: give up.

        ``retry_after`` (seconds, from the server's 429/503) replaces the backoff: the
        server is up and said when; such answers are not counted as failures.
        """
        if failures >= self.max_attempts:
            return None
        wait = self.delay(failures) if retry_after is None else retry_after
        at = now + wait
        if self.expired(created_at, at):
            return None
        return at


class ChannelHealth:
    """Consecutive transient failures of one channel and how long it must rest."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.failures = 0
        self.hold_until = 0.0

    def failed(self, now: float) -> float:
        """Note a transient failure; returns the time before which nothing is sent."""
        self.failures += 1
        self.hold_until = max(self.hold_until, now + self.policy.delay(self.failures))
        return self.hold_until

    def rate_limited(self, now: float, retry_after: float) -> float:
        """The server asked us to wait (429 + Retry-After): the whole channel waits."""
        self.hold_until = max(self.hold_until, now + retry_after)
        return self.hold_until

    def succeeded(self) -> None:
        self.failures = 0
        self.hold_until = 0.0

    def wait(self, now: float) -> float:
        """Seconds to wait before the next send (0: go)."""
        return max(0.0, self.hold_until - now)

"""Pure scheduling logic of alert delivery, driven with an explicit clock."""

from __future__ import annotations

from siprec_appliance.alerts.throttle import (
    ChannelHealth,
    Deduplicator,
    Duplicate,
    RateLimiter,
    RetryPolicy,
    Summary,
)

# --- de-duplication -------------------------------------------------------------------


def test_same_key_within_the_window_is_one_alert_with_a_count() -> None:
    dedup = Deduplicator(window=60)
    assert dedup.admit("disk_low:/var", 100.0, "a1") is None
    assert dedup.admit("disk_low:/var", 110.0, "a2") == Duplicate("a1", 2)
    assert dedup.admit("disk_low:/var", 159.9, "a3") == Duplicate("a1", 3)
    assert dedup.admit("rtp_timeout:s1:0", 120.0, "b1") is None  # another key


def test_window_is_anchored_at_the_first_sighting() -> None:
    dedup = Deduplicator(window=60)
    for now in range(100, 160, 10):
        dedup.admit("k", float(now), f"id{now}")
    assert dedup.admit("k", 160.0, "fresh") is None  # 60 s after the first: news again
    assert dedup.admit("k", 161.0, "x") == Duplicate("fresh", 2)


def test_zero_window_disables_deduplication() -> None:
    dedup = Deduplicator(window=0)
    assert dedup.admit("k", 1.0, "a") is None
    assert dedup.admit("k", 1.0, "b") is None


def test_forget_and_seed_and_expire() -> None:
    dedup = Deduplicator(window=60)
    dedup.seed("k", "before-restart", first_seen=90.0, count=4)
    assert dedup.admit("k", 100.0, "new") == Duplicate("before-restart", 5)
    dedup.forget("k")
    assert dedup.admit("k", 101.0, "after-recovery") is None
    dedup.admit("old", 0.0, "o")
    dedup.expire(100.0)
    assert len(dedup) == 1  # "old" is gone, "k" stays


# --- rate limit -----------------------------------------------------------------------


def test_rate_limit_holds_back_and_reports_the_count_with_the_next_message() -> None:
    limiter = RateLimiter(count=2, period=60)
    assert limiter.admit("ops", 0.0, "rtp_timeout") == 0
    assert limiter.admit("ops", 1.0, "rtp_timeout") == 0
    assert limiter.admit("ops", 2.0, "rtp_timeout") is None
    assert limiter.admit("ops", 3.0, "disk_low") is None
    assert limiter.admit("other", 3.0, "disk_low") == 0  # per channel
    assert limiter.admit("ops", 59.9, "rtp_timeout") is None
    assert limiter.admit("ops", 60.0, "rtp_timeout") == 3  # a slot is free: "3 suppressed"
    assert limiter.admit("ops", 61.0, "rtp_timeout") == 0  # the count was handed over


def test_rate_limit_summary_when_nothing_else_comes() -> None:
    limiter = RateLimiter(count=1, period=10)
    assert limiter.admit("ops", 0.0, "a") == 0
    assert limiter.admit("ops", 1.0, "a") is None
    assert limiter.admit("ops", 2.0, "b") is None
    assert limiter.next_summary_at() == 11.0
    assert limiter.due_summaries(10.5) == []  # not a period since the first held back
    assert limiter.due_summaries(11.0) == [Summary("ops", 2, {"a": 1, "b": 1}, 1.0)]
    assert limiter.due_summaries(12.0) == []
    assert limiter.next_summary_at() is None
    assert limiter.admit("ops", 15.0, "a") is None  # the summary used the slot


def test_messages_that_bypass_the_limit_still_use_a_slot() -> None:
    limiter = RateLimiter(count=1, period=10)
    limiter.note_sent("ops", 0.0)
    assert limiter.admit("ops", 1.0, "a") is None


# --- retries --------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(initial_delay=5, factor=2, max_delay=60, max_attempts=99, max_age=1e9)
    assert [policy.delay(n) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]
    assert policy.next_attempt(failures=1, created_at=0.0, now=100.0) == 105.0
    assert policy.next_attempt(failures=3, created_at=0.0, now=100.0) == 120.0
    assert policy.delay(10_000) == 60  # no overflow


def test_retry_after_replaces_the_backoff() -> None:
    policy = RetryPolicy(initial_delay=5, max_attempts=3, max_age=1000)
    assert policy.next_attempt(failures=0, created_at=0.0, now=10.0, retry_after=1.0) == 11.0
    assert policy.next_attempt(failures=2, created_at=0.0, now=10.0, retry_after=30.0) == 40.0


def test_give_up_after_max_attempts_or_max_age() -> None:
    policy = RetryPolicy(initial_delay=5, factor=2, max_attempts=3, max_age=100)
    assert policy.next_attempt(failures=2, created_at=0.0, now=1.0) is not None
    assert policy.next_attempt(failures=3, created_at=0.0, now=1.0) is None
    assert policy.next_attempt(failures=1, created_at=0.0, now=96.0) is None  # 101 > 100
    assert policy.expired(0.0, 100.0)
    assert not policy.expired(0.0, 99.9)


def test_channel_rests_after_failures_and_recovers_at_once() -> None:
    health = ChannelHealth(RetryPolicy(initial_delay=2, factor=3, max_delay=100))
    assert health.wait(0.0) == 0
    assert health.failed(10.0) == 12.0
    assert health.failed(12.0) == 18.0
    assert health.wait(15.0) == 3.0
    health.succeeded()
    assert health.wait(15.0) == 0
    assert health.rate_limited(20.0, retry_after=1.5) == 21.5
    assert health.failures == 0  # a 429 is not a failure


def test_admitting_many_distinct_keys_stays_linear() -> None:
    """Every call start and end has its own key: 20,000 of them within one window
    must not scan the whole table per admit (that was quadratic: ~10 s here)."""
    import time

    dedup = Deduplicator(window=300)
    started = time.process_time()
    for n in range(20_000):
        assert dedup.admit(f"session:{n}", n * 0.01, f"t{n}") is None
    assert time.process_time() - started < 1.0
    assert len(dedup) == 20_000  # all within the window: none forgotten
    assert dedup.admit("session:5", 250.0, "again") == Duplicate("t5", 2)
    dedup.admit("late", 400.0, "x")  # window 300: keys first seen at or before 100 expire
    assert len(dedup) == (20_000 - 10_001) + 1

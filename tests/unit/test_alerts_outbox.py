"""The outbox store: schema, state changes, history order, pruning."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from siprec_appliance.alerts.errors import AlertsError
from siprec_appliance.alerts.events import DiskLow, RecordingFailed
from siprec_appliance.alerts.model import Alert, Delivery, DeliveryState
from siprec_appliance.alerts.outbox import OUTBOX_FILE, Outbox, OutboxStore


def alert(alert_id: str, now: float) -> Alert:
    event = RecordingFailed(session_id=alert_id, reason="x")
    return Alert.from_event(event, alert_id=alert_id, now=now)


def pending(alert_id: str, channel: str, at: float) -> Delivery:
    return Delivery(alert_id=alert_id, channel=channel, next_attempt_at=at)


def test_due_order_retry_and_delivery(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / OUTBOX_FILE)
    store.add(alert("a", 10.0), [pending("a", "ops", 10.0), pending("a", "mail", 10.0)])
    store.add(alert("b", 11.0), [pending("b", "ops", 11.0)])
    assert store.next_due("ops", 9.0) is None
    found = store.next_due("ops", 20.0)
    assert found is not None and found[0].id == "a" and found[1].channel == "ops"
    store.retry("a", "ops", now=20.0, at=25.0, error="refused", counted=True)
    found = store.next_due("ops", 20.0)
    assert found is not None and found[0].id == "b"
    store.delivered("b", "ops", 21.0)
    assert store.next_due("ops", 21.0) is None
    assert store.next_time("ops") == 25.0
    found = store.next_due("ops", 25.0)
    assert found is not None
    assert (found[1].attempts, found[1].failures, found[1].last_error) == (1, 1, "refused")
    store.retry("a", "ops", now=25.0, at=26.0, error="429", counted=False)
    store.failed("a", "ops", now=26.0, error="gave up")
    [row] = [r for r in store.recent(10) if r["id"] == "a"]
    ops = next(d for d in row["deliveries"] if d["channel"] == "ops")
    assert (ops["state"], ops["attempts"], ops["failures"]) == ("failed", 3, 2)
    assert row["state"] == "pending"  # mail is still pending
    assert store.resume(5.0) == 1  # mail: due at once after a restart
    assert store.next_time("mail") == 5.0


def test_recent_is_newest_first_and_limited(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / OUTBOX_FILE)
    for n in range(5):
        store.add(alert(f"a{n}", float(n)), [])
    assert [row["id"] for row in store.recent(3)] == ["a4", "a3", "a2"]
    assert store.recent(1)[0]["state"] == "unrouted"
    assert store.get("a1") is not None and store.get("zz") is None


def test_repeats_and_keys_for_deduplication(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / OUTBOX_FILE)
    disk = Alert.from_event(DiskLow(path="/v", free_bytes=1, total_bytes=9), alert_id="d", now=5)
    store.add(disk, [])
    store.repeat("d", 7.0)
    row = store.get("d")
    assert row is not None and row["occurrences"] == 2 and row["last_seen"].endswith("07.000Z")
    assert store.recent_keys(since=4.0) == [("disk_low:/v", "d", 5.0, 2)]
    assert store.recent_keys(since=6.0) == []


def test_prune_keeps_what_is_pending(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / OUTBOX_FILE)
    store.add(alert("old-done", 1.0), [Delivery(alert_id="old-done", channel="o",
                                                state=DeliveryState.DELIVERED)])  # fmt: skip
    store.add(alert("old-pending", 1.0), [pending("old-pending", "o", 1.0)])
    store.add(alert("new", 100.0), [])
    assert store.prune(before=50.0) == 1
    assert {row["id"] for row in store.recent(10)} == {"old-pending", "new"}


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / OUTBOX_FILE
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(AlertsError, match="schema version 99"):
        OutboxStore(path)


def test_async_outbox_file_is_private(tmp_path: Path) -> None:
    import asyncio

    async def scenario() -> int:
        outbox = await Outbox.open(tmp_path / "data")
        count = await outbox.run(lambda store: len(store.recent(5)))
        await outbox.close()
        with pytest.raises(AlertsError, match="closed"):
            await outbox.run(lambda store: store.recent(5))
        return count

    assert asyncio.run(scenario()) == 0
    mode = stat.S_IMODE((tmp_path / "data" / OUTBOX_FILE).stat().st_mode)
    assert mode == 0o600

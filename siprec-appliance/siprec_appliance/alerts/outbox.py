"""The alert outbox: ``{data_dir}/alerts.sqlite3``, so that no accepted alert is lost.

An alert is written here (with one delivery row per channel) before anything is sent;
a delivery leaves ``pending`` only when the channel accepted it (``delivered``) or the
retry policy gave up (``failed``, with ``last_error``). Pending rows found at start-up
are retried, so alerts survive restarts; delivery is at least once (a crash between a
channel's "ok" and the commit repeats one message; webhooks carry the alert id in
``X-Siprec-Alert-Id`` for receivers that must de-duplicate).

Tables (``PRAGMA user_version`` = :data:`SCHEMA_VERSION`)::

    alerts      id, type, severity, key, title, facts (JSON), created_at, last_seen,
                occurrences, template, template_name, subject
    deliveries  alert_id, channel, state, attempts (sends tried), failures (counted by
                the retry policy: not 429/Retry-After), next_attempt_at,
                last_attempt_at, last_error, delivered_at, suppressed_before

Threading as in the catalog (``appliance/catalog.py``): one connection in one worker
thread owned by :class:`Outbox`; the event loop only awaits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from siprec_appliance.alerts.errors import AlertsError
from siprec_appliance.alerts.events import Severity
from siprec_appliance.alerts.model import Alert, Delivery, DeliveryState
from siprec_appliance.storethread import StoreThread, transaction

__all__ = ["OUTBOX_FILE", "SCHEMA_VERSION", "Outbox", "OutboxStore"]

log = logging.getLogger("siprec.alerts")
T = TypeVar("T")

OUTBOX_FILE = "alerts.sqlite3"
SCHEMA_VERSION = 1
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE alerts (
        id            TEXT PRIMARY KEY,
        type          TEXT NOT NULL,
        severity      TEXT NOT NULL,
        key           TEXT NOT NULL,
        title         TEXT NOT NULL,
        facts         TEXT NOT NULL,
        created_at    REAL NOT NULL,
        last_seen     REAL NOT NULL,
        occurrences   INTEGER NOT NULL DEFAULT 1,
        template      TEXT,
        template_name TEXT,
        subject       TEXT
    );
    CREATE INDEX alerts_created_at ON alerts (created_at);
    CREATE TABLE deliveries (
        alert_id          TEXT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
        channel           TEXT NOT NULL,
        state             TEXT NOT NULL
                          CHECK (state IN ('pending', 'delivered', 'failed', 'suppressed')),
        attempts          INTEGER NOT NULL DEFAULT 0,
        failures          INTEGER NOT NULL DEFAULT 0,
        next_attempt_at   REAL,
        last_attempt_at   REAL,
        last_error        TEXT,
        delivered_at      REAL,
        suppressed_before INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (alert_id, channel)
    );
    CREATE INDEX deliveries_due ON deliveries (channel, state, next_attempt_at);
    """,
)


def _alert(row: sqlite3.Row) -> Alert:
    return Alert(
        id=row["id"],
        event_type=row["type"],
        severity=Severity(row["severity"]),
        key=row["key"],
        title=row["title"],
        facts=json.loads(row["facts"]),
        created_at=row["created_at"],
        last_seen=row["last_seen"],
        occurrences=row["occurrences"],
        template=row["template"],
        template_name=row["template_name"],
        subject=row["subject"],
    )


def _delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(
        alert_id=row["alert_id"],
        channel=row["channel"],
        state=DeliveryState(row["state"]),
        attempts=row["attempts"],
        failures=row["failures"],
        next_attempt_at=row["next_attempt_at"],
        last_attempt_at=row["last_attempt_at"],
        last_error=row["last_error"],
        delivered_at=row["delivered_at"],
        suppressed_before=row["suppressed_before"],
    )


def overall_state(deliveries: Iterable[Delivery]) -> str:
    """One word for an alert: pending, failed, delivered, suppressed or unrouted."""
    states = {delivery.state for delivery in deliveries}
    for state in (DeliveryState.PENDING, DeliveryState.FAILED, DeliveryState.DELIVERED):
        if state in states:
            return str(state)
    return "suppressed" if states else "unrouted"


class OutboxStore:
    """The SQLite side (blocking). Not thread-safe: one thread only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError as exc:
            raise AlertsError(f"cannot open the alert outbox {path}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None)  # explicit transactions
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise AlertsError(
                    f"{self.path} has schema version {version}; this version knows {SCHEMA_VERSION}"
                )
            for number in range(version, SCHEMA_VERSION):
                db.executescript(
                    f"BEGIN; {MIGRATIONS[number]}; PRAGMA user_version = {number + 1}; COMMIT;"
                )
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------ writes
    def add(self, alert: Alert, deliveries: Iterable[Delivery]) -> None:
        """Store a new alert and its delivery rows in one transaction."""
        a = alert
        with transaction(self._db):
            self._db.execute(
                "INSERT INTO alerts (id, type, severity, key, title, facts, created_at,"
                " last_seen, occurrences, template, template_name, subject)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    a.id, a.event_type, str(a.severity), a.key, a.title,
                    json.dumps(a.facts, sort_keys=True, default=str), a.created_at,
                    a.last_seen, a.occurrences, a.template, a.template_name, a.subject,
                ),
            )  # fmt: skip
            self._db.executemany(
                "INSERT INTO deliveries (alert_id, channel, state, attempts, failures,"
                " next_attempt_at, last_attempt_at, last_error, delivered_at, suppressed_before)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (d.alert_id, d.channel, str(d.state), d.attempts, d.failures,
                     d.next_attempt_at, d.last_attempt_at, d.last_error, d.delivered_at,
                     d.suppressed_before)
                    for d in deliveries
                ],
            )  # fmt: skip

    def repeat(self, alert_id: str, now: float) -> None:
        """A duplicate of ``alert_id`` was seen at ``now``."""
        self._db.execute(
            "UPDATE alerts SET occurrences = occurrences + 1, last_seen = ? WHERE id = ?",
            (now, alert_id),
        )

    def delivered(self, alert_id: str, channel: str, now: float) -> None:
        self._db.execute(
            "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1,"
            " delivered_at = ?, last_attempt_at = ?, next_attempt_at = NULL"
            " WHERE alert_id = ? AND channel = ?",
            (now, now, alert_id, channel),
        )

    def retry(
        self, alert_id: str, channel: str, *, now: float, at: float, error: str, counted: bool
    ) -> None:
        """A transient failure (``counted``) or a Retry-After: try again at ``at``."""
        self._db.execute(
            "UPDATE deliveries SET attempts = attempts + 1, failures = failures + ?,"
            " next_attempt_at = ?, last_attempt_at = ?, last_error = ?"
            " WHERE alert_id = ? AND channel = ?",
            (1 if counted else 0, at, now, error, alert_id, channel),
        )

    def failed(
        self, alert_id: str, channel: str, *, now: float, error: str, attempted: bool = True
    ) -> None:
        """Give up on one delivery; ``error`` says why."""
        self._db.execute(
            "UPDATE deliveries SET state = 'failed', attempts = attempts + ?,"
            " failures = failures + ?, next_attempt_at = NULL, last_attempt_at = ?,"
            " last_error = ? WHERE alert_id = ? AND channel = ?",
            (int(attempted), int(attempted), now, error, alert_id, channel),
        )

    def resume(self, now: float) -> int:
        """At start-up: every pending delivery is due now (returns how many)."""
        cursor = self._db.execute(
            "UPDATE deliveries SET next_attempt_at = ? WHERE state = 'pending'"
            " AND (next_attempt_at IS NULL OR next_attempt_at > ?)",
            (now, now),
        )
        return cursor.rowcount

    def fail_unknown_channels(self, known: Iterable[str], now: float) -> int:
        """Pending deliveries to channels no longer configured fail (returns how many)."""
        names = list(known)
        marks = ", ".join("?" for _ in names) or "''"
        cursor = self._db.execute(
            "UPDATE deliveries SET state = 'failed', next_attempt_at = NULL,"
            " last_error = 'channel no longer configured', last_attempt_at = ?"
            f" WHERE state = 'pending' AND channel NOT IN ({marks})",
            (now, *names),
        )
        return cursor.rowcount

    def prune(self, before: float) -> int:
        """Forget alerts created before ``before`` that have nothing pending."""
        cursor = self._db.execute(
            "DELETE FROM alerts WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM deliveries d"
            " WHERE d.alert_id = alerts.id AND d.state = 'pending')",
            (before,),
        )
        return cursor.rowcount

    # ------------------------------------------------------------ reads
    def next_due(self, channel: str, now: float) -> tuple[Alert, Delivery] | None:
        """The oldest alert with a delivery to ``channel`` due at ``now`` (order is kept)."""
        row = self._db.execute(
            "SELECT a.*, d.alert_id, d.channel, d.state, d.attempts, d.failures,"
            " d.next_attempt_at,"
            " d.last_attempt_at, d.last_error, d.delivered_at, d.suppressed_before"
            " FROM deliveries d JOIN alerts a ON a.id = d.alert_id"
            " WHERE d.channel = ? AND d.state = 'pending' AND d.next_attempt_at <= ?"
            " ORDER BY a.created_at, d.next_attempt_at LIMIT 1",
            (channel, now),
        ).fetchone()
        return None if row is None else (_alert(row), _delivery(row))

    def next_time(self, channel: str) -> float | None:
        """When the next pending delivery of ``channel`` is due (None: nothing pending)."""
        row = self._db.execute(
            "SELECT min(next_attempt_at) FROM deliveries WHERE channel = ? AND state = 'pending'",
            (channel,),
        ).fetchone()
        return None if row[0] is None else float(row[0])

    def recent_keys(self, since: float) -> list[tuple[str, str, float, int]]:
        """(key, alert id, created_at, occurrences) of alerts created since ``since``."""
        rows = self._db.execute(
            "SELECT key, id, created_at, occurrences FROM alerts WHERE created_at >= ?"
            " ORDER BY created_at",
            (since,),
        )
        return [(r["key"], r["id"], r["created_at"], r["occurrences"]) for r in rows]

    def get(self, alert_id: str) -> dict[str, Any] | None:
        rows = self._rows("WHERE id = ?", (alert_id,), 1)
        return rows[0] if rows else None

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` alerts with the state of each delivery, newest first."""
        return self._rows("", (), limit)

    def _rows(self, where: str, params: tuple[Any, ...], limit: int) -> list[dict[str, Any]]:
        alerts = [
            _alert(row)
            for row in self._db.execute(
                f"SELECT * FROM alerts {where} ORDER BY created_at DESC, id LIMIT ?",
                (*params, limit),
            )
        ]
        result: list[dict[str, Any]] = []
        for alert in alerts:
            deliveries = [
                _delivery(row)
                for row in self._db.execute(
                    "SELECT * FROM deliveries WHERE alert_id = ? ORDER BY channel", (alert.id,)
                )
            ]
            body = alert.to_dict()
            body["state"] = overall_state(deliveries)
            body["deliveries"] = [delivery.to_dict() for delivery in deliveries]
            result.append(body)
        return result


class Outbox(StoreThread[OutboxStore]):
    """The outbox for the event loop: every call runs in the outbox's own thread."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__("the alert outbox", "alerts-db", AlertsError)
        self.path = data_dir / OUTBOX_FILE

    @classmethod
    async def open(cls, data_dir: Path) -> Outbox:
        """Open (or create) ``{data_dir}/alerts.sqlite3``."""
        outbox = cls(data_dir)
        await outbox.start(outbox._open)
        return outbox

    def _open(self) -> OutboxStore:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        store = OutboxStore(self.path)
        with contextlib.suppress(OSError):
            os.chmod(self.path, 0o600)  # alert facts name participants
        return store

    async def run(self, function: Callable[[OutboxStore], T]) -> T:
        """Run ``function(store)`` in the outbox thread."""
        return await self.run_blocking(lambda: function(self.store))

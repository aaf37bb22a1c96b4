"""The recordings catalog: an SQLite index over the ``session.json`` files on disk.

The files under ``{data_dir}/recordings`` are the truth; ``{data_dir}/catalog.sqlite3``
is an index that can always be rebuilt from them (:meth:`Catalog.rebuild` indexes
every ``session.json`` it does not know). Indexing the same directory twice is an
upsert: the row and its child rows are replaced in one transaction.

Tables (``PRAGMA user_version`` = :data:`SCHEMA_VERSION`)::

    recordings       id (session id), call_id, started_at, ended_at, duration, status,
                     reason, vendor, participants/facts/streams/details (JSON), directory
    recording_files  recording_id, stream_index, label, path (relative to data_dir),
                     format, sample_rate, channels, size, sha256, duration, mtime_ns
    participants     recording_id, position, aor, name, e164, role
    correlation_ids  recording_id, key, value (facts such as ``ucid``, ``genesys.uuid``)

Threading: one SQLite connection lives in one worker thread owned by
:class:`Catalog`; every read and write runs there, the event loop only awaits.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from siprec_appliance.appliance.catalog_index import (
    COMBINED_INDEX,
    COMBINED_LABEL,
    CORRELATION_KEYS,
    IndexedRecording,
    read_recording,
)
from siprec_appliance.appliance.recording import MARKER_SUFFIX, SESSION_FILE
from siprec_appliance.errors import SiprecError
from siprec_appliance.storethread import StoreThread, transaction

__all__ = [
    "CATALOG_FILE",
    "CORRELATION_KEYS",
    "SCHEMA_VERSION",
    "STATUSES",
    "AudioFile",
    "AudioNotFoundError",
    "Catalog",
    "CatalogError",
    "CatalogStore",
    "QueryError",
    "RecordingPage",
    "RecordingQuery",
    "parse_query",
    "read_recording",
]

log = logging.getLogger("siprec.catalog")
T = TypeVar("T")

CATALOG_FILE = "catalog.sqlite3"
SCHEMA_VERSION = 1
STATUSES = ("recording", "complete", "interrupted", "failed")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# Migration i takes the schema from user_version i to i + 1 (a dispatch table).
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE recordings (
        id           TEXT PRIMARY KEY,
        call_id      TEXT NOT NULL,
        started_at   REAL,
        ended_at     REAL,
        duration     REAL,
        status       TEXT NOT NULL
                     CHECK (status IN ('recording', 'complete', 'interrupted', 'failed')),
        reason       TEXT,
        vendor       TEXT,
        participants TEXT NOT NULL,
        facts        TEXT NOT NULL,
        streams      TEXT NOT NULL,
        details      TEXT NOT NULL,
        directory    TEXT NOT NULL,
        indexed_at   REAL NOT NULL
    );
    CREATE INDEX recordings_started_at ON recordings (started_at);
    CREATE INDEX recordings_call_id ON recordings (call_id);
    CREATE INDEX recordings_directory ON recordings (directory);
    CREATE TABLE recording_files (
        recording_id TEXT NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
        stream_index INTEGER NOT NULL,
        label        TEXT,
        path         TEXT NOT NULL,
        format       TEXT NOT NULL,
        sample_rate  INTEGER,
        channels     INTEGER,
        size         INTEGER,
        sha256       TEXT,
        duration     REAL,
        mtime_ns     INTEGER,
        PRIMARY KEY (recording_id, stream_index)
    );
    CREATE TABLE participants (
        recording_id TEXT NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
        position     INTEGER NOT NULL,
        aor          TEXT,
        name         TEXT,
        e164         TEXT,
        role         TEXT,
        PRIMARY KEY (recording_id, position)
    );
    CREATE TABLE correlation_ids (
        recording_id TEXT NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
        key          TEXT NOT NULL,
        value        TEXT NOT NULL COLLATE NOCASE,
        PRIMARY KEY (recording_id, key, value)
    );
    CREATE INDEX correlation_ids_value ON correlation_ids (value COLLATE NOCASE);
    """,
)


class CatalogError(SiprecError):
    """The catalog cannot be opened or used."""


class QueryError(CatalogError, ValueError):
    """A search parameter is invalid; ``parameter`` names it."""

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"invalid parameter {parameter!r}: {problem}")
        self.parameter = parameter


class AudioNotFoundError(CatalogError, LookupError):
    """No such recording, no such leg, or its file is gone."""


# --------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingQuery:
    """A search of the catalog; every filter given must match (AND)."""

    since: float | None = None  # started_at >= since (Unix seconds)
    until: float | None = None  # started_at < until
    call_id: str | None = None  # exact SIP Call-ID of the recording session
    participant: str | None = None  # case-insensitive substring of AOR, E.164 or name
    vendor: str | None = None  # case-insensitive exact
    correlation_id: str | None = None  # any correlation value, case-insensitive exact
    status: str | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise QueryError("limit", f"must be an integer from 1 to {MAX_LIMIT}")
        if self.offset < 0:
            raise QueryError("offset", "must be a non-negative integer")
        if self.status is not None and self.status not in STATUSES:
            raise QueryError("status", f"must be one of {', '.join(STATUSES)}")


@dataclass(frozen=True, slots=True)
class RecordingPage:
    """One page of search results, newest first."""

    recordings: list[dict[str, Any]]
    total: int
    limit: int
    offset: int

    def to_json(self) -> dict[str, Any]:
        return {
            "recordings": self.recordings,
            "total": self.total,
            "limit": self.limit,
            "offset": self.offset,
        }


def parse_time(parameter: str, text: str) -> float:
    """ISO 8601 (UTC unless an offset is given) or Unix seconds."""
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(number):
            raise QueryError(parameter, "must be a finite number")
        return number
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise QueryError(parameter, "expected ISO 8601 or Unix seconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _parse_int(parameter: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise QueryError(parameter, "must be an integer") from None


_TEXT_FILTERS = ("call_id", "participant", "vendor", "correlation_id", "status")


def parse_query(params: Mapping[str, Sequence[str]]) -> RecordingQuery:
    """A :class:`RecordingQuery` from URL query parameters; :class:`QueryError` if bad."""
    values: dict[str, Any] = {}
    for name, given in params.items():
        if len(given) != 1:
            raise QueryError(name, "give it once")
        text = given[0]
        if not text.strip():
            raise QueryError(name, "must not be empty")
        if name in ("since", "until"):
            values[name] = parse_time(name, text)
        elif name in ("limit", "offset"):
            values[name] = _parse_int(name, text)
        elif name in _TEXT_FILTERS:
            values[name] = text.strip()
        else:
            raise QueryError(name, "unknown parameter")
    return RecordingQuery(**values)


# --------------------------------------------------------------------------------------
# session.json -> catalog row
# --------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------
# The store (blocking; one thread)
# --------------------------------------------------------------------------------------


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dump(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str)


class CatalogStore:
    """The SQLite side: schema, upserts and searches. Not thread-safe: one thread only."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / CATALOG_FILE
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise CatalogError(f"cannot open {self.path}: {exc}") from exc
            # The catalog is an index of files on disk: keep the damaged one, start anew.
            aside = self.path.with_name(f"{CATALOG_FILE}.corrupt-{int(time.time())}")
            log.error("catalog %s is unusable (%s); moved to %s", self.path, exc, aside)
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
            self._db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None)  # explicit transactions
        try:
            db.row_factory = sqlite3.Row
            db.create_function("casefold", 1, _casefold, deterministic=True)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            self._migrate(db)
        except BaseException:
            db.close()
            raise
        return db

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise CatalogError(
                f"{self.path} has schema version {version}; this version knows {SCHEMA_VERSION}"
            )
        for number in range(version, SCHEMA_VERSION):
            db.executescript(
                f"BEGIN; {MIGRATIONS[number]}; PRAGMA user_version = {number + 1}; COMMIT;"
            )

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------ writes
    def fingerprints(self, directory: Path) -> dict[tuple[str, int, int], str]:
        """sha256 of the files indexed before in ``directory``, by (path, size, mtime)."""
        rows = self._db.execute(
            "SELECT f.path, f.size, f.mtime_ns, f.sha256 FROM recording_files f"
            " JOIN recordings r ON r.id = f.recording_id"
            " WHERE r.directory = ? AND f.sha256 IS NOT NULL",
            (directory.relative_to(self.data_dir).as_posix(),),
        )
        return {(row["path"], row["size"], row["mtime_ns"]): row["sha256"] for row in rows}

    def expired(self, now: float) -> list[tuple[str, str, float]]:
        """Finished recordings whose policy ``retain`` days have passed since they
        ended: ``(id, directory, days)``. Without a ``retain`` they are kept."""
        rows = self._db.execute(
            "SELECT id, directory, json_extract(details, '$.decision.retain.days') AS days"
            " FROM recordings WHERE status != 'recording' AND days IS NOT NULL"
            " AND COALESCE(ended_at, started_at) + days * 86400.0 < ?",
            (now,),
        )
        return [(row["id"], row["directory"], float(row["days"])) for row in rows]

    def delete(self, recording_id: str, directory: str) -> None:
        """Remove a recording's directory and its rows (retention)."""
        target = (self.data_dir / directory).resolve()
        if self.data_dir.resolve() not in target.parents:
            raise CatalogError(f"{directory!r} is not under the data directory")
        shutil.rmtree(target, ignore_errors=True)
        self._db.execute("DELETE FROM recordings WHERE id = ?", (recording_id,))

    def index_directory(self, directory: Path, *, stale: bool = False) -> IndexedRecording:
        """Read ``directory`` and upsert it (blocking)."""
        known = self.fingerprints(directory)
        recording = read_recording(directory, self.data_dir, known=known, stale=stale)
        self.upsert(recording)
        return recording

    def upsert(self, recording: IndexedRecording) -> None:
        """Insert or replace one recording and its child rows, atomically."""
        db = self._db
        r = recording
        with transaction(db):
            db.execute(
                "INSERT INTO recordings (id, call_id, started_at, ended_at, duration, status,"
                " reason, vendor, participants, facts, streams, details, directory, indexed_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET call_id = excluded.call_id,"
                " started_at = excluded.started_at, ended_at = excluded.ended_at,"
                " duration = excluded.duration, status = excluded.status,"
                " reason = excluded.reason, vendor = excluded.vendor,"
                " participants = excluded.participants, facts = excluded.facts,"
                " streams = excluded.streams, details = excluded.details,"
                " directory = excluded.directory, indexed_at = excluded.indexed_at",
                (
                    r.id, r.call_id, r.started_at, r.ended_at, r.duration, r.status, r.reason,
                    r.vendor, _dump(r.participants), _dump(r.facts), _dump(r.streams),
                    _dump(r.details), r.directory, time.time(),
                ),
            )  # fmt: skip
            for table in ("recording_files", "participants", "correlation_ids"):
                db.execute(f"DELETE FROM {table} WHERE recording_id = ?", (r.id,))
            db.executemany(
                "INSERT INTO recording_files (recording_id, stream_index, label, path, format,"
                " sample_rate, channels, size, sha256, duration, mtime_ns)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (r.id, f.stream_index, f.label, f.path, f.format, f.sample_rate, f.channels,
                     f.size, f.sha256, f.duration, f.mtime_ns)
                    for f in r.files
                ],
            )  # fmt: skip
            db.executemany(
                "INSERT INTO participants (recording_id, position, aor, name, e164, role)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (r.id, n, p["aor"], p["name"], p["e164"], p["role"])
                    for n, p in enumerate(r.participants)
                ],
            )
            db.executemany(
                "INSERT OR IGNORE INTO correlation_ids (recording_id, key, value) VALUES (?, ?, ?)",
                [(r.id, key, value) for key, value in r.correlation],
            )

    def rebuild_plan(self) -> list[tuple[Path, bool]]:
        """Directories to (re)index at start-up: unknown ones, and ones left ``recording``."""
        known = {row[0] for row in self._db.execute("SELECT directory FROM recordings")}
        stale = {
            row[0]
            for row in self._db.execute(
                "SELECT directory FROM recordings WHERE status = ?", ("recording",)
            )
        }
        plan: list[tuple[Path, bool]] = []
        for document in sorted((self.data_dir / "recordings").glob(f"*/*/{SESSION_FILE}")):
            relative = document.parent.relative_to(self.data_dir).as_posix()
            if relative not in known or relative in stale:
                plan.append((document.parent, True))
        return plan

    # ------------------------------------------------------------ reads
    def search(self, query: RecordingQuery) -> RecordingPage:
        where, params = _where(query)
        total = int(
            self._db.execute(f"SELECT count(*) FROM recordings r {where}", params).fetchone()[0]
        )
        rows = self._db.execute(
            f"SELECT r.*, (SELECT count(*) FROM recording_files f WHERE f.recording_id = r.id)"
            f" AS file_count FROM recordings r {where}"
            " ORDER BY r.started_at DESC, r.id LIMIT ? OFFSET ?",
            [*params, query.limit, query.offset],
        ).fetchall()
        return RecordingPage([_summary(row) for row in rows], total, query.limit, query.offset)

    def get(self, recording_id: str) -> dict[str, Any] | None:
        """Everything about one recording, or None."""
        row = self._db.execute("SELECT * FROM recordings WHERE id = ?", (recording_id,)).fetchone()
        if row is None:
            return None
        body = _summary(row)
        files = self._files(recording_id)
        body["file_count"] = len(files)
        body["files"] = files
        body["facts"] = json.loads(row["facts"])
        body["streams"] = json.loads(row["streams"])
        body["details"] = json.loads(row["details"])
        body["directory"] = row["directory"]
        body["correlation_ids"] = [
            {"key": c["key"], "value": c["value"]}
            for c in self._db.execute(
                "SELECT key, value FROM correlation_ids WHERE recording_id = ? ORDER BY key, value",
                (recording_id,),
            )
        ]
        return body

    def _files(self, recording_id: str) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT stream_index, label, path, format, sample_rate, channels, size, sha256,"
            " duration FROM recording_files WHERE recording_id = ? ORDER BY stream_index",
            (recording_id,),
        )
        return [dict(row) for row in rows]

    def audio(self, recording_id: str, leg: str | None) -> AudioFile:
        """The file to play for ``leg`` (a label, else a stream index, or ``combined``).

        Default: the combined file when the recording has one, else the first stream's.
        """
        files = self._files(recording_id)
        if not files:
            if self._db.execute(
                "SELECT 1 FROM recordings WHERE id = ?", (recording_id,)
            ).fetchone():
                raise AudioNotFoundError(f"recording {recording_id!r} has no audio file")
            raise AudioNotFoundError(f"no recording {recording_id!r}")
        combined = [f for f in files if f["stream_index"] == COMBINED_INDEX]
        streams = [f for f in files if f["stream_index"] != COMBINED_INDEX]
        chosen = (combined or files)[0]
        if leg is not None:
            by_label = [f for f in streams if f["label"] == leg]
            by_index = [f for f in streams if leg.isdigit() and f["stream_index"] == int(leg)]
            if leg == COMBINED_LABEL and not by_label:
                by_label = combined
            if not by_label and not by_index:
                legs = ", ".join(str(f["label"] or f["stream_index"]) for f in files)
                raise AudioNotFoundError(f"recording {recording_id!r} has no leg {leg!r} ({legs})")
            chosen = (by_label or by_index)[0]
        return self._checked(recording_id, chosen)

    def _checked(self, recording_id: str, entry: dict[str, Any]) -> AudioFile:
        root = self.data_dir.resolve()
        path = (root / entry["path"]).resolve()
        if not path.is_relative_to(root / "recordings"):  # a tampered catalog row
            log.error("recording %s: refusing file %r outside the data dir", recording_id, path)
            raise AudioNotFoundError(f"recording {recording_id!r}: audio file unavailable")
        return AudioFile(
            recording_id=recording_id,
            path=path,
            stream_index=int(entry["stream_index"]),
            label=entry["label"],
            sha256=entry["sha256"],
            in_progress=path.with_name(path.name + MARKER_SUFFIX).exists(),
        )


def _casefold(value: object) -> str | None:
    return value.casefold() if isinstance(value, str) else None


def _where(query: RecordingQuery) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if query.since is not None:
        clauses.append("r.started_at >= ?")
        params.append(query.since)
    if query.until is not None:
        clauses.append("r.started_at < ?")
        params.append(query.until)
    if query.call_id is not None:
        clauses.append("r.call_id = ?")
        params.append(query.call_id)
    if query.vendor is not None:
        clauses.append("casefold(r.vendor) = ?")
        params.append(query.vendor.casefold())
    if query.status is not None:
        clauses.append("r.status = ?")
        params.append(query.status)
    if query.participant is not None:
        clauses.append(
            "EXISTS (SELECT 1 FROM participants p WHERE p.recording_id = r.id AND ("
            "instr(casefold(p.aor), ?) OR instr(casefold(p.e164), ?)"
            " OR instr(casefold(p.name), ?)))"
        )
        params += [query.participant.casefold()] * 3
    if query.correlation_id is not None:
        clauses.append(
            "EXISTS (SELECT 1 FROM correlation_ids c WHERE c.recording_id = r.id AND c.value = ?)"
        )
        params.append(query.correlation_id)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def _summary(row: sqlite3.Row) -> dict[str, Any]:
    keys = row.keys()
    return {
        "id": row["id"],
        "call_id": row["call_id"],
        "status": row["status"],
        "reason": row["reason"],
        "vendor": row["vendor"],
        "started_at": _iso(row["started_at"]),
        "started_at_unix": row["started_at"],
        "ended_at": _iso(row["ended_at"]),
        "ended_at_unix": row["ended_at"],
        "duration": row["duration"],
        "participants": json.loads(row["participants"]),
        "file_count": row["file_count"] if "file_count" in keys else None,
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioFile:
    """A recording's audio file, its path checked to lie under ``data_dir/recordings``."""

    recording_id: str
    path: Path
    stream_index: int
    label: str | None
    sha256: str | None
    in_progress: bool = False


# --------------------------------------------------------------------------------------
# The asyncio face
# --------------------------------------------------------------------------------------


class Catalog(StoreThread[CatalogStore]):
    """The catalog for the event loop: every call runs in the catalog's own thread."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__("the catalog", "catalog", CatalogError)
        self.data_dir = data_dir

    @classmethod
    async def open(cls, data_dir: Path) -> Catalog:
        """Open (or create, or migrate) ``{data_dir}/catalog.sqlite3``."""
        catalog = cls(data_dir)
        await catalog.start(catalog._open)
        return catalog

    def _open(self) -> CatalogStore:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return CatalogStore(self.data_dir)

    async def index(self, directory: Path, *, stale: bool = False) -> IndexedRecording:
        """(Re)index one recording directory."""
        return await self.run_blocking(lambda: self.store.index_directory(directory, stale=stale))

    async def index_logged(self, directory: Path, *, stale: bool = False) -> None:
        """:meth:`index`, logging instead of raising (for fire-and-forget callers)."""
        try:
            recording = await self.index(directory, stale=stale)
        except Exception as exc:
            log.error("cannot index %s: %s", directory, exc)
        else:
            log.debug("indexed %s (%s)", recording.id, recording.status)

    async def rebuild(self) -> int:
        """Index every ``session.json`` the catalog lacks; returns how many."""
        plan = await self.rebuild_plan()
        await self.index_all(plan)
        return len(plan)

    async def rebuild_plan(self) -> list[tuple[Path, bool]]:
        """What :meth:`rebuild` would index: call it before any new recording starts."""
        return await self.run_blocking(self.store.rebuild_plan)

    async def index_all(self, plan: Sequence[tuple[Path, bool]]) -> None:
        """Index each ``(directory, stale)``, one job each so that API reads interleave."""
        for directory, stale in plan:
            await self.index_logged(directory, stale=stale)
        if plan:
            log.info("catalog: indexed %d recordings found on disk", len(plan))

    async def search(self, query: RecordingQuery) -> RecordingPage:
        return await self.run_blocking(lambda: self.store.search(query))

    async def get(self, recording_id: str) -> dict[str, Any] | None:
        return await self.run_blocking(lambda: self.store.get(recording_id))

    async def audio(self, recording_id: str, leg: str | None) -> AudioFile:
        return await self.run_blocking(lambda: self.store.audio(recording_id, leg))

    async def expired(self, now: float) -> list[tuple[str, str, float]]:
        return await self.run_blocking(lambda: self.store.expired(now))

    async def delete(self, recording_id: str, directory: str) -> None:
        await self.run_blocking(lambda: self.store.delete(recording_id, directory))

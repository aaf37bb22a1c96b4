"""The recordings catalog: indexing session.json files, searching, rebuilding."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from siprec_appliance.appliance import catalog_index
from siprec_appliance.appliance.catalog import (
    CATALOG_FILE,
    SCHEMA_VERSION,
    AudioNotFoundError,
    Catalog,
    CatalogError,
    CatalogStore,
    QueryError,
    RecordingQuery,
    parse_query,
)
from support.catalog_data import participant, sha256, write_recording

ALICE = participant("sip:alice@example.com", name="Alice Müller", e164="+14155550100")
BOB = participant("sip:bob@example.com", name="Bob")
UCID = "00112238841573563457"
CAROL = participant("sip:carol@other.example.org", e164="+442071838750")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def store(data_dir: Path) -> Iterator[CatalogStore]:
    data_dir.mkdir()
    opened = CatalogStore(data_dir)
    try:
        yield opened
    finally:
        opened.close()


def ids(store: CatalogStore, **filters: object) -> list[str]:
    page = store.search(RecordingQuery(**filters))  # type: ignore[arg-type]
    return [r["id"] for r in page.recordings]


@pytest.fixture
def three(store: CatalogStore, data_dir: Path) -> CatalogStore:
    """Three recordings an hour apart: a (Avaya), b (Genesys), c (Cisco, interrupted)."""
    base = 1_714_557_600.0
    write_recording(
        data_dir, "a", started_at=base, participants=[ALICE, BOB], call_id="call-a",
        facts={"vendor": "avaya", "ucid": UCID, "avaya.ucid": UCID},
    )  # fmt: skip
    write_recording(
        data_dir, "b", started_at=base + 3600, participants=[BOB, CAROL], call_id="call-b",
        facts={"vendor": "genesys", "genesys.uuid": "4BOKLLA3VH66JF112M1CC9VHKS14F0KP",
               "sip_session_ids": ["ab12;remote=cd34", "ef56"]},
    )  # fmt: skip
    write_recording(
        data_dir, "c", started_at=base + 7200, participants=[CAROL], call_id="call-c",
        facts={"vendor": "cisco", "cisco.session_id": "a0b9b2a1e4db51f082e777c0df9015e5"},
        state="interrupted", extra={"recovered": {"at": base + 9000, "files": [{}, {}]}},
    )  # fmt: skip
    for name in "abc":
        store.index_directory(data_dir / "recordings" / "2024-05-01" / name)
    return store


# --- indexing -------------------------------------------------------------------------


def test_index_stores_everything(store: CatalogStore, data_dir: Path) -> None:
    directory = write_recording(
        data_dir, "s1", participants=[ALICE, BOB], seconds=0.5, facts={"icid": "BW115"}
    )
    store.index_directory(directory)
    body = store.get("s1")
    assert body is not None
    assert body["status"] == "complete"
    assert body["reason"] == "BYE from the SRC"
    assert body["call_id"] == "s1@src"
    assert body["started_at"] == "2024-05-01T10:00:00.000Z"
    assert body["duration"] == 0.5
    assert body["directory"] == "recordings/2024-05-01/s1"
    assert [p["aor"] for p in body["participants"]] == [ALICE["aor"], BOB["aor"]]
    assert body["participants"][0]["e164"] == "+14155550100"
    assert body["facts"]["icid"] == "BW115"
    assert body["streams"][0]["dtmf"] == [{"digit": "5", "at": 0.1}]
    assert body["details"]["src_address"] == "192.0.2.1:5060"
    files = body["files"]
    assert [f["label"] for f in files] == ["1", "2"]
    for entry in files:
        data = (data_dir / entry["path"]).read_bytes()
        assert entry["sha256"] == sha256(data)
        assert entry["size"] == len(data)
        assert (entry["sample_rate"], entry["channels"], entry["format"]) == (8000, 1, "wav")
        assert entry["duration"] == 0.5
    correlation = {(c["key"], c["value"]) for c in body["correlation_ids"]}
    assert correlation == {("call_id", "s1@src"), ("icid", "BW115")}


def test_reindex_is_an_idempotent_upsert(
    store: CatalogStore, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = write_recording(data_dir, "s1", participants=[ALICE], facts={"ucid": "U1"})
    store.index_directory(directory)
    first = store.get("s1")
    hashed: list[Path] = []
    real = catalog_index._sha256
    monkeypatch.setattr(catalog_index, "_sha256", lambda p: hashed.append(p) or real(p))
    store.index_directory(directory)
    store.index_directory(directory)
    assert hashed == [], "unchanged files are not hashed again"
    second = store.get("s1")
    assert second == first
    counts = [
        store._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("recordings", "recording_files", "participants", "correlation_ids")
    ]
    assert counts == [1, 2, 1, 2]


def test_recording_then_completed_updates_the_row(store: CatalogStore, data_dir: Path) -> None:
    directory = write_recording(data_dir, "s1", state="recording")
    store.index_directory(directory)
    body = store.get("s1")
    assert body is not None
    assert (body["status"], body["ended_at"]) == ("recording", None)
    assert all(f["sha256"] is None for f in body["files"]), "not hashed while written"
    write_recording(data_dir, "s1", state="completed")
    store.index_directory(directory)
    body = store.get("s1")
    assert body is not None and body["status"] == "complete"
    assert all(f["sha256"] for f in body["files"])


def test_stale_recording_state_is_interrupted(store: CatalogStore, data_dir: Path) -> None:
    directory = write_recording(data_dir, "s1", state="recording", seconds=1.0)
    store.index_directory(directory, stale=True)
    body = store.get("s1")
    assert body is not None
    assert body["status"] == "interrupted"
    assert body["reason"] == "the appliance stopped while recording"
    assert body["duration"] == 1.0, "ended_at from the longest file"


def test_recovered_document_is_interrupted(three: CatalogStore) -> None:
    body = three.get("c")
    assert body is not None
    assert body["status"] == "interrupted"
    assert body["reason"] == "recovered after a crash (2 files repaired)"
    assert body["details"]["recovered"]["at"] == 1_714_557_600.0 + 9000


def test_missing_files_are_failed(store: CatalogStore, data_dir: Path) -> None:
    directory = write_recording(data_dir, "s1")
    (directory / "stream-1-2.wav").unlink()
    store.index_directory(directory)
    body = store.get("s1")
    assert body is not None
    assert (body["status"], body["reason"]) == ("failed", "missing audio files: stream-1-2.wav")


def test_no_audio_written_is_failed(store: CatalogStore, data_dir: Path) -> None:
    store.index_directory(write_recording(data_dir, "s1", labels=()))
    body = store.get("s1")
    assert body is not None
    assert (body["status"], body["reason"]) == ("failed", "no streams")


def test_unreadable_session_json_is_failed(store: CatalogStore, data_dir: Path) -> None:
    directory = write_recording(data_dir, "broken")
    (directory / "session.json").write_text("{not json")
    store.index_directory(directory)
    body = store.get("broken")
    assert body is not None
    assert body["status"] == "failed"
    assert body["reason"].startswith("unreadable session.json")


def test_hostile_document_values(store: CatalogStore, data_dir: Path) -> None:
    directory = write_recording(data_dir, "s1")
    document = json.loads((directory / "session.json").read_text())
    document["streams"][0]["file"] = "../../../../etc/passwd"
    document["streams"][1]["index"] = "one"
    document["session"]["started_at"] = "yesterday"
    document["session"]["facts"] = {"vendor": 7, "participants": "x", "ucid": ["a" * 600, 3]}
    (directory / "session.json").write_text(json.dumps(document))
    store.index_directory(directory)
    body = store.get("s1")
    assert body is not None
    assert body["files"] == []
    assert body["status"] == "failed"
    assert (body["started_at"], body["vendor"]) == (None, None)
    assert [c["key"] for c in body["correlation_ids"]] == ["call_id"]


# --- searching ------------------------------------------------------------------------


def test_newest_first_and_total(three: CatalogStore) -> None:
    page = three.search(RecordingQuery())
    assert [r["id"] for r in page.recordings] == ["c", "b", "a"]
    assert (page.total, page.limit, page.offset) == (3, 50, 0)
    assert page.recordings[0]["file_count"] == 2


def test_pagination(three: CatalogStore) -> None:
    page = three.search(RecordingQuery(limit=2, offset=1))
    assert [r["id"] for r in page.recordings] == ["b", "a"]
    assert page.total == 3
    assert three.search(RecordingQuery(limit=2, offset=5)).recordings == []


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"since": 1_714_557_600.0 + 3600}, ["c", "b"]),
        ({"until": 1_714_557_600.0 + 3600}, ["a"]),
        ({"since": 1_714_557_600.0 + 1, "until": 1_714_557_600.0 + 7200}, ["b"]),
        ({"call_id": "call-b"}, ["b"]),
        ({"call_id": "call"}, []),
        ({"participant": "BOB@EXAMPLE"}, ["b", "a"]),
        ({"participant": "other.example"}, ["c", "b"]),
        ({"participant": "4155550100"}, ["a"]),
        ({"participant": "+44207"}, ["c", "b"]),
        ({"participant": "müller"}, ["a"]),
        ({"participant": "MÜLLER"}, ["a"]),
        ({"participant": "%"}, []),
        ({"vendor": "AVAYA"}, ["a"]),
        ({"vendor": "ava"}, []),
        ({"correlation_id": "00112238841573563457"}, ["a"]),
        ({"correlation_id": "4boklla3vh66jf112m1cc9vhks14f0kp"}, ["b"]),
        ({"correlation_id": "ef56"}, ["b"]),
        ({"correlation_id": "a0b9b2a1e4db51f082e777c0df9015e5"}, ["c"]),
        ({"correlation_id": "call-c"}, ["c"]),
        ({"correlation_id": "0011223884"}, []),
        ({"status": "interrupted"}, ["c"]),
        ({"status": "complete"}, ["b", "a"]),
        ({"status": "complete", "participant": "carol"}, ["b"]),
    ],
)
def test_filters(three: CatalogStore, filters: dict[str, object], expected: list[str]) -> None:
    assert ids(three, **filters) == expected


def test_parse_query_accepts_iso_and_unix() -> None:
    query = parse_query(
        {
            "since": ["2024-05-01T10:00:00Z"],
            "until": ["1714568400"],
            "participant": [" alice "],
            "limit": ["500"],
            "offset": ["3"],
        }
    )
    assert query.since == 1_714_557_600.0
    assert query.until == 1_714_568_400.0
    assert query.participant == "alice"
    assert (query.limit, query.offset) == (500, 3)
    assert parse_query({"since": ["2024-05-01"]}).since == 1_714_521_600.0, "naive is UTC"
    assert parse_query({"since": ["2024-05-01T12:00:00+02:00"]}).since == 1_714_557_600.0


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"limit": ["0"]}, "limit"),
        ({"limit": ["501"]}, "limit"),
        ({"limit": ["ten"]}, "limit"),
        ({"limit": [""]}, "limit"),
        ({"offset": ["-1"]}, "offset"),
        ({"since": ["yesterday"]}, "since"),
        ({"until": ["nan"]}, "until"),
        ({"status": ["done"]}, "status"),
        ({"participant": ["a", "b"]}, "participant"),
        ({"participants": ["a"]}, "participants"),
    ],
)
def test_parse_query_names_the_bad_parameter(params: dict[str, list[str]], parameter: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(params)
    assert caught.value.parameter == parameter
    assert str(caught.value).startswith(f"invalid parameter {parameter!r}: ")


# --- audio ----------------------------------------------------------------------------


def test_audio_default_label_and_index(three: CatalogStore, data_dir: Path) -> None:
    default = three.audio("a", None)
    assert (default.stream_index, default.label) == (0, "1")
    assert default.path == (data_dir / "recordings/2024-05-01/a/stream-0-1.wav").resolve()
    assert default.sha256 == sha256(default.path.read_bytes())
    assert three.audio("a", "2").stream_index == 1
    assert three.audio("a", "1").stream_index == 0, "a label before an index"


def test_audio_errors(three: CatalogStore) -> None:
    with pytest.raises(AudioNotFoundError, match="no recording 'zz'"):
        three.audio("zz", None)
    with pytest.raises(AudioNotFoundError, match=r"has no leg '7' \(1, 2\)"):
        three.audio("a", "7")


def test_audio_path_outside_data_dir_is_refused(three: CatalogStore) -> None:
    three._db.execute(
        "UPDATE recording_files SET path = '../../etc/passwd' WHERE recording_id = 'a'"
    )
    with pytest.raises(AudioNotFoundError, match="unavailable"):
        three.audio("a", None)


# --- the database ---------------------------------------------------------------------


def test_schema_version_and_wal(three: CatalogStore, data_dir: Path) -> None:
    db = sqlite3.connect(data_dir / CATALOG_FILE)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        db.close()


def test_newer_schema_is_refused(data_dir: Path) -> None:
    data_dir.mkdir()
    db = sqlite3.connect(data_dir / CATALOG_FILE)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(CatalogError, match="schema version"):
        CatalogStore(data_dir)


def test_corrupt_catalog_is_set_aside_and_rebuilt(data_dir: Path) -> None:
    write_recording(data_dir, "s1")
    (data_dir / CATALOG_FILE).write_bytes(b"this is not a database" * 100)
    store = CatalogStore(data_dir)
    try:
        assert [p for p in store.rebuild_plan()] == [(data_dir / "recordings/2024-05-01/s1", True)]
    finally:
        store.close()
    assert list(data_dir.glob(f"{CATALOG_FILE}.corrupt-*"))


def test_rebuild_from_disk(data_dir: Path) -> None:
    write_recording(data_dir, "a", participants=[ALICE])
    write_recording(data_dir, "b", day="2024-05-02", started_at=1_714_644_000.0)
    write_recording(data_dir, "live", state="recording", started_at=1_714_650_000.0)

    async def scenario() -> tuple[int, int, list[str], str]:
        catalog = await Catalog.open(data_dir)
        try:
            first = await catalog.rebuild()
            again = await catalog.rebuild()
            page = await catalog.search(RecordingQuery(participant="alice"))
            live = await catalog.get("live")
            assert live is not None
            return first, again, [r["id"] for r in page.recordings], live["status"]
        finally:
            await catalog.close()

    assert asyncio.run(scenario()) == (3, 0, ["a"], "interrupted")
    (data_dir / CATALOG_FILE).unlink()
    for suffix in ("-wal", "-shm"):
        Path(str(data_dir / CATALOG_FILE) + suffix).unlink(missing_ok=True)
    assert asyncio.run(scenario())[0] == 3, "the catalog is rebuilt from disk"


def test_closed_catalog_refuses_work(data_dir: Path) -> None:
    async def scenario() -> None:
        catalog = await Catalog.open(data_dir)
        await catalog.close()
        await catalog.close()
        with pytest.raises(CatalogError, match="closed"):
            await catalog.search(RecordingQuery())

    asyncio.run(scenario())


def test_retention_deletes_only_recordings_whose_retain_days_passed(
    store: CatalogStore, data_dir: Path
) -> None:
    """A rule's ``retain: {days: N}`` is stored with the decision; once N days have
    passed since the call ended, the recording's directory and rows go. Recordings
    without a retain, or still within it, stay."""
    day = 86400.0
    base = 1_714_557_600.0

    def decision(days: float | None) -> dict[str, object]:
        retain = None if days is None else {"days": days, "rule": "r"}
        return {"decision": {"record": {"on": True}, "retain": retain}}

    for name, days in (("short", 1.0), ("long", 3650.0), ("forever", None)):
        directory = write_recording(data_dir, name, started_at=base, extra=decision(days))
        store.index_directory(directory)
    assert store.expired(base + 0.5 * day) == []
    expired = store.expired(base + 2 * day)
    assert [(rid, days) for rid, _, days in expired] == [("short", 1.0)]
    store.delete(*expired[0][:2])
    assert not (data_dir / "recordings" / "2024-05-01" / "short").exists()
    assert sorted(ids(store)) == ["forever", "long"]
    assert store.get("short") is None
    with pytest.raises(CatalogError):
        store.delete("long", "../outside")

"""The SQLite store: opening and migrating, deny/allow lists, the call-record writer."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable, Iterator

import pytest
import sqlite_utils

from callshield.errors import ListError, StoreError
from callshield.screening.lists import ListSnapshot
from callshield.read.numbers import NumberIntel
from callshield.screening.screener import Screener, Screening
from callshield.read.signal import CallSignal
from callshield.store import SCHEMA_VERSION, open_store
from callshield.store import audit as audit_store
from callshield.store import calls as call_store
from callshield.store import db as store_db
from callshield.store import lists as list_store
from callshield.store import writer as writer_module
from callshield.store.writer import CallWriter

GB_CALLER = "+442079460000"
US_CALLER = "+12025550143"
TABLES = {"schema_migrations", "calls", "lists", "audit", "meta", "outcomes", "dnc",
          "numbers", "plans", "plan_routes", "overrides", "staff", "pin_failures",
          "destination_state", "destination_events", "drill_requests"}

Call = Callable[..., CallSignal]


@pytest.fixture
def file_store(db_path: Path) -> Iterator[sqlite_utils.Database]:
    store = open_store(db_path)
    yield store
    store.close()


def test_memory_store_is_migrated(db: sqlite_utils.Database) -> None:
    assert set(db.table_names()) == TABLES
    assert [r["version"] for r in db["schema_migrations"].rows] == list(range(1, SCHEMA_VERSION + 1))
    assert store_db.schema_version(db) == SCHEMA_VERSION
    assert list_store.version(db) == 0


def test_file_store_is_created_with_its_directory_in_wal_mode(file_store: sqlite_utils.Database, db_path: Path) -> None:
    assert db_path.exists()
    assert file_store.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert set(file_store.table_names()) == TABLES


def test_reopening_does_not_migrate_again(db_path: Path) -> None:
    open_store(db_path).close()

    store = open_store(db_path)

    assert store["schema_migrations"].count == SCHEMA_VERSION
    store.close()


def test_store_from_a_newer_callshield_is_refused(db_path: Path) -> None:
    store = open_store(db_path)
    store["schema_migrations"].insert({"version": SCHEMA_VERSION + 1, "applied_at": 0.0})
    store.close()

    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, newer than this callshield \\({SCHEMA_VERSION}\\); upgrade"):
        open_store(db_path)


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 100)

    with pytest.raises(StoreError, match=f"^cannot open the store at {path}: file is not a database \\(is it a callshield SQLite file\\?\\)$"):
        open_store(path)


def test_a_path_that_cannot_be_created_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")

    with pytest.raises(StoreError, match="^cannot create the store at "):
        open_store(tmp_path / "file" / "callshield.db")


def test_a_failed_migration_leaves_nothing_behind(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(db: sqlite_utils.Database) -> None:
        db["half_done"].create({"x": int})
        raise RuntimeError("migration bug")

    open_store(db_path).close()
    monkeypatch.setattr(store_db, "MIGRATIONS", (*store_db.MIGRATIONS, broken))
    monkeypatch.setattr(store_db, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(RuntimeError):
        open_store(db_path)

    store = sqlite_utils.Database(db_path)
    version, tables = store_db.schema_version(store), store.table_names()
    store.close()
    assert version == SCHEMA_VERSION
    assert "half_done" not in tables


# --- deny and allow lists ---------------------------------------------------------------


def test_add_normalises_shows_and_snapshots(db: sqlite_utils.Database, intel: NumberIntel) -> None:
    assert list_store.add(db, intel, "deny", "020 7946 0000", reason="fraud", actor="alice") == GB_CALLER
    assert list_store.add(db, intel, "allow", US_CALLER) == US_CALLER

    rows = list_store.show(db, "deny")
    assert [(r["number"], r["reason"], r["added_by"]) for r in rows] == [(GB_CALLER, "fraud", "alice")]
    assert list_store.snapshot(db) == ListSnapshot(allow={US_CALLER: ""}, deny={GB_CALLER: "fraud"}, version=2)


def test_adding_again_updates_the_reason(db: sqlite_utils.Database, intel: NumberIntel) -> None:
    list_store.add(db, intel, "deny", GB_CALLER, reason="first")
    list_store.add(db, intel, "deny", GB_CALLER, reason="second")

    assert [r["reason"] for r in list_store.show(db, "deny")] == ["second"]


def test_every_change_bumps_the_version_and_is_audited(db: sqlite_utils.Database, intel: NumberIntel) -> None:
    list_store.add(db, intel, "deny", GB_CALLER, reason="fraud", actor="alice")
    assert list_store.version(db) == 1

    assert list_store.remove(db, intel, "deny", "02079460000", actor="bob") == GB_CALLER

    assert list_store.version(db) == 2
    assert list_store.show(db, "deny") == []
    entries = [(e["actor"], e["action"], e["target"], json.loads(e["detail"])) for e in audit_store.recent(db)]
    assert entries == [("bob", "lists.deny.remove", GB_CALLER, {}), ("alice", "lists.deny.add", GB_CALLER, {"reason": "fraud"})]


@pytest.mark.parametrize("number", ["abc", "", "+", "7", "(020) 7946 0000", "020.7946.0000", "+44 20 7946 0000 ext 1"])
def test_bad_number_is_a_list_error(db: sqlite_utils.Database, intel: NumberIntel, number: str) -> None:
    with pytest.raises(ListError, match=r"is not a phone number \(digits with an optional leading \+, e\.g\. \+442071234567\)$"):
        list_store.add(db, intel, "deny", number)

    assert list_store.version(db) == 0


def test_removing_a_number_not_on_the_list_is_a_list_error(db: sqlite_utils.Database, intel: NumberIntel) -> None:
    list_store.add(db, intel, "allow", GB_CALLER)

    with pytest.raises(ListError, match=f"^{re.escape(GB_CALLER)} is not on the deny list$"):
        list_store.remove(db, intel, "deny", GB_CALLER)

    assert list_store.version(db) == 1
    assert [e["action"] for e in audit_store.recent(db)] == ["lists.allow.add"]


@pytest.mark.parametrize("operation", ["add", "remove", "show"])
def test_unknown_list_is_a_list_error(db: sqlite_utils.Database, intel: NumberIntel, operation: str) -> None:
    call = {"add": lambda: list_store.add(db, intel, "grey", GB_CALLER), "remove": lambda: list_store.remove(db, intel, "grey", GB_CALLER),
            "show": lambda: list_store.show(db, "grey")}[operation]

    with pytest.raises(ListError, match=r"^unknown list 'grey' \(lists: allow, deny\)$"):
        call()


# --- call records and the writer ----------------------------------------------------------


@pytest.fixture
def screened(screener: Screener, call: Call) -> Callable[..., Screening]:
    def screen(at: float = 0.0, **fields: object) -> Screening:
        return screener.screen(call(at=at, **fields))

    return screen


@pytest.fixture
def writer(file_store: sqlite_utils.Database, db_path: Path) -> Iterator[CallWriter]:
    w = CallWriter(db_path, batch_size=2, flush_interval=0.02).start()
    yield w
    w.close()


def test_call_record_round_trips_through_the_store(db: sqlite_utils.Database, screened: Callable[..., Screening]) -> None:
    screening = screened(caller_number=US_CALLER, uniqueid="1795000000.1", channel="PJSIP/carrier-00000001")

    db["calls"].insert(call_store.call_record(screening, {"read_ms": 1.5}), pk="id")
    row = call_store.get(db, "call-1")

    assert row is not None
    assert (row["ts"], row["dialled"], row["caller_key"], row["caller_number"], row["withheld"]) == (
        screening.signal.timestamp, "+442071234567", US_CALLER, US_CALLER, 0)
    assert (row["score"], row["status"], row["route_action"], row["scorer"]) == (20, "SAFE", "deliver", "rules")
    assert (row["uniqueid"], row["channel"]) == ("1795000000.1", "PJSIP/carrier-00000001")
    assert json.loads(row["reasons"]) == [{"code": "INTERNATIONAL", "points": 20, "detail": "caller in US, dialled number in GB"}]
    assert CallSignal.from_dict(json.loads(row["signal"])) == screening.signal
    features = json.loads(row["features"])
    assert (features["caller_region"], features["international"], features["velocity_caller_to_dialled"]) == ("US", True, 0)
    assert json.loads(row["timings"])["read_ms"] == 1.5


def test_get_of_an_unknown_call_is_none(db: sqlite_utils.Database) -> None:
    assert call_store.get(db, "nope") is None


def test_memory_since_is_oldest_first_and_excludes_since(db: sqlite_utils.Database, screened: Callable[..., Screening]) -> None:
    records = [call_store.call_record(screened(at=t, **fields)) for t, fields in
               [(300, {"caller_number": GB_CALLER}), (100, {"caller_number": US_CALLER}), (200, {"presentation": "prohib"}), (50, {})]]
    records[0].update(route_action="divert", route="PJSIP/fraudteam")
    db["calls"].insert_all(records, pk="id")
    t0 = records[0]["ts"] - 300

    calls = list(call_store.memory_since(db, t0 + 100))

    assert [(k.timestamp, k.number, k.dialled, k.withheld, divert) for k, divert in calls] == [
        (t0 + 200, None, "+442071234567", True, ""),
        (t0 + 300, GB_CALLER, "+442071234567", False, "PJSIP/fraudteam"),
    ]
    assert calls[1][0].profile == records[0]["caller_profile"] and calls[1][0].trait == json.loads(records[0]["features"])["trait"]


def test_writer_writes_batches(writer: CallWriter, file_store: sqlite_utils.Database, screened: Callable[..., Screening]) -> None:
    for i in range(5):
        writer.submit(call_store.call_record(screened(at=i, caller_number=GB_CALLER)))

    assert writer.flush(timeout=5)

    assert (writer.written, writer.spilled) == (5, 0)
    assert [r["id"] for r in file_store.query("SELECT id FROM calls ORDER BY ts")] == [f"call-{n}" for n in range(1, 6)]


def test_writer_writes_what_was_queued_before_close(writer: CallWriter, db_path: Path, screened: Callable[..., Screening]) -> None:
    for i in range(3):
        writer.submit(call_store.call_record(screened(at=i)))

    writer.close()
    writer.close()

    assert not writer.alive
    store = open_store(db_path)
    assert store["calls"].count == 3
    store.close()


def test_writer_replaces_a_record_with_the_same_id(writer: CallWriter, file_store: sqlite_utils.Database,
                                                   screened: Callable[..., Screening]) -> None:
    record = call_store.call_record(screened())
    writer.submit(record)
    writer.submit({**record, "status": "HIGH_RISK"})

    assert writer.flush(timeout=5)

    assert [r["status"] for r in file_store["calls"].rows] == ["HIGH_RISK"]


def test_writer_spills_records_the_store_refuses(writer: CallWriter, db_path: Path, caplog: pytest.LogCaptureFixture,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_module, "RETRIES", 1)  # an unknown column is an OperationalError: retried with back-off
    writer.submit({"id": "x", "no_such_column": 1})

    assert writer.flush(timeout=5)

    assert (writer.written, writer.spilled) == (0, 1)
    spill = Path(f"{db_path}.unwritten.jsonl")
    assert [json.loads(line) for line in spill.read_text().splitlines()] == [{"id": "x", "no_such_column": 1}]
    assert f"kept 1 call records in {spill} (the store refused them)" in caplog.text



def test_a_locked_store_is_a_clear_error_and_changes_nothing(db_path) -> None:
    import sqlite3

    from callshield.errors import StoreError
    from callshield.store.db import transaction

    store = open_store(db_path)
    store.execute("PRAGMA busy_timeout = 50")
    holder = sqlite3.connect(str(db_path))
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="busy or cannot be written"):
            with transaction(store):
                store.execute("UPDATE meta SET value = '9' WHERE key = 'lists_version'")
    finally:
        holder.rollback()
        holder.close()
    assert list_store.version(store) == 0
    with transaction(store):  # and the connection is usable again
        store.execute("UPDATE meta SET value = '1' WHERE key = 'lists_version'")
    assert list_store.version(store) == 1
    store.close()

"""Open the store, switch on WAL, and bring the schema up to date.

Migrations are numbered functions applied in order inside one transaction each; the
applied versions are recorded in ``schema_migrations``. Add one, never edit one.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import sqlite_utils

from callshield.errors import StoreError


def _v1(db: sqlite_utils.Database) -> None:
    db["calls"].create(
        {
            "id": str,
            "ts": float,
            "uniqueid": str,
            "channel": str,
            "dialled": str,
            "caller_key": str,
            "caller_number": str,
            "withheld": int,
            "score": int,
            "status": str,
            "reasons": str,
            "attestation": str,
            "spoof_status": str,
            "spoof_verified": int,
            "route_action": str,
            "route": str,
            "route_fallback": str,
            "route_reason": str,
            "announcement": str,
            "scorer": str,
            "signal": str,
            "features": str,
            "timings": str,
        },
        pk="id",
    )
    db["calls"].create_index(["ts"])
    db["calls"].create_index(["caller_key", "ts"])
    db["calls"].create_index(["dialled", "ts"])
    db["lists"].create({"list": str, "number": str, "reason": str, "added_by": str, "added_at": float}, pk=("list", "number"))
    db["audit"].create({"id": int, "ts": float, "actor": str, "action": str, "target": str, "detail": str}, pk="id")
    db["audit"].create_index(["ts"])
    db["meta"].create({"key": str, "value": str}, pk="key")
    db["meta"].insert({"key": "lists_version", "value": "0"})


def _v2(db: sqlite_utils.Database) -> None:
    """Call DNA: the caller profile per call, phone insights, and confirmed outcomes."""
    db.execute("ALTER TABLE calls ADD COLUMN caller_profile TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE calls ADD COLUMN insights TEXT NOT NULL DEFAULT '{}'")
    db["calls"].create_index(["caller_profile", "ts"])
    db["outcomes"].create({"call_id": str, "label": str, "ts": float, "actor": str, "note": str}, pk="call_id")


def _v3(db: sqlite_utils.Database) -> None:
    """The imported Do-Not-Call list (US and CA numbers) behind PHONE_DNC."""
    db["dnc"].create({"number": str, "source": str, "added_at": float}, pk="number")


def _v4(db: sqlite_utils.Database) -> None:
    """Routing: numbers and their normal routes, dial plans (slots 1-5), personal
    overrides, staff who may use them, PIN failures, and the routes_version counter."""
    db["numbers"].create(
        {"number": str, "route": str, "fallback": str, "announcement": str, "label": str, "updated_at": float}, pk="number",
    )
    db["plans"].create(
        {"name": str, "description": str, "announcement": str, "slot": int, "active": int,
         "invoked_at": float, "invoked_by": str, "updated_at": float},
        pk="name", not_null={"active"}, defaults={"active": 0},
    )
    db.execute("CREATE UNIQUE INDEX plans_slot ON plans(slot) WHERE slot IS NOT NULL")
    db["plan_routes"].create(
        {"plan": str, "number": str, "destination": str, "announcement": str}, pk=("plan", "number"),
        foreign_keys=[("plan", "plans", "name")],
    )
    db["plan_routes"].create_index(["number"])
    db["overrides"].create(
        {"number": str, "destination": str, "target": str, "staff": str, "created_at": float, "expires_at": float, "created_by": str},
        pk="number",
    )
    db["staff"].create({"number": str, "name": str, "pin_hash": str, "created_at": float}, pk="number")
    db["pin_failures"].create({"id": int, "ts": float, "scope": str, "caller": str}, pk="id")
    db["pin_failures"].create_index(["scope", "ts"])
    db["meta"].insert({"key": "routes_version", "value": "0"})


def _v5(db: sqlite_utils.Database) -> None:
    """The AMI monitor: plans applied automatically when a destination is down, the
    destinations' current health, the event stream of transitions, and drill requests."""
    db.execute("ALTER TABLE plans ADD COLUMN auto_for TEXT")
    db["destination_state"].create(
        {"destination": str, "down": int, "since": float, "reason": str, "drill": int, "updated_at": float}, pk="destination",
    )
    db["destination_events"].create(
        {"id": int, "ts": float, "destination": str, "state": str, "reason": str, "drill": int}, pk="id",
    )
    db["destination_events"].create_index(["ts"])
    db["drill_requests"].create(
        {"id": int, "destination": str, "down": int, "requested_at": float, "requested_by": str, "applied_at": float}, pk="id",
    )


MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (_v1, _v2, _v3, _v4, _v5)
SCHEMA_VERSION = len(MIGRATIONS)


def open_store(path: str | Path, *, migrate: bool = True) -> sqlite_utils.Database:
    """Open (creating if needed) the SQLite store at ``path``; ':memory:' for tests."""
    conn: sqlite3.Connection | None = None
    try:
        if str(path) == ":memory:":
            conn = sqlite3.connect(":memory:", check_same_thread=False)
            db = sqlite_utils.Database(conn)
        else:
            p = Path(path)
            p.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(p), timeout=5.0, check_same_thread=False)
            db = sqlite_utils.Database(conn)
            db.enable_wal()
        db.execute("PRAGMA busy_timeout = 5000")
        db.execute("PRAGMA synchronous = NORMAL")
        if migrate:
            apply_migrations(db)
    except sqlite3.DatabaseError as exc:
        if conn is not None:
            conn.close()
        raise StoreError(f"cannot open the store at {path}: {exc} (is it a callshield SQLite file?)") from None
    except OSError as exc:
        if conn is not None:
            conn.close()
        raise StoreError(f"cannot create the store at {path}: {exc.strerror}") from None
    return db


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """One write transaction (BEGIN IMMEDIATE ... COMMIT, rolled back on any error,
    a failed COMMIT included).

    Inside, write with ``db.execute`` (parameterised SQL) only: sqlite-utils' insert and
    upsert commit on their own and would split the transaction. A store that stays
    locked past the busy timeout, or cannot be written, raises StoreError.
    """
    try:
        db.conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise StoreError(f"the store is busy or cannot be written ({exc}); another process may hold it: try again") from None
    try:
        yield db
        db.conn.commit()
    except BaseException as exc:
        db.conn.rollback()
        if isinstance(exc, sqlite3.OperationalError):
            raise StoreError(f"the store refused the change ({exc}); nothing was changed") from None
        raise


def schema_version(db: sqlite_utils.Database) -> int:
    if not db["schema_migrations"].exists():
        return 0
    row = db.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return row[0] or 0


def apply_migrations(db: sqlite_utils.Database) -> int:
    if not db["schema_migrations"].exists():
        db["schema_migrations"].create({"version": int, "applied_at": float}, pk="version", if_not_exists=True)
    current = schema_version(db)
    if current > SCHEMA_VERSION:
        raise StoreError(f"the store has schema version {current}, newer than this callshield ({SCHEMA_VERSION}); upgrade callshield")
    for version in range(current + 1, SCHEMA_VERSION + 1):
        # An explicit transaction: Python's sqlite3 does not open one for DDL, so a
        # migration that fails half-way would otherwise leave its tables behind.
        db.conn.execute("BEGIN")
        try:
            MIGRATIONS[version - 1](db)
            db.conn.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", [version, time.time()])
        except BaseException:
            db.conn.rollback()
            raise
        db.conn.commit()
    return SCHEMA_VERSION

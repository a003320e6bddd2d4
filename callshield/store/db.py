"""Open the store, switch on WAL, and bring the schema up to date.

Migrations are numbered functions applied in order inside one transaction each; the
applied versions are recorded in ``schema_migrations``. Add one, never edit one.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import sqlite_utils

from callshield.errors import StoreError

log = logging.getLogger(__name__)
FILE_MODE = 0o600  # store.file_mode: call records are personal data
DIR_MODE = 0o700  # store.dir_mode


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


def make_dirs(directory: Path, mode: int = DIR_MODE) -> None:
    """Create ``directory`` and its missing parents with exactly ``mode``. A directory
    that exists already (e.g. /var/lib, made by the admin) is left as it is."""
    missing = []
    for d in (directory, *directory.parents):
        if d.exists():
            break
        missing.append(d)
    for d in reversed(missing):
        try:
            os.mkdir(d, mode)
        except FileExistsError:
            continue  # made meanwhile by someone else: theirs, not ours to chmod
        os.chmod(d, mode)  # exactly the mode, whatever the umask


def create_private(path: Path, mode: int = FILE_MODE) -> bool:
    """Create the empty file ``path`` with exactly ``mode`` unless it exists; True if
    created. For every file of call data (the store, a spill or journal file)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return True


def _check_mode(p: Path, mode: int) -> None:
    """Warn when an existing store grants more than ``mode`` to group or others."""
    try:
        actual = stat.S_IMODE(p.stat().st_mode)
    except OSError:
        return
    extra = actual & 0o077 & ~mode
    if extra:
        who = " and ".join(w for w, bits in (("its group", 0o070), ("every local user", 0o007)) if extra & bits)
        log.warning("the store %s has mode 0%03o: %s can read or change its call records (personal data);"
                    " run: chmod 0%03o %s (store.file_mode)", p, actual, who, mode, p)


def open_store(path: str | Path, *, migrate: bool = True, file_mode: int | None = None,
               dir_mode: int | None = None) -> sqlite_utils.Database:
    """Open (creating if needed) the SQLite store at ``path``; ':memory:' for tests.

    A new store file is created with ``file_mode`` (SQLite gives its -wal and -shm the
    same mode), and each directory created for it with ``dir_mode``; default 0600/0700.
    Given ``file_mode`` (store.file_mode), an existing store that grants group or others
    more than that is logged as a WARNING.
    """
    conn: sqlite3.Connection | None = None
    try:
        if str(path) == ":memory:":
            conn = sqlite3.connect(":memory:", check_same_thread=False)
            db = sqlite_utils.Database(conn)
        else:
            p = Path(path)
            make_dirs(p.parent, DIR_MODE if dir_mode is None else dir_mode)
            if not create_private(p, FILE_MODE if file_mode is None else file_mode) and file_mode is not None:
                _check_mode(p, file_mode)
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

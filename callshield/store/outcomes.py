"""Confirmed outcomes of screened calls (fraud or genuine): what staff learned after the
call. They feed the Call DNA memory (confirmed fraud from this number or caller profile:
PHONE_RECENT_ABUSE and the model's outcome features) and training (``train --from-store``).

Each confirmation bumps ``outcomes_version`` so a running ``callshield serve`` learns it
within ``store.reload_interval``.
"""

from __future__ import annotations

import time
from typing import Any, Iterator

import sqlite_utils

from callshield.errors import OutcomeError
from callshield.store import versions
from callshield.store.audit import audit
from callshield.store.db import transaction

LABELS = ("fraud", "genuine")
VERSION_KEY = versions.OUTCOMES


def confirm(db: sqlite_utils.Database, call_id: str, label: str, *, actor: str = "cli", note: str = "",
            now: float | None = None) -> dict[str, Any]:
    """Record that the call ``call_id`` (its CALLSHIELD_CALL_ID) was ``label``."""
    if label not in LABELS:
        raise OutcomeError(f"an outcome is one of {', '.join(LABELS)}, not {label!r}")
    with transaction(db):
        call = db.execute("SELECT caller_key, caller_profile, dialled, ts FROM calls WHERE id = ?", [call_id]).fetchone()
        if call is None:
            raise OutcomeError(f"no call with id {call_id!r} in the store (use the call's CALLSHIELD_CALL_ID, as in the"
                               " X-CallShield-Call-ID header or the callshield log line)")
        old = db.execute("SELECT label FROM outcomes WHERE call_id = ?", [call_id]).fetchone()
        if old is not None and old[0] == label:
            raise OutcomeError(f"call {call_id} is already confirmed as {label}")
        db.execute("INSERT OR REPLACE INTO outcomes (call_id, label, ts, actor, note) VALUES (?, ?, ?, ?, ?)",
                   [call_id, label, time.time() if now is None else now, actor, note])
        audit(db, actor, f"outcomes.{label}", call_id, {"caller": call[0], "dialled": call[2], "note": note,
                                                         "was": old[0] if old else None})
        versions.bump(db, VERSION_KEY)
    return {"call_id": call_id, "label": label, "caller": call[0], "profile": call[1], "dialled": call[2], "was": old[0] if old else None}


def version(db: sqlite_utils.Database) -> int:
    return versions.current(db, VERSION_KEY)


def latest(db: sqlite_utils.Database) -> float:
    """The time of the newest confirmation (0 when there is none)."""
    return db.execute("SELECT coalesce(max(ts), 0) FROM outcomes").fetchone()[0]


def since(db: sqlite_utils.Database, after: float) -> list[tuple[float, str | None, str, bool]]:
    """Confirmations newer than ``after``: (time, caller number, caller profile, fraud)."""
    rows = db.execute("SELECT o.ts, c.caller_key, c.caller_profile, o.label FROM outcomes o JOIN calls c ON c.id = o.call_id"
                      " WHERE o.ts > ? ORDER BY o.ts", [after])
    return [(ts, caller or None, profile or "", label == "fraud") for ts, caller, profile, label in rows]


def confirmed(db: sqlite_utils.Database) -> Iterator[tuple[str | None, str, bool]]:
    """Every confirmed outcome joined to its call, oldest first: (caller number, caller profile, fraud)."""
    rows = db.execute("SELECT c.caller_key, c.caller_profile, o.label FROM outcomes o JOIN calls c ON c.id = o.call_id ORDER BY o.ts")
    for caller_key, profile, label in rows:
        yield caller_key or None, profile or "", label == "fraud"


def snapshot(db: sqlite_utils.Database) -> tuple[int, float, list[tuple[str | None, str, bool]]]:
    """(version, time of the newest, every confirmed outcome) from one read snapshot, so
    the outcomes learned and the version they make agree (serve's start)."""
    db.conn.execute("BEGIN")
    try:
        return version(db), latest(db), list(confirmed(db))
    finally:
        db.conn.rollback()


def labelled_count(db: sqlite_utils.Database) -> int:
    """How many stored calls have a confirmed outcome (fraud or genuine): what training can use."""
    return db.execute("SELECT count(*) FROM outcomes o JOIN calls c ON c.id = o.call_id WHERE o.label IN ('fraud', 'genuine')").fetchone()[0]


def labelled_signals(db: sqlite_utils.Database) -> Iterator[tuple[str, str]]:
    """(call signal JSON, label) of the stored calls with a confirmed outcome, oldest first."""
    yield from db.execute(
        "SELECT c.signal, o.label FROM calls c JOIN outcomes o ON o.call_id = c.id"
        " WHERE o.label IN ('fraud', 'genuine') ORDER BY c.ts, c.id")


def recent(db: sqlite_utils.Database, limit: int = 50) -> list[dict[str, Any]]:
    return list(db.query(
        "SELECT o.call_id, o.label, o.ts, o.actor, o.note, c.caller_number, c.dialled, c.score, c.status"
        " FROM outcomes o LEFT JOIN calls c ON c.id = o.call_id ORDER BY o.ts DESC LIMIT ?", [limit]))

"""The AMI monitor's record of the destinations it watches: each one's current health
(``destination_state``) and the stream of its transitions (``destination_events``).

serve's monitor writes them (each transition with its audit entry, in one transaction);
``callshield monitor status`` and ``callshield drill`` read them. Routing does not: it
follows the monitor in memory.
"""

from __future__ import annotations

import time
from typing import Any

import sqlite_utils

from callshield.store.audit import audit
from callshield.store.db import transaction


def forget_states(db: sqlite_utils.Database) -> None:
    """Drop every destination's state (at start: the health is re-learned from AMI)."""
    with transaction(db):
        db.execute("DELETE FROM destination_state")


def record_transition(db: sqlite_utils.Database, destination: str, state: str, reason: str, at: float, *,
                      drill: bool) -> None:
    """Record that ``destination`` went ``state`` ("down" or "up") at ``at``: an event,
    its new state, and the audit entry (actor "drill" or "monitor"), in one transaction."""
    with transaction(db):
        db.execute("INSERT INTO destination_events (ts, destination, state, reason, drill) VALUES (?, ?, ?, ?, ?)",
                   [at, destination, state, reason, int(drill)])
        db.execute("INSERT OR REPLACE INTO destination_state (destination, down, since, reason, drill, updated_at)"
                   " VALUES (?, ?, ?, ?, ?, ?)", [destination, int(state == "down"), at, reason, int(drill), time.time()])
        audit(db, "drill" if drill else "monitor", f"monitor.{state}", destination, {"reason": reason})


def states(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every destination's state (destination, down, since, reason, drill, updated_at), by name."""
    return list(db.query("SELECT * FROM destination_state ORDER BY destination"))


def state_of(db: sqlite_utils.Database, destination: str) -> tuple[bool, float, bool] | None:
    """(down, since, marked by a drill) of ``destination``; None if it never changed."""
    row = db.execute("SELECT down, since, drill FROM destination_state WHERE destination = ?", [destination]).fetchone()
    return (bool(row[0]), row[1], bool(row[2])) if row else None


def recent_events(db: sqlite_utils.Database, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` transitions (ts, destination, state, reason, drill), newest first."""
    return list(db.query("SELECT * FROM destination_events ORDER BY id DESC LIMIT ?", [limit]))

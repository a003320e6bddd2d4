"""Drill requests: how ``callshield drill`` (its own process) asks a running serve's
AMI monitor to mark a destination down or up, and how the monitor acknowledges them."""

from __future__ import annotations

import time

import sqlite_utils

from callshield.store.db import transaction


def request(db: sqlite_utils.Database, destination: str, down: bool, requested_by: str) -> int:
    """Ask serve to mark ``destination`` down (a simulated failure) or up (its end); the request's id."""
    with transaction(db):
        cur = db.execute("INSERT INTO drill_requests (destination, down, requested_at, requested_by) VALUES (?, ?, ?, ?)",
                         [destination, int(down), time.time(), requested_by])
        return int(cur.lastrowid)


def pending(db: sqlite_utils.Database) -> list[tuple[int, str, int, str, float]]:
    """Requests serve has not applied yet, oldest first: (id, destination, down, requested_by, requested_at)."""
    return [tuple(r) for r in db.execute(  # type: ignore[misc]
        "SELECT id, destination, down, requested_by, requested_at FROM drill_requests WHERE applied_at IS NULL ORDER BY id")]


def mark_applied(db: sqlite_utils.Database, request_id: int) -> None:
    with transaction(db):
        db.execute("UPDATE drill_requests SET applied_at = ? WHERE id = ?", [time.time(), request_id])


def timing(db: sqlite_utils.Database, request_id: int) -> tuple[float, float | None] | None:
    """(requested_at, applied_at or None) of a request; None if there is no such request."""
    row = db.execute("SELECT requested_at, applied_at FROM drill_requests WHERE id = ?", [request_id]).fetchone()
    return (row[0], row[1]) if row else None

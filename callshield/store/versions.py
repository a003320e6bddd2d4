"""The version counters in ``meta``: one per kind of state a running ``callshield serve``
keeps in memory (deny/allow and Do-Not-Call lists, routes, confirmed outcomes). Every
change to that state bumps its counter in the change's own transaction; serve's one
poller (``serve.reload_state``) reads them all with ``current_all`` and reloads what moved.
"""

from __future__ import annotations

import sqlite_utils

LISTS = "lists_version"  # the deny/allow lists and the Do-Not-Call list
ROUTES = "routes_version"  # numbers, dial plans, overrides
OUTCOMES = "outcomes_version"  # confirmed outcomes
COUNTERS = (LISTS, ROUTES, OUTCOMES)


def bump(db: sqlite_utils.Database, counter: str) -> None:
    """Add one to ``counter``; call inside the transaction of the change it announces
    (plain parameterised SQL, so it never commits that transaction early). A counter
    that is not there yet starts at 0."""
    db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, '0')", [counter])
    db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = ?", [counter])


def current(db: sqlite_utils.Database, counter: str) -> int:
    """The counter's value (0 when it was never bumped)."""
    row = db.execute("SELECT value FROM meta WHERE key = ?", [counter]).fetchone()
    return int(row[0]) if row else 0


def current_all(db: sqlite_utils.Database) -> dict[str, int]:
    """Every counter in one query (0 for one never bumped): what serve's poller reads
    each tick. Example: current_all(db)[LISTS]."""
    marks = ", ".join("?" for _ in COUNTERS)
    found = dict(db.execute(f"SELECT key, value FROM meta WHERE key IN ({marks})", list(COUNTERS)).fetchall())
    return {counter: int(found.get(counter, 0)) for counter in COUNTERS}

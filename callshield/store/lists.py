"""Deny/allow list persistence. Each change bumps ``lists_version`` so that a running
``callshield serve`` reloads its in-memory snapshot within ``store.reload_interval``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import sqlite_utils

from callshield.errors import ListError, NumberError
from callshield.screening.lists import LIST_NAMES, ListSnapshot
from callshield.store import versions
from callshield.store.audit import audit
from callshield.store.db import transaction

if TYPE_CHECKING:  # the caller (cli, tests) passes one in; the store calls its typed_key
    from callshield.read.numbers import NumberIntel


def normalise(intel: NumberIntel, number: str, region: str | None = None) -> str:
    try:
        return intel.typed_key(number, region)
    except NumberError as exc:
        raise ListError(str(exc)) from None


def _check_list(name: str) -> None:
    if name not in LIST_NAMES:
        raise ListError(f"unknown list {name!r} (lists: {', '.join(LIST_NAMES)})")


def add(db: sqlite_utils.Database, intel: NumberIntel, name: str, number: str, reason: str = "", actor: str = "cli") -> str:
    _check_list(name)
    key = normalise(intel, number)
    with transaction(db):
        db.execute("INSERT OR REPLACE INTO lists (list, number, reason, added_by, added_at) VALUES (?, ?, ?, ?, ?)",
                   [name, key, reason, actor, time.time()])
        audit(db, actor, f"lists.{name}.add", key, {"reason": reason})
        versions.bump(db, versions.LISTS)
    return key


def remove(db: sqlite_utils.Database, intel: NumberIntel, name: str, number: str, actor: str = "cli") -> str:
    _check_list(name)
    key = normalise(intel, number)
    with transaction(db):
        cur = db.execute("DELETE FROM lists WHERE list = ? AND number = ?", [name, key])
        if cur.rowcount == 0:
            raise ListError(f"{key} is not on the {name} list")
        audit(db, actor, f"lists.{name}.remove", key)
        versions.bump(db, versions.LISTS)
    return key


def show(db: sqlite_utils.Database, name: str) -> list[dict[str, Any]]:
    _check_list(name)
    return list(db.query("SELECT number, reason, added_by, added_at FROM lists WHERE list = ? ORDER BY number", [name]))


def version(db: sqlite_utils.Database) -> int:
    return versions.current(db, versions.LISTS)


def snapshot(db: sqlite_utils.Database) -> ListSnapshot:
    tables: dict[str, dict[str, str]] = {n: {} for n in LIST_NAMES}
    with db.conn:  # one read transaction: version and rows agree
        v = version(db)
        for row in db.execute("SELECT list, number, reason FROM lists"):
            tables.setdefault(row[0], {})[row[1]] = row[2] or ""
    return ListSnapshot(allow=tables["allow"], deny=tables["deny"], version=v)

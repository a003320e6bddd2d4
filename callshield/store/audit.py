"""The audit log: who changed what, when."""

from __future__ import annotations

import json
import time
from typing import Any

import sqlite_utils


def audit(db: sqlite_utils.Database, actor: str, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
    """Append one entry; call inside the transaction of the change it records (plain
    parameterised SQL, so it never commits that transaction early)."""
    db.execute("INSERT INTO audit (ts, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
               [time.time(), actor, action, target, json.dumps(detail or {})])


def recent(db: sqlite_utils.Database, limit: int = 50) -> list[dict[str, Any]]:
    return list(db.query("SELECT * FROM audit ORDER BY id DESC LIMIT ?", [limit]))

"""All SQL lives in callshield/store/: every other module calls a named store function.

A module outside store/ fails this test if it runs SQL (``.execute(``, ``.executemany(``,
``.executescript(``, sqlite-utils' ``.query(`` / ``.insert_all(`` / ``.rows_where(`` /
``db["table"]``), reaches for the connection (``.conn``), or holds a string that reads
as a SQL statement. Catching ``sqlite3.Error`` is fine: that is not SQL.

To fix a failure: put the statement in the store module that holds its table (store/calls.py,
store/routing.py, store/destinations.py, ...) under a name that says what it does, and call that.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "callshield"
STORE = PACKAGE / "store"

SQL_CALLS = {"execute", "executemany", "executescript", "query", "insert_all", "upsert_all", "rows_where", "create_table"}
SQL_ATTRIBUTES = {"conn"}  # the store's sqlite3 connection: transactions are store.db.transaction
# Statements, upper case as the store writes them (prose such as "select a plan" does not match).
SQL_TEXT = re.compile(
    r"\bSELECT\b[^\n]*\bFROM\b|\bINSERT\s+(?:OR\s+[A-Z]+\s+)?INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b"
    r"|\b(?:CREATE|ALTER|DROP)\s+(?:TABLE|INDEX|VIEW|TRIGGER)\b|\bPRAGMA\s+\w+|^\s*BEGIN(?:\s+IMMEDIATE)?\s*$"
    r"|^\s*(?:COMMIT|ROLLBACK)\s*$")
DB_NAMES = {"db", "store", "database", "con", "conn", "connection"}  # db["calls"]: a sqlite-utils table


def sql_in(source: str) -> list[tuple[int, str]]:
    """(line, what) for each piece of SQL in one module's source."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_CALLS:
            found.append((node.lineno, f".{node.func.attr}(...)"))
        elif isinstance(node, ast.Attribute) and node.attr in SQL_ATTRIBUTES:
            found.append((node.lineno, f".{node.attr}"))
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            target = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(node.value, "id", "")
            if target in DB_NAMES:
                found.append((node.lineno, f"{target}[{node.slice.value!r}]"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_TEXT.search(node.value):
            found.append((node.lineno, f"SQL text {node.value[:60]!r}"))
    return sorted(set(found))


def modules_outside_store() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if STORE not in p.parents)


def test_the_scan_sees_the_package() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p in modules_outside_store()}
    assert {"cli.py", "serve.py", "manage/routing_csv.py", "ami_monitor/monitor.py", "ami_monitor/drill.py"} <= names
    assert not any(n.startswith("store/") for n in names)


def test_no_module_outside_store_contains_sql() -> None:
    found = [f"{p.relative_to(PACKAGE.parent)}:{line}: {what}"
             for p in modules_outside_store() for line, what in sql_in(p.read_text(encoding="utf-8"))]
    assert found == [], "SQL outside callshield/store/ (move it into a named store function):\n" + "\n".join(found)


@pytest.mark.parametrize("source", [
    'db.execute("SELECT 1")',
    'self.db.conn.executemany(sql, rows)',
    'rows = list(db.query(sql))',
    'db.conn.commit()',
    'db["calls"].insert_all(records)',
    'self.store.db["numbers"].count',
    'X = "SELECT route FROM numbers WHERE number = ?"',
    'X = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"',
    'X = "UPDATE plans SET active = 0"',
    'X = "DELETE FROM pin_failures"',
    'X = "BEGIN"',
    'X = "PRAGMA busy_timeout = 5000"',
])
def test_the_scan_finds_sql(source: str) -> None:
    assert sql_in(source)


@pytest.mark.parametrize("source", [
    'routing.set_number(key, route)',
    'import sqlite3\nE = sqlite3.Error',
    'items.insert(0, x)',
    'X = "select a plan, then update the numbers from the file"',
    'X = "begin the drill"',
    'headers["X-CallShield-Call-ID"]',
    'config["store"]',
])
def test_the_scan_leaves_other_code_alone(source: str) -> None:
    assert sql_in(source) == []

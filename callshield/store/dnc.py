"""The Do-Not-Call list: imported from a file (one number per line, or a CSV whose first
column is the number), validated whole before anything changes."""

from __future__ import annotations

import csv
import io
import time
from typing import TYPE_CHECKING

import sqlite_utils

from callshield.errors import ListError
from callshield.store import versions
from callshield.store.audit import audit
from callshield.store.db import transaction
from callshield.store.lists import normalise

if TYPE_CHECKING:  # the caller passes one in
    from callshield.read.numbers import NumberIntel

DNC_REGIONS = ("US", "CA")


def parse(text: str, intel: NumberIntel) -> list[str]:
    """Every number of the file as E.164; ListError naming each bad line otherwise."""
    numbers: list[str] = []
    errors: list[str] = []
    for lineno, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row or not row[0].strip() or row[0].strip().startswith("#"):
            continue
        raw = row[0].strip()
        if lineno == 1 and not any(c.isdigit() for c in raw):
            continue  # a header row
        try:
            key = normalise(intel, raw, "US")  # national numbers on these lists are North American
        except ListError as exc:
            errors.append(f"line {lineno}: {exc}")
            continue
        info = intel.info(key)
        if info.region not in DNC_REGIONS:
            errors.append(f"line {lineno}: {raw!r} is not a US or CA number (Do-Not-Call lists cover those only)")
            continue
        numbers.append(key)
    if errors:
        raise ListError(f"{len(errors)} bad line(s), nothing imported:\n" + "\n".join(errors[:50]))
    return numbers


def import_numbers(db: sqlite_utils.Database, numbers: list[str], source: str, actor: str = "cli") -> int:
    now = time.time()
    with transaction(db):
        db.conn.executemany("INSERT OR REPLACE INTO dnc (number, source, added_at) VALUES (?, ?, ?)",
                            [(n, source, now) for n in numbers])
        audit(db, actor, "dnc.import", source, {"numbers": len(numbers)})
        versions.bump(db, versions.LISTS)  # PHONE_DNC is read with the lists
    return len(numbers)


def load(db: sqlite_utils.Database) -> frozenset[str]:
    return frozenset(row[0] for row in db.execute("SELECT number FROM dnc"))

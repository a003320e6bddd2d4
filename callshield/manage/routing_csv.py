"""CSV import and export of the numbers table and the dial plans' routes.

Two steps kept apart: ``parse_numbers`` / ``parse_plans`` read and validate a whole file
(pure: bytes in, rows out, or ``ImportRejected`` naming every bad line), and
``import_numbers`` / ``import_plans`` compare the rows with the store and apply the
difference in one transaction with one audit entry. Export writes the same format, so
an exported file imported again changes nothing.

numbers: ``number,route,fallback,announcement,label`` (only ``number`` and ``route`` are
required; a column left out is empty in every row). Rows upsert; numbers missing from
the file stay, unless ``replace``, which removes them (refused if a dial plan routes one).

plans: ``plan,number,destination,announcement`` (``announcement`` may be left out). Each plan named in the file is created
if new and its routes are replaced by the file's rows; other plans are untouched. A plan
without routes has no row, so it is not exported (and an import never deletes a plan).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import time
from dataclasses import dataclass, field
from typing import Any, Callable, TextIO

from callshield.display import text_problem
from callshield.errors import ImportRejected, RoutingError
from callshield.store.audit import audit
from callshield.store.db import transaction
from callshield.store.routing import RoutingStore, dial_string_problem, plan_name_problem, sound_problem

NUMBER_COLUMNS = ("number", "route", "fallback", "announcement", "label")
PLAN_COLUMNS = ("plan", "number", "destination", "announcement")
NUMBER_REQUIRED = ("number", "route")
PLAN_REQUIRED = ("plan", "number", "destination")
KeyOf = Callable[[str], str]  # a number as typed -> its E.164 key; RoutingError if not a number


@dataclass(frozen=True)
class NumberRow:
    """One row; an optional field is None when the file has no such column (the number
    keeps its stored value, a new number gets "")."""

    line: int
    number: str
    route: str
    fallback: str | None = ""
    announcement: str | None = ""
    label: str | None = ""

    def values(self) -> tuple[str, str, str, str]:
        return (self.route, self.fallback or "", self.announcement or "", self.label or "")

    def over(self, was: tuple[str, str, str, str] | None) -> "NumberRow":
        """This row with each left-out field taken from ``was`` (the stored values), or ""."""
        old = was or ("", "", "", "")
        return dataclasses.replace(self, **{name: old[i] for i, name in enumerate(("fallback", "announcement", "label"), 1)
                                            if getattr(self, name) is None})


@dataclass(frozen=True)
class PlanRow:
    """One row; ``announcement`` is None when the file has no such column (a route the
    plan already has keeps its announcement, a new one gets "")."""

    line: int
    plan: str
    number: str
    destination: str
    announcement: str | None = ""

    def values(self) -> tuple[str, str]:
        return (self.destination, self.announcement or "")

    def over(self, was: tuple[str, str] | None) -> "PlanRow":
        return self if self.announcement is not None else dataclasses.replace(self, announcement=(was or ("", ""))[1])


@dataclass
class Counts:
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0

    def __str__(self) -> str:
        return f"{self.added} added, {self.changed} changed, {self.unchanged} unchanged, {self.removed} removed"

    @property
    def any(self) -> bool:
        return bool(self.added or self.changed or self.removed)


@dataclass
class NumbersChange:
    """What a numbers import does: rows to write, numbers to remove, and the counts."""

    upsert: list[NumberRow] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)


@dataclass
class PlanChange:
    name: str
    new: bool
    active: bool
    routes: list[PlanRow]
    counts: Counts = field(default_factory=Counts)

    @property
    def any(self) -> bool:
        return self.new or self.counts.any


@dataclass
class PlansChange:
    plans: list[PlanChange] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return any(p.any for p in self.plans)


# -- reading ---------------------------------------------------------------------------

def _read(data: bytes, source: str, columns: tuple[str, ...],
          required: tuple[str, ...]) -> tuple[list[tuple[int, dict[str, str | None]]], list[str]]:
    """The data records as (physical line where the record starts, {column: stripped
    value, or None for an optional column the file leaves out}), skipping blank rows, and the problems of their shape (field count, missing
    required fields, unreadable CSV). ImportRejected at once for a file that cannot be
    read at all (not UTF-8, empty, bad header)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportRejected(source, [f"line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save the file as UTF-8 CSV"]) from None
    expected = ",".join(columns)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    records: list[tuple[int, dict[str, str | None]]] = []
    problems: list[str] = []
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(f"line {start}: not readable as CSV ({exc}); nothing after it was checked")
            break
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if header is None:
            header = cells
            if not set(header) & set(columns):
                raise ImportRejected(source, [f"line {start}: no header row (the first row names the columns: {expected}, in any order)"])
            missing = [c for c in required if c not in header]  # optional columns may be left out
            unknown = [c for c in header if c not in columns]
            repeated = sorted({c for c in header if c in columns and header.count(c) > 1})
            bad = "; ".join(part for part in (
                f"missing column(s) {', '.join(missing)}" if missing else "",
                f"unknown column(s) {', '.join(repr(c) for c in unknown)}" if unknown else "",
                f"repeated column(s) {', '.join(repeated)}" if repeated else "",
            ) if part)
            if bad:
                raise ImportRejected(source, [f"line {start}: bad header: {bad} (expected the header row {expected}, in any order;"
                                              f" {', '.join(c for c in columns if c not in required)} may be left out)"])
            continue
        if len(cells) != len(header):
            problems.append(f"line {start}: {len(cells)} field(s), the header has {len(header)} ({','.join(header)})")
            continue
        record: dict[str, str | None] = {c: None for c in columns} | dict(zip(header, cells))  # a column left out: None
        missing = [c for c in required if not record[c]]
        if missing:
            problems.append(f"line {start}: missing required field(s) {', '.join(missing)}")
        records.append((start, record))
    if header is None and not problems:
        raise ImportRejected(source, [f"empty file (expected a header row {expected} and at least one row)"])
    if not records and not problems:
        problems.append("no rows after the header (a file with nothing to import is refused)")
    return records, problems


def _number(key_of: KeyOf, raw: str) -> tuple[str | None, str | None]:
    """(E.164 key, None) or (None, why it is not a phone number)."""
    try:
        return key_of(raw), None
    except RoutingError as exc:
        return None, str(exc)


def _dial(dial_of: Callable[[str], str], rec: dict[str, str | None], name: str, bad: list[str]) -> None:
    """Turn ``rec[name]`` into a Dial() string by ``dial_of``, or name why it cannot be one."""
    if rec[name]:
        try:
            rec[name] = dial_of(rec[name])
        except RoutingError as exc:  # a phone number that is not one (e.g. more than 15 digits)
            bad.append(f"{name}: {exc}")
            rec[name] = ""


def parse_numbers(data: bytes, source: str, key_of: KeyOf, dial_of: Callable[[str], str] = str.strip) -> list[NumberRow]:
    """Every row of a numbers CSV, numbers as E.164 keys by ``key_of`` (the store's
    ``number_key``), routes through ``dial_of`` (the store's ``destination``: a plain
    phone number becomes a Dial() string); ImportRejected naming each bad line."""
    records, problems = _read(data, source, NUMBER_COLUMNS, NUMBER_REQUIRED)
    rows: list[NumberRow] = []
    first: dict[str, int] = {}
    for line, rec in records:
        bad: list[str] = []
        key = None
        if rec["number"]:
            key, why = _number(key_of, rec["number"])
            if why:
                bad.append(f"number: {why}")
        for name in ("route", "fallback"):
            _dial(dial_of, rec, name, bad)
            if rec[name] and dial_string_problem(rec[name]):
                bad.append(f"{name}: {dial_string_problem(rec[name])}")
        if rec["announcement"] and sound_problem(rec["announcement"]):
            bad.append(f"announcement: {sound_problem(rec['announcement'])}")
        if text_problem(rec["label"]):
            bad.append(f"label: {text_problem(rec['label'])}")
        if key is not None:
            if key in first:
                bad.append(f"{key} is already on line {first[key]} (a number appears once)")
            else:
                first[key] = line
        problems += [f"line {line}: {b}" for b in bad]
        if not bad and key is not None and rec["route"]:
            rows.append(NumberRow(line, key, rec["route"], rec["fallback"], rec["announcement"], rec["label"]))
    if problems:
        raise ImportRejected(source, sorted(problems, key=_line_of))
    return rows


def parse_plans(data: bytes, source: str, key_of: KeyOf, known: set[str] | frozenset[str],
                dial_of: Callable[[str], str] = str.strip) -> list[PlanRow]:
    """Every row of a plans CSV; ``known`` are the numbers a plan may route (the numbers
    table and the config's routing.numbers, as E.164); destinations through ``dial_of``.
    ImportRejected naming each bad line."""
    records, problems = _read(data, source, PLAN_COLUMNS, PLAN_REQUIRED)
    rows: list[PlanRow] = []
    first: dict[tuple[str, str], int] = {}
    for line, rec in records:
        bad: list[str] = []
        key = None
        if rec["plan"] and plan_name_problem(rec["plan"]):
            bad.append(f"plan: {plan_name_problem(rec['plan'])}")
        if rec["number"]:
            key, why = _number(key_of, rec["number"])
            if why:
                bad.append(f"number: {why}")
            elif key not in known:
                bad.append(f"number: {key} is not one of your numbers (add it to the numbers table or routing.numbers first)")
        _dial(dial_of, rec, "destination", bad)
        if rec["destination"] and dial_string_problem(rec["destination"]):
            bad.append(f"destination: {dial_string_problem(rec['destination'])}")
        if rec["announcement"] and sound_problem(rec["announcement"]):
            bad.append(f"announcement: {sound_problem(rec['announcement'])}")
        if key is not None and rec["plan"]:
            pair = (rec["plan"], key)
            if pair in first:
                bad.append(f"plan {rec['plan']!r} routes {key} already on line {first[pair]} (a plan routes a number once)")
            else:
                first[pair] = line
        problems += [f"line {line}: {b}" for b in bad]
        if not bad and key is not None and rec["plan"] and rec["destination"]:
            rows.append(PlanRow(line, rec["plan"], key, rec["destination"], rec["announcement"]))
    if problems:
        raise ImportRejected(source, sorted(problems, key=_line_of))
    return rows


def _line_of(problem: str) -> int:
    """Sort problems by line (stable within a line); problems without a line come first."""
    head = problem.split(":", 1)[0]
    return int(head[5:]) if head.startswith("line ") and head[5:].isdigit() else 0


# -- comparing -------------------------------------------------------------------------

def numbers_change(rows: list[NumberRow], current: dict[str, tuple[str, str, str, str]], replace: bool) -> NumbersChange:
    """What importing ``rows`` does to the numbers table ``current`` (number -> values)."""
    change = NumbersChange()
    for row in rows:
        was = current.get(row.number)
        row = row.over(was)
        if was is None:
            change.counts.added += 1
            change.upsert.append(row)
        elif was != row.values():
            change.counts.changed += 1
            change.upsert.append(row)
        else:
            change.counts.unchanged += 1
    if replace:
        named = {row.number for row in rows}
        change.remove = sorted(n for n in current if n not in named)
        change.counts.removed = len(change.remove)
    return change


def plans_change(rows: list[PlanRow], current: dict[str, dict[str, tuple[str, str]]], active: set[str]) -> PlansChange:
    """What importing ``rows`` does to the plans ``current`` (plan -> number -> values)."""
    by_plan: dict[str, list[PlanRow]] = {}
    for row in rows:
        by_plan.setdefault(row.plan, []).append(row)
    change = PlansChange()
    for name in sorted(by_plan):
        routes = by_plan[name]
        was = current.get(name) or {}
        routes = [row.over(was.get(row.number)) for row in routes]
        plan = PlanChange(name, new=name not in current, active=name in active, routes=routes)
        for row in routes:
            old = was.get(row.number)
            if old is None:
                plan.counts.added += 1
            elif old != row.values():
                plan.counts.changed += 1
            else:
                plan.counts.unchanged += 1
        plan.counts.removed = len(set(was) - {row.number for row in routes})
        change.plans.append(plan)
    return change


def _current_numbers(store: RoutingStore) -> dict[str, tuple[str, str, str, str]]:
    return {r["number"]: (r["route"] or "", r["fallback"] or "", r["announcement"] or "", r["label"] or "") for r in store.numbers()}


# -- importing -------------------------------------------------------------------------

def import_numbers(store: RoutingStore, data: bytes, source: str, *, actor: str = "cli", replace: bool = False,
                   dry_run: bool = False) -> NumbersChange:
    """Validate the whole file, then (unless ``dry_run``) apply it in one transaction with
    one audit entry. Nothing changes when anything is wrong."""
    rows = parse_numbers(data, source, store.number_key, store.destination)
    db = store.db
    with transaction(db):  # compare and write under one lock; a dry run writes nothing
        change = numbers_change(rows, _current_numbers(store), replace)
        if change.remove:
            # Every routed number, filtered here: an IN (?, ...) list of the numbers to remove
            # could pass SQLite's limit on bound parameters.
            removing = set(change.remove)
            routed = [(number, plans) for number, plans in store.plans_by_number().items() if number in removing]
            if routed:
                raise ImportRejected(source, [f"{number} is not in the file but dial plan(s) {plans} route it; --replace would remove it"
                                              " (remove it from the plans first, or keep it in the file)" for number, plans in routed])
        if dry_run:
            return change
        now = time.time()
        if change.upsert:
            store.write_numbers([(r.number, r.route, r.fallback or "", r.announcement or "", r.label or "") for r in change.upsert], now)
        store.delete_numbers(change.remove)
        c = change.counts
        audit(db, actor, "numbers.import", source, {"rows": len(rows), "added": c.added, "changed": c.changed,
                                                      "unchanged": c.unchanged, "removed": c.removed, "replace": replace,
                                                      "removed_numbers": change.remove})
        if c.any:
            store.bump_version()
    return change


def import_plans(store: RoutingStore, data: bytes, source: str, *, actor: str = "cli", dry_run: bool = False) -> PlansChange:
    """Validate the whole file, then (unless ``dry_run``) create the new plans and replace
    the routes of every plan the file names, in one transaction with one audit entry."""
    db = store.db
    with transaction(db):  # the numbers a plan may route must not move under us
        rows = parse_plans(data, source, store.number_key, store.known_numbers(), store.destination)
        change = plans_change(rows, store.routes_by_plan(), store.active_plan_names())
        if dry_run:
            return change
        now = time.time()
        for plan in change.plans:
            if plan.any:
                store.write_plan_routes(plan.name, [(r.number, r.destination, r.announcement or "") for r in plan.routes],
                                        new=plan.new, now=now)
        audit(db, actor, "plans.import", source, {"rows": len(rows), "plans": {
            p.name: {"new": p.new, "active": p.active, "added": p.counts.added, "changed": p.counts.changed,
                     "unchanged": p.counts.unchanged, "removed": p.counts.removed} for p in change.plans}})
        if change.any:
            store.bump_version()
    return change


# -- exporting -------------------------------------------------------------------------

def _writer(out: TextIO) -> Any:
    return csv.writer(out, lineterminator="\n")


def export_numbers(store: RoutingStore, out: TextIO) -> int:
    """Write the numbers table as CSV, sorted by number; returns the row count."""
    rows = sorted(store.numbers(), key=lambda r: r["number"])
    writer = _writer(out)
    writer.writerow(NUMBER_COLUMNS)
    writer.writerows([r[c] or "" for c in NUMBER_COLUMNS] for r in rows)
    return len(rows)


def export_plans(store: RoutingStore, out: TextIO) -> int:
    """Write every plan's routes as CSV, sorted by plan then number; returns the row count."""
    rows = store.all_plan_routes()
    writer = _writer(out)
    writer.writerow(PLAN_COLUMNS)
    writer.writerows([v or "" for v in row] for row in rows)
    return len(rows)

"""Routing persistence: numbers and normal routes, dial plans and their slots, personal
overrides, staff, and PIN failures.

Every change runs in one transaction with its audit entry and bumps ``routes_version``,
so a running ``callshield serve`` reloads its in-memory route state (an in-process
change reloads at once; a change from another process within store.reload_interval).
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any, Iterable

import sqlite_utils

from callshield.config import NUMBER_DIAL, SOUND_NAME_RE, AccessConfig, dial_string_problem
from callshield.dialplan.state import SLOTS, ActivePlan, NumberRoute, Override, PlanRoute, RouteState
from callshield.errors import NumberError, PinError, RoutingError
from callshield.store import versions
from callshield.store.audit import audit
from callshield.store.db import transaction
from callshield.store.pins import hash_pin

if TYPE_CHECKING:  # the caller passes one in; the store calls its typed_key
    from callshield.read.numbers import NumberIntel

# No trailing space: plan() strips the name it is given, so such a plan could never be named again.
PLAN_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 _.-]{0,62}[A-Za-z0-9_.-])?")
PLANS_PIN_KEY = "plans_pin_hash"
SCOPES = ("plans", "override")


def sound_problem(value: str) -> str | None:
    if not SOUND_NAME_RE.fullmatch(value or ""):
        return f"{value!r} is not a sound name (letters, digits, _ - . /)"
    return None


def plan_name_problem(value: str) -> str | None:
    if not PLAN_NAME_RE.fullmatch(value or ""):
        return f"{value!r} is not a plan name (1-64 letters, digits, spaces, _ . -; starting with a letter or digit, not ending with a space)"
    if value.isdigit():
        return f"{value!r} is not a plan name (all digits would read as a slot number)"
    return None


class RoutingStore:
    """The routing tables of one store. ``config_numbers`` are the numbers the YAML
    configuration already knows (routing.numbers), as E.164 keys."""

    def __init__(self, db: sqlite_utils.Database, intel: NumberIntel, config_numbers: Iterable[str] = (),
                 number_dial: str = NUMBER_DIAL):
        self.db = db
        self.intel = intel
        self.config_numbers = frozenset(config_numbers)
        self.number_dial = number_dial

    def destination(self, value: str) -> str:
        """A route or destination as given: a plain phone number ("07700 900123",
        "+447700900123") becomes a Dial() string through ``routing.number_dial``; anything
        else is returned as it is (and validated as a Dial() string by the caller)."""
        cleaned = (value or "").strip().replace(" ", "").replace("-", "")
        if re.fullmatch(r"\+?[0-9]{3,}", cleaned):
            return self.number_dial.replace("{number}", self.number_key(cleaned))
        return (value or "").strip()

    # -- numbers ---------------------------------------------------------------------

    def number_key(self, number: str) -> str:
        """The E.164 key of a number as typed (national or international)."""
        try:
            return self.intel.typed_key(number)
        except NumberError as exc:
            raise RoutingError(str(exc)) from None

    def known_numbers(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT number FROM numbers")} | set(self.config_numbers)

    def require_known(self, key: str) -> None:
        if key not in self.config_numbers and not self.db.execute("SELECT 1 FROM numbers WHERE number = ?", [key]).fetchone():
            raise RoutingError(f"{key} is not one of your numbers (add it first: callshield numbers add {key} --route ...)")

    def set_number(self, number: str, route: str, fallback: str = "", announcement: str = "", label: str = "",
                   actor: str = "cli") -> str:
        key = self.number_key(number)
        route, fallback = self.destination(route), self.destination(fallback)
        check_number_row(route, fallback, announcement)
        with transaction(self.db):
            old = self._row("SELECT * FROM numbers WHERE number = ?", key)
            self.db.execute("INSERT OR REPLACE INTO numbers (number, route, fallback, announcement, label, updated_at)"
                            " VALUES (?, ?, ?, ?, ?, ?)", [key, route, fallback, announcement, label, time.time()])
            audit(self.db, actor, "numbers.set", key, {"route": route, "fallback": fallback, "announcement": announcement,
                                                         "label": label, "was": old})
            self.bump_version()
        return key

    def remove_number(self, number: str, actor: str = "cli") -> str:
        key = self.number_key(number)
        with transaction(self.db):
            used = [r[0] for r in self.db.execute("SELECT plan FROM plan_routes WHERE number = ? ORDER BY plan", [key])]
            if used:
                raise RoutingError(f"{key} is routed by dial plan(s) {', '.join(used)}; remove it from them first")
            if self.db.execute("DELETE FROM numbers WHERE number = ?", [key]).rowcount == 0:
                raise RoutingError(f"{key} is not in the numbers table")
            audit(self.db, actor, "numbers.remove", key)
            self.bump_version()
        return key

    def numbers(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT number, route, fallback, announcement, label FROM numbers ORDER BY number"))

    # -- plans -----------------------------------------------------------------------

    def create_plan(self, name: str, description: str = "", announcement: str = "", actor: str = "cli") -> None:
        problem = plan_name_problem(name) or (sound_problem(announcement) if announcement else None)
        if problem:
            raise RoutingError(problem)
        with transaction(self.db):
            if self._row("SELECT name FROM plans WHERE name = ?", name):
                raise RoutingError(f"a dial plan named {name!r} already exists")
            self.db.execute("INSERT INTO plans (name, description, announcement, slot, active, updated_at) VALUES (?, ?, ?, NULL, 0, ?)",
                            [name, description, announcement, time.time()])
            audit(self.db, actor, "plans.create", name, {"description": description, "announcement": announcement})
            self.bump_version()

    def delete_plan(self, ref: str, actor: str = "cli") -> str:
        with transaction(self.db):
            plan = self.plan(ref)
            if plan["active"]:
                raise RoutingError(f"dial plan {plan['name']!r} is active; revoke it first (callshield plans revoke {plan['name']!r})")
            self.db.execute("DELETE FROM plan_routes WHERE plan = ?", [plan["name"]])
            self.db.execute("DELETE FROM plans WHERE name = ?", [plan["name"]])
            audit(self.db, actor, "plans.delete", plan["name"], {"slot": plan["slot"]})
            self.bump_version()
        return plan["name"]

    def set_plan_route(self, ref: str, number: str, destination: str, announcement: str = "", actor: str = "cli") -> str:
        destination = self.destination(destination)
        problem = dial_string_problem(destination) or (sound_problem(announcement) if announcement else None)
        if problem:
            raise RoutingError(problem)
        key = self.number_key(number)
        with transaction(self.db):
            plan = self.plan(ref)
            self.require_known(key)
            self.db.execute("INSERT OR REPLACE INTO plan_routes (plan, number, destination, announcement) VALUES (?, ?, ?, ?)",
                            [plan["name"], key, destination, announcement])
            audit(self.db, actor, "plans.route", f"{plan['name']}:{key}", {"destination": destination, "announcement": announcement})
            self.bump_version()
        return key

    def remove_plan_route(self, ref: str, number: str, actor: str = "cli") -> str:
        key = self.number_key(number)
        with transaction(self.db):
            plan = self.plan(ref)
            if self.db.execute("DELETE FROM plan_routes WHERE plan = ? AND number = ?", [plan["name"], key]).rowcount == 0:
                raise RoutingError(f"dial plan {plan['name']!r} does not route {key}")
            audit(self.db, actor, "plans.unroute", f"{plan['name']}:{key}")
            self.bump_version()
        return key

    def load_plan(self, ref: str, slot: int, actor: str = "cli") -> str:
        if slot not in SLOTS:
            raise RoutingError(f"slot {slot} does not exist: plans are loaded into slots {SLOTS[0]}-{SLOTS[-1]}")
        with transaction(self.db):
            plan = self.plan(ref)
            holder = self._row("SELECT name FROM plans WHERE slot = ?", slot)
            if holder and holder["name"] != plan["name"]:
                raise RoutingError(f"slot {slot} holds dial plan {holder['name']!r}; unload it first")
            self.db.execute("UPDATE plans SET slot = ?, updated_at = ? WHERE name = ?", [slot, time.time(), plan["name"]])
            audit(self.db, actor, "plans.load", plan["name"], {"slot": slot, "was": plan["slot"]})
            self.bump_version()
        return plan["name"]

    def unload_plan(self, ref: str, actor: str = "cli") -> str:
        with transaction(self.db):
            plan = self.plan(ref)
            if plan["slot"] is None:
                raise RoutingError(f"dial plan {plan['name']!r} is not loaded")
            if plan["active"]:
                raise RoutingError(f"dial plan {plan['name']!r} is active; revoke it before unloading")
            self.db.execute("UPDATE plans SET slot = NULL, updated_at = ? WHERE name = ?", [time.time(), plan["name"]])
            audit(self.db, actor, "plans.unload", plan["name"], {"slot": plan["slot"]})
            self.bump_version()
        return plan["name"]

    def invoke_plan(self, ref: str, actor: str = "cli", now: float | None = None) -> dict[str, Any]:
        """Activate a loaded plan; returns the plan row (with its route count)."""
        now = time.time() if now is None else now
        with transaction(self.db):
            plan = self.plan(ref)
            if plan["slot"] is None:
                raise RoutingError(f"dial plan {plan['name']!r} is not loaded; load it into a slot first (callshield plans load {plan['name']!r} SLOT)")
            routes = self.db.execute("SELECT count(*) FROM plan_routes WHERE plan = ?", [plan["name"]]).fetchone()[0]
            self.db.execute("UPDATE plans SET active = 1, invoked_at = ?, invoked_by = ? WHERE name = ?", [now, actor, plan["name"]])
            audit(self.db, actor, "plans.invoke", plan["name"], {"slot": plan["slot"], "routes": routes, "was_active": bool(plan["active"])})
            self.bump_version()
        return {**plan, "active": 1, "invoked_at": now, "invoked_by": actor, "routes": routes}

    def revoke_plan(self, ref: str, actor: str = "cli") -> dict[str, Any]:
        with transaction(self.db):
            plan = self.plan(ref)
            if not plan["active"]:
                raise RoutingError(f"dial plan {plan['name']!r} is not active")
            self.db.execute("UPDATE plans SET active = 0 WHERE name = ?", [plan["name"]])
            audit(self.db, actor, "plans.revoke", plan["name"], {"slot": plan["slot"], "invoked_at": plan["invoked_at"]})
            self.bump_version()
        return {**plan, "active": 0}

    def set_auto(self, ref: str, destination: str | None, actor: str = "cli") -> str:
        """Mark a plan as the automatic diversion for ``destination`` (a PJSIP endpoint
        name the AMI monitor watches), or clear the mark with None. While that destination
        is down, calls to the numbers the plan routes follow it (trunk_down:<destination>)."""
        if destination is not None and not re.fullmatch(r"[A-Za-z0-9_.+@/-]{1,80}", destination):
            raise RoutingError(f"{destination!r} is not a destination name (the PJSIP endpoint a route dials, e.g. agents)")
        with transaction(self.db):
            plan = self.plan(ref)
            self.db.execute("UPDATE plans SET auto_for = ?, updated_at = ? WHERE name = ?", [destination, time.time(), plan["name"]])
            audit(self.db, actor, "plans.auto", plan["name"], {"destination": destination, "was": plan.get("auto_for")})
            self.bump_version()
        return plan["name"]

    def plan(self, ref: str | int) -> dict[str, Any]:
        """A plan by name, or by slot number (1-5)."""
        text = str(ref).strip()
        if text.isdigit():
            row = self._row("SELECT * FROM plans WHERE slot = ?", int(text))
            if row is None:
                raise RoutingError(f"no dial plan is loaded in slot {text}")
        else:
            row = self._row("SELECT * FROM plans WHERE name = ?", text)
            if row is None:
                raise RoutingError(f"no dial plan named {text!r} (callshield plans list shows them)")
        return row

    def plans(self) -> list[dict[str, Any]]:
        return list(self.db.query(
            "SELECT p.name, p.slot, p.active, p.invoked_at, p.invoked_by, p.description, p.announcement, p.auto_for,"
            " (SELECT count(*) FROM plan_routes r WHERE r.plan = p.name) AS routes"
            " FROM plans p ORDER BY p.slot IS NULL, p.slot, p.name"))

    def plan_routes(self, ref: str) -> list[dict[str, Any]]:
        plan = self.plan(ref)
        return list(self.db.query("SELECT number, destination, announcement FROM plan_routes WHERE plan = ? ORDER BY number", [plan["name"]]))

    # -- whole tables, for CSV import and export -------------------------------------
    # The writes below change rows only: call them inside transaction(self.db), with
    # the change's audit entry and bump_version() (manage/routing_csv.py does).

    def routes_by_plan(self) -> dict[str, dict[str, tuple[str, str]]]:
        """Every plan (those without routes too) -> number -> (destination, announcement)."""
        current: dict[str, dict[str, tuple[str, str]]] = {name: {} for (name,) in self.db.execute("SELECT name FROM plans")}
        for plan, number, destination, announcement in self.db.execute("SELECT plan, number, destination, announcement FROM plan_routes"):
            current.setdefault(plan, {})[number] = (destination or "", announcement or "")
        return current

    def active_plan_names(self) -> set[str]:
        return {name for (name,) in self.db.execute("SELECT name FROM plans WHERE active = 1")}

    def plans_by_number(self) -> dict[str, str]:
        """Every number a dial plan routes -> the names of those plans ("A, B"), by number."""
        return dict(self.db.execute(
            "SELECT number, group_concat(plan, ', ') FROM (SELECT number, plan FROM plan_routes ORDER BY number, plan)"
            " GROUP BY number ORDER BY number"))

    def write_numbers(self, rows: Iterable[tuple[str, str, str, str, str]], now: float) -> None:
        """Insert or replace numbers: (number, route, fallback, announcement, label) each."""
        self.db.conn.executemany("INSERT OR REPLACE INTO numbers (number, route, fallback, announcement, label, updated_at)"
                                 " VALUES (?, ?, ?, ?, ?, ?)", [(*row, now) for row in rows])

    def delete_numbers(self, numbers: Iterable[str]) -> None:
        self.db.conn.executemany("DELETE FROM numbers WHERE number = ?", [(number,) for number in numbers])

    def write_plan_routes(self, name: str, routes: Iterable[tuple[str, str, str]], *, new: bool, now: float) -> None:
        """Create the plan ``name`` (``new``: not loaded, not active) or empty its routes,
        then give it ``routes``: (number, destination, announcement) each."""
        if new:
            self.db.execute("INSERT INTO plans (name, description, announcement, slot, active, updated_at) VALUES (?, '', '', NULL, 0, ?)",
                            [name, now])
        else:
            self.db.execute("DELETE FROM plan_routes WHERE plan = ?", [name])
            self.db.execute("UPDATE plans SET updated_at = ? WHERE name = ?", [now, name])
        self.db.conn.executemany("INSERT INTO plan_routes (plan, number, destination, announcement) VALUES (?, ?, ?, ?)",
                                 [(name, *route) for route in routes])

    def all_plan_routes(self) -> list[tuple[str, str, str, str]]:
        """(plan, number, destination, announcement) of every plan, by plan then number."""
        return [tuple(row) for row in self.db.execute(  # type: ignore[misc]
            "SELECT plan, number, destination, announcement FROM plan_routes ORDER BY plan, number")]

    # -- overrides -------------------------------------------------------------------

    def set_override(self, number: str, destination: str, *, staff: str, target: str = "", hours: float,
                     actor: str = "cli", now: float | None = None) -> Override:
        problem = dial_string_problem(destination)
        if problem:
            raise RoutingError(problem)
        if not 0 < hours <= 24 * 31:
            raise RoutingError(f"an override lasts between 0 and 744 hours (31 days), not {hours:g}")
        key = self.number_key(number)
        staff = self.number_key(staff)  # it reaches ROUTE_REASON (override:<staff>)
        now = time.time() if now is None else now
        override = Override(key, destination, staff, now + hours * 3600, target)
        with transaction(self.db):
            self.require_known(key)
            self.db.execute("INSERT OR REPLACE INTO overrides (number, destination, target, staff, created_at, expires_at, created_by)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?)", [key, destination, target, staff, now, override.expires_at, actor])
            audit(self.db, actor, "overrides.set", key, {"destination": destination, "target": target, "staff": staff,
                                                          "expires_at": override.expires_at})
            self.bump_version()
        return override

    def cancel_override(self, number: str, actor: str = "cli") -> str:
        key = self.number_key(number)
        with transaction(self.db):
            if self.db.execute("DELETE FROM overrides WHERE number = ?", [key]).rowcount == 0:
                raise RoutingError(f"{key} has no personal override")
            audit(self.db, actor, "overrides.cancel", key)
            self.bump_version()
        return key

    def overrides(self, now: float | None = None) -> list[dict[str, Any]]:
        now = time.time() if now is None else now
        return list(self.db.query("SELECT number, destination, target, staff, created_at, expires_at, created_by FROM overrides"
                                  " WHERE expires_at > ? ORDER BY number", [now]))

    # -- staff and PINs --------------------------------------------------------------

    def add_staff(self, number: str, name: str, pin: str, actor: str = "cli") -> str:
        key = self.number_key(number)
        pin_hash = hash_pin(pin)
        with transaction(self.db):
            self.require_known(key)
            self.db.execute("INSERT OR REPLACE INTO staff (number, name, pin_hash, created_at) VALUES (?, ?, ?, ?)",
                            [key, name, pin_hash, time.time()])
            audit(self.db, actor, "staff.set", key, {"name": name})
        return key

    def remove_staff(self, number: str, actor: str = "cli") -> str:
        key = self.number_key(number)
        with transaction(self.db):
            if self.db.execute("DELETE FROM staff WHERE number = ?", [key]).rowcount == 0:
                raise RoutingError(f"{key} is not a staff number")
            audit(self.db, actor, "staff.remove", key)
        return key

    def staff(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT number, name, created_at FROM staff ORDER BY number"))

    def staff_pin_hash(self, key: str) -> str | None:
        row = self.db.execute("SELECT pin_hash FROM staff WHERE number = ?", [key]).fetchone()
        return row[0] if row else None

    def set_plans_pin(self, pin: str, actor: str = "cli") -> None:
        pin_hash = hash_pin(pin)
        with transaction(self.db):
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [PLANS_PIN_KEY, pin_hash])
            audit(self.db, actor, "plans.pin", "plans")

    def plans_pin_hash(self) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [PLANS_PIN_KEY]).fetchone()
        return row[0] if row else None

    def check_lockout(self, scope: str, caller: str, access: AccessConfig, now: float | None = None) -> None:
        """Raise PinError when ``caller`` (or everyone, after too many failures from
        anywhere) is locked out of ``scope``."""
        now = time.time() if now is None else now
        since = now - access.lockout_minutes * 60
        mine = self.db.execute("SELECT count(*) FROM pin_failures WHERE scope = ? AND caller = ? AND ts > ?", [scope, caller, since]).fetchone()[0]
        if mine >= access.pin_attempts:
            raise PinError(f"{caller} is locked out of {scope} by phone after {mine} wrong PINs in {access.lockout_minutes} min"
                           f" (to let them try now: callshield pins unlock --scope {scope} --caller {caller})")
        everyone = self.db.execute("SELECT count(*) FROM pin_failures WHERE scope = ? AND ts > ?", [scope, since]).fetchone()[0]
        if everyone >= access.global_pin_attempts:
            raise PinError(f"{scope} by phone is locked for everyone after {everyone} wrong PINs in {access.lockout_minutes} min"
                           f" (to unlock it now: callshield pins unlock --scope {scope})")

    def record_pin_failure(self, scope: str, caller: str, detail: dict[str, Any], now: float | None = None) -> None:
        with transaction(self.db):
            self.db.execute("INSERT INTO pin_failures (ts, scope, caller) VALUES (?, ?, ?)", [time.time() if now is None else now, scope, caller])
            audit(self.db, f"phone:{caller}", f"{scope}.pin_failed", caller, detail)

    def clear_pin_failures(self, scope: str | None = None, caller: str | None = None, actor: str = "cli") -> int:
        where, params = [], []
        if scope:
            where.append("scope = ?")
            params.append(scope)
        if caller:
            where.append("caller = ?")
            params.append(caller)
        sql = "DELETE FROM pin_failures" + (" WHERE " + " AND ".join(where) if where else "")
        with transaction(self.db):
            n = self.db.execute(sql, params).rowcount
            audit(self.db, actor, "pins.unlock", caller or "*", {"scope": scope or "*", "cleared": n})
        return n

    # -- state -----------------------------------------------------------------------

    def version(self) -> int:
        return routes_version(self.db)

    def close(self) -> None:
        """Close the store's connection (it owns it: serve opens one for it)."""
        self.db.close()

    def bump_version(self) -> None:
        """Announce a change to the routing tables (serve reloads its route state); call
        inside the change's transaction. Every method here that changes routing calls it."""
        versions.bump(self.db, versions.ROUTES)

    def _row(self, sql: str, *params: Any) -> dict[str, Any] | None:
        rows = list(self.db.query(sql, list(params)))
        return rows[0] if rows else None


def check_number_row(route: str, fallback: str, announcement: str) -> None:
    for name, value in (("route", route), ("fallback", fallback)):
        if value:
            problem = dial_string_problem(value)
            if problem:
                raise RoutingError(f"{name}: {problem}")
    if not route:
        raise RoutingError("route: a number needs a normal route (a Dial() string such as PJSIP/agents)")
    if announcement and sound_problem(announcement):
        raise RoutingError(f"announcement: {sound_problem(announcement)}")


def routes_version(db: sqlite_utils.Database) -> int:
    return versions.current(db, versions.ROUTES)


def load_state(db: sqlite_utils.Database, now: float | None = None) -> RouteState:
    """The whole route state in one read transaction (numbers, active plans, live overrides)."""
    now = time.time() if now is None else now
    db.conn.execute("BEGIN")  # one read snapshot: version and rows agree
    try:
        version = routes_version(db)
        numbers = {r[0]: NumberRoute(r[0], r[1] or "", r[2] or "", r[3] or "", r[4] or "")
                   for r in db.execute("SELECT number, route, fallback, announcement, label FROM numbers")}
        active = []
        for name, slot, invoked_at, invoked_by, announcement in db.execute(
                "SELECT name, slot, invoked_at, invoked_by, announcement FROM plans WHERE active = 1").fetchall():
            routes = [(num, PlanRoute(name, dest, ann or announcement or ""))
                      for num, dest, ann in db.execute("SELECT number, destination, announcement FROM plan_routes WHERE plan = ?", [name])]
            active.append((ActivePlan(name, slot, invoked_at or 0.0, invoked_by or "", len(routes)), routes))
        overrides = {r[0]: Override(r[0], r[1], r[2], r[3], r[4] or "")
                     for r in db.execute("SELECT number, destination, staff, expires_at, target FROM overrides WHERE expires_at > ?", [now])}
        auto: dict[str, dict[str, PlanRoute]] = {}
        for name, destination, announcement in db.execute(
                "SELECT name, auto_for, announcement FROM plans WHERE auto_for IS NOT NULL AND auto_for != '' ORDER BY name").fetchall():
            routes = auto.setdefault(destination, {})
            for num, dest, ann in db.execute("SELECT number, destination, announcement FROM plan_routes WHERE plan = ?", [name]):
                routes.setdefault(num, PlanRoute(name, dest, ann or announcement or ""))
    finally:
        db.conn.rollback()
    return RouteState.build(numbers, active, overrides, version, auto)


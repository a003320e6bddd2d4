"""The routing tables of the store: numbers, dial plans and their slots, overrides,
staff and PINs; every change audited and bumping routes_version."""

from __future__ import annotations

import json
import time
from typing import Any, Callable

import pytest
import sqlite_utils

from callshield.manage import routing as control_module
from callshield.manage.routing import RouteControl
from callshield.store.pins import verify_pin
from callshield.dialplan.policy import RoutingTable
from callshield.dialplan.state import PlanRoute
from callshield.errors import PinError, RoutingError
from callshield.read.numbers import NumberIntel
from callshield.store import routing as routing_module
from callshield.store.routing import RoutingStore, load_state, routes_version

DDI = "+442071234567"
SECOND = "+442079460000"
CONFIG_DDI = "+442079460999"  # known through the configuration's routing.numbers only
T0 = 1_795_000_000.0
ACTOR = "cli:tester"


@pytest.fixture
def store(db: sqlite_utils.Database, intel: NumberIntel) -> RoutingStore:
    return RoutingStore(db, intel, [CONFIG_DDI])


@pytest.fixture
def numbered(store: RoutingStore) -> RoutingStore:
    """DDI and SECOND in the numbers table."""
    store.set_number(DDI, "PJSIP/agents", actor=ACTOR)
    store.set_number(SECOND, "PJSIP/sales", actor=ACTOR)
    return store


@pytest.fixture
def flood(numbered: RoutingStore) -> RoutingStore:
    """The plan 'Flood' routing DDI to PJSIP/leeds, loaded into slot 1 (idle)."""
    numbered.create_plan("Flood", actor=ACTOR)
    numbered.set_plan_route("Flood", DDI, "PJSIP/leeds", actor=ACTOR)
    numbered.load_plan("Flood", 1, actor=ACTOR)
    return numbered


def last_audit(store: RoutingStore) -> dict[str, Any]:
    return next(store.db.query("SELECT actor, action, target, detail FROM audit ORDER BY id DESC LIMIT 1"))


def audit_count(store: RoutingStore) -> int:
    return store.db.execute("SELECT count(*) FROM audit").fetchone()[0]


# -- numbers ---------------------------------------------------------------------------

def test_set_number_stores_the_e164_key_and_its_routes(store: RoutingStore) -> None:
    key = store.set_number("020 7123 4567", "PJSIP/agents", "PJSIP/overflow", "welcome", "Sales UK")

    assert key == DDI
    assert store.numbers() == [{"number": DDI, "route": "PJSIP/agents", "fallback": "PJSIP/overflow",
                                "announcement": "welcome", "label": "Sales UK"}]


def test_set_number_again_updates_the_row(numbered: RoutingStore) -> None:
    numbered.set_number(DDI, "PJSIP/other", label="moved")

    assert [r for r in numbered.numbers() if r["number"] == DDI] == [
        {"number": DDI, "route": "PJSIP/other", "fallback": "", "announcement": "", "label": "moved"}]


@pytest.mark.parametrize(("route", "fallback", "announcement", "problem"), [
    ("PJSIP/agents,30", "", "", "route: 'PJSIP/agents,30' is not a Dial() device string"),
    ("PJSIP/agents", "agents", "", "fallback: 'agents' is not a Dial() device string"),
    ("", "", "", "route: a number needs a normal route"),
    ("PJSIP/agents", "", "hello world", "announcement: 'hello world' is not a sound name"),
])
def test_set_number_refuses_a_bad_row(store: RoutingStore, route: str, fallback: str, announcement: str, problem: str) -> None:
    with pytest.raises(RoutingError, match="^" + problem.replace("(", r"\(").replace(")", r"\)")):
        store.set_number(DDI, route, fallback, announcement)

    assert store.numbers() == []


UNSAFE_DIAL = ["PJSIP/agents;x", "PJSIP/agents|x", "PJSIP/${SHELL(id)}", "PJSIP/agents(", "PJSIP/agents)",
               "PJSIP/{x}", "PJSIP/a\x00b", "PJSIP/a\x1bb", "PJSIP/caf\u00e9"]


@pytest.mark.parametrize("dial", UNSAFE_DIAL)
def test_a_dial_string_that_would_break_the_dialplan_is_refused_everywhere(flood: RoutingStore, dial: str) -> None:
    """ROUTE reaches Dial(${ROUTE},timeout,b(...)): an unbalanced ( would swallow the
    timeout and options; $ { } are variable syntax; ; | separators; control bytes."""
    before = (flood.numbers(), flood.plan_routes("Flood"), flood.overrides(), routes_version(flood.db))
    for change in (lambda: flood.set_number(SECOND, dial), lambda: flood.set_number(SECOND, "PJSIP/a", fallback=dial),
                   lambda: flood.set_plan_route("Flood", DDI, dial), lambda: flood.set_override(DDI, dial, staff=DDI, hours=1)):
        with pytest.raises(RoutingError, match=r"is not a Dial\(\) device string \(.* would break the dialplan"):
            change()

    assert (flood.numbers(), flood.plan_routes("Flood"), flood.overrides(), routes_version(flood.db)) == before


@pytest.mark.parametrize("dial", ["Local/+447700900123@callshield-outbound/n", "PJSIP/agents/sip:100@[2001:db8::1]:5060",
                                  "PJSIP/a&PJSIP/b", "DAHDI/g1/0800123", "PJSIP/*72#@pbx"])
def test_ordinary_dial_strings_are_accepted(numbered: RoutingStore, dial: str) -> None:
    numbered.set_number(DDI, dial)

    assert numbered.numbers()[0]["route"] == dial


@pytest.mark.parametrize("number", ["sales", "+", "1", "+44 20 7123 4567 ext 2"])
def test_a_number_that_is_not_a_phone_number_is_refused(store: RoutingStore, number: str) -> None:
    with pytest.raises(RoutingError, match="is not a phone number"):
        store.set_number(number, "PJSIP/agents")


def test_remove_number_deletes_it(numbered: RoutingStore) -> None:
    assert numbered.remove_number("02071234567") == DDI

    assert [r["number"] for r in numbered.numbers()] == [SECOND]


def test_remove_number_refuses_a_number_not_in_the_table(store: RoutingStore) -> None:
    with pytest.raises(RoutingError, match=rf"^\{DDI} is not in the numbers table$"):
        store.remove_number(DDI)


def test_remove_number_is_refused_while_a_plan_routes_it(flood: RoutingStore) -> None:
    with pytest.raises(RoutingError, match=r"is routed by dial plan\(s\) Flood"):
        flood.remove_number(DDI)

    assert DDI in {r["number"] for r in flood.numbers()}


# -- plans -----------------------------------------------------------------------------

def test_a_new_plan_is_idle_unloaded_and_empty(store: RoutingStore) -> None:
    store.create_plan("Flood", "office flooded", "closed")

    assert store.plans() == [{"name": "Flood", "slot": None, "active": 0, "invoked_at": None, "invoked_by": None,
                              "description": "office flooded", "announcement": "closed", "auto_for": None, "routes": 0}]


def test_create_plan_refuses_a_taken_name(store: RoutingStore) -> None:
    store.create_plan("Flood")

    with pytest.raises(RoutingError, match="a dial plan named 'Flood' already exists"):
        store.create_plan("Flood")


@pytest.mark.parametrize(("name", "why"), [("3", "all digits would read as a slot number"), ("", "is not a plan name"),
                                           ("-x", "is not a plan name"), ("a" * 65, "is not a plan name")])
def test_create_plan_refuses_a_bad_name(store: RoutingStore, name: str, why: str) -> None:
    with pytest.raises(RoutingError, match=why):
        store.create_plan(name)


def test_a_plan_name_ending_with_a_space_is_refused(store: RoutingStore) -> None:
    """plan() strips the name it is given: 'Flood ' could never be shown, routed or invoked."""
    with pytest.raises(RoutingError, match=r"^'Flood ' is not a plan name \(.*not ending with a space\)$"):
        store.create_plan("Flood ")

    store.create_plan("Flood 2.")
    assert store.plan(" Flood 2. ")["name"] == "Flood 2."


def test_plan_route_refuses_a_number_that_is_not_one_of_yours(numbered: RoutingStore) -> None:
    numbered.create_plan("Flood")

    with pytest.raises(RoutingError, match=r"^\+442079460123 is not one of your numbers"):
        numbered.set_plan_route("Flood", "02079460123", "PJSIP/leeds")

    assert numbered.plan_routes("Flood") == []


def test_plan_route_accepts_a_number_the_configuration_knows(store: RoutingStore) -> None:
    store.create_plan("Flood")

    store.set_plan_route("Flood", CONFIG_DDI, "PJSIP/leeds", "closed")

    assert store.plan_routes("Flood") == [{"number": CONFIG_DDI, "destination": "PJSIP/leeds", "announcement": "closed"}]


def test_plan_route_refuses_a_bad_destination(numbered: RoutingStore) -> None:
    numbered.create_plan("Flood")

    with pytest.raises(RoutingError, match="is not a Dial"):
        numbered.set_plan_route("Flood", DDI, "leeds")


def test_a_loaded_plan_is_found_by_its_slot(flood: RoutingStore) -> None:
    assert flood.plan("1")["name"] == "Flood"
    assert flood.plan(1)["slot"] == 1


def test_an_empty_slot_is_named_in_the_error(flood: RoutingStore) -> None:
    with pytest.raises(RoutingError, match="^no dial plan is loaded in slot 2$"):
        flood.plan("2")


def test_load_plan_refuses_a_slot_another_plan_holds(flood: RoutingStore) -> None:
    flood.create_plan("Snow")

    with pytest.raises(RoutingError, match="^slot 1 holds dial plan 'Flood'; unload it first$"):
        flood.load_plan("Snow", 1)


@pytest.mark.parametrize("slot", [0, 6])
def test_load_plan_refuses_a_slot_outside_1_to_5(numbered: RoutingStore, slot: int) -> None:
    numbered.create_plan("Flood")

    with pytest.raises(RoutingError, match=f"^slot {slot} does not exist: plans are loaded into slots 1-5$"):
        numbered.load_plan("Flood", slot)


def test_load_plan_moves_a_plan_to_another_slot(flood: RoutingStore) -> None:
    flood.load_plan("Flood", 3)

    assert flood.plan("Flood")["slot"] == 3


def test_invoke_needs_the_plan_loaded(numbered: RoutingStore) -> None:
    numbered.create_plan("Flood")

    with pytest.raises(RoutingError, match="is not loaded; load it into a slot first"):
        numbered.invoke_plan("Flood")


def test_invoke_activates_the_plan_with_who_and_when(flood: RoutingStore) -> None:
    plan = flood.invoke_plan("1", actor=ACTOR, now=T0)

    assert (plan["name"], plan["routes"]) == ("Flood", 1)
    assert {k: flood.plan("Flood")[k] for k in ("active", "invoked_at", "invoked_by")} == {
        "active": 1, "invoked_at": T0, "invoked_by": ACTOR}


def test_an_active_plan_routes_its_numbers_in_the_route_state(flood: RoutingStore) -> None:
    flood.invoke_plan("Flood")

    assert dict(load_state(flood.db).plans) == {DDI: PlanRoute("Flood", "PJSIP/leeds", "")}


def test_an_idle_plan_routes_nothing(flood: RoutingStore) -> None:
    assert dict(load_state(flood.db).plans) == {}


def test_revoke_returns_the_numbers_to_their_normal_routes(flood: RoutingStore) -> None:
    flood.invoke_plan("Flood")

    flood.revoke_plan("Flood")

    assert (flood.plan("Flood")["active"], dict(load_state(flood.db).plans)) == (0, {})


def test_revoke_refuses_an_idle_plan(flood: RoutingStore) -> None:
    with pytest.raises(RoutingError, match="^dial plan 'Flood' is not active$"):
        flood.revoke_plan("Flood")


def test_unload_is_refused_while_the_plan_is_active(flood: RoutingStore) -> None:
    flood.invoke_plan("Flood")

    with pytest.raises(RoutingError, match="is active; revoke it before unloading"):
        flood.unload_plan("Flood")

    assert flood.plan("Flood")["slot"] == 1


def test_unload_frees_the_slot(flood: RoutingStore) -> None:
    flood.unload_plan("1")

    assert flood.plan("Flood")["slot"] is None


def test_delete_is_refused_while_the_plan_is_active(flood: RoutingStore) -> None:
    flood.invoke_plan("Flood")

    with pytest.raises(RoutingError, match="is active; revoke it first"):
        flood.delete_plan("Flood")

    assert flood.plan_routes("Flood") != []


def test_delete_removes_the_plan_and_its_routes(flood: RoutingStore) -> None:
    flood.delete_plan("Flood")

    assert flood.plans() == []
    assert flood.db.execute("SELECT count(*) FROM plan_routes").fetchone()[0] == 0


def test_unknown_plan_names_the_list_command(store: RoutingStore) -> None:
    with pytest.raises(RoutingError, match=r"^no dial plan named 'Snow' \(callshield plans list shows them\)$"):
        store.plan("Snow")


# -- overrides -------------------------------------------------------------------------

def test_an_override_is_live_until_it_expires(numbered: RoutingStore) -> None:
    numbered.set_override(DDI, "PJSIP/+447700900123@trunk", staff=DDI, target="+447700900123", hours=2, now=T0)

    assert DDI in load_state(numbered.db, now=T0 + 2 * 3600 - 1).overrides
    assert DDI not in load_state(numbered.db, now=T0 + 2 * 3600).overrides


def test_overrides_lists_only_live_ones(numbered: RoutingStore) -> None:
    numbered.set_override(DDI, "PJSIP/x", staff=DDI, hours=1, now=T0)

    assert [o["number"] for o in numbered.overrides(now=T0 + 60)] == [DDI]
    assert numbered.overrides(now=T0 + 3600) == []


def test_an_override_of_a_number_that_is_not_yours_is_refused(store: RoutingStore) -> None:
    with pytest.raises(RoutingError, match="is not one of your numbers"):
        store.set_override(DDI, "PJSIP/x", staff=DDI, hours=1)


@pytest.mark.parametrize("hours", [0, -1, 24 * 31 + 1])
def test_an_override_lasts_between_a_minute_and_31_days(numbered: RoutingStore, hours: float) -> None:
    with pytest.raises(RoutingError, match="an override lasts between"):
        numbered.set_override(DDI, "PJSIP/x", staff=DDI, hours=hours)


def test_an_override_of_0_hours_says_what_is_allowed(numbered: RoutingStore) -> None:
    with pytest.raises(RoutingError, match=r"^an override lasts between 0 and 744 hours \(31 days\), not 0$"):
        numbered.set_override(DDI, "PJSIP/x", staff=DDI, hours=0)


def test_an_override_keeps_the_staff_number_as_e164(numbered: RoutingStore) -> None:
    """The staff number reaches ROUTE_REASON (override:<staff>): only a phone number gets there."""
    override = numbered.set_override(DDI, "PJSIP/x", staff="020 7123 4567", hours=1, now=T0)

    assert override.staff == DDI
    assert load_state(numbered.db, now=T0).overrides[DDI].staff == DDI
    with pytest.raises(RoutingError, match="is not a phone number"):
        numbered.set_override(DDI, "PJSIP/x", staff="Ann;x", hours=1)


def test_cancel_override_removes_it(numbered: RoutingStore) -> None:
    numbered.set_override(DDI, "PJSIP/x", staff=DDI, hours=1)

    numbered.cancel_override(DDI)

    assert numbered.overrides() == []


def test_cancel_without_an_override_is_refused(numbered: RoutingStore) -> None:
    with pytest.raises(RoutingError, match=r"^\+442071234567 has no personal override$"):
        numbered.cancel_override(DDI)


# -- staff and PINs --------------------------------------------------------------------

def test_a_staff_pin_is_stored_hashed_never_raw(numbered: RoutingStore) -> None:
    numbered.add_staff(DDI, "Ann", "482916")

    stored = numbered.staff_pin_hash(DDI)
    dump = "\n".join(numbered.db.iterdump())
    assert stored is not None and stored.startswith("pbkdf2_sha256$")
    assert "482916" not in dump
    assert verify_pin("482916", stored) and not verify_pin("482917", stored)


def test_staff_lists_names_without_pins(numbered: RoutingStore) -> None:
    numbered.add_staff(DDI, "Ann", "482916")

    assert [(s["number"], s["name"]) for s in numbered.staff()] == [(DDI, "Ann")]
    assert "pin_hash" not in numbered.staff()[0]


def test_a_pin_that_is_not_4_to_12_digits_is_refused(numbered: RoutingStore) -> None:
    with pytest.raises(PinError, match="a PIN is 4 to 12 digits"):
        numbered.add_staff(DDI, "Ann", "12a4")


def test_staff_must_be_one_of_your_numbers(store: RoutingStore) -> None:
    with pytest.raises(RoutingError, match="is not one of your numbers"):
        store.add_staff(DDI, "Ann", "482916")


def test_the_plans_pin_is_stored_hashed(store: RoutingStore) -> None:
    store.set_plans_pin("135790")

    assert verify_pin("135790", store.plans_pin_hash())
    assert "135790" not in "\n".join(store.db.iterdump())


def test_pin_failures_lock_the_caller_out_until_unlocked(store: RoutingStore, make_config: Callable[..., Any]) -> None:
    access = make_config().routing.access
    for _ in range(access.pin_attempts):
        store.record_pin_failure("plans", SECOND, {}, now=T0)

    with pytest.raises(PinError, match="is locked out of plans"):
        store.check_lockout("plans", SECOND, access, now=T0 + 1)
    assert store.clear_pin_failures("plans", SECOND) == access.pin_attempts
    store.check_lockout("plans", SECOND, access, now=T0 + 1)


def test_a_lockout_names_the_command_that_clears_it(store: RoutingStore, make_config: Callable[..., Any]) -> None:
    access = make_config().routing.access
    for _ in range(access.pin_attempts):
        store.record_pin_failure("override", SECOND, {}, now=T0)

    with pytest.raises(PinError) as mine:
        store.check_lockout("override", SECOND, access, now=T0 + 1)
    for n in range(access.global_pin_attempts):
        store.record_pin_failure("plans", f"+4420794600{n:02d}", {}, now=T0)
    with pytest.raises(PinError) as everyone:
        store.check_lockout("plans", "anonymous", access, now=T0 + 1)

    assert str(mine.value) == (f"{SECOND} is locked out of override by phone after 3 wrong PINs in 15 min"
                               f" (to let them try now: callshield pins unlock --scope override --caller {SECOND})")
    assert str(everyone.value) == ("plans by phone is locked for everyone after 10 wrong PINs in 15 min"
                                   " (to unlock it now: callshield pins unlock --scope plans)")


def test_unlock_of_one_scope_keeps_the_other(store: RoutingStore) -> None:
    store.record_pin_failure("plans", SECOND, {}, now=T0)
    store.record_pin_failure("override", SECOND, {}, now=T0)

    store.clear_pin_failures(scope="plans")

    assert [r[0] for r in store.db.execute("SELECT scope FROM pin_failures")] == ["override"]


# -- audit and routes_version ----------------------------------------------------------

CHANGES: list[tuple[str, Callable[[RoutingStore], Any], str, str]] = [
    ("set number", lambda s: s.set_number(SECOND, "PJSIP/x", actor=ACTOR), "numbers.set", SECOND),
    ("remove number", lambda s: s.remove_number(SECOND, actor=ACTOR), "numbers.remove", SECOND),
    ("create plan", lambda s: s.create_plan("Snow", actor=ACTOR), "plans.create", "Snow"),
    ("route", lambda s: s.set_plan_route("Flood", SECOND, "PJSIP/x", actor=ACTOR), "plans.route", f"Flood:{SECOND}"),
    ("unroute", lambda s: s.remove_plan_route("Flood", DDI, actor=ACTOR), "plans.unroute", f"Flood:{DDI}"),
    ("load", lambda s: s.load_plan("Flood", 2, actor=ACTOR), "plans.load", "Flood"),
    ("unload", lambda s: s.unload_plan("Flood", actor=ACTOR), "plans.unload", "Flood"),
    ("invoke", lambda s: s.invoke_plan("Flood", actor=ACTOR), "plans.invoke", "Flood"),
    ("delete", lambda s: s.delete_plan("Flood", actor=ACTOR), "plans.delete", "Flood"),
    ("override", lambda s: s.set_override(DDI, "PJSIP/x", staff=DDI, hours=1, actor=ACTOR), "overrides.set", DDI),
]


@pytest.mark.parametrize(("change", "action", "target"), [c[1:] for c in CHANGES], ids=[c[0] for c in CHANGES])
def test_every_routing_change_bumps_routes_version_once(flood: RoutingStore, change: Callable[[RoutingStore], Any],
                                                         action: str, target: str) -> None:
    before = routes_version(flood.db)

    change(flood)

    assert routes_version(flood.db) == before + 1


@pytest.mark.parametrize(("change", "action", "target"), [c[1:] for c in CHANGES], ids=[c[0] for c in CHANGES])
def test_every_routing_change_is_audited_with_its_actor(flood: RoutingStore, change: Callable[[RoutingStore], Any],
                                                         action: str, target: str) -> None:
    change(flood)

    entry = last_audit(flood)
    assert (entry["actor"], entry["action"], entry["target"]) == (ACTOR, action, target)


def test_revoke_and_cancel_are_audited_and_bump_the_version(flood: RoutingStore) -> None:
    flood.invoke_plan("Flood")
    flood.set_override(DDI, "PJSIP/x", staff=DDI, hours=1)
    before = routes_version(flood.db)

    flood.revoke_plan("Flood", actor=ACTOR)
    flood.cancel_override(DDI, actor=ACTOR)

    assert routes_version(flood.db) == before + 2
    assert [r["action"] for r in flood.db.query("SELECT action FROM audit ORDER BY id DESC LIMIT 2")] == [
        "overrides.cancel", "plans.revoke"]


def test_the_audit_entry_keeps_what_a_number_was(numbered: RoutingStore) -> None:
    numbered.set_number(DDI, "PJSIP/new", actor=ACTOR)

    assert json.loads(last_audit(numbered)["detail"])["was"]["route"] == "PJSIP/agents"


def test_a_refused_change_is_neither_audited_nor_versioned(flood: RoutingStore) -> None:
    before = (routes_version(flood.db), audit_count(flood))

    with pytest.raises(RoutingError):
        flood.set_plan_route("Flood", "02079460123", "PJSIP/x")

    assert (routes_version(flood.db), audit_count(flood)) == before


def test_staff_changes_are_audited_without_the_pin(numbered: RoutingStore) -> None:
    numbered.add_staff(DDI, "Ann", "482916", actor=ACTOR)

    entry = last_audit(numbered)
    assert (entry["actor"], entry["action"], entry["target"], json.loads(entry["detail"])) == (ACTOR, "staff.set", DDI, {"name": "Ann"})


def test_a_change_whose_audit_fails_leaves_nothing_behind(store: RoutingStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_audit(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(routing_module, "audit", broken_audit)

    with pytest.raises(RuntimeError):
        store.set_number(DDI, "PJSIP/agents")

    assert store.numbers() == []


# -- RouteControl: reloads only what changed -------------------------------------------

@pytest.fixture
def reloads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The versions of every route state RouteControl loads."""
    loaded: list[int] = []

    def counting_load_state(db: sqlite_utils.Database, now: float | None = None) -> Any:
        state = load_state(db, now)
        loaded.append(state.version)
        return state

    monkeypatch.setattr(control_module, "load_state", counting_load_state)
    return loaded


@pytest.mark.asyncio
async def test_route_control_reloads_after_a_change_but_not_after_a_read(
        flood: RoutingStore, intel: NumberIntel, make_config: Callable[..., Any], reloads: list[int]) -> None:
    """A PIN entry by phone reads the PIN hash and the lockout several times: reloading
    the whole route state (10,000 numbers: tens of ms of CPU) after each was waste."""
    access = make_config().routing.access
    flood.set_plans_pin("482916")
    control = RouteControl(flood, RoutingTable(make_config().routing, intel))
    control.load()
    assert reloads == [routes_version(flood.db)]

    assert await control.run(RoutingStore.plans_pin_hash) is not None
    await control.run(RoutingStore.check_lockout, "plans", SECOND, access)
    await control.run(RoutingStore.record_pin_failure, "plans", SECOND, {})
    with pytest.raises(RoutingError):
        await control.run(RoutingStore.revoke_plan, "1")
    assert len(reloads) == 1

    await control.run(RoutingStore.invoke_plan, "1")

    assert reloads[1:] == [routes_version(flood.db)]
    assert dict(control.table.state.plans) == {DDI: PlanRoute("Flood", "PJSIP/leeds", "")}


@pytest.mark.asyncio
async def test_route_control_drops_an_expired_override_on_the_next_run(
        numbered: RoutingStore, intel: NumberIntel, make_config: Callable[..., Any], reloads: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    numbered.set_override(DDI, "PJSIP/x", staff=DDI, hours=1, now=T0)
    monkeypatch.setattr(time, "time", lambda: T0)
    control = RouteControl(numbered, RoutingTable(make_config().routing, intel))
    control.load()
    assert DDI in control.table.state.overrides

    monkeypatch.setattr(time, "time", lambda: T0 + 3600)
    await control.run(RoutingStore.plans_pin_hash)

    assert len(reloads) == 2 and DDI not in control.table.state.overrides


def test_a_plain_phone_number_as_a_route_is_dialled_through_number_dial(db) -> None:
    from callshield.read.numbers import NumberIntel

    store = RoutingStore(db, NumberIntel("GB"), number_dial="PJSIP/{number}@carrier")

    store.set_number(DDI, "07700 900123", fallback="+447700900999")

    row = store.numbers()[0]
    assert (row["route"], row["fallback"]) == ("PJSIP/+447700900123@carrier", "PJSIP/+447700900999@carrier")


def test_a_plain_phone_number_as_a_plan_destination_uses_the_default_outbound_context(db) -> None:
    from callshield.read.numbers import NumberIntel

    store = RoutingStore(db, NumberIntel("GB"))
    store.set_number(DDI, "PJSIP/agents")
    store.create_plan("Flood")

    store.set_plan_route("Flood", DDI, "+447700900123")

    assert store.plan_routes("Flood")[0]["destination"] == "Local/+447700900123@callshield-outbound"

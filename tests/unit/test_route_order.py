"""The route decision order (docs/routing.md), one behaviour per test.

0 risk blocks (reject, announce_hangup) > 1 live personal override > 2 active dial plan >
3 normal route's destination down (secondary) > 4 risk policy (divert, flagged,
cap reached) > 5 normal route. Every decision's ROUTE_REASON names the rule that chose
it; the whole RouteDecision is compared, so the strings are checked exactly.

Numbers: DDI +442071234567 is the dialled number; +447700900123 the staff member's
mobile. Routes: PJSIP/agents (normal), PJSIP/overflow (secondary), PJSIP/fraudteam
(risk divert), PJSIP/drsite (a dial plan's destination).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

from callshield.config import Config
from callshield.manage.routing import RouteControl
from callshield.dialplan.destination_health import Outage, TrunkHealth
from callshield.dialplan.policy import HIGH_RISK, SAFE, SUSPICIOUS, RouteDecision, RoutingTable
from callshield.dialplan.state import ActivePlan, NumberRoute, Override, PlanRoute, RouteState
from callshield.errors import RoutingError
from callshield.read.numbers import NumberIntel
from callshield.store import open_store
from callshield.store.audit import recent
from callshield.store.routing import RoutingStore, load_state

DDI = "+442071234567"
STAFF = DDI  # a personal override: the staff member keys their own number (the DDI)
MOBILE = "Local/+447700900123@callshield-outbound"
T0 = 1_795_000_000.0

POLICY = {
    "routing.default.route": "PJSIP/agents",
    "routing.default.fallback": "PJSIP/overflow",
    "routing.default.announcement": "welcome",
    "routing.default.suspicious": {"action": "deliver"},
    "routing.default.high_risk": {"action": "divert", "destination": "PJSIP/fraudteam"},
}


@pytest.fixture
def config(make_config: Callable[..., Config]) -> Config:
    return make_config(overrides=POLICY)


def make_table(config: Config, intel: NumberIntel, *, numbers: dict[str, NumberRoute] | None = None,
               plans: list[tuple[ActivePlan, list[tuple[str, PlanRoute]]]] | None = None,
               overrides: dict[str, Override] | None = None, down: tuple[str, ...] = ()) -> RoutingTable:
    health = TrunkHealth()
    for name in down:
        health.mark_down(Outage(name, T0 - 60, "unreachable"))
    state = RouteState.build(numbers or {}, plans or [], overrides or {}, version=1)
    return RoutingTable(config.routing, intel, state=state, health=health)


def decide(table: RoutingTable, status: str = SAFE, now: float = T0) -> RouteDecision:
    return table.decide(DDI, table.policy(DDI), status, now)


def plan(name: str = "flood", destination: str = "PJSIP/drsite", announcement: str = "", invoked_at: float = T0 - 300,
         number: str = DDI) -> tuple[ActivePlan, list[tuple[str, PlanRoute]]]:
    return (ActivePlan(name, 1, invoked_at, "cli", 1), [(number, PlanRoute(name, destination, announcement))])


def override(expires_at: float = T0 + 3600, destination: str = MOBILE) -> dict[str, Override]:
    return {DDI: Override(DDI, destination, STAFF, expires_at)}


NORMAL = RouteDecision("deliver", "PJSIP/agents", "PJSIP/overflow", "normal", "welcome")
OVERRIDE = RouteDecision("deliver", MOBILE, "PJSIP/agents", f"override:{STAFF}", "")
PLAN = RouteDecision("deliver", "PJSIP/drsite", "PJSIP/overflow", "plan:flood", "")
TRUNK_DOWN = RouteDecision("deliver", "PJSIP/overflow", "", "trunk_down:agents", "welcome")


# --- 5: the normal route ------------------------------------------------------------

def test_a_safe_call_with_nothing_else_in_force_takes_the_normal_route(config: Config, intel: NumberIntel) -> None:
    assert decide(make_table(config, intel)) == NORMAL


# --- 1: the personal override ---------------------------------------------------------

def test_a_live_override_sends_the_call_to_the_staff_phone_with_the_normal_route_behind_it(config, intel) -> None:
    assert decide(make_table(config, intel, overrides=override())) == OVERRIDE


def test_override_beats_an_active_plan(config: Config, intel: NumberIntel) -> None:
    table = make_table(config, intel, plans=[plan()], overrides=override())

    assert decide(table) == OVERRIDE


def test_override_beats_a_down_normal_route(config: Config, intel: NumberIntel) -> None:
    table = make_table(config, intel, overrides=override(), down=("agents",))

    assert decide(table) == OVERRIDE


def test_override_beats_a_risk_divert(config: Config, intel: NumberIntel) -> None:
    assert decide(make_table(config, intel, overrides=override()), HIGH_RISK) == OVERRIDE


def test_an_expired_override_is_ignored(config: Config, intel: NumberIntel) -> None:
    table = make_table(config, intel, plans=[plan()], overrides=override(expires_at=T0))

    assert decide(table) == PLAN


def test_an_override_expires_at_its_expiry_time(config: Config, intel: NumberIntel) -> None:
    table = make_table(config, intel, overrides=override(expires_at=T0 + 10))

    assert [decide(table, now=T0 + 9.999).reason, decide(table, now=T0 + 10).reason] == [f"override:{STAFF}", "normal"]


# --- 2: the active dial plan -----------------------------------------------------------

def test_an_active_plan_routes_the_number_to_its_destination(config: Config, intel: NumberIntel) -> None:
    table = make_table(config, intel, plans=[plan(announcement="dr/flood")])

    assert decide(table) == RouteDecision("deliver", "PJSIP/drsite", "PJSIP/overflow", "plan:flood", "dr/flood")


def test_a_plan_that_does_not_route_the_number_leaves_it_alone(config: Config, intel: NumberIntel) -> None:
    table = make_table(config, intel, plans=[plan(number="+442079460000")])

    assert decide(table) == NORMAL


def test_plan_beats_a_down_normal_route(config: Config, intel: NumberIntel) -> None:
    table = make_table(config, intel, plans=[plan()], down=("agents",))

    assert decide(table) == PLAN


def test_plan_beats_a_risk_divert(config: Config, intel: NumberIntel) -> None:
    assert decide(make_table(config, intel, plans=[plan()]), HIGH_RISK) == PLAN


def test_plan_beats_a_flagged_delivery(config: Config, intel: NumberIntel) -> None:
    assert decide(make_table(config, intel, plans=[plan()]), SUSPICIOUS) == PLAN


def test_of_two_active_plans_the_most_recently_invoked_wins(config: Config, intel: NumberIntel) -> None:
    # Listed newest first: the order of the list must not matter, invoked_at does.
    newer = plan("storm", "PJSIP/siteb", invoked_at=T0 - 10)
    older = plan("flood", "PJSIP/drsite", invoked_at=T0 - 300)

    table = make_table(config, intel, plans=[newer, older])

    assert decide(table) == RouteDecision("deliver", "PJSIP/siteb", "PJSIP/overflow", "plan:storm", "")


# --- 3: trunk health -------------------------------------------------------------------

def test_a_down_normal_route_sends_the_call_to_the_secondary(config: Config, intel: NumberIntel) -> None:
    assert decide(make_table(config, intel, down=("agents",))) == TRUNK_DOWN


def test_a_down_secondary_is_not_used_the_normal_route_is_kept(config: Config, intel: NumberIntel) -> None:
    table = make_table(config, intel, down=("agents", "overflow"))

    assert decide(table) == NORMAL


def test_a_down_normal_route_without_a_secondary_is_kept(make_config: Callable[..., Config], intel: NumberIntel) -> None:
    config = make_config(overrides={**POLICY, "routing.default.fallback": ""})

    assert decide(make_table(config, intel, down=("agents",))) == RouteDecision("deliver", "PJSIP/agents", "", "normal", "welcome")


def test_a_down_destination_other_than_the_normal_route_changes_nothing(config: Config, intel: NumberIntel) -> None:
    assert decide(make_table(config, intel, down=("overflow",))) == NORMAL


def test_trunk_down_beats_a_risk_divert(config: Config, intel: NumberIntel) -> None:
    assert decide(make_table(config, intel, down=("agents",)), HIGH_RISK) == TRUNK_DOWN


def test_trunk_down_beats_a_flagged_delivery(config: Config, intel: NumberIntel) -> None:
    assert decide(make_table(config, intel, down=("agents",)), SUSPICIOUS) == TRUNK_DOWN


# --- 0: the risk policy's blocks ---------------------------------------------------------

@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"action": "reject"}, RouteDecision("reject", "", "", "risk_policy:HIGH_RISK:reject", "welcome")),
        ({"action": "announce_hangup", "announcement": "goodbye"},
         RouteDecision("announce_hangup", "", "", "risk_policy:HIGH_RISK:announce_hangup", "goodbye")),
    ],
)
def test_a_risk_block_beats_override_plan_and_trunk_health(make_config, intel, rule, expected) -> None:
    config = make_config(overrides={**POLICY, "routing.default.high_risk": rule})
    table = make_table(config, intel, plans=[plan()], overrides=override(), down=("agents",))

    assert decide(table, HIGH_RISK) == expected


def test_a_risk_block_applies_only_to_its_status(make_config: Callable[..., Config], intel: NumberIntel) -> None:
    config = make_config(overrides={**POLICY, "routing.default.high_risk": {"action": "reject"}})
    table = make_table(config, intel, overrides=override())

    assert decide(table, SUSPICIOUS) == OVERRIDE


# --- 4: the risk policy -------------------------------------------------------------------

def test_a_risk_divert_keeps_the_normal_route_as_fallback(config: Config, intel: NumberIntel) -> None:
    assert decide(make_table(config, intel), HIGH_RISK) == RouteDecision(
        "divert", "PJSIP/fraudteam", "PJSIP/agents", "risk_policy:HIGH_RISK:divert", "welcome")


def test_a_flagged_delivery_keeps_the_numbers_route(config: Config, intel: NumberIntel) -> None:
    table = make_table(config, intel, numbers={DDI: NumberRoute(DDI, "PJSIP/sales", "PJSIP/salesbackup", "sales/hello")})

    assert decide(table, SUSPICIOUS) == RouteDecision(
        "deliver", "PJSIP/sales", "PJSIP/salesbackup", "risk_policy:SUSPICIOUS:flagged", "sales/hello")


def test_cap_reached_keeps_the_numbers_route(make_config: Callable[..., Config], intel: NumberIntel) -> None:
    config = make_config(overrides={**POLICY, "routing.default.high_risk": {
        "action": "divert", "destination": "PJSIP/fraudteam", "max_per_hour": 1}})
    table = make_table(config, intel, numbers={DDI: NumberRoute(DDI, "PJSIP/sales", "PJSIP/salesbackup")})

    first, second = decide(table, HIGH_RISK, now=T0), decide(table, HIGH_RISK, now=T0 + 1)

    assert first.reason == "risk_policy:HIGH_RISK:divert"
    assert second == RouteDecision("deliver", "PJSIP/sales", "PJSIP/salesbackup", "risk_policy:HIGH_RISK:cap_reached", "welcome")


# --- the number's own route from the store ---------------------------------------------------

def test_the_stored_route_fallback_and_announcement_override_the_config_policy(config: Config, intel: NumberIntel) -> None:
    table = make_table(config, intel, numbers={DDI: NumberRoute(DDI, "PJSIP/sales", "PJSIP/salesbackup", "sales/hello")})

    assert decide(table) == RouteDecision("deliver", "PJSIP/sales", "PJSIP/salesbackup", "normal", "sales/hello")


def test_empty_stored_fields_inherit_the_config_policy(config: Config, intel: NumberIntel) -> None:
    table = make_table(config, intel, numbers={DDI: NumberRoute(DDI, "PJSIP/sales")})

    assert decide(table) == RouteDecision("deliver", "PJSIP/sales", "PJSIP/overflow", "normal", "welcome")


def test_the_stored_secondary_is_the_one_trunk_health_uses(config: Config, intel: NumberIntel) -> None:
    table = make_table(config, intel, numbers={DDI: NumberRoute(DDI, "PJSIP/sales", "PJSIP/salesbackup")}, down=("sales",))

    assert decide(table) == RouteDecision("deliver", "PJSIP/salesbackup", "", "trunk_down:sales", "welcome")


def test_a_plan_keeps_the_stored_secondary_as_its_fallback(config: Config, intel: NumberIntel) -> None:
    table = make_table(config, intel, numbers={DDI: NumberRoute(DDI, "PJSIP/sales", "PJSIP/salesbackup")}, plans=[plan()])

    assert decide(table) == RouteDecision("deliver", "PJSIP/drsite", "PJSIP/salesbackup", "plan:flood", "")


def test_an_override_falls_back_to_the_stored_route(config: Config, intel: NumberIntel) -> None:
    table = make_table(config, intel, numbers={DDI: NumberRoute(DDI, "PJSIP/sales")}, overrides=override())

    assert decide(table) == RouteDecision("deliver", MOBILE, "PJSIP/sales", f"override:{STAFF}", "")


# --- the store: load_state ----------------------------------------------------------------------

@pytest.fixture
def store(intel: NumberIntel) -> RoutingStore:
    s = RoutingStore(open_store(":memory:"), intel)
    s.set_number(DDI, "PJSIP/agents", "PJSIP/overflow")
    s.set_number("+442079460000", "PJSIP/agents")
    return s


def test_a_plan_route_without_an_announcement_gets_the_plans_default(store: RoutingStore) -> None:
    store.create_plan("flood", announcement="dr/flood")
    store.set_plan_route("flood", DDI, "PJSIP/drsite")
    store.set_plan_route("flood", "+442079460000", "PJSIP/drsite", announcement="dr/sales-moved")
    store.load_plan("flood", 1)
    store.invoke_plan("flood", now=T0)

    plans = load_state(store.db, now=T0).plans

    assert (plans[DDI].announcement, plans["+442079460000"].announcement) == ("dr/flood", "dr/sales-moved")


def test_the_store_resolves_two_active_plans_by_invocation_time(store: RoutingStore) -> None:
    for slot, name in enumerate(("flood", "storm"), start=1):
        store.create_plan(name)
        store.set_plan_route(name, DDI, f"PJSIP/{name}")
        store.load_plan(name, slot)
    store.invoke_plan("storm", now=T0)
    store.invoke_plan("flood", now=T0 + 1)
    store.invoke_plan("storm", now=T0 + 2)   # invoked again: the newest once more

    state = load_state(store.db, now=T0 + 3)

    assert state.plans[DDI] == PlanRoute("storm", "PJSIP/storm")
    assert {a.name for a in state.active} == {"flood", "storm"}


def test_load_state_leaves_out_expired_overrides(store: RoutingStore) -> None:
    store.set_override(DDI, MOBILE, staff=STAFF, hours=1, now=T0)

    assert [DDI in load_state(store.db, now=t).overrides for t in (T0 + 3599, T0 + 3600)] == [True, False]


# --- RouteControl: the change reaches the table ----------------------------------------------------

@pytest.fixture
def file_store(tmp_path: Path, intel: NumberIntel) -> Iterator[RoutingStore]:
    s = RoutingStore(open_store(tmp_path / "callshield.db"), intel)
    s.set_number(DDI, "PJSIP/agents", "PJSIP/overflow")
    s.create_plan("flood", announcement="dr/flood")
    s.set_plan_route("flood", DDI, "PJSIP/drsite")
    s.load_plan("flood", 1)
    yield s
    s.db.close()


@pytest.mark.asyncio
async def test_route_control_run_swaps_the_new_state_in_before_it_returns(file_store: RoutingStore, config, intel) -> None:
    table = RoutingTable(config.routing, intel)
    control = RouteControl(file_store, table)
    control.refresh()
    assert decide(table, now=T0).reason == "normal"

    row = await control.run(RoutingStore.invoke_plan, "1", actor="phone:+447700900123")

    assert row["name"] == "flood"
    assert table.state.version == file_store.version()
    assert decide(table) == RouteDecision("deliver", "PJSIP/drsite", "PJSIP/overflow", "plan:flood", "dr/flood")
    entry = recent(file_store.db, 1)[0]
    assert (entry["actor"], entry["action"], entry["target"]) == ("phone:+447700900123", "plans.invoke", "flood")


@pytest.mark.asyncio
async def test_a_refused_change_raises_and_leaves_the_routing_as_it_was(file_store: RoutingStore, config, intel) -> None:
    table = RoutingTable(config.routing, intel)
    control = RouteControl(file_store, table)
    control.refresh()
    before = table.state

    with pytest.raises(RoutingError, match="not active"):
        await control.run(RoutingStore.revoke_plan, "flood", actor="cli")

    assert table.state.version == before.version and dict(table.state.plans) == dict(before.plans)


def test_route_control_refresh_picks_up_a_change_made_through_another_connection(
        file_store: RoutingStore, tmp_path: Path, config: Config, intel: NumberIntel) -> None:
    table = RoutingTable(config.routing, intel)
    control = RouteControl(file_store, table)
    assert control.refresh() is True
    cli = RoutingStore(open_store(tmp_path / "callshield.db"), intel)   # the CLI's own connection
    try:
        assert control.refresh() is False
        cli.invoke_plan("flood", actor="cli")
        assert decide(table).reason == "normal"          # not before the reload loop runs

        assert control.refresh() is True

        assert decide(table).reason == "plan:flood"
        assert control.refresh() is False
    finally:
        cli.db.close()



def test_a_drill_call_is_routed_as_safe_without_scoring_or_memory(make_screener, call):
    screener = make_screener()
    withheld = dict(caller_number="", presentation="prohib", drill="drill-1-1")

    first = screener.screen(call(**withheld))
    second = screener.screen(call(**withheld))

    assert (second.decision.score, second.decision.status, second.decision.scorer) == (0, "SAFE", "drill")
    assert second.velocity.withheld_to_dialled == 0 and first.dna is None

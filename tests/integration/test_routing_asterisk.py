"""Routing through a real Asterisk: dial plans invoked from the CLI and by telephone
(DTMF as SIP INFO, PIN, lockout), personal overrides, and CSV imports into a running
``callshield serve``.

Set-up goes straight into the serve's SQLite store (RoutingStore, another process, as
the CLI would); each test waits for the serve's log line saying it loaded that
routes_version before placing calls.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterator

import pytest

from callshield.read.numbers import NumberIntel
from callshield.store import open_store
from callshield.store.routing import RoutingStore
from tests.integration.helpers import cli, route_reason
from tests.support.service import blocking, eventually

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio]

PLANS_PIN = "2468"
STAFF_PIN = "1357"
_plan_names = itertools.count(1)


@dataclass
class Routing:
    store: RoutingStore
    callshield: object

    def applied(self) -> None:
        """Wait until the running serve has loaded the store's current route state."""
        version = self.store.version()
        blocking(eventually(lambda: f"route state v{version} loaded in" in self.callshield.log_text(), 5,
                            f"serve to load route state v{version}"))

    def audit(self, action: str, actor: str | None = None) -> list[dict]:
        sql, params = "SELECT * FROM audit WHERE action = ?", [action]
        if actor is not None:
            sql, params = sql + " AND actor = ?", params + [actor]
        return list(self.store.db.query(sql + " ORDER BY id", params))


@pytest.fixture
def routing(callshield) -> Iterator[Routing]:
    db = open_store(callshield.db_path)
    try:
        yield Routing(RoutingStore(db, NumberIntel("GB")), callshield)
    finally:
        db.close()


@pytest.fixture
def number(routing: Routing, numbers: dict[str, str]) -> str:
    """The test's dialled number, in the store with agents as its normal route."""
    routing.store.set_number(numbers["ddi"], "PJSIP/agents", "PJSIP/overflow", label="integration test")
    return numbers["ddi"]


@pytest.fixture
def plan(routing: Routing, number: str) -> Iterator[dict]:
    """A dial plan routing the test's number to the DR site, loaded in a free slot."""
    name = f"DR test {next(_plan_names)}"
    store = routing.store
    used = {p["slot"] for p in store.plans() if p["slot"]}
    slot = min(set(range(1, 6)) - used)
    store.create_plan(name, description="integration test")
    store.set_plan_route(name, number, "PJSIP/drsite")
    store.load_plan(name, slot)
    store.set_plans_pin(PLANS_PIN)
    yield {"name": name, "slot": slot}
    if store.plan(name)["active"]:
        store.revoke_plan(name)
    store.unload_plan(name)
    store.delete_plan(name)


async def call(caller, asterisk, to: str, from_user: str, **kwargs):
    kwargs.setdefault("answer_timeout", 10.0)
    result = await caller.invite(("127.0.0.1", asterisk.ports.sip), to_user=to, from_user=from_user, **kwargs)
    if result.answered and not kwargs.get("hangup_after_answer", True):
        caller.send_media(result)  # a telephone keying digits also sends audio
    return result


async def prompt(ami, caller_number: str, sound: str, nth: int = 1, timeout: float = 15.0) -> None:
    """Wait until the AGI has started its ``nth`` GET DATA with ``sound`` on this caller's
    channel (the AMI AGIExecStart event): the moment keyed digits are listened for."""

    def seen() -> int:
        return sum(1 for e in ami.events if e.get("Event") == "AGIExecStart" and e.get("CallerIDNum") == caller_number
                   and e.get("Command", "").startswith(f'GET DATA "{sound}"'))

    await ami.wait_event(lambda _e: seen() >= nth, timeout)


async def key(caller, result, ami, caller_number: str, sound: str, digits: str, nth: int = 1) -> None:
    """Key ``digits`` at the ``nth`` prompt ``sound``, one SIP INFO per digit, each sent
    once Asterisk has finished the previous digit (its AMI DTMFEnd): Asterisk gives an
    INFO digit its duration and, with no media from the caller, holds back a digit that
    arrives inside the previous one's."""
    await prompt(ami, caller_number, sound, nth)

    def ended() -> int:
        return sum(1 for e in ami.events if e.get("Event") == "DTMFEnd" and e.get("CallerIDNum") == caller_number
                   and e.get("Direction") == "Received")

    for digit in digits:
        done = ended() + 1
        assert await caller.send_info_dtmf(result, digit) == [200]
        await ami.wait_event(lambda _e: ended() >= done, 5)


async def test_a_plan_invoked_from_the_cli_reroutes_the_next_call_and_revoking_restores(
        asterisk, callshield, routing, plan, number, caller, agents, drsite, numbers):
    invoked = cli(callshield, "plans", "invoke", plan["name"])
    assert invoked.returncode == 0, invoked.stderr
    routing.applied()

    diverted = await call(caller, asterisk, number, numbers["caller"])

    assert diverted.final_status == 200
    assert route_reason(drsite.calls[-1]) == f"plan:{plan['name']}"
    assert agents.calls == []

    revoked = cli(callshield, "plans", "revoke", str(plan["slot"]))
    assert revoked.returncode == 0, revoked.stderr
    routing.applied()
    restored = await call(caller, asterisk, number, numbers["caller"])

    assert restored.final_status == 200
    assert route_reason(agents.calls[-1]) == "normal"


async def test_a_plan_reroutes_every_number_it_names(asterisk, callshield, routing, plan, caller, drsite, numbers):
    second = numbers["ddi"].replace("+44203000", "+44203001")
    routing.store.set_number(second, "PJSIP/agents")
    routing.store.set_plan_route(plan["name"], second, "PJSIP/drsite")
    routing.store.invoke_plan(plan["name"])
    routing.applied()

    for ddi in (numbers["ddi"], second):
        assert (await call(caller, asterisk, ddi, numbers["caller"])).final_status == 200

    assert [route_reason(c) for c in drsite.calls] == [f"plan:{plan['name']}"] * 2


async def test_a_plan_is_invoked_by_phone_with_access_code_slot_and_pin(
        asterisk, callshield, routing, plan, number, caller, ami, drsite, numbers):
    staff = numbers["caller2"]
    ivr = await call(caller, asterisk, f"*71{plan['slot']}", staff, hangup_after_answer=False)
    assert ivr.final_status == 200  # answered: the prompts play

    await key(caller, ivr, ami, staff, "agent-pass", f"{PLANS_PIN}#")
    await caller.wait_for_remote_bye(ivr, timeout=20)

    assert routing.store.plan(plan["name"])["active"] == 1
    assert routing.audit("plans.invoke", f"phone:{staff}")
    routing.applied()
    assert (await call(caller, asterisk, number, numbers["caller"])).final_status == 200
    assert route_reason(drsite.calls[-1]) == f"plan:{plan['name']}"


async def test_the_slot_can_be_keyed_after_the_access_code(asterisk, callshield, routing, plan, caller, ami, numbers):
    staff = numbers["caller2"]
    ivr = await call(caller, asterisk, "*71", staff, hangup_after_answer=False)

    await key(caller, ivr, ami, staff, "number", str(plan["slot"]))
    await key(caller, ivr, ami, staff, "agent-pass", f"{PLANS_PIN}#")
    await caller.wait_for_remote_bye(ivr, timeout=20)

    assert routing.store.plan(plan["name"])["active"] == 1


async def test_wrong_pins_are_refused_then_the_caller_is_locked_out(asterisk, callshield, routing, plan, caller, ami, numbers):
    staff = numbers["caller2"]
    ivr = await call(caller, asterisk, f"*71{plan['slot']}", staff, hangup_after_answer=False)
    for attempt in (1, 2, 3):
        await key(caller, ivr, ami, staff, "agent-pass", "0000#", nth=attempt)
    await caller.wait_for_remote_bye(ivr, timeout=20)

    assert routing.store.plan(plan["name"])["active"] == 0
    assert len(routing.audit("plans.pin_failed", f"phone:{staff}")) == 3

    # Locked: even the right PIN is not asked for, and nothing changes.
    again = await call(caller, asterisk, f"*71{plan['slot']}", staff, hangup_after_answer=False)
    await caller.wait_for_remote_bye(again, timeout=20)
    assert routing.store.plan(plan["name"])["active"] == 0
    assert "locked out of plans by phone" in callshield.log_text()

    routing.store.clear_pin_failures("plans", staff)
    unlocked = await call(caller, asterisk, f"*71{plan['slot']}", staff, hangup_after_answer=False)
    await key(caller, unlocked, ami, staff, "agent-pass", f"{PLANS_PIN}#", nth=4)
    await caller.wait_for_remote_bye(unlocked, timeout=20)
    assert routing.store.plan(plan["name"])["active"] == 1


async def test_revoke_by_phone_restores_normal_routing(asterisk, callshield, routing, plan, number, caller, ami, agents, numbers):
    routing.store.invoke_plan(plan["name"])
    staff = numbers["caller2"]
    ivr = await call(caller, asterisk, f"*70{plan['slot']}", staff, hangup_after_answer=False)

    await key(caller, ivr, ami, staff, "agent-pass", f"{PLANS_PIN}#")
    await caller.wait_for_remote_bye(ivr, timeout=20)

    assert routing.store.plan(plan["name"])["active"] == 0
    routing.applied()
    assert (await call(caller, asterisk, number, numbers["caller"])).final_status == 200
    assert route_reason(agents.calls[-1]) == "normal"


async def test_a_personal_override_pulls_calls_to_the_dialling_phone_until_cancelled(
        asterisk, callshield, routing, number, caller, ami, agents, staffphone, numbers):
    routing.store.add_staff(number, "Test Staff", STAFF_PIN)
    here = numbers["caller"]  # the phone the member of staff is at
    national = "0" + number[3:]

    on = await call(caller, asterisk, "*72", here, hangup_after_answer=False)
    await key(caller, on, ami, here, "agent-user", f"{national}#")
    await key(caller, on, ami, here, "agent-pass", f"{STAFF_PIN}#")
    await key(caller, on, ami, here, "vm-then-pound", "#")  # asked for the number then "then press pound"; "#" alone: this phone
    await caller.wait_for_remote_bye(on, timeout=20)
    routing.applied()

    pulled = await call(caller, asterisk, number, numbers["caller2"])
    assert pulled.final_status == 200
    assert staffphone.calls[-1].to_user == here
    assert callshield.call_record("dialled = ? AND route_reason LIKE 'override:%'", [number])["route_reason"] == f"override:{number}"
    assert agents.calls == []

    off = await call(caller, asterisk, "*73", here, hangup_after_answer=False)
    await key(caller, off, ami, here, "agent-user", f"{national}#", nth=2)
    await key(caller, off, ami, here, "agent-pass", f"{STAFF_PIN}#", nth=2)
    await caller.wait_for_remote_bye(off, timeout=20)
    routing.applied()

    restored = await call(caller, asterisk, number, numbers["caller2"])
    assert restored.final_status == 200
    assert route_reason(agents.calls[-1]) == "normal"


async def test_an_override_wins_over_an_active_plan(asterisk, callshield, routing, plan, number, caller, staffphone, drsite, numbers):
    routing.store.invoke_plan(plan["name"])
    routing.store.set_override(number, f"PJSIP/staffphone/sip:{numbers['caller']}@127.0.0.1:{asterisk.ports.staffphone}",
                               staff=number, target=numbers["caller"], hours=1)
    routing.applied()

    assert (await call(caller, asterisk, number, numbers["caller2"])).final_status == 200

    assert staffphone.calls[-1].to_user == numbers["caller"]
    assert drsite.calls == []


async def test_a_numbers_csv_import_applies_and_a_bad_one_changes_nothing(asterisk, callshield, routing, caller, drsite, agents, numbers, tmp_path):
    ddi = numbers["ddi"]
    good = tmp_path / "numbers.csv"
    good.write_text(f"number,route,fallback,announcement,label\n{ddi},PJSIP/drsite,PJSIP/agents,,imported\n")
    bad = tmp_path / "bad.csv"
    bad.write_text(f"number,route,fallback,announcement,label\n{ddi},PJSIP/agents,,,\n{numbers['caller2']},agents with no technology,,,\n")

    applied = cli(callshield, "numbers", "import", str(good))
    assert applied.returncode == 0, applied.stderr
    routing.applied()
    assert (await call(caller, asterisk, ddi, numbers["caller"])).final_status == 200
    assert route_reason(drsite.calls[-1]) == "normal"

    refused = cli(callshield, "numbers", "import", str(bad))
    assert refused.returncode != 0
    assert "line 3" in refused.stderr
    assert routing.store.numbers()[[n["number"] for n in routing.store.numbers()].index(ddi)]["route"] == "PJSIP/drsite"


async def test_a_plan_announcement_is_played_to_the_caller_before_delivery(asterisk, callshield, routing, plan, number, caller, drsite, numbers):
    routing.store.set_plan_route(plan["name"], number, "PJSIP/drsite", announcement="tt-weasels")
    routing.store.invoke_plan(plan["name"])
    routing.applied()

    result = await call(caller, asterisk, number, numbers["caller"])

    assert result.final_status == 200
    assert 183 in result.statuses()  # early media: the announcement, before anyone answers
    record = callshield.call_record("dialled = ? AND route_reason = ?", [number, f"plan:{plan['name']}"])
    assert record["announcement"] == "tt-weasels"
    await eventually(lambda: "Playing 'tt-weasels" in asterisk.log_text(), 5, "Asterisk to log the announcement")

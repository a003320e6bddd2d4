"""The access-code AGI scripts (invoke, override) over real loopback TCP against the fake
Asterisk side of test_agi_server.py, which here also answers ANSWER, STREAM FILE and
GET DATA (the keyed digits come from a list, as a caller would key them)."""

from __future__ import annotations

import logging
from typing import Callable

import pytest
import pytest_asyncio

from callshield.agi.access_common import RESULT
from callshield.agi.server import AgiServer
from callshield.store.routing import RoutingStore
from tests.unit.test_agi_server import StartServer, session, start_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.asyncio
DDI = "+442071234567"
CALLER = "+447700900123"
PLANS_PIN, STAFF_PIN = "2468", "1357"


def ivr(keyed: list[str], *, get_data: str | None = None) -> Callable[[str], str | None]:
    """Asterisk answering an IVR: each GET DATA returns the next keyed entry ('' = timeout,
    None = the caller hung up)."""
    entries = list(keyed)

    def answer(command: str) -> str | None:
        if command.startswith("GET DATA "):
            if not entries:
                return "200 result= (timeout)"
            entry = entries.pop(0)
            return "200 result=-1" if entry is None else f"200 result={entry}"
        if command.startswith(("ANSWER", "STREAM FILE", "SAY DIGITS")):
            return "200 result=0 endpos=8000"
        if command.startswith("SET VARIABLE "):
            return "200 result=1"
        return "510 Invalid or unknown command"

    return answer


def result_of(commands: list[str]) -> str | None:
    sets = [c for c in commands if c.startswith(f"SET VARIABLE {RESULT} ")]
    return sets[-1].split(" ", 3)[3].strip('"') if sets else None


@pytest_asyncio.fixture
async def server(start_server: StartServer) -> AgiServer:  # noqa: F811
    return await start_server(**{"routing.numbers": {DDI: {"route": "PJSIP/agents"}}})


@pytest.fixture
def store(server: AgiServer) -> RoutingStore:
    return server.services.control.store


@pytest.fixture
def plan(store: RoutingStore) -> str:
    store.create_plan("Flood")
    store.set_plan_route("Flood", DDI, "PJSIP/drsite")
    store.load_plan("Flood", 2)
    store.set_plans_pin(PLANS_PIN)
    return "Flood"


async def invoke(server: AgiServer, keyed: list[str], *args: str, caller: str = CALLER) -> list[str]:
    env = {"agi_network_script": "invoke", "agi_callerid": caller, **{f"agi_arg_{i}": a for i, a in enumerate(args, 1)}}
    return await session(server.port, ivr(keyed), **env)


async def override(server: AgiServer, keyed: list[str], action: str, caller: str = CALLER) -> list[str]:
    return await session(server.port, ivr(keyed), agi_network_script="override", agi_callerid=caller, agi_arg_1=action)


async def test_the_right_pin_invokes_the_plan_in_the_slot_and_routing_follows_at_once(server, store, plan):
    commands = await invoke(server, [PLANS_PIN], "invoke", "2")

    assert commands[0] == "ANSWER"
    assert result_of(commands) == "invoked:Flood"
    assert store.plan("Flood")["active"] == 1
    assert server.services.screener.routes.state.plans[DDI].plan == "Flood"
    assert store.db.execute("SELECT actor FROM audit WHERE action = 'plans.invoke'").fetchone()[0] == f"phone:{CALLER}"


async def test_the_slot_is_asked_for_when_the_access_code_did_not_carry_it(server, store, plan):
    commands = await invoke(server, ["2", PLANS_PIN], "invoke")

    assert [c.split(" ")[2] for c in commands if c.startswith("GET DATA")] == ['"number"', '"agent-pass"']
    assert result_of(commands) == "invoked:Flood"


async def test_revoke_by_phone(server, store, plan):
    store.invoke_plan("Flood")

    commands = await invoke(server, [PLANS_PIN], "revoke", "2")

    assert result_of(commands) == "revoked:Flood"
    assert store.plan("Flood")["active"] == 0


async def test_wrong_pins_lock_the_caller_out_after_the_configured_attempts(server, store, plan):
    commands = await invoke(server, ["1111", "2222", "3333", PLANS_PIN], "invoke", "2")

    assert result_of(commands) == "locked"
    assert sum(c.startswith("GET DATA") for c in commands) == 3
    assert store.plan("Flood")["active"] == 0
    assert store.db.execute("SELECT count(*) FROM pin_failures WHERE scope = 'plans'").fetchone()[0] == 3


async def test_a_locked_out_caller_is_not_asked_for_a_pin(server, store, plan):
    await invoke(server, ["1111", "2222", "3333"], "invoke", "2")

    commands = await invoke(server, [PLANS_PIN], "invoke", "2")

    assert result_of(commands) == "locked"
    assert not any(c.startswith("GET DATA") for c in commands)


async def test_another_caller_is_not_locked_out_by_one_callers_failures(server, store, plan):
    await invoke(server, ["1111", "2222", "3333"], "invoke", "2")

    commands = await invoke(server, [PLANS_PIN], "invoke", "2", caller="+447700900999")

    assert result_of(commands) == "invoked:Flood"


async def test_an_empty_slot_is_refused_after_the_pin(server, store, plan):
    commands = await invoke(server, [PLANS_PIN], "invoke", "4")

    assert result_of(commands) == "invalid"
    assert store.plan("Flood")["active"] == 0


async def test_no_plans_pin_set_refuses_without_counting_a_failure(server, store, caplog):
    commands = await invoke(server, ["0000"], "invoke", "1")

    assert result_of(commands) == "no_pin"
    assert "no plans PIN is set" in caplog.text
    assert store.db.execute("SELECT count(*) FROM pin_failures").fetchone()[0] == 0


async def test_a_caller_hanging_up_while_keying_changes_nothing(server, store, plan, caplog):
    caplog.set_level(logging.INFO, logger="callshield")
    commands = await invoke(server, [None], "invoke", "2")

    assert result_of(commands) is None
    assert store.plan("Flood")["active"] == 0
    assert "caller hung up during AGI 'invoke'" in caplog.text
    assert server.failures == 0


@pytest.fixture
def staff(store: RoutingStore) -> str:
    store.add_staff(DDI, "Ann", STAFF_PIN)
    return DDI


async def test_override_on_with_hash_alone_rings_the_phone_called_from(server, store, staff):
    commands = await override(server, ["02071234567", STAFF_PIN, ""], "on")

    assert result_of(commands) == f"override_on:{DDI}"
    live = server.services.screener.routes.state.overrides[DDI]
    assert (live.destination, live.target, live.staff) == (f"Local/{CALLER}@callshield-outbound", CALLER, DDI)


# What the default prompts that collect a PIN or a number say (asterisk-core-sounds-en's
# core-sounds-en.txt): each asks for the '#', without which GET DATA takes the entry only
# after routing.access.digit_timeout seconds of silence.
STOCK_TEXTS = {"agent-user": "Agent login.  Please enter your agent number followed by the pound key.",
               "agent-pass": "Please enter your password followed by the pound key.",
               "vm-then-pound": "then press pound"}


async def test_every_default_prompt_for_a_pin_or_a_number_asks_for_the_hash(server, store, staff):
    commands = await override(server, ["02071234567", STAFF_PIN, ""], "on")

    ms = str(int(server.services.config.routing.access.digit_timeout * 1000))
    asked = [tuple(c.split(" ")[2:]) for c in commands if c.startswith("GET DATA")]
    assert asked == [('"agent-user"', ms, "20"), ('"agent-pass"', ms, "12"), ('"vm-then-pound"', ms, "20")]
    # "Please enter the number you wish to call" plays whole, then "then press pound" listens.
    assert commands.index('STREAM FILE "vm-enter-num-to-call" ""') == commands.index(f'GET DATA "vm-then-pound" {ms} 20') - 1
    assert all("pound" in STOCK_TEXTS[sound.strip('"')] for sound, _, _ in asked)


async def test_override_on_to_a_keyed_number(server, store, staff):
    await override(server, ["02071234567", STAFF_PIN, "07700900555"], "on")

    assert server.services.screener.routes.state.overrides[DDI].target == "+447700900555"


async def test_override_from_a_withheld_phone_needs_a_keyed_number(server, store, staff):
    commands = await override(server, ["02071234567", STAFF_PIN, ""], "on", caller="anonymous")

    assert result_of(commands) == "invalid"
    assert DDI not in server.services.screener.routes.state.overrides


async def test_override_off_cancels_it(server, store, staff):
    await override(server, ["02071234567", STAFF_PIN, ""], "on")

    commands = await override(server, ["02071234567", STAFF_PIN], "off")

    assert result_of(commands) == f"override_off:{DDI}"
    assert DDI not in server.services.screener.routes.state.overrides


async def test_an_unknown_staff_number_counts_as_a_wrong_pin(server, store, staff):
    commands = await override(server, ["02079999999", STAFF_PIN, "02079999999", STAFF_PIN, "02079999999", STAFF_PIN], "on")

    assert result_of(commands) == "locked"
    assert store.db.execute("SELECT count(*) FROM pin_failures WHERE scope = 'override'").fetchone()[0] == 3

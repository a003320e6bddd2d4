"""The AMI monitor against the real Asterisk: destinations that fail (503, silence, an
Unreachable qualify contact) are marked down from real AMI events, the next calls reach
the secondary with ROUTE_REASON trunk_down:<destination>, and calls return when the
destination recovers; failover drills (simulated and induced) through the real CLI.

A second ``callshield serve`` with the monitor enabled (its own store and AGI port)
serves this module: the dialplan global CALLSHIELD_AGI points at it for each test (the
``ami`` fixture points it back afterwards), so its failing destinations never touch the
session's serve. Its numbers: +442070000500 (sitea, secondary siteb) and +442070000600
(qualified, a contact Asterisk pings every second; secondary siteb).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from typing import Iterator

import pytest
import pytest_asyncio

from tests.support.asterisk import AMI_SECRET, AMI_USER, CALLSHIELD_AMI_USER, Asterisk, Ports, free_port, provision
from tests.integration.helpers import route_reason
from tests.support.service import CallshieldProcess, blocking, eventually
from tests.support.sip import SipUAS

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio]

SITE_A = "+442070000500"
QUALIFIED = "+442070000600"
SECRET_ENV = "CALLSHIELD_TEST_AMI_SECRET"


def monitored_config(workdir, ami_port: int, agi_port: int) -> dict:
    return {
        "agi": {"host": "127.0.0.1", "port": agi_port, "command_timeout": 1.0, "session_timeout": 3.0},
        "store": {"path": str(workdir / "var" / "callshield.db"), "flush_interval": 0.05, "reload_interval": 0.1},
        "logging": {"level": "INFO"},
        "scoring": {"home_country": "GB", "model": "rules"},
        "routing": {"numbers": {SITE_A: {"route": "PJSIP/sitea", "fallback": "PJSIP/siteb"},
                                QUALIFIED: {"route": "PJSIP/qualified", "fallback": "PJSIP/siteb"}}},
        # The least-privileged user of asterisk-conf/manager.sample.conf: it is enough.
        "monitor": {"enabled": True, "port": ami_port, "username": CALLSHIELD_AMI_USER, "secret_env": SECRET_ENV,
                    "keepalive": 2.0, "backoff_initial": 0.2, "backoff_max": 2.0, "window": 30.0, "failures_to_down": 2, "noanswer_to_down": 2,
                    "hold_down": 1.0, "hold_down_max": 4.0, "reachable_for": 1.0, "drill_context": "from-carrier"},
    }


@pytest.fixture(scope="module")
def monitored(asterisk, tmp_path_factory) -> Iterator[CallshieldProcess]:
    workdir = tmp_path_factory.mktemp("monitored")
    config = monitored_config(workdir, asterisk.ports.ami, free_port())
    proc = CallshieldProcess(workdir, config, env={SECRET_ENV: AMI_SECRET}).start()
    blocking(eventually(lambda: "AMI connected to" in proc.log_text(), 10, "the monitor to log in to AMI"))
    try:
        yield proc
    finally:
        proc.stop()


@pytest_asyncio.fixture
async def via_monitored(ami, monitored) -> CallshieldProcess:
    """Route the dialplan's screening to the monitored serve for this test."""
    await ami.setvar("CALLSHIELD_AGI", f"agi://127.0.0.1:{monitored.port}")
    return monitored


@pytest_asyncio.fixture
async def sitea(asterisk) -> SipUAS:
    async with SipUAS(port=asterisk.ports.sitea) as uas:
        yield uas


@pytest_asyncio.fixture
async def siteb(asterisk) -> SipUAS:
    async with SipUAS(port=asterisk.ports.siteb) as uas:
        yield uas


def state(proc: CallshieldProcess, destination: str) -> tuple[int, str] | None:
    con = sqlite3.connect(f"file:{proc.db_path}?mode=ro", uri=True, timeout=2)
    try:
        row = con.execute("SELECT down, reason FROM destination_state WHERE destination = ?", [destination]).fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        con.close()
    return row


async def until_state(proc: CallshieldProcess, destination: str, down: bool, timeout: float = 10.0) -> str:
    """Poll the monitored serve's store without blocking the loop (the test's SIP phones
    must keep answering); the reason of the state reached."""
    row = await eventually(lambda: (s := state(proc, destination)) is not None and bool(s[0]) == down and s, timeout,
                           f"{destination} to be {'down' if down else 'up'}")
    return row[1]


async def call(caller, asterisk, ddi: str, n: int):
    return await caller.invite(("127.0.0.1", asterisk.ports.sip), to_user=ddi, from_user=f"+4416149601{n:02d}",
                               answer_timeout=15.0)


async def test_a_destination_answering_503_is_diverted_then_restored(asterisk, via_monitored, caller, sitea, siteb):
    sitea.mode = "unavailable"
    for n in range(2):  # each failed delivery still reaches the secondary via ROUTE_FALLBACK
        assert (await call(caller, asterisk, SITE_A, n)).final_status == 200
    why = await until_state(via_monitored, "sitea", down=True)
    assert "2" in why

    tried = len(sitea.calls)
    diverted = await call(caller, asterisk, SITE_A, 3)
    assert diverted.final_status == 200
    assert route_reason(siteb.calls[-1]) == "trunk_down:sitea"
    assert len(sitea.calls) == tried  # not even tried: diverted from the next call

    sitea.mode = "answer"
    await until_state(via_monitored, "sitea", down=False)  # hold-down over: tried again
    back = await call(caller, asterisk, SITE_A, 4)
    assert back.final_status == 200
    assert route_reason(sitea.calls[-1]) == "normal"


async def test_a_destination_that_stopped_listening_is_diverted(asterisk, via_monitored, caller, siteb):
    # No UAS on sitea's port at all: its socket is closed.
    for n in range(2):
        assert (await call(caller, asterisk, SITE_A, 10 + n)).final_status == 200
    await until_state(via_monitored, "sitea", down=True)

    assert (await call(caller, asterisk, SITE_A, 12)).final_status == 200
    assert route_reason(siteb.calls[-1]) == "trunk_down:sitea"
    await until_state(via_monitored, "sitea", down=False, timeout=15)  # hold-down: tried again (and would fail again)


async def test_an_unreachable_qualify_contact_diverts_until_it_is_reachable_again(asterisk, via_monitored, caller, siteb):
    async with SipUAS(port=asterisk.ports.qualified, answer_options=False) as phone:  # ignores Asterisk's OPTIONS pings
        await until_state(via_monitored, "qualified", down=True)
        assert (await call(caller, asterisk, QUALIFIED, 20)).final_status == 200
        assert route_reason(siteb.calls[-1]) == "trunk_down:qualified"
        assert phone.calls == []

        phone.answer_options = True  # reachable again: up after monitor.reachable_for
        await until_state(via_monitored, "qualified", down=False)
        assert (await call(caller, asterisk, QUALIFIED, 21)).final_status == 200
        assert route_reason(phone.calls[-1]) == "normal"


def drill_calls(uas: SipUAS) -> list:
    """The drill's test calls (caller name "callshield drill"): an earlier test's dead
    INVITE that Asterisk still retransmits to the port must not count."""
    return [c for c in uas.calls if "callshield drill" in (c.header("From") or "")]


def drill(proc: CallshieldProcess, *args: str) -> list[str]:
    return [sys.executable, "-m", "callshield", "drill", "--config", str(proc.config_path), *args]


async def test_a_drill_on_a_healthy_system_passes_with_no_calls_lost(asterisk, via_monitored, sitea, siteb):
    result = await asyncio.to_thread(subprocess.run, drill(via_monitored, "--destination", "sitea", "--calls", "2"),
                                     capture_output=True, text=True, timeout=120, cwd=via_monitored.workdir,
                                     env={**os.environ, SECRET_ENV: AMI_SECRET})

    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED" in result.stdout and "calls lost       0" in result.stdout
    assert [route_reason(c) for c in drill_calls(siteb)] == ["trunk_down:sitea"] * 2
    assert [route_reason(c) for c in drill_calls(sitea)] == ["normal"] * 2


NATIONAL_ONLY = "from-national"  # an inbound context with only the README's _X. pattern


@pytest_asyncio.fixture
async def national_only(ami) -> str:
    """A context like the README's: the callshield line under _X. only (no _+X.), added to
    the running Asterisk for the test (the harness's AMI user may run CLI commands)."""
    lines = ["_X.,1,Gosub(callshield-screen,s,1(${EXTEN}))",
             "_X.,2,Dial(PJSIP/agents,5,b(callshield-screen^headers^1(${CHANNEL})))", "_X.,3,Hangup()"]
    for line in lines:
        await ami.command(f"dialplan add extension {line} into {NATIONAL_ONLY} replace")
    assert "_X." in await ami.command(f"dialplan show {NATIONAL_ONLY}")
    yield NATIONAL_ONLY
    await ami.command(f"dialplan remove context {NATIONAL_ONLY}")


async def run_drill(proc: CallshieldProcess, *args: str, **env: str) -> subprocess.CompletedProcess:
    return await asyncio.to_thread(subprocess.run, drill(proc, *args), capture_output=True, text=True, timeout=120,
                                   cwd=proc.workdir, env={**os.environ, SECRET_ENV: AMI_SECRET, **env})


@pytest.mark.parametrize("user", [CALLSHIELD_AMI_USER, AMI_USER])  # ShowDialPlan refused / answered
async def test_a_drill_into_a_context_with_only_the_readmes_pattern_passes(asterisk, via_monitored, national_only,
                                                                             sitea, siteb, user):
    """The default monitor.drill_number_format (national) dials 02070000500, which _X. matches."""
    result = await run_drill(via_monitored, "--destination", "sitea", "--calls", "1",
                             CALLSHIELD_MONITOR__DRILL_CONTEXT=national_only, CALLSHIELD_MONITOR__USERNAME=user)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED" in result.stdout and "calls lost       0" in result.stdout
    assert [route_reason(c) for c in drill_calls(siteb)][-1:] == ["trunk_down:sitea"]
    assert [route_reason(c) for c in drill_calls(sitea)][-1:] == ["normal"]


async def test_a_drill_dialling_e164_where_only_x_matches_stops_at_its_first_call_naming_the_extension(
        asterisk, via_monitored, national_only, sitea, siteb):
    """callshield's own least-privileged AMI user may not ask ShowDialPlan: the first test
    call, which Asterisk cannot start, ends the drill with what to add where."""
    started = asyncio.get_running_loop().time()
    result = await run_drill(via_monitored, "--destination", "sitea", "--calls", "2",
                             CALLSHIELD_MONITOR__DRILL_CONTEXT=national_only, CALLSHIELD_MONITOR__DRILL_NUMBER_FORMAT="e164")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "calls placed     1" in result.stdout
    assert ("diverted call drill-" in result.stdout and "could not start (lost): context 'from-national'"
            " (monitor.drill_context) has no extension matching +442070000500 (Originate failed, reason 0)" in result.stdout)
    assert "Add to [from-national] an extension that runs the callshield line, e.g. 'exten => _+X.,1,Gosub(callshield-screen,s,1(${EXTEN}))'" in result.stdout
    assert asyncio.get_running_loop().time() - started < 30
    await until_state(via_monitored, "sitea", down=False)  # the simulated failure was ended


async def test_a_drill_checks_the_extension_up_front_when_its_ami_user_may_show_the_dialplan(
        asterisk, via_monitored, national_only, sitea, siteb):
    result = await run_drill(via_monitored, "--destination", "sitea", "--calls", "2",
                             CALLSHIELD_MONITOR__DRILL_CONTEXT=national_only, CALLSHIELD_MONITOR__DRILL_NUMBER_FORMAT="e164",
                             CALLSHIELD_MONITOR__USERNAME=AMI_USER)  # the harness's user: write = all

    assert result.returncode == 1, result.stdout + result.stderr
    assert "calls placed     0" in result.stdout
    assert ("problem: context 'from-national' (monitor.drill_context) has no extension matching +442070000500"
            " (Asterisk: Did not find extension +442070000500@from-national)") in result.stdout
    assert "time to divert   -" in result.stdout  # nothing was marked


async def test_a_drill_against_a_real_failure_detects_diverts_and_sees_the_return(asterisk, via_monitored, sitea, siteb):
    sitea.mode = "unavailable"
    proc = await asyncio.create_subprocess_exec(
        *drill(via_monitored, "--destination", "sitea", "--calls", "1", "--induced", "--timeout", "60"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=via_monitored.workdir,
        env={**os.environ, SECRET_ENV: AMI_SECRET})
    try:
        await until_state(via_monitored, "sitea", True, 60)
        sitea.mode = "answer"  # the site is repaired
        out, err = await asyncio.wait_for(proc.communicate(), 90)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0, out.decode() + err.decode()
    assert b"calls lost       0" in out


async def test_asterisk_restarted_under_the_monitor_reconnects_resyncs_and_keeps_routing_right(tmp_path, caller):
    """A second Asterisk of its own (the session's must not restart) and a serve on it."""
    ports = Ports()
    first = Asterisk(provision(), ports)
    first.start()
    proc = None
    try:
        proc = CallshieldProcess(tmp_path, monitored_config(tmp_path, ports.ami, ports.agi), env={SECRET_ENV: AMI_SECRET}).start()
        async with SipUAS(port=ports.qualified, answer_options=False) as phone, SipUAS(port=ports.siteb) as siteb:
            await until_state(proc, "qualified", down=True)

            async def restart(logins: int) -> Asterisk:
                first.stop()
                again = Asterisk(provision(), ports)
                again.start()
                await eventually(lambda: proc.log_text().count("AMI connected to") >= logins, 20,
                                 "the monitor to log in again and resync")
                return again

            # Restarted while the site is still unreachable: still down, calls still diverted.
            first = await restart(2)
            assert bool(state(proc, "qualified")[0])
            result = await caller.invite(("127.0.0.1", ports.sip), to_user=QUALIFIED, from_user="+441614960150", answer_timeout=15.0)
            assert result.final_status == 200
            assert route_reason(siteb.calls[-1]) == "trunk_down:qualified"

            # The site recovers while Asterisk is down: after the restart the monitor sees it and calls return.
            phone.answer_options = True
            first = await restart(3)
            await until_state(proc, "qualified", down=False)
            result = await caller.invite(("127.0.0.1", ports.sip), to_user=QUALIFIED, from_user="+441614960151", answer_timeout=15.0)
            assert result.final_status == 200
            assert route_reason(phone.calls[-1]) == "normal"
    finally:
        if proc is not None:
            proc.stop()
        first.stop()

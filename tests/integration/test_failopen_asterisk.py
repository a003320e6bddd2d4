"""Fail-open: whatever happens to callshield, the call reaches the normal route.

The normal route here is the admin's own Dial(PJSIP/agents) after the callshield line.
"""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.support.asterisk import free_port
from tests.conftest import callshield_config
from tests.integration.helpers import header_params
from tests.support.service import CallshieldProcess, established, eventually

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio]


async def call(caller, asterisk, ddi, **kwargs):
    return await caller.invite(("127.0.0.1", asterisk.ports.sip), to_user=ddi, answer_timeout=10.0, **kwargs)


def failed_open(inbound) -> bool:
    return header_params(inbound.header("X-CallShield-Route")).get("failopen") == "1"


async def wait_established(port: int, timeout: float = 5.0) -> None:
    await eventually(lambda: established(port) > 0, timeout, f"Asterisk to connect to the AGI port {port}")


@pytest.fixture
def spare_callshield(asterisk, tmp_path):
    """A second real callshield serve on its own port, for tests that stop or kill it."""
    ports = type(asterisk.ports)(**{**vars(asterisk.ports), "agi": free_port()})
    proc = CallshieldProcess(tmp_path, callshield_config(ports, tmp_path / "var" / "callshield.db")).start()
    try:
        yield proc
    finally:
        proc.stop()


async def test_callshield_not_running_fails_open_to_the_normal_route(asterisk, ami, agents, caller, numbers):
    await ami.setvar("CALLSHIELD_AGI", f"agi://127.0.0.1:{free_port()}")
    result = await call(caller, asterisk, numbers["ddi"], from_user=numbers["caller"])
    assert result.final_status == 200
    assert failed_open(agents.calls[0])
    assert f"callshield: fail-open for PJSIP/carrier" in asterisk.log_text()


async def test_callshield_killed_mid_session_fails_open(asterisk, ami, agents, caller, numbers, spare_callshield):
    await ami.setvar("CALLSHIELD_AGI", f"agi://127.0.0.1:{spare_callshield.port}")
    spare_callshield.signal(signal.SIGSTOP)  # it accepts the connection but cannot answer
    pending = asyncio.create_task(call(caller, asterisk, numbers["ddi"], from_user=numbers["caller"]))
    await wait_established(spare_callshield.port)
    spare_callshield.signal(signal.SIGKILL)
    result = await pending
    assert result.final_status == 200
    assert failed_open(agents.calls[0])


GARBAGE = [
    pytest.param(b"hello, this is not AGI\n", id="not-agi"),
    pytest.param(b"\xff\xfe\x00binary\n", id="binary"),
    pytest.param(b"EXEC MSet ROUTE_ACTION=bogus\n", id="unknown-route-action"),
    pytest.param(b"SET VARIABLE ROUTE_ACTION\n", id="bad-syntax"),
]


@pytest.mark.parametrize("garbage", GARBAGE)
async def test_an_agi_server_answering_garbage_fails_open(asterisk, ami, agents, caller, numbers, garbage):
    # Stand-in for a broken callshield: a real part cannot be made to send garbage.
    async def broken(reader, writer):
        while (await reader.readline()).strip():
            pass
        writer.write(garbage)
        await writer.drain()
        await asyncio.wait_for(reader.readline(), 2)  # Asterisk's reply to the garbage
        writer.close()

    server = await asyncio.start_server(broken, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    await ami.setvar("CALLSHIELD_AGI", f"agi://127.0.0.1:{port}")
    try:
        result = await call(caller, asterisk, numbers["ddi"], from_user=numbers["caller"])
    finally:
        server.close()
    assert result.final_status == 200
    assert failed_open(agents.calls[0])


async def test_unknown_agi_script_is_logged_and_fails_open(asterisk, ami, callshield, agents, caller, numbers):
    await ami.setvar("CALLSHIELD_AGI", f"agi://127.0.0.1:{callshield.port}/nosuch")
    result = await call(caller, asterisk, numbers["ddi"], from_user=numbers["caller"])
    assert result.final_status == 200
    assert failed_open(agents.calls[0])
    assert "unknown AGI script 'nosuch/screen'" in callshield.log_text()


async def test_caller_hanging_up_during_the_agi_session_is_handled(asterisk, ami, agents, caller, numbers, spare_callshield):
    await ami.setvar("CALLSHIELD_AGI", f"agi://127.0.0.1:{spare_callshield.port}")
    spare_callshield.signal(signal.SIGSTOP)
    pending = asyncio.create_task(call(caller, asterisk, numbers["ddi"], from_user=numbers["caller"], cancel_after=0.3))
    await wait_established(spare_callshield.port)
    result = await pending
    assert result.final_status == 487
    spare_callshield.signal(signal.SIGCONT)
    await eventually(lambda: "caller hung up during AGI 'screen'" in spare_callshield.log_text(), 5, "the hang-up to be logged")
    assert agents.calls == []
    # The server is unharmed: the next call is screened normally.
    again = await call(caller, asterisk, numbers["ddi"], from_user=numbers["caller2"])
    assert again.final_status == 200
    assert not failed_open(agents.calls[0])

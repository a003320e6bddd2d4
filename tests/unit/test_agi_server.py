"""The FastAGI server over real loopback TCP, against a fake Asterisk side written here.

The fake sends an ``agi_*`` environment and answers each command the way Asterisk does:
``200 result=1 (value)`` for GET FULL VARIABLE (the screen handler's expression gets one
base64 field per signal_reader.FIELDS entry, joined by '|'), ``200 result=1`` for SET
VARIABLE and ``200 result=0`` (the application's return value) for EXEC.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio

from callshield.dialplan import variables as dv
from callshield.agi import access_override, access_plans, health, screen
from callshield.agi.protocol import AgiSession, quote
from callshield.agi.server import AgiServer, Handler, handlers
from callshield.agi.signal_reader import EXPRESSION, FIELDS
from callshield.config import load_config
from callshield.serve import build_services
from callshield.services import Services
from callshield.store import calls as call_store
from callshield.store import open_store
from tests.support import asterisk_parse

DEADLINE = 5.0
DDI = "+442071234567"
US_CALLER = "+12025550143"

ENV = {
    "agi_network": "yes",
    "agi_network_script": "screen",
    "agi_request": "agi://127.0.0.1:4573/screen",
    "agi_channel": "PJSIP/carrier-00000001",
    "agi_language": "en",
    "agi_type": "PJSIP",
    "agi_uniqueid": "1795000000.1",
    "agi_version": "20.5.0",
    "agi_callerid": US_CALLER,
    "agi_calleridname": "Bob",
    "agi_callingpres": "0",
    "agi_dnid": DDI,
    "agi_context": "from-carrier",
    "agi_extension": DDI,
    "agi_priority": "3",
    "agi_enhanced": "0.0",
    "agi_accountcode": "",
    "agi_threadid": "140000000000001",
    "agi_arg_1": DDI,
}

SIGNALLING = {
    "from_header": f'"Bob" <sip:{US_CALLER}@198.51.100.7>;tag=as1',
    "pai": f"<sip:{US_CALLER}@198.51.100.7>",
    "user_agent": "carrier-sbc",
    "sip_call_id": "abc@198.51.100.7",
    "via1": "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK1",
    "presentation": "allowed",
    "source": "198.51.100.7:5060",
    "channel_state": "Ring",
}


def signalling_reply(values: dict[str, str] = SIGNALLING) -> str:
    fields = (base64.b64encode(values.get(name, "").encode()).decode() for name, _ in FIELDS)
    return f"200 result=1 ({'|'.join(fields)})"


def like_asterisk(get: str | None = signalling_reply(), set_variable: str | None = "200 result=1",
                  exec_: str | None = "200 result=0") -> Callable[[str], str | None]:
    """How the fake answers each command; None: it never answers."""

    def answer(command: str) -> str | None:
        if command.startswith("GET FULL VARIABLE "):
            return get
        if command.startswith("SET VARIABLE "):
            return set_variable
        if command.startswith("EXEC "):
            return exec_
        return "510 Invalid or unknown command"

    return answer


class FakeAsterisk:
    """The Asterisk side of one FastAGI connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.commands: list[str] = []

    @classmethod
    async def connect(cls, port: int) -> "FakeAsterisk":
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, *lines: str) -> None:
        self.writer.write("".join(f"{line}\n" for line in lines).encode())
        await self.writer.drain()

    async def send_env(self, **env: str) -> None:
        await self.send(*(f"{name}: {value}" for name, value in {**ENV, **env}.items()), "")

    async def converse(self, answer: Callable[[str], str | None]) -> list[str]:
        """Answer each command until callshield closes the connection; return the commands."""
        async with asyncio.timeout(DEADLINE):
            while line := await self.reader.readline():
                command = line.decode().rstrip("\n")
                self.commands.append(command)
                reply = answer(command)
                if reply is not None:
                    await self.send(reply)
        self.writer.close()
        return self.commands

    async def closed_by_callshield(self) -> bool:
        async with asyncio.timeout(DEADLINE):
            rest = await self.reader.read()
        self.writer.close()
        return rest == b""


async def session(port: int, answer: Callable[[str], str | None] = like_asterisk(), **env: str) -> list[str]:
    """One whole AGI session; the commands callshield sent."""
    peer = await FakeAsterisk.connect(port)
    await peer.send_env(**env)
    return await peer.converse(answer)


def mset(command: str) -> list[tuple[str, str]]:
    """What Asterisk sets from one ``EXEC MSet`` line (its parsers, modelled)."""
    assert command.startswith('EXEC MSet "') and command.endswith('"'), command
    return asterisk_parse.mset_line(command)


StartServer = Callable[..., Awaitable[AgiServer]]


@pytest_asyncio.fixture
async def start_server(tmp_path: Path) -> AsyncIterator[StartServer]:
    """Start a real AgiServer on a free port with real services (store in tmp_path)."""
    servers: list[AgiServer] = []

    async def start(table: dict[str, Handler] | None = None, **overrides: Any) -> AgiServer:
        config = load_config(None, env={}, overrides={"store.path": str(tmp_path / "callshield.db"), "store.flush_interval": 0.02,
                                                       "scoring.model": "rules", **overrides})
        config = dataclasses.replace(config, agi=dataclasses.replace(config.agi, port=0))
        server = AgiServer(build_services(config), table)
        servers.append(server)
        await server.start()
        return server

    yield start
    for server in servers:
        await server.close()
        if server.services.writer is not None:
            server.services.writer.close()


@pytest_asyncio.fixture
async def server(start_server: StartServer) -> AgiServer:
    return await start_server()


@pytest.fixture(autouse=True)
def _agi_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="callshield")


@pytest.mark.asyncio
async def test_screen_reads_signalling_then_sets_every_variable_in_one_mset(server: AgiServer) -> None:
    commands = await session(server.port)

    assert commands[0] == f"GET FULL VARIABLE {quote(EXPRESSION)}"
    assert len(commands) == 2
    variables = mset(commands[1])
    assert [name for name, _ in variables] == [*dv.PHONE_VARIABLES, *dv.DECISION_VARIABLES]
    assert variables[-1] == (dv.ROUTE_ACTION, "deliver")
    values = dict(variables)
    assert len(values.pop(dv.CALLSHIELD_CALL_ID)) == 32  # a fresh uuid4 hex
    assert len(values.pop(dv.CALLER_PROFILE)) == 12
    decision = {k: v for k, v in values.items() if not k.startswith("PHONE_")}
    assert decision == {
        "RISK_SCORE": "20", "RISK_STATUS": "SAFE", "RISK_REASONS": "INTERNATIONAL", "ATTESTATION": "No-TN-Validation", "SPOOF_STATUS": "N/A",
        "SPOOF_VERIFIED": "false", "ROUTE": "", "ROUTE_FALLBACK": "", "ROUTE_REASON": "normal", "ANNOUNCEMENT": "", "ROUTE_ACTION": "deliver",
    }
    assert (values["PHONE_VALID"], values["PHONE_STATUS"], values["PHONE_FRAUD_SCORE"]) == ("true", "SAFE", "20")
    assert (server.sessions, server.failures) == (1, 0)


@pytest.mark.asyncio
async def test_screen_routes_high_risk_calls_by_policy(start_server: StartServer) -> None:
    server = await start_server(**{"routing.default.thresholds.suspicious": 10, "routing.default.thresholds.high_risk": 20,
                                   "routing.default.high_risk": {"action": "divert", "destination": "PJSIP/fraudteam"},
                                   "routing.default.route": "PJSIP/agents"})

    variables = dict(mset((await session(server.port))[-1]))

    assert (variables["RISK_STATUS"], variables["ROUTE_ACTION"], variables["ROUTE"], variables["ROUTE_FALLBACK"]) == (
        "HIGH_RISK", "divert", "PJSIP/fraudteam", "PJSIP/agents")


@pytest.mark.asyncio
async def test_screen_queues_the_call_record_after_replying(server: AgiServer) -> None:
    commands = await session(server.port)
    call_id = dict(mset(commands[-1]))["CALLSHIELD_CALL_ID"]

    assert server.services.writer is not None and server.services.writer.flush(timeout=DEADLINE)

    db = open_store(server.services.config.store.path)
    row = call_store.get(db, call_id)
    db.close()
    assert row is not None
    assert (row["uniqueid"], row["channel"], row["dialled"], row["caller_key"]) == ("1795000000.1", "PJSIP/carrier-00000001", DDI, US_CALLER)


@pytest.mark.asyncio
async def test_screen_logs_signalling_problems(server: AgiServer, caplog: pytest.LogCaptureFixture) -> None:
    await session(server.port, like_asterisk(get="200 result=1 (bm90IGJhc2U2NA==|!!)"))

    assert f"ddi=+442071234567: signalling problem: signalling reply has 2 fields, expected {len(FIELDS)}" in caplog.text
    assert "signalling problem: pai: not base64" in caplog.text


@pytest.mark.asyncio
async def test_health_sets_ok(server: AgiServer) -> None:
    assert await session(server.port, agi_network_script="health") == [f'SET VARIABLE {dv.CALLSHIELD_HEALTH} "OK"']


@pytest.mark.asyncio
async def test_health_reports_a_stopped_writer(server: AgiServer) -> None:
    assert server.services.writer is not None
    server.services.writer.close()

    commands = await session(server.port, agi_network_script="health")

    assert commands == [f'SET VARIABLE {dv.CALLSHIELD_HEALTH} "DEGRADED:store-writer-stopped"']


@pytest.mark.asyncio
async def test_unknown_script_sets_nothing_and_closes(server: AgiServer, caplog: pytest.LogCaptureFixture) -> None:
    commands = await session(server.port, agi_network_script="nope")

    assert commands == []
    assert server.failures == 1
    assert ("channel=PJSIP/carrier-00000001 uniqueid=1795000000.1 ddi=+442071234567: unknown AGI script 'nope' "
            "(served: health, invoke, override, screen); the dialplan falls back to the normal route") in caplog.text


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        (["agi_network: yes", "agi_network_script: screen"], "the AGI environment ended early after 2 lines (connection closed)"),
        (["GET / HTTP/1.1", "Host: callshield"], "not an AGI environment line: 'GET / HTTP/1.1'"),
    ],
)
async def test_bad_environment_is_logged_and_the_server_carries_on(server: AgiServer, caplog: pytest.LogCaptureFixture,
                                                                   lines: list[str], problem: str) -> None:
    peer = await FakeAsterisk.connect(server.port)
    await peer.send(*lines)
    peer.writer.write_eof()

    assert await peer.closed_by_callshield()
    assert f"AGI protocol error, failing open: {problem}" in caplog.text
    assert server.failures == 1
    assert await session(server.port, agi_network_script="health") == [f'SET VARIABLE {dv.CALLSHIELD_HEALTH} "OK"']


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("answer", "expected_commands", "applied", "words"),
    [
        pytest.param(like_asterisk(get=f"HANGUP\n{signalling_reply()}"), ["GET FULL VARIABLE"], 1,
                     "the channel hung up; no further AGI commands are possible", id="hangup-before-reply"),
        pytest.param(like_asterisk(exec_="511 Command Not Permitted on a dead channel or intercept routine"),
                     ["GET FULL VARIABLE", "EXEC MSet"], 1, "the channel hung up (511", id="511-reply"),
    ],
)
async def test_hangup_ends_the_session_without_route_action(server: AgiServer, caplog: pytest.LogCaptureFixture,
                                                            answer: Callable[[str], str | None], expected_commands: list[str],
                                                            applied: int, words: str) -> None:
    commands = await session(server.port, answer)

    assert len(commands) == len(expected_commands)
    assert all(command.startswith(prefix) for command, prefix in zip(commands, expected_commands))
    assert not any(dv.ROUTE_ACTION in c for c in commands[:applied])  # the MSet answered 511 was not applied
    assert "caller hung up during AGI 'screen': " + words in caplog.text
    assert server.failures == 0


@pytest.mark.asyncio
async def test_silent_asterisk_hits_the_command_timeout(start_server: StartServer, caplog: pytest.LogCaptureFixture) -> None:
    server = await start_server(**{"agi.command_timeout": 0.2})

    commands = await session(server.port, like_asterisk(get=None))

    assert len(commands) == 1 and commands[0].startswith("GET FULL VARIABLE ")
    assert server.failures == 1
    assert "AGI screen failed, failing open: Asterisk did not answer 'GET FULL VARIABLE' within 0.2s" in caplog.text


@pytest.mark.asyncio
async def test_asterisk_refusing_a_command_fails_open(server: AgiServer, caplog: pytest.LogCaptureFixture) -> None:
    commands = await session(server.port, like_asterisk(exec_="510 Invalid or unknown command"))

    assert len(commands) == 2  # GET, MSet
    assert "AGI protocol error, failing open: Asterisk answered '510 Invalid or unknown command' to 'EXEC MSet" in caplog.text


@pytest.mark.asyncio
async def test_crashing_handler_is_logged_with_traceback_and_fails_open(start_server: StartServer,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    async def crash(session: AgiSession, services: Services) -> None:
        raise RuntimeError("handler bug")

    server = await start_server(table={"crash": crash})

    assert await session(server.port, agi_network_script="crash") == []
    (record,) = [r for r in caplog.records if "AGI handler crashed, failing open" in r.getMessage()]
    assert record.exc_info is not None and str(record.exc_info[1]) == "handler bug"
    assert server.failures == 1


def test_handlers_map_each_script_name() -> None:
    assert handlers() == {"screen": screen.handle, "health": health.handle, "invoke": access_plans.handle,
                          "override": access_override.handle}


def test_duplicate_script_names_are_refused() -> None:
    twin = SimpleNamespace(NAME="health", handle=screen.handle)

    with pytest.raises(ValueError, match="^two AGI scripts are named 'health'$"):
        handlers((screen, health, twin))  # type: ignore[arg-type]

"""agi/encode.py through the real Asterisk 22: what one MSet sets is what callshield meant.

A stand-in AGI server (the real AgiSession and encoder, no screener) answers a real
call: it sets hostile values with one ``EXEC MSet`` and with ``SET VARIABLE``, then
reads each back with ``GET VARIABLE``: the channel holds exactly those values, and no
value added a variable. It also shows why encode refuses a line over 8,190 bytes: res_agi
reads the tail of a longer line as the next command.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from callshield.agi import encode
from callshield.agi.protocol import AgiConnection, AgiSession
from callshield.errors import AgiProtocolError

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio]

HOSTILE = [
    "VERIFICATION_FAILED,ATTESTATION_C",
    'Evil"|${SHELL}|) (\\" ROUTE_ACTION=reject,',
    ",ROUTE_ACTION=reject",
    "\\,ROUTE_ACTION=reject\\",
    '",ROUTE_ACTION=reject,"',
    "(,ROUTE_ACTION=reject",
    "[x,ROUTE_ACTION=reject]",
    "plan:DR (site 2), [ops]",
    "a=b=c;d|e",
    "  leading and trailing  ",
    "José 中 😀 \t tab",
    "line\nbreak\x00nul\rcr",
    "",
]
ALPHABET = ',"\\;|${}()[]= \té中'


def hostile_values() -> list[str]:
    rng = random.Random(20261204)
    return HOSTILE + ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 24))) for _ in range(20)]


async def call_through(handler, asterisk, ami, caller, numbers) -> None:
    """One real call whose screening AGI is ``handler`` (a stand-in server on a free port)."""
    server, port = await stand_in(handler)
    await ami.setvar("CALLSHIELD_AGI", f"agi://127.0.0.1:{port}")
    try:
        await caller.invite(("127.0.0.1", asterisk.ports.sip), to_user=numbers["ddi"], answer_timeout=10.0,
                            from_user=numbers["caller"])
    finally:
        server.close()


async def stand_in(handler):
    """An AGI server on a free port running ``handler(session)`` for each connection."""
    async def serve(conn: AgiConnection) -> None:
        session = await AgiSession.open(conn, env_timeout=2.0, command_timeout=2.0)
        try:
            await handler(session)
        finally:
            await session.close()

    loop = asyncio.get_running_loop()
    sessions: set[asyncio.Task[None]] = set()

    def connected(conn: AgiConnection) -> None:
        task = loop.create_task(serve(conn))
        sessions.add(task)
        task.add_done_callback(sessions.discard)

    server = await loop.create_server(lambda: AgiConnection(connected), "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def get_variable(session: AgiSession, name: str) -> str | None:
    reply = await session.command(f"GET VARIABLE {name}")
    return reply.value if reply.result == "1" else None


async def test_one_mset_carries_hostile_values_intact_and_adds_no_variable(asterisk, ami, agents, caller, numbers):
    values = hostile_values()
    names = [f"CS_ENC_{i}" for i in range(len(values))]
    seen: dict[str, str | None] = {}

    async def handler(session: AgiSession) -> None:
        await session.command(encode.mset(zip(names, values)))
        for name in [*names, "ROUTE_ACTION"]:
            seen[name] = await get_variable(session, name)

    await call_through(handler, asterisk, ami, caller, numbers)
    assert seen == {**{n: encode.clean(v) for n, v in zip(names, values)}, "ROUTE_ACTION": ""}


async def test_set_variable_carries_hostile_values_intact(asterisk, ami, agents, caller, numbers):
    values = hostile_values()
    seen: list[str | None] = []

    async def handler(session: AgiSession) -> None:
        for value in values:
            await session.set_variable("CS_ENC", value)
            seen.append(await get_variable(session, "CS_ENC"))

    await call_through(handler, asterisk, ami, caller, numbers)
    assert seen == [encode.clean(v) for v in values]


async def test_asterisk_reads_the_tail_of_an_overlong_line_as_the_next_command(asterisk, ami, agents, caller, numbers):
    longest = encode.MAX_COMMAND_BYTES - len(encode.mset({"CS_LONG": ""}))
    seen: list[str | None] = []

    async def handler(session: AgiSession) -> None:
        with pytest.raises(AgiProtocolError, match="longer than Asterisk reads as one"):
            await session.command(encode.mset({"CS_LONG": "a" * (longest + 1)}))
        await session.command(encode.mset({"CS_LONG": "a" * longest}))  # the longest line encode lets through
        seen.append(await session.get_full_variable("${LEN(${CS_LONG})}"))
        # What encode prevents, sent raw: 8,191 bytes are one command, the rest is another.
        head = 'EXEC MSet "CS_LONG='
        session.connection.write(f'{head}{"a" * (8191 - len(head))},CS_TAIL=1"\n'.encode())
        for _ in range(2):
            seen.append((await session.connection.readline())[0].decode().strip())
        seen.append(await get_variable(session, "CS_TAIL"))

    await call_through(handler, asterisk, ami, caller, numbers)
    assert seen == [str(longest), "200 result=0", "510 Invalid or unknown command", None]

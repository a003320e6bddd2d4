"""The FastAGI wire protocol: reply parsing, argument quoting, and one session over a socket pair."""

from __future__ import annotations

import asyncio
import re
import socket
from typing import AsyncIterator

import pytest
import pytest_asyncio
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from callshield.agi.protocol import MAX_ENV_LINES, AgiConnection, AgiReply, AgiSession, parse_reply, quote
from callshield.errors import AgiHangup, AgiProtocolError, AgiTimeout

DEADLINE = 5.0


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("200 result=1 (a (b) c)", AgiReply(200, "1", "a (b) c", "200 result=1 (a (b) c)")),
        ("200 result=1 (value) endpos=0", AgiReply(200, "1", "value", "200 result=1 (value) endpos=0")),
        ("200 result=1 ()", AgiReply(200, "1", "", "200 result=1 ()")),
        ("200 result=1 (unclosed", AgiReply(200, "1", "unclosed", "200 result=1 (unclosed")),
        ("200 result=1", AgiReply(200, "1", None, "200 result=1")),
        ("200 result=0", AgiReply(200, "0", None, "200 result=0")),
        ("200 result=-1", AgiReply(200, "-1", None, "200 result=-1")),
        ("510 Invalid or unknown command", AgiReply(510, "", None, "510 Invalid or unknown command")),
        ("511 Command Not Permitted on a dead channel or intercept routine",
         AgiReply(511, "", None, "511 Command Not Permitted on a dead channel or intercept routine")),
        ("200", AgiReply(200, "", None, "200")),
    ],
)
def test_parse_reply(line: str, expected: AgiReply) -> None:
    assert parse_reply(line) == expected


@pytest.mark.parametrize("line", ["", "HANGUP", "result=1", " 200 result=1", "OK 200", "agi_channel: x", "-200 result=1"])
def test_garbage_reply_is_a_protocol_error(line: str) -> None:
    with pytest.raises(AgiProtocolError, match="^not an AGI reply: "):
        parse_reply(line)


def test_non_ascii_digit_reply_is_a_protocol_error() -> None:
    with pytest.raises(AgiProtocolError):
        parse_reply("\u00b2 result=1")


@settings(max_examples=300, deadline=None)
@example("200 result=1 (x")
@example("200 result=")
@given(line=st.text(max_size=40) | st.from_regex(r"\A[0-9]{1,3}( result=[-0-9a-z]*( \(.*\)?)?)?\Z"))
def test_parse_reply_raises_only_protocol_errors(line: str) -> None:
    try:
        reply = parse_reply(line)
    except AgiProtocolError:
        return
    assert reply.raw == line and reply.code == int(line.partition(" ")[0])


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("plain", '"plain"'),
        ("", '""'),
        ('say "hi"', '"say \\"hi\\""'),
        ("C:\\path", '"C:\\\\path"'),
        ('\\"', '"\\\\\\""'),
        ("a,b=c|d", '"a,b=c|d"'),
    ],
)
def test_quote_escapes_quotes_and_backslashes(value: str, quoted: str) -> None:
    assert quote(value) == quoted


@pytest.mark.parametrize(
    ("env", "script", "context"),
    [
        ({"agi_network_script": "screen", "agi_channel": "PJSIP/c-1", "agi_uniqueid": "17.1", "agi_arg_1": "+442071234567"},
         "screen", "channel=PJSIP/c-1 uniqueid=17.1 ddi=+442071234567"),
        ({"agi_network_script": "/health?x=1", "agi_extension": "s"}, "health", "channel=? uniqueid=? ddi=s"),
        ({}, "", "channel=? uniqueid=? ddi=?"),
    ],
)
def test_session_script_and_context(env: dict[str, str], script: str, context: str) -> None:
    session = AgiSession(AgiConnection(), env, 1.0)

    assert (session.script, session.context) == (script, context)


# --- one session over a real socket pair ----------------------------------------------------


class Wire:
    """Both ends of a connected socket pair: callshield's connection and the Asterisk side's streams."""

    def __init__(self, ours: AgiConnection, theirs: tuple[asyncio.StreamReader, asyncio.StreamWriter]):
        self.conn = ours
        self.peer_reader, self.peer_writer = theirs

    def session(self, command_timeout: float = DEADLINE) -> AgiSession:
        return AgiSession(self.conn, {}, command_timeout)

    async def peer_says(self, *lines: str) -> None:
        self.peer_writer.write("".join(f"{line}\n" for line in lines).encode())
        await self.peer_writer.drain()

    async def peer_hears(self) -> str:
        async with asyncio.timeout(DEADLINE):
            return (await self.peer_reader.readline()).decode()


@pytest_asyncio.fixture
async def wire() -> AsyncIterator[Wire]:
    a, b = socket.socketpair()
    _, ours = await asyncio.get_running_loop().create_connection(AgiConnection, sock=a)
    w = Wire(ours, await asyncio.open_connection(sock=b))
    yield w
    w.conn.close()
    w.peer_writer.close()


@pytest.mark.asyncio
async def test_open_reads_the_environment(wire: Wire) -> None:
    await wire.peer_says("agi_network: yes", "agi_request: agi://127.0.0.1:4573/screen", "agi_network_script: screen",
                         "agi_calleridname:", "agi_arg_1: +442071234567", "")

    session = await AgiSession.open(wire.conn, env_timeout=DEADLINE, command_timeout=DEADLINE)

    assert session.env == {"agi_network": "yes", "agi_request": "agi://127.0.0.1:4573/screen", "agi_network_script": "screen",
                           "agi_calleridname": "", "agi_arg_1": "+442071234567"}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["GET / HTTP/1.1"], "not an AGI environment line: 'GET / HTTP/1.1'"),
        (["agi_ok: 1", "nonsense", ""], "not an AGI environment line: 'nonsense'"),
        ([*(f"agi_var{i}: x" for i in range(MAX_ENV_LINES + 1)), ""], f"the AGI environment has more than {MAX_ENV_LINES} lines"),
    ],
)
async def test_open_refuses_a_bad_environment(wire: Wire, lines: list[str], message: str) -> None:
    await wire.peer_says(*lines)

    with pytest.raises(AgiProtocolError, match=f"^{message}$"):
        await AgiSession.open(wire.conn, env_timeout=DEADLINE, command_timeout=DEADLINE)


@pytest.mark.asyncio
async def test_open_refuses_an_environment_without_its_blank_line(wire: Wire) -> None:
    await wire.peer_says("agi_network: yes", "agi_channel: PJSIP/x-1")

    with pytest.raises(AgiProtocolError, match=r"^the AGI environment did not end \(no blank line\) within 0.1s$"):
        await AgiSession.open(wire.conn, env_timeout=0.1, command_timeout=DEADLINE)


@pytest.mark.asyncio
async def test_open_refuses_an_environment_cut_short(wire: Wire) -> None:
    await wire.peer_says("agi_network: yes")
    wire.peer_writer.write_eof()

    with pytest.raises(AgiProtocolError, match=r"^the AGI environment ended early after 1 lines \(connection closed\)$"):
        await AgiSession.open(wire.conn, env_timeout=DEADLINE, command_timeout=DEADLINE)


@pytest.mark.asyncio
async def test_get_full_variable_sends_a_quoted_expression(wire: Wire) -> None:
    session = wire.session()
    pending = asyncio.create_task(session.get_full_variable('${X}"'))

    assert await wire.peer_hears() == 'GET FULL VARIABLE "${X}\\""\n'
    await wire.peer_says("200 result=1 (the value)")
    assert await pending == "the value"
    assert session.round_trips == 1


@pytest.mark.asyncio
async def test_get_full_variable_of_an_unset_variable_is_none(wire: Wire) -> None:
    pending = asyncio.create_task(wire.session().get_full_variable("${NOPE}"))
    await wire.peer_hears()

    await wire.peer_says("200 result=0")

    assert await pending is None


@pytest.mark.asyncio
async def test_syntax_error_block_is_read_whole(wire: Wire) -> None:
    session = wire.session()
    await wire.peer_says("520-Invalid command syntax.  Proper usage follows:", "Usage: SET VARIABLE <name> <value>",
                         "520 End of proper usage.", "200 result=1")

    with pytest.raises(AgiProtocolError, match="^Asterisk refused the syntax of 'SET VARIABLE X'$"):
        await session.command("SET VARIABLE X")
    assert (await session.command("SET VARIABLE X 1")).code == 200  # the stream is still in step


@pytest.mark.asyncio
async def test_unexpected_reply_code_is_a_protocol_error(wire: Wire) -> None:
    await wire.peer_says("510 Invalid or unknown command")

    with pytest.raises(AgiProtocolError, match="^Asterisk answered '510 Invalid or unknown command' to 'FOO'$"):
        await wire.session().command("FOO")


@pytest.mark.asyncio
async def test_hangup_notice_before_a_reply_ends_later_commands(wire: Wire) -> None:
    session = wire.session()
    await wire.peer_says("HANGUP", "200 result=1 (v)")

    assert (await session.command("GET VARIABLE X")).value == "v"
    assert session.hung_up
    with pytest.raises(AgiHangup, match="^the channel hung up; no further AGI commands are possible$"):
        await session.command("SET VARIABLE X 1")
    assert session.round_trips == 1


@pytest.mark.asyncio
async def test_511_reply_is_a_hangup(wire: Wire) -> None:
    session = wire.session()
    await wire.peer_says("511 Command Not Permitted on a dead channel or intercept routine")

    with pytest.raises(AgiHangup, match=r"^the channel hung up \(511"):
        await session.command("SET VARIABLE X 1")
    assert session.hung_up


@pytest.mark.asyncio
async def test_connection_closed_before_the_reply_is_a_hangup(wire: Wire) -> None:
    wire.peer_writer.write_eof()

    with pytest.raises(AgiHangup, match="^Asterisk closed the AGI connection$"):
        await wire.session().command("SET VARIABLE X 1")


@pytest.mark.asyncio
async def test_silent_peer_is_a_timeout(wire: Wire) -> None:
    with pytest.raises(AgiTimeout, match=r"^Asterisk did not answer 'SET VARIABLE X' within 0.05s$"):
        await wire.session(command_timeout=0.05).command("SET VARIABLE X 1")


@pytest.mark.asyncio
@pytest.mark.parametrize("text", ["SET VARIABLE X 1\nHANGUP", "A\rB"])
async def test_multi_line_command_is_refused(wire: Wire, text: str) -> None:
    session = wire.session()

    with pytest.raises(AgiProtocolError, match="^an AGI command must be one line$"):
        await session.command(text)
    assert session.round_trips == 0


@settings(max_examples=300, deadline=None)
@example([b"agi_channel: PJSIP/x-1", b"agi_calleridname:", b"agi_x:  two spaces", b"agi_y: a\rb\r"])
@given(lines=st.lists(st.one_of(
    st.builds(lambda n, v: f"agi_{n}:{v}".encode("utf-8", "surrogateescape"), st.text(max_size=12), st.text(max_size=30)),
    st.binary(max_size=40)), max_size=30))
def test_the_whole_environment_is_read_as_line_by_line(lines: list[bytes]) -> None:
    """The one-pass parse of the environment gives what the line-by-line rule gives, or
    the same error for the first bad line."""
    from callshield.agi.protocol import _env_line, _env_lines

    lines = [line for line in lines if b"\n" not in line]
    try:
        expected = [_env_line(line.decode("utf-8", errors="replace").rstrip("\r\n")) for line in lines]
    except AgiProtocolError as exc:
        with pytest.raises(AgiProtocolError, match=f"^{re.escape(str(exc))}$"):
            _env_lines(lines)
        return
    assert _env_lines(lines) == expected


class _Transport:
    """A transport stand-in that records flow control (a real one cannot be paused on cue)."""

    def __init__(self) -> None:
        self.paused = False

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def is_closing(self) -> bool:
        return False


def _reference_lines(data: bytes) -> list[tuple[bytes, int]]:
    """Lines as the connection must give them: each kept to MAX_LINE bytes, the rest counted."""
    from callshield.agi.protocol import MAX_LINE

    out = []
    for part in data.split(b"\n")[:-1]:
        whole = part + b"\n"
        out.append((whole[:MAX_LINE], max(0, len(whole) - MAX_LINE)))
    tail = data.split(b"\n")[-1]
    if tail:
        out.append((tail[:MAX_LINE], max(0, len(tail) - MAX_LINE)))
    return out


@settings(max_examples=150, deadline=None)
@given(sizes=st.lists(st.integers(0, 150_000), min_size=1, max_size=5), cuts=st.lists(st.integers(1, 90_000), max_size=12))
def test_a_connection_gives_the_same_bounded_lines_however_the_bytes_arrive(sizes: list[int], cuts: list[int]) -> None:
    data = b"".join(b"x" * n + b"\n" for n in sizes[:-1]) + b"y" * sizes[-1]
    conn = AgiConnection()
    conn.connection_made(_Transport())  # type: ignore[arg-type]
    pos = 0
    for cut in cuts:
        conn.data_received(data[pos:pos + cut])
        pos += cut
    conn.data_received(data[pos:])
    conn.eof_received()

    async def drain() -> list[tuple[bytes, int]]:
        lines = []
        while (line := await conn.readline())[0]:
            lines.append(line)
        return lines

    assert asyncio.run(drain()) == _reference_lines(data)


def test_a_connection_flooded_with_lines_stops_reading_until_they_are_read() -> None:
    from callshield.agi.protocol import MAX_QUEUED

    transport = _Transport()
    conn = AgiConnection()
    conn.connection_made(transport)  # type: ignore[arg-type]
    conn.data_received(b"200 result=1\n" * (MAX_QUEUED + 1))
    assert transport.paused

    async def read(n: int) -> None:
        for _ in range(n):
            await conn.readline()

    asyncio.run(read(MAX_QUEUED // 2 + 1))
    assert not transport.paused

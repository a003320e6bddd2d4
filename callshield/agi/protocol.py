"""The FastAGI wire protocol: the session environment, commands and their replies.

Asterisk opens a TCP connection, sends ``agi_*: value`` lines and a blank line, then
answers each command we send with one reply line (``200 result=1 (value)``), or a
``520-`` block for bad syntax. When the channel hangs up it sends ``HANGUP`` at any
moment, and later commands get ``511``.

A reply line can carry what a caller sent (a header value), so it is read bounded: at
most ``MAX_LINE`` bytes of it are kept, the rest up to its newline is read and dropped
(``AgiReply.dropped`` says how much), and memory stays bounded whatever its length.

``AgiConnection`` is the connection as asyncio sees it: a ``Protocol`` that cuts the
bytes into lines as they arrive. ``AgiSession`` reads those lines. (It used asyncio's
streams until the profile of serve under load showed their machinery, a reader, a
writer and a protocol object per call and a wake-up per read, at some 60 µs of CPU per
call: bench/README.md.)
"""

from __future__ import annotations

import asyncio
import collections
import re
from dataclasses import dataclass
from typing import Any, Callable

from callshield.agi import encode
from callshield.agi.encode import quote  # noqa: F401  (re-exported: the one quoting rule lives in encode)
from callshield.errors import AgiHangup, AgiProbe, AgiProtocolError, AgiSilentPeer, AgiTimeout

MAX_ENV_LINES = 200
MAX_LINE = 64 * 1024
MAX_QUEUED = MAX_ENV_LINES + 16  # unread lines before the connection stops reading


@dataclass(frozen=True)
class AgiReply:
    code: int
    result: str
    value: str | None
    raw: str
    dropped: int = 0  # bytes of an over-long reply line read past MAX_LINE and dropped


def parse_reply(line: str, dropped: int = 0) -> AgiReply:
    """Parse one reply line such as ``200 result=1 (some value) endpos=0``."""
    head, _, rest = line.partition(" ")
    if not (len(head) == 3 and head.isascii() and head.isdigit()):
        raise AgiProtocolError(f"not an AGI reply: {line[:120]!r}")
    code = int(head)
    result, value = "", None
    if rest.startswith("result="):
        body = rest[len("result="):]
        result, _, tail = body.partition(" ")
        if tail.startswith("("):
            end = tail.rfind(")")
            value = tail[1:end] if end > 0 else tail[1:]
    return AgiReply(code, result, value, line, dropped)


# One pass of the C regex engine over the whole environment (Asterisk's lines are always
# "agi_name: value"); the line-by-line parser below is the rule, and says which line is wrong.
_ENV_RE = re.compile(r"^(agi_[^:\n\s]*):[ ]?([^\n]*?)\r?$", re.M)


def _env_lines(raw: list[bytes]) -> list[tuple[str, str]]:
    """The (name, value) pairs of the environment lines ``raw`` (newlines kept or not)."""
    text = b"\n".join(line.rstrip(b"\r\n") for line in raw).decode("utf-8", errors="replace")
    pairs = _ENV_RE.findall(text)
    if len(pairs) == len(raw):
        return pairs
    return [_env_line(line.decode("utf-8", errors="replace").rstrip("\r\n")) for line in raw]


def _env_line(line: str) -> tuple[str, str]:
    name, sep, value = line.partition(":")
    if not sep or not name.startswith("agi_"):
        raise AgiProtocolError(f"not an AGI environment line: {line[:120]!r}")
    return name.strip(), value[1:] if value.startswith(" ") else value


class AgiConnection(asyncio.Protocol):
    """One FastAGI connection, as lines: what Asterisk sends is cut into lines as it
    arrives, each kept to MAX_LINE bytes (the rest of an over-long line is counted and
    dropped), and queued for the session to take one at a time with ``readline``. Past
    MAX_QUEUED unread lines the connection stops reading until the session catches up,
    so a peer that floods costs bounded memory."""

    def __init__(self, on_connect: Callable[["AgiConnection"], None] | None = None):
        self.transport: asyncio.Transport | None = None
        self._on_connect = on_connect
        self._buf = bytearray()
        self._long: bytes | None = None  # the kept start of an over-long line being dropped
        self._dropped = 0
        self._lines: collections.deque[tuple[bytes, int]] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._eof = False
        self._paused = False

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport subclass
        if self._on_connect is not None:
            self._on_connect(self)

    def data_received(self, data: bytes) -> None:
        if self._long is not None:  # the rest of an over-long line: count it up to its newline
            end = data.find(b"\n")
            if end < 0:
                self._dropped += len(data)
                return
            self._dropped += end + 1
            self._push(self._long, self._dropped)
            self._long = None
            data = data[end + 1:]
        buf = self._buf
        buf += data
        start = 0
        while (end := buf.find(b"\n", start)) >= 0:
            if end + 1 - start <= MAX_LINE:
                self._lines.append((bytes(buf[start:end + 1]), 0))
            else:  # a whole over-long line in one read: its start, and how much was dropped
                self._lines.append((bytes(buf[start:start + MAX_LINE]), end + 1 - start - MAX_LINE))
            start = end + 1
        if start:
            del buf[:start]
        if len(buf) > MAX_LINE:  # no newline within the limit: keep its start, drop the rest
            self._long, self._dropped = bytes(buf[:MAX_LINE]), len(buf) - MAX_LINE
            buf.clear()
        if start:
            self._wake()
        if len(self._lines) > MAX_QUEUED and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self._end()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()

    # -- for the session -------------------------------------------------------------------

    async def readline(self) -> tuple[bytes, int]:
        """The next line with its newline, and how many bytes of it past MAX_LINE were
        dropped; at the end of the stream, what is left without a newline, then b""."""
        while not self._lines:
            if self._eof:
                return b"", 0
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        line = self._lines.popleft()
        if self._paused and len(self._lines) <= MAX_QUEUED // 2 and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return line

    def write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("the AGI connection is closed")
        self.transport.write(data)

    def is_closing(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.transport.get_extra_info(name, default) if self.transport is not None else default

    def _push(self, line: bytes, dropped: int) -> None:
        self._lines.append((line, dropped))
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _end(self) -> None:
        if self._eof:
            return
        if self._long is not None:
            self._lines.append((self._long, self._dropped))
            self._long = None
        elif self._buf:
            self._lines.append((bytes(self._buf), 0))
            self._buf.clear()
        self._eof = True
        self._wake()


class AgiSession:
    def __init__(self, conn: AgiConnection, env: dict[str, str], command_timeout: float):
        self.connection = conn
        self.env = env
        self.command_timeout = command_timeout
        self.hung_up = False
        self.round_trips = 0

    @property
    def script(self) -> str:
        return self.env.get("agi_network_script", "").split("?", 1)[0].strip("/")

    def arg(self, n: int) -> str:
        return self.env.get(f"agi_arg_{n}", "")

    @property
    def context(self) -> str:
        """Who this call is, for log lines: channel, uniqueid and dialled number."""
        return f"channel={self.env.get('agi_channel', '?')} uniqueid={self.env.get('agi_uniqueid', '?')} ddi={self.arg(1) or self.env.get('agi_extension', '?')}"

    @classmethod
    async def open(cls, conn: AgiConnection, *, env_timeout: float, command_timeout: float) -> "AgiSession":
        """Read the environment up to its blank line; a peer that is not Asterisk is
        refused at its first line."""
        env: dict[str, str] = {}
        lines: list[bytes] = []
        try:
            async with asyncio.timeout(env_timeout):
                while True:
                    raw, dropped = await conn.readline()
                    if not raw:
                        if not env and not lines:
                            raise AgiProbe("connection closed before any AGI environment (a TCP probe?)")
                        raise AgiProtocolError(f"the AGI environment ended early after {len(env) + len(lines)} lines (connection closed)")
                    if dropped:
                        raise AgiProtocolError(f"an AGI environment line is longer than {MAX_LINE} bytes")
                    if not raw.rstrip(b"\r\n"):
                        break
                    if not env and not lines:  # the first line alone: a peer that is not Asterisk is refused at it
                        name, value = _env_line(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
                        env[name] = value
                        continue
                    if len(env) + len(lines) >= MAX_ENV_LINES:
                        raise AgiProtocolError(f"the AGI environment has more than {MAX_ENV_LINES} lines")
                    lines.append(raw)
        except TimeoutError:
            if not env:
                raise AgiSilentPeer(f"sent no AGI environment within {env_timeout}s (agi.env_timeout): cut") from None
            raise AgiProtocolError(f"the AGI environment did not end (no blank line) within {env_timeout}s") from None
        env.update(_env_lines(lines))
        return cls(conn, env, command_timeout)

    async def command(self, text: str, timeout: float | None = None) -> AgiReply:
        """Send one command and wait for its reply.

        Never pipeline AGI commands: res_agi reads the socket through stdio, so a second
        command already sitting in its buffer is not seen until its poll wakes up again
        (measured: one second per call with Asterisk 22).
        """
        if self.hung_up:
            raise AgiHangup("the channel hung up; no further AGI commands are possible")
        line = encode.command(text)
        limit = self.command_timeout if timeout is None else timeout
        try:
            self.connection.write(line)
            self.round_trips += 1
            async with asyncio.timeout(limit):
                return await self._reply(text)
        except TimeoutError:
            raise AgiTimeout(f"Asterisk did not answer '{' '.join(text.split(' ', 3)[:3])}' within {limit}s") from None
        except ConnectionError as exc:
            raise AgiHangup(f"the AGI connection closed: {exc}") from None

    async def _reply(self, text: str) -> AgiReply:
        while True:
            raw, dropped = await self.connection.readline()
            if not raw:
                raise AgiHangup("Asterisk closed the AGI connection")
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if line == "HANGUP":
                self.hung_up = True
                continue
            if line.startswith("520-"):
                while raw and not raw.startswith(b"520 "):
                    raw, _ = await self.connection.readline()
                raise AgiProtocolError(f"Asterisk refused the syntax of {text[:80]!r}")
            reply = parse_reply(line, dropped)
            if reply.code == 511:
                self.hung_up = True
                raise AgiHangup("the channel hung up (511: command not permitted on a dead channel)")
            if reply.code != 200:
                raise AgiProtocolError(f"Asterisk answered {line[:120]!r} to {text[:80]!r}")
            return reply

    async def get_full_variable(self, expression: str) -> str | None:
        reply = await self.command(f"GET FULL VARIABLE {quote(expression)}")
        return reply.value if reply.result == "1" else None

    async def set_variable(self, name: str, value: str) -> None:
        await self.command(encode.set_variable(name, value))

    async def close(self) -> None:
        """Close the connection; what was written still goes out first."""
        self.connection.close()

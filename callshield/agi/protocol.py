"""The FastAGI wire protocol: the session environment, commands and their replies.

Asterisk opens a TCP connection, sends ``agi_*: value`` lines and a blank line, then
answers each command we send with one reply line (``200 result=1 (value)``), or a
``520-`` block for bad syntax. When the channel hangs up it sends ``HANGUP`` at any
moment, and later commands get ``511``.

A reply line can carry what a caller sent (a header value), so it is read bounded: at
most ``MAX_LINE`` bytes of it are kept, the rest up to its newline is read and dropped
(``AgiReply.dropped`` says how much), and memory stays bounded whatever its length.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from callshield.agi import encode
from callshield.agi.encode import quote  # noqa: F401  (re-exported: the one quoting rule lives in encode)
from callshield.errors import AgiHangup, AgiProbe, AgiProtocolError, AgiSilentPeer, AgiTimeout

MAX_ENV_LINES = 200
MAX_LINE = 64 * 1024


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


async def _env_after(reader: asyncio.StreamReader, first: bytes) -> list[bytes]:
    """The environment's lines after ``first`` up to the blank line (not included). Asterisk
    writes them all at once, so after the first line this is one ``readuntil`` for
    ``\\n\\n`` (bounded by the reader's limit) instead of an await per line."""
    if not first.rstrip(b"\r\n"):
        return []
    if first.endswith(b"\r\n"):  # not Asterisk's line ending: line by line, as it comes
        lines: list[bytes] = []
        while (raw := await reader.readuntil(b"\n")).rstrip(b"\r\n"):
            lines.append(raw)
            if len(lines) > MAX_ENV_LINES:
                break
        return lines
    # After a line's newline, the environment ends at a newline at once or at the next
    # "\n\n" (the last line's newline and the blank line).
    head = await reader.readexactly(1)
    if head == b"\n":
        return []
    rest = head + await reader.readuntil(b"\n\n")
    return rest.split(b"\n")[:-2]


class AgiSession:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, env: dict[str, str], command_timeout: float):
        self.reader = reader
        self.writer = writer
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
    async def open(cls, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, env_timeout: float, command_timeout: float) -> "AgiSession":
        """Read the environment: its first line alone, so a peer that is not Asterisk is
        refused at it, then the rest up to the blank line (at most MAX_LINE bytes)."""
        env: dict[str, str] = {}
        try:
            async with asyncio.timeout(env_timeout):
                # The first line alone, so a peer that is not Asterisk is refused at it; then
                # the rest up to the blank line in one or two reads, not one per line.
                first = await reader.readline()
                if not first:
                    raise AgiProbe("connection closed before any AGI environment (a TCP probe?)")
                if first.rstrip(b"\r\n"):
                    name, value = _env_line(first.decode("utf-8", errors="replace").rstrip("\r\n"))
                    env[name] = value
                rest = await _env_after(reader, first)
                if len(rest) >= MAX_ENV_LINES:
                    raise AgiProtocolError(f"the AGI environment has more than {MAX_ENV_LINES} lines")
                env.update(_env_lines(rest))
                return cls(reader, writer, env, command_timeout)
        except asyncio.IncompleteReadError as exc:
            lines = len(env) + exc.partial.count(b"\n")
            raise AgiProtocolError(f"the AGI environment ended early after {lines} lines (connection closed)") from None
        except (ValueError, asyncio.LimitOverrunError):  # no blank line within the reader's limit
            raise AgiProtocolError(f"the AGI environment is longer than {MAX_LINE} bytes") from None
        except TimeoutError:
            if not env:
                raise AgiSilentPeer(f"sent no AGI environment within {env_timeout}s (agi.env_timeout): cut") from None
            raise AgiProtocolError(f"the AGI environment did not end (no blank line) within {env_timeout}s") from None

    async def command(self, text: str, timeout: float | None = None) -> AgiReply:
        """Send one command and wait for its reply.

        Never pipeline AGI commands: res_agi reads the socket through stdio, so a second
        command already sitting in its buffer is not seen until its poll wakes up again
        (measured: one second per call with Asterisk 22).
        """
        if self.hung_up:
            raise AgiHangup("the channel hung up; no further AGI commands are possible")
        self.writer.write(encode.command(text))
        self.round_trips += 1
        limit = self.command_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                await self.writer.drain()
                return await self._reply(text)
        except TimeoutError:
            raise AgiTimeout(f"Asterisk did not answer '{' '.join(text.split(' ', 3)[:3])}' within {limit}s") from None
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            raise AgiHangup(f"the AGI connection closed: {exc}") from None

    async def _readline(self) -> tuple[bytes, int]:
        """One line with its newline (none at end of stream), at most MAX_LINE bytes of it
        kept, and how many bytes past that were read and dropped. The reader never buffers
        much more than its limit (MAX_LINE), so a line of any length costs bounded memory."""
        try:
            return await self.reader.readuntil(b"\n"), 0  # a reply line within the limit: nearly always
        except asyncio.LimitOverrunError as exc:  # no newline within the limit: take what is buffered
            kept = await self.reader.readexactly(exc.consumed)
        except asyncio.IncompleteReadError as exc:  # end of stream
            return exc.partial, 0
        kept, dropped = kept[:MAX_LINE], max(0, len(kept) - MAX_LINE)
        while True:
            try:
                chunk = await self.reader.readuntil(b"\n")
                end = True
            except asyncio.LimitOverrunError as exc:
                chunk = await self.reader.readexactly(exc.consumed)
                end = False
            except asyncio.IncompleteReadError as exc:
                chunk, end = exc.partial, True
            room = MAX_LINE - len(kept)
            if room > 0:
                kept += chunk[:room]
            dropped += max(0, len(chunk) - max(room, 0))
            if end:
                return kept, dropped

    async def _reply(self, text: str) -> AgiReply:
        while True:
            raw, dropped = await self._readline()
            if not raw:
                raise AgiHangup("Asterisk closed the AGI connection")
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if line == "HANGUP":
                self.hung_up = True
                continue
            if line.startswith("520-"):
                while raw and not raw.startswith(b"520 "):
                    raw, _ = await self._readline()
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
        """Close the connection; its buffered reply still goes out. Not waiting for the
        transport to report it closed saves a loop iteration per call."""
        if not self.writer.is_closing():
            self.writer.close()

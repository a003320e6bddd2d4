"""An Asterisk Manager Interface (AMI) client on asyncio streams, for the AMI monitor.

``AmiClient.run()`` keeps one logged-in AMI connection up until it is cancelled: it
connects, checks the banner, logs in with ``Events: on``, calls ``on_connected`` (where
the monitor resyncs its view), then hands every event to ``on_event``, synchronously and
in arrival order, from the one reader task (no task per event). A ``Ping`` goes out every
``monitor.keepalive`` seconds; no answer within as long again counts as a dead
connection. Whatever ends a connection (refused, reset, silent, wrong credentials, not an
AMI port) the client waits and tries again, with exponential backoff from
``backoff_initial`` doubling to ``backoff_max`` and full jitter (a random wait in
``[0, delay]``); the delay starts over after a connection that logged in and stayed up
for at least one keepalive period.

``action()`` sends one action and returns its response (matched by ActionID);
``collect()`` sends an event-list action (``PJSIPShowContacts``, ...) and returns the
list's events up to its completion event.

Why not panoramisk 1.4 (which the house style points at), measured by
bench/ami_events.py on the same stream (bench/README.md): it spends about 3x the CPU
per event (on the event loop the pre-answer AGI path shares), and it loses the last
field of any message whose value is empty (``Value: `` of a VarSet: 13 % of the events
of a realistic mix), as it strips each message before splitting it. Besides: a fixed
reconnect delay (no backoff, no jitter), a Ping whose Pong is never checked (a silent
Asterisk goes unnoticed), no timeout on actions, a refused login only logged as a lost
connection, each read decoded alone with ``errors="ignore"`` (a UTF-8 character split
between two reads vanishes), and no bound on a message's size. Building on it would
have meant replacing all but its parser, which is the slow and lossy part.

The framing: a message is ``Key: Value`` lines ending with CRLF, closed by an empty line.
A line without ``": "`` is skipped and counted (``malformed``); a key that repeats (the
``Output`` lines of a ``Command`` response, ``ChanVariable``) keeps every value, joined
by newlines; non-UTF-8 bytes are replaced (U+FFFD); a message over
``MAX_MESSAGE_BYTES`` or ``MAX_MESSAGE_LINES`` is dropped with a warning (``dropped``),
and an action whose response was dropped fails at once rather than timing out.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import re
from dataclasses import dataclass
from typing import Awaitable, Callable

from callshield.config import MonitorConfig
from callshield.errors import CallshieldError

log = logging.getLogger("callshield.ami")

BANNER_PREFIX = "Asterisk Call Manager"
MAX_MESSAGE_BYTES = 64 * 1024
MAX_MESSAGE_LINES = 500
READ_SIZE = 256 * 1024
STREAM_LIMIT = 2 * MAX_MESSAGE_BYTES  # bounds the banner line; the transport pauses past 2x this
SEPARATOR = b"\r\n\r\n"
LOGOFF_TIMEOUT = 1.0
# An on_event callback that raises is logged with its traceback the first times, then
# once per this many errors (a broken detector must not flood the log at 20,000 events/s).
CALLBACK_ERRORS_LOGGED = 10
CALLBACK_ERRORS_EVERY = 1000
_ACTION_ID_RE = re.compile(rb"(?:^|\r\n)ActionID: ([^\r\n]*)")


class AmiError(CallshieldError):
    """The AMI conversation with Asterisk failed."""


class AmiConnectionError(AmiError):
    """The AMI connection is down, could not be made, or was lost before an answer."""


class AmiProtocolError(AmiConnectionError):
    """The peer is not an Asterisk manager interface, or broke the AMI framing."""


class AmiAuthError(AmiConnectionError):
    """Asterisk refused the AMI login (user, secret, or the user's permit/deny ACL)."""


class AmiTimeout(AmiError):
    """Asterisk did not answer an AMI action in time."""


class AmiActionError(AmiError):
    """Asterisk answered an AMI action with ``Response: Error``; ``reply`` holds it."""

    def __init__(self, action: str, reply: dict[str, str]):
        self.action = action
        self.reply = reply
        why = reply.get("Message", reply.get("Response", "?")).strip()  # Asterisk ends some messages with '\n'
        super().__init__(f"Asterisk refused the AMI action {action}: {why}")


@dataclass(frozen=True)
class AmiClientStats:
    """A snapshot of the client for health reporting."""

    connected: bool
    logged_in: bool
    events_received: int
    reconnects: int
    logins: int
    malformed: int
    dropped: int
    callback_errors: int
    last_error: str | None


class AmiParser:
    """Splits an AMI byte stream into messages (``dict[str, str]``), with the limits and
    tolerances described in the module docstring. ``feed`` never raises on any input."""

    def __init__(self, peer: str = "?", *, max_bytes: int = MAX_MESSAGE_BYTES, max_lines: int = MAX_MESSAGE_LINES):
        self.peer = peer
        self.max_bytes = max_bytes
        self.max_lines = max_lines
        self.malformed = 0  # lines without ": ", and messages with neither Event nor Response
        self.dropped = 0  # messages over the size or line limit
        self.dropped_action_ids: list[str] = []  # ActionIDs of dropped messages, for the client
        self._buf = b""
        self._discarding = False  # inside an oversized message, waiting for its end
        self._discard_head = b""

    def reset(self) -> None:
        """Forget any partial message (a new connection starts clean)."""
        self._buf = b""
        self._discarding = False
        self._discard_head = b""

    def feed(self, data: bytes) -> list[dict[str, str]]:
        buf = self._buf + data if self._buf else data
        if self._discarding:
            end = buf.find(SEPARATOR)
            if end < 0:
                self._buf = buf[-3:]  # a separator may straddle two reads
                return []
            self._discarding = False
            self._drop(self._discard_head, "more than %d bytes" % self.max_bytes)
            buf = buf[end + 4:]
        end = buf.rfind(SEPARATOR)
        if end < 0:
            self._buf = buf
            if len(buf) > self.max_bytes:
                self._start_discarding(buf)
            return []
        rest = buf[end + 4:]
        self._buf = rest
        if len(rest) > self.max_bytes:
            self._start_discarding(rest)
        # A UTF-8 sequence cannot straddle the ASCII separator: decode the whole block once.
        block = buf[:end].decode("utf-8", "replace")
        out: list[dict[str, str]] = []
        append = out.append
        max_bytes, max_lines = self.max_bytes, self.max_lines
        for text in block.split("\r\n\r\n"):
            lines = text.split("\r\n")
            if len(lines) > max_lines or len(text) > max_bytes:
                self._drop(text.encode("utf-8", "replace")[:4096], "%d lines, %d characters" % (len(lines), len(text)))
                continue
            msg: dict[str, str] = {}
            for line in lines:
                key, sep, value = line.partition(": ")
                if not sep:
                    if line:
                        self.malformed += 1
                elif key in msg:
                    msg[key] += "\n" + value
                else:
                    msg[key] = value
            if "Event" in msg or "Response" in msg:
                append(msg)
            elif msg:
                self.malformed += 1
        return out

    def _start_discarding(self, buf: bytes) -> None:
        self._discarding = True
        self._discard_head = buf[:4096]
        self._buf = buf[-3:]

    def _drop(self, head: bytes, size: str) -> None:
        self.dropped += 1
        match = _ACTION_ID_RE.search(head)
        action_id = match.group(1).decode("utf-8", "replace") if match else None
        if action_id is not None:
            self.dropped_action_ids.append(action_id)
        first = head.split(b"\r\n", 1)[0].decode("utf-8", "replace")[:80]
        log.warning("AMI %s: dropped a message of %s (limit %d lines, %d bytes) starting %r%s",
                    self.peer, size, self.max_lines, self.max_bytes, first,
                    f" for ActionID {action_id}" if action_id is not None else "")


class _Waiter:
    """An action in flight: its response, and for an event list its events."""

    __slots__ = ("name", "future", "complete_event", "events", "acked")

    def __init__(self, name: str, future: asyncio.Future[object], complete_event: str | None):
        self.name = name
        self.future = future
        self.complete_event = complete_event
        self.events: list[dict[str, str]] = []
        self.acked = False

    def feed(self, msg: dict[str, str]) -> bool:
        """Take one message carrying this ActionID; True when the waiter is done."""
        if self.future.done():
            return True
        if "Response" in msg and not self.acked:
            if msg["Response"] not in ("Success", "Goodbye", "Follows"):
                self.future.set_exception(AmiActionError(self.name, msg))
                return True
            if self.complete_event is None:
                self.future.set_result(msg)
                return True
            self.acked = True
            return False
        if self.complete_event is not None and "Event" in msg:
            if msg["Event"] == self.complete_event:
                self.future.set_result(self.events)
                return True
            self.events.append(msg)
        return False


class AmiClient:
    """One AMI connection kept up by ``run()``; see the module docstring."""

    def __init__(
        self,
        config: MonitorConfig,
        secret: str,
        on_event: Callable[[dict[str, str]], None],
        on_connected: Callable[[AmiClient], Awaitable[None]] | None = None,
        *,
        rng: random.Random | None = None,
    ):
        self.config = config
        self._secret = secret
        self._on_event = on_event
        self._on_connected = on_connected
        self._rng = rng if rng is not None else random.Random()
        self.peer = f"{config.host}:{config.port}"
        self._parser = AmiParser(self.peer)
        self._ids = itertools.count(1)
        self._pending: dict[str, _Waiter] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._connected = False
        self._logged_in = False
        self._closing = False
        self._dead_reason: str | None = None
        self._auth_failed = False
        self.version: str | None = None  # the manager protocol version from the banner
        self.events_received = 0
        self.reconnects = 0  # connection attempts after the first
        self.logins = 0
        self.callback_errors = 0
        self.last_error: str | None = None  # why the last connection failed or ended; None once logged in
        self.last_retry_delay: float | None = None  # the last wait before reconnecting, seconds

    def __repr__(self) -> str:  # never shows the secret
        return f"<AmiClient {self.config.username}@{self.peer} connected={self._connected} logged_in={self._logged_in}>"

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def logged_in(self) -> bool:
        return self._logged_in

    @property
    def malformed(self) -> int:
        return self._parser.malformed

    @property
    def dropped(self) -> int:
        return self._parser.dropped

    def stats(self) -> AmiClientStats:
        return AmiClientStats(self._connected, self._logged_in, self.events_received, self.reconnects, self.logins,
                              self._parser.malformed, self._parser.dropped, self.callback_errors, self.last_error)

    # -- the connection loop ---------------------------------------------------------

    async def run(self) -> None:
        """Keep a logged-in connection up until cancelled (or ``close()``); once it has
        ended (even by an exception) it may be run again, in the same task too."""
        if self._run_task is not None and not self._run_task.done():
            raise RuntimeError("AmiClient.run() is already running")
        self._run_task = asyncio.current_task()
        try:
            await self._reconnecting()
        finally:
            self._run_task = None

    async def _reconnecting(self) -> None:
        self._closing = False
        loop = asyncio.get_running_loop()
        failures = 0
        first = True
        while not self._closing:
            if not first:
                self.reconnects += 1
            first = False
            started = loop.time()
            logged_in = False
            try:
                logged_in = await self._session()
                reason = self._dead_reason or f"the AMI connection to {self.peer} ended"
            except (AmiError, OSError) as exc:
                reason = str(exc) or f"{type(exc).__name__} on the AMI connection to {self.peer}"
            except Exception as exc:  # a bug: log it, and keep the monitor alive
                log.exception("AMI %s: unexpected error on the connection", self.peer)
                reason = f"unexpected error on the AMI connection to {self.peer}: {exc!r}"
            if self._closing:
                break
            self.last_error = reason
            if logged_in and loop.time() - started >= self.config.keepalive:
                failures = 0
            failures += 1
            cap = min(self.config.backoff_max, self.config.backoff_initial * 2 ** min(failures - 1, 64))
            delay = self._rng.uniform(0.0, cap)
            self.last_retry_delay = delay
            # every reason names the host:port; a refused login is the admin's to fix: ERROR
            log.log(logging.ERROR if self._auth_failed else logging.WARNING,
                    "%s; reconnecting in %.2f s (attempt %d)", reason, delay, failures)
            await asyncio.sleep(delay)

    async def close(self) -> None:
        """Log off (best effort) and stop ``run()``; safe to call more than once."""
        self._closing = True
        if self._logged_in:
            try:
                await self.action("Logoff", timeout=LOGOFF_TIMEOUT)
            except (AmiError, OSError):
                pass
        task = self._run_task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
            await asyncio.wait({task})
        self._teardown("the AMI client was closed")

    async def _session(self) -> bool:
        """One connection, from connect to its end; True if it logged in."""
        cfg = self.config
        self._dead_reason = None
        self._auth_failed = False
        try:
            async with asyncio.timeout(cfg.connect_timeout):
                reader, writer = await asyncio.open_connection(cfg.host, cfg.port, limit=STREAM_LIMIT)
        except TimeoutError:
            raise AmiConnectionError(f"no TCP connection to the Asterisk manager interface at {self.peer} within "
                                     f"{cfg.connect_timeout:g} s (monitor.host/monitor.port; a firewall?)") from None
        except OSError as exc:
            why = os.strerror(exc.errno) if exc.errno else str(exc)  # "Connection refused", not asyncio's wording
            raise AmiConnectionError(f"cannot connect to the Asterisk manager interface at {self.peer}: {why} "
                                     f"(is Asterisk running, with enabled = yes, this bindaddr and port in "
                                     f"manager.conf?)") from None
        self._writer = writer
        self._connected = True
        self._parser.reset()
        reader_task: asyncio.Task[None] | None = None
        keepalive_task: asyncio.Task[None] | None = None
        try:
            try:
                async with asyncio.timeout(cfg.connect_timeout):
                    banner_raw = await reader.readline()
            except TimeoutError:
                raise AmiProtocolError(f"{self.peer} sent no AMI banner within {cfg.connect_timeout:g} s: "
                                       f"is monitor.port the manager port (5038), not SIP or HTTP?") from None
            except ValueError:  # a line over STREAM_LIMIT
                raise AmiProtocolError(f"{self.peer} is not an Asterisk manager interface (no banner line)") from None
            if not banner_raw:
                raise AmiConnectionError(f"{self.peer} closed the connection before the AMI banner")
            banner = banner_raw.decode("utf-8", "replace").strip()
            if not banner.startswith(BANNER_PREFIX):
                raise AmiProtocolError(f"{self.peer} is not an Asterisk manager interface (it sent {banner[:60]!r}, "
                                       f"not '{BANNER_PREFIX}/...'): check monitor.host and monitor.port")
            self.version = banner.partition("/")[2] or None
            reader_task = asyncio.create_task(self._read_loop(reader), name=f"ami-reader-{self.peer}")
            await self._login()
            self._logged_in = True
            self.logins += 1
            self.last_error = None
            log.info("AMI %s: logged in as %r (manager protocol %s)", self.peer, cfg.username, self.version)
            keepalive_task = asyncio.create_task(self._keepalive(writer), name=f"ami-keepalive-{self.peer}")
            if self._on_connected is not None:
                try:
                    await self._on_connected(self)
                except Exception as exc:
                    if reader_task.done():  # the connection died during the resync: report that
                        return await self._ended(reader_task)
                    if not isinstance(exc, (AmiError, OSError)):
                        log.exception("AMI %s: on_connected (the resync after login) raised", self.peer)
                    self._dead_reason = f"the resync after the AMI login to {self.peer} (on_connected) failed: {exc}"
                    return True
            return await self._ended(reader_task)
        finally:
            for task in (keepalive_task, reader_task):
                if task is not None and not task.done():
                    task.cancel()
            tasks = [t for t in (keepalive_task, reader_task) if t is not None]
            if tasks:
                await asyncio.wait(tasks)
            self._teardown(self._dead_reason or f"the connection to {self.peer} ended")

    async def _ended(self, reader_task: asyncio.Task[None]) -> bool:
        await asyncio.wait({reader_task})
        exc = None if reader_task.cancelled() else reader_task.exception()
        if exc is not None:  # the reader only returns; an exception is a bug
            log.error("AMI %s: the reader failed", self.peer, exc_info=exc)
            self._dead_reason = f"the AMI reader for {self.peer} failed: {exc!r}"
        return True

    async def _login(self) -> None:
        cfg = self.config
        try:
            await self.action("Login", timeout=cfg.connect_timeout, Username=cfg.username, Secret=self._secret, Events="on")
        except AmiActionError as exc:
            self._auth_failed = True
            why = exc.reply.get("Message", "refused")
            empty = (f" (it is empty: set {cfg.secret_env} in callshield's environment)" if not self._secret else "")
            raise AmiAuthError(
                f"AMI login to {self.peer} as user {cfg.username!r} failed ({why}): check that manager.conf has a "
                f"[{cfg.username}] section whose secret is the value of the environment variable {cfg.secret_env}"
                f"{empty}, and that its permit/deny lets this host in") from None
        except AmiTimeout:
            raise AmiProtocolError(f"{self.peer} did not answer the AMI Login within {cfg.connect_timeout:g} s") from None

    async def _keepalive(self, writer: asyncio.StreamWriter) -> None:
        interval = self.config.keepalive
        while True:
            await asyncio.sleep(interval)
            try:
                await self.action("Ping", timeout=interval)
            except AmiTimeout:
                self._dead_reason = (f"no answer to Ping within {interval:g} s (monitor.keepalive): "
                                     f"treating the connection to {self.peer} as dead")
                writer.transport.abort()
                return
            except AmiActionError:
                continue  # answered, so alive
            except AmiConnectionError:
                return

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        parser = self._parser
        pending = self._pending
        on_event = self._on_event
        read = reader.read
        malformed = parser.malformed
        warned = False
        try:
            while True:
                try:
                    data = await read(READ_SIZE)
                except OSError as exc:
                    if self._dead_reason is None:
                        self._dead_reason = f"the AMI connection to {self.peer} failed: {exc.strerror or exc}"
                    return
                if not data:
                    if self._dead_reason is None:
                        self._dead_reason = f"Asterisk at {self.peer} closed the AMI connection"
                    return
                events = 0
                for msg in parser.feed(data):
                    action_id = msg.get("ActionID")
                    if action_id is not None and pending:
                        waiter = pending.get(action_id)
                        if waiter is not None:
                            if waiter.feed(msg):
                                del pending[action_id]
                            continue
                    if "Event" in msg:
                        events += 1
                        if msg["Event"] == "Shutdown":
                            self._dead_reason = (f"Asterisk at {self.peer} is shutting down (Shutdown: {msg.get('Shutdown')}, "
                                                 f"Restart: {msg.get('Restart')})")
                        try:
                            on_event(msg)
                        except Exception:
                            self._callback_failed(msg)
                self.events_received += events
                if parser.dropped_action_ids:
                    self._fail_dropped(parser.dropped_action_ids)
                if parser.malformed != malformed:
                    log.log(logging.DEBUG if warned else logging.WARNING,
                            "AMI %s: skipped %d malformed line(s) or message(s) (not 'Key: Value'); %d so far",
                            self.peer, parser.malformed - malformed, parser.malformed)
                    malformed = parser.malformed
                    warned = True
        finally:
            # Nothing more will arrive on this connection: fail what waits for it now.
            self._connected = False
            self._fail_pending(self._dead_reason or f"the AMI connection to {self.peer} ended")

    def _callback_failed(self, msg: dict[str, str]) -> None:
        self.callback_errors += 1
        n = self.callback_errors
        if n <= CALLBACK_ERRORS_LOGGED or n % CALLBACK_ERRORS_EVERY == 0:
            log.exception("AMI %s: the event handler failed on a %s event (%d failures so far); the reader goes on",
                          self.peer, msg.get("Event"), n)

    def _fail_dropped(self, action_ids: list[str]) -> None:
        for action_id in action_ids:
            waiter = self._pending.pop(action_id, None)
            if waiter is not None and not waiter.future.done():
                waiter.future.set_exception(AmiProtocolError(
                    f"Asterisk's answer to {waiter.name} was over the AMI message limit "
                    f"({MAX_MESSAGE_LINES} lines, {MAX_MESSAGE_BYTES} bytes) and was dropped"))
        action_ids.clear()

    def _teardown(self, reason: str) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.transport.abort()
        self._connected = False
        self._logged_in = False
        self._fail_pending(reason)

    def _fail_pending(self, reason: str) -> None:
        waiters = list(self._pending.values())
        self._pending.clear()
        for waiter in waiters:
            if not waiter.future.done():
                waiter.future.set_exception(AmiConnectionError(f"{reason}, before Asterisk answered {waiter.name}"))

    # -- actions ---------------------------------------------------------------------

    async def action(self, name: str, *, timeout: float | None = None, **fields: object) -> dict[str, str]:
        """Send one action and return its response (``Response: Success``, ``Goodbye``...).

        Raises AmiActionError on ``Response: Error``, AmiTimeout after ``timeout`` seconds
        (default ``monitor.connect_timeout``), AmiConnectionError when not connected or the
        connection drops first. AMI field names are capitalised (``Timeout=``, ``Channel=``);
        the lower-case ``timeout`` is this call's own.
        """
        result = await self._send(name, fields, None, timeout)
        assert isinstance(result, dict)
        return result

    async def collect(self, name: str, complete_event: str, *, timeout: float | None = None,
                      **fields: object) -> list[dict[str, str]]:
        """Send an event-list action and return its events (without the ``complete_event``).

        Example: ``await client.collect("PJSIPShowContacts", "ContactListComplete")``.
        Some actions answer an empty list with ``Response: Error`` (``No ... found``):
        that raises AmiActionError, as any refusal does.
        """
        result = await self._send(name, fields, complete_event, timeout)
        assert isinstance(result, list)
        return result

    async def _send(self, name: str, fields: dict[str, object], complete_event: str | None,
                    timeout: float | None) -> object:
        writer = self._writer
        if writer is None or not self._connected:
            raise AmiConnectionError(f"not connected to the Asterisk manager interface at {self.peer}"
                                     + (f" ({self.last_error})" if self.last_error else ""))
        action_id = f"callshield-{next(self._ids)}"
        parts = [f"Action: {name}\r\nActionID: {action_id}\r\n"]
        for key, value in fields.items():
            text = str(value)
            if "\r" in text or "\n" in text or "\r" in key or "\n" in key or ":" in key:
                raise ValueError(f"AMI field {key!r} of {name} must be one line without ':' in its name")
            parts.append(f"{key}: {text}\r\n")
        if "\r" in name or "\n" in name:
            raise ValueError(f"AMI action name {name!r} must be one line")
        parts.append("\r\n")
        waiter = _Waiter(name, asyncio.get_running_loop().create_future(), complete_event)
        self._pending[action_id] = waiter
        limit = self.config.connect_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                writer.write("".join(parts).encode("utf-8"))
                await writer.drain()
                return await waiter.future
        except TimeoutError:
            raise AmiTimeout(f"Asterisk at {self.peer} did not answer the AMI action {name} within {limit:g} s") from None
        except OSError as exc:  # drain on a closed transport
            raise AmiConnectionError(f"the AMI connection to {self.peer} failed while sending {name}: {exc}") from None
        finally:
            if self._pending.get(action_id) is waiter:
                del self._pending[action_id]

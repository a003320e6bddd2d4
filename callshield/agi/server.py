"""The FastAGI server: one asyncio TCP server dispatching sessions by script name.

Any failure inside a session is logged with the call's context and the session is
closed without setting ROUTE_ACTION, so the dialplan include fails open to the normal
route. A call is never dropped because of callshield.

Descriptors: each connection holds one. Past ``max_connections`` (the open-files limit
less a reserve for the store, the journal and the AMI link) the oldest connections that
have not yet sent their AGI environment are cut, so idle or slow connections can never
leave real calls without a descriptor; a connection that sends no environment within
``agi.env_timeout`` is cut anyway.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from types import ModuleType
from typing import Awaitable, Callable

from callshield.agi import access_override, access_plans, health, screen
from callshield.agi.protocol import AgiConnection, AgiSession
from callshield.agi.watchdog import SessionSockets
from callshield.errors import AgiError, AgiHangup, AgiProbe, AgiProtocolError, AgiSilentPeer
from callshield.services import Services

log = logging.getLogger("callshield.agi")
Handler = Callable[[AgiSession, Services], Awaitable[None]]
SCRIPTS: tuple[ModuleType, ...] = (screen, health, access_plans, access_override)
FD_RESERVE = 128  # descriptors kept for all but AGI connections: store, journal, AMI, lookups, logs


def connection_cap() -> int:
    """The most AGI connections this process can hold and still open its other files."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    return max(16, soft - FD_RESERVE)


def handlers(modules: tuple[ModuleType, ...] = SCRIPTS) -> dict[str, Handler]:
    """Map each script module's NAME to its handle(); a duplicate name is refused."""
    table: dict[str, Handler] = {}
    for module in modules:
        if module.NAME in table:
            raise ValueError(f"two AGI scripts are named {module.NAME!r}")
        table[module.NAME] = module.handle
    return table


class AgiServer:
    def __init__(self, services: Services, table: dict[str, Handler] | None = None, max_connections: int | None = None):
        self.services = services
        self.config = services.config.agi
        self.table = table if table is not None else handlers()
        # Interactive scripts (prompts and keyed digits) declare their own, longer limit.
        self.timeouts = {m.NAME: getattr(m, "SESSION_TIMEOUT", None) for m in SCRIPTS}
        self.sessions = 0
        self.failures = 0
        self.sockets = SessionSockets()
        self.max_connections = max_connections or connection_cap()
        self.cut_idle = 0  # connections cut to keep descriptors for real calls
        self._server: asyncio.Server | None = None
        self._open: dict[asyncio.Task[None], asyncio.BaseTransport] = {}
        self._no_env_yet: dict[asyncio.BaseTransport, None] = {}  # oldest first
        self._warned = 0.0
        self.cut_silent = 0  # connections that sent no AGI environment within agi.env_timeout
        self._warned_silent = 0.0

    async def start(self) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: AgiConnection(self._connected), self.config.host, self.config.port,
                                                backlog=512)
        return self._server

    def _connected(self, conn: AgiConnection) -> None:
        asyncio.get_running_loop().create_task(self._serve(conn))

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    @property
    def open_connections(self) -> int:
        return len(self._open)

    async def close(self, grace: float = 0.0) -> tuple[int, int]:
        """Stop accepting, give the sessions in flight up to ``grace`` seconds to finish,
        then cut the rest (their calls fail open). Returns (finished, cut)."""
        if self._server is not None:
            self._server.close()
        await asyncio.sleep(0)  # connections accepted just before the close start their session task
        in_flight = dict(self._open)
        deadline = time.monotonic() + grace
        while self._open and time.monotonic() < deadline:
            await asyncio.wait(list(self._open), timeout=max(0.0, deadline - time.monotonic()))
            in_flight.update(self._open)
        left = [task for task in in_flight if not task.done()]
        for task in left:
            in_flight[task].abort()  # the session ends as if Asterisk had hung up: logged, recorded
        if left:
            _, stuck = await asyncio.wait(left, timeout=1.0)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        return len(in_flight) - len(left), len(left)

    def _make_room(self, newcomer: asyncio.BaseTransport) -> None:
        """Over the cap: cut the oldest connection that has sent no AGI environment yet
        (the newcomer itself when every other one is a call in progress)."""
        victim = next(iter(self._no_env_yet), newcomer)
        self._no_env_yet.pop(victim, None)
        victim.abort()
        self.cut_idle += 1
        now = time.monotonic()
        if now - self._warned >= 10:
            self._warned = now
            log.warning("%d AGI connections open, the most this process can hold with its open-files limit (agi: %d; see"
                        " LimitNOFILE in docs/operations.md): cut the oldest that had sent no AGI environment"
                        " (%d cut so far)%s", len(self._open), self.max_connections, self.cut_idle,
                        "" if victim is not newcomer else "; every other connection is a call in progress, so the new one was cut")

    def _silent_peer(self, peer: object, exc: AgiSilentPeer) -> None:
        """A connection that sent nothing is no call: count it and say so at most once per
        10 s, so a scanner holding connections open cannot flood the log."""
        self.cut_silent += 1
        now = time.monotonic()
        if now - self._warned_silent >= 10:
            self._warned_silent = now
            log.warning("peer=%s %s (%d such connection(s) cut so far; only Asterisk should connect to this port)",
                        peer, exc, self.cut_silent)
        else:
            log.debug("peer=%s: %s", peer, exc)

    async def _serve(self, conn: AgiConnection) -> None:
        self.sessions += 1
        task = asyncio.current_task()
        assert task is not None and conn.transport is not None
        transport = conn.transport
        self._open[task] = transport
        self._no_env_yet[transport] = None
        if len(self._open) > self.max_connections:
            self._make_room(transport)
        peer = conn.get_extra_info("peername")
        fd = self.sockets.add(conn.get_extra_info("socket"))
        session: AgiSession | None = None
        try:
            session = await AgiSession.open(conn, env_timeout=self.config.env_timeout, command_timeout=self.config.command_timeout)
            self._no_env_yet.pop(transport, None)
            handler = self.table.get(session.script)
            if handler is None:
                self.failures += 1
                log.error(
                    "%s: unknown AGI script %r (served: %s); the dialplan falls back to the normal route",
                    session.context, session.script, ", ".join(sorted(self.table)),
                )
                return
            async with asyncio.timeout(self.timeouts.get(session.script) or self.config.session_timeout):
                await handler(session, self.services)
        except AgiHangup as exc:
            log.info("%s: caller hung up during AGI %r: %s", session.context if session else peer, session.script if session else "?", exc)
        except AgiSilentPeer as exc:
            self._silent_peer(peer, exc)
        except AgiProbe as exc:
            log.debug("peer=%s: %s", peer, exc)
        except AgiProtocolError as exc:
            self.failures += 1
            log.error("%s: AGI protocol error, failing open: %s", session.context if session else f"peer={peer}", exc)
        except (AgiError, TimeoutError) as exc:
            self.failures += 1
            log.error("%s: AGI %s failed, failing open: %s", session.context if session else f"peer={peer}", session.script if session else "?", exc or "session timed out")
        except asyncio.CancelledError:
            raise
        except Exception:
            self.failures += 1
            log.exception("%s: AGI handler crashed, failing open", session.context if session else f"peer={peer}")
        finally:
            self._open.pop(task, None)
            self._no_env_yet.pop(transport, None)
            self.sockets.discard(fd)
            conn.close()

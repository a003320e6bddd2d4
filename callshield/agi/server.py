"""The FastAGI server: one asyncio TCP server dispatching sessions by script name.

Any failure inside a session is logged with the call's context and the session is
closed without setting ROUTE_ACTION, so the dialplan include fails open to the normal
route. A call is never dropped because of callshield.
"""

from __future__ import annotations

import asyncio
import logging
from types import ModuleType
from typing import Awaitable, Callable

from callshield.agi import access_override, access_plans, health, screen
from callshield.agi.protocol import MAX_LINE, AgiSession
from callshield.agi.watchdog import SessionSockets
from callshield.errors import AgiError, AgiHangup, AgiProbe, AgiProtocolError
from callshield.services import Services

log = logging.getLogger("callshield.agi")
Handler = Callable[[AgiSession, Services], Awaitable[None]]
SCRIPTS: tuple[ModuleType, ...] = (screen, health, access_plans, access_override)


def handlers(modules: tuple[ModuleType, ...] = SCRIPTS) -> dict[str, Handler]:
    """Map each script module's NAME to its handle(); a duplicate name is refused."""
    table: dict[str, Handler] = {}
    for module in modules:
        if module.NAME in table:
            raise ValueError(f"two AGI scripts are named {module.NAME!r}")
        table[module.NAME] = module.handle
    return table


class AgiServer:
    def __init__(self, services: Services, table: dict[str, Handler] | None = None):
        self.services = services
        self.config = services.config.agi
        self.table = table if table is not None else handlers()
        # Interactive scripts (prompts and keyed digits) declare their own, longer limit.
        self.timeouts = {m.NAME: getattr(m, "SESSION_TIMEOUT", None) for m in SCRIPTS}
        self.sessions = 0
        self.failures = 0
        self.sockets = SessionSockets()
        self._server: asyncio.Server | None = None

    async def start(self) -> asyncio.Server:
        self._server = await asyncio.start_server(self._serve, self.config.host, self.config.port, limit=MAX_LINE, backlog=512)
        return self._server

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1
        peer = writer.get_extra_info("peername")
        fd = self.sockets.add(writer.get_extra_info("socket"))
        session: AgiSession | None = None
        try:
            session = await AgiSession.open(reader, writer, env_timeout=self.config.command_timeout, command_timeout=self.config.command_timeout)
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
            self.sockets.discard(fd)
            if session is not None:
                await session.close()
            else:
                writer.close()

"""Routing changes made inside ``callshield serve`` (by phone, through the access-code AGI
scripts) and the reload of the in-memory route state.

Store work runs in a worker thread on the serve's own control connection (never on
the event loop); after a change the new route state is loaded and swapped into the
routing table at once, so the next call already follows it. Changes made by another
process (the CLI) are picked up by ``refresh`` on serve's poller, which passes in the
routes counter it read with the others.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any, Callable, TypeVar

from callshield.dialplan.policy import RoutingTable
from callshield.store.routing import RoutingStore, load_state, routes_version

log = logging.getLogger("callshield.dialplan")
T = TypeVar("T")


class RouteControl:
    def __init__(self, store: RoutingStore, table: RoutingTable):
        self.store = store
        self.table = table
        self._lock = threading.Lock()

    async def run(self, change: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``change(store, *args, **kwargs)`` in a worker thread, then, if it changed
        the routing, swap in the new route state before returning. Reads (PIN hashes,
        lockout checks) run here too, for the connection's sake, and reload nothing."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._apply, change, args, kwargs)

    def _apply(self, change: Callable[..., T], args: tuple, kwargs: dict) -> T:
        with self._lock:
            try:
                return change(self.store, *args, **kwargs)
            finally:
                self._refresh()

    def load(self) -> None:
        """Load the route state now (at start-up)."""
        with self._lock:
            self._reload()

    def refresh(self, version: int | None = None) -> bool:
        """Reload the route state if the store's routes_version moved (or an override
        expired); True when a new state was swapped in. ``version`` is the counter as the
        caller just read it (serve's poller reads every counter in one query); None reads it."""
        with self._lock:
            return self._refresh(version)

    def close(self) -> None:
        """Close the store's connection, after a change or reload still running on it."""
        with self._lock:
            self.store.close()

    def _refresh(self, version: int | None = None) -> bool:
        state = self.table.state
        now = time.time()
        expired = any(not o.live(now) for o in state.overrides.values())
        if not expired and (routes_version(self.store.db) if version is None else version) == state.version:
            return False
        self._reload()
        return True

    def _reload(self) -> None:
        started = time.perf_counter()
        state = load_state(self.store.db)
        self.table.state = state
        log.info("route state v%d loaded in %.1f ms: %d numbers, %d active plan(s)%s, %d override(s)",
                 state.version, (time.perf_counter() - started) * 1e3, len(state.numbers), len(state.active),
                 "".join(f" [{a.name}]" for a in state.active), len(state.overrides))

"""The AMI monitor inside ``callshield serve``: AMI events in, destination health out.

Each AMI event goes to the detector synchronously; a down/up transition updates the
routing table's TrunkHealth at once (the next call is routed by it), then is recorded in
the store (``destination_events``, ``destination_state``, the audit log), offered to
subscribers (the portal's event stream) and POSTed to ``monitor.webhook_url``. Drill
requests written to the store by ``callshield drill`` are applied here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from typing import Any

from callshield.ami_monitor.client import AmiActionError, AmiClient
from callshield.ami_monitor.detector import Detector, Transition
from callshield.dialplan.health import Outage, destination_of
from callshield.services import Services
from callshield.store import open_store
from callshield.store.audit import audit
from callshield.store.db import transaction

log = logging.getLogger("callshield.ami_monitor")
TICK = 0.25


class Monitor:
    def __init__(self, services: Services, secret: str):
        self.services = services
        self.config = services.config.monitor
        self.table = services.screener.routes
        self.detector = Detector(self.config, watched=self.watched)
        self.client = AmiClient(self.config, secret, self.on_event, self.on_connected)
        self.db = open_store(services.config.store.path, migrate=False)
        self.subscribers: set[asyncio.Queue[Transition]] = set()
        self.transitions = 0
        self._db_lock = threading.Lock()
        self._records: asyncio.Queue[Transition] = asyncio.Queue()
        self._watched_version = -1
        self._watched: frozenset[str] = frozenset()

    # -- what is watched -----------------------------------------------------------

    def destinations(self) -> frozenset[str]:
        """Every destination some number is delivered through (normal routes, secondaries,
        the default route) and every destination an automatic plan is marked for."""
        state = self.table.state
        if state.version != self._watched_version:
            dials = [self.table.default.route, self.table.default.fallback]
            for policy in self.table.policies():
                dials += [policy.route, policy.fallback]
            for number in state.numbers.values():
                dials += [number.route, number.fallback]
            self._watched = frozenset({destination_of(d) for d in dials if d} | set(state.auto))
            self._watched_version = state.version
        return self._watched

    def watched(self, destination: str) -> bool:
        return destination in self.destinations()

    # -- AMI side ------------------------------------------------------------------

    def on_event(self, event: dict[str, str]) -> None:
        kind = event.get("Event")
        if kind == "ContactStatus" or kind == "PeerStatus":
            log.info("AMI %s: %s %s", kind, event.get("EndpointName") or event.get("Peer"), event.get(kind) or event.get("ContactStatus"))
        self.apply(self.detector.on_event(event, time.time()))

    async def on_connected(self, client: AmiClient) -> None:
        """After every (re)connect: read the current contact state of every watched
        destination so a change missed while disconnected is caught up.

        PJSIPShowContacts lists only registered (dynamic) contacts, so each watched
        endpoint is asked with PJSIPShowEndpoint, whose ContactStatusDetail events cover
        static contacts too. A destination that is not a PJSIP endpoint is skipped."""
        contacts: list[dict[str, str]] = []
        for name in sorted(self.destinations()):
            if name.startswith("Local/"):
                continue
            try:
                events = await client.collect("PJSIPShowEndpoint", "EndpointDetailComplete", Endpoint=name)
            except AmiActionError as exc:
                log.warning("resync: Asterisk has no PJSIP endpoint %r (a route dials it): %s", name, exc)
                continue
            contacts += [{"Event": "ContactList", "Endpoint": e.get("EndpointName") or name, "Aor": e.get("AOR", ""),
                          "Uri": e.get("URI", ""), "Status": e.get("Status", "")}
                         for e in events if e.get("Event") == "ContactStatusDetail"]
        changed = self.detector.resync(contacts, time.time())
        log.info("AMI connected to %s:%d; resynced %d contact(s), %d change(s)", self.config.host, self.config.port,
                 len(contacts), len(changed))
        self.apply(changed)

    def apply(self, transitions: list[Transition]) -> None:
        """Route by the transitions at once; record and announce them in the background."""
        for t in transitions:
            if t.state == "down":
                self.table.health.mark_down(Outage(t.destination, t.at, t.reason, t.drill))
            else:
                self.table.health.mark_up(t.destination)
            self.transitions += 1
            log.warning("destination %s %s%s: %s", t.destination, "DOWN, diverting its calls" if t.state == "down" else "UP, calls return",
                        " (drill)" if t.drill else "", t.reason)
            self._records.put_nowait(t)
            for queue in self.subscribers:
                queue.put_nowait(t)

    # -- running -------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._forget_old_state)
        tasks = [
            asyncio.create_task(self.client.run(), name="ami-client"),
            asyncio.create_task(self._tick(), name="ami-monitor-tick"),
            asyncio.create_task(self._drills(), name="ami-monitor-drills"),
            asyncio.create_task(self._record(), name="ami-monitor-record"),
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self.client.close()
            self.db.close()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            self.apply(self.detector.tick(time.time()))

    async def _drills(self) -> None:
        """Apply drill requests from ``callshield drill`` (another process) via the store."""
        loop = asyncio.get_running_loop()
        interval = min(self.services.config.store.reload_interval, 0.5)
        while True:
            await asyncio.sleep(interval)
            try:
                requests = await loop.run_in_executor(None, self._pending_drills)
            except Exception:
                log.exception("reading drill requests failed")
                continue
            for request_id, destination, down, who in requests:
                reason = f"failover drill by {who}: {'simulated failure' if down else 'drill over'}"
                self.apply(self.detector.mark(destination, bool(down), reason, time.time(), drill=True))
                await loop.run_in_executor(None, self._drill_applied, request_id)

    async def _record(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = await self._records.get()
            try:
                await loop.run_in_executor(None, self._store_transition, t)
            except Exception:
                log.exception("recording the %s transition of %s failed (routing already follows it)", t.state, t.destination)
            if self.config.webhook_url:
                await self._post(t)

    async def _post(self, t: Transition) -> None:
        import aiohttp

        body = {"destination": t.destination, "state": t.state, "reason": t.reason, "at": t.at, "drill": t.drill}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.webhook_timeout)) as http:
                async with http.post(self.config.webhook_url, json=body) as response:
                    if response.status >= 300:
                        log.warning("webhook %s answered %d to the %s transition of %s", self.config.webhook_url, response.status,
                                    t.state, t.destination)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("webhook %s failed for the %s transition of %s: %s", self.config.webhook_url, t.state, t.destination,
                        exc or type(exc).__name__)

    # -- store (worker threads) ----------------------------------------------------

    def _forget_old_state(self) -> None:
        """At start the health is re-learned from AMI: what an earlier run knew is stale."""
        with self._db_lock, transaction(self.db):
            self.db.execute("DELETE FROM destination_state")

    def _store_transition(self, t: Transition) -> None:
        with self._db_lock, transaction(self.db):
            self.db.execute("INSERT INTO destination_events (ts, destination, state, reason, drill) VALUES (?, ?, ?, ?, ?)",
                            [t.at, t.destination, t.state, t.reason, int(t.drill)])
            self.db.execute("INSERT OR REPLACE INTO destination_state (destination, down, since, reason, drill, updated_at)"
                            " VALUES (?, ?, ?, ?, ?, ?)", [t.destination, int(t.state == "down"), t.at, t.reason, int(t.drill), time.time()])
            audit(self.db, "drill" if t.drill else "monitor", f"monitor.{t.state}", t.destination, {"reason": t.reason})

    def _pending_drills(self) -> list[tuple[int, str, int, str]]:
        with self._db_lock:
            return [tuple(r) for r in self.db.execute(  # type: ignore[misc]
                "SELECT id, destination, down, requested_by FROM drill_requests WHERE applied_at IS NULL ORDER BY id")]

    def _drill_applied(self, request_id: int) -> None:
        with self._db_lock, transaction(self.db):
            self.db.execute("UPDATE drill_requests SET applied_at = ? WHERE id = ?", [time.time(), request_id])

    def snapshot(self) -> dict[str, Any]:
        """The monitor's view for status displays: connection and per-destination state."""
        return {
            "connected": self.client.logged_in,
            "last_error": self.client.last_error,
            "destinations": {name: dataclasses.asdict(state) for name, state in self.detector.states().items()},
        }

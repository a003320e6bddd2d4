"""The AMI monitor inside ``callshield serve``: AMI events in, destination health out.

Each AMI event goes to the detector synchronously; a down/up transition updates the
routing table's TrunkHealth at once (the next call is routed by it), then is recorded in
the store (``destination_events``, ``destination_state``, the audit log), offered to
in-process subscribers (``subscribe``; none in serve today) and POSTed to ``monitor.webhook_url``, each
through its own bounded queue (a stuck store, webhook or reader never holds up the
others, nor grows memory). Drill requests written to the store by ``callshield drill``
are applied here too. Each background loop is supervised: a crash is logged with its
traceback and the loop restarts, so the monitor never stops silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Awaitable, Callable
from urllib.parse import urlsplit

from callshield.ami_monitor.client import AmiActionError, AmiClient
from callshield.ami_monitor.detector import Detector, Transition
from callshield.dialplan.destination_health import Outage, destination_of
from callshield.dialplan.policy import RoutingTable
from callshield.config import Config
from callshield.store import destinations, drills, open_store

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger("callshield.ami_monitor")
TICK = 0.25
# Transitions waiting for the store, the webhook, or one subscriber; past this many the
# newest is dropped with a WARNING (routing follows it anyway). Transitions are rare.
MAX_QUEUED = 1000
# A loop that crashed restarts after RESTART_DELAY s, doubling while it keeps crashing,
# at most RESTART_DELAY_MAX s; one that ran that long starts again from RESTART_DELAY.
RESTART_DELAY = 1.0
RESTART_DELAY_MAX = 60.0
# A drill request older than this when first seen was given up by its drill (it waits
# drill.APPLY_TIMEOUT s, then requests the restore): acknowledged, not applied.
STALE_DRILL_REQUEST = 30.0


class Monitor:
    """Built by ``serve`` before its services object, which holds it (the health probe
    reads ``client.logged_in``): it is given only what it
    uses, the config and the routing table it marks destinations down in."""

    def __init__(self, config: Config, table: RoutingTable, secret: str):
        self.store_config = config.store
        self.config = config.monitor
        self.table = table
        self.detector = Detector(self.config, watched=self.watched)
        self.client = AmiClient(self.config, secret, self.on_event, self.on_connected)
        self.db = open_store(config.store.path, migrate=False)
        self.subscribers: set[asyncio.Queue[Transition]] = set()
        self.transitions = 0
        self.dropped = 0  # transitions not recorded, posted or handed to a subscriber: queue full
        self._db_lock = threading.Lock()
        self._records: asyncio.Queue[Transition] = asyncio.Queue(MAX_QUEUED)
        self._hooks: asyncio.Queue[Transition] = asyncio.Queue(MAX_QUEUED)
        self._hook_label = _redacted(self.config.webhook_url)
        self._watched_version = -1
        self._watched: frozenset[str] = frozenset()
        # During the resync after a login: the endpoints read so far, and the qualify
        # events for them that arrived after they were read (newer than what was read).
        self._resync_read: set[str] | None = None
        self._resync_newer: list[dict[str, str]] = []
        self._drill_deadlines: dict[str, float] = {}  # destination -> when its simulated failure ends at the latest

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
            endpoint = _qualified_endpoint(event)
            # every phone's registration comes through here too: only watched ones are news
            log.log(logging.INFO if self.watched(endpoint) else logging.DEBUG, "AMI %s: %s %s", kind, endpoint, event.get(kind))
            if self._resync_read is not None and endpoint in self._resync_read:
                self._resync_newer.append(event)
        self.apply(self.detector.on_event(event, time.time()))

    async def on_connected(self, client: AmiClient) -> None:
        """After every (re)connect: read the current contact state of every watched
        destination so a change missed while disconnected is caught up.

        PJSIPShowContacts lists only registered (dynamic) contacts, so each watched
        endpoint is asked with PJSIPShowEndpoint, whose ContactStatusDetail events cover
        static contacts too. A destination that is not a PJSIP endpoint is skipped."""
        contacts: list[dict[str, str]] = []
        self._resync_read, self._resync_newer = set(), []
        try:
            for name in sorted(self.destinations()):
                if name.startswith("Local/"):
                    continue
                try:
                    events = await client.collect("PJSIPShowEndpoint", "EndpointDetailComplete", Endpoint=name)
                except AmiActionError as exc:
                    log.warning("resync: Asterisk has no PJSIP endpoint %r (a route dials it): %s", name, exc)
                    continue
                self._resync_read.add(name)
                contacts += [{"Event": "ContactList", "Endpoint": e.get("EndpointName") or name, "Aor": e.get("AOR", ""),
                              "Uri": e.get("URI", ""), "Status": e.get("Status", "")}
                             for e in events if e.get("Event") == "ContactStatusDetail"]
            now = time.time()
            changed = self.detector.resync(contacts, now)
            # The resync replaces every opinion with what was read; a qualify change that
            # arrived after its endpoint was read is newer, so it goes on top again.
            for event in self._resync_newer:
                changed += self.detector.on_event(event, now)
        finally:
            self._resync_read, self._resync_newer = None, []
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
            self._offer(self._records, t, "recorded in the store")
            if self.config.webhook_url:
                self._offer(self._hooks, t, f"posted to the webhook {self._hook_label}")
            for queue in list(self.subscribers):
                self._offer(queue, t, "handed to a subscriber (it is not reading)")

    def subscribe(self) -> asyncio.Queue[Transition]:
        """A bounded queue that receives every transition from now on (used by the
        tests; nothing in serve subscribes today); ``self.subscribers.discard(queue)`` when done."""
        queue: asyncio.Queue[Transition] = asyncio.Queue(MAX_QUEUED)
        self.subscribers.add(queue)
        return queue

    def _offer(self, queue: asyncio.Queue[Transition], t: Transition, what: str) -> None:
        try:
            queue.put_nowait(t)
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("the %s transition of %s is not %s: %d transitions are waiting already (routing follows it)",
                        t.state, t.destination, what, queue.qsize())

    # -- running -------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, self._forget_old_state)
        except Exception:
            log.exception("clearing the destination states of an earlier run failed: `callshield monitor status` may show"
                          " stale ones until they change (routing does not use them)")
        loops: dict[str, Callable[[], Awaitable[None]]] = {
            "ami-client": self.client.run, "ami-monitor-tick": self._tick, "ami-monitor-drills": self._drills,
            "ami-monitor-record": self._record,
        }
        if self.config.webhook_url:
            loops["ami-monitor-webhook"] = self._notify
        tasks = [asyncio.create_task(self._supervised(name, body), name=name) for name, body in loops.items()]
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

    async def _supervised(self, name: str, body: Callable[[], Awaitable[None]]) -> None:
        """Run one of the monitor's loops for ever: if it crashes (a bug) or returns, log
        it with the traceback and start it again after a pause that doubles while it keeps
        crashing, so a broken loop neither ends the monitor silently nor floods the log."""
        loop = asyncio.get_running_loop()
        delay = RESTART_DELAY
        while True:
            started = loop.time()
            error: Exception | None = None
            try:
                await body()
            except Exception as exc:
                error = exc
            if loop.time() - started >= RESTART_DELAY_MAX:
                delay = RESTART_DELAY
            log.error("AMI monitor: its %s loop %s; restarting it in %g s (routing keeps its current destination states)",
                      name, "ended" if error is None else "crashed", delay, exc_info=error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_DELAY_MAX)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            now = time.time()
            self.apply(self.detector.tick(now))
            self.expire_drills(now)

    async def _drills(self) -> None:
        """Apply drill requests from ``callshield drill`` (another process) via the store."""
        loop = asyncio.get_running_loop()
        interval = min(self.store_config.reload_interval, 0.5)
        while True:
            await asyncio.sleep(interval)
            try:
                requests = await loop.run_in_executor(None, self._pending_drills)
            except Exception:
                log.exception("reading drill requests failed")
                continue
            for request_id, destination, down, who, requested_at in requests:
                what = "simulated failure" if down else "drill over"
                if down and time.time() - requested_at > STALE_DRILL_REQUEST:
                    # Its drill gave up waiting and requested the restore: a serve started
                    # late must not divert (and alert) for a drill that is over.
                    log.warning("ignoring a drill request of %s by %s from %.0f s ago (%s): its drill gave up waiting for a"
                                " serve to apply it", destination, who, time.time() - requested_at, what)
                else:
                    reason = f"failover drill by {who}: {what}"
                    self.apply(self.detector.mark(destination, bool(down), reason, time.time(), drill=True))
                    if down:
                        self._drill_deadlines[destination] = time.time() + self.config.drill_max_seconds
                    else:
                        self._drill_deadlines.pop(destination, None)
                await loop.run_in_executor(None, self._drill_applied, request_id)

    def expire_drills(self, now: float) -> None:
        """End a simulated failure whose drill never ended it (the drill was killed):
        after monitor.drill_max_seconds its destination is restored by the monitor."""
        for destination, deadline in list(self._drill_deadlines.items()):
            if now >= deadline:
                del self._drill_deadlines[destination]
                log.warning("the failover drill of %s did not end its simulated failure within %g s (monitor.drill_max_seconds);"
                            " ending it", destination, self.config.drill_max_seconds)
                self.apply(self.detector.mark(destination, False, f"drill expired after {self.config.drill_max_seconds:g} s", now,
                                              drill=True))

    async def _record(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = await self._records.get()
            try:
                await loop.run_in_executor(None, self._store_transition, t)
            except Exception:
                log.exception("recording the %s transition of %s in the store %s failed (routing already follows it)",
                              t.state, t.destination, self.store_config.path)

    async def _notify(self) -> None:
        """POST each transition to ``monitor.webhook_url``, one at a time (at most one
        request in flight; a slow webhook only delays the webhook), on one session."""
        import aiohttp

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.webhook_timeout)) as http:
            while True:
                await self._post(http, await self._hooks.get())

    async def _post(self, http: aiohttp.ClientSession, t: Transition) -> None:
        import aiohttp

        body = {"destination": t.destination, "state": t.state, "reason": t.reason, "at": t.at, "drill": t.drill}
        try:
            async with http.post(self.config.webhook_url, json=body) as response:
                if response.status >= 300:
                    log.warning("webhook %s answered %d to the %s transition of %s", self._hook_label, response.status,
                                t.state, t.destination)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("webhook %s failed for the %s transition of %s: %s", self._hook_label, t.state, t.destination,
                        exc or type(exc).__name__)

    # -- store (worker threads) ----------------------------------------------------

    def _forget_old_state(self) -> None:
        """At start the health is re-learned from AMI: what an earlier run knew is stale."""
        with self._db_lock:
            destinations.forget_states(self.db)

    def _store_transition(self, t: Transition) -> None:
        with self._db_lock:
            destinations.record_transition(self.db, t.destination, t.state, t.reason, t.at, drill=t.drill)

    def _pending_drills(self) -> list[tuple[int, str, int, str, float]]:
        with self._db_lock:
            return drills.pending(self.db)

    def _drill_applied(self, request_id: int) -> None:
        with self._db_lock:
            drills.mark_applied(self.db, request_id)


def _qualified_endpoint(event: dict[str, str]) -> str:
    """The endpoint a ContactStatus (``EndpointName``, else its AOR) or a PeerStatus
    (``Peer: PJSIP/name``) is about."""
    if event.get("Event") == "PeerStatus":
        return destination_of(event.get("Peer", ""))
    return event.get("EndpointName") or event.get("AOR") or ""


def _redacted(url: str) -> str:
    """The webhook URL for the log, without its credentials or query (tokens live there)."""
    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}" + ("?…" if parts.query else "")

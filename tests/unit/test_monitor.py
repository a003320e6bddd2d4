"""The AMI monitor's glue (callshield/ami_monitor/monitor.py) with real services: a
transition reroutes at once, is recorded in the store and audit log, reaches
subscribers and a real webhook server; drill requests from the store are applied; the
health probe reports a monitor that is not connected. AMI itself is not involved here
(tests/integration/test_monitor_asterisk.py drives the real one)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from pathlib import Path
from typing import AsyncIterator, Callable

import pytest
import pytest_asyncio
from aiohttp import web

from callshield.ami_monitor import monitor as monitor_module
from callshield.ami_monitor.detector import Transition
from callshield.ami_monitor.monitor import Monitor
from callshield.config import load_config
from callshield.serve import build_services, start_monitor
from callshield.services import Services
from tests.support.service import eventually

pytestmark = pytest.mark.asyncio
DDI = "+442071234567"


def services_for(tmp_path: Path, **overrides: object) -> Services:
    config = load_config(None, env={}, overrides={
        "store.path": str(tmp_path / "callshield.db"), "store.reload_interval": 0.05, "scoring.model": "rules",
        "routing.numbers": {DDI: {"route": "PJSIP/agents", "fallback": "PJSIP/overflow"}}, "monitor.enabled": True, **overrides})
    return build_services(config)


@pytest_asyncio.fixture
async def monitor(tmp_path: Path) -> AsyncIterator[Monitor]:
    services = services_for(tmp_path)
    monitor = Monitor(services.config, services.screener.routes, "secret")
    yield monitor
    services.writer.close()
    monitor.db.close()


def route_reason(monitor: Monitor) -> str:
    table = monitor.table
    return table.decide(DDI, table.policy(DDI), "SAFE").reason


async def recording(monitor: Monitor, done: Callable[[], object], timeout: float = 5.0) -> None:
    """Run the monitor's recorders (store, webhook) until ``done()`` holds."""
    tasks = [asyncio.create_task(monitor._record())]
    if monitor.config.webhook_url:
        tasks.append(asyncio.create_task(monitor._notify()))
    try:
        await eventually(done, timeout, "the recorder to finish")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)




def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def webhook_server(handler: Callable[[web.Request], object]) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/hook", handler)  # type: ignore[arg-type]
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/hook"


def events(monitor: Monitor) -> int:
    return monitor.db.execute("SELECT count(*) FROM destination_events").fetchone()[0]


async def test_the_watched_destinations_are_the_numbers_routes_and_secondaries(monitor: Monitor) -> None:
    assert {"agents", "overflow"} <= monitor.destinations()
    assert not monitor.watched("somewhere-else")


async def test_a_down_transition_reroutes_the_next_call_at_once(monitor: Monitor) -> None:
    monitor.apply([Transition("agents", "down", "3 CHANUNAVAIL/CONGESTION in 60s", time.time())])

    assert route_reason(monitor) == "trunk_down:agents"

    monitor.apply([Transition("agents", "up", "hold-down over, trying again", time.time())])
    assert route_reason(monitor) == "normal"


async def test_transitions_are_recorded_with_an_audit_entry(monitor: Monitor) -> None:
    monitor.apply([Transition("agents", "down", "contact sip:agents@10.0.0.5 Unreachable", 1000.0)])
    await recording(monitor, lambda: events(monitor) == 1)

    state = monitor.db.execute("SELECT down, reason, drill FROM destination_state WHERE destination = 'agents'").fetchone()
    assert state == (1, "contact sip:agents@10.0.0.5 Unreachable", 0)
    assert monitor.db.execute("SELECT actor, action, target FROM audit WHERE action LIKE 'monitor.%'").fetchone() == \
        ("monitor", "monitor.down", "agents")


async def test_subscribers_get_every_transition(monitor: Monitor) -> None:
    queue: asyncio.Queue[Transition] = asyncio.Queue()
    monitor.subscribers.add(queue)
    t = Transition("agents", "down", "why", 1.0)

    monitor.apply([t])

    assert queue.get_nowait() == t


async def test_each_transition_is_posted_to_the_webhook(tmp_path: Path) -> None:
    got: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    services = services_for(tmp_path, **{"monitor.webhook_url": f"http://127.0.0.1:{port}/hook"})
    monitor = Monitor(services.config, services.screener.routes, "secret")
    try:
        monitor.apply([Transition("agents", "down", "why", 5.0, drill=True)])
        await recording(monitor, lambda: got)
    finally:
        services.writer.close()
        monitor.db.close()
        await runner.cleanup()

    assert got == [{"destination": "agents", "state": "down", "reason": "why", "at": 5.0, "drill": True}]


async def test_a_failing_webhook_is_logged_and_recording_goes_on(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    services = services_for(tmp_path, **{"monitor.webhook_url": "http://127.0.0.1:9/hook", "monitor.webhook_timeout": 0.5})
    monitor = Monitor(services.config, services.screener.routes, "secret")
    try:
        monitor.apply([Transition("agents", "down", "why", 5.0)])
        await recording(monitor, lambda: "webhook http://127.0.0.1:9/hook failed" in caplog.text)
        assert events(monitor) == 1
    finally:
        services.writer.close()
        monitor.db.close()
    assert "webhook http://127.0.0.1:9/hook failed for the down transition of agents" in caplog.text


async def test_a_drill_request_in_the_store_is_applied_and_acknowledged(monitor: Monitor) -> None:
    monitor.db.execute("INSERT INTO drill_requests (destination, down, requested_at, requested_by) VALUES ('agents', 1, ?, 'cli:ops')",
                       [time.time()])
    monitor.db.conn.commit()
    task = asyncio.create_task(monitor._drills())
    try:
        await eventually(lambda: monitor.db.execute("SELECT applied_at FROM drill_requests").fetchone()[0] is not None,
                         what="the drill request to be applied")
    finally:
        task.cancel()

    assert route_reason(monitor) == "trunk_down:agents"
    assert monitor.table.health.outages()[0].drill


async def test_health_is_degraded_while_the_monitor_is_not_logged_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLSHIELD_AMI_SECRET", "secret")
    services = services_for(tmp_path)  # with the secret: the services hold a monitor, not yet logged in
    try:
        assert services.monitor is not None
        assert services.health() == "DEGRADED:ami-monitor-not-connected"
        services.monitor.db.close()
    finally:
        services.writer.close()


async def test_a_missing_ami_secret_runs_without_the_monitor_and_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("CALLSHIELD_AMI_SECRET", raising=False)
    services = services_for(tmp_path)
    try:
        assert services.monitor is None and start_monitor(services.config, services.screener.routes) is None
        assert services.health() == "DEGRADED:ami-monitor-not-connected"
    finally:
        services.writer.close()
    assert "CALLSHIELD_AMI_SECRET (monitor.secret_env)" in caplog.text


# -- robustness: crashes, full queues, a slow webhook, stale drills, the resync race ----

async def test_a_crashing_loop_is_logged_with_its_traceback_and_restarted(monitor: Monitor, monkeypatch: pytest.MonkeyPatch,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(monitor_module, "RESTART_DELAY", 0.01)
    runs: list[int] = []

    async def tick() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("a bug in the detector")
        await asyncio.Event().wait()

    task = asyncio.create_task(monitor._supervised("ami-monitor-tick", tick))
    try:
        await eventually(lambda: len(runs) == 2)
    finally:
        task.cancel()
    assert "its ami-monitor-tick loop crashed; restarting it in 0.01 s" in caplog.text
    assert "RuntimeError: a bug in the detector" in caplog.text


async def test_the_monitor_outlives_a_crash_of_one_of_its_loops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: the crash ended the gather, so the whole monitor, without a word."""
    monkeypatch.setattr(monitor_module, "RESTART_DELAY", 0.01)
    monkeypatch.setattr(monitor_module, "TICK", 0.01)
    services = services_for(tmp_path, **{"monitor.port": free_port(), "monitor.backoff_initial": 0.05})
    monitor = Monitor(services.config, services.screener.routes, "secret")
    ticks: list[float] = []

    def tick(now: float) -> list[Transition]:
        ticks.append(now)
        if len(ticks) == 1:
            raise RuntimeError("a bug in the detector")
        return []

    monkeypatch.setattr(monitor.detector, "tick", tick)
    task = asyncio.create_task(monitor.run())
    try:
        await eventually(lambda: len(ticks) >= 3)
        assert not task.done()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        services.writer.close()


async def test_a_subscriber_that_never_reads_neither_grows_memory_nor_stops_rerouting(
        monitor: Monitor, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(monitor_module, "MAX_QUEUED", 2)
    stuck = monitor.subscribe()
    monitor.apply([Transition(name, "down", "why", 1.0) for name in ("agents", "overflow", "london-sbc")])

    assert stuck.qsize() == 2
    assert {o.destination for o in monitor.table.health.outages()} == {"agents", "overflow", "london-sbc"}
    assert monitor.dropped == 1
    assert "the down transition of london-sbc is not handed to a subscriber (it is not reading)" in caplog.text


async def test_a_slow_webhook_does_not_hold_up_the_store(tmp_path: Path) -> None:
    """Before: one loop stored a transition, then POSTed it, then stored the next."""
    release = asyncio.Event()
    got: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        got.append(await request.json())
        await release.wait()
        return web.Response(status=204)

    runner, url = await webhook_server(hook)
    services = services_for(tmp_path, **{"monitor.webhook_url": url, "monitor.webhook_timeout": 30.0})
    monitor = Monitor(services.config, services.screener.routes, "secret")
    try:
        monitor.apply([Transition(name, "down", "why", 5.0) for name in ("agents", "overflow", "london-sbc")])
        await recording(monitor, lambda: events(monitor) == 3 and len(got) == 1, timeout=3.0)
        assert len(got) == 1  # the first POST is still in flight, the others wait their turn
        release.set()
        await recording(monitor, lambda: len(got) == 3)
    finally:
        release.set()
        services.writer.close()
        monitor.db.close()
        await runner.cleanup()
    assert [g["destination"] for g in got] == ["agents", "overflow", "london-sbc"]


async def test_the_webhook_url_is_logged_without_its_credentials_or_query(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    services = services_for(tmp_path, **{"monitor.webhook_url": "http://ops:hunter2@127.0.0.1:9/hook?token=s3cr3t",
                                         "monitor.webhook_timeout": 0.5})
    monitor = Monitor(services.config, services.screener.routes, "secret")
    try:
        monitor.apply([Transition("agents", "down", "why", 5.0)])
        await recording(monitor, lambda: "failed for the down transition of agents" in caplog.text)
    finally:
        services.writer.close()
        monitor.db.close()
    assert "webhook http://127.0.0.1:9/hook?… failed for the down transition of agents" in caplog.text
    assert "hunter2" not in caplog.text and "s3cr3t" not in caplog.text


async def test_a_drill_request_its_drill_gave_up_on_is_acknowledged_not_applied(monitor: Monitor,
                                                                                caplog: pytest.LogCaptureFixture) -> None:
    """A serve started after the drill gave up must not divert (and alert) for it."""
    stale = time.time() - monitor_module.STALE_DRILL_REQUEST - 1
    for down, at in ((1, stale), (0, stale)):
        monitor.db.execute("INSERT INTO drill_requests (destination, down, requested_at, requested_by) VALUES (?, ?, ?, ?)",
                           ["agents", down, at, "cli:ops"])
    monitor.db.conn.commit()
    task = asyncio.create_task(monitor._drills())
    try:
        await eventually(lambda: monitor.db.execute("SELECT count(*) FROM drill_requests WHERE applied_at IS NULL").fetchone()[0] == 0)
    finally:
        task.cancel()

    assert monitor.transitions == 0
    assert route_reason(monitor) == "normal"
    assert "ignoring a drill request of agents by cli:ops from" in caplog.text


class ResyncingAmi:
    """Answers PJSIPShowEndpoint with one contact per endpoint, and delivers the given
    live events to the monitor while it reads a given endpoint (the resync race)."""

    def __init__(self, monitor: Monitor, statuses: dict[str, str], during: dict[str, list[dict[str, str]]]):
        self.monitor, self.statuses, self.during = monitor, statuses, during

    async def collect(self, action: str, complete: str, **fields: str) -> list[dict[str, str]]:
        name = fields["Endpoint"]
        for live in self.during.get(name, []):
            self.monitor.on_event(live)
        await asyncio.sleep(0)
        return [{"Event": "ContactStatusDetail", "EndpointName": name, "AOR": name, "URI": f"sip:{name}@192.0.2.10",
                 "Status": self.statuses.get(name, "Reachable")}]


def contact_status(name: str, status: str) -> dict[str, str]:
    return {"Event": "ContactStatus", "EndpointName": name, "AOR": name, "URI": f"sip:{name}@192.0.2.10", "ContactStatus": status}


async def test_a_qualify_change_during_the_resync_is_not_undone_by_the_older_snapshot(monitor: Monitor) -> None:
    # agents is read first (sorted), then goes Unreachable while overflow is being read.
    # overflow goes Unreachable before it is read, and its snapshot (newer) says Reachable.
    ami = ResyncingAmi(monitor, {}, {"overflow": [contact_status("agents", "Unreachable"), contact_status("overflow", "Unreachable")]})
    await monitor.on_connected(ami)  # type: ignore[arg-type]

    later = monitor.detector.tick(time.time() + monitor.config.reachable_for + 1)
    monitor.apply(later)
    assert [(t.destination, t.state) for t in later] == [("overflow", "up")]
    assert route_reason(monitor) == "trunk_down:agents"


async def test_serve_logs_a_crashed_monitor_at_once_and_still_shuts_down_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """Before: nothing was logged until shutdown, where the crash was re-raised and the
    call-record writer was never closed (records still queued were lost)."""
    from callshield import serve
    from callshield.store.writer import CallWriter

    async def crash(self: Monitor) -> None:
        raise RuntimeError("the monitor broke")

    closed: list[CallWriter] = []
    real_close = CallWriter.close

    def close(self: CallWriter, timeout: float = 10.0) -> None:
        closed.append(self)
        real_close(self, timeout)

    monkeypatch.setattr(Monitor, "run", crash)
    monkeypatch.setattr(CallWriter, "close", close)
    monkeypatch.setattr(serve, "tune_runtime", lambda: None)  # gc.freeze() would outlive this test
    monkeypatch.setenv("CALLSHIELD_AMI_SECRET", "secret")
    config = load_config(None, env={}, overrides={
        "store.path": str(tmp_path / "callshield.db"), "scoring.model": "rules", "agi.enabled": False,
        "agi.watchdog_timeout": 0, "monitor.enabled": True, "monitor.port": free_port()})
    ready = asyncio.Event()
    task = asyncio.create_task(serve.run(config, ready=ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        await eventually(lambda: "serve's background task ami-monitor crashed" in caplog.text)
        assert "RuntimeError: the monitor broke" in caplog.text
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert len(closed) == 1


async def test_qualify_events_are_logged_at_info_only_for_watched_destinations(monitor: Monitor,
                                                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="callshield.ami_monitor")
    monitor.on_event(contact_status("agents", "Reachable"))
    monitor.on_event(contact_status("phone-1042", "Reachable"))  # a desk phone re-registering
    monitor.on_event({"Event": "PeerStatus", "Peer": "PJSIP/overflow", "PeerStatus": "Reachable"})
    assert [r.getMessage() for r in caplog.records if r.levelname == "INFO"] == [
        "AMI ContactStatus: agents Reachable", "AMI PeerStatus: overflow Reachable"]


async def test_a_drill_that_never_ends_its_failure_is_ended_by_the_monitor(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    services = services_for(tmp_path, **{"monitor.drill_max_seconds": 60.0})
    monitor = Monitor(services.config, services.screener.routes, "secret")
    try:
        monitor.db.execute("INSERT INTO drill_requests (destination, down, requested_at, requested_by) VALUES ('agents', 1, ?, 'cli:ops')",
                           [time.time()])
        monitor.db.conn.commit()
        task = asyncio.create_task(monitor._drills())
        try:
            await eventually(lambda: route_reason(monitor) == "trunk_down:agents", what="the drill request to be applied")
        finally:
            task.cancel()

        monitor.expire_drills(time.time() + 30)
        assert route_reason(monitor) == "trunk_down:agents"  # not yet
        monitor.expire_drills(time.time() + 61)
        assert route_reason(monitor) == "normal"
    finally:
        services.writer.close()
        monitor.db.close()
    assert "did not end its simulated failure within 60 s" in caplog.text

"""The AMI monitor's glue (callshield/ami_monitor/monitor.py) with real services: a
transition reroutes at once, is recorded in the store and audit log, reaches
subscribers and a real webhook server; drill requests from the store are applied; the
health probe reports a monitor that is not connected. AMI itself is not involved here
(tests/integration/test_monitor_asterisk.py drives the real one)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import AsyncIterator, Callable

import pytest
import pytest_asyncio
from aiohttp import web

from callshield.ami_monitor.detector import Transition
from callshield.ami_monitor.monitor import Monitor
from callshield.config import load_config
from callshield.serve import build_services, start_monitor
from callshield.services import Services

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
    monitor = Monitor(services, "secret")
    yield monitor
    services.writer.close()
    monitor.db.close()


def route_reason(monitor: Monitor) -> str:
    table = monitor.table
    return table.decide(DDI, table.policy(DDI), "SAFE").reason


async def recording(monitor: Monitor, done: Callable[[], object], timeout: float = 5.0) -> None:
    """Run the monitor's recorder (store, webhook) until ``done()`` holds."""
    task = asyncio.create_task(monitor._record())
    try:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, "the recorder did not finish in time"
            await asyncio.sleep(0.01)
    finally:
        task.cancel()


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
    monitor = Monitor(services, "secret")
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
    monitor = Monitor(services, "secret")
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
        deadline = time.monotonic() + 5
        while monitor.db.execute("SELECT applied_at FROM drill_requests").fetchone()[0] is None:
            assert time.monotonic() < deadline, "the drill request was not applied"
            await asyncio.sleep(0.02)
    finally:
        task.cancel()

    assert route_reason(monitor) == "trunk_down:agents"
    assert monitor.table.health.outages()[0].drill


async def test_health_is_degraded_while_the_monitor_is_not_logged_in(tmp_path: Path) -> None:
    services = services_for(tmp_path)
    try:
        monitor = Monitor(services, "secret")
        with_ami = dataclasses.replace(services, ami=monitor.client)
        assert with_ami.health() == "DEGRADED:ami-monitor-not-connected"
        monitor.db.close()
    finally:
        services.writer.close()


async def test_a_missing_ami_secret_runs_without_the_monitor_and_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("CALLSHIELD_AMI_SECRET", raising=False)
    services = services_for(tmp_path)
    try:
        assert start_monitor(services) is None
        assert services.health() == "DEGRADED:ami-monitor-not-connected"
    finally:
        services.writer.close()
    assert "CALLSHIELD_AMI_SECRET (monitor.secret_env)" in caplog.text

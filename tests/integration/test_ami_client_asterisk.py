"""The AMI client against the real Asterisk 22 of the sandbox: login, events, actions and
event lists, refused credentials, and an Asterisk stopped and started again under it."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from typing import AsyncIterator

import pytest
import pytest_asyncio

from callshield.ami_monitor.client import AmiActionError, AmiClient
from callshield.config import MonitorConfig
from tests.support.asterisk import AMI_SECRET, AMI_USER, Asterisk, Ports, provision
from tests.support.service import eventually

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio]


def monitor_config(port: int, **overrides: object) -> MonitorConfig:
    values: dict[str, object] = {"enabled": True, "host": "127.0.0.1", "port": port, "username": AMI_USER,
                                 "connect_timeout": 2.0, "keepalive": 1.0, "backoff_initial": 0.05, "backoff_max": 0.4}
    values.update(overrides)
    return MonitorConfig(**values)  # type: ignore[arg-type]




class RecordingRandom(random.Random):
    """Records every backoff draw as (cap, wait)."""

    def __init__(self, seed: int = 1):
        super().__init__(seed)
        self.draws: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        value = super().uniform(a, b)
        self.draws.append((b, value))
        return value


class Running:
    def __init__(self, config: MonitorConfig, secret: str = AMI_SECRET, rng: random.Random | None = None):
        self.events: list[dict[str, str]] = []
        self.connected: list[int] = []
        self.client = AmiClient(config, secret, self.events.append, self._on_connected, rng=rng)
        self.task = asyncio.create_task(self.client.run())

    async def _on_connected(self, client: AmiClient) -> None:
        self.connected.append(client.logins)

    async def close(self) -> None:
        await self.client.close()
        assert self.task.done()


@pytest_asyncio.fixture
async def running(asterisk: Asterisk) -> AsyncIterator[Running]:
    r = Running(monitor_config(asterisk.ports.ami))
    try:
        await eventually(lambda: r.client.logged_in, what="the AMI login")
        yield r
    finally:
        await r.close()


async def user_event_arrives(r: Running) -> None:
    token = uuid.uuid4().hex
    reply = await r.client.action("UserEvent", UserEvent="CallshieldProbe", Token=token)
    assert reply["Response"] == "Success"
    await eventually(lambda: any(e["Event"] == "UserEvent" and e.get("Token") == token for e in r.events),
                     5, "the UserEvent to come back as an event")


async def test_login_then_events_arrive(running: Running):
    assert running.connected == [1]
    assert running.client.version and running.client.version[0].isdigit()
    await user_event_arrives(running)
    assert running.client.events_received >= 1
    reply = await running.client.action("Command", Command="core show version")
    assert reply["Output"].startswith("Asterisk 22")
    assert (await running.client.action("Ping"))["Ping"] == "Pong"


async def test_event_lists_return_the_sandbox_destinations(running: Running, asterisk: Asterisk):
    aors = {a["ObjectName"]: a for a in await running.client.collect("PJSIPShowAors", "AorListComplete")}
    for name in ("agents", "fraudteam", "overflow"):
        assert f"sip:{name}@127.0.0.1:{getattr(asterisk.ports, name)}" in aors[name]["Contacts"]
    detail = await running.client.collect("PJSIPShowEndpoint", "EndpointDetailComplete", Endpoint="agents")
    contacts = [d for d in detail if d["Event"] == "ContactStatusDetail"]
    assert [c["URI"] for c in contacts] == [f"sip:agents@127.0.0.1:{asterisk.ports.agents}"]
    assert contacts[0]["EndpointName"] == "agents" and contacts[0]["Status"]
    # PJSIPShowContacts lists registered (dynamic) contacts only; the sandbox's contacts
    # are static (contact= on the AOR), for which Asterisk answers "No Contacts found".
    with pytest.raises(AmiActionError, match="No Contacts found$"):
        await running.client.collect("PJSIPShowContacts", "ContactListComplete")
    assert not any(e["Event"] in ("AorList", "ContactStatusDetail", "EndpointDetail") for e in running.events)


async def test_wrong_credentials_give_a_clear_error_and_backoff(asterisk: Asterisk, caplog: pytest.LogCaptureFixture):
    rng = RecordingRandom(2)
    with caplog.at_level(logging.INFO, "callshield.ami"):
        r = Running(monitor_config(asterisk.ports.ami, backoff_initial=0.05, backoff_max=0.2), secret="not-the-secret", rng=rng)
        try:
            # Asterisk answers a refused login after a second: three attempts take about 3 s
            await eventually(lambda: len(rng.draws) >= 3, what="3 refused logins")
            assert not r.client.logged_in and not r.task.done() and r.connected == []
        finally:
            await r.close()
    error = r.client.last_error or ""
    assert f"AMI login to 127.0.0.1:{asterisk.ports.ami} as user '{AMI_USER}' failed (Authentication failed)" in error
    assert "CALLSHIELD_AMI_SECRET" in error
    assert [cap for cap, _ in rng.draws[:3]] == [0.05, 0.1, 0.2]
    assert any(rec.levelno == logging.ERROR and "AMI login" in rec.getMessage() for rec in caplog.records)
    assert not any("not-the-secret" in rec.getMessage() for rec in caplog.records)


async def test_asterisk_restarted_under_the_client(asterisk: Asterisk, caplog: pytest.LogCaptureFixture):
    """A separate Asterisk (the session's one stays up): stopped, then started again on
    the same AMI port; the client retries with backoff, logs in again and resyncs."""
    ports = Ports()
    first = Asterisk(provision(), ports)
    second = Asterisk(provision(), ports)
    await asyncio.to_thread(first.start)
    rng = RecordingRandom(3)
    r = Running(monitor_config(ports.ami, keepalive=0.5, backoff_initial=0.05, backoff_max=0.4), rng=rng)
    try:
        await eventually(lambda: r.client.logged_in, what="the first login")
        assert r.connected == [1]

        with caplog.at_level(logging.WARNING, "callshield.ami"):
            await asyncio.to_thread(first.stop)
            await eventually(lambda: not r.client.connected, 5, "the client to notice the stop")
        first_warning = next(rec.getMessage() for rec in caplog.records if rec.name == "callshield.ami")
        assert f"Asterisk at 127.0.0.1:{ports.ami} is shutting down (Shutdown: Cleanly" in first_warning
        await eventually(lambda: len(rng.draws) >= 4, what="retries while Asterisk is down")
        assert [cap for cap, _ in rng.draws[:4]] == [0.05, 0.1, 0.2, 0.4]
        assert all(0 <= wait <= cap for cap, wait in rng.draws)
        assert "cannot connect to the Asterisk manager interface" in (r.client.last_error or "")
        assert "Connection refused" in (r.client.last_error or "")
        assert not r.task.done()

        await asyncio.to_thread(second.start)
        await eventually(lambda: r.client.logged_in and len(r.connected) == 2, 10, "the login after the restart")
        assert r.connected == [1, 2]  # on_connected ran again
        assert r.client.reconnects >= 4
        await user_event_arrives(r)
    finally:
        await r.close()
        await asyncio.to_thread(first.stop)
        await asyncio.to_thread(second.stop)

"""Record real AMI event traces from the sandbox Asterisk into tests/fixtures/ami/*.jsonl,
for tests/unit/test_detector_traces.py to replay through the failure detector.

Run as root with the sandbox provisioned (make sandbox):

    .venv/bin/python -m tests.support.record_ami            # every scenario
    .venv/bin/python -m tests.support.record_ami site_503   # one

Each scenario starts its own Asterisk and a ``callshield serve`` (monitor off, rule
scorer) that routes +442070000500 to PJSIP/sitea (secondary siteb); the qualify ones use
the sandbox's qualified endpoint. It drives real SIP agents while a test AMI client
records every event the detector reads, and the boot and shutdown events. A line is one event:
``{"t": seconds since the first event, "event": {AMI fields}}``; ports, channel ids and
unique ids are as Asterisk sent them. Re-record when the dialplan or Asterisk changes.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Awaitable, Callable

from tests.support.ami import AmiClient
from tests.support.asterisk import AMI_SECRET, AMI_USER, Asterisk, Ports, provision
from tests.support.service import CallshieldProcess, eventually
from tests.support.sip import SipUAC, SipUAS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ami"
SITE_A = "+442070000500"
# What the detector reads, and what shows an Asterisk going away and coming back.
KEPT = {"DialBegin", "DialEnd", "Hangup", "ContactStatus", "PeerStatus", "FullyBooted", "Shutdown"}


class _Stamped(list):
    """AmiClient's event list, stamping each kept event as it arrives."""

    def __init__(self, sink: list[tuple[float, dict[str, str]]]):
        super().__init__()
        self.sink = sink

    def append(self, event: dict[str, str]) -> None:
        super().append(event)
        if event.get("Event") in KEPT:
            self.sink.append((time.monotonic(), event))


class Rig:
    def __init__(self, workdir: Path):
        self.ports = Ports()
        self.asterisk = Asterisk(provision(), self.ports)
        config = {
            "agi": {"host": "127.0.0.1", "port": self.ports.agi, "command_timeout": 1.0, "session_timeout": 3.0},
            "store": {"path": str(workdir / "callshield.db"), "flush_interval": 0.05, "reload_interval": 0.1},
            "scoring": {"home_country": "GB", "model": "rules"},
            "routing": {"numbers": {SITE_A: {"route": "PJSIP/sitea", "fallback": "PJSIP/siteb"}}},
        }
        self.serve = CallshieldProcess(workdir, config)
        self.ami: AmiClient | None = None
        self.events: list[tuple[float, dict[str, str]]] = []

    async def connect(self) -> None:
        """(Re)connect the recording AMI client; events already recorded are kept."""
        self.ami = AmiClient("127.0.0.1", self.ports.ami)
        self.ami.events = _Stamped(self.events)
        await self.ami.connect(AMI_USER, AMI_SECRET)
        await self.ami.setvar("CALLSHIELD_AGI", f"agi://127.0.0.1:{self.ports.agi}")

    def seen(self, **fields: str) -> bool:
        return any(all(e.get(k) == v for k, v in fields.items()) for _, e in self.events)

    async def call(self, caller: SipUAC, ddi: str, n: int) -> int:
        result = await caller.invite(("127.0.0.1", self.ports.sip), to_user=ddi, from_user=f"+4416149601{n:02d}",
                                     answer_timeout=15.0)
        return result.final_status

    async def settle(self, seconds: float) -> None:
        """Let the events of what was just done arrive."""
        await asyncio.sleep(seconds)


async def site_503(rig: Rig) -> None:
    """sitea answers 503 to two calls (each reaches siteb), then answers one."""
    async with SipUAC() as caller, SipUAS(port=rig.ports.sitea, mode="unavailable") as sitea, \
            SipUAS(port=rig.ports.siteb):
        for n in range(2):
            await rig.call(caller, SITE_A, n)
            await rig.settle(0.3)
        sitea.mode = "answer"
        await rig.call(caller, SITE_A, 2)
        await rig.settle(1.0)


async def site_silent(rig: Rig) -> None:
    """Nothing listens on sitea's port (two calls, each reaches siteb), then it answers."""
    async with SipUAC() as caller, SipUAS(port=rig.ports.siteb):
        for n in range(2):
            await rig.call(caller, SITE_A, 10 + n)
            await rig.settle(0.3)
        async with SipUAS(port=rig.ports.sitea):
            await rig.call(caller, SITE_A, 12)
            await rig.settle(1.0)


def status_after(rig: Rig, index: int, status: str) -> Callable[[], bool]:
    return lambda: any(e.get("Event") == "ContactStatus" and e.get("ContactStatus") == status
                       for _, e in rig.events[index:])


async def unreachable(rig: Rig, phone: SipUAS) -> None:
    """Reachable (the phone answers OPTIONS), then Unreachable (it stops): each caused
    here, whatever the contact's state was before the recording client logged in."""
    phone.answer_options = True
    await eventually(status_after(rig, 0, "Reachable"), 20, "Reachable")
    index = len(rig.events)
    phone.answer_options = False
    await eventually(status_after(rig, index, "Unreachable"), 20, "Unreachable")


async def qualify(rig: Rig) -> None:
    """The qualified contact Reachable, then Unreachable (it ignores OPTIONS), then Reachable."""
    async with SipUAS(port=rig.ports.qualified) as phone:
        await unreachable(rig, phone)
        index = len(rig.events)
        phone.answer_options = True
        await eventually(status_after(rig, index, "Reachable"), 20, "Reachable again")
        await rig.settle(0.5)


async def restart(rig: Rig) -> None:
    """Asterisk restarted while the qualified contact is Unreachable (the recording client
    reconnects); once it is Unreachable again after the restart, it answers OPTIONS."""
    async with SipUAS(port=rig.ports.qualified) as phone:
        await unreachable(rig, phone)
        rig.asterisk.stop()
        await rig.settle(0.5)
        rig.asterisk = Asterisk(provision(), rig.ports)  # as test_monitor_asterisk restarts one
        rig.asterisk.start()
        index = len(rig.events)
        await rig.connect()
        await eventually(status_after(rig, index, "Unreachable"), 20, "Unreachable after the restart")
        index = len(rig.events)
        phone.answer_options = True
        await eventually(status_after(rig, index, "Reachable"), 20, "Reachable")
        await rig.settle(0.5)


SCENARIOS: dict[str, Callable[[Rig], Awaitable[None]]] = {
    "site_503": site_503, "site_silent": site_silent, "qualify": qualify, "restart": restart}


async def record(name: str) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        rig = Rig(Path(tmp))
        rig.asterisk.start()
        try:
            rig.serve.start()
            try:
                await rig.connect()
                await rig.settle(1.0)
                await SCENARIOS[name](rig)
            finally:
                rig.serve.stop()
        finally:
            rig.asterisk.stop()
    FIXTURES.mkdir(parents=True, exist_ok=True)
    out = FIXTURES / f"{name}.jsonl"
    t0 = rig.events[0][0] if rig.events else 0.0
    out.write_text("".join(json.dumps({"t": round(t - t0, 3), "event": e}, sort_keys=True) + "\n" for t, e in rig.events))
    return out


def main(argv: list[str]) -> int:
    for name in argv or list(SCENARIOS):
        path = asyncio.run(record(name))
        print(f"{path}: {sum(1 for _ in path.open())} events")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Benchmark: AMI events processed per second (callshield's client, the monitor behind it,
panoramisk), and the time from a destination's failure to the routing change.

Run:  .venv/bin/python bench/ami_events.py [--events N] [--runs R] [--latency-reps N]
                                           [--background-rate EV/S] [--loop uvloop|asyncio] [--json]

A small asyncio AMI server, in its own process (pinned to CPU 1), plays Asterisk: it
sends the banner, answers the Login and every action (Ping, and PJSIPShowEndpoint with
the endpoint's Reachable contact, for the monitor's resync), and writes a recorded-style
stream of N events (default 200,000) as fast as the socket takes them, over real
loopback TCP (the answers go out between two events). The stream is generated here,
seeded, with the fields Asterisk 22 sends (modelled on a trace of the real sandbox):
calls of Newchannel, VarSet, Newexten, DialBegin, DialState, DialEnd (ANSWER / BUSY /
NOANSWER / CHANUNAVAIL / CONGESTION), bridges, HangupRequest, Hangup, RTCPSent/RTCPReceived
during answered calls, and ContactStatus changes; a fifth of the callers carry a
non-ASCII (UTF-8) caller name, as SIP display names do.

Throughput, in the same process (pinned to CPU 0) and on the same stream, one after the
other, ``--runs`` times each:

- ``callshield``: ``callshield.ami_monitor.client.AmiClient`` with an ``on_event``;
- ``monitor``: the same client wired as ``callshield serve`` wires it: a real
  ``callshield.ami_monitor.monitor.Monitor`` on real services (``build_services`` on a
  temporary store whose numbers are routed through the stream's endpoints, so all of
  them are watched), its ``on_connected`` resync, and ``Monitor.on_event`` (the failure
  detector, and each transition applied to the routing table's TrunkHealth) as the
  event handler, logging as serve does (INFO, to a file). The store and the webhook are
  off the event path (a queue, drained by ``Monitor.run``, not run here);
- ``panoramisk``: ``panoramisk.Manager`` (1.4) with ``register_event('*', callback)``.

The two bare callbacks do what the failure detector does at the least: read ``Event``,
and for DialEnd, Hangup and ContactStatus two fields, tallying DialEnd statuses (checked
against the stream). Throughput is events / time from the first to the last event the
callback got; ``cpu us/event`` is this process's CPU time over the same span. A
fidelity pass (untimed, 1 run each) then compares every event each client delivered
with the event that was sent, field by field.

Failure to routing change, with the default ``monitor`` thresholds: the server streams
background events (the same mix, ``--background-rate`` per second, default 2,000),
then after a random 0.2-0.4 s writes the failure of ``trunk-a`` (a trunk that had only
answered calls), each of its events carrying the server's ``time.monotonic_ns()`` taken
just before the write (``X-Bench-Sent``; one clock, one host); then more background.
Two kinds: ``qualify`` (one ``ContactStatus: Unreachable`` for its only contact) and
``delivery`` (``failures_to_down`` = 3 calls whose Dial() to it ends CHANUNAVAIL, back
to back). The client (the real Monitor as above, reconnecting for each failure, so a
fresh detector each time) asks ``RoutingTable.decide`` for the number routed through
``trunk-a`` (secondary ``trunk-b``) after every event, and times the moment it says
``trunk_down:trunk-a``: from the failure's first event (the ContactStatus; the first
failed call's DialBegin) and, for ``delivery``, from the third DialEnd. ``--latency-reps``
(30) of each.

Exit status 0 when every target passes: callshield's client and the monitor each
>= 20,000 events/s (best run), every event delivered intact, the resync done, every
failure rerouted (none before it) within 1,000 ms (max).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import gc
import itertools
import json
import logging
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from callshield.ami_monitor.client import AmiClient  # noqa: E402
from callshield.ami_monitor.monitor import Monitor  # noqa: E402
from callshield.cli import LOG_FORMAT  # noqa: E402
from callshield.config import Config, MonitorConfig, load_config  # noqa: E402
from callshield.dialplan.policy import SAFE  # noqa: E402
from callshield.read.numbers import NumberIntel  # noqa: E402
from callshield.serve import build_services  # noqa: E402
from callshield.services import Services  # noqa: E402
from callshield.store import open_store  # noqa: E402
from callshield.store.routing import RoutingStore  # noqa: E402

TARGET_EVENTS_PER_S = 20_000
TARGET_LATENCY_MS = 1_000
CLIENT_CPU, SERVER_CPU = 0, 1
CHUNK = 64 * 1024
SEPARATOR = b"\r\n\r\n"
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
SECRET = "bench-secret"
RUNNERS = ("callshield", "monitor", "panoramisk")  # the timed rows, in the order of odd runs
# The failure: a trunk that only ever answered fails; its number's secondary takes over.
FAILURE_KINDS = ("qualify", "delivery")
FAIL_DEST, FAIL_FALLBACK, FAIL_NUMBER = "trunk-a", "trunk-b", "+442079460999"
SENT_FIELD = "X-Bench-Sent"  # the server's time.monotonic_ns() when it wrote a failure event
PRE_MIN, PRE_MAX = 0.2, 0.4  # background before the failure, seconds (random in between)
TICK_S = 0.002  # the latency server's pacing tick
WATCHED = ("DialEnd", "Hangup", "ContactStatus")
NAMES = ["<unknown>", "JOHN SMITH", "ACME LTD", "Mobile", "WIRELESS CALLER", "Zoë Müller", "Łukasz Żółć", "Renée Dubois",
         "Ağır Şirket", "Ørsted Nørre", "Ιωάννης", "Иван Петров", "山田太郎", "José Núñez"]
DIAL_STATUSES = [("ANSWER", 70), ("NOANSWER", 12), ("BUSY", 8), ("CHANUNAVAIL", 6), ("CONGESTION", 4)]
HANGUP_CAUSE = {"ANSWER": ("16", "Normal Clearing"), "NOANSWER": ("19", "User alerting, no answer"),
                "BUSY": ("17", "User busy"), "CHANUNAVAIL": ("20", "Subscriber absent"),
                "CONGESTION": ("34", "Circuit/channel congestion")}
DESTS = ["agents", "overflow", "sitea", "siteb", "fraudteam"]


# -- the recorded-style stream -------------------------------------------------------

def _snapshot(channel: str, state: str, desc: str, cid: str, name: str, cl_num: str, cl_name: str, context: str,
              exten: str, uid: str, linked: str, prefix: str = "") -> list[tuple[str, str]]:
    return [(f"{prefix}Channel", channel), (f"{prefix}ChannelState", state), (f"{prefix}ChannelStateDesc", desc),
            (f"{prefix}CallerIDNum", cid), (f"{prefix}CallerIDName", name), (f"{prefix}ConnectedLineNum", cl_num),
            (f"{prefix}ConnectedLineName", cl_name), (f"{prefix}Language", "en"), (f"{prefix}AccountCode", ""),
            (f"{prefix}Context", context), (f"{prefix}Exten", exten), (f"{prefix}Priority", "1"),
            (f"{prefix}Uniqueid", uid), (f"{prefix}Linkedid", linked)]


def _event(name: str, privilege: str, fields: list[tuple[str, str]]) -> dict[str, str]:
    return {"Event": name, "Privilege": privilege, **dict(fields)}


def _call(rng: random.Random, n: int, t: float, dest: str | None = None, status: str | None = None) -> list[dict[str, str]]:
    """The events of one inbound call delivered by Dial() to a PJSIP destination (``dest``
    and the dial ``status`` drawn at random unless given; the draws happen either way)."""
    caller = f"+4420{rng.randrange(10**7, 10**8)}"
    ddi = f"+44207{rng.randrange(10**6, 10**7)}"
    name = rng.choice(NAMES) if rng.random() < 0.2 else rng.choice(NAMES[:5])
    drawn = rng.choice(DESTS)
    dest = dest or drawn
    drawn = rng.choices([s for s, _ in DIAL_STATUSES], [w for _, w in DIAL_STATUSES])[0]
    status = status or drawn
    inbound, outbound = f"PJSIP/carrier-{2 * n:08x}", f"PJSIP/{dest}-{2 * n + 1:08x}"
    uid_in, uid_out = f"{t:.0f}.{2 * n}", f"{t:.0f}.{2 * n + 1}"
    a = lambda state, desc, cl="<unknown>": _snapshot(inbound, state, desc, caller, name, cl, "<unknown>",  # noqa: E731
                                                      "from-carrier", ddi, uid_in, uid_in)
    b = lambda state, desc, prefix="": _snapshot(outbound, state, desc, ddi, "<unknown>", caller, name,  # noqa: E731
                                                 "internal", ddi, uid_out, uid_in, prefix)
    ev = [_event("Newchannel", "call,all", a("4", "Ring"))]
    for var, value in (("SIPDOMAIN", "127.0.0.1"), ("CALLSHIELD_AGI", "agi://127.0.0.1:4573"),
                       ("RISK_SCORE", str(rng.randrange(0, 100))), ("RISK_STATUS", "SAFE"),
                       ("ROUTE_ACTION", "deliver"), ("ROUTE", f"PJSIP/{dest}"),
                       ("DIALSTATUS", ""), ("DIALEDPEERNUMBER", ""), ("DIALEDPEERNAME", ""), ("DIALEDTIME", "")):
        ev.append(_event("VarSet", "dialplan,all", a("4", "Ring") + [("Variable", var), ("Value", value)]))
    ev.append(_event("Newexten", "dialplan,all", a("4", "Ring") + [("Extension", ddi), ("Application", "Dial"),
                                                                  ("AppData", f"PJSIP/{dest},30")]))
    ev.append(_event("Newchannel", "call,all", b("0", "Down")))
    ev.append(_event("DialBegin", "call,all", a("4", "Ring") + b("0", "Down", "Dest") + [("DialString", dest)]))
    ev.append(_event("Newstate", "call,all", b("5", "Ringing")))
    ev.append(_event("DeviceStateChange", "call,all", [("Device", f"PJSIP/{dest}"), ("State", "RINGING")]))
    ev.append(_event("DialState", "call,all", a("4", "Ring", ddi) + b("5", "Ringing", "Dest") + [("DialStatus", "RINGING")]))
    up = status == "ANSWER"
    ev.append(_event("DialEnd", "call,all", a("4", "Ring", ddi) + b("6" if up else "5", "Up" if up else "Ringing", "Dest")
                     + [("DialStatus", status)]))
    ev.append(_event("VarSet", "dialplan,all", a("4", "Ring", ddi) + [("Variable", "DIALSTATUS"), ("Value", status)]))
    if up:
        bridge = f"{rng.getrandbits(128):032x}"
        bridge = f"{bridge[:8]}-{bridge[8:12]}-{bridge[12:16]}-{bridge[16:20]}-{bridge[20:]}"
        common = [("BridgeUniqueid", bridge), ("BridgeType", "basic"), ("BridgeTechnology", "simple_bridge"),
                  ("BridgeCreator", "<unknown>"), ("BridgeName", "<unknown>"), ("BridgeNumChannels", "2"),
                  ("BridgeVideoSourceMode", "none")]
        ev.append(_event("BridgeEnter", "call,all", common + b("6", "Up")))
        ev.append(_event("BridgeEnter", "call,all", common + a("6", "Up", ddi)))
        for i in range(rng.randrange(2, 7)):  # an RTCP report pair every 5 s of talk
            for kind, (to, frm) in (("RTCPSent", ("203.0.113.7:10001", "127.0.0.1:20001")),
                                    ("RTCPReceived", ("127.0.0.1:20001", "203.0.113.7:10001"))):
                rtcp = [("SSRC", f"0x{rng.getrandbits(32):08x}"), ("PT", "200(SR)" if kind == "RTCPSent" else "201(RR)"),
                        ("To", to), ("From", frm), ("ReportCount", "1"), ("SentNTP", f"{t + 5 * i:.6f}"),
                        ("SentRTP", str(40000 * (i + 1))), ("SentPackets", str(250 * (i + 1))),
                        ("SentOctets", str(40000 * (i + 1))), ("Report0SourceSSRC", f"0x{rng.getrandbits(32):08x}"),
                        ("Report0FractionLost", "0"), ("Report0CumulativeLost", str(rng.randrange(0, 3))),
                        ("Report0HighestSequence", str(rng.randrange(0, 65536))), ("Report0SequenceNumberCycles", "0"),
                        ("Report0IAJitter", str(rng.randrange(0, 40))), ("Report0LSR", "0"), ("Report0DLSR", "0.0000")]
                if kind == "RTCPReceived":
                    rtcp.insert(5, ("RTT", f"{rng.uniform(0.001, 0.08):.4f}"))
                ev.append(_event(kind, "reporting,all", a("6", "Up", ddi) + rtcp))
        ev.append(_event("HangupRequest", "call,all", a("6", "Up", ddi) + [("Cause", "16")]))
        ev.append(_event("BridgeLeave", "call,all", common + a("6", "Up", ddi)))
        ev.append(_event("BridgeLeave", "call,all", common + b("6", "Up")))
    cause, text = HANGUP_CAUSE[status]
    ev.append(_event("Hangup", "call,all", b("6" if up else "5", "Up" if up else "Ringing") + [("Cause", cause), ("Cause-txt", text)]))
    ev.append(_event("Hangup", "call,all", a("6" if up else "4", "Up" if up else "Ring", ddi)
                     + [("Cause", cause if up else "16"), ("Cause-txt", text if up else "Normal Clearing")]))
    ev.append(_event("DeviceStateChange", "call,all", [("Device", f"PJSIP/{dest}"), ("State", "NOT_INUSE")]))
    return ev


def _contact_status(rng: random.Random) -> dict[str, str]:
    dest = rng.choice(DESTS)
    status = rng.choice(["Reachable", "Unreachable", "Reachable", "Reachable"])
    return {"Event": "ContactStatus", "Privilege": "system,all", "URI": f"sip:{dest}@198.51.100.{rng.randrange(2, 250)}:5060",
            "ContactStatus": status, "AOR": dest, "EndpointName": dest,
            "RoundtripUsec": str(rng.randrange(300, 90000)) if status == "Reachable" else "0"}


def make_events(n: int, seed: int = 7) -> list[dict[str, str]]:
    rng = random.Random(seed)
    events: list[dict[str, str]] = []
    t = 1_795_000_000.0
    calls = 0
    while len(events) < n:
        events.extend(_call(rng, calls, t))
        calls += 1
        t += rng.expovariate(20.0)
        if rng.random() < 0.02:
            events.append(_contact_status(rng))
    return events[:n]


def make_background(n: int, seed: int) -> list[bytes]:
    """Background for the latency runs, one encoded event each: the same mix, with every
    eighth call answered at FAIL_DEST (which never fails there)."""
    rng = random.Random(seed)
    events: list[dict[str, str]] = []
    t = 1_795_000_000.0
    calls = 0
    while len(events) < n:
        events.extend(_call(rng, calls, t, dest=FAIL_DEST, status="ANSWER") if calls % 8 == 7 else _call(rng, calls, t))
        calls += 1
        t += rng.expovariate(20.0)
        if rng.random() < 0.02:
            events.append(_contact_status(rng))
    return [encode([ev]) for ev in events]  # whole calls: the stream may wrap around


def encode(events: list[dict[str, str]]) -> bytes:
    return "".join("".join(f"{k}: {v}\r\n" for k, v in ev.items()) + "\r\n" for ev in events).encode("utf-8")


def dialend_tally(events: list[dict[str, str]]) -> dict[str, int]:
    tally: dict[str, int] = {}
    for ev in events:
        if ev["Event"] == "DialEnd":
            tally[ev["DialStatus"]] = tally.get(ev["DialStatus"], 0) + 1
    return tally


# -- the AMI server (its own process) ------------------------------------------------

def _fields(raw: bytes) -> dict[str, str]:
    out = {}
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep:
            out[key.lower()] = value
    return out


def _contact_uri(endpoint: str) -> str:
    return f"sip:{endpoint}@198.51.100.10:5060"


def _endpoint_detail(action_id: str, endpoint: str) -> bytes:
    """Asterisk 22's answer to ``PJSIPShowEndpoint`` (trimmed to the fields that matter
    here): the endpoint, its AOR and its one static contact, Reachable."""
    uri = _contact_uri(endpoint)
    msgs = [
        {"Response": "Success", "ActionID": action_id, "EventList": "start",
         "Message": "Following are Events for each object associated with the Endpoint"},
        {"Event": "EndpointDetail", "ActionID": action_id, "ObjectType": "endpoint", "ObjectName": endpoint,
         "Context": "from-internal", "Aors": endpoint, "DeviceState": "Not in use", "ActiveChannels": ""},
        {"Event": "AorDetail", "ActionID": action_id, "ObjectType": "aor", "ObjectName": endpoint, "Contacts": uri,
         "MaxContacts": "0", "QualifyFrequency": "60", "TotalContacts": "1", "ContactsRegistered": "0",
         "EndpointName": endpoint},
        {"Event": "ContactStatusDetail", "ActionID": action_id, "AOR": endpoint, "URI": uri, "UserAgent": "",
         "RegExpire": "", "ViaAddress": "", "CallID": "", "Status": "Reachable", "RoundtripUsec": "1874",
         "EndpointName": endpoint, "ID": f"{endpoint}@@5a1f0c3e9b7d", "AuthenticateQualify": "0",
         "OutboundProxy": "", "Path": "", "QualifyFrequency": "60", "QualifyTimeout": "3.000000"},
        {"Event": "EndpointDetailComplete", "ActionID": action_id, "EventList": "Complete", "ListItems": "3"},
    ]
    return encode(msgs)


def _reply(action: dict[str, str]) -> tuple[bytes, bool]:
    """The answer to one action, and whether the client is leaving (Logoff)."""
    name, action_id = action.get("action", "").lower(), action.get("actionid", "")
    if name == "logoff":
        return f"Response: Goodbye\r\nActionID: {action_id}\r\nMessage: Thanks for all the fish.\r\n\r\n".encode(), True
    if name == "login":
        return f"Response: Success\r\nActionID: {action_id}\r\nMessage: Authentication accepted\r\n\r\n".encode(), False
    if name == "ping":
        return f"Response: Success\r\nActionID: {action_id}\r\nPing: Pong\r\nTimestamp: {time.time():.6f}\r\n\r\n".encode(), False
    if name == "pjsipshowendpoint":
        return _endpoint_detail(action_id, action.get("endpoint", "")), False
    return f"Response: Success\r\nActionID: {action_id}\r\n\r\n".encode(), False


class _Session:
    """One client connection: the banner and Login, then every action answered whole
    (``hold``: kept until the writer is at a message boundary) until Logoff or EOF."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.hold = False
        self.held: list[bytes] = []
        self.gone = asyncio.Event()

    async def login(self) -> None:
        self.writer.write(BANNER)
        while True:
            action = _fields(await self.reader.readuntil(b"\r\n\r\n"))
            reply, _ = _reply(action)
            self.writer.write(reply)
            if action.get("action", "").lower() == "login":
                return

    async def answer(self) -> None:
        try:
            while True:
                reply, leaving = _reply(_fields(await self.reader.readuntil(b"\r\n\r\n")))
                if self.hold:
                    self.held.append(reply)
                else:
                    self.writer.write(reply)
                if leaving:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.gone.set()

    def flush(self) -> None:
        if self.held:
            self.writer.write(b"".join(self.held))
            self.held.clear()


def _aligned_chunks(stream: bytes) -> list[tuple[int, int]]:
    """~CHUNK-byte slices of the stream that end on a message boundary, so that the
    answers to the client's actions can go out between two slices."""
    out, i = [], 0
    while i < len(stream):
        j = stream.find(SEPARATOR, min(i + CHUNK, len(stream)) - 4)
        end = len(stream) if j < 0 else j + 4
        out.append((i, end))
        i = end
    return out


@dataclass
class LatencyPlan:
    """What the latency server streams on each connection: background events at
    ``rate``/s, then (after a random ``pre_min``..``pre_max`` s) the failure, then more
    background until the client logs off."""

    background: list[bytes]  # encoded events, streamed cyclically
    rate: float
    pre_min: float
    pre_max: float
    seed: int


def failure_events(kind: str, rng: random.Random, n: int) -> list[dict[str, str]]:
    """The failure of FAIL_DEST as Asterisk reports it. ``qualify``: its contact's qualify
    times out (``ContactStatus: Unreachable``); ``delivery``: ``failures_to_down`` calls
    whose Dial() to it ends CHANUNAVAIL (each DialBegin ... DialEnd CHANUNAVAIL, Hangup)."""
    if kind == "qualify":
        return [{"Event": "ContactStatus", "Privilege": "system,all", "URI": _contact_uri(FAIL_DEST),
                 "ContactStatus": "Unreachable", "AOR": FAIL_DEST, "EndpointName": FAIL_DEST, "RoundtripUsec": "0"}]
    events: list[dict[str, str]] = []
    for i in range(MonitorConfig().failures_to_down):
        events += _call(rng, n + i, 1_795_000_000.0 + n, dest=FAIL_DEST, status="CHANUNAVAIL")
    return events


async def _serve(stream: bytes, port_out: Any, plan: LatencyPlan) -> None:
    chunks = _aligned_chunks(stream)
    connections = itertools.count()
    cursor = [0]  # where the next connection's background starts

    async def handle_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(reader, writer)
        try:
            await session.login()
            session.hold = True
            answering = asyncio.create_task(session.answer())
            view = memoryview(stream)
            for start, end in chunks:
                session.flush()
                writer.write(view[start:end])
                await writer.drain()
            session.hold = False
            session.flush()
            await answering  # until the client logs off or leaves
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def handle_failure(kind: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(reader, writer)
        conn = next(connections)
        rng = random.Random(plan.seed * 1_000_003 + conn)
        loop = asyncio.get_running_loop()
        try:
            await session.login()
            answering = asyncio.create_task(session.answer())
            background, n = plan.background, len(plan.background)
            sent = 0
            start = cursor[0]
            t0 = loop.time()
            fail_at = t0 + rng.uniform(plan.pre_min, plan.pre_max)
            failure = failure_events(kind, rng, 10_000_000 + 10 * conn)
            first = next(i for i, ev in enumerate(failure) if ev["Event"] in ("DialBegin", "ContactStatus"))
            deadline = t0 + plan.pre_max + 10.0
            while not session.gone.is_set() and loop.time() < deadline:
                due = int((loop.time() - t0) * plan.rate)
                if due > sent:
                    writer.write(b"".join(background[(start + i) % n] for i in range(sent, due)))
                    sent = due
                if failure is not None and loop.time() >= fail_at:
                    # Each event stamped with the shared monotonic clock just before it is written.
                    for i, ev in enumerate(failure):
                        body = "".join(f"{k}: {v}\r\n" for k, v in ev.items())
                        if i >= first:
                            body += f"{SENT_FIELD}: {time.monotonic_ns()}\r\n"
                        writer.write((body + "\r\n").encode("utf-8"))
                    failure = None
                await writer.drain()
                await asyncio.wait({answering}, timeout=TICK_S)
            cursor[0] = (start + sent) % n
            await answering
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    servers = {"stream": await asyncio.start_server(handle_stream, "127.0.0.1", 0)}
    for kind in FAILURE_KINDS:
        servers[kind] = await asyncio.start_server(functools.partial(handle_failure, kind), "127.0.0.1", 0)
    port_out.send({name: server.sockets[0].getsockname()[1] for name, server in servers.items()})
    await asyncio.gather(*(server.serve_forever() for server in servers.values()))


def _server_main(stream: bytes, port_out: Any, pin: bool, plan: LatencyPlan) -> None:
    if pin and hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > 1:  # type: ignore[operator]
        os.sched_setaffinity(0, {SERVER_CPU})
    asyncio.run(_serve(stream, port_out, plan))


# -- the two clients on the bare stream -------------------------------------------------------------------

class Tally:
    """What the callback does: the detector's minimum, plus the span's clocks."""

    def __init__(self, expected: int, done: asyncio.Future[None], keep: bool = False):
        self.expected = expected
        self.done = done
        self.count = 0
        self.statuses: dict[str, int] = {}
        self.kept: list[Any] = [] if keep else None  # type: ignore[assignment]
        self.t_first = self.t_last = self.cpu_first = self.cpu_last = 0.0

    def __call__(self, ev: Any) -> None:
        name = ev["Event"]
        if name == "DialEnd":
            ev["DestChannel"]
            status = ev["DialStatus"]
            self.statuses[status] = self.statuses.get(status, 0) + 1
        elif name == "Hangup":
            ev["Channel"]
            ev["Cause"]
        elif name == "ContactStatus":
            ev["AOR"]
            ev["ContactStatus"]
        if self.kept is not None:
            self.kept.append(ev)
        self.count += 1
        if self.count == 1:
            self.t_first, self.cpu_first = time.perf_counter(), time.process_time()
        if self.count == self.expected:
            self.t_last, self.cpu_last = time.perf_counter(), time.process_time()
            if not self.done.done():
                self.done.set_result(None)


async def run_callshield(port: int, n: int, timeout: float, keep: bool = False) -> Tally:
    loop = asyncio.get_running_loop()
    tally = Tally(n, loop.create_future(), keep)
    config = MonitorConfig(enabled=True, port=port, username="bench", keepalive=3600.0, connect_timeout=5.0)
    client = AmiClient(config, "bench-secret", tally)
    task = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(asyncio.shield(tally.done), timeout)
    finally:
        await client.close()
        task.cancel()
        await asyncio.wait({task})
    return tally


async def run_panoramisk(port: int, n: int, timeout: float, keep: bool = False) -> Tally:
    from panoramisk import Manager

    loop = asyncio.get_running_loop()
    tally = Tally(n, loop.create_future(), keep)
    manager = Manager(loop=loop, host="127.0.0.1", port=port, username="bench", secret="bench-secret",
                      ping_delay=3600, ping_interval=3600, reconnect_timeout=3600)
    manager.register_event("*", lambda _manager, ev: tally(ev))
    manager.connect()
    try:
        await asyncio.wait_for(asyncio.shield(tally.done), timeout)
    finally:
        manager.close()
    return tally


CLIENTS: dict[str, Callable[..., Any]] = {"callshield": run_callshield, "panoramisk": run_panoramisk}


# -- the monitor: the same client with callshield serve's real event path ---------------

@dataclass
class Rig:
    """Real services (``build_services``) on a temporary store whose numbers are routed
    through the streams' endpoints, so that the monitor watches all of them."""

    services: Services
    numbers: dict[str, str]  # destination -> the E.164 key of a number routed through it
    log_path: Path


def build_rig(tmp: Path) -> Rig:
    path = tmp / "callshield.db"
    config = load_config(None, env={}, overrides={"store.path": str(path), "scoring.model": "rules", "monitor.enabled": True})
    store = RoutingStore(open_store(path), NumberIntel(config.scoring.home_country))
    numbers = {}
    for i, dest in enumerate(DESTS):  # each stream endpoint, its neighbour as the secondary
        numbers[dest] = store.set_number(f"+4420794601{i:02d}", f"PJSIP/{dest}", f"PJSIP/{DESTS[(i + 1) % len(DESTS)]}",
                                         label=f"bench {dest}", actor="bench")
    numbers[FAIL_DEST] = store.set_number(FAIL_NUMBER, f"PJSIP/{FAIL_DEST}", f"PJSIP/{FAIL_FALLBACK}",
                                          label="bench failover", actor="bench")
    store.db.close()
    return Rig(build_services(config), numbers, tmp / "serve.log")


def _on_port(config: Config, port: int) -> Config:
    return dataclasses.replace(config, monitor=dataclasses.replace(config.monitor, port=port))


def _wire(monitor: Monitor, on_event: Callable[[dict[str, str]], None], resynced: Callable[[], None]) -> AmiClient:
    """The client exactly as ``Monitor.__init__`` builds it, with ``on_event`` (which calls
    ``monitor.on_event``) counting or probing, and the end of the resync noted."""
    async def on_connected(client: AmiClient) -> None:
        await monitor.on_connected(client)
        resynced()

    monitor.client = AmiClient(monitor.config, SECRET, on_event, on_connected)
    return monitor.client


def _forget_outages(monitor: Monitor) -> None:
    for outage in monitor.table.health.outages():
        monitor.table.health.mark_up(outage.destination)


@contextlib.contextmanager
def _serve_logging(path: Path) -> Iterator[None]:
    """Log as ``callshield serve`` does (INFO, its format), to a file: the monitor logs
    qualify events and every transition on its event path."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger = logging.getLogger("callshield")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.setLevel(logging.ERROR)
        logger.removeHandler(handler)
        handler.close()


class MonitorTally(Tally):
    """``Monitor.on_event`` (the detector, and a transition applied to the routing table's
    TrunkHealth), plus the span's clocks."""

    def __init__(self, monitor: Monitor, expected: int, done: asyncio.Future[None]):
        super().__init__(expected, done)
        self.on_event = monitor.on_event
        self.resynced = False

    def __call__(self, ev: Any) -> None:
        self.on_event(ev)
        self.count += 1
        if self.count == 1:
            self.t_first, self.cpu_first = time.perf_counter(), time.process_time()
        if self.count == self.expected:
            self.t_last, self.cpu_last = time.perf_counter(), time.process_time()
            if not self.done.done():
                self.done.set_result(None)


async def run_monitor(rig: Rig, port: int, n: int, timeout: float) -> Tally:
    loop = asyncio.get_running_loop()
    monitor = Monitor(_on_port(rig.services.config, port), rig.services.screener.routes, SECRET)
    tally = MonitorTally(monitor, n, loop.create_future())
    client = _wire(monitor, tally, lambda: setattr(tally, "resynced", True))
    task = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(asyncio.shield(tally.done), timeout)
        # The resync's answers queue behind the events in the socket buffers, as they would
        # behind a real Asterisk's: on a short stream it may end after the last event.
        for _ in range(500):
            if tally.resynced or task.done():
                break
            await asyncio.sleep(0.01)
    finally:
        await client.close()
        task.cancel()
        await asyncio.wait({task})
        monitor.db.close()
        _forget_outages(monitor)
    tally.detail = {"watched": len(monitor.destinations()),  # type: ignore[attr-defined]
                    "tracked": len(monitor.detector.states()),
                    "transitions": monitor.transitions, "reconnects": client.reconnects,
                    "handler_errors": client.callback_errors, "resynced": tally.resynced}
    return tally


# -- failure to routing change -------------------------------------------------------

class Probe:
    """``Monitor.on_event``, then after every event the route decision of the number
    routed through FAIL_DEST, until it changes; the time of the change on the monotonic
    clock the server stamped the failure's events with."""

    def __init__(self, monitor: Monitor, key: str, done: asyncio.Future[None]):
        self.on_event = monitor.on_event
        self.table = monitor.table
        self.key = key
        self.policy = monitor.table.policy(key)
        self.done = done
        self.resynced = False
        self.resynced_before_failure = False
        self.first_sent: int | None = None
        self.changed_ns: int | None = None
        self.trigger_sent: int | None = None
        self.trigger = self.reason = self.route = ""

    def __call__(self, ev: dict[str, str]) -> None:
        self.on_event(ev)
        if self.changed_ns is not None:
            return
        sent = ev.get(SENT_FIELD)
        if sent is not None and self.first_sent is None:
            self.first_sent = int(sent)
            self.resynced_before_failure = self.resynced
        decision = self.table.decide(self.key, self.policy, SAFE)
        if decision.reason != "normal":
            self.changed_ns = time.monotonic_ns()
            self.reason, self.route = decision.reason, decision.route
            self.trigger = f"{ev.get('Event')} {ev.get('DialStatus') or ev.get('ContactStatus') or ''}".strip()
            self.trigger_sent = int(sent) if sent is not None else None
            if not self.done.done():
                self.done.set_result(None)


EXPECTED_TRIGGER = {"qualify": "ContactStatus Unreachable", "delivery": "DialEnd CHANUNAVAIL"}


async def run_latency(rig: Rig, kind: str, port: int, reps: int, timeout: float) -> list[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    out = []
    for _ in range(reps):
        monitor = Monitor(_on_port(rig.services.config, port), rig.services.screener.routes, SECRET)
        probe = Probe(monitor, rig.numbers[FAIL_DEST], loop.create_future())
        client = _wire(monitor, probe, lambda: setattr(probe, "resynced", True))
        task = asyncio.create_task(client.run())
        try:
            await asyncio.wait_for(asyncio.shield(probe.done), timeout)
        except TimeoutError:
            pass
        finally:
            await client.close()
            task.cancel()
            await asyncio.wait({task})
            monitor.db.close()
            _forget_outages(monitor)
        changed = probe.changed_ns is not None and probe.first_sent is not None
        ok = (changed and probe.reason == f"trunk_down:{FAIL_DEST}" and probe.route == f"PJSIP/{FAIL_FALLBACK}"
              and probe.trigger == EXPECTED_TRIGGER[kind] and probe.trigger_sent is not None)
        out.append({
            "ok": ok, "resynced_before_failure": probe.resynced_before_failure,
            "rerouted_before_failure": probe.changed_ns is not None and probe.first_sent is None,
            "reason": probe.reason, "route": probe.route, "trigger": probe.trigger,
            "from_first_ms": (probe.changed_ns - probe.first_sent) / 1e6 if changed else None,  # type: ignore[operator]
            "from_trigger_ms": (probe.changed_ns - probe.trigger_sent) / 1e6 if ok else None,  # type: ignore[operator]
        })
    return out


def _pct(values: list[float], q: float) -> float:
    """The q-th percentile, linear between closest ranks (numpy's default)."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _latency_stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"median_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    return {"median_ms": round(statistics.median(values), 3), "p99_ms": round(_pct(values, 99), 3),
            "max_ms": round(max(values), 3)}


def fidelity(events: list[dict[str, str]], kept: list[Any]) -> dict[str, int]:
    """Events delivered differently from what was sent: a field missing (``lost_empty_last``
    when only an empty last field, e.g. ``Value: ``, went missing) or a value changed
    (``changed_text``: characters dropped or replaced, e.g. UTF-8 split between reads)."""
    altered = lost_empty_last = changed_text = 0
    for sent, got in zip(events, kept):
        # panoramisk's Message adds a 'content' key (the body of a Response: Follows): not a field
        got_dict = {k: v for k, v in got.items() if not (k == "content" and "content" not in sent)}
        if got_dict == sent:
            continue
        altered += 1
        last_key = next(reversed(sent))
        if set(sent) - set(got_dict) == {last_key} and sent[last_key] == "" and \
                all(got_dict[k] == v for k, v in sent.items() if k != last_key):
            lost_empty_last += 1
        if any(k in got_dict and got_dict[k] != v for k, v in sent.items()):
            changed_text += 1
    altered += abs(len(events) - len(kept))
    return {"delivered": len(kept), "altered": altered, "lost_empty_last": lost_empty_last, "changed_text": changed_text}


# -- the benchmark -------------------------------------------------------------------

def run(args: argparse.Namespace) -> dict[str, Any]:
    try:
        import panoramisk  # noqa: F401
    except ImportError:
        raise SystemExit("the baseline needs panoramisk: .venv/bin/pip install -e '.[bench]' (make bench)") from None
    logging.getLogger("panoramisk").setLevel(logging.CRITICAL)
    logging.getLogger("callshield").setLevel(logging.ERROR)
    print(f"generating {args.events} events...", file=sys.stderr)
    events = make_events(args.events, args.seed)
    stream = encode(events)
    expected = dialend_tally(events)
    kinds: dict[str, int] = {}
    for ev in events:
        kinds[ev["Event"]] = kinds.get(ev["Event"], 0) + 1
    sample = events[: args.fidelity_events]
    plan = LatencyPlan(make_background(max(20_000, int(args.background_rate * (PRE_MAX + 1))), args.seed + 1),
                       args.background_rate, PRE_MIN, PRE_MAX, args.seed)

    # Both servers are forked before this process starts any thread (the services' writer).
    ctx = multiprocessing.get_context("fork")
    port_in, port_out = ctx.Pipe(duplex=False)
    server = ctx.Process(target=_server_main, args=(stream, port_out, not args.no_pin, plan), daemon=True)
    server.start()
    # the fidelity pass replays the first events only: a second server on a shorter stream
    f_in, f_out = ctx.Pipe(duplex=False)
    fserver = ctx.Process(target=_server_main, args=(encode(sample), f_out, not args.no_pin, plan), daemon=True)
    fserver.start()
    ports, fport = port_in.recv(), f_in.recv()["stream"]
    port = ports["stream"]
    pinned = not args.no_pin and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1
    loop_factory = None
    if args.loop == "uvloop":
        import uvloop

        loop_factory = uvloop.new_event_loop

    tmp = tempfile.TemporaryDirectory(prefix="callshield-bench-ami-")
    results: dict[str, list[dict[str, float]]] = {name: [] for name in RUNNERS}
    checks: dict[str, bool] = {}
    details: list[dict[str, Any]] = []
    latency: dict[str, list[dict[str, Any]]] = {}
    rig = None
    try:
        rig = build_rig(Path(tmp.name))
        # As ``callshield serve`` does after start-up (callshield.serve.tune_runtime): the 200,000
        # generated events stay out of the collector's sight, for every client alike.
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 50, 100)
        if pinned:
            os.sched_setaffinity(0, {CLIENT_CPU})
        runners: dict[str, Callable[..., Any]] = {**CLIENTS, "monitor": functools.partial(run_monitor, rig)}
        for r in range(args.runs):
            order = list(RUNNERS) if r % 2 == 0 else list(reversed(RUNNERS))
            for name in order:
                print(f"run {r + 1}/{args.runs}: {name}...", file=sys.stderr)
                with _serve_logging(rig.log_path) if name == "monitor" else contextlib.nullcontext():
                    tally = _run_loop(loop_factory, runners[name](port, len(events), args.timeout))
                span = tally.t_last - tally.t_first
                results[name].append({"events_per_s": (tally.count - 1) / span, "seconds": span,
                                      "cpu_us_per_event": (tally.cpu_last - tally.cpu_first) / (tally.count - 1) * 1e6})
                if name == "monitor":
                    d = tally.detail  # type: ignore[attr-defined]
                    details.append(d)
                    checks[f"monitor run {r + 1}: resynced {d['watched']} endpoints, every event through Monitor.on_event, "
                           f"no reconnect or handler error"] = (d["resynced"] and d["tracked"] >= len(DESTS)
                                                                and d["reconnects"] == 0 and d["handler_errors"] == 0)
                else:
                    checks[f"{name} run {r + 1}: every DialEnd status tallied"] = tally.statuses == expected
        for kind in FAILURE_KINDS:
            print(f"failure to routing change: {kind}, {args.latency_reps} times...", file=sys.stderr)
            with _serve_logging(rig.log_path):
                latency[kind] = _run_loop(loop_factory, run_latency(rig, kind, ports[kind], args.latency_reps, PRE_MAX + 5.0))
        fid: dict[str, dict[str, int]] = {}
        for name, fn in CLIENTS.items():
            print(f"fidelity: {name}...", file=sys.stderr)
            tally = _run_loop(loop_factory, fn(fport, len(sample), args.timeout, keep=True))
            fid[name] = fidelity(sample, tally.kept)
    finally:
        for proc in (server, fserver):
            proc.terminate()
            proc.join(5)
        if rig is not None and rig.services.writer is not None:
            rig.services.writer.close()
        tmp.cleanup()

    summary = {}
    for name, runs in results.items():
        rates = [x["events_per_s"] for x in runs]
        summary[name] = {"best_events_per_s": round(max(rates)), "median_events_per_s": round(statistics.median(rates)),
                         "worst_events_per_s": round(min(rates)),
                         "cpu_us_per_event_median": round(statistics.median(x["cpu_us_per_event"] for x in runs), 2),
                         "runs": [{k: round(v, 3) for k, v in x.items()} for x in runs]}
    best = summary["callshield"]["best_events_per_s"]
    checks[f"callshield best >= {TARGET_EVENTS_PER_S:,} events/s"] = best >= TARGET_EVENTS_PER_S
    checks[f"monitor (client + Monitor.on_event) best >= {TARGET_EVENTS_PER_S:,} events/s"] = \
        summary["monitor"]["best_events_per_s"] >= TARGET_EVENTS_PER_S
    checks["callshield delivers every event intact"] = fid["callshield"]["altered"] == 0

    lat_out: dict[str, Any] = {}
    for kind, reps in latency.items():
        good = [x for x in reps if x["ok"]]
        lat_out[kind] = {"reps": len(reps), "rerouted": len(good),
                         "resynced_before_failure": sum(x["resynced_before_failure"] for x in reps),
                         "from_first_event": _latency_stats([x["from_first_ms"] for x in good]),
                         "from_trigger": _latency_stats([x["from_trigger_ms"] for x in good]),
                         "trigger": EXPECTED_TRIGGER[kind], "samples": reps}
        worst = max((x["from_first_ms"] for x in good), default=float("inf"))
        checks[f"{kind}: every failure rerouted to {FAIL_FALLBACK}, none before it "
               f"({len(good)}/{len(reps)})"] = len(good) == len(reps) and not any(x["rerouted_before_failure"] for x in reps)
        checks[f"{kind}: the resync was done before every failure"] = all(x["resynced_before_failure"] for x in reps)
        checks[f"{kind}: failure to routing change, max <= {TARGET_LATENCY_MS:,} ms"] = worst <= TARGET_LATENCY_MS
    return {
        "events": len(events), "stream_bytes": len(stream), "mean_event_bytes": round(len(stream) / len(events)),
        "event_kinds": dict(sorted(kinds.items(), key=lambda kv: -kv[1])), "dialend": expected,
        "loop": args.loop, "pinned": pinned, "python": sys.version.split()[0],
        "panoramisk": _version("panoramisk"), "summary": summary, "fidelity": fid,
        "ratio_best": round(best / summary["panoramisk"]["best_events_per_s"], 2),
        "monitor": {"watched": details[0]["watched"] if details else 0, "runs": details},
        "latency": {"thresholds": {k: getattr(MonitorConfig(), k) for k in ("failures_to_down", "window", "hold_down",
                                                                             "reachable_for")},
                    "background_events_per_s": args.background_rate, "failure_after_s": [PRE_MIN, PRE_MAX],
                    "target_ms": TARGET_LATENCY_MS, **lat_out},
        "targets": checks,
    }


def _run_loop(factory: Callable[[], asyncio.AbstractEventLoop] | None, coro: Any) -> Any:
    loop = factory() if factory is not None else asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def render(out: dict[str, Any]) -> str:
    kinds = ", ".join(f"{k} {v}" for k, v in list(out["event_kinds"].items())[:8])
    lines = [f"{out['events']:,} events ({out['stream_bytes'] / 1e6:.1f} MB, {out['mean_event_bytes']} B each) over loopback TCP, "
             f"{out['loop']} loop, {'client CPU 0 / server CPU 1' if out['pinned'] else 'not pinned'}, "
             f"Python {out['python']}, panoramisk {out['panoramisk']}",
             f"mix: {kinds}, ...", "",
             f"{'client':<14}{'best ev/s':>12}{'median ev/s':>13}{'worst ev/s':>12}{'cpu us/ev':>11}"]
    for name in RUNNERS:
        s = out["summary"][name]
        lines.append(f"{name:<14}{s['best_events_per_s']:>12,}{s['median_events_per_s']:>13,}{s['worst_events_per_s']:>12,}"
                     f"{s['cpu_us_per_event_median']:>11.2f}")
    lines.append(f"callshield / panoramisk (best): {out['ratio_best']}x")
    mon = out["monitor"]
    transitions = ", ".join(str(d["transitions"]) for d in mon["runs"])
    lines.append(f"monitor = callshield's client + Monitor.on_event (detector, TrunkHealth) watching {mon['watched']} "
                 f"endpoints; transitions per run: {transitions}")
    lines.append("")
    lines.append(f"{'fidelity':<14}{'delivered':>12}{'altered':>13}{'lost empty last field':>23}{'text changed':>14}")
    for name, f in out["fidelity"].items():
        lines.append(f"{name:<14}{f['delivered']:>12,}{f['altered']:>13,}{f['lost_empty_last']:>23,}{f['changed_text']:>14,}")
    lat = out["latency"]
    th = lat["thresholds"]
    lines += ["", f"failure -> routing change (RoutingTable.decide says trunk_down:{FAIL_DEST}), default thresholds "
                  f"(failures_to_down {th['failures_to_down']}, window {th['window']:g} s), background "
                  f"{lat['background_events_per_s']:,.0f} events/s, failure after {lat['failure_after_s'][0]:g}-"
                  f"{lat['failure_after_s'][1]:g} s",
              f"{'failure':<44}{'from':<30}{'n':>4}{'median ms':>11}{'p99 ms':>9}{'max ms':>9}{'target ms':>11}"]
    rows = [("qualify", "ContactStatus Unreachable (1 event)", "from_first_event", "the event"),
            ("delivery", f"{th['failures_to_down']} x DialBegin .. DialEnd CHANUNAVAIL", "from_first_event",
             "1st failed call's DialBegin"),
            ("delivery", "", "from_trigger", "the 3rd DialEnd CHANUNAVAIL")]
    for kind, label, key, start in rows:
        if kind not in lat:
            continue
        s = lat[kind][key]
        lines.append(f"{label:<44}{start:<30}{lat[kind]['rerouted']:>4}{s['median_ms']:>11.3f}{s['p99_ms']:>9.3f}"
                     f"{s['max_ms']:>9.3f}{lat['target_ms']:>11,}")
    lines.append("(with delivery failures the wall time is how fast three calls fail in real life: here they fail back to back)")
    lines.append("")
    for check, ok in out["targets"].items():
        lines.append(f"{'PASS' if ok else 'FAIL'}  {check}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=200_000, help="events in the stream [200000]")
    p.add_argument("--runs", type=int, default=3, help="timed runs per client [3]")
    p.add_argument("--fidelity-events", type=int, default=50_000, help="events compared field by field [50000]")
    p.add_argument("--latency-reps", type=int, default=30, help="failures of each kind timed to the routing change [30]")
    p.add_argument("--background-rate", type=float, default=2_000.0,
                   help="background events/s around the failure [2000, a busy PBX]")
    p.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop", help="event loop (serve's default: uvloop)")
    p.add_argument("--seed", type=int, default=7, help="stream seed [7]")
    p.add_argument("--timeout", type=float, default=60.0, help="give up on a run after this many seconds [60]")
    p.add_argument("--no-pin", action="store_true", help="do not pin client and server to separate CPUs")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = p.parse_args(argv)
    out = run(args)
    print(json.dumps(out, indent=2) if args.json else render(out))
    return 0 if all(out["targets"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())

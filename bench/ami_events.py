#!/usr/bin/env python3
"""Benchmark: AMI events parsed and dispatched per second, callshield's client vs panoramisk.

Run:  .venv/bin/python bench/ami_events.py [--events N] [--runs R] [--loop uvloop|asyncio] [--json]

A small asyncio AMI server, in its own process (pinned to CPU 1), plays Asterisk: it
sends the banner, answers the Login, then writes a recorded-style stream of N events
(default 200,000) as fast as the socket takes them, over real loopback TCP. The stream
is generated here, seeded, with the fields Asterisk 22 sends (modelled on a trace of the
real sandbox): calls of Newchannel, VarSet, Newexten, DialBegin, DialState, DialEnd
(ANSWER / BUSY / NOANSWER / CHANUNAVAIL / CONGESTION), bridges, HangupRequest, Hangup,
RTCPSent/RTCPReceived during answered calls, and ContactStatus changes; a fifth of the
callers carry a non-ASCII (UTF-8) caller name, as SIP display names do.

Side by side, in the same process (pinned to CPU 0) and on the same stream, one after
the other, ``--runs`` times each:

- ``callshield``: ``callshield.ami_monitor.client.AmiClient`` with an ``on_event``;
- ``panoramisk``: ``panoramisk.Manager`` (1.4) with ``register_event('*', callback)``.

Both callbacks do what the failure detector does at the least: read ``Event``, and for
DialEnd, Hangup and ContactStatus two fields, tallying DialEnd statuses (checked against
the stream). Throughput is events / time from the first to the last event the callback
got; ``cpu us/event`` is this process's CPU time over the same span. A fidelity pass
(untimed, 1 run each) then compares every event each client delivered with the event
that was sent, field by field. Exit status 0 when callshield reaches the target
(>= 20,000 events/s, best run) and delivers every event intact.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import multiprocessing
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from callshield.ami_monitor.client import AmiClient  # noqa: E402
from callshield.config import MonitorConfig  # noqa: E402

TARGET_EVENTS_PER_S = 20_000
CLIENT_CPU, SERVER_CPU = 0, 1
CHUNK = 64 * 1024
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
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


def _call(rng: random.Random, n: int, t: float) -> list[dict[str, str]]:
    """The events of one inbound call delivered by Dial() to a PJSIP destination."""
    caller = f"+4420{rng.randrange(10**7, 10**8)}"
    ddi = f"+44207{rng.randrange(10**6, 10**7)}"
    name = rng.choice(NAMES) if rng.random() < 0.2 else rng.choice(NAMES[:5])
    dest = rng.choice(DESTS)
    status = rng.choices([s for s, _ in DIAL_STATUSES], [w for _, w in DIAL_STATUSES])[0]
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


async def _serve(stream: bytes, port_out: Any) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(BANNER)
            while True:
                action = _fields(await reader.readuntil(b"\r\n\r\n"))
                reply = f"Response: Success\r\nActionID: {action.get('actionid', '')}\r\n"
                if action.get("action", "").lower() == "login":
                    writer.write((reply + "Message: Authentication accepted\r\n\r\n").encode())
                    break
                writer.write((reply + "\r\n").encode())
            view = memoryview(stream)
            for i in range(0, len(stream), CHUNK):
                writer.write(view[i:i + CHUNK])
                await writer.drain()
            while True:  # answer what comes next (a Logoff) until the client leaves
                action = _fields(await reader.readuntil(b"\r\n\r\n"))
                if action.get("action", "").lower() == "logoff":
                    writer.write(f"Response: Goodbye\r\nActionID: {action.get('actionid', '')}\r\n\r\n".encode())
                    break
                writer.write(f"Response: Success\r\nActionID: {action.get('actionid', '')}\r\n\r\n".encode())
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port_out.send(server.sockets[0].getsockname()[1])
    await server.serve_forever()


def _server_main(stream: bytes, port_out: Any, pin: bool) -> None:
    if pin and hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > 1:  # type: ignore[operator]
        os.sched_setaffinity(0, {SERVER_CPU})
    asyncio.run(_serve(stream, port_out))


# -- the two clients -------------------------------------------------------------------

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
        raise SystemExit("the baseline needs panoramisk: .venv/bin/pip install -e '.[test]'") from None
    logging.getLogger("panoramisk").setLevel(logging.CRITICAL)
    logging.getLogger("callshield").setLevel(logging.ERROR)
    print(f"generating {args.events} events...", file=sys.stderr)
    events = make_events(args.events, args.seed)
    stream = encode(events)
    expected = dialend_tally(events)
    # As ``callshield serve`` does after start-up (callshield.serve.tune_runtime): the 200,000
    # generated events stay out of the collector's sight, for both clients alike.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    kinds: dict[str, int] = {}
    for ev in events:
        kinds[ev["Event"]] = kinds.get(ev["Event"], 0) + 1

    ctx = multiprocessing.get_context("fork")
    port_in, port_out = ctx.Pipe(duplex=False)
    server = ctx.Process(target=_server_main, args=(stream, port_out, not args.no_pin), daemon=True)
    server.start()
    port = port_in.recv()
    pinned = not args.no_pin and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1
    if pinned:
        os.sched_setaffinity(0, {CLIENT_CPU})
    loop_factory = None
    if args.loop == "uvloop":
        import uvloop

        loop_factory = uvloop.new_event_loop

    results: dict[str, list[dict[str, float]]] = {name: [] for name in CLIENTS}
    checks: dict[str, bool] = {}
    try:
        for r in range(args.runs):
            order = list(CLIENTS) if r % 2 == 0 else list(reversed(CLIENTS))
            for name in order:
                print(f"run {r + 1}/{args.runs}: {name}...", file=sys.stderr)
                tally = _run_loop(loop_factory, CLIENTS[name](port, len(events), args.timeout))
                span = tally.t_last - tally.t_first
                results[name].append({"events_per_s": (tally.count - 1) / span, "seconds": span,
                                      "cpu_us_per_event": (tally.cpu_last - tally.cpu_first) / (tally.count - 1) * 1e6})
                checks[f"{name} run {r + 1}: every DialEnd status tallied"] = tally.statuses == expected
        fid: dict[str, dict[str, int]] = {}
        sample = events[: args.fidelity_events]
        # the fidelity pass replays the first events only: a second server on a shorter stream
        f_in, f_out = ctx.Pipe(duplex=False)
        fserver = ctx.Process(target=_server_main, args=(encode(sample), f_out, not args.no_pin), daemon=True)
        fserver.start()
        fport = f_in.recv()
        try:
            for name, fn in CLIENTS.items():
                print(f"fidelity: {name}...", file=sys.stderr)
                tally = _run_loop(loop_factory, fn(fport, len(sample), args.timeout, keep=True))
                fid[name] = fidelity(sample, tally.kept)
        finally:
            fserver.terminate()
            fserver.join(5)
    finally:
        server.terminate()
        server.join(5)

    summary = {}
    for name, runs in results.items():
        rates = [x["events_per_s"] for x in runs]
        summary[name] = {"best_events_per_s": round(max(rates)), "median_events_per_s": round(statistics.median(rates)),
                         "worst_events_per_s": round(min(rates)),
                         "cpu_us_per_event_median": round(statistics.median(x["cpu_us_per_event"] for x in runs), 2),
                         "runs": [{k: round(v, 3) for k, v in x.items()} for x in runs]}
    best = summary["callshield"]["best_events_per_s"]
    checks[f"callshield best >= {TARGET_EVENTS_PER_S:,} events/s"] = best >= TARGET_EVENTS_PER_S
    checks["callshield delivers every event intact"] = fid["callshield"]["altered"] == 0
    return {
        "events": len(events), "stream_bytes": len(stream), "mean_event_bytes": round(len(stream) / len(events)),
        "event_kinds": dict(sorted(kinds.items(), key=lambda kv: -kv[1])), "dialend": expected,
        "loop": args.loop, "pinned": pinned, "python": sys.version.split()[0],
        "panoramisk": _version("panoramisk"), "summary": summary, "fidelity": fid,
        "ratio_best": round(best / summary["panoramisk"]["best_events_per_s"], 2),
        "targets": checks,
    }


def _run_loop(factory: Callable[[], asyncio.AbstractEventLoop] | None, coro: Any) -> Tally:
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
    for name, s in out["summary"].items():
        lines.append(f"{name:<14}{s['best_events_per_s']:>12,}{s['median_events_per_s']:>13,}{s['worst_events_per_s']:>12,}"
                     f"{s['cpu_us_per_event_median']:>11.2f}")
    lines.append(f"callshield / panoramisk (best): {out['ratio_best']}x")
    lines.append("")
    lines.append(f"{'fidelity':<14}{'delivered':>12}{'altered':>13}{'lost empty last field':>23}{'text changed':>14}")
    for name, f in out["fidelity"].items():
        lines.append(f"{name:<14}{f['delivered']:>12,}{f['altered']:>13,}{f['lost_empty_last']:>23,}{f['changed_text']:>14,}")
    lines.append("")
    for check, ok in out["targets"].items():
        lines.append(f"{'PASS' if ok else 'FAIL'}  {check}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=200_000, help="events in the stream [200000]")
    p.add_argument("--runs", type=int, default=3, help="timed runs per client [3]")
    p.add_argument("--fidelity-events", type=int, default=50_000, help="events compared field by field [50000]")
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

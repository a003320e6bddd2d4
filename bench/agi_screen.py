#!/usr/bin/env python3
"""Benchmark: callshield's FastAGI screen path against a per-call AGI process.

Run:  .venv/bin/python bench/agi_screen.py [--calls N] [--concurrency C] [--json]

Section ``agi_screen`` (the default and, for now, the only one):

1. callshield: the real ``callshield serve`` runs as a subprocess pinned to CPU 0; this
   process (pinned to CPU 1) plays Asterisk: it opens one FastAGI connection per call,
   sends the ``agi_*`` environment, answers every command the server sends as Asterisk
   22 would, and times each session from connect to the server's close.
2. baseline: ``bench/percall_agi.py`` started as a new process per call (what
   ``AGI(script.py)`` does), pinned to CPU 0, with the same environment and replies.

See bench/README.md for what is measured, the figures on the reference machine and the
caveats. The script is organised in sections (``SECTIONS``): each is a function taking
the parsed arguments and returning a JSON-able dict, plus a text renderer, so another
measurement (e.g. post-dial delay through a real Asterisk) can be added as a section.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import functools
import json
import os
import random
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from callshield.agi.signal_reader import FIELDS  # noqa: E402  (the wire order of the screen read)
from tests.support.asterisk_parse import mset as asterisk_mset  # noqa: E402  (MSet's parser, modelled)

VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable))
PERCALL_SCRIPT = ROOT / "bench" / "percall_agi.py"
HOST = "127.0.0.1"
SERVER_CPU = 0  # callshield serve and the per-call scripts
CLIENT_CPU = 1  # this process: the Asterisk side and the load generator
ASTERISK_VERSION = "22.10.1"

SESSION_TIMEOUT = 30.0  # a session still open after this counts as failed

TARGET_CALLS_PER_S = 1000.0
TARGET_P99_MS = 5.0
TARGET_RATIO = 20.0
TARGET_CPU_US = 400.0  # serve CPU per screened call, all threads (issue 10's budget: >= 2,500 calls per core-second)


# ---------------------------------------------------------------------------
# The calls: a realistic, reproducible mix of callers, headers and dialled numbers
# ---------------------------------------------------------------------------

DDIS = ("+442071234567", "+442079460000", "+441614960123", "+448081570000")
SBC = "sbc.carrier.example.net"
SOURCE = "203.0.113.7:5060"
CERT_URL = "https://cert.example.net/c.pem"
USER_AGENTS = ("Carrier SBC 4.2.1", "Ribbon SBC SWe 11.1", "Oracle ESBC 9.2", "FPBX-16.0.40(18.9.0)", "Sonus SBC 8.0")
# A robocaller campaign and a few regulars: the numbers that repeat.
HOT_NUMBERS = ("+447955900321", "+12025550187", "+442079460999", "+447400900555", "+2348031234567")
# Fields of callshield's signalling read that make_calls fills; any other field is answered empty
# (as Asterisk does for a missing header) and reported, so a new field does not go unnoticed.
KNOWN_FIELDS = {"from_header", "pai", "privacy", "identity", "user_agent", "diversion", "sip_call_id",
                "via1", "via2", "via3", "via4", "presentation", "source", "channel_state", "max_forwards", "contact",
                "header_names", "codecs",
                "drill"}  # set only on failover-drill test calls: empty on every call of a real carrier's
UNKNOWN_FIELDS = sorted({name for name, _ in FIELDS} - KNOWN_FIELDS)


@dataclass
class Call:
    index: int
    ddi: str
    uniqueid: str
    channel: str
    callerid: str
    calleridname: str
    callingpres: int
    variables: dict[str, str]  # dialplan expression (inside ${...}) -> value
    set_vars: dict[str, str] = field(default_factory=dict)  # what the AGI set on the "channel"

    def env_lines(self, request: str, script: str | None) -> bytes:
        """The agi_* environment exactly as res_agi sends it (launch_netscript + setup_env)."""
        lines = []
        if script is not None:
            lines += [("agi_network", "yes"), ("agi_network_script", script)]
        lines += [
            ("agi_request", request),
            ("agi_channel", self.channel),
            ("agi_language", "en"),
            ("agi_type", "PJSIP"),
            ("agi_uniqueid", self.uniqueid),
            ("agi_version", ASTERISK_VERSION),
            ("agi_callerid", self.callerid),
            ("agi_calleridname", self.calleridname),
            ("agi_callingpres", str(self.callingpres)),
            ("agi_callingani2", "0"),
            ("agi_callington", "0"),
            ("agi_callingtns", "0"),
            ("agi_dnid", self.ddi),
            ("agi_rdnis", "unknown"),
            # The include runs the AGI inside Gosub(callshield-screen,s,1(${EXTEN})).
            ("agi_context", "callshield-screen"),
            ("agi_extension", "s"),
            ("agi_priority", "9"),
            ("agi_enhanced", "0.0"),
            ("agi_accountcode", ""),
            ("agi_threadid", str(140_235_812_370_112 + (self.index % 64) * 8_392_704)),
            ("agi_arg_1", self.ddi),
        ]
        return ("".join(f"{k}: {v}\n" for k, v in lines) + "\n").encode()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def passport(rng: random.Random, orig: str, dest: str, attest: str, iat: int) -> str:
    """An Identity header value: a SHAKEN PASSporT as a compact JWT (signature is random)."""
    header = {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": CERT_URL}
    claims = {
        "attest": attest,
        "dest": {"tn": [dest.lstrip("+")]},
        "iat": iat,
        "orig": {"tn": orig.lstrip("+")},
        "origid": "%08x-%04x-4%03x-a%03x-%012x" % (rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(12), rng.getrandbits(12), rng.getrandbits(48)),
    }
    jwt = ".".join((
        _b64url(json.dumps(header, separators=(",", ":")).encode()),
        _b64url(json.dumps(claims, separators=(",", ":")).encode()),
        _b64url(rng.randbytes(64)),
    ))
    return f"{jwt};info=<{CERT_URL}>;alg=ES256;ppt=shaken"


def _caller(rng: random.Random) -> tuple[str, str]:
    """(kind, E.164 number) of a caller: 70% UK (geographic, mobile), 15% US, 15% elsewhere."""
    r = rng.random()
    if r < 0.40:
        return "uk", rng.choice(("+44207946", "+44161496", "+44113496", "+44117496")) + f"{rng.randrange(10000):04d}"
    if r < 0.70:
        return "uk", f"+447{rng.choice(('400', '583', '723', '955'))}{rng.randrange(10**6):06d}"
    if r < 0.85:
        return "us", f"+1{rng.choice(('202', '312', '415', '646'))}55501{rng.randrange(100):02d}"
    return "intl", rng.choice((
        f"+3314020{rng.randrange(10000):04d}",
        f"+4930901820{rng.randrange(100):02d}",
        f"+9198{rng.randrange(10**8):08d}",
        f"+234803{rng.randrange(10**7):07d}",
        f"+61291{rng.randrange(10**6):06d}",
    ))


def _as_sent(rng: random.Random, number: str) -> str:
    """Carriers send E.164, E.164 without the '+', or national format."""
    r = rng.random()
    if r < 0.7:
        return number
    if r < 0.9:
        return number.lstrip("+")
    return "0" + number[3:] if number.startswith("+44") else number


def make_calls(count: int, seed: int, first_index: int = 0) -> list[Call]:
    """`count` calls: 10% from a few repeat callers, 12% withheld (a quarter of them with no
    network number), 3% with no caller ID, 2% spoofed invalid numbers, the rest fresh callers;
    Identity (with verstat in the PAI) on US calls and a quarter of the others; numbers sent
    as E.164, without '+', or in national format, as carriers do."""
    rng = random.Random(seed)
    now = int(time.time())
    calls = []
    for i in range(first_index, first_index + count):
        ddi = rng.choice(DDIS)
        tag = f"{rng.getrandbits(40):010x}"
        r = rng.random()
        withheld = no_cli = False
        if r < 0.10:
            number = rng.choice(HOT_NUMBERS)
            kind = "us" if number.startswith("+1") else "uk"
        elif r < 0.22:
            withheld = True
            kind, number = _caller(rng)
            if rng.random() < 0.25:
                number = ""  # withheld with no network-asserted number
        elif r < 0.25:
            no_cli = True
            kind, number = "uk", ""
        elif r < 0.27:
            kind, number = "uk", f"+4460{rng.randrange(10**8):08d}"  # a spoofed CLI from an unallocated range
        else:
            kind, number = _caller(rng)
        sent = _as_sent(rng, number) if number else ""
        name = rng.choice(("", "", "J SMITH", "ACME LTD", "WIRELESS CALLER"))
        has_identity = bool(number) and (kind == "us" or rng.random() < 0.25)
        attest = rng.choices("ABC", weights=(70, 20, 10))[0]
        verstat = rng.choices(("TN-Validation-Passed", "TN-Validation-Failed", "No-TN-Validation"), weights=(85, 10, 5))[0]

        if withheld:
            from_header = f'"Anonymous" <sip:anonymous@anonymous.invalid>;tag={tag}'
            privacy = "id"
            pres = "prohib_not_screened"
            callingpres = 32  # AST_PRES_PROHIB_USER_NUMBER_NOT_SCREENED
        elif no_cli:
            from_header = f"<sip:{SBC}>;tag={tag}"
            privacy = ""
            pres = "allowed_not_screened"
            callingpres = 0
        else:
            display = f'"{name}" ' if name else ""
            from_header = f"{display}<sip:{sent}@{SBC};user=phone>;tag={tag}"
            privacy = "none" if rng.random() < 0.1 else ""
            pres = rng.choice(("allowed_not_screened", "allowed_passed_screen"))
            callingpres = 0 if pres == "allowed_not_screened" else 1
        pai = ""
        if number:
            pai = f"<sip:{number}@{SBC};user=phone" + (f";verstat={verstat}" if has_identity else "") + ">"
        identity = passport(rng, number, ddi, attest, now - rng.randrange(5)) if has_identity else ""
        branch = f"z9hG4bK{rng.getrandbits(64):016x}"
        via1 = f"SIP/2.0/UDP {SOURCE};rport=5060;received=203.0.113.7;branch={branch}"
        via2 = f"SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bK{rng.getrandbits(48):012x}" if rng.random() < 0.4 else ""
        diversion = "<sip:+442071234000@pbx.example.com>;reason=unconditional;counter=1" if rng.random() < 0.05 else ""
        ua = "friendly-scanner" if rng.random() < 0.01 else rng.choice(USER_AGENTS)
        # The INVITE's header names in arrival order, as PJSIP_HEADERS() lists them (each once).
        names = ["Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "User-Agent", "Allow", "Supported"]
        names += ["Session-Expires"] if rng.random() < 0.6 else []
        names += [n for n, v in (("P-Asserted-Identity", pai), ("Privacy", privacy), ("Identity", identity),
                                 ("Diversion", diversion)) if v]
        names += ["Content-Type", "Content-Length"]
        hops = 1 if not via2 else 2
        by_field = {
            "from_header": from_header,
            "pai": pai,
            "privacy": privacy,
            "identity": identity,
            "user_agent": ua,
            "diversion": diversion,
            "sip_call_id": f"{rng.getrandbits(96):024x}@203.0.113.7",
            "via1": via1,
            "via2": via2,
            "presentation": pres,
            "source": SOURCE,
            "channel_state": "Ring",
            "max_forwards": str(70 - hops),
            "contact": f"<sip:{sent or 'anonymous'}@{SOURCE};transport=udp>",
            "header_names": ",".join(names),
            "codecs": rng.choice(("(ulaw|alaw)", "(alaw|ulaw)", "(ulaw)", "(g722|ulaw|alaw)")),
        }
        # The channel's values keyed by the dialplan expression callshield reads for each field
        # (callshield.agi.signal_reader.FIELDS), so the reply follows its wire order exactly.
        variables = {expr[2:-1]: by_field.get(name, "") for name, expr in FIELDS}
        # What other readers (the per-call script) ask for.
        variables["PJSIP_HEADER(read,Via)"] = via1
        variables["CALLERID(num)"] = sent or ("anonymous" if withheld else "")
        # A trunk with trust_id_inbound takes caller ID from the PAI, even with Privacy: id (seen
        # on a real 22.10.1); res_agi prints "unknown" for an empty one.
        callerid = number or sent or ("anonymous" if withheld else "unknown")
        calls.append(Call(
            index=i, ddi=ddi, uniqueid=f"{now}.{i}", channel=f"PJSIP/carrier-{i:08x}",
            callerid=callerid, calleridname="Anonymous" if withheld else (name or "unknown"),
            callingpres=callingpres, variables=variables,
        ))
    return calls


# ---------------------------------------------------------------------------
# The Asterisk side: answer each AGI command as res_agi does
# ---------------------------------------------------------------------------

# ${BASE64_ENCODE(<mark>${X})} (the mark: a literal prefix, callshield.agi.signal_reader.MARK) or ${X}.
_EXPR_RE = re.compile(r"\$\{BASE64_ENCODE\(([^${}]*)\$\{([^{}]*)\}\)\}|\$\{([^{}]*)\}")
_TEMPLATES: dict[str, list[tuple[int, Any]]] = {}
LITERAL, B64, VAR = 0, 1, 2


def _template(expression: str) -> list[tuple[int, Any]]:
    """Compile a dialplan expression into literal / ${X} / ${BASE64_ENCODE(${X})} parts (cached)."""
    parts = _TEMPLATES.get(expression)
    if parts is None:
        parts, pos = [], 0
        for m in _EXPR_RE.finditer(expression):
            if m.start() > pos:
                parts.append((LITERAL, expression[pos:m.start()]))
            parts.append((B64, (m.group(1), m.group(2))) if m.group(2) is not None else (VAR, m.group(3)))
            pos = m.end()
        if pos < len(expression):
            parts.append((LITERAL, expression[pos:]))
        _TEMPLATES[expression] = parts
    return parts


def substitute(expression: str, variables: dict[str, str]) -> str:
    out = []
    for kind, text in _template(expression):
        if kind == LITERAL:
            out.append(text)
        elif kind == B64:
            mark, name = text
            out.append(base64.b64encode((mark + variables.get(name, "")).encode()).decode())
        else:
            out.append(variables.get(text, ""))
    return "".join(out)


_WORD_RE = re.compile(r'(?:"[^"]*"|[^\s"])+')


@functools.lru_cache(maxsize=4096)
def agi_args(line: str) -> tuple[str, ...]:
    """Split a command line as res_agi's parse_args does: quotes group, backslash escapes."""
    if "\\" not in line and line.count('"') % 2 == 0:  # the common case, done by a regex
        return tuple(w.replace('"', "") for w in _WORD_RE.findall(line))
    args: list[str] = []
    cur: list[str] = []
    quoted = escaped = started = False
    for ch in line:
        if escaped:
            cur.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = started = True
        elif ch == '"':
            quoted = not quoted
            started = True
        elif ch in " \t" and not quoted:
            if started:
                args.append("".join(cur))
                cur, started = [], False
        else:
            cur.append(ch)
            started = True
    if started:
        args.append("".join(cur))
    return tuple(args)


def asterisk_reply(raw: bytes, call: Call) -> bytes:
    """The reply line Asterisk sends for one AGI command line from the script/server."""
    args = agi_args(raw.decode("utf-8", "replace").rstrip("\r\n"))
    words = [a.upper() for a in args[:3]]
    if words[:3] == ["GET", "FULL", "VARIABLE"] and len(args) >= 4:
        return f"200 result=1 ({substitute(args[3], call.variables)})\n".encode()
    if words[:2] == ["SET", "VARIABLE"] and len(args) >= 4:
        call.set_vars[args[2]] = args[3]
        return b"200 result=1\n"
    if words[:1] == ["EXEC"] and len(args) >= 2:
        if args[1].lower() == "mset" and len(args) >= 3:
            call.set_vars.update(asterisk_mset(args[2]))  # commas escaped as Asterisk reads them
        return b"200 result=0\n"
    return b"510 Invalid or unknown command\n"


# ---------------------------------------------------------------------------
# Sessions: FastAGI over TCP, and a process per call over pipes
# ---------------------------------------------------------------------------

class _FastAgiAsterisk(asyncio.Protocol):
    """The Asterisk end of one FastAGI connection: send the environment, answer each line."""

    def __init__(self, call: Call, env: bytes, done: asyncio.Future[float]):
        self.call, self.env, self.done = call, env, done
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport subclass
        transport.write(self.env)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if b"\n" not in self.buffer:
            return
        *lines, self.buffer = self.buffer.split(b"\n")
        assert self.transport is not None
        self.transport.write(b"".join(asterisk_reply(line, self.call) for line in lines))

    def eof_received(self) -> bool:
        # The server closed the session: this is where res_agi's AGI() returns.
        if not self.done.done():
            self.done.set_result(time.perf_counter())
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            if exc is None:
                self.done.set_result(time.perf_counter())
            else:
                self.done.set_exception(exc)


async def fastagi_session(port: int, call: Call, script: str = "screen") -> float:
    """One call through the FastAGI server; returns seconds from connect to the server's close."""
    env = call.env_lines(f"agi://{HOST}:{port}/{script}", script)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()
    started = time.perf_counter()
    transport, _ = await loop.create_connection(lambda: _FastAgiAsterisk(call, env, done), HOST, port)
    try:
        return await done - started
    finally:
        transport.close()


def _pin_to_server_cpu() -> None:
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {SERVER_CPU})


async def percall_session(call: Call, env: dict[str, str], stderr: int, pin: bool, python: str = PYTHON) -> float:
    """One call through a fresh `AGI(percall_agi.py,DDI)` process; seconds from fork to exit."""
    lines = call.env_lines(str(PERCALL_SCRIPT), None)
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        python, str(PERCALL_SCRIPT), call.ddi,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env,
        preexec_fn=_pin_to_server_cpu if pin else None,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(lines)
        while True:
            line = await proc.stdout.readline()
            if not line:
                break
            proc.stdin.write(asterisk_reply(line, call))
        await proc.wait()
        return time.perf_counter() - started
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


# ---------------------------------------------------------------------------
# Load generation and statistics
# ---------------------------------------------------------------------------

@dataclass
class RunResult:
    latencies: list[float]
    wall: float
    errors: list[str]
    client_cpu: float
    server_cpu: float | None
    server_main_cpu: float | None
    children_cpu: float
    core_busy: dict[int, float]
    core_steal: dict[int, float]

    def summary(self, concurrency: int | None) -> dict[str, Any]:
        n = len(self.latencies)
        ms = sorted(x * 1e3 for x in self.latencies)
        out: dict[str, Any] = {
            "calls": n,
            "concurrency": concurrency,
            "wall_s": round(self.wall, 3),
            "calls_per_s": round(n / self.wall, 1) if self.wall > 0 else 0.0,
            "p50_ms": round(percentile(ms, 50), 3),
            "p99_ms": round(percentile(ms, 99), 3),
            "mean_ms": round(statistics.fmean(ms), 3) if ms else 0.0,
            "max_ms": round(ms[-1], 3) if ms else 0.0,
            "errors": len(self.errors),
            "client_cpu_util": round(self.client_cpu / self.wall, 3) if self.wall > 0 else 0.0,
            "core_busy": {f"cpu{k}": round(v, 3) for k, v in sorted(self.core_busy.items())},
            "core_steal": {f"cpu{k}": round(v, 3) for k, v in sorted(self.core_steal.items())},
        }
        if self.server_cpu is not None:
            out["server_cpu_util"] = round(self.server_cpu / self.wall, 3)
            if self.server_main_cpu is not None:
                # The event loop thread vs the rest (the call-record writer, list reloads).
                out["server_cpu_per_call_us"] = {
                    "total": round(self.server_cpu / n * 1e6, 1) if n else 0.0,
                    "event_loop_thread": round(self.server_main_cpu / n * 1e6, 1) if n else 0.0,
                    "other_threads": round((self.server_cpu - self.server_main_cpu) / n * 1e6, 1) if n else 0.0,
                }
        if self.children_cpu:
            out["children_cpu_util"] = round(self.children_cpu / self.wall, 3)
        if self.errors:
            out["first_errors"] = self.errors[:5]
        return out


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return sorted_values[int(min(rank, len(sorted_values))) - 1]


def _proc_cpu(pid: int | None) -> float | None:
    """User+system CPU seconds of a process (all threads) from /proc."""
    return None if pid is None else _proc_cpu_path(f"/proc/{pid}/stat")


def _thread_cpu(pid: int | None) -> dict[int, float]:
    """CPU seconds per thread of a process (tid -> seconds)."""
    out: dict[int, float] = {}
    if pid is None:
        return out
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            cpu = _proc_cpu_path(f"/proc/{pid}/task/{tid}/stat")
            if cpu is not None:
                out[int(tid)] = cpu
    return out


def _proc_cpu_path(path: str) -> float | None:
    try:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _core_ticks() -> dict[int, tuple[int, int, int]]:
    """(busy, steal, total) jiffies per CPU from /proc/stat (steal: taken by the hypervisor)."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            name, *vals = line.split()
            nums = [int(v) for v in vals[:8]] + [0] * (8 - len(vals[:8]))
            idle, steal = nums[3] + nums[4], nums[7]
            out[int(name[3:])] = (sum(nums) - idle - steal, steal, sum(nums))
    return out


class Meter:
    """CPU used by this process, its reaped children, a server pid and each core over a phase."""

    def __init__(self, server_pid: int | None = None):
        self.server_pid = server_pid

    def __enter__(self) -> "Meter":
        t = os.times()
        self._self0, self._kids0 = t.user + t.system, t.children_user + t.children_system
        self._server0 = _proc_cpu(self.server_pid)
        self._threads0 = _thread_cpu(self.server_pid)
        self._cores0 = _core_ticks()
        self._wall0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall0
        t = os.times()
        self.client_cpu = t.user + t.system - self._self0
        self.children_cpu = t.children_user + t.children_system - self._kids0
        s1 = _proc_cpu(self.server_pid)
        self.server_cpu = None if s1 is None or self._server0 is None else s1 - self._server0
        threads1 = _thread_cpu(self.server_pid)
        self.server_main_cpu = threads1.get(self.server_pid, 0.0) - self._threads0.get(self.server_pid, 0.0) if threads1 else None
        cores1 = _core_ticks()
        self.core_busy = {
            c: (b1 - self._cores0[c][0]) / max(1, t1 - self._cores0[c][2])
            for c, (b1, _, t1) in cores1.items() if c in self._cores0
        }
        self.core_steal = {
            c: (s1 - self._cores0[c][1]) / max(1, t1 - self._cores0[c][2])
            for c, (_, s1, t1) in cores1.items() if c in self._cores0
        }


async def closed_loop(session: Callable[[Call], Awaitable[float]], calls: list[Call], concurrency: int,
                      server_pid: int | None = None) -> RunResult:
    """`concurrency` sessions always in flight until every call has run."""
    latencies: list[float] = []
    errors: list[str] = []
    queue = iter(calls)

    async def worker() -> None:
        for call in queue:
            try:
                latencies.append(await asyncio.wait_for(session(call), SESSION_TIMEOUT))
            except Exception as exc:  # a failed session is counted, not fatal
                errors.append(f"call {call.index}: {type(exc).__name__}: {exc}")

    with Meter(server_pid) as m:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return RunResult(latencies, m.wall, errors, m.client_cpu, m.server_cpu, m.server_main_cpu, m.children_cpu, m.core_busy, m.core_steal)


async def open_loop(session: Callable[[Call], Awaitable[float]], calls: list[Call], rate: float,
                    server_pid: int | None = None) -> RunResult:
    """Calls arrive on a fixed schedule (`rate` per second) whatever the latency; each
    latency counts from the call's scheduled arrival, so client lag is not hidden."""
    latencies: list[float] = []
    errors: list[str] = []
    tasks: set[asyncio.Task[None]] = set()

    async def one(call: Call, due: float) -> None:
        try:
            await asyncio.wait_for(session(call), SESSION_TIMEOUT)
            latencies.append(time.perf_counter() - due)
        except Exception as exc:
            errors.append(f"call {call.index}: {type(exc).__name__}: {exc}")

    with Meter(server_pid) as m:
        start = time.perf_counter()
        for i, call in enumerate(calls):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(call, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
    return RunResult(latencies, m.wall, errors, m.client_cpu, m.server_cpu, m.server_main_cpu, m.children_cpu, m.core_busy, m.core_steal)


def interference(summary: dict[str, Any], server_key: str) -> dict[str, float]:
    """CPU share of each pinned core used by processes outside this benchmark (other jobs)."""
    busy = summary.get("core_busy", {})
    ours = {f"cpu{SERVER_CPU}": summary.get(server_key, 0.0), f"cpu{CLIENT_CPU}": summary.get("client_cpu_util", 0.0)}
    return {cpu: round(max(0.0, busy[cpu] - mine), 3) for cpu, mine in ours.items() if cpu in busy}


def bottleneck(summary: dict[str, Any], server_key: str, pinned: bool) -> str:
    server = summary.get(server_key, 0.0)
    client = summary.get("client_cpu_util", 0.0)
    server_cpu, client_cpu = (f"CPU {SERVER_CPU}", f"CPU {CLIENT_CPU}") if pinned else ("a CPU", "a CPU")
    if server >= 0.85 and server >= client:
        return f"server-bound (server side {server:.0%} of {server_cpu}, load generator {client:.0%} of {client_cpu})"
    if client >= 0.85:
        return (f"CLIENT-BOUND (load generator {client:.0%} of {client_cpu}, server side {server:.0%}): "
                "the figure is a lower bound of the server's capacity")
    return f"neither side saturated (server side {server:.0%}, load generator {client:.0%}): latency-bound"


NOISE_LIMIT = 0.10


def annotate(summary: dict[str, Any], server_key: str, pinned: bool) -> dict[str, Any]:
    """Add the bottleneck verdict and, when other work or the hypervisor took CPU, a warning."""
    summary["bottleneck"] = bottleneck(summary, server_key, pinned)
    summary["other_load"] = interference(summary, server_key) if pinned else {}
    # Other work only takes time from us on a core that was full; on a half-idle core it ran
    # in the idle time (it still shares caches, and maybe a physical core, with us).
    busy = summary.get("core_busy", {})
    noisy = {cpu: share for cpu, share in summary["other_load"].items() if share > NOISE_LIMIT and busy.get(cpu, 0.0) > 0.8}
    stolen = {cpu: share for cpu, share in summary.get("core_steal", {}).items() if share > NOISE_LIMIT / 2}
    why = [f"other processes used {share:.0%} of {cpu}" for cpu, share in noisy.items()]
    why += [f"the hypervisor stole {share:.0%} of {cpu}" for cpu, share in stolen.items()]
    if why:
        summary["warning"] = "; ".join(why) + " during this run: the figures are pessimistic; rerun on a quiet machine"
    return summary


def validate_decisions(calls: list[Call], required: str) -> list[str]:
    """Every screened call must end with `required` (ROUTE_ACTION) set on the channel."""
    return [f"call {c.index}: {required} not set (got {sorted(c.set_vars)})" for c in calls if not c.set_vars.get(required)]


# ---------------------------------------------------------------------------
# callshield serve as a subprocess
# ---------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


BENCH_CONFIG = """\
agi:
  host: {host}
  port: {port}
store:
  path: {db}
logging:
  level: {log_level}
scoring:
  trust_verstat_from: ["203.0.113.0/24"]   # the carrier's SBC, which verifies STIR/SHAKEN
routing:
  default:
    suspicious: {{action: divert, destination: PJSIP/fraudteam}}
    high_risk: {{action: reject}}
"""


class CallshieldServer:
    """`python -m callshield serve` on a free port with a private store, pinned to one CPU."""

    def __init__(self, workdir: Path, *, pin: bool, log_level: str = "INFO"):
        self.port = free_port()
        self.db = workdir / "callshield.db"
        self.config = workdir / "callshield.yaml"
        self.log = workdir / "serve.log"
        self.config.write_text(BENCH_CONFIG.format(host=HOST, port=self.port, db=self.db, log_level=log_level))
        self.pin = pin
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSHIELD_")}
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "callshield", "serve", "--config", str(self.config)],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_pin_to_server_cpu if self.pin else None,
            )

    async def wait_ready(self, timeout: float = 20.0) -> float:
        """Poll with the `health` AGI script until it answers OK; returns the start-up time."""
        assert self.proc is not None
        started = time.monotonic()
        deadline = started + timeout
        probe = make_calls(1, seed=0, first_index=10**9)[0]
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"callshield serve exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                await asyncio.wait_for(fastagi_session(self.port, probe, script="health"), timeout=2)
                if probe.set_vars.get("CALLSHIELD_HEALTH") == "OK":
                    return time.monotonic() - started
                raise RuntimeError(f"health probe answered {probe.set_vars!r}")
            except (ConnectionError, OSError, asyncio.TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"callshield serve did not accept FastAGI on {HOST}:{self.port} within {timeout}s:\n{self.log_tail()}")
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def log_counts(self) -> dict[str, int]:
        counts = {"ERROR": 0, "WARNING": 0, "INFO": 0}
        with contextlib.suppress(OSError):
            for line in self.log.read_text(errors="replace").splitlines():
                for level in counts:
                    if f" {level} " in line:
                        counts[level] += 1
        return counts

    def server_timings(self, uniqueids: set[str]) -> dict[str, Any]:
        """read_ms / reply_ms / score_us percentiles from the call records the server wrote."""
        db = sqlite3.connect(self.db)
        try:
            rows = db.execute("SELECT uniqueid, timings FROM calls").fetchall()
        finally:
            db.close()
        picked = [json.loads(t) for u, t in rows if u in uniqueids]
        out: dict[str, Any] = {"records": len(picked), "not_replied": sum(1 for p in picked if p.get("replied") is False)}
        for key in ("read_ms", "reply_ms", "score_us"):
            vals = sorted(float(p[key]) for p in picked if p.get(key) is not None)
            if vals:
                out[key] = {"p50": round(percentile(vals, 50), 3), "p99": round(percentile(vals, 99), 3), "mean": round(statistics.fmean(vals), 3)}
        return out


# ---------------------------------------------------------------------------
# Section: agi_screen
# ---------------------------------------------------------------------------

def _progress(args: argparse.Namespace, text: str) -> None:
    print(f"[agi_screen] {text}", file=sys.stderr, flush=True)


async def bench_callshield(args: argparse.Namespace, workdir: Path, pin: bool) -> dict[str, Any]:
    """Runs: `closed` (C sessions in flight), `unloaded` (one at a time), `paced` (open loop)."""
    server = CallshieldServer(workdir, pin=pin, log_level=args.log_level)
    out: dict[str, Any] = {"approach": "callshield FastAGI",
                           "command": f"python -m callshield serve (logging.level {args.log_level})", "runs": {}}
    ids: dict[str, set[str]] = {}
    next_index = 0

    def calls_for(name: str, count: int, seed: int) -> list[Call]:
        nonlocal next_index
        calls = make_calls(count, seed=seed, first_index=next_index)
        next_index += count
        ids[name] = {c.uniqueid for c in calls}
        return calls

    try:
        server.start()
        out["startup_s"] = round(await server.wait_ready(), 3)
        assert server.proc is not None
        pid = server.proc.pid
        session = lambda c: fastagi_session(server.port, c)  # noqa: E731
        _progress(args, f"callshield serve (pid {pid}) on {HOST}:{server.port} ready in {out['startup_s']:.2f}s; warm-up {args.warmup} calls")
        await closed_loop(session, calls_for("warmup", args.warmup, args.seed + 1), args.concurrency, pid)

        _progress(args, f"callshield: {args.calls} calls at concurrency {args.concurrency}")
        calls = calls_for("closed", args.calls, args.seed)
        run = await closed_loop(session, calls, args.concurrency, pid)
        run.errors += validate_decisions(calls, "ROUTE_ACTION")
        out["runs"]["closed"] = annotate(run.summary(args.concurrency), "server_cpu_util", pin)

        if args.unloaded_calls > 0:
            _progress(args, f"callshield: {args.unloaded_calls} calls one at a time")
            calls = calls_for("unloaded", args.unloaded_calls, args.seed + 2)
            run = await closed_loop(session, calls, 1, pid)
            run.errors += validate_decisions(calls, "ROUTE_ACTION")
            out["runs"]["unloaded"] = annotate(run.summary(1), "server_cpu_util", pin)

        if args.paced_rate > 0 and args.paced_calls > 0:
            _progress(args, f"callshield: {args.paced_calls} calls arriving at {args.paced_rate:g}/s (open loop)")
            calls = calls_for("paced", args.paced_calls, args.seed + 3)
            run = await open_loop(session, calls, args.paced_rate, pid)
            run.errors += validate_decisions(calls, "ROUTE_ACTION")
            out["runs"]["paced"] = annotate({**run.summary(None), "offered_rate": args.paced_rate}, "server_cpu_util", pin)
    finally:
        server.stop()
    out["server_log"] = server.log_counts()
    if out["server_log"]["ERROR"]:
        out["server_log_tail"] = server.log_tail(5)
    for name, summary in out["runs"].items():
        summary["server_timings"] = server.server_timings(ids[name])
    return out


async def bench_percall(args: argparse.Namespace, workdir: Path, pin: bool) -> dict[str, Any]:
    """Runs: `closed` (C scripts running at once) and `unloaded` (one at a time)."""
    db = workdir / "percall.db"
    env = {**os.environ, "PERCALL_AGI_DB": str(db)}
    errlog = workdir / "percall.stderr"
    out: dict[str, Any] = {"approach": "per-call AGI process", "python": args.baseline_python,
                           "command": f"{args.baseline_python} bench/percall_agi.py DDI (fork/exec per call)", "runs": {}}
    with errlog.open("ab") as err:
        session = lambda c: percall_session(c, env, err.fileno(), pin, args.baseline_python)  # noqa: E731
        _progress(args, f"baseline: warm-up {args.baseline_warmup} calls, then {args.baseline_calls} calls at concurrency {args.concurrency}")
        await closed_loop(session, make_calls(args.baseline_warmup, seed=args.seed + 4, first_index=0), args.concurrency)
        plan = [("closed", args.baseline_calls, args.concurrency)]
        if args.baseline_unloaded_calls > 0:
            plan.append(("unloaded", args.baseline_unloaded_calls, 1))
        for name, count, conc in plan:
            if name == "unloaded":
                _progress(args, f"baseline: {count} calls one at a time")
            calls = make_calls(count, seed=args.seed + (0 if name == "closed" else 2), first_index=10**6 * len(out["runs"]))
            run = await closed_loop(session, calls, conc)
            run.errors += validate_decisions(calls, "ROUTE_ACTION")
            summary = annotate(run.summary(conc), "children_cpu_util", pin)
            summary["cpu_per_call_ms"] = round(run.children_cpu / max(1, len(run.latencies)) * 1e3, 2)
            out["runs"][name] = summary
    stderr_lines = [line for line in errlog.read_text(errors="replace").splitlines() if line.strip()]
    if stderr_lines:
        out["runs"]["closed"]["errors"] += len(stderr_lines)
        out["runs"]["closed"].setdefault("first_errors", []).extend(f"script stderr: {line}" for line in stderr_lines[:5])
    with contextlib.closing(sqlite3.connect(db)) as con:
        out["rows_written"] = con.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    return out


def section_agi_screen(args: argparse.Namespace) -> dict[str, Any]:
    cpus = sorted(os.sched_getaffinity(0))
    pin = len(cpus) >= 2 and SERVER_CPU in cpus and CLIENT_CPU in cpus and not args.no_pin
    if pin:
        os.sched_setaffinity(0, {CLIENT_CPU})
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "pinned": pin, "server_cpu": SERVER_CPU if pin else None,
                    "client_cpu": CLIENT_CPU if pin else None, "python": sys.version.split()[0]},
    }
    with tempfile.TemporaryDirectory(prefix="callshield-bench-") as tmp:
        workdir = Path(tmp)
        # The Asterisk stand-in runs on uvloop too, so its own Python overhead adds as
        # little as possible to the latencies it measures (Asterisk itself is C).
        with asyncio.Runner(loop_factory=client_loop_factory()) as runner:
            result["callshield"] = runner.run(bench_callshield(args, workdir, pin))
        if args.baseline_calls > 0:
            result["baseline"] = asyncio.run(bench_percall(args, workdir, pin))

    if UNKNOWN_FIELDS:
        result["unknown_fields"] = UNKNOWN_FIELDS
    runs = result["callshield"]["runs"]
    cs = runs["closed"]
    targets = []
    per = cs.get("server_cpu_per_call_us")
    if per:
        targets.append({"name": "serve CPU per screened call, us (all threads)", "target": f"<= {TARGET_CPU_US:g}",
                        "measured": round(per["total"]), "pass": per["total"] <= TARGET_CPU_US})
    targets += [
        {"name": "screened calls/s", "target": f">= {TARGET_CALLS_PER_S:,.0f}", "measured": cs["calls_per_s"],
         "pass": cs["calls_per_s"] >= TARGET_CALLS_PER_S},
        {"name": f"p99 latency at concurrency {args.concurrency}, ms", "target": f"<= {TARGET_P99_MS:g}", "measured": cs["p99_ms"],
         "pass": cs["p99_ms"] <= TARGET_P99_MS},
    ]
    if "paced" in runs:
        pc = runs["paced"]
        targets.append({"name": f"p99 latency at {pc['offered_rate']:g} calls/s offered, ms", "target": f"<= {TARGET_P99_MS:g}",
                        "measured": pc["p99_ms"], "pass": pc["p99_ms"] <= TARGET_P99_MS, "informative": True})
    errors = sum(s["errors"] for s in runs.values())
    if "baseline" in result:
        bruns = result["baseline"]["runs"]
        base = bruns["closed"]
        ratio = cs["calls_per_s"] / base["calls_per_s"] if base["calls_per_s"] else float("inf")
        result["ratio_calls_per_s"] = round(ratio, 1)
        if "unloaded" in runs and "unloaded" in bruns and runs["unloaded"]["p50_ms"]:
            result["ratio_unloaded_p50"] = round(bruns["unloaded"]["p50_ms"] / runs["unloaded"]["p50_ms"], 1)
        targets.append({"name": "calls/s vs the per-call process", "target": f">= {TARGET_RATIO:g}x", "measured": round(ratio, 1),
                        "pass": ratio >= TARGET_RATIO})
        errors += sum(s["errors"] for s in bruns.values())
    targets.append({"name": "failed sessions", "target": "0", "measured": errors, "pass": errors == 0})
    result["targets"] = targets
    result["pass"] = all(t["pass"] for t in targets if not t.get("informative"))
    return result


def render_agi_screen(r: dict[str, Any]) -> str:
    m = r["machine"]
    cs = r["callshield"]
    base = r.get("baseline")
    per = cs["runs"]["closed"].get("server_cpu_per_call_us")
    lines = [
        "== agi_screen: pre-answer screening, callshield FastAGI vs a per-call AGI process ==",
        (f"HEADLINE: callshield serve CPU per screened call {per['total']:.0f} us (budget {TARGET_CPU_US:g} us; "
         f"{1e6 / per['total']:,.0f} calls per core-second)" if per else "HEADLINE: serve CPU per call not measured"),
        f"machine: {m['cpus']} CPUs, Python {m['python']}; " + (
            f"server side pinned to CPU {m['server_cpu']}, load generator (the Asterisk side) to CPU {m['client_cpu']}"
            if m["pinned"] else "NOT pinned (fewer than 2 usable CPUs, or --no-pin)"),
        "",
        f"{'approach':<30} {'run':<16} {'calls':>6} {'conc':>5} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>6}",
    ]
    rows: list[tuple[str, str, dict[str, Any]]] = []
    for label, approach in (("callshield FastAGI", cs), ("per-call AGI (baseline)", base)):
        if approach:
            for name, s in approach["runs"].items():
                run = f"{s['offered_rate']:g}/s offered" if name == "paced" else name
                rows.append((label, run, s))
    for label, run, s in rows:
        conc = s["concurrency"] if s["concurrency"] is not None else "open"
        lines.append(f"{label:<30} {run:<16} {s['calls']:>6} {conc!s:>5} {s['calls_per_s']:>9.1f} {s['p50_ms']:>8.2f} "
                     f"{s['p99_ms']:>8.2f} {s['max_ms']:>8.2f} {s['errors']:>6}")
    lines.append("")
    if "ratio_calls_per_s" in r:
        extra = f"; {r['ratio_unloaded_p50']}x lower p50 latency one call at a time" if "ratio_unloaded_p50" in r else ""
        lines.append(f"ratio callshield/baseline: {r['ratio_calls_per_s']:.1f}x the calls/s at concurrency {cs['runs']['closed']['concurrency']}{extra}")
    for label, run, s in rows:
        if run != "unloaded":
            lines.append(f"bottleneck, {label} {run}: {s['bottleneck']}")
    if per:
        lines.append(f"callshield CPU per call: {per['total']:.0f} us ({per['event_loop_thread']:.0f} us event-loop thread, "
                     f"{per['other_threads']:.0f} us other threads: the call-record writer, list reloads)")
    if base and "cpu_per_call_ms" in base["runs"]["closed"]:
        lines.append(f"baseline CPU per call: {base['runs']['closed']['cpu_per_call_ms']:.1f} ms (interpreter start-up, 8 reads, 4 writes, SQLite); "
                     f"interpreter {base['python']}")
    for label, run, s in rows:
        st = s.get("server_timings", {})
        if "reply_ms" in st:
            lines.append(f"server-side timings, {run} ({st['records']} records): read p50/p99 {st['read_ms']['p50']:.2f}/{st['read_ms']['p99']:.2f} ms, "
                         f"reply {st['reply_ms']['p50']:.2f}/{st['reply_ms']['p99']:.2f} ms, score {st['score_us']['p50']:.0f}/{st['score_us']['p99']:.0f} us")
    log = cs.get("server_log", {})
    lines.append(f"callshield serve: ready in {cs.get('startup_s', 0):.2f}s; its log has ERROR {log.get('ERROR', 0)}, "
                 f"WARNING {log.get('WARNING', 0)}, INFO {log.get('INFO', 0)} lines")
    for label, run, s in rows:
        for e in s.get("first_errors", []):
            lines.append(f"  error, {label} {run}: {e}")
        if s.get("warning"):
            lines.append(f"WARNING, {label} {run}: {s['warning']}")
    if r.get("unknown_fields"):
        lines.append(f"WARNING: callshield reads fields this benchmark answers empty: {', '.join(r['unknown_fields'])} (update make_calls)")
    if cs.get("server_log_tail"):
        lines.append("  serve log tail:\n    " + cs["server_log_tail"].replace("\n", "\n    "))
    lines.append("")
    for t in r["targets"]:
        verdict = "PASS" if t["pass"] else "FAIL"
        note = " (informative)" if t.get("informative") else ""
        lines.append(f"{verdict}  {t['name']}: {t['measured']} (target {t['target']}){note}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Sections and main
# ---------------------------------------------------------------------------

Section = tuple[Callable[[argparse.Namespace], dict[str, Any]], Callable[[dict[str, Any]], str]]
SECTIONS: dict[str, Section] = {
    "agi_screen": (section_agi_screen, render_agi_screen),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--calls", type=int, default=5000, help="measured callshield calls (closed loop)")
    p.add_argument("--concurrency", type=int, default=16, help="sessions in flight (both approaches)")
    p.add_argument("--warmup", type=int, default=200, help="callshield warm-up calls, not measured")
    p.add_argument("--paced-rate", type=float, default=TARGET_CALLS_PER_S, help="open-loop arrival rate for the latency-at-load run (0: skip)")
    p.add_argument("--paced-calls", type=int, default=2000, help="calls in the open-loop run")
    p.add_argument("--baseline-calls", type=int, default=300, help="measured per-call-process calls (0: skip the baseline)")
    p.add_argument("--baseline-warmup", type=int, default=16, help="per-call-process warm-up calls")
    p.add_argument("--baseline-python", default=PYTHON, help="interpreter the per-call script runs under (e.g. /usr/bin/python3)")
    p.add_argument("--unloaded-calls", type=int, default=500, help="callshield calls run one at a time (0: skip)")
    p.add_argument("--baseline-unloaded-calls", type=int, default=40, help="per-call-process calls run one at a time (0: skip)")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"), help="callshield serve's logging.level (INFO is the shipped default)")
    p.add_argument("--seed", type=int, default=20261122, help="seed of the call mix")
    p.add_argument("--no-pin", action="store_true", help="do not pin server and load generator to separate CPUs")
    p.add_argument("--section", action="append", choices=sorted(SECTIONS), help="run only these sections (default: all)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)
    if args.calls < 1 or args.concurrency < 1:
        p.error("--calls and --concurrency must be at least 1")
    return args


def client_loop_factory():
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results: dict[str, Any] = {}
    for name in args.section or list(SECTIONS):
        run, _ = SECTIONS[name]
        results[name] = run(args)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print("\n\n".join(SECTIONS[name][1](res) for name, res in results.items()))
    return 0 if all(res.get("pass", True) for res in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

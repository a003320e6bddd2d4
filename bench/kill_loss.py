"""Decisions lost when ``callshield serve`` is stopped (SIGTERM) or killed (SIGKILL) under load.

Each run starts a real ``callshield serve`` on loopback with a fresh store, drives
FastAGI screening calls at it from a fake Asterisk (``tests/security/agi_peer.py``,
16 concurrent lines, back to back), sends the signal after ``--load`` seconds while the
calls keep coming, restarts serve on the same store (which replays what it must), stops
it, and counts the decisions the Asterisk side received (``ROUTE_ACTION`` set) whose call
record is not in the store. Bounded: a few thousand calls per run, loopback only.

    .venv/bin/python bench/kill_loss.py [--runs 3] [--signal TERM,KILL] [--load 1.0] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import socket
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.security.agi_peer import drive  # noqa: E402
from tests.support.service import CallshieldProcess  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(workdir: Path) -> dict:
    return {
        "agi": {"host": "127.0.0.1", "port": free_port()},
        "store": {"path": str(workdir / "var" / "callshield.db")},
        "logging": {"level": "WARNING"},
        "scoring": {"model": "rules"},
    }


def stored_ids(db: Path) -> set[str]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {row[0] for row in con.execute("SELECT id FROM calls")}
    finally:
        con.close()


async def one_run(sig: signal.Signals, load: float, concurrency: int, workdir: Path) -> dict:
    serve = CallshieldProcess(workdir, config(workdir)).start()
    stop = asyncio.Event()
    load_task = asyncio.create_task(drive(serve.port, stop, concurrency))
    await asyncio.sleep(load)
    sent = time.monotonic()
    serve.signal(sig)
    assert serve.proc is not None
    code = await asyncio.to_thread(serve.proc.wait, 30)
    stopped_s = time.monotonic() - sent
    stop.set()
    calls = await load_task
    log = serve.log_text()
    # Restart on the same store (what a supervisor does), then stop it gracefully.
    serve.start()
    serve.stop()
    replayed = re.search(r"call journal: wrote (\d+) decided call", serve.log_text()[len(log):])
    decided = {c.call_id for c in calls if c.call_id}
    stored = stored_ids(serve.db_path)
    return {"signal": sig.name, "calls": len(calls), "decided": len(decided), "lost": len(decided - stored),
            "exit_code": code, "stop_s": round(stopped_s, 2), "cancelled_tracebacks": log.count("CancelledError"),
            "replayed_from_journal": int(replayed.group(1)) if replayed else 0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--signal", default="TERM,KILL", help="comma-separated: TERM, KILL")
    parser.add_argument("--load", type=float, default=1.0, help="seconds of load before the signal")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    for name in args.signal.split(","):
        sig = signal.Signals["SIG" + name.strip().upper()]
        for run in range(1, args.runs + 1):
            with tempfile.TemporaryDirectory() as tmp:
                result = asyncio.run(one_run(sig, args.load, args.concurrency, Path(tmp)))
            result["run"] = run
            results.append(result)
            if not args.json:
                print(f"{result['signal']:<5} run {run}: {result['decided']:>5} decided of {result['calls']:>5} calls,"
                      f" lost {result['lost']:>4} ({result['replayed_from_journal']} written from the journal at restart);"
                      f" exit {result['exit_code']} after {result['stop_s']} s;"
                      f" CancelledError in log: {result['cancelled_tracebacks']}", flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    return 1 if any(r["lost"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

"""What the call journal adds per call inside ``callshield serve``, measured A/B in one run.

Two ``callshield serve`` processes on loopback, one with ``store.journal: true`` (the
default) and one with ``false``, take screening calls one at a time from a fake Asterisk
(``tests/security/agi_peer.py``) in alternating blocks of 20, so both see the same
machine state; the figure is each one's session time (connect to the server's close)
and the difference of the medians. The SIP legs of bench/post_dial_delay.py add
milliseconds of noise that hide a difference this small; the AGI session does not.

    .venv/bin/python bench/journal_cost.py [--calls 3000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.security.agi_peer import agi_call  # noqa: E402
from tests.security.rig import Serve, serve_config  # noqa: E402

TARGET_ADDED_US = 100.0
BLOCK = 20
WARM_UP = 200


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(calls: int, workdir: Path) -> dict[str, list[float]]:
    serves = {}
    for journal in (True, False):
        work = workdir / ("journal" if journal else "no-journal")
        serves[journal] = Serve(work, serve_config(work, store={"journal": journal}, logging={"level": "WARNING"})).start()
    times: dict[bool, list[float]] = {True: [], False: []}
    try:
        for i in range(2 * (calls + WARM_UP)):
            journal = (i // BLOCK) % 2 == 0
            started = time.perf_counter()
            call = await agi_call(serves[journal].port, caller=f"+4479111{i % 100000:05d}")
            if not call.call_id:
                raise RuntimeError(f"call {i} got no decision: {call.variables}")
            times[journal].append((time.perf_counter() - started) * 1e6)
    finally:
        for serve in serves.values():
            serve.stop()
    return {"with the journal": times[True][WARM_UP:], "without": times[False][WARM_UP:]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="calls per variant")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        times = asyncio.run(measure(args.calls, Path(tmp)))
    rows = {name: {"calls": len(v), "median_us": statistics.median(v), "p90_us": pct(v, 0.9), "p99_us": pct(v, 0.99)}
            for name, v in times.items()}
    added = rows["with the journal"]["median_us"] - rows["without"]["median_us"]
    if args.json:
        print(json.dumps({"agi_session": rows, "added_median_us": added, "target_added_us": TARGET_ADDED_US}, indent=2))
    else:
        print("AGI screening session on loopback, connect to close, one call at a time")
        print(f"{'variant':<20}{'calls':>7}{'median µs':>11}{'p90 µs':>9}{'p99 µs':>9}")
        for name, r in rows.items():
            print(f"{name:<20}{r['calls']:>7}{r['median_us']:>11.0f}{r['p90_us']:>9.0f}{r['p99_us']:>9.0f}")
        verdict = "PASS" if added <= TARGET_ADDED_US else "FAIL"
        print(f"added by the call journal (median): {added:+.0f} µs  [{verdict}: target <= {TARGET_ADDED_US:.0f} µs]")
    return 0 if added <= TARGET_ADDED_US else 1


if __name__ == "__main__":
    sys.exit(main())

"""Post-dial delay that the callshield AGI step adds, measured through a real Asterisk.

For each call: time from the caller's INVITE leaving to the INVITE arriving at the
agents' phone (delivery), with the callshield line in the dialplan versus a number that
bypasses it, alternating so both see the same machine state. Needs the Asterisk sandbox
(root; see scripts/provision-asterisk.sh).

    .venv/bin/python bench/post_dial_delay.py [--calls 200] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.asterisk import Asterisk, Ports, provision  # noqa: E402
from tests.conftest import callshield_config  # noqa: E402
from tests.support.service import CallshieldProcess  # noqa: E402
from tests.support.sip import SipUAC, SipUAS  # noqa: E402

TARGET_MEDIAN_MS = 10.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(asterisk: Asterisk, calls: int) -> dict[str, list[float]]:
    delays: dict[str, list[float]] = {"with callshield": [], "without (baseline)": []}
    async with SipUAS(port=asterisk.ports.agents) as agents, SipUAC() as caller:
        for i in range(calls * 2):
            screened = i % 2 == 0
            ddi = f"+4420300{i % 9000:05d}" if screened else f"+44999{i:07d}"
            before = len(agents.calls)
            result = await caller.invite(("127.0.0.1", asterisk.ports.sip), to_user=ddi,
                                         from_user=f"+4416149{i % 100000:05d}", answer_timeout=5)
            if result.final_status != 200 or len(agents.calls) != before + 1:
                raise RuntimeError(f"call {i} to {ddi} was not delivered: {result.final_status}")
            delay = (agents.calls[-1].received_at - result.invite_sent_at) * 1000
            delays["with callshield" if screened else "without (baseline)"].append(delay)
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per variant")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    asterisk = Asterisk(provision(), Ports())
    asterisk.start()
    with tempfile.TemporaryDirectory() as tmp:
        service = CallshieldProcess(Path(tmp), callshield_config(asterisk.ports, Path(tmp) / "var" / "cs.db", logging={"level": "WARNING"}))
        try:
            service.start()
            asyncio.run(measure(asterisk, 10))  # warm-up
            delays = asyncio.run(measure(asterisk, args.calls))
        finally:
            service.stop()
            asterisk.stop()
    rows = {name: {"calls": len(v), "median_ms": statistics.median(v), "p90_ms": pct(v, 0.9), "p99_ms": pct(v, 0.99)} for name, v in delays.items()}
    added = rows["with callshield"]["median_ms"] - rows["without (baseline)"]["median_ms"]
    if args.json:
        print(json.dumps({"post_dial_delay": rows, "added_median_ms": added, "target_added_median_ms": TARGET_MEDIAN_MS}, indent=2))
        return
    print("Post-dial delay through a real Asterisk (INVITE sent -> INVITE at agents)")
    print(f"{'variant':<22}{'calls':>7}{'median ms':>12}{'p90 ms':>10}{'p99 ms':>10}")
    for name, r in rows.items():
        print(f"{name:<22}{r['calls']:>7}{r['median_ms']:>12.2f}{r['p90_ms']:>10.2f}{r['p99_ms']:>10.2f}")
    verdict = "PASS" if added <= TARGET_MEDIAN_MS else "FAIL"
    print(f"added by the AGI step (median): {added:.2f} ms  [{verdict}: target <= {TARGET_MEDIAN_MS} ms]")


if __name__ == "__main__":
    main()

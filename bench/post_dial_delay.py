"""Post-dial delay that the callshield AGI step adds, measured through a real Asterisk.

For each call: time from the caller's INVITE leaving to the INVITE arriving at the
agents' phone (delivery), with the callshield line in the dialplan versus a number that
bypasses it, alternating so all variants see the same machine state. Two callshield
processes run side by side, one with the call journal (``store.journal: true``, the
default) and one without; they take turns in blocks of 20 calls (CALLSHIELD_AGI switched
through AMI), so the journal's cost is measured in the same run. Needs the
Asterisk sandbox (root; see scripts/provision-asterisk.sh).

    .venv/bin/python bench/post_dial_delay.py [--calls 200] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callshield.config import load_config  # noqa: E402
from callshield.screening.screener import Screener  # noqa: E402
from callshield.read.signal import CallSignal  # noqa: E402
from callshield.store.journal import CallJournal  # noqa: E402
from tests.support.asterisk import AMI_SECRET, AMI_USER, Asterisk, Ports, free_port, provision  # noqa: E402
from tests.support.ami import AmiClient  # noqa: E402
from tests.conftest import callshield_config  # noqa: E402
from tests.support.service import CallshieldProcess  # noqa: E402
from tests.support.sip import SipUAC, SipUAS  # noqa: E402

TARGET_MEDIAN_MS = 3.0  # issue 10: <= 3 ms added post-dial delay, median


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


JOURNAL, NO_JOURNAL, BASELINE = "with callshield", "  without the journal", "without (baseline)"
BLOCK = 20


async def measure(asterisk: Asterisk, agi_ports: dict[str, int], calls: int) -> dict[str, list[float]]:
    """``calls`` screened calls through each callshield (with and without the journal) and
    as many bypass calls as both, alternating call by call with the bypass number; the two
    callshields take turns in blocks of BLOCK calls (CALLSHIELD_AGI switched through AMI
    between blocks), so each sees the traffic a single serve would. Post-dial delays in ms."""
    delays: dict[str, list[float]] = {JOURNAL: [], NO_JOURNAL: [], BASELINE: []}
    ami = AmiClient("127.0.0.1", asterisk.ports.ami)
    await ami.connect(AMI_USER, AMI_SECRET)
    try:
        async with SipUAS(port=asterisk.ports.agents) as agents, SipUAC() as caller:
            i = 0
            for block in range(max(2, 2 * calls // BLOCK)):
                screened = (JOURNAL, NO_JOURNAL)[block % 2]
                await ami.setvar("CALLSHIELD_AGI", f"agi://127.0.0.1:{agi_ports[screened]}")
                for _ in range(min(BLOCK, calls)):
                    for variant in (screened, BASELINE):
                        i += 1
                        ddi = f"+4420300{i % 9000:05d}" if variant != BASELINE else f"+44999{i:07d}"
                        before = len(agents.calls)
                        result = await caller.invite(("127.0.0.1", asterisk.ports.sip), to_user=ddi,
                                                     from_user=f"+4416149{i % 100000:05d}", answer_timeout=5)
                        if result.final_status != 200 or len(agents.calls) != before + 1:
                            raise RuntimeError(f"call {i} to {ddi} was not delivered: {result.final_status}")
                        delays[variant].append((agents.calls[-1].received_at - result.invite_sent_at) * 1000)
    finally:
        await ami.setvar("CALLSHIELD_AGI", f"agi://127.0.0.1:{asterisk.ports.agi}")
        await ami.close()
    return delays


def server_reply_ms(db: Path) -> float:
    """Median time inside serve from the connection to the reply that carries ROUTE_ACTION
    (timings.reply_ms of its call records): the journal's cost without the SIP legs."""
    con = sqlite3.connect(db)
    try:
        values = [json.loads(t).get("reply_ms") for (t,) in con.execute("SELECT timings FROM calls")]
    finally:
        con.close()
    return statistics.median(v for v in values if v is not None)


def journal_append_us(workdir: Path, calls: int = 5000) -> dict[str, float]:
    """What the journal adds on the event loop per call, in-process: serialising the
    decision and one write() (median and p99, µs)."""
    config = load_config(None, env={}, overrides={"scoring.model": "rules"})
    screener = Screener(config)
    journal = CallJournal(workdir / "append.db")
    samples = []
    for i in range(calls):
        screening = screener.screen(CallSignal(dialled="+442071234567", timestamp=1.8e9 + i, caller_number=f"+4479111{i % 100000:05d}",
                                               from_header=f"<sip:+4479111{i % 100000:05d}@carrier.example>", user_agent="Carrier SBC 4.2.1",
                                               source_ip="203.0.113.7", source_port=5060, channel=f"PJSIP/carrier-{i:08x}", uniqueid=f"1800000000.{i}"))
        started = time.perf_counter_ns()
        journal.append(screening)
        samples.append((time.perf_counter_ns() - started) / 1000)
        journal.done(journal._seq)
    journal.close()
    return {"median_us": statistics.median(samples), "p99_us": pct(samples, 0.99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per variant")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        append = journal_append_us(Path(tmp))
    asterisk = Asterisk(provision(), Ports())
    asterisk.start()
    with tempfile.TemporaryDirectory() as tmp:
        services = {}
        for variant, journal in ((JOURNAL, True), (NO_JOURNAL, False)):
            work = Path(tmp) / ("journal" if journal else "no-journal")
            config = callshield_config(asterisk.ports, work / "var" / "cs.db", logging={"level": "WARNING"})
            config["agi"] = {**config["agi"], "port": free_port()}
            config["store"] = {**config["store"], "journal": journal}
            services[variant] = CallshieldProcess(work, config)
        try:
            for service in services.values():
                service.start()
            ports = {variant: service.port for variant, service in services.items()}
            asyncio.run(measure(asterisk, ports, 10))  # warm-up
            delays = asyncio.run(measure(asterisk, ports, args.calls))
        finally:
            for service in services.values():
                service.stop()
            asterisk.stop()
        reply_ms = {variant: server_reply_ms(service.db_path) for variant, service in services.items()}
    rows = {name: {"calls": len(v), "median_ms": statistics.median(v), "p90_ms": pct(v, 0.9), "p99_ms": pct(v, 0.99)} for name, v in delays.items()}
    added = rows[JOURNAL]["median_ms"] - rows[BASELINE]["median_ms"]
    journal_added = rows[JOURNAL]["median_ms"] - rows[NO_JOURNAL]["median_ms"]
    if args.json:
        print(json.dumps({"post_dial_delay": rows, "added_median_ms": added, "target_added_median_ms": TARGET_MEDIAN_MS,
                          "journal_added_median_ms": journal_added, "journal_append_in_process": append,
                          "server_reply_median_ms": reply_ms}, indent=2))
        return
    print("Post-dial delay through a real Asterisk (INVITE sent -> INVITE at agents)")
    print(f"{'variant':<22}{'calls':>7}{'median ms':>12}{'p90 ms':>10}{'p99 ms':>10}")
    for name, r in rows.items():
        print(f"{name:<22}{r['calls']:>7}{r['median_ms']:>12.2f}{r['p90_ms']:>10.2f}{r['p99_ms']:>10.2f}")
    verdict = "PASS" if added <= TARGET_MEDIAN_MS else "FAIL"
    print(f"added by the AGI step (median): {added:.2f} ms  [{verdict}: target <= {TARGET_MEDIAN_MS} ms]")
    print(f"added by the call journal (median, with - without): {journal_added:+.3f} ms; inside serve (connection to"
          f" the reply with ROUTE_ACTION, median): {reply_ms[JOURNAL]:.3f} vs {reply_ms[NO_JOURNAL]:.3f} ms"
          f" ({(reply_ms[JOURNAL] - reply_ms[NO_JOURNAL]) * 1000:+.0f} µs)")
    print(f"the journal append on the event loop, in-process: median {append['median_us']:.1f} µs, p99 {append['p99_us']:.1f} µs"
          " (target: <= 100 µs added)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Benchmark: the route decision per call, and how fast invoking a dial plan takes effect.

Run:  .venv/bin/python bench/route.py [--calls N] [--invocations N] [--json]

Builds, through ``RoutingStore`` on a temporary SQLite file (the same rows, audit
entries and routes_version bumps the CLI and the phone write): 10,000 numbers, 5 dial
plans loaded into slots 1-5 (each routing 2,000 numbers, overlapping their neighbours;
``DR-1`` active), and 1,000 live personal overrides. The config adds a risk policy
(suspicious calls flagged, high-risk diverted with an hourly cap, some numbers rejecting
high risk or announcing and hanging up on suspicious calls) and the AMI monitor's view
has one destination down. Then, side by side on the same seeded call mix:

- ``decide``: ``RoutingTable.decide`` on the in-memory ``RouteState`` (what a call pays);
- ``policy+decide``: the same with the policy lookup the screener does first;
- ``baseline``: the same decision made from a naive per-call SQLite read of the store
  (one indexed query for the number's row, its live override and its newest active
  plan route, on its own connection), i.e. what "a database read per call" would cost.
  The two must decide every call identically.

And ``invoke``: from ``RouteControl.run(invoke_plan)`` (the store write, ``load_state``,
the swap) until every one of the plan's 2,000 numbers decides ``plan:<name>``, over
``--invocations`` invocations of plans DR-2..DR-5 in turn, each revoked again (also
timed) before the next.

Nothing is pinned; the heap is frozen after the build as ``callshield serve`` does.
Each decision is timed alone with ``perf_counter_ns`` (the timer's own cost, printed,
is included). Times are microseconds for decisions and milliseconds for invocations.
Exit status 0 when every target passes (decide median <= 50 us, invoke median <= 100 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from callshield.config import Config, load_config  # noqa: E402
from callshield.manage.routing import RouteControl  # noqa: E402
from callshield.dialplan.destination_health import Outage, TrunkHealth  # noqa: E402
from callshield.dialplan.policy import HIGH_RISK, SAFE, SUSPICIOUS, DivertCaps, Policy, RouteDecision, RoutingTable  # noqa: E402
from callshield.dialplan.state import NumberRoute, Override, PlanRoute, RouteState  # noqa: E402
from callshield.read.numbers import NumberIntel  # noqa: E402
from callshield.store import open_store  # noqa: E402
from callshield.store.routing import RoutingStore  # noqa: E402

NUMBERS = 10_000
PLANS = 5
PLAN_SIZE = 2_000
PLAN_STEP = 1_500          # plan k routes numbers [1500k, 1500k + 2000): neighbours overlap by 500
OVERRIDES = 1_000
DOWN = "siteb"             # the destination the AMI monitor reports down
TARGET_DECIDE_US = 50.0
TARGET_INVOKE_MS = 100.0

# Cheapest form of "a database read per call": one statement, every lookup on an index
# (numbers and overrides by primary key; plan_routes by its (plan, number) key, over the
# few active plans: CROSS JOIN makes SQLite loop over plans first instead of scanning
# plan_routes, which has no index on number alone).
BASELINE_SQL = """
SELECT n.route, n.fallback, n.announcement,
       o.destination, o.staff, o.expires_at,
       pr.plan, pr.destination, pr.announcement, p.announcement
FROM (SELECT ? AS k) AS q
LEFT JOIN numbers n ON n.number = q.k
LEFT JOIN overrides o ON o.number = q.k AND o.expires_at > ?
LEFT JOIN plan_routes pr ON pr.number = q.k AND pr.plan = (
    SELECT r2.plan FROM plans p2 CROSS JOIN plan_routes r2 ON r2.plan = p2.name AND r2.number = q.k
    WHERE p2.active = 1 ORDER BY p2.invoked_at DESC LIMIT 1)
LEFT JOIN plans p ON p.name = pr.plan
"""


def number(i: int) -> str:
    return f"+4420{30_000_000 + i}"          # +442030000000 ... +442030009999 (London)


def plan_name(k: int) -> str:
    return f"DR-{k + 1}"


def plan_numbers(k: int) -> range:
    return range(PLAN_STEP * k, PLAN_STEP * k + PLAN_SIZE)


def override_numbers() -> list[int]:
    """200 numbers only DR-1 routes (the override wins over the active plan) and 800 no
    plan routes; none is routed by DR-2..DR-5, the plans the invocation timing uses."""
    numbers = list(range(0, 200)) + list(range(9_000, 9_800))
    assert len(numbers) == OVERRIDES
    return numbers


def make_config() -> Config:
    numbers: dict[str, Any] = {}
    for i in range(NUMBERS):
        if i % 50 == 7:     # card services: refuse high risk outright
            numbers[number(i)] = {"high_risk": {"action": "reject"}}
        elif i % 50 == 21:  # a line that turns suspicious callers away
            numbers[number(i)] = {"suspicious": {"action": "announce_hangup", "announcement": "custom/goodbye"}}
    return load_config(None, env={}, overrides={
        "routing.default": {
            "route": "PJSIP/agents", "fallback": "PJSIP/overflow",
            "suspicious": {"action": "deliver"},
            "high_risk": {"action": "divert", "destination": "PJSIP/fraudteam", "max_per_hour": 100},
        },
        "routing.numbers": numbers,
    })


def build_store(path: Path, intel: NumberIntel, config_numbers: frozenset[str], now: float) -> RoutingStore:
    store = RoutingStore(open_store(path), intel, config_numbers)
    for i in range(NUMBERS):
        if i % 10 == 9:     # a tenth of the numbers are answered at site B (down), overflow to the agents
            store.set_number(number(i), f"PJSIP/{DOWN}", "PJSIP/agents", label=f"site B {i}", actor="bench")
        else:
            store.set_number(number(i), "PJSIP/agents", "PJSIP/overflow", announcement="welcome" if i % 3 == 0 else "",
                             label=f"line {i}", actor="bench")
    for k in range(PLANS):
        name = plan_name(k)
        store.create_plan(name, description=f"bench plan {k + 1}", announcement=f"dr/plan{k + 1}", actor="bench")
        for i in plan_numbers(k):
            store.set_plan_route(name, number(i), f"PJSIP/dr{k + 1}", announcement="dr/moved" if i % 7 == 0 else "", actor="bench")
        store.load_plan(name, k + 1, actor="bench")
    store.invoke_plan(plan_name(0), actor="bench", now=now - 600)
    for j, i in enumerate(override_numbers()):
        store.set_override(number(i), f"Local/+44770090{j:04d}@callshield-outbound", staff=number(i), hours=12,
                           actor="bench", now=now - 60)
    return store


def call_mix(n: int, seed: int, table: RoutingTable, start: float) -> list[tuple[str, Policy, str, float]]:
    """Calls over an 8-hour day: 95 % to the store's numbers (uniformly), 5 % to numbers
    only the config's default policy knows; 92 % SAFE, 5 % SUSPICIOUS, 3 % HIGH_RISK."""
    rnd = random.Random(seed)
    step = 8 * 3600 / n
    calls = []
    for c in range(n):
        key = number(rnd.randrange(NUMBERS)) if rnd.random() < 0.95 else number(NUMBERS + rnd.randrange(5_000))
        r = rnd.random()
        status = SAFE if r < 0.92 else SUSPICIOUS if r < 0.97 else HIGH_RISK
        calls.append((key, table.policy(key), status, start + c * step))
    return calls


def timer_overhead_ns() -> float:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(100_000):
        a = clock()
        samples.append(clock() - a)
    return float(np.median(samples))


def time_decide(table: RoutingTable, calls: list[tuple[str, Policy, str, float]]) -> tuple[list[int], list[RouteDecision]]:
    table.caps = DivertCaps()
    clock, decide = time.perf_counter_ns, table.decide
    samples, out = [], []
    for key, policy, status, now in calls:
        a = clock()
        d = decide(key, policy, status, now)
        samples.append(clock() - a)
        out.append(d)
    return samples, out


def time_policy_decide(table: RoutingTable, calls: list[tuple[str, Policy, str, float]]) -> list[int]:
    table.caps = DivertCaps()
    clock, decide, policy_of = time.perf_counter_ns, table.decide, table.policy
    samples = []
    for key, _policy, status, now in calls:
        a = clock()
        decide(key, policy_of(key), status, now)
        samples.append(clock() - a)
    return samples


def time_baseline(path: Path, config: Config, intel: NumberIntel, health: TrunkHealth,
                  calls: list[tuple[str, Policy, str, float]]) -> tuple[list[int], list[RouteDecision]]:
    """The same decision, the route state read from SQLite for each call."""
    db = open_store(path, migrate=False)
    table = RoutingTable(config.routing, intel, health=health)
    conn, clock, decide = db.conn, time.perf_counter_ns, table.decide
    samples, out = [], []
    try:
        for key, policy, status, now in calls:
            a = clock()
            row = conn.execute(BASELINE_SQL, (key, now)).fetchone()
            (route, fallback, announcement, o_dest, o_staff, o_expires, p_name, p_dest, p_ann, p_default) = row
            table.state = RouteState(
                numbers={key: NumberRoute(key, route or "", fallback or "", announcement or "")} if route is not None else {},
                plans={key: PlanRoute(p_name, p_dest, p_ann or p_default or "")} if p_name is not None else {},
                overrides={key: Override(key, o_dest, o_staff, o_expires)} if o_dest is not None else {},
            )
            d = decide(key, policy, status, now)
            samples.append(clock() - a)
            out.append(d)
    finally:
        db.close()
    return samples, out


async def time_invocations(control: RouteControl, table: RoutingTable, n: int) -> dict[str, list[float]]:
    """Invoke DR-2..DR-5 in turn through RouteControl; after each, every one of the plan's
    numbers must decide plan:<name> (checked at once: the swap happens before run returns)."""
    t: dict[str, list[float]] = {"write": [], "reload+swap": [], "check": [], "invoke": [], "revoke": []}
    policies = {number(i): table.policy(number(i)) for i in range(NUMBERS)}
    stamp: dict[str, float] = {}

    def invoke(store: RoutingStore, name: str) -> None:
        store.invoke_plan(name, actor="bench")
        stamp["written"] = time.perf_counter()

    for j in range(n):
        k = 1 + j % (PLANS - 1)
        name, keys = plan_name(k), [number(i) for i in plan_numbers(k)]
        want = f"plan:{name}"
        a = time.perf_counter()
        await control.run(invoke, name)
        b = time.perf_counter()
        now = time.time()
        missing = [key for key in keys if table.decide(key, policies[key], SAFE, now).reason != want]
        c = time.perf_counter()
        if missing:
            raise SystemExit(f"after invoking {name}, {len(missing)} of its numbers do not decide {want} (e.g. {missing[0]})")
        t["write"].append(stamp["written"] - a)
        t["reload+swap"].append(b - stamp["written"])
        t["check"].append(c - b)
        t["invoke"].append(c - a)
        a = time.perf_counter()
        await control.run(RoutingStore.revoke_plan, name, actor="bench")
        now = time.time()
        still = [key for key in keys if table.decide(key, policies[key], SAFE, now).reason == want]
        t["revoke"].append(time.perf_counter() - a)
        if still:
            raise SystemExit(f"after revoking {name}, {len(still)} of its numbers still decide {want}")
    return t


def _us(samples: list[int]) -> dict[str, float]:
    a = np.asarray(samples, dtype=np.float64) / 1e3
    return {"n": int(a.size), "median_us": round(float(np.median(a)), 2), "p99_us": round(float(np.percentile(a, 99)), 2),
            "mean_us": round(float(a.mean()), 2)}


def _ms(samples: list[float]) -> dict[str, float]:
    a = np.asarray(samples, dtype=np.float64) * 1e3
    return {"n": int(a.size), "median_ms": round(float(np.median(a)), 2), "max_ms": round(float(a.max()), 2)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    intel = NumberIntel("GB")
    config = make_config()
    health = TrunkHealth()
    table = RoutingTable(config.routing, intel, health=health)
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="callshield-bench-route-") as tmp:
        path = Path(tmp) / "callshield.db"
        print(f"building the store: {NUMBERS} numbers, {PLANS} plans x {PLAN_SIZE} routes, {OVERRIDES} overrides...", file=sys.stderr)
        a = time.perf_counter()
        store = build_store(path, intel, table.configured_numbers(), start)
        built = time.perf_counter() - a
        control = RouteControl(store, table)
        a = time.perf_counter()
        control.refresh()
        loaded = time.perf_counter() - a
        health.mark_down(Outage(DOWN, start, "bench: unreachable"))
        state = table.state
        calls = call_mix(args.calls, args.seed, table, start)
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 50, 100)

        overhead = timer_overhead_ns()
        time_decide(table, calls[:20_000])      # warm-up, not counted
        print(f"timing {len(calls)} decisions in memory...", file=sys.stderr)
        t_decide, decisions = time_decide(table, calls)
        t_policy = time_policy_decide(table, calls)
        base_calls = calls[: args.baseline_calls]
        print(f"timing {len(base_calls)} decisions from a SQLite read per call...", file=sys.stderr)
        t_base, base_decisions = time_baseline(path, config, intel, health, base_calls)
        table.caps = DivertCaps()
        print(f"timing {args.invocations} plan invocations through RouteControl...", file=sys.stderr)
        t_inv = asyncio.run(time_invocations(control, table, args.invocations))
        store.db.close()

    mix = Counter(d.reason.split(":")[0] if not d.reason.startswith("risk_policy") else ":".join(d.reason.split(":")[::2])
                  for d in decisions)
    agree = sum(x == y for x, y in zip(decisions, base_decisions))
    out: dict[str, Any] = {
        "python": sys.version.split()[0],
        "state": {"numbers": len(state.numbers), "plans_loaded": PLANS, "active": [p.name for p in state.active],
                  "plan_routes_each": PLAN_SIZE, "overrides": len(state.overrides), "config_numbers": len(config.routing.numbers),
                  "store_build_s": round(built, 1), "load_state_ms": round(loaded * 1e3, 1)},
        "calls": len(calls),
        "mix": {k: round(v / len(decisions), 4) for k, v in mix.most_common()},
        "timer_overhead_ns": overhead,
        "decisions": {"decide": _us(t_decide), "policy+decide": _us(t_policy), "baseline: SQLite read per call": _us(t_base)},
        "baseline_agrees": {"calls": len(base_decisions), "identical": agree},
        "invoke": {k: _ms(v) for k, v in t_inv.items()},
    }
    d, inv = out["decisions"]["decide"], out["invoke"]["invoke"]
    out["targets"] = {
        f"decide median <= {TARGET_DECIDE_US:g} us": d["median_us"] <= TARGET_DECIDE_US,
        f"invoke median <= {TARGET_INVOKE_MS:g} ms": inv["median_ms"] <= TARGET_INVOKE_MS,
        "in-memory and per-call-read decisions identical": agree == len(base_decisions),
    }
    return out


def render(out: dict[str, Any]) -> str:
    s = out["state"]
    lines = [
        f"route state: {s['numbers']:,} numbers, {s['plans_loaded']} loaded plans x {s['plan_routes_each']:,} routes "
        f"(active: {', '.join(s['active'])}), {s['overrides']:,} live overrides, {s['config_numbers']:,} config policies; "
        f"store built in {s['store_build_s']} s, load_state {s['load_state_ms']} ms; Python {out['python']}",
        f"{out['calls']:,} calls: " + ", ".join(f"{k} {v:.1%}" for k, v in out["mix"].items()),
        "",
        f"{'route decision per call':<34}{'median us':>11}{'p99 us':>11}{'mean us':>11}",
    ]
    for name, t in out["decisions"].items():
        lines.append(f"{name:<34}{t['median_us']:>11.2f}{t['p99_us']:>11.2f}{t['mean_us']:>11.2f}")
    base, dec = out["decisions"]["baseline: SQLite read per call"], out["decisions"]["decide"]
    agree = out["baseline_agrees"]
    lines += [f"(timer overhead {out['timer_overhead_ns']:.0f} ns included; baseline / decide median "
              f"{base['median_us'] / dec['median_us']:.0f}x; identical decisions {agree['identical']:,}/{agree['calls']:,})", "",
              f"{'invoke a plan (' + str(out['invoke']['invoke']['n']) + ' runs)':<34}{'median ms':>11}{'max ms':>11}"]
    labels = {"write": "  store write", "reload+swap": "  load_state + swap", "check": "  all 2,000 decide plan:<name>",
              "invoke": "invoke, until all follow it", "revoke": "revoke, until none follows it"}
    for key in ("invoke", "write", "reload+swap", "check", "revoke"):
        t = out["invoke"][key]
        lines.append(f"{labels[key]:<34}{t['median_ms']:>11.2f}{t['max_ms']:>11.2f}")
    lines.append("")
    for check, ok in out["targets"].items():
        lines.append(f"{'PASS' if ok else 'FAIL'}  {check}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=200_000, help="decisions timed in memory [200000]")
    p.add_argument("--baseline-calls", type=int, default=200_000, help="of those, decisions timed from SQLite [200000]")
    p.add_argument("--invocations", type=int, default=20, help="plan invocations timed (each revoked again) [20]")
    p.add_argument("--seed", type=int, default=7, help="call-mix seed [7]")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = p.parse_args(argv)
    out = run(args)
    print(json.dumps(out, indent=2) if args.json else render(out))
    return 0 if all(out["targets"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())

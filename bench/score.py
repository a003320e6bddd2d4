#!/usr/bin/env python3
"""Benchmark: the Call DNA model on the call path, per call, on one core.

Run:  .venv/bin/python bench/score.py [--calls N] [--model PATH|bundled] [--json]

Side by side, on the same simulated calls (callshield.training.simulate, seed 3):

- ``features+fast``: Call DNA features (``CallDNA.observe``: trait, profile, memory,
  145 features) plus the compiled model's score (``score(reading, explain=False)``);
  ``features`` and ``fast`` alone are shown too;
- ``lgb_predict``: LightGBM ``Booster.predict`` on the one-row array (the baseline);
- ``lgb_contrib``: LightGBM ``pred_contrib`` (SHAP) on the one-row array;
- ``saabas``: the compiled model's explanation (contributions and reason codes), and
  ``score+explain``: what a SUSPICIOUS call costs the model (score, contributions, reasons);
- ``screen``: the full ``Screener.screen`` with the model (facts, rules, DNA, model,
  route, insights), and ``screen>=SUSPICIOUS``: the same for calls scored SUSPICIOUS or
  HIGH_RISK, which pay for the explanation: the AGI-reply budget (target p99 <= 2 ms).

LightGBM runs with ``num_threads=1`` (with its default, all cores, one pinned CPU makes
it take milliseconds). The first ``--warmup`` calls fill the memory, as a running
service's would be, and are not measured; one screener at a time holds that memory.
The process pins itself to one CPU and freezes its start-up heap as ``callshield serve``
does. The fraud share of the stream is raised to 10 % so that enough calls are
SUSPICIOUS or worse for a p99. Times are microseconds. Exit status 0 when every target
passes.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from callshield.config import load_config  # noqa: E402
from callshield.dialplan.policy import SAFE  # noqa: E402
from callshield.read.facts import derive_facts  # noqa: E402
from callshield.models.explain import reasons_from  # noqa: E402
from callshield.models.model import load_model  # noqa: E402
from callshield.screening.screener import Screener  # noqa: E402
from callshield.read.signal import CallSignal  # noqa: E402

TARGETS = {"features+fast": (150.0, 1000.0), "screen>=SUSPICIOUS": (None, 2000.0)}
CPU = 0


def _stats(samples: list[float]) -> dict[str, float]:
    a = np.asarray(samples) * 1e6
    return {"n": len(a), "median_us": round(float(np.median(a)), 1), "p99_us": round(float(np.percentile(a, 99)), 1),
            "mean_us": round(float(a.mean()), 1)}


def _settle() -> None:
    """What ``callshield serve`` does after start-up (callshield.serve.tune_runtime)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def _calls(n: int, seed: int, fraud_share: float) -> list[CallSignal]:
    from callshield.training.simulate import simulate

    signals = []
    for data in simulate(n, seed, fraud_share=fraud_share):
        signals.append(CallSignal.from_dict(data))
    return signals


def run(args: argparse.Namespace) -> dict[str, Any]:
    import lightgbm

    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {CPU})
    model = load_model(args.model)
    if model is None:
        raise SystemExit(f"no model at {args.model!r}")
    booster = lightgbm.Booster(model_file=str(model.path))
    config = load_config(None, env={}, overrides={"scoring.trust_verstat_from": ["198.51.100.16/29"]})
    print(f"simulating {args.warmup + args.calls} calls...", file=sys.stderr)
    calls = _calls(args.warmup + args.calls, args.seed, args.fraud_share)
    warm, measured = calls[: args.warmup], calls[args.warmup:]

    # As in a running service, one screener at a time holds a warm memory: first one
    # without a model for the stage timings, then a fresh one with the model for the full
    # screen. Each measurement runs in its own pass, so one method's caches do not evict
    # another's.
    stages = Screener(config, model=None)
    for s in warm:
        stages.screen(s)
    _settle()

    t: dict[str, list[float]] = {}
    clock = time.perf_counter
    lists = stages.lists

    # 1. features and the fast score, on the model-less screener (facts and rules untimed)
    readings = []
    for name in ("features", "fast", "features+fast"):
        t[name] = []
    for s in measured:
        facts = derive_facts(s, stages.intel, stages.trusted)
        caller = facts.caller.key if facts.caller is not None else None
        velocity = stages.memory.velocity(s.timestamp, caller, facts.dialled.key, facts.withheld)
        rules = stages.rules.score(facts, velocity, lists)
        a = clock()
        reading = stages.dna.observe(s, facts, lists, rules.score)
        b = clock()
        model.score(reading, explain=False)
        c = clock()
        t["features"].append(b - a)
        t["fast"].append(c - b)
        t["features+fast"].append(c - a)
        readings.append(reading)

    # 2. one method at a time over the same readings
    def each(name: str, fn: Callable[[Any], Any]) -> None:
        t[name] = []
        for r in readings:
            a = clock()
            fn(r)
            t[name].append(clock() - a)

    each("lgb_predict", lambda r: booster.predict(np.asarray([r.vector], dtype=np.float64), raw_score=True, num_threads=1))
    each("lgb_contrib", lambda r: booster.predict(np.asarray([r.vector], dtype=np.float64), pred_contrib=True, num_threads=1))
    each("saabas", lambda r: reasons_from(model.contributions(r.vector), r.features))
    each("score+explain", lambda r: model.score(r, explain=True))

    # 3. the full screen with the model, as the AGI handler runs it
    del stages, readings
    gc.unfreeze()
    full = Screener(config, model=model)
    for s in warm:
        full.screen(s)
    _settle()
    status: dict[str, int] = {}
    for name in ("screen", "screen>=SUSPICIOUS", "screen SAFE"):
        t[name] = []
    for s in measured:
        a = clock()
        screening = full.screen(s)
        b = clock()
        t["screen"].append(b - a)
        st = screening.decision.status
        status[st] = status.get(st, 0) + 1
        t["screen SAFE" if st == SAFE else "screen>=SUSPICIOUS"].append(b - a)
    out: dict[str, Any] = {
        "model": model.name,
        "trees": len(model.trees.model.trees),
        "calls": len(measured),
        "warmup": len(warm),
        "pinned_cpu": None if args.no_pin else CPU,
        "python": sys.version.split()[0],
        "statuses": status,
        "timings": {k: _stats(v) for k, v in t.items() if v},
    }
    checks = {}
    for name, (med, p99) in TARGETS.items():
        s = out["timings"].get(name)
        if s is None:
            continue
        if med is not None:
            checks[f"{name} median <= {med:g} us"] = s["median_us"] <= med
        checks[f"{name} p99 <= {p99:g} us"] = s["p99_us"] <= p99
    out["targets"] = checks
    return out


def render(out: dict[str, Any]) -> str:
    lines = [f"model {out['model']} ({out['trees']} trees), {out['calls']} calls after {out['warmup']} warm-up, "
             f"CPU {out['pinned_cpu']}, Python {out['python']}; statuses {out['statuses']}", "",
             f"{'stage':<22}{'median us':>11}{'p99 us':>11}{'mean us':>11}"]
    for name, s in out["timings"].items():
        lines.append(f"{name:<22}{s['median_us']:>11.1f}{s['p99_us']:>11.1f}{s['mean_us']:>11.1f}")
    lines.append("")
    for check, ok in out["targets"].items():
        lines.append(f"{'PASS' if ok else 'FAIL'}  {check}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=5000, help="measured calls [5000]")
    p.add_argument("--warmup", type=int, default=20000, help="unmeasured calls that fill the memory first [20000]")
    p.add_argument("--seed", type=int, default=3, help="simulator seed [3]")
    p.add_argument("--fraud-share", type=float, default=0.1,
                   help="share of fraud calls in the simulated stream [0.1]: enough SUSPICIOUS+ calls for a p99")
    p.add_argument("--model", default="bundled", help="model file or 'bundled' [bundled]")
    p.add_argument("--no-pin", action="store_true", help="do not pin to one CPU")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = p.parse_args(argv)
    out = run(args)
    print(json.dumps(out, indent=2) if args.json else render(out))
    return 0 if all(out["targets"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Regenerate the README's pre-answer performance rows from the benchmarks, in one command.

    .venv/bin/python bench/readme_figures.py            # run the benches, write bench/figures.json and the README rows
    .venv/bin/python bench/readme_figures.py --render   # only re-render the README rows from bench/figures.json

``make figures`` runs the first form (it needs the Asterisk sandbox, as ``make bench``
does). It runs ``bench/agi_screen.py --json`` (callshield against a per-call process, one
call at a time, 16 concurrent, 1,000 calls/s offered) and ``bench/post_dial_delay.py
--json`` (through a real Asterisk), keeps their whole output with the date and commit in
``bench/figures.json``, and rewrites the rows between the ``bench:pre-answer`` markers of
README.md from that file. ``tests/test_docs.py`` fails when those rows differ from what
``bench/figures.json`` renders to, so a figure in the README is always the last measured one.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "bench" / "figures.json"
README = ROOT / "README.md"
BEGIN = "<!-- bench:pre-answer:begin (bench/readme_figures.py writes these rows from bench/figures.json) -->"
END = "<!-- bench:pre-answer:end -->"


def run_benches() -> dict[str, Any]:
    python = sys.executable
    agi = subprocess.run([python, "bench/agi_screen.py", "--json"], cwd=ROOT, capture_output=True, text=True)
    if not agi.stdout.strip():
        raise SystemExit(f"bench/agi_screen.py printed nothing:\n{agi.stderr[-2000:]}")
    pdd = subprocess.run([python, "bench/post_dial_delay.py", "--json"], cwd=ROOT, capture_output=True, text=True, check=False)
    if not pdd.stdout.strip():
        raise SystemExit(f"bench/post_dial_delay.py printed nothing (it needs the Asterisk sandbox, as root):\n{pdd.stderr[-2000:]}")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {"measured": datetime.date.today().isoformat(), "commit": commit,
            "agi_screen": json.loads(agi.stdout)["agi_screen"], "post_dial_delay": json.loads(pdd.stdout)}


def _n(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def rows(f: dict[str, Any]) -> list[str]:
    """The README's pre-answer rows for one set of measurements."""
    a, p = f["agi_screen"], f["post_dial_delay"]
    cs, base = a["callshield"]["runs"], a.get("baseline", {}).get("runs", {})
    closed, per = cs["closed"], cs["closed"]["server_cpu_per_call_us"]
    out = ["| what | callshield | baseline in the same run |", "|---|---|---|"]
    out += [f"| screened calls/s, {closed['concurrency']} concurrent sessions | {_n(closed['calls_per_s'])} | "
           + (f"{_n(base['closed']['calls_per_s'], 1)} (an `AGI(script.py)` process per call; {a['ratio_calls_per_s']}×) |" if base else "— |"),
           f"| serve CPU per screened call (`bench/agi_screen.py`, from /proc; budget 400 µs) | {_n(per['total'])} µs "
           f"({_n(per['event_loop_thread'])} µs event loop, {_n(per['other_threads'])} µs the writer and reloads) | "
           + (f"{_n(base['closed']['cpu_per_call_ms'], 1)} ms |" if base and "cpu_per_call_ms" in base["closed"] else "— |")]
    if "unloaded" in cs:
        u = cs["unloaded"]
        b = base.get("unloaded")
        out.append(f"| handler latency one call at a time, p50 / p99 | {u['p50_ms']:.2f} / {u['p99_ms']:.1f} ms | "
                   + (f"{b['p50_ms']:.1f} / {b['p99_ms']:.1f} ms |" if b else "— |"))
    if "paced" in cs:
        pc = cs["paced"]
        out.append(f"| handler latency at {_n(pc['offered_rate'])} calls/s offered, p50 / p99 | {pc['p50_ms']:.2f} / {pc['p99_ms']:.1f} ms "
                   f"({_n(pc['calls_per_s'])} calls/s served) | — |")
    b = base.get("closed")
    out.append(f"| handler latency at {closed['concurrency']} concurrent, p50 / p99 | {closed['p50_ms']:.1f} / {closed['p99_ms']:.1f} ms | "
               + (f"{b['p50_ms']:.0f} / {b['p99_ms']:.0f} ms |" if b else "— |"))
    d = p["post_dial_delay"]
    with_cs, without = d["with callshield"], d["without (baseline)"]
    out.append(f"| post-dial delay through real Asterisk, median / p99 (budget: {p['target_added_median_ms']:g} ms added) | "
               f"{with_cs['median_ms']:.1f} / {with_cs['p99_ms']:.1f} ms | {without['median_ms']:.1f} / {without['p99_ms']:.1f} ms "
               f"without the callshield line (**{p['added_median_ms']:.1f} ms added**) |")
    reply = p["server_reply_median_ms"]
    journal = p["journal_append_in_process"]
    inside = (reply["with callshield"] - reply["  without the journal"]) * 1000
    out.append(f"| the call journal per call: inside serve (connection to reply, with − without it, median); the append alone; "
               f"through real Asterisk (post-dial delay, with − without) | {inside:+.0f} µs; {journal['median_us']:.1f} µs median, "
               f"{journal['p99_us']:.0f} µs p99; {p['journal_added_median_ms']:+.2f} ms | — |")
    out.append("")
    out.append(f"These rows: `make figures` on {f['measured']} (commit {f['commit']}); the rest below are from the benches named in each row.")
    return out


def render(readme: str, figures: dict[str, Any]) -> str:
    head, sep, rest = readme.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise SystemExit(f"README.md has no {BEGIN!r} ... {END!r} block")
    return head + BEGIN + "\n" + "\n".join(rows(figures)) + "\n" + END + tail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--render", action="store_true", help="re-render the README rows from bench/figures.json only")
    args = parser.parse_args()
    if not args.render:
        FIGURES.write_text(json.dumps(run_benches(), indent=1) + "\n")
    README.write_text(render(README.read_text(), json.loads(FIGURES.read_text())))
    print(f"README.md's pre-answer rows written from {FIGURES.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One store of call observations (callshield.models.memory.CallMemory): the rules'
repeat-call velocity, the model's Call DNA features and the divert caps read it.

``memory_corpus.json`` was written by this module's ``corpus()`` on the code before the
three stores (history.CallHistory, the Call DNA memory, dialplan.policy.DivertCaps)
became one: a seeded simulated stream, its first part screened and stored, the screener
rebuilt from that store (the start-up replay), the rest screened. The one store must
reproduce every feature vector, rule velocity, score and route exactly.

Regenerate (only when a change is meant to alter the features):
    python -m tests.unit.test_one_store > tests/fixtures/memory_corpus.json
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from pathlib import Path
from typing import Any

import pytest

from callshield.config import load_config
from callshield.models.model import load_model
from callshield.models.reasons import Reason
from callshield.screening.screener import Screener
from callshield.read.signal import CallSignal
from callshield.store import open_store
from callshield.store.calls import call_record, insert_records
from callshield.wiring import build_screener

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "memory_corpus.json"
CALLS, REPLAYED_AFTER, SEED = 2500, 1500, 11
OVERRIDES = {
    "scoring.trust_verstat_from": ["198.51.100.16/29"],
    "routing.default.thresholds": {"suspicious": 30, "high_risk": 60},
    "routing.default.suspicious": {"action": "divert", "destination": "PJSIP/fraudteam", "max_per_hour": 3},
    "routing.default.high_risk": {"action": "divert", "destination": "PJSIP/specialists", "max_per_hour": 2},
}


def _digest(vector: list[float]) -> str:
    return hashlib.sha256(struct.pack(f"<{len(vector)}d", *vector)).hexdigest()[:16]


def corpus() -> dict[str, Any]:
    from callshield.training.simulate import simulate

    config = load_config(None, env={}, overrides=OVERRIDES)
    model = load_model("bundled")
    signals = [CallSignal.from_dict(d) for d in simulate(CALLS, SEED, days=0.5, fraud_share=0.15)]
    rows = []

    def row(screener: Screener, signal: CallSignal) -> dict[str, Any]:
        s = screener.screen(signal)
        v, d = s.velocity, s.decision
        assert s.dna is not None and model is not None
        rows.append([_digest(s.dna.vector), model.raw(s.dna.vector), [v.caller_to_dialled, v.caller_any, v.withheld_to_dialled,
                     v.dialled_numbers_by_caller], s.rule_score, d.score, d.route_action, d.route_reason])
        return call_record(s)

    first = Screener(config, model=model, new_id=iter(range(10**6)).__next__)  # type: ignore[arg-type]
    records = [row(first, sig) for sig in signals[:REPLAYED_AFTER]]
    db = open_store(":memory:")
    for i, r in enumerate(records):
        r["id"] = f"c{i}"
    insert_records(db, records)
    second = build_screener(config, db, now=signals[REPLAYED_AFTER].timestamp, model=model).screener
    for sig in signals[REPLAYED_AFTER:]:
        row(second, sig)
    return {"calls": CALLS, "replayed_after": REPLAYED_AFTER, "seed": SEED, "overrides": OVERRIDES,
            "columns": ["vector_sha256_16", "raw", "velocity", "rule_score", "score", "route_action", "route_reason"],
            "rows": rows}


@pytest.fixture(scope="module")
def replayed() -> tuple[dict[str, Any], dict[str, Any]]:
    return json.loads(FIXTURE.read_text(encoding="utf-8")), corpus()


def test_the_corpus_exercises_every_count(replayed: tuple[dict[str, Any], dict[str, Any]]) -> None:
    want, _ = replayed
    rows = want["rows"]
    for i in range(4):
        assert any(r[2][i] for r in rows[want["replayed_after"]:]), f"velocity column {i} is always 0"
    assert {"divert", "deliver"} <= {r[5] for r in rows}
    assert any(r[6].endswith(":cap_reached") for r in rows)


def test_the_one_store_reproduces_features_velocities_scores_and_routes(replayed: tuple[dict[str, Any], dict[str, Any]]) -> None:
    want, got = replayed
    assert len(got["rows"]) == len(want["rows"])
    for i, (w, g) in enumerate(zip(want["rows"], got["rows"])):
        assert g[0] == w[0], f"call {i}: feature vector differs"
        assert g[1] == pytest.approx(w[1], abs=1e-9), f"call {i}: raw score"
        assert g[2:] == w[2:], f"call {i}: velocity, scores or route differ"


if __name__ == "__main__":
    json.dump(corpus(), sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


DDI = "+442071234567"


def _withheld(ts: float, pai: str | None) -> CallSignal:
    fields: dict[str, Any] = {"from_header": "<sip:anonymous@anonymous.invalid>", "privacy": "id",
                              "presentation": "prohib_not_screened", "source_ip": "203.0.113.5", "user_agent": "CarrierSBC/4.2"}
    if pai:
        fields["pai"] = f"<sip:{pai}@carrier.example>"
    return CallSignal(dialled=DDI, timestamp=ts, **fields)


def test_withheld_repeat_means_one_count_whichever_scorer_explains_the_call() -> None:
    """The rules' WITHHELD_REPEAT (withheld calls from this caller to this number) is the
    count any WITHHELD_REPEAT an agent sees states; the model's per-dialled-number count
    (from anyone) is WITHHELD_BURST, and its detail states that count."""
    from callshield.models.explain import GROUPS

    assert "WITHHELD_REPEAT" not in GROUPS  # the model never gives the rules' code
    config = load_config(None, env={}, overrides={"routing.default.thresholds": {"suspicious": 20, "high_risk": 90}})
    screener = Screener(config, model=load_model("bundled"))
    callers = ["+441614960001", None, "+441614960001", "+441614960002", None, "+441614960001", None, None, "+441614960001"]
    seen: dict[str, int] = {}
    for i, pai in enumerate(callers):
        s = screener.screen(_withheld(1_795_000_000 + 45 * i, pai))
        rules = {r.code: r for r in screener.rules.score(s.facts, s.velocity, screener.lists).reasons}
        shown = {r.code: r for r in s.decision.reasons}
        same_caller = sum(1 for c in callers[: i + 1] if c == pai)  # this caller's withheld calls (None: the unidentified)
        assert s.velocity.withheld_to_dialled + 1 == same_caller
        if "WITHHELD_REPEAT" in rules:
            assert rules["WITHHELD_REPEAT"].detail.startswith(f"{same_caller} withheld calls ")
        if "WITHHELD_REPEAT" in shown:
            assert shown["WITHHELD_REPEAT"] == rules["WITHHELD_REPEAT"]
        assert s.dna is not None
        burst = GROUPS["WITHHELD_BURST"][1](s.dna.features)  # the detail whenever the model gives the code
        assert burst == f"{i + 1} withheld calls to this number from any caller in 10 min, {i + 1} in 1 h"
        assert shown.get("WITHHELD_BURST", Reason("", 0, burst)).detail == burst
        for code in shown:
            seen[code] = seen.get(code, 0) + 1
    assert seen.get("WITHHELD_REPEAT"), seen  # shown on the calls the model left SAFE
    assert len(seen) > 3, seen  # and the model explained others


def test_withheld_burst_counts_this_call_only_when_it_is_withheld() -> None:
    from callshield.models.explain import GROUPS

    detail = GROUPS["WITHHELD_BURST"][1]
    earlier = {"withheld_dialled_calls_10m": 3.0, "withheld_dialled_calls_1h": 5.0}
    assert detail({**earlier, "withheld": 0.0}) == "3 withheld calls to this number from any caller in 10 min, 5 in 1 h"
    assert detail({**earlier, "withheld": 1.0}) == "4 withheld calls to this number from any caller in 10 min, 6 in 1 h"

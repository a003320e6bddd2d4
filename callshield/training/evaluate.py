"""Evaluate a Call DNA model on a replayed, labelled corpus.

Scores are what the service would give: the calibrated probability x 100, rounded,
from the compiled evaluator (callshield.models.model). The metrics are in
callshield.training.metrics (numpy, no scikit-learn). ``evaluate`` returns a JSON-ready dict; the quality
targets of docs/model-card.md are checked in its ``targets`` entry.

Example: callshield eval --data var/heldout.jsonl --model callshield/models/bundled/model.txt
"""

from __future__ import annotations

from typing import Any

import numpy as np

from callshield.training.metrics import average_precision, expected_calibration_error, recall_at_fpr, roc_auc
from callshield.training.train import Corpus

BASE_RATE = 1 / 500  # fraud calls among all calls in a realistic contact centre
GENUINE_WITHHELD = "genuine_withheld"
RULES = "rules"  # the name evaluate() reports for the rule scorer (model None)


def _rate(mask: np.ndarray) -> float | None:
    return round(float(mask.mean()), 6) if len(mask) else None


def _at(y: np.ndarray, score: np.ndarray, threshold: int, base_rate: float) -> dict[str, Any]:
    fraud, genuine = score[y == 1] >= threshold, score[y == 0] >= threshold
    tpr, fpr = float(fraud.mean()) if len(fraud) else float("nan"), float(genuine.mean()) if len(genuine) else float("nan")
    flagged = base_rate * tpr + (1 - base_rate) * fpr
    return {
        "recall": round(tpr, 6),
        "fpr": round(fpr, 6),
        "precision_at_base_rate": round(base_rate * tpr / flagged, 6) if flagged > 0 else None,
        "flagged_share_at_base_rate": round(flagged, 6),
    }


def linking(corpus: Corpus) -> dict[str, Any]:
    """How well CALLER_PROFILE links one caller's calls, and keeps callers apart.

    Fraud: of each fraud actor's withheld calls that follow an earlier call of theirs,
    the share whose profile one of their earlier calls had. Genuine: the share of
    genuine calls whose profile a *different* genuine actor also had.
    """
    withheld = corpus.column("withheld") == 1.0
    seen: dict[str, set[str]] = {}
    linked = eligible = 0
    per_campaign: dict[str, list[int]] = {}
    per_actor: dict[str, list[int]] = {}
    genuine_actors: dict[str, set[str]] = {}
    fraud_profiles: set[str] = set()
    for i in range(len(corpus)):
        actor, profile = corpus.actor[i], corpus.profile[i]
        if corpus.y[i] == 1:
            fraud_profiles.add(profile)
            earlier = seen.setdefault(actor, set())
            if withheld[i] and earlier:
                hit = profile in earlier
                eligible += 1
                linked += hit
                c = per_campaign.setdefault(corpus.campaign[i], [0, 0])
                c[0] += hit
                c[1] += 1
                a = per_actor.setdefault(actor, [0, 0])
                a[0] += hit
                a[1] += 1
            earlier.add(profile)
        elif actor:
            genuine_actors.setdefault(profile, set()).add(actor)
    genuine = [i for i in range(len(corpus)) if corpus.y[i] == 0 and corpus.actor[i]]
    shared = sum(1 for i in genuine if len(genuine_actors[corpus.profile[i]]) > 1)
    with_fraud = sum(1 for i in genuine if corpus.profile[i] in fraud_profiles)
    return {
        "fraud_withheld_linked": round(linked / eligible, 6) if eligible else None,
        "fraud_withheld_calls": eligible,
        "fraud_actors_mean_linked": round(float(np.mean([h / n for h, n in per_actor.values()])), 6) if per_actor else None,
        "fraud_actors": len(per_actor),
        "fraud_withheld_linked_by_campaign": {k: round(h / n, 6) for k, (h, n) in sorted(per_campaign.items())},
        "genuine_profile_shared_with_other_actor": round(shared / len(genuine), 6) if genuine else None,
        "genuine_profile_shared_with_fraud": round(with_fraud / len(genuine), 6) if genuine else None,
        "genuine_calls_with_actor": len(genuine),
    }


def _scores(corpus: Corpus, model: Any | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(raw score to rank by, 0-100 score, probability) of each call. ``model`` None: the
    rule scorer, whose score is the one the replay's screener gave each call without a
    model (``Corpus.rule_score``); it ranks by that score, and its "probability" is the
    score / 100 (the rules are not calibrated: read ece_10 as how far they are from it)."""
    if model is None:
        score = corpus.rule_score.astype(np.int64)
        return score.astype(np.float64), score, score / 100.0
    rows = corpus.X.tolist()
    raw = np.fromiter((model.raw(v) for v in rows), dtype=np.float64, count=len(rows))
    score = np.fromiter((model.score_vector(v) for v in rows), dtype=np.int64, count=len(rows))
    prob = np.fromiter((model.probability(r) for r in raw), dtype=np.float64, count=len(rows))
    return raw, score, prob


def evaluate(corpus: Corpus, model: Any | None, *, thresholds: tuple[int, int] = (75, 85), base_rate: float = BASE_RATE) -> dict[str, Any]:
    """Every metric of docs/model-card.md for ``model`` on a replayed corpus; None
    measures the rule scorer (scoring.model: rules) on the same calls."""
    if len(corpus) == 0:
        raise ValueError("nothing to evaluate: the corpus is empty")
    suspicious, high = thresholds
    raw, score, prob = _scores(corpus, model)
    y = corpus.y.astype(np.int64)
    genuine = y == 0
    recall1, fpr1 = recall_at_fpr(y, raw, 0.01)
    recall2, fpr2 = recall_at_fpr(y, raw, 0.02)
    at_s, at_h = _at(y, score, suspicious, base_rate), _at(y, score, high, base_rate)
    gw = np.array([c == GENUINE_WITHHELD for c in corpus.campaign]) & genuine
    campaigns: dict[str, Any] = {}
    for name in sorted(set(corpus.campaign)):
        m = np.array([c == name for c in corpus.campaign])
        for label, lm in (("fraud", m & (y == 1)), ("genuine", m & genuine)):
            if not lm.any():
                continue
            key = name if not (m & (y == 1)).any() or not (m & genuine).any() else f"{name}/{label}"
            s = score[lm]
            entry: dict[str, Any] = {"label": label, "calls": int(lm.sum())}
            if label == "fraud":
                entry |= {f"recall_{suspicious}": _rate(s >= suspicious), f"recall_{high}": _rate(s >= high)}
            else:
                entry |= {f"flagged_{suspicious}": _rate(s >= suspicious), f"flagged_{high}": _rate(s >= high)}
            entry["mean_score"] = round(float(s.mean()), 2)
            campaigns[key] = entry
    link = linking(corpus)
    out: dict[str, Any] = {
        "model": RULES if model is None else getattr(model, "name", "?"),
        "data": corpus.summary(),
        "roc_auc": round(roc_auc(y, raw), 6),
        "pr_auc": round(average_precision(y, raw), 6),
        "thresholds": {"suspicious": suspicious, "high_risk": high},
        f"at_{suspicious}": at_s,
        f"at_{high}": at_h,
        "recall_at_1pct_fpr": round(recall1, 6),
        "recall_at_2pct_fpr": round(recall2, 6),
        "ece_10": round(expected_calibration_error(y, prob), 6),
        "base_rate": base_rate,
        "high_risk_rate_genuine": at_h["fpr"],
        "genuine_withheld_high_risk": _rate(score[gw] >= high),
        "genuine_withheld_calls": int(gw.sum()),
        "genuine_withheld_callers_high_risk": _callers_flagged(corpus, gw, score >= high),
        "genuine_withheld_callers": len({corpus.actor[i] for i in np.flatnonzero(gw)}),
        "campaigns": campaigns,
        "linking": link,
    }
    out["targets"] = _targets(out, recall2, fpr2, suspicious, high)
    return out


def _callers_flagged(corpus: Corpus, calls: np.ndarray, flagged: np.ndarray) -> float | None:
    """Share of the callers (actors) among ``calls`` with at least one flagged call."""
    seen: dict[str, bool] = {}
    for i in np.flatnonzero(calls):
        seen[corpus.actor[i]] = seen.get(corpus.actor[i], False) or bool(flagged[i])
    return round(sum(seen.values()) / len(seen), 6) if seen else None


def _targets(m: dict[str, Any], recall2: float, fpr2: float, suspicious: int, high: int) -> dict[str, Any]:
    at_h = m[f"at_{high}"]
    checks = {
        "roc_auc >= 0.97": m["roc_auc"] >= 0.97,
        "recall >= 0.90 at FPR <= 2%": recall2 >= 0.90,
        f"genuine HIGH_RISK (>= {high}) <= 1%": at_h["fpr"] <= 0.01,
        f"fraud caught at HIGH_RISK (>= {high}) >= 85%": at_h["recall"] >= 0.85,
        "genuine withheld callers HIGH_RISK <= 5%": (m["genuine_withheld_callers_high_risk"] is not None
                                                     and m["genuine_withheld_callers_high_risk"] <= 0.05),
        "fraud withheld linking >= 90%": (m["linking"]["fraud_withheld_linked"] or 0.0) >= 0.90,
    }
    return {"all_met": all(checks.values()), **checks}

"""Training and evaluation of the Call DNA model on small simulated corpora."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import lightgbm
import numpy as np
import pytest
from click.testing import CliRunner

from callshield.cli import main
from callshield.config import load_config
from callshield.training import train as training
from callshield.training.evaluate import average_precision, evaluate, expected_calibration_error, recall_at_fpr, roc_auc
from callshield.models.model import LightGBMModel
from callshield.training.simulate import simulate, write_jsonl
from callshield.screening.screener import Screener
from callshield.read.signal import CallSignal
from callshield.store import calls as call_store
from callshield.store import open_store

CALLS, DAYS, FRAUD_SHARE = 2000, 2.0, 0.1


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("corpus")
    for name, seed in (("train.jsonl", 5), ("heldout.jsonl", 6)):
        with open(d / name, "w", encoding="utf-8") as fh:
            write_jsonl(fh, simulate(CALLS, seed, days=DAYS, fraud_share=FRAUD_SHARE))
    (d / "callshield.yaml").write_text(f"store:\n  path: {d / 'callshield.db'}\n")
    return d


@pytest.fixture(scope="module")
def trained(corpus_dir: Path) -> Path:
    out = corpus_dir / "model.txt"
    result = _cli(corpus_dir, "train", "--data", str(corpus_dir / "train.jsonl"), "--out", str(out), "--seed", "1")
    assert result.exit_code == 0, result.output
    return out


def _cli(d: Path, *args: str):
    return CliRunner().invoke(main, [*args, "--config", str(d / "callshield.yaml")])


# -- metrics against their definitions ------------------------------------------------


def _brute_auc(y: np.ndarray, s: np.ndarray) -> float:
    pos, neg = s[y == 1], s[y == 0]
    return float(np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg]))


def _brute_ap(y: np.ndarray, s: np.ndarray) -> float:
    total, prev_recall = 0.0, 0.0
    for t in sorted(set(s.tolist()), reverse=True):
        flagged = s >= t
        tp = int((flagged & (y == 1)).sum())
        recall = tp / int(y.sum())
        total += (recall - prev_recall) * tp / int(flagged.sum())
        prev_recall = recall
    return total


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_roc_auc_and_average_precision_match_their_definitions(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.normal(size=300) + y, 1)  # rounded: plenty of ties
    assert roc_auc(y, s) == pytest.approx(_brute_auc(y, s), abs=1e-12)
    assert average_precision(y, s) == pytest.approx(_brute_ap(y, s), abs=1e-12)


def test_recall_at_fpr_and_calibration_error() -> None:
    y = np.array([0] * 100 + [1] * 10)
    s = np.r_[np.arange(100) / 100, [0.985, 0.995, 0.5, 0.9, 2, 2, 2, 2, 2, 2]]
    recall, fpr = recall_at_fpr(y, s, 0.01)  # one genuine call may be flagged: threshold 0.98
    assert (recall, fpr) == (pytest.approx(0.8), pytest.approx(0.01))
    assert expected_calibration_error(np.array([0, 1, 0, 1]), np.array([0.5, 0.5, 0.5, 0.5])) == 0.0
    assert expected_calibration_error(np.array([0, 0]), np.array([0.3, 0.3])) == pytest.approx(0.3)


def test_isotonic_pools_violators_into_monotone_points() -> None:
    x, y = np.array([1.0, 2.0, 3.0, 4.0, 4.0]), np.array([0, 1, 0, 1, 1])
    px, py = training.isotonic(x, y)
    assert px == [1.0, 2.5, 4.0] and py == [0.0, 0.5, 1.0]
    rng = np.random.default_rng(0)
    raw = rng.normal(size=5000)
    labels = (rng.random(5000) < 1 / (1 + np.exp(-3 * raw))).astype(int)
    px, py = training.isotonic(raw, labels)
    assert all(b > a for a, b in zip(px, px[1:])) and all(b > a for a, b in zip(py, py[1:]))
    assert np.mean(training.apply_calibration((px, py), raw)) == pytest.approx(labels.mean(), abs=0.01)


# -- training -------------------------------------------------------------------------


def test_training_is_deterministic_for_a_seed(corpus_dir: Path, trained: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.txt"
    result = _cli(corpus_dir, "train", "--data", str(corpus_dir / "train.jsonl"), "--out", str(again), "--seed", "1")
    assert result.exit_code == 0, result.output
    assert again.read_bytes() == trained.read_bytes()
    assert Path(f"{again}.meta.json").read_bytes() == Path(f"{trained}.meta.json").read_bytes()
    metrics = json.loads(result.stdout)
    assert metrics["roc_auc"] > 0.9 and metrics["trees"] >= 1


def test_meta_records_features_calibration_data_and_metrics(trained: Path) -> None:
    meta = json.loads(Path(f"{trained}.meta.json").read_text())
    from callshield.models.features import FEATURE_NAMES

    assert meta["features"] == list(FEATURE_NAMES)
    assert meta["version"].startswith("cdna-") and meta["seed"] == 1
    cal = meta["calibration"]
    assert cal["method"] == "isotonic" and len(cal["x"]) == len(cal["y"]) >= 2
    assert meta["data"]["all"]["calls"] == CALLS and meta["data"]["rows_per_call"] == 2
    assert meta["sources"][0]["name"] == "train.jsonl" and len(meta["sources"][0]["sha256"]) == 64
    assert meta["params"]["deterministic"] is True and meta["params"]["seed"] == 1
    assert {"roc_auc", "pr_auc", "ece_10_calibrated", "best_iteration"} <= set(meta["metrics"])


def test_trained_model_scores_like_lightgbm(trained: Path, corpus_dir: Path) -> None:
    model = LightGBMModel(trained)
    booster = lightgbm.Booster(model_file=str(trained))
    config = load_config(None, env={})
    corpus = training.collect(itertools.islice(training.jsonl_lines([corpus_dir / "heldout.jsonl"]), 1000), config)
    assert np.isnan(corpus.X).any()
    expected = booster.predict(corpus.X, raw_score=True)
    got = np.array([model.raw(row) for row in corpus.X.tolist()])
    assert np.max(np.abs(got - expected)) <= 1e-9


def test_training_needs_fraud_and_genuine_calls(corpus_dir: Path, tmp_path: Path) -> None:
    genuine = tmp_path / "genuine.jsonl"
    with open(corpus_dir / "train.jsonl") as src, open(genuine, "w") as dst:
        dst.writelines(itertools.islice((line for line in src if '"label":"genuine"' in line), 300))
    result = _cli(corpus_dir, "train", "--data", str(genuine), "--out", str(tmp_path / "m.txt"))
    assert result.exit_code == 1
    assert "needs both fraud and genuine calls" in result.output
    assert not (tmp_path / "m.txt").exists()


def test_data_lines_out_of_time_order_are_refused(corpus_dir: Path, tmp_path: Path) -> None:
    lines = (corpus_dir / "train.jsonl").read_text().splitlines()
    shuffled = tmp_path / "shuffled.jsonl"
    shuffled.write_text("\n".join([lines[5], *lines[:5], *lines[6:]]) + "\n")
    result = _cli(corpus_dir, "train", "--data", str(shuffled), "--out", str(tmp_path / "m.txt"))
    assert result.exit_code == 1 and "timestamps must not go back" in result.output


def test_train_from_the_stores_confirmed_outcomes(corpus_dir: Path, tmp_path: Path) -> None:
    db_path = tmp_path / "store.db"
    db = open_store(db_path)
    screener = Screener(load_config(None, env={}))
    records, outcomes = [], []
    with open(corpus_dir / "train.jsonl") as fh:
        for n, line in enumerate(fh):
            data = json.loads(line)
            screening = screener.screen(CallSignal.from_dict(data))
            records.append(call_store.call_record(screening))
            if n % 3 or data["label"] == "fraud":  # not every call gets an outcome
                outcomes.append({"call_id": screening.decision.call_id, "label": data["label"], "ts": data["timestamp"] + 3600,
                                 "actor": "agent-7", "note": ""})
    with db.conn:
        db["calls"].insert_all(records, pk="id", batch_size=500)
        db["outcomes"].insert_all(outcomes, pk="call_id")
    out = tmp_path / "store-model.txt"
    result = _cli(corpus_dir, "train", "--from-store", "--db", str(db_path), "--out", str(out))
    assert result.exit_code == 0, result.output
    meta = json.loads(Path(f"{out}.meta.json").read_text())
    assert meta["sources"] == [{"name": "store", "calls": len(outcomes)}]
    assert meta["data"]["all"]["calls"] == len(outcomes)
    assert LightGBMModel(out).name == f"lightgbm:{meta['version']}"


def test_train_wants_data_or_the_store(corpus_dir: Path, tmp_path: Path) -> None:
    result = _cli(corpus_dir, "train", "--out", str(tmp_path / "m.txt"))
    assert result.exit_code == 2 and "--data FILE" in result.output


# -- evaluation -----------------------------------------------------------------------


def test_eval_prints_every_metric(corpus_dir: Path, trained: Path) -> None:
    result = _cli(corpus_dir, "eval", "--data", str(corpus_dir / "heldout.jsonl"), "--model", str(trained))
    assert result.exit_code == 0, result.output
    m = json.loads(result.stdout)
    assert {"roc_auc", "pr_auc", "at_75", "at_85", "recall_at_1pct_fpr", "recall_at_2pct_fpr", "ece_10", "base_rate",
            "high_risk_rate_genuine", "genuine_withheld_high_risk", "genuine_withheld_callers_high_risk", "campaigns",
            "linking", "targets"} <= set(m)
    assert 0.0 <= m["genuine_withheld_callers_high_risk"] <= 1.0
    assert 0 < m["genuine_withheld_callers"] <= m["genuine_withheld_calls"]
    for at in (m["at_75"], m["at_85"]):
        assert set(at) == {"recall", "fpr", "precision_at_base_rate", "flagged_share_at_base_rate"}
        assert 0.0 <= at["fpr"] <= at["flagged_share_at_base_rate"] * 500 + 1
    assert m["base_rate"] == 1 / 500 and m["data"]["calls"] == CALLS
    assert m["roc_auc"] > 0.8  # a tiny model; the bundled one is measured in docs/model-card.md
    fraud = {k: v for k, v in m["campaigns"].items() if v["label"] == "fraud"}
    genuine = {k: v for k, v in m["campaigns"].items() if v["label"] == "genuine"}
    assert fraud and all({"recall_75", "recall_85", "calls"} <= set(v) for v in fraud.values())
    assert "genuine_withheld" in genuine and all({"flagged_75", "flagged_85"} <= set(v) for v in genuine.values())
    link = m["linking"]
    assert 0.0 <= link["fraud_withheld_linked"] <= 1.0 and 0.0 <= link["genuine_profile_shared_with_other_actor"] <= 1.0
    assert isinstance(m["targets"]["all_met"], bool)


def test_eval_without_outcomes_replays_no_known_fraudster(corpus_dir: Path, trained: Path) -> None:
    config = load_config(None, env={})
    lines = list(training.jsonl_lines([corpus_dir / "heldout.jsonl"]))
    live, cold = training.collect_many(lines, config, (86400.0, float("inf")))
    assert live.column("profile_confirmed_fraud").max() > 0
    assert cold.column("profile_confirmed_fraud").max() == 0 == cold.column("number_confirmed_genuine").max()
    result = evaluate(cold, LightGBMModel(trained))
    assert result["data"]["calls"] == CALLS


def test_eval_measures_the_rule_scorer_on_the_scores_serve_gives(corpus_dir: Path, tmp_path: Path) -> None:
    heldout = corpus_dir / "heldout.jsonl"
    rules_config = tmp_path / "rules.yaml"
    rules_config.write_text(f"store:\n  path: {tmp_path / 'rules.db'}\nscoring:\n  model: rules\n")
    scored = CliRunner().invoke(main, ["score", "--ephemeral", "--config", str(rules_config)], input=heldout.read_text())
    assert scored.exit_code == 0, scored.output
    y = np.array([json.loads(line)["label"] == "fraud" for line in heldout.read_text().splitlines()], dtype=np.int64)
    decisions = [json.loads(line) for line in scored.stdout.splitlines()]
    assert {d["scorer"] for d in decisions} == {"rules"}
    s = np.array([d["RISK_SCORE"] for d in decisions], dtype=np.int64)

    result = _cli(corpus_dir, "eval", "--data", str(heldout), "--model", "rules")

    assert result.exit_code == 0, result.output
    m = json.loads(result.stdout)
    assert (m["model"], m["data"]["calls"]) == ("rules", CALLS)
    assert m["roc_auc"] == round(roc_auc(y, s), 6)
    assert m["at_85"]["recall"] == round(float((s[y == 1] >= 85).mean()), 6)
    assert m["at_75"]["fpr"] == round(float((s[y == 0] >= 75).mean()), 6)


def test_eval_of_a_model_file_that_is_missing_is_a_clear_error(corpus_dir: Path, tmp_path: Path) -> None:
    result = _cli(corpus_dir, "eval", "--data", str(corpus_dir / "heldout.jsonl"), "--model", str(tmp_path / "absent.txt"))
    assert (result.exit_code, result.stderr) == (1, f"Error: config key 'scoring.model': {tmp_path / 'absent.txt'} does not exist"
                                                    " (train one with: callshield train)\n")

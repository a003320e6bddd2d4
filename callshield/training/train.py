"""Train the Call DNA model: replay labelled calls, fit LightGBM, calibrate, write it.

Every labelled call is replayed through the live pipeline (callshield.training.replay),
so the history features are what the service would have computed; by default twice,
with confirmed outcomes fed back a day after each call and with none ("outcome
dropout", see ``train``). The last 20% of the corpus's time span is the validation
split: LightGBM stops early on it, and an isotonic map from raw score to probability
is fitted on it. The model file is LightGBM's text format; ``<model>.meta.json`` holds
the features, the calibration points, the parameters, a summary of the data and the
validation metrics. For a given corpus, config, seed and callshield the output is the
same, byte for byte (one thread, ``deterministic``, no clock in the meta).

Example: callshield train --data var/train.jsonl --out var/model.txt --seed 1
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import math
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from callshield.config import Config
from callshield.errors import CallshieldError, SignalError
from callshield.models.features import FEATURE_NAMES
from callshield.training.replay import DEFAULT_OUTCOME_DELAY, replay
from callshield.read.signal import parse_timestamp

VALID_SHARE = 0.2
NUM_ROUNDS = 400
EARLY_STOPPING = 40
MODEL_FORMAT = 1
_CHUNK = 4096

# Sensible for 10^4-10^6 rows of 145 mostly binary/count features. Depth and round caps
# also bound the cost of the compiled call-path evaluator (callshield.models.fastpath).
PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.08,
    "num_leaves": 31,
    "max_depth": 8,
    "min_data_in_leaf": 40,
    "min_sum_hessian_in_leaf": 1e-3,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_bin": 255,
    "metric": ["binary_logloss", "auc"],
    "first_metric_only": True,
    "deterministic": True,
    "force_col_wise": True,
    "num_threads": 1,
    "verbose": -1,
}


class TrainError(CallshieldError):
    """The training data or the training run cannot give a model."""


Progress = Callable[[str, int | None], Any]  # (label, length) -> context manager with update(n)


@dataclass
class Corpus:
    """Replayed calls as arrays, in time order."""

    X: np.ndarray  # (n, len(FEATURE_NAMES)) float64, NaN = missing
    y: np.ndarray  # (n,) 1 = fraud
    ts: np.ndarray
    campaign: list[str]
    actor: list[str]
    profile: list[str]
    rule_score: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def column(self, name: str) -> np.ndarray:
        return self.X[:, FEATURE_NAMES.index(name)]

    def subset(self, mask: np.ndarray) -> "Corpus":
        idx = np.flatnonzero(mask)
        pick = lambda items: [items[i] for i in idx]  # noqa: E731
        return Corpus(self.X[idx], self.y[idx], self.ts[idx], pick(self.campaign), pick(self.actor), pick(self.profile), self.rule_score[idx])

    def summary(self) -> dict[str, Any]:
        campaigns: dict[str, int] = {}
        for c in self.campaign:
            campaigns[c] = campaigns.get(c, 0) + 1
        n = len(self)
        return {
            "calls": n,
            "fraud": int(self.y.sum()),
            "genuine": int(n - self.y.sum()),
            "start": _iso(float(self.ts[0])) if n else None,
            "end": _iso(float(self.ts[-1])) if n else None,
            "campaigns": dict(sorted(campaigns.items())),
        }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- reading the data --------------------------------------------------------------


def jsonl_lines(paths: Sequence[str | Path]) -> Iterator[dict]:
    """Labelled signals from JSON Lines files, merged in time order (each file must be)."""

    def read(path: Path) -> Iterator[tuple[float, int, dict]]:
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    ts = parse_timestamp(data["timestamp"])
                except (json.JSONDecodeError, KeyError, TypeError, SignalError) as exc:
                    raise SignalError(f"{path}:{n}: not a timestamped call signal ({exc})") from None
                yield ts, n, data

    merged = heapq.merge(*(read(Path(p)) for p in paths), key=lambda item: item[0])
    for _, _, data in merged:
        yield data


def count_lines(paths: Sequence[str | Path]) -> int:
    total = 0
    for p in paths:
        with open(p, "rb") as fh:
            total += sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    return total


def file_summary(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    out = []
    for p in paths:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        out.append({"name": os.path.basename(str(p)), "sha256": h.hexdigest()})
    return out


def store_lines(db: Any) -> Iterator[dict]:
    """The store's calls that have a confirmed outcome (fraud or genuine), oldest first.

    Only labelled calls are replayed, so the history features see those calls only; with
    few confirmed outcomes they are lower than they were live (see docs/model-card.md).
    """
    from callshield.store import outcomes as outcome_store

    for signal, label in outcome_store.labelled_signals(db):
        data = json.loads(signal)
        # outcomes.actor is who confirmed the outcome, not who called: no caller actor here
        data.update(label=label, campaign=f"store_{label}", actor="")
        yield data


def collect(lines: Iterable[dict], config: Config, *, total: int | None = None, progress: Progress | None = None,
            outcome_delay: float = DEFAULT_OUTCOME_DELAY, model: Any | None = None) -> Corpus:
    """Replay labelled signals and keep what training and evaluation need.

    Each call's label feeds back into memory ``outcome_delay`` seconds later (as a
    confirmed outcome would); ``math.inf`` replays with no outcomes at all. ``model``
    is the one the replay's screener scores with (evaluation); None, the rules.
    """
    return collect_many(lines, config, (outcome_delay,), total=total, progress=progress, model=model)[0]


def collect_many(lines: Iterable[dict], config: Config, delays: Sequence[float], *, total: int | None = None,
                 progress: Progress | None = None, model: Any | None = None) -> list[Corpus]:
    """One pass over ``lines``, replayed in lockstep once per outcome delay."""
    streams = itertools.tee(lines, len(delays))
    replays = [replay(stream, config, model=model, outcome_delay=d) for stream, d in zip(streams, delays)]
    width = len(FEATURE_NAMES)
    parts: list[dict[str, list[Any]]] = [{k: [] for k in ("X", "pending", "y", "ts", "campaign", "actor", "profile", "rule")} for _ in delays]
    with _bar(progress, "replaying calls", total) as bar:
        for n, rows in enumerate(zip(*replays), 1):
            for part, row in zip(parts, rows):
                part["pending"].append(row.vector)
                part["y"].append(row.fraud)
                part["ts"].append(row.timestamp)
                part["campaign"].append(row.campaign)
                part["actor"].append(row.actor)
                part["profile"].append(row.profile)
                part["rule"].append(row.rule_score)
                if len(part["pending"]) == _CHUNK:  # lists of floats take 4x the memory
                    part["X"].append(np.asarray(part["pending"], dtype=np.float64))
                    part["pending"] = []
            if n % 1000 == 0:
                bar.update(1000)
    out = []
    for p in parts:
        blocks = p["X"] + [np.asarray(p["pending"], dtype=np.float64).reshape(len(p["pending"]), width)]
        out.append(Corpus(np.vstack(blocks), np.asarray(p["y"], dtype=np.int8), np.asarray(p["ts"], dtype=np.float64),
                          p["campaign"], p["actor"], p["profile"], np.asarray(p["rule"], dtype=np.int16)))
    return out


def concat(corpora: Sequence[Corpus]) -> Corpus:
    return Corpus(np.vstack([c.X for c in corpora]), np.concatenate([c.y for c in corpora]), np.concatenate([c.ts for c in corpora]),
                  [x for c in corpora for x in c.campaign], [x for c in corpora for x in c.actor],
                  [x for c in corpora for x in c.profile], np.concatenate([c.rule_score for c in corpora]))


class _NoBar:
    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        return None


def _bar(progress: Progress | None, label: str, length: int | None) -> Any:
    return _NoBar() if progress is None else progress(label, length)


# -- calibration -------------------------------------------------------------------


def isotonic(x: np.ndarray, y: np.ndarray) -> tuple[list[float], list[float]]:
    """Isotonic regression of y on x (pool adjacent violators), as monotone points.

    Each pooled block becomes one point: its mean x and its mean y (the "centred"
    isotonic fit): between points the map interpolates linearly, beyond the ends it is
    constant. Unlike the step function it does not give every call of a wide block the
    same probability, and the points strictly increase in both x and y.
    """
    if len(x) == 0:
        raise TrainError("cannot calibrate on an empty validation split")
    order = np.argsort(x, kind="stable")
    xs, ys = np.asarray(x, dtype=np.float64)[order], np.asarray(y, dtype=np.float64)[order]
    ux, start, count = np.unique(xs, return_index=True, return_counts=True)
    sums = np.add.reduceat(ys, start)
    blocks: list[list[float]] = []  # [sum of y, weight, sum of x]
    for xv, s, w in zip(ux.tolist(), sums.tolist(), count.tolist()):
        blocks.append([s, float(w), xv * w])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            s2, w2, x2 = blocks.pop()
            blocks[-1][0] += s2
            blocks[-1][1] += w2
            blocks[-1][2] += x2
    px = [b[2] / b[1] for b in blocks]
    py = [min(1.0, max(0.0, b[0] / b[1])) for b in blocks]
    for i in range(1, len(px)):  # float rounding of the means must not break monotony
        px[i] = max(px[i], np.nextafter(px[i - 1], np.inf))
    return [float(v) for v in px], py


def apply_calibration(points: tuple[Sequence[float], Sequence[float]], raw: np.ndarray) -> np.ndarray:
    return np.interp(raw, np.asarray(points[0]), np.asarray(points[1]))


# -- training ----------------------------------------------------------------------


def split_by_time(ts: np.ndarray, valid_share: float = VALID_SHARE) -> np.ndarray:
    """True for the training part: calls before the last ``valid_share`` of the time span."""
    if len(ts) == 0:
        raise TrainError("no labelled calls to train on")
    lo, hi = float(ts.min()), float(ts.max())
    return ts < lo + (1.0 - valid_share) * (hi - lo)


def fit(corpus: Corpus, *, seed: int = 1, params: dict[str, Any] | None = None, num_rounds: int = NUM_ROUNDS,
        progress: Progress | None = None) -> tuple[str, dict[str, Any]]:
    """Train, stop early and calibrate; the model text and its meta (without file facts).

    ``corpus`` may hold several replays of the same calls (see ``train``): the split is
    by time, so every replay of a call falls on the same side.
    """
    import lightgbm

    from callshield.training.metrics import average_precision, expected_calibration_error, roc_auc

    train_mask = split_by_time(corpus.ts)
    tr, va = corpus.subset(train_mask), corpus.subset(~train_mask)
    for name, part in (("training", tr), ("validation", va)):
        if len(part) == 0 or part.y.min() == part.y.max():
            raise TrainError(f"the {name} split (by time, last {VALID_SHARE:.0%} validates) needs both fraud and genuine calls")
    p = dict(PARAMS, seed=seed, **(params or {}))
    names = list(FEATURE_NAMES)
    dtrain = lightgbm.Dataset(tr.X, tr.y, feature_name=names, free_raw_data=False, params={"max_bin": p["max_bin"], "verbose": -1})
    dvalid = lightgbm.Dataset(va.X, va.y, reference=dtrain, free_raw_data=False)
    with _bar(progress, "training", num_rounds) as bar:
        booster = lightgbm.train(
            p, dtrain, num_boost_round=num_rounds, valid_sets=[dvalid], valid_names=["valid"],
            callbacks=[lightgbm.early_stopping(EARLY_STOPPING, first_metric_only=True, verbose=False),
                       lambda env: bar.update(1)],
        )
    best = booster.best_iteration or booster.current_iteration()
    text = booster.model_to_string(num_iteration=best)
    raw_valid = booster.predict(va.X, raw_score=True, num_iteration=best)
    cal = isotonic(raw_valid, va.y)
    prob = apply_calibration(cal, raw_valid)
    raw_prob = 1.0 / (1.0 + np.exp(-raw_valid))
    metrics = {
        "split": "validation (last 20% of the time span; also the calibration set)",
        "calls": len(va),
        "fraud": int(va.y.sum()),
        "roc_auc": round(roc_auc(va.y, raw_valid), 6),
        "pr_auc": round(average_precision(va.y, raw_valid), 6),
        "ece_10_uncalibrated": round(expected_calibration_error(va.y, raw_prob), 6),
        "ece_10_calibrated": round(expected_calibration_error(va.y, prob), 6),
        "best_iteration": int(best),
        "trees": int(best),
    }
    meta = {
        "format": MODEL_FORMAT,
        "features": names,
        "calibration": {"method": "isotonic", "x": cal[0], "y": cal[1]},
        "params": {k: p[k] for k in sorted(p)} | {"num_boost_round": num_rounds, "early_stopping_rounds": EARLY_STOPPING},
        "data": {"all": corpus.summary(), "training": tr.summary(), "validation": va.summary()},
        "metrics": metrics,
        "importance_gain": _importance(booster, best),
    }
    return text, meta


def _importance(booster: Any, best: int) -> dict[str, float]:
    gain = booster.feature_importance("gain", iteration=best)
    total = float(gain.sum()) or 1.0
    pairs = sorted(((float(g) / total, n) for n, g in zip(FEATURE_NAMES, gain) if g > 0), reverse=True)
    return {n: round(g, 5) for g, n in pairs[:30]}


def write_model(out: str | Path, text: str, meta: dict[str, Any], *, sources: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    """Write the model and its meta file; the version is the model's content hash."""
    out = Path(out)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    from callshield import __version__

    meta = {
        "version": f"cdna-{digest[:12]}",
        "model_sha256": digest,
        "callshield": __version__,
        "seed": seed,
        "sources": sources,
        **meta,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    meta_file = Path(str(out) + ".meta.json")
    meta_tmp = meta_file.with_name(meta_file.name + ".tmp")
    meta_tmp.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    os.replace(meta_tmp, meta_file)
    return meta


def train(lines: Iterable[dict], config: Config, out: str | Path, *, seed: int = 1, sources: list[dict[str, Any]] | None = None,
          total: int | None = None, progress: Progress | None = None, params: dict[str, Any] | None = None,
          num_rounds: int = NUM_ROUNDS, outcome_dropout: bool = True) -> dict[str, Any]:
    """Replay, fit, calibrate and write ``out`` and ``out.meta.json``; returns the meta.

    With ``outcome_dropout`` the calls are replayed twice, once with confirmed outcomes
    fed back a day later and once with none, and the model learns from both: a site
    that confirms few outcomes (or none yet) still gets a model that reads the route,
    the device and the behaviour rather than waiting for KNOWN_FRAUDSTER.
    """
    delays = (DEFAULT_OUTCOME_DELAY, math.inf) if outcome_dropout else (DEFAULT_OUTCOME_DELAY,)
    corpora = collect_many(lines, config, delays, total=total, progress=progress)
    summary = corpora[0].summary()
    corpus = concat(corpora)
    del corpora  # one copy of the rows is enough (they are ~1 KB each)
    text, meta = fit(corpus, seed=seed, params=params, num_rounds=num_rounds, progress=progress)
    meta["data"]["replays"] = [{"outcome_delay_s": None if math.isinf(d) else d} for d in delays]
    meta["data"]["rows_per_call"] = len(delays)  # the training/validation counts are rows
    meta["data"]["all"] = summary
    return write_model(out, text, meta, sources=sources or [], seed=seed)

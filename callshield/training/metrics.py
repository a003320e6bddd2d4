"""The ranking and calibration metrics of training and evaluation, with numpy (no
scikit-learn). Their own module so that train.py (validation metrics) and evaluate.py
(which replays a train.Corpus) do not import each other."""

from __future__ import annotations

import numpy as np


def roc_auc(y: np.ndarray, s: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties count half)."""
    y = np.asarray(y).astype(bool)
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(np.asarray(s, dtype=np.float64), return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    avg_rank = ends - (counts - 1) / 2.0  # 1-based mean rank of each tied group
    ranks = avg_rank[inverse]
    return float((ranks[y].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def average_precision(y: np.ndarray, s: np.ndarray) -> float:
    """Average precision (PR-AUC as a step sum): sum over thresholds of dRecall x precision."""
    y = np.asarray(y).astype(bool)
    pos = int(y.sum())
    if pos == 0:
        return float("nan")
    order = np.argsort(-np.asarray(s, dtype=np.float64), kind="stable")
    ss, yy = np.asarray(s, dtype=np.float64)[order], y[order]
    tp = np.cumsum(yy)
    last = np.r_[np.flatnonzero(np.diff(ss)), len(ss) - 1]  # last index of each tied group
    tp, n = tp[last], last + 1
    precision, recall = tp / n, tp / pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |predicted - observed| over equal-width probability bins, weighted by size."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    if len(y) == 0:
        return float("nan")
    idx = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.sum() * abs(p[m].mean() - y[m].mean())
    return float(total / len(y))


def recall_at_fpr(y: np.ndarray, s: np.ndarray, fpr: float) -> tuple[float, float]:
    """(recall, actual FPR) flagging calls above the tightest threshold with FPR <= fpr."""
    y = np.asarray(y).astype(bool)
    g = np.sort(np.asarray(s, dtype=np.float64)[~y])[::-1]
    k = int(np.floor(fpr * len(g)))
    if len(g) == 0 or y.sum() == 0:
        return float("nan"), float("nan")
    threshold = g[k] if k < len(g) else -np.inf
    return float((s[y] > threshold).mean()), float((g > threshold).mean())

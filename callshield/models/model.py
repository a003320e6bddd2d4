"""The Call DNA risk model: a LightGBM binary classifier, calibrated, with reasons.

A model file is LightGBM's text format; beside it, ``<file>.meta.json`` holds the
feature names it was trained on, the calibration map (raw score -> probability,
monotone points) and how it was trained. ``load_model("bundled")`` loads the one
shipped in the package; ``""`` or ``"rules"`` means no model (the rule-based scorer
decides).

Scoring does not need LightGBM: the trees are compiled to Python once at load
(callshield.models.fastpath). The score is the calibrated probability x 100, rounded.
Lists are policy, not statistics: a deny-listed caller scores at least the rule score
with DENYLISTED as the first reason, and an allow-listed one (feature ``allowlisted``:
the caller's *trusted* identity, facts.allow_identity, is on the allow list; never a
failed STIR/SHAKEN verification) gets the rule score, as the rules decide.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import math
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from callshield.errors import ConfigError
from callshield.models.dna import DnaReading
from callshield.models.explain import GROUPS, reasons_from
from callshield.models.fastpath import FastTrees, ModelFormatError, parse_model
from callshield.models.features import FEATURE_NAMES
from callshield.models.reasons import MAX_REASONS, Reason

log = logging.getLogger(__name__)

BUNDLED = "bundled"
KEY = "scoring.model"


def bundled_path() -> Path:
    return Path(str(resources.files("callshield.models") / "bundled" / "model.txt"))


def meta_path(path: Path | str) -> Path:
    return Path(str(path) + ".meta.json")


class Calibration:
    """Raw score -> probability by linear interpolation between monotone points,
    constant beyond the ends (the isotonic fit of callshield.training.train)."""

    def __init__(self, x: Sequence[float], y: Sequence[float]):
        xs, ys = [float(v) for v in x], [float(v) for v in y]
        if not xs or len(xs) != len(ys):
            raise ValueError("calibration needs as many x as y points, at least one")
        if any(not math.isfinite(v) for v in xs + ys) or any(not 0.0 <= v <= 1.0 for v in ys):
            raise ValueError("calibration points must be finite with y in 0..1")
        if any(b <= a for a, b in zip(xs, xs[1:])) or any(b < a for a, b in zip(ys, ys[1:])):
            raise ValueError("calibration x must increase and y must not decrease")
        self.x, self.y = xs, ys

    def __call__(self, raw: float) -> float:
        x, y = self.x, self.y
        i = bisect.bisect_right(x, raw)
        if i == 0:
            return y[0]
        if i == len(x):
            return y[-1]
        x0, y0 = x[i - 1], y[i - 1]
        return y0 + (y[i] - y0) * (raw - x0) / (x[i] - x0)


class LightGBMModel:
    """A trained Call DNA model, evaluated natively (see the module docstring)."""

    def __init__(self, path: Path):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(KEY, f"cannot read {path}: {exc}") from None
        meta = _read_meta(path)
        if tuple(meta.get("features", ())) != FEATURE_NAMES:
            raise ConfigError(KEY, f"{path} was trained on other features than this callshield computes; retrain it (callshield train)")
        digest = meta.get("model_sha256")
        if digest and digest != hashlib.sha256(text.encode("utf-8")).hexdigest():
            raise ConfigError(KEY, f"{meta_path(path)} does not belong to {path} (the model file changed after training); retrain it")
        try:
            parsed = parse_model(text)
        except ModelFormatError as exc:
            raise ConfigError(KEY, f"{path} is not a usable LightGBM model: {exc}") from None
        if parsed.feature_names != FEATURE_NAMES:
            raise ConfigError(KEY, f"{path} was trained on other features than this callshield computes; retrain it (callshield train)")
        try:
            cal = meta["calibration"]
            self.calibration = Calibration(cal["x"], cal["y"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(KEY, f"{meta_path(path)} has no valid calibration: {exc}") from None
        self.trees = FastTrees(parsed)
        self.raw = self.trees.raw
        self.expected_value = self.trees.expected_value
        self.meta = meta
        self.path = path
        self.name = f"lightgbm:{meta.get('version', path.stem)}"
        self._denylisted = FEATURE_NAMES.index("denylisted")
        self._allowlisted = FEATURE_NAMES.index("allowlisted")
        self._failed = FEATURE_NAMES.index("verification_failed")
        self._rule_score = FEATURE_NAMES.index("rule_score")

    def probability(self, raw: float) -> float:
        return self.calibration(raw)

    def score_vector(self, v: Sequence[float]) -> int:
        """The 0-100 score of a feature vector, the list policy applied (no reasons)."""
        score = int(round(100.0 * self.calibration(self.raw(v))))
        if v[self._denylisted] == 1.0:
            return max(score, int(v[self._rule_score]))
        if v[self._allowlisted] == 1.0 and v[self._failed] != 1.0:
            return int(v[self._rule_score])
        return score

    def contributions(self, vector: Sequence[float]) -> list[float]:
        """Per-feature contributions to the raw score (log-odds), FEATURE_NAMES order."""
        return self.trees.contributions(vector)

    def score(self, reading: DnaReading, explain: bool) -> tuple[int, tuple[Reason, ...]]:
        v = reading.vector
        score = self.score_vector(v)
        if not explain:
            return score, ()
        denied = v[self._denylisted] == 1.0
        if not denied and v[self._allowlisted] == 1.0 and v[self._failed] != 1.0:
            return score, (_list_reason("ALLOWLISTED", reading.features, 0),)
        reasons = reasons_from(self.trees.contributions(v), reading.features)
        if denied:
            rest = tuple(r for r in reasons if r.code != "DENYLISTED")
            points = max([r.points for r in reasons] + [1])
            reasons = (_list_reason("DENYLISTED", reading.features, points),) + rest[: MAX_REASONS - 1]
        return score, reasons


def _list_reason(code: str, features: dict[str, float], points: int) -> Reason:
    return Reason(code, points, GROUPS[code][1](features))


def _read_meta(path: Path) -> dict[str, Any]:
    mp = meta_path(path)
    try:
        meta = json.loads(mp.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(KEY, f"{mp} is missing: a model needs its meta file (written by callshield train)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(KEY, f"{mp} is not a valid model meta file: {exc}") from None
    if not isinstance(meta, dict):
        raise ConfigError(KEY, f"{mp} is not a valid model meta file: not a JSON object")
    return meta


def load_model(spec: str) -> LightGBMModel | None:
    """The model ``scoring.model`` names: None for "" or "rules" (the rules decide)."""
    if spec in ("", "rules"):
        return None
    path = bundled_path() if spec == BUNDLED else Path(spec)
    if not path.exists():
        if spec == BUNDLED:
            log.warning("no bundled model in this installation (%s); scoring with the rules", path)
            return None
        raise ConfigError(KEY, f"{path} does not exist (train one with: callshield train)")
    return LightGBMModel(path)

"""The Call DNA risk model: a LightGBM binary classifier, calibrated, with reasons.

A model file is LightGBM's text format; beside it, ``<file>.meta.json`` holds the
feature names it was trained on and the calibration map. ``load_model("bundled")``
loads the one shipped in the package; ``""`` or ``"rules"`` means no model (the
rule-based scorer decides).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np

from callshield.errors import ConfigError
from callshield.models.dna import DnaReading
from callshield.models.explain import reasons_from
from callshield.models.features import FEATURE_NAMES
from callshield.models.reasons import Reason

BUNDLED = "bundled"


def bundled_path() -> Path:
    return Path(str(resources.files("callshield.models") / "bundled" / "model.txt"))


class LightGBMModel:
    def __init__(self, path: Path):
        import lightgbm

        meta_path = Path(str(path) + ".meta.json")
        meta = json.loads(meta_path.read_text())
        if tuple(meta["features"]) != FEATURE_NAMES:
            raise ConfigError("scoring.model", f"{path} was trained on other features than this callshield computes; retrain it (callshield train)")
        self.booster = lightgbm.Booster(model_file=str(path))
        self.calibration = (np.asarray(meta["calibration"]["x"], dtype=float), np.asarray(meta["calibration"]["y"], dtype=float))
        self.name = f"lightgbm:{meta.get('version', path.stem)}"
        self.meta = meta

    def raw(self, vector: list[float]) -> float:
        return float(self.booster.predict(np.asarray([vector], dtype=float), raw_score=True)[0])

    def probability(self, raw: float) -> float:
        x, y = self.calibration
        return float(np.interp(raw, x, y))

    def score(self, reading: DnaReading, explain: bool) -> tuple[int, tuple[Reason, ...]]:
        raw = self.raw(reading.vector)
        score = int(round(100 * self.probability(raw)))
        if not explain:
            return score, ()
        contrib = self.booster.predict(np.asarray([reading.vector], dtype=float), pred_contrib=True)[0][:-1]
        return score, reasons_from(contrib, reading.features)


def load_model(spec: str) -> LightGBMModel | None:
    if spec in ("", "rules"):
        return None
    path = bundled_path() if spec == BUNDLED else Path(spec)
    if not path.exists():
        if spec == BUNDLED:
            return None
        raise ConfigError("scoring.model", f"{path} does not exist (train one with: callshield train)")
    return LightGBMModel(path)

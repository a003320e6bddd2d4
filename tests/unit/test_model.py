"""The Call DNA model at scoring time: loading, the compiled evaluator, reasons."""

from __future__ import annotations

import json
import math
from pathlib import Path

import lightgbm
import numpy as np
import pytest

from callshield.config import load_config
from callshield.errors import ConfigError
from callshield.screening.lists import ListSnapshot
from callshield.models import fastpath
from callshield.models.explain import reasons_from
from callshield.models.features import FEATURE_NAMES
from callshield.models.model import Calibration, LightGBMModel, bundled_path, load_model
from callshield.training.train import isotonic, write_model
from callshield.screening.screener import Screener
from callshield.read.signal import CallSignal

N = len(FEATURE_NAMES)
DDI = "+442030001234"
T0 = 1_795_000_000.0
CARRIER = dict(source_ip="203.0.113.10", source_port=5060, user_agent="Ribbon SBC 5400 v9.2.3", max_forwards="68",
               header_names=("Via", "Max-Forwards", "From", "To", "Call-ID", "CSeq", "Contact", "P-Asserted-Identity", "Allow"),
               contact="<sip:203.0.113.10:5060>", codecs="(ulaw|alaw)", via=("SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK1",))


def _rows(rng: np.random.Generator, n: int) -> np.ndarray:
    """Varied rows: normals, small counts, binaries, with NaNs and exact zeros."""
    X = rng.normal(size=(n, N))
    X[:, ::3] = rng.integers(0, 2, size=(n, len(range(0, N, 3))))
    X[:, 1::5] = rng.poisson(2.0, size=(n, len(range(1, N, 5))))
    X[rng.random((n, N)) < 0.15] = np.nan
    X[rng.random((n, N)) < 0.15] = 0.0
    return X


def _synthetic_model(tmp_path: Path, name: str, **params) -> tuple[Path, lightgbm.Booster]:
    rng = np.random.default_rng(7)
    X = _rows(rng, 3000)
    logit = np.nan_to_num(X[:, 0]) * 2 + np.isnan(X[:, 1]) + (X[:, 2] == 0) - np.nan_to_num(X[:, 4]) + rng.normal(size=len(X))
    y = (logit > 0.5).astype(int)
    p = {"objective": "binary", "num_leaves": 15, "verbose": -1, "deterministic": True, "num_threads": 1, "seed": 1, **params}
    booster = lightgbm.train(p, lightgbm.Dataset(X, y, feature_name=list(FEATURE_NAMES), params=p), num_boost_round=40)
    text = booster.model_to_string()
    cal = isotonic(booster.predict(X, raw_score=True), y)
    out = tmp_path / name
    write_model(out, text, {"features": list(FEATURE_NAMES), "calibration": {"method": "isotonic", "x": cal[0], "y": cal[1]}},
                sources=[], seed=1)
    return out, booster


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, lightgbm.Booster]:
    return _synthetic_model(tmp_path_factory.mktemp("model"), "model.txt")


@pytest.mark.parametrize("params", [
    {},  # missing type NaN where the data had NaN, None elsewhere
    {"zero_as_missing": True},  # missing type Zero
    {"use_missing": False},  # missing type None everywhere: NaN read as 0.0
], ids=["nan", "zero", "none"])
def test_fast_path_equals_lightgbm(tmp_path: Path, params: dict) -> None:
    path, booster = _synthetic_model(tmp_path, "m.txt", **params)
    model = LightGBMModel(path)
    X = _rows(np.random.default_rng(11), 3000)
    X[:20] = np.nan
    X[20:40] = 0.0
    X[40:60] = 1e-40  # "zero" for LightGBM's Zero missing type
    X[60:80] = -1e-40
    expected = booster.predict(X, raw_score=True)
    got = np.array([model.raw(row) for row in X.tolist()])
    assert np.max(np.abs(got - expected)) <= 1e-9


def test_contributions_sum_to_raw_minus_expected_value(synthetic) -> None:
    model = LightGBMModel(synthetic[0])
    for row in _rows(np.random.default_rng(3), 500).tolist():
        contrib = model.contributions(row)
        assert len(contrib) == N
        assert math.isclose(sum(contrib), model.raw(row) - model.expected_value, abs_tol=1e-9)


def test_contributions_agree_with_lightgbm_on_which_features_matter(synthetic) -> None:
    path, booster = synthetic
    model = LightGBMModel(path)
    X = _rows(np.random.default_rng(5), 200)
    shap = booster.predict(X, pred_contrib=True)[:, :-1]
    saabas = np.array([model.contributions(r) for r in X.tolist()])
    # Different attributions (path vs Shapley), same top feature on most rows.
    agree = np.mean(np.argmax(np.abs(shap), axis=1) == np.argmax(np.abs(saabas), axis=1))
    assert agree > 0.8


def test_single_leaf_trees_and_unused_features(tmp_path: Path) -> None:
    text = _synthetic_model(tmp_path, "x.txt")[1].model_to_string()
    model = fastpath.FastTrees(fastpath.parse_model(text))
    assert model.raw([0.0] * N) == pytest.approx(model.expected_value + sum(model.contributions([0.0] * N)))


def test_calibration_interpolates_monotone_points() -> None:
    cal = Calibration([-2.0, 0.0, 1.0], [0.1, 0.5, 0.9])
    assert (cal(-5.0), cal(-2.0), cal(-1.0), cal(0.5), cal(7.0)) == (0.1, 0.1, pytest.approx(0.3), pytest.approx(0.7), 0.9)
    with pytest.raises(ValueError):
        Calibration([0.0, 0.0], [0.1, 0.2])
    with pytest.raises(ValueError):
        Calibration([0.0, 1.0], [0.5, 0.2])


def test_no_model_means_rules() -> None:
    assert load_model("") is None
    assert load_model("rules") is None


def test_bundled_model_loads_and_scores() -> None:
    assert bundled_path().exists(), "the bundled model is missing: make model"
    model = load_model("bundled")
    assert model is not None and model.name.startswith("lightgbm:cdna-")
    reading = _screener().screen(_call(0, "+447400123456")).dna
    score, reasons = model.score(reading, explain=True)
    assert 0 <= score <= 100 and all(r.points > 0 for r in reasons)


def test_missing_model_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_model(str(tmp_path / "nope.txt"))


def test_model_on_other_features_is_refused(synthetic, tmp_path: Path) -> None:
    path = tmp_path / "old.txt"
    path.write_text(synthetic[0].read_text())
    meta = json.loads(Path(str(synthetic[0]) + ".meta.json").read_text())
    meta["features"] = meta["features"][:-1] + ["some_old_feature"]
    Path(str(path) + ".meta.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="trained on other features.*callshield train") as err:
        load_model(str(path))
    assert err.value.key == "scoring.model"


@pytest.mark.parametrize("damage, message", [
    (lambda text: "this is not a model\n", "not a usable LightGBM model"),
    (lambda text: text[: len(text) // 2], "not a usable LightGBM model"),
    (lambda text: text.replace("threshold=", "threshold=x", 1), "not a usable LightGBM model: tree 0 has a malformed value"),
])
def test_corrupt_model_file_is_a_clear_error(synthetic, tmp_path: Path, damage, message) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(damage(synthetic[0].read_text()))
    meta = json.loads(Path(str(synthetic[0]) + ".meta.json").read_text())
    meta.pop("model_sha256")
    Path(str(path) + ".meta.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match=message):
        load_model(str(path))


def test_model_file_changed_after_training_is_refused(synthetic, tmp_path: Path) -> None:
    path = tmp_path / "m.txt"
    path.write_text(synthetic[0].read_text().replace("Tree=0", "Tree=0\n", 1))
    Path(str(path) + ".meta.json").write_text(Path(str(synthetic[0]) + ".meta.json").read_text())
    with pytest.raises(ConfigError, match="does not belong"):
        load_model(str(path))


@pytest.mark.parametrize("meta_text, message", [(None, "meta.json is missing"), ("{not json", "not a valid model meta file")])
def test_missing_or_broken_meta_is_a_clear_error(synthetic, tmp_path: Path, meta_text, message) -> None:
    path = tmp_path / "m.txt"
    path.write_text(synthetic[0].read_text())
    if meta_text is not None:
        Path(str(path) + ".meta.json").write_text(meta_text)
    with pytest.raises(ConfigError, match=message):
        load_model(str(path))


# -- reasons on real calls, with the shipped model --------------------------------------


def _screener(lists: ListSnapshot | None = None, model=None) -> Screener:
    return Screener(load_config(None, env={}), lists=lists, model=model)


def _call(at: float, number: str | None, withheld: bool = False, **extra) -> CallSignal:
    fields: dict = dict(CARRIER)
    if number:
        fields["pai"] = f"<sip:{number}@203.0.113.10;user=phone>"
    if withheld:
        fields.update(presentation="prohib_not_screened", privacy="id", from_header='"Anonymous" <sip:anonymous@anonymous.invalid>;tag=1')
    elif number:
        fields.update(caller_number=number, caller_name="Jo Bloggs", presentation="allowed_passed_screen",
                      from_header=f'<sip:{number}@203.0.113.10;user=phone>;tag=1')
    fields.update(extra)
    return CallSignal(dialled=DDI, timestamp=T0 + at, **fields)


@pytest.fixture(scope="module")
def bundled() -> LightGBMModel:
    model = load_model("bundled")
    assert model is not None
    return model


def test_repeated_withheld_calls_are_explained_as_withheld(bundled) -> None:
    screener = _screener(model=bundled)
    for n in range(5):
        s = screener.screen(_call(40.0 * n, None, withheld=True))
    score, reasons = bundled.score(s.dna, explain=True)
    codes = [r.code for r in reasons]
    assert {"WITHHELD_BURST", "WITHHELD"} & set(codes), codes
    assert s.decision.status != "SAFE"


def test_denylisted_call_gets_denylisted_first(bundled) -> None:
    lists = ListSnapshot(deny={"+447400123456": "confirmed fraud"})
    s = _screener(lists, model=bundled).screen(_call(0, "+447400123456"))
    score, reasons = bundled.score(s.dna, explain=True)
    assert reasons[0].code == "DENYLISTED"
    assert score >= s.rule_score >= 85 and s.decision.status == "HIGH_RISK"


def test_allowlisted_call_scores_as_the_rules_say(bundled) -> None:
    lists = ListSnapshot(allow={"+447400123456": "our auditor"})
    config = load_config(None, env={}, overrides={"scoring.trust_identity_from": ["203.0.113.0/24"]})
    s = Screener(config, lists=lists, model=bundled).screen(_call(0, "+447400123456"))
    score, reasons = bundled.score(s.dna, explain=True)
    assert score == s.rule_score == 0
    assert [r.code for r in reasons] == ["ALLOWLISTED"]


def test_reasons_only_name_codes_that_pushed_the_score_up(bundled) -> None:
    screener = _screener(model=bundled)
    for n in range(30):
        s = screener.screen(_call(20.0 * n, f"+4474001{n:05d}", withheld=n % 2 == 0))
        contrib = bundled.contributions(s.dna.vector)
        _, reasons = bundled.score(s.dna, explain=True)
        assert reasons == reasons_from(contrib, s.dna.features)
        assert all(r.points >= 1 for r in reasons)

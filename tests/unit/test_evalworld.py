"""The evaluation world (callshield/training/evalworld.py, docs/evalworld.md)."""

from __future__ import annotations

import json
import random

import phonenumbers
import pytest
from click.testing import CliRunner

from callshield.cli import main
from callshield.read.signal import CallSignal
from callshield.training import evalworld as ew

START = 1793577600.0  # 2026-11-02T00:00:00Z


def _lines(calls: int, seed: int, share: float = 0.05) -> list[str]:
    return [json.dumps(s) for s in ew.generate(calls, seed, START, 14.0, share)]


def test_same_seed_same_bytes_and_seeds_differ():
    assert _lines(1500, 7) == _lines(1500, 7)
    assert _lines(300, 7) != _lines(300, 8)
    assert len({ew.pick_site(s).key for s in range(20)}) == len(ew.SITES)


@pytest.mark.parametrize("seed", [0, 1, 5, 7])
def test_lines_valid_ordered_labelled(seed):
    rows = list(ew.generate(2000, seed, START, 14.0, 0.07))
    assert len(rows) == 2000
    assert sum(r["label"] == "fraud" for r in rows) == round(2000 * 0.07)
    last = 0.0
    for r in rows:
        sig = CallSignal.from_dict(r)
        assert sig.timestamp >= last
        last = sig.timestamp
        assert r["label"] in ("fraud", "genuine")
        assert r["channel_state"] == "Ring"
        assert r["campaign"] and r["actor"]
        assert r["campaign"].replace("_", "").isalpha() and r["campaign"].islower()
        assert r["campaign"].startswith("genuine") == (r["label"] == "genuine")
        assert not r["actor"].startswith("fraud") or r["label"] == "fraud"
    # an actor is one originator: never both labels
    labels: dict[str, str] = {}
    for r in rows:
        assert labels.setdefault(r["actor"], r["label"]) == r["label"]


@pytest.mark.parametrize("share", [0.0, 0.013, 0.5, 1.0])
def test_fraud_share_exact(share):
    rows = list(ew.generate(777, 3, START, 7.0, share))
    assert len(rows) == 777
    assert sum(r["label"] == "fraud" for r in rows) == round(777 * share)


def test_number_ranges_are_valid():
    rng = random.Random(1)
    for country, kinds in ew.RANGES.items():
        for kind, ranges in kinds.items():
            for _ in range(40):
                num = ew.number(rng, country, kind)
                parsed = phonenumbers.parse(num)
                assert phonenumbers.is_valid_number(parsed), (country, kind, num)
    for site in ew.SITES.values():
        for ddi in site.ddis:
            parsed = phonenumbers.parse(ddi)
            assert phonenumbers.is_valid_number(parsed), ddi
            assert str(parsed.country_code) == site.cc, ddi


def test_invalid_numbers_are_invalid():
    rng = random.Random(2)
    for country in ("US", "CA", "DE", "AU"):
        for _ in range(50):
            num = ew.invalid_number(rng, country)
            try:
                ok = phonenumbers.is_valid_number(phonenumbers.parse(num, country))
            except phonenumbers.NumberParseException:
                ok = False
            assert not ok, num


def test_suggested_config_trusts_verstat_carriers():
    for site in ew.SITES.values():
        cfg = ew.suggested_config(site)["scoring"]
        assert cfg["home_country"] == site.country
        assert bool(cfg["trust_verstat_from"]) == any(c.verstat for c in site.carriers)


def test_cli_simulate_and_eval(tmp_path):
    out = tmp_path / "ew.jsonl"
    runner = CliRunner()
    res = runner.invoke(main, ["simulate", "--generator", "eval", "--calls", "3000", "--seed", "7", "--out", str(out), "--fraud-share", "0.05"])
    assert res.exit_code == 0, res.output
    lines = out.read_text().splitlines()
    assert len(lines) == 3000
    site = ew.pick_site(7)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"scoring:\n  home_country: {site.country}\n  trust_verstat_from: {json.dumps(ew.suggested_config(site)['scoring']['trust_verstat_from'])}\n")
    res = runner.invoke(main, ["eval", "--config", str(cfg), "--data", str(out), "--model", "rules"])
    assert res.exit_code == 0, res.output
    metrics = json.loads(res.output[res.output.index("{"):])
    assert "roc_auc" in json.dumps(metrics)

"""Reasons are true: a reason code the model shows an agent names a fact that holds for the call.

The model's weight for a group of features can be positive when the group's fact is absent
(a domestic country code it learned to distrust, identical From and P-Asserted-Identity, a
mobile number): such a group still counts in the score but is not named as a reason."""

from __future__ import annotations

import pytest

from callshield.config import load_config
from callshield.models.explain import HOLDS, reasons_from
from callshield.models.features import FEATURE_NAMES
from callshield.read.signal import CallSignal
from callshield.wiring import build_screener

SCORING = {"scoring.trust_verstat_from": ["198.51.100.16/29"], "scoring.home_country": "GB"}


@pytest.fixture(scope="module")
def screened():
    from callshield.training.simulate import simulate

    config = load_config(None, env={}, overrides=SCORING)
    screener = build_screener(config, None).screener
    lines = list(simulate(calls=3000, seed=5, start=1793577600.0, days=2.0, fraud_share=0.1))
    out = []
    for line in lines:
        signal = CallSignal.from_dict({k: v for k, v in line.items() if k not in ("label", "campaign", "actor")})
        out.append(screener.screen(signal))
    return out


def test_every_model_reason_names_a_fact_that_holds(screened) -> None:
    shown = 0
    for s in screened:
        if s.dna is None or not s.decision.scorer.startswith("lightgbm:"):
            continue
        for reason in s.decision.reasons:
            check = HOLDS.get(reason.code)
            if check is not None:
                shown += 1
                assert check(s.dna.features), f"{reason.code} shown for a call where it does not hold: {reason.detail}"
    assert shown > 100  # the corpus exercises the checks


@pytest.mark.parametrize(("code", "features"), [
    ("INTERNATIONAL", {"caller_international": 0.0, "caller_country_code": 44.0}),
    ("CLI_MISMATCH", {"cli_mismatch": 0.0, "callerid_from_mismatch": 0.0}),
    ("VOIP_LINE", {"line_wireless": 1.0}),
    ("WITHHELD", {"withheld": 0.0}),
])
def test_a_group_that_pushed_the_score_up_is_not_named_when_its_fact_is_absent(code: str, features: dict) -> None:
    from callshield.models.explain import FEATURE_GROUP

    contributions = [1.0 if group == code else 0.0 for group in FEATURE_GROUP]
    row = {name: 0.0 for name in FEATURE_NAMES} | features
    assert code not in [r.code for r in reasons_from(contributions, row)]
    assert not HOLDS[code](row)

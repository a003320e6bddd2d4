"""Risk policy per dialled number and the route decision (pure, on the call path)."""

from __future__ import annotations

from typing import Callable

import pytest

from callshield.config import Config, NumberPolicy, RoutingConfig, StatusAction, Thresholds
from callshield.dialplan.policy import HIGH_RISK, SAFE, SUSPICIOUS, Policy, RouteDecision, RoutingTable
from callshield.read.numbers import NumberIntel

DDI = "+442071234567"


def policy(suspicious: StatusAction = StatusAction(), high_risk: StatusAction = StatusAction(), announcement: str = "") -> Policy:
    return Policy(route="PJSIP/agents", fallback="PJSIP/overflow", announcement=announcement,
                  thresholds=Thresholds(suspicious=75, high_risk=85), suspicious=suspicious, high_risk=high_risk)


@pytest.mark.parametrize(("score", "status"), [(0, SAFE), (74, SAFE), (75, SUSPICIOUS), (84, SUSPICIOUS), (85, HIGH_RISK), (100, HIGH_RISK)])
def test_status_from_thresholds(score: int, status: str) -> None:
    assert policy().status(score) == status


def test_equal_thresholds_skip_suspicious() -> None:
    p = Policy("", "", "", Thresholds(suspicious=50, high_risk=50), StatusAction(), StatusAction())

    assert [p.status(s) for s in (49, 50)] == [SAFE, HIGH_RISK]


@pytest.fixture
def table(intel: NumberIntel) -> RoutingTable:
    return RoutingTable(RoutingConfig(), intel)


@pytest.mark.parametrize(
    ("rule", "status", "expected"),
    [
        (StatusAction(), SAFE, RouteDecision("deliver", "PJSIP/agents", "PJSIP/overflow", "normal", "welcome")),
        (StatusAction(), HIGH_RISK, RouteDecision("deliver", "PJSIP/agents", "PJSIP/overflow", "risk_policy:HIGH_RISK:flagged", "welcome")),
        (StatusAction("divert", "PJSIP/fraudteam"), HIGH_RISK,
         RouteDecision("divert", "PJSIP/fraudteam", "PJSIP/agents", "risk_policy:HIGH_RISK:divert", "welcome")),
        (StatusAction("announce_hangup", announcement="goodbye"), HIGH_RISK,
         RouteDecision("announce_hangup", "", "", "risk_policy:HIGH_RISK:announce_hangup", "goodbye")),
        (StatusAction("reject"), HIGH_RISK, RouteDecision("reject", "", "", "risk_policy:HIGH_RISK:reject", "welcome")),
    ],
)
def test_decide_high_risk(table: RoutingTable, rule: StatusAction, status: str, expected: RouteDecision) -> None:
    assert table.decide(DDI, policy(high_risk=rule, announcement="welcome"), status) == expected


def test_decide_uses_the_suspicious_rule_for_suspicious_calls(table: RoutingTable) -> None:
    p = policy(suspicious=StatusAction("reject"), high_risk=StatusAction("divert", "PJSIP/fraudteam"))

    assert table.decide(DDI, p, SUSPICIOUS).action == "reject"
    assert table.decide(DDI, p, HIGH_RISK).action == "divert"


def test_unknown_number_gets_the_default_policy(make_config: Callable[..., Config], intel: NumberIntel) -> None:
    config = make_config("routing:\n  default:\n    route: PJSIP/agents\n    announcement: welcome\n")

    table = RoutingTable(config.routing, intel)

    assert table.policy("+441614960000") == Policy("PJSIP/agents", "", "welcome", Thresholds(), StatusAction(), StatusAction())


def test_number_policy_inherits_each_unset_key_from_the_default(make_config: Callable[..., Config], intel: NumberIntel) -> None:
    config = make_config("""
routing:
  default:
    route: PJSIP/agents
    fallback: PJSIP/overflow
    announcement: welcome
    thresholds: {suspicious: 60, high_risk: 70}
    high_risk: {action: divert, destination: PJSIP/fraudteam}
  numbers:
    "02071234567":
      route: PJSIP/sales
      suspicious: {action: reject}
""")

    p = RoutingTable(config.routing, intel).policy(DDI)

    assert p == Policy("PJSIP/sales", "PJSIP/overflow", "welcome", Thresholds(60, 70), StatusAction("reject"),
                       StatusAction("divert", "PJSIP/fraudteam"))


def test_number_keys_are_normalised_to_e164(intel: NumberIntel) -> None:
    routing = RoutingConfig(numbers={"442071234567": NumberPolicy(route="PJSIP/sales")})

    assert RoutingTable(routing, intel).policy(DDI).route == "PJSIP/sales"


def test_divert_cap_delivers_flagged_past_the_hourly_share(make_config, intel):
    from callshield.dialplan.policy import RoutingTable

    config = make_config(overrides={"routing.default.high_risk": {"action": "divert", "destination": "PJSIP/fraud", "max_per_hour": 2},
                                    "routing.default.route": "PJSIP/agents"})
    table = RoutingTable(config.routing, intel)
    policy = table.policy("+442071234567")
    decisions = [table.decide(DDI, policy, "HIGH_RISK", now=1000.0 + i) for i in range(3)]
    later = table.decide(DDI, policy, "HIGH_RISK", now=1000.0 + 3601)

    assert [d.action for d in decisions] == ["divert", "divert", "deliver"]
    assert decisions[2].reason == "risk_policy:HIGH_RISK:cap_reached" and decisions[2].route == "PJSIP/agents"
    assert later.action == "divert"


def test_a_negative_cap_is_refused(make_config):
    import pytest
    from callshield.errors import ConfigError

    with pytest.raises(ConfigError, match="routing.default.high_risk.max_per_hour"):
        make_config(overrides={"routing.default.high_risk": {"max_per_hour": -1}})

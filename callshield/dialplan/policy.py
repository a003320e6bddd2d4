"""Risk policy per dialled number, resolved once into memory, and the route decision.

``RoutingTable.decide`` is pure and runs on the call path: no I/O, a dict lookup and a
few comparisons.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from callshield.config import NumberPolicy, RoutingConfig, StatusAction, Thresholds
from callshield.numbers import NumberIntel

SAFE, SUSPICIOUS, HIGH_RISK = "SAFE", "SUSPICIOUS", "HIGH_RISK"


@dataclass(frozen=True)
class Policy:
    """A dialled number's policy with every default filled in."""

    route: str
    fallback: str
    announcement: str
    thresholds: Thresholds
    suspicious: StatusAction
    high_risk: StatusAction

    def status(self, score: int) -> str:
        if score >= self.thresholds.high_risk:
            return HIGH_RISK
        if score >= self.thresholds.suspicious:
            return SUSPICIOUS
        return SAFE


@dataclass(frozen=True)
class RouteDecision:
    action: str
    route: str
    fallback: str
    reason: str
    announcement: str


class RoutingTable:
    def __init__(self, routing: RoutingConfig, intel: NumberIntel, caps: "DivertCaps | None" = None):
        self.caps = DivertCaps() if caps is None else caps
        self.default = _resolve(routing.default, None)
        self._by_number = {intel.info(n).key: _resolve(p, self.default) for n, p in routing.numbers.items()}

    def policy(self, dialled_key: str) -> Policy:
        return self._by_number.get(dialled_key, self.default)

    def decide(self, policy: Policy, status: str, now: float | None = None) -> RouteDecision:
        normal = RouteDecision("deliver", policy.route, policy.fallback, "normal", policy.announcement)
        if status == SAFE:
            return normal
        rule = policy.high_risk if status == HIGH_RISK else policy.suspicious
        announcement = rule.announcement or policy.announcement
        if rule.action == "deliver":
            return RouteDecision("deliver", policy.route, policy.fallback, f"risk_policy:{status}:flagged", announcement)
        if rule.action == "divert":
            if rule.max_per_hour and not self.caps.admit(rule.destination, rule.max_per_hour, time.time() if now is None else now):
                # The specialist team has had its hourly share: deliver, flagged, and say so.
                return RouteDecision("deliver", policy.route, policy.fallback, f"risk_policy:{status}:cap_reached", policy.announcement)
            # The normal route stays the fallback: a diverted call is never lost.
            return RouteDecision("divert", rule.destination, policy.route, f"risk_policy:{status}:divert", announcement)
        return RouteDecision(rule.action, "", "", f"risk_policy:{status}:{rule.action}", announcement)


class DivertCaps:
    """Diverted calls per destination in the last hour, in memory (rebuilt from the
    store's call records at start-up)."""

    WINDOW = 3600.0

    def __init__(self) -> None:
        self._times: dict[str, deque[float]] = {}

    def count(self, destination: str, now: float) -> int:
        times = self._times.get(destination)
        if not times:
            return 0
        while times and times[0] <= now - self.WINDOW:
            times.popleft()
        return len(times)

    def admit(self, destination: str, cap: int, now: float) -> bool:
        if self.count(destination, now) >= cap:
            return False
        self.record(destination, now)
        return True

    def record(self, destination: str, now: float) -> None:
        self._times.setdefault(destination, deque()).append(now)


def _resolve(p: NumberPolicy, default: Policy | None) -> Policy:
    def pick(name: str):
        value = getattr(p, name)
        if value is None:
            return getattr(default, name) if default else _BUILTIN[name]
        return value

    return Policy(**{name: pick(name) for name in _BUILTIN})


_BUILTIN = {
    "route": "",
    "fallback": "",
    "announcement": "",
    "thresholds": Thresholds(),
    "suspicious": StatusAction(),
    "high_risk": StatusAction(),
}

"""Risk policy per dialled number, resolved once into memory, and the route decision.

``RoutingTable.decide`` is pure and runs on the call path: no I/O, a dict lookup and a
few comparisons.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from callshield.config import NumberPolicy, RoutingConfig, StatusAction, Thresholds
from callshield.dialplan.destination_health import TrunkHealth
from callshield.dialplan.state import RouteState
from callshield.models.memory import DIVERT_WINDOW, CallMemory
from callshield.read.numbers import NumberIntel

SAFE, SUSPICIOUS, HIGH_RISK = "SAFE", "SUSPICIOUS", "HIGH_RISK"
BLOCKING = ("reject", "announce_hangup")


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
    """The route decision, in this order (docs/routing.md):

    0. the risk policy's blocks (reject, announce_hangup): a blocked caller stays
       blocked whatever the routing;
    1. a live personal override of the dialled number   -> ``override:<staff number>``
    2. an active dial plan routing the dialled number     -> ``plan:<plan name>``
    3. the normal route's destination is down (AMI monitor): the plan marked automatic
       for that destination, else the number's secondary -> ``trunk_down:<destination>``
    4. the risk policy (divert, flagged, cap reached)     -> ``risk_policy:<STATUS>:<what>``
    5. the normal route                                    -> ``normal``

    Pure and in memory: ``state`` and ``health`` are swapped or updated by the edges.
    """

    def __init__(self, routing: RoutingConfig, intel: NumberIntel, caps: "DivertCaps | None" = None,
                 state: RouteState | None = None, health: TrunkHealth | None = None):
        self.caps = DivertCaps() if caps is None else caps
        self.state = RouteState() if state is None else state
        self.health = TrunkHealth() if health is None else health
        self.default = _resolve(routing.default, None)
        self._by_number = {intel.info(n).key: _resolve(p, self.default) for n, p in routing.numbers.items()}

    def policy(self, dialled_key: str) -> Policy:
        return self._by_number.get(dialled_key, self.default)

    def policies(self) -> tuple[Policy, ...]:
        """The configured numbers' policies (routing.numbers), defaults filled in."""
        return tuple(self._by_number.values())

    def configured_numbers(self) -> frozenset[str]:
        """The numbers routing.numbers in the configuration names (E.164 keys)."""
        return frozenset(self._by_number)

    def decide(self, dialled_key: str, policy: Policy, status: str, now: float | None = None) -> RouteDecision:
        now = time.time() if now is None else now
        state = self.state
        own = state.numbers.get(dialled_key)
        route = (own.route if own and own.route else policy.route)
        fallback = (own.fallback if own and own.fallback else policy.fallback)
        announcement = (own.announcement if own and own.announcement else policy.announcement)
        rule = None if status == SAFE else (policy.high_risk if status == HIGH_RISK else policy.suspicious)
        if rule is not None and rule.action in BLOCKING:
            return RouteDecision(rule.action, "", "", f"risk_policy:{status}:{rule.action}", rule.announcement or announcement)
        override = state.overrides.get(dialled_key)
        if override is not None and override.live(now):
            # The staff member's own phone; the number's normal route if it does not answer.
            return RouteDecision("deliver", override.destination, route, f"override:{override.staff}", "")
        plan = state.plans.get(dialled_key)
        if plan is not None:
            return RouteDecision("deliver", plan.destination, fallback, f"plan:{plan.plan}", plan.announcement)
        down = self.health.down_for(route)
        if down is not None:
            auto = state.auto.get(down)
            diverted = auto.get(dialled_key) if auto else None
            if diverted is not None:
                spare = fallback if fallback and not self.health.down_for(fallback) else ""
                return RouteDecision("deliver", diverted.destination, spare, f"trunk_down:{down}", diverted.announcement or announcement)
            if fallback and not self.health.down_for(fallback):
                return RouteDecision("deliver", fallback, "", f"trunk_down:{down}", announcement)
        if rule is None:
            return RouteDecision("deliver", route, fallback, "normal", announcement)
        if rule.action == "divert":
            if rule.max_per_hour and not self.caps.admit(rule.destination, rule.max_per_hour, now):
                # The specialist team has had its hourly share: deliver, flagged, and say so.
                return RouteDecision("deliver", route, fallback, f"risk_policy:{status}:cap_reached", announcement)
            # The normal route stays the fallback: a diverted call is never lost.
            return RouteDecision("divert", rule.destination, route, f"risk_policy:{status}:divert", rule.announcement or announcement)
        return RouteDecision("deliver", route, fallback, f"risk_policy:{status}:flagged", rule.announcement or announcement)


class DivertCaps:
    """The hourly divert cap per destination. The diverted calls are counted in the one
    in-memory store of call observations (models.memory.CallMemory, the screener's,
    rebuilt from the store's call records at start-up); without one, in a store of its own."""

    WINDOW = DIVERT_WINDOW

    def __init__(self, memory: CallMemory | None = None) -> None:
        self.memory = CallMemory() if memory is None else memory

    def count(self, destination: str, now: float) -> int:
        return self.memory.diverts(destination, now)

    def admit(self, destination: str, cap: int, now: float) -> bool:
        if self.count(destination, now) >= cap:
            return False
        self.record(destination, now)
        return True

    def record(self, destination: str, now: float) -> None:
        self.memory.record_divert(destination, now)


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

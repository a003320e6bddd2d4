"""Route state held in memory on the call path: numbers, the active dial plans'
routes, and personal overrides. An immutable snapshot, swapped whole the moment
anything changes (no database read per call)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

MAX_SLOTS = 5
SLOTS = tuple(range(1, MAX_SLOTS + 1))


@dataclass(frozen=True)
class NumberRoute:
    """An inbound number (DDI) and its normal delivery."""

    number: str
    route: str = ""
    fallback: str = ""
    announcement: str = ""
    label: str = ""


@dataclass(frozen=True)
class PlanRoute:
    """Where an active dial plan sends one number's calls."""

    plan: str
    destination: str
    announcement: str = ""


@dataclass(frozen=True)
class Override:
    """A staff member's personal override: their number's calls go to ``destination``."""

    number: str
    destination: str
    staff: str
    expires_at: float
    target: str = ""

    def live(self, now: float) -> bool:
        return now < self.expires_at


@dataclass(frozen=True)
class ActivePlan:
    name: str
    slot: int | None
    invoked_at: float
    invoked_by: str
    routes: int


def _frozen(d: Mapping | None = None) -> Mapping:
    return MappingProxyType(dict(d or {}))


@dataclass(frozen=True)
class RouteState:
    numbers: Mapping[str, NumberRoute] = field(default_factory=_frozen)
    plans: Mapping[str, PlanRoute] = field(default_factory=_frozen)
    overrides: Mapping[str, Override] = field(default_factory=_frozen)
    active: tuple[ActivePlan, ...] = ()
    version: int = 0
    # Plans applied automatically while a destination is down: destination -> number -> route.
    auto: Mapping[str, Mapping[str, PlanRoute]] = field(default_factory=_frozen)

    @classmethod
    def build(
        cls,
        numbers: Mapping[str, NumberRoute],
        active: list[tuple[ActivePlan, list[tuple[str, PlanRoute]]]],
        overrides: Mapping[str, Override],
        version: int,
        auto: Mapping[str, Mapping[str, PlanRoute]] | None = None,
    ) -> "RouteState":
        """Resolve the active plans into one number -> route map. When two active plans
        route the same number, the most recently invoked wins."""
        plans: dict[str, PlanRoute] = {}
        for _plan, routes in sorted(active, key=lambda a: a[0].invoked_at):
            plans.update(routes)
        return cls(_frozen(numbers), _frozen(plans), _frozen(overrides), tuple(a for a, _ in active), version,
                   _frozen({d: _frozen(r) for d, r in (auto or {}).items()}))

"""The scoring core: one call signal in, one decision out. Pure and synchronous.

The only state it touches is in memory: the repeat-call history (updated per call) and
the list snapshot and routing table (swapped whole when they change). No I/O.
"""

from __future__ import annotations

import ipaddress
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Protocol

from callshield.config import Config
from callshield.decision import Decision
from callshield.facts import CallFacts, derive_facts
from callshield.history import CallHistory, Observation, Velocity
from callshield.lists import ListSnapshot
from callshield.dialplan.policy import RoutingTable
from callshield.models.reasons import ScoreResult
from callshield.models.rules import RuleScorer
from callshield.numbers import NumberIntel
from callshield.signal import CallSignal


class Scorer(Protocol):
    name: str

    def score(self, facts: CallFacts, velocity: Velocity, lists: ListSnapshot) -> ScoreResult: ...


@dataclass(frozen=True)
class Screening:
    signal: CallSignal
    facts: CallFacts
    velocity: Velocity
    decision: Decision
    elapsed_us: float


class Screener:
    def __init__(
        self,
        config: Config,
        *,
        intel: NumberIntel | None = None,
        history: CallHistory | None = None,
        scorer: Scorer | None = None,
        lists: ListSnapshot | None = None,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ):
        self.config = config
        self.intel = NumberIntel(config.scoring.home_country) if intel is None else intel
        self.history = CallHistory(config.scoring.repeat_window) if history is None else history
        self.scorer: Scorer = RuleScorer(config.scoring) if scorer is None else scorer
        self.lists = ListSnapshot() if lists is None else lists
        self.routes = RoutingTable(config.routing, self.intel)
        self.trusted = tuple(ipaddress.ip_network(n, strict=False) for n in config.scoring.trust_verstat_from)
        self.new_id = new_id

    def screen(self, signal: CallSignal) -> Screening:
        started = time.perf_counter()
        call_id = signal.call_id or self.new_id()
        facts = derive_facts(signal, self.intel, self.trusted)
        caller = facts.caller.key if facts.caller is not None else None
        velocity = self.history.observe(Observation(signal.timestamp, caller, facts.dialled.key, facts.withheld))
        result = self.scorer.score(facts, velocity, self.lists)
        policy = self.routes.policy(facts.dialled.key)
        status = policy.status(result.score)
        route = self.routes.decide(policy, status)
        att = facts.attestation
        decision = Decision(
            call_id=call_id,
            score=result.score,
            status=status,
            reasons=result.reasons,
            attestation=att.value,
            spoof_status=att.spoof_status,
            spoof_verified=att.verified,
            route_action=route.action,
            route=route.route,
            route_fallback=route.fallback,
            route_reason=route.reason,
            announcement=route.announcement,
            scorer=result.scorer,
        )
        elapsed = (time.perf_counter() - started) * 1e6
        return Screening(signal, facts, velocity, decision, elapsed)

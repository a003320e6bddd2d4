"""The scoring core: one call signal in, one decision out. Pure and synchronous.

The only state it touches is in memory: the one store of call observations
(models.memory.CallMemory: the rules' velocity, the Call DNA features and the divert caps
read it; each call is recorded once), and the list snapshot and routing table (swapped
whole when they change). No I/O.

Order: facts -> rule score -> Call DNA (profile, features) -> model score when a model
is loaded (else the rule score) -> route -> phone insights.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Protocol

from callshield.config import Config
from callshield.screening.decision import CallIds, Decision
from callshield.dialplan.policy import DivertCaps, RoutingTable
from callshield.read.facts import CallFacts, derive_facts
from callshield.screening.lists import ListSnapshot
from callshield.models.dna import CallDNA, DnaReading
from callshield.screening.insights import Insights, carrier_name, insights
from callshield.models.memory import CallMemory, Velocity
from callshield.models.reasons import Reason, ScoreResult
from callshield.models.rules import RuleScorer
from callshield.read.numbers import NumberIntel
from callshield.read.signal import CallSignal
from callshield.read.trust import networks


class RiskModel(Protocol):
    name: str

    def score(self, reading: DnaReading, explain: bool) -> tuple[int, tuple[Reason, ...]]: ...


@dataclass(frozen=True)
class Screening:
    signal: CallSignal
    facts: CallFacts
    velocity: Velocity
    decision: Decision
    elapsed_us: float
    rule_score: int
    dna: DnaReading | None
    insights: Insights


class Screener:
    def __init__(
        self,
        config: Config,
        *,
        intel: NumberIntel | None = None,
        memory: CallMemory | None = None,
        lists: ListSnapshot | None = None,
        dna: CallDNA | None = None,
        model: RiskModel | None = None,
        dnc: frozenset[str] = frozenset(),
        new_id: Callable[[], str] | None = None,
    ):
        self.config = config
        self.intel = NumberIntel(config.scoring.home_country) if intel is None else intel
        if dna is None:
            dna = CallDNA(CallMemory(config.scoring.repeat_window) if memory is None else memory)
        elif memory is not None and memory is not dna.memory:
            raise ValueError("the screener's memory is its Call DNA's: pass one of memory and dna, or the same memory")
        # The one store of call observations: the rules, the Call DNA and the divert caps read it.
        self.memory: CallMemory = dna.memory
        if self.memory.window != config.scoring.repeat_window:
            raise ValueError(f"the memory counts the rules over {self.memory.window:g} s, "
                             f"scoring.repeat_window is {config.scoring.repeat_window} s")
        self.rules = RuleScorer(config.scoring)
        self.dna = dna
        self.model = model
        self.lists = ListSnapshot() if lists is None else lists
        self.dnc = dnc
        self.routes = RoutingTable(config.routing, self.intel, caps=DivertCaps(self.memory))
        self.trusted = networks(config.scoring.trust_verstat_from)
        self.identity_from = networks(config.scoring.trust_identity_from)
        self.internal = networks(config.scoring.internal_networks)
        self.new_id = CallIds() if new_id is None else new_id
        self._carrier = lru_cache(maxsize=65536)(carrier_name)  # LRU: no cliff when full

    def screen(self, signal: CallSignal) -> Screening:
        started = time.perf_counter()
        call_id = signal.call_id or self.new_id()
        facts = derive_facts(signal, self.intel, self.trusted, identity_from=self.identity_from, internal=self.internal)
        if signal.drill:
            return self._drill(signal, facts, call_id, started)
        caller = facts.caller.key if facts.caller is not None else None
        # Read before the call is recorded: the Call DNA records it, once, after its own recall.
        velocity = self.memory.velocity(signal.timestamp, caller, facts.dialled.key, facts.withheld)
        lists = self.lists
        rules = self.rules.score(facts, velocity, lists)
        reading = self.dna.observe(signal, facts, lists, rules.score)
        policy = self.routes.policy(facts.dialled.key)
        result = rules
        if self.model is not None:
            score, reasons = self.model.score(reading, explain=False)
            if policy.status(score) != "SAFE":
                score, reasons = self.model.score(reading, explain=True)
            result = ScoreResult(score, reasons or rules.reasons, self.model.name)
        status = policy.status(result.score)
        route = self.routes.decide(facts.dialled.key, policy, status, signal.timestamp)
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
            caller_profile=reading.profile.profile,
        )
        recall = reading.recall
        abuse = None if facts.caller is None else bool(
            lists.denied(*facts.numbers) or recall.number_outcomes[0] or recall.profile_outcomes[0]
        )
        phone = insights(
            facts.caller,
            carrier=self._carrier(facts.caller) if facts.caller is not None else "N/A",
            score=result.score,
            status=status,
            suspicious_at=policy.thresholds.suspicious,
            dnc=self.dnc,
            recent_abuse=abuse,
        )
        elapsed = (time.perf_counter() - started) * 1e6
        return Screening(signal, facts, velocity, decision, elapsed, rules.score, reading, phone)

    def _drill(self, signal: CallSignal, facts: CallFacts, call_id: str, started: float) -> Screening:
        """A failover-drill test call: routed exactly as a safe call (override, plan,
        trunk health, normal route) but never scored, and kept out of the memory of call
        observations (rule velocity, Call DNA) so drills cannot teach the model anything."""
        policy = self.routes.policy(facts.dialled.key)
        route = self.routes.decide(facts.dialled.key, policy, "SAFE", signal.timestamp)
        decision = Decision(
            call_id=call_id, score=0, status="SAFE", reasons=(), attestation=facts.attestation.value,
            spoof_status=facts.attestation.spoof_status, spoof_verified=facts.attestation.verified,
            route_action=route.action, route=route.route, route_fallback=route.fallback, route_reason=route.reason,
            announcement=route.announcement, scorer="drill",
        )
        elapsed = (time.perf_counter() - started) * 1e6
        return Screening(signal, facts, Velocity(), decision, elapsed, 0, None, insights(None, carrier="N/A", score=0, status="SAFE",
                         suspicious_at=policy.thresholds.suspicious, dnc=self.dnc, recent_abuse=None))

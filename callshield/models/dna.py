"""Call DNA: the caller profile, what memory recalls, and the feature vector of a call.

``CallDNA.observe`` runs on the call path (pure CPU, no I/O): it derives the route trait
and CALLER_PROFILE, reads the memory, extracts the features, then records the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from callshield.read.facts import CallFacts
from callshield.models.features import FeatureInput, extract, vector, zone_for
from callshield.read import sipheaders
from callshield.models.fingerprint import UA_CHARS, HostCache, Profile, profile_of, trait_of, ua_family
from callshield.models.memory import CallKeys, CallMemory, Recall
from callshield.read.signal import CallSignal

if TYPE_CHECKING:  # screening/ calls the model parts and passes these in: types only, no import at run time
    from callshield.screening.lists import ListSnapshot

COMMON_AFTER = 50  # distinct numbers in 24 h that make a route trait "common"


@dataclass(frozen=True)
class DnaReading:
    profile: Profile
    recall: Recall
    features: dict[str, float]
    vector: list[float]
    keys: CallKeys


class CallDNA:
    def __init__(self, memory: CallMemory | None = None, common_after: int = COMMON_AFTER):
        self.memory = CallMemory() if memory is None else memory
        self.common_after = common_after
        self.hosts = HostCache()
        # Memoised per instance (LRU, evicted one at a time): these values repeat call to call.
        self.ua_family = lru_cache(maxsize=4096)(ua_family)
        self.zones = lru_cache(maxsize=4096)(zone_for)

    def observe(self, signal: CallSignal, facts: CallFacts, lists: ListSnapshot, rule_score: int) -> DnaReading:
        contact = sipheaders.parse_address(signal.contact)
        via_hosts = sipheaders.via_hosts(signal.via)
        ua = self.ua_family(signal.user_agent[:UA_CHARS])  # a bounded memo key: the family reads no further
        trait = trait_of(signal, contact, via_hosts, self.hosts, ua)
        number = facts.caller.key if facts.caller is not None else None
        distinct = self.memory.trait_numbers(trait, signal.timestamp, cap=self.common_after)
        profile = profile_of(trait, number, distinct, self.common_after)
        keys = CallKeys(signal.timestamp, number, profile.profile, trait, facts.dialled.key, signal.source_ip, facts.withheld)
        recall = self.memory.recall(keys)
        features = extract(FeatureInput(signal, facts, recall, profile, distinct, lists, rule_score, contact, via_hosts, self.hosts, ua,
                                        self.zones(facts.dialled.e164)))
        self.memory.record(keys)
        return DnaReading(profile, recall, features, vector(features), keys)

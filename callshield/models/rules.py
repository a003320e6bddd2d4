"""The transparent rule-based scorer: each rule that fires adds its configured points.

Pure and synchronous: facts, velocity and the list snapshot in, a ScoreResult out.
It is the documented fallback whenever no trained model is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from callshield.config import RuleWeights, ScoringConfig
from callshield.read.facts import CallFacts
from callshield.models.reasons import Reason, ScoreResult, strongest

if TYPE_CHECKING:  # screening/ calls the model parts and passes these in: types only, no import at run time
    from callshield.models.memory import Velocity
    from callshield.screening.lists import ListSnapshot


class RuleScorer:
    name = "rules"

    def __init__(self, scoring: ScoringConfig):
        self.weights: RuleWeights = scoring.weights
        self.window_min = max(1, round(scoring.repeat_window / 60))
        self.repeat_threshold = scoring.repeat_threshold
        self.withheld_threshold = scoring.withheld_repeat_threshold
        self.anonymous_threshold = scoring.withheld_anonymous_threshold

    def score(self, facts: CallFacts, velocity: Velocity, lists: ListSnapshot) -> ScoreResult:
        w = self.weights
        denied = lists.denied(*facts.numbers)  # any identity the call presents
        trusted = facts.allow_identity  # only the one callshield can trust (callshield.read.trust)
        allowed = lists.allowed(trusted.number)
        if allowed and not denied:
            detail = f"{allowed} ({trusted.basis}) is on the allow list: {lists.allow[allowed] or 'no reason given'}"
            return ScoreResult(w.allowlist, (Reason("ALLOWLISTED", w.allowlist, detail),), self.name)

        fired: list[Reason] = []
        if denied:
            fired.append(Reason("DENYLISTED", w.denylist, f"{denied} is on the deny list: {lists.deny[denied] or 'no reason given'}"))
        if facts.withheld:
            fired.append(Reason("WITHHELD", w.withheld, "presentation withheld" + (f" (network number {facts.caller.key})" if facts.caller else "")))
        if facts.no_caller_id:
            fired.append(Reason("NO_CALLER_ID", w.no_caller_id, "no caller number in From, P-Asserted-Identity or caller ID"))
        if facts.caller is not None and not facts.caller.valid:
            fired.append(Reason("INVALID_NUMBER", w.invalid_number, f"{facts.caller.raw!r} is not a valid number"))

        repeats = velocity.caller_to_dialled + 1
        if facts.caller is not None and repeats >= self.repeat_threshold:
            extra = repeats - self.repeat_threshold + 1
            fired.append(Reason("REPEAT_CALLS", min(100, w.repeat_calls * extra), f"{repeats} calls from {facts.caller.key} to {facts.dialled.key} in {self.window_min} min"))
        withheld_calls = velocity.withheld_to_dialled + 1
        threshold = self.withheld_threshold if facts.caller is not None else self.anonymous_threshold
        if facts.withheld and withheld_calls >= threshold:
            extra = withheld_calls - threshold + 1
            who = f"from {facts.caller.key} " if facts.caller is not None else "with no network number "
            fired.append(Reason("WITHHELD_REPEAT", min(100, w.withheld_repeat * extra), f"{withheld_calls} withheld calls {who}to {facts.dialled.key} in {self.window_min} min"))

        att = facts.attestation
        if att.value == "TN-Validation-Failed" and facts.identity.present:
            fired.append(Reason("IDENTITY_INVALID", w.identity_invalid, facts.identity.problem or "Identity header could not be read"))
        elif att.verification_failed:
            fired.append(Reason("VERIFICATION_FAILED", w.verification_failed, f"{att.value}: the upstream STIR/SHAKEN verification failed"))
        if att.level == "C":
            fired.append(Reason("ATTESTATION_C", w.attestation_c, f"{att.value}: the originating carrier does not know the caller"))
        elif att.level == "B":
            fired.append(Reason("ATTESTATION_B", w.attestation_b, f"{att.value}: the carrier knows the customer, not the number"))

        if facts.international and facts.caller is not None:
            fired.append(Reason("INTERNATIONAL", w.international, f"caller in {facts.caller.region}, dialled number in {facts.dialled.region}"))
        if facts.cli_mismatch:
            fired.append(Reason("CLI_MISMATCH", w.cli_mismatch, f"From {facts.from_number} but P-Asserted-Identity {facts.pai_number}"))

        if facts.problems:
            fired.append(Reason("DATA_QUALITY", w.data_quality, "; ".join(facts.problems)[:200]))

        fired = [r for r in fired if r.points > 0]
        total = sum(r.points for r in fired)
        if denied:
            total = max(total, w.denylist)
        return ScoreResult(min(100, total), strongest(fired), self.name)


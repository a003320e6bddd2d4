"""Reason codes: why a call scored what it did. Rules and the model emit the same shape."""

from __future__ import annotations

from dataclasses import dataclass

MAX_REASONS = 5

# Every code a scorer may emit, with the words an agent reads (docs/channel-variables.md).
REASON_CODES = {
    "ALLOWLISTED": "the caller's trusted identity is on the allow list",
    "DENYLISTED": "the caller's number is on the deny list",
    "WITHHELD": "the caller withheld their number",
    "NO_CALLER_ID": "the call carries no caller number at all",
    "INVALID_NUMBER": "the caller's number is not a valid number",
    "REPEAT_CALLS": "the same number called this number repeatedly",
    "WITHHELD_REPEAT": "repeated withheld calls from the same caller to this number",
    "ATTESTATION_B": "STIR/SHAKEN attestation B: the carrier knows the customer, not the number",
    "ATTESTATION_C": "STIR/SHAKEN attestation C: the carrier does not know the caller",
    "VERIFICATION_FAILED": "STIR/SHAKEN verification of the caller's number failed",
    "IDENTITY_INVALID": "the STIR/SHAKEN Identity header is malformed",
    "INTERNATIONAL": "the call comes from another country than the dialled number's",
    "CLI_MISMATCH": "the presented number differs from the network-asserted number",
    # Call DNA model reasons (features grouped; see callshield/models/explain.py)
    "WITHHELD_BURST": "many withheld calls to this number, from any caller",
    "KNOWN_FRAUDSTER": "earlier calls from this caller were confirmed as fraud",
    "PROFILE_REPEAT": "the same caller profile (route and device) called repeatedly",
    "NUMBER_ROTATION": "one caller profile presenting many different numbers",
    "MANY_TARGETS": "the caller called many of our numbers",
    "BURST": "a burst of calls from the same source",
    "NEW_CALLER": "a number or caller profile never seen before",
    "SPOOFED_OWN_NUMBER": "the caller presents one of our own numbers",
    "VOIP_LINE": "the caller's number is in a VoIP or unusual line range",
    "UNUSUAL_ROUTE": "the call's route or device traits are unusual",
    "UNUSUAL_HOURS": "the call came at an unusual hour",
    "DATA_QUALITY": "the call's signalling is broken or implausible (scored anyway)",
    "RULES": "the transparent rule-based score contributed",
}


@dataclass(frozen=True)
class Reason:
    code: str
    points: int
    detail: str

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "points": self.points, "detail": self.detail}


@dataclass(frozen=True)
class ScoreResult:
    score: int
    reasons: tuple[Reason, ...]
    scorer: str


def strongest(reasons: list[Reason], limit: int = MAX_REASONS) -> tuple[Reason, ...]:
    """Strongest first; ties keep the order the rules fired in."""
    return tuple(sorted(reasons, key=lambda r: -r.points)[:limit])

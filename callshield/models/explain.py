"""Model explanations: feature contributions grouped into reason codes an agent reads.

Each Call DNA feature belongs to one reason code; a code's weight is the sum of its
features' contributions to the log-odds. Codes that pushed the score up come out
strongest first, each with a detail built from the values behind it, e.g.
``WITHHELD_BURST: 4 withheld calls to this number from any caller in 10 min, 6 in 1 h``.
A detail states facts of this call: counts include it only when it fits them.
"""

from __future__ import annotations

from typing import Callable, Sequence

from callshield.models.features import FEATURE_NAMES
from callshield.models.reasons import MAX_REASONS, Reason

F = dict[str, float]


def _n(f: F, k: str) -> int:
    v = f.get(k, 0.0)
    return 0 if v != v else int(v)


# reason code -> (feature-name prefixes or names, detail builder)
GROUPS: dict[str, tuple[tuple[str, ...], Callable[[F], str]]] = {
    "DENYLISTED": (("denylisted",), lambda f: "the caller's number is on the deny list"),
    "ALLOWLISTED": (("allowlisted",), lambda f: "the caller's trusted identity is on the allow list"),
    "KNOWN_FRAUDSTER": (("number_confirmed_", "profile_confirmed_"),
                        lambda f: f"{_n(f, 'number_confirmed_fraud')} earlier calls from this number and {_n(f, 'profile_confirmed_fraud')} from this caller profile confirmed as fraud"),
    # Per dialled number from anyone: not WITHHELD_REPEAT, the rules' count per caller.
    "WITHHELD_BURST": (("withheld_dialled_calls_", "withheld_share_dialled_1h"),
                       lambda f: f"{_n(f, 'withheld_dialled_calls_10m') + _n(f, 'withheld')} withheld calls to this number from any caller"
                                 f" in 10 min, {_n(f, 'withheld_dialled_calls_1h') + _n(f, 'withheld')} in 1 h"),
    "WITHHELD": (("withheld", "pres_", "privacy_", "from_anonymous"), lambda f: "the caller withheld their number"),
    "NO_CALLER_ID": (("no_caller_id",), lambda f: "no caller number at all"),
    "REPEAT_CALLS": (("number_calls_", "number_dialled_calls_"),
                     lambda f: f"{_n(f, 'number_dialled_calls_10m') + 1} calls from this number to this number in 10 min, {_n(f, 'number_calls_24h') + 1} in 24 h"),
    "PROFILE_REPEAT": (("profile_calls_", "profile_dialled_calls_"),
                       lambda f: f"{_n(f, 'profile_calls_1h') + 1} calls from this caller profile in 1 h, {_n(f, 'profile_calls_24h') + 1} in 24 h"),
    "NUMBER_ROTATION": (("profile_numbers_24h", "number_profiles_24h"),
                        lambda f: f"this caller profile presented {_n(f, 'profile_numbers_24h') + 1} different numbers in 24 h"),
    "MANY_TARGETS": (("number_dialled_numbers_24h", "profile_dialled_numbers_24h"),
                     lambda f: f"this caller called {max(_n(f, 'number_dialled_numbers_24h'), _n(f, 'profile_dialled_numbers_24h')) + 1} of our numbers in 24 h"),
    "BURST": (("source_calls_", "dialled_calls_"), lambda f: f"{_n(f, 'source_calls_1m') + 1} calls from the same source in 1 min"),
    "NEW_CALLER": (("number_first_seen", "number_age_log", "profile_first_seen", "profile_age_log"),
                   lambda f: "first call from this number" if f.get("number_first_seen") else "a caller profile not seen before"),
    "ATTESTATION_C": (("attest_c",), lambda f: "STIR/SHAKEN attestation C: the carrier does not know the caller"),
    "ATTESTATION_B": (("attest_b",), lambda f: "STIR/SHAKEN attestation B: the carrier knows the customer, not the number"),
    "VERIFICATION_FAILED": (("verification_failed", "verified", "verstat_", "attest_a"), lambda f: "STIR/SHAKEN verification did not pass"),
    "IDENTITY_INVALID": (("identity_", "orig_tn_matches", "dest_tn_matches", "iat_", "ppt_shaken"), lambda f: "the STIR/SHAKEN Identity header is missing, malformed or does not match the call"),
    "SPOOFED_OWN_NUMBER": (("caller_is_dialled", "caller_near_dialled"), lambda f: "the caller presents one of our own numbers"),
    "INTERNATIONAL": (("caller_international", "caller_country_code", "caller_same_country_code"), lambda f: f"the call comes from country code +{_n(f, 'caller_country_code')}"),
    "VOIP_LINE": (("line_",), lambda f: f"the caller's number is a {_line(f)} number (phonenumbers)"),
    "INVALID_NUMBER": (("caller_valid", "caller_digits", "caller_max_digit_run", "pai_valid_number"), lambda f: "the caller's number is not a valid number"),
    "CLI_MISMATCH": (("cli_mismatch", "callerid_from_mismatch", "from_", "pai_", "diversion_present", "caller_name_"),
                     lambda f: "the presented number differs from the network-asserted one" if f.get("cli_mismatch") == 1.0 else "the caller ID differs from the number in From"),
    "UNUSUAL_ROUTE": (("via_", "max_forwards", "hops", "source_private", "source_port_5060", "contact_", "ua_", "header_count", "shape_", "codec_", "trait_numbers_24h", "profile_common", "profile_anonymous_common"),
                      lambda f: f"the call's route or device is unusual ({_n(f, 'hops')} hops, {_n(f, 'via_private_hops')} private Via hops)"),
    "UNUSUAL_HOURS": (("hour", "hour_", "weekday", "weekend", "business_hours", "night"), lambda f: f"called at {_n(f, 'hour'):02d}:00 local time"),
    "DATA_QUALITY": (("problems",), lambda f: f"{_n(f, 'problems')} signalling problem(s) reading the call"),
    "RULES": (("rule_score",), lambda f: f"the rule-based score is {_n(f, 'rule_score')}"),
}


UNUSUAL_LINES = ("line_voip", "line_premium_rate", "line_shared_cost", "line_personal", "line_pager", "line_uan", "line_voicemail")


def _line(f: F) -> str:
    return next((k[len("line_"):].replace("_", " ") for k in UNUSUAL_LINES if f.get(k) == 1.0), "unusual")


def _on(f: F, *names: str) -> bool:
    return any(f.get(n) == 1.0 for n in names)


# A reason code is shown only when the fact it names holds for the call (the model's
# weight for a group can be positive when the fact is absent: e.g. a domestic country
# code the model learned to distrust is not "INTERNATIONAL"). Codes without an entry
# state counts or values read from the call in their detail, true by construction.
HOLDS: dict[str, Callable[[F], bool]] = {
    "DENYLISTED": lambda f: _on(f, "denylisted"),
    "ALLOWLISTED": lambda f: _on(f, "allowlisted"),
    "KNOWN_FRAUDSTER": lambda f: _n(f, "number_confirmed_fraud") + _n(f, "profile_confirmed_fraud") > 0,
    "WITHHELD_BURST": lambda f: _n(f, "withheld_dialled_calls_1h") > 0,
    "WITHHELD": lambda f: _on(f, "withheld"),
    "NO_CALLER_ID": lambda f: _on(f, "no_caller_id"),
    "NEW_CALLER": lambda f: _on(f, "number_first_seen", "profile_first_seen"),
    "ATTESTATION_C": lambda f: _on(f, "attest_c"),
    "ATTESTATION_B": lambda f: _on(f, "attest_b"),
    "VERIFICATION_FAILED": lambda f: _on(f, "verification_failed"),
    "SPOOFED_OWN_NUMBER": lambda f: _on(f, "caller_is_dialled", "caller_near_dialled"),
    "INTERNATIONAL": lambda f: _on(f, "caller_international"),
    "VOIP_LINE": lambda f: _on(f, *UNUSUAL_LINES),
    "INVALID_NUMBER": lambda f: f.get("caller_valid") == 0.0 or f.get("pai_valid_number") == 0.0,
    "CLI_MISMATCH": lambda f: _on(f, "cli_mismatch", "callerid_from_mismatch"),
    "DATA_QUALITY": lambda f: _n(f, "problems") > 0,
}


def _group_of(name: str) -> str:
    for code, (keys, _) in GROUPS.items():
        for k in keys:
            if name == k or (k.endswith("_") and name.startswith(k)):
                return code
    raise KeyError(name)


FEATURE_GROUP: tuple[str, ...] = tuple(_group_of(n) for n in FEATURE_NAMES)


def reasons_from(contributions: Sequence[float], features: F, limit: int = MAX_REASONS) -> tuple[Reason, ...]:
    """Reasons from per-feature contributions (log-odds, FEATURE_NAMES order)."""
    weight: dict[str, float] = {}
    for code, c in zip(FEATURE_GROUP, contributions):
        weight[code] = weight.get(code, 0.0) + c
    up = sorted(((w, code) for code, w in weight.items() if w > 0.05 and HOLDS.get(code, _always)(features)), reverse=True)[:limit]
    return tuple(Reason(code, max(1, round(w * 10)), GROUPS[code][1](features)) for w, code in up)


def _always(f: F) -> bool:
    return True

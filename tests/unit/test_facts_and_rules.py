"""Facts and the rule scorer, end to end through the Screener, with explicit timestamps."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from callshield.dialplan.variables import DECISION_VARIABLES, ROUTE_ACTION
from callshield.config import Config
from callshield.models.memory import CallMemory
from callshield.screening.lists import ListSnapshot
from callshield.models.reasons import MAX_REASONS, REASON_CODES, Reason
from callshield.screening.screener import Screener, Screening
from callshield.read.signal import CallSignal

DDI = "+442071234567"
GB_CALLER = "+442079460000"
GB_CALLER_2 = "+441614960000"
US_CALLER = "+12025550143"
ANONYMOUS_FROM = '"Anonymous" <sip:anonymous@anonymous.invalid>;tag=1'

Call = Callable[..., CallSignal]


def sip(number: str, **uri_params: str) -> str:
    params = "".join(f";{k}={v}" for k, v in uri_params.items())
    return f"<sip:{number}@198.51.100.7{params}>"


def codes(screening: Screening) -> list[str]:
    return [r.code for r in screening.decision.reasons]


def reason(screening: Screening, code: str) -> Reason | None:
    return next((r for r in screening.decision.reasons if r.code == code), None)


def test_plain_domestic_call_is_safe_and_delivered(screener: Screener, call: Call) -> None:
    decision = screener.screen(call(caller_number=GB_CALLER, from_header=sip(GB_CALLER))).decision

    assert (decision.score, decision.reasons, decision.status) == (0, (), "SAFE")
    assert (decision.route_action, decision.route_reason, decision.call_id) == ("deliver", "normal", "call-1")


def test_allowlisted_number_scores_zero_with_only_that_reason(make_screener: Callable[..., Screener], make_config: Callable[..., Config],
                                                             call: Call) -> None:
    # The allow list matches only a trusted identity (tests/security/test_allowlist_trust.py).
    config = make_config(overrides={"scoring.trust_identity_from": ["198.51.100.0/24"]})
    screener = make_screener(config, lists=ListSnapshot(allow={US_CALLER: "supplier"}))

    decision = screener.screen(call(caller_number=US_CALLER, from_header=sip(US_CALLER), pai=sip(US_CALLER))).decision

    assert decision.score == 0
    assert decision.reasons == (
        Reason("ALLOWLISTED", 0, f"{US_CALLER} (network-asserted by trusted source 198.51.100.7) is on the allow list: supplier"),)


def test_allowlist_still_covers_an_identity_nobody_verified(make_screener: Callable[..., Screener], make_config: Callable[..., Config],
                                                           call: Call, make_identity: Callable[..., str]) -> None:
    config = make_config(overrides={"scoring.trust_identity_from": ["198.51.100.0/24"]})
    screener = make_screener(config, lists=ListSnapshot(allow={GB_CALLER: ""}))

    screening = screener.screen(call(pai=sip(GB_CALLER), identity=make_identity("A")))

    assert codes(screening) == ["ALLOWLISTED"]
    assert screening.decision.attestation == "TN-Validation-Failed-A"


def test_allowlist_does_not_cover_a_failed_verification(make_screener: Callable[..., Screener], call: Call) -> None:
    screener = make_screener(lists=ListSnapshot(allow={GB_CALLER: ""}))

    screening = screener.screen(call(pai=sip(GB_CALLER, verstat="TN-Validation-Failed-A")))

    assert codes(screening) == ["VERIFICATION_FAILED"]


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"caller_number": US_CALLER}, id="caller-id"),
        pytest.param({"caller_number": "0012025550143"}, id="caller-id-international-prefix"),
        pytest.param({"from_header": ANONYMOUS_FROM, "pai": sip(US_CALLER)}, id="withheld-with-pai"),
        pytest.param({"presentation": "prohib_passed_screen", "from_header": sip(GB_CALLER), "pai": sip(US_CALLER)}, id="pai-over-from"),
    ],
)
def test_denylisted_number_scores_at_least_the_denylist_weight(make_screener: Callable[..., Screener], call: Call,
                                                               fields: dict[str, str]) -> None:
    screener = make_screener(lists=ListSnapshot(deny={US_CALLER: "fraud ring"}))

    decision = screener.screen(call(**fields)).decision

    assert decision.score >= 95
    assert decision.reasons[0] == Reason("DENYLISTED", 95, f"{US_CALLER} is on the deny list: fraud ring")
    assert decision.status == "HIGH_RISK"


def test_deny_wins_over_allow(make_screener: Callable[..., Screener], call: Call) -> None:
    screener = make_screener(lists=ListSnapshot(allow={GB_CALLER: ""}, deny={GB_CALLER: ""}))

    assert codes(screener.screen(call(caller_number=GB_CALLER))) == ["DENYLISTED"]


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"presentation": "prohib_passed_screen", "caller_number": GB_CALLER}, id="presentation-prohibited"),
        pytest.param({"privacy": "id", "from_header": sip(GB_CALLER)}, id="privacy-id"),
        pytest.param({"privacy": "user;critical", "pai": sip(GB_CALLER)}, id="privacy-user"),
        pytest.param({"from_header": ANONYMOUS_FROM}, id="anonymous-from"),
        pytest.param({"caller_number": "Restricted"}, id="restricted-caller-id"),
    ],
)
def test_withheld_call_is_flagged(screener: Screener, call: Call, fields: dict[str, str]) -> None:
    screening = screener.screen(call(**fields))

    assert screening.facts.withheld
    assert codes(screening) == ["WITHHELD"]
    assert screening.decision.score == 40


def test_withheld_detail_names_the_network_number(screener: Screener, call: Call) -> None:
    screening = screener.screen(call(from_header=ANONYMOUS_FROM, pai=sip(GB_CALLER)))

    assert reason(screening, "WITHHELD") == Reason("WITHHELD", 40, f"presentation withheld (network number {GB_CALLER})")


@pytest.mark.parametrize("fields", [{}, {"caller_number": "unknown"}, {"from_header": "<sip:carrier.example>"}])
def test_call_without_a_caller_number_is_no_caller_id(screener: Screener, call: Call, fields: dict[str, str]) -> None:
    screening = screener.screen(call(**fields))

    assert (screening.facts.withheld, screening.facts.no_caller_id) == (False, True)
    assert codes(screening) == ["NO_CALLER_ID"]


def test_invalid_caller_number_is_flagged(screener: Screener, call: Call) -> None:
    screening = screener.screen(call(caller_number="12345"))

    assert codes(screening) == ["INVALID_NUMBER", "DATA_QUALITY"]
    assert "caller number '12345' is not a valid number" in screening.facts.problems


def test_unparseable_headers_are_problems_not_errors(screener: Screener, call: Call) -> None:
    screening = screener.screen(call(caller_number=GB_CALLER, from_header="garbage", pai="<http://x>", identity="x.y"))

    assert screening.facts.problems == (
        "From header unparseable",
        "P-Asserted-Identity header unparseable",
        "Identity header: not a compact JWT (2 dot-separated parts, expected 3)",
    )
    assert codes(screening) == ["IDENTITY_INVALID", "DATA_QUALITY"]


@pytest.mark.parametrize(
    ("offsets", "points"),
    [
        pytest.param([0, 60, 120, 180], [None, None, 15, 30], id="within-window"),
        pytest.param([0, 599, 1198], [None, None, None], id="each-just-inside-but-first-expired"),
        pytest.param([0, 600, 1200], [None, None, None], id="spread-beyond-window"),
    ],
)
def test_repeat_calls_fire_from_the_threshold_within_the_window(screener: Screener, call: Call, offsets: list[int],
                                                                points: list[int | None]) -> None:
    screenings = [screener.screen(call(at=t, caller_number=GB_CALLER)) for t in offsets]

    got = [r.points if (r := reason(s, "REPEAT_CALLS")) else None for s in screenings]
    assert got == points


def test_repeat_calls_detail(screener: Screener, call: Call) -> None:
    for t in (0, 60):
        screener.screen(call(at=t, caller_number=GB_CALLER))

    third = screener.screen(call(at=120, caller_number=GB_CALLER))

    assert reason(third, "REPEAT_CALLS") == Reason("REPEAT_CALLS", 15, f"3 calls from {GB_CALLER} to {DDI} in 10 min")


def test_repeat_calls_count_per_dialled_number(screener: Screener, call: Call) -> None:
    for t, ddi in ((0, DDI), (60, "+442079460001")):
        screener.screen(call(at=t, caller_number=GB_CALLER, dialled=ddi))

    third = screener.screen(call(at=120, caller_number=GB_CALLER))

    assert third.velocity.caller_to_dialled == 1 and third.velocity.caller_any == 2
    assert "REPEAT_CALLS" not in codes(third)


@pytest.mark.parametrize(
    ("fields", "first_flagged"),
    [
        pytest.param({"from_header": ANONYMOUS_FROM, "pai": sip(GB_CALLER)}, 2, id="network-number-threshold-2"),
        pytest.param({"from_header": ANONYMOUS_FROM}, 4, id="anonymous-threshold-4"),
    ],
)
def test_withheld_repeat_threshold_depends_on_a_network_number(screener: Screener, call: Call, fields: dict[str, str],
                                                               first_flagged: int) -> None:
    screenings = [screener.screen(call(at=60 * i, **fields)) for i in range(5)]

    flagged = [n for n, s in enumerate(screenings, 1) if "WITHHELD_REPEAT" in codes(s)]
    assert flagged == list(range(first_flagged, 6))
    assert reason(screenings[first_flagged - 1], "WITHHELD_REPEAT").points == 40  # type: ignore[union-attr]


def test_withheld_repeat_counts_each_network_number_apart(screener: Screener, call: Call) -> None:
    screener.screen(call(at=0, from_header=ANONYMOUS_FROM, pai=sip(GB_CALLER)))

    other = screener.screen(call(at=60, from_header=ANONYMOUS_FROM, pai=sip(GB_CALLER_2)))

    assert "WITHHELD_REPEAT" not in codes(other)


def test_withheld_repeat_detail_for_anonymous_callers(screener: Screener, call: Call) -> None:
    for i in range(3):
        screener.screen(call(at=60 * i, from_header=ANONYMOUS_FROM))

    fourth = screener.screen(call(at=180, from_header=ANONYMOUS_FROM))

    assert reason(fourth, "WITHHELD_REPEAT") == Reason("WITHHELD_REPEAT", 40, f"4 withheld calls with no network number to {DDI} in 10 min")


@pytest.mark.parametrize(
    ("attest", "verstat", "attestation", "expected_codes"),
    [
        pytest.param("A", "TN-Validation-Passed", "TN-Validation-Passed-A", [], id="passed-A"),
        pytest.param("B", "TN-Validation-Passed", "TN-Validation-Passed-B", ["ATTESTATION_B"], id="passed-B"),
        pytest.param("C", "TN-Validation-Passed", "TN-Validation-Passed-C", ["ATTESTATION_C"], id="passed-C"),
        pytest.param("A", "TN-Validation-Failed", "TN-Validation-Failed-A", ["VERIFICATION_FAILED"], id="failed-A"),
        pytest.param("C", "TN-Validation-Failed", "TN-Validation-Failed-C", ["VERIFICATION_FAILED", "ATTESTATION_C"], id="failed-C"),
        pytest.param("B", None, "TN-Validation-Failed-B", ["ATTESTATION_B"], id="unverified-B"),
        pytest.param(None, None, "TN-Validation-Failed", ["IDENTITY_INVALID", "DATA_QUALITY"], id="no-attest-claim"),
    ],
)
def test_attestation_reasons(screener: Screener, call: Call, make_identity: Callable[..., str], attest: str | None,
                             verstat: str | None, attestation: str, expected_codes: list[str]) -> None:
    pai = sip(GB_CALLER, verstat=verstat) if verstat else sip(GB_CALLER)

    screening = screener.screen(call(pai=pai, identity=make_identity(attest)))

    assert screening.decision.attestation == attestation
    assert sorted(codes(screening)) == sorted(expected_codes)


def test_verstat_from_an_untrusted_source_is_ignored(make_config: Callable[..., Config], make_screener: Callable[..., Screener],
                                                    call: Call, make_identity: Callable[..., str]) -> None:
    screener = make_screener(make_config(overrides={"scoring.trust_verstat_from": ["203.0.113.0/24"]}))
    pai = sip(GB_CALLER, verstat="TN-Validation-Passed")

    untrusted = screener.screen(call(pai=pai, identity=make_identity("A"), source_ip="198.51.100.7")).decision
    trusted = screener.screen(call(at=1, pai=pai, identity=make_identity("A"), source_ip="203.0.113.9")).decision

    assert (untrusted.attestation, untrusted.spoof_verified) == ("TN-Validation-Failed-A", False)
    assert (trusted.attestation, trusted.spoof_status, trusted.spoof_verified) == ("TN-Validation-Passed-A", "SAFE", True)


@pytest.mark.parametrize(
    ("caller", "dialled", "international"),
    [
        pytest.param(US_CALLER, DDI, True, id="US-caller-to-GB-DDI"),
        pytest.param(GB_CALLER, "+12015550123", True, id="GB-caller-to-US-DDI"),
        pytest.param(GB_CALLER, DDI, False, id="GB-caller-to-GB-DDI"),
        pytest.param("02079460000", DDI, False, id="national-format"),
        pytest.param("2015550123", "+12015550123", False, id="US-national-to-US-DDI"),
    ],
)
def test_international_caller(screener: Screener, call: Call, caller: str, dialled: str, international: bool) -> None:
    screening = screener.screen(call(caller_number=caller, dialled=dialled))

    assert screening.facts.international is international
    assert ("INTERNATIONAL" in codes(screening)) is international


def test_international_detail(screener: Screener, call: Call) -> None:
    screening = screener.screen(call(caller_number=US_CALLER))

    assert screening.decision.reasons == (Reason("INTERNATIONAL", 20, "caller in US, dialled number in GB"),)


@pytest.mark.parametrize(
    ("from_number", "pai_number", "mismatch"),
    [
        pytest.param(GB_CALLER, GB_CALLER_2, True, id="different"),
        pytest.param("02079460000", GB_CALLER, False, id="same-number-other-format"),
        pytest.param(GB_CALLER, GB_CALLER, False, id="same"),
    ],
)
def test_from_and_pai_disagreeing_is_a_cli_mismatch(screener: Screener, call: Call, from_number: str, pai_number: str,
                                                    mismatch: bool) -> None:
    screening = screener.screen(call(from_header=sip(from_number), pai=sip(pai_number)))

    assert screening.facts.cli_mismatch is mismatch
    expected = [Reason("CLI_MISMATCH", 25, f"From {from_number} but P-Asserted-Identity {pai_number}")] if mismatch else []
    assert list(screening.decision.reasons) == expected


def test_reasons_are_strongest_first_and_at_most_five(make_screener: Callable[..., Screener], call: Call,
                                                      make_identity: Callable[..., str]) -> None:
    screener = make_screener(lists=ListSnapshot(deny={US_CALLER: ""}))
    signal = call(
        privacy="id",
        from_header=sip(GB_CALLER),
        pai=sip(US_CALLER, verstat="TN-Validation-Failed"),
        identity=make_identity("C"),
    )  # fires DENYLISTED 95, WITHHELD 40, VERIFICATION_FAILED 40, ATTESTATION_C 35, CLI_MISMATCH 25, INTERNATIONAL 20

    decision = screener.screen(signal).decision

    assert len(decision.reasons) == MAX_REASONS
    assert [(r.code, r.points) for r in decision.reasons] == [
        ("DENYLISTED", 95), ("WITHHELD", 40), ("VERIFICATION_FAILED", 40), ("ATTESTATION_C", 35), ("CLI_MISMATCH", 25),
    ]
    assert decision.score == 100
    assert decision.channel_variables()["RISK_REASONS"] == "DENYLISTED,WITHHELD,VERIFICATION_FAILED,ATTESTATION_C,CLI_MISMATCH"


def test_every_reason_code_is_documented(screener: Screener, call: Call) -> None:
    screening = screener.screen(call(caller_number=US_CALLER, from_header=sip(GB_CALLER_2)))

    assert set(codes(screening)) <= set(REASON_CODES)


def test_zero_weight_rules_give_no_reason(make_config: Callable[..., Config], make_screener: Callable[..., Screener], call: Call) -> None:
    screener = make_screener(make_config(overrides={"scoring.weights.international": 0}))

    assert screener.screen(call(caller_number=US_CALLER)).decision.reasons == ()


ROUTED = """
routing:
  default:
    route: PJSIP/agents
  numbers:
    "+442071234567":
      route: PJSIP/sales
      thresholds: {suspicious: 10, high_risk: 20}
      high_risk: {action: divert, destination: PJSIP/fraudteam}
    "02079460001":
      suspicious: {action: announce_hangup, announcement: custom/goodbye}
"""


@pytest.mark.parametrize(
    ("dialled", "caller", "expected"),
    [
        pytest.param(DDI, US_CALLER, ("HIGH_RISK", "divert", "PJSIP/fraudteam", "PJSIP/sales", "risk_policy:HIGH_RISK:divert", ""),
                     id="number-thresholds-divert"),
        pytest.param("02071234567", US_CALLER, ("HIGH_RISK", "divert", "PJSIP/fraudteam", "PJSIP/sales", "risk_policy:HIGH_RISK:divert", ""),
                     id="national-format-ddi"),
        pytest.param(DDI, GB_CALLER, ("SAFE", "deliver", "PJSIP/sales", "", "normal", ""), id="safe-to-number-route"),
        pytest.param("+442079460002", US_CALLER, ("SAFE", "deliver", "PJSIP/agents", "", "normal", ""), id="default-thresholds"),
        pytest.param("+442079460001", "anonymous", ("SUSPICIOUS", "announce_hangup", "", "", "risk_policy:SUSPICIOUS:announce_hangup",
                                                    "custom/goodbye"), id="announce-hangup"),
    ],
)
def test_per_number_policy_from_config(make_config: Callable[..., Config], make_screener: Callable[..., Screener], call: Call,
                                       dialled: str, caller: str, expected: tuple[str, ...]) -> None:
    screener = make_screener(make_config(ROUTED, {"scoring.weights.withheld": 80}))

    variables = screener.screen(call(dialled=dialled, caller_number=caller)).decision.channel_variables()

    assert (variables["RISK_STATUS"], variables["ROUTE_ACTION"], variables["ROUTE"], variables["ROUTE_FALLBACK"],
            variables["ROUTE_REASON"], variables["ANNOUNCEMENT"]) == expected


def test_channel_variables_hold_the_whole_contract_with_route_action_last(screener: Screener, call: Call) -> None:
    variables = screener.screen(call(caller_number=US_CALLER)).decision.channel_variables()

    assert set(variables) == set(DECISION_VARIABLES)
    assert list(variables)[-1] == ROUTE_ACTION
    assert all(isinstance(v, str) for v in variables.values())
    assert len(variables.pop("CALLER_PROFILE")) == 12
    assert variables == {
        "CALLSHIELD_CALL_ID": "call-1", "RISK_SCORE": "20", "RISK_STATUS": "SAFE", "RISK_REASONS": "INTERNATIONAL",
        "ATTESTATION": "No-TN-Validation", "SPOOF_STATUS": "N/A", "SPOOF_VERIFIED": "false", "ROUTE": "", "ROUTE_FALLBACK": "",
        "ROUTE_REASON": "normal", "ANNOUNCEMENT": "", "ROUTE_ACTION": "deliver",
    }


def test_decision_json_keeps_numbers_and_details(screener: Screener, call: Call) -> None:
    out: dict[str, Any] = screener.screen(call(caller_number=US_CALLER)).decision.to_json()

    assert (out["RISK_SCORE"], out["SPOOF_VERIFIED"], out["scorer"]) == (20, False, "rules")
    assert out["reasons"] == [{"code": "INTERNATIONAL", "points": 20, "detail": "caller in US, dialled number in GB"}]


def test_call_id_of_the_signal_wins_over_a_new_one(screener: Screener, call: Call) -> None:
    assert screener.screen(call(call_id="from-signal")).decision.call_id == "from-signal"
    assert screener.screen(call()).decision.call_id == "call-1"


def test_screener_uses_the_memory_it_is_given(make_config: Callable[..., Config], call: Call) -> None:
    memory = CallMemory(600)
    screener = Screener(make_config(), memory=memory)

    screener.screen(call(caller_number=GB_CALLER))

    assert screener.memory is memory and screener.dna.memory is memory and screener.routes.caps.memory is memory
    assert len(memory.series) > 0


def test_the_memory_counts_over_the_configured_repeat_window(make_config: Callable[..., Config]) -> None:
    with pytest.raises(ValueError, match="repeat_window"):
        Screener(make_config(), memory=CallMemory(300))

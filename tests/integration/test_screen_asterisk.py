"""Pre-answer screening through a real Asterisk 22: real SIP calls in, real delivery out.

The caller (SipUAC) calls the carrier trunk; the dialplan's one callshield line runs
the AGI against a real ``callshield serve``; agents / fraudteam / overflow (SipUAS)
stand in for the destinations. What agents see in X-CallShield-* headers is read by
the pre-dial handler from the caller channel's variables, i.e. what Asterisk holds.
"""

from __future__ import annotations


import pytest

from tests.integration.helpers import cli, deny, header_params, identity_header, pai
from tests.support.service import eventually

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio]


async def call(caller, asterisk, ddi, **kwargs):
    kwargs.setdefault("answer_timeout", 10.0)
    return await caller.invite(("127.0.0.1", asterisk.ports.sip), to_user=ddi, **kwargs)


def risk_of(inbound) -> dict[str, str]:
    return header_params(inbound.header("X-CallShield-Risk"))


async def test_clean_call_is_scored_and_delivered_to_agents(asterisk, callshield, agents, caller, numbers):
    result = await call(caller, asterisk, numbers["ddi"], from_user=numbers["caller"],
                        extra_headers=[("P-Asserted-Identity", pai(numbers["caller"], "TN-Validation-Passed")),
                                       ("Identity", identity_header("A", numbers["caller"], numbers["ddi"]))])
    assert result.final_status == 200
    inbound = agents.calls[0]
    assert risk_of(inbound) == {"score": "0", "status": "SAFE", "reasons": ""}
    assert inbound.header("X-CallShield-Attestation") == "TN-Validation-Passed-A;spoof=SAFE;verified=true"
    assert header_params(inbound.header("X-CallShield-Route"))["reason"] == "normal"


async def test_nothing_is_answered_before_the_decision(asterisk, callshield, agents, caller, numbers):
    result = await call(caller, asterisk, numbers["ddi"], from_user=numbers["caller"])
    record = callshield.call_record("id = ?", [agents.calls[0].header("X-CallShield-Call-ID")])
    assert record["signal"]["channel_state"] == "Ring"
    assert 200 not in [r.status for r in result.responses if r.received_at < agents.calls[0].received_at]
    assert result.answered_at > agents.calls[0].received_at


async def test_withheld_call_reads_privacy_and_network_number(asterisk, callshield, agents, caller, numbers):
    await call(caller, asterisk, numbers["ddi"], from_user="anonymous", from_display="Anonymous",
               extra_headers=[("P-Asserted-Identity", pai(numbers["caller"])), ("Privacy", "id")])
    call_id = agents.calls[0].header("X-CallShield-Call-ID")
    record = callshield.call_record("id = ?", [call_id])
    assert record["signal"]["presentation"].startswith("prohib")
    assert record["caller_key"] == numbers["caller"]
    assert record["withheld"] == 1
    assert "WITHHELD" in risk_of(agents.calls[0])["reasons"]


async def test_repeated_withheld_calls_become_high_risk_and_go_to_the_fraud_team(asterisk, callshield, agents, fraudteam, caller, numbers):
    headers = [("P-Asserted-Identity", pai(numbers["caller"])), ("Privacy", "id")]
    for _ in range(3):
        await call(caller, asterisk, numbers["ddi"], from_user="anonymous", extra_headers=headers)
    assert len(agents.calls) == 2
    diverted = fraudteam.calls[0]
    assert risk_of(diverted)["status"] == "HIGH_RISK"
    assert risk_of(diverted)["reasons"].split(",")[0] == "WITHHELD_REPEAT"
    assert header_params(diverted.header("X-CallShield-Route"))["reason"] == "risk_policy:HIGH_RISK:divert"


async def test_denylisted_number_is_diverted_after_the_cli_adds_it(asterisk, callshield, agents, fraudteam, caller, numbers):
    deny(callshield, numbers["caller"], "confirmed fraud")
    await call(caller, asterisk, numbers["ddi"], from_user=numbers["caller"])
    assert agents.calls == []
    assert risk_of(fraudteam.calls[0])["reasons"].startswith("DENYLISTED")


async def test_reject_policy_refuses_the_call_unanswered(asterisk, callshield, agents, fraudteam, caller, numbers):
    deny(callshield, numbers["caller2"])
    result = await call(caller, asterisk, "+442070000200", from_user=numbers["caller2"])
    assert result.final_status == 403
    assert result.answered_at is None
    assert agents.calls == [] and fraudteam.calls == []


async def test_failed_route_reaches_route_fallback(asterisk, callshield, agents, overflow, caller, numbers):
    agents.mode = "unavailable"
    result = await call(caller, asterisk, "+442070000100", from_user=numbers["caller"])
    assert agents.calls[0].final_status == 503
    assert result.final_status == 200
    assert len(overflow.calls) == 1


async def test_unverified_attestation_c_maps_to_failed_c_and_high_spoof_risk(asterisk, callshield, agents, fraudteam, caller, numbers):
    await call(caller, asterisk, numbers["ddi"], from_user=numbers["caller"],
               extra_headers=[("Identity", identity_header("C", numbers["caller"], numbers["ddi"]))])
    inbound = (agents.calls or fraudteam.calls)[0]
    assert inbound.header("X-CallShield-Attestation") == "TN-Validation-Failed-C;spoof=HIGH_RISK;verified=false"
    assert risk_of(inbound)["reasons"] == "ATTESTATION_C"


async def test_trusted_verstat_failure_is_a_verification_failure(asterisk, callshield, agents, fraudteam, caller, numbers):
    await call(caller, asterisk, numbers["ddi"], from_user=numbers["caller"],
               extra_headers=[("P-Asserted-Identity", pai(numbers["caller"], "TN-Validation-Failed")),
                              ("Identity", identity_header("C", numbers["caller"], numbers["ddi"]))])
    inbound = (agents.calls or fraudteam.calls)[0]
    assert set(risk_of(inbound)["reasons"].split(",")) == {"VERIFICATION_FAILED", "ATTESTATION_C"}


async def test_trusted_verstat_failure_with_claimed_level_b(asterisk, callshield, agents, fraudteam, caller, numbers):
    await call(caller, asterisk, numbers["ddi"], from_user=numbers["caller"],
               extra_headers=[("P-Asserted-Identity", pai(numbers["caller"], "TN-Validation-Failed")),
                              ("Identity", identity_header("B", numbers["caller"], numbers["ddi"]))])
    inbound = (agents.calls or fraudteam.calls)[0]
    assert inbound.header("X-CallShield-Attestation") == "TN-Validation-Failed-B;spoof=SUSPICIOUS;verified=false"


async def test_international_caller_and_cli_mismatch_are_reasons(asterisk, callshield, agents, fraudteam, caller, numbers):
    await call(caller, asterisk, numbers["ddi"], from_user="+12025550143",
               extra_headers=[("P-Asserted-Identity", pai("+33142685300"))])
    inbound = (agents.calls or fraudteam.calls)[0]
    assert {"INTERNATIONAL", "CLI_MISMATCH"} <= set(risk_of(inbound)["reasons"].split(","))


async def test_phone_insights_and_caller_profile_reach_the_agent(asterisk, callshield, agents, fraudteam, caller, numbers):
    await call(caller, asterisk, numbers["ddi"], from_user=numbers["caller"],
               extra_headers=[("P-Asserted-Identity", pai(numbers["caller"]))])
    inbound = (agents.calls or fraudteam.calls)[0]
    phone = header_params(inbound.header("X-CallShield-Phone"))
    assert (phone["valid"], phone["line"], phone["country"], phone["voip"], phone["abuse"]) == ("true", "Landline", "GB", "false", "false")
    profile = inbound.header("X-CallShield-Profile")
    assert len(profile) == 12 and int(profile, 16) >= 0
    record = callshield.call_record("id = ?", [inbound.header("X-CallShield-Call-ID")])
    assert record["caller_profile"] == profile
    assert len(record["features"]["dna"]) >= 100


async def test_a_withheld_call_links_to_the_same_callers_earlier_profile(asterisk, callshield, agents, fraudteam, caller, numbers):
    ua = [("User-Agent", "FreeSWITCH-mod_sofia/1.10.9"), ("P-Asserted-Identity", pai(numbers["caller"]))]
    await call(caller, asterisk, numbers["ddi"], from_user=numbers["caller"], extra_headers=ua)
    await call(caller, asterisk, numbers["ddi"], from_user="anonymous", extra_headers=[*ua, ("Privacy", "id")])
    profiles = [c.header("X-CallShield-Profile") for c in agents.calls + fraudteam.calls]
    assert len(profiles) == 2 and profiles[0] == profiles[1]


async def test_diversions_stop_at_the_hourly_cap_and_calls_are_delivered_flagged(asterisk, callshield, agents, fraudteam, caller, numbers):
    deny(callshield, numbers["caller"])
    await call(caller, asterisk, "+442070000300", from_user=numbers["caller"])
    await call(caller, asterisk, "+442070000300", from_user=numbers["caller"])
    assert len(fraudteam.calls) == 1 and len(agents.calls) == 1
    assert header_params(fraudteam.calls[0].header("X-CallShield-Route"))["reason"] == "risk_policy:HIGH_RISK:divert"
    flagged = agents.calls[0]
    assert header_params(flagged.header("X-CallShield-Route"))["reason"] == "risk_policy:HIGH_RISK:cap_reached"
    assert risk_of(flagged)["status"] == "HIGH_RISK"


async def test_a_confirmed_fraud_reaches_the_next_call_from_that_number(asterisk, callshield, agents, caller, numbers):
    first = await call(caller, asterisk, numbers["ddi"], from_user=numbers["caller"])
    assert first.final_status == 200
    call_id = agents.calls[-1].header("X-CallShield-Call-ID")
    assert header_params(agents.calls[-1].header("X-CallShield-Phone"))["abuse"] == "false"
    callshield.call_record("id = ?", [call_id])  # stored before it can be confirmed

    confirmed = cli(callshield, "outcomes", "confirm", call_id, "fraud", "--note", "integration test")
    assert confirmed.returncode == 0, confirmed.stderr
    await eventually(lambda: "newly confirmed outcome(s) (1 fraud)" in callshield.log_text(), 5, "serve to learn the outcome")

    second = await call(caller, asterisk, numbers["ddi"], from_user=numbers["caller"])
    assert second.final_status == 200
    assert header_params(agents.calls[-1].header("X-CallShield-Phone"))["abuse"] == "true"

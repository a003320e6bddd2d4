"""Hostile and broken signalling: each gets a clear log line and the call goes through."""

from __future__ import annotations

import pytest

from tests.integration.helpers import header_params, identity_header

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio]

# PJSIP drops UDP INVITEs over about 4 KB; these keep the whole INVITE just under that.
BIG_USER_AGENT = "Softphone/1.0 " + "x" * 1400
BIG_IDENTITY_PAD = "a" * 1200


async def call(caller, asterisk, ddi, **kwargs):
    return await caller.invite(("127.0.0.1", asterisk.ports.sip), to_user=ddi, answer_timeout=10.0, **kwargs)


def delivered(agents, fraudteam):
    calls = agents.calls + fraudteam.calls
    assert len(calls) == 1, "the call must be delivered exactly once"
    return calls[0]


def record_of(callshield, inbound):
    return callshield.call_record("id = ?", [inbound.header("X-CallShield-Call-ID")])


async def test_missing_caller_id_is_scored_and_delivered(asterisk, callshield, agents, fraudteam, caller, numbers):
    result = await call(caller, asterisk, numbers["ddi"], from_user=None)
    assert result.final_status == 200
    inbound = delivered(agents, fraudteam)
    assert "NO_CALLER_ID" in header_params(inbound.header("X-CallShield-Risk"))["reasons"]


async def test_non_ascii_bytes_in_headers_are_read_safely(asterisk, callshield, agents, fraudteam, caller, numbers):
    result = await call(caller, asterisk, numbers["ddi"], from_user=numbers["caller"], from_display=b"Jos\xe9 \xff\xfe",
                        extra_headers=[("User-Agent", b"Phone\xc3\x28\xff/2.0")])
    assert result.final_status == 200
    record = record_of(callshield, delivered(agents, fraudteam))
    assert record["signal"]["user_agent"].startswith("Phone")
    assert "\ufffd" in record["signal"]["user_agent"]


async def test_oversized_headers_up_to_the_udp_limit_are_read_whole(asterisk, callshield, agents, fraudteam, caller, numbers):
    identity = identity_header("B", numbers["caller"], numbers["ddi"]).replace("ppt=shaken", f"ppt=shaken;x-pad={BIG_IDENTITY_PAD}")
    result = await call(caller, asterisk, numbers["ddi"], from_user=numbers["caller"],
                        extra_headers=[("User-Agent", BIG_USER_AGENT), ("Identity", identity)])
    assert len(result.request) > 3500
    assert result.final_status == 200
    record = record_of(callshield, delivered(agents, fraudteam))
    assert record["signal"]["user_agent"] == BIG_USER_AGENT
    assert record["signal"]["identity"] == identity
    assert record["attestation"] == "TN-Validation-Failed-B"


@pytest.mark.parametrize("identity", [
    pytest.param("not-a-jwt;info=<https://cert.example.net/x.pem>;alg=ES256;ppt=shaken", id="not-jwt"),
    pytest.param("e30.!!!notbase64.sig;info=<x>", id="bad-base64"),
    pytest.param("e30.e30.sig;ppt=shaken", id="no-attest-claim"),
])
async def test_malformed_identity_header_is_flagged_not_fatal(asterisk, callshield, agents, fraudteam, caller, numbers, identity):
    result = await call(caller, asterisk, numbers["ddi"], from_user=numbers["caller"], extra_headers=[("Identity", identity)])
    assert result.final_status == 200
    inbound = delivered(agents, fraudteam)
    assert inbound.header("X-CallShield-Attestation").startswith("TN-Validation-Failed;spoof=N/A")
    assert "IDENTITY_INVALID" in header_params(inbound.header("X-CallShield-Risk"))["reasons"]
    assert "signalling problem: Identity header" in callshield.log_text()


async def test_quotes_and_separators_in_headers_cannot_break_the_reply(asterisk, callshield, agents, fraudteam, caller, numbers):
    nasty = 'Evil"|${SHELL}|) (\\" ROUTE_ACTION=reject,'
    result = await call(caller, asterisk, numbers["ddi"], from_user=numbers["caller"], from_display=nasty,
                        extra_headers=[("User-Agent", nasty)])
    assert result.final_status == 200
    record = record_of(callshield, delivered(agents, fraudteam))
    assert record["signal"]["user_agent"] == nasty
    assert record["route_action"] == "deliver"

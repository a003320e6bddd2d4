"""Item 1 through a real Asterisk 22: a caller cannot spoof its way onto the allow list.

The attack as found: +442079460123 (the organisation's own number) on the allow list, an
INVITE with that number in From and another in P-Asserted-Identity, or withheld, scored
0 ALLOWLISTED. Here the same INVITEs go through the real dialplan include to a real
``callshield serve``: once with the suite's configuration (only verstat trusted, so no
identity is trusted for the allow list) and once with the carrier trunk (127.0.0.0/8,
where the test phones send from) trusted to assert identities, where only a From equal
to the asserted identity is allow-listed (docs/security.md#which-identities-are-trusted).
"""

from __future__ import annotations


import pytest
import pytest_asyncio

from tests.support.asterisk import free_port
from tests.conftest import callshield_config
from tests.integration.helpers import add_to_list, cli, header_params, pai, route_reason
from tests.support.service import CallshieldProcess

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio]

OURS = "+442079460123"  # on the allow list
OTHER = "+447911555321"  # what the network asserts in the attack
WITHHELD = dict(from_user="anonymous", from_display="Anonymous")


def allow(proc: CallshieldProcess, number: str) -> None:
    """Allow-list through the real CLI (once), then wait until the running serve has reloaded."""
    if number not in cli(proc, "lists", "show", "allow").stdout:
        add_to_list(proc, "allow", number, "head office")


@pytest.fixture(scope="module")
def trusting(asterisk, tmp_path_factory):
    """A serve that trusts the carrier trunk (127.0.0.0/8) to assert identities."""
    workdir = tmp_path_factory.mktemp("trusting")
    ports = type(asterisk.ports)(**{**vars(asterisk.ports), "agi": free_port()})
    config = callshield_config(ports, workdir / "var" / "callshield.db")
    config["scoring"]["trust_identity_from"] = ["127.0.0.0/8"]
    proc = CallshieldProcess(workdir, config).start()
    try:
        allow(proc, OURS)
        yield proc
    finally:
        proc.stop()


@pytest_asyncio.fixture
async def serve(request, asterisk, ami, callshield):
    """The suite's serve (nothing trusted for the allow list) or the trusting one."""
    if request.param == "trusting":
        proc = request.getfixturevalue("trusting")
        await ami.setvar("CALLSHIELD_AGI", f"agi://127.0.0.1:{proc.port}")
    else:
        proc = callshield
        allow(proc, OURS)
    return proc


async def call(caller, asterisk, ddi, **kwargs):
    return await caller.invite(("127.0.0.1", asterisk.ports.sip), to_user=ddi, answer_timeout=10.0, **kwargs)


def delivered(agents, fraudteam):
    calls = agents.calls + fraudteam.calls
    assert len(calls) == 1, calls
    return calls[0]


@pytest.mark.parametrize("serve", ["untrusted", "trusting"], indirect=True)
async def test_a_spoofed_from_with_another_asserted_identity_is_not_allowlisted(serve, asterisk, agents, fraudteam, caller, numbers):
    result = await call(caller, asterisk, numbers["ddi"], from_user=OURS,
                        extra_headers=[("P-Asserted-Identity", pai(OTHER))])

    assert result.final_status == 200
    inbound = delivered(agents, fraudteam)
    risk = header_params(inbound.header("X-CallShield-Risk"))
    assert "ALLOWLISTED" not in risk["reasons"] and "CLI_MISMATCH" in risk["reasons"].split(",")
    assert int(risk["score"]) > 0
    record = serve.call_record("id = ?", [inbound.header("X-CallShield-Call-ID")])
    assert record["score"] == int(risk["score"])
    assert record["signal"]["caller_number"] == OTHER  # Asterisk took the caller ID from the PAI (trust_id_inbound)
    assert (record["features"]["allow_identity"], record["features"]["dna"]["allowlisted"]) == ("", 0.0)
    assert record["features"]["allow_trust"] == f"caller ID {OTHER} but From {OURS} but P-Asserted-Identity {OTHER}: the identities differ"


@pytest.mark.parametrize("serve", ["untrusted", "trusting"], indirect=True)
async def test_a_withheld_call_asserting_an_allowlisted_number_is_not_allowlisted(serve, asterisk, agents, fraudteam, caller, numbers):
    await call(caller, asterisk, numbers["ddi"], **WITHHELD, extra_headers=[("P-Asserted-Identity", pai(OURS)), ("Privacy", "id")])

    risk = header_params(delivered(agents, fraudteam).header("X-CallShield-Risk"))
    assert "ALLOWLISTED" not in risk["reasons"] and "WITHHELD" in risk["reasons"]
    assert int(risk["score"]) > 0


@pytest.mark.parametrize("serve", ["untrusted"], indirect=True)
async def test_from_equal_to_pai_is_not_allowlisted_from_an_untrusted_source(serve, asterisk, agents, fraudteam, caller, numbers):
    await call(caller, asterisk, numbers["ddi"], from_user=OURS, extra_headers=[("P-Asserted-Identity", pai(OURS))])

    risk = header_params(delivered(agents, fraudteam).header("X-CallShield-Risk"))
    assert "ALLOWLISTED" not in risk["reasons"]


@pytest.mark.parametrize("serve", ["trusting"], indirect=True)
async def test_an_identity_asserted_by_a_trusted_trunk_is_allowlisted(serve, asterisk, agents, fraudteam, caller, numbers):
    await call(caller, asterisk, numbers["ddi"], from_user=OURS, extra_headers=[("P-Asserted-Identity", pai(OURS))])

    inbound = delivered(agents, fraudteam)
    assert header_params(inbound.header("X-CallShield-Risk")) == {"score": "0", "status": "SAFE", "reasons": "ALLOWLISTED"}
    assert route_reason(inbound) == "normal" and inbound in agents.calls
    record = serve.call_record("id = ?", [inbound.header("X-CallShield-Call-ID")])
    assert record["reasons"][0]["detail"] == f"{OURS} (network-asserted by trusted source 127.0.0.1) is on the allow list: head office"
    assert record["features"]["allow_identity"] == OURS

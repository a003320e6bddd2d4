"""The bundled Call DNA model scoring real SIP calls through Asterisk."""

from __future__ import annotations

import pytest

from tests.support.asterisk import free_port
from tests.conftest import callshield_config
from tests.integration.helpers import header_params, pai
from tests.support.service import CallshieldProcess

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio]


@pytest.fixture
def model_callshield(asterisk, tmp_path):
    ports = type(asterisk.ports)(**{**vars(asterisk.ports), "agi": free_port()})
    config = callshield_config(ports, tmp_path / "var" / "callshield.db")
    config["scoring"]["model"] = "bundled"
    proc = CallshieldProcess(tmp_path, config).start()
    try:
        yield proc
    finally:
        proc.stop()


async def test_the_bundled_model_scores_the_call_and_sets_phone_insights(asterisk, ami, model_callshield, agents, fraudteam, caller, numbers):
    await ami.setvar("CALLSHIELD_AGI", f"agi://127.0.0.1:{model_callshield.port}")
    result = await caller.invite(("127.0.0.1", asterisk.ports.sip), to_user=numbers["ddi"], from_user=numbers["caller"],
                                 extra_headers=[("P-Asserted-Identity", pai(numbers["caller"]))], answer_timeout=10)
    assert result.final_status == 200
    inbound = (agents.calls or fraudteam.calls)[0]
    record = model_callshield.call_record("id = ?", [inbound.header("X-CallShield-Call-ID")])
    assert record["scorer"].startswith("lightgbm:")
    risk = header_params(inbound.header("X-CallShield-Risk"))
    assert risk["score"] == str(record["score"]) and 0 <= record["score"] <= 100
    assert header_params(inbound.header("X-CallShield-Phone"))["valid"] == "true"
    assert "scorer lightgbm:" in model_callshield.log_text()

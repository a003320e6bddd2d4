"""A caller cannot stall the screen with text that is slow to parse (issue 9 item 3).

A 4,000-digit User-Agent cost the quadratic version regex 250 ms of event loop: a burst
of such calls held every other caller's screening for seconds, commands timed out and
the deny-listed attack calls themselves failed open (200 instead of the policy's 403).
Every parser of caller text is now linear and bounded (bench/adversarial_parsers.py).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.integration.helpers import deny
from tests.support.sip import SipUAC

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio]

REJECTING_DDI = "+442070000200"  # tests/conftest.py: high_risk -> reject (SIP 403)
ATTACKS = 12


async def test_a_burst_of_4000_digit_user_agents_is_rejected_and_delays_no_one(asterisk, callshield, agents, fraudteam, numbers):
    deny(callshield, numbers["caller"], "slow-parser regression")
    log_start = len(asterisk.log_text())
    target = ("127.0.0.1", asterisk.ports.sip)
    async with SipUAC() as attacker, SipUAC() as customer:
        attacks = [attacker.invite(target, to_user=REJECTING_DDI, from_user=numbers["caller"], answer_timeout=15.0,
                                   extra_headers=[("User-Agent", f"Dialer{i}/" + "1" * 4000 + "x")]) for i in range(ATTACKS)]
        started = time.monotonic()
        normal = customer.invite(target, to_user=numbers["ddi"], from_user=numbers["caller2"], answer_timeout=15.0)
        *attacked, answered = await asyncio.gather(*attacks, normal)

    assert [r.final_status for r in attacked] == [403] * ATTACKS
    assert answered.final_status == 200
    assert agents.calls[-1].received_at - started < 2.0, "the other caller's call waited on the attack"
    assert "fail-open" not in asterisk.log_text()[log_start:]

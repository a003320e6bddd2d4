"""A screened call leaves the Asterisk log quiet (issue 9 item 12).

The signalling read used to log ``func_base64.c: Syntax: BASE64_ENCODE(<data>) - missing
argument!`` once for each header a call does not carry (about 7 per normal call, 1,383
for 185 calls), burying real warnings. Each value is now encoded with a leading mark.
"""

from __future__ import annotations

import pytest

from tests.integration.helpers import header_params
from tests.support.service import eventually

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio]


async def test_a_normal_screened_call_logs_no_base64_warning(asterisk, callshield, agents, caller, numbers):
    start = len(asterisk.log_text())
    # A plain call: no P-Asserted-Identity, Privacy, Identity, Diversion, and one Via.
    result = await caller.invite(("127.0.0.1", asterisk.ports.sip), to_user=numbers["ddi"], from_user=numbers["caller"],
                                 answer_timeout=10.0)
    assert result.final_status == 200
    assert header_params(agents.calls[-1].header("X-CallShield-Route"))["failopen"] == ""  # screened, not failed open

    def logged() -> str:
        text = asterisk.log_text()[start:]
        return text if "] Dial(" in text else ""

    after = await eventually(logged, 5.0, "the call's Dial in the Asterisk log")
    warnings = [line for line in after.splitlines() if "WARNING" in line]
    assert not [w for w in warnings if "BASE64_ENCODE" in w], "\n".join(warnings)
    assert not [w for w in warnings if "callshield" in w.lower()], "\n".join(warnings)

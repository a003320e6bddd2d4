"""A caller cannot turn its own decision into a fail-open with a big INVITE (issue 9 item 2).

Asterisk reads a header whole when ``Name: value`` fits its 4 KB buffer. An INVITE with
every header callshield reads near that size (about 55 KB, one UDP datagram on loopback)
used to make the one ``GET FULL VARIABLE`` reply longer than the 64 KiB line limit: the
handler crashed, and a deny-listed caller whose dialled number rejects high risk got the
agents' 200 instead of the policy's 403. Now Asterisk cuts each field before encoding it
and callshield reads a long reply bounded, so lists and policies apply.
"""

from __future__ import annotations

import secrets

import pytest
import pytest_asyncio

from tests.integration.helpers import deny
from tests.support.sip import SipUAC

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio]

REJECTING_DDI = "+442070000200"  # tests/conftest.py: high_risk -> reject (SIP 403)
HEADER_BUFFER = 4096  # PJSIP_HEADER reads "Name: value" into a 4 KB buffer


def near_limit(name: str, prefix: str, suffix: str = "") -> tuple[str, str]:
    """A header whose ``Name: value`` just fits Asterisk's buffer, so it is read whole."""
    size = HEADER_BUFFER - len(name) - 2 - 8
    return name, prefix + "a" * (size - len(prefix) - len(suffix)) + suffix


class BigUAC(SipUAC):
    """A caller whose own top Via and Call-ID are near the limit too."""

    def _via(self, branch: str) -> str:
        # Asterisk adds ";received=127.0.0.1" to the top Via it reads: leave room for it.
        return near_limit("Via", super()._via(branch) + ";x-pad=", "a" * 0)[1][:-40]

    def _build_invite(self, *args, **kwargs):
        request = super()._build_invite(*args, **kwargs)
        call_id = near_limit("Call-ID", secrets.token_hex(8) + "-", "@127.0.0.1")[1]
        request.headers = [(n, call_id if n.lower() == "call-id" else v) for n, v in request.headers]
        return request


@pytest_asyncio.fixture
async def big_caller():
    async with BigUAC() as uac:
        yield uac


def big_headers(caller: str) -> list[tuple[str, str]]:
    """Every other header callshield reads near the limit, and enough extra header names
    to fill PJSIP_HEADERS()."""
    headers = [
        near_limit("P-Asserted-Identity", f"<sip:{caller}@127.0.0.1;user=phone>;x-pad="),
        near_limit("Privacy", "none;x-pad="),
        near_limit("Identity", "e30.e30.", ";ppt=shaken"),
        near_limit("User-Agent", "Softphone/1.0 "),
        near_limit("Diversion", "<sip:+442071234000@127.0.0.1>;reason=unconditional;x-pad="),
        near_limit("Contact", "<sip:caller@127.0.0.1:5062>;x-pad="),
        *(near_limit("Via", f"SIP/2.0/UDP 192.0.2.{hop}:5060;branch=z9hG4bK{hop};x-pad=") for hop in range(1, 4)),
    ]
    headers += [(f"X-Pad-{i:03d}-{'b' * 20}", "1") for i in range(100)]
    return headers


async def test_a_denylisted_caller_with_55kb_of_headers_is_rejected_not_failed_open(
        asterisk, callshield, agents, fraudteam, big_caller, numbers):
    deny(callshield, numbers["caller"], "big INVITE regression")
    result = await big_caller.invite(("127.0.0.1", asterisk.ports.sip), to_user=REJECTING_DDI, from_user=numbers["caller"],
                                     from_display="D" * 3900, extra_headers=big_headers(numbers["caller"]), answer_timeout=10.0)
    assert len(result.request) > 50_000, "the INVITE must be big enough to overflow the old single reply"

    assert result.final_status == 403, f"expected the reject policy's 403, got {result.final_status}"
    assert result.answered_at is None
    assert agents.calls == [] and fraudteam.calls == []
    record = callshield.call_record("caller_key = ? AND dialled = ?", [numbers["caller"], REJECTING_DDI])
    assert record["route_action"] == "reject"
    assert "DENYLISTED" in {r["code"] for r in record["reasons"]}

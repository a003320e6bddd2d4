"""``callshield serve`` as a process: refuses a bad config with the key named, answers
the health probe through a real Asterisk, and keeps history across a restart."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.service import eventually

pytestmark = pytest.mark.asterisk


def serve(tmp_path, text: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "callshield.yaml"
    config.write_text(text)
    return subprocess.run([sys.executable, "-m", "callshield", "serve", "--config", str(config)],
                          capture_output=True, text=True, timeout=30, cwd=tmp_path)


@pytest.mark.parametrize("text, named", [
    ("agi:\n  prot: 4573\n", "config key 'agi.prot': unknown key"),
    ("agi:\n  port: [1\n", "config key '<file>'"),
    ("routing:\n  default:\n    high_risk: {action: divert}\n", "config key 'routing.default.high_risk.destination'"),
    ("scoring:\n  weights:\n    withheld: 400\n", "config key 'scoring.weights.withheld'"),
])
def test_corrupt_config_is_refused_at_start_with_the_key_named(tmp_path, text, named):
    result = serve(tmp_path, text)
    assert result.returncode == 1
    assert named in result.stderr


@pytest.mark.asyncio
async def test_health_probe_through_asterisk_reports_ok(asterisk, callshield, ami):
    reply = await ami.action("Originate", Channel="Local/s@callshield-health", Application="Wait", Data="1", Async="true")
    assert reply["Response"] == "Success"
    await eventually(lambda: "callshield health: 'OK' (AGISTATUS=SUCCESS)" in asterisk.log_text(), 5, "the health probe in the Asterisk log")
    event = await ami.wait_event(lambda e: e.get("UserEvent") == "CallshieldHealth", 5)
    assert (event["Status"], event["AgiStatus"]) == ("OK", "SUCCESS")

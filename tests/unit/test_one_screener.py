"""One screener: serve, `callshield score` and `callshield eval` build it the same way
(callshield.wiring.build_screener), so one call signal gets one decision from all three."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner, Result

from callshield.cli import main
from callshield.config import Config, load_config
from callshield.screening.decision import Decision
from callshield.models.model import load_model
from callshield.training.replay import replay
from callshield.serve import build_services
from callshield.read.signal import CallSignal

DDI = "+442071234567"
T0 = 1_795_000_000
WITHHELD = {"from_header": "<sip:anonymous@anonymous.invalid>", "pai": "<sip:+441614960001@carrier.example>",
            "privacy": "id", "presentation": "prohib_not_screened", "source_ip": "203.0.113.5",
            "user_agent": "CarrierSBC/4.2"}
# The scoring config is the default (the bundled model). Low thresholds and a divert cap
# of 2 an hour make the route depend on the status and on the calls before.
ROUTING = """
routing:
  numbers:
    "+442071234567":
      route: PJSIP/agents
      fallback: PJSIP/overflow
      thresholds: {suspicious: 30, high_risk: 36}
      high_risk: {action: divert, destination: PJSIP/fraudteam, max_per_hour: 2}
"""


@pytest.fixture
def store_config(config_file: Callable[..., Path], tmp_path: Path) -> tuple[Path, Config]:
    path = config_file(f"store:\n  path: {tmp_path / 'var' / 'callshield.db'}\n{ROUTING}")
    return path, load_config(path, env={})


def cli(config_path: Path, *args: str, input: str | None = None) -> Result:
    result = CliRunner().invoke(main, [*args, "--config", str(config_path)], input=input)
    assert result.exit_code == 0, result.output
    return result


def same(decision: Decision | dict[str, Any]) -> dict[str, Any]:
    """A decision as `score` prints it, without the call id (new for every screening)."""
    out = json.loads(json.dumps(decision.to_json() if isinstance(decision, Decision) else decision))
    del out["CALLSHIELD_CALL_ID"]
    return out


def serve_decisions(config: Config, signals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    services = build_services(config)
    try:
        return [same(services.screener.screen(CallSignal.from_dict(s)).decision) for s in signals]
    finally:
        services.writer.close()
        services.control.close()


def score_decisions(config_path: Path, signals: list[dict[str, Any]], *args: str) -> list[dict[str, Any]]:
    result = cli(config_path, "score", *args, input="\n".join(json.dumps(s) for s in signals))
    return [same(json.loads(line)) for line in result.stdout.splitlines()]


def calls() -> list[dict[str, Any]]:
    """International, a withheld caller calling again and again, then a national-format caller."""
    return [
        {"dialled": DDI, "timestamp": T0, "caller_number": "+12025550143"},
        *({"dialled": DDI, "timestamp": T0 + 60 + 45 * i, **WITHHELD} for i in range(4)),
        {"dialled": DDI, "timestamp": T0 + 400, "caller_number": "02079460123"},
    ]


def test_one_call_signal_gets_the_same_decision_from_serve_score_and_eval(store_config: tuple[Path, Config]) -> None:
    config_path, config = store_config
    signals = calls()

    served = serve_decisions(config, signals)  # a first serve start: an empty store
    scored = score_decisions(config_path, signals, "--ephemeral")
    model = load_model(config.scoring.model)  # what `callshield eval` replays with by default
    labelled = [{**s, "label": "fraud" if "pai" in s else "genuine"} for s in signals]
    evaluated = [same(row.decision) for row in replay(labelled, config, model=model)]

    assert scored == served
    assert evaluated == served
    assert {d["scorer"] for d in served} == {model.name}
    # not one decision for every call: each status, diverts up to the cap, then delivered flagged
    assert {d["RISK_STATUS"] for d in served} == {"SAFE", "SUSPICIOUS", "HIGH_RISK"}
    assert {"risk_policy:HIGH_RISK:divert", "risk_policy:HIGH_RISK:cap_reached"} <= {d["ROUTE_REASON"] for d in served}


def test_score_builds_serves_screener_from_the_store(store_config: tuple[Path, Config]) -> None:
    """Lists, route state, recent calls and confirmed outcomes in the store: `score` reads
    them all, as serve does (it once read only the lists, and scored with the rules)."""
    config_path, config = store_config
    now = time.time()
    earlier = [{"dialled": DDI, "timestamp": now - 300 + 60 * i, **WITHHELD} for i in range(3)]
    first = json.loads(cli(config_path, "score", input="\n".join(json.dumps(s) for s in earlier)).stdout.splitlines()[0])
    cli(config_path, "outcomes", "confirm", first["CALLSHIELD_CALL_ID"], "fraud")
    cli(config_path, "numbers", "add", "+442071234568", "--route", "PJSIP/sales")
    cli(config_path, "lists", "add", "deny", "+12025550143", "--reason", "fraud")
    signals = [
        {"dialled": DDI, "timestamp": now, **WITHHELD},
        {"dialled": "+442071234568", "timestamp": now + 1, "caller_number": "02079460123"},
        {"dialled": DDI, "timestamp": now + 2, "caller_number": "+12025550143"},
    ]

    scored = score_decisions(config_path, signals, "--ephemeral")
    served = serve_decisions(config, signals)

    assert scored == served
    withheld, routed, denied = served
    # the model, on the Call DNA memory of the stored calls and their confirmed outcome
    assert withheld["scorer"] != "rules" and "KNOWN_FRAUDSTER" in withheld["RISK_REASONS"].split(",")
    assert (routed["ROUTE"], routed["ROUTE_REASON"]) == ("PJSIP/sales", "normal")
    assert denied["RISK_REASONS"].startswith("DENYLISTED")


def test_score_ephemeral_reads_the_store_but_writes_nothing(store_config: tuple[Path, Config]) -> None:
    config_path, config = store_config
    signal = {"dialled": DDI, "timestamp": time.time(), **WITHHELD}
    cli(config_path, "score", input=json.dumps(signal))

    runs = [score_decisions(config_path, [signal], "--ephemeral")[0] for _ in range(2)]
    served = serve_decisions(config, [signal])[0]

    assert runs[0] == runs[1] == served  # each run saw the one stored call, and stored nothing


def test_score_ephemeral_creates_no_store(store_config: tuple[Path, Config]) -> None:
    config_path, config = store_config

    (decision,) = score_decisions(config_path, [{"dialled": DDI, "timestamp": T0, "caller_number": "+12025550143"}], "--ephemeral")

    assert decision["RISK_STATUS"] and not Path(config.store.path).exists()

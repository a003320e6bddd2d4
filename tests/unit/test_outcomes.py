"""Confirmed outcomes: recorded with the call they belong to, audited, refused with a
clear reason, and learned by a running serve (the Call DNA memory) without a restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from callshield.cli import main
from callshield.config import load_config
from callshield.errors import OutcomeError
from callshield.serve import build_services, learn_outcomes
from callshield.read.signal import CallSignal
from callshield.store import open_store
from callshield.store import outcomes as outcome_store
from callshield.store.calls import call_record

CALLER = "+441614960001"


def a_call(ts: float) -> CallSignal:
    return CallSignal(dialled="+442030009999", timestamp=ts, caller_number=CALLER, presentation="allowed",
                      from_header=f"<sip:{CALLER}@198.51.100.7>", source_ip="198.51.100.7")


@pytest.fixture
def config(tmp_path: Path):
    return load_config(None, env={}, overrides={"store.path": str(tmp_path / "cs.db"), "scoring.model": "rules"})


@pytest.fixture
def call_id(config) -> str:
    services = build_services(config)
    screening = services.screener.screen(a_call(time.time() - 60))
    services.record(call_record(screening))
    assert services.writer.flush()
    services.writer.close()
    return screening.decision.call_id


def test_a_confirmed_outcome_is_stored_with_an_audit_entry(config, call_id):
    db = open_store(config.store.path)

    done = outcome_store.confirm(db, call_id, "fraud", actor="cli:ops", note="card fraud")

    assert (done["caller"], done["was"]) == (CALLER, None)
    assert db.execute("SELECT label, actor, note FROM outcomes WHERE call_id = ?", [call_id]).fetchone() == ("fraud", "cli:ops", "card fraud")
    assert db.execute("SELECT action, target FROM audit WHERE action LIKE 'outcomes.%'").fetchone() == ("outcomes.fraud", call_id)
    assert outcome_store.version(db) == 1


@pytest.mark.parametrize(("call", "label", "words"), [
    ("nosuchcall", "fraud", "no call with id 'nosuchcall'"),
    (None, "spam", "an outcome is one of fraud, genuine, not 'spam'"),
])
def test_a_bad_outcome_is_refused_and_changes_nothing(config, call_id, call, label, words):
    db = open_store(config.store.path)

    with pytest.raises(OutcomeError, match=words):
        outcome_store.confirm(db, call or call_id, label)

    assert db.execute("SELECT count(*) FROM outcomes").fetchone()[0] == 0 and outcome_store.version(db) == 0


def test_the_same_outcome_twice_is_refused_but_a_change_is_recorded(config, call_id):
    db = open_store(config.store.path)
    outcome_store.confirm(db, call_id, "genuine")

    with pytest.raises(OutcomeError, match="already confirmed as genuine"):
        outcome_store.confirm(db, call_id, "genuine")
    assert outcome_store.confirm(db, call_id, "fraud")["was"] == "genuine"


def test_a_running_serve_learns_a_new_outcome_without_a_restart(config, call_id):
    services = build_services(config)
    try:
        before = services.screener.screen(a_call(time.time()))
        outcome_store.confirm(open_store(config.store.path), call_id, "fraud")
        db = open_store(config.store.path)
        seen = asyncio.run(learn_outcomes(services, db, (services.outcomes_version, services.outcomes_upto)))
        after = services.screener.screen(a_call(time.time()))
        again = asyncio.run(learn_outcomes(services, db, seen))
    finally:
        services.writer.close()

    assert before.insights.recent_abuse == "false"
    assert after.insights.recent_abuse == "true"
    assert again == seen  # nothing new: nothing learned twice
    assert services.screener.dna.memory.outcomes[f"n|{CALLER}"] == [1, 0]


def test_outcomes_known_at_start_are_not_learned_again(config, call_id):
    outcome_store.confirm(open_store(config.store.path), call_id, "fraud")
    services = build_services(config)
    try:
        asyncio.run(learn_outcomes(services, open_store(config.store.path), (services.outcomes_version, services.outcomes_upto)))
    finally:
        services.writer.close()

    assert services.screener.dna.memory.outcomes[f"n|{CALLER}"] == [1, 0]


def test_the_cli_confirms_and_lists_outcomes(config, call_id, monkeypatch):
    monkeypatch.setenv("CALLSHIELD_STORE__PATH", config.store.path)
    runner = CliRunner()

    confirmed = runner.invoke(main, ["outcomes", "confirm", call_id, "fraud", "--note", "card fraud"])
    listed = runner.invoke(main, ["outcomes", "list"])
    unknown = runner.invoke(main, ["outcomes", "confirm", "nosuchcall", "fraud"])

    assert confirmed.exit_code == 0 and f"confirmed call {call_id} from {CALLER}" in confirmed.output
    assert call_id in listed.output and "card fraud" in listed.output
    assert unknown.exit_code == 1 and "no call with id 'nosuchcall'" in unknown.output

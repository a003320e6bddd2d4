"""serve's wiring: state rebuilt from the store at start-up survives a restart."""

from __future__ import annotations

import time

import pytest

from callshield.config import load_config
from callshield.models.memory import Velocity
from callshield.read.numbers import NumberIntel
from callshield.serve import build_services
from callshield.read.signal import CallSignal
from callshield.store import lists as list_store
from callshield.store import open_store
from callshield.store.calls import call_record


@pytest.fixture
def config(tmp_path):
    return load_config(None, overrides={"store.path": str(tmp_path / "cs.db")})


def withheld_call(ts: float) -> CallSignal:
    return CallSignal(dialled="+442030009999", timestamp=ts, caller_number="+441614960001",
                      presentation="prohib_not_screened", privacy="id",
                      pai="<sip:+441614960001@carrier.example;user=phone>")


def test_repeat_call_history_survives_a_restart(config):
    now = time.time()
    first = build_services(config)
    for i in range(2):
        first.record(call_record(first.screener.screen(withheld_call(now - 60 + i))))
    assert first.writer.flush()
    first.writer.close()

    second = build_services(config)
    try:
        third = second.screener.screen(withheld_call(now))
    finally:
        second.writer.close()
    assert third.velocity.withheld_to_dialled == 2
    assert third.decision.reasons[0].code == "WITHHELD_REPEAT"


def test_calls_older_than_the_window_are_not_replayed(config):
    old = time.time() - config.scoring.repeat_window - 5
    first = build_services(config)
    first.record(call_record(first.screener.screen(withheld_call(old))))
    assert first.writer.flush()
    first.writer.close()

    second = build_services(config)
    second.writer.close()
    # Kept for the Call DNA's 24 h, but not counted by the rules' window.
    assert second.screener.memory.velocity(time.time(), "+441614960001", "+442030009999", True) == Velocity()


def test_lists_in_the_store_are_loaded_at_start(config):
    db = open_store(config.store.path)
    list_store.add(db, NumberIntel(config.scoring.home_country), "deny", "+441614960001", "confirmed fraud")
    db.close()
    services = build_services(config)
    services.writer.close()
    decision = services.screener.screen(withheld_call(time.time())).decision
    assert decision.reasons[0].code == "DENYLISTED"
    assert decision.status == "HIGH_RISK"


"""Repeat-call velocity: sliding-window counters per caller and dialled number."""

from __future__ import annotations

import pytest

from callshield.screening import history as history_module
from callshield.screening.history import CallHistory, Observation, Velocity

DDI = "+442071234567"
DDI_2 = "+442079460001"
CALLER = "+442079460000"
CALLER_2 = "+441614960000"


@pytest.fixture
def history() -> CallHistory:
    return CallHistory(window=600)


def obs(t: float, caller: str | None = CALLER, dialled: str = DDI, withheld: bool = False) -> Observation:
    return Observation(t, caller, dialled, withheld)


def test_first_call_has_no_history(history: CallHistory) -> None:
    assert history.observe(obs(0)) == Velocity()


def test_observe_counts_earlier_calls_then_records(history: CallHistory) -> None:
    history.observe(obs(0))
    history.observe(obs(10, dialled=DDI_2))
    history.observe(obs(20, caller=CALLER_2))

    assert history.observe(obs(30)) == Velocity(caller_to_dialled=1, caller_any=2, withheld_to_dialled=0, dialled_numbers_by_caller=1)
    assert history.peek(obs(40)) == Velocity(caller_to_dialled=2, caller_any=3, withheld_to_dialled=0, dialled_numbers_by_caller=1)


@pytest.mark.parametrize(("gap", "counted"), [(1, 1), (599, 1), (600, 0), (601, 0)])
def test_calls_older_than_the_window_are_not_counted(history: CallHistory, gap: float, counted: int) -> None:
    history.observe(obs(1000))

    velocity = history.observe(obs(1000 + gap, dialled=DDI_2))

    assert (velocity.caller_any, velocity.dialled_numbers_by_caller) == (counted, counted)


def test_withheld_calls_count_per_network_number_and_per_dialled_number(history: CallHistory) -> None:
    history.observe(obs(0, caller=None, withheld=True))
    history.observe(obs(1, caller=None, withheld=True, dialled=DDI_2))
    history.observe(obs(2, caller=CALLER, withheld=True))

    assert history.peek(obs(3, caller=None, withheld=True)) == Velocity(withheld_to_dialled=1)
    assert history.peek(obs(3, caller=CALLER, withheld=True)).withheld_to_dialled == 1
    assert history.peek(obs(3, caller=CALLER_2, withheld=True)).withheld_to_dialled == 0
    assert history.peek(obs(3, caller=CALLER, withheld=False)).withheld_to_dialled == 0


def test_out_of_order_observations_keep_the_window_right(history: CallHistory) -> None:
    history.observe(obs(100))
    history.observe(obs(300))
    late = history.observe(obs(200))  # arrives after 300: both others are within its window

    assert late.caller_to_dialled == 2
    assert history.peek(obs(850)).caller_to_dialled == 1  # horizon 250: only the call at 300 is left


def test_replay_rebuilds_counts_without_counting(history: CallHistory) -> None:
    n = history.replay(obs(t) for t in (0, 10, 20))

    assert n == 3
    assert history.observe(obs(30)).caller_to_dialled == 3


def test_peek_does_not_record(history: CallHistory) -> None:
    history.peek(obs(0))

    assert history.observe(obs(1)) == Velocity()
    assert len(history) == 2  # the caller key and the caller-to-dialled key of the one observed call


def test_sweep_drops_stale_keys(history: CallHistory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history_module, "SWEEP_EVERY", 3)
    history.observe(obs(0, caller=CALLER))
    history.observe(obs(0, caller=None, withheld=True))
    assert len(history) == 3

    history.observe(obs(1000, caller=CALLER_2))  # the third record sweeps everything older than 400

    assert len(history) == 2
    assert history.observe(obs(1001, caller=CALLER, dialled=DDI_2)) == Velocity()


def test_sweep_keeps_live_keys(history: CallHistory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history_module, "SWEEP_EVERY", 2)
    history.observe(obs(0, dialled=DDI_2))
    history.observe(obs(500))

    assert len(history) == 3
    assert history.peek(obs(550)) == Velocity(caller_to_dialled=1, caller_any=2, dialled_numbers_by_caller=1)

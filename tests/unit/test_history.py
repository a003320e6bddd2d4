"""Repeat-call velocity: the rules' sliding-window counts per caller and dialled number,
read from the one memory of call observations (CallMemory.velocity)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from callshield.models import memory as memory_module
from callshield.models.memory import CallKeys, CallMemory, Velocity

DDI = "+442071234567"
DDI_2 = "+442079460001"
CALLER = "+442079460000"
CALLER_2 = "+441614960000"


@dataclass(frozen=True)
class Obs:
    timestamp: float
    caller: str | None
    dialled: str
    withheld: bool


class History:
    """The rules' view of a CallMemory, as the screener uses it: read, then record once."""

    def __init__(self, window: float):
        self.memory = CallMemory(window)

    def peek(self, o: Obs) -> Velocity:
        return self.memory.velocity(o.timestamp, o.caller, o.dialled, o.withheld)

    def observe(self, o: Obs) -> Velocity:
        velocity = self.peek(o)
        self.memory.record(keys(o))
        return velocity

    def rule_keys(self) -> set[str]:
        """The keys the rules read: per caller, per caller and dialled number, withheld per caller."""
        return {k for k in self.memory.series if k.startswith(("n|", "nd|", "wn|"))}


def keys(o: Obs) -> CallKeys:
    return CallKeys(o.timestamp, o.caller, "profile", "trait", o.dialled, "192.0.2.1", o.withheld)


@pytest.fixture
def history() -> History:
    return History(window=600)


def obs(t: float, caller: str | None = CALLER, dialled: str = DDI, withheld: bool = False) -> Obs:
    return Obs(t, caller, dialled, withheld)


def test_first_call_has_no_history(history: History) -> None:
    assert history.observe(obs(0)) == Velocity()


def test_observe_counts_earlier_calls_then_records(history: History) -> None:
    history.observe(obs(0))
    history.observe(obs(10, dialled=DDI_2))
    history.observe(obs(20, caller=CALLER_2))

    assert history.observe(obs(30)) == Velocity(caller_to_dialled=1, caller_any=2, withheld_to_dialled=0, dialled_numbers_by_caller=1)
    assert history.peek(obs(40)) == Velocity(caller_to_dialled=2, caller_any=3, withheld_to_dialled=0, dialled_numbers_by_caller=1)


@pytest.mark.parametrize(("gap", "counted"), [(1, 1), (599, 1), (600, 0), (601, 0)])
def test_calls_older_than_the_window_are_not_counted(history: History, gap: float, counted: int) -> None:
    history.observe(obs(1000))

    velocity = history.observe(obs(1000 + gap, dialled=DDI_2))

    assert (velocity.caller_any, velocity.dialled_numbers_by_caller) == (counted, counted)


@pytest.mark.parametrize("window", [30, 600, 7200, 3 * 86400])
def test_any_rule_window_beside_the_fixed_ones(window: float) -> None:
    history = History(window)
    history.observe(obs(0))
    history.observe(obs(window - 1))

    assert history.peek(obs(window - 0.5)).caller_to_dialled == 2
    assert history.peek(obs(window)).caller_to_dialled == 1  # the call at 0 is just out
    assert history.memory.recall(keys(obs(window))).number[3] == (2 if window < 86400 else 1)  # the model's 24 h, unchanged


def test_withheld_calls_count_per_network_number_and_per_dialled_number(history: History) -> None:
    history.observe(obs(0, caller=None, withheld=True))
    history.observe(obs(1, caller=None, withheld=True, dialled=DDI_2))
    history.observe(obs(2, caller=CALLER, withheld=True))

    assert history.peek(obs(3, caller=None, withheld=True)) == Velocity(withheld_to_dialled=1)
    assert history.peek(obs(3, caller=CALLER, withheld=True)).withheld_to_dialled == 1
    assert history.peek(obs(3, caller=CALLER_2, withheld=True)).withheld_to_dialled == 0
    assert history.peek(obs(3, caller=CALLER, withheld=False)).withheld_to_dialled == 0


def test_out_of_order_observations_keep_the_window_right(history: History) -> None:
    history.observe(obs(100))
    history.observe(obs(300))
    late = history.observe(obs(200))  # arrives after 300: both others are within its window

    assert late.caller_to_dialled == 2
    assert history.peek(obs(850)).caller_to_dialled == 1  # horizon 250: only the call at 300 is left


def test_replay_rebuilds_counts_without_counting(history: History) -> None:
    n = history.memory.replay((keys(obs(t)), "") for t in (0, 10, 20))

    assert n == 3
    assert history.observe(obs(30)).caller_to_dialled == 3


def test_peek_does_not_record(history: History) -> None:
    history.peek(obs(0))

    assert history.observe(obs(1)) == Velocity()
    assert history.rule_keys() == {f"n|{CALLER}", f"nd|{CALLER}|{DDI}"}  # the caller key and the caller-to-dialled key


def test_sweep_drops_stale_keys(history: History, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory_module, "SWEEP_EVERY", 3)
    history.observe(obs(0, caller=CALLER))
    history.observe(obs(0, caller=None, withheld=True))
    assert len(history.rule_keys()) == 3

    history.observe(obs(memory_module.HORIZON + 1000, caller=CALLER_2))  # the third record sweeps everything older than 24 h

    assert history.rule_keys() == {f"n|{CALLER_2}", f"nd|{CALLER_2}|{DDI}"}
    assert history.observe(obs(memory_module.HORIZON + 1001, caller=CALLER, dialled=DDI_2)) == Velocity()


def test_sweep_keeps_live_keys(history: History, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory_module, "SWEEP_EVERY", 2)
    history.observe(obs(0, dialled=DDI_2))
    history.observe(obs(500))

    assert len(history.rule_keys()) == 3
    assert history.peek(obs(550)) == Velocity(caller_to_dialled=1, caller_any=2, dialled_numbers_by_caller=1)

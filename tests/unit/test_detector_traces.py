"""The failure detector on real AMI traces: events recorded from the sandbox Asterisk by
tests/support/record_ami.py (tests/fixtures/ami/*.jsonl), replayed with their recorded
times. The settings are the monitored serve's in tests/integration/test_monitor_asterisk.py
(2 failures or 2 NOANSWERs in 30 s, hold-down 1 s, reachable for 1 s), so each trace
is the Asterisk side of one of those tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callshield.ami_monitor.detector import Detector, Transition
from callshield.config import MonitorConfig

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "ami"
T0 = 1_795_000_000.0
WATCHED = {"sitea", "siteb", "qualified"}
CONFIG = MonitorConfig(window=30.0, failures_to_down=2, noanswer_to_down=2, hold_down=1.0, hold_down_max=4.0,
                       reachable_for=1.0)


def trace(name: str) -> list[dict]:
    return [json.loads(line) for line in (TRACES / f"{name}.jsonl").read_text().splitlines()]


def times(name: str, **fields: str) -> list[float]:
    """When the events of ``name`` with these fields arrived."""
    return [line["t"] for line in trace(name) if all(line["event"].get(k) == v for k, v in fields.items())]


def replay(name: str, until: float | None = None, tick: float = 0.1) -> list[tuple[float, Transition]]:
    """Every event at T0 + its recorded time, and the monitor's tick every ``tick`` s
    between them and after the last (for 5 s, or until ``until``): the transitions with
    the trace time at which they came."""
    detector = Detector(CONFIG, watched=WATCHED.__contains__)
    lines = trace(name)
    end = lines[-1]["t"] + 5.0 if until is None else until
    out: list[tuple[float, Transition]] = []
    step = 1
    for line in lines + [{"t": end, "event": None}]:
        while step * tick <= line["t"]:
            now = round(step * tick, 3)
            out += [(now, tr) for tr in detector.tick(T0 + now)]
            step += 1
        if line["event"] is not None:
            out += [(line["t"], tr) for tr in detector.on_event(line["event"], T0 + line["t"])]
    return out


def of(transitions: list[tuple[float, Transition]], destination: str) -> list[tuple[float, str, str]]:
    return [(at, tr.state, tr.reason) for at, tr in transitions if tr.destination == destination]


@pytest.mark.parametrize("name", ["site_503", "site_silent", "qualify", "restart"])
def test_the_traces_replay_with_real_timestamps_in_order(name: str) -> None:
    lines = trace(name)
    assert len(lines) >= 4 and [line["t"] for line in lines] == sorted(line["t"] for line in lines)


def test_a_site_answering_503_is_down_at_the_second_failed_call_each_counted_once() -> None:
    """Asterisk reports a 503 as DialEnd CONGESTION and a Hangup with cause 34 for the same
    leg: two calls are two failures, not four, so down comes with the second call."""
    congestion = times("site_503", Event="DialEnd", DialStatus="CONGESTION")
    assert len(congestion) == 2 and len(times("site_503", Event="Hangup", Cause="34")) == 2
    moves = of(replay("site_503"), "sitea")
    assert moves[0] == (congestion[1], "down", "2 CONGESTION in 30s")
    # The answered call inside the hold-down changes nothing; the hold-down ends it.
    assert moves[1][1:] == ("up", "hold-down over, trying again")
    assert moves[1][0] >= congestion[1] + CONFIG.hold_down and len(moves) == 2
    assert of(replay("site_503"), "siteb") == []  # the secondary answered every diverted call


def test_a_silent_site_is_down_after_two_noanswers_in_a_row() -> None:
    noanswer = times("site_silent", Event="DialEnd", DialStatus="NOANSWER")
    assert len(noanswer) == 2
    moves = of(replay("site_silent"), "sitea")
    assert moves[0] == (noanswer[1], "down", "2 NOANSWER in a row in 30s")
    assert moves[1][1:] == ("up", "hold-down over, trying again") and moves[1][0] >= noanswer[1] + CONFIG.hold_down
    assert of(replay("site_silent"), "siteb") == []


def test_an_unreachable_qualify_contact_is_down_at_once_and_up_after_reachable_for() -> None:
    """Reachable (no change: it was never down), Unreachable (down at once, with Asterisk's
    PeerStatus and ContactStatus both saying so), Reachable again (up reachable_for later)."""
    [went] = times("qualify", Event="ContactStatus", ContactStatus="Unreachable")
    first, came = times("qualify", Event="ContactStatus", ContactStatus="Reachable")
    assert first < went < came and times("qualify", Event="PeerStatus", PeerStatus="Unreachable") == [went]
    moves = of(replay("qualify"), "qualified")
    assert [m[:2] for m in moves] == [(went, "down"), (moves[1][0], "up")]
    assert moves[0][2].endswith(" Unreachable") and moves[1][2] == "reachable for 1s"
    assert came + CONFIG.reachable_for <= moves[1][0] < came + CONFIG.reachable_for + 0.2


def test_an_asterisk_restart_keeps_an_unreachable_destination_down_until_it_is_reachable() -> None:
    """Down before the restart; Shutdown, FullyBooted and the first qualify after the
    restart (Unreachable again) change nothing; only the Reachable that follows brings it
    up, reachable_for later."""
    [shutdown] = times("restart", Event="Shutdown")
    [booted] = [t for t in times("restart", Event="FullyBooted") if t > shutdown]
    again = [t for t in times("restart", Event="ContactStatus", ContactStatus="Unreachable") if t > booted]
    came = [t for t in times("restart", Event="ContactStatus", ContactStatus="Reachable") if t > booted]
    assert again and came and again[0] < came[0]
    moves = of(replay("restart"), "qualified")
    before, after = [m for m in moves if m[0] < shutdown], [m for m in moves if m[0] >= shutdown]
    assert before[-1][1] == "down"
    assert [m[1:] for m in after] == [("up", "reachable for 1s")]
    assert came[0] + CONFIG.reachable_for <= after[0][0] < came[0] + CONFIG.reachable_for + 0.2

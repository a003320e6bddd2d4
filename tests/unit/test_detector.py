"""The AMI monitor's failure detector: pure, times passed in (defaults: 3 failures in
60 s, 10 NOANSWERs in a row, hold-down 30 s doubling to 300 s, reachable for 5 s)."""

from __future__ import annotations

import itertools
from typing import Any, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callshield.ami_monitor.detector import MAX_LEGS, Detector, DestinationState, Transition
from callshield.config import MonitorConfig

T0 = 1_795_000_000.0
_channel_ids: Iterator[int] = itertools.count(0x1A)


def new_channel(endpoint: str = "agents") -> str:
    return f"PJSIP/{endpoint}-{next(_channel_ids):08x}"


def dial_begin(channel: str) -> dict[str, str]:
    return {"Event": "DialBegin", "Channel": "PJSIP/carrier-00000001", "Uniqueid": "1795000000.1",
            "DestChannel": channel, "DestUniqueid": f"1795000000.{channel[-4:]}", "DialString": "agents"}


def dial_end(channel: str, status: str) -> dict[str, str]:
    return {"Event": "DialEnd", "Channel": "PJSIP/carrier-00000001", "Uniqueid": "1795000000.1",
            "DestChannel": channel, "DestUniqueid": f"1795000000.{channel[-4:]}", "DialStatus": status}


def hangup(channel: str, cause: str) -> dict[str, str]:
    return {"Event": "Hangup", "Channel": channel, "Uniqueid": f"1795000000.{channel[-4:]}", "Cause": cause,
            "Cause-txt": "whatever Asterisk says"}


def contact(status: str, endpoint: str = "agents", uri: str = "sip:agents@192.0.2.10:5060") -> dict[str, str]:
    return {"Event": "ContactStatus", "URI": uri, "ContactStatus": status, "AOR": endpoint, "EndpointName": endpoint,
            "RoundtripUsec": "1234"}


def peer(status: str, endpoint: str = "agents") -> dict[str, str]:
    return {"Event": "PeerStatus", "Privilege": "system,all", "ChannelType": "PJSIP", "Peer": f"PJSIP/{endpoint}",
            "PeerStatus": status}


def contact_list(status: str, endpoint: str = "agents", uri: str = "sip:agents@192.0.2.10:5060", **fields: str) -> dict[str, str]:
    row = {"Event": "ContactList", "ObjectType": "contact", "ObjectName": f"{endpoint}@@3b2c1f0e9d", "Uri": uri,
           "Endpoint": endpoint, "Status": status, "RoundtripUsec": "1234"}
    row.update(fields)
    return row


def call(detector: Detector, status: str, at: float, endpoint: str = "agents", cause: str | None = None) -> list[Transition]:
    """One outbound leg: DialBegin, DialEnd with ``status``, then its Hangup (cause 16 by default)."""
    channel = new_channel(endpoint)
    out = detector.on_event(dial_begin(channel), T0 + at)
    out += detector.on_event(dial_end(channel, status), T0 + at)
    out += detector.on_event(hangup(channel, cause or "16"), T0 + at)
    return out


def down(reason: str, at: float, destination: str = "agents", drill: bool = False) -> Transition:
    return Transition(destination, "down", reason, T0 + at, drill)


def up(reason: str, at: float, destination: str = "agents", drill: bool = False) -> Transition:
    return Transition(destination, "up", reason, T0 + at, drill)


@pytest.fixture
def detector() -> Detector:
    return Detector(MonitorConfig())


def knock_down(detector: Detector, at: float = 0.0) -> None:
    """Three CHANUNAVAIL a second apart, ending at ``at``: down, held for the hold-down."""
    for i in (2, 1, 0):
        transitions = call(detector, "CHANUNAVAIL", at - i)
    assert [t.state for t in transitions] == ["down"]


# -- delivery --------------------------------------------------------------------------


def test_one_busy_agent_never_triggers_a_failover(detector: Detector) -> None:
    transitions = [t for i in range(200) for t in call(detector, "BUSY", i * 0.1, cause="17")]

    assert transitions == []
    assert detector.states()["agents"].down is False


def test_failures_to_down_chanunavail_in_the_window_mark_the_destination_down(detector: Detector) -> None:
    assert call(detector, "CHANUNAVAIL", 0) == []
    assert call(detector, "CHANUNAVAIL", 20) == []

    assert call(detector, "CHANUNAVAIL", 40) == [down("3 CHANUNAVAIL in 60s", 40)]


def test_the_reason_names_every_kind_of_failure_counted(detector: Detector) -> None:
    call(detector, "CHANUNAVAIL", 0)
    call(detector, "CONGESTION", 1)

    assert call(detector, "CHANUNAVAIL", 2) == [down("3 CHANUNAVAIL/CONGESTION in 60s", 2)]


def test_failures_spread_wider_than_the_window_never_mark_down(detector: Detector) -> None:
    transitions = [t for i in range(20) for t in call(detector, "CHANUNAVAIL", i * 31)]

    assert transitions == []
    assert detector.states()["agents"].failures_in_window == 2


def test_answered_calls_between_failures_do_not_reset_the_count(detector: Detector) -> None:
    call(detector, "CHANUNAVAIL", 0)
    call(detector, "ANSWER", 1)
    call(detector, "CHANUNAVAIL", 2)
    call(detector, "ANSWER", 3)

    assert call(detector, "CHANUNAVAIL", 4) == [down("3 CHANUNAVAIL in 60s", 4)]


def test_a_caller_giving_up_counts_for_nothing(detector: Detector) -> None:
    assert [t for i in range(10) for t in call(detector, "CANCEL", i, cause="16")] == []


def test_hangup_with_a_failure_cause_counts_as_a_failed_delivery(detector: Detector) -> None:
    transitions = []
    for at in (0, 1, 2):
        channel = new_channel()
        transitions += detector.on_event(dial_begin(channel), T0 + at)
        transitions += detector.on_event(hangup(channel, "34"), T0 + at)

    assert transitions == [down("3 hangup cause 34 in 60s", 2)]


def test_hangup_with_a_cause_not_configured_counts_for_nothing(detector: Detector) -> None:
    transitions = []
    for at in (0, 1, 2):
        channel = new_channel()
        transitions += detector.on_event(dial_begin(channel), T0 + at)
        transitions += detector.on_event(hangup(channel, "16"), T0 + at)

    assert transitions == []


def test_hangup_of_a_channel_never_dialled_is_ignored(detector: Detector) -> None:
    transitions = [t for at in range(5) for t in detector.on_event(hangup(new_channel(), "34"), T0 + at)]

    assert transitions == []
    assert detector.states() == {}
    assert detector.ignored == 0  # an inbound channel's hangup is not a malformed event


def test_hangup_after_an_answered_call_is_not_a_delivery_failure(detector: Detector) -> None:
    assert [t for at in range(5) for t in call(detector, "ANSWER", at, cause="41")] == []


@pytest.mark.parametrize("hangup_first", [False, True], ids=["dialend-then-hangup", "hangup-then-dialend"])
def test_dialend_and_hangup_of_the_same_call_count_once(detector: Detector, hangup_first: bool) -> None:
    for at in (0, 1):
        channel = new_channel()
        detector.on_event(dial_begin(channel), T0 + at)
        events = [dial_end(channel, "CONGESTION"), hangup(channel, "34")]
        for event in reversed(events) if hangup_first else events:
            assert detector.on_event(event, T0 + at) == []

    assert detector.states()["agents"].failures_in_window == 2
    assert detector.states()["agents"].down is False


def test_dialend_without_a_dialbegin_still_counts(detector: Detector) -> None:
    transitions = [t for at in (0, 1, 2) for t in detector.on_event(dial_end(new_channel(), "CHANUNAVAIL"), T0 + at)]

    assert transitions == [down("3 CHANUNAVAIL in 60s", 2)]


def test_noanswer_at_scale_marks_down(detector: Detector) -> None:
    transitions = [t for i in range(10) for t in call(detector, "NOANSWER", i * 5)]

    assert transitions == [down("10 NOANSWER in a row in 60s", 45)]


def test_fewer_noanswers_than_the_threshold_do_not_mark_down(detector: Detector) -> None:
    assert [t for i in range(9) for t in call(detector, "NOANSWER", i)] == []


def test_an_answer_breaks_a_run_of_noanswers(detector: Detector) -> None:
    transitions = [t for i in range(9) for t in call(detector, "NOANSWER", i)]
    transitions += call(detector, "ANSWER", 9)
    transitions += [t for i in range(10, 19) for t in call(detector, "NOANSWER", i)]

    assert transitions == []


def test_noanswers_spread_wider_than_the_window_do_not_mark_down(detector: Detector) -> None:
    assert [t for i in range(30) for t in call(detector, "NOANSWER", i * 7)] == []


def test_noanswer_to_down_zero_never_counts_noanswers() -> None:
    detector = Detector(MonitorConfig(noanswer_to_down=0))

    assert [t for i in range(100) for t in call(detector, "NOANSWER", i)] == []


def test_noanswers_are_not_hard_failures(detector: Detector) -> None:
    call(detector, "CHANUNAVAIL", 0)
    call(detector, "NOANSWER", 1)
    call(detector, "NOANSWER", 2)

    assert detector.states()["agents"].down is False


@pytest.mark.parametrize(
    ("channel", "destination"),
    [
        ("PJSIP/agents-{n:08x}", "agents"),
        ("PJSIP/uk-trunk-2-{n:08x}", "uk-trunk-2"),
        ("PJSIP/site-abcdef12-{n:08x}", "site-abcdef12"),
        ("Local/0800123@callshield-outbound-{n:08x};1", "Local/callshield-outbound"),
    ],
)
def test_a_channel_names_its_destination_as_destination_of_names_a_route(detector: Detector, channel: str, destination: str) -> None:
    transitions = [t for n in (0x1A, 0x1B, 0x1C) for t in detector.on_event(dial_end(channel.format(n=n), "CHANUNAVAIL"), T0)]

    assert transitions == [down("3 CHANUNAVAIL in 60s", 0, destination)]


# -- hold-down, probation, flapping ----------------------------------------------------


def test_down_stays_down_for_the_hold_down_then_goes_on_probation(detector: Detector) -> None:
    knock_down(detector, at=0)

    assert detector.tick(T0 + 29.9) == []
    assert detector.tick(T0 + 30) == [up("hold-down over, trying again", 30)]
    state = detector.states()["agents"]
    assert (state.down, state.probation) == (False, True)


def test_an_event_after_the_hold_down_sees_the_probation_without_waiting_for_tick(detector: Detector) -> None:
    knock_down(detector, at=0)

    assert call(detector, "CHANUNAVAIL", 31) == [up("hold-down over, trying again", 31),
                                                 down("CHANUNAVAIL on probation, held down 60s", 31)]


def test_failures_during_the_hold_down_neither_count_nor_extend_it(detector: Detector) -> None:
    knock_down(detector, at=0)

    assert [t for at in range(1, 20) for t in call(detector, "CHANUNAVAIL", at)] == []
    assert detector.tick(T0 + 30) == [up("hold-down over, trying again", 30)]


def test_answers_during_the_hold_down_do_not_end_it(detector: Detector) -> None:
    knock_down(detector, at=0)

    assert [t for at in range(1, 20) for t in call(detector, "ANSWER", at)] == []
    assert detector.states()["agents"].down is True


def test_one_failure_on_probation_marks_down_with_the_hold_down_doubled(detector: Detector) -> None:
    knock_down(detector, at=0)
    detector.tick(T0 + 30)

    assert call(detector, "CONGESTION", 31) == [down("CONGESTION on probation, held down 60s", 31)]
    assert detector.states()["agents"].hold_down == 60
    assert detector.tick(T0 + 90) == []
    assert detector.tick(T0 + 91) == [up("hold-down over, trying again", 91)]


def test_the_doubled_hold_down_is_capped_at_hold_down_max(detector: Detector) -> None:
    knock_down(detector, at=0)
    now, holds = 0.0, []
    for _ in range(6):
        now += detector.states()["agents"].hold_down
        detector.tick(T0 + now)
        call(detector, "CHANUNAVAIL", now)
        holds.append(detector.states()["agents"].hold_down)

    assert holds == [60, 120, 240, 300, 300, 300]


def test_an_answer_on_probation_heals_and_a_healthy_period_resets_the_hold_down(detector: Detector) -> None:
    knock_down(detector, at=0)
    detector.tick(T0 + 30)
    call(detector, "CHANUNAVAIL", 31)  # down again, hold-down 60
    detector.tick(T0 + 91)

    assert call(detector, "ANSWER", 92) == []
    state = detector.states()["agents"]
    # Healthy; a new outage now would be flapping: twice the last hold-down.
    assert (state.down, state.probation, state.hold_down) == (False, False, 120)
    assert call(detector, "CHANUNAVAIL", 93) == []  # healthy: one failure is not an outage

    detector.tick(T0 + 92 + 300)
    assert detector.states()["agents"].hold_down == 30


def test_a_destination_down_again_soon_after_healing_is_flapping_and_held_longer(detector: Detector) -> None:
    knock_down(detector, at=0)
    detector.tick(T0 + 30)
    call(detector, "ANSWER", 31)  # healthy at 31

    knock_down(detector, at=31 + 29)

    state = detector.states()["agents"]
    assert (state.hold_down, state.reason) == (60, "3 CHANUNAVAIL in 60s, flapping (29s after recovering), held down 60s")
    assert detector.tick(T0 + 60 + 59) == []
    assert detector.tick(T0 + 60 + 60) == [up("hold-down over, trying again", 120)]


def flap(detector: Detector, holds: list[float], healthy_for: float, start: float = 0.0) -> float:
    """Once per entry of ``holds`` (the hold-down each outage must get): knock the
    destination down, wait out the hold-down, heal it with an answered call; between
    rounds it stays healthy ``healthy_for`` seconds (an answered call a second). The time
    of the last healing."""
    now = start
    for n, hold in enumerate(holds):
        if n:
            for i in range(int(healthy_for)):
                assert call(detector, "ANSWER", now + i + 1) == []
            now += healthy_for
        knock_down(detector, at=now)
        assert detector.states()["agents"].hold_down == hold
        now += hold
        assert detector.tick(T0 + now) == [up("hold-down over, trying again", now)]
        assert call(detector, "ANSWER", now) == []
    return now


def test_hold_down_memory_decays_with_each_full_hold_down_of_healthy_calls() -> None:
    """The issue's trace (hold_down 6, hold_down_max 60): down again at once after each
    recovery, 6 -> 12 -> 24; then each full 6 s of healthy calls halves the next one."""
    detector = Detector(MonitorConfig(hold_down=6, hold_down_max=60))
    healed = flap(detector, [6, 12, 24], healthy_for=2)
    nexts = []
    for waited in (0, 5.9, 6, 12, 18, 75):
        detector.tick(T0 + healed + waited)
        nexts.append(detector.states()["agents"].hold_down)
    assert nexts == [48, 48, 24, 12, 6, 6]  # before: 48 until hold_down_max (60 s) had passed, then 6


def test_a_new_outage_12_s_after_healing_from_24_s_gets_12_s() -> None:
    detector = Detector(MonitorConfig(hold_down=6, hold_down_max=60))
    healed = flap(detector, [6, 12, 24], healthy_for=2)

    knock_down(detector, at=healed + 12)  # two full hold_downs healthy: 48 halved twice

    assert detector.states()["agents"].hold_down == 12


def test_after_75_s_of_healthy_calls_a_new_outage_gets_the_base_hold_down() -> None:
    """Before: 6 -> 12 s, and still 12 s after 75 s of healthy calls (within hold_down_max)."""
    detector = Detector(MonitorConfig(hold_down=6, hold_down_max=120))
    healed = flap(detector, [6, 12], healthy_for=2)
    for i in range(75):
        assert call(detector, "ANSWER", healed + i + 1) == []

    knock_down(detector, at=healed + 75 + 3)

    state = detector.states()["agents"]
    assert (state.hold_down, state.reason) == (6, "3 CHANUNAVAIL in 60s")


@pytest.mark.parametrize(("healthy_for", "hold"), [(0, 60), (29.9, 60), (30, 30), (59, 30), (300, 30)])
def test_the_next_hold_down_after_a_hold_of_30_s(healthy_for: float, hold: float) -> None:
    """Defaults (30 s, at most 300 s): a hold-down of 30 s, healed, down again after
    ``healthy_for`` seconds of health."""
    detector = Detector(MonitorConfig())
    knock_down(detector, at=0)
    detector.tick(T0 + 30)
    call(detector, "ANSWER", 30)

    knock_down(detector, at=30 + healthy_for)

    assert detector.states()["agents"].hold_down == hold


def test_flapping_memory_stays_within_hold_down_max() -> None:
    detector = Detector(MonitorConfig(hold_down=6, hold_down_max=20))
    flap(detector, [6, 12, 20, 20], healthy_for=1)


def test_a_destination_down_long_after_healing_gets_the_base_hold_down(detector: Detector) -> None:
    knock_down(detector, at=0)
    detector.tick(T0 + 30)
    call(detector, "ANSWER", 31)

    knock_down(detector, at=31 + 300)

    assert detector.states()["agents"].hold_down == 30


# -- reachability ----------------------------------------------------------------------


def test_an_unreachable_contact_marks_down_at_once_naming_the_contact(detector: Detector) -> None:
    assert detector.on_event(contact("Unreachable"), T0) == [down("contact sip:agents@192.0.2.10:5060 Unreachable", 0)]


def test_a_reachable_contact_comes_up_only_after_reachable_for(detector: Detector) -> None:
    detector.on_event(contact("Unreachable"), T0)

    assert detector.on_event(contact("Reachable"), T0 + 10) == []
    assert detector.tick(T0 + 14.9) == []
    assert detector.tick(T0 + 15) == [up("reachable for 5s", 15)]


def test_reachable_for_zero_comes_up_with_the_reachable_event() -> None:
    detector = Detector(MonitorConfig(reachable_for=0))
    detector.on_event(contact("Unreachable"), T0)

    assert detector.on_event(contact("Reachable"), T0 + 1) == [up("reachable again", 1)]


def test_a_contact_flapping_faster_than_reachable_for_never_comes_up(detector: Detector) -> None:
    transitions = detector.on_event(contact("Unreachable"), T0)
    for i in range(1, 50):
        transitions += detector.on_event(contact("Reachable" if i % 2 else "Unreachable"), T0 + i * 2)
        transitions += detector.tick(T0 + i * 2 + 1)

    assert transitions == [down("contact sip:agents@192.0.2.10:5060 Unreachable", 0)]
    assert detector.states()["agents"].down is True


def test_a_reachable_contact_brings_nothing_up_that_was_never_down(detector: Detector) -> None:
    assert detector.on_event(contact("Reachable"), T0) == []
    assert detector.tick(T0 + 60) == []


def test_one_unreachable_contact_of_two_is_not_an_outage(detector: Detector) -> None:
    detector.on_event(contact("Reachable", uri="sip:agents@192.0.2.11:5060"), T0)

    assert detector.on_event(contact("Unreachable"), T0 + 1) == []
    assert detector.on_event(contact("Unreachable", uri="sip:agents@192.0.2.11:5060"), T0 + 2) == [
        down("contact sip:agents@192.0.2.11:5060 Unreachable", 2)]


def test_peer_status_unreachable_and_reachable(detector: Detector) -> None:
    assert detector.on_event(peer("Unreachable"), T0) == [down("peer PJSIP/agents Unreachable", 0)]
    assert detector.on_event(peer("Reachable"), T0 + 1) == []
    assert detector.tick(T0 + 6) == [up("reachable for 5s", 6)]


def test_removing_the_only_reachable_contact_leaves_the_unreachable_one(detector: Detector) -> None:
    detector.on_event(contact("Reachable", uri="sip:agents@192.0.2.11:5060"), T0)
    assert detector.on_event(contact("Unreachable"), T0) == []

    assert detector.on_event(contact("Removed", uri="sip:agents@192.0.2.11:5060"), T0 + 1) == [
        down("contact sip:agents@192.0.2.11:5060 Removed, none reachable", 1)]


@pytest.mark.parametrize("status", ["Removed", "Created", "Unknown", "NonQualified", "Updated"])
def test_contact_statuses_without_a_verdict_neither_mark_down_nor_bring_up(detector: Detector, status: str) -> None:
    assert detector.on_event(contact(status), T0) == []  # up stays up
    detector.on_event(contact("Unreachable", uri="sip:agents@192.0.2.11:5060"), T0 + 1)

    assert detector.on_event(contact(status, uri="sip:agents@192.0.2.11:5060"), T0 + 2) == []
    assert detector.tick(T0 + 60) == []  # down stays down: nothing says it is reachable
    assert detector.states()["agents"].down is True


def test_reachability_does_not_end_a_delivery_hold_down(detector: Detector) -> None:
    knock_down(detector, at=0)
    detector.on_event(contact("Reachable"), T0 + 1)

    assert detector.tick(T0 + 20) == []
    assert detector.tick(T0 + 30) == [up("hold-down over, trying again", 30)]


def test_down_for_delivery_and_reachability_comes_up_only_when_both_clear(detector: Detector) -> None:
    knock_down(detector, at=0)
    assert detector.on_event(contact("Unreachable"), T0 + 1) == []

    assert detector.tick(T0 + 30) == []  # hold-down over, still unreachable
    assert detector.states()["agents"].down is True
    assert detector.on_event(contact("Reachable"), T0 + 40) == []
    assert detector.tick(T0 + 45) == [up("reachable for 5s", 45)]
    assert detector.states()["agents"].probation is True


def test_delivery_failures_of_an_unreachable_destination_are_not_counted_again(detector: Detector) -> None:
    detector.on_event(contact("Unreachable"), T0)
    for at in range(1, 10):
        call(detector, "CHANUNAVAIL", at)
    detector.on_event(contact("Reachable"), T0 + 10)

    assert detector.tick(T0 + 15) == [up("reachable for 5s", 15)]
    assert detector.states()["agents"].failures_in_window == 0


# -- resync after a reconnect ----------------------------------------------------------


def test_resync_marks_down_a_destination_whose_contacts_are_all_unreachable(detector: Detector) -> None:
    transitions = detector.resync([contact_list("Unreachable"), contact_list("Reachable", endpoint="trunk", uri="sip:trunk@198.51.100.1")], T0)

    assert transitions == [down("contact sip:agents@192.0.2.10:5060 Unreachable (after reconnect)", 0)]


def test_resync_reachable_counts_as_reachable_from_now(detector: Detector) -> None:
    detector.on_event(contact("Unreachable"), T0)

    assert detector.resync([contact_list("Reachable")], T0 + 100) == []
    assert detector.tick(T0 + 104) == []
    assert detector.tick(T0 + 105) == [up("reachable for 5s", 105)]


@pytest.mark.parametrize("status", ["Unknown", "NonQualified"])
def test_resync_unknown_and_nonqualified_give_no_opinion(detector: Detector, status: str) -> None:
    assert detector.resync([contact_list(status)], T0) == []
    assert detector.states()["agents"].down is False


def test_resync_replaces_a_stale_peer_status(detector: Detector) -> None:
    detector.on_event(peer("Reachable"), T0)

    assert detector.resync([contact_list("Unreachable")], T0 + 1) == [
        down("contact sip:agents@192.0.2.10:5060 Unreachable (after reconnect)", 1)]


def test_resync_maps_a_permanent_contact_without_endpoint_through_its_aor(detector: Detector) -> None:
    # A trunk's AOR 'carrier-aor' serves endpoint 'carrier'; its ContactList has no Endpoint.
    detector.on_event(contact("Reachable", endpoint="carrier", uri="sip:198.51.100.1") | {"AOR": "carrier-aor"}, T0)
    row = contact_list("Unreachable", endpoint="carrier", uri="sip:198.51.100.1", ObjectName="carrier-aor@@9f8e7d", Endpoint="")

    assert detector.resync([row], T0 + 1) == [down("contact sip:198.51.100.1 Unreachable (after reconnect)", 1, "carrier")]


def test_a_contact_list_event_outside_a_resync_reads_as_that_contacts_status(detector: Detector) -> None:
    assert detector.on_event(contact_list("Unreachable"), T0) == [down("contact sip:agents@192.0.2.10:5060 Unreachable", 0)]


# -- drills ----------------------------------------------------------------------------


def test_a_drill_marks_down_and_up_labelled_drill(detector: Detector) -> None:
    assert detector.mark("agents", True, "drill by alice", T0) == [down("drill by alice", 0, drill=True)]
    assert detector.states()["agents"] == DestinationState(True, T0, "drill by alice", True, 0, False, 30)
    assert detector.mark("agents", False, "drill over", T0 + 60) == [up("drill over", 60, drill=True)]


def test_a_drill_holds_down_past_the_hold_down_and_reachability(detector: Detector) -> None:
    detector.mark("agents", True, "drill", T0)
    detector.on_event(contact("Unreachable"), T0 + 1)  # a real outage shows as real
    detector.on_event(contact("Reachable"), T0 + 2)

    assert detector.tick(T0 + 7) == [down("drill", 7, drill=True)]  # real one over: the drill again
    assert detector.tick(T0 + 600) == []


def test_a_real_failure_during_a_drill_stays_down_when_the_drill_ends(detector: Detector) -> None:
    detector.mark("agents", True, "drill", T0)

    transitions = [t for at in (1, 2, 3) for t in call(detector, "CHANUNAVAIL", at)]
    assert transitions == [down("3 CHANUNAVAIL in 60s", 3)]  # relabelled: real, not drill
    assert detector.mark("agents", False, "drill over", T0 + 10) == []
    assert detector.states()["agents"].down is True
    assert detector.tick(T0 + 33) == [up("hold-down over, trying again", 33)]


def test_a_drill_on_a_destination_already_down_changes_nothing_seen(detector: Detector) -> None:
    knock_down(detector, at=0)

    assert detector.mark("agents", True, "drill", T0 + 1) == []
    assert detector.mark("agents", False, "drill over", T0 + 2) == []
    assert detector.states()["agents"].reason == "3 CHANUNAVAIL in 60s"


def test_ending_a_drill_that_never_started_does_nothing(detector: Detector) -> None:
    assert detector.mark("agents", False, "drill over", T0) == []


def test_a_manual_mark_is_not_labelled_drill(detector: Detector) -> None:
    assert detector.mark("agents", True, "carrier maintenance", T0, drill=False) == [down("carrier maintenance", 0)]


# -- what is ignored -------------------------------------------------------------------


def test_unwatched_destinations_are_ignored() -> None:
    detector = Detector(MonitorConfig(), watched=lambda name: name == "agents")
    transitions = [t for at in range(5) for t in call(detector, "CHANUNAVAIL", at, endpoint="lab-phone")]
    transitions += detector.on_event(contact("Unreachable", endpoint="lab-phone"), T0)
    transitions += detector.on_event(peer("Unreachable", endpoint="lab-phone"), T0)
    transitions += detector.resync([contact_list("Unreachable", endpoint="lab-phone")], T0)

    assert transitions == []
    assert detector.states() == {}
    assert detector.ignored == 0


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"Event": None},
        {"Event": "DialEnd"},
        {"Event": "DialEnd", "DestChannel": "PJSIP/agents-0000001a"},
        {"Event": "DialEnd", "DestChannel": "PJSIP/agents-0000001a", "DialStatus": "MAYBE"},
        {"Event": "DialEnd", "DestChannel": None, "DialStatus": "CHANUNAVAIL"},
        {"Event": "DialEnd", "DestChannel": "agents", "DialStatus": "CHANUNAVAIL"},
        {"Event": "DialEnd", "DestChannel": "PJSIP/agents", "DialStatus": "CHANUNAVAIL"},
        {"Event": "DialBegin", "DestChannel": ""},
        {"Event": "Hangup", "Cause": "34"},
        {"Event": "ContactStatus", "URI": "sip:agents@192.0.2.10"},
        {"Event": "ContactStatus", "ContactStatus": "Unreachable"},
        {"Event": "ContactStatus", "ContactStatus": "Sleepy", "EndpointName": "agents", "AOR": "agents"},
        {"Event": "PeerStatus", "Peer": "PJSIP/agents"},
        {"Event": "PeerStatus", "PeerStatus": "Unreachable", "Peer": "PJSIP/"},
    ],
)
def test_malformed_events_are_counted_and_change_nothing(detector: Detector, event: dict[str, Any]) -> None:
    assert detector.on_event(event, T0) == []
    assert detector.states() == {}
    assert detector.ignored == 1


def test_a_non_numeric_cause_is_counted_and_counts_no_failure(detector: Detector) -> None:
    channel = new_channel()
    detector.on_event(dial_begin(channel), T0)

    assert detector.on_event(hangup(channel, "thirty-four"), T0) == []
    assert detector.ignored == 1
    assert "agents" not in detector.states()


def test_other_events_are_not_counted_as_ignored(detector: Detector) -> None:
    for event in ({"Event": "Newchannel", "Channel": "PJSIP/agents-0000001a"}, {"Event": "FullyBooted"}):
        assert detector.on_event(event, T0) == []

    assert detector.ignored == 0


def test_resync_skips_malformed_rows(detector: Detector) -> None:
    rows: list[Any] = [{}, None, {"Status": "Unreachable"}, contact_list("Sleepy"), contact_list("Unreachable")]

    assert [t.state for t in detector.resync(rows, T0)] == ["down"]
    assert detector.ignored == 4


def test_resync_passes_over_the_reply_and_the_list_complete_event(detector: Detector) -> None:
    rows = [{"Response": "Success", "EventList": "start", "Message": "A listing of Contacts follows"}, contact_list("Unreachable"),
            {"Event": "ContactListComplete", "EventList": "Complete", "ListItems": "1"}]

    assert [t.state for t in detector.resync(rows, T0)] == ["down"]
    assert detector.ignored == 0


_text = st.one_of(st.text(max_size=30), st.sampled_from(["DialBegin", "DialEnd", "Hangup", "ContactStatus", "ContactList", "PeerStatus",
                                                          "CHANUNAVAIL", "NOANSWER", "ANSWER", "Unreachable", "Reachable", "Removed",
                                                          "34", "PJSIP/agents-0000001a", "Local/1@ctx-0000001b;1", "PJSIP/agents"]))
_keys = st.sampled_from(["Event", "DestChannel", "DialStatus", "Channel", "Cause", "ContactStatus", "URI", "AOR", "EndpointName",
                         "Peer", "PeerStatus", "Status", "Uri", "Endpoint", "ObjectName"])


@settings(max_examples=300, deadline=None)
@given(events=st.lists(st.dictionaries(st.one_of(_keys, st.text(max_size=10)), st.one_of(_text, st.none()), max_size=8), max_size=20),
       rows=st.lists(st.dictionaries(_keys, _text, max_size=6), max_size=5))
def test_arbitrary_events_never_raise(events: list[dict[str, Any]], rows: list[dict[str, str]]) -> None:
    detector = Detector(MonitorConfig())
    for i, event in enumerate(events):
        detector.on_event(event, T0 + i)
    detector.resync(rows, T0 + 100)
    detector.tick(T0 + 1000)

    assert all(isinstance(s, DestinationState) for s in detector.states().values())


# -- scale -----------------------------------------------------------------------------


def test_a_burst_of_ten_thousand_events_is_processed_with_bounded_memory() -> None:
    detector = Detector(MonitorConfig())
    transitions: list[Transition] = []
    for i in range(2_500):  # four events a call, 50 destinations; trunk-7 fails every call
        endpoint = f"trunk-{i % 50}"
        channel = new_channel(endpoint)
        status = "CHANUNAVAIL" if endpoint == "trunk-7" else ("ANSWER", "BUSY", "NOANSWER", "CANCEL")[i % 4]
        at = T0 + i * 0.004
        transitions += detector.on_event(dial_begin(channel), at)
        transitions += detector.on_event({"Event": "Newstate", "Channel": channel}, at)
        transitions += detector.on_event(dial_end(channel, status), at)
        transitions += detector.on_event(hangup(channel, "16"), at)

    assert transitions == [Transition("trunk-7", "down", "3 CHANUNAVAIL in 60s", T0 + 107 * 0.004)]
    assert len(detector.states()) == 50


def test_legs_never_hung_up_are_forgotten_oldest_first(detector: Detector) -> None:
    channels = [new_channel() for _ in range(MAX_LEGS + 3)]
    for channel in channels:
        detector.on_event(dial_begin(channel), T0)
    for channel in channels[:3]:  # forgotten: their Hangups are a stranger's
        detector.on_event(hangup(channel, "34"), T0 + 1)
    assert "agents" not in detector.states()

    transitions = [t for channel in channels[-3:] for t in detector.on_event(hangup(channel, "34"), T0 + 1)]
    assert transitions == [down("3 hangup cause 34 in 60s", 1)]

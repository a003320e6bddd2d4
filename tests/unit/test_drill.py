"""Failover drills (callshield/ami_monitor/drill.py) without Asterisk: which numbers a
destination serves, the report, the checks of each test call, how AMI events are tied to
a test call, and, against the fake AMI peer of test_ami_client.py with a stand-in for
serve that applies drill requests, the paths that go wrong: Originate refused, a call
that never ends, Ctrl-C. Whatever happens, the end of a simulated failure is requested.
The real thing: tests/integration/test_monitor_asterisk.py."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import AsyncIterator, Callable

import pytest
import pytest_asyncio

from callshield.ami_monitor import drill as drill_module
from callshield.ami_monitor.drill import Drill, DrillCall, DrillError, DrillReport, drill_extension, numbers_served_by
from callshield.config import Config, load_config
from callshield.errors import ConfigError
from callshield.read.numbers import NumberIntel
from callshield.store import open_store
from callshield.store.routing import RoutingStore
from tests.support.service import eventually
from tests.unit.test_ami_client import SECRET, FakeAmi, event, wire

DDI = "+442071234567"
OTHER = "+442071234568"
LONDON = "+442079460001"


def drill_config(tmp_path: Path, port: int = 9, **monitor: object) -> Config:
    return load_config(None, env={}, overrides={**{f"monitor.{k}": v for k, v in monitor.items()},
        "store.path": str(tmp_path / "callshield.db"), "scoring.model": "rules",
        "routing.numbers": {DDI: {"route": "PJSIP/agents", "fallback": "PJSIP/overflow"},
                            OTHER: {"route": "PJSIP/agents/sip:1000@10.0.0.5", "fallback": "PJSIP/overflow"},
                            LONDON: {"route": "PJSIP/0800123@london-sbc", "fallback": "PJSIP/leeds-sbc"}},
        "monitor.enabled": True, "monitor.port": port, "monitor.connect_timeout": 1.0, "monitor.backoff_initial": 0.01,
        "monitor.backoff_max": 0.05, "monitor.drill_context": "from-carrier"})


def requests(config: Config) -> list[tuple[str, int]]:
    """The drill requests in the store, oldest first: (destination, down)."""
    con = sqlite3.connect(config.store.path)
    try:
        return [tuple(r) for r in con.execute("SELECT destination, down FROM drill_requests ORDER BY id")]  # type: ignore[misc]
    finally:
        con.close()


# -- the pure parts -------------------------------------------------------------------

def test_numbers_served_by_a_destination_come_from_the_config_and_the_store(tmp_path: Path) -> None:
    config = drill_config(tmp_path)
    db = open_store(config.store.path)
    try:
        store = RoutingStore(db, NumberIntel("GB"), {DDI, OTHER, LONDON})
        store.set_number("+442079460002", "PJSIP/agents", "PJSIP/overflow")  # a number added by the CLI
        store.set_number(LONDON, "PJSIP/agents", "PJSIP/leeds-sbc")  # the store's route wins over the file's

        assert numbers_served_by(config, store, "agents") == sorted([DDI, OTHER, LONDON, "+442079460002"])
        assert numbers_served_by(config, store, "london-sbc") == []
        assert numbers_served_by(config, store, "overflow") == []  # a secondary serves no number normally
    finally:
        db.close()


def test_a_drill_of_a_destination_serving_no_number_says_how_to_name_one(tmp_path: Path) -> None:
    with pytest.raises(DrillError, match=r"no number is routed through 'nowhere'.*--number"):
        Drill(drill_config(tmp_path), SECRET, "nowhere", calls=1)


def test_the_report_counts_calls_and_prints_every_one() -> None:
    report = DrillReport("agents", "simulated", [DDI])
    report.calls = [DrillCall(DDI, "diverted", "drill-1-0", "overflow", "trunk_down:agents", ["ANSWER"], True),
                    DrillCall(DDI, "returned", "drill-1-1", "", "", ["CHANUNAVAIL"], True)]
    report.time_to_divert, report.time_to_restore = 0.061, None
    report.problems = ["returned call drill-1-1 to +442071234567 was not answered anywhere (lost)"]

    assert (report.placed, report.delivered, report.lost, report.passed) == (2, 1, 1, False)
    assert report.text() == "\n".join([
        "failover drill of agents (simulated): FAILED",
        "  numbers          +442071234567",
        "  time to divert   0.06 s",
        "  time to restore  -",
        "  calls placed     2",
        "  calls delivered  1",
        "  calls lost       1",
        "    diverted  +442071234567 -> overflow (trunk_down:agents; dial ANSWER)",
        "    returned  +442071234567 -> NOBODY (no decision; dial CHANUNAVAIL)",
        "  problem: returned call drill-1-1 to +442071234567 was not answered anywhere (lost)",
    ])
    assert report.to_dict()["calls"][0]["delivered"] is True


def test_a_report_without_calls_does_not_pass() -> None:
    assert not DrillReport("agents", "simulated", [DDI]).passed


@pytest.fixture
def offline_drill(tmp_path: Path) -> Drill:
    return Drill(drill_config(tmp_path), SECRET, "agents", calls=1)


@pytest.mark.parametrize(("answered_by", "route_reason", "problem"), [
    ("overflow", "trunk_down:agents", None),
    ("agents", "trunk_down:agents", "was not diverted: answered by agents"),
    ("overflow", "normal", "was not diverted: answered by overflow (normal; expected trunk_down:agents)"),
    # diverted, but because another destination is down: not what this drill tested
    ("overflow", "trunk_down:london-sbc", "was not diverted: answered by overflow (trunk_down:london-sbc; expected trunk_down:agents)"),
])
def test_a_diverted_call_must_be_diverted_from_the_drilled_destination(offline_drill: Drill, answered_by: str, route_reason: str,
                                                                       problem: str | None) -> None:
    report = DrillReport("agents", "simulated", [DDI])
    offline_drill._check(report, DrillCall(DDI, "diverted", "drill-1-0", answered_by, route_reason, ["ANSWER"], True), diverted=True)
    offline_drill.db.close()
    if problem is None:
        assert report.problems == []
    else:
        assert len(report.problems) == 1 and problem in report.problems[0]


def test_a_returned_call_must_reach_the_destination_normally(offline_drill: Drill) -> None:
    report = DrillReport("agents", "simulated", [DDI])
    offline_drill._check(report, DrillCall(DDI, "returned", "drill-1-1", "agents", "normal", ["ANSWER"], True), diverted=False)
    offline_drill._check(report, DrillCall(DDI, "returned", "drill-1-2", "overflow", "trunk_down:agents", ["ANSWER"], True),
                         diverted=False)
    offline_drill.db.close()
    assert report.problems == ["call drill-1-2 to +442071234567 did not return to agents: answered by overflow (trunk_down:agents)"]


def test_a_call_that_never_reached_the_dialplan_points_at_the_drill_context(offline_drill: Drill) -> None:
    report = DrillReport("agents", "simulated", [DDI])
    offline_drill._check(report, DrillCall(DDI, "diverted", "drill-1-0", ended=True, extension="02071234567"), diverted=True)
    offline_drill._check(report, DrillCall(DDI, "diverted", "drill-1-1", "", "trunk_down:agents", ["CHANUNAVAIL"], True,
                                           extension="02071234567"), diverted=True)
    offline_drill.db.close()
    assert report.problems[0] == (
        "diverted call drill-1-0 to +442071234567 was not answered anywhere (lost): it never reached a Dial nor callshield;"
        " does context 'from-carrier' (monitor.drill_context) have an extension matching 02071234567 that runs the"
        " callshield line?")
    assert report.problems[1] == "diverted call drill-1-1 to +442071234567 was not answered anywhere (lost)"


def test_a_call_asterisk_could_not_start_ends_the_drill_naming_the_extension_and_context(tmp_path: Path) -> None:
    drill = Drill(drill_config(tmp_path, drill_number_format="e164"), SECRET, "agents", calls=1)
    drill.db.close()
    report = DrillReport("agents", "simulated", [DDI])
    with pytest.raises(DrillError) as caught:
        drill._check(report, DrillCall(DDI, "diverted", "drill-1-0", ended=True, originate_failed="0", extension="+442071234567"),
                     diverted=True)
    assert str(caught.value) == (
        "diverted call drill-1-0 to +442071234567 could not start (lost): context 'from-carrier' (monitor.drill_context)"
        " has no extension matching +442071234567 (Originate failed, reason 0): the drill dials"
        " Local/+442071234567@from-carrier (monitor.drill_number_format 'e164'). Add to [from-carrier] an extension that"
        " runs the callshield line, e.g. 'exten => _+X.,1,Gosub(callshield-screen,s,1(${EXTEN}))' and your normal route,"
        " or set monitor.drill_number_format to the form your carrier sends (e164, national, digits)")


@pytest.mark.parametrize(("number", "number_format", "home", "extension"), [
    ("+442071234567", "national", "GB", "02071234567"),  # what the README's _X. matches, as UK carriers send it
    ("+442071234567", "e164", "GB", "+442071234567"),
    ("+442071234567", "digits", "GB", "442071234567"),
    ("+442071234567", "9{national}", "GB", "902071234567"),
    ("+442071234567", "{e164}", "GB", "+442071234567"),
    ("+12025550123", "national", "US", "2025550123"),
    ("+12025550123", "national", "CA", "2025550123"),  # one national numbering plan (+1)
    ("+12025550123", "national", "GB", "12025550123"),  # another country: national cannot say it; its digits
    ("+33142685300", "national", "FR", "0142685300"),
    ("12345", "national", "GB", "12345"),  # a number kept as digits (not parseable): as it is
])
def test_the_drill_dials_each_number_in_the_configured_form(number: str, number_format: str, home: str, extension: str) -> None:
    assert drill_extension(number, number_format, home) == extension


@pytest.mark.parametrize("number_format", ["E164", "international", "{national", "9{national}{digits}", "{e164}#x", "",
                                           "{foo}", "00{e164}"])
def test_a_drill_number_format_that_is_not_one_of_the_forms_is_refused(tmp_path: Path, number_format: str) -> None:
    with pytest.raises(ConfigError, match="monitor.drill_number_format"):
        load_config(None, env={}, overrides={"store.path": str(tmp_path / "c.db"), "monitor.drill_number_format": number_format})


def test_the_test_calls_dial_the_configured_form_into_the_drill_context(tmp_path: Path) -> None:
    drill = Drill(drill_config(tmp_path), SECRET, "agents", calls=1)
    drill.db.close()
    assert [drill._extension(n) for n in drill.numbers] == ["02071234567", "02071234568"]


def test_ami_events_are_tied_to_the_test_call_by_its_channel_ids(offline_drill: Drill) -> None:
    call = DrillCall(DDI, "diverted", "drill-x-0")
    offline_drill._live.update({"drill-x-0": call, "drill-x-0-2": call})
    offline_drill.db.close()
    on = offline_drill._on_event
    # Originate's own dial of ;1 has no caller channel: no Uniqueid, not this call's
    on({"Event": "DialEnd", "DestChannel": "Local/+442071234567@from-carrier-00000001;1", "DestUniqueid": "drill-x-0",
        "DialStatus": "ANSWER"})
    on({"Event": "DialEnd", "Uniqueid": "1795000000.9", "DestChannel": "PJSIP/agents-0000000a", "DialStatus": "ANSWER"})
    assert call.dial_statuses == [] and call.answered_by == ""

    on({"Event": "DialEnd", "Uniqueid": "drill-x-0-2", "DestChannel": "PJSIP/agents-0000000b", "DialStatus": "CHANUNAVAIL"})
    on({"Event": "DialEnd", "Uniqueid": "drill-x-0-2", "DestChannel": "PJSIP/over-flow-0000000c", "DialStatus": "ANSWER"})
    assert call.dial_statuses == ["CHANUNAVAIL", "ANSWER"]
    assert call.answered_by == "over-flow"  # a destination name with a dash, as destination_of names it
    assert not call.ended

    on({"Event": "Hangup", "Uniqueid": "drill-x-0", "Channel": "Local/+442071234567@from-carrier-00000001;1", "Cause": "16"})
    assert call.ended


def test_a_call_answered_through_a_local_channel_is_named_as_routes_name_it(offline_drill: Drill) -> None:
    call = DrillCall(DDI, "diverted", "drill-x-0")
    offline_drill._live["drill-x-0-2"] = call
    offline_drill.db.close()
    offline_drill._on_event({"Event": "DialEnd", "Uniqueid": "drill-x-0-2", "DestChannel": "Local/2000@agents-queue-0000001b;1",
                             "DialStatus": "ANSWER"})
    assert call.answered_by == "Local/agents-queue"  # destination_of("Local/2000@agents-queue")


def test_an_originate_asterisk_could_not_start_is_tied_to_the_live_call_by_its_channel(offline_drill: Drill) -> None:
    """No such extension: Asterisk's OriginateResponse has no Uniqueid ('<unknown>')."""
    call = DrillCall(DDI, "diverted", "drill-x-0", extension="02071234567")
    offline_drill._live.update({"drill-x-0": call, "drill-x-0-2": call})
    offline_drill.db.close()
    offline_drill._on_event({"Event": "OriginateResponse", "Response": "Failure", "Channel": "Local/0207@from-carrier",
                             "Uniqueid": "<unknown>", "Reason": "0"})
    assert not call.ended
    offline_drill._on_event({"Event": "OriginateResponse", "Privilege": "call,all", "ActionID": "callshield-7",
                             "Response": "Failure", "Channel": "Local/02071234567@from-carrier", "Application": "Wait",
                             "Data": "1", "Reason": "0", "Uniqueid": "<unknown>", "CallerIDNum": "<unknown>"})
    assert call.ended and call.originate_failed == "0"


def test_a_failed_originate_ends_the_call_and_keeps_asterisks_reason(offline_drill: Drill) -> None:
    call = DrillCall(DDI, "diverted", "drill-x-0")
    offline_drill._live.update({"drill-x-0": call, "drill-x-0-2": call})
    offline_drill.db.close()
    offline_drill._on_event({"Event": "DialEnd", "Uniqueid": "drill-x-0-2", "DestChannel": "PJSIP/agents-0000000b",
                             "DialStatus": "NOANSWER"})
    offline_drill._on_event({"Event": "OriginateResponse", "Response": "Failure", "Uniqueid": "drill-x-0", "Reason": "1"})
    assert call.ended and call.originate_failed == "1"


# -- against a fake AMI peer, with a stand-in for serve ---------------------------------

@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    server = await FakeAmi().start()
    # The shipped manager.conf user (write = originate,system) may not show the dialplan.
    server.handlers["ShowDialPlan"] = lambda fields: wire(("Response", "Error"), ("ActionID", fields["ActionID"]),
                                                          ("Message", "Permission denied"))
    yield server
    await server.stop()


async def applying_serve(config: Config) -> None:
    """What serve's monitor does with drill requests: acknowledge each at once."""
    con = sqlite3.connect(config.store.path, timeout=5)
    try:
        while True:
            con.execute("UPDATE drill_requests SET applied_at = ? WHERE applied_at IS NULL", [time.time()])
            con.commit()
            await asyncio.sleep(0.02)
    finally:
        con.close()


@pytest_asyncio.fixture
async def serve_stand_in(tmp_path: Path, fake: FakeAmi) -> AsyncIterator[Config]:
    config = drill_config(tmp_path, fake.port)
    open_store(config.store.path).close()
    task = asyncio.create_task(applying_serve(config))
    yield config
    task.cancel()


def originate_accepted(fake: FakeAmi, then: Callable[[dict[str, str]], bytes] = lambda fields: b"") -> None:
    """Answer Originate with Success (queued), then send ``then(fields)`` (its events)."""
    fake.handlers["Originate"] = lambda fields: wire(("Response", "Success"), ("ActionID", fields["ActionID"]),
                                                     ("Message", "Originate successfully queued")) + then(fields)


@pytest.mark.asyncio
async def test_an_originate_refused_is_reported_with_the_permission_to_check_and_the_failure_ends(
        fake: FakeAmi, serve_stand_in: Config) -> None:
    fake.handlers["Originate"] = lambda fields: wire(("Response", "Error"), ("ActionID", fields["ActionID"]),
                                                     ("Message", "Permission denied"))
    report = await Drill(serve_stand_in, SECRET, "agents", calls=1).run()

    assert not report.passed
    assert report.problems == ["Asterisk refused the AMI action Originate: Permission denied (placing the test call to"
                               " +442071234567): the manager.conf user 'callshield' needs 'originate' in its write permissions"]
    assert requests(serve_stand_in) == [("agents", 1), ("agents", 0)]


@pytest.mark.asyncio
async def test_a_call_that_never_ends_is_hung_up_reported_and_the_drill_goes_on(
        fake: FakeAmi, serve_stand_in: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drill_module, "CALL_TIMEOUT", 0.2)
    monkeypatch.setattr(drill_module, "CALL_END_MARGIN", 0.0)
    monkeypatch.setattr(drill_module, "DECISION_WAIT", 0.1)
    originate_accepted(fake)  # ... and no event of the call, ever
    report = await Drill(serve_stand_in, SECRET, "agents", calls=1, numbers=[DDI]).run()

    hangups = [a["Channel"] for a in fake.actions if a.get("Action") == "Hangup"]
    assert hangups == [c.channel_id for c in report.calls]  # each stuck call hung up by its uniqueid
    assert [c.phase for c in report.calls] == ["diverted", "returned"]  # the restore and return phase still ran
    assert any("timed out after 0.2 s waiting for test call" in p and p.endswith("; hung it up") for p in report.problems)
    assert report.lost == 2 and not report.passed
    assert requests(serve_stand_in) == [("agents", 1), ("agents", 0)]


@pytest.mark.asyncio
async def test_a_drill_whose_calls_are_diverted_and_return_passes(fake: FakeAmi, serve_stand_in: Config) -> None:
    """The fake Asterisk answers each call on the destination serve's decision names."""
    diverted = {"on": True}

    def events(fields: dict[str, str]) -> bytes:
        other = fields["OtherChannelId"]
        dest = "overflow" if diverted["on"] else "agents"
        con = sqlite3.connect(serve_stand_in.store.path)
        con.execute("INSERT INTO calls (id, ts, uniqueid, route_reason) VALUES (?, ?, ?, ?)",
                    [other, time.time(), other, "trunk_down:agents" if diverted["on"] else "normal"])
        con.commit()
        con.close()
        return (event("DialEnd", Uniqueid=other, DestChannel=f"PJSIP/{dest}-0000001a", DialStatus="ANSWER")
                + event("Hangup", Uniqueid=fields["ChannelId"], Cause="16"))

    originate_accepted(fake, events)
    drill = Drill(serve_stand_in, SECRET, "agents", calls=1)
    real_restore = drill._request_restore

    def restore() -> int:
        diverted["on"] = False
        return real_restore()

    drill._request_restore = restore  # type: ignore[method-assign]
    report = await drill.run()

    assert report.problems == []
    assert report.passed, report.text()
    assert [(c.phase, c.answered_by, c.route_reason) for c in report.calls] == [
        ("diverted", "overflow", "trunk_down:agents"), ("returned", "agents", "normal")]


@pytest.mark.asyncio
async def test_ctrl_c_during_a_call_ends_the_simulated_failure_and_hangs_the_call_up(
        fake: FakeAmi, serve_stand_in: Config, caplog: pytest.LogCaptureFixture) -> None:
    originate_accepted(fake)
    drill = Drill(serve_stand_in, SECRET, "agents", calls=1, numbers=[DDI])
    task = asyncio.create_task(drill.run())
    await eventually(lambda: any(a.get("Action") == "Originate" for a in fake.actions), what="the first test call")
    task.cancel()  # what asyncio.run does on Ctrl-C
    with pytest.raises(asyncio.CancelledError):
        await task

    assert requests(serve_stand_in) == [("agents", 1), ("agents", 0)]
    assert [a["Channel"] for a in fake.actions if a.get("Action") == "Hangup"] == [f"drill-{drill.id}-0"]
    assert "drill of agents interrupted: the end of its simulated failure was requested" in caplog.text


@pytest.mark.asyncio
async def test_the_failure_ends_even_when_no_serve_applies_the_drill(tmp_path: Path, fake: FakeAmi,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drill_module, "APPLY_TIMEOUT", 0.2)
    config = drill_config(tmp_path, fake.port)
    report = await Drill(config, SECRET, "agents", calls=1).run()

    assert report.problems == [f"no callshield serve with monitor.enabled applied the drill within 0.2 s (is serve running on"
                               f" store {config.store.path} with the AMI monitor connected?)"]
    assert requests(config) == [("agents", 1), ("agents", 0)]


@pytest.mark.asyncio
async def test_a_busy_store_is_retried_for_the_restore_then_says_how_to_end_the_failure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drill = Drill(drill_config(tmp_path), SECRET, "agents", calls=1)
    attempts: list[bool] = []

    def locked(down: bool) -> int:
        attempts.append(down)
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(drill, "_request", locked)
    try:
        with pytest.raises(DrillError, match=r"could not ask serve to end the simulated failure of agents \(database is locked\):"
                                             r" its calls stay diverted until you run `callshield drill --destination agents`"
                                             r" again or restart serve"):
            drill._request_restore()
    finally:
        drill.db.close()
    assert attempts == [False] * drill_module.RESTORE_ATTEMPTS


@pytest.mark.asyncio
async def test_a_context_without_the_extension_is_found_before_anything_changes(fake: FakeAmi, serve_stand_in: Config) -> None:
    """A manager user with the reporting write class: Asterisk's ShowDialPlan answers."""
    fake.handlers["ShowDialPlan"] = lambda fields: wire(
        ("Response", "Error"), ("ActionID", fields["ActionID"]),
        ("Message", f"Did not find extension {fields['Extension']}@{fields['Context']}"))
    report = await Drill(serve_stand_in, SECRET, "agents", calls=1, numbers=[DDI]).run()

    assert report.problems == [
        "context 'from-carrier' (monitor.drill_context) has no extension matching 02071234567 (Asterisk: Did not find"
        " extension 02071234567@from-carrier): the drill dials Local/02071234567@from-carrier (monitor.drill_number_format"
        " 'national'). Add to [from-carrier] an extension that runs the callshield line, e.g. 'exten =>"
        " _X.,1,Gosub(callshield-screen,s,1(${EXTEN}))' and your normal route, or set monitor.drill_number_format to the"
        " form your carrier sends (e164, national, digits)"]
    assert report.placed == 0 and requests(serve_stand_in) == []  # nothing marked, nothing dialled
    assert not any(a.get("Action") == "Originate" for a in fake.actions)


@pytest.mark.asyncio
async def test_a_context_with_the_extension_lets_the_drill_dial_it(fake: FakeAmi, serve_stand_in: Config) -> None:
    fake.handlers["ShowDialPlan"] = lambda fields: (
        wire(("Response", "Success"), ("ActionID", fields["ActionID"]), ("EventList", "start"))
        + wire(("Event", "ListDialplan"), ("ActionID", fields["ActionID"]), ("Context", "from-carrier"), ("Extension", "_X."),
               ("Priority", "1"), ("Application", "Gosub"))
        + wire(("Event", "ShowDialPlanComplete"), ("ActionID", fields["ActionID"]), ("EventList", "Complete")))
    fake.handlers["Originate"] = lambda fields: wire(("Response", "Error"), ("ActionID", fields["ActionID"]),
                                                     ("Message", "stop here"))
    await Drill(serve_stand_in, SECRET, "agents", calls=1, numbers=[DDI]).run()

    asked = [(a["Action"], a.get("Context"), a.get("Extension") or a.get("Channel")) for a in fake.actions
             if a.get("Action") in ("ShowDialPlan", "Originate")]
    assert asked == [("ShowDialPlan", "from-carrier", "02071234567"), ("Originate", None, "Local/02071234567@from-carrier")]


@pytest.mark.asyncio
async def test_an_induced_drill_stops_at_a_test_call_asterisk_could_not_start(fake: FakeAmi, serve_stand_in: Config,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """No such extension: Asterisk answers the Originate, then an OriginateResponse Failure
    without a Uniqueid. The drill stops there instead of dialling until its --timeout."""
    monkeypatch.setattr(drill_module, "DECISION_WAIT", 0.1)
    originate_accepted(fake, lambda fields: event("OriginateResponse", ActionID=fields["ActionID"], Response="Failure",
                                                  Channel=fields["Channel"], Reason="0", Uniqueid="<unknown>"))
    report = await Drill(serve_stand_in, SECRET, "agents", calls=1, numbers=[DDI], induced=True, timeout=30).run()

    assert report.placed == 1 and report.lost == 1
    assert len(report.problems) == 1
    assert report.problems[0].startswith("detecting call drill-") and "could not start (lost): context 'from-carrier'" in report.problems[0]
    assert "no extension matching 02071234567 (Originate failed, reason 0)" in report.problems[0]

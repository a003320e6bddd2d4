"""Failover drills on the live system: ``callshield drill``.

Simulated (default): mark the destination failed through the store (the running serve's
monitor applies it, labelled ``drill`` in the audit log), place test calls through
Asterisk (AMI Originate of a Local channel into your inbound context, so they take the
real numbers' routing, screened but never scored: CALLSHIELD_DRILL), check each was
delivered somewhere other than the destination with ``ROUTE_REASON trunk_down:<dest>``,
restore, and check calls return. Induced: the destination has really been stopped;
place calls until the monitor detects it, check no call is lost, wait for its recovery,
check calls return. Either way: a report with time to divert, time to restore, calls
placed / delivered / lost; it passes only with 0 lost and every call where it belongs.

The test calls dial each number the way the carrier delivers it (``drill_extension``:
``monitor.drill_number_format``, national by default, which the usual ``_X.`` pattern
matches). Before anything changes, the drill asks Asterisk (AMI ShowDialPlan, when the
manager user may) whether ``monitor.drill_context`` has an extension for each; a test
call Asterisk could not start at all (no such extension) ends the drill at once. Either
way the report names the extension and the context to add it to.

Once a simulated failure has been requested, its end is requested whatever happens (a
lost call, a timeout, an AMI error, Ctrl-C); a test call that never ends is hung up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from callshield.ami_monitor.client import AmiActionError, AmiClient, AmiError, AmiTimeout
from callshield.ami_monitor.detector import channel_destination
from callshield.config import DRILL_NUMBER_FORMATS, Config
from callshield.dialplan.destination_health import destination_of
from callshield.errors import CallshieldError
from callshield.read.numbers import NumberIntel
from callshield.store import calls as call_store, destinations, drills, open_store
from callshield.store.routing import RoutingStore

log = logging.getLogger("callshield.drill")
CALL_TIMEOUT = 40.0  # a test call not answered by then is given up (Originate's Timeout)
CALL_END_MARGIN = 10.0  # ... and one answered just before that has this long to hang up (Wait(1))
APPLY_TIMEOUT = 10.0
RESTORE_ATTEMPTS = 3
DECISION_WAIT = 3.0  # for serve's writer to store a test call's decision (its ROUTE_REASON)


class DrillError(CallshieldError):
    """The drill could not run (no numbers for the destination, no AMI, no serve applying it)."""


def drill_extension(number: str, number_format: str, home_country: str) -> str:
    """The extension a drill dials for one of your numbers (its E.164 key) in
    ``monitor.drill_number_format``: ``e164`` +442071234567, ``digits`` 442071234567,
    ``national`` 02071234567 (a number of another country than ``home_country``: its
    digits, as national cannot say the country), or a template of one of them
    (``9{national}``).

    Example: ``drill_extension("+442071234567", "national", "GB")`` -> ``"02071234567"``.
    """
    if number_format not in DRILL_NUMBER_FORMATS:
        kind = next((k for k in DRILL_NUMBER_FORMATS if f"{{{k}}}" in number_format), "e164")
        return number_format.replace(f"{{{kind}}}", drill_extension(number, kind, home_country))
    if number_format == "e164" or not number.startswith("+"):
        return number  # not parseable as E.164: the key is its digits already
    if number_format == "national":
        try:
            parsed = phonenumbers.parse(number)
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is not None and home_country.upper() in phonenumbers.region_codes_for_country_code(parsed.country_code):
            national = "".join(c for c in phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
                               if c.isdigit())
            if national:
                return national
    return number[1:]


def pattern_for(extension: str) -> str:
    """A dialplan pattern that matches ``extension`` (for the advice in an error)."""
    return "_+X." if extension.startswith("+") else "_X." if extension.isdigit() else extension


@dataclass
class DrillCall:
    number: str
    phase: str  # "diverted" or "returned"
    channel_id: str
    answered_by: str = ""  # the destination that answered, "" when nobody did
    route_reason: str = ""
    dial_statuses: list[str] = field(default_factory=list)
    ended: bool = False
    originate_failed: str = ""  # OriginateResponse Failure's Reason, when Asterisk reports it
    extension: str = ""  # what the test call dialled in monitor.drill_context

    @property
    def delivered(self) -> bool:
        return bool(self.answered_by)


@dataclass
class DrillReport:
    destination: str
    mode: str
    numbers: list[str]
    calls: list[DrillCall] = field(default_factory=list)
    time_to_divert: float | None = None
    time_to_restore: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def placed(self) -> int:
        return len(self.calls)

    @property
    def delivered(self) -> int:
        return sum(c.delivered for c in self.calls)

    @property
    def lost(self) -> int:
        return self.placed - self.delivered

    @property
    def passed(self) -> bool:
        return not self.problems and self.lost == 0 and self.placed > 0

    def text(self) -> str:
        def secs(v: float | None) -> str:
            return "-" if v is None else f"{v:.2f} s"

        lines = [
            f"failover drill of {self.destination} ({self.mode}): {'PASSED' if self.passed else 'FAILED'}",
            f"  numbers          {', '.join(self.numbers)}",
            f"  time to divert   {secs(self.time_to_divert)}",
            f"  time to restore  {secs(self.time_to_restore)}",
            f"  calls placed     {self.placed}",
            f"  calls delivered  {self.delivered}",
            f"  calls lost       {self.lost}",
        ]
        for c in self.calls:
            lines.append(f"    {c.phase:9} {c.number} -> {c.answered_by or 'NOBODY'} ({c.route_reason or 'no decision'};"
                         f" dial {','.join(c.dial_statuses) or '-'})")
        lines += [f"  problem: {p}" for p in self.problems]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "destination": self.destination, "mode": self.mode, "passed": self.passed, "numbers": self.numbers,
            "time_to_divert": self.time_to_divert, "time_to_restore": self.time_to_restore, "placed": self.placed,
            "delivered": self.delivered, "lost": self.lost, "problems": self.problems,
            "calls": [c.__dict__ | {"delivered": c.delivered} for c in self.calls],
        }


def numbers_served_by(config: Config, store: RoutingStore, destination: str) -> list[str]:
    """The numbers whose normal route goes through ``destination``."""
    from callshield.dialplan.policy import RoutingTable
    from callshield.store.routing import load_state

    table = RoutingTable(config.routing, store.intel, state=load_state(store.db))
    served = []
    for key in sorted(table.configured_numbers() | set(table.state.numbers)):
        own = table.state.numbers.get(key)
        route = own.route if own and own.route else table.policy(key).route
        if route and destination_of(route) == destination:
            served.append(key)
    return served


class Drill:
    def __init__(self, config: Config, secret: str, destination: str, *, calls: int, numbers: list[str] | None = None,
                 actor: str = "cli", induced: bool = False, timeout: float = 120.0):
        self.config = config
        self.destination = destination
        self.calls = calls
        self.actor = actor
        self.induced = induced
        self.timeout = timeout
        self.db = open_store(config.store.path)
        self.store = RoutingStore(self.db, NumberIntel(config.scoring.home_country))
        served = numbers_served_by(config, self.store, destination)
        self.numbers = [self.store.number_key(n) for n in numbers] if numbers else served
        if not self.numbers:
            self.db.close()
            raise DrillError(f"no number is routed through {destination!r} (numbers' routes dial e.g. PJSIP/{destination});"
                             " name one with --number")
        self.id = secrets.token_hex(4)
        self.client = AmiClient(config.monitor, secret, self._on_event)
        self._live: dict[str, DrillCall] = {}
        self._changed = asyncio.Event()
        self._marked = False  # a simulated failure was requested ...
        self._restored = False  # ... and its end

    # -- AMI -----------------------------------------------------------------------

    def _on_event(self, event: dict[str, str]) -> None:
        name = event.get("Event")
        call = self._live.get(event.get("Uniqueid", ""))
        if call is None and name == "OriginateResponse":
            # A Local channel Asterisk could not create (no such extension/context) has no
            # Uniqueid ('<unknown>'): the test call of that Channel (one is live at a time).
            context = self.config.monitor.drill_context
            call = next((c for c in self._live.values() if not c.ended and event.get("Channel") == f"Local/{c.extension}@{context}"),
                        None)
        if call is None:
            return
        if name == "DialEnd":
            status = event.get("DialStatus", "")
            call.dial_statuses.append(status)
            if status == "ANSWER":
                channel = event.get("DestChannel", "")
                call.answered_by = channel_destination(channel) or channel
        elif name == "Hangup":
            call.ended = True
        elif name == "OriginateResponse" and event.get("Response") == "Failure":
            call.originate_failed = event.get("Reason", "?")
            call.ended = True
        self._changed.set()

    async def _wait(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DrillError(f"timed out after {timeout:g} s waiting for {what}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.2))

    async def _place(self, number: str, phase: str, n: int, report: DrillReport) -> DrillCall:
        """One test call, from Originate to its Hangup, appended to the report (delivered
        or not); a call that never ends is hung up and reported."""
        monitor = self.config.monitor
        channel_id = f"drill-{self.id}-{n}"
        call = DrillCall(number, phase, channel_id, extension=self._extension(number))
        self._live[f"{channel_id}-2"] = call  # ;2 runs the dialplan (and callshield's AGI)
        self._live[channel_id] = call  # ;1 waits 1 s once answered, then hangs up
        try:
            await self.client.action(
                "Originate", Channel=f"Local/{call.extension}@{monitor.drill_context}", Application="Wait", Data="1",
                CallerID=f'"callshield drill" <{number}>', Variable=f"CALLSHIELD_DRILL={self.id}", Async="true",
                ChannelId=channel_id, OtherChannelId=f"{channel_id}-2", Timeout=str(int(CALL_TIMEOUT * 1000)),
            )
        except AmiActionError as exc:
            raise DrillError(f"{exc} (placing the test call to {number}): the manager.conf user {monitor.username!r}"
                             " needs 'originate' in its write permissions") from None
        report.calls.append(call)
        try:
            await self._wait(lambda: call.ended, CALL_TIMEOUT + CALL_END_MARGIN, f"test call {channel_id} to {number} to end")
        except DrillError as exc:
            report.problems.append(f"{exc}; hung it up")
            await self._hang_up(call)
        call.route_reason = await asyncio.get_running_loop().run_in_executor(None, self._route_reason, f"{channel_id}-2")
        return call

    def _extension(self, number: str) -> str:
        return drill_extension(number, self.config.monitor.drill_number_format, self.config.scoring.home_country)

    def _no_extension(self, extension: str, why: str) -> str:
        monitor = self.config.monitor
        return (f"context {monitor.drill_context!r} (monitor.drill_context) has no extension matching {extension} ({why}):"
                f" the drill dials Local/{extension}@{monitor.drill_context} (monitor.drill_number_format"
                f" {monitor.drill_number_format!r}). Add to [{monitor.drill_context}] an extension that runs the callshield"
                f" line, e.g. 'exten => {pattern_for(extension)},1,Gosub(callshield-screen,s,1(${{EXTEN}}))' and your"
                " normal route, or set monitor.drill_number_format to the form your carrier sends (e164, national, digits)")

    async def _check_extensions(self) -> None:
        """Ask Asterisk whether the drill context matches each extension the drill will
        dial, before anything changes. Skipped (logged) when the manager user may not ask:
        ShowDialPlan needs the reporting write class, which callshield needs for nothing else."""
        context = self.config.monitor.drill_context
        for extension in dict.fromkeys(self._extension(n) for n in self.numbers):
            try:
                await self.client.collect("ShowDialPlan", "ShowDialPlanComplete", Context=context, Extension=extension)
            except (AmiActionError, AmiTimeout) as exc:
                message = exc.reply.get("Message", "").strip() if isinstance(exc, AmiActionError) else str(exc)
                if message.startswith("Did not find"):  # ... extension X@ctx, or ... context ctx
                    raise DrillError(self._no_extension(extension, f"Asterisk: {message}")) from None
                log.info("drill: cannot check up front that context %s has an extension for %s (%s); the first test"
                         " call will tell", context, extension, message)
                return

    async def _hang_up(self, call: DrillCall) -> None:
        """Best effort: Asterisk's Hangup finds a channel by its uniqueid too."""
        try:
            await self.client.action("Hangup", Channel=call.channel_id, timeout=2.0)
        except AmiError as exc:
            log.warning("could not hang up the test call %s to %s: %s", call.channel_id, call.number, exc)
        call.ended = True

    def _route_reason(self, uniqueid: str) -> str:
        deadline = time.monotonic() + DECISION_WAIT
        while time.monotonic() < deadline:
            reason = call_store.route_reason_of(self.db, uniqueid)
            if reason is not None:
                return reason
            time.sleep(0.05)
        return ""

    # -- store ---------------------------------------------------------------------

    def _request(self, down: bool) -> int:
        return drills.request(self.db, self.destination, down, self.actor)

    def _request_restore(self) -> int:
        """Ask serve to end the simulated failure, retrying a busy store. Synchronous on
        purpose: it runs in a ``finally`` that Ctrl-C may already be unwinding."""
        for attempt in range(1, RESTORE_ATTEMPTS + 1):
            try:
                restore = self._request(False)
                break
            except sqlite3.Error as exc:
                if attempt == RESTORE_ATTEMPTS:
                    raise DrillError(
                        f"could not ask serve to end the simulated failure of {self.destination} ({exc}): its calls stay"
                        f" diverted until you run `callshield drill --destination {self.destination}` again or restart"
                        " serve") from None
                log.warning("requesting the end of the simulated failure of %s failed (%s); trying again", self.destination, exc)
        self._restored = True
        return restore

    async def _applied(self, request_id: int) -> float:
        deadline = time.monotonic() + APPLY_TIMEOUT
        while time.monotonic() < deadline:
            timing = drills.timing(self.db, request_id)
            if timing and timing[1] is not None:
                return timing[1] - timing[0]
            await asyncio.sleep(0.05)
        raise DrillError(f"no callshield serve with monitor.enabled applied the drill within {APPLY_TIMEOUT:g} s"
                         f" (is serve running on store {self.config.store.path} with the AMI monitor connected?)")

    def _state(self) -> tuple[bool, float] | None:
        """The destination's real state as serve recorded it (a drill's mark is not an outage)."""
        state = destinations.state_of(self.db, self.destination)
        return (state[0] and not state[2], state[1]) if state else None

    # -- the drill -----------------------------------------------------------------

    async def run(self) -> DrillReport:
        report = DrillReport(self.destination, "induced" if self.induced else "simulated", self.numbers)
        client = asyncio.create_task(self.client.run(), name="drill-ami")
        try:
            await self._wait_logged_in()
            await self._check_extensions()
            if self.induced:
                await self._induced(report)
            else:
                await self._simulated(report)
        except (DrillError, AmiError) as exc:
            report.problems.append(str(exc))
        except asyncio.CancelledError:
            log.warning("drill of %s interrupted: %s", self.destination,
                        "the end of its simulated failure was requested" if self._restored
                        else "its simulated failure may still be in force: run the drill again" if self._marked
                        else "nothing was changed")
            raise
        finally:
            for call in {id(c): c for c in self._live.values()}.values():
                if not call.ended and self.client.logged_in:
                    await self._hang_up(call)
            client.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await client
            await self.client.close()
            self.db.close()
        return report

    async def _wait_logged_in(self) -> None:
        deadline = time.monotonic() + self.config.monitor.connect_timeout + 2
        while not self.client.logged_in:
            if time.monotonic() > deadline:
                raise DrillError(f"cannot log in to AMI at {self.config.monitor.host}:{self.config.monitor.port}:"
                                 f" {self.client.last_error or 'no answer'}")
            await asyncio.sleep(0.05)

    async def _simulated(self, report: DrillReport) -> None:
        marked = self._request(True)
        self._marked = True
        try:
            report.time_to_divert = await self._applied(marked)
            for n in range(self.calls):
                call = await self._place(self.numbers[n % len(self.numbers)], "diverted", n, report)
                self._check(report, call, diverted=True)
        finally:
            # Whatever happened (a lost call, a timeout, an AMI error, Ctrl-C), the simulated
            # failure ends: a serve that applies the mark late applies the restore after it.
            restore = self._request_restore()
        report.time_to_restore = await self._applied(restore)
        for n in range(self.calls):
            call = await self._place(self.numbers[n % len(self.numbers)], "returned", self.calls + n, report)
            self._check(report, call, diverted=False)

    async def _induced(self, report: DrillReport) -> None:
        started = time.time()
        deadline = time.monotonic() + self.timeout
        n = 0
        while not (self._state() or (False, 0))[0]:
            if time.monotonic() > deadline:
                raise DrillError(f"the monitor did not mark {self.destination} down within {self.timeout:g} s: is it really stopped?")
            self._started(await self._place(self.numbers[n % len(self.numbers)], "detecting", n, report))
            n += 1
        down_at = self._state()[1]  # type: ignore[index]
        report.time_to_divert = max(0.0, down_at - started)
        call = await self._place(self.numbers[n % len(self.numbers)], "diverted", n, report)
        self._check(report, call, diverted=True)
        n += 1
        log.warning("drill: %s is down and its calls are diverted; waiting up to %g s for it to recover", self.destination, self.timeout)
        while (state := self._state()) is not None and state[0]:
            if time.monotonic() > deadline:
                raise DrillError(f"{self.destination} did not come back within {self.timeout:g} s")
            await asyncio.sleep(0.1)
        up_at = state[1] if state else time.time()
        report.time_to_restore = max(0.0, up_at - down_at)
        for _ in range(self.calls):
            call = await self._place(self.numbers[n % len(self.numbers)], "returned", n, report)
            self._check(report, call, diverted=False)
            n += 1

    def _started(self, call: DrillCall) -> None:
        """End the drill at a test call Asterisk could not even start (no such extension or
        context): every other would fail the same way."""
        if call.originate_failed and not call.delivered and not call.dial_statuses and not call.route_reason:
            raise DrillError(f"{call.phase} call {call.channel_id} to {call.number} could not start (lost): "
                             + self._no_extension(call.extension, f"Originate failed, reason {call.originate_failed}"))

    def _check(self, report: DrillReport, call: DrillCall, *, diverted: bool) -> None:
        diverted_reason = f"trunk_down:{self.destination}"
        if not call.delivered:
            self._started(call)
            why = ""
            if not call.dial_statuses and not call.route_reason:
                why = (f": it never reached a Dial nor callshield; does context {self.config.monitor.drill_context!r}"
                       f" (monitor.drill_context) have an extension matching {call.extension} that runs the callshield line?")
            report.problems.append(f"{call.phase} call {call.channel_id} to {call.number} was not answered anywhere (lost){why}")
        elif diverted and (call.answered_by == self.destination or call.route_reason != diverted_reason):
            report.problems.append(f"call {call.channel_id} to {call.number} was not diverted: answered by {call.answered_by}"
                                   f" ({call.route_reason or 'no decision recorded'}; expected {diverted_reason})")
        elif not diverted and (call.answered_by != self.destination or call.route_reason.startswith("trunk_down:")):
            report.problems.append(f"call {call.channel_id} to {call.number} did not return to {self.destination}:"
                                   f" answered by {call.answered_by} ({call.route_reason or 'no decision recorded'})")

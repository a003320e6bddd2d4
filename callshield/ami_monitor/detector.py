"""The failure detector: which destinations are down, from AMI events. Pure and
synchronous: no I/O, the time is passed in, and it never raises on a bad event.

A destination is a PJSIP endpoint (a trunk, a site, an agents' endpoint), the name
``destination_of`` gives a route: ``PJSIP/agents`` and a channel ``PJSIP/agents-0000001a``
are both ``agents``; ``Local/123@ctx`` is ``Local/ctx``. Only destinations the monitor
watches (some number's route) are tracked. The rules, with their ``monitor`` settings:

Delivery (a call that Asterisk tried to deliver there)
  * DialEnd CHANUNAVAIL or CONGESTION is a failed delivery; so is a Hangup of the
    outbound leg, before its DialEnd, with a cause in ``failure_causes`` (34, 38, 41, 42).
    One call counts once however both report it.
  * BUSY (an agent is busy: the destination works) and CANCEL (the caller gave up) count
    for nothing. ANSWER is a success.
  * ``failures_to_down`` failed deliveries within ``window`` seconds -> down; answered
    calls between them do not reset the count.
  * ``noanswer_to_down`` NOANSWERs in a row within ``window``, with no ANSWER between,
    -> down (nobody answers anything there); 0 turns this off.
  * Down stays down ``hold_down`` seconds, whatever happens (no flapping back and forth);
    then the destination is on probation: calls go to it again (a failed one still
    reaches the number's fallback). On probation ONE failure (or the NOANSWER rule) puts it
    down again with the hold-down doubled, at most ``hold_down_max``; an ANSWER makes it
    healthy. A destination that goes down again soon after becoming healthy is flapping:
    its hold-down doubles too, but each full ``hold_down`` of health since halves that
    again, down to ``hold_down`` (with 30 s: healed after 60 s held, down again at once
    -> 120 s; after 30 s healthy -> 60 s; after 60 s -> 30 s, the memory is gone).

Reachability (PJSIP qualify: ContactStatus, PeerStatus, and PJSIPShowContacts after a
reconnect)
  * Down at once when none of the destination's known contacts is reachable (one
    contact Unreachable of two is not an outage: Asterisk dials the reachable one);
    ``PeerStatus: Unreachable`` says the same for the whole endpoint.
  * Up again only once it has stayed reachable ``reachable_for`` seconds without a break:
    a contact flapping faster than that never comes up. Reachability never ends a
    delivery hold-down (OPTIONS answered is not calls answered).
  * Removed forgets a contact; Created, Unknown and NonQualified give no opinion; Updated
    changes nothing. With no opinion left, an up destination stays up and a down one
    stays down until something says it is reachable.

A destination down for both reasons comes up only when both have cleared. A drill
(``mark``) holds a destination down, labelled ``drill``, until the drill ends; real
detection goes on underneath, and a real outage shows as real (drill=False), during the
drill and after it.
"""

from __future__ import annotations

import re
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Callable, Iterable, Literal, Mapping

from callshield.config import MonitorConfig
from callshield.dialplan.destination_health import destination_of

MAX_DESTINATIONS = 10_000
MAX_CONTACTS = 64  # per destination
MAX_LEGS = 20_000  # outbound legs between DialBegin and Hangup (a missed Hangup ages out)
MAX_AORS = 10_000

FAILURES = ("CHANUNAVAIL", "CONGESTION")
NEUTRAL = ("BUSY", "CANCEL", "ABORT", "CONTINUE", "GOTO")
# ContactStatus / ContactList status -> reachable? (None: no opinion)
CONTACT_OPINIONS: dict[str, bool | None] = {
    "Reachable": True, "Unreachable": False,
    "Created": None, "Unknown": None, "NonQualified": None, "Unqualified": None,
}
# PJSIP: '<tech>/<endpoint>-<8+ hex digits>'; Local: '<tech>/<exten>@<context>-<hex>;1|;2'.
_CHANNEL_RE = re.compile(r"(?P<tech>[A-Za-z][A-Za-z0-9_]*)/(?P<resource>.+)-[0-9a-fA-F]{8,}(?:;[12])?")


@dataclass(frozen=True)
class Transition:
    """A destination changed state: apply it to TrunkHealth (``down`` -> mark_down,
    ``up`` -> mark_up). A ``down`` for a destination already down relabels its outage
    (a drill became, or gave way to, a real outage)."""

    destination: str
    state: Literal["down", "up"]
    reason: str
    at: float
    drill: bool = False


@dataclass(frozen=True)
class DestinationState:
    """A snapshot of one destination's state in the detector (``Detector.states``; read by the tests)."""

    down: bool
    since: float | None  # the last transition, None if it never had one
    reason: str
    drill: bool
    failures_in_window: int
    probation: bool
    hold_down: float  # of its current outage or probation, else the one a new outage would get now


@dataclass
class _Leg:
    destination: str
    settled: bool = False  # its DialEnd has been seen
    ended: bool = False  # its Hangup has been seen
    counted: bool = False  # counted as a failed delivery


@dataclass
class _Dest:
    name: str
    hold: float
    failures: deque[tuple[float, str]]
    noanswers: deque[float]
    # published state
    down: bool = False
    drill: bool = False
    reason: str = ""
    since: float | None = None
    # delivery
    delivery_down: bool = False
    delivery_reason: str = ""
    held_until: float | None = None
    probation: bool = False
    calm_since: float | None = None  # became healthy after probation
    # reachability
    contacts: dict[str, bool] = field(default_factory=dict)
    peer: bool | None = None
    reach_down: bool = False
    reach_reason: str = ""
    reachable_since: float | None = None
    # drills and manual marks
    forced: bool = False
    forced_reason: str = ""
    forced_drill: bool = True

    def reachable(self) -> bool | None:
        """True if any contact (or the endpoint's PeerStatus) is reachable, False if all
        known are unreachable, None if nothing is known."""
        opinions = list(self.contacts.values())
        if self.peer is not None:
            opinions.append(self.peer)
        if not opinions:
            return None
        return any(opinions)


class Detector:
    """Turns AMI events into down/up transitions per destination (the rules: module doc)."""

    def __init__(self, config: MonitorConfig, watched: Callable[[str], bool] | None = None):
        self.config = config
        self.watched = watched
        self.ignored = 0  # events of a kind used here but with missing or odd fields
        self._causes = frozenset(config.failure_causes)
        self._dests: dict[str, _Dest] = {}
        self._legs: OrderedDict[str, _Leg] = OrderedDict()
        self._endpoint_of_aor: dict[str, str] = {}
        self._timers: dict[str, None] = {}  # destinations with a hold-down or reachable_for running
        self._now = 0.0
        self._handlers: dict[str, Callable[[Mapping[str, str], float], list[Transition]]] = {
            "DialBegin": self._dial_begin,
            "DialEnd": self._dial_end,
            "Hangup": self._hangup,
            "ContactStatus": self._contact_status,
            "ContactList": self._contact_list,
            "PeerStatus": self._peer_status,
        }

    # -- the API ---------------------------------------------------------------------

    def on_event(self, event: Mapping[str, str], now: float) -> list[Transition]:
        self._now = max(self._now, now)
        kind = _text(event, "Event") if isinstance(event, Mapping) else None
        handler = self._handlers.get(kind or "")
        if kind is None:
            self.ignored += 1
        if handler is None:
            return []
        return handler(event, now)

    def tick(self, now: float) -> list[Transition]:
        """Hold-downs that are over and destinations reachable long enough."""
        self._now = max(self._now, now)
        out: list[Transition] = []
        for name in list(self._timers):
            out += self._settle(self._dests[name], now)
        return out

    def resync(self, contacts: Iterable[Mapping[str, str]], now: float) -> list[Transition]:
        """Reachability from PJSIPShowContacts' ContactList events after a (re)connect:
        they replace every contact opinion (and the PeerStatus) the detector held."""
        self._now = max(self._now, now)
        fresh: dict[str, dict[str, bool]] = {}
        reasons: dict[str, str] = {}
        for contact in contacts:
            if isinstance(contact, Mapping) and ("Response" in contact or _text(contact, "Event") not in (None, "ContactList")):
                continue  # the action's reply or its ContactListComplete, if handed over too
            parsed = self._contact(contact, "Status", ("Uri", "URI"), "Endpoint", "Aor") if isinstance(contact, Mapping) else None
            if parsed is None:
                self.ignored += 1
                continue
            endpoint, key, label, status = parsed
            if status not in CONTACT_OPINIONS:
                self.ignored += 1
                continue
            if not self._is_watched(endpoint):
                continue
            mine = fresh.setdefault(endpoint, {})
            opinion = CONTACT_OPINIONS[status]
            if opinion is not None and len(mine) < MAX_CONTACTS:
                mine[key] = opinion
                if not opinion:
                    reasons.setdefault(endpoint, f"contact {label} Unreachable (after reconnect)")
        out: list[Transition] = []
        for name in list(dict.fromkeys([*self._dests, *fresh])):
            d, out_settled = self._touch(name, now)
            if d is None:
                continue
            out += out_settled
            d.contacts = fresh.get(name, {})
            d.peer = None
            out += self._reach(d, now, reasons.get(name, "no contact reachable (after reconnect)"))
            out += self._settle(d, now)
        return out

    def mark(self, destination: str, down: bool, reason: str, now: float, drill: bool = True) -> list[Transition]:
        """Force a destination down (a drill, or by hand with drill=False) or end that.
        Real detection goes on underneath: ending a drill does not hide a real outage."""
        self._now = max(self._now, now)
        d = self._dests.get(destination)
        if d is None:
            d = self._dests[destination] = self._new(destination)
        out = self._settle(d, now)
        if down:
            d.forced, d.forced_reason, d.forced_drill = True, reason, drill
            return out + self._publish(d, now, reason)
        if not d.forced:
            return out
        was_drill = d.forced_drill
        d.forced = False
        return out + self._publish(d, now, reason, drill=was_drill)

    def states(self) -> dict[str, DestinationState]:
        now, window = self._now, self.config.window
        return {
            name: DestinationState(
                down=d.down, since=d.since, reason=d.reason, drill=d.drill,
                failures_in_window=sum(1 for t, _ in d.failures if now - t <= window),
                probation=d.probation, hold_down=self._hold_in_force(d, now),
            )
            for name, d in self._dests.items()
        }

    # -- events ----------------------------------------------------------------------

    def _dial_begin(self, event: Mapping[str, str], now: float) -> list[Transition]:
        channel = _text(event, "DestChannel")
        name = channel_destination(channel)
        if channel is None or name is None:
            self.ignored += 1
            return []
        if self._is_watched(name):
            self._legs[channel] = _Leg(name)
            self._legs.move_to_end(channel)
            if len(self._legs) > MAX_LEGS:
                self._legs.popitem(last=False)
        return []

    def _dial_end(self, event: Mapping[str, str], now: float) -> list[Transition]:
        channel = _text(event, "DestChannel")
        status = (_text(event, "DialStatus") or "").upper()
        leg = self._legs.get(channel) if channel else None
        name = leg.destination if leg else channel_destination(channel)
        if channel is None or name is None or status not in (*FAILURES, *NEUTRAL, "NOANSWER", "ANSWER"):
            self.ignored += 1
            return []
        counted = False
        if leg is not None:
            counted = leg.counted
            leg.settled = True
            if status in FAILURES:
                leg.counted = True
            if leg.ended:
                del self._legs[channel]
        d, out = self._touch(name, now)
        if d is None or status in NEUTRAL or (status in FAILURES and counted):
            return out
        if status in FAILURES:
            out += self._failure(d, now, status)
        elif status == "NOANSWER":
            out += self._noanswer(d, now)
        else:
            self._answer(d, now)
        return out

    def _hangup(self, event: Mapping[str, str], now: float) -> list[Transition]:
        channel = _text(event, "Channel")
        if channel is None:
            self.ignored += 1
            return []
        leg = self._legs.get(channel)
        if leg is None:  # not an outbound leg we saw dialled
            return []
        if leg.settled:  # its DialEnd told the outcome; the Hangup cause is how the call ended
            del self._legs[channel]
            return []
        leg.ended = True  # kept until its DialEnd, so that one call counts once
        cause = _text(event, "Cause")
        if cause is None or not re.fullmatch(r"[0-9]{1,3}", cause):
            self.ignored += 1
            return []
        if int(cause) not in self._causes or leg.counted:
            return []
        leg.counted = True
        d, out = self._touch(leg.destination, now)
        return out if d is None else out + self._failure(d, now, f"hangup cause {int(cause)}")

    def _contact_status(self, event: Mapping[str, str], now: float) -> list[Transition]:
        parsed = self._contact(event, "ContactStatus", ("URI", "Uri"), "EndpointName", "AOR")
        if parsed is None:
            self.ignored += 1
            return []
        name, key, label, status = parsed
        if status not in CONTACT_OPINIONS and status not in ("Removed", "Updated"):
            self.ignored += 1
            return []
        if status == "Updated":
            return []
        d, out = self._touch(name, now)
        if d is None:
            return out
        opinion = CONTACT_OPINIONS.get(status)
        if opinion is None:
            d.contacts.pop(key, None)
        elif key in d.contacts or len(d.contacts) < MAX_CONTACTS:
            d.contacts[key] = opinion
        reason = f"contact {label} Unreachable" if status == "Unreachable" else f"contact {label} {status}, none reachable"
        return out + self._reach(d, now, reason) + self._settle(d, now)

    def _peer_status(self, event: Mapping[str, str], now: float) -> list[Transition]:
        peer, status = _text(event, "Peer"), _text(event, "PeerStatus")
        if peer is None or status is None:
            self.ignored += 1
            return []
        if status not in ("Reachable", "Unreachable"):  # Registered, Lagged...: not PJSIP's
            return []
        name = destination_of(peer) if "/" in peer else peer
        if not name:
            self.ignored += 1
            return []
        d, out = self._touch(name, now)
        if d is None:
            return out
        d.peer = status == "Reachable"
        return out + self._reach(d, now, f"peer {peer} Unreachable") + self._settle(d, now)

    def _contact_list(self, event: Mapping[str, str], now: float) -> list[Transition]:
        """A ContactList event outside a resync: one contact's status, like a ContactStatus."""
        return self._contact_status({"ContactStatus": event.get("Status"), "URI": event.get("Uri") or event.get("URI"),
                                     "EndpointName": event.get("Endpoint"), "AOR": event.get("Aor"),
                                     "ObjectName": event.get("ObjectName")}, now)

    # -- delivery --------------------------------------------------------------------

    def _failure(self, d: _Dest, now: float, label: str) -> list[Transition]:
        if d.delivery_down or d.reach_down:  # already known down: nothing new to learn
            return []
        if d.probation:
            return self._down(d, now, label, from_probation=True)
        d.failures.append((now, label))
        n = self.config.failures_to_down
        if len(d.failures) >= n and now - d.failures[0][0] <= self.config.window:
            kinds = "/".join(sorted({kind for _, kind in d.failures}))
            return self._down(d, now, f"{n} {kinds} in {self.config.window:g}s", from_probation=False)
        return []

    def _noanswer(self, d: _Dest, now: float) -> list[Transition]:
        n = self.config.noanswer_to_down
        if n == 0 or d.delivery_down or d.reach_down:
            return []
        d.noanswers.append(now)
        if len(d.noanswers) >= n and now - d.noanswers[0] <= self.config.window:
            return self._down(d, now, f"{n} NOANSWER in a row in {self.config.window:g}s", from_probation=d.probation)
        return []

    def _answer(self, d: _Dest, now: float) -> None:
        d.noanswers.clear()
        if d.probation and not d.delivery_down:
            d.probation = False
            d.calm_since = now

    def _down(self, d: _Dest, now: float, reason: str, *, from_probation: bool) -> list[Transition]:
        cfg = self.config
        if from_probation:
            d.hold = min(d.hold * 2, cfg.hold_down_max)
            reason = f"{reason} on probation, held down {d.hold:g}s"
        else:
            d.hold = self._next_hold(d, now)
            if d.hold > cfg.hold_down:
                reason = f"{reason}, flapping ({now - d.calm_since:.0f}s after recovering), held down {d.hold:g}s"  # type: ignore[operator]
        d.delivery_down, d.delivery_reason = True, reason
        d.held_until = now + d.hold
        d.probation, d.calm_since = False, None
        d.failures.clear()
        d.noanswers.clear()
        self._timers[d.name] = None
        return self._publish(d, now, reason)

    def _next_hold(self, d: _Dest, now: float) -> float:
        """The hold-down a new outage of a healthy destination gets: twice the last one
        (flapping), halved once per full ``hold_down`` it has been healthy since, never
        less than ``hold_down`` nor more than ``hold_down_max``."""
        cfg = self.config
        if d.calm_since is None:  # never down, or its memory already gone
            return cfg.hold_down
        periods = min(int(max(0.0, now - d.calm_since) // cfg.hold_down), 64)
        return max(cfg.hold_down, min(d.hold * 2, cfg.hold_down_max) / 2 ** periods)

    def _hold_in_force(self, d: _Dest, now: float) -> float:
        if d.delivery_down or d.probation:
            return d.hold
        return self._next_hold(d, now)

    # -- reachability ----------------------------------------------------------------

    def _contact(self, event: Mapping[str, str], status_key: str, uri_keys: tuple[str, str], endpoint_key: str,
                 aor_key: str) -> tuple[str, str, str, str] | None:
        """(endpoint, contact key, label, status) of a ContactStatus or ContactList event."""
        status = _text(event, status_key)
        uri = _text(event, uri_keys[0]) or _text(event, uri_keys[1])
        aor = _text(event, aor_key) or _aor_of(_text(event, "ObjectName"))
        endpoint = _text(event, endpoint_key)
        if endpoint and aor and aor not in self._endpoint_of_aor and len(self._endpoint_of_aor) < MAX_AORS:
            if self._is_watched(endpoint):
                self._endpoint_of_aor[aor] = endpoint
        # A permanent contact's ContactList has no Endpoint: the AOR's endpoint seen in a
        # ContactStatus, else the usual convention (the endpoint is named after its AOR).
        endpoint = endpoint or (self._endpoint_of_aor.get(aor, aor) if aor else None)
        if status is None or endpoint is None or (uri is None and aor is None):
            return None
        return endpoint, f"{aor or ''}|{uri or ''}", uri or aor or "", status

    def _reach(self, d: _Dest, now: float, reason: str) -> list[Transition]:
        reachable = d.reachable()
        if reachable is False:
            d.reachable_since = None
            if d.reach_down:
                return []
            d.reach_down, d.reach_reason = True, reason
            return self._publish(d, now, reason)
        if reachable and d.reach_down:
            if d.reachable_since is None:
                d.reachable_since = now
                self._timers[d.name] = None
        else:
            d.reachable_since = None
        return []

    # -- state -----------------------------------------------------------------------

    def _touch(self, name: str, now: float) -> tuple[_Dest | None, list[Transition]]:
        """The watched destination's state (created on first sight), its timers settled."""
        if not self._is_watched(name):
            return None, []
        d = self._dests.get(name)
        if d is None:
            if len(self._dests) >= MAX_DESTINATIONS:
                self.ignored += 1
                return None, []
            d = self._dests[name] = self._new(name)
        return d, self._settle(d, now)

    def _new(self, name: str) -> _Dest:
        cfg = self.config
        return _Dest(name, cfg.hold_down, deque(maxlen=cfg.failures_to_down), deque(maxlen=max(cfg.noanswer_to_down, 1)))

    def _is_watched(self, name: str) -> bool:
        return self.watched is None or bool(self.watched(name))

    def _settle(self, d: _Dest, now: float) -> list[Transition]:
        out: list[Transition] = []
        if d.delivery_down and d.held_until is not None and now >= d.held_until:
            d.delivery_down, d.held_until, d.probation = False, None, True
            out += self._publish(d, now, "hold-down over, trying again")
        if d.reach_down and d.reachable_since is not None and now - d.reachable_since >= self.config.reachable_for:
            d.reach_down, d.reachable_since = False, None
            for_ = self.config.reachable_for
            out += self._publish(d, now, f"reachable for {for_:g}s" if for_ else "reachable again")
        if d.held_until is None and d.reachable_since is None:
            self._timers.pop(d.name, None)
        return out

    def _publish(self, d: _Dest, now: float, reason: str, drill: bool = False) -> list[Transition]:
        """Emit a transition when what the routing sees changes: down/up, or the label of
        an outage (real or drill). A real outage wins over a drill."""
        if d.delivery_down or d.reach_down:
            down, drill, reason = True, False, d.delivery_reason if d.delivery_down else d.reach_reason
        elif d.forced:
            down, drill, reason = True, d.forced_drill, d.forced_reason
        else:
            down = False
        if down == d.down and (not down or drill == d.drill):
            return []
        d.down, d.drill, d.reason, d.since = down, down and drill, reason, now
        return [Transition(d.name, "down" if down else "up", reason, now, drill)]


def _text(event: Mapping[str, object], key: str) -> str | None:
    """A field's text, stripped; None when missing, empty or not text."""
    value = event.get(key)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def channel_destination(channel: str | None) -> str | None:
    """The destination of a channel (the detector's and the drill's one reading):
    ``PJSIP/agents-0000001a`` -> ``agents``; ``Local/123@ctx-0000001b;1`` -> ``Local/ctx``."""
    match = _CHANNEL_RE.fullmatch(channel) if channel and len(channel) <= 256 else None
    if match is None:
        return None
    return destination_of(f"{match['tech']}/{match['resource']}") or None


def _aor_of(object_name: str | None) -> str | None:
    """A contact's AOR from its sorcery id: ``agents@@5a1f...`` (``agents;@...`` before 16)."""
    if not object_name:
        return None
    for separator in ("@@", ";@"):
        if separator in object_name:
            return object_name.split(separator, 1)[0] or None
    return None

"""The one store of call observations: what earlier calls tell about this one.

Each screened call is recorded once (``record``), and three readers count in it:

- the Call DNA model's history features (``recall``, over 1 min, 10 min, 1 h and 24 h);
- the rules' repeat-call velocity (``velocity``, over ``window``: ``scoring.repeat_window``);
- the divert caps (``diverts``: calls diverted to a destination in the last hour;
  ``record_divert`` adds one when the route decision diverts a call).

Everything is kept here, in memory, per key: timestamps of calls per caller number, per
caller number and dialled number, per caller profile, per dialled number, per source
address, of withheld calls per dialled number (``wd|``: from anyone) and per caller and
dialled number (``wn|``: from the same network-asserted number, or from callers with
none), of diverts per destination; the distinct numbers a profile used and dialled
numbers a caller tried, first-seen times and confirmed outcomes. Reads and ``record``
are O(log n) per key. Rebuilt from the store at start-up (``replay``, one read of the
store's recent calls: callshield/wiring.py).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Iterable


WINDOWS = (60.0, 600.0, 3600.0, 86400.0)  # 1 min, 10 min, 1 h, 24 h
HORIZON = WINDOWS[-1]
MAX_DISTINCT = 256
SWEEP_EVERY = 20_000
FIRST_SEEN_KEEP = 30 * 86400.0
DIVERT_WINDOW = 3600.0  # the divert caps count per hour
RULE_WINDOW = 600.0  # scoring.repeat_window's default
Counts = tuple[int, int, int, int]
ZERO: Counts = (0, 0, 0, 0)


@dataclass(frozen=True)
class Velocity:
    """Repeat-call velocity: what the rules count of earlier calls within
    ``scoring.repeat_window`` (this call not included).

    ``withheld_to_dialled`` counts withheld calls to the dialled number from the same
    network-asserted number when there is one, else from unidentified withheld callers
    (the count ``WITHHELD_REPEAT`` reports). ``dialled_numbers_by_caller`` stops at the
    memory's 256 distinct dialled numbers per caller (``memory.MAX_DISTINCT``).
    """

    caller_to_dialled: int = 0
    caller_any: int = 0
    withheld_to_dialled: int = 0
    dialled_numbers_by_caller: int = 0


class Series:
    """Sorted call times of one key; old ones are dropped lazily."""

    __slots__ = ("times", "lo")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.lo = 0

    def add(self, ts: float) -> None:
        if self.times and ts < self.times[-1]:
            bisect.insort(self.times, ts, self.lo)
        else:
            self.times.append(ts)
        if self.lo > 64 and self.lo * 2 > len(self.times):
            del self.times[: self.lo]
            self.lo = 0

    def counts(self, now: float, keep: float = HORIZON) -> Counts:
        """Calls in the four WINDOWS up to ``now``; those older than ``keep`` are dropped."""
        t, lo = self.times, self.lo
        end = bisect.bisect_right(t, now, lo)
        self.lo = bisect.bisect_right(t, now - keep, lo, end)
        lo = self.lo
        return (
            end - bisect.bisect_right(t, now - WINDOWS[0], lo, end),
            end - bisect.bisect_right(t, now - WINDOWS[1], lo, end),
            end - bisect.bisect_right(t, now - WINDOWS[2], lo, end),
            end - (lo if keep == HORIZON else bisect.bisect_right(t, now - HORIZON, lo, end)),
        )

    def since(self, horizon: float, keep_after: float) -> int:
        """Calls after ``horizon``, later ones included (a call can arrive out of order);
        those at or before ``keep_after`` (<= horizon) are dropped."""
        t = self.times
        lo = self.lo = bisect.bisect_right(t, keep_after, self.lo)
        return len(t) - bisect.bisect_right(t, horizon, lo)


@dataclass(frozen=True)
class CallKeys:
    """The keys one call is remembered under."""

    timestamp: float
    number: str | None  # the caller's E.164 number (network-asserted when withheld), None if none
    profile: str  # CALLER_PROFILE
    trait: str  # the route/device trait hash behind the profile
    dialled: str
    source: str
    withheld: bool


@dataclass(frozen=True)
class Recall:
    number: Counts = ZERO
    number_dialled: Counts = ZERO
    profile: Counts = ZERO
    profile_dialled: Counts = ZERO
    withheld_dialled: Counts = ZERO
    dialled: Counts = ZERO
    source: Counts = ZERO
    number_dialled_numbers: int = 0
    profile_dialled_numbers: int = 0
    profile_numbers: int = 0
    number_profiles: int = 0
    number_age: float | None = None
    profile_age: float | None = None
    number_outcomes: tuple[int, int] = (0, 0)
    profile_outcomes: tuple[int, int] = (0, 0)


@dataclass
class CallMemory:
    """``window``: the rules' repeat-call window in seconds (any length; calls are kept
    for the longer of it and the 24 h HORIZON)."""

    window: float = RULE_WINDOW
    series: dict[str, Series] = field(default_factory=dict)
    distinct: dict[str, dict[str, float]] = field(default_factory=dict)
    first_seen: dict[str, float] = field(default_factory=dict)
    outcomes: dict[str, list[int]] = field(default_factory=dict)
    _full_until: dict[str, float] = field(default_factory=dict)
    _since_sweep: int = 0
    keep: float = field(init=False)

    def __post_init__(self) -> None:
        if not self.window > 0:
            raise ValueError(f"the repeat-call window must be > 0 seconds, not {self.window!r}")
        self.keep = max(HORIZON, float(self.window))

    def velocity(self, now: float, number: str | None, dialled: str, withheld: bool) -> Velocity:
        """The rules' counts of earlier calls within ``window`` before ``now`` (read-only
        but for dropping expired times; ``record`` adds the call)."""
        horizon, keep = now - self.window, now - self.keep
        withheld_calls = self._since(f"wn|{number or '?'}|{dialled}", horizon, keep) if withheld else 0
        if number is None:
            return Velocity(withheld_to_dialled=withheld_calls)
        targets = self.distinct.get(f"nd|{number}")
        return Velocity(
            caller_to_dialled=self._since(f"nd|{number}|{dialled}", horizon, keep),
            caller_any=self._since(f"n|{number}", horizon, keep),
            withheld_to_dialled=withheld_calls,
            dialled_numbers_by_caller=sum(1 for d, t in targets.items() if t > horizon and d != dialled) if targets else 0,
        )

    def diverts(self, destination: str, now: float) -> int:
        """Calls diverted to ``destination`` in the last hour (DIVERT_WINDOW)."""
        return self._since(f"v|{destination}", now - DIVERT_WINDOW, now - self.keep)

    def record_divert(self, destination: str, now: float) -> None:
        """The route decision diverted a call (recorded already) to ``destination``."""
        s = self.series.get(f"v|{destination}")
        if s is None:
            s = self.series[f"v|{destination}"] = Series()
        s.add(now)

    def trait_numbers(self, trait: str, now: float, cap: int | None = None) -> int:
        """Distinct caller numbers seen with this route/device trait in 24 h (counting
        stops at ``cap``: callers only need to know whether the trait is common)."""
        return self._distinct(f"tn|{trait}", now, cap)

    def recall(self, k: CallKeys) -> Recall:
        now = k.timestamp
        number = k.number
        return Recall(
            number=self._counts(f"n|{number}", now) if number else ZERO,
            number_dialled=self._counts(f"nd|{number}|{k.dialled}", now) if number else ZERO,
            profile=self._counts(f"p|{k.profile}", now),
            profile_dialled=self._counts(f"pd|{k.profile}|{k.dialled}", now),
            withheld_dialled=self._counts(f"wd|{k.dialled}", now),
            dialled=self._counts(f"d|{k.dialled}", now),
            source=self._counts(f"s|{k.source}", now),
            number_dialled_numbers=self._distinct(f"nd|{number}", now) if number else 0,
            profile_dialled_numbers=self._distinct(f"pd|{k.profile}", now),
            profile_numbers=self._distinct(f"pn|{k.profile}", now),
            number_profiles=self._distinct(f"np|{number}", now) if number else 0,
            number_age=now - self.first_seen[f"n|{number}"] if number and f"n|{number}" in self.first_seen else None,
            profile_age=now - self.first_seen[f"p|{k.profile}"] if f"p|{k.profile}" in self.first_seen else None,
            number_outcomes=tuple(self.outcomes.get(f"n|{number}", (0, 0))) if number else (0, 0),  # type: ignore[arg-type]
            profile_outcomes=tuple(self.outcomes.get(f"p|{k.profile}", (0, 0))),  # type: ignore[arg-type]
        )

    def record(self, k: CallKeys) -> None:
        now = k.timestamp
        keys = [f"p|{k.profile}", f"pd|{k.profile}|{k.dialled}", f"d|{k.dialled}", f"s|{k.source}"]
        if k.withheld:
            keys += [f"wd|{k.dialled}", f"wn|{k.number or '?'}|{k.dialled}"]
        if k.number:
            keys += [f"n|{k.number}", f"nd|{k.number}|{k.dialled}"]
            self._add_distinct(f"nd|{k.number}", k.dialled, now)
            self._add_distinct(f"np|{k.number}", k.profile, now)
            self._add_distinct(f"pn|{k.profile}", k.number, now)
            self._add_distinct(f"tn|{k.trait}", k.number, now)
            self.first_seen.setdefault(f"n|{k.number}", now)
        self._add_distinct(f"pd|{k.profile}", k.dialled, now)
        self.first_seen.setdefault(f"p|{k.profile}", now)
        for key in keys:
            s = self.series.get(key)
            if s is None:
                s = self.series[key] = Series()
            s.add(now)
        self._since_sweep += 1
        if self._since_sweep >= SWEEP_EVERY:
            self._sweep(now)

    def replay(self, calls: "Iterable[tuple[CallKeys, str]]") -> int:
        """Record stored calls, oldest first: each call's keys and, when the call was
        diverted, its divert destination (else ""). Returns the number of calls."""
        n = 0
        for k, diverted_to in calls:
            self.record(k)
            if diverted_to:
                self.record_divert(diverted_to, k.timestamp)
            n += 1
        return n

    def record_outcome(self, number: str | None, profile: str, fraud: bool) -> None:
        """A confirmed outcome (fraud or genuine) of an earlier call from this caller."""
        for key in ([f"n|{number}"] if number else []) + [f"p|{profile}"]:
            counts = self.outcomes.setdefault(key, [0, 0])
            counts[0 if fraud else 1] += 1

    def _counts(self, key: str, now: float) -> Counts:
        s = self.series.get(key)
        return s.counts(now, self.keep) if s is not None else ZERO

    def _since(self, key: str, horizon: float, keep_after: float) -> int:
        s = self.series.get(key)
        return s.since(horizon, keep_after) if s is not None else 0

    def _distinct(self, key: str, now: float, cap: int | None = None) -> int:
        d = self.distinct.get(key)
        if not d:
            return 0
        horizon = now - HORIZON
        n = 0
        for t in d.values():
            if t > horizon:
                n += 1
                if n == cap:
                    break
        return n

    def _add_distinct(self, key: str, value: str, now: float) -> None:
        d = self.distinct.setdefault(key, {})
        if value not in d and len(d) >= MAX_DISTINCT:
            if now < self._full_until.get(key, 0.0):
                return  # full of live values until then: the count is saturated anyway
            horizon = now - HORIZON
            live = {v: t for v, t in d.items() if t > horizon}
            if len(live) >= MAX_DISTINCT:
                self._full_until[key] = min(live.values()) + HORIZON
                return
            d = self.distinct[key] = live
        if d.get(value, -math.inf) < now:  # (a time of 0 counts too)
            d[value] = now

    def _sweep(self, now: float) -> None:
        self._since_sweep = 0
        horizon, day = now - self.keep, now - HORIZON
        for key in [k for k, s in self.series.items() if not s.times or s.times[-1] <= horizon]:
            del self.series[key]
        for key in [k for k, d in self.distinct.items() if max(d.values(), default=0.0) <= horizon]:
            del self.distinct[key]
        old = now - FIRST_SEEN_KEEP
        series = self.series
        # A first-seen time goes with no call in 24 h (also when a longer rule window keeps the calls).
        for key in [k for k, t in self.first_seen.items() if t <= old and (k not in series or series[k].times[-1] <= day)]:
            del self.first_seen[key]

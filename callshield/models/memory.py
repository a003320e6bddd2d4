"""Call DNA memory: what earlier calls tell about this one, over several windows.

Everything a history feature needs is kept here, in memory, per key: timestamps of
calls per caller number, per caller profile, per dialled number, per source address,
the distinct numbers a profile used and dialled numbers a caller tried, first-seen
times and confirmed outcomes. ``recall`` is read-only; ``record`` adds the call. Both
are O(log n) per key. Rebuilt from the store at start-up like the repeat-call history.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Iterable

WINDOWS = (60.0, 600.0, 3600.0, 86400.0)  # 1 min, 10 min, 1 h, 24 h
HORIZON = WINDOWS[-1]
MAX_DISTINCT = 256
SWEEP_EVERY = 20_000
FIRST_SEEN_KEEP = 30 * 86400.0
Counts = tuple[int, int, int, int]
ZERO: Counts = (0, 0, 0, 0)


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

    def counts(self, now: float) -> Counts:
        t, lo = self.times, self.lo
        end = bisect.bisect_right(t, now, lo)
        self.lo = bisect.bisect_right(t, now - HORIZON, lo, end)
        lo = self.lo
        return (
            end - bisect.bisect_right(t, now - WINDOWS[0], lo, end),
            end - bisect.bisect_right(t, now - WINDOWS[1], lo, end),
            end - bisect.bisect_right(t, now - WINDOWS[2], lo, end),
            end - lo,
        )


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
    series: dict[str, Series] = field(default_factory=dict)
    distinct: dict[str, dict[str, float]] = field(default_factory=dict)
    first_seen: dict[str, float] = field(default_factory=dict)
    outcomes: dict[str, list[int]] = field(default_factory=dict)
    _full_until: dict[str, float] = field(default_factory=dict)
    _since_sweep: int = 0

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
            keys.append(f"wd|{k.dialled}")
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

    def replay(self, keys: "Iterable[CallKeys]") -> int:
        n = 0
        for k in keys:
            self.record(k)
            n += 1
        return n

    def record_outcome(self, number: str | None, profile: str, fraud: bool) -> None:
        """A confirmed outcome (fraud or genuine) of an earlier call from this caller."""
        for key in ([f"n|{number}"] if number else []) + [f"p|{profile}"]:
            counts = self.outcomes.setdefault(key, [0, 0])
            counts[0 if fraud else 1] += 1

    def _counts(self, key: str, now: float) -> Counts:
        s = self.series.get(key)
        return s.counts(now) if s is not None else ZERO

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
        if d.get(value, 0.0) < now:
            d[value] = now

    def _sweep(self, now: float) -> None:
        self._since_sweep = 0
        horizon = now - HORIZON
        for key in [k for k, s in self.series.items() if not s.times or s.times[-1] <= horizon]:
            del self.series[key]
        for key in [k for k, d in self.distinct.items() if max(d.values(), default=0.0) <= horizon]:
            del self.distinct[key]
        old = now - FIRST_SEEN_KEEP
        for key in [k for k, t in self.first_seen.items() if t <= old and k not in self.series]:
            del self.first_seen[key]

"""The simulation clock: local time in Europe/London and America/New_York (computed
without tzdata, so the output does not depend on the machine), hourly call-volume
profiles, and sampling call times from them over the simulated window.
"""

from __future__ import annotations

import bisect
import random
from datetime import datetime, timedelta, timezone

HOUR = 3600.0
DAY = 86400.0


def _nth_sunday(year: int, month: int, n: int) -> datetime:
    """The n-th Sunday of a month (n = -1: the last one), at 00:00 UTC."""
    if n > 0:
        first = datetime(year, month, 1, tzinfo=timezone.utc)
        return first + timedelta(days=(6 - first.weekday()) % 7 + 7 * (n - 1))
    nxt = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=timezone.utc) - timedelta(days=1)
    return nxt - timedelta(days=(nxt.weekday() - 6) % 7)


def london_offset(ts: float) -> float:
    """UTC offset of Europe/London: BST from the last Sunday of March to the last of October, 01:00 UTC."""
    year = datetime.fromtimestamp(ts, timezone.utc).year
    on = _nth_sunday(year, 3, -1).timestamp() + HOUR
    off = _nth_sunday(year, 10, -1).timestamp() + HOUR
    return HOUR if on <= ts < off else 0.0


def new_york_offset(ts: float) -> float:
    """UTC offset of America/New_York: EDT from the 2nd Sunday of March to the 1st of November, 02:00 local."""
    year = datetime.fromtimestamp(ts, timezone.utc).year
    on = _nth_sunday(year, 3, 2).timestamp() + 7 * HOUR
    off = _nth_sunday(year, 11, 1).timestamp() + 6 * HOUR
    return -4 * HOUR if on <= ts < off else -5 * HOUR


# Relative call volume by local hour and by weekday (Monday first).
GENUINE_HOURS = (0.04, 0.02, 0.02, 0.02, 0.02, 0.05, 0.15, 0.45, 1.0, 1.55, 1.7, 1.6,
                 1.35, 1.35, 1.45, 1.35, 1.15, 0.85, 0.6, 0.45, 0.32, 0.22, 0.14, 0.08)
GENUINE_DAYS = (1.25, 1.05, 1.0, 1.0, 0.95, 0.45, 0.2)
# Fraudsters need an agent, so they work office hours too, with a later tail.
FRAUD_HOURS = (0.05, 0.03, 0.03, 0.03, 0.03, 0.05, 0.1, 0.3, 0.9, 1.4, 1.5, 1.4,
               1.2, 1.3, 1.4, 1.4, 1.3, 1.0, 0.8, 0.6, 0.5, 0.35, 0.2, 0.1)
FRAUD_DAYS = (1.1, 1.1, 1.05, 1.05, 1.0, 0.6, 0.35)
# Robocall bursts run whenever the dialler is pointed at us.
ROBO_HOURS = tuple(0.4 if h < 7 else 1.0 for h in range(24))
ROBO_DAYS = (1.0, 1.0, 1.0, 1.0, 1.0, 0.8, 0.7)


class Clock:
    """Hour-by-hour weights over the simulated window, and sampling from them."""

    def __init__(self, start: float, days: float):
        self.start = start
        self.end = start + days * DAY
        self.hours: list[tuple[float, float]] = []  # (start, length) of each hour slot
        t = start
        while t < self.end:
            self.hours.append((t, min(HOUR, self.end - t)))
            t += HOUR

    def weights(self, hours: tuple[float, ...], days: tuple[float, ...], offset=london_offset) -> list[float]:
        out = []
        for t, length in self.hours:
            local = datetime.fromtimestamp(t + length / 2 + offset(t), timezone.utc)
            out.append(hours[local.hour] * days[local.weekday()] * length / HOUR)
        return out

    def sampler(self, weights: list[float]) -> "Sampler":
        return Sampler(self, weights)


class Sampler:
    def __init__(self, clock: Clock, weights: list[float]):
        self.clock = clock
        self.weights = weights
        self.cum: list[float] = []
        total = 0.0
        for w in weights:
            total += w
            self.cum.append(total)

    def mass(self, lo: float, hi: float) -> float:
        """The weight between two times (a partial hour counts pro rata)."""
        return self._cum_at(hi) - self._cum_at(lo)

    def _cum_at(self, t: float) -> float:
        hours = self.clock.hours
        i = int((t - self.clock.start) // HOUR)
        if i < 0:
            return 0.0
        if i >= len(hours):
            return self.cum[-1]
        start, length = hours[i]
        frac = min(1.0, max(0.0, (t - start) / length))
        return (self.cum[i - 1] if i else 0.0) + frac * self.weights[i]

    def sample(self, rng: random.Random, lo: float | None = None, hi: float | None = None) -> float:
        """A time drawn from the weights, optionally between ``lo`` and ``hi``."""
        a = self.clock.start if lo is None else max(lo, self.clock.start)
        b = self.clock.end if hi is None else min(hi, self.clock.end)
        c_lo, c_hi = self._cum_at(a), self._cum_at(b)
        if c_hi <= c_lo:  # no weight there (a quiet hour): uniform
            return a + rng.random() * max(0.0, b - a)
        u = c_lo + rng.random() * (c_hi - c_lo)
        i = min(bisect.bisect_left(self.cum, u), len(self.cum) - 1)
        start, length = self.clock.hours[i]
        base = self.cum[i - 1] if i else 0.0
        frac = (u - base) / self.weights[i] if self.weights[i] > 0 else rng.random()
        return start + min(1.0, max(0.0, frac)) * length

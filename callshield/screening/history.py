"""Repeat-call velocity: sliding-window counters kept in memory on the call path.

The counters are rebuilt from the store at start-up (``CallHistory.replay``), so a
restart does not reset them. Keys hold the caller's number (E.164) and the dialled
number; withheld calls without a network-asserted number count per dialled number.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterable

SWEEP_EVERY = 10_000


@dataclass(frozen=True)
class Velocity:
    """Counts of earlier calls within the window (this call not included).

    ``withheld_to_dialled`` counts withheld calls to the dialled number from the same
    network-asserted number when there is one, else from unidentified withheld callers.
    """

    caller_to_dialled: int = 0
    caller_any: int = 0
    withheld_to_dialled: int = 0
    dialled_numbers_by_caller: int = 0


@dataclass(frozen=True)
class Observation:
    timestamp: float
    caller: str | None
    dialled: str
    withheld: bool


class CallHistory:
    def __init__(self, window: float):
        self.window = window
        self._times: dict[str, deque[float]] = {}
        self._targets: dict[str, dict[str, float]] = {}
        self._since_sweep = 0

    def observe(self, obs: Observation) -> Velocity:
        """Count what came before ``obs`` in the window, then record it."""
        velocity = self.peek(obs)
        self._record(obs)
        return velocity

    def peek(self, obs: Observation) -> Velocity:
        horizon = obs.timestamp - self.window
        withheld = self._count(_withheld_key(obs), horizon) if obs.withheld else 0
        if obs.caller is None:
            return Velocity(withheld_to_dialled=withheld)
        targets = self._targets.get(obs.caller, {})
        return Velocity(
            caller_to_dialled=self._count(f"n|{obs.caller}|{obs.dialled}", horizon),
            caller_any=self._count(f"n|{obs.caller}", horizon),
            withheld_to_dialled=withheld,
            dialled_numbers_by_caller=sum(1 for d, t in targets.items() if t > horizon and d != obs.dialled),
        )

    def replay(self, observations: Iterable[Observation]) -> int:
        n = 0
        for obs in observations:
            self._record(obs)
            n += 1
        return n

    def __len__(self) -> int:
        return len(self._times)

    def _count(self, key: str, horizon: float) -> int:
        times = self._times.get(key)
        if not times:
            return 0
        while times and times[0] <= horizon:
            times.popleft()
        return len(times)

    def _record(self, obs: Observation) -> None:
        keys = []
        if obs.withheld:
            keys.append(_withheld_key(obs))
        if obs.caller is not None:
            keys += [f"n|{obs.caller}|{obs.dialled}", f"n|{obs.caller}"]
            targets = self._targets.setdefault(obs.caller, {})
            targets[obs.dialled] = max(obs.timestamp, targets.get(obs.dialled, 0.0))
        for key in keys:
            times = self._times.setdefault(key, deque())
            if times and obs.timestamp < times[-1]:
                # Out-of-order arrival (clock skew between replays): keep the deque sorted.
                items = sorted([*times, obs.timestamp])
                times.clear()
                times.extend(items)
            else:
                times.append(obs.timestamp)
        self._since_sweep += 1
        if self._since_sweep >= SWEEP_EVERY:
            self._sweep(obs.timestamp - self.window)

    def _sweep(self, horizon: float) -> None:
        self._since_sweep = 0
        for key in [k for k, v in self._times.items() if not v or v[-1] <= horizon]:
            del self._times[key]
        for caller in list(self._targets):
            live = {d: t for d, t in self._targets[caller].items() if t > horizon}
            if live:
                self._targets[caller] = live
            else:
                del self._targets[caller]


def _withheld_key(obs: Observation) -> str:
    return f"w|{obs.caller or '?'}|{obs.dialled}"

"""Replay labelled call signals in time order through the live pipeline.

Training and evaluation see exactly what the live service would have computed: the
screener is the one ``serve`` runs (callshield.wiring.build_screener, on an empty store),
and the history features of each call come from the calls before it, never after. Confirmed
outcomes (the labels) feed back into memory only ``outcome_delay`` seconds after the
call, as repudiation data arrives in real life.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Iterable, Iterator

from callshield.config import Config
from callshield.screening.decision import Decision
from callshield.errors import SignalError
from callshield.screening.screener import RiskModel
from callshield.read.signal import CallSignal
from callshield.wiring import build_screener

DEFAULT_OUTCOME_DELAY = 86400.0


@dataclass(frozen=True)
class ReplayRow:
    vector: list[float]
    fraud: bool
    campaign: str
    actor: str
    profile: str
    rule_score: int
    timestamp: float
    decision: Decision  # what serve would have decided, with ``model`` (None: the rules)


def replay(
    lines: Iterable[dict],
    config: Config,
    *,
    model: RiskModel | None = None,
    outcome_delay: float = DEFAULT_OUTCOME_DELAY,
) -> Iterator[ReplayRow]:
    """Screen each labelled call, in order, as serve would with ``model`` (None scores
    with the rules: training needs only the features and the rule score)."""
    screener = build_screener(config, None, model=model).screener
    pending: list[tuple[float, int, str | None, str, bool]] = []
    last = float("-inf")
    for n, data in enumerate(lines):
        label = data.get("label")
        if label not in ("fraud", "genuine"):
            raise SignalError(f"line {n + 1}: 'label' must be 'fraud' or 'genuine', not {label!r}")
        signal = CallSignal.from_dict(data)
        if signal.timestamp < last:
            raise SignalError(f"line {n + 1}: timestamps must not go back (replay is in time order)")
        last = signal.timestamp
        while pending and pending[0][0] <= signal.timestamp:
            _, _, number, profile, fraud = heapq.heappop(pending)
            screener.dna.memory.record_outcome(number, profile, fraud)
        screening = screener.screen(signal)
        dna = screening.dna
        assert dna is not None
        fraud = label == "fraud"
        heapq.heappush(pending, (signal.timestamp + outcome_delay, n, dna.keys.number, dna.profile.profile, fraud))
        yield ReplayRow(dna.vector, fraud, str(data.get("campaign", "")), str(data.get("actor", "")), dna.profile.profile, screening.rule_score, signal.timestamp,
                        screening.decision)

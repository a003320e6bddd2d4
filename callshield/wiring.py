"""The one screener builder: config + store -> the Screener that decides calls.

``serve``, ``callshield score`` and ``callshield eval`` (and the training replay) all
build their screener here, so one call signal gets the same decision from each. The
builder reads the store (it belongs at the edge, not in the pure ``screening`` core)
and writes nothing:

- the allow/deny lists and the Do-Not-Call list;
- the one store of call observations, ``models.memory.CallMemory``, replayed from one read
  of the recent calls (the longer of 24 h and ``scoring.repeat_window``): the rules'
  repeat-call velocity, the Call DNA memory and the divert caps (diverts of the last hour)
  all count in it; and every confirmed outcome;
- the route state (numbers, active plans, live overrides);
- the model named by ``scoring.model`` (or the one passed in).

``db`` None is an empty store: the same screener a first ``serve`` start would build.

Example: build_screener(config, open_store(config.store.path)).screener.screen(signal)
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

import sqlite_utils

from callshield.config import Config
from callshield.models.dna import CallDNA
from callshield.models.memory import CallMemory
from callshield.models.model import load_model
from callshield.screening.screener import RiskModel, Screener
from callshield.store import calls as call_store
from callshield.store import dnc as dnc_store
from callshield.store import lists as list_store
from callshield.store import open_store
from callshield.store import outcomes as outcome_store
from callshield.store.routing import load_state


class _Default(enum.Enum):
    FROM_CONFIG = "scoring.model"


FROM_CONFIG = _Default.FROM_CONFIG  # build_screener's model: the one scoring.model names


@dataclass(frozen=True)
class BuiltScreener:
    """The screener and what its build read: serve logs the counts and learns the
    outcomes confirmed after ``outcomes_version`` / ``outcomes_upto``."""

    screener: Screener
    calls_replayed: int  # into the memory of call observations, of the last scoring.repeat_window
    calls_remembered: int  # into the memory of call observations, all (24 h or the longer repeat window)
    outcomes_version: int
    outcomes_upto: float


def build_screener(config: Config, db: sqlite_utils.Database | None, *, now: float | None = None,
                   model: RiskModel | None | _Default = FROM_CONFIG) -> BuiltScreener:
    """The screener ``serve`` runs, rebuilt from the store ``db`` as of ``now`` (the
    real clock by default). ``model`` None scores with the rules (``scoring.model:
    rules``); by default the model is the one ``scoring.model`` names."""
    if db is None:
        empty = open_store(":memory:")
        try:
            return build_screener(config, empty, now=now, model=model)
        finally:
            empty.close()
    now = time.time() if now is None else now
    memory = CallMemory(config.scoring.repeat_window)
    in_window = now - config.scoring.repeat_window
    replayed = 0

    def counted(calls):  # the calls of the rules' window, counted on the way (serve logs both)
        nonlocal replayed
        for call in calls:
            replayed += call[0].timestamp > in_window
            yield call

    remembered = memory.replay(counted(call_store.memory_since(db, now - memory.keep)))
    # one read snapshot: the outcomes learned and the version they make
    outcomes_version, outcomes_upto, confirmed = outcome_store.snapshot(db)
    for number, profile, fraud in confirmed:
        memory.record_outcome(number, profile, fraud)
    screener = Screener(config, lists=list_store.snapshot(db), dna=CallDNA(memory),
                        model=load_model(config.scoring.model) if model is FROM_CONFIG else model, dnc=dnc_store.load(db))
    screener.routes.state = load_state(db, now)
    return BuiltScreener(screener, replayed, remembered, outcomes_version, outcomes_upto)

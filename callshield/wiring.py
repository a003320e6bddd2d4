"""The one screener builder: config + store -> the Screener that decides calls.

``serve``, ``callshield score`` and ``callshield eval`` (and the training replay) all
build their screener here, so one call signal gets the same decision from each. The
builder reads the store (it belongs at the edge, not in the pure ``screening`` core)
and writes nothing:

- the allow/deny lists and the Do-Not-Call list;
- the repeat-call history (calls of the last ``scoring.repeat_window`` seconds);
- the Call DNA memory (calls of the memory's horizon, and every confirmed outcome);
- the divert caps (diverts of the last hour) and the route state (numbers, active
  plans, live overrides);
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
from callshield.dialplan.policy import DivertCaps
from callshield.screening.history import CallHistory
from callshield.models.dna import CallDNA
from callshield.models.memory import HORIZON, CallMemory
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
    calls_replayed: int  # into the repeat-call history
    calls_remembered: int  # into the Call DNA memory
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
    history = CallHistory(config.scoring.repeat_window)
    replayed = history.replay(call_store.observations_since(db, now - config.scoring.repeat_window))
    memory = CallMemory()
    remembered = memory.replay(call_store.dna_keys_since(db, now - HORIZON))
    # one read snapshot: the outcomes learned and the version they make
    outcomes_version, outcomes_upto, confirmed = outcome_store.snapshot(db)
    for number, profile, fraud in confirmed:
        memory.record_outcome(number, profile, fraud)
    screener = Screener(config, history=history, lists=list_store.snapshot(db), dna=CallDNA(memory),
                        model=load_model(config.scoring.model) if model is FROM_CONFIG else model, dnc=dnc_store.load(db))
    for ts, destination in call_store.diverts_since(db, now - DivertCaps.WINDOW):
        screener.routes.caps.record(destination, ts)
    screener.routes.state = load_state(db, now)
    return BuiltScreener(screener, replayed, remembered, outcomes_version, outcomes_upto)

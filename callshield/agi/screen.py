"""AGI script ``screen``: score the call pre-answer and set the routing variables.

Dialplan: ``AGI(agi://127.0.0.1:4573/screen,${DDI})`` (the include does this). Two
round trips (never pipelined: see AgiSession.command): read the signalling, then set
every variable with one MSet, ROUTE_ACTION last (agi/encode.py escapes the values, so
RISK_REASONS' commas travel in it). The call record is queued for the writer after the reply.
"""

from __future__ import annotations

import logging
import time

from callshield.dialplan import variables as dv
from callshield.agi import encode
from callshield.agi.protocol import AgiSession
from callshield.agi.signal_reader import read_signal
from callshield.services import Services
from callshield.store.calls import PendingCall

NAME = "screen"
ORDER = (*dv.PHONE_VARIABLES, *dv.DECISION_VARIABLES)  # ROUTE_ACTION last
log = logging.getLogger("callshield.agi.screen")


async def handle(session: AgiSession, services: Services) -> None:
    started = time.perf_counter()
    signal, problems = await read_signal(session)
    read_done = time.perf_counter()
    screening = services.screener.screen(signal)
    decision = screening.decision
    ctx = f"call={decision.call_id} {session.context}"
    for problem in (*problems, *screening.facts.problems):
        log.warning("%s: signalling problem: %s", ctx, problem)

    replied = None
    journaled = 0
    try:
        variables = {**screening.insights.channel_variables(), **decision.channel_variables()}
        caller = screening.facts.caller
        if services.lookup is not None and caller is not None and caller.valid:
            live = await services.lookup.get(caller.e164)  # at most lookup.budget_ms
            variables[dv.PHONE_ACTIVE] = live.text(live.active)
            variables[dv.PHONE_PREPAID] = live.text(live.prepaid)
        mset = encode.mset([(name, variables[name]) for name in ORDER if name in variables])
        journaled = services.decided(screening)  # before ROUTE_ACTION reaches Asterisk: survives a killed serve
        await session.command(mset)
        replied = time.perf_counter()
        log.info(
            "%s: score=%d status=%s reasons=%s action=%s route=%s reason=%s",
            ctx, decision.score, decision.status, ",".join(r.code for r in decision.reasons) or "-",
            decision.route_action, decision.route or "(dialplan)", decision.route_reason,
        )
    finally:
        # Recorded whether or not the reply reached Asterisk: the call counted in the
        # repeat-call history, so it must be in the store the history is rebuilt from.
        timings = {
            "read_ms": round((read_done - started) * 1e3, 3),
            "reply_ms": round((replied - started) * 1e3, 3) if replied else None,
            "replied": replied is not None,
            "round_trips": session.round_trips,
        }
        services.record(PendingCall(screening, timings, journaled))

"""AGI script ``invoke``: invoke or revoke a loaded dial plan from any telephone.

Dialplan (the include's ``callshield-access`` context does this):
``AGI(agi://127.0.0.1:4573/invoke,invoke|revoke[,SLOT])``. The script answers, asks for
the slot (1-5) unless the access code carried it, asks for the plans PIN
(``callshield plans pin``), then invokes or revokes the plan in that slot and confirms
with a prompt. Wrong PINs are recorded; after ``routing.access.pin_attempts`` from one
caller (or ``global_pin_attempts`` from anyone) within ``lockout_minutes`` the caller is
locked out. CALLSHIELD_ACCESS_RESULT tells the dialplan what happened.
"""

from __future__ import annotations

import logging

from callshield.agi.access_common import ask_pin, open_access
from callshield.agi.protocol import AgiSession
from callshield.dialplan.state import SLOTS
from callshield.errors import RoutingError
from callshield.services import Services
from callshield.store.routing import RoutingStore

NAME = "invoke"
SESSION_TIMEOUT = 300.0
SCOPE = "plans"
log = logging.getLogger("callshield.agi.invoke")


async def handle(session: AgiSession, services: Services) -> None:
    call = await open_access(session, services, SCOPE, ("invoke", "revoke"))
    if call is None:
        return
    action, caller, prompts = call.action, call.caller, call.access.prompts
    slot = session.arg(2) or await call.ivr.digits(prompts.slot, 1)
    if not slot.isdigit() or int(slot) not in SLOTS:
        log.warning("%s: %s by phone from %s: %r is not a slot (1-5)", session.context, action, caller, slot)
        await call.finish("invalid", prompts.invalid)
        return
    if await call.control.run(RoutingStore.plans_pin_hash) is None:
        log.error("%s: %s by phone from %s refused: no plans PIN is set (callshield plans pin)", session.context, action, caller)
        await call.finish("no_pin", prompts.invalid)
        return
    outcome = await ask_pin(call.ivr, call.control, call.access, SCOPE, caller, RoutingStore.plans_pin_hash,
                            {"action": action, "slot": slot})
    if outcome != "ok":
        await call.finish(outcome)
        return
    change = RoutingStore.invoke_plan if action == "invoke" else RoutingStore.revoke_plan
    try:
        plan = await call.control.run(change, slot, actor=f"phone:{caller}")
    except RoutingError as exc:
        log.warning("%s: %s of slot %s by phone from %s refused: %s", session.context, action, slot, caller, exc)
        await call.finish("invalid", prompts.invalid)
        return
    verb = "invoked" if action == "invoke" else "revoked"
    log.warning("%s: dial plan %r (slot %s) %s by phone from %s", session.context, plan["name"], slot, verb, caller)
    await call.finish(f"{verb}:{plan['name']}", prompts.invoked if action == "invoke" else prompts.revoked)
    await call.ivr.play(prompts.goodbye)

"""AGI script ``override``: a staff member's personal override, set or cancelled from
the phone they are at.

Dialplan (the include's ``callshield-access`` context): ``AGI(agi://…/override,on|off)``.
The script answers, asks for the staff member's own number and PIN (``callshield staff
add``), then for ``on`` asks for the number to ring — ``#`` alone means the phone they
are calling from — and points their number's calls there (via
``routing.access.override_dial``) for ``override_hours``; ``off`` cancels it. Wrong PINs
are counted and locked out as for ``invoke``.
"""

from __future__ import annotations

import logging

from callshield.agi.access_common import RESULT, ask_pin, caller_of, locked_out
from callshield.agi.ivr import Ivr
from callshield.agi.protocol import AgiSession
from callshield.errors import RoutingError
from callshield.services import Services
from callshield.store.routing import RoutingStore

NAME = "override"
SESSION_TIMEOUT = 300.0
SCOPE = "override"
log = logging.getLogger("callshield.agi.override")


async def handle(session: AgiSession, services: Services) -> None:
    control = services.control
    access = services.config.routing.access
    if control is None:
        raise RoutingError("routing changes by phone need the store (serve runs without one)")
    action = session.arg(1) or "on"
    if action not in ("on", "off"):
        log.error("%s: AGI override takes 'on' or 'off', not %r", session.context, action)
        await session.set_variable(RESULT, "invalid")
        return
    caller = caller_of(session, services.screener.intel)
    ivr = Ivr(session, access.digit_timeout)
    await ivr.answer()
    why = await locked_out(control, SCOPE, caller, access)
    if why:
        log.warning("%s: %s", session.context, why)
        await ivr.play(access.prompts.locked)
        await session.set_variable(RESULT, "locked")
        return
    keyed = await ivr.digits(access.prompts.staff_number, 20)
    try:
        staff = control.store.number_key(keyed)
    except RoutingError:
        staff = ""
    outcome = await ask_pin(ivr, control, access, SCOPE, caller, lambda store: store.staff_pin_hash(staff) if staff else None,
                            {"action": action, "staff": staff or keyed})
    if outcome != "ok":
        await session.set_variable(RESULT, outcome)
        return
    try:
        if action == "on":
            entered = await ivr.digits(access.prompts.target, 20)
            target = control.store.number_key(entered) if entered else caller
            if target == "anonymous":
                raise RoutingError("the calling number is withheld and no number was keyed")
            destination = access.override_dial.replace("{number}", target)
            await control.run(RoutingStore.set_override, staff, destination, staff=staff, target=target,
                              hours=access.override_hours, actor=f"phone:{caller}")
            log.warning("%s: personal override on: calls to %s go to %s (%s) for %g h, set from %s",
                        session.context, staff, target, destination, access.override_hours, caller)
            await session.set_variable(RESULT, f"override_on:{staff}")
            await ivr.play(access.prompts.override_on)
        else:
            await control.run(RoutingStore.cancel_override, staff, actor=f"phone:{caller}")
            log.warning("%s: personal override off for %s, cancelled from %s", session.context, staff, caller)
            await session.set_variable(RESULT, f"override_off:{staff}")
            await ivr.play(access.prompts.override_off)
    except RoutingError as exc:
        log.warning("%s: personal override %s for %s refused: %s", session.context, action, staff, exc)
        await ivr.play(access.prompts.invalid)
        await session.set_variable(RESULT, "invalid")
        return
    await ivr.play(access.prompts.goodbye)

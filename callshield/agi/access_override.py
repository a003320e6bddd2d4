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

from callshield.agi.access_common import ask_pin, open_access
from callshield.agi.protocol import AgiSession
from callshield.errors import RoutingError
from callshield.services import Services
from callshield.store.routing import RoutingStore

NAME = "override"
SESSION_TIMEOUT = 300.0
SCOPE = "override"
log = logging.getLogger("callshield.agi.override")


async def handle(session: AgiSession, services: Services) -> None:
    call = await open_access(session, services, SCOPE, ("on", "off"))
    if call is None:
        return
    action, caller, control, access = call.action, call.caller, call.control, call.access
    keyed = await call.ivr.digits(access.prompts.staff_number, 20)
    try:
        staff = control.store.number_key(keyed)
    except RoutingError:
        staff = ""
    outcome = await ask_pin(call.ivr, control, access, SCOPE, caller, lambda store: store.staff_pin_hash(staff) if staff else None,
                            {"action": action, "staff": staff or keyed})
    if outcome != "ok":
        await call.finish(outcome)
        return
    try:
        if action == "on":
            entered = await call.ivr.digits(access.prompts.target, 20)
            target = control.store.number_key(entered) if entered else caller
            if target == "anonymous":
                raise RoutingError("the calling number is withheld and no number was keyed")
            destination = access.override_dial.replace("{number}", target)
            await control.run(RoutingStore.set_override, staff, destination, staff=staff, target=target,
                              hours=access.override_hours, actor=f"phone:{caller}")
            log.warning("%s: personal override on: calls to %s go to %s (%s) for %g h, set from %s",
                        session.context, staff, target, destination, access.override_hours, caller)
            await call.finish(f"override_on:{staff}", access.prompts.override_on)
        else:
            await control.run(RoutingStore.cancel_override, staff, actor=f"phone:{caller}")
            log.warning("%s: personal override off for %s, cancelled from %s", session.context, staff, caller)
            await call.finish(f"override_off:{staff}", access.prompts.override_off)
    except RoutingError as exc:
        log.warning("%s: personal override %s for %s refused: %s", session.context, action, staff, exc)
        await call.finish("invalid", access.prompts.invalid)
        return
    await call.ivr.play(access.prompts.goodbye)

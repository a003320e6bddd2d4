"""What the two access-code scripts share: who is calling, the PIN check with lockout,
and the result variable the dialplan logs."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Callable

from callshield.dialplan import variables as dv
from callshield.agi.ivr import Ivr
from callshield.agi.protocol import AgiSession
from callshield.config import AccessConfig
from callshield.manage.routing import RouteControl
from callshield.store.pins import verify_pin
from callshield.errors import PinError, RoutingError
from callshield.read.numbers import NumberIntel
from callshield.services import Services
from callshield.store.routing import RoutingStore

log = logging.getLogger("callshield.agi.access")
RESULT = dv.CALLSHIELD_ACCESS_RESULT

@dataclass
class AccessCall:
    """A staff member's answered call to an access code, past the lockout check."""

    session: AgiSession
    control: RouteControl
    access: AccessConfig
    ivr: Ivr
    caller: str
    action: str

    async def finish(self, result: str, prompt: str = "") -> None:
        """Tell the dialplan (and the caller, with ``prompt``) how it ended."""
        await self.session.set_variable(RESULT, result)
        if prompt:
            await self.ivr.play(prompt)


async def open_access(session: AgiSession, services: Services, scope: str, actions: tuple[str, ...]) -> AccessCall | None:
    """Check the script's action argument (the first of ``actions`` by default), answer,
    and refuse a locked-out caller; None when the call has already been ended."""
    control = services.control
    if control is None:
        raise RoutingError("routing changes by phone need the store (serve runs without one)")
    access = services.config.routing.access
    action = session.arg(1) or actions[0]
    if action not in actions:
        log.error("%s: AGI %s takes %s, not %r", session.context, session.script, " or ".join(map(repr, actions)), action)
        await session.set_variable(RESULT, "invalid")
        return None
    call = AccessCall(session, control, access, Ivr(session, access.digit_timeout), caller_of(session, services.screener.intel), action)
    await call.ivr.answer()
    why = await locked_out(control, scope, call.caller, access)
    if why:
        log.warning("%s: %s", session.context, why)
        await call.finish("locked", access.prompts.locked)
        return None
    return call


def caller_of(session: AgiSession, intel: NumberIntel) -> str:
    """The calling number as an E.164 key, or 'anonymous' when withheld or not a number."""
    raw = session.env.get("agi_callerid", "").strip()
    digits = raw.lstrip("+")
    if not digits.isdigit() or not 2 <= len(digits) <= 20:
        return "anonymous"
    return intel.info(raw).key

async def locked_out(control: RouteControl, scope: str, caller: str, access: AccessConfig) -> str | None:
    """The lockout message when ``caller`` may not try a PIN for ``scope`` now, else None."""
    try:
        await control.run(RoutingStore.check_lockout, scope, caller, access)
    except PinError as exc:
        return str(exc)
    return None

async def ask_pin(
    ivr: Ivr,
    control: RouteControl,
    access: AccessConfig,
    scope: str,
    caller: str,
    stored_hash: Callable[[RoutingStore], str | None],
    detail: dict[str, str],
) -> str:
    """Ask for the PIN until it is right or the caller is locked out.

    Returns 'ok', or 'locked' (after playing the locked prompt). Every wrong PIN is
    recorded (and audited) before the next try; the lockout is checked each time.
    """
    while True:
        pin = await ivr.digits(access.prompts.pin, 12)
        stored = await control.run(stored_hash)
        if await _verify(pin, stored):
            return "ok"
        await control.run(RoutingStore.record_pin_failure, scope, caller, {**detail, "keyed": len(pin)})
        log.warning("%s: wrong PIN for %s by phone from %s", ivr.session.context, scope, caller)
        await ivr.play(access.prompts.wrong_pin)
        why = await locked_out(control, scope, caller, access)
        if why:
            log.warning("%s: %s", ivr.session.context, why)
            await ivr.play(access.prompts.locked)
            return "locked"

async def _verify(pin: str, stored: str | None) -> bool:
    # PBKDF2 takes tens of milliseconds: off the event loop, and outside the control
    # lock so routing changes are not held up behind it.
    return await asyncio.get_running_loop().run_in_executor(None, verify_pin, pin, stored)


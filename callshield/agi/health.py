"""AGI script ``health``: a liveness probe for monitoring.

``AGI(agi://127.0.0.1:4573/health)`` sets CALLSHIELD_HEALTH to ``OK``, or to
``DEGRADED:<why>`` while call records are not safe (the writer stopped, the store file
deleted or replaced, writes failing, records spilled or lost, the journal failing) or
the AMI monitor is down: Services.health, docs/operations.md#health-probe.
"""

from __future__ import annotations

from callshield.dialplan import variables as dv
from callshield.agi.protocol import AgiSession
from callshield.services import Services

NAME = "health"


async def handle(session: AgiSession, services: Services) -> None:
    await session.set_variable(dv.CALLSHIELD_HEALTH, services.health())

"""Repeat-call velocity: what the rules count of earlier calls.

The counts come from the one store of call observations,
``callshield.models.memory.CallMemory.velocity``, over ``scoring.repeat_window``; the same
store serves the Call DNA features and the divert caps, and is rebuilt from the store's
recent calls at start-up, so a restart does not reset it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Velocity:
    """Counts of earlier calls within the window (this call not included).

    ``withheld_to_dialled`` counts withheld calls to the dialled number from the same
    network-asserted number when there is one, else from unidentified withheld callers
    (the count ``WITHHELD_REPEAT`` reports). ``dialled_numbers_by_caller`` stops at the
    memory's 256 distinct dialled numbers per caller (``memory.MAX_DISTINCT``).
    """

    caller_to_dialled: int = 0
    caller_any: int = 0
    withheld_to_dialled: int = 0
    dialled_numbers_by_caller: int = 0

"""A screened call's decision: the channel-variable contract as one dataclass."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from callshield.dialplan import variables as dv
from callshield.models.reasons import Reason


class CallIds:
    """New call ids: UUIDv7 (RFC 9562) as 32 hex digits, one ``next()`` per call.

    Time-ordered, so the store's id index is appended to rather than written at random
    places; unique without a system call per id: 74 random bits drawn once per generator
    (per process), then a counter (``uuid.uuid4`` costs a ``getrandom`` per call).
    """

    def __init__(self) -> None:
        seed = int.from_bytes(os.urandom(10), "big")
        self._rand_a = seed >> 68  # 12 bits
        self._rand_b = seed & ((1 << 62) - 1)  # 62 bits, counted up per id
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            self._rand_b = (self._rand_b + 1) & ((1 << 62) - 1)
            rand_b = self._rand_b
        ms = time.time_ns() // 1_000_000
        value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | self._rand_a << 64 | 0b10 << 62 | rand_b
        return f"{value:032x}"


@dataclass(frozen=True)
class Decision:
    call_id: str
    score: int
    status: str
    reasons: tuple[Reason, ...]
    attestation: str
    spoof_status: str
    spoof_verified: bool
    route_action: str
    route: str
    route_fallback: str
    route_reason: str
    announcement: str
    scorer: str
    caller_profile: str = ""

    def channel_variables(self) -> dict[str, str]:
        """Every contract variable, by name, as the strings Asterisk will hold."""
        return {
            dv.CALLSHIELD_CALL_ID: self.call_id,
            dv.RISK_SCORE: str(self.score),
            dv.RISK_STATUS: self.status,
            dv.RISK_REASONS: ",".join(r.code for r in self.reasons),
            dv.ATTESTATION: self.attestation,
            dv.SPOOF_STATUS: self.spoof_status,
            dv.SPOOF_VERIFIED: "true" if self.spoof_verified else "false",
            dv.ROUTE: self.route,
            dv.ROUTE_FALLBACK: self.route_fallback,
            dv.ROUTE_REASON: self.route_reason,
            dv.ANNOUNCEMENT: self.announcement,
            dv.CALLER_PROFILE: self.caller_profile,
            dv.ROUTE_ACTION: self.route_action,
        }

    def to_json(self) -> dict[str, Any]:
        """The decision line of ``callshield score``: the variables plus the reasons' details."""
        out: dict[str, Any] = dict(self.channel_variables())
        out[dv.RISK_SCORE] = self.score
        out[dv.SPOOF_VERIFIED] = self.spoof_verified
        out["reasons"] = [r.to_dict() for r in self.reasons]
        out["scorer"] = self.scorer
        return out

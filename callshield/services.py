"""The services object: built once by ``serve`` and handed to every edge (AGI now;
the AMI monitor and the portal later). No module globals, nothing hidden in config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from callshield.config import Config
from callshield.dialplan.control import RouteControl
from callshield.models.lookup import CachedLookup
from callshield.screening import Screener
from callshield.store.calls import PendingCall
from callshield.store.writer import CallWriter


@dataclass(frozen=True)
class Services:
    config: Config
    screener: Screener
    writer: CallWriter | None = None
    lookup: CachedLookup | None = None
    control: RouteControl | None = None
    # Set by serve when monitor.enabled: anything with ``logged_in`` and ``last_error``.
    ami: Any = None
    # The confirmed outcomes already in the Call DNA memory at start (version, newest time).
    outcomes_version: int = 0
    outcomes_upto: float = 0.0

    def decided(self, screening: Screening) -> int:
        """Journal a decision before its reply is sent, so it survives a killed serve;
        returns the journal segment to pass on in the call's PendingCall."""
        return self.writer.journal(screening) if self.writer is not None else 0

    def record(self, record: dict[str, Any] | PendingCall) -> None:
        """Queue a call record for the store (dropped only when running without one)."""
        if self.writer is not None:
            self.writer.submit(record)

    def health(self) -> str:
        """``OK``, or ``DEGRADED:<reason>`` while call records are not safe (the writer
        stopped, the store file gone or replaced, writes failing, records spilled or lost,
        the journal failing) or the AMI monitor is not connected."""
        problem = self.writer.health_problem() if self.writer is not None else None
        if problem is not None:
            return f"DEGRADED:{problem}"
        if self.config.monitor.enabled and (self.ami is None or not self.ami.logged_in):
            return "DEGRADED:ami-monitor-not-connected"
        return "OK"

"""The services object: built once by ``serve`` (``serve.build_services``), complete
and frozen, and handed to every edge that serve runs (the AGI server, the AMI monitor, the reload poller). No module globals,
nothing hidden in config, nothing patched in afterwards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from callshield.config import Config
from callshield.manage.routing import RouteControl
from callshield.models.lookup import CachedLookup
from callshield.screening.screener import Screener, Screening
from callshield.store.calls import PendingCall
from callshield.store.writer import CallWriter

if TYPE_CHECKING:  # the monitor is loaded only when monitor.enabled
    from callshield.ami_monitor.monitor import Monitor


@dataclass(frozen=True)
class Services:
    config: Config
    screener: Screener
    writer: CallWriter | None = None
    lookup: CachedLookup | None = None
    control: RouteControl | None = None
    # The AMI monitor when monitor.enabled and its secret is set (built before this
    # object, which it does not need); serve runs it, the health probe reads its client.
    monitor: Monitor | None = None
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
        if self.config.monitor.enabled and (self.monitor is None or not self.monitor.client.logged_in):
            return "DEGRADED:ami-monitor-not-connected"
        return "OK"

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

    def record(self, record: dict[str, Any] | PendingCall) -> None:
        """Queue a call record for the store (dropped only when running without one)."""
        if self.writer is not None:
            self.writer.submit(record)

    def health(self) -> str:
        if self.writer is not None and not self.writer.alive:
            return "DEGRADED:store-writer-stopped"
        if self.config.monitor.enabled and (self.ami is None or not self.ami.logged_in):
            return "DEGRADED:ami-monitor-not-connected"
        return "OK"

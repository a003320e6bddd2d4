"""Delivery health of destinations, as the AMI monitor sees it (trunk, endpoint or site).

The routing decision asks ``down_for(dial_string)``; the AMI monitor
(``ami_monitor/monitor.py``) and drills mark destinations down and up. Without a monitor nothing is ever down.
"""

from __future__ import annotations

from dataclasses import dataclass


def destination_of(dial_string: str) -> str:
    """The destination a Dial() string delivers through: the PJSIP endpoint (or the
    technology's resource) of its first device.

    ``PJSIP/agents`` -> ``agents``; ``PJSIP/0800123@trunk`` -> ``trunk``;
    ``PJSIP/agents/sip:1000@10.0.0.5`` -> ``agents``; ``Local/123@ctx`` -> ``Local/ctx``.
    """
    first = dial_string.split("&", 1)[0]
    tech, _, resource = first.partition("/")
    if tech.upper() == "LOCAL":
        return f"Local/{resource.partition('@')[2] or resource}"
    resource = resource.split("/", 1)[0]
    user, at, host = resource.partition("@")
    return host if at else user


@dataclass(frozen=True)
class Outage:
    destination: str
    since: float
    reason: str
    drill: bool = False


class TrunkHealth:
    """Which destinations are down right now (in memory; the monitor updates it)."""

    def __init__(self) -> None:
        self._down: dict[str, Outage] = {}

    def mark_down(self, outage: Outage) -> None:
        self._down[outage.destination] = outage

    def mark_up(self, destination: str) -> Outage | None:
        return self._down.pop(destination, None)

    def outages(self) -> tuple[Outage, ...]:
        return tuple(self._down.values())

    def down_for(self, dial_string: str) -> str | None:
        """The name of the down destination ``dial_string`` goes through, else None."""
        if not self._down or not dial_string:
            return None
        name = destination_of(dial_string)
        return name if name in self._down else None

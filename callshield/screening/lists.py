"""Deny and allow lists as an immutable in-memory snapshot, swapped whole on change."""

from __future__ import annotations

from dataclasses import dataclass, field

LIST_NAMES = ("allow", "deny")


@dataclass(frozen=True)
class ListSnapshot:
    allow: dict[str, str] = field(default_factory=dict)
    deny: dict[str, str] = field(default_factory=dict)
    version: int = 0

    def allowed(self, *numbers: str) -> str | None:
        return _first(self.allow, numbers)

    def denied(self, *numbers: str) -> str | None:
        return _first(self.deny, numbers)


def _first(table: dict[str, str], numbers: tuple[str, ...]) -> str | None:
    for n in numbers:
        if n and n in table:
            return n
    return None

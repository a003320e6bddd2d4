"""A bounded memo for pure one-argument functions, owned by the object that uses it
(no module-level caches). Values that repeat from call to call (carriers' SBC
addresses, User-Agents, dialled numbers) are computed once."""

from __future__ import annotations

from typing import Callable, Generic, Hashable, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(Generic[K, V]):
    def __init__(self, fn: Callable[[K], V], size: int = 16384):
        self.fn = fn
        self.size = size
        self._values: dict[K, V] = {}

    def __call__(self, key: K) -> V:
        try:
            return self._values[key]
        except KeyError:
            if len(self._values) >= self.size:
                self._values.clear()
            value = self._values[key] = self.fn(key)
            return value

"""Live number lookups (Active, PrePaid) behind a strict time budget and a cache.

Offline, PHONE_ACTIVE and PHONE_PREPAID are "N/A". With ``lookup.url`` set, the screen
handler asks an HTTP provider for the caller's number and waits at most
``lookup.budget_ms``: a slow or failing provider costs the call that much and no more,
and its answer (when it comes) is cached for ``lookup.cache_ttl`` seconds so the next
call from the number has it at once.

The provider answers GET ``<url with {number} replaced by the E.164 number>`` with JSON
``{"active": true|false|null, "prepaid": true|false|null}``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote

from cachetools import TTLCache

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger("callshield.lookup")


@dataclass(frozen=True)
class LookupResult:
    active: bool | None = None
    prepaid: bool | None = None

    @staticmethod
    def text(value: bool | None) -> str:
        return "N/A" if value is None else ("true" if value else "false")


class LookupProvider(Protocol):
    async def lookup(self, e164: str) -> LookupResult: ...


class HttpLookup:
    def __init__(self, url: str, *, timeout: float, token: str = ""):
        import aiohttp  # only with lookup.url set: serve without lookups does not load it

        self.url = url
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._session: aiohttp.ClientSession | None = None

    async def lookup(self, e164: str) -> LookupResult:
        if self._session is None:
            import aiohttp

            self._session = aiohttp.ClientSession(timeout=self.timeout, headers=self.headers)
        async with self._session.get(self.url.replace("{number}", quote(e164))) as resp:
            resp.raise_for_status()
            data = await resp.json(content_type=None)
        if not isinstance(data, dict):
            raise ValueError(f"lookup answered {type(data).__name__}, not a JSON object")
        return LookupResult(_bool(data.get("active")), _bool(data.get("prepaid")))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


class CachedLookup:
    """The budget and the cache around a provider. ``get`` never raises and never waits
    longer than the budget; a lookup that overruns keeps going and fills the cache."""

    def __init__(self, provider: LookupProvider, *, budget: float, ttl: float, size: int = 100_000):
        self.provider = provider
        self.budget = budget
        self.ttl = ttl
        self.size = size
        # Answers expire after ``ttl``; when full, the least recently used goes first (one at a time).
        self._cache: TTLCache[str, LookupResult] = TTLCache(maxsize=size, ttl=ttl, timer=time.monotonic)
        self._inflight: dict[str, asyncio.Task[LookupResult]] = {}
        self.hits = self.misses = self.overruns = self.failures = 0

    async def get(self, e164: str) -> LookupResult:
        hit = self._cache.get(e164)
        if hit is not None:
            self.hits += 1
            return hit
        self.misses += 1
        task = self._inflight.get(e164)
        if task is None:
            task = self._inflight[e164] = asyncio.create_task(self._fetch(e164))
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.budget)
        except TimeoutError:
            self.overruns += 1
            return LookupResult()
        except asyncio.CancelledError:
            raise
        except Exception:
            return LookupResult()

    async def _fetch(self, e164: str) -> LookupResult:
        try:
            result = await self.provider.lookup(e164)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failures += 1
            log.warning("number lookup for %s failed: %s", e164, exc)
            result = LookupResult()
        else:
            self._cache[e164] = result
        finally:
            self._inflight.pop(e164, None)
        return result

"""The live lookup provider: a real HTTP server on loopback, a strict budget, a cache."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
from aiohttp import web

from callshield.models.lookup import CachedLookup, HttpLookup, LookupResult
from tests.support.service import eventually

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def provider():
    """A real HTTP lookup service; numbers ending 9 answer only once ``slow`` is set (a
    provider slower than any budget, on any machine), ending 0 with a 500."""
    hits: list[str] = []
    slow = asyncio.Event()

    async def handle(request: web.Request) -> web.Response:
        number = request.match_info["number"]
        hits.append(number)
        if number.endswith("9"):
            await slow.wait()
        if number.endswith("0"):
            return web.Response(status=500)
        return web.json_response({"active": True, "prepaid": number.endswith("2")})

    app = web.Application()
    app.router.add_get("/v1/{number}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    http = HttpLookup(f"http://127.0.0.1:{port}/v1/{{number}}", timeout=2.0)
    yield http, hits, slow
    slow.set()
    await http.close()
    await runner.cleanup()


async def test_answers_within_budget_and_caches(provider):
    http, hits, _ = provider
    lookup = CachedLookup(http, budget=0.5, ttl=60)
    assert await lookup.get("+447400123452") == LookupResult(True, True)
    assert await lookup.get("+447400123452") == LookupResult(True, True)
    assert hits == ["+447400123452"] and lookup.hits == 1


async def test_a_slow_provider_costs_at_most_the_budget_then_fills_the_cache(provider):
    http, hits, slow = provider
    lookup = CachedLookup(http, budget=0.05, ttl=60)
    # The provider has not answered (it cannot until ``slow`` is set), yet the call gets
    # its N/A: it paid the budget, not the provider's time. The deadline only stops a hang.
    assert await asyncio.wait_for(lookup.get("+447400123459"), 10) == LookupResult()
    assert lookup.overruns == 1 and not slow.is_set() and "+447400123459" in lookup._inflight
    slow.set()
    await eventually(lambda: "+447400123459" in lookup._cache, 5, "the late answer in the cache")
    assert await lookup.get("+447400123459") == LookupResult(True, False)


async def test_a_failing_provider_gives_na_and_is_logged(provider, caplog):
    http, _, _ = provider
    lookup = CachedLookup(http, budget=0.5, ttl=60)
    assert await lookup.get("+447400123450") == LookupResult()
    assert "number lookup for +447400123450 failed" in caplog.text


async def test_text_values():
    assert (LookupResult.text(True), LookupResult.text(False), LookupResult.text(None)) == ("true", "false", "N/A")


async def test_a_full_cache_drops_the_least_recent_answer_not_all_of_them(provider):
    http, hits, _ = provider
    lookup = CachedLookup(http, budget=0.5, ttl=60, size=2)
    for number in ("+447400123451", "+447400123452", "+447400123451", "+447400123453"):
        await lookup.get(number)
    assert set(lookup._cache) == {"+447400123451", "+447400123453"}
    assert hits == ["+447400123451", "+447400123452", "+447400123453"]

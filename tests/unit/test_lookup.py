"""The live lookup provider: a real HTTP server on loopback, a strict budget, a cache."""

from __future__ import annotations

import asyncio
import time

import pytest
import pytest_asyncio
from aiohttp import web

from callshield.models.lookup import CachedLookup, HttpLookup, LookupResult

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def provider():
    """A real HTTP lookup service; numbers ending 9 answer slowly, ending 0 with a 500."""
    hits: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        number = request.match_info["number"]
        hits.append(number)
        if number.endswith("9"):
            await asyncio.sleep(0.3)
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
    yield http, hits
    await http.close()
    await runner.cleanup()


async def test_answers_within_budget_and_caches(provider):
    http, hits = provider
    lookup = CachedLookup(http, budget=0.5, ttl=60)
    assert await lookup.get("+447400123452") == LookupResult(True, True)
    assert await lookup.get("+447400123452") == LookupResult(True, True)
    assert hits == ["+447400123452"] and lookup.hits == 1


async def test_a_slow_provider_costs_at_most_the_budget_then_fills_the_cache(provider):
    http, hits = provider
    lookup = CachedLookup(http, budget=0.05, ttl=60)
    started = time.monotonic()
    assert await lookup.get("+447400123459") == LookupResult()
    assert time.monotonic() - started < 0.25
    assert lookup.overruns == 1
    deadline = time.monotonic() + 5
    while "+447400123459" not in lookup._cache and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert await lookup.get("+447400123459") == LookupResult(True, False)


async def test_a_failing_provider_gives_na_and_is_logged(provider, caplog):
    http, _ = provider
    lookup = CachedLookup(http, budget=0.5, ttl=60)
    assert await lookup.get("+447400123450") == LookupResult()
    assert "number lookup for +447400123450 failed" in caplog.text


async def test_text_values():
    assert (LookupResult.text(True), LookupResult.text(False), LookupResult.text(None)) == ("true", "false", "N/A")

"""Item 8: idle connections cannot use up the descriptors real calls need.

Before: under a 1,024-descriptor limit, 1,100 idle connections to the AGI port made
every new call close at once (fail-open) until they timed out. Now serve raises its
soft open-files limit to the hard one, keeps a reserve below it by cutting the oldest
connections that have sent no AGI environment, and cuts a connection that sends none
within agi.env_timeout.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from callshield.agi.server import AgiServer
from callshield.config import load_config
from callshield.screening.screener import Screener
from callshield.services import Services
from tests.security.agi_peer import agi_call
from tests.security.rig import Serve, serve_config
from tests.support.service import eventually


async def idle_connections(port: int, n: int) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """``n`` connections that never send an AGI environment (a scanner, a stuck peer)."""
    return [await asyncio.open_connection("127.0.0.1", port) for _ in range(n)]


@pytest.mark.asyncio
async def test_idle_connections_beyond_the_descriptor_limit_do_not_stop_real_calls(tmp_path):
    # A hard limit of 256: raising the soft limit cannot help, the reserve must.
    config = serve_config(tmp_path, agi={"env_timeout": 30.0})  # so only the reserve can save the call
    serve = Serve(tmp_path, config, nofile=(256, 256)).start()
    idle = []
    try:
        idle = await idle_connections(serve.port, 300)
        await eventually(lambda: "cut the oldest that had sent no AGI environment" in serve.log_text(), 5, "the cut")
        calls = await asyncio.gather(*(agi_call(serve.port, caller=f"+4479111{i:05d}") for i in range(20)))
        assert all(c.call_id for c in calls), [c.variables for c in calls if not c.call_id]
    finally:
        for _, writer in idle:
            writer.close()
        serve.stop()
    log = serve.log_text()
    assert "open files: the limit is 256 descriptors" in log
    assert "at most 128 connections at once" in log


@pytest.mark.asyncio
async def test_serve_raises_its_soft_open_files_limit_to_the_hard_limit(tmp_path):
    serve = Serve(tmp_path, serve_config(tmp_path), nofile=(256, 4096)).start()
    try:
        call = await agi_call(serve.port)
    finally:
        serve.stop()
    assert call.call_id
    assert "open files: soft limit raised from 256 to 4096 (the hard limit)" in serve.log_text()


@pytest.mark.asyncio
async def test_a_connection_that_sends_no_environment_is_cut_after_env_timeout():
    config = load_config(None, env={}, overrides={"agi.env_timeout": 0.3, "agi.command_timeout": 5.0, "scoring.model": "rules"})
    server = AgiServer(Services(config=config, screener=Screener(config)))
    server.config = dataclasses.replace(config.agi, port=0)
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        started = time.monotonic()
        assert await asyncio.wait_for(reader.read(100), 3) == b""  # closed by serve
        assert time.monotonic() - started < 1.0
        writer.close()
        assert (await agi_call(server.port)).call_id  # a real call is screened as before
    finally:
        await server.close()


@pytest.mark.asyncio
async def test_many_silent_connections_log_one_warning_not_one_error_each(caplog):
    """A scanner holding connections open must not flood the log (each used to be an
    ERROR 'AGI protocol error, failing open', although no call was involved)."""
    config = load_config(None, env={}, overrides={"agi.env_timeout": 0.2, "scoring.model": "rules"})
    server = AgiServer(Services(config=config, screener=Screener(config)))
    server.config = dataclasses.replace(config.agi, port=0)
    await server.start()
    try:
        caplog.set_level("DEBUG", logger="callshield.agi")
        idle = await idle_connections(server.port, 20)
        await eventually(lambda: server.cut_silent == 20, 5, "20 silent connections cut")
        for _, writer in idle:
            writer.close()
        records = [r for r in caplog.records if r.name == "callshield.agi"]
        assert [r.levelname for r in records if r.levelno >= 30] == ["WARNING"]
        assert "sent no AGI environment within 0.2s" in records[0].getMessage()
        assert server.failures == 0
    finally:
        await server.close()


@pytest.mark.asyncio
async def test_over_the_cap_the_oldest_connection_without_environment_is_cut_first():
    config = load_config(None, env={}, overrides={"agi.env_timeout": 30.0, "scoring.model": "rules"})
    server = AgiServer(Services(config=config, screener=Screener(config)), max_connections=10)
    server.config = dataclasses.replace(config.agi, port=0)
    await server.start()
    try:
        idle = await idle_connections(server.port, 10)
        await eventually(lambda: server.open_connections == 10, 2, "10 connections open")
        call = await agi_call(server.port)  # the 11th: the oldest idle one makes room
        assert call.call_id
        assert await asyncio.wait_for(idle[0][0].read(100), 2) == b""
        for reader, _ in idle[1:]:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(reader.read(100), 0.01)
        assert server.cut_idle == 1
        for _, writer in idle:
            writer.close()
    finally:
        await server.close()


def test_the_shipped_service_unit_sets_the_descriptor_limit_the_docs_describe():
    from tests.support.service import REPO

    unit = (REPO / "deploy" / "callshield.service").read_text()
    assert "\nLimitNOFILE=65536\n" in unit
    assert "LimitNOFILE=65536" in (REPO / "docs" / "operations.md").read_text()
    assert "LimitNOFILE=65536" in (REPO / "docs" / "asterisk.md").read_text()

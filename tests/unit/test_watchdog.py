"""The loop-stall watchdog cuts open AGI sessions so Asterisk fails open."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

from callshield.agi.server import AgiServer
from callshield.agi.watchdog import LoopWatchdog
from callshield.config import load_config
from callshield.screening.screener import Screener
from callshield.services import Services

ENV = b"agi_network: yes\nagi_network_script: stuck\nagi_channel: PJSIP/carrier-1\nagi_uniqueid: 1.1\n\n"


def blocking_client(port: int, out: dict, closed: threading.Event) -> None:
    """Asterisk's side, in a thread: it must see the connection close while the loop is stuck."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(ENV)
        s.settimeout(10)
        out["eof"] = s.recv(100) == b""
        closed.set()


@pytest.mark.asyncio
async def test_a_stalled_loop_cuts_open_sessions_so_calls_fail_open():
    config = load_config(None, env={}, overrides={"agi.port": 1})
    closed = threading.Event()  # Asterisk saw the connection close
    out: dict = {}

    async def stuck(session, services):
        # A bug that blocks the event loop: it stays blocked until Asterisk has seen the
        # close, so only the watchdog thread can have closed it. 10 s only stops a hang.
        out["closed_while_stuck"] = closed.wait(10)

    server = AgiServer(Services(config=config, screener=Screener(config)), {"stuck": stuck})
    server.config = type(config.agi)(host="127.0.0.1", port=0)
    await server.start()
    watchdog = LoopWatchdog(server.sockets, stall_after=0.3)
    beat = asyncio.create_task(watchdog.heartbeat())
    client = threading.Thread(target=blocking_client, args=(server.port, out, closed))
    client.start()
    try:
        await asyncio.to_thread(client.join, 15)
    finally:
        beat.cancel()
        await server.close()
    assert out["eof"] and out["closed_while_stuck"]
    assert watchdog.stalls == 1


@pytest.mark.asyncio
async def test_a_turning_loop_cuts_nothing():
    sockets_cut = []

    class Sockets:
        def cut_all(self):
            sockets_cut.append(1)
            return 0

    watchdog = LoopWatchdog(Sockets(), stall_after=0.2)
    beat = asyncio.create_task(watchdog.heartbeat())
    deadline = time.monotonic() + 0.8
    while time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    beat.cancel()
    assert sockets_cut == [] and watchdog.stalls == 0

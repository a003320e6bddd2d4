"""Item 4: the loop-stall watchdog cuts the stuck sessions under both event loops.

Under uvloop (the default) the socket a transport hands out refuses shutdown() with a
TypeError, which used to end the watchdog thread at the first stall: no CRITICAL line,
no session cut, the call held in the dialplan. Here a real stall (a handler blocking the
loop with time.sleep) meets a real TCP client that must see its connection closed.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time

import pytest

from callshield.agi.server import AgiServer
from callshield.agi.watchdog import LoopWatchdog
from callshield.config import load_config
from callshield.screening.screener import Screener
from callshield.serve import event_loop_factory
from callshield.services import Services

ENV = b"agi_network: yes\nagi_network_script: stuck\nagi_channel: PJSIP/carrier-1\nagi_uniqueid: 1.1\n\n"
STALL = 2.0


def asterisk_side(port: int, out: dict) -> None:
    """Asterisk, in a thread: it sends the environment and waits for the connection to close."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(ENV)
        out["sent"] = time.monotonic()
        s.settimeout(10)
        out["eof"] = s.recv(100) == b"" and time.monotonic()


async def stalled_session(watchdogs: list[LoopWatchdog]) -> dict:
    config = load_config(None, env={})

    async def stuck(session, services):
        time.sleep(STALL)  # the fault under test: a bug that blocks the event loop

    server = AgiServer(Services(config=config, screener=Screener(config)), {"stuck": stuck})
    server.config = type(config.agi)(host="127.0.0.1", port=0)
    await server.start()
    watchdog = LoopWatchdog(server.sockets, stall_after=0.3)
    watchdogs.append(watchdog)
    beat = asyncio.create_task(watchdog.heartbeat())
    out: dict = {}
    client = threading.Thread(target=asterisk_side, args=(server.port, out))
    client.start()
    try:
        await asyncio.to_thread(client.join, 15)
        out["watchdog_alive_after_stall"] = watchdog._thread.is_alive()
    finally:
        beat.cancel()
        await server.close()
    return out


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_stalled_loop_cuts_the_session_under_either_loop(loop, caplog):
    watchdogs: list[LoopWatchdog] = []
    with caplog.at_level(logging.DEBUG, logger="callshield.agi.watchdog"):
        with asyncio.Runner(loop_factory=event_loop_factory(loop)) as runner:
            out = runner.run(stalled_session(watchdogs))
    assert out["eof"], "Asterisk never saw its connection close"
    assert out["eof"] - out["sent"] < STALL - 0.5, "the connection was closed only when the stall ended"
    assert out["watchdog_alive_after_stall"]
    assert watchdogs[0].stalls == 1
    critical = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
    assert any("cut 1 open AGI session(s)" in m for m in critical), critical
    assert not [r for r in caplog.records if r.levelno == logging.ERROR]

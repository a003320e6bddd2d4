"""Loop-stall watchdog: if the asyncio loop stops turning, cut the open AGI sessions.

Asterisk waits on a connected FastAGI server without any timeout, so a stalled
callshield (a blocking bug, a swap storm) would hold calls in the dialplan. A plain
thread watches a heartbeat the loop updates; when it goes stale it shuts the session
sockets down, Asterisk sees the connection close, and the dialplan fails open.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time

log = logging.getLogger("callshield.agi.watchdog")


class SessionSockets:
    """The sockets of open AGI sessions, shared with the watchdog thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()

    def add(self, sock: socket.socket | None) -> None:
        if sock is not None:
            with self._lock:
                self._open.add(sock)

    def discard(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._open.discard(sock)  # type: ignore[arg-type]

    def cut_all(self) -> int:
        with self._lock:
            victims = list(self._open)
        for sock in victims:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return len(victims)


class LoopWatchdog:
    def __init__(self, sockets: SessionSockets, stall_after: float):
        self.sockets = sockets
        self.stall_after = stall_after
        self.interval = max(0.01, stall_after / 4)
        self.stalls = 0
        self._beat = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="callshield-watchdog", daemon=True)

    async def heartbeat(self) -> None:
        """Run on the loop: proves it is turning."""
        self._thread.start()
        try:
            while True:
                self._beat = time.monotonic()
                await asyncio.sleep(self.interval)
        finally:
            self._stop.set()

    def _watch(self) -> None:
        stalled = False
        while not self._stop.wait(self.interval):
            late = time.monotonic() - self._beat
            if late > self.stall_after and not stalled:
                stalled = True
                self.stalls += 1
                cut = self.sockets.cut_all()
                log.critical("the event loop has stalled for %.1fs: cut %d open AGI session(s) so their calls fail open", late, cut)
            elif late <= self.stall_after:
                stalled = False

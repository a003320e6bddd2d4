"""Loop-stall watchdog: if the asyncio loop stops turning, cut the open AGI sessions.

Asterisk waits on a connected FastAGI server without any timeout, so a stalled
callshield (a blocking bug, a swap storm) would hold calls in the dialplan. A plain
thread watches a heartbeat the loop updates; when it goes stale it shuts the session
sockets down, Asterisk sees the connection close, and the dialplan fails open.

The sockets are kept as file descriptors and shut down at the OS level: the socket
object a transport hands out (asyncio's TransportSocket, uvloop's PseudoSocket) refuses
``shutdown()`` under uvloop, and ``shutdown(2)`` on the descriptor reaches the connection
whatever loop owns it, without a second descriptor per session.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from typing import Any

log = logging.getLogger("callshield.agi.watchdog")


class SessionSockets:
    """The descriptors of open AGI sessions, shared with the watchdog thread.

    A session is discarded (under the lock) before its socket is closed, and cut_all holds
    the lock while it shuts descriptors down, so it never reaches a closed or reused one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[int] = set()

    def add(self, sock: Any) -> int | None:
        """Track a transport's socket (any object with fileno()); returns its descriptor."""
        try:
            fd = sock.fileno() if sock is not None else -1
        except (OSError, ValueError):
            fd = -1
        if fd < 0:
            return None
        with self._lock:
            self._open.add(fd)
        return fd

    def discard(self, fd: int | None) -> None:
        if fd is not None:
            with self._lock:
                self._open.discard(fd)

    def __len__(self) -> int:
        return len(self._open)

    def cut_all(self) -> int:
        """Shut every tracked connection down (both ways); returns how many were cut."""
        cut = 0
        with self._lock:
            for fd in list(self._open):
                try:
                    shutdown_fd(fd)
                    cut += 1
                except OSError as exc:  # already closed by the peer: nothing to cut
                    log.debug("shutting down AGI socket fd %d: %s", fd, exc)
                except Exception:
                    log.exception("shutting down AGI socket fd %d failed", fd)
        return cut


def shutdown_fd(fd: int) -> None:
    """``shutdown(fd, SHUT_RDWR)`` without taking ownership of the descriptor."""
    sock = socket.socket(fileno=fd)
    try:
        sock.shutdown(socket.SHUT_RDWR)
    finally:
        sock.detach()


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
                try:
                    cut = self.sockets.cut_all()
                except Exception:  # the watchdog must outlive any one stall
                    log.exception("the event loop has stalled for %.1fs and cutting the AGI sessions failed", late)
                    continue
                log.critical("the event loop has stalled for %.1fs: cut %d open AGI session(s) so their calls fail open", late, cut)
            elif late <= self.stall_after:
                stalled = False

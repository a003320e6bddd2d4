"""serve's log handler: INFO lines wait for the periodic flush, a WARNING writes out at once."""

from __future__ import annotations

import logging
import os

from callshield.serve import BatchedLogHandler


def _logger(handler: logging.Handler) -> logging.Logger:
    log = logging.getLogger(f"test.batched.{id(handler)}")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    return log


def _read(fd: int) -> bytes:
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 1 << 16)
    except BlockingIOError:
        return b""


def test_info_lines_wait_for_the_flush() -> None:
    r, w = os.pipe()
    handler = BatchedLogHandler(w)
    log = _logger(handler)
    log.info("call one")
    log.info("call two")
    assert _read(r) == b""
    handler.flush_now()
    assert _read(r) == b"call one\ncall two\n"
    handler.close()
    os.close(r), os.close(w)


def test_a_warning_writes_out_everything_at_once() -> None:
    r, w = os.pipe()
    handler = BatchedLogHandler(w)
    log = _logger(handler)
    log.info("call one")
    log.warning("trouble")
    assert _read(r) == b"call one\ntrouble\n"
    handler.close()
    os.close(r), os.close(w)


def test_closing_writes_out_the_rest() -> None:
    r, w = os.pipe()
    handler = BatchedLogHandler(w)
    _logger(handler).info("last call")
    handler.close()
    assert _read(r) == b"last call\n"
    os.close(r), os.close(w)

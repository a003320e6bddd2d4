"""serve's log handler: INFO lines wait for the periodic flush, a WARNING writes out at once."""

from __future__ import annotations

import logging
import os
from typing import Callable, Iterator

import pytest

from callshield.serve import BatchedLogHandler


@pytest.fixture
def wire() -> Iterator[tuple[BatchedLogHandler, logging.Logger, Callable[[], bytes]]]:
    """A BatchedLogHandler on a pipe, a logger on it, and a read of what reached the pipe."""
    r, w = os.pipe()
    os.set_blocking(r, False)
    handler = BatchedLogHandler(w)
    log = logging.getLogger(f"test.batched.{id(handler)}")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)

    def written() -> bytes:
        try:
            return os.read(r, 1 << 16)
        except BlockingIOError:
            return b""

    yield handler, log, written
    handler.close()
    os.close(r)
    os.close(w)


def test_info_lines_wait_for_the_flush(wire) -> None:
    handler, log, written = wire
    log.info("call one")
    log.info("call two")
    assert written() == b""
    handler.flush_now()
    assert written() == b"call one\ncall two\n"


def test_a_warning_writes_out_everything_at_once(wire) -> None:
    _, log, written = wire
    log.info("call one")
    log.warning("trouble")
    assert written() == b"call one\ntrouble\n"


def test_closing_writes_out_the_rest(wire) -> None:
    handler, log, written = wire
    log.info("last call")
    handler.close()
    assert written() == b"last call\n"

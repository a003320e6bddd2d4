"""The one writer: call records are queued on the call path and written in batches by a
thread of their own, so no AGI reply ever waits for the disk."""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from callshield.store.calls import INSERT_CALL, PendingCall, row_of
from callshield.store.db import open_store

log = logging.getLogger("callshield.store")
RETRIES = 5
_STOP = object()


class CallWriter:
    def __init__(self, path: str | Path, *, batch_size: int = 200, flush_interval: float = 0.25):
        self.path = str(path)
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="callshield-writer", daemon=True)
        self._flushed = threading.Condition()
        self.written = 0
        self.spilled = 0
        self._submitted = 0

    def start(self) -> "CallWriter":
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, record: dict[str, Any] | PendingCall) -> None:
        """Queue one call record (or a PendingCall to serialise on this thread); never blocks."""
        self._submitted += 1
        self._queue.put(record)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted so far is on disk (or spilled)."""
        target = self._submitted
        deadline = time.monotonic() + timeout
        with self._flushed:
            while self.written + self.spilled < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._flushed.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def _run(self) -> None:
        db = open_store(self.path)
        try:
            stop = False
            while not stop:
                batch: list[dict[str, Any]] = []
                try:
                    item = self._queue.get(timeout=self.flush_interval)
                except queue.Empty:
                    continue
                deadline = time.monotonic() + self.flush_interval
                while True:
                    if item is _STOP:
                        stop = True
                        break
                    batch.append(item)
                    if len(batch) >= self.batch_size:
                        break
                    try:
                        item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                    except queue.Empty:
                        break
                if batch:
                    try:
                        self._write(db, batch)
                    except Exception:  # never let the writer thread die
                        log.exception("writing %d call records failed unexpectedly", len(batch))
                        self._spill(batch)
        finally:
            db.close()

    def _write(self, db: Any, items: list[dict[str, Any] | PendingCall]) -> None:
        batch: list[dict[str, Any]] = []
        rows: list[tuple[Any, ...]] = []
        for item in items:
            record = item.to_record() if isinstance(item, PendingCall) else item
            try:
                rows.append(row_of(record))
                batch.append(record)
            except ValueError as exc:
                log.error("refusing a call record: %s", exc)
                self._spill([record])
        if not rows:
            return
        delay = 0.05
        for attempt in range(1, RETRIES + 1):
            try:
                with db.conn:
                    db.conn.executemany(INSERT_CALL, rows)
                self._done(written=len(batch))
                return
            except sqlite3.OperationalError as exc:
                if not _transient(exc):
                    log.error("writing %d call records failed: %s", len(batch), exc)
                    break
                log.warning("writing %d call records failed (attempt %d/%d): %s", len(batch), attempt, RETRIES, exc)
                time.sleep(delay)
                delay *= 2
            except sqlite3.DatabaseError as exc:
                log.error("writing %d call records failed: %s", len(batch), exc)
                break
        self._spill(batch)

    def _spill(self, batch: list[dict[str, Any]]) -> None:
        spill = Path(self.path + ".unwritten.jsonl")
        try:
            with spill.open("a", encoding="utf-8") as fh:
                for record in batch:
                    fh.write(json.dumps(record) + "\n")
        except OSError as exc:
            log.critical("LOST %d call records: neither the store nor %s would take them (%s)", len(batch), spill, exc)
            self._done(spilled=len(batch))
            return
        log.error("kept %d call records in %s (the store refused them); load them once it is fixed with: "
                  "sqlite-utils insert %s calls %s --nl --pk id --replace", len(batch), spill, self.path, spill)
        self._done(spilled=len(batch))

    def _done(self, written: int = 0, spilled: int = 0) -> None:
        with self._flushed:
            self.written += written
            self.spilled += spilled
            self._flushed.notify_all()


def _transient(exc: sqlite3.OperationalError) -> bool:
    """Locked/busy databases clear up; schema or disk errors do not."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text

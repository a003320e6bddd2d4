"""The one writer: call records are queued on the call path and written in batches by a
thread of their own, so no AGI reply ever waits for the disk.

A record the store refuses goes to the spill file; what neither takes is LOST (logged
CRITICAL) unless the call journal still holds it. ``problem`` says what is wrong right
now, for the health probe. ``close`` is bounded: what the store has not taken by its
deadline stays in the journal (replayed at the next start) or is spilled, and the
counts are logged.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callshield.store.calls import INSERT_CALL, PendingCall, row_of
from callshield.store.db import create_private, open_store

if TYPE_CHECKING:
    from callshield.screening.screener import Screening
    from callshield.store.journal import CallJournal

log = logging.getLogger("callshield.store")
RETRIES = 5  # attempts at a batch the store refuses for a passing reason (locked, busy)
ATTEMPT_PATIENCE = 5.0  # seconds one attempt waits for a lock
BUSY_SLICE_MS = 250  # the writer's SQLite busy timeout: short slices, so a shutdown is never kept waiting on a lock


class CallWriter:
    def __init__(self, path: str | Path, *, batch_size: int = 200, flush_interval: float = 0.25,
                 journal: CallJournal | None = None):
        self.path = str(path)
        self.spill_path = Path(self.path + ".unwritten.jsonl")
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self._journal = journal
        # The event loop appends, this writer's thread pops (a deque is safe for that
        # without a lock). No wake-up per call: the loop wakes the thread only when a batch
        # is full, so a call costs the loop an append, not a futex and a GIL hand-off.
        self._inbox: collections.deque[dict[str, Any] | PendingCall] = collections.deque()
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="callshield-writer", daemon=True)
        self._flushed = threading.Condition()
        self._abandon = threading.Event()  # set by close() past its deadline: no more store attempts
        self.written = 0
        self.spilled = 0
        self.lost = 0
        self.kept = 0  # left in the journal at shutdown, for the next start
        self._submitted = 0
        self._identity: tuple[int, int] | None = None
        self.problem: str | None = None  # what is wrong right now (health probe), or None

    def start(self) -> "CallWriter":
        """Open the store here, so a store that cannot be opened fails the start-up."""
        self._db = open_store(self.path)
        self._db.execute(f"PRAGMA busy_timeout = {BUSY_SLICE_MS}")
        self._identity = _identity(self.path)
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def journal(self, screening: Screening) -> int:
        """Journal a decision before its reply is sent; returns the segment to hand back
        with the call's PendingCall (0: not journaled)."""
        return self._journal.append(screening) if self._journal is not None else 0

    def submit(self, record: dict[str, Any] | PendingCall) -> None:
        """Queue one call record (or a PendingCall to serialise on this thread); never blocks."""
        self._submitted += 1
        self._inbox.append(record)
        if len(self._inbox) >= self.batch_size and not self._wake.is_set():
            self._wake.set()

    def health_problem(self) -> str | None:
        """Why call records are not safe right now, or None: the store file gone or
        replaced, writes failing, records spilled (the spill file still waits to be
        imported) or lost, the journal failing."""
        if not self.alive:
            return "store-writer-stopped"
        store = self.store_problem()
        if store is not None:
            return store
        if self.problem is not None:
            return self.problem
        if self.spill_path.exists():
            return "call-records-spilled"
        if self._journal is not None and self._journal.last_error is not None:
            return "call-journal-failing"
        return None

    def store_problem(self) -> str | None:
        """The store file deleted or replaced under us: SQLite would go on writing into
        the old, unlinked file, so every record written there would be lost."""
        if self.path == ":memory:":
            return None
        now = _identity(self.path)
        if now is None:
            return "store-missing"
        if self._identity is not None and now != self._identity:
            return "store-replaced"
        return None

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted so far is on disk (or spilled)."""
        target = self._submitted
        deadline = time.monotonic() + timeout
        self._wake.set()
        with self._flushed:
            while self.written + self.spilled + self.lost + self.kept < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._flushed.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> dict[str, int]:
        """Write what is queued, waiting at most ``timeout`` for the store; past it, keep
        the rest in the journal (or spill it). Logs and returns the counts."""
        if self._thread.is_alive():
            self._stopping = True
            self._wake.set()
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("the store did not take the queued call records within %.1fs of shutdown (%s): keeping them",
                          timeout, self.problem or "still writing")
                self._abandon.set()
                self._thread.join(2 * BUSY_SLICE_MS / 1000 + 5)
        left = self._journal.close() if self._journal is not None else 0
        counts = {"written": self.written, "spilled": self.spilled, "kept_in_journal": self.kept, "lost": self.lost,
                  "unaccounted": self._submitted - self.written - self.spilled - self.kept - self.lost}
        level = logging.INFO if not (self.spilled or self.kept or self.lost or counts["unaccounted"]) else logging.ERROR
        log.log(level, "call-record writer stopped: %d written, %d spilled to %s, %d kept in the call journal for the next"
                " start (%d journaled calls left), %d lost, %d still queued", self.written, self.spilled, self.spill_path,
                self.kept, left, self.lost, counts["unaccounted"])
        return counts

    def _run(self) -> None:
        db = self._db
        try:
            while True:
                # Woken by a full batch, flush() or close(); otherwise every flush_interval.
                self._wake.wait(self.flush_interval)
                self._wake.clear()
                stop = self._stopping
                while self._inbox:
                    batch = [self._inbox.popleft() for _ in range(min(self.batch_size, len(self._inbox)))]
                    try:
                        self._write(db, batch)
                    except Exception:  # never let the writer thread die
                        log.exception("writing %d call records failed unexpectedly", len(batch))
                        self._spill([_record(i) for i in batch], _segments(batch))
                if stop:
                    return
        finally:
            db.close()

    def _write(self, db: Any, items: list[dict[str, Any] | PendingCall]) -> None:
        if self._abandon.is_set():
            self._keep(items)
            return
        batch: list[dict[str, Any]] = []
        rows: list[tuple[Any, ...]] = []
        segs: list[int] = []
        for item in items:
            record = _record(item)
            seg = item.journal if isinstance(item, PendingCall) else 0
            try:
                rows.append(row_of(record))
                batch.append(record)
                segs.append(seg)
            except ValueError as exc:
                log.error("refusing a call record: %s", exc)
                self._spill([record], [seg])
        if not rows:
            return
        gone = self.store_problem()
        if gone is not None:
            self._set_problem(gone, f"the store file {self.path} was deleted or replaced under serve: call records go to"
                                    " the spill file until serve is restarted")
            self._spill(batch, segs)
            return
        if self._journal is not None:
            self._journal.sync()
        for attempt in range(1, RETRIES + 1):
            try:
                self._commit(db, rows)
                self._done(written=len(batch), segments=segs)
                self.problem = None
                return
            except sqlite3.OperationalError as exc:
                if not _transient(exc):
                    log.error("writing %d call records failed: %s", len(batch), exc)
                    break
                self.problem = "store-write-failing"
                if self._abandon.is_set():
                    break
                log.warning("writing %d call records failed (attempt %d/%d): %s", len(batch), attempt, RETRIES, exc)
                if self._abandon.wait(0.05 * 2 ** (attempt - 1)):
                    break
            except sqlite3.DatabaseError as exc:
                log.error("writing %d call records failed: %s", len(batch), exc)
                break
        if self._abandon.is_set():
            self._keep(batch, segs)
        else:
            self._spill(batch, segs)

    def _commit(self, db: Any, rows: list[tuple[Any, ...]]) -> None:
        """One transaction, waiting up to ATTEMPT_PATIENCE for a lock in short slices."""
        deadline = time.monotonic() + ATTEMPT_PATIENCE
        while True:
            try:
                with db.conn:
                    db.conn.executemany(INSERT_CALL, rows)
                return
            except sqlite3.OperationalError as exc:
                if not _transient(exc) or self._abandon.is_set() or time.monotonic() >= deadline:
                    raise

    def _keep(self, items: list[Any], segs: list[int] | None = None) -> None:
        """At a shutdown past its deadline: journaled calls stay in the journal for the
        next start; the others are spilled."""
        segs = _segments(items) if segs is None else segs
        records = [_record(i) for i in items]
        journaled = sum(1 for s in segs if s)
        self._spill([r for r, s in zip(records, segs) if not s], [0] * (len(records) - journaled))
        self._done(kept=journaled)

    def _spill(self, batch: list[dict[str, Any]], segs: list[int]) -> None:
        if not batch:
            return
        try:
            create_private(self.spill_path)  # call records are personal data: 0600, like the store
            with self.spill_path.open("a", encoding="utf-8") as fh:
                for record in batch:
                    fh.write(json.dumps(record) + "\n")
        except OSError as exc:
            journaled = sum(1 for s in segs if s)
            self.problem = "call-records-lost"
            if journaled:
                log.critical("neither the store nor %s would take %d call records (%s): %d are kept in the call journal"
                             " and are written to the store at the next start; LOST %d", self.spill_path, len(batch), exc,
                             journaled, len(batch) - journaled)
            else:
                log.critical("LOST %d call records: neither the store nor %s would take them (%s)", len(batch), self.spill_path, exc)
            self._done(lost=len(batch) - journaled, kept=journaled)
            return
        if self.problem is None:
            self.problem = "call-records-spilled"
        log.error("kept %d call records in %s (the store refused them); load them once it is fixed with: "
                  "sqlite-utils insert %s calls %s --nl --pk id --replace", len(batch), self.spill_path, self.path, self.spill_path)
        self._done(spilled=len(batch), segments=segs)

    def _set_problem(self, problem: str, message: str) -> None:
        if self.problem != problem:
            log.critical(message)
        self.problem = problem

    def _done(self, written: int = 0, spilled: int = 0, lost: int = 0, kept: int = 0, segments: list[int] = ()) -> None:
        if self._journal is not None and segments:
            for seg, n in collections.Counter(s for s in segments if s).items():
                self._journal.done(seg, n)
            self._journal.collect()
        with self._flushed:
            self.written += written
            self.spilled += spilled
            self.lost += lost
            self.kept += kept
            self._flushed.notify_all()


def _record(item: dict[str, Any] | PendingCall) -> dict[str, Any]:
    return item.to_record() if isinstance(item, PendingCall) else item


def _segments(items: list[Any]) -> list[int]:
    return [item.journal if isinstance(item, PendingCall) else 0 for item in items]


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _transient(exc: sqlite3.OperationalError) -> bool:
    """Locked/busy databases clear up; schema or disk errors do not."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text

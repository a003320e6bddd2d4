"""The call journal: every decision is appended to a file before its reply reaches
Asterisk, so a killed ``serve`` loses no call Asterisk acted on.

A segment is a file of ``SEGMENT_BYTES`` reserved on disk (``posix_fallocate``, so a
full disk fails the segment's creation, never a write into it) and mapped into memory
(``mmap``, shared): a store into the mapping is in the kernel's page cache at once, so
it survives the process being killed (SIGKILL, a crash, the OOM killer), though not a
power cut, like a ``write()``, without a system call. The event loop appends one record
per decision and no fsync: the entry, a flat tuple of the decision in ``marshal`` format
(version 4, stable across Python 3 releases), then its 4-byte length in front of it, so
a record is there only once whole; a length of 0 ends the segment. About 2 µs per call
in isolation. It was a ``write()`` per call (4 µs in isolation) until the profile of
serve under load showed 30-100 µs of CPU per call for it: the call released the GIL to
the writer thread and took it back (bench/agi_screen.py, journal on and off). marshal
is not meant for hostile data: the journal is the service user's own file, mode 0600,
like the store. The writer thread fsyncs the journal once
per batch, off the call path, and marks each call done once the store (or the spill
file) holds its full record. The journal is cut into segments of ``ROTATE_EVERY``
records; a segment the loop has moved past whose calls are all done is deleted, so the
journal holds at most a few thousand calls. At start-up ``replay`` inserts every
journaled call missing from the store (``INSERT OR IGNORE`` on the call id: a full
record already written wins) and deletes the segments; a record cut short by a kill
mid-write ends its segment and is skipped (its call never got its reply).

Segments: ``<store.path>.journal.<seq>``, mode 0600 (call records are personal data).
"""

from __future__ import annotations

import logging
import marshal
import mmap
import os
import re
import struct
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callshield.store.calls import CALL_COLUMNS, dumps, row_of

if TYPE_CHECKING:
    import sqlite_utils

    from callshield.screening.screener import Screening

log = logging.getLogger("callshield.store")
ROTATE_EVERY = 2000
INSERT_IF_MISSING = f"INSERT OR IGNORE INTO calls ({', '.join(CALL_COLUMNS)}) VALUES ({', '.join('?' * len(CALL_COLUMNS))})"
_SEGMENT_RE = re.compile(r"\.journal\.(\d{8})$")
_LENGTH = struct.Struct("<I")
MARSHAL_VERSION = 4
SEGMENT_BYTES = 4 << 20  # ~10,000 records of ~400 bytes: a segment is cut by ROTATE_EVERY first
_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def segments(store_path: str | Path) -> list[Path]:
    """The journal's segment files next to the store, oldest first."""
    store = Path(store_path)
    found = [(int(m.group(1)), p) for p in store.parent.glob(f"{store.name}.journal.*") if (m := _SEGMENT_RE.search(p.name))]
    return [p for _, p in sorted(found)]


# The journal entry: a flat tuple (the cheapest thing to build and marshal on the call path).
ENTRY_FIELDS = (
    "id", "ts", "uniqueid", "channel", "dialled", "caller_key", "caller_number", "withheld", "score", "status", "reasons",
    "attestation", "spoof_status", "spoof_verified", "route_action", "route", "route_fallback", "route_reason",
    "announcement", "scorer", "caller_profile", "trait", "source_ip",
)


def entry(s: Screening) -> tuple[Any, ...]:
    """What the journal keeps of one decision: what Asterisk was told (score, status,
    reasons, route) and what the restart rebuilds its repeat-call history, Call DNA memory
    and divert caps from. The full record (the whole call signal, features, insights) is
    the writer's: a call known only from the journal keeps the signal's identity fields."""
    d, f, g = s.decision, s.facts, s.signal
    return (
        d.call_id, g.timestamp, g.uniqueid, g.channel, f.dialled.key, f.caller.key if f.caller else "", g.caller_number,
        int(f.withheld), d.score, d.status, tuple((r.code, r.points, r.detail) for r in d.reasons), d.attestation,
        d.spoof_status, int(d.spoof_verified), d.route_action, d.route, d.route_fallback, d.route_reason, d.announcement,
        d.scorer, d.caller_profile, s.dna.keys.trait if s.dna else "", g.source_ip,
    )


def record_of(t: tuple[Any, ...]) -> dict[str, Any]:
    """A journal entry as a ``calls`` record (marked ``from_journal`` in features and timings)."""
    e = dict(zip(ENTRY_FIELDS, t, strict=True))
    signal = {"dialled": e["dialled"], "timestamp": e["ts"], "caller_number": e["caller_number"], "source_ip": e["source_ip"],
              "uniqueid": e["uniqueid"], "channel": e["channel"]}
    return {
        "id": e["id"], "ts": e["ts"], "uniqueid": e["uniqueid"], "channel": e["channel"], "dialled": e["dialled"],
        "caller_key": e["caller_key"], "caller_number": e["caller_number"], "withheld": e["withheld"], "score": e["score"],
        "status": e["status"], "reasons": dumps([{"code": c, "points": p, "detail": x} for c, p, x in e["reasons"]]),
        "attestation": e["attestation"], "spoof_status": e["spoof_status"], "spoof_verified": e["spoof_verified"],
        "route_action": e["route_action"], "route": e["route"], "route_fallback": e["route_fallback"],
        "route_reason": e["route_reason"], "announcement": e["announcement"], "scorer": e["scorer"],
        "signal": dumps(signal), "features": dumps({"trait": e["trait"], "from_journal": True}),
        "timings": dumps({"from_journal": True}), "caller_profile": e["caller_profile"], "insights": "{}",
    }


def read_segment(path: Path) -> tuple[list[tuple[Any, ...]], int]:
    """The entries of one segment, and 1 if it ends in a record cut short (a kill
    mid-write, a full disk) or unreadable, else 0. A length of 0 (the reserved,
    never-written rest of the segment) ends it cleanly."""
    data = path.read_bytes()
    entries, pos = [], 0
    while pos < len(data):
        if pos + _LENGTH.size > len(data):
            return entries, 1
        (size,) = _LENGTH.unpack_from(data, pos)
        if size == 0:
            return entries, 0
        end = pos + _LENGTH.size + size
        if end > len(data):
            return entries, 1
        try:
            e = marshal.loads(data[pos + _LENGTH.size:end])
        except (ValueError, EOFError, TypeError):
            return entries, 1
        if isinstance(e, tuple):
            entries.append(e)
        pos = end
    return entries, 0


def replay(db: sqlite_utils.Database, store_path: str | Path) -> tuple[int, int, int]:
    """Insert the journaled calls the store lacks, then delete the segments.

    Returns (calls inserted, calls already in the store, unreadable records). A record cut
    short by a kill mid-write is unreadable and skipped (its call never got its reply).
    """
    files = segments(store_path)
    rows, bad = [], 0
    for path in files:
        entries, torn = read_segment(path)
        bad += torn
        for e in entries:
            try:
                rows.append(row_of(record_of(e)))
            except (ValueError, KeyError, TypeError, AttributeError):
                bad += 1
    if not files:
        return 0, 0, 0
    with db.conn:
        before = db.conn.total_changes
        db.conn.executemany(INSERT_IF_MISSING, rows)
        inserted = db.conn.total_changes - before
    for path in files:
        path.unlink(missing_ok=True)
    return inserted, len(rows) - inserted, bad


class CallJournal:
    """Appends on the event loop; ``done``, ``sync`` and ``collect`` on the writer thread."""

    def __init__(self, store_path: str | Path, rotate_every: int = ROTATE_EVERY):
        self.base = str(store_path)
        self.rotate_every = rotate_every
        existing = segments(store_path)
        self._seq = int(_SEGMENT_RE.search(existing[-1].name).group(1)) if existing else 0  # type: ignore[union-attr]
        self._fd: int | None = None
        self._map: mmap.mmap | None = None
        self._pos = 0  # bytes used in the current segment
        self._lines = 0
        self._lock = threading.Lock()
        self._outstanding: dict[int, int] = {}
        self._synced = True
        self.appended = 0
        self.failures = 0
        self.last_error: str | None = None
        self._last_failure_log = 0.0

    def path(self, seq: int) -> Path:
        return Path(f"{self.base}.journal.{seq:08d}")

    def append(self, screening: Screening) -> int:
        """Journal one decision; returns its segment, or 0 when it could not be written
        (logged; the call goes on: its record still reaches the writer)."""
        try:
            data = marshal.dumps(entry(screening), MARSHAL_VERSION)
            end = self._pos + _LENGTH.size + len(data)
            if self._map is None or self._lines >= self.rotate_every or end + _LENGTH.size > SEGMENT_BYTES:
                self._rotate()
                end = _LENGTH.size + len(data)
                if end + _LENGTH.size > SEGMENT_BYTES:
                    raise OSError(f"a decision of {len(data)} bytes does not fit a journal segment")
            assert self._map is not None
            pos = self._pos
            self._map[pos + _LENGTH.size:end] = data
            self._map[pos:pos + _LENGTH.size] = _LENGTH.pack(len(data))  # last: the record counts once whole
            self._pos = end
        except Exception as exc:  # the journal must never cost a call its decision
            self._failed(exc)
            return 0
        self._lines += 1
        self.appended += 1
        self.last_error = None
        self._synced = False
        with self._lock:
            self._outstanding[self._seq] += 1
        return self._seq

    @property
    def end(self) -> int:
        """Where the next record of the current segment goes (bytes)."""
        return self._pos

    def _rotate(self) -> None:
        seq = self._seq + 1
        fd = os.open(self.path(seq), _OPEN_FLAGS, 0o600)
        try:
            os.posix_fallocate(fd, 0, SEGMENT_BYTES)  # the disk space now: a full disk fails here, not in a store
            mapped = mmap.mmap(fd, SEGMENT_BYTES, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            Path(self.path(seq)).unlink(missing_ok=True)
            raise
        with self._lock:
            old_fd, old_map = self._fd, self._map
            self._fd, self._map, self._seq, self._lines, self._pos = fd, mapped, seq, 0, 0
            self._outstanding[seq] = 0
        if old_map is not None:
            old_map.close()
        if old_fd is not None:
            os.close(old_fd)

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        self.last_error = str(exc)
        now = time.monotonic()
        if now - self._last_failure_log >= 10:
            self._last_failure_log = now
            log.error("cannot write the call journal %s (%s): decisions made now are lost if serve is killed before the"
                      " writer stores them (%d journal failures so far)", self.path(self._seq), exc, self.failures)

    def done(self, seq: int, n: int = 1) -> None:
        """``n`` calls of segment ``seq`` are in the store or the spill file."""
        if seq:
            with self._lock:
                if seq in self._outstanding:
                    self._outstanding[seq] -= n

    def sync(self) -> None:
        """fsync what was appended since the last sync (writer thread: off the call path)."""
        if self._synced:
            return
        self._synced = True
        with self._lock:
            fd = os.dup(self._fd) if self._fd is not None else None
        if fd is not None:
            try:
                os.fdatasync(fd)
            except OSError as exc:
                log.warning("fsync of the call journal failed: %s", exc)
            finally:
                os.close(fd)

    def collect(self, *, everything: bool = False) -> int:
        """Delete the segments whose calls are all done (not the one being appended to,
        unless ``everything``); returns how many calls the remaining segments still hold."""
        with self._lock:
            finished = [s for s, n in self._outstanding.items() if n <= 0 and (everything or s != self._seq)]
            for seq in finished:
                del self._outstanding[seq]
            left = sum(self._outstanding.values())
        for seq in finished:
            try:
                self.path(seq).unlink(missing_ok=True)
            except OSError as exc:
                log.warning("cannot delete the call journal segment %s: %s", self.path(seq), exc)
        return left

    def close(self) -> int:
        """At shutdown, after the writer: delete the finished segments; returns how many
        calls stay journaled for the next start."""
        with self._lock:
            fd, mapped, self._fd, self._map = self._fd, self._map, None, None
        if mapped is not None:
            mapped.close()
        if fd is not None:
            os.close(fd)
        return self.collect(everything=True)

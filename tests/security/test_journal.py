"""The call journal (item 6) on its own: what it writes, what the restart does with it,
and that it never costs a call its decision."""

from __future__ import annotations

import json
import os
import struct
import time

import pytest

from callshield.config import load_config
from callshield.screening.screener import Screener
from callshield.read.signal import CallSignal
from callshield.store import journal as call_journal
from callshield.store import open_store
from callshield.store.calls import PendingCall, call_record, get
from callshield.store.journal import CallJournal
from callshield.store.writer import CallWriter


@pytest.fixture
def screen():
    config = load_config(None, env={}, overrides={"scoring.model": "rules"})
    screener = Screener(config)
    serial = iter(range(1, 10**6))

    def one():
        n = next(serial)
        return screener.screen(CallSignal(dialled="+442071234567", timestamp=time.time(), caller_number=f"+4479111{n:05d}",
                                          source_ip="203.0.113.7", uniqueid=f"1.{n}", channel=f"PJSIP/c-{n}"))

    return one


def test_a_journaled_call_missing_from_the_store_is_written_at_replay_and_the_files_go(tmp_path, screen):
    db_path = tmp_path / "cs.db"
    journal = CallJournal(db_path)
    screenings = [screen() for _ in range(3)]
    for s in screenings:
        assert journal.append(s) == 1
    # the kill: nothing was closed or stored
    db = open_store(db_path)
    db["calls"].insert(call_record(screenings[0], {"read_ms": 1.0}), pk="id")  # the writer had stored one in full
    assert call_journal.replay(db, db_path) == (2, 1, 0)
    assert call_journal.segments(db_path) == []
    full, replayed = get(db, screenings[0].decision.call_id), get(db, screenings[1].decision.call_id)
    assert json.loads(full["timings"])["read_ms"] == 1.0  # the full record won
    d = screenings[1].decision
    assert (replayed["score"], replayed["status"], replayed["route_action"], replayed["uniqueid"]) == (
        d.score, d.status, d.route_action, "1.2")
    assert json.loads(replayed["features"]) == {"trait": screenings[1].dna.keys.trait if screenings[1].dna else "",
                                                "from_journal": True}
    signal = CallSignal.from_dict(json.loads(replayed["signal"]))  # still a valid call signal (train --from-store)
    assert (signal.dialled, signal.timestamp, signal.caller_number, signal.source_ip) == (
        "+442071234567", screenings[1].signal.timestamp, screenings[1].signal.caller_number, "203.0.113.7")
    assert json.loads(replayed["reasons"]) == [r.to_dict() for r in d.reasons]
    assert call_journal.replay(db, db_path) == (0, 0, 0)
    db.close()


def test_a_line_torn_by_a_kill_mid_write_is_skipped(tmp_path, screen):
    db_path = tmp_path / "cs.db"
    journal = CallJournal(db_path)
    journal.append(screen())
    with open(journal.path(1), "r+b") as fh:  # a record cut short by a kill, where the next one goes
        fh.seek(journal.end)
        fh.write(struct.pack("<I", 1000) + b"\xfb\x01torn")
    db = open_store(db_path)
    assert call_journal.replay(db, db_path) == (1, 0, 1)
    db.close()


def test_segments_are_deleted_once_the_writer_has_stored_their_calls(tmp_path, screen):
    db_path = tmp_path / "cs.db"
    open_store(db_path).close()
    journal = CallJournal(db_path, rotate_every=2)
    writer = CallWriter(db_path, flush_interval=0.01, journal=journal).start()
    for _ in range(5):
        s = screen()
        writer.submit(PendingCall(s, {}, writer.journal(s)))
    assert writer.flush(5)
    assert [p.name for p in call_journal.segments(db_path)] == ["cs.db.journal.00000003"]  # the one being appended to
    assert writer.close(1)["written"] == 5
    assert call_journal.segments(db_path) == []


def test_a_journal_that_cannot_be_written_costs_no_decision_and_the_probe_says_so(tmp_path, screen):
    db_path = tmp_path / "cs.db"
    open_store(db_path).close()
    journal = CallJournal(db_path)
    journal.path(1).mkdir()  # the next segment cannot be opened
    writer = CallWriter(db_path, flush_interval=0.01, journal=journal).start()
    try:
        s = screen()
        assert writer.journal(s) == 0
        writer.submit(PendingCall(s, {}, 0))
        assert writer.flush(5) and writer.written == 1
        assert writer.health_problem() == "call-journal-failing"
    finally:
        writer.close(1)


def test_journal_files_are_private(tmp_path, screen):
    journal = CallJournal(tmp_path / "cs.db")
    journal.append(screen())
    assert os.stat(journal.path(1)).st_mode & 0o777 == 0o600

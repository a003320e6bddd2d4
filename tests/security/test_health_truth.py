"""Item 7: the health probe says DEGRADED while call records are not safe.

Before: with records reported LOST (disk full) and with the store file deleted under
serve, the probe still answered OK. The faults here are real: a store that refuses the
records (its calls table dropped by another process), a spill path that cannot be
written, the store file deleted under a running serve.
"""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

from callshield.config import load_config
from callshield.serve import build_services
from callshield.read.signal import CallSignal
from callshield.store.calls import call_record
from tests.security.agi_peer import agi_call
from tests.security.rig import Serve, serve_config
from tests.support.service import eventually


@pytest.fixture
def services(tmp_path):
    config = load_config(None, env={}, overrides={"store.path": str(tmp_path / "cs.db"), "scoring.model": "rules",
                                                   "store.flush_interval": 0.02})
    services = build_services(config)
    yield services
    services.writer.close(1.0)


def a_call(services, n: int = 1) -> dict:
    signal = CallSignal(dialled="+442030009999", timestamp=time.time(), caller_number=f"+44791112{n:04d}")
    return call_record(services.screener.screen(signal))


def refuse_records(path) -> None:
    """Another process breaks the store: the writer's INSERTs now fail for good."""
    con = sqlite3.connect(path)
    con.execute("DROP TABLE calls")
    con.commit()
    con.close()


def test_spilled_records_make_the_probe_degraded_until_the_spill_file_is_imported(services, tmp_path):
    assert services.health() == "OK"
    refuse_records(tmp_path / "cs.db")
    services.record(a_call(services))
    assert services.writer.flush(5)
    assert services.writer.spilled == 1
    assert services.health() == "DEGRADED:call-records-spilled"
    services.writer.problem = None  # (only the spill file left to say so)
    assert services.health() == "DEGRADED:call-records-spilled"
    (tmp_path / "cs.db.unwritten.jsonl").rename(tmp_path / "imported.jsonl")
    assert services.health() == "OK"


def test_lost_records_make_the_probe_degraded(services, tmp_path):
    refuse_records(tmp_path / "cs.db")
    (tmp_path / "cs.db.unwritten.jsonl").mkdir()  # and the spill file cannot be written either
    services.record(a_call(services))
    assert services.writer.flush(5)
    assert services.writer.lost == 1
    assert services.health() == "DEGRADED:call-records-lost"


def test_a_store_deleted_under_the_writer_makes_the_probe_degraded_and_records_go_to_the_spill_file(services, tmp_path):
    (tmp_path / "cs.db").unlink()
    assert services.health() == "DEGRADED:store-missing"
    record = a_call(services)
    services.record(record)
    assert services.writer.flush(5)
    assert (services.writer.written, services.writer.spilled) == (0, 1)
    assert json.loads((tmp_path / "cs.db.unwritten.jsonl").read_text())["id"] == record["id"]


@pytest.mark.asyncio
async def test_health_probe_of_a_running_serve_whose_store_was_deleted(tmp_path):
    serve = Serve(tmp_path, serve_config(tmp_path)).start()
    try:
        probe = await agi_call(serve.port, "health")
        assert probe.variables["CALLSHIELD_HEALTH"] == "OK"
        serve.db_path.unlink()
        probe = await agi_call(serve.port, "health")
        assert probe.variables["CALLSHIELD_HEALTH"] == "DEGRADED:store-missing"
        call = await agi_call(serve.port)
        spill = serve.db_path.with_name(serve.db_path.name + ".unwritten.jsonl")
        await eventually(lambda: spill.exists() and call.call_id in spill.read_text(), 5, "the call in the spill file")
    finally:
        serve.stop()
    await eventually(lambda: "deleted or replaced under serve" in serve.log_text(), 1, "the CRITICAL line")

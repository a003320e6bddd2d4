"""serve's one poller (callshield/serve.py reload_state): each tick reads every version
counter in one query and reloads exactly what moved: the lists, the confirmed outcomes,
the route state. A tick where nothing moved runs that one query and nothing else."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Iterator

import pytest
import sqlite_utils

from callshield.config import load_config
from callshield.read.numbers import NumberIntel
from callshield.serve import build_services, poll_once, reload_state
from callshield.services import Services
from callshield.store import lists as list_store
from callshield.store import open_store, versions
from tests.support.service import eventually

DDI = "+442071234567"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    config = load_config(None, env={}, overrides={
        "store.path": str(tmp_path / "cs.db"), "store.reload_interval": 0.02, "scoring.model": "rules",
        "routing.numbers": {DDI: {"route": "PJSIP/agents", "fallback": "PJSIP/overflow"}}})
    services = build_services(config)
    yield services
    services.writer.close()
    services.control.close()


@pytest.fixture
def poller_db(services: Services) -> Iterator[tuple[sqlite_utils.Database, list[str]]]:
    """The poller's own connection, with every statement it runs recorded."""
    db = open_store(services.config.store.path, migrate=False)
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    yield db, statements
    db.close()


def bump(services: Services, counter: str) -> None:
    """Another process (the CLI) announces a change to ``counter``."""
    other = open_store(services.config.store.path, migrate=False)
    with other.conn:
        versions.bump(other, counter)
    other.close()


def tick(services: Services, db: sqlite_utils.Database) -> tuple[int, float]:
    return asyncio.run(poll_once(services, db, (services.outcomes_version, services.outcomes_upto)))


def test_an_unchanged_tick_reads_the_counters_once_and_does_nothing(services, poller_db, caplog):
    db, statements = poller_db
    lists, state = services.screener.lists, services.screener.routes.state

    with caplog.at_level(logging.DEBUG, "callshield"):
        seen = tick(services, db)

    assert len(statements) == 1 and "FROM meta" in statements[0]
    assert seen == (services.outcomes_version, services.outcomes_upto)
    assert services.screener.lists is lists and services.screener.routes.state is state
    assert not [r for r in caplog.records if r.name in ("callshield.serve", "callshield.dialplan")]


@pytest.mark.parametrize("counter", versions.COUNTERS)
def test_a_moved_counter_triggers_exactly_its_reload(services, poller_db, caplog, counter):
    db, statements = poller_db
    lists, state = services.screener.lists, services.screener.routes.state
    bump(services, counter)

    with caplog.at_level(logging.INFO, "callshield"):
        seen = tick(services, db)

    assert "FROM meta" in statements[0]
    assert (services.screener.lists is not lists) == (counter == versions.LISTS)
    assert (seen[0] != services.outcomes_version) == (counter == versions.OUTCOMES)
    assert (services.screener.routes.state is not state) == (counter == versions.ROUTES)
    logged = caplog.text
    assert ("lists reloaded: version 1 (0 allow, 0 deny)" in logged) == (counter == versions.LISTS)
    assert ("learned 0 newly confirmed outcome(s) (0 fraud); outcomes version 1" in logged) == (counter == versions.OUTCOMES)
    assert ("route state v1 loaded" in logged) == (counter == versions.ROUTES)


def test_the_counters_are_read_in_one_query_and_a_counter_never_bumped_is_zero(services, poller_db):
    db, statements = poller_db
    bump(services, versions.ROUTES)
    bump(services, versions.ROUTES)

    assert versions.current_all(db) == {versions.LISTS: 0, versions.ROUTES: 2, versions.OUTCOMES: 0}
    assert len(statements) == 1


def test_a_failed_counter_read_is_logged_and_keeps_everything_in_memory(services, poller_db, caplog, monkeypatch):
    db, statements = poller_db
    lists, state = services.screener.lists, services.screener.routes.state
    bump(services, versions.LISTS)

    def locked(_db: sqlite_utils.Database) -> dict[str, int]:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(versions, "current_all", locked)
    with caplog.at_level(logging.ERROR, "callshield.serve"):
        seen = tick(services, db)

    assert seen == (services.outcomes_version, services.outcomes_upto) and statements == []
    assert services.screener.lists is lists and services.screener.routes.state is state
    assert "reading the store's version counters failed; keeping the lists, outcomes and route state in memory" in caplog.text


def test_the_running_poller_loads_a_list_change_from_another_process(services, caplog):
    intel = NumberIntel(services.config.scoring.home_country)

    async def run() -> None:
        poller = asyncio.create_task(reload_state(services))
        other = open_store(services.config.store.path, migrate=False)
        list_store.add(other, intel, "deny", "+441614960001", "confirmed fraud")
        other.close()
        try:
            await eventually(lambda: services.screener.lists.deny, 5, "the poller to load the new deny list")
        finally:
            poller.cancel()
            with pytest.raises(asyncio.CancelledError):
                await poller

    with caplog.at_level(logging.INFO, "callshield.serve"):
        asyncio.run(run())

    assert list(services.screener.lists.deny) == ["+441614960001"]
    assert "lists reloaded: version 1 (0 allow, 1 deny)" in caplog.text

"""Shared fixtures: the real Asterisk sandbox, a real ``callshield serve``, SIP agents."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from tests.support.asterisk import AMI_SECRET, AMI_USER, Asterisk, Ports, SandboxUnavailable, provision
from tests.support.ami import AmiClient
from tests.support.service import CallshieldProcess
from tests.support.sip import SipUAC, SipUAS

IN_CI = os.environ.get("CI", "").lower() == "true"


def callshield_config(ports: Ports, store: Path, **overrides: object) -> dict:
    config = {
        "agi": {"host": "127.0.0.1", "port": ports.agi, "command_timeout": 1.0, "session_timeout": 3.0},
        "store": {"path": str(store), "flush_interval": 0.05, "reload_interval": 0.1},
        "logging": {"level": "INFO"},
        # The routing tests need the transparent rule scorer's exact scores; the bundled
        # model is exercised through Asterisk in test_model_asterisk.py.
        "scoring": {"home_country": "GB", "trust_verstat_from": ["127.0.0.0/8"], "model": "rules"},
        "routing": {
            "default": {"high_risk": {"action": "divert", "destination": "PJSIP/fraudteam"}},
            "numbers": {
                "+442070000100": {"route": "PJSIP/agents", "fallback": "PJSIP/overflow"},
                "+442070000200": {"high_risk": {"action": "reject"}},
                "+442070000300": {"high_risk": {"max_per_hour": 1}},
            },
            # Short waits for keyed digits: a test that fails to key fails fast.
            "access": {"digit_timeout": 3},
        },
    }
    config.update(overrides)
    return config


@pytest.fixture(scope="session")
def asterisk() -> Iterator[Asterisk]:
    try:
        ast = Asterisk(provision(), Ports())
        ast.start()
    except (SandboxUnavailable, OSError) as exc:
        if IN_CI:
            pytest.fail(f"the real-Asterisk sandbox is required under CI=true: {exc}")
        pytest.skip(f"real-Asterisk sandbox unavailable: {exc}")
    try:
        yield ast
    finally:
        ast.stop()


@pytest.fixture(scope="session")
def callshield(asterisk: Asterisk, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CallshieldProcess]:
    workdir = tmp_path_factory.mktemp("callshield")
    proc = CallshieldProcess(workdir, callshield_config(asterisk.ports, workdir / "var" / "callshield.db")).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest_asyncio.fixture
async def ami(asterisk: Asterisk) -> AsyncIterator[AmiClient]:
    client = AmiClient("127.0.0.1", asterisk.ports.ami)
    await client.connect(AMI_USER, AMI_SECRET)
    try:
        yield client
    finally:
        await client.setvar("CALLSHIELD_AGI", f"agi://127.0.0.1:{asterisk.ports.agi}")
        await client.close()


@pytest_asyncio.fixture
async def agents(asterisk: Asterisk) -> AsyncIterator[SipUAS]:
    async with SipUAS(port=asterisk.ports.agents) as uas:
        yield uas


@pytest_asyncio.fixture
async def fraudteam(asterisk: Asterisk) -> AsyncIterator[SipUAS]:
    async with SipUAS(port=asterisk.ports.fraudteam) as uas:
        yield uas


@pytest_asyncio.fixture
async def overflow(asterisk: Asterisk) -> AsyncIterator[SipUAS]:
    async with SipUAS(port=asterisk.ports.overflow) as uas:
        yield uas


@pytest_asyncio.fixture
async def drsite(asterisk: Asterisk) -> AsyncIterator[SipUAS]:
    """The disaster-recovery site a dial plan diverts to."""
    async with SipUAS(port=asterisk.ports.drsite) as uas:
        yield uas


@pytest_asyncio.fixture
async def staffphone(asterisk: Asterisk) -> AsyncIterator[SipUAS]:
    """Wherever a member of staff is: personal overrides ring it (any number)."""
    async with SipUAS(port=asterisk.ports.staffphone) as uas:
        yield uas


@pytest_asyncio.fixture
async def caller() -> AsyncIterator[SipUAC]:
    async with SipUAC() as uac:
        yield uac


_serial = itertools.count(1)


@pytest.fixture
def numbers() -> dict[str, str]:
    """A fresh dialled number and caller per test, so repeat-call history never leaks."""
    n = next(_serial)
    return {"ddi": f"+44203000{n:04d}", "caller": f"+44161496{n:04d}", "caller2": f"+44113496{n:04d}"}

"""Fixtures of the fast unit tests: configs, call signals, screeners, stores, PASSporTs.

Numbers used throughout (Ofcom/NANP drama ranges where they exist):
DDI +442071234567 (London, the number we answer), GB callers +442079460000 and
+441614960000, a US caller +12025550143. Timestamps start at T0 and are explicit.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import sqlite_utils

from callshield.config import Config, load_config
from callshield.screening.lists import ListSnapshot
from callshield.read.numbers import NumberIntel
from callshield.screening.screener import Screener
from callshield.read.signal import CallSignal
from callshield.store import open_store

DDI = "+442071234567"
T0 = 1_795_000_000.0


@pytest.fixture(autouse=True)
def _no_callshield_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own CALLSHIELD_* variables must not leak into any test's config."""
    for name in list(os.environ):
        if name.startswith("CALLSHIELD_"):
            monkeypatch.delenv(name)


@pytest.fixture
def config_file(tmp_path: Path) -> Callable[..., Path]:
    """Write YAML text (or bytes) to a file in tmp_path and return its path."""

    def write(content: str | bytes, name: str = "callshield.yaml") -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write


@pytest.fixture
def make_config(config_file: Callable[..., Path]) -> Callable[..., Config]:
    """A validated Config from optional YAML text and dotted overrides; no environment."""

    def make(yaml_text: str | None = None, overrides: dict[str, Any] | None = None) -> Config:
        path = config_file(yaml_text) if yaml_text is not None else None
        return load_config(path, env={}, overrides=overrides)

    return make


@pytest.fixture(scope="session")
def intel() -> NumberIntel:
    return NumberIntel("GB")


@pytest.fixture
def make_screener(intel: NumberIntel, make_config: Callable[..., Config]) -> Callable[..., Screener]:
    """A Screener with deterministic call ids ('call-1', 'call-2', ...); by default it
    trusts verstat from the test calls' source network (198.51.100.0/24)."""

    def make(config: Config | None = None, *, lists: ListSnapshot | None = None) -> Screener:
        config = config or make_config(overrides={"scoring.trust_verstat_from": ["198.51.100.0/24"]})
        ids = (f"call-{n}" for n in itertools.count(1))
        return Screener(config, intel=intel if config.scoring.home_country == "GB" else None, lists=lists, new_id=lambda: next(ids))

    return make


@pytest.fixture
def screener(make_screener: Callable[..., Screener]) -> Screener:
    return make_screener()


@pytest.fixture
def call() -> Callable[..., CallSignal]:
    """A call signal to the DDI at T0 + ``at`` seconds; keyword fields override."""

    def make(at: float = 0.0, **fields: Any) -> CallSignal:
        fields.setdefault("dialled", DDI)
        fields.setdefault("source_ip", "198.51.100.7")
        return CallSignal(timestamp=T0 + at, **fields)

    return make


def _b64url(obj: Any) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture
def make_identity() -> Callable[..., str]:
    """An Identity header carrying a SHAKEN PASSporT (fake signature: nothing verifies it).

    ``attest=None`` leaves the attest claim out; ``claims``/``jose`` replace the parts.
    """

    def make(attest: str | None = "A", *, claims: Any = None, jose: Any = None,
             params: str = ";info=<https://cert.example.org/sti.pem>;alg=ES256;ppt=shaken") -> str:
        if jose is None:
            jose = {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": "https://cert.example.org/sti.pem"}
        if claims is None:
            claims = {"dest": {"tn": ["442071234567"]}, "iat": 1795000000, "orig": {"tn": "12025550143"},
                      "origid": "123e4567-e89b-12d3-a456-426614174000"}
            if attest is not None:
                claims["attest"] = attest
        signature = _b64url(b"\x30\x44" + bytes(range(66)))
        return f"{_b64url(jose)}.{_b64url(claims)}.{signature}{params}"

    return make


@pytest.fixture
def db() -> Iterator[sqlite_utils.Database]:
    store = open_store(":memory:")
    yield store
    store.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "callshield.db"

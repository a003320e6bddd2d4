"""Run the real ``callshield serve`` as a subprocess for integration tests."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Coroutine, TypeVar

import yaml

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


async def eventually(predicate: Callable[[], Any], timeout: float = 5.0, what: str = "the condition",
                     interval: float = 0.01) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned), or raise
    ``TimeoutError`` after ``timeout``: the tests' one wait. Awaited, it keeps the event
    loop turning (the test's SIP phones and AMI readers go on); sync code runs it with
    ``blocking``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


def blocking(wait: Coroutine[Any, Any, T]) -> T:
    """Run ``wait`` (an ``eventually``) to the end from sync code (a fixture, ``start``,
    ``call_record``), blocking the caller. Under a running loop (a sync helper called
    from an async test) it runs on a private loop in a worker thread, so its predicate
    must only read what is safe from another thread: another process's files, ports, logs."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, wait).result()


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class CallshieldProcess:
    def __init__(self, workdir: Path, config: dict[str, Any], env: dict[str, str] | None = None):
        self.workdir = workdir
        self.config = config
        self.env = env or {}
        self.config_path = workdir / "callshield.yaml"
        self.log_path = workdir / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        return int(self.config["agi"]["port"])

    @property
    def db_path(self) -> Path:
        return Path(self.config["store"]["path"])

    def start(self, timeout: float = 20.0) -> "CallshieldProcess":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config))
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "callshield", "serve", "--config", str(self.config_path)],
            cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
        )
        blocking(eventually(lambda: self.proc.poll() is not None or port_open(self.port), timeout, "callshield serve to listen"))
        if self.proc.poll() is not None:
            raise RuntimeError(f"callshield serve exited with {self.proc.returncode}:\n{self.log_text()}")
        return self

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def call_record(self, where: str, params: list[Any], timeout: float = 5.0) -> dict[str, Any]:
        """Poll the store until a call row matches ``where`` (parameterised)."""

        def find() -> dict[str, Any] | None:
            if not self.db_path.exists():
                return None
            con = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=2)
            con.row_factory = sqlite3.Row
            try:
                row = con.execute(f"SELECT * FROM calls WHERE {where} ORDER BY ts DESC LIMIT 1", params).fetchone()
            except sqlite3.OperationalError:
                return None
            finally:
                con.close()
            if row is None:
                return None
            record = dict(row)
            for key in ("signal", "features", "reasons", "timings"):
                record[key] = json.loads(record[key])
            return record

        return blocking(eventually(find, timeout, f"a call record where {where} {params}"))


def established(port: int) -> int:
    """Established TCP connections to 127.0.0.1:``port`` (from /proc/net/tcp)."""
    n = 0
    with open("/proc/net/tcp") as fh:
        for line in list(fh)[1:]:
            parts = line.split()
            local, state = parts[1], parts[3]
            if state == "01" and int(local.split(":")[1], 16) == port:
                n += 1
    return n

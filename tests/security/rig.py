"""A real ``callshield serve`` for the security tests: loopback, a fresh store, the rule
scorer (fast start), optionally under resource limits (open files)."""

from __future__ import annotations

import os
import resource
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.support.asterisk import free_port
from tests.support.service import CallshieldProcess, blocking, eventually, port_open


def serve_config(workdir: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {
        "agi": {"host": "127.0.0.1", "port": free_port(), "command_timeout": 2.0, "session_timeout": 3.0},
        "store": {"path": str(workdir / "var" / "callshield.db"), "flush_interval": 0.05, "reload_interval": 0.2},
        "logging": {"level": "INFO"},
        "scoring": {"model": "rules"},
    }
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values}
    return config


class Serve(CallshieldProcess):
    """CallshieldProcess with an optional RLIMIT_NOFILE (soft, hard) for the child."""

    def __init__(self, workdir: Path, config: dict[str, Any], nofile: tuple[int, int] | None = None):
        super().__init__(workdir, config, env={"PYTHONFAULTHANDLER": "1"})  # a crash leaves every thread's stack in the log
        self.nofile = nofile

    def start(self, timeout: float = 20.0) -> "Serve":
        if self.nofile is None:
            super().start(timeout)
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config))
        limits = self.nofile
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "callshield", "serve", "--config", str(self.config_path)],
                cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
                preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, limits),
            )
        blocking(eventually(lambda: self.proc.poll() is not None or port_open(self.port), timeout, "callshield serve to listen"))
        if self.proc.poll() is not None:
            raise RuntimeError(f"callshield serve exited with {self.proc.returncode}:\n{self.log_text()}")
        return self


def stored_ids(db: Path) -> set[str]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return {row[0] for row in con.execute("SELECT id FROM calls")}
    finally:
        con.close()

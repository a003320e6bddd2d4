"""The runtime goes without the training stack (issue 10, item 7).

`pip install callshield` installs what serve and the CLI need; lightgbm and numpy (and
scipy through lightgbm) come with the ``train`` extra, panoramisk with ``bench``. Here
each command runs in a child Python where those packages cannot be imported, as in a
runtime-only install, and aiohttp cannot either (it is loaded only with lookup.url
set). The child also reports which of them, and which training or simulation modules,
it loaded.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

# Absent in a runtime install (aiohttp is installed, but must not load without lookup.url).
ABSENT = ("lightgbm", "numpy", "scipy", "pandas", "panoramisk", "aiohttp")
OFFLINE = ("callshield.training",)  # the offline package: train, evaluate, replay, simulate, sim_*

# Run before callshield: make ABSENT unimportable, report at exit what was loaded.
PRELUDE = f"""
import atexit, json, os, sys
ABSENT, OFFLINE = {ABSENT!r}, {OFFLINE!r}
sys.modules.update(dict.fromkeys(ABSENT))  # None: import raises ModuleNotFoundError, find_spec gives None
def _report():
    loaded = (m for m, module in sys.modules.items() if module is not None)
    with open(os.environ["LOADED_REPORT"], "w") as f:
        json.dump(sorted(m for m in loaded if m.split(".")[0] in ABSENT or m.startswith(OFFLINE)), f)
atexit.register(_report)
from callshield.cli import main
main()
"""

SIGNAL = {"dialled": "+442071234567", "caller_number": "+12025550143", "timestamp": "2026-11-02T10:00:00Z"}


@pytest.fixture
def runtime(tmp_path: Path):
    """Run ``callshield ARGS`` in a child with the training stack (and aiohttp) absent."""
    (tmp_path / "callshield.yaml").write_text(f"store:\n  path: {tmp_path / 'var' / 'callshield.db'}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSHIELD_")}
    env["LOADED_REPORT"] = str(tmp_path / "loaded.json")

    def popen(*args: str, **kwargs) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-c", PRELUDE, *args], cwd=tmp_path, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)

    def loaded() -> list[str]:
        return json.loads((tmp_path / "loaded.json").read_text())

    return popen, loaded


def test_serve_starts_without_the_training_stack(runtime) -> None:
    popen, loaded = runtime
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = popen("serve", "--host", "127.0.0.1", "--port", str(port))
    try:
        log = []
        for line in proc.stderr:  # type: ignore[union-attr]
            log.append(line)
            if "serving FastAGI" in line:
                break
        else:
            pytest.fail("serve exited before serving:\n" + "".join(log))
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = "".join(log) + rest
    assert proc.returncode == 0, text
    assert "scorer lightgbm:" in text  # the bundled model, through the compiled trees
    assert "Traceback" not in text
    assert loaded() == []


def test_cli_scores_and_reads_lists_without_the_training_stack(runtime) -> None:
    popen, loaded = runtime
    out, err = popen("score", "--ephemeral", stdin=subprocess.PIPE).communicate(json.dumps(SIGNAL), timeout=60)
    assert err == "" and json.loads(out)["RISK_STATUS"] in ("SAFE", "SUSPICIOUS", "HIGH_RISK")
    assert loaded() == []
    proc = popen("lists", "show", "deny")
    assert proc.communicate(timeout=60) == ("", "") and proc.returncode == 0
    assert loaded() == []


@pytest.mark.parametrize("command", [["train", "--data", "calls.jsonl", "--out", "model.txt"],
                                     ["eval", "--data", "calls.jsonl", "--model", "bundled"]])
def test_training_commands_name_the_train_extra(runtime, tmp_path: Path, command: list[str]) -> None:
    popen, _ = runtime
    (tmp_path / "calls.jsonl").write_text(json.dumps({**SIGNAL, "label": "genuine"}) + "\n")
    proc = popen(*command)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "not installed; training and evaluation need the train extra: pip install 'callshield[train]'" in err

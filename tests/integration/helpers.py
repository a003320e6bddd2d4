"""Builders for the signalling the integration tests send, and the real CLI run against
a running serve."""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import sys
import time

from tests.support.service import blocking, eventually


def b64url(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).rstrip(b"=").decode()


def identity_header(attest: str, orig: str, dest: str, *, iat: int | None = None) -> str:
    """A SHAKEN PASSporT in an Identity header (signature not valid: callshield decodes, the carrier verifies)."""
    jose = {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": "https://cert.example.net/sp.pem"}
    claims = {
        "attest": attest,
        "dest": {"tn": [dest.lstrip("+")]},
        "iat": iat if iat is not None else int(time.time()),
        "orig": {"tn": orig.lstrip("+")},
        "origid": "4437c7eb-8f7a-4f0e-a863-f53a0e60251a",
    }
    sig = base64.urlsafe_b64encode(b"\x01" * 64).rstrip(b"=").decode()
    return f"{b64url(jose)}.{b64url(claims)}.{sig};info=<https://cert.example.net/sp.pem>;alg=ES256;ppt=shaken"


def pai(number: str, verstat: str | None = None) -> str:
    params = f";verstat={verstat}" if verstat else ""
    return f"<sip:{number}@127.0.0.1;user=phone{params}>"


def header_params(value: str | None) -> dict[str, str]:
    """'score=92;status=HIGH_RISK;reasons=A,B' -> dict (the X-CallShield-* header shape)."""
    out: dict[str, str] = {}
    for i, part in enumerate((value or "").split(";")):
        key, sep, val = part.partition("=")
        out[key if sep else f"_{i}"] = val if sep else key
    return out


def route_reason(inbound) -> str:
    """ROUTE_REASON as a delivered call's X-CallShield-Route header carries it."""
    return header_params(inbound.header("X-CallShield-Route"))["reason"]


def cli(proc, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real ``callshield`` command with the running serve's configuration."""
    return subprocess.run([sys.executable, "-m", "callshield", *args, "--config", str(proc.config_path)],
                          capture_output=True, text=True, timeout=30, cwd=proc.workdir, input=stdin)


def add_to_list(proc, which: str, number: str, reason: str = "") -> None:
    """``callshield lists add`` through the real CLI, then wait until the running serve has
    reloaded that lists version."""
    added = cli(proc, "lists", "add", which, number, "--reason", reason)
    assert added.returncode == 0, added.stderr
    con = sqlite3.connect(f"file:{proc.db_path}?mode=ro", uri=True)
    try:
        version = con.execute("SELECT value FROM meta WHERE key = 'lists_version'").fetchone()[0]
    finally:
        con.close()
    blocking(eventually(lambda: f"lists reloaded: version {version} " in proc.log_text(), 5, f"serve to load lists version {version}"))


def deny(proc, number: str, reason: str = "") -> None:
    add_to_list(proc, "deny", number, reason)

#!/usr/bin/env python3
"""A classic per-call AGI screening script: the baseline of bench/agi_screen.py.

This is what most Asterisk admins run today, in the form they usually write it:
``exten => _X.,1,AGI(screen.py,${EXTEN})`` starts a fresh Python process for every
inbound call; the script reads the ``agi_*`` environment from stdin, fetches the SIP
headers it needs one ``GET FULL VARIABLE`` at a time, applies a few rules, sets the
result with ``SET VARIABLE`` and logs the call to SQLite before it exits.

Plain Python standard library only, so the comparison is fair to the baseline (no
third-party imports to pay for at start-up). It is NOT part of callshield.

Environment: PERCALL_AGI_DB names the SQLite file (default /var/lib/asterisk/screen.db).
"""

import base64
import json
import os
import re
import sqlite3
import sys
import time

DB_PATH = os.environ.get("PERCALL_AGI_DB", "/var/lib/asterisk/screen.db")
REPEAT_WINDOW = 600
HOME_PREFIX = "+44"

# (name, dialplan expression): one AGI round trip each.
READS = (
    ("from", "${PJSIP_HEADER(read,From)}"),
    ("pai", "${PJSIP_HEADER(read,P-Asserted-Identity)}"),
    ("privacy", "${PJSIP_HEADER(read,Privacy)}"),
    ("identity", "${PJSIP_HEADER(read,Identity)}"),
    ("user_agent", "${PJSIP_HEADER(read,User-Agent)}"),
    ("via", "${PJSIP_HEADER(read,Via)}"),
    ("presentation", "${CALLERID(pres)}"),
    ("source", "${CHANNEL(pjsip,remote_addr)}"),
)
URI_USER_RE = re.compile(r"<?(?:sips?|tel):([^@;>]+)")
VERSTAT_RE = re.compile(r"verstat=([A-Za-z-]+)", re.I)
ATTEST_RE = re.compile(r'"attest"\s*:\s*"([ABC])"')
SCANNER_UA_RE = re.compile(r"friendly-scanner|sipvicious|sipcli|VaxSIPUserAgent", re.I)


def read_env():
    env = {}
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line:
            break
        key, _, value = line.partition(":")
        env[key.strip()] = value.strip()
    return env


def agi(command):
    sys.stdout.write(command + "\n")
    sys.stdout.flush()
    reply = sys.stdin.readline().strip()
    if not reply.startswith("200"):
        sys.stderr.write("AGI command failed: %s -> %s\n" % (command, reply))
        return None
    start, end = reply.find("("), reply.rfind(")")
    return reply[start + 1:end] if start != -1 and end > start else ""


def get_var(expression):
    return agi('GET FULL VARIABLE "%s"' % expression) or ""


def set_var(name, value):
    agi('SET VARIABLE %s "%s"' % (name, str(value).replace("\\", "\\\\").replace('"', '\\"')))


def number_from(header):
    m = URI_USER_RE.search(header or "")
    if not m:
        return ""
    user = m.group(1)
    if user.lower() in ("anonymous", "restricted", "unknown", "private"):
        return ""
    digits = re.sub(r"[^0-9+]", "", user)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    elif digits.startswith("0"):
        digits = HOME_PREFIX + digits[1:]
    elif digits and not digits.startswith("+"):
        digits = "+" + digits
    return digits


def attestation(headers):
    m = VERSTAT_RE.search(headers["pai"]) or VERSTAT_RE.search(headers["from"])
    if m and m.group(1).lower().startswith("tn-validation-passed"):
        level = ATTEST_RE.search(_payload(headers["identity"]))
        return "A" if level is None else level.group(1)
    if headers["identity"]:
        level = ATTEST_RE.search(_payload(headers["identity"]))
        return "unverified-" + (level.group(1) if level else "?")
    return "none"


def _payload(identity):
    parts = identity.split(";", 1)[0].split(".")
    if len(parts) != 3:
        return ""
    try:
        return base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)).decode("utf-8", "replace")
    except ValueError:
        return ""


def main():
    env = read_env()
    ddi = sys.argv[1] if len(sys.argv) > 1 else env.get("agi_arg_1", env.get("agi_extension", ""))
    headers = {name: get_var(expr) for name, expr in READS}

    caller = number_from(headers["pai"]) or number_from(headers["from"]) or env.get("agi_callerid", "")
    if caller.lower() in ("unknown", "anonymous"):
        caller = ""
    withheld = headers["presentation"].startswith("prohib") or "id" in headers["privacy"].lower()

    db = sqlite3.connect(DB_PATH, timeout=10)
    db.execute(
        "CREATE TABLE IF NOT EXISTS calls (ts REAL, uniqueid TEXT, caller TEXT, ddi TEXT, withheld INTEGER,"
        " score INTEGER, status TEXT, attestation TEXT, headers TEXT)"
    )
    recent = db.execute(
        "SELECT COUNT(*) FROM calls WHERE caller = ? AND ddi = ? AND ts > ?", (caller, ddi, time.time() - REPEAT_WINDOW)
    ).fetchone()[0] if caller else 0

    att = attestation(headers)
    score, reasons = 0, []
    if withheld:
        score, reasons = score + 40, reasons + ["withheld"]
    if not caller and not withheld:
        score, reasons = score + 30, reasons + ["no_caller_id"]
    if caller and not caller.startswith(HOME_PREFIX):
        score, reasons = score + 20, reasons + ["international"]
    if recent >= 3:
        score, reasons = score + 15, reasons + ["repeat_calls"]
    if att.startswith("unverified") or att == "none":
        score, reasons = score + 10, reasons + ["no_attestation"]
    if SCANNER_UA_RE.search(headers["user_agent"]):
        score, reasons = score + 50, reasons + ["scanner"]
    score = min(score, 100)
    status = "high_risk" if score >= 85 else "suspicious" if score >= 75 else "low_risk"

    set_var("RISK_SCORE", score)
    set_var("RISK_STATUS", status)
    set_var("RISK_REASONS", ",".join(reasons))
    set_var("ROUTE_ACTION", "reject" if status == "high_risk" else "deliver")

    db.execute(
        "INSERT INTO calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (time.time(), env.get("agi_uniqueid", ""), caller, ddi, int(withheld), score, status, att, json.dumps(headers)),
    )
    db.commit()
    db.close()


if __name__ == "__main__":
    main()

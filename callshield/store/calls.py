"""Call records: what a screening becomes in the ``calls`` table, and the way back."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Iterator

import sqlite_utils

from callshield.history import Observation
from callshield.screening import Screening


def call_record(s: Screening, timings: dict[str, float] | None = None) -> dict[str, Any]:
    d, f = s.decision, s.facts
    features = {
        "caller_region": f.caller.region if f.caller else "",
        "caller_valid": bool(f.caller and f.caller.valid),
        "caller_line_type": f.caller.line_type if f.caller else "N/A",
        "dialled_region": f.dialled.region,
        "withheld": f.withheld,
        "no_caller_id": f.no_caller_id,
        "international": f.international,
        "cli_mismatch": f.cli_mismatch,
        "identity_present": f.identity.present,
        "attestation_level": f.attestation.level or "",
        "attestation_source": f.attestation.source,
        "problems": list(f.problems),
        **{f"velocity_{k}": v for k, v in dataclasses.asdict(s.velocity).items()},
    }
    return {
        "id": d.call_id,
        "ts": s.signal.timestamp,
        "uniqueid": s.signal.uniqueid,
        "channel": s.signal.channel,
        "dialled": f.dialled.key,
        "caller_key": f.caller.key if f.caller else "",
        "caller_number": s.signal.caller_number,
        "withheld": int(f.withheld),
        "score": d.score,
        "status": d.status,
        "reasons": json.dumps([r.to_dict() for r in d.reasons]),
        "attestation": d.attestation,
        "spoof_status": d.spoof_status,
        "spoof_verified": int(d.spoof_verified),
        "route_action": d.route_action,
        "route": d.route,
        "route_fallback": d.route_fallback,
        "route_reason": d.route_reason,
        "announcement": d.announcement,
        "scorer": d.scorer,
        "signal": json.dumps(s.signal.to_dict()),
        "features": json.dumps(features),
        "timings": json.dumps({"score_us": round(s.elapsed_us, 1), **(timings or {})}),
    }


def observations_since(db: sqlite_utils.Database, since: float) -> Iterator[Observation]:
    """The calls the repeat-call history needs after a restart, oldest first."""
    rows = db.execute("SELECT ts, caller_key, dialled, withheld FROM calls WHERE ts > ? ORDER BY ts", [since])
    for ts, caller_key, dialled, withheld in rows:
        yield Observation(ts, caller_key or None, dialled, bool(withheld))


def get(db: sqlite_utils.Database, call_id: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM calls WHERE id = ?", [call_id]))
    return rows[0] if rows else None

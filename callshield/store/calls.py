"""Call records: what a screening becomes in the ``calls`` table, and the way back."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Iterator

import orjson
import sqlite_utils

from callshield.models.memory import CallKeys
from callshield.screening.screener import Screening

CALL_COLUMNS = (
    "id", "ts", "uniqueid", "channel", "dialled", "caller_key", "caller_number", "withheld", "score", "status",
    "reasons", "attestation", "spoof_status", "spoof_verified", "route_action", "route", "route_fallback",
    "route_reason", "announcement", "scorer", "signal", "features", "timings", "caller_profile", "insights",
)
INSERT_CALL = f"INSERT OR REPLACE INTO calls ({', '.join(CALL_COLUMNS)}) VALUES ({', '.join('?' * len(CALL_COLUMNS))})"


@dataclasses.dataclass(frozen=True)
class PendingCall:
    """A screened call queued for the writer; it becomes a record on the writer's thread,
    so the serialisation cost stays off the event loop. ``journal``: the call-journal
    segment holding its decision (0: none), released once the record is stored."""

    screening: Screening
    timings: dict[str, Any]
    journal: int = 0

    def to_record(self) -> dict[str, Any]:
        return call_record(self.screening, self.timings)


def dumps(value: Any) -> str:
    """JSON text for a record's column. orjson: a tenth of ``json.dumps``' CPU on the
    writer thread (which shares the event loop's core); the stdlib for what orjson refuses
    (a lone surrogate, a non-string key), so no record is ever refused for its JSON."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def row_of(record: dict[str, Any]) -> tuple[Any, ...]:
    """The record as an INSERT_CALL row; a record with other keys is refused."""
    if record.keys() != set(CALL_COLUMNS):
        extra, missing = sorted(record.keys() - set(CALL_COLUMNS)), sorted(set(CALL_COLUMNS) - record.keys())
        raise ValueError(f"not a call record (unknown keys {extra}, missing {missing})")
    return tuple(record[c] for c in CALL_COLUMNS)


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
        # Why the allow list could or could not match (docs/security.md#which-identities-are-trusted).
        "allow_identity": f.allow_identity.number,
        "allow_trust": f.allow_identity.basis or f.allow_identity.refused,
        "problems": list(f.problems),
        "velocity_caller_to_dialled": s.velocity.caller_to_dialled,
        "velocity_caller_any": s.velocity.caller_any,
        "velocity_withheld_to_dialled": s.velocity.withheld_to_dialled,
        "velocity_dialled_numbers_by_caller": s.velocity.dialled_numbers_by_caller,
        "rule_score": s.rule_score,
        "trait": s.dna.keys.trait if s.dna else "",
        "dna": {k: (None if v != v else v) for k, v in s.dna.features.items()} if s.dna else {},
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
        "reasons": dumps([r.to_dict() for r in d.reasons]),
        "attestation": d.attestation,
        "spoof_status": d.spoof_status,
        "spoof_verified": int(d.spoof_verified),
        "route_action": d.route_action,
        "route": d.route,
        "route_fallback": d.route_fallback,
        "route_reason": d.route_reason,
        "announcement": d.announcement,
        "scorer": d.scorer,
        "signal": dumps(s.signal.to_dict()),
        "features": dumps(features),
        "timings": dumps({"score_us": round(s.elapsed_us, 1), **(timings or {})}),
        "caller_profile": d.caller_profile,
        "insights": dumps(s.insights.channel_variables()),
    }


def memory_since(db: sqlite_utils.Database, since: float) -> Iterator[tuple[CallKeys, str]]:
    """The calls the one in-memory store of call observations (models.memory.CallMemory)
    is rebuilt from at start-up, oldest first, in one read: each call's keys and, for a
    call diverted by risk policy, its divert destination (else ""). Drills are left out."""
    rows = db.execute(
        "SELECT ts, caller_key, caller_profile, json_extract(features, '$.trait'), dialled,"
        " json_extract(signal, '$.source_ip'), withheld, route_action, route FROM calls"
        " WHERE ts > ? AND scorer != 'drill' ORDER BY ts", [since])
    for ts, caller_key, profile, trait, dialled, source, withheld, action, route in rows:
        yield (CallKeys(ts, caller_key or None, profile or "", trait or "", dialled, source or "", bool(withheld)),
               route if action == "divert" else "")


def route_reason_of(db: sqlite_utils.Database, uniqueid: str) -> str | None:
    """The ROUTE_REASON of the newest call with this Asterisk uniqueid; None if none is stored yet."""
    row = db.execute("SELECT route_reason FROM calls WHERE uniqueid = ? ORDER BY ts DESC LIMIT 1", [uniqueid]).fetchone()
    return row[0] if row else None


def insert_records(db: sqlite_utils.Database, records: list[dict[str, Any]]) -> None:
    """Store call records (as ``call_record`` makes them) in one transaction, replacing
    any with the same id: ``callshield score``. serve writes through store/writer.py."""
    with db.conn:
        db["calls"].insert_all(records, pk="id", replace=True, batch_size=500)


def get(db: sqlite_utils.Database, call_id: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM calls WHERE id = ?", [call_id]))
    return rows[0] if rows else None

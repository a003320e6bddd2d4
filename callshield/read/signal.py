"""The call signal: everything callshield reads of one inbound call, as plain data.

It is the input of the scoring core, the line format of ``callshield score`` and of
simulated corpora, and what the store keeps per call. docs/call-signal.md is its schema.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from callshield.errors import SignalError

MAX_FIELD_CHARS = 8192
MAX_VIA = 8
MAX_HEADER_NAMES = 64
MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z


@dataclass(frozen=True)
class CallSignal:
    dialled: str
    timestamp: float
    caller_number: str = ""
    caller_name: str = ""
    presentation: str = ""
    from_header: str = ""
    pai: str = ""
    privacy: str = ""
    identity: str = ""
    user_agent: str = ""
    diversion: str = ""
    via: tuple[str, ...] = ()
    header_names: tuple[str, ...] = ()
    max_forwards: str = ""
    contact: str = ""
    codecs: str = ""
    source_ip: str = ""
    source_port: int | None = None
    sip_call_id: str = ""
    channel: str = ""
    uniqueid: str = ""
    channel_state: str = ""
    call_id: str = ""
    drill: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = {name: getattr(self, name) for name in _FIELDS}
        d["via"] = list(self.via)
        d["header_names"] = list(self.header_names)
        return d

    @classmethod
    def from_dict(cls, data: Any, *, now: float | None = None) -> "CallSignal":
        """Validate a decoded JSON object; raise SignalError naming the bad field."""
        if not isinstance(data, dict):
            raise SignalError(f"a call signal must be a JSON object, not {type(data).__name__}")
        known = _FIELDS
        unknown = sorted(set(data) - set(known) - _IGNORED)
        if unknown:
            raise SignalError(f"unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        if not data.get("dialled"):
            raise SignalError("field 'dialled' is required: the dialled number (DDI) the call arrived on")
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            if name in _IGNORED or (name == "timestamp" and value is None):
                continue
            kwargs[name] = _coerce(name, value)
        if "timestamp" not in kwargs or kwargs["timestamp"] is None:
            kwargs["timestamp"] = time.time() if now is None else now
        return cls(**kwargs)


_FIELDS = {f.name: f for f in dataclasses.fields(CallSignal)}
# Fields other tools add to a signal line (simulated corpora carry labels) that scoring ignores.
_IGNORED = {"label", "campaign", "actor"}


def _coerce(name: str, value: Any) -> Any:
    if name == "timestamp":
        return parse_timestamp(value)
    if name == "source_port":
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 65536:
            raise SignalError(f"field 'source_port' must be a port number 0-65535, not {value!r}")
        return value
    if name in ("via", "header_names"):
        if isinstance(value, str):
            value = [value] if name == "via" else [v for v in value.split(",") if v]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SignalError(f"field {name!r} must be a list of strings")
        limit = MAX_VIA if name == "via" else MAX_HEADER_NAMES
        return tuple(_text(name, v) for v in value[:limit])
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SignalError(f"field {name!r} must be a string, not {type(value).__name__}")
    return _text(name, value)


def _text(name: str, value: str) -> str:
    if len(value) > MAX_FIELD_CHARS:
        raise SignalError(f"field {name!r} is {len(value)} characters; the limit is {MAX_FIELD_CHARS}")
    return value


def parse_timestamp(value: Any) -> float:
    """Epoch seconds from a number or an ISO 8601 string (naive means UTC)."""
    if isinstance(value, bool):
        raise SignalError(f"field 'timestamp' must be epoch seconds or ISO 8601, not {value!r}")
    if isinstance(value, (int, float)):
        try:
            ok = math.isfinite(value) and value >= 0
        except OverflowError:
            ok = False
        if not ok or value > MAX_TIMESTAMP:
            raise SignalError(f"field 'timestamp' must be epoch seconds between 0 and {MAX_TIMESTAMP}, not {str(value)[:40]}")
        return float(value)
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise SignalError(f"field 'timestamp' {value!r} is not ISO 8601 (e.g. 2026-11-22T09:30:00Z)") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        if dt.year < 1970:
            raise SignalError(f"field 'timestamp' {value!r} is before 1970")
        return dt.timestamp()
    raise SignalError(f"field 'timestamp' must be epoch seconds or ISO 8601, not {type(value).__name__}")

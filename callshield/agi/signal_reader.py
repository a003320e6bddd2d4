"""Read a call's signalling from Asterisk in one AGI round trip.

Every header is fetched base64-encoded inside a single ``GET FULL VARIABLE``: the
encoding keeps hostile header values (quotes, '|', non-ASCII bytes) from breaking the
reply or each other, and one round trip keeps the pre-answer delay down.
"""

from __future__ import annotations

import base64
import binascii
import time

from callshield.agi.protocol import AgiSession
from callshield.signal import MAX_FIELD_CHARS, MAX_HEADER_NAMES, CallSignal

VIA_HOPS = 4
# (signal field, dialplan expression). The order is the wire order of the reply.
FIELDS: tuple[tuple[str, str], ...] = (
    ("from_header", "${PJSIP_HEADER(read,From)}"),
    ("pai", "${PJSIP_HEADER(read,P-Asserted-Identity)}"),
    ("privacy", "${PJSIP_HEADER(read,Privacy)}"),
    ("identity", "${PJSIP_HEADER(read,Identity)}"),
    ("user_agent", "${PJSIP_HEADER(read,User-Agent)}"),
    ("diversion", "${PJSIP_HEADER(read,Diversion)}"),
    ("sip_call_id", "${PJSIP_HEADER(read,Call-ID)}"),
    *((f"via{i}", f"${{PJSIP_HEADER(read,Via,{i})}}") for i in range(1, VIA_HOPS + 1)),
    ("max_forwards", "${PJSIP_HEADER(read,Max-Forwards)}"),
    ("contact", "${PJSIP_HEADER(read,Contact)}"),
    ("header_names", "${PJSIP_HEADERS()}"),
    ("presentation", "${CALLERID(pres)}"),
    ("source", "${CHANNEL(pjsip,remote_addr)}"),
    ("codecs", "${CHANNEL(audionativeformat)}"),
    ("channel_state", "${CHANNEL(state)}"),
    # Set only on failover-drill test calls (callshield drill originates them).
    ("drill", "${CALLSHIELD_DRILL}"),
)
SEPARATOR = "|"
EXPRESSION = SEPARATOR.join(f"${{BASE64_ENCODE({expr})}}" for _, expr in FIELDS)


def decode_fields(reply: str | None) -> tuple[dict[str, str], list[str]]:
    """Split and decode the reply; return the fields and any problems met."""
    problems: list[str] = []
    parts = (reply or "").split(SEPARATOR)
    if reply is None or len(parts) != len(FIELDS):
        problems.append(f"signalling reply has {len(parts) if reply else 0} fields, expected {len(FIELDS)}")
    out: dict[str, str] = {}
    for (name, _), part in zip(FIELDS, parts):
        try:
            value = base64.b64decode(part, validate=True).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError):
            problems.append(f"{name}: not base64")
            continue
        if len(value) > MAX_FIELD_CHARS:
            problems.append(f"{name}: {len(value)} characters, truncated to {MAX_FIELD_CHARS}")
            value = value[:MAX_FIELD_CHARS]
        out[name] = value
    return out, problems


def build_signal(env: dict[str, str], fields: dict[str, str], *, now: float | None = None) -> CallSignal:
    """The call signal from the AGI environment and the decoded header fields."""
    host, port = _split_hostport(fields.get("source", ""))
    caller = env.get("agi_callerid", "")
    if caller.lower() == "unknown":
        caller = ""
    name = env.get("agi_calleridname", "")
    return CallSignal(
        dialled=env.get("agi_arg_1") or env.get("agi_dnid") or env.get("agi_extension", ""),
        timestamp=time.time() if now is None else now,
        caller_number=caller,
        caller_name="" if name.lower() == "unknown" else name,
        presentation=fields.get("presentation", ""),
        from_header=fields.get("from_header", ""),
        pai=fields.get("pai", ""),
        privacy=fields.get("privacy", ""),
        identity=fields.get("identity", ""),
        user_agent=fields.get("user_agent", ""),
        diversion=fields.get("diversion", ""),
        via=tuple(v for v in (fields.get(f"via{i}", "") for i in range(1, VIA_HOPS + 1)) if v),
        header_names=tuple(h for h in fields.get("header_names", "").split(",") if h)[:MAX_HEADER_NAMES],
        max_forwards=fields.get("max_forwards", ""),
        contact=fields.get("contact", ""),
        codecs=fields.get("codecs", ""),
        source_ip=host,
        source_port=port,
        sip_call_id=fields.get("sip_call_id", ""),
        channel=env.get("agi_channel", ""),
        uniqueid=env.get("agi_uniqueid", ""),
        channel_state=fields.get("channel_state", ""),
        drill=fields.get("drill", "")[:64],
    )


def _split_hostport(value: str) -> tuple[str, int | None]:
    value = value.strip()
    if not value:
        return "", None
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest.lstrip(":")
    elif value.count(":") == 1:
        host, port = value.split(":")
    else:
        host, port = value, ""
    return host, int(port) if port.isascii() and port.isdigit() and len(port) <= 5 and int(port) < 65536 else None


async def read_signal(session: AgiSession) -> tuple[CallSignal, list[str]]:
    reply = await session.get_full_variable(EXPRESSION)
    fields, problems = decode_fields(reply)
    return build_signal(session.env, fields), problems

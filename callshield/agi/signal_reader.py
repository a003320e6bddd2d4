"""Read a call's signalling from Asterisk in one AGI round trip.

Every header is fetched base64-encoded inside a single ``GET FULL VARIABLE``: the
encoding keeps hostile header values (quotes, '|', non-ASCII bytes) from breaking the
reply or each other, and one round trip keeps the pre-answer delay down.

A caller controls most of these values, so the reply is bounded on both sides:

- Asterisk cuts each field to its ``limit`` bytes (``${FUNC(...):0:limit}``) before
  encoding it, so the whole reply stays under half the 64 KiB line limit however big
  the INVITE (Asterisk reads each header up to 4 KB; From, P-Asserted-Identity and
  Identity are never cut below that).
- Each value is encoded with a leading ``#`` (stripped after decoding), so an absent
  header is not an empty ``BASE64_ENCODE()``, which logs a WARNING per call.
- The fields that decide lists and policies come first, and callshield reads a reply
  of any length bounded (protocol.AgiSession): what fits is decoded, a cut field is a
  problem, and the caller ID from the AGI environment is always there to score with.
"""

from __future__ import annotations

import base64
import binascii
import time
from itertools import islice

from callshield.agi.encode import quote
from callshield.agi.protocol import AgiSession
from callshield.errors import AgiProtocolError
from callshield.read.signal import MAX_FIELD_CHARS, MAX_HEADER_NAMES, CallSignal

VIA_HOPS = 4
HEADER_MAX = 4096  # Asterisk's PJSIP_HEADER reads a header into a 4 KB buffer: longer ones read empty
HEADER_NAMES_CHARS = 2048


def _cut(expression: str, limit: int) -> str:
    return f"${{{expression}:0:{limit}}}"


# (signal field, dialplan expression cut to its limit in bytes). The order is the wire
# order of the reply: identity and presentation first, so a cut reply still has them.
FIELDS: tuple[tuple[str, str], ...] = (
    ("from_header", _cut("PJSIP_HEADER(read,From)", HEADER_MAX)),
    ("pai", _cut("PJSIP_HEADER(read,P-Asserted-Identity)", HEADER_MAX)),
    ("privacy", _cut("PJSIP_HEADER(read,Privacy)", 256)),
    ("identity", _cut("PJSIP_HEADER(read,Identity)", HEADER_MAX)),
    ("presentation", _cut("CALLERID(pres)", 64)),
    ("source", _cut("CHANNEL(pjsip,remote_addr)", 128)),
    ("channel_state", _cut("CHANNEL(state)", 32)),
    # Set only on failover-drill test calls (callshield drill originates them).
    ("drill", _cut("CALLSHIELD_DRILL", 64)),
    ("user_agent", _cut("PJSIP_HEADER(read,User-Agent)", 2048)),
    ("diversion", _cut("PJSIP_HEADER(read,Diversion)", 1024)),
    ("sip_call_id", _cut("PJSIP_HEADER(read,Call-ID)", 512)),
    *((f"via{i}", _cut(f"PJSIP_HEADER(read,Via,{i})", 1024)) for i in range(1, VIA_HOPS + 1)),
    ("max_forwards", _cut("PJSIP_HEADER(read,Max-Forwards)", 16)),
    ("contact", _cut("PJSIP_HEADER(read,Contact)", 1024)),
    ("header_names", _cut("PJSIP_HEADERS()", HEADER_NAMES_CHARS)),
    ("codecs", _cut("CHANNEL(audionativeformat)", 256)),
)
SEPARATOR = "|"
MARK = "#"  # prefixed to every value inside BASE64_ENCODE, so it never encodes nothing
EXPRESSION = SEPARATOR.join(f"${{BASE64_ENCODE({MARK}{expr})}}" for _, expr in FIELDS)
COMMAND = f"GET FULL VARIABLE {quote(EXPRESSION)}"  # the same line for every call: built once


def encode_reply(values: dict[str, str]) -> str:
    """The value of the reply Asterisk gives for ``EXPRESSION`` on a channel whose fields
    are ``values`` (missing: empty): what fake Asterisk peers in tests and benches send."""
    return SEPARATOR.join(
        base64.b64encode((MARK + values.get(name, "")).encode("utf-8", "surrogateescape")).decode() for name, _ in FIELDS)


def decode_fields(reply: str | None, dropped: int = 0) -> tuple[dict[str, str], list[str]]:
    """Split and decode the reply; return the fields and any problems met.

    ``dropped``: bytes of the reply line that were over the line limit and not read;
    the last field is then incomplete and not used.
    """
    problems: list[str] = []
    parts = (reply or "").split(SEPARATOR, len(FIELDS))
    if dropped:
        kept = len(parts) - 1
        problems.append(f"signalling reply over the line limit: {dropped} bytes dropped; read {kept} of {len(FIELDS)} fields,"
                        f" not {', '.join(name for name, _ in FIELDS[kept:])}")
        parts = parts[:kept]
    elif reply is None or len(parts) != len(FIELDS):
        problems.append(f"signalling reply has {len(parts) if reply else 0} fields, expected {len(FIELDS)}")
    out: dict[str, str] = {}
    for (name, _), part in zip(FIELDS, parts):
        try:
            value = binascii.a2b_base64(part, strict_mode=True).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError):
            problems.append(f"{name}: not base64")
            continue
        if value.startswith(MARK):
            value = value[1:]
        if len(value) > MAX_FIELD_CHARS:
            problems.append(f"{name}: {len(value)} characters, truncated to {MAX_FIELD_CHARS}")
            value = value[:MAX_FIELD_CHARS]
        out[name] = value
    return out, problems


def build_signal(env: dict[str, str], fields: dict[str, str], *, now: float | None = None) -> CallSignal:
    """The call signal from the AGI environment and the decoded header fields."""
    host, port = _split_hostport(fields.get("source", ""))
    caller = env.get("agi_callerid", "")[:MAX_FIELD_CHARS]
    if caller.lower() == "unknown":
        caller = ""
    name = env.get("agi_calleridname", "")[:MAX_FIELD_CHARS]
    return CallSignal(
        dialled=(env.get("agi_arg_1") or env.get("agi_dnid") or env.get("agi_extension", ""))[:MAX_FIELD_CHARS],
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
        header_names=tuple(islice(filter(None, fields.get("header_names", "")[:HEADER_NAMES_CHARS].split(",")), MAX_HEADER_NAMES)),
        max_forwards=fields.get("max_forwards", ""),
        contact=fields.get("contact", ""),
        codecs=fields.get("codecs", ""),
        source_ip=host,
        source_port=port,
        sip_call_id=fields.get("sip_call_id", ""),
        channel=env.get("agi_channel", "")[:MAX_FIELD_CHARS],
        uniqueid=env.get("agi_uniqueid", "")[:MAX_FIELD_CHARS],
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
    """The call's signal and the problems met reading it. A reply Asterisk refuses or
    garbles is a problem, not a failure: the call is scored on the AGI environment
    (caller ID, dialled number), so lists and policies still apply."""
    try:
        reply = await session.command(COMMAND)
    except AgiProtocolError as exc:
        fields, problems = {}, [f"signalling not read: {exc}"]
    else:
        fields, problems = decode_fields(reply.value if reply.result == "1" else None, reply.dropped)
    return build_signal(session.env, fields), problems

"""Tolerant parsers for the SIP header values callshield reads.

Every parser takes the raw text Asterisk gave us (possibly empty, truncated, hostile)
and returns a parsed value or None; none of them raises on bad input. Each is linear
in its input and bounded: no backtracking regex, and no per-item Python loop over
something a caller can repeat thousands of times (parameters, Via hops, Privacy
tokens) without a cap. bench/adversarial_parsers.py times each on hostile 8 KB input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_URI_RE = re.compile(r"^\s*(?P<scheme>sips?|tel):(?P<rest>.*)$", re.I | re.S)
_DIGITS_RE = re.compile(r"[^0-9+]+")
_PRIVACY_RE = re.compile(r"[^;,\s]+")
NUMBER_CHARS = 64  # of a URI user part read for a number: E.164 has 15 digits, written out with separators far fewer than this
# Digits kept of a number: more than any valid one can have in any form (00 + a 3-digit
# country code + a 17-digit national number), so cutting a longer one never makes it valid.
NUMBER_DIGITS = 24
HOST_CHARS = 255  # RFC 1035: a host name has at most 253 characters
MAX_PARAMS = 64  # parameters read from one params section (URI or header): the first and last 32
MAX_VIA_HOSTS = 16  # Via hops read over all Via headers
VIA_CHARS = 1024  # of each Via header read (Asterisk hands callshield at most this much of one)
PRIVACY_CHARS = 256  # of a Privacy header read (its tokens are a handful of short words)
ANONYMOUS_USERS = frozenset({"anonymous", "restricted", "private", "withheld", "unknown", "unavailable", "anonymous.invalid"})


@dataclass(frozen=True)
class SipAddress:
    display: str
    scheme: str
    user: str
    host: str
    uri_params: dict[str, str] = field(default_factory=dict)
    header_params: dict[str, str] = field(default_factory=dict)

    @property
    def is_anonymous(self) -> bool:
        return self.user.lower() in ANONYMOUS_USERS or self.host.lower() == "anonymous.invalid"

    def param(self, name: str) -> str | None:
        """A parameter from the URI or, failing that, the header (names case-insensitive)."""
        name = name.lower()
        return self.uri_params.get(name, self.header_params.get(name))


def parse_address(value: str) -> SipAddress | None:
    """Parse a From / P-Asserted-Identity / Diversion value (name-addr or addr-spec).

    Linear-time by construction (no backtracking regex): hostile headers of any length
    cost microseconds.
    """
    if not value or not value.strip():
        return None
    open_at = value.find("<")
    if open_at >= 0:
        close_at = value.find(">", open_at + 1)
        if close_at < 0:
            return None
        display = _display(value[:open_at])
        uri, header_params = value[open_at + 1 : close_at], _params(value[close_at + 1 :])
    else:
        display = ""
        uri, _, rest = value.split(",", 1)[0].strip().partition(";")
        header_params = _params(";" + rest) if rest else {}
    um = _URI_RE.match(uri)
    if not um:
        return None
    scheme, rest = um.group("scheme").lower(), um.group("rest")
    if scheme == "tel":
        user, _, params = rest.partition(";")
        return SipAddress(display, scheme, user.strip(), "", _params(";" + params), header_params)
    hostpart = rest
    user = ""
    if "@" in rest:
        user, hostpart = rest.rsplit("@", 1)
    user_main, _, user_params = user.partition(";")
    host, _, params = hostpart.partition(";")
    uri_params = _params(";" + params)
    if user_params:
        uri_params = {**_params(";" + user_params), **uri_params}
    return SipAddress(display, scheme, _unescape(user_main[:NUMBER_CHARS * 4]), host.strip()[:HOST_CHARS], uri_params, header_params)


def _display(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1].replace('\\"', '"')
    return text


def _params(text: str) -> dict[str, str]:
    """';name=value;flag' -> {name: value, flag: ''} (names lower-cased, the last one wins).

    Of a section stuffed with more parameters than MAX_PARAMS only the first and the
    last MAX_PARAMS // 2 are read (empty ones skipped): a carrier appends its own
    (verstat) after whatever the caller sent, so they are kept.
    """
    if text.count(";") <= 2 * MAX_PARAMS:
        parts = list(filter(None, text.split(";")[1:]))
        if len(parts) > MAX_PARAMS:
            parts = parts[: MAX_PARAMS // 2] + parts[-(MAX_PARAMS // 2):]
    else:  # only the two ends are split: the middle is never copied
        half = MAX_PARAMS // 2
        head = list(filter(None, text.split(";", MAX_PARAMS)[1:-1]))[:half]
        tail = list(filter(None, text.rsplit(";", MAX_PARAMS)[1:]))[-half:]
        parts = head + tail
    out: dict[str, str] = {}
    for part in parts:
        name, _, val = part.partition("=")
        name = name.strip().lower()
        if name:
            out[name] = val.strip().strip('"')
    return out


def _unescape(user: str) -> str:
    if "%" not in user:
        return user
    from urllib.parse import unquote

    return unquote(user, errors="replace")


def number_of(user: str) -> str:
    """The dialable digits of a URI user part ('+44 20-7123' -> '+44207123'); '' if none.
    Only its first NUMBER_CHARS characters are read and NUMBER_DIGITS digits kept: no
    phone number is longer."""
    cleaned = _DIGITS_RE.sub("", user[:NUMBER_CHARS])
    if cleaned.count("+") > 1 or ("+" in cleaned and not cleaned.startswith("+")):
        cleaned = "+" + cleaned.replace("+", "")
    return cleaned[: NUMBER_DIGITS + cleaned.startswith("+")] if cleaned.strip("+") else ""


def privacy_tokens(value: str) -> frozenset[str]:
    """Privacy header tokens (RFC 3323/3325): id, user, header, session, none, critical."""
    return frozenset(_PRIVACY_RE.findall(value[:PRIVACY_CHARS].lower())) if value else frozenset()


def via_hosts(vias: tuple[str, ...] | list[str]) -> list[str]:
    """The sent-by host of each Via value (a header may hold several, comma-separated)."""
    hosts: list[str] = []
    for value in vias:
        for hop in value[:VIA_CHARS].split(",", MAX_VIA_HOSTS)[:MAX_VIA_HOSTS]:
            parts = hop.strip().split(None, 1)
            if len(parts) == 2:
                hosts.append(_host_of(parts[1].split(";", 1)[0].strip()))
                if len(hosts) == MAX_VIA_HOSTS:
                    return hosts
    return hosts


def _host_of(sent_by: str) -> str:
    sent_by = sent_by[:HOST_CHARS]
    if sent_by.startswith("["):
        return sent_by[1:].split("]", 1)[0]
    if sent_by.count(":") == 1:
        return sent_by.rsplit(":", 1)[0]
    return sent_by

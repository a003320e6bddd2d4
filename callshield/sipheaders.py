"""Tolerant parsers for the SIP header values callshield reads.

Every parser takes the raw text Asterisk gave us (possibly empty, truncated, hostile)
and returns a parsed value or None; none of them raises on bad input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_URI_RE = re.compile(r"^\s*(?P<scheme>sips?|tel):(?P<rest>.*)$", re.I | re.S)
_DIGITS_RE = re.compile(r"[^0-9+]")
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
    return SipAddress(display, scheme, _unescape(user_main), host.strip(), uri_params, header_params)


def _display(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1].replace('\\"', '"')
    return text


def _params(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(";")[1:]:
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
    """The dialable digits of a URI user part ('+44 20-7123' -> '+44207123'); '' if none."""
    cleaned = _DIGITS_RE.sub("", user)
    if cleaned.count("+") > 1 or ("+" in cleaned and not cleaned.startswith("+")):
        cleaned = "+" + cleaned.replace("+", "")
    return cleaned if cleaned.strip("+") else ""


def privacy_tokens(value: str) -> frozenset[str]:
    """Privacy header tokens (RFC 3323/3325): id, user, header, session, none, critical."""
    return frozenset(t.strip().lower() for t in re.split(r"[;,]", value or "") if t.strip())


def via_hosts(vias: tuple[str, ...] | list[str]) -> list[str]:
    """The sent-by host of each Via value (a header may hold several, comma-separated)."""
    hosts = []
    for value in vias:
        for hop in value.split(","):
            parts = hop.strip().split(None, 1)
            if len(parts) == 2:
                hosts.append(_host_of(parts[1].split(";", 1)[0].strip()))
    return hosts


def _host_of(sent_by: str) -> str:
    if sent_by.startswith("["):
        return sent_by[1:].split("]", 1)[0]
    if sent_by.count(":") == 1:
        return sent_by.rsplit(":", 1)[0]
    return sent_by

"""The caller profile (CALLER_PROFILE): links calls of one origin when the number is
withheld or changes.

A call's number can be withheld or spoofed; the route and device it comes from are much
harder to change. The *trait* of a call is a hash of what survives: the originating
network (source address /24 and the upstream Via hosts), the User-Agent family and
major version, the order of the INVITE's header names (the shape of the sender's SIP
stack, leaving out per-call headers such as Privacy and P-Asserted-Identity), Max-Forwards (hops crossed), the Contact host kind and transport, and the
negotiated codecs.

Big carriers' SBCs give thousands of unrelated customers the same trait, so a trait
seen with many distinct numbers (``common_after`` in 24 h) is *common*: its profile is
anchored to the caller's network-asserted number (or the presented one), so unrelated
customers do not link. A *distinctive* trait (a small VoIP route, one fraudster's PBX)
is the profile on its own: the fraudster's calls link across withheld and rotating
numbers. Withheld calls with no number at all through a common route cannot be told
apart and share one "anonymous via that route" profile (``anonymous_common``).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from callshield.read import sipheaders
from callshield.read.signal import CallSignal

# Headers that come and go per call (identity and privacy choices, forwarding), not
# with the sender's SIP stack: left out of the header-order shape.
PER_CALL_HEADERS = frozenset({"privacy", "p-asserted-identity", "p-preferred-identity", "identity", "diversion",
                              "history-info", "remote-party-id", "p-charging-vector"})
# A version number: digits with separated digit groups, starting where a digit run starts
# (the lookbehind): without it the engine retried from every digit of a long run and a
# 4,000-digit User-Agent cost 250 ms; now it is linear.
_VERSION_RE = re.compile(r"(?<!\d)(\d+)(?:[._-]\d+)+")
_SPACES_RE = re.compile(r"\s+")
UA_CHARS = 256  # of a User-Agent that make its family (the family itself is at most 64)
HOST_CHARS = 255  # a longer host is no address and no DNS name (RFC 1035: 253)


@dataclass(frozen=True)
class Profile:
    profile: str
    trait: str
    common: bool
    anonymous_common: bool


def _h(text: str, n: int = 16) -> str:
    return hashlib.blake2b(text.encode("utf-8", errors="replace"), digest_size=16).hexdigest()[:n]


_PRIVATE_NETS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "fc00::/7", "fe80::/10"))


@dataclass(frozen=True)
class HostInfo:
    is_ip: bool
    private: bool  # RFC 1918 / CGNAT / link-local / ULA (not documentation ranges)
    network: str  # /24 or /48 for addresses, the lower-cased name otherwise


def HostCache(size: int = 16384) -> Callable[[str], HostInfo]:
    """host -> HostInfo, memoised (least recently used evicted one at a time): carriers'
    SBC addresses repeat on every call. One per owner, no module-level cache."""
    return lru_cache(maxsize=size)(_host_info)


def _host_info(host: str) -> HostInfo:
    h = host[: HOST_CHARS + 2].strip()
    if h.count(":") == 1:  # host:port
        h = h.split(":", 1)[0]
    if len(h) > 64:  # longer than any address with its brackets and scope
        return HostInfo(False, False, h[:HOST_CHARS].lower())
    try:
        ip = ipaddress.ip_address(h.strip("[]"))
    except ValueError:
        return HostInfo(False, False, h.lower())
    private = any(ip.version == n.version and ip in n for n in _PRIVATE_NETS)
    return HostInfo(True, private, network_of(str(ip)))


def network_of(address: str) -> str:
    """A source address as its /24 (IPv4) or /48 (IPv6) network; text otherwise."""
    address = address[: HOST_CHARS + 2].strip()
    if len(address) > 64:
        return address[:HOST_CHARS].lower()
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address.lower()
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def ua_family(user_agent: str) -> str:
    """'Ribbon SBC 5400 v9.2.3' -> 'ribbon sbc 5400 v9': versions cut to the major."""
    return _SPACES_RE.sub(" ", _VERSION_RE.sub(r"\1", user_agent[:UA_CHARS].strip().lower()))[:64]


def contact_kind(contact: sipheaders.SipAddress | None, raw: str, hosts: Callable[[str], HostInfo]) -> str:
    if contact is None:
        return "none" if not raw else "bad"
    info = hosts(contact.host)
    kind = ("private" if info.private else "ip") if info.is_ip else "name"
    return f"{kind}/{contact.uri_params.get('transport', 'udp').lower()}"


def trait_of(signal: CallSignal, contact: sipheaders.SipAddress | None, via_hosts: list[str], hosts: Callable[[str], HostInfo], ua: str) -> str:
    upstream = [hosts(h).network for h in via_hosts[1:3]]
    parts = (
        hosts(signal.source_ip).network if signal.source_ip else "",
        ",".join(upstream),
        ua,
        ",".join(h for h in (n.lower() for n in signal.header_names) if h not in PER_CALL_HEADERS),
        signal.max_forwards.strip(),
        contact_kind(contact, signal.contact, hosts),
        signal.codecs.strip().lower(),
    )
    return _h("\x1f".join(parts))


def profile_of(trait: str, anchor: str | None, distinct_numbers: int, common_after: int) -> Profile:
    """The caller profile from the trait, the caller's number (None if withheld with no
    network number) and how many distinct numbers the trait has carried in 24 h."""
    common = distinct_numbers >= common_after
    if not common:
        return Profile(_h("t|" + trait, 12), trait, False, False)
    if anchor:
        return Profile(_h(f"n|{trait}|{anchor}", 12), trait, True, False)
    return Profile(_h(f"a|{trait}", 12), trait, True, True)

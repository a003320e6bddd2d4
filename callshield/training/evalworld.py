"""A second, independent call world, for evaluation only (docs/evalworld.md).

Written apart from the training simulator (``simulate.py`` and ``sim_*.py``) and
without reading it: it shares only the call-signal line format (docs/call-signal.md)
and the three extra keys ``label``, ``campaign`` and ``actor``. Never train on it.

``generate(calls, seed, start, days, fraud_share)`` yields call-signal dicts in
non-decreasing timestamp order. Deterministic: one ``random.Random`` per seed (and
per-actor instances derived from it by string seeds), no clock, no global RNG, no
``hash()``, no set iteration. Numbers come from fixed ranges (the tests check them
against phonenumbers); the site's local time is a fixed UTC offset (the window the
command defaults to, November, has no DST change in any site's zone).
"""

from __future__ import annotations

import base64
import json
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, TextIO

# ---------------------------------------------------------------------------
# Sites: a contact centre, its DDIs, its time zone and the carriers that reach it.


@dataclass(frozen=True)
class Carrier:
    name: str
    ips: tuple[str, ...]          # the trunk peers Asterisk sees (source_ip)
    port: int
    normalises: bool              # an SBC that rebuilds the INVITE (own UA, order, one Via)
    ua: str                       # its own User-Agent when it normalises
    signs: tuple[str, ...]        # attestation levels it signs with ("" = unsigned)
    verstat: str                  # "" (none), "pai" (in P-Asserted-Identity), "from"
    host: str
    endpoint: str                 # the PJSIP endpoint name in the channel name


@dataclass(frozen=True)
class Site:
    key: str
    country: str                  # ISO home country
    cc: str                       # country calling code
    utc_offset: float             # hours, fixed over the window
    ddis: tuple[str, ...]
    carriers: tuple[Carrier, ...]
    codecs: tuple[str, ...]


def _ips(prefix: str, first: int, n: int) -> tuple[str, ...]:
    return tuple(f"{prefix}.{first + i}" for i in range(n))


SITES: dict[str, Site] = {
    "de-insurer": Site(
        "de-insurer", "DE", "49", 1.0,
        ("+4930223344100", "+4930223344200", "+498001234560", "+498001234570", "+4922199887700"),
        (
            Carrier("telekom-de", _ips("203.0.113", 10, 2), 5060, True, "SBC-DTAG/7.2", ("",), "", "sip.t-ic.example", "telekom"),
            Carrier("vodafone-de", _ips("203.0.113", 40, 2), 5060, True, "Ribbon-SBC/12.1", ("",), "", "ims.vf.example", "vodafone"),
            Carrier("sipgate-trunk", _ips("198.51.100", 70, 2), 5060, False, "", ("",), "", "sipconnect.sg.example", "sipgate"),
        ),
        ("(alaw)", "(alaw|g722)", "(g722|alaw)"),
    ),
    "us-health": Site(
        "us-health", "US", "1", -6.0,
        ("+13125550000", "+13122340100", "+18005550199", "+18885550123", "+16082551000"),
        (
            Carrier("tier1-us", _ips("198.51.100", 120, 3), 5060, True, "Acme-Packet/SCZ9.1", ("A", "B", "C"), "pai", "edge.t1.example", "tier1"),
            Carrier("clec-us", _ips("198.51.100", 40, 2), 5060, False, "", ("A", "B", "C", ""), "from", "sbc.clec.example", "clec"),
            Carrier("wholesale-us", _ips("203.0.113", 100, 2), 5080, True, "Sansay-VSXi", ("C", ""), "", "gw.wholesale.example", "wholesale"),
        ),
        ("(ulaw)", "(ulaw|g722)", "(ulaw|alaw)"),
    ),
    "au-utility": Site(
        "au-utility", "AU", "61", 11.0,
        ("+61292345600", "+61392345700", "+611800123456", "+61131234"),
        (
            Carrier("telstra-au", _ips("203.0.113", 150, 2), 5060, True, "Oracle-SBC/8.4", ("",), "", "sip.tel.example", "telstra"),
            Carrier("optus-au", _ips("198.51.100", 150, 2), 5060, True, "Metaswitch-Perimeta", ("",), "", "ims.opt.example", "optus"),
            Carrier("voip-au", _ips("198.51.100", 200, 2), 5060, False, "", ("",), "", "trunk.voip-au.example", "voipau"),
        ),
        ("(alaw)", "(alaw|g722)"),
    ),
    "ca-telco": Site(
        "ca-telco", "CA", "1", -5.0,
        ("+14165550100", "+14162340200", "+18665550142", "+15142345600"),
        (
            Carrier("incumbent-ca", _ips("198.51.100", 100, 2), 5060, True, "Sonus-SBC/11", ("A", "B", "C"), "pai", "edge.inc.example", "incumbent"),
            Carrier("cable-ca", _ips("203.0.113", 200, 2), 5060, False, "", ("A", "B", ""), "", "voice.cable.example", "cable"),
            Carrier("transit-ca", _ips("198.18.7", 10, 2), 5060, True, "Kamailio-edge", ("C", ""), "", "gw.transit.example", "transit"),
        ),
        ("(ulaw)", "(ulaw|g722)"),
    ),
}


def suggested_config(site: Site) -> dict[str, Any]:
    """The scoring configuration a deployment at this site would have."""
    trust = [f"{c.ips[0].rsplit('.', 1)[0]}.{int(c.ips[0].rsplit('.', 1)[1]) // 8 * 8}/29"
             for c in site.carriers if c.verstat]
    return {"scoring": {"home_country": site.country, "trust_verstat_from": trust}}


def pick_site(seed: int) -> Site:
    keys = sorted(SITES)
    return SITES[keys[random.Random(f"evalworld-site-{seed}").randrange(len(keys))]]


# ---------------------------------------------------------------------------
# Numbers: fixed, valid ranges per country (tests/unit/test_evalworld.py checks them).

# (prefix, digits after the prefix) per country and kind
RANGES: dict[str, dict[str, tuple[tuple[str, int], ...]]] = {
    "DE": {"geo": (("+4930", 8), ("+4989", 8), ("+4940", 8), ("+49221", 7), ("+49711", 7)),
           "mobile": (("+49151", 8), ("+49160", 7), ("+49170", 7), ("+49176", 8)),
           "nongeo": (("+491805", 6), ("+4932", 9))},
    "US": {"geo": (("+1312", 7), ("+1773", 7), ("+1608", 7), ("+1414", 7), ("+1214", 7)),
           "mobile": (("+1312", 7), ("+1630", 7), ("+1847", 7)),
           "nongeo": (("+1800", 7), ("+1888", 7), ("+1877", 7))},
    "AU": {"geo": (("+6129", 7), ("+6138", 7), ("+6173", 7), ("+6189", 7)),
           "mobile": (("+61412", 6), ("+61423", 6), ("+61438", 6), ("+61404", 6)),
           "nongeo": (("+611300", 6), ("+611800", 6))},
    "CA": {"geo": (("+1416", 7), ("+1647", 7), ("+1514", 7), ("+1604", 7), ("+1613", 7)),
           "mobile": (("+1437", 7), ("+1438", 7), ("+1778", 7)),
           "nongeo": (("+1866", 7), ("+1855", 7))},
    "GB": {"geo": (("+44207", 7), ("+44161", 7)), "mobile": (("+44780", 7), ("+44791", 7)), "nongeo": (("+44800", 7),)},
    "AT": {"geo": (("+431", 7),), "mobile": (("+43664", 7),), "nongeo": ()},
    "CH": {"geo": (("+4144", 7),), "mobile": (("+4179", 7),), "nongeo": ()},
    "NL": {"geo": (("+3120", 7),), "mobile": (("+3161", 7),), "nongeo": ()},
    "MX": {"geo": (("+5255", 8),), "mobile": (("+5281", 8),), "nongeo": ()},
    "NZ": {"geo": (("+6493", 6),), "mobile": (("+6421", 7),), "nongeo": ()},
    "TR": {"geo": (("+90212", 7),), "mobile": (("+90532", 7),), "nongeo": ()},
    "IN": {"geo": (("+91112", 7),), "mobile": (("+9198", 8),), "nongeo": ()},
    "PH": {"geo": (("+6328", 7),), "mobile": (("+63917", 7),), "nongeo": ()},
}

NEIGHBOURS = {"DE": ("AT", "CH", "NL"), "US": ("CA", "MX"), "AU": ("NZ",), "CA": ("US",)}
EXPAT_FROM = ("GB", "TR", "IN", "PH", "NL")

_NANP_OK = "23456789"


def number(rng: random.Random, country: str, kind: str) -> str:
    prefix, n = rng.choice(RANGES[country][kind] or RANGES[country]["geo"])
    if prefix.startswith("+1"):  # NANP: exchange code starts 2-9 and is not N11
        ex = rng.choice(_NANP_OK) + str(rng.randrange(10)) + rng.choice("023456789")
        return prefix + ex + "".join(str(rng.randrange(10)) for _ in range(n - 3))
    first = rng.choice("23456789")
    return prefix + first + "".join(str(rng.randrange(10)) for _ in range(n - 1))


def invalid_number(rng: random.Random, country: str) -> str:
    """Numbers a dialler makes up: wrong length, NANP area/exchange starting 0/1, junk."""
    kind = rng.randrange(4)
    if country in ("US", "CA"):
        if kind == 0:
            return "+1" + rng.choice("01") + "".join(str(rng.randrange(10)) for _ in range(9))
        if kind == 1:
            return "+1312" + rng.choice("01") + "".join(str(rng.randrange(10)) for _ in range(6))
    cc = {"DE": "49", "AU": "61"}.get(country, "1")
    return "+" + cc + "".join(str(rng.randrange(10)) for _ in range(rng.choice((2, 3, 4) if kind == 2 else (3, 17))))


def neighbour_spoof(rng: random.Random, ddi: str) -> str:
    """Same leading digits as the dialled number ('neighbour spoofing')."""
    keep = len(ddi) - 4
    tail = "".join(str(rng.randrange(10)) for _ in range(4))
    return ddi[:keep] + tail


# ---------------------------------------------------------------------------
# SIP stacks of the calling side: what reaches Asterisk when the carrier passes it through.


@dataclass(frozen=True)
class Stack:
    ua: str
    headers: tuple[str, ...]
    transport: str = "UDP"


_CORE = ("Via", "Max-Forwards", "From", "To", "Call-ID", "CSeq", "Contact")
STACKS: dict[str, Stack] = {
    "asterisk": Stack("Asterisk PBX 18.20.2", ("Via", "From", "To", "Contact", "Call-ID", "CSeq", "Allow", "Supported", "Max-Forwards", "User-Agent", "Content-Type", "Content-Length")),
    "freeswitch": Stack("FreeSWITCH-mod_sofia/1.10.11-release", ("Via", "Max-Forwards", "From", "To", "Call-ID", "CSeq", "Contact", "User-Agent", "Allow", "Supported", "Allow-Events", "Content-Type", "Content-Disposition", "Content-Length", "Remote-Party-ID")),
    "3cx": Stack("3CXPhoneSystem 18.0.9.20 (20)", ("Via", "Max-Forwards", "Contact", "To", "From", "Call-ID", "CSeq", "Allow", "Supported", "User-Agent", "Content-Type", "Content-Length")),
    "yealink": Stack("Yealink SIP-T54W 96.86.0.100", ("Via", "From", "To", "Call-ID", "CSeq", "Contact", "Content-Type", "Allow", "Max-Forwards", "User-Agent", "Allow-Events", "Content-Length")),
    "polycom": Stack("PolycomVVX-VVX_450-UA/6.4.3.5018", ("Via", "From", "To", "CSeq", "Call-ID", "Contact", "User-Agent", "Accept-Language", "Allow", "Allow-Events", "Supported", "Max-Forwards", "Content-Type", "Content-Length")),
    "microsip": Stack("MicroSIP/3.21.3", ("Via", "Max-Forwards", "From", "To", "Contact", "Call-ID", "CSeq", "Allow", "Content-Type", "Supported", "User-Agent", "Content-Length")),
    "zoiper": Stack("Z 5.6.1 v2.10.19.9", ("Via", "Max-Forwards", "Contact", "To", "From", "Call-ID", "CSeq", "Allow", "Content-Type", "User-Agent", "Allow-Events", "Content-Length"), "TCP"),
    "ims-mobile": Stack("", ("Via", "Max-Forwards", "From", "To", "Call-ID", "CSeq", "Contact", "P-Asserted-Identity", "P-Charging-Vector", "Accept-Contact", "Allow", "Supported", "Content-Type", "Content-Length")),
    "pstn-gw": Stack("", ("Via", "Max-Forwards", "From", "To", "Call-ID", "CSeq", "Contact", "P-Asserted-Identity", "Allow", "Content-Type", "Content-Length")),
    "vos3000": Stack("VOS3000 V2.1.6.00", ("Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "User-Agent", "Content-Type", "Content-Length")),
    "sipvicious": Stack("friendly-scanner", ("Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "User-Agent", "Content-Length")),
    "pjsua": Stack("PJSUA v2.14 Linux-6.1/x86_64", ("Via", "Max-Forwards", "From", "To", "Contact", "Call-ID", "CSeq", "Route", "Allow", "Supported", "User-Agent", "Content-Type", "Content-Length")),
    "dialler": Stack("VICIdial-Asterisk 16.30.0-vici", ("Via", "From", "To", "Contact", "Call-ID", "CSeq", "Allow", "Supported", "Max-Forwards", "User-Agent", "Content-Type", "Content-Length")),
}


def _normalised_headers(carrier: Carrier, pai: bool, privacy: bool, identity: bool, diversion: bool) -> tuple[str, ...]:
    h = ["Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards"]
    if pai:
        h.append("P-Asserted-Identity")
    if privacy:
        h.append("Privacy")
    if diversion:
        h.append("Diversion")
    if identity:
        h.append("Identity")
    h += ["Allow", "Supported", "User-Agent", "Content-Type", "Content-Length"]
    if carrier.name.startswith(("telekom", "incumbent")):  # this vendor puts Max-Forwards second
        h.remove("Max-Forwards")
        h.insert(1, "Max-Forwards")
    return tuple(h)


# ---------------------------------------------------------------------------
# Actors: who calls and how.


@dataclass
class Actor:
    id: str
    label: str
    campaign: str
    numbers: list[str]
    name: str = ""
    stack: str = "pstn-gw"
    carrier: int = 0              # index into site.carriers
    attest: str = "A"
    withheld: bool = False
    origin_ip: str = ""           # the caller's own public address (passthrough paths)
    shuffle_headers: bool = False
    rotate_ua: bool = False
    via_hops: int = 1
    diversion: str = ""


FIRST = ("Anna", "Jonas", "Maria", "Lukas", "Emily", "James", "Olivia", "Liam", "Chloe", "Noah", "Mia", "Jack",
         "Sophie", "Ethan", "Priya", "Wei", "Fatima", "Mehmet", "Grace", "Lucas")
LAST = ("Schmidt", "Mueller", "Smith", "Johnson", "Nguyen", "Brown", "Wilson", "Tremblay", "Roy", "Kelly",
        "Garcia", "Patel", "Taylor", "Martin", "Weber", "Lee", "Jones", "Davis", "Singh", "Yilmaz")
FIRMS = ("Logistik GmbH", "Medical Group", "Builders Pty", "Legal LLP", "Dental Care", "Auto Haus", "Freight Inc",
         "Consulting", "Pharmacy", "Accounting")


def _doc_ip(rng: random.Random) -> str:
    """A caller's public address: genuine callers and crews draw from the same pool."""
    block = rng.choice(("192.0.2", "198.51.100", "203.0.113", "198.18", "198.19"))
    if block.count(".") == 1:
        return f"{block}.{rng.randrange(0, 256)}.{rng.randrange(1, 255)}"
    return f"{block}.{rng.randrange(1, 255)}"


def _carrier_idx(site: Site, rng: random.Random, weights: tuple[float, ...]) -> int:
    return rng.choices(range(len(site.carriers)), weights=weights)[0]


def _attest_for(site: Site, carrier: int, rng: random.Random, good: bool) -> str:
    levels = site.carriers[carrier].signs
    if levels == ("",):
        return ""
    if good:
        return rng.choices(levels, weights=[6 if x == "A" else 2 if x == "B" else 1 for x in levels])[0]
    return rng.choice([x for x in levels if x in ("C", "")] or [""])


# ---------------------------------------------------------------------------
# Call plans: (timestamp, actor, per-call options) before they become signals.


@dataclass(order=True)
class Plan:
    ts: float
    seq: int
    actor: Actor = field(compare=False)
    opts: dict = field(compare=False, default_factory=dict)


class World:
    def __init__(self, seed: int, start: float, days: float):
        self.rng = random.Random(f"evalworld-{seed}")
        self.site = pick_site(seed)
        self.start = start
        self.days = days
        self.seq = 0
        self.customers: list[Actor] = []

    # local time helpers
    def local_time(self, rng: random.Random, profile: str) -> float:
        """A timestamp in the window at a local hour drawn from a profile."""
        site = self.site
        ndays = max(1, int(self.days + 0.999))
        for _ in range(50):
            day = rng.randrange(ndays)
            if profile == "business":
                hour = rng.choices(range(24), weights=[0, 0, 0, 0, 0, 0, 1, 3, 9, 12, 12, 11, 8, 9, 11, 10, 8, 5, 3, 2, 1, 1, 0, 0])[0]
            elif profile == "evening":
                hour = rng.choices(range(24), weights=[1, 0, 0, 0, 0, 0, 0, 1, 2, 3, 3, 3, 3, 3, 3, 3, 4, 6, 8, 8, 6, 4, 2, 1])[0]
            elif profile == "night":
                hour = rng.choices(range(24), weights=[6, 7, 7, 6, 5, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 4, 5, 6])[0]
            else:
                hour = rng.randrange(24)
            local_midnight = self.start + day * 86400 - site.utc_offset * 3600
            ts = local_midnight + hour * 3600 + rng.random() * 3600
            weekday = int(((ts + site.utc_offset * 3600) // 86400 + 3) % 7)  # 0 = Monday
            if profile == "business" and weekday >= 5 and rng.random() < 0.8:
                continue
            if self.start <= ts < self.start + self.days * 86400:
                return ts
        return self.start + rng.random() * self.days * 86400

    def plan(self, ts: float, actor: Actor, **opts: Any) -> Plan:
        self.seq += 1
        return Plan(round(ts, 3), self.seq, actor, opts)

    # ---- genuine callers -------------------------------------------------
    def genuine_sessions(self) -> Iterator[list[Plan]]:
        site, rng = self.site, self.rng
        n = 0
        firms = []
        for f in range(12):
            fr = random.Random(f"firm-{f}-{rng.random()}")
            main = number(fr, site.country, "geo")
            stack = fr.choice(("asterisk", "freeswitch", "3cx", "yealink", "polycom"))
            firms.append((f, main, stack, _doc_ip(fr), FIRMS[f % len(FIRMS)]))
        kinds = ("customer-mobile", "customer-landline", "business-pbx", "branch", "expat", "cross-border",
                 "withheld", "callback", "softphone", "nongeo", "forwarded")
        weights = (30, 14, 10, 5, 5, 4, 5, 8, 5, 4, 3)
        while True:
            n += 1
            kind = rng.choices(kinds, weights=weights)[0]
            ar = random.Random(f"g-{n}-{rng.random()}")
            name = f"{ar.choice(FIRST)} {ar.choice(LAST)}"
            aid = f"cust-{site.country.lower()}-{n:07d}"
            good_carriers = tuple(3 if not c.name.startswith(("wholesale", "transit")) else 0.3 for c in site.carriers)
            c = _carrier_idx(site, ar, good_carriers)
            a = Actor(aid, "genuine", "genuine_" + kind.replace("-", "_"), [], name=name, carrier=c, attest=_attest_for(site, c, ar, True))
            profile = "business"
            calls = 1 if ar.random() < 0.7 else ar.choice((2, 2, 3))
            if kind == "customer-mobile":
                a.numbers = [number(ar, site.country, "mobile")]
                a.stack = "ims-mobile"
                profile = ar.choice(("business", "evening"))
            elif kind == "customer-landline":
                a.numbers = [number(ar, site.country, "geo")]
            elif kind == "business-pbx":
                f, main, stack, ip, fname = firms[ar.randrange(len(firms))]
                a.id = f"firm-{f:03d}-{ar.randrange(1, 30):02d}"
                a.numbers = [main if ar.random() < 0.6 else main[:-2] + f"{ar.randrange(100):02d}"]
                a.name = fname
                a.stack, a.origin_ip, a.via_hops = stack, ip, ar.choice((1, 2))
                a.carrier = ar.choice([i for i, x in enumerate(site.carriers) if not x.normalises] + [a.carrier])
                a.attest = _attest_for(site, a.carrier, ar, True)
                calls = ar.choice((1, 1, 2, 4))
            elif kind == "branch":
                b = ar.randrange(1, 25)
                a.id = f"branch-{b:03d}"
                a.numbers = [site.ddis[0][:-3] + f"{500 + b:03d}"]
                a.name = f"Branch {b}"
                a.stack, a.origin_ip, a.via_hops = "asterisk", f"198.18.{b}.2", 2
                a.carrier = [i for i, x in enumerate(site.carriers) if not x.normalises][0]
                a.attest = _attest_for(site, a.carrier, ar, True)
                calls = ar.choice((1, 2, 3))
            elif kind == "expat":
                cc = ar.choice(EXPAT_FROM)
                a.id = f"cust-intl-{n:07d}"
                a.numbers = [number(ar, cc, "mobile")]
                a.stack = ar.choice(("ims-mobile", "pstn-gw", "zoiper"))
                a.attest = _attest_for(site, a.carrier, ar, False) if site.carriers[a.carrier].signs != ("",) else ""
                a.attest = "C" if site.country in ("US", "CA") and ar.random() < 0.7 else a.attest
                profile = "any"
            elif kind == "cross-border":
                cc = ar.choice(NEIGHBOURS[site.country])
                a.id = f"cust-intl-{n:07d}"
                a.numbers = [number(ar, cc, ar.choice(("mobile", "geo")))]
                if site.country in ("US", "CA") and cc in ("US", "CA"):
                    a.attest = ar.choice(("A", "B", "C"))
            elif kind == "withheld":
                a.numbers = [number(ar, site.country, ar.choice(("mobile", "geo")))]
                a.withheld = True
                calls = ar.choice((1, 1, 2))
            elif kind == "callback":
                a.numbers = [number(ar, site.country, ar.choice(("mobile", "geo")))]
                a.stack = "ims-mobile" if a.numbers[0] else "pstn-gw"
                calls = ar.choice((3, 4, 5, 6))
            elif kind == "softphone":
                a.numbers = [number(ar, site.country, "geo")]
                a.stack = ar.choice(("microsip", "zoiper", "pjsua"))
                a.origin_ip = _doc_ip(ar)
                a.carrier = [i for i, x in enumerate(site.carriers) if not x.normalises][0]
                a.attest = _attest_for(site, a.carrier, ar, True)
                if a.attest == "A" and ar.random() < 0.5:
                    a.attest = "B"
                profile = "any"
            elif kind == "nongeo":
                a.numbers = [number(ar, site.country, "nongeo")]
                a.name = FIRMS[ar.randrange(len(FIRMS))]
                a.stack = ar.choice(("freeswitch", "pstn-gw", "3cx"))
                a.origin_ip = _doc_ip(ar)
            elif kind == "forwarded":
                a.numbers = [number(ar, site.country, "mobile")]
                a.diversion = f"<sip:{number(ar, site.country, 'geo')}@{site.carriers[a.carrier].host}>;reason=unconditional;counter=1"
            if ar.random() < 0.15:  # some customers are rung back from mobile on another network
                a.numbers.append(number(ar, site.country, "mobile"))
            ddi = ar.choice(site.ddis)
            t = self.local_time(ar, profile)
            plans = []
            for k in range(calls):
                plans.append(self.plan(t, a, ddi=ddi, num=a.numbers[0 if k == 0 or ar.random() < 0.8 else -1]))
                t += ar.choice((90, 300, 1200, 3600, 5 * 3600, 26 * 3600)) * (0.5 + ar.random())
                if kind == "callback" and k == 0:
                    t = plans[0].ts + ar.uniform(60, 900)
            self.customers.append(a)
            yield plans

    # ---- fraud crews -----------------------------------------------------
    def fraud_sessions(self) -> Iterator[list[Plan]]:
        site, rng = self.site, self.rng
        crews = ("ato-spoof", "ivr-recon", "withheld-repeat", "rotation", "robocall", "social-engineer")
        weights = (25, 20, 15, 15, 15, 10)
        n = 0
        crew_members: dict[str, list[Actor]] = {}
        while True:
            n += 1
            crew = rng.choices(crews, weights=weights)[0]
            cr = random.Random(f"f-{n}-{rng.random()}")
            members = crew_members.setdefault(crew, [])
            if members and cr.random() < 0.6:  # a known crew strikes again
                base = cr.choice(members)
            else:
                base = None
            cid = f"fraud-{crew}-{(len(members) if base is None else members.index(base)) + 1:03d}"
            bad_carriers = tuple(0.5 if not c.name.startswith(("wholesale", "transit", "sipgate", "voip", "clec", "cable")) else 3 for c in site.carriers)
            c = base.carrier if base else _carrier_idx(site, cr, bad_carriers)
            a = Actor(cid, "fraud", crew.replace("-", "_"), [], carrier=c, attest=_attest_for(site, c, cr, False),
                      origin_ip=base.origin_ip if base else _doc_ip(cr),
                      stack=base.stack if base else cr.choice(("vos3000", "pjsua", "asterisk", "freeswitch", "microsip", "dialler")),
                      shuffle_headers=cr.random() < 0.3, rotate_ua=cr.random() < 0.3, via_hops=cr.choice((1, 2, 3)))
            if base is None:
                members.append(a)
            plans: list[Plan] = []
            ddi = cr.choice(site.ddis)
            if crew == "ato-spoof":
                victims = [v for v in self.customers[-400:] if v.numbers and not v.withheld] or []
                victim = cr.choice(victims) if victims else None
                num = victim.numbers[0] if victim else number(cr, site.country, "mobile")
                a.name = victim.name if victim and cr.random() < 0.5 else ""
                a.carrier = (victim.carrier + 1) % len(site.carriers) if victim and cr.random() < 0.7 else a.carrier
                a.attest = cr.choice(("C", "", "")) if site.carriers[a.carrier].signs != ("",) else ""
                if site.carriers[a.carrier].signs != ("",) and "C" not in site.carriers[a.carrier].signs:
                    a.attest = ""
                t = self.local_time(cr, "business")
                for k in range(cr.choice((1, 1, 2, 3))):
                    plans.append(self.plan(t, a, ddi=ddi if cr.random() < 0.7 else cr.choice(site.ddis), num=num))
                    t += cr.uniform(120, 7200)
            elif crew == "ivr-recon":
                t = self.local_time(cr, cr.choice(("night", "business")))
                nums = [number(cr, site.country, cr.choice(("mobile", "geo"))) for _ in range(cr.choice((1, 2, 4)))]
                for burst in range(cr.choice((2, 3, 4))):
                    for k in range(cr.randrange(3, 9)):
                        plans.append(self.plan(t, a, ddi=cr.choice(site.ddis), num=cr.choice(nums)))
                        t += cr.uniform(8, 75)
                    t += cr.uniform(1800, 4 * 3600)
            elif crew == "withheld-repeat":
                a.withheld = True
                num = number(cr, site.country, cr.choice(("mobile", "geo")))
                t = self.local_time(cr, "business")
                for k in range(cr.choice((2, 3, 4, 5))):
                    plans.append(self.plan(t, a, ddi=ddi, num=num))
                    t += cr.uniform(660, 3600)
            elif crew == "rotation":
                t = self.local_time(cr, cr.choice(("business", "evening")))
                for k in range(cr.randrange(4, 12)):
                    plans.append(self.plan(t, a, ddi=cr.choice(site.ddis), num=number(cr, site.country, cr.choice(("mobile", "geo")))))
                    t += cr.uniform(30, 900)
            elif crew == "robocall":
                a.stack = "dialler" if cr.random() < 0.6 else "vos3000"
                t = self.local_time(cr, "business")
                for k in range(cr.randrange(3, 10)):
                    d = cr.choice(site.ddis)
                    num = invalid_number(cr, site.country) if cr.random() < 0.5 else neighbour_spoof(cr, d)
                    plans.append(self.plan(t, a, ddi=d, num=num))
                    t += cr.uniform(5, 240)
            else:  # social-engineer: real SIM cards on a mobile network, signed A in NANP
                a.stack, a.origin_ip, a.via_hops = "ims-mobile", "", 1
                a.carrier = _carrier_idx(site, cr, tuple(3 if x.normalises else 1 for x in site.carriers))
                a.attest = _attest_for(site, a.carrier, cr, True)
                a.name = f"{cr.choice(FIRST)} {cr.choice(LAST)}" if cr.random() < 0.4 else ""
                num = number(cr, site.country, "mobile")
                t = self.local_time(cr, "business")
                for k in range(cr.choice((1, 2, 2, 3))):
                    plans.append(self.plan(t, a, ddi=ddi, num=num))
                    t += cr.uniform(600, 6 * 3600)
            yield plans


# ---------------------------------------------------------------------------
# From a plan to the call signal Asterisk (PJSIP, trust_id_inbound=yes) builds.


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _uuid(rng: random.Random) -> str:
    h = _hex(rng, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{rng.choice('89ab')}{h[17:20]}-{h[20:]}"


def identity_header(rng: random.Random, orig: str, dest: str, attest: str, iat: int, x5u: str) -> str:
    header = {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": x5u}
    payload = {"attest": attest, "dest": {"tn": [dest.lstrip("+")]}, "iat": iat,
               "orig": {"tn": orig.lstrip("+")}, "origid": _uuid(rng)}
    jwt = ".".join((_b64url(json.dumps(header, separators=(",", ":")).encode()),
                    _b64url(json.dumps(payload, separators=(",", ":")).encode()),
                    _b64url(bytes(rng.randrange(256) for _ in range(64)))))
    return f"{jwt};info=<{x5u}>;alg=ES256;ppt=shaken"


def _stack_ua(rng: random.Random, stack: Stack, rotate: bool) -> str:
    if rotate:
        return rng.choice([s.ua for s in STACKS.values() if s.ua])
    return stack.ua


class Builder:
    def __init__(self, world: World):
        self.world = world
        self.site = world.site
        self.rng = random.Random(f"evalworld-signal-{world.rng.random()}")
        self.channel_seq = 0x2a0

    def build(self, p: Plan) -> dict[str, Any]:
        rng, site, a = self.rng, self.site, p.actor
        carrier = site.carriers[a.carrier]
        num: str = p.opts["num"]
        ddi: str = p.opts["ddi"]
        self.channel_seq += 1
        stack = STACKS[a.stack]
        withheld = a.withheld
        international = not num.startswith("+" + site.cc) if num.startswith("+") else False
        attest = a.attest if not international or a.attest in ("C", "") else "C"
        if withheld or not num.startswith("+"):
            attest = attest if attest in ("", "C") else "B"
        signed = bool(attest) and (not international or site.country in ("US", "CA"))
        host = carrier.host
        uri_user = num if num else "anonymous"
        pai = ""
        verstat = ""
        if carrier.verstat and num.startswith("+"):
            verstat = "TN-Validation-Passed" if attest in ("A", "B") else ("TN-Validation-Failed" if attest == "C" and rng.random() < 0.3 else "No-TN-Validation")
        if carrier.normalises or a.stack in ("ims-mobile", "pstn-gw") or withheld:
            vs = f";verstat={verstat}" if verstat and carrier.verstat == "pai" else ""
            pai = f"<sip:{uri_user}{vs}@{host};user=phone>" if num.startswith("+") else f"<sip:{uri_user}@{host}>"
        tag = _hex(rng, 10)
        disp = f'"{a.name}" ' if a.name and not withheld else ""
        if withheld:
            from_header = f"\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag={tag}"
        else:
            vs = f";verstat={verstat}" if verstat and carrier.verstat == "from" else ""
            from_header = f"{disp}<sip:{uri_user}@{host};user=phone{vs}>;tag={tag}"
        privacy = "id" if withheld else ""
        if withheld and rng.random() < 0.3:
            privacy = "id;header"
        identity = ""
        if signed and carrier.signs != ("",) and num:
            iat = int(p.ts) - rng.randrange(0, 3)
            x5u = f"https://cert.{carrier.name}.example/shaken/{carrier.name}.pem"
            identity = identity_header(rng, num, ddi, attest, iat, x5u)
        src_ip = carrier.ips[rng.randrange(len(carrier.ips))]
        if carrier.normalises:
            ua = carrier.ua
            names = _normalised_headers(carrier, bool(pai), bool(privacy), bool(identity), bool(a.diversion))
            via = [f"SIP/2.0/UDP {src_ip}:{carrier.port};branch=z9hG4bK{_hex(rng, 16)}"]
            max_fwd = str(rng.choice((69, 70)))
            contact = f"<sip:{uri_user}@{src_ip}:{carrier.port};transport=udp>"
            call_id = f"{_hex(rng, 24)}@{src_ip}"
        else:
            ua = _stack_ua(rng, stack, a.rotate_ua) if a.stack not in ("ims-mobile", "pstn-gw") else ""
            names = list(stack.headers)
            for extra, present in (("P-Asserted-Identity", bool(pai)), ("Privacy", bool(privacy)),
                                   ("Identity", bool(identity)), ("Diversion", bool(a.diversion))):
                if present and extra not in names:
                    names.insert(len(names) - 2, extra)
                if not present and extra in names:
                    names.remove(extra)
            if not ua and "User-Agent" in names:
                names.remove("User-Agent")
            if a.shuffle_headers:
                head, tail = names[:1], names[1:-1]
                rng.shuffle(tail)
                names = head + tail + names[-1:]
            names = tuple(names)
            origin = a.origin_ip or _doc_ip(rng)
            tr = stack.transport
            via = [f"SIP/2.0/UDP {src_ip}:{carrier.port};branch=z9hG4bK{_hex(rng, 16)}"]
            for h in range(a.via_hops):
                hop_ip = origin if h == a.via_hops - 1 else f"198.18.{rng.randrange(256)}.{rng.randrange(1, 255)}"
                via.append(f"SIP/2.0/{tr} {hop_ip}:{rng.choice((5060, 5060, 5062, 5080))};rport;branch=z9hG4bK{_hex(rng, 12)}")
            max_fwd = str(70 - len(via) - rng.randrange(0, 2))
            contact = f"<sip:{uri_user}@{origin}:5060;transport={tr.lower()}>"
            call_id = _hex(rng, 32) if a.stack in ("microsip", "zoiper", "pjsua") else f"{_hex(rng, 20)}@{origin}"
        # Asterisk: trust_id_inbound=yes takes the number from P-Asserted-Identity when present
        if withheld:
            caller_number = num if pai else "anonymous"
            presentation = "prohib_not_screened"
            caller_name = ""
        else:
            caller_number = num
            presentation = "allowed_not_screened"
            caller_name = a.name
        ts = p.ts
        sig: dict[str, Any] = {
            "dialled": ddi,
            "timestamp": ts,
            "caller_number": caller_number,
            "caller_name": caller_name,
            "presentation": presentation,
            "from_header": from_header,
            "pai": pai,
            "privacy": privacy,
            "identity": identity,
            "user_agent": ua,
            "diversion": a.diversion,
            "via": via[:4],
            "header_names": list(names),
            "max_forwards": max_fwd,
            "contact": contact,
            "codecs": rng.choice(site.codecs),
            "source_ip": src_ip,
            "source_port": carrier.port,
            "sip_call_id": call_id,
            "channel": f"PJSIP/{carrier.endpoint}-{self.channel_seq:08x}",
            "uniqueid": f"{int(ts)}.{self.channel_seq}",
            "channel_state": "Ring",
            "label": a.label,
            "campaign": a.campaign,
            "actor": a.id,
        }
        return sig


# ---------------------------------------------------------------------------


def _take(sessions: Iterator[list[Plan]], count: int) -> list[Plan]:
    out: list[Plan] = []
    while len(out) < count:
        out.extend(next(sessions)[: count - len(out)])
    return out


def generate(calls: int, seed: int, start: float, days: float, fraud_share: float) -> Iterator[dict]:
    """Yield ``calls`` labelled call signals of this world, in time order."""
    world = World(seed, start, days)
    fraud = round(calls * fraud_share)
    genuine = _take(world.genuine_sessions(), calls - fraud)
    bad = _take(world.fraud_sessions(), fraud)
    plans = sorted(genuine + bad)
    builder = Builder(world)
    for p in plans:
        yield builder.build(p)


def summary(seed: int) -> str:
    site = pick_site(seed)
    return f"evaluation world site {site.key} (home {site.country}); score it with: {json.dumps(suggested_config(site), sort_keys=True)}"


def write_jsonl(out: TextIO, signals: Iterable[dict], update: Callable[[int], Any] | None = None) -> dict[str, int]:
    counts = {"genuine": 0, "fraud": 0}
    for sig in signals:
        out.write(json.dumps(sig, separators=(", ", ": ")) + "\n")
        counts[sig["label"]] += 1
        if update is not None:
            update(1)
    return counts

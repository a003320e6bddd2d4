"""The simulated world that does not change between seeds (docs/simulation.md).

The contact centre's numbers (DDIs), the four trunks that deliver its calls, the SIP
stacks and networks callers come from, the number ranges callers are drawn from and
the formats of SIP identifiers. The clock lives in sim_clock.py.
"""

from __future__ import annotations

import itertools
import random
import string
from dataclasses import dataclass

# --- the contact centre's dialled numbers -------------------------------------------

@dataclass(frozen=True)
class Ddi:
    number: str   # E.164
    country: str  # GB or US
    line: str     # what the line is for
    weight: float  # relative share of genuine traffic within its country
    host: str     # the trunk whose carrier hosts the number: tier1, ngn or us


def _ddi(number: str, line: str, weight: float) -> Ddi:
    if number.startswith("+1"):
        return Ddi(number, "US", line, weight, "us")
    host = "ngn" if number.startswith(("+44800", "+44345", "+44333")) else "tier1"
    return Ddi(number, "GB", line, weight, host)


DDIS: tuple[Ddi, ...] = tuple(_ddi(*d) for d in (
    ("+442038901000", "retail-main", 14), ("+442038901010", "cards", 8),
    ("+442038901020", "mortgages", 4), ("+442038901030", "savings", 3),
    ("+442038901040", "loans", 3), ("+442038901050", "business-banking", 4),
    ("+442038901060", "premier", 2), ("+442038901070", "complaints", 2),
    ("+442038901080", "bereavement", 1), ("+442038901090", "online-banking-help", 6),
    ("+442038901100", "collections", 2), ("+442038901110", "insurance", 2),
    ("+441618500100", "retail-north", 5), ("+441618500110", "cards-north", 3),
    ("+441618500120", "business-north", 2), ("+441618500130", "mortgages-north", 2),
    ("+441618500140", "wealth", 1), ("+441618500150", "broker-desk", 1),
    ("+448000461000", "fraud-report", 5), ("+448001580200", "lost-stolen-cards", 4),
    ("+448007310300", "new-accounts", 2), ("+448002850400", "accessibility", 1),
    ("+448009170500", "online-banking-freephone", 3), ("+448003350600", "business-freephone", 1),
    ("+443457340000", "main-0345", 10), ("+443457340100", "cards-0345", 5),
    ("+443457340200", "mortgages-0345", 2), ("+443332020300", "retail-0333", 3),
    ("+443332020400", "business-0333", 1), ("+443332020500", "credit-cards-0333", 2),
    ("+18005550134", "us-support", 40), ("+18885550199", "us-cards", 25),
    ("+12125550147", "us-private-banking", 15), ("+16465550112", "us-business", 10),
    ("+14155550163", "us-west", 10),
))
GB_DDIS = tuple(d for d in DDIS if d.country == "GB")
US_DDIS = tuple(d for d in DDIS if d.country == "US")
# Lines an account-takeover ring works: where an agent can change details or move money.
ACCOUNT_LINES = frozenset({"retail-main", "cards", "online-banking-help", "retail-north", "cards-north",
                           "main-0345", "cards-0345", "retail-0333", "credit-cards-0333", "premier",
                           "online-banking-freephone", "lost-stolen-cards"})
# The bank's published outbound numbers (what it presents when calling customers):
# fraudsters spoof them, and branches genuinely call in from the branch ones.
BANK_OUTBOUND = ("+443457340000", "+448000461000", "+18005550134", "+18885550199")


# --- trunks: the immediate SIP peers of Asterisk ------------------------------------

@dataclass(frozen=True)
class Trunk:
    name: str                 # PJSIP endpoint name (channel PJSIP/<name>-0000002a)
    ips: tuple[str, ...]      # SBC addresses calls come from
    ua: str                   # User-Agent it sends when it does not pass the caller's through
    order: tuple[str, ...]    # its INVITE header order
    call_id: str              # Call-ID style (see ids())
    tag: str                  # From-tag style
    branch: str               # Via branch style


TRUNKS = {
    "tier1": Trunk("gb-tier1", ("203.0.113.10", "203.0.113.11"), "Sonus SBC",
                   ("Via", "Max-Forwards", "From", "To", "Call-ID", "CSeq", "Contact", "Allow", "Supported",
                    "Session-Expires", "Min-SE", "P-Asserted-Identity", "Privacy", "Diversion", "User-Agent",
                    "Accept", "Content-Type", "Content-Length"), "uuid@", "sonus", "sonus"),
    "ngn": Trunk("gb-ngn", ("203.0.113.40",), "Metaswitch Perimeta",
                 ("Via", "Max-Forwards", "From", "To", "Call-ID", "CSeq", "Contact", "Supported", "Allow",
                  "P-Asserted-Identity", "Privacy", "Diversion", "P-Charging-Vector", "P-Early-Media",
                  "User-Agent", "Content-Type", "Content-Length"), "perimeta", "hex8", "perimeta"),
    "us": Trunk("us-carrier", ("198.51.100.20", "198.51.100.21"), "BroadWorks",
                ("Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "Allow", "Accept",
                 "Supported", "P-Asserted-Identity", "Privacy", "Identity", "Diversion", "User-Agent",
                 "Session-Expires", "Min-SE", "Content-Type", "Content-Length"), "broadworks", "hex12", "hex16"),
    # A transparent SIP proxy (Kamailio): it adds its Via and Record-Route and passes the
    # rest of the INVITE through. Each upstream is provisioned on one of its nodes.
    "transit": Trunk("transit", tuple(f"198.51.100.{n}" for n in range(64, 80)), "",
                     ("Record-Route",), "", "", "kamailio"),
}
# The network that delivers verstat (configure scoring.trust_verstat_from with it).
US_TRUSTED_NETWORK = "198.51.100.16/29"
CARRIER_CORE = {"ngn": "203.0.113.41", "us": "198.51.100.22"}  # an inner hop these carriers show in Via


# --- originating SIP stacks ---------------------------------------------------------

@dataclass(frozen=True)
class Stack:
    name: str
    uas: tuple[str, ...]      # User-Agent versions seen ('' = sends none)
    order: tuple[str, ...]
    max_forwards: int
    codecs: tuple[str, ...]   # audio formats Asterisk ends up with, per deployment
    call_id: str
    tag: str
    branch: str
    transport: str            # UDP / TCP / TLS
    rpid: str                 # Remote-Party-ID screen value it sends ('' = none)
    number_format: str        # e164 (+44...), plain (44...), intl00 (0044...)
    contact_user: str         # '' = the calling number


_PAI_PRIV = ("P-Asserted-Identity", "Privacy")
STACKS = {s.name: s for s in (
    Stack("asterisk-pjsip", ("Asterisk PBX 18.12.1", "Asterisk PBX 18.20.2", "Asterisk PBX 20.5.2", "Asterisk PBX 16.30.0"),
          ("Via", "From", "To", "Contact", "Call-ID", "CSeq", "Allow", "Supported", "Session-Expires", "Min-SE",
           *_PAI_PRIV, "Identity", "Max-Forwards", "User-Agent", "Content-Type", "Content-Length"),
          70, ("(ulaw|alaw)", "(alaw|ulaw)", "(g722|ulaw|alaw)", "(g729|ulaw)"), "uuid", "uuid", "pj", "UDP", "", "e164", "asterisk"),
    Stack("freepbx-chansip", ("FPBX-15.0.37.4(16.25.0)", "FPBX-16.0.40.7(18.20.0)", "Asterisk PBX 13.38.3"),
          ("Via", "Max-Forwards", "From", "To", "Contact", "Call-ID", "CSeq", "User-Agent", "Date", "Allow",
           "Supported", "Remote-Party-ID", *_PAI_PRIV, "Content-Type", "Content-Length"),
          70, ("(ulaw|alaw)", "(alaw|g729)", "(g729|ulaw)"), "hex32@", "as8", "hex8", "UDP", "no", "plain", ""),
    Stack("freeswitch", ("FreeSWITCH-mod_sofia/1.10.7-release~64bit", "FreeSWITCH-mod_sofia/1.10.9-release~64bit",
                         "FreeSWITCH-mod_sofia/1.10.10-release~64bit"),
          ("Via", "Max-Forwards", "From", "To", "Call-ID", "CSeq", "Contact", "User-Agent", "Allow", "Supported",
           "Allow-Events", "Content-Type", "Content-Disposition", "Content-Length", "X-FS-Support",
           "Remote-Party-ID", *_PAI_PRIV),
          70, ("(g729|ulaw)", "(ulaw|alaw)", "(g722|ulaw)", "(alaw|g729)"), "uuid", "alnum13", "alnum13", "UDP", "yes", "plain", "mod_sofia"),
    Stack("3cx", ("3CXPhoneSystem 18.0.8.916 (916)", "3CXPhoneSystem 18.0.9.20 (20)", "3CXPhoneSystem 20.0.1.2 (1)"),
          ("Via", "Max-Forwards", "Contact", "To", "From", "Call-ID", "CSeq", "Allow", "Supported", "User-Agent",
           *_PAI_PRIV, "Content-Type", "Content-Length"),
          70, ("(g722|ulaw|alaw)", "(ulaw|alaw)", "(g729|alaw)"), "b64dot", "hex8", "3cx", "UDP", "", "e164", ""),
    Stack("microsip", ("MicroSIP/3.21.3", "MicroSIP/3.21.4"),
          ("Via", "Max-Forwards", "From", "To", "Contact", "Call-ID", "CSeq", "Allow", "Supported", "User-Agent",
           "Content-Type", "Content-Length"),
          70, ("(ulaw|alaw)", "(g729|ulaw)", "(alaw|ulaw)"), "hex32", "hex32", "pj", "UDP", "", "e164", ""),
    Stack("zoiper", ("Z 5.6.1 v2.10.19.9", "Z 5.6.4 v2.10.20.1"),
          ("Via", "Max-Forwards", "Contact", "To", "From", "Call-ID", "CSeq", "Allow", "Content-Type", "User-Agent",
           "Allow-Events", "Content-Length"),
          70, ("(ulaw|alaw)", "(g729|ulaw)"), "b64", "hex8", "3cx", "UDP", "", "e164", ""),
    Stack("vos3000", ("VOS3000 V2.1.8.05", "VOS3000 V2.1.6.00"),
          ("Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "User-Agent", "Remote-Party-ID",
           "Content-Type", "Content-Length"),
          20, ("(g729|ulaw)", "(g729|alaw)"), "digits@", "digits9", "hex16", "UDP", "no", "intl00", ""),
    Stack("audiocodes", ("Mediant SW/v.7.40A.500.475", "Mediant 800B/v.7.40A.250.003"),
          ("Via", "Max-Forwards", "From", "To", "Call-ID", "CSeq", "Contact", "Supported", "Allow",
           *_PAI_PRIV, "User-Agent", "Content-Type", "Content-Length"),
          # AudioCodes SBCs cap Max-Forwards at SBCMaxForwardsLimit, 10 by default.
          10, ("(g722|alaw)", "(alaw|ulaw)"), "digits@", "digits9", "ac", "TLS", "", "e164", ""),
    Stack("cisco-cube", ("Cisco-SIPGateway/IOS-17.9.4a", "Cisco-SIPGateway/IOS-16.12.5"),
          ("Via", "From", "To", "Date", "Call-ID", "Supported", "Min-SE", "Cisco-Guid", "User-Agent", "Allow",
           "CSeq", "Max-Forwards", "Timestamp", "Contact", "Expires", "Allow-Events", *_PAI_PRIV,
           "Session-Expires", "Content-Type", "Content-Disposition", "Content-Length"),
          70, ("(alaw|g729)", "(g722|alaw)", "(ulaw|g729)"), "cisco", "hex8", "cisco", "TCP", "", "e164", ""),
    Stack("cpaas-edge", ("cpaas-edge/2.31.4", "cpaas-edge/2.33.0"),
          ("Via", "Max-Forwards", "From", "To", "Call-ID", "CSeq", "Contact", "Allow", "Supported",
           *_PAI_PRIV, "Identity", "User-Agent", "Content-Type", "Content-Length"),
          70, ("(ulaw|alaw)", "(opus|ulaw)"), "hex32@", "hex8", "hex16", "UDP", "", "e164", ""),
    # A mobile or fixed operator's border element (IBCF): what international calls look like.
    Stack("ibcf-a", ("",), ("Via", "Max-Forwards", "From", "To", "Call-ID", "CSeq", "Contact", *_PAI_PRIV,
                            "Allow", "Supported", "P-Charging-Vector", "Content-Type", "Content-Length"),
          70, ("(g729|alaw)", "(alaw|ulaw)"), "hex24@", "hex12", "hex16", "UDP", "", "e164", ""),
    Stack("ibcf-b", ("",), ("Via", "Max-Forwards", "From", "To", "Call-ID", "CSeq", "Contact", "Allow", "Supported",
                            "Accept", *_PAI_PRIV, "P-Early-Media", "Content-Type", "Content-Length"),
          70, ("(alaw|g729)", "(ulaw|alaw)"), "uuid", "hex12", "hex16", "UDP", "", "plain", ""),
)}


# --- networks and providers: the route a call takes to reach us ----------------------

@dataclass(frozen=True)
class Network:
    name: str
    kind: str            # mobile, fixed, sip_trunk (UK domestic routes); foreign; provider; us
    country: str
    hops: int            # Max-Forwards spent before our trunk
    codecs: str = ""     # what this network offers when the caller has no SIP stack
    node: str = ""       # transit node it is provisioned on (foreign / provider)
    proxy_ip: str = ""   # provider proxy public address (shows in Via when passed through)
    domain: str = ""     # host part of the From / PAI it sends
    b2bua: str = ""      # provider that rewrites calls with its own stack (STACKS key)
    asserts: str = "caller"  # PAI: caller (what the caller sends), account (its own record), never
    sign_prob: float = 0.0   # US: share of calls it signs with a PASSporT
    x5u: str = ""
    mf_cap: int = 70         # its proxy caps Max-Forwards (Kamailio maxfwd max_limit)


NETWORKS = {n.name: n for n in (
    Network("gb-mno-1", "mobile", "GB", 3, "(alaw|ulaw)"), Network("gb-mno-2", "mobile", "GB", 4, "(g722|alaw)"),
    Network("gb-mno-3", "mobile", "GB", 3, "(alaw|ulaw)"), Network("gb-mno-4", "mobile", "GB", 5, "(alaw)"),
    Network("gb-fixed-1", "fixed", "GB", 2, "(alaw)"), Network("gb-fixed-2", "fixed", "GB", 3, "(alaw|ulaw)"),
    Network("gb-fixed-3", "fixed", "GB", 2, "(g722|alaw)"),
    Network("gb-siptrunk", "sip_trunk", "GB", 2),
    # Small VoIP providers reach us through the transit, each on its own node.
    Network("gb-voip-a", "provider", "GB", 1, node="198.51.100.65", proxy_ip="192.0.2.10", domain="sip.voip-a.example",
            mf_cap=20),
    Network("gb-voip-b", "provider", "GB", 1, node="198.51.100.66", proxy_ip="192.0.2.20", domain="voice.voip-b.example",
            b2bua="freeswitch", asserts="account"),
    Network("gb-business-sip", "provider", "GB", 1, node="198.51.100.64", proxy_ip="192.0.2.30", domain="trunks.bizsip.example",
            asserts="account"),
    Network("nl-wholesale", "provider", "NL", 2, node="198.51.100.67", proxy_ip="192.0.2.40", domain="sbc.wholesale-nl.example"),
    Network("ng-voip", "provider", "NG", 2, node="198.51.100.68", proxy_ip="192.0.2.50", domain="192.0.2.50",
            b2bua="vos3000", asserts="never"),
    Network("gh-voip", "provider", "GH", 2, node="198.51.100.69", proxy_ip="192.0.2.60", domain="sip.gh-voip.example",
            asserts="never"),
    Network("grey-route", "provider", "AE", 3, node="198.51.100.70", proxy_ip="192.0.2.70", domain="192.0.2.70",
            b2bua="vos3000", asserts="never"),
    # International operators (genuine callers abroad); the transit is their gateway to us.
    Network("fr-mno", "foreign", "FR", 4, "(alaw|g729)", node="198.51.100.72", proxy_ip="192.0.2.101",
            domain="ims.mnc001.mcc208.3gppnetwork.org", b2bua="ibcf-a"),
    Network("es-mno", "foreign", "ES", 5, "(g729|alaw)", node="198.51.100.72", proxy_ip="192.0.2.102",
            domain="ims.mnc007.mcc214.3gppnetwork.org", b2bua="ibcf-b"),
    Network("de-mno", "foreign", "DE", 4, "(alaw|g729)", node="198.51.100.73", proxy_ip="192.0.2.103",
            domain="ims.mnc002.mcc262.3gppnetwork.org", b2bua="ibcf-a"),
    Network("ie-mno", "foreign", "IE", 3, "(alaw|ulaw)", node="198.51.100.73", proxy_ip="192.0.2.104",
            domain="ims.mnc001.mcc272.3gppnetwork.org", b2bua="ibcf-b"),
    Network("ae-mno", "foreign", "AE", 6, "(g729|alaw)", node="198.51.100.74", proxy_ip="192.0.2.105",
            domain="ims.mnc002.mcc424.3gppnetwork.org", b2bua="ibcf-a"),
    Network("au-mno", "foreign", "AU", 6, "(g729|ulaw)", node="198.51.100.74", proxy_ip="192.0.2.106",
            domain="ims.mnc001.mcc505.3gppnetwork.org", b2bua="ibcf-b"),
    Network("us-intl-gw", "foreign", "US", 4, "(ulaw|g729)", node="198.51.100.75", proxy_ip="192.0.2.107",
            domain="gw.us-intl.example", b2bua="ibcf-a"),
    Network("ng-mno", "foreign", "NG", 6, "(g729|alaw)", node="198.51.100.76", proxy_ip="192.0.2.108",
            domain="ims.mnc020.mcc621.3gppnetwork.org", b2bua="ibcf-b"),
    Network("gh-mno", "foreign", "GH", 6, "(g729|alaw)", node="198.51.100.76", proxy_ip="192.0.2.109",
            domain="ims.mnc001.mcc620.3gppnetwork.org", b2bua="ibcf-a"),
    # US originating carriers (calls to the US DDIs); they sign with a PASSporT.
    Network("us-wireless-1", "us", "US", 3, "(ulaw|alaw)", domain="ims.wireless-1.example", sign_prob=0.97,
            x5u="https://cr.wireless-1.example/sti/2b7f.pem"),
    Network("us-wireless-2", "us", "US", 4, "(ulaw)", domain="sip.wireless-2.example", sign_prob=0.95,
            x5u="https://certs.wireless-2.example/shaken/a91c.cer"),
    Network("us-cable", "us", "US", 3, "(ulaw|g722)", domain="voice.cable.example", sign_prob=0.92,
            x5u="https://sti.cable.example/cert/ec3.pem"),
    Network("us-enterprise", "us", "US", 4, domain="trunk.ent-carrier.example", sign_prob=0.90,
            x5u="https://sti.ent-carrier.example/c/77.pem"),
    Network("us-small-voip", "us", "US", 2, domain="sip.small-voip.example", sign_prob=0.80,
            x5u="https://sti-cr.small-voip.example/0f3e.pem"),
    Network("us-cpaas", "us", "US", 2, domain="edge.cpaas.example", sign_prob=1.0,
            x5u="https://sti.cpaas.example/certs/prod-4.pem"),
)}
MOBILE_NETWORKS = (("gb-mno-1", 32), ("gb-mno-2", 27), ("gb-mno-3", 24), ("gb-mno-4", 17))
FIXED_NETWORKS = (("gb-fixed-1", 55), ("gb-fixed-2", 30), ("gb-fixed-3", 15))


# --- number ranges --------------------------------------------------------------------
# Templates: 'd' is any digit, 'N' a digit 2-9. Every range is checked against
# phonenumbers by tests/unit/test_simulate.py; generation never calls phonenumbers, so
# the output does not change with its metadata version.

GB_MOBILE_BLOCKS = ((7400, 7456), (7458, 7508), (7510, 7523), (7525, 7599), (7701, 7780), (7782, 7796),
                    (7798, 7828), (7830, 7838), (7840, 7910), (7912, 7936), (7938, 7999))
_BLOCK_CUM = list(itertools.accumulate(b - a + 1 for a, b in GB_MOBILE_BLOCKS))
GB_FIXED = (("+44203ddddddd", 8), ("+44207ddddddd", 5), ("+44208ddddddd", 5), ("+44161Ndddddd", 5),
            ("+44121[234567]dddddd", 5), ("+44113[2345]dddddd", 3), ("+44131[2345678]dddddd", 3),
            ("+44141Ndddddd", 3), ("+44117[2349]dddddd", 3), ("+44151Ndddddd", 3), ("+44114[2345]dddddd", 2),
            ("+44115[26789]dddddd", 2), ("+44118[2349]dddddd", 2), ("+441223Nddddd", 1), ("+441865Nddddd", 1),
            ("+441904Nddddd", 1), ("+442920Nddddd", 2), ("+442890Nddddd", 1))
GB_VOIP = (("+4456dddddddd", 1), ("+4470dddddddd", 2))
US_AREAS = ("212", "646", "718", "917", "347", "415", "310", "312", "713", "305", "617", "404", "206", "202",
            "214", "469", "832", "678", "703", "571", "954", "407", "720", "303", "602", "480", "702", "215",
            "412", "201", "973", "516", "614", "313", "612", "314", "704", "919", "615", "504")
FOREIGN_MOBILE = {
    "FR": ("+3361ddddddd", "+3362ddddddd", "+3365ddddddd", "+3366ddddddd", "+3367ddddddd", "+3368ddddddd",
           "+3377ddddddd", "+3378ddddddd"),
    "ES": ("+346dddddddd",),
    "DE": ("+49151dddddddd", "+49152dddddddd", "+49160ddddddd", "+49170ddddddd", "+49171ddddddd",
           "+49176dddddddd", "+49177dddddddd"),
    "IE": ("+35383ddddddd", "+35385ddddddd", "+35386ddddddd", "+35387ddddddd", "+35389ddddddd"),
    "AE": ("+97150ddddddd", "+97152ddddddd", "+97155ddddddd"),
    "AU": ("+6140ddddddd", "+6141ddddddd", "+6142ddddddd", "+6143ddddddd"),
    "NG": ("+234803ddddddd", "+234806ddddddd", "+234813ddddddd", "+234816ddddddd", "+234703ddddddd",
           "+234706ddddddd", "+234903ddddddd", "+234906ddddddd", "+234810ddddddd"),
    "GH": ("+23324ddddddd", "+23320ddddddd", "+23354ddddddd", "+23355ddddddd", "+23350ddddddd", "+23326ddddddd"),
}


def fill(rng: random.Random, template: str) -> str:
    """Expand a number template: 'd' any digit, 'N' 2-9, '[2349]' one of those digits."""
    out = []
    i = 0
    while i < len(template):
        c = template[i]
        if c == "d":
            out.append(str(rng.randrange(10)))
        elif c == "N":
            out.append(str(rng.randrange(2, 10)))
        elif c == "[":
            end = template.index("]", i)
            out.append(rng.choice(template[i + 1:end]))
            i = end
        else:
            out.append(c)
        i += 1
    return "".join(out)


def gb_mobile(rng: random.Random) -> str:
    lo, hi = rng.choices(GB_MOBILE_BLOCKS, cum_weights=_BLOCK_CUM)[0]
    return f"+44{rng.randint(lo, hi)}{rng.randrange(10**6):06d}"


def gb_fixed(rng: random.Random, near: str = "") -> str:
    """A UK landline; ``near`` (an E.164 prefix like +44161) picks the same area when it can."""
    templates = [t for t, _ in GB_FIXED if near and t.startswith(near)]
    if templates:
        return fill(rng, rng.choice(templates))
    return fill(rng, rng.choices([t for t, _ in GB_FIXED], weights=[w for _, w in GB_FIXED])[0])


def gb_voip(rng: random.Random) -> str:
    return fill(rng, rng.choices([t for t, _ in GB_VOIP], weights=[w for _, w in GB_VOIP])[0])


def us_number(rng: random.Random, area: str = "") -> str:
    return f"+1{area or rng.choice(US_AREAS)}{rng.randint(2, 9)}{rng.randrange(10**6):06d}"


def foreign_mobile(rng: random.Random, country: str) -> str:
    return fill(rng, rng.choice(FOREIGN_MOBILE[country]))


def invalid_number(rng: random.Random) -> str:
    """What a careless auto-dialler presents: a number two digits short, or a spare range."""
    return rng.choice((gb_mobile(rng)[:-2], gb_fixed(rng)[:-2], "+447000" + f"{rng.randrange(10**4):04d}",
                       "+4419" + f"{rng.randrange(10**8):08d}"))


# --- names ----------------------------------------------------------------------------

FIRST = ("James", "Olivia", "Amelia", "Oliver", "Isla", "George", "Ava", "Noah", "Mia", "Arthur", "Sophia",
         "Harry", "Grace", "Leo", "Freya", "Jack", "Priya", "Mohammed", "Aisha", "Daniel", "Chloe", "Ethan",
         "Emily", "Lucas", "Hannah", "Ryan", "Zara", "Liam", "Ella", "Adam", "Maria", "Kwame", "Chen", "Ana")
LAST = ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Robinson",
        "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Khan", "Lewis", "Clarke",
        "Jackson", "Wood", "Hughes", "Edwards", "Singh", "Ahmed", "Murphy", "Garcia", "Nguyen", "Okafor", "Miller")


def person(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST), rng.choice(LAST)


# --- ids in the styles of each SIP stack ----------------------------------------------

ALNUM = string.ascii_letters + string.digits


def hexs(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def uuid4(rng: random.Random) -> str:
    h = hexs(rng, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def ident(rng: random.Random, style: str, host: str) -> str:
    """A Call-ID, tag or branch suffix in ``style``."""
    if style == "uuid":
        return uuid4(rng)
    if style == "uuid@":
        return f"{uuid4(rng)}@{host}"
    if style.startswith("hex") and style.endswith("@"):
        return f"{hexs(rng, int(style[3:-1]))}@{host}"
    if style.startswith("hex"):
        return hexs(rng, int(style[3:]))
    if style.startswith("alnum"):
        return "".join(rng.choices(ALNUM, k=int(style[5:])))
    if style == "digits@":
        return f"{rng.randrange(10**9, 10**10)}-{rng.randrange(10**4, 10**5)}@{host}"
    if style.startswith("digits"):
        return str(rng.randrange(10 ** (int(style[6:]) - 1), 10 ** int(style[6:])))
    if style == "as8":
        return "as" + hexs(rng, 8)
    if style in ("b64dot", "b64"):
        import base64
        return base64.b64encode(hexs(rng, 24).encode()).decode().rstrip("=") + ("." if style == "b64dot" else "")
    if style == "sonus":
        return f"gK0{hexs(rng, 7)}"
    if style == "perimeta":
        return f"SDu{''.join(rng.choices(ALNUM, k=6))}01-{hexs(rng, 32)}-v3000i1"
    if style == "broadworks":
        return f"BW{rng.randrange(10**14, 10**15)}{rng.randrange(10**7):07d}-{rng.randrange(10**8, 10**9)}@{host}"
    if style == "cisco":
        return f"{hexs(rng, 8).upper()}-{hexs(rng, 8).upper()}-{hexs(rng, 8).upper()}-{hexs(rng, 8).upper()}@{host}"
    raise ValueError(f"unknown id style {style!r}")


BRANCHES = {
    "sonus": lambda rng: "z9hG4bK" + hexs(rng, 8) + "-" + hexs(rng, 4),
    "perimeta": lambda rng: "z9hG4bK+" + hexs(rng, 32) + "1+" + hexs(rng, 8) + "+1",
    "hex16": lambda rng: "z9hG4bK" + hexs(rng, 16),
    "hex8": lambda rng: "z9hG4bK" + hexs(rng, 8),
    "kamailio": lambda rng: "z9hG4bK" + hexs(rng, 8) + ".0",
    "pj": lambda rng: "z9hG4bKPj" + uuid4(rng),
    "alnum13": lambda rng: "z9hG4bK" + "".join(rng.choices(ALNUM, k=13)),
    "3cx": lambda rng: "z9hG4bK-524287-1---" + hexs(rng, 16),
    "ac": lambda rng: "z9hG4bKac" + str(rng.randrange(10**8, 10**9)),
    "cisco": lambda rng: "z9hG4bK" + hexs(rng, 6).upper() + hexs(rng, 4).upper(),
}

"""Who calls: genuine customers, bank branches and the devices they call from.

A customer is a pure function of (population seed, pool, index): built on first use,
rebuilt identically whenever needed (an LRU cache keeps the busy ones), so memory stays
flat however many calls are simulated and a customer's numbers and devices never depend
on the order in which calls were generated.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

from callshield.training import sim_world as w

PRIVATE_NETS = ("10.{}.{}.{}", "192.168.{}.{}", "172.{}.{}.{}")


@dataclass(frozen=True)
class Device:
    """What a caller calls from. Phones on mobile/fixed networks have no SIP stack of their
    own (the network's traits are all that shows); PBXs and softphones do."""

    network: w.Network
    stack: w.Stack | None = None
    ua: str = ""
    codecs: str = ""
    max_forwards: int = 70
    host: str = ""           # Contact / Via host it puts in its requests (private when behind NAT)
    port: int = 5060
    public: str = ""         # address the provider sees it from
    contact_params: str = ""
    from_host: str = ""
    origid: str = ""         # SHAKEN origid, when its carrier keeps one per customer
    account: str = ""        # its SIP username at the provider (the Contact user of softphones)


@dataclass(frozen=True)
class Line:
    number: str    # the number it presents (From), E.164
    asserted: str  # what the network asserts (P-Asserted-Identity); '' = none
    device: Device


@dataclass(frozen=True)
class Customer:
    actor: str
    home: str                 # GB, US, INTL, BRANCH
    lines: tuple[Line, ...]   # primary first
    name: str
    withholds: bool
    ddi: w.Ddi                # the line they usually call


@functools.lru_cache(maxsize=None)
def phone(network: str) -> Device:
    net = w.NETWORKS[network]
    return Device(net, codecs=net.codecs, host=net.proxy_ip, from_host=net.domain)


def public_ip(rng: random.Random) -> str:
    """A caller-side public address: 198.18.0.0/15 (RFC 2544, never routed), plenty of them."""
    return f"198.{18 + rng.randrange(2)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def private_ip(rng: random.Random) -> str:
    net = rng.choice(PRIVATE_NETS)
    if net.startswith("172"):
        return net.format(rng.randrange(16, 32), rng.randrange(256), rng.randrange(1, 255))
    if net.startswith("192"):
        return net.format(rng.choice((0, 1, 1, 10, 100)), rng.randrange(2, 255))
    return net.format(rng.randrange(256), rng.randrange(256), rng.randrange(1, 255))


def sip_device(rng: random.Random, network: str, stack: str, *, nat: float = 0.5,
               max_forwards: int | None = None, origid: bool = False) -> Device:
    """A SIP endpoint of its own (PBX, softphone, dialler) with stable traits."""
    net, st = w.NETWORKS[network], w.STACKS[stack]
    if max_forwards is None and rng.random() < LOW_MAX_FORWARDS:
        max_forwards = rng.choice((20, 16, 10))
    public = public_ip(rng)
    behind_nat = rng.random() < nat
    host = private_ip(rng) if behind_nat else public
    port = rng.choice((5060, 5060, 5060, 5062, 5080)) if not behind_nat or rng.random() < 0.5 else rng.randrange(20000, 60000)
    params = {"microsip": ";ob", "zoiper": f";rinstance={w.hexs(rng, 16)}", "freeswitch": ";transport=udp",
              "cisco-cube": ";transport=tcp", "audiocodes": ";transport=tls"}.get(stack, "")
    return Device(net, st, rng.choice(st.uas), rng.choice(st.codecs), max_forwards or st.max_forwards,
                  host, port, public, params, net.domain or public, w.uuid4(rng) if origid else "",
                  rng.choice((f"{rng.randrange(100000, 999999)}", f"u{rng.randrange(10**4, 10**5)}",
                              f"trunk{rng.randrange(100, 999)}")))


def pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([k for k, _ in weighted], weights=[v for _, v in weighted])[0]


_GB_DDI_CUM = [sum(d.weight for d in w.GB_DDIS[: i + 1]) for i in range(len(w.GB_DDIS))]
_US_DDI_CUM = [sum(d.weight for d in w.US_DDIS[: i + 1]) for i in range(len(w.US_DDIS))]


def gb_ddi(rng: random.Random) -> w.Ddi:
    return rng.choices(w.GB_DDIS, cum_weights=_GB_DDI_CUM)[0]


def us_ddi(rng: random.Random) -> w.Ddi:
    return rng.choices(w.US_DDIS, cum_weights=_US_DDI_CUM)[0]


INTL_COUNTRIES = (("ES", 22), ("FR", 18), ("IE", 13), ("DE", 11), ("AE", 9), ("AU", 7), ("US", 10), ("NG", 6), ("GH", 4))
FOREIGN_NET = {"ES": "es-mno", "FR": "fr-mno", "IE": "ie-mno", "DE": "de-mno", "AE": "ae-mno", "AU": "au-mno",
               "US": "us-intl-gw", "NG": "ng-mno", "GH": "gh-mno"}
BUSINESS_STACKS = (("cisco-cube", 25), ("audiocodes", 25), ("3cx", 20), ("asterisk-pjsip", 10), ("freepbx-chansip", 10),
                   ("freeswitch", 10))
LOW_MAX_FORWARDS = 0.08  # PBXs whose admin (or SBC default) sends a low Max-Forwards


BUSINESS_LINES = tuple(d for d in w.GB_DDIS if d.line in (
    "business-banking", "business-north", "broker-desk", "business-0333", "business-freephone", "wealth",
    "mortgages", "premier"))
FIRM_KINDS = ("LLP", "Ltd", "Accountants", "Brokers", "Care Ltd", "Lettings")


@dataclass(frozen=True)
class Firm:
    """A business whose staff call the bank through one PBX: many numbers, one device,
    several lines. Brokers, accountants, letting agents: the genuine look-alike of a ring."""

    staff: tuple[Customer, ...]
    lines: tuple[w.Ddi, ...]

    @property
    def customer(self) -> Customer:
        return self.staff[0]


class Population:
    """Customers by pool (GB, US, INTL) and index, the bank's branches and business firms.

    ``pick`` draws who calls: most calls come from anyone in the pool (so most customers
    call once or twice in a fortnight); a frequent few (4 % of each pool) get 12 % of them.
    """

    FREQUENT_SHARE, FREQUENT_CALLS = 0.04, 0.12

    def __init__(self, seed: int, sizes: dict[str, int], firms: int = 0):
        self.seed = seed
        self.sizes = sizes
        self.customer = functools.lru_cache(maxsize=65536)(self._build)
        brng = random.Random(f"{seed}/branches")
        estate = sip_device(brng, "gb-siptrunk", "cisco-cube", nat=0.0)
        self.branches = tuple(
            Customer(f"branch-{i:03d}", "BRANCH", (Line(n, n, estate),), "", False, brng.choice(w.GB_DDIS))
            for i, n in enumerate(w.gb_fixed(brng) for _ in range(40)))
        frng = random.Random(f"{seed}/firms")
        self.firms = tuple(self._firm(frng, i) for i in range(firms))
        self.firm_weights = [len(f.staff) for f in self.firms]
        mrng = random.Random(f"{seed}/monitor")
        platform = sip_device(mrng, "nl-wholesale", "freeswitch", nat=0.0, max_forwards=70)
        numbers = [w.gb_fixed(mrng, "+44203") for _ in range(3)]
        main_lines = tuple(d for d in w.GB_DDIS if d.line in ("retail-main", "cards", "main-0345", "fraud-report",
                                                                 "lost-stolen-cards", "retail-north"))
        self.monitor = Firm((Customer("ivr-monitor", "MONITOR", tuple(Line(n, n, platform) for n in numbers), "",
                                      False, main_lines[0]),), main_lines)

    @staticmethod
    def _firm(rng: random.Random, i: int) -> Firm:
        net = "gb-siptrunk" if rng.random() < 0.5 else "gb-business-sip"
        dev = sip_device(rng, net, pick(rng, BUSINESS_STACKS), nat=0.2)
        main = w.gb_fixed(rng)
        own_numbers = rng.random() < 0.5  # else the trunk asserts the switchboard number for everyone
        block = main[:-3]
        staff = []
        lines = rng.sample(BUSINESS_LINES, rng.randint(1, 3))  # each member of staff mostly calls one of them
        for j, ext in enumerate(sorted(rng.sample(range(1000), rng.randint(3, 40)))):
            first, last = w.person(rng)
            number = f"{block}{ext:03d}"
            staff.append(Customer(f"firm-{i:03d}-{j:02d}", "FIRM", (Line(number, number if own_numbers else main, dev),),
                                  f"{first} {last}", False, rng.choice(lines)))
        return Firm(tuple(staff), tuple(lines))

    def pick(self, rng: random.Random, pool: str) -> Customer:
        size = self.sizes[pool]
        if rng.random() < self.FREQUENT_CALLS:
            idx = rng.randrange(max(1, int(size * self.FREQUENT_SHARE)))
        else:
            idx = rng.randrange(size)
        return self.customer(pool, idx)

    def _build(self, pool: str, idx: int) -> Customer:
        rng = random.Random(f"{self.seed}/{pool}/{idx}")
        first, last = w.person(rng)
        actor = f"cust-{pool.lower()}-{idx:07d}"
        if pool == "GB":
            lines = [self._gb_line(rng, rng.random())]
            if rng.random() < 0.25:
                lines.append(self._gb_line(rng, rng.choice((0.1, 0.7))))
            return Customer(actor, "GB", tuple(lines), f"{first} {last}", rng.random() < 0.04, gb_ddi(rng))
        if pool == "US":
            net = pick(rng, (("us-wireless-1", 39), ("us-wireless-2", 29), ("us-cable", 15), ("us-enterprise", 10),
                             ("us-small-voip", 4), ("us-cpaas", 3)))
            number = w.us_number(rng)
            if net == "us-enterprise":
                dev = sip_device(rng, net, pick(rng, (("cisco-cube", 1), ("audiocodes", 1))), nat=0.0, origid=True)
            elif net == "us-cpaas":  # a virtual number in an app, or a business dialling out through an API
                dev = sip_device(rng, net, "cpaas-edge", nat=0.0, origid=True)
            elif net == "us-small-voip":
                dev = sip_device(rng, net, pick(rng, (("asterisk-pjsip", 1), ("3cx", 1), ("freeswitch", 1))), origid=True)
            else:
                dev = phone(net)
            name = "WIRELESS CALLER" if net.startswith("us-wireless") and rng.random() < 0.5 else f"{last} {first}".upper()
            return Customer(actor, "US", (Line(number, number, dev),), name, rng.random() < 0.03, us_ddi(rng))
        country = pick(rng, INTL_COUNTRIES)
        number = w.us_number(rng) if country == "US" else w.foreign_mobile(rng, country)
        r = rng.random()
        if r < 0.80:
            dev = phone(FOREIGN_NET[country])
        elif r < 0.92:  # visiting the UK: a UK network carries the call, the number stays foreign
            dev = phone(pick(rng, w.MOBILE_NETWORKS))
        else:  # a VoIP app abroad that presents the customer's verified mobile number
            dev = sip_device(rng, "nl-wholesale", pick(rng, (("zoiper", 1), ("microsip", 1))), nat=0.9)
        return Customer(actor, "INTL", (Line(number, number, dev),), f"{first} {last}", rng.random() < 0.03, gb_ddi(rng))

    @staticmethod
    def _gb_line(rng: random.Random, r: float) -> Line:
        if r < 0.66:
            n = w.gb_mobile(rng)
            return Line(n, n, phone(pick(rng, w.MOBILE_NETWORKS)))
        if r < 0.88:
            n = w.gb_fixed(rng)
            return Line(n, n, phone(pick(rng, w.FIXED_NETWORKS)))
        if r < 0.97:  # a business PBX: the trunk often asserts the company's main number
            n = w.gb_fixed(rng)
            main = n if rng.random() < 0.6 else w.gb_fixed(rng, n[:6])
            net = "gb-siptrunk" if r < 0.93 else "gb-business-sip"
            return Line(n, main, sip_device(rng, net, pick(rng, BUSINESS_STACKS), nat=0.2))
        n = w.gb_voip(rng) if rng.random() < 0.5 else w.gb_fixed(rng)  # consumer VoIP (ATA / softphone)
        net = rng.choice(("gb-voip-a", "gb-voip-b"))
        return Line(n, n, sip_device(rng, net, pick(rng, (("microsip", 1), ("zoiper", 1), ("asterisk-pjsip", 1))), nat=0.9))

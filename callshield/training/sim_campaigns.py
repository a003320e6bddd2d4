"""Fraud campaigns: who the fraudsters are, what they call from and how they behave.

Each planner gets its exact share of the fraud calls and returns that many plans. A
fraudster's device (provider, SIP stack, Contact host, Max-Forwards, codecs) is built
once and used for every call, so the route traits stay stable while numbers change.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from callshield.training import sim_clock as clk
from callshield.training import sim_world as w
from callshield.training.sim_population import Device, Population, gb_ddi, phone, pick, sip_device, us_ddi
from callshield.training.sim_signalling import CallPlan, Stir

# Share of the fraud calls per campaign (docs/simulation.md explains each).
FRAUD_MIX = (("withheld_repeat", 0.24), ("account_takeover_ring", 0.20), ("intl_voip", 0.16),
             ("spoofed_c", 0.12), ("robocall_burst", 0.12), ("spoofed_failed", 0.08), ("fraud_attested_a", 0.08))
BANK_CNAM = "NORTHBANK"
SHADY_X5U = "https://sti-cert.cheap-cr.example/shaken/cert.pem"
FRAUD_STACKS = (("asterisk-pjsip", 30), ("freeswitch", 20), ("3cx", 15), ("microsip", 20), ("zoiper", 15))
ACCOUNT_DDIS = tuple(d for d in w.GB_DDIS if d.line in w.ACCOUNT_LINES)


@dataclass
class Ctx:
    rng: random.Random
    office: clk.Sampler     # UK office hours, fraud-shaped
    us_office: clk.Sampler  # US office hours
    anytime: clk.Sampler    # robocall diallers
    population: Population
    start: float
    end: float

    def life(self, min_days: float, max_days: float) -> tuple[float, float]:
        """A fraudster's active period: they come and go during the window (some were
        already at it when it starts), so later calls include never-seen fraudsters."""
        span = self.end - self.start
        length = min(span, self.rng.uniform(min_days, max_days) * clk.DAY)
        begin = self.start - length / 2 + self.rng.random() * span
        lo, hi = max(self.start, begin), min(self.end, begin + length)
        return (lo, hi) if hi > lo else (self.start, self.end)


def apportion(total: int, weights: list[float]) -> list[int]:
    """Split ``total`` by ``weights`` exactly (largest remainder, ties to the earlier)."""
    s = sum(weights)
    if total <= 0 or s <= 0:
        return [0] * len(weights)
    raw = [total * x / s for x in weights]
    out = [int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - out[i]), i))
    for i in order[: total - sum(out)]:
        out[i] += 1
    return out


def plan_fraud(ctx: Ctx, calls: int) -> list[CallPlan]:
    budgets = apportion(calls, [share for _, share in FRAUD_MIX])
    plans: list[CallPlan] = []
    for (campaign, _), budget in zip(FRAUD_MIX, budgets):
        if budget:
            made = PLANNERS[campaign](ctx, budget)[:budget]
            assert len(made) == budget, campaign
            plans.extend(made)
    return plans


def _fraud_device(rng: random.Random, network: str, *, low_mf: float = 0.3) -> Device:
    mf = rng.choice((20, 16, 10)) if rng.random() < low_mf else None
    return sip_device(rng, network, pick(rng, FRAUD_STACKS), nat=0.6, max_forwards=mf, origid=True)


def _gaps(rng: random.Random, t: float, n: int, lo: float, hi: float) -> list[float]:
    out = []
    for _ in range(n):
        out.append(t)
        t += rng.uniform(lo, hi)
    return out


def withheld_repeat(ctx: Ctx, budget: int) -> list[CallPlan]:
    """Same fraudster, same DDI, withheld, again and again within minutes."""
    rng = ctx.rng
    people = []
    for i in range(max(1, round(budget / 45))):
        if rng.random() < 0.5:  # a burner on a UK mobile network: the network always asserts it
            dev = phone(pick(rng, w.MOBILE_NETWORKS))
            pai_rate = 1.0
        else:
            dev = _fraud_device(rng, rng.choice(("gb-voip-a", "gb-voip-b", "nl-wholesale")))
            pai_rate = rng.choice((0.0, 0.5, 0.9))
        burners = [w.gb_mobile(rng) for _ in range(2 if rng.random() < 0.3 else 1)]
        life = ctx.life(1, 4)
        switch = life[0] + rng.random() * (life[1] - life[0])
        people.append((f"fraud-wr-{i:03d}", dev, burners, pai_rate, switch, life))
    out: list[CallPlan] = []
    while len(out) < budget:
        actor, dev, burners, pai_rate, switch, life = rng.choice(people)
        ddi = rng.choice(ACCOUNT_DDIS) if rng.random() < 0.7 else gb_ddi(rng)
        for t in _gaps(rng, ctx.office.sample(rng, *life), rng.randint(3, 10), 25, 420):
            own = burners[-1] if t >= switch else burners[0]
            pai = own if rng.random() < pai_rate else ""
            out.append(CallPlan(t, "fraud", "withheld_repeat", actor, ddi, dev, own, pai, True))
    return out


def _spoof_us(rng: random.Random, ddi: w.Ddi) -> tuple[str, str]:
    r = rng.random()
    if r < 0.25:
        return rng.choice([d.number for d in w.US_DDIS]), BANK_CNAM
    if r < 0.35:
        return rng.choice(w.BANK_OUTBOUND[:2]), ""
    area = ddi.number[2:5] if rng.random() < 0.5 and ddi.number[2:5] in w.US_AREAS else ""
    first, last = w.person(rng)
    return w.us_number(rng, area), rng.choice((f"{last} {first}".upper(), "", "NEW YORK NY"))


def spoofed_c(ctx: Ctx, budget: int) -> list[CallPlan]:
    """Spoofed numbers on the US lines, signed C by the small carrier that placed them."""
    rng = ctx.rng
    net = w.NETWORKS["us-small-voip"]
    people = [(f"fraud-sc-{i:03d}", _fraud_device(rng, "us-small-voip"), ctx.life(2, 7))
              for i in range(max(1, round(budget / 60)))]
    out: list[CallPlan] = []
    while len(out) < budget:
        actor, dev, life = rng.choice(people)
        ddi = us_ddi(rng)
        for t in _gaps(rng, ctx.us_office.sample(rng, *life), rng.randint(1, 4), 60, 900):
            number, cnam = _spoof_us(rng, ddi)
            stir = Stir("C", number, net.x5u, dev.origid, int(t) - rng.randrange(3), "TN-Validation-Passed", rng.random() < 0.9)
            out.append(CallPlan(t, "fraud", "spoofed_c", actor, ddi, dev, number, number, False, cnam, stir))
    return out


def spoofed_failed(ctx: Ctx, budget: int) -> list[CallPlan]:
    """Spoofed numbers whose PASSporT the US carrier could not verify (verstat failed)."""
    rng = ctx.rng
    net = w.NETWORKS["us-small-voip"]
    people = []
    for i in range(max(1, round(budget / 40))):
        people.append((f"fraud-sf-{i:03d}", _fraud_device(rng, "us-small-voip"), w.us_number(rng), ctx.life(1, 5)))
    out: list[CallPlan] = []
    while len(out) < budget:
        actor, dev, own, life = rng.choice(people)
        ddi = us_ddi(rng)
        for t in _gaps(rng, ctx.us_office.sample(rng, *life), rng.randint(1, 3), 60, 1200):
            number, cnam = _spoof_us(rng, ddi)
            mode = rng.random()
            if mode < 0.5:  # number changed after signing: orig.tn is the fraudster's real line
                stir = Stir(rng.choice("AB"), own, net.x5u, dev.origid, int(t) - rng.randrange(3))
            elif mode < 0.7:  # a PASSporT replayed from an earlier genuine call
                stir = Stir("A", number, w.NETWORKS["us-wireless-1"].x5u, w.uuid4(rng), int(t) - rng.randrange(600, 3 * 86400))
            else:  # signed with a certificate no STI-CA issued
                stir = Stir("A", number, SHADY_X5U, dev.origid, int(t) - rng.randrange(3))
            stir.verstat = "TN-Validation-Failed"
            stir.identity = rng.random() < 0.85
            out.append(CallPlan(t, "fraud", "spoofed_failed", actor, ddi, dev, number, number, False, cnam, stir))
    return out


def intl_voip(ctx: Ctx, budget: int) -> list[CallPlan]:
    """Fraudsters abroad on cheap VoIP routes: West African numbers, UK VoIP ranges, US C."""
    rng = ctx.rng
    people = []
    for i in range(max(1, round(budget / 40))):
        kind = pick(rng, (("NG", 27), ("GH", 13), ("NGMOBILE", 20), ("GBVOIP", 22), ("US", 18)))
        if kind == "NGMOBILE":  # a local SIM abroad: the operator's border hides the device
            dev, numbers = phone(rng.choice(("ng-mno", "gh-mno"))), []
            numbers = [w.foreign_mobile(rng, dev.network.country) for _ in range(rng.randint(1, 3))]
        elif kind == "NG":
            dev, numbers = _fraud_device(rng, "ng-voip"), [w.foreign_mobile(rng, "NG") for _ in range(rng.randint(2, 4))]
        elif kind == "GH":
            dev, numbers = _fraud_device(rng, "gh-voip"), [w.foreign_mobile(rng, "GH") for _ in range(rng.randint(2, 4))]
        elif kind == "GBVOIP":
            dev = _fraud_device(rng, rng.choice(("grey-route", "nl-wholesale")))
            numbers = [w.gb_voip(rng) if rng.random() < 0.7 else w.gb_mobile(rng) for _ in range(rng.randint(1, 3))]
        else:
            dev, numbers = _fraud_device(rng, "us-small-voip"), [w.us_number(rng) for _ in range(rng.randint(1, 3))]
        people.append((f"fraud-iv-{i:03d}", kind, dev, numbers, ctx.life(1, 6)))
    out: list[CallPlan] = []
    while len(out) < budget:
        actor, kind, dev, numbers, life = rng.choice(people)
        sampler = ctx.us_office if kind == "US" else ctx.office
        for t in _gaps(rng, sampler.sample(rng, *life), rng.randint(1, 5), 120, 1800):
            ddi = us_ddi(rng) if kind == "US" else gb_ddi(rng)
            number = rng.choice(numbers)
            stir = None
            if kind == "US":
                stir = Stir("C", number, dev.network.x5u, dev.origid, int(t) - rng.randrange(3),
                            "TN-Validation-Passed", rng.random() < 0.9)
            elif rng.random() < 0.05:
                number = ""  # the route dropped the CLI
            pai = number if dev.network.asserts == "caller" else ""
            out.append(CallPlan(t, "fraud", "intl_voip", actor, ddi, dev, number, pai, False, "", stir))
    return out


def account_takeover_ring(ctx: Ctx, budget: int) -> list[CallPlan]:
    """One fraudster working many victims' accounts: spoofs each victim's own number."""
    rng = ctx.rng
    rings = []
    for i in range(max(1, round(budget / 150))):
        # Most rings use a small VoIP provider that lets them set any CLI; some sit behind a
        # UK business SIP trunk (their own or a compromised PBX), where the carrier hides them.
        net = pick(rng, (("gb-voip-a", 25), ("gb-voip-b", 20), ("nl-wholesale", 20), ("gb-siptrunk", 35)))
        if net == "gb-siptrunk":
            dev = sip_device(rng, net, pick(rng, (("3cx", 1), ("freepbx-chansip", 1), ("asterisk-pjsip", 1))), nat=0.3)
        else:
            dev = _fraud_device(rng, net, low_mf=0.4)
        account = w.gb_voip(rng) if rng.random() < 0.5 else w.gb_fixed(rng)
        lo, hi = ctx.life(4, 12)
        days = [d for d in range(int((hi - lo) // clk.DAY) + 1) if rng.random() < 0.7] or [0]
        rings.append((f"fraud-ato-{i:03d}", dev, account, lo, hi, days))
    out: list[CallPlan] = []
    while len(out) < budget:
        actor, dev, account, lo, hi, days = rng.choice(rings)
        day = rng.choice(days)
        t = ctx.office.sample(rng, lo + day * clk.DAY, min(hi, lo + (day + 1) * clk.DAY))
        victim = ctx.population.pick(rng, "GB")
        number = victim.lines[0].number
        ddi = victim.ddi if rng.random() < 0.5 else rng.choice(ACCOUNT_DDIS)
        withheld = rng.random() < 0.2
        name = victim.name if rng.random() < 0.3 else ""
        tries = rng.choices((1, 2, 3), weights=(70, 25, 5))[0]  # a retry when the agent gets suspicious
        for t in _gaps(rng, t, tries, 120, 1800):
            policy = "account" if dev.network.kind == "sip_trunk" else dev.network.asserts
            pai = account if policy == "account" else ("" if withheld else number)
            out.append(CallPlan(t, "fraud", "account_takeover_ring", actor, ddi, dev, number, pai, withheld, name))
    return out


def robocall_burst(ctx: Ctx, budget: int) -> list[CallPlan]:
    """Diallers probing the IVR: dozens of calls from dozens of numbers in a few minutes."""
    rng = ctx.rng
    sources = []
    for i in range(max(1, round(budget / 100))):
        net = rng.choice(("grey-route", "gb-voip-a", "nl-wholesale"))
        dev = sip_device(rng, net, rng.choice(("freeswitch", "asterisk-pjsip")), nat=0.0,
                         max_forwards=rng.choice((20, 16, 10, 70)))
        sources.append((f"fraud-robo-{i:03d}", dev, ctx.life(0.5, 4)))
    out: list[CallPlan] = []
    while len(out) < budget:
        actor, dev, life = rng.choice(sources)
        targets = rng.sample(w.GB_DDIS, rng.randint(1, 3))
        size = rng.randint(15, 60)
        t0, span = ctx.anytime.sample(rng, *life), rng.uniform(120, 480)
        for t in sorted(t0 + rng.random() * span for _ in range(size)):
            ddi = rng.choice(targets)
            r = rng.random()
            if r < 0.55:
                number = w.gb_fixed(rng, ddi.number[:6]) if ddi.host == "tier1" else w.gb_mobile(rng)
            elif r < 0.92:
                number = w.gb_mobile(rng)
            else:
                number = w.invalid_number(rng)
            pai = number if dev.network.asserts == "caller" else ""
            out.append(CallPlan(t, "fraud", "robocall_burst", actor, ddi, dev, number, pai))
    return out


def fraud_attested_a(ctx: Ctx, budget: int) -> list[CallPlan]:
    """A fraudster on a legitimate CPaaS line: attestation A, verified, but the behaviour gives it away."""
    rng = ctx.rng
    net = w.NETWORKS["us-cpaas"]
    people = []
    for i in range(max(1, round(budget / 50))):
        dev = sip_device(rng, "us-cpaas", "cpaas-edge", nat=0.0, origid=True)
        first, last = w.person(rng)
        people.append((f"fraud-aa-{i:03d}", dev, [w.us_number(rng) for _ in range(rng.randint(1, 2))],
                       rng.choice(("", f"{last} {first}".upper())), ctx.life(2, 8)))
    out: list[CallPlan] = []
    while len(out) < budget:
        actor, dev, numbers, cnam, life = rng.choice(people)
        targets = [us_ddi(rng) if rng.random() < 0.85 else gb_ddi(rng) for _ in range(rng.randint(1, 2))]
        for t in _gaps(rng, ctx.us_office.sample(rng, *life), rng.randint(2, 6), 45, 600):
            ddi = rng.choice(targets)
            number = rng.choice(numbers)
            uk = ddi.country != "US"
            stir = Stir("A", number, net.x5u, dev.origid, int(t) - rng.randrange(3),
                        "" if uk else "TN-Validation-Passed", rng.random() < (0.3 if uk else 0.9))
            withheld = rng.random() < 0.15
            out.append(CallPlan(t, "fraud", "fraud_attested_a", actor, ddi, dev, number, number, withheld, cnam, stir))
    return out


PLANNERS = {
    "withheld_repeat": withheld_repeat, "account_takeover_ring": account_takeover_ring, "intl_voip": intl_voip,
    "spoofed_c": spoofed_c, "robocall_burst": robocall_burst, "spoofed_failed": spoofed_failed,
    "fraud_attested_a": fraud_attested_a,
}

"""Labelled-call simulator: realistic call signals, genuine and fraudulent, for training
and measuring the fraud model (docs/simulation.md describes the world it simulates).

    for signal in simulate(calls=20_000, seed=7, start=..., days=14, fraud_share=0.02):
        ...  # a call-signal dict plus label, campaign and actor

Deterministic for a seed: only ``random.Random`` instances derived from it, no clock,
no global RNG, no set iteration. Calls come out in time order, one simulated day of
genuine traffic (and the fraud falling in it) in memory at a time.
"""

from __future__ import annotations

import heapq
import json
import random
from typing import IO, Callable, Iterator

from callshield.training import sim_clock as clk
from callshield.training import sim_world as w
from callshield.training.sim_campaigns import FRAUD_MIX, Ctx, apportion, plan_fraud
from callshield.training.sim_population import Customer, Line, Population, gb_ddi, phone, us_ddi
from callshield.training.sim_signalling import CallPlan, Renderer, Stir

DEFAULT_START = 1793577600.0  # 2026-11-02T00:00:00Z, a Monday
GENUINE_CAMPAIGNS = ("genuine", "genuine_withheld", "genuine_international", "genuine_internal", "genuine_business",
                     "genuine_ivr_test")
CAMPAIGNS = GENUINE_CAMPAIGNS + tuple(c for c, _ in FRAUD_MIX)

US_SHARE = 0.10           # genuine sessions to the US lines
INTL_SHARE = 0.025        # UK-line sessions from customers with foreign numbers
BRANCH_SHARE = 0.01       # UK-line sessions from the bank's own branches
FIRM_SHARE = 0.03         # UK-line sessions from staff of business firms (one PBX, many numbers)
FIRM_CALLS = 60           # mean calls per firm in the window
PERSISTENT_SHARE = 0.01   # sessions where a customer keeps calling for an hour or more
MONITOR_SHARE = 0.004     # genuine calls that are the IVR-monitoring service's test calls
CALLBACK_SHARE = 0.07     # sessions where the customer calls again within minutes
CALLS_PER_CUSTOMER = 1.3    # mean genuine calls per customer in the window (calls / population)
POOL_SHARE = {"GB": (1 - US_SHARE) * (1 - INTL_SHARE - BRANCH_SHARE - FIRM_SHARE) + US_SHARE * 0.08,
              "US": US_SHARE * 0.92, "INTL": (1 - US_SHARE) * INTL_SHARE}
ATTEST_MIX = {"us-wireless-1": (0.97, 0.02), "us-wireless-2": (0.97, 0.02), "us-cable": (0.93, 0.06),
              "us-enterprise": (0.25, 0.70), "us-small-voip": (0.55, 0.25), "us-cpaas": (1.0, 0.0)}  # P(A), P(B)
GATEWAY_X5U = "https://sti.intl-gateway.example/gw/cert-3.pem"
GATEWAY_ORIGID = "5b0d3c1e-7a2f-4c89-9e41-0d6f2b7a8c13"


def simulate(calls: int, seed: int, start: float = DEFAULT_START, days: float = 14.0,
             fraud_share: float = 0.02) -> Iterator[dict]:
    """Yield ``calls`` labelled call signals in timestamp order."""
    if calls < 0:
        raise ValueError("calls must be >= 0")
    if not days > 0:
        raise ValueError("days must be > 0")
    if not 0.0 <= fraud_share <= 1.0:
        raise ValueError("fraud_share must be between 0 and 1")
    master = random.Random(seed)
    pop_seed = master.getrandbits(64)
    genuine_rng, fraud_rng, render_rng = (random.Random(master.getrandbits(64)) for _ in range(3))

    clock = clk.Clock(start, days)
    n_fraud = round(calls * fraud_share)
    n_genuine = calls - n_fraud
    sizes = {pool: max(20, round(n_genuine / CALLS_PER_CUSTOMER * share)) for pool, share in POOL_SHARE.items()}
    population = Population(pop_seed, sizes, max(3, round(n_genuine * (1 - US_SHARE) * FIRM_SHARE / FIRM_CALLS)))
    genuine = GenuinePlanner(genuine_rng, clock, population)
    ctx = Ctx(fraud_rng, clock.sampler(clock.weights(clk.FRAUD_HOURS, clk.FRAUD_DAYS)),
              clock.sampler(clock.weights(clk.FRAUD_HOURS, clk.FRAUD_DAYS, clk.new_york_offset)),
              clock.sampler(clock.weights(clk.ROBO_HOURS, clk.ROBO_DAYS)), population, clock.start, clock.end)
    fraud = plan_fraud(ctx, n_fraud)
    fraud.sort(key=lambda p: p.ts)  # stable: ties keep planning order
    renderer = Renderer(render_rng)

    chunks = []
    t = start
    while t < clock.end:
        chunks.append((t, min(clock.end, t + clk.DAY)))
        t += clk.DAY
    budgets = apportion(n_genuine, [genuine.mix.mass(lo, hi) for lo, hi in chunks])
    heap: list[tuple[float, int, CallPlan]] = []
    seq = 0
    fi = 0
    for i, ((lo, hi), budget) in enumerate(zip(chunks, budgets)):
        last = i == len(chunks) - 1
        for plan in genuine.plan(lo, hi, budget):
            heapq.heappush(heap, (plan.ts, seq, plan))
            seq += 1
        while fi < len(fraud) and (last or fraud[fi].ts < hi):
            heapq.heappush(heap, (fraud[fi].ts, seq, fraud[fi]))
            seq += 1
            fi += 1
        while heap and (last or heap[0][0] < hi):
            yield renderer.render(heapq.heappop(heap)[2])


class GenuinePlanner:
    """Genuine sessions: who calls, on which line, when, and whether they call back."""

    def __init__(self, rng: random.Random, clock: clk.Clock, population: Population):
        self.rng = rng
        self.population = population
        self.clock = clock
        uk = clock.weights(clk.GENUINE_HOURS, clk.GENUINE_DAYS, clk.london_offset)
        us = clock.weights(clk.GENUINE_HOURS, clk.GENUINE_DAYS, clk.new_york_offset)
        su, ss = sum(uk) or 1.0, sum(us) or 1.0
        self.uk = [(1 - US_SHARE) * x / su for x in uk]
        self.us = [US_SHARE * x / ss for x in us]
        self.mix = clock.sampler([a + b for a, b in zip(self.uk, self.us)])

    def plan(self, lo: float, hi: float, budget: int) -> list[CallPlan]:
        out: list[CallPlan] = []
        while len(out) < budget:
            t = self.mix.sample(self.rng, lo, hi)
            h = min(len(self.uk) - 1, int((t - self.clock.start) // clk.HOUR))
            total = self.uk[h] + self.us[h]
            us_line = total > 0 and self.rng.random() < self.us[h] / total
            if not us_line and self.rng.random() < MONITOR_SHARE / len(self.population.monitor.lines):
                out.extend(self.monitor_cycle(t)[: budget - len(out)])
            else:
                out.extend(self.session(t, us_line)[: budget - len(out)])
        return out

    def session(self, t: float, us_line: bool) -> list[CallPlan]:
        rng, pop = self.rng, self.population
        if us_line:
            cust = pop.pick(rng, "US") if rng.random() < 0.92 else pop.pick(rng, "GB")
            ddi = cust.ddi if cust.home == "US" and rng.random() < 0.8 else us_ddi(rng)
        else:
            r = rng.random()
            if r < BRANCH_SHARE:
                cust = rng.choice(pop.branches)
            elif r < BRANCH_SHARE + INTL_SHARE:
                cust = pop.pick(rng, "INTL")
            elif r < BRANCH_SHARE + INTL_SHARE + FIRM_SHARE:
                firm = rng.choices(pop.firms, weights=pop.firm_weights)[0]
                cust = rng.choice(firm.staff)
            else:
                cust = pop.pick(rng, "GB")
            ddi = cust.ddi if rng.random() < 0.7 else gb_ddi(rng)
        line = cust.lines[0] if len(cust.lines) == 1 or rng.random() < 0.75 else cust.lines[1]
        withheld = cust.withholds or rng.random() < 0.008
        diversion = ""
        if not us_line and cust.home != "BRANCH" and rng.random() < 0.015:  # an old branch number forwards to us
            diversion = rng.choice(pop.branches).lines[0].number
        calls = [self.call(t, cust, line, ddi, withheld, diversion)]
        r = rng.random()
        if r < CALLBACK_SHARE:  # dropped, abandoned in the queue, forgot something
            again, gap = rng.choices((1, 2, 3), weights=(80, 15, 5))[0], (5.0, 0.8)
        elif r < CALLBACK_SHARE + PERSISTENT_SHARE:  # locked out, disputing, cannot get through
            again, gap = rng.randint(3, 9), (6.0, 0.7)
        else:
            again = 0
        for _ in range(again):
            t += min(3600.0, max(20.0, rng.lognormvariate(*gap)))
            if rng.random() < 0.1:
                ddi = us_ddi(rng) if us_line else gb_ddi(rng)
            calls.append(self.call(t, cust, line, ddi, withheld, ""))
        return calls

    def monitor_cycle(self, t: float) -> list[CallPlan]:
        """The IVR-monitoring service: at a fixed minute of the hour it dials each main
        line in turn from its test platform (one source, a few numbers, like a dialler)."""
        rng, mon = self.rng, self.population.monitor
        t = t - (t - self.clock.start) % clk.HOUR + 7 * 60 + rng.uniform(0, 20)
        calls = []
        for ddi in mon.lines:
            line = mon.customer.lines[len(calls) % len(mon.customer.lines)]
            calls.append(CallPlan(t, "genuine", "genuine_ivr_test", mon.customer.actor, ddi, line.device,
                                  line.number, line.asserted, False, "IVR Monitor"))
            t += rng.uniform(25, 45)
        return calls

    def call(self, t: float, cust: Customer, line: Line, ddi: w.Ddi, withheld: bool, diversion: str) -> CallPlan:
        rng = self.rng
        dev = line.device
        kind = dev.network.kind
        number, asserted = line.number, line.asserted
        if kind == "provider":
            policy = dev.network.asserts
            asserted = number if policy == "caller" else (asserted if policy == "account" else "")
            if withheld and rng.random() < 0.5:
                asserted = ""
        elif kind == "foreign":
            # Least-cost routing hands some international calls to a grey route (more so
            # from West Africa): same VOS3000 softswitch as the fraud routes, CLI at risk.
            if rng.random() < (0.45 if dev.network.country in ("NG", "GH") else 0.08):
                dev = phone(rng.choice(("grey-route", "ng-voip")))
                asserted = ""
                if rng.random() < 0.08:
                    number = ""
            elif rng.random() < 0.1:
                asserted = ""
            if rng.random() < 0.02:
                number, asserted = "", ""  # the international route lost the CLI
        elif dev.stack is not None and rng.random() < 0.03:
            number = f"{rng.randint(2, 8)}{rng.randrange(1000):03d}"  # a PBX that presents the extension
        elif withheld and rng.random() < 0.03:
            asserted = ""
        if cust.home == "BRANCH":
            campaign = "genuine_internal"
        elif cust.home == "FIRM" and not withheld:
            campaign = "genuine_business"
        elif withheld:
            campaign = "genuine_withheld"
        elif _region(line.number) != ddi.country:
            campaign = "genuine_international"
        else:
            campaign = "genuine"
        name = ""
        if ddi.country == "US":
            name = cust.name if cust.home == "US" else ""
        elif dev.stack is not None:
            name = "Northbank Branch" if cust.home == "BRANCH" else cust.name
        stir = None
        if ddi.country == "US":
            stir = self.us_stir(t, line)
        elif dev.network.name == "us-intl-gw" and rng.random() < 0.15:  # a PASSporT that survived the way to the UK
            stir = Stir("A", number, w.NETWORKS["us-wireless-1"].x5u, w.uuid4(rng), int(t) - rng.randrange(3))
        return CallPlan(t, "genuine", campaign, cust.actor, ddi, dev, number, asserted, withheld, name, stir, diversion)

    def us_stir(self, t: float, line: Line) -> Stir:
        rng = self.rng
        net = line.device.network
        iat = int(t) - rng.randrange(3)
        if net.kind == "us":
            if rng.random() >= net.sign_prob:
                return Stir(verstat="No-TN-Validation" if rng.random() < 0.95 else "")
            pa, pb = ATTEST_MIX[net.name]
            r = rng.random()
            attest = "A" if r < pa else ("B" if r < pa + pb else "C")
            stir = Stir(attest, line.asserted or line.number, net.x5u, line.device.origid or w.uuid4(rng), iat)
            stir.verstat = "TN-Validation-Failed" if rng.random() < 0.007 else "TN-Validation-Passed"
        elif rng.random() < 0.6:  # an international call: the US gateway signs C, or nobody does
            stir = Stir("C", line.number, GATEWAY_X5U, GATEWAY_ORIGID, iat, "TN-Validation-Passed")
        else:
            return Stir(verstat="No-TN-Validation" if rng.random() < 0.95 else "")
        if rng.random() < 0.05:
            stir.verstat = ""
        stir.identity = rng.random() < 0.88
        return stir


def _region(number: str) -> str:
    return "GB" if number.startswith("+44") else ("US" if number.startswith("+1") else "other")


def write_jsonl(out: IO[str], signals: Iterator[dict], progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Write signals as JSON Lines; return the count per label. ``progress(n)`` every 1000 lines."""
    counts = {"genuine": 0, "fraud": 0}
    pending = 0
    for signal in signals:
        out.write(json.dumps(signal, separators=(",", ":")))
        out.write("\n")
        counts[signal["label"]] += 1
        pending += 1
        if progress is not None and pending == 1000:
            progress(pending)
            pending = 0
    if progress is not None and pending:
        progress(pending)
    return counts

"""Turn a planned call into the call signal Asterisk would have shown callshield.

A plan says who really calls (device, numbers, attestation); rendering decides which
trunk delivers it and what survives the way: a B2BUA carrier rewrites almost everything,
the transit proxy passes the caller's own SIP stack through. Asterisk's part follows
res_pjsip_caller_id with trust_id_inbound=yes on every trunk: CALLERID comes from
P-Asserted-Identity, else Remote-Party-ID, else From, and only PAI + ``Privacy: id`` or
RPID ``privacy=full`` make the presentation ``prohib_*``.
"""

from __future__ import annotations

import base64
import json
import random
from dataclasses import dataclass
from typing import Any

from callshield.training import sim_world as w
from callshield.training.sim_population import Device

DOMESTIC = ("mobile", "fixed", "sip_trunk")
PAI_DOMAIN = {"tier1": "ims.tier1-carrier.example", "ngn": "ngn.perimeta-carrier.example", "us": "bw.us-carrier.example"}


@dataclass(slots=True)
class Stir:
    """A SHAKEN PASSporT as signed at origination, and what the US carrier's verifier said."""

    attest: str = ""       # A, B, C; '' = the call was not signed
    orig: str = ""         # orig.tn, E.164
    x5u: str = ""
    origid: str = ""
    iat: int = 0
    verstat: str = ""      # TN-Validation-Passed / TN-Validation-Failed / No-TN-Validation; '' = none
    identity: bool = True  # the Identity header reaches us


@dataclass(slots=True)
class CallPlan:
    ts: float
    label: str
    campaign: str
    actor: str
    ddi: w.Ddi
    device: Device
    number: str              # presented (From) number, E.164; '' = the route lost the CLI
    asserted: str = ""       # network-asserted (PAI) number; '' = no PAI
    withheld: bool = False
    name: str = ""           # display name the caller's side (or CNAM) supplies
    stir: Stir | None = None
    diversion: str = ""      # the number the call was forwarded from


def fmt(number: str, style: str) -> str:
    if style == "e164" or not number.startswith("+"):
        return number
    if style == "plain":
        return number[1:]
    if style == "national":
        return "0" + number[3:] if number.startswith("+44") else "00" + number[1:]
    return "00" + number[1:]  # intl00


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def identity_header(rng: random.Random, stir: Stir, dialled: str) -> str:
    jose = {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": stir.x5u}
    claims = {"attest": stir.attest, "dest": {"tn": [dialled.lstrip("+")]}, "iat": stir.iat,
              "orig": {"tn": stir.orig.lstrip("+")}, "origid": stir.origid}
    head = b64url(json.dumps(jose, sort_keys=True, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, sort_keys=True, separators=(",", ":")).encode())
    return f"{head}.{body}.{b64url(rng.randbytes(64))};info=<{stir.x5u}>;alg=ES256;ppt=shaken"


def _order(order: tuple[str, ...], present: dict[str, bool]) -> list[str]:
    out = list(dict.fromkeys(h for h in order if present.get(h, True)))
    for name, on in present.items():
        if on and name not in out:
            out.insert(out.index("Content-Type") if "Content-Type" in out else len(out), name)
    return out


def _addr(display: str, user: str, host: str, params: str = ";user=phone") -> str:
    shown = f'"{display}" ' if display else ""
    return f"{shown}<sip:{user}@{host}{params}>"


class Renderer:
    """Renders plans in time order; owns Asterisk's channel and uniqueid counters."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.chan = rng.randrange(0x200, 0x3000)
        self.uniq = self.chan + rng.randrange(5000)

    def trunk(self, p: CallPlan) -> str:
        if p.ddi.country == "US":
            return "us"
        if p.device.network.kind in DOMESTIC:
            if self.rng.random() < 0.03:  # overflow to the other UK carrier
                return "ngn" if p.ddi.host == "tier1" else "tier1"
            return p.ddi.host
        return "transit"

    def render(self, p: CallPlan) -> dict[str, Any]:
        rng = self.rng
        name = self.trunk(p)
        trunk = w.TRUNKS[name]
        dev = p.device
        net = dev.network
        withheld = p.withheld
        number, asserted = p.number, p.asserted
        rpid = ""
        if name == "transit":
            if net.kind == "us":  # a US origin reaches the UK through the international gateway
                net = w.NETWORKS["us-intl-gw"]
            rewritten = bool(net.b2bua) or dev.stack is None
            st = w.STACKS[net.b2bua] if net.b2bua else dev.stack
            assert st is not None
            ip = net.node or trunk.ips[0]
            ua = (st.uas[len(net.name) % len(st.uas)] if rewritten else dev.ua)
            fmt_style = st.number_format
            host = net.domain or net.proxy_ip
            order = trunk.order + st.order
            vias = [f"SIP/2.0/UDP {ip}:5060;branch={w.BRANCHES['kamailio'](rng)}"]
            if rewritten:
                mf = st.max_forwards - net.hops - 1
                vias.append(f"SIP/2.0/{st.transport} {net.proxy_ip}:5060;branch={w.BRANCHES[st.branch](rng)}")
                c_host, c_port, c_params, c_user = net.proxy_ip, 5060, "", ""
                id_host = net.proxy_ip
            else:
                mf = min(dev.max_forwards, net.mf_cap) - net.hops - 1
                vias.append(f"SIP/2.0/UDP {net.proxy_ip}:5060;branch={w.BRANCHES['kamailio'](rng)}")
                if dev.host != dev.public:
                    vias.append(f"SIP/2.0/{st.transport} {dev.host}:{dev.port};rport={rng.randrange(1024, 65535)};"
                                f"received={dev.public};branch={w.BRANCHES[st.branch](rng)}")
                else:
                    vias.append(f"SIP/2.0/{st.transport} {dev.host}:{dev.port};branch={w.BRANCHES[st.branch](rng)};rport")
                c_host, c_port, c_params, c_user = dev.host, dev.port, dev.contact_params, st.contact_user or dev.account
                id_host = dev.host
            # An operator's border transcodes to what it carries; providers pass the caller's SDP.
            codecs = (net.codecs if net.kind == "foreign" else dev.codecs) or net.codecs or st.codecs[0]
            call_id = w.ident(rng, st.call_id, id_host)
            tag = w.ident(rng, st.tag, id_host)
            display = p.name if st.uas[0] else ""
            from_host = pai_host = host
            if st.rpid and (asserted or (number and not withheld)):
                rpid = st.rpid
        else:
            ip = rng.choice(trunk.ips)
            fmt_style = "national" if name == "ngn" else "e164"
            order = trunk.order
            vias = [f"SIP/2.0/UDP {ip}:5060;branch={w.BRANCHES[trunk.branch](rng)}"]
            if name in w.CARRIER_CORE:
                vias.append(f"SIP/2.0/UDP {w.CARRIER_CORE[name]}:5060;branch={w.BRANCHES[trunk.branch](rng)}")
            st = dev.stack if dev.stack is not None else (w.STACKS[net.b2bua] if net.b2bua and net.kind == "provider" else None)
            if name == "tier1":
                mf, ua, codecs = 69, trunk.ua, "(alaw|ulaw)"
            else:
                hops = net.hops + (3 if (name == "us") != (net.country == "US") else 0)
                start = min(dev.max_forwards, net.mf_cap) if dev.stack else (st.max_forwards if st else 70)
                mf = start - hops - 1
                ua = (dev.ua if dev.stack else (st.uas[len(net.name) % len(st.uas)] if st else "")) or trunk.ua
                codecs = dev.codecs or net.codecs or (st.codecs[0] if st else "(ulaw|alaw)")
            call_id = w.ident(rng, trunk.call_id, ip)
            tag = w.ident(rng, trunk.tag, ip)
            display = p.name if name == "us" else ""
            from_host, pai_host = ip, PAI_DOMAIN[name]
            c_host, c_port, c_params, c_user = ip, 5060, (";transport=udp" if name != "us" else ""), ""
            if name == "us" and not asserted and number and not withheld:
                asserted = number  # the US carrier asserts what it received when nobody did
        stir = p.stir
        verstat = stir.verstat if stir is not None and name == "us" else ""
        ident = identity_header(rng, stir, p.ddi.number) if stir is not None and stir.attest and stir.identity else ""

        from_user = fmt(number, fmt_style) if number else "unavailable"
        if withheld:
            from_header = f'"Anonymous" <sip:anonymous@anonymous.invalid>;tag={tag}'
        elif not number:
            from_header = f'"Unavailable" <sip:unavailable@{from_host}>;tag={tag}'
        elif verstat and not asserted:
            from_header = _addr(display, f"{from_user};verstat={verstat}", from_host) + f";tag={tag}"
        else:
            from_header = _addr(display, from_user, from_host) + f";tag={tag}"
        pai_user = ""
        pai = ""
        if asserted:
            pai_user = fmt(asserted, "e164" if name != "transit" else fmt_style)
            if verstat:
                pai_user += f";verstat={verstat}"
            pai = _addr("" if withheld else display, pai_user, pai_host)
            if name == "ngn" and rng.random() < 0.5:
                pai += f", <tel:{asserted}>"
        privacy = "id" if withheld and (asserted or not rpid) else ""
        rpid_header = ""
        if rpid:
            rpid_number = asserted or number
            rpid_header = (_addr("" if withheld else display, fmt(rpid_number, fmt_style), from_host, "")
                           + f";party=calling;privacy={'full' if withheld else 'off'};screen={rpid}")
        diversion = ""
        if p.diversion:
            diversion = (_addr("", fmt(p.diversion, fmt_style), from_host)
                         + ";reason=unconditional;counter=1;privacy=off")

        # What Asterisk makes of it (res_pjsip_caller_id, trust_id_inbound=yes).
        if pai_user:
            caller_number, caller_name = pai_user, ("" if withheld else display)
            presentation = "prohib_not_screened" if privacy == "id" else "allowed_not_screened"
        elif rpid_header:
            caller_number, caller_name = fmt(asserted or number, fmt_style), ("" if withheld else display)
            presentation = ("prohib_" if withheld else "allowed_") + ("passed_screen" if rpid == "yes" else "not_screened")
        else:
            caller_number = "anonymous" if withheld else from_user
            caller_name = "Anonymous" if withheld else ("Unavailable" if not number else display)
            presentation = "allowed_not_screened"

        if c_user == "":
            c_user = "anonymous" if withheld else from_user
        contact = f"<sip:{c_user}@{c_host}:{c_port}{c_params}>" if name != "ngn" else f"<sip:{c_host}:{c_port}{c_params}>"
        present = {"User-Agent": bool(ua), "P-Asserted-Identity": bool(pai), "Privacy": bool(privacy),
                   "Identity": bool(ident), "Diversion": bool(diversion), "Remote-Party-ID": bool(rpid_header)}
        if name == "us":
            dialled = p.ddi.number[1:]
        elif name == "ngn":
            dialled = fmt(p.ddi.number, "national")
        elif name == "transit":
            dialled = p.ddi.number[1:]
        else:
            dialled = p.ddi.number
        self.chan += 1
        self.uniq += 1
        signal = {
            "dialled": dialled,
            "timestamp": round(p.ts, 3),
            "caller_number": caller_number,
            "caller_name": caller_name,
            "presentation": presentation,
            "from_header": from_header,
            "pai": pai,
            "privacy": privacy,
            "identity": ident,
            "user_agent": ua,
            "diversion": diversion,
            "via": vias,
            "header_names": _order(order, present),
            "max_forwards": str(mf),
            "contact": contact,
            "codecs": codecs,
            "source_ip": ip,
            "source_port": 5060,
            "sip_call_id": call_id,
            "channel": f"PJSIP/{trunk.name}-{self.chan:08x}",
            "uniqueid": f"{int(p.ts)}.{self.uniq}",
            "channel_state": "Ring",
            "label": p.label,
            "campaign": p.campaign,
            "actor": p.actor,
        }
        legs = rng.choice((1, 1, 1, 2))  # agent legs and Local channels of the queue
        self.chan += legs
        self.uniq += legs + rng.randrange(3)
        return signal

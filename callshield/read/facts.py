"""Derived facts of one call: who it claims to be, how it is presented, its attestation.

``derive_facts`` is pure: the signal and the number intelligence in, facts out. Every
problem met while reading hostile signalling becomes an entry in ``problems`` (and a
reason where scoring cares), never an exception.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from callshield.read import sipheaders, stir, trust
from callshield.read.numbers import NumberInfo, NumberIntel
from callshield.read.signal import CallSignal

WITHHELD_PRIVACY = frozenset({"id", "user", "header"})
# Regions that share a numbering plan and count as domestic to one another: the UK's
# Crown Dependencies use +44 ranges that phonenumbers files under their own codes.
DOMESTIC_WITH = {"GG": "GB", "JE": "GB", "IM": "GB"}


@dataclass(frozen=True)
class CallFacts:
    dialled: NumberInfo
    caller: NumberInfo | None
    caller_key: str
    withheld: bool
    no_caller_id: bool
    from_number: str
    pai_number: str
    cli_mismatch: bool
    numbers: tuple[str, ...]
    international: bool
    attestation: stir.Attestation
    identity: stir.IdentityReading
    problems: tuple[str, ...]
    from_addr: sipheaders.SipAddress | None = None
    pai_addr: sipheaders.SipAddress | None = None
    privacy: frozenset[str] = frozenset()
    # The one identity the allow list may match (callshield.read.trust); the deny list
    # matches every one in ``numbers``.
    allow_identity: trust.TrustedIdentity = trust.TrustedIdentity(refused="not derived")


def derive_facts(
    signal: CallSignal,
    intel: NumberIntel,
    trusted_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
    *,
    identity_from: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (),
    internal: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (),
) -> CallFacts:
    """``trusted_networks`` are believed for verstat, ``identity_from`` for
    P-Asserted-Identity, ``internal`` are our own (scoring.trust_verstat_from,
    trust_identity_from, internal_networks)."""
    problems: list[str] = []
    dialled = intel.info(sipheaders.number_of(signal.dialled))
    region = dialled.region or None

    from_addr = sipheaders.parse_address(signal.from_header)
    pai_addr = sipheaders.parse_address(signal.pai)
    if signal.from_header and from_addr is None:
        problems.append("From header unparseable")
    if signal.pai and pai_addr is None:
        problems.append("P-Asserted-Identity header unparseable")

    from_number = "" if from_addr is None or from_addr.is_anonymous else sipheaders.number_of(from_addr.user)
    pai_number = "" if pai_addr is None or pai_addr.is_anonymous else sipheaders.number_of(pai_addr.user)
    cid_number = "" if signal.caller_number.strip().lower() in sipheaders.ANONYMOUS_USERS else sipheaders.number_of(signal.caller_number)

    privacy = sipheaders.privacy_tokens(signal.privacy)
    presentation = signal.presentation.lower()
    withheld = (
        presentation.startswith("prohib")
        or bool(privacy & WITHHELD_PRIVACY)
        or (from_addr is not None and from_addr.is_anonymous)
        or signal.caller_number.strip().lower() in sipheaders.ANONYMOUS_USERS - {"unknown", "unavailable"}
    )
    # The network-asserted identity is the truest number we have, even when withheld.
    claimed = pai_number or cid_number or from_number
    caller = intel.info(claimed, region) if claimed else None
    no_caller_id = not claimed and not withheld
    if caller is not None and not caller.valid:
        problems.append(f"caller number {claimed!r} is not a valid number")

    cid_key, from_key, pai_key = (intel.info(n, region).key if n else "" for n in (cid_number, from_number, pai_number))
    # The deny list matches any of these: every identity the call presents.
    numbers = tuple(dict.fromkeys(k for k in (caller.key if caller else "", pai_key, from_key, cid_key) if k))
    cli_mismatch = bool(from_key and pai_key) and from_key != pai_key

    international = bool(
        caller and caller.valid and dialled.region and caller.region
        and DOMESTIC_WITH.get(caller.region, caller.region) != DOMESTIC_WITH.get(dialled.region, dialled.region)
    )

    identity = stir.read_identity(signal.identity)
    if identity.problem:
        problems.append(f"Identity header: {identity.problem}")
    verstat = None
    for addr in (pai_addr, from_addr):
        if addr is not None and addr.param("verstat"):
            verstat = addr.param("verstat")
            break
    trusted = verstat is not None and stir.source_trusted(signal.source_ip, trusted_networks)
    att = stir.attestation(identity, verstat, trusted)
    allow_identity = trust.trusted_identity(
        {"caller ID": cid_key, "From": from_key, "P-Asserted-Identity": pai_key},
        withheld=withheld, source_ip=signal.source_ip, attestation=att, passport=identity.passport,
        identity_from=identity_from, internal=internal)

    caller_key = caller.key if caller else ("withheld" if withheld else "unknown")
    return CallFacts(
        dialled=dialled,
        caller=caller,
        caller_key=caller_key,
        withheld=withheld,
        no_caller_id=no_caller_id,
        from_number=from_number,
        pai_number=pai_number,
        cli_mismatch=cli_mismatch,
        numbers=numbers,
        international=international,
        attestation=att,
        identity=identity,
        problems=tuple(problems),
        from_addr=from_addr,
        pai_addr=pai_addr,
        privacy=privacy,
        allow_identity=allow_identity,
    )

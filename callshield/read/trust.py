"""Which caller identity callshield trusts: the allow list's side of the trust model.

The deny list matches *every* identity a call presents (caller ID, P-Asserted-Identity,
From): a fraudster who shows a deny-listed number anywhere is caught. The allow list
lets a call skip scoring, so it matches only the one identity this module vouches for
(docs/security.md#which-identities-are-trusted):

1. never a withheld call, nor one whose STIR/SHAKEN verification a trusted upstream
   says failed;
2. never when the identities the call presents disagree (a From that differs from the
   P-Asserted-Identity or from the caller ID Asterisk took from it);
3. and only with a reason to believe the number: the call came from one of our own
   networks (``scoring.internal_networks``), or its P-Asserted-Identity came from a
   trunk that asserts identities (``scoring.trust_identity_from``), or a trusted upstream
   verified its STIR/SHAKEN PASSporT with attestation A (``scoring.trust_verstat_from``).

Nothing is trusted by default: with no trusted source configured, the allow list has no
effect (``allowlist_warning`` says so at start-up, in ``config check`` and ``lists add``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from callshield.read import stir
from callshield.config import ScoringConfig

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class TrustedIdentity:
    """The number the allow list may match (``""`` when none) and why: ``basis`` says
    what vouches for ``number``; ``refused`` says why no number is trusted."""

    number: str = ""
    basis: str = ""
    refused: str = ""


def networks(specs: list[str] | tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in specs)


def allowlist_warning(scoring: ScoringConfig) -> str | None:
    """The warning to give while no allow-list entry can ever match, else None."""
    if scoring.trust_identity_from or scoring.internal_networks or scoring.trust_verstat_from:
        return None
    return ("no trusted source is configured (scoring.trust_identity_from, scoring.internal_networks, "
            "scoring.trust_verstat_from): allow-list entries will not be honoured until one is; "
            "see docs/security.md")


def trusted_identity(
    presented: dict[str, str],
    *,
    withheld: bool,
    source_ip: str,
    attestation: stir.Attestation,
    passport: stir.Passport | None,
    identity_from: tuple[Network, ...],
    internal: tuple[Network, ...],
) -> TrustedIdentity:
    """The identity the allow list may match, from the call's presented identities
    (``{"caller ID": key, "From": key, "P-Asserted-Identity": key}``, normalised list
    keys, ``""`` where absent). Pure and cheap: a few comparisons per call."""
    if withheld:
        return TrustedIdentity(refused="the caller withheld their number")
    if attestation.verification_failed:
        return TrustedIdentity(refused=f"{attestation.value}: the STIR/SHAKEN verification failed")
    shown = {name: key for name, key in presented.items() if key}
    if not shown:
        return TrustedIdentity(refused="the call presents no number")
    distinct = list(dict.fromkeys(shown.values()))
    if len(distinct) > 1:
        return TrustedIdentity(refused=" but ".join(f"{name} {key}" for name, key in shown.items()) + ": the identities differ")
    number = distinct[0]
    if stir.source_trusted(source_ip, internal):
        return TrustedIdentity(number, f"from internal network source {source_ip}")
    if presented.get("P-Asserted-Identity") and stir.source_trusted(source_ip, identity_from):
        return TrustedIdentity(number, f"network-asserted by trusted source {source_ip}")
    if attestation.verified and attestation.level == "A":
        orig = passport.orig_tn.lstrip("+") if passport is not None else ""
        if orig and orig != number.lstrip("+"):
            return TrustedIdentity(refused=f"the PASSporT's orig {passport.orig_tn} is not the caller's number {number}")  # type: ignore[union-attr]
        return TrustedIdentity(number, f"STIR/SHAKEN attestation A verified by trusted source {source_ip}")
    return TrustedIdentity(refused=f"{number} is not asserted by a trusted source (source {source_ip or 'unknown'})")


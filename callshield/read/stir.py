"""STIR/SHAKEN: read the Identity header's PASSporT claims and map attestation.

The ATTESTATION and SPOOF_STATUS values follow the contact-centre convention our users
route on (docs/channel-variables.md):

=========================  ============  ==============
ATTESTATION                SPOOF_STATUS  SPOOF_VERIFIED
=========================  ============  ==============
TN-Validation-Passed-A     SAFE          true
TN-Validation-Failed-A     SAFE          false
TN-Validation-Passed-B     SUSPICIOUS    true
TN-Validation-Failed-B     SUSPICIOUS    false
TN-Validation-Passed-C     HIGH_RISK     true
TN-Validation-Failed-C     HIGH_RISK     false
TN-Validation-Failed       N/A           false
No-TN-Validation           N/A           false
=========================  ============  ==============

callshield does not verify PASSporT signatures itself; "Passed" needs a verstat
parameter saying so from an upstream we trust (scoring.trust_verstat_from, empty by
default: trust must be configured). An Identity header nobody trusted has verified is
"Failed-X" (could not be verified), which is not evidence of spoofing by itself; only a
trusted verstat saying the verification failed is (``verification_failed``).
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import json
from dataclasses import dataclass

LEVELS = ("A", "B", "C")
NO_VALIDATION = "No-TN-Validation"
VALIDATION_FAILED = "TN-Validation-Failed"
_SPOOF_BY_LEVEL = {"A": "SAFE", "B": "SUSPICIOUS", "C": "HIGH_RISK"}


@dataclass(frozen=True)
class Passport:
    """The claims of a SHAKEN PASSporT that scoring uses."""

    attest: str | None
    orig_tn: str
    dest_tns: tuple[str, ...]
    iat: int | None
    origid: str
    ppt: str
    x5u: str


@dataclass(frozen=True)
class IdentityReading:
    present: bool
    passport: Passport | None
    problem: str = ""


@dataclass(frozen=True)
class Attestation:
    value: str
    level: str | None
    verified: bool
    spoof_status: str
    source: str

    @property
    def failed(self) -> bool:
        """TN-Validation-Failed*: not verified (no trusted verstat) or verification failed."""
        return self.value.startswith(VALIDATION_FAILED)

    @property
    def verification_failed(self) -> bool:
        """A trusted upstream verified the PASSporT and it failed: a likely spoof."""
        return self.failed and self.source == "verstat"


def read_identity(header: str) -> IdentityReading:
    """Decode (not verify) an Identity header; a malformed one gives ``problem``."""
    if not header or not header.strip():
        return IdentityReading(False, None)
    token = header.strip().split(";", 1)[0].strip()
    parts = token.split(".")
    if len(parts) != 3:
        return IdentityReading(True, None, f"not a compact JWT ({len(parts)} dot-separated parts, expected 3)")
    try:
        jose = _b64json(parts[0])
        claims = _b64json(parts[1])
    except ValueError as exc:
        return IdentityReading(True, None, str(exc))
    if not isinstance(jose, dict) or not isinstance(claims, dict):
        return IdentityReading(True, None, "JWT header or payload is not a JSON object")
    attest = claims.get("attest")
    if isinstance(attest, str) and attest.upper() in LEVELS:
        attest = attest.upper()
    else:
        attest = None
    orig = claims.get("orig") if isinstance(claims.get("orig"), dict) else {}
    dest = claims.get("dest") if isinstance(claims.get("dest"), dict) else {}
    dest_tns = dest.get("tn", [])
    if isinstance(dest_tns, str):
        dest_tns = [dest_tns]
    iat = claims.get("iat")
    passport = Passport(
        attest=attest,
        orig_tn=str(orig.get("tn", "")) if orig.get("tn") is not None else "",
        dest_tns=tuple(str(t) for t in dest_tns if isinstance(t, (str, int))) if isinstance(dest_tns, list) else (),
        iat=iat if isinstance(iat, int) and not isinstance(iat, bool) else None,
        origid=str(claims.get("origid", "")),
        ppt=str(jose.get("ppt", "")),
        x5u=str(jose.get("x5u", "")),
    )
    problem = "" if attest else "PASSporT has no valid attest claim (A, B or C)"
    return IdentityReading(True, passport, problem)


def _b64json(part: str) -> object:
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("JWT part is not base64url") from None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ValueError("JWT part is not JSON (or nested absurdly deep)") from None


def source_trusted(source_ip: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    """Whether the call's SIP source is in one of ``networks`` (the one membership test of
    every trust setting: verstat, asserted identities, internal networks)."""
    if not networks:
        return False
    addr = _address(source_ip)
    return addr is not None and any(addr.version == net.version and addr in net for net in networks)


@functools.lru_cache(maxsize=4096)  # a handful of SIP peers send every call
def _address(source_ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(source_ip)
    except ValueError:
        return None


def attestation(identity: IdentityReading, verstat: str | None, verstat_trusted: bool) -> Attestation:
    """Map the Identity reading and an upstream verstat to ATTESTATION / SPOOF_STATUS."""
    level = identity.passport.attest if identity.passport else None
    status = (verstat or "").strip()
    if status and verstat_trusted:
        lowered = status.lower()
        suffix = lowered.rsplit("-", 1)[-1].upper() if lowered.count("-") >= 3 else ""
        level = level or (suffix if suffix in LEVELS else None)
        if lowered.startswith("tn-validation-passed"):
            if level:
                return _make(f"TN-Validation-Passed-{level}", level, True, "verstat")
            return _make(NO_VALIDATION, None, False, "verstat-without-level")
        if lowered.startswith("tn-validation-failed"):
            return _make(f"{VALIDATION_FAILED}-{level}" if level else VALIDATION_FAILED, level, False, "verstat")
        if lowered.startswith("no-tn-validation"):
            return _make(NO_VALIDATION, None, False, "verstat")
    if identity.present:
        if level:
            return _make(f"{VALIDATION_FAILED}-{level}", level, False, "identity-unverified")
        return _make(VALIDATION_FAILED, None, False, "identity-malformed")
    return _make(NO_VALIDATION, None, False, "none")


def _make(value: str, level: str | None, verified: bool, source: str) -> Attestation:
    spoof = _SPOOF_BY_LEVEL[level] if level and value != NO_VALIDATION and value != VALIDATION_FAILED else "N/A"
    return Attestation(value, level, verified, spoof, source)

"""STIR/SHAKEN: decoding (not verifying) the Identity header and mapping ATTESTATION."""

from __future__ import annotations

import base64
import ipaddress
from typing import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callshield.read.stir import Attestation, IdentityReading, Passport, attestation, read_identity, source_trusted

MakeIdentity = Callable[..., str]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_well_formed_shaken_passport_is_read(make_identity: MakeIdentity) -> None:
    reading = read_identity(make_identity("B"))

    assert reading == IdentityReading(
        present=True,
        passport=Passport(
            attest="B",
            orig_tn="12025550143",
            dest_tns=("442071234567",),
            iat=1795000000,
            origid="123e4567-e89b-12d3-a456-426614174000",
            ppt="shaken",
            x5u="https://cert.example.org/sti.pem",
        ),
        problem="",
    )


@pytest.mark.parametrize(("attest", "level"), [("a", "A"), ("C", "C")])
def test_attest_claim_is_upper_cased(make_identity: MakeIdentity, attest: str, level: str) -> None:
    passport = read_identity(make_identity(attest)).passport

    assert passport is not None and passport.attest == level


def test_odd_claim_shapes_are_tolerated(make_identity: MakeIdentity) -> None:
    claims = {"attest": "A", "orig": "not-an-object", "dest": {"tn": "442071234567"}, "iat": True}

    passport = read_identity(make_identity(claims=claims, params="")).passport

    assert passport is not None
    assert (passport.orig_tn, passport.dest_tns, passport.iat, passport.origid) == ("", ("442071234567",), None, "")


@pytest.mark.parametrize("attest", [None, "D", 1, ""])
def test_passport_without_a_valid_attest_has_a_problem(make_identity: MakeIdentity, attest: object) -> None:
    claims = {"orig": {"tn": "12025550143"}} | ({} if attest is None else {"attest": attest})

    reading = read_identity(make_identity(claims=claims))

    assert reading.present and reading.passport is not None and reading.passport.attest is None
    assert reading.problem == "PASSporT has no valid attest claim (A, B or C)"


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("not-a-jwt;info=<https://x.example/c.pem>", "not a compact JWT (1 dot-separated parts, expected 3)"),
        ("a.b;info=<https://x.example/c.pem>", "not a compact JWT (2 dot-separated parts, expected 3)"),
        ("a.b.c.d", "not a compact JWT (4 dot-separated parts, expected 3)"),
        ("abcde.e30.sig", "JWT part is not base64url"),
        ("é.e30.sig", "JWT part is not base64url"),
        (f"{_b64(b'not json')}.e30.sig", "JWT part is not JSON (or nested absurdly deep)"),
        (f"{_b64(bytes([0xff, 0xfe, 0x00]))}.e30.sig", "JWT part is not JSON (or nested absurdly deep)"),
        (f"{_b64(b'[1]')}.e30.sig", "JWT header or payload is not a JSON object"),
    ],
)
def test_malformed_identity_is_present_with_a_problem(header: str, problem: str) -> None:
    assert read_identity(header) == IdentityReading(True, None, problem)


@pytest.mark.parametrize("header", ["", "   "])
def test_no_identity_header(header: str) -> None:
    assert read_identity(header) == IdentityReading(False, None)


def test_deeply_nested_json_is_a_problem_not_an_exception() -> None:
    nested = _b64(b"[" * 5000)

    reading = read_identity(f"{nested}.{nested}.sig")

    assert reading.present and reading.passport is None and reading.problem


@settings(max_examples=300, deadline=None)
@given(header=st.text(max_size=80) | st.builds(lambda a, b, c: f"{a}.{b}.{c}", st.text(max_size=20), st.text(max_size=20), st.text(max_size=10))
       | st.binary(max_size=60).map(lambda raw: f"{_b64(raw)}.{_b64(raw)}.sig"))
def test_read_identity_never_raises(header: str) -> None:
    reading = read_identity(header)

    assert reading.present == bool(header.strip())
    assert reading.passport is not None or not reading.present or reading.problem


def _reading(make_identity: MakeIdentity, level: str | None) -> IdentityReading:
    """'none': no header; 'bad': malformed header; None: PASSporT without attest; else its level."""
    if level == "none":
        return read_identity("")
    if level == "bad":
        return read_identity("garbage")
    return read_identity(make_identity(level))


# Every row of the table in stir.py's docstring, plus where each comes from.
@pytest.mark.parametrize(
    ("identity", "verstat", "trusted", "expected"),
    [
        ("A", "TN-Validation-Passed", True, Attestation("TN-Validation-Passed-A", "A", True, "SAFE", "verstat")),
        ("A", "TN-Validation-Failed", True, Attestation("TN-Validation-Failed-A", "A", False, "SAFE", "verstat")),
        ("B", "TN-Validation-Passed", True, Attestation("TN-Validation-Passed-B", "B", True, "SUSPICIOUS", "verstat")),
        ("B", "TN-Validation-Failed", True, Attestation("TN-Validation-Failed-B", "B", False, "SUSPICIOUS", "verstat")),
        ("C", "TN-Validation-Passed", True, Attestation("TN-Validation-Passed-C", "C", True, "HIGH_RISK", "verstat")),
        ("C", "TN-Validation-Failed", True, Attestation("TN-Validation-Failed-C", "C", False, "HIGH_RISK", "verstat")),
        # the level from the verstat suffix when there is no PASSporT
        ("none", "TN-Validation-Passed-A", True, Attestation("TN-Validation-Passed-A", "A", True, "SAFE", "verstat")),
        ("none", "tn-validation-passed-b", True, Attestation("TN-Validation-Passed-B", "B", True, "SUSPICIOUS", "verstat")),
        ("none", "TN-Validation-Failed-C", True, Attestation("TN-Validation-Failed-C", "C", False, "HIGH_RISK", "verstat")),
        ("none", " TN-Validation-Failed ", True, Attestation("TN-Validation-Failed", None, False, "N/A", "verstat")),
        ("none", "No-TN-Validation", True, Attestation("No-TN-Validation", None, False, "N/A", "verstat")),
        # the claim wins over the suffix
        ("C", "TN-Validation-Passed-A", True, Attestation("TN-Validation-Passed-C", "C", True, "HIGH_RISK", "verstat")),
        # verstat passed without any level is not a pass
        ("none", "TN-Validation-Passed", True, Attestation("No-TN-Validation", None, False, "N/A", "verstat-without-level")),
        (None, "TN-Validation-Passed", True, Attestation("No-TN-Validation", None, False, "N/A", "verstat-without-level")),
        # an untrusted verstat is ignored
        ("none", "TN-Validation-Passed-A", False, Attestation("No-TN-Validation", None, False, "N/A", "none")),
        ("A", "TN-Validation-Passed", False, Attestation("TN-Validation-Failed-A", "A", False, "SAFE", "identity-unverified")),
        # an Identity header nobody verified
        ("B", None, False, Attestation("TN-Validation-Failed-B", "B", False, "SUSPICIOUS", "identity-unverified")),
        ("C", None, True, Attestation("TN-Validation-Failed-C", "C", False, "HIGH_RISK", "identity-unverified")),
        ("A", "something-else", True, Attestation("TN-Validation-Failed-A", "A", False, "SAFE", "identity-unverified")),
        # malformed or attest-less Identity
        ("bad", None, False, Attestation("TN-Validation-Failed", None, False, "N/A", "identity-malformed")),
        (None, None, False, Attestation("TN-Validation-Failed", None, False, "N/A", "identity-malformed")),
        # nothing at all
        ("none", None, False, Attestation("No-TN-Validation", None, False, "N/A", "none")),
        ("none", "", True, Attestation("No-TN-Validation", None, False, "N/A", "none")),
    ],
)
def test_attestation_mapping(make_identity: MakeIdentity, identity: str | None, verstat: str | None, trusted: bool,
                             expected: Attestation) -> None:
    assert attestation(_reading(make_identity, identity), verstat, trusted) == expected


@pytest.mark.parametrize(
    ("value", "failed"),
    [("TN-Validation-Failed", True), ("TN-Validation-Failed-B", True), ("TN-Validation-Passed-A", False), ("No-TN-Validation", False)],
)
def test_attestation_failed(value: str, failed: bool) -> None:
    assert Attestation(value, None, False, "N/A", "x").failed is failed


TRUSTED = (ipaddress.ip_network("203.0.113.0/24"), ipaddress.ip_network("2001:db8::/32"))


@pytest.mark.parametrize(
    ("source_ip", "trusted"),
    [
        ("203.0.113.9", True),
        ("2001:db8::5", True),
        ("198.51.100.7", False),
        ("2001:db9::5", False),
        ("", False),
        ("carrier.example", False),
    ],
)
def test_source_trusted(source_ip: str, trusted: bool) -> None:
    assert source_trusted(source_ip, TRUSTED) is trusted


def test_default_networks_trust_every_address() -> None:
    everyone = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))

    assert source_trusted("198.51.100.7", everyone) and source_trusted("2001:db9::5", everyone)

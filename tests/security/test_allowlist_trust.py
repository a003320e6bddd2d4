"""Item 1: a caller cannot talk its way onto the allow list (docs/security.md#which-identities-are-trusted).

The finding: with +442079460123 on the allow list, a call with that number in From and
another in P-Asserted-Identity scored 0, ALLOWLISTED, and so did a withheld call. The
deny list matches every identity a call presents; the allow list only the identity
callshield can trust (facts.allow_identity), the same one in the rules, the model's
``allowlisted`` feature and its short-circuit.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from callshield.cli import main
from callshield.config import Config, ScoringConfig, load_config
from callshield.errors import ConfigError
from callshield.screening.lists import ListSnapshot
from callshield.models.model import load_model
from callshield.read.numbers import NumberIntel
from callshield.screening.screener import Screener, Screening
from callshield.read.signal import CallSignal
from callshield.read.trust import allowlist_warning

DDI = "+442071234567"
OURS = "+442079460123"  # on the allow list: the organisation's own number
OTHER = "+447911555321"  # the number the network really asserted
CARRIER_IP = "203.0.113.10"  # a trunk that polices P-Asserted-Identity
OUTSIDE_IP = "198.51.100.99"  # any other SIP peer
T0 = 1_795_000_000.0
INTEL = NumberIntel("GB")
ALLOW = ListSnapshot(allow={OURS: "head office"})

TRUST_TRUNK = {"scoring.trust_identity_from": ["203.0.113.0/24"]}
TRUST_INTERNAL = {"scoring.internal_networks": ["203.0.113.0/24"]}
TRUST_VERSTAT = {"scoring.trust_verstat_from": ["203.0.113.0/24"]}
TRUST_ALL = {**TRUST_TRUNK, **TRUST_INTERNAL, **TRUST_VERSTAT}


def config(**overrides: Any) -> Config:
    return load_config(None, env={}, overrides={"scoring.model": "rules", **overrides})


def screen(overrides: dict[str, Any], lists: ListSnapshot = ALLOW, model: Any = None, **fields: Any) -> Screening:
    fields.setdefault("source_ip", CARRIER_IP)
    screener = Screener(config(**overrides), intel=INTEL, lists=lists, model=model)
    return screener.screen(CallSignal(dialled=DDI, timestamp=T0, **fields))


def sip(number: str, **params: str) -> str:
    return f"<sip:{number}@{CARRIER_IP};user=phone{''.join(f';{k}={v}' for k, v in params.items())}>"


def identity(attest: str, orig: str) -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    claims = {"attest": attest, "orig": {"tn": orig.lstrip("+")}, "dest": {"tn": [DDI.lstrip("+")]}, "iat": int(T0)}
    return f"{part({'alg': 'ES256', 'ppt': 'shaken', 'typ': 'passport'})}.{part(claims)}.c2ln;ppt=shaken"


def codes(s: Screening) -> list[str]:
    return [r.code for r in s.decision.reasons]


# -- the attack ---------------------------------------------------------------------

@pytest.mark.parametrize("trust", [{}, TRUST_TRUNK, TRUST_INTERNAL, TRUST_ALL], ids=["nothing-trusted", "trunk", "internal", "all"])
@pytest.mark.parametrize("caller_id", [OTHER, OURS], ids=["callerid-from-pai", "callerid-from-from"])
def test_a_spoofed_from_with_another_asserted_identity_is_not_allowlisted(trust: dict, caller_id: str) -> None:
    s = screen(trust, caller_number=caller_id, from_header=sip(OURS), pai=sip(OTHER))

    assert "ALLOWLISTED" not in codes(s)
    assert s.decision.score > 0 and "CLI_MISMATCH" in codes(s)
    assert s.facts.allow_identity.number == ""
    assert "differ" in s.facts.allow_identity.refused
    assert s.dna is not None and s.dna.features["allowlisted"] == 0.0


@pytest.mark.parametrize("trust", [{}, TRUST_ALL], ids=["nothing-trusted", "all"])
def test_a_withheld_call_is_never_allowlisted(trust: dict) -> None:
    s = screen(trust, caller_number=OURS, presentation="prohib_not_screened", privacy="id",
               from_header='"Anonymous" <sip:anonymous@anonymous.invalid>;tag=1', pai=sip(OURS))

    assert "ALLOWLISTED" not in codes(s) and "WITHHELD" in codes(s)
    assert s.facts.allow_identity.refused == "the caller withheld their number"


@pytest.mark.parametrize("overrides, source", [({}, CARRIER_IP), (TRUST_TRUNK, OUTSIDE_IP), (TRUST_VERSTAT, CARRIER_IP)],
                         ids=["nothing-trusted", "trunk-trusted-but-call-from-elsewhere", "only-verstat-trusted-no-verstat"])
def test_from_equal_to_pai_from_an_untrusted_source_is_not_allowlisted(overrides: dict, source: str) -> None:
    s = screen(overrides, source_ip=source, caller_number=OURS, from_header=sip(OURS), pai=sip(OURS))

    assert "ALLOWLISTED" not in codes(s)
    assert s.facts.allow_identity.refused == f"{OURS} is not asserted by a trusted source (source {source})"


def test_a_pai_from_a_trusted_trunk_is_allowlisted_and_the_reason_says_why() -> None:
    s = screen(TRUST_TRUNK, caller_number=OURS, from_header=sip(OURS), pai=sip(OURS))

    assert s.decision.score == 0 and s.decision.status == "SAFE"
    assert [(r.code, r.detail) for r in s.decision.reasons] == [
        ("ALLOWLISTED", f"{OURS} (network-asserted by trusted source {CARRIER_IP}) is on the allow list: head office")]
    assert s.dna is not None and s.dna.features["allowlisted"] == 1.0


def test_a_trusted_trunk_without_pai_does_not_vouch_for_the_from() -> None:
    s = screen(TRUST_TRUNK, caller_number=OURS, from_header=sip(OURS))

    assert "ALLOWLISTED" not in codes(s)


def test_an_internal_network_vouches_for_its_caller_id() -> None:
    s = screen(TRUST_INTERNAL, caller_number="02079460123", from_header=sip("02079460123"))

    assert codes(s) == ["ALLOWLISTED"]
    assert s.facts.allow_identity.basis == f"from internal network source {CARRIER_IP}"


def test_a_verified_attestation_a_vouches_for_the_number() -> None:
    s = screen(TRUST_VERSTAT, caller_number=OURS, from_header=sip(OURS),
               pai=sip(OURS, verstat="TN-Validation-Passed"), identity=identity("A", OURS))

    assert s.decision.attestation == "TN-Validation-Passed-A"
    assert codes(s) == ["ALLOWLISTED"]
    assert s.facts.allow_identity.basis == f"STIR/SHAKEN attestation A verified by trusted source {CARRIER_IP}"


@pytest.mark.parametrize("attest, orig", [("B", OURS), ("A", OTHER)], ids=["attestation-b", "passport-for-another-number"])
def test_a_verified_passport_that_does_not_vouch_for_the_number_is_not_enough(attest: str, orig: str) -> None:
    s = screen(TRUST_VERSTAT, caller_number=OURS, from_header=sip(OURS),
               pai=sip(OURS, verstat="TN-Validation-Passed"), identity=identity(attest, orig))

    assert "ALLOWLISTED" not in codes(s)


def test_a_failed_verification_is_never_allowlisted_even_from_a_trusted_trunk() -> None:
    s = screen(TRUST_ALL, caller_number=OURS, from_header=sip(OURS), pai=sip(OURS, verstat="TN-Validation-Failed"),
               identity=identity("A", OURS))

    assert "ALLOWLISTED" not in codes(s) and "VERIFICATION_FAILED" in codes(s)


# -- the deny list still matches any identity the call presents ------------------------

@pytest.mark.parametrize("fields", [
    pytest.param({"caller_number": OTHER, "from_header": sip(OURS), "pai": sip(OTHER)}, id="from"),
    pytest.param({"caller_number": OTHER, "from_header": sip(OTHER), "pai": sip(OURS)}, id="pai"),
    pytest.param({"caller_number": OURS, "from_header": sip(OTHER), "pai": sip(OTHER)}, id="caller-id"),
    pytest.param({"caller_number": OURS, "presentation": "prohib", "privacy": "id", "pai": sip(OURS),
                  "from_header": '"Anonymous" <sip:anonymous@anonymous.invalid>;tag=1'}, id="withheld"),
])
def test_the_deny_list_matches_every_identity_the_call_presents(fields: dict) -> None:
    s = screen(TRUST_ALL, lists=ListSnapshot(deny={OURS: "fraud"}), **fields)

    assert codes(s)[0] == "DENYLISTED" and s.decision.score >= 95


# -- the model takes the same identity -------------------------------------------------

def test_the_bundled_model_does_not_short_circuit_a_spoofed_from() -> None:
    model = load_model("bundled")
    assert model is not None
    spoofed = screen(TRUST_ALL, model=model, caller_number=OTHER, from_header=sip(OURS), pai=sip(OTHER))
    trusted = screen(TRUST_ALL, model=model, caller_number=OURS, from_header=sip(OURS), pai=sip(OURS))

    assert spoofed.decision.scorer.startswith("lightgbm:") and "ALLOWLISTED" not in codes(spoofed)
    assert spoofed.decision.score == model.score_vector(spoofed.dna.vector) > 0  # type: ignore[union-attr]
    assert trusted.decision.score == 0 and codes(trusted) == ["ALLOWLISTED"]


# -- telling the operator while nothing is trusted -------------------------------------

def test_the_warning_names_the_keys_only_while_nothing_is_trusted() -> None:
    assert "scoring.trust_identity_from" in (allowlist_warning(ScoringConfig()) or "")
    for overrides in (TRUST_TRUNK, TRUST_INTERNAL, TRUST_VERSTAT):
        assert allowlist_warning(config(**overrides).scoring) is None


@pytest.mark.parametrize("trusted", [False, True])
def test_config_check_and_lists_add_allow_warn_while_nothing_is_trusted(tmp_path: Path, trusted: bool) -> None:
    path = tmp_path / "callshield.yaml"
    path.write_text(f"store:\n  path: {tmp_path / 'callshield.db'}\n"
                    + ("scoring:\n  trust_identity_from: [203.0.113.0/24]\n" if trusted else ""))
    warning = "" if trusted else f"Warning: {allowlist_warning(ScoringConfig())}\n"

    checked = CliRunner().invoke(main, ["config", "check", "--config", str(path)])
    added = CliRunner().invoke(main, ["lists", "add", "allow", OURS, "--config", str(path)])
    denied = CliRunner().invoke(main, ["lists", "add", "deny", OTHER, "--config", str(path)])

    assert (checked.exit_code, checked.stdout, checked.stderr) == (0, f"{path}: OK\n", warning)
    assert (added.exit_code, added.stdout, added.stderr) == (0, f"added {OURS} to the allow list\n", warning)
    assert (denied.exit_code, denied.stderr) == (0, "")


def test_serve_warns_at_start_when_allow_entries_cannot_be_honoured(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from callshield.serve import build_services
    from callshield.store import lists as list_store
    from callshield.store import open_store

    db_path = str(tmp_path / "callshield.db")
    db = open_store(db_path)
    list_store.add(db, INTEL, "allow", OURS, "head office")
    db.close()
    cfg = config(**{"store.path": db_path})
    with caplog.at_level(logging.WARNING, logger="callshield.serve"):
        services = build_services(cfg)
    services.writer.close()

    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"the allow list holds 1 number(s) but {allowlist_warning(cfg.scoring)}"]


@pytest.mark.parametrize("key", ["trust_identity_from", "internal_networks"])
def test_a_trusted_network_that_is_not_a_network_is_refused_naming_its_key(key: str) -> None:
    with pytest.raises(ConfigError, match=rf"scoring\.{key}\[1\].*'carrier' is not an IP network"):
        config(**{f"scoring.{key}": ["10.0.0.0/8", "carrier"]})

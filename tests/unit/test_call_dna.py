"""Call DNA: features, caller profile linking, phone insights, robustness."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callshield.config import load_config
from callshield.screening.lists import ListSnapshot
from callshield.models.features import FEATURE_NAMES
from callshield.screening.screener import Screener
from callshield.read.signal import CallSignal

DDI = "+442030001234"
T0 = 1_795_000_000.0  # Wednesday 2026-11-18 11:06 UTC
CARRIER = dict(source_ip="203.0.113.10", source_port=5060, user_agent="Ribbon SBC 5400 v9.2.3", max_forwards="68",
               header_names=("Via", "Max-Forwards", "From", "To", "Call-ID", "CSeq", "Contact", "P-Asserted-Identity", "Allow"),
               contact="<sip:203.0.113.10:5060>", codecs="(ulaw|alaw)", via=("SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK1",))
FRAUD_PBX = dict(source_ip="198.51.100.77", source_port=5080, user_agent="FreeSWITCH-mod_sofia/1.10.9", max_forwards="64",
                 header_names=("Via", "From", "To", "Max-Forwards", "Call-ID", "CSeq", "Contact", "User-Agent", "X-Acct"),
                 contact="<sip:100@192.168.1.20:5080;transport=udp>", codecs="(g729|ulaw)",
                 via=("SIP/2.0/UDP 198.51.100.77:5080;branch=z9hG4bKa", "SIP/2.0/UDP 192.168.1.20:5080;branch=z9hG4bKb"))


@pytest.fixture
def screener() -> Screener:
    return Screener(load_config(None, env={}, overrides={"scoring.model": "rules"}))


def call(at: float, number: str | None, route: dict, withheld: bool = False, **extra) -> CallSignal:
    fields = dict(route)
    if number:
        fields["pai"] = f"<sip:{number}@{route['source_ip']};user=phone>"
    if withheld:
        fields.update(presentation="prohib_not_screened", privacy="id", from_header='"Anonymous" <sip:anonymous@anonymous.invalid>;tag=1')
    elif number:
        fields.update(caller_number=number, from_header=f'<sip:{number}@{route["source_ip"]};user=phone>;tag=1')
    fields.update(extra)
    return CallSignal(dialled=DDI, timestamp=T0 + at, **fields)


def test_features_are_complete_and_ordered(screener):
    reading = screener.screen(call(0, "+447400123456", CARRIER)).dna
    assert list(reading.features) == list(FEATURE_NAMES) or set(reading.features) == set(FEATURE_NAMES)
    assert len(reading.vector) == len(FEATURE_NAMES) >= 100


def test_withheld_and_presentation_features(screener):
    f = screener.screen(call(0, "+447400123456", CARRIER, withheld=True)).dna.features
    assert (f["withheld"], f["pres_prohib"], f["privacy_id"], f["from_anonymous"]) == (1.0, 1.0, 1.0, 1.0)


def test_route_and_shape_features(screener):
    f = screener.screen(call(0, "+447400123456", FRAUD_PBX)).dna.features
    assert f["ua_freeswitch"] == 1.0 and f["ua_sbc"] == 0.0
    assert (f["max_forwards"], f["hops"]) == (64.0, 6.0)
    assert f["via_private_hops"] == 1.0 and f["contact_private"] == 1.0
    assert f["shape_has_x_headers"] == 1.0 and f["shape_from_before_to"] == 1.0
    assert (f["codec_g729"], f["codec_count"]) == (1.0, 2.0)
    assert f["source_port_5060"] == 0.0


def test_time_features_are_local_to_the_dialled_number(screener):
    f = screener.screen(call(0, "+447400123456", CARRIER)).dna.features
    # T0 is Wednesday 2026-11-18 11:06 UTC, 11:06 in London (GMT in November)
    assert (f["weekday"], f["weekend"], f["business_hours"], f["hour"], f["night"]) == (2.0, 0.0, 1.0, 11.0, 0.0)
    assert math.isclose(f["hour_sin"] ** 2 + f["hour_cos"] ** 2, 1.0)


def test_stir_features(screener):
    from tests.integration.helpers import identity_header

    f = screener.screen(call(0, "+12025550143", CARRIER, identity=identity_header("C", "+12025550143", DDI, iat=int(T0) - 5))).dna.features
    assert (f["identity_present"], f["attest_c"], f["orig_tn_matches"], f["dest_tn_matches"]) == (1.0, 1.0, 1.0, 1.0)
    assert f["iat_age_s"] == 5.0 and f["caller_international"] == 1.0 and f["caller_country_code"] == 1.0


def test_velocity_features_count_earlier_calls_only(screener):
    for i in range(3):
        screener.screen(call(i * 30, "+447400123456", CARRIER))
    f = screener.screen(call(100, "+447400123456", CARRIER)).dna.features
    assert (f["number_calls_1m"], f["number_calls_10m"], f["number_dialled_calls_24h"]) == (1.0, 3.0, 3.0)
    assert f["number_first_seen"] == 0.0 and f["dialled_calls_10m"] == 3.0


def test_lists_features(screener):
    screener.lists = ListSnapshot(deny={"+447400123456": "fraud"})
    f = screener.screen(call(0, "+447400123456", CARRIER)).dna.features
    assert f["denylisted"] == 1.0 and f["allowlisted"] == 0.0


def test_a_fraudsters_withheld_and_rotating_numbers_link_to_one_profile(screener):
    first = screener.screen(call(0, "+447911000001", FRAUD_PBX)).decision.caller_profile
    later = [screener.screen(call(60 * i, f"+4479110000{i:02d}", FRAUD_PBX, withheld=i % 2 == 0)).decision.caller_profile for i in range(2, 12)]
    anonymous = screener.screen(call(900, None, FRAUD_PBX, withheld=True)).decision.caller_profile
    assert set(later) == {first} and anonymous == first


def test_unrelated_customers_of_one_carrier_do_not_link_once_the_route_is_common(screener):
    for i in range(60):  # the carrier's SBC carries many different numbers: a common route
        screener.screen(call(i, f"+4479111{i:05d}", CARRIER))
    a = screener.screen(call(100, "+447922000001", CARRIER)).decision.caller_profile
    b = screener.screen(call(101, "+447922000002", CARRIER)).decision.caller_profile
    a_again = screener.screen(call(500, "+447922000001", CARRIER, withheld=True)).decision.caller_profile
    assert a != b and a == a_again


def test_two_fraud_routes_do_not_link(screener):
    other = {**FRAUD_PBX, "source_ip": "192.0.2.200", "user_agent": "3CXPhoneSystem 18.0"}
    assert screener.screen(call(0, "+447911000001", FRAUD_PBX)).decision.caller_profile != \
        screener.screen(call(1, "+447911000001", other)).decision.caller_profile


@pytest.mark.parametrize("number, expected", [
    ("+447400123456", {"PHONE_VALID": "true", "PHONE_LINE_TYPE": "Wireless", "PHONE_COUNTRY": "GB", "PHONE_VOIP": "false", "PHONE_DNC": "N/A"}),
    ("+442079460123", {"PHONE_VALID": "true", "PHONE_LINE_TYPE": "Landline", "PHONE_COUNTRY": "GB"}),
    ("+12025550143", {"PHONE_VALID": "true", "PHONE_LINE_TYPE": "N/A", "PHONE_VOIP": "N/A", "PHONE_DNC": "false", "PHONE_COUNTRY": "US"}),
    ("+447700900123", {"PHONE_VALID": "false", "PHONE_LINE_TYPE": "N/A", "PHONE_CARRIER": "N/A"}),
])
def test_phone_insights(screener, number, expected):
    got = screener.screen(call(0, number, CARRIER)).insights.channel_variables()
    assert {k: got[k] for k in expected} == expected
    assert got["PHONE_ACTIVE"] == got["PHONE_PREPAID"] == "N/A"
    assert "," not in got["PHONE_CARRIER"]


def test_dnc_list_marks_us_numbers(screener):
    screener.dnc = frozenset({"+12025550143"})
    assert screener.screen(call(0, "+12025550143", CARRIER)).insights.do_not_call == "true"


def test_withheld_call_without_number_has_na_insights(screener):
    phone = screener.screen(call(0, None, CARRIER, withheld=True)).insights
    assert (phone.valid, phone.country, phone.recent_abuse) == ("false", "N/A", "N/A")


def test_recent_abuse_from_the_deny_list(screener):
    screener.lists = ListSnapshot(deny={"+447400123456": ""})
    assert screener.screen(call(0, "+447400123456", CARRIER)).insights.recent_abuse == "true"


text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(caller=text, from_header=text, pai=text, identity=text, ua=text, mf=text, contact=text, codecs=text, pres=text,
       names=st.lists(text, max_size=8), via=st.lists(text, max_size=4), ts=st.floats(0, 4e9), source=text)
def test_any_signalling_gives_a_decision_not_an_exception(screener, caller, from_header, pai, identity, ua, mf, contact, codecs, pres, names, via, ts, source):
    signal = CallSignal(dialled="+442030001234", timestamp=ts, caller_number=caller, from_header=from_header, pai=pai,
                        identity=identity, user_agent=ua, max_forwards=mf, contact=contact, codecs=codecs, presentation=pres,
                        header_names=tuple(names), via=tuple(via), source_ip=source)
    decision = screener.screen(signal).decision
    assert 0 <= decision.score <= 100 and decision.route_action == "deliver"


def test_broken_signalling_is_a_data_quality_reason(screener):
    d = screener.screen(CallSignal(dialled=DDI, timestamp=T0, from_header="<sip:broken", pai="garbage <<<", identity="x.y")).decision
    assert "DATA_QUALITY" in [r.code for r in d.reasons]


def test_features_doc_is_current():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "docs"))
    from gen_features import render

    assert (Path(__file__).resolve().parents[2] / "docs" / "features.md").read_text() == render()

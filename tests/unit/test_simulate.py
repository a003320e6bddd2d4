"""The labelled-call simulator: deterministic, valid, in time order, and honest about its world."""

from __future__ import annotations

import base64
import collections
import io
import json
import random
from datetime import datetime, timezone

import phonenumbers
import pytest
from click.testing import CliRunner

from callshield.read import sipheaders
from callshield.cli import main
from callshield.training import sim_clock as clk
from callshield.training import sim_world as w
from callshield.training.simulate import CAMPAIGNS, DEFAULT_START, simulate, write_jsonl
from callshield.read.signal import CallSignal

OPTIONAL_HEADERS = {"User-Agent", "P-Asserted-Identity", "Privacy", "Identity", "Diversion", "Remote-Party-ID"}


def jsonl(calls: int, seed: int, **options) -> str:
    buf = io.StringIO()
    write_jsonl(buf, simulate(calls, seed, **options))
    return buf.getvalue()


@pytest.fixture(scope="module")
def small() -> list[dict]:
    return [json.loads(line) for line in jsonl(2000, 7).splitlines()]


@pytest.fixture(scope="module")
def large() -> list[dict]:
    return list(simulate(20000, 11))


def trunk(signal: dict) -> str:
    return signal["channel"].split("/", 1)[1].rsplit("-", 1)[0]


def passport(identity: str) -> dict:
    body = identity.split(";", 1)[0].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


# --- determinism, order, schema -------------------------------------------------------

def test_the_same_seed_writes_the_same_bytes():
    assert jsonl(2000, 7) == jsonl(2000, 7)


def test_another_seed_writes_other_calls():
    a, b = jsonl(500, 7).splitlines(), jsonl(500, 8).splitlines()
    assert len(a) == len(b) == 500
    assert not set(a) & set(b)


def test_exactly_the_calls_asked_for_in_time_order_within_the_window(small):
    assert len(small) == 2000
    stamps = [s["timestamp"] for s in small]
    assert stamps == sorted(stamps)
    assert DEFAULT_START <= stamps[0] and stamps[-1] <= DEFAULT_START + 14 * clk.DAY + 3 * clk.HOUR


def test_every_line_is_a_call_signal_the_scorer_accepts(small):
    for line in small:
        signal = CallSignal.from_dict(line)
        assert signal.dialled and signal.timestamp == line["timestamp"]
        assert signal.header_names[0] in ("Via", "Record-Route") and "Call-ID" in signal.header_names
        assert signal.via and signal.source_ip and signal.sip_call_id and signal.uniqueid


def test_every_line_is_labelled(small):
    for line in small:
        assert line["label"] in ("fraud", "genuine")
        assert line["campaign"] in CAMPAIGNS
        assert line["actor"]
        assert (line["label"] == "genuine") == line["campaign"].startswith("genuine")


def test_ids_are_fresh_and_the_channel_counter_only_grows(small):
    assert len({s["sip_call_id"] for s in small}) == len(small)
    assert len({s["uniqueid"] for s in small}) == len(small)
    counters = [int(s["channel"].rsplit("-", 1)[1], 16) for s in small]
    assert counters == sorted(counters) and len(set(counters)) == len(counters)


@pytest.mark.parametrize("share", [0.0, 0.02, 0.1, 1.0])
def test_the_fraud_share_is_the_one_asked_for(share):
    labels = collections.Counter(s["label"] for s in simulate(1000, 3, fraud_share=share))
    assert labels["fraud"] == round(1000 * share)
    assert labels["fraud"] + labels["genuine"] == 1000


def test_a_short_window_and_no_calls_work():
    assert list(simulate(0, 1)) == []
    calls = list(simulate(300, 1, days=0.25))
    assert len(calls) == 300
    assert all(DEFAULT_START <= c["timestamp"] < DEFAULT_START + 0.25 * clk.DAY + 3 * clk.HOUR for c in calls)


@pytest.mark.parametrize("kwargs", [{"calls": -1}, {"days": 0}, {"fraud_share": 1.5}])
def test_bad_arguments_are_refused(kwargs):
    args = {"calls": 10, "seed": 1, "days": 14.0, "fraud_share": 0.02, **kwargs}
    with pytest.raises(ValueError):
        next(iter(simulate(**args)))


# --- the world ------------------------------------------------------------------------

def test_every_campaign_appears_in_a_fortnight_of_twenty_thousand_calls(large):
    assert {s["campaign"] for s in large} == set(CAMPAIGNS)


def test_genuine_traffic_peaks_in_london_office_hours_on_weekdays(large):
    uk = [s for s in large if s["label"] == "genuine" and trunk(s) != "us-carrier"]
    local = [datetime.fromtimestamp(s["timestamp"] + clk.london_offset(s["timestamp"]), timezone.utc) for s in uk]
    office = sum(9 <= t.hour < 17 and t.weekday() < 5 for t in local)
    night = sum(t.hour < 6 for t in local)
    assert office / len(uk) > 0.6
    assert night / len(uk) < 0.02


def test_a_fraudsters_route_traits_are_stable_across_calls(large):
    seen: dict[tuple, set] = collections.defaultdict(set)
    for s in large:
        if s["label"] != "fraud":
            continue
        t = trunk(s)
        order = tuple(h for h in s["header_names"] if h not in OPTIONAL_HEADERS)
        traits = (s["user_agent"], s["max_forwards"], s["codecs"], order)
        if t == "transit":  # the caller's own stack and provider show through the proxy
            traits += (s["source_ip"], sipheaders.parse_address(s["contact"]).host)
        seen[(s["actor"], t)].add(traits)
    assert len(seen) >= 10
    assert all(len(v) == 1 for v in seen.values()), {k: v for k, v in seen.items() if len(v) > 1}


def test_carrier_traits_are_shared_by_many_genuine_callers(large):
    actors: dict[tuple, set] = collections.defaultdict(set)
    for s in large:
        if s["label"] == "genuine":
            actors[(s["source_ip"], s["user_agent"], s["max_forwards"], s["codecs"])].add(s["actor"])
    assert max(len(a) for a in actors.values()) > 1000


def test_genuine_withheld_callers_exist_and_their_network_number_mostly_shows(large):
    genuine = [s for s in large if s["label"] == "genuine"]
    withheld = [s for s in genuine if s["campaign"] == "genuine_withheld"]
    assert 0.03 <= len(withheld) / len(genuine) <= 0.05
    assert all(s["privacy"] == "id" or s["caller_number"] == "anonymous" for s in withheld)
    assert all('anonymous@anonymous.invalid' in s["from_header"] for s in withheld)
    with_pai = [s for s in withheld if s["pai"]]
    assert len(with_pai) / len(withheld) > 0.8


def test_genuine_international_callers_are_about_three_percent(large):
    genuine = [s for s in large if s["label"] == "genuine"]
    share = sum(s["campaign"] == "genuine_international" for s in genuine) / len(genuine)
    assert 0.02 <= share <= 0.04


def test_every_genuine_number_is_valid(large, intel):
    for s in large:
        if s["label"] == "genuine" and s["caller_number"] not in ("anonymous", "unavailable"):
            assert intel.info(sipheaders.number_of(s["caller_number"].split(";", 1)[0])).valid, s["caller_number"]


@pytest.mark.parametrize("make", [
    w.gb_mobile, w.gb_fixed, w.gb_voip, w.us_number,
    *(lambda rng, c=c: w.foreign_mobile(rng, c) for c in sorted(w.FOREIGN_MOBILE)),
])
def test_number_ranges_are_valid_without_asking_phonenumbers_at_run_time(make):
    rng = random.Random(5)
    for _ in range(300):
        number = make(rng)
        assert phonenumbers.is_valid_number(phonenumbers.parse(number)), number


def test_the_contact_centres_numbers_are_valid():
    for ddi in w.DDIS:
        assert phonenumbers.is_valid_number(phonenumbers.parse(ddi.number)), ddi
    assert len(w.GB_DDIS) == 30 and len(w.US_DDIS) == 5


def test_us_calls_carry_a_shaken_passport_for_the_caller_and_the_ddi(large):
    us = [s for s in large if s["campaign"] == "genuine" and trunk(s) == "us-carrier"]
    signed = [s for s in us if s["identity"]]
    assert len(signed) / len(us) > 0.7
    for s in signed:
        claims = passport(s["identity"])
        assert claims["orig"]["tn"] == sipheaders.number_of(s["caller_number"].split(";", 1)[0]).lstrip("+")
        assert claims["dest"]["tn"] == [s["dialled"].lstrip("+")]
        assert abs(claims["iat"] - s["timestamp"]) < 5
        assert s["identity"].endswith(";alg=ES256;ppt=shaken") and ";info=<https://" in s["identity"]
    attest = collections.Counter(passport(s["identity"])["attest"] for s in signed)
    assert attest["A"] / len(signed) > 0.75 and attest["B"] > 0
    passed = sum("verstat=TN-Validation-Passed" in s["pai"] for s in us)
    assert passed / len(us) > 0.7


def test_spoofed_calls_fail_verification_or_are_attested_c(large):
    for s in large:
        if s["campaign"] == "spoofed_failed":
            assert "verstat=TN-Validation-Failed" in s["pai"]
        elif s["campaign"] == "spoofed_c" and s["identity"]:
            assert passport(s["identity"])["attest"] == "C"


def test_the_takeover_ring_works_many_numbers_and_lines(large):
    ring = collections.defaultdict(list)
    for s in large:
        if s["campaign"] == "account_takeover_ring":
            ring[s["actor"]].append(s)
    for calls in ring.values():
        numbers = {s["from_header"] for s in calls if "anonymous" not in s["from_header"]}
        assert len({s["dialled"] for s in calls}) >= 3
        assert len({sipheaders.parse_address(h).user for h in numbers}) >= 0.4 * len(calls)
        assert any("anonymous" in s["from_header"] for s in calls)


def test_robocalls_come_in_bursts_from_many_numbers(large):
    by_source = collections.defaultdict(list)
    for s in large:
        if s["campaign"] == "robocall_burst":
            by_source[s["actor"]].append(s)
    bursts = []
    for calls in by_source.values():
        bursts.append([calls[0]])
        for prev, s in zip(calls, calls[1:]):
            if s["timestamp"] - prev["timestamp"] > 900:
                bursts.append([])
            bursts[-1].append(s)
    assert max(len(b) for b in bursts) >= 10
    for burst in bursts:
        assert burst[-1]["timestamp"] - burst[0]["timestamp"] <= 480
        assert len({s["source_ip"] for s in burst}) == 1
        numbers = {s["from_header"].split(";tag=")[0] for s in burst}
        assert len(numbers) >= 0.8 * len(burst)


def test_business_firms_call_from_one_pbx_with_many_numbers(large):
    firms: dict[str, list[dict]] = collections.defaultdict(list)
    for s in large:
        if s["campaign"] == "genuine_business":
            firms[s["actor"].rsplit("-", 1)[0]].append(s)
    busiest = max(firms.values(), key=len)
    assert len({s["actor"] for s in busiest}) >= 3  # several people, one device: the honest look-alike of a ring
    assert len({(s["user_agent"], s["codecs"], trunk(s)) for s in busiest}) <= 3


def test_the_ivr_monitor_calls_at_a_fixed_minute_of_the_hour(large):
    tests = [s for s in large if s["campaign"] == "genuine_ivr_test"]
    assert tests and {s["actor"] for s in tests} == {"ivr-monitor"}
    assert all(7 * 60 <= (s["timestamp"] - DEFAULT_START) % 3600 < 12 * 60 for s in tests)


def test_london_and_new_york_daylight_saving():
    summer, winter = 1784800000.0, 1795000000.0  # July 2026, November 2026
    assert clk.london_offset(summer) == 3600 and clk.london_offset(winter) == 0
    assert clk.new_york_offset(summer) == -4 * 3600 and clk.new_york_offset(winter) == -5 * 3600
    # 2026: BST ends 25 Oct 01:00 UTC; EDT ends 1 Nov 06:00 UTC.
    assert clk.london_offset(1792890000.0) == 0 and clk.london_offset(1792886000.0) == 3600
    assert clk.new_york_offset(1793512800.0) == -5 * 3600 and clk.new_york_offset(1793512799.0) == -4 * 3600


# --- the command ----------------------------------------------------------------------

def test_the_command_writes_the_file_and_keeps_stdout_clean(tmp_path):
    out = tmp_path / "calls.jsonl"
    result = CliRunner().invoke(main, ["simulate", "--calls", "300", "--seed", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "wrote 300 calls (6 fraud)" in result.stderr
    assert out.read_text(encoding="utf-8") == jsonl(300, 3)
    assert not (tmp_path / "calls.jsonl.part").exists()


def test_the_command_passes_the_window_and_share_through(tmp_path):
    out = tmp_path / "calls.jsonl"
    args = ["simulate", "--calls", "200", "--seed", "4", "--out", str(out), "--start", "2027-03-01T08:00:00Z",
            "--days", "2", "--fraud-share", "0.1"]
    assert CliRunner().invoke(main, args).exit_code == 0
    start = datetime(2027, 3, 1, 8, tzinfo=timezone.utc).timestamp()
    assert out.read_text(encoding="utf-8") == jsonl(200, 4, start=start, days=2, fraud_share=0.1)


def test_the_command_can_write_to_stdout():
    result = CliRunner().invoke(main, ["simulate", "--calls", "50", "--seed", "3", "--out", "-"])
    assert result.exit_code == 0
    assert result.stdout == jsonl(50, 3)


def test_the_command_refuses_a_start_that_is_not_iso_8601(tmp_path):
    result = CliRunner().invoke(main, ["simulate", "--calls", "5", "--seed", "1", "--out", str(tmp_path / "x"), "--start", "monday"])
    assert result.exit_code == 2
    assert "--start" in result.stderr

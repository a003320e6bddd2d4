"""CallSignal.from_dict: the validated input of scoring, naming the bad field of any error."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callshield.errors import SignalError
from callshield.read.signal import MAX_FIELD_CHARS, MAX_VIA, CallSignal, parse_timestamp

FIELDS = sorted(f for f in CallSignal.__dataclass_fields__)


def test_from_dict_reads_every_field() -> None:
    data = {
        "dialled": "+442071234567",
        "timestamp": 1795000000.5,
        "caller_number": "+12025550143",
        "caller_name": "Bob",
        "presentation": "allowed",
        "from_header": '"Bob" <sip:+12025550143@198.51.100.7>;tag=1',
        "pai": "<sip:+12025550143@198.51.100.7>",
        "privacy": "none",
        "identity": "a.b.c;info=<https://x.example/c.pem>",
        "user_agent": "sbc",
        "diversion": "",
        "via": ["SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK1"],
        "header_names": ["Via", "Max-Forwards", "From", "To", "Call-ID", "CSeq", "Contact"],
        "max_forwards": "69",
        "contact": "<sip:+12025550143@198.51.100.7:5060>",
        "codecs": "(ulaw|alaw)",
        "source_ip": "198.51.100.7",
        "source_port": 5060,
        "sip_call_id": "abc@198.51.100.7",
        "channel": "PJSIP/carrier-00000001",
        "uniqueid": "1795000000.1",
        "channel_state": "Ring",
        "call_id": "c-1",
        "drill": "",
    }

    signal = CallSignal.from_dict(data)

    assert signal.to_dict() == data
    assert signal.via == ("SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK1",)


def test_to_dict_and_back_is_the_same_signal() -> None:
    signal = CallSignal(dialled="+442071234567", timestamp=1795000000.0, caller_number="+12025550143", via=("a", "b"))

    assert CallSignal.from_dict(signal.to_dict()) == signal


def test_missing_timestamp_is_now() -> None:
    assert CallSignal.from_dict({"dialled": "+442071234567"}, now=1795000000.0).timestamp == 1795000000.0


@pytest.mark.parametrize("data", [{}, {"caller_number": "+12025550143"}, {"dialled": ""}, {"dialled": None}])
def test_dialled_is_required(data: dict[str, Any]) -> None:
    with pytest.raises(SignalError, match=r"^field 'dialled' is required: the dialled number \(DDI\)"):
        CallSignal.from_dict(data)


@pytest.mark.parametrize("data", [[], "x", None, 3])
def test_signal_must_be_an_object(data: Any) -> None:
    with pytest.raises(SignalError, match=f"^a call signal must be a JSON object, not {type(data).__name__}$"):
        CallSignal.from_dict(data)


def test_unknown_fields_are_named() -> None:
    with pytest.raises(SignalError, match=r"^unknown field\(s\) callerid, ddi \(known: call_id, caller_name, "):
        CallSignal.from_dict({"dialled": "+442071234567", "ddi": "x", "callerid": "y"})


def test_label_and_campaign_are_ignored() -> None:
    signal = CallSignal.from_dict({"dialled": "+442071234567", "timestamp": 1.0, "label": "fraud", "campaign": {"id": 7}})

    assert signal == CallSignal(dialled="+442071234567", timestamp=1.0)


@pytest.mark.parametrize(
    ("value", "epoch"),
    [
        ("2026-11-22T09:30:00Z", 1795339800.0),
        ("2026-11-22T09:30:00+00:00", 1795339800.0),
        ("2026-11-22T10:30:00+01:00", 1795339800.0),
        ("2026-11-22T09:30:00", 1795339800.0),  # naive means UTC
        ("2026-11-22T09:30:00.250Z", 1795339800.25),
        (1795339800, 1795339800.0),
        (1795339800.25, 1795339800.25),
        (0, 0.0),
    ],
)
def test_timestamp_is_iso8601_or_epoch_seconds(value: Any, epoch: float) -> None:
    assert CallSignal.from_dict({"dialled": "1", "timestamp": value}).timestamp == epoch


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("yesterday", "'yesterday' is not ISO 8601 (e.g. 2026-11-22T09:30:00Z)"),
        ("", "'' is not ISO 8601"),
        (math.nan, "must be epoch seconds between 0 and 253402300799, not nan"),
        (math.inf, "must be epoch seconds between 0 and 253402300799, not inf"),
        (-1, "must be epoch seconds between 0 and 253402300799, not -1"),
        (True, "must be epoch seconds or ISO 8601, not True"),
        ([2026], "must be epoch seconds or ISO 8601, not list"),
    ],
)
def test_bad_timestamp_is_refused(value: Any, words: str) -> None:
    with pytest.raises(SignalError) as caught:
        CallSignal.from_dict({"dialled": "1", "timestamp": value})

    assert str(caught.value).startswith("field 'timestamp' ")
    assert words in str(caught.value)


def test_huge_integer_timestamp_is_a_signal_error() -> None:
    with pytest.raises(SignalError, match="timestamp"):
        CallSignal.from_dict({"dialled": "1", "timestamp": 10**400})


@pytest.mark.parametrize("name", ["caller_number", "from_header", "identity"])
def test_oversized_field_is_refused(name: str) -> None:
    with pytest.raises(SignalError, match=f"^field '{name}' is {MAX_FIELD_CHARS + 1} characters; the limit is {MAX_FIELD_CHARS}$"):
        CallSignal.from_dict({"dialled": "1", name: "x" * (MAX_FIELD_CHARS + 1)})


def test_field_at_the_limit_is_kept() -> None:
    assert CallSignal.from_dict({"dialled": "1", "identity": "x" * MAX_FIELD_CHARS}).identity == "x" * MAX_FIELD_CHARS


@pytest.mark.parametrize("value", [5, ["ok", 5], {"a": "b"}])
def test_text_fields_must_be_strings(value: Any) -> None:
    with pytest.raises(SignalError):
        CallSignal.from_dict({"dialled": "1", "caller_number": value, "via": value if isinstance(value, list) else []})


def test_null_text_field_is_empty() -> None:
    assert CallSignal.from_dict({"dialled": "1", "caller_name": None}).caller_name == ""


@pytest.mark.parametrize(
    ("via", "expected"),
    [
        ("SIP/2.0/UDP a", ("SIP/2.0/UDP a",)),
        (["SIP/2.0/UDP a", "SIP/2.0/TCP b"], ("SIP/2.0/UDP a", "SIP/2.0/TCP b")),
        ([f"hop{i}" for i in range(MAX_VIA + 3)], tuple(f"hop{i}" for i in range(MAX_VIA))),
        ([], ()),
    ],
)
def test_via_is_a_tuple_of_at_most_max_via(via: Any, expected: tuple[str, ...]) -> None:
    assert CallSignal.from_dict({"dialled": "1", "via": via}).via == expected


@pytest.mark.parametrize("via", [5, [1, 2], {"a": 1}])
def test_via_must_be_text(via: Any) -> None:
    with pytest.raises(SignalError, match=r"^field 'via' must be a list of strings$"):
        CallSignal.from_dict({"dialled": "1", "via": via})


@pytest.mark.parametrize(("value", "expected"), [(0, 0), (5060, 5060), (65535, 65535), (None, None), ("", None)])
def test_source_port_accepts_ports_and_empty(value: Any, expected: int | None) -> None:
    assert CallSignal.from_dict({"dialled": "1", "source_port": value}).source_port == expected


@pytest.mark.parametrize("value", [65536, -1, "5060", 5060.0, True])
def test_source_port_refuses_non_ports(value: Any) -> None:
    with pytest.raises(SignalError, match=r"^field 'source_port' must be a port number 0-65535, not "):
        CallSignal.from_dict({"dialled": "1", "source_port": value})


def test_parse_timestamp_is_usable_alone() -> None:
    assert parse_timestamp("1970-01-01T00:01:00Z") == 60.0


# JSON values, minus integers too big for a float: those are the OverflowError bug above.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**1000), 2**1000) | st.floats() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
signal_dicts = st.dictionaries(st.sampled_from([*FIELDS, "label", "campaign"]) | st.text(max_size=10), json_values, max_size=8)


@settings(max_examples=300, deadline=None)
@given(data=signal_dicts | json_values)
def test_from_dict_raises_only_signal_error(data: Any) -> None:
    try:
        signal = CallSignal.from_dict(data, now=0.0)
    except SignalError:
        return
    assert signal.dialled and isinstance(signal.timestamp, float)

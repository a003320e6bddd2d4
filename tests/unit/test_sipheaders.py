"""Tolerant SIP header parsers: a parsed value or None, never an exception."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callshield.read.sipheaders import SipAddress, number_of, parse_address, privacy_tokens, via_hosts


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"Alice Example" <sip:+442079460000@carrier.example;user=phone>;tag=abc123',
         SipAddress("Alice Example", "sip", "+442079460000", "carrier.example", {"user": "phone"}, {"tag": "abc123"})),
        ('"Say \\"hi\\"" <sips:bob@example.com>',
         SipAddress('Say "hi"', "sips", "bob", "example.com")),
        ("Bob <sip:bob@example.com:5061>",
         SipAddress("Bob", "sip", "bob", "example.com:5061")),
        ("<sip:+12025550143@198.51.100.7>",
         SipAddress("", "sip", "+12025550143", "198.51.100.7")),
        ("sip:+12025550143@198.51.100.7;tag=9",
         SipAddress("", "sip", "+12025550143", "198.51.100.7", {}, {"tag": "9"})),
        ("SIP:alice@EXAMPLE.com",
         SipAddress("", "sip", "alice", "EXAMPLE.com")),
        ("tel:+442079460000;verstat=TN-Validation-Passed",
         SipAddress("", "tel", "+442079460000", "", {}, {"verstat": "TN-Validation-Passed"})),
        ("<tel:+442079460000;verstat=TN-Validation-Passed>",
         SipAddress("", "tel", "+442079460000", "", {"verstat": "TN-Validation-Passed"})),
        ("<sip:+442079460000;verstat=TN-Validation-Failed@carrier.example;user=phone>",
         SipAddress("", "sip", "+442079460000", "carrier.example", {"verstat": "TN-Validation-Failed", "user": "phone"})),
        ("<sip:%2B442079460000@carrier.example>",
         SipAddress("", "sip", "+442079460000", "carrier.example")),
        ("sip:carrier.example",
         SipAddress("", "sip", "", "carrier.example")),
        ('"Anonymous" <sip:anonymous@anonymous.invalid>;tag=1',
         SipAddress("Anonymous", "sip", "anonymous", "anonymous.invalid", {}, {"tag": "1"})),
        ("sip:first@a.example, sip:second@b.example",
         SipAddress("", "sip", "first", "a.example")),
    ],
)
def test_parse_address(value: str, expected: SipAddress) -> None:
    assert parse_address(value) == expected


@pytest.mark.parametrize(
    "value", ["", "   ", "hello", "<>", "<http://example.com>", '"unterminated <sip:a@b', "mailto:a@b", "<sip"]
)
def test_garbage_address_is_none(value: str) -> None:
    assert parse_address(value) is None


@pytest.mark.parametrize(
    ("value", "anonymous"),
    [
        ("<sip:anonymous@anonymous.invalid>", True),
        ("<sip:Restricted@carrier.example>", True),
        ("<sip:withheld@carrier.example>", True),
        ("<sip:+442079460000@anonymous.invalid>", True),
        ("<sip:+442079460000@carrier.example>", False),
        ("<sip:anon@carrier.example>", False),
    ],
)
def test_is_anonymous(value: str, anonymous: bool) -> None:
    address = parse_address(value)

    assert address is not None and address.is_anonymous is anonymous


def test_param_prefers_the_uri_and_ignores_case() -> None:
    address = parse_address("<sip:+442079460000@c.example;VerStat=from-uri>;verstat=from-header;tag=1")

    assert address is not None
    assert address.param("VERSTAT") == "from-uri"
    assert address.param("tag") == "1"
    assert address.param("absent") is None


@pytest.mark.parametrize(
    ("user", "digits"),
    [
        ("+442079460000", "+442079460000"),
        ("+44 20-7946 0000", "+442079460000"),
        ("(020) 7946.0000", "02079460000"),
        ("44+20", "+4420"),
        ("++1", "+1"),
        ("bob", ""),
        ("+", ""),
        ("", ""),
    ],
)
def test_number_of(user: str, digits: str) -> None:
    assert number_of(user) == digits


@pytest.mark.parametrize(
    ("value", "tokens"),
    [
        ("id", {"id"}),
        ("ID; Header", {"id", "header"}),
        ("id,critical", {"id", "critical"}),
        ("none", {"none"}),
        (" ; ,", set()),
        ("", set()),
    ],
)
def test_privacy_tokens(value: str, tokens: set[str]) -> None:
    assert privacy_tokens(value) == frozenset(tokens)


def test_via_hosts_reads_each_hop_of_each_header() -> None:
    vias = [
        "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK1;rport, SIP/2.0/TCP sbc.carrier.example;branch=z9hG4bK2",
        "SIP/2.0/UDP [2001:db8::1];branch=z9hG4bK3",
        "SIP/2.0/UDP 2001:db8::2;branch=z9hG4bK4",
        "garbage",
    ]

    assert via_hosts(vias) == ["198.51.100.7", "sbc.carrier.example", "2001:db8::1", "2001:db8::2"]


def test_via_hosts_drops_the_port_of_a_bracketed_ipv6_host() -> None:
    assert via_hosts(["SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1"]) == ["2001:db8::1"]


def test_parse_address_is_fast_on_hostile_whitespace() -> None:
    started = time.perf_counter()
    assert parse_address(" " * 1000 + "<") is None
    assert time.perf_counter() - started < 0.02


header_text = st.text(alphabet=st.sampled_from(list('<>"\\;,=@: \t+%abcsiptel0123456789.')) | st.characters(), max_size=60)


@settings(max_examples=300, deadline=None)
@given(value=header_text)
def test_parse_address_never_raises(value: str) -> None:
    address = parse_address(value)

    assert address is None or address.scheme in ("sip", "sips", "tel")


@settings(max_examples=200, deadline=None)
@given(value=header_text)
def test_number_of_and_privacy_tokens_never_raise(value: str) -> None:
    digits = number_of(value)
    assert digits == "" or (any(c.isdigit() for c in digits) and "+" not in digits[1:])
    assert all(t and t == t.strip().lower() for t in privacy_tokens(value))


@settings(max_examples=200, deadline=None)
@given(vias=st.lists(header_text, max_size=4))
def test_via_hosts_never_raises(vias: list[str]) -> None:
    assert all(isinstance(h, str) for h in via_hosts(vias))

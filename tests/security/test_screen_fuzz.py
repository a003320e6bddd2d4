"""No signalling a caller controls turns a decision into a fail-open (issue 9 item 2).

The whole ``screen`` handler runs against an in-memory Asterisk peer: each command it
writes gets its reply fed back to the session's reader, exactly as the socket would
(the reader has the server's line limit). Hypothesis varies the signalling reply (every
field, the raw line, its length past the 64 KiB line limit, Asterisk's error replies)
and the AGI environment; the handler must never raise and must always set ROUTE_ACTION
to one of the four actions. A deny-listed caller whose number Asterisk knows from the
environment is rejected however the headers read.
"""

from __future__ import annotations

import asyncio
import logging
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from callshield.agi import screen
from callshield.agi.protocol import MAX_LINE, AgiConnection, AgiSession
from callshield.agi.signal_reader import FIELDS, encode_reply
from callshield.config import ROUTE_ACTIONS, load_config
from callshield.screening.lists import ListSnapshot
from callshield.screening.screener import Screener
from callshield.services import Services

DDI = "+442071234567"
DENIED = "+447700900666"
ENV = {
    "agi_network": "yes", "agi_network_script": "screen", "agi_request": "agi://127.0.0.1:4573/screen",
    "agi_channel": "PJSIP/carrier-00000001", "agi_language": "en", "agi_type": "PJSIP", "agi_uniqueid": "1795000000.1",
    "agi_version": "22.0.0", "agi_callerid": "+447700900123", "agi_calleridname": "J Smith", "agi_callingpres": "0",
    "agi_dnid": DDI, "agi_context": "callshield-screen", "agi_extension": "s", "agi_priority": "9", "agi_arg_1": DDI,
}
FIELD_NAMES = [name for name, _ in FIELDS if name != "drill"]  # drill is a channel variable no caller can set
ADVERSARIAL = [
    "1" * 8192, "1." * 4096, "<" * 8192, "<sip:" + "a" * 8187, ";a=b" * 2048, ";" * 8192, "," * 8192, '"' * 8192,
    "%" * 8192, "@" * 8192, ":" * 8192, "[" * 8192, "e30." * 2048, "sip:+" + "5" * 8187, "\x00\r\n|" * 2048, "\u00e9\u4e2d" * 4096,
]


class FakeAsterisk:
    """The Asterisk side of one in-memory AGI session: the transport of callshield's
    AgiConnection, answering each command line by feeding the reply to the connection."""

    def __init__(self, get_reply: bytes):
        self.conn = AgiConnection()
        self.get_reply = get_reply
        self.commands: list[str] = []
        self.conn.connection_made(self)  # type: ignore[arg-type]

    def write(self, data: bytes) -> None:
        for line in data.decode("utf-8", "replace").splitlines():
            self.commands.append(line)
            if line.startswith("GET FULL VARIABLE "):
                self.conn.data_received(self.get_reply)
            elif line.startswith("EXEC "):
                self.conn.data_received(b"200 result=0\n")
            else:
                self.conn.data_received(b"200 result=1\n")

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default=None):
        return default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def route_action(self) -> str | None:
        for command in self.commands:
            if command.startswith("EXEC MSet "):
                found = re.search(r"[\",]ROUTE_ACTION=([a-z_]*)\"$", command)
                return found.group(1) if found else None
        return None


def services(**overrides) -> Services:
    config = load_config(None, env={}, overrides={"scoring.model": "rules", "routing.default.high_risk": {"action": "reject"},
                                                  **overrides})
    return Services(config=config, screener=Screener(config, lists=ListSnapshot(deny={DENIED: "fraud"})))


SERVICES = services()


def run(reply: bytes, env: dict[str, str] | None = None) -> FakeAsterisk:
    async def call() -> FakeAsterisk:
        peer = FakeAsterisk(reply)
        session = AgiSession(peer.conn, {**ENV, **(env or {})}, command_timeout=5.0)
        await screen.handle(session, SERVICES)
        return peer

    return asyncio.run(call())


def ok(value: str) -> bytes:
    return f"200 result=1 ({value})\n".encode("utf-8", "surrogateescape")


texts = st.one_of(st.text(max_size=300), st.text(alphabet="0123456789+;,.<>@:%\"' -|#=", max_size=3000),
                  st.sampled_from(ADVERSARIAL))
field_values = st.dictionaries(st.sampled_from(FIELD_NAMES), texts, max_size=len(FIELD_NAMES))
raw_lines = st.one_of(
    st.binary(max_size=2000),
    st.builds(lambda b: b"200 result=1 (" + b, st.binary(max_size=2000)),
    st.builds(lambda parts: b"200 result=1 (" + b"|".join(parts) + b")", st.lists(st.binary(max_size=64), max_size=30)),
    st.sampled_from([b"200 result=0", b"200 result=1", b"200 result=1 ()", b"510 Invalid or unknown command",
                     b"520 Invalid command syntax.", b"200 result=1 (" + b"Iw==|" * 40000 + b")", b"9" * 9000]),
).map(lambda line: line.replace(b"\n", b" "))
env_values = st.dictionaries(
    st.sampled_from(["agi_callerid", "agi_calleridname", "agi_arg_1", "agi_dnid", "agi_extension", "agi_channel", "agi_uniqueid"]),
    texts, max_size=4)


def _reply_for(line: bytes) -> bytes:
    """One reply as Asterisk frames it: a 520- block ends with its '520 ' line."""
    if line.startswith(b"520-"):
        return line + b"\n520 End of proper usage.\n"
    return line + b"\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(values=field_values, env=env_values)
def test_any_header_values_and_environment_get_a_route_action(values, env):
    peer = run(ok(encode_reply(values)), env)
    assert peer.route_action() in ROUTE_ACTIONS


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(line=raw_lines, env=env_values)
def test_any_reply_line_gets_a_route_action(line, env):
    assume(not line.startswith((b"511", b"HANGUP")))  # the channel hung up: nothing left to decide
    peer = run(_reply_for(line), env)
    assert peer.route_action() in ROUTE_ACTIONS


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(line=raw_lines)
def test_a_denylisted_caller_id_is_rejected_whatever_the_reply(line):
    assume(not line.startswith((b"511", b"HANGUP")))
    assert run(_reply_for(line), {"agi_callerid": DENIED}).route_action() == "reject"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(size=st.integers(MAX_LINE - 200, 4 * MAX_LINE), filler=st.sampled_from(["a", "Zm9v", "|", "Iw==|"]))
def test_a_reply_past_the_line_limit_is_read_bounded_and_decided(size, filler):
    huge = encode_reply({"from_header": f"<sip:{DENIED}@carrier.example>;tag=1"}) + "|" + filler * (size // len(filler))
    peer = run(ok(huge), {"agi_callerid": DENIED})
    assert peer.route_action() == "reject"


def test_a_52kb_invite_reply_is_cut_logged_and_the_denylisted_caller_rejected(caplog):
    """The reply an old dialplan (no per-field cut) gave for the INVITE of
    tests/security/test_big_invite_asterisk.py: 14 headers near 4 KB, about 76 KB."""
    big = {name: "x" * 4080 for name in ("pai", "privacy", "identity", "user_agent", "diversion", "sip_call_id",
                                          "via1", "via2", "via3", "via4", "contact", "header_names")}
    big["from_header"] = f'"{"D" * 4000}" <sip:{DENIED}@127.0.0.1>;tag=1'
    reply = ok(encode_reply(big))
    assert len(reply) > MAX_LINE
    with caplog.at_level(logging.WARNING, logger="callshield"):
        peer = run(reply, {"agi_callerid": DENIED})
    assert peer.route_action() == "reject"
    assert "signalling reply over the line limit" in caplog.text
    assert len(peer.commands) == 2  # GET, MSet: the session stayed in step


@pytest.mark.parametrize("reply", [b"520-Invalid command syntax.  Proper usage follows:\nUsage: x\n520 End of proper usage.\n",
                                   b"510 Invalid or unknown command\n", b"200 result=0\n", b"HANGUP-ish\n"])
def test_asterisk_refusing_the_read_still_decides_on_the_environment(reply, caplog):
    with caplog.at_level(logging.WARNING, logger="callshield"):
        peer = run(reply, {"agi_callerid": DENIED})
    assert peer.route_action() == "reject"
    assert "signalling problem" in caplog.text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(length=st.integers(0, 3 * MAX_LINE), byte=st.sampled_from([b"a", b"|", b"\x00", b"\xff"]))
def test_a_reply_line_of_any_length_is_read_bounded_and_the_next_one_whole(length, byte):
    async def read() -> tuple:
        peer = FakeAsterisk(b"")
        session = AgiSession(peer.conn, dict(ENV), command_timeout=5.0)
        peer.conn.data_received(b"200 result=1 (" + byte * length + b")\n200 result=1 (next)\n")
        first, dropped = await session.connection.readline()
        second = await session._reply("GET")
        return first, dropped, second

    first, dropped, second = asyncio.run(read())
    whole = len("200 result=1 (") + length + 2
    assert len(first) == min(whole, MAX_LINE) and len(first) + dropped == whole
    assert second.value == "next" and second.dropped == 0

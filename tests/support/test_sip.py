"""Tests for the SIP test agents in tests/support/sip.py (loopback only, no Asterisk)."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import sip
from tests.support.sip import (
    SipMessage,
    SipParseError,
    SipUAC,
    SipUAS,
    canonical_header_name,
    extract_uri,
    header_params,
    parse_message,
    split_commas,
    uri_address,
)

# --------------------------------------------------------------------------
# UAC <-> UAS over loopback
# --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_answered_call_is_acked_and_hung_up_by_caller() -> None:
    async with SipUAS(mode="answer") as uas, SipUAC() as uac:
        result = await uac.invite(uas.address, to_user="+442071234567", from_user="+447700900123",
                                  from_display="Alice Example", answer_timeout=5)
        call = await uas.wait_for_call(timeout=2)
        await uas.wait_for_end(call, timeout=2)

    assert result.final_status == 200 and result.answered and not result.timed_out
    assert result.statuses("INVITE") == [100, 180, 200]
    assert result.statuses("BYE") == [200] and result.bye_status == 200
    assert result.invite_sent_at <= result.first_provisional_at <= result.answered_at <= result.local_bye_at
    assert result.invite_retransmissions == 0
    assert result.dialog is not None and result.remote_tag == call.local_tag
    assert result.responses[-1].header("CSeq").endswith("BYE")
    answer = next(r for r in result.responses if r.status == 200 and r.method == "INVITE")
    assert answer.header("content-type") == "application/sdp" and b"m=audio" in answer.body

    assert call.request_uri == f"sip:+442071234567@127.0.0.1:{uas.port}"
    assert call.to_user == "+442071234567" and call.from_user == "+447700900123"
    assert call.header("FROM").startswith('"Alice Example" <sip:+447700900123@127.0.0.1>;tag=')
    assert call.header("f") == call.header("from")
    assert call.acked_at is not None and call.ended_by == "remote"
    assert call.responses_sent == [100, 180, 200] and call.final_retransmissions == 0
    assert b"RTP/AVP 0 8 101" in call.body

    sent = parse_message(result.request)  # Content-Length matches the body we sent
    assert sent is not None and sent.body == call.body
    assert int(sent.header("content-length")) == len(sent.body)
    assert header_params(sent.top_via)["branch"].startswith("z9hG4bK") and "rport" in header_params(sent.top_via)


@pytest.mark.asyncio
async def test_uas_hangs_up_a_call_kept_up_by_the_caller() -> None:
    async with SipUAS(answer_delay=0.05) as uas, SipUAC() as uac:
        result = await uac.invite(uas.address, to_user="1000", hangup_after_answer=False, answer_timeout=5)
        call = await uas.wait_for_call(timeout=1)
        assert result.answered and call.answered_at - call.received_at >= 0.05
        assert await uas.bye(call) == 200
        await uac.wait_for_remote_bye(result, timeout=2)

    assert result.ended_by_remote_bye and result.remote_bye_at >= result.answered_at
    assert result.local_bye_at is None and call.ended_by == "local"


@pytest.mark.asyncio
@pytest.mark.parametrize(("mode", "status"), [("busy", 486), ("unavailable", 503)])
async def test_rejected_call_is_acked_without_retransmissions(mode: str, status: int) -> None:
    async with SipUAS(mode=mode) as uas, SipUAC() as uac:
        result = await uac.invite(uas.address, to_user="2000", answer_timeout=5)
        call = await uas.wait_for_call(timeout=1)
        await uas.wait_for_ack(call, timeout=2)

    assert result.final_status == status and result.statuses() == [status] and not result.answered
    assert result.dialog is None and result.final_at is not None
    assert call.final_status == status and call.acked_at is not None
    assert call.invite_retransmissions == 0 and call.final_retransmissions == 0
    assert result.invite_retransmissions == 0


@pytest.mark.asyncio
async def test_silent_destination_times_out_after_timer_a_retransmissions() -> None:
    async with SipUAS(mode="silent") as uas, SipUAC() as uac:
        started = time.monotonic()
        result = await uac.invite(uas.address, to_user="3000", answer_timeout=1.2)
        elapsed = time.monotonic() - started
        call = await uas.wait_for_call(timeout=1)

    assert result.final_status is None and result.timed_out and result.responses == []
    assert 1.15 <= elapsed < 2.0
    assert result.invite_retransmissions == 1  # at T1 = 0.5 s; the next would be at 1.5 s
    assert call.invite_retransmissions == 1 and call.responses_sent == []


@pytest.mark.asyncio
async def test_cancel_before_answer_gets_487_which_is_acked() -> None:
    async with SipUAS(mode="ring") as uas, SipUAC() as uac:
        result = await uac.invite(uas.address, to_user="4000", cancel_after=0.1, answer_timeout=5)
        call = await uas.wait_for_call(timeout=1)
        await uas.wait_for_ack(call, timeout=2)

    assert result.final_status == 487 and result.cancel_sent_at - result.invite_sent_at >= 0.1
    assert result.statuses("CANCEL") == [200]
    assert result.statuses("INVITE") == [100, 180, 487]
    assert call.cancelled_at is not None and call.ended_by == "cancel" and call.final_status == 487
    assert call.acked_at is not None and call.answered_at is None


@pytest.mark.asyncio
async def test_ringing_call_is_cancelled_when_the_answer_timeout_expires() -> None:
    async with SipUAS(mode="ring") as uas, SipUAC() as uac:
        result = await uac.invite(uas.address, to_user="4001", answer_timeout=0.3)
        call = await uas.wait_for_call(timeout=1)
        await uas.wait_for_end(call, timeout=2)
        await uas.wait_for_ack(call, timeout=2)

    assert result.final_status is None and result.timed_out and result.cancel_sent_at is not None
    assert call.ended_by == "cancel"


@pytest.mark.asyncio
async def test_extra_headers_arrive_byte_for_byte() -> None:
    big = "B" * 3072
    odd = b"caf\xc3\xa9 \xff\xfe raw \x80"  # valid UTF-8 followed by invalid bytes
    extra = [
        ("X-Plain", "hello world"),
        ("X-Raw", odd),
        ("X-Big", big),
        ("X-Dup", "one"),
        ("x-dup", "two"),
        ("P-Asserted-Identity", "<sip:+447700900123@127.0.0.1>"),
        ("User-Agent", "custom-agent/1"),
    ]
    async with SipUAS(mode="busy") as uas, SipUAC() as uac:
        result = await uac.invite(uas.address, to_user="5000", from_user=None, extra_headers=extra,
                                  answer_timeout=5)
        call = await uas.wait_for_call(timeout=1)

    assert result.final_status == 486
    assert call.header("x-plain") == "hello world"
    assert call.header_bytes("X-RAW") == odd and b"X-Raw: " + odd + b"\r\n" in call.raw
    assert call.header("X-Big") == big
    assert call.header_all("X-Dup") == ["one", "two"]
    assert call.header("p-asserted-identity") == "<sip:+447700900123@127.0.0.1>"
    assert call.header_all("user-agent") == ["custom-agent/1"]  # replaced, not duplicated
    assert call.from_user is None and extract_uri(call.header("from")) == "sip:127.0.0.1"


@pytest.mark.asyncio
async def test_info_dtmf_arrives_in_the_dialog() -> None:
    async with SipUAS() as uas, SipUAC() as uac:
        result = await uac.invite(uas.address, to_user="6000", hangup_after_answer=False, answer_timeout=5)
        call = await uas.wait_for_call(timeout=1)
        assert await uac.send_info_dtmf(result, "1#9") == [200, 200, 200]
        bodies = await uas.wait_for_info(call, count=3, timeout=2)
        assert await uac.bye(result) == 200
        await uas.wait_for_end(call, timeout=2)

    assert bodies == [b"Signal=%s\r\nDuration=160\r\n" % d for d in (b"1", b"#", b"9")]
    assert result.statuses("INFO") == [200, 200, 200]
    assert call.ended_by == "remote"


@pytest.mark.asyncio
async def test_wait_for_call_times_out_with_a_clear_message_and_mode_changes_apply() -> None:
    async with SipUAS(mode="busy") as uas, SipUAC() as uac:
        with pytest.raises(TimeoutError, match=r"an INVITE at sip:127\.0\.0\.1:\d+"):
            await uas.wait_for_call(timeout=0.1)
        uas.mode = "answer"
        result = await uac.invite(uas.address, to_user="7000", answer_timeout=5)
        assert result.final_status == 200
        await uas.wait_for_call(timeout=1)
        await uas.assert_no_call(within=0.05)
        with pytest.raises(ValueError):
            uas.mode = "sleepy"


@pytest.mark.asyncio
async def test_closed_uas_is_a_dead_destination_until_restarted_on_the_same_port() -> None:
    async with SipUAS() as uas, SipUAC() as uac:
        port = uas.port
        uas.close()
        dead = await uac.invite(uas.address, to_user="7100", answer_timeout=0.3)
        await uas.start()
        alive = await uac.invite(uas.address, to_user="7101", answer_timeout=5)
        call = await uas.wait_for_call(timeout=1)

    assert dead.final_status is None and dead.timed_out
    assert uas.port == port and alive.final_status == 200 and call.to_user == "7101"
    assert len(uas.calls) == 1


@pytest.mark.asyncio
async def test_malformed_datagrams_are_dropped_and_options_answered() -> None:
    garbage = [
        b"\x00\xff\xfe not sip",
        b"INVITE sip:x@127.0.0.1 SIP/2.0\r\nCall-ID: a\r\n\r\n",  # no Via/CSeq
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx\r\nContent-Length: 99\r\n\r\nshort",
        b"INVITE sip:x@127.0.0.1 SIP/2.0\r\n folded-first-line\r\n\r\n",
        b"\r\n\r\n",  # keep-alive: ignored, not an error
    ]
    async with SipUAS(mode="answer") as uas, SipUAC() as uac:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for datagram in garbage:
                sock.sendto(datagram, uas.address)
        response = await uac.options(uas.address)
        result = await uac.invite(uas.address, to_user="8000", answer_timeout=5)
        uas.answer_options = False
        assert await uac.options(uas.address, timeout=0.1) is None

    assert uas.parse_errors == 4 and uas.handler_errors == 0
    assert response is not None and response.status == 200 and "INVITE" in response.header("allow")
    assert header_params(response.top_via)["rport"] == str(uac.port)
    assert result.final_status == 200


@pytest.mark.asyncio
async def test_concurrent_calls_and_compact_form_invite() -> None:
    async with SipUAS(mode="answer", answer_delay=0.05) as uas, SipUAC() as uac:
        results = await asyncio.gather(*(uac.invite(uas.address, to_user=f"10{i}", answer_timeout=5)
                                         for i in range(5)))
        calls = [await uas.wait_for_call(timeout=1) for _ in range(5)]
        await asyncio.gather(*(uas.wait_for_end(call, timeout=2) for call in calls))
        # a hand-written INVITE using compact header names and LF line ends
        uas.mode = "ring"
        raw = (f"INVITE sip:compact@127.0.0.1:{uas.port} SIP/2.0\n"
               f"v: SIP/2.0/UDP 127.0.0.1:{uac.port};branch=z9hG4bKcompact\n"
               "f: <sip:c@127.0.0.1>;tag=t1\nt: <sip:compact@127.0.0.1>\ni: compact-1\n"
               "CSeq: 1 INVITE\nm: <sip:c@127.0.0.1>\nl: 0\n\n").encode()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(raw, uas.address)
        compact = await uas.wait_for_call(timeout=1)

    assert [r.final_status for r in results] == [200] * 5
    assert sorted(c.to_user for c in calls) == [f"10{i}" for i in range(5)]
    assert len({r.call_id for r in results}) == 5 and all(c.ended_by == "remote" for c in calls)
    assert compact.call_id == "compact-1" and compact.header("contact") == "<sip:c@127.0.0.1>"
    assert compact.responses_sent == [100, 180]


class RawPeer(asyncio.DatagramProtocol):
    """A hand-driven SIP peer: records what it receives, sends what it is told."""

    def __init__(self) -> None:
        self.received: list[tuple[SipMessage, tuple[str, int]]] = []
        self.arrived = asyncio.Event()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        message = parse_message(data)
        if message is not None:
            self.received.append((message, addr))
            self.arrived.set()

    async def next(self, method: str, timeout: float = 2.0) -> tuple[SipMessage, tuple[str, int]]:
        """Take the oldest unconsumed request with this method."""
        async with asyncio.timeout(timeout):
            while True:
                for index, (message, addr) in enumerate(self.received):
                    if message.method == method:
                        del self.received[index]
                        return message, addr
                self.arrived.clear()
                await self.arrived.wait()


def response_to(request: SipMessage, status: int, reason: str, headers: list[tuple[str, str]],
                body: bytes = b"") -> bytes:
    copied = [(n, v) for n, v in request.headers if canonical_header_name(n) in ("via", "from", "call-id", "cseq")]
    return SipMessage(f"SIP/2.0 {status} {reason}", copied + headers, body).to_bytes()


@pytest.mark.asyncio
async def test_2xx_retransmission_is_re_acked_and_route_set_is_used() -> None:
    loop = asyncio.get_running_loop()
    transport, peer = await loop.create_datagram_endpoint(RawPeer, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        async with SipUAC() as uac:
            task = asyncio.create_task(uac.invite(("127.0.0.1", port), to_user="9000", sdp=False,
                                                  answer_timeout=5))
            invite, addr = await peer.next("INVITE")
            assert invite.body == b""
            ok = response_to(invite, 200, "OK", [
                ("To", f"{invite.header('to')};tag=peer1"),
                ("Record-Route", f"<sip:10.0.0.9;lr>, <sip:127.0.0.1:{port};lr>"),  # nearest the UAC last
                ("Contact", f"<sip:agent@127.0.0.1:{port};transport=udp>"),
                ("Content-Type", "application/sdp"),
            ], body=b"v=0\r\nm=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n")
            transport.sendto(ok, addr)
            first_ack, _ = await peer.next("ACK")
            transport.sendto(ok, addr)  # retransmitted 2xx
            second_ack, _ = await peer.next("ACK")
            bye, bye_addr = await peer.next("BYE")
            transport.sendto(response_to(bye, 200, "OK", [("To", bye.header("to"))]), bye_addr)
            result = await task
    finally:
        transport.close()

    assert result.final_status == 200 and result.bye_status == 200
    assert first_ack.to_bytes() == second_ack.to_bytes()
    for request in (first_ack, bye):
        assert request.request_uri == f"sip:agent@127.0.0.1:{port};transport=udp"
        assert request.header_all("route") == [f"<sip:127.0.0.1:{port};lr>", "<sip:10.0.0.9;lr>"]
        assert request.to_tag == "peer1" and request.from_tag == result.local_tag
    assert first_ack.branch != invite.branch and first_ack.cseq == (invite.cseq[0], "ACK")
    assert bye.cseq == (invite.cseq[0] + 1, "BYE")
    assert b"m=audio" in first_ack.body and b"RTP/AVP 8 0 101" in first_ack.body  # late-offer answer


@pytest.mark.asyncio
async def test_non_2xx_ack_reuses_the_invite_branch() -> None:
    loop = asyncio.get_running_loop()
    transport, peer = await loop.create_datagram_endpoint(RawPeer, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        async with SipUAC() as uac:
            task = asyncio.create_task(uac.invite(("127.0.0.1", port), to_user="9001", answer_timeout=5))
            invite, addr = await peer.next("INVITE")
            retransmitted, _ = await peer.next("INVITE")  # Timer A, no response yet
            transport.sendto(response_to(invite, 603, "Decline", [("To", f"{invite.header('to')};tag=x")]), addr)
            ack, _ = await peer.next("ACK")
            result = await task
    finally:
        transport.close()

    assert retransmitted.to_bytes() == invite.to_bytes()
    assert result.final_status == 603 and result.reason == "Decline" and result.invite_retransmissions == 1
    assert ack.branch == invite.branch and ack.top_via == invite.top_via
    assert ack.request_uri == invite.request_uri and ack.cseq == (invite.cseq[0], "ACK") and ack.to_tag == "x"


# --------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------


def test_parser_handles_compact_forms_folding_and_repeated_headers() -> None:
    data = (
        b"SIP/2.0 180 Ringing\n"
        b"v: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc;rport=5070, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKdef\n"
        b"Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKghi\n"
        b"f: \"Smith, J\" <sip:js@example.com>;tag=1\n"
        b"t: <sip:x@example.com>;tag=2\n"
        b"i: abc@host\n"
        b"CSEQ : 7 INVITE\n"
        b"Subject: first\n"
        b"  part\t\n"
        b"\tand more\n"
        b"l: 4\n"
        b"\n"
        b"bodyEXTRA"
    )
    message = parse_message(data)
    assert message is not None and message.status == 180 and message.reason == "Ringing"
    message.validate()
    assert message.branch == "z9hG4bKabc" and message.cseq == (7, "INVITE")
    assert message.from_tag == "1" and message.to_tag == "2" and message.call_id == "abc@host"
    assert message.header("subject") == "first part and more"
    assert [len(split_commas(v)) for v in message.header_all("VIA")] == [2, 1]
    assert extract_uri(message.header("from")) == "sip:js@example.com"
    assert message.body == b"body"
    assert sorted(message.header_dict()) == ["call-id", "content-length", "cseq", "from", "subject", "to", "via"]


def test_parser_rejects_truncated_bodies_and_ignores_keepalives() -> None:
    assert parse_message(b"\r\n\r\n") is None
    with pytest.raises(SipParseError, match="truncated"):
        parse_message(b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 10\r\n\r\nabc")
    with pytest.raises(SipParseError):
        parse_message(b"HELLO\r\n\r\n")


def test_uri_address() -> None:
    assert uri_address("sip:agent@127.0.0.1:5070;transport=udp") == ("127.0.0.1", 5070)
    assert uri_address("sip:[::1]") == ("::1", 5060)
    assert uri_address("sips:host.example.com") is None
    assert uri_address("tel:+4420") is None


TOKEN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
SAFE_VALUE = TOKEN + " \t\"<>@:;=,/?[]()éü€"
header_names = st.text(TOKEN, min_size=1, max_size=20).filter(
    lambda name: canonical_header_name(name) != "content-length")
header_values = st.text(SAFE_VALUE, max_size=60).map(lambda value: value.strip(" \t"))


@settings(max_examples=200, deadline=None)
@given(headers=st.lists(st.tuples(header_names, header_values), max_size=15), body=st.binary(max_size=200))
def test_round_trip_of_header_names_values_and_body(headers: list[tuple[str, str]], body: bytes) -> None:
    message = SipMessage("MESSAGE sip:someone@127.0.0.1:5060 SIP/2.0", headers, body)
    parsed = parse_message(message.to_bytes())
    assert parsed is not None
    assert parsed.headers[:-1] == headers and parsed.headers[-1] == ("Content-Length", str(len(body)))
    assert parsed.body == body and parsed.method == "MESSAGE"


VALID = (b"INVITE sip:+442071234567@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n"
         b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 3\r\n\r\nabc")


def _check_never_raises_unexpectedly(data: bytes) -> None:
    try:
        message = parse_message(data)
        if message is not None:
            message.validate()
            message.header_dict()
    except SipParseError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_parser_never_raises_anything_but_sip_parse_error_on_arbitrary_bytes(data: bytes) -> None:
    _check_never_raises_unexpectedly(data)


@settings(max_examples=300, deadline=None)
@given(cut=st.integers(0, len(VALID)), insert=st.binary(max_size=30), at=st.integers(0, len(VALID)))
def test_parser_never_raises_anything_but_sip_parse_error_on_damaged_messages(cut: int, insert: bytes, at: int) -> None:
    _check_never_raises_unexpectedly(VALID[:cut])
    _check_never_raises_unexpectedly(VALID[:at] + insert + VALID[at:])


def test_the_module_example_names_only_headers_the_dialplan_adds():
    """The usage example in sip.py's docstring reads X-CallShield-* headers: each one is
    added by the shipped dialplan, with the parameter the example reads."""
    dialplan = (Path(__file__).resolve().parents[2] / "asterisk-conf" / "extensions_callshield.conf").read_text()
    added = dict(re.findall(r"PJSIP_HEADER\(add,(X-CallShield-[\w-]+)\)=(.*)", dialplan))
    used = re.findall(r'header_params\(inbound\.header\("(X-CallShield-[\w-]+)"\)\)\["(\w+)"\]', sip.__doc__ or "")
    assert used
    for name, param in used:
        assert name in added and f"{param}=" in added[name], (name, param)

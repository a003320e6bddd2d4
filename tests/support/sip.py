"""Small SIP user agents over UDP for callshield's integration tests.

``SipUAC`` places calls into Asterisk (INVITE with Timer A retransmission,
CANCEL, ACK, BYE, INFO DTMF); ``SipUAS`` stands in for an agent phone or a
specialist team and answers, rejects, rings forever or stays silent.  Both bind
to 127.0.0.1, speak just enough RFC 3261 (plus RFC 3581 rport) for chan_pjsip,
and are async context managers::

    async with SipUAS(mode="answer") as agent, SipUAC() as caller:
        result = await caller.invite(("127.0.0.1", 5060),
                                     to_user="+442071234567",
                                     from_user="+447700900123")
        assert result.final_status == 200
        inbound = await agent.wait_for_call(timeout=5)
        # the dialplan's X-CallShield-* headers (asterisk-conf/extensions_callshield.conf)
        assert header_params(inbound.header("X-CallShield-Route"))["reason"] == "normal"

Every wait takes a deadline and raises ``TimeoutError`` with a description.
Malformed datagrams are logged and dropped (and counted in ``parse_errors``);
they never stop the receive loop.  Not supported: TCP/TLS, authentication,
100rel/PRACK offers, DNS lookups, media (SDP names a local RTP sink port that
discards whatever arrives).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Self, TypeVar

log = logging.getLogger(__name__)

T1 = 0.5  # RFC 3261 round-trip estimate; Timer A / E / G start here
T2 = 4.0  # cap for non-INVITE and final-response retransmission intervals
TIMER_B = 64 * T1  # transaction timeout
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"
DTMF_CONTENT_TYPE = "application/dtmf-relay"

HeaderValue = str | bytes
Address = tuple[str, int]
_T = TypeVar("_T")


# --------------------------------------------------------------------------
# Messages: model, parser, serializer
# --------------------------------------------------------------------------

class SipParseError(ValueError):
    """A datagram is not a SIP message this module can process."""


_COMPACT_FORMS = {
    "a": "accept-contact", "b": "referred-by", "c": "content-type",
    "d": "request-disposition", "e": "content-encoding", "f": "from",
    "i": "call-id", "j": "reject-contact", "k": "supported", "l": "content-length",
    "m": "contact", "o": "event", "r": "refer-to", "s": "subject", "t": "to",
    "u": "allow-events", "v": "via", "x": "session-expires", "y": "identity",
}
_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
_HEADER_NAME_RE = re.compile(_TOKEN.encode())
_REQUEST_LINE_RE = re.compile(rf"({_TOKEN})[ \t]+(\S+)[ \t]+SIP/2\.0", re.ASCII | re.IGNORECASE)
_STATUS_LINE_RE = re.compile(r"SIP/2\.0[ \t]+([1-6][0-9][0-9])(?:[ \t]+(.*))?", re.ASCII | re.IGNORECASE)
_CSEQ_RE = re.compile(rf"([0-9]{{1,10}})[ \t]+({_TOKEN})", re.ASCII)
_CONTENT_LENGTH_RE = re.compile(r"[0-9]{1,9}", re.ASCII)
_BLANK_LINE_RE = re.compile(rb"\r?\n\r?\n")
_LINE_BREAK_RE = re.compile(rb"\r?\n")


def canonical_header_name(name: str) -> str:
    """Lower-case header name with compact forms expanded ("v" -> "via")."""
    lowered = name.strip().lower()
    return _COMPACT_FORMS.get(lowered, lowered)


def _encode(value: HeaderValue) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")


def _decode(value: bytes) -> str:
    """Lossless: undecodable bytes become surrogates that _encode restores."""
    return value.decode("utf-8", "surrogateescape")


def _text(value: HeaderValue) -> str:
    return _decode(value) if isinstance(value, bytes) else value


def _lookup_all(headers: dict[str, list[str]], name: str) -> list[str]:
    return list(headers.get(canonical_header_name(name), []))


def _lookup(headers: dict[str, list[str]], name: str) -> str | None:
    values = headers.get(canonical_header_name(name))
    return values[0] if values else None


@dataclass(eq=False)
class SipMessage:
    """A request or response.  Header values are kept in arrival order with
    their original names; parsed values are ``str`` (non-UTF-8 bytes survive
    as surrogate escapes), values being built may also be raw ``bytes``."""

    start_line: str
    headers: list[tuple[str, HeaderValue]] = field(default_factory=list)
    body: bytes = b""
    raw: bytes = field(default=b"", repr=False)
    method: str | None = field(init=False, default=None)
    request_uri: str | None = field(init=False, default=None)
    status: int | None = field(init=False, default=None)
    reason: str = field(init=False, default="")

    def __post_init__(self) -> None:
        line = self.start_line.strip()
        if match := _STATUS_LINE_RE.fullmatch(line):
            self.status, self.reason = int(match[1]), (match[2] or "").strip()
        elif match := _REQUEST_LINE_RE.fullmatch(line):
            self.method, self.request_uri = match[1], match[2]
        else:
            raise SipParseError(f"not a SIP start line: {line[:80]!r}")

    @property
    def is_request(self) -> bool:
        return self.method is not None

    def header_all(self, name: str) -> list[str]:
        wanted = canonical_header_name(name)
        return [_text(v) for n, v in self.headers if canonical_header_name(n) == wanted]

    def header(self, name: str) -> str | None:
        values = self.header_all(name)
        return values[0] if values else None

    def header_dict(self) -> dict[str, list[str]]:
        """Canonical (lower-case, compact forms expanded) name -> values."""
        result: dict[str, list[str]] = {}
        for name, value in self.headers:
            result.setdefault(canonical_header_name(name), []).append(_text(value))
        return result

    def to_bytes(self) -> bytes:
        """Serialize; Content-Length is always (re)computed from the body."""
        lines = [_encode(self.start_line)]
        for name, value in self.headers:
            if canonical_header_name(name) != "content-length":
                lines.append(_encode(name) + b": " + _encode(value))
        lines.append(b"Content-Length: %d" % len(self.body))
        return b"\r\n".join(lines) + b"\r\n\r\n" + self.body

    # Transaction and dialog identifiers; raise SipParseError if absent/bad.
    @property
    def call_id(self) -> str:
        value = (self.header("call-id") or "").strip()
        if not value:
            raise SipParseError("missing Call-ID")
        return value

    @property
    def cseq(self) -> tuple[int, str]:
        match = _CSEQ_RE.fullmatch((self.header("cseq") or "").strip())
        if not match:
            raise SipParseError(f"missing or malformed CSeq: {self.header('cseq')!r}")
        return int(match[1]), match[2]

    @property
    def top_via(self) -> str:
        vias = split_commas(self.header("via") or "")
        if not vias:
            raise SipParseError("missing Via")
        return vias[0]

    @property
    def branch(self) -> str:
        branch = header_params(self.top_via).get("branch")
        if not branch:
            raise SipParseError("top Via has no branch parameter")
        return branch

    @property
    def from_tag(self) -> str | None:
        return header_params(self.header("from") or "").get("tag") or None

    @property
    def to_tag(self) -> str | None:
        return header_params(self.header("to") or "").get("tag") or None

    def validate(self) -> None:
        """Check what every transaction needs: Via branch, From, To, Call-ID,
        CSeq (matching the method for requests)."""
        _ = self.call_id, self.branch
        _, method = self.cseq
        if self.header("from") is None or self.header("to") is None:
            raise SipParseError("missing From or To")
        if self.is_request and method != self.method:
            raise SipParseError(f"CSeq method {method} does not match {self.method}")


def parse_message(data: bytes) -> SipMessage | None:
    """Parse one datagram.  Returns None for keep-alives (only CR/LF/space),
    raises SipParseError for anything else that is not a SIP message.
    Tolerates LF-only line ends, folded header lines, compact header names,
    whitespace before the colon and a missing Content-Length."""
    data = bytes(data)
    if not data.strip(b" \t\r\n"):
        return None
    text = data.lstrip(b"\r\n")
    blank = _BLANK_LINE_RE.search(text)
    head, body = (text[: blank.start()], text[blank.end():]) if blank else (text.rstrip(b"\r\n"), b"")
    lines = _LINE_BREAK_RE.split(head)
    raw_headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):  # folded continuation of the previous header
            if not raw_headers:
                raise SipParseError("continuation line before any header")
            name, value = raw_headers[-1]
            rest = line.strip(b" \t")
            raw_headers[-1] = (name, value + b" " + rest if value else rest)
            continue
        name, colon, value = line.partition(b":")
        name = name.rstrip(b" \t")
        if not colon or not _HEADER_NAME_RE.fullmatch(name):
            raise SipParseError(f"malformed header line {line[:60]!r}")
        raw_headers.append((name, value.strip(b" \t")))
    message = SipMessage(
        _decode(lines[0]),
        [(name.decode("ascii"), _decode(value)) for name, value in raw_headers],
        raw=data,
    )
    length = message.header("content-length")
    if length is not None:
        if not _CONTENT_LENGTH_RE.fullmatch(length.strip()):
            raise SipParseError(f"bad Content-Length {length[:20]!r}")
        if int(length) > len(body):
            raise SipParseError(f"truncated body: Content-Length {int(length)}, {len(body)} bytes present")
        body = body[: int(length)]
    message.body = body
    return message


# --------------------------------------------------------------------------
# Header value helpers (quote- and <>-aware)
# --------------------------------------------------------------------------

def _scan(value: str) -> Iterable[tuple[int, str, bool]]:
    """Yield (index, char, inside <...>) for characters outside quoted strings."""
    quoted = escaped = angle = False
    for index, char in enumerate(value):
        if quoted:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
            continue
        if char == '"':
            quoted = True
            continue
        if char == "<":
            angle = True
        elif char == ">":
            angle = False
        yield index, char, angle


def split_commas(value: str) -> list[str]:
    """Split a comma-separated header value (Via, Route, Record-Route)."""
    parts, start = [], 0
    for index, char, angle in _scan(value):
        if char == "," and not angle:
            parts.append(value[start:index])
            start = index + 1
    parts.append(value[start:])
    return [part.strip() for part in parts if part.strip()]


def _param_start(value: str) -> int:
    for index, char, angle in _scan(value):
        if char == ";" and not angle:
            return index
    return len(value)


def header_params(value: str) -> dict[str, str]:
    """Header parameters (after the URI / sent-by), keys lower-cased."""
    params: dict[str, str] = {}
    for item in value[_param_start(value):].split(";"):
        key, _, param_value = item.partition("=")
        if key.strip():
            params[key.strip().lower()] = param_value.strip()
    return params


def _without_params(value: str, names: set[str]) -> str:
    start = _param_start(value)
    kept = [p for p in value[start:].split(";")[1:] if p.partition("=")[0].strip().lower() not in names]
    return value[:start].rstrip() + "".join(";" + p for p in kept)


def _without_tag(value: str) -> str:
    return _without_params(value, {"tag"})


def extract_uri(value: str) -> str:
    """The URI of a name-addr or addr-spec header value."""
    for index, char, _ in _scan(value):
        if char == "<":
            end = value.find(">", index)
            return value[index + 1: end if end >= 0 else None].strip()
    return value[: _param_start(value)].strip()


def uri_user(uri: str) -> str | None:
    """User part of a sip: URI, or None when it has none."""
    user, at, _ = uri.partition(":")[2].rpartition("@")
    return user if at and user else None


def uri_address(uri: str) -> Address | None:
    """(ip, port) for a sip:/sips: URI whose host is an IP literal, else None."""
    scheme, _, rest = uri.partition(":")
    if scheme.strip().lower() not in ("sip", "sips"):
        return None
    hostport = rest.split("?", 1)[0].rpartition("@")[2].split(";", 1)[0].strip()
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::([0-9]{1,5}))?|([^:\[\]]+)(?::([0-9]{1,5}))?", hostport)
    if not match:
        return None
    host = match[1] or match[3]
    port = match[2] or match[4]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return host, int(port) if port else (5061 if scheme.lower() == "sips" else 5060)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _received_via(via: str, source: Address) -> str:
    """RFC 3581: fill rport (and received) into the top Via of a response."""
    vias = split_commas(via)
    if not vias or "rport" not in header_params(vias[0]):
        return via
    top = _without_params(vias[0], {"rport", "received"})
    return ", ".join([f"{top};received={source[0]};rport={source[1]}", *vias[1:]])


def _quoted_display(display: str | bytes | None) -> str:
    if not display:
        return ""
    text = _text(display).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}" '


def _new_tag() -> str:
    return secrets.token_hex(6)


def _new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)


def _is_loose_route(route: str) -> bool:
    return re.search(r";\s*lr\s*(?:[;=]|$)", extract_uri(route), re.IGNORECASE) is not None


# --------------------------------------------------------------------------
# SDP (offer/answer for PCMU, PCMA, telephone-event; no media is sent)
# --------------------------------------------------------------------------

DEFAULT_PAYLOADS: tuple[tuple[int, str], ...] = ((0, "PCMU/8000"), (8, "PCMA/8000"), (101, "telephone-event/8000"))
_STATIC_NAMES = {"0": "PCMU/8000", "8": "PCMA/8000"}


def build_sdp(host: str, rtp_port: int, payloads: Iterable[tuple[int, str]] = DEFAULT_PAYLOADS) -> bytes:
    payloads = list(payloads)
    family = "IP6" if ":" in host else "IP4"
    session = secrets.randbelow(10**9)
    lines = [
        "v=0", f"o=- {session} {session} IN {family} {host}", "s=callshield test",
        f"c=IN {family} {host}", "t=0 0",
        f"m=audio {rtp_port} RTP/AVP " + " ".join(str(pt) for pt, _ in payloads),
    ]
    for pt, name in payloads:
        lines.append(f"a=rtpmap:{pt} {name}")
        if name.lower().startswith("telephone-event"):
            lines.append(f"a=fmtp:{pt} 0-16")
    lines += ["a=ptime:20", "a=sendrecv"]
    return ("\r\n".join(lines) + "\r\n").encode()


def sdp_answer(offer: bytes, host: str, rtp_port: int) -> bytes:
    """Answer accepting the offered PCMU/PCMA/telephone-event formats in the
    offer's order (falls back to all three if the offer names none)."""
    text = offer.decode("utf-8", "replace")
    media = re.search(r"^m=audio +\d+ +\S+((?: +\d+)+)", text, re.MULTILINE)
    names = dict(re.findall(r"^a=rtpmap: *(\d+) +(\S+)", text, re.MULTILINE))
    chosen = []
    for pt in media[1].split() if media else ():
        name = names.get(pt, _STATIC_NAMES.get(pt, ""))
        if name.upper() in ("PCMU/8000", "PCMA/8000") or name.lower().startswith("telephone-event/8000"):
            chosen.append((int(pt), name))
    return build_sdp(host, rtp_port, chosen or DEFAULT_PAYLOADS)


# --------------------------------------------------------------------------
# Records handed to tests
# --------------------------------------------------------------------------

@dataclass
class Dialog:
    """What an in-dialog request (ACK for 2xx, BYE, INFO) needs."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str  # our name-addr (From of our requests), without tag
    remote_uri: str  # their name-addr (To of our requests), without tag
    remote_target: str  # their Contact URI
    route_set: list[str]
    peer: Address  # fallback next hop when a URI host is not an IP literal
    local_cseq: int = 0


@dataclass
class ReceivedResponse:
    status: int
    reason: str
    method: str  # CSeq method: INVITE, CANCEL, BYE, INFO...
    headers: dict[str, list[str]]  # canonical lower-case names
    received_at: float  # time.monotonic()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return _lookup(self.headers, name)

    def header_all(self, name: str) -> list[str]:
        return _lookup_all(self.headers, name)


@dataclass
class CallResult:
    """Outcome of SipUAC.invite(); also the handle for bye()/send_info_dtmf().
    Fields after `dialog` keep changing while the call is up."""

    call_id: str
    local_tag: str  # our From tag
    invite_sent_at: float  # time.monotonic()
    request: bytes = field(repr=False)  # the INVITE as sent
    final_status: int | None = None  # None: no final response within answer_timeout
    reason: str | None = None
    final_at: float | None = None
    first_provisional_at: float | None = None  # any 1xx, 100 Trying included
    answered_at: float | None = None
    cancel_sent_at: float | None = None
    timed_out: bool = False
    invite_retransmissions: int = 0
    responses: list[ReceivedResponse] = field(default_factory=list)  # every response on this Call-ID
    dialog: Dialog | None = None  # set on 2xx
    ended_by_remote_bye: bool = False
    remote_bye_at: float | None = None
    local_bye_at: float | None = None
    bye_status: int | None = None
    info_received: list[bytes] = field(default_factory=list)
    remote_sdp: bytes = field(default=b"", repr=False)  # the 2xx's SDP, when it had one
    media_packets: int = 0  # RTP packets sent by send_media()

    @property
    def answered(self) -> bool:
        return self.final_status is not None and 200 <= self.final_status < 300

    @property
    def remote_tag(self) -> str | None:
        return self.dialog.remote_tag if self.dialog else None

    def statuses(self, method: str = "INVITE") -> list[int]:
        return [r.status for r in self.responses if r.method == method]


@dataclass
class InboundCall:
    """An INVITE received by SipUAS, and what happened to it since."""

    request_uri: str
    headers: dict[str, list[str]]  # canonical lower-case names, see header()
    raw: bytes = field(repr=False)
    received_at: float  # time.monotonic()
    call_id: str
    source: Address
    body: bytes = field(repr=False)
    mode: str  # the UAS mode when the INVITE arrived
    local_tag: str  # our To tag
    request: SipMessage = field(repr=False)
    dialog: Dialog | None = None
    responses_sent: list[int] = field(default_factory=list)
    final_status: int | None = None
    answered_at: float | None = None
    acked_at: float | None = None
    ack_body: bytes | None = None
    cancelled_at: float | None = None
    bye_received_at: float | None = None
    ended_at: float | None = None
    ended_by: str | None = None  # "remote" (BYE received), "local" (we sent BYE), "cancel"
    info_bodies: list[bytes] = field(default_factory=list)
    invite_retransmissions: int = 0
    final_retransmissions: int = 0

    def header(self, name: str) -> str | None:
        """First value of a header; name is case-insensitive, compact forms ok."""
        return _lookup(self.headers, name)

    def header_all(self, name: str) -> list[str]:
        return _lookup_all(self.headers, name)

    def header_bytes(self, name: str) -> bytes | None:
        """First value exactly as received on the wire (non-UTF-8 intact)."""
        value = self.header(name)
        return None if value is None else _encode(value)

    @property
    def to_user(self) -> str | None:
        return uri_user(self.request_uri)

    @property
    def from_user(self) -> str | None:
        return uri_user(extract_uri(self.header("from") or ""))


# --------------------------------------------------------------------------
# Endpoint machinery shared by the UAC and UAS
# --------------------------------------------------------------------------

class _Notifier:
    """Wakes every waiter whenever something may have changed."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, timeout: float) -> None:
        """Return at the next notify() or after `timeout` seconds."""
        if timeout <= 0:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            pass
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    async def wait_for(self, predicate: Callable[[], _T | None], timeout: float,
                       what: str | Callable[[], str]) -> _T:
        """Return predicate()'s first truthy value, or raise TimeoutError."""
        deadline = time.monotonic() + timeout
        while not (result := predicate()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                description = what() if callable(what) else what
                raise TimeoutError(f"timed out after {timeout:g}s waiting for {description}")
            await self.wait(remaining)
        return result


class _DatagramProtocol(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, Address], None]) -> None:
        self._on_datagram = on_datagram
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.warning("SIP UDP socket error: %s", exc)


class _SipEndpoint:
    user_agent = "callshield-test"
    contact_user = "test"
    _RESPONSE_CACHE_SIZE = 4096

    def __init__(self, port: int = 0, host: str = "127.0.0.1", *, user_agent: str | None = None) -> None:
        self.host = host
        self._requested_port = port
        if user_agent:
            self.user_agent = user_agent
        self.port = 0
        self.rtp_port = 0
        self.parse_errors = 0  # malformed datagrams dropped
        self.handler_errors = 0  # well-formed messages whose handling raised (logged)
        self._transport: asyncio.DatagramTransport | None = None
        self._protocol: _DatagramProtocol | None = None
        self._rtp_transport: asyncio.DatagramTransport | None = None
        self._changes = _Notifier()
        self._client_transactions: dict[tuple[str, str], asyncio.Future[SipMessage]] = {}
        self._sent_responses: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._dialogs: dict[tuple[str, str], Dialog] = {}
        self._tasks: set[asyncio.Task[object]] = set()

    # -- lifecycle ---------------------------------------------------------
    async def start(self) -> Self:
        """Bind (again after close(), on the same port)."""
        if not self.closed:
            return self
        if self._protocol is not None:  # restarting: let the old socket go first
            await asyncio.wait_for(asyncio.shield(self._protocol.lost), 2)
        loop = asyncio.get_running_loop()
        self._transport, self._protocol = await loop.create_datagram_endpoint(
            lambda: _DatagramProtocol(self._datagram_received), local_addr=(self.host, self._requested_port))
        self.port = self._requested_port = self._transport.get_extra_info("sockname")[1]
        # RTP sink: gives the SDP a real port so media sent to us is discarded quietly.
        self._rtp_transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=(self.host, 0))
        self.rtp_port = self._rtp_transport.get_extra_info("sockname")[1]
        log.debug("%s listening on %s:%s", type(self).__name__, self.host, self.port)
        return self

    @property
    def address(self) -> Address:
        return self.host, self.port

    @property
    def closed(self) -> bool:
        return self._transport is None or self._transport.is_closing()

    def close(self) -> None:
        """Close the socket (a dead destination from now on) and stop timers."""
        for task in list(self._tasks):
            task.cancel()
        for transport in (self._transport, self._rtp_transport):
            if transport is not None:
                transport.close()
        self._changes.notify()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _require_started(self) -> None:
        if self.closed:
            raise RuntimeError(f"{type(self).__name__} is not running: use 'async with' or await start()")

    def _spawn(self, coro: Coroutine[object, object, object]) -> asyncio.Task[object]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("SIP background task failed", exc_info=task.exception())

    # -- wire --------------------------------------------------------------
    def _send(self, data: bytes, addr: Address) -> None:
        if self.closed:
            log.debug("socket closed; not sending %r", data[:60])
            return
        log.debug("%s:%s >> %s:%s %s", self.host, self.port, addr[0], addr[1], data.split(b"\r\n", 1)[0][:120])
        assert self._transport is not None
        self._transport.sendto(data, addr)

    def _datagram_received(self, data: bytes, addr: Address) -> None:
        try:
            message = parse_message(data)
            if message is None:
                return  # keep-alive
            message.validate()
        except SipParseError as exc:
            self.parse_errors += 1
            log.warning("dropping malformed datagram from %s:%s: %s; %r", addr[0], addr[1], exc, data[:200])
            return
        log.debug("%s:%s << %s:%s %s", self.host, self.port, addr[0], addr[1], message.start_line[:120])
        try:
            if message.is_request:
                self._handle_request(message, addr)
            else:
                self._handle_response(message, addr)
        except Exception:  # keep receiving whatever one message does
            self.handler_errors += 1
            log.exception("error handling %r from %s:%s", message.start_line[:80], addr[0], addr[1])
        finally:
            self._changes.notify()

    def _via(self, branch: str) -> str:
        return f"SIP/2.0/UDP {_hostport(self.host, self.port)};rport;branch={branch}"

    def _contact(self) -> str:
        return f"<sip:{self.contact_user}@{_hostport(self.host, self.port)}>"

    # -- server side -------------------------------------------------------
    def _respond(self, request: SipMessage, addr: Address, status: int, reason: str, *,
                 to_tag: str | None = None, body: bytes = b"", content_type: str = "application/sdp",
                 headers: Iterable[tuple[str, HeaderValue]] = ()) -> bytes:
        """Send a response (to the request's source, RFC 3581) and remember
        it so a retransmitted request gets it again."""
        vias = request.header_all("via")
        out: list[tuple[str, HeaderValue]] = [("Via", _received_via(vias[0], addr))]
        out += [("Via", via) for via in vias[1:]]
        to = request.header("to") or ""
        if to_tag and not header_params(to).get("tag"):
            to = f"{to};tag={to_tag}"
        out += [("From", request.header("from") or ""), ("To", to),
                ("Call-ID", request.call_id), ("CSeq", request.header("cseq") or "")]
        if request.method in ("INVITE", "UPDATE") and 100 < status < 300:
            if request.method == "INVITE":
                out += [("Record-Route", rr) for rr in request.header_all("record-route")]
            out.append(("Contact", self._contact()))
        if request.method == "OPTIONS" or status in (405, 501):
            out += [("Allow", ALLOW), ("Accept", "application/sdp")]
        out.append(("Server", self.user_agent))
        out += list(headers)
        if body:
            out.append(("Content-Type", content_type))
        data = SipMessage(f"SIP/2.0 {status} {reason}", out, body).to_bytes()
        key = (request.branch, request.method or "")
        self._sent_responses[key] = data
        self._sent_responses.move_to_end(key)
        while len(self._sent_responses) > self._RESPONSE_CACHE_SIZE:
            self._sent_responses.popitem(last=False)
        self._send(data, addr)
        return data

    def _handle_request(self, request: SipMessage, addr: Address) -> None:
        if request.method == "ACK":
            self._on_ack(request, addr)
            return
        cached = self._sent_responses.get((request.branch, request.method or ""))
        if cached is not None:  # retransmission: repeat our last response
            self._send(cached, addr)
            self._on_retransmission(request)
            return
        to_tag = request.to_tag
        if to_tag is None:
            self._on_out_of_dialog_request(request, addr)
            return
        dialog = self._dialogs.get((request.call_id, to_tag))
        if dialog is None:
            self._respond(request, addr, 481, "Call/Transaction Does Not Exist")
        else:
            self._on_in_dialog_request(dialog, request, addr)

    def _on_in_dialog_request(self, dialog: Dialog, request: SipMessage, addr: Address) -> None:
        method = request.method
        if method == "BYE":
            self._respond(request, addr, 200, "OK")
            self._dialogs.pop((dialog.call_id, dialog.local_tag), None)
            self._on_remote_bye(dialog, request)
        elif method == "INFO":
            self._respond(request, addr, 200, "OK")
            self._on_info(dialog, request)
        elif method in ("INVITE", "UPDATE"):  # session refresh / re-offer
            if request.body:
                body = sdp_answer(request.body, self.host, self.rtp_port)
            else:
                body = build_sdp(self.host, self.rtp_port) if method == "INVITE" else b""
            self._respond(request, addr, 200, "OK", body=body)
        elif method in ("OPTIONS", "NOTIFY", "PRACK"):
            self._respond(request, addr, 200, "OK")
        else:
            self._respond(request, addr, 501, "Not Implemented")

    def _on_out_of_dialog_request(self, request: SipMessage, addr: Address) -> None:
        if request.method == "OPTIONS":
            self._respond(request, addr, 200, "OK")
        elif request.method in ("BYE", "CANCEL", "INFO", "UPDATE", "PRACK"):
            self._respond(request, addr, 481, "Call/Transaction Does Not Exist")
        elif request.method == "INVITE":
            self._respond(request, addr, 480, "Temporarily Unavailable")
        else:
            self._respond(request, addr, 501, "Not Implemented")

    # hooks for subclasses
    def _on_ack(self, request: SipMessage, addr: Address) -> None:
        pass

    def _on_retransmission(self, request: SipMessage) -> None:
        pass

    def _on_remote_bye(self, dialog: Dialog, request: SipMessage) -> None:
        pass

    def _on_info(self, dialog: Dialog, request: SipMessage) -> None:
        pass

    def _on_response(self, response: SipMessage, addr: Address) -> None:
        pass

    # -- client side -------------------------------------------------------
    def _handle_response(self, response: SipMessage, addr: Address) -> None:
        self._on_response(response, addr)
        method = response.cseq[1]
        if method != "INVITE" and (response.status or 0) >= 200:
            waiter = self._client_transactions.get((response.branch, method))
            if waiter is not None and not waiter.done():
                waiter.set_result(response)

    def _register_dialog(self, dialog: Dialog) -> None:
        self._dialogs[(dialog.call_id, dialog.local_tag)] = dialog

    def _build_dialog_request(self, dialog: Dialog, method: str, *, cseq: int | None = None,
                              body: bytes = b"", content_type: str | None = None,
                              extra_headers: Iterable[tuple[str, HeaderValue]] = ()) -> tuple[SipMessage, Address]:
        """An in-dialog request and where to send it (RFC 3261 12.2.1.1)."""
        if cseq is None:
            dialog.local_cseq += 1
            cseq = dialog.local_cseq
        routes = list(dialog.route_set)
        if routes and not _is_loose_route(routes[0]):  # strict router
            request_uri = extract_uri(routes[0])
            routes = routes[1:] + [f"<{dialog.remote_target}>"]
            next_hop = request_uri
        else:
            request_uri = dialog.remote_target
            next_hop = extract_uri(routes[0]) if routes else request_uri
        to = f"{dialog.remote_uri};tag={dialog.remote_tag}" if dialog.remote_tag else dialog.remote_uri
        headers: list[tuple[str, HeaderValue]] = [
            ("Via", self._via(_new_branch())), ("Max-Forwards", "70"),
            ("From", f"{dialog.local_uri};tag={dialog.local_tag}"), ("To", to),
            ("Call-ID", dialog.call_id), ("CSeq", f"{cseq} {method}"),
        ]
        headers += [("Route", route) for route in routes]
        headers.append(("User-Agent", self.user_agent))
        headers += list(extra_headers)
        if body:
            headers.append(("Content-Type", content_type or "application/sdp"))
        return SipMessage(f"{method} {request_uri} SIP/2.0", headers, body), uri_address(next_hop) or dialog.peer

    async def _transact(self, request: SipMessage, addr: Address, timeout: float) -> SipMessage | None:
        """Non-INVITE client transaction: retransmit (Timer E) until a final
        response; None if none arrives within `timeout` (capped at Timer F)."""
        key = (request.branch, request.method or "")
        waiter: asyncio.Future[SipMessage] = asyncio.get_running_loop().create_future()
        self._client_transactions[key] = waiter
        data = request.to_bytes()
        deadline = time.monotonic() + min(timeout, TIMER_B)
        interval = T1
        try:
            self._send(data, addr)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    log.warning("no final response to %s (Call-ID %s)", request.method, request.call_id)
                    return None
                try:
                    return await asyncio.wait_for(asyncio.shield(waiter), min(interval, remaining))
                except TimeoutError:
                    if time.monotonic() < deadline:
                        self._send(data, addr)
                    interval = min(interval * 2, T2)
        finally:
            self._client_transactions.pop(key, None)

    async def _dialog_transaction(self, dialog: Dialog, method: str, *, body: bytes = b"",
                                  content_type: str | None = None,
                                  extra_headers: Iterable[tuple[str, HeaderValue]] = (),
                                  timeout: float = 5.0) -> SipMessage | None:
        request, addr = self._build_dialog_request(dialog, method, body=body, content_type=content_type,
                                                   extra_headers=extra_headers)
        return await self._transact(request, addr, timeout)

    # -- public requests ------------------------------------------------------
    async def options(self, target: Address, *, user: str | None = None,
                      timeout: float = 2.0) -> SipMessage | None:
        """Out-of-dialog OPTIONS ping (e.g. to wait until Asterisk is up);
        the final response or None."""
        self._require_started()
        uri = f"sip:{user + '@' if user else ''}{_hostport(*target)}"
        request = SipMessage(f"OPTIONS {uri} SIP/2.0", [
            ("Via", self._via(_new_branch())), ("Max-Forwards", "70"),
            ("From", f"<sip:{self.contact_user}@{_hostport(self.host, self.port)}>;tag={_new_tag()}"),
            ("To", f"<{uri}>"), ("Call-ID", f"{secrets.token_hex(12)}@{self.host}"),
            ("CSeq", "1 OPTIONS"), ("Contact", self._contact()), ("User-Agent", self.user_agent),
            ("Accept", "application/sdp"),
        ])
        return await self._transact(request, target, timeout)

    @staticmethod
    def _dialog_of(call: CallResult | InboundCall) -> Dialog:
        if call.dialog is None:
            raise RuntimeError(f"call {call.call_id} has no dialog (it was never answered)")
        return call.dialog

    async def request(self, call: CallResult | InboundCall, method: str, *, body: bytes = b"",
                      content_type: str | None = None,
                      extra_headers: Iterable[tuple[str, HeaderValue]] = (),
                      timeout: float = 5.0) -> SipMessage | None:
        """Send any in-dialog non-INVITE request; the final response or None."""
        return await self._dialog_transaction(self._dialog_of(call), method, body=body,
                                              content_type=content_type, extra_headers=extra_headers,
                                              timeout=timeout)

    async def send_info_dtmf(self, call: CallResult | InboundCall, digits: str, *,
                             duration_ms: int = 160, timeout: float = 5.0) -> list[int | None]:
        """One SIP INFO (application/dtmf-relay) per digit, each awaited in
        turn; returns the final status per digit (None: no response)."""
        dialog = self._dialog_of(call)
        statuses: list[int | None] = []
        for digit in digits:
            body = f"Signal={digit}\r\nDuration={duration_ms}\r\n".encode()
            response = await self._dialog_transaction(dialog, "INFO", body=body,
                                                      content_type=DTMF_CONTENT_TYPE, timeout=timeout)
            statuses.append(response.status if response else None)
        return statuses


# --------------------------------------------------------------------------
# User agent client
# --------------------------------------------------------------------------

# Default INVITE headers that an extra header of the same name replaces.
_OVERRIDABLE = {"max-forwards", "contact", "user-agent", "allow", "content-type"}


@dataclass(eq=False)
class _OutboundInvite:
    result: CallResult
    request: SipMessage
    target: Address
    offered_sdp: bool
    got_response: bool = False
    abandoned: bool = False  # invite() returned without a final response
    non_2xx_ack: bytes | None = None
    acks_2xx: dict[str, tuple[bytes, Address]] = field(default_factory=dict)  # per To tag


class SipUAC(_SipEndpoint):
    """Places calls.  One instance can run several calls concurrently."""

    user_agent = "callshield-test-uac"
    contact_user = "caller"

    def __init__(self, port: int = 0, host: str = "127.0.0.1", *, user_agent: str | None = None) -> None:
        super().__init__(port, host, user_agent=user_agent)
        self._invites: dict[str, _OutboundInvite] = {}  # by INVITE branch
        self._results: dict[str, CallResult] = {}  # by Call-ID

    async def invite(
        self,
        target: Address = ("127.0.0.1", 5060),
        *,
        to_user: str,
        from_user: str | None = "caller",
        from_display: str | bytes | None = None,
        from_host: str = "127.0.0.1",
        to_host: str | None = None,
        request_uri: str | None = None,
        extra_headers: Iterable[tuple[str, HeaderValue]] = (),
        sdp: bool = True,
        answer_timeout: float = 10.0,
        hangup_after_answer: bool = True,
        cancel_after: float | None = None,
    ) -> CallResult:
        """Place a call and wait for its final response (or answer_timeout).

        from_user None/"" sends a From without a user part (no caller ID).
        extra_headers go out verbatim (bytes untouched, any size); one named
        like Max-Forwards/Contact/User-Agent/Allow/Content-Type replaces ours.
        cancel_after sends CANCEL that long after the INVITE (once a
        provisional response has arrived, as RFC 3261 requires) unless a
        final response came first.  On timeout a ringing call is CANCELled in
        the background.  A 2xx is ACKed, then BYE'd when hangup_after_answer
        (or when it raced our CANCEL).
        """
        self._require_started()
        request = self._build_invite(target, to_user, from_user, from_display, from_host,
                                     to_host, request_uri, extra_headers, sdp)
        data = request.to_bytes()
        result = CallResult(call_id=request.call_id, local_tag=request.from_tag or "",
                            invite_sent_at=time.monotonic(), request=data)
        state = _OutboundInvite(result, request, target, offered_sdp=bool(request.body))
        self._invites[request.branch] = state
        self._results[result.call_id] = result
        self._send(data, target)

        sent = result.invite_sent_at
        deadline = sent + answer_timeout
        cancel_at = None if cancel_after is None else sent + cancel_after
        retransmit_at, interval = sent + T1, T1
        while result.final_status is None:
            now = time.monotonic()
            if now >= deadline:
                break
            if not state.got_response and now >= retransmit_at and now < sent + TIMER_B:  # Timer A
                self._send(data, target)
                result.invite_retransmissions += 1
                interval *= 2
                retransmit_at = now + interval
            if (cancel_at is not None and now >= cancel_at and result.cancel_sent_at is None
                    and result.first_provisional_at is not None):
                self._send_cancel(state)
            wake = [deadline]
            if not state.got_response:
                wake.append(retransmit_at)
            if cancel_at is not None and cancel_at > now:
                wake.append(cancel_at)
            await self._changes.wait(min(wake) - now)

        if result.final_status is None:
            result.timed_out = True
            state.abandoned = True
            if result.first_provisional_at is not None and result.cancel_sent_at is None:
                self._send_cancel(state)
        elif result.answered and (hangup_after_answer or result.cancel_sent_at is not None):
            await self.bye(result)
        return result

    def send_media(self, call: CallResult, max_seconds: float = 60.0) -> None:
        """Send PCMU silence (RTP, 20 ms packets) to the far end's SDP address from our
        RTP port until the call ends or ``max_seconds`` pass, as a real phone does.
        Asterisk needs media from the caller to time the end of an INFO digit."""
        text = call.remote_sdp.decode("utf-8", "replace")
        conn = re.search(r"^c=IN IP[46] +(\S+)", text, re.MULTILINE)
        media = re.search(r"^m=audio +(\d+)", text, re.MULTILINE)
        if not (conn and media) or self._rtp_transport is None:
            raise ValueError(f"call {call.call_id} has no answered SDP to send media to")
        self._spawn(self._media(call, (conn[1], int(media[1])), max_seconds))

    async def _media(self, call: CallResult, target: Address, max_seconds: float) -> None:
        ssrc, seq, timestamp = secrets.randbits(32), secrets.randbits(16), secrets.randbits(32)
        payload = b"\xff" * 160  # PCMU silence, 20 ms at 8 kHz
        start = time.monotonic()
        while (not call.ended_by_remote_bye and call.local_bye_at is None and self._rtp_transport is not None
               and not self._rtp_transport.is_closing() and time.monotonic() - start < max_seconds):
            header = bytes([0x80, 0x00]) + seq.to_bytes(2, "big") + timestamp.to_bytes(4, "big") + ssrc.to_bytes(4, "big")
            self._rtp_transport.sendto(header + payload, target)
            call.media_packets += 1
            seq, timestamp = (seq + 1) % 65536, (timestamp + 160) % 2**32
            await asyncio.sleep(0.02)  # the packet clock, not a wait for a condition

    async def bye(self, call: CallResult, timeout: float = 5.0) -> int | None:
        """Hang up an answered call; the BYE's final status (None: no answer)."""
        dialog = self._dialog_of(call)
        call.local_bye_at = time.monotonic()
        response = await self._dialog_transaction(dialog, "BYE", timeout=timeout)
        self._dialogs.pop((dialog.call_id, dialog.local_tag), None)
        call.bye_status = response.status if response else None
        return call.bye_status

    async def wait_for_remote_bye(self, call: CallResult, timeout: float = 5.0) -> None:
        await self._changes.wait_for(lambda: call.ended_by_remote_bye, timeout,
                                     f"a BYE from the far end of call {call.call_id}")

    # -- internals ---------------------------------------------------------
    def _build_invite(self, target: Address, to_user: str, from_user: str | None,
                      from_display: str | bytes | None, from_host: str, to_host: str | None,
                      request_uri: str | None, extra_headers: Iterable[tuple[str, HeaderValue]],
                      sdp: bool) -> SipMessage:
        extra = list(extra_headers)
        replaced = {canonical_header_name(name) for name, _ in extra} & _OVERRIDABLE
        to_host = to_host or target[0]
        from_uri = f"sip:{from_user}@{from_host}" if from_user else f"sip:{from_host}"
        headers: list[tuple[str, HeaderValue]] = [
            ("Via", self._via(_new_branch())),
            ("Max-Forwards", "70"),
            ("From", f"{_quoted_display(from_display)}<{from_uri}>;tag={_new_tag()}"),
            ("To", f"<sip:{to_user}@{to_host}>"),
            ("Call-ID", f"{secrets.token_hex(12)}@{self.host}"),
            ("CSeq", f"{secrets.randbelow(10000) + 1} INVITE"),
            ("Contact", self._contact()),
            ("User-Agent", self.user_agent),
            ("Allow", ALLOW),
        ]
        headers = [(n, v) for n, v in headers if canonical_header_name(n) not in replaced] + extra
        body = build_sdp(self.host, self.rtp_port) if sdp else b""
        if body and "content-type" not in replaced:
            headers.append(("Content-Type", "application/sdp"))
        uri = request_uri or f"sip:{to_user}@{_hostport(to_host, target[1])}"
        return SipMessage(f"INVITE {uri} SIP/2.0", headers, body)

    def _hop_by_hop(self, state: _OutboundInvite, method: str, to: str) -> SipMessage:
        """CANCEL, or ACK for a non-2xx: same Via/branch, From, Call-ID, CSeq
        number, Route and Request-URI as the INVITE (RFC 3261 9.1, 17.1.1.3)."""
        invite = state.request
        headers: list[tuple[str, HeaderValue]] = [
            ("Via", invite.top_via), ("Max-Forwards", "70"), ("From", invite.header("from") or ""),
            ("To", to), ("Call-ID", invite.call_id), ("CSeq", f"{invite.cseq[0]} {method}"),
        ]
        headers += [("Route", route) for route in invite.header_all("route")]
        return SipMessage(f"{method} {invite.request_uri} SIP/2.0", headers)

    def _send_cancel(self, state: _OutboundInvite) -> None:
        cancel = self._hop_by_hop(state, "CANCEL", state.request.header("to") or "")
        state.result.cancel_sent_at = time.monotonic()
        self._spawn(self._transact(cancel, state.target, TIMER_B))

    def _on_response(self, response: SipMessage, addr: Address) -> None:
        result = self._results.get(response.call_id)
        if result is not None:
            result.responses.append(ReceivedResponse(
                response.status or 0, response.reason, response.cseq[1], response.header_dict(),
                time.monotonic(), response.body))
        if response.cseq[1] == "INVITE":
            self._on_invite_response(response)

    def _on_invite_response(self, response: SipMessage) -> None:
        state = self._invites.get(response.branch)
        if state is None:
            log.debug("response to an unknown INVITE: %s", response.start_line)
            return
        result, now, status = state.result, time.monotonic(), response.status or 0
        state.got_response = True
        if status < 200:
            if result.first_provisional_at is None:
                result.first_provisional_at = now
        elif status < 300:
            self._on_invite_2xx(state, response, now)
        else:
            if state.non_2xx_ack is None:
                state.non_2xx_ack = self._hop_by_hop(state, "ACK", response.header("to") or "").to_bytes()
            self._send(state.non_2xx_ack, state.target)  # also re-ACKs retransmitted finals
            if result.final_status is None and not state.abandoned:
                result.final_status, result.reason, result.final_at = status, response.reason, now

    def _on_invite_2xx(self, state: _OutboundInvite, response: SipMessage, now: float) -> None:
        to_tag = response.to_tag or ""
        if to_tag in state.acks_2xx:  # retransmitted 2xx: ACK again
            self._send(*state.acks_2xx[to_tag])
            return
        invite, result = state.request, state.result
        contact = response.header("contact")
        record_route = [r for value in response.header_all("record-route") for r in split_commas(value)]
        dialog = Dialog(
            call_id=invite.call_id, local_tag=invite.from_tag or "", remote_tag=to_tag,
            local_uri=_without_tag(invite.header("from") or ""),
            remote_uri=_without_tag(response.header("to") or ""),
            remote_target=extract_uri(contact) if contact else invite.request_uri or "",
            route_set=list(reversed(record_route)), peer=state.target, local_cseq=invite.cseq[0],
        )
        body = b""
        if response.body and not state.offered_sdp:  # late offer: answer it in the ACK
            body = sdp_answer(response.body, self.host, self.rtp_port)
        ack, addr = self._build_dialog_request(dialog, "ACK", cseq=invite.cseq[0], body=body)
        data = ack.to_bytes()
        state.acks_2xx[to_tag] = (data, addr)
        self._send(data, addr)
        if result.final_status is None and not state.abandoned:
            result.final_status, result.reason = response.status, response.reason
            result.final_at = result.answered_at = now
            result.dialog = dialog
            result.remote_sdp = response.body or b""
            self._register_dialog(dialog)
        else:
            log.info("hanging up a late or forked 2xx on Call-ID %s", dialog.call_id)
            self._spawn(self._dialog_transaction(dialog, "BYE"))

    def _on_remote_bye(self, dialog: Dialog, request: SipMessage) -> None:
        result = self._results.get(dialog.call_id)
        if result is not None:
            result.ended_by_remote_bye = True
            result.remote_bye_at = time.monotonic()

    def _on_info(self, dialog: Dialog, request: SipMessage) -> None:
        result = self._results.get(dialog.call_id)
        if result is not None:
            result.info_received.append(request.body)


# --------------------------------------------------------------------------
# User agent server
# --------------------------------------------------------------------------

class SipUAS(_SipEndpoint):
    """Receives calls.  `mode` (changeable any time; applies to INVITEs that
    arrive afterwards): "answer" (100, 180, 200 + SDP after answer_delay),
    "busy" (486), "unavailable" (503), "silent" (no response to INVITEs or
    their CANCELs) or "ring" (100, 180, never answers).  OPTIONS get 200
    unless answer_options is False."""

    MODES = ("answer", "busy", "unavailable", "silent", "ring")
    user_agent = "callshield-test-uas"
    contact_user = "agent"

    def __init__(self, port: int = 0, host: str = "127.0.0.1", *, mode: str = "answer",
                 answer_delay: float = 0.0, answer_options: bool = True,
                 user_agent: str | None = None) -> None:
        super().__init__(port, host, user_agent=user_agent)
        self.mode = mode
        self.answer_delay = answer_delay
        self.answer_options = answer_options
        self.calls: list[InboundCall] = []
        self._consumed = 0  # calls already returned by wait_for_call()
        self._by_branch: dict[str, InboundCall] = {}
        self._by_dialog: dict[tuple[str, str], InboundCall] = {}
        self._answer_tasks: dict[str, asyncio.Task[object]] = {}

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in self.MODES:
            raise ValueError(f"unknown SipUAS mode {value!r}; expected one of {self.MODES}")
        self._mode = value

    @property
    def uri(self) -> str:
        return f"sip:{_hostport(self.host, self.port)}"

    # -- waiting -----------------------------------------------------------
    async def wait_for_call(self, timeout: float = 5.0) -> InboundCall:
        """The next INVITE not yet returned by this method (in arrival order)."""
        def next_call() -> InboundCall | None:
            return self.calls[self._consumed] if len(self.calls) > self._consumed else None

        call = await self._changes.wait_for(
            next_call, timeout,
            lambda: f"an INVITE at {self.uri} ({len(self.calls)} received in all, all already taken)")
        self._consumed += 1
        return call

    async def assert_no_call(self, within: float) -> None:
        """Raise AssertionError if a new INVITE arrives within `within` seconds."""
        with contextlib.suppress(TimeoutError):
            call = await self.wait_for_call(timeout=within)
            raise AssertionError(f"unexpected INVITE at {self.uri}: {call.request_uri} (Call-ID {call.call_id})")

    async def wait_for_ack(self, call: InboundCall, timeout: float = 5.0) -> None:
        await self._changes.wait_for(lambda: call.acked_at is not None, timeout,
                                     f"the ACK of call {call.call_id}")

    async def wait_for_end(self, call: InboundCall, timeout: float = 5.0) -> None:
        """Until the call ends by BYE (either side) or CANCEL."""
        await self._changes.wait_for(lambda: call.ended_at is not None, timeout,
                                     f"the end of call {call.call_id}")

    async def wait_for_info(self, call: InboundCall, count: int = 1, timeout: float = 5.0) -> list[bytes]:
        """Until `count` INFO bodies have arrived on the call; returns them all."""
        await self._changes.wait_for(lambda: len(call.info_bodies) >= count, timeout,
                                     lambda: f"{count} INFO on call {call.call_id} (got {len(call.info_bodies)})")
        return list(call.info_bodies)

    async def bye(self, call: InboundCall, timeout: float = 5.0) -> int | None:
        """Hang up an answered call from this side; the BYE's final status."""
        if call.answered_at is None:
            raise RuntimeError(f"call {call.call_id} was never answered; nothing to hang up")
        dialog = self._dialog_of(call)
        response = await self._dialog_transaction(dialog, "BYE", timeout=timeout)
        self._dialogs.pop((dialog.call_id, dialog.local_tag), None)
        if call.ended_at is None:
            call.ended_at, call.ended_by = time.monotonic(), "local"
        self._changes.notify()
        return response.status if response else None

    # -- request handling --------------------------------------------------
    def _on_out_of_dialog_request(self, request: SipMessage, addr: Address) -> None:
        if request.method == "INVITE":
            self._on_invite(request, addr)
        elif request.method == "CANCEL":
            self._on_cancel(request, addr)
        elif request.method == "OPTIONS" and not self.answer_options:
            return
        else:
            super()._on_out_of_dialog_request(request, addr)

    def _on_invite(self, request: SipMessage, addr: Address) -> None:
        known = self._by_branch.get(request.branch)
        if known is not None:  # retransmission we have not responded to (silent)
            known.invite_retransmissions += 1
            return
        call = InboundCall(
            request_uri=request.request_uri or "", headers=request.header_dict(), raw=request.raw,
            received_at=time.monotonic(), call_id=request.call_id, source=addr, body=request.body,
            mode=self.mode, local_tag=_new_tag(), request=request,
        )
        self.calls.append(call)
        self._by_branch[request.branch] = call
        log.info("INVITE %s (Call-ID %s) -> %s", call.request_uri, call.call_id, call.mode)
        if call.mode in ("answer", "ring"):
            self._send_response(call, 100, "Trying")
            self._send_response(call, 180, "Ringing")
            if call.mode == "answer":
                self._answer_tasks[request.branch] = self._spawn(self._answer_later(call, self.answer_delay))
        elif call.mode == "busy":
            self._send_final(call, 486, "Busy Here")
        elif call.mode == "unavailable":
            self._send_final(call, 503, "Service Unavailable")

    def _on_cancel(self, request: SipMessage, addr: Address) -> None:
        call = self._by_branch.get(request.branch)
        if call is None:
            self._respond(request, addr, 481, "Call/Transaction Does Not Exist")
            return
        if call.mode == "silent":
            return
        self._respond(request, addr, 200, "OK", to_tag=call.local_tag)
        if call.final_status is None:
            task = self._answer_tasks.pop(request.branch, None)
            if task is not None:
                task.cancel()
            call.cancelled_at = call.ended_at = time.monotonic()
            call.ended_by = "cancel"
            self._send_final(call, 487, "Request Terminated")

    def _on_ack(self, request: SipMessage, addr: Address) -> None:
        call = self._by_branch.get(request.branch) or self._by_dialog.get((request.call_id, request.to_tag or ""))
        if call is not None and call.acked_at is None:
            call.acked_at = time.monotonic()
            call.ack_body = request.body

    def _on_retransmission(self, request: SipMessage) -> None:
        call = self._by_branch.get(request.branch)
        if request.method == "INVITE" and call is not None:
            call.invite_retransmissions += 1

    def _on_remote_bye(self, dialog: Dialog, request: SipMessage) -> None:
        call = self._by_dialog.get((dialog.call_id, dialog.local_tag))
        if call is not None:
            call.bye_received_at = time.monotonic()
            if call.ended_at is None:
                call.ended_at, call.ended_by = call.bye_received_at, "remote"

    def _on_info(self, dialog: Dialog, request: SipMessage) -> None:
        call = self._by_dialog.get((dialog.call_id, dialog.local_tag))
        if call is not None:
            call.info_bodies.append(request.body)

    # -- responses ---------------------------------------------------------
    def _send_response(self, call: InboundCall, status: int, reason: str, body: bytes = b"") -> bytes:
        if 100 < status < 300 and call.dialog is None:
            self._create_dialog(call)
        data = self._respond(call.request, call.source, status, reason,
                             to_tag=call.local_tag if status > 100 else None, body=body)
        call.responses_sent.append(status)
        return data

    def _send_final(self, call: InboundCall, status: int, reason: str, body: bytes = b"") -> None:
        if call.final_status is not None:
            return
        call.final_status = status
        if 200 <= status < 300:
            call.answered_at = time.monotonic()
        data = self._send_response(call, status, reason, body)
        self._spawn(self._retransmit_until_ack(call, data))
        self._changes.notify()

    async def _answer_later(self, call: InboundCall, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)  # a timer, not a wait for an event
        self._answer_tasks.pop(call.request.branch, None)
        if call.final_status is None and not self.closed:
            body = sdp_answer(call.body, self.host, self.rtp_port) if call.body else build_sdp(self.host, self.rtp_port)
            self._send_final(call, 200, "OK", body)

    async def _retransmit_until_ack(self, call: InboundCall, data: bytes) -> None:
        """Timer G / 2xx retransmission (T1 doubling, capped at T2) until ACK."""
        give_up = time.monotonic() + TIMER_B
        next_at, interval = time.monotonic() + T1, T1
        while call.acked_at is None and call.bye_received_at is None and not self.closed:
            now = time.monotonic()
            if now >= give_up:
                log.warning("no ACK for %s on call %s", call.final_status, call.call_id)
                return
            if now >= next_at:
                self._send(data, call.source)
                call.final_retransmissions += 1
                interval = min(interval * 2, T2)
                next_at = now + interval
            await self._changes.wait(min(next_at, give_up) - now)

    def _create_dialog(self, call: InboundCall) -> None:
        request = call.request
        contact = request.header("contact")
        call.dialog = Dialog(
            call_id=call.call_id, local_tag=call.local_tag, remote_tag=request.from_tag or "",
            local_uri=_without_tag(request.header("to") or ""),
            remote_uri=_without_tag(request.header("from") or ""),
            remote_target=extract_uri(contact or request.header("from") or ""),
            route_set=[r for value in request.header_all("record-route") for r in split_commas(value)],
            peer=call.source,
        )
        self._register_dialog(call.dialog)
        self._by_dialog[(call.call_id, call.local_tag)] = call

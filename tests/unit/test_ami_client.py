"""The AMI client against a fake AMI server on loopback (faults a real Asterisk cannot
easily produce: garbage, silence, refusals, huge replies), and its parser directly."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Awaitable, Callable

import pytest
import pytest_asyncio
from hypothesis import given, settings
from hypothesis import strategies as st

from callshield.ami_monitor.client import (
    MAX_MESSAGE_BYTES,
    MAX_MESSAGE_LINES,
    AmiActionError,
    AmiClient,
    AmiConnectionError,
    AmiParser,
    AmiProtocolError,
    AmiTimeout,
)
from callshield.config import MonitorConfig
from tests.support.service import eventually

SECRET = "s3cret-never-logged"
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
SEP = b"\r\n\r\n"


def wire(*fields: tuple[str, str]) -> bytes:
    return b"".join(f"{k}: {v}\r\n".encode() for k, v in fields) + b"\r\n"


def event(name: str, **fields: str) -> bytes:
    return wire(("Event", name), *fields.items())




class FakeAmi:
    """A scriptable AMI peer: banner, Login (checks the secret), Ping, Logoff, and any
    action through ``handlers[name](fields) -> bytes | None`` (None: stay silent)."""

    def __init__(self, secret: str = SECRET, banner: bytes | None = BANNER):
        self.secret = secret
        self.banner = banner
        self.answer_pings = True
        self.close_after_banner = False
        self.handlers: dict[str, Callable[[dict[str, str]], bytes | None]] = {}
        self.after_login: bytes = b""
        self.connections = 0
        self.logins = 0
        self.actions: list[dict[str, str]] = []
        self.connected_at: list[float] = []
        self.writer: asyncio.StreamWriter | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self, port: int = 0) -> FakeAmi:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for w in self._writers:
            w.transport.abort()
        if self.server is not None:
            await self.server.wait_closed()

    def push(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)

    def drop(self) -> None:
        """Close the current connection from the server side."""
        assert self.writer is not None
        self.writer.transport.abort()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.connected_at.append(time.monotonic())
        self.writer = writer
        self._writers.append(writer)
        try:
            if self.banner is not None:
                writer.write(self.banner)
            if self.close_after_banner:
                writer.close()
                return
            while True:
                raw = await reader.readuntil(SEP)
                fields = {}
                for line in raw.decode().split("\r\n"):
                    k, sep, v = line.partition(": ")
                    if sep:
                        fields[k] = v
                self.actions.append(fields)
                name, aid = fields.get("Action", ""), fields.get("ActionID", "")
                if name == "Login":
                    if fields.get("Secret") == self.secret:
                        self.logins += 1
                        writer.write(wire(("Response", "Success"), ("ActionID", aid), ("Message", "Authentication accepted")))
                        writer.write(self.after_login)
                    else:
                        writer.write(wire(("Response", "Error"), ("ActionID", aid), ("Message", "Authentication failed")))
                        await writer.drain()
                        writer.close()
                        return
                elif name == "Ping":
                    if self.answer_pings:
                        writer.write(wire(("Response", "Success"), ("ActionID", aid), ("Ping", "Pong"), ("Timestamp", "1.0")))
                elif name == "Logoff":
                    writer.write(wire(("Response", "Goodbye"), ("ActionID", aid), ("Message", "Thanks for all the fish.")))
                    await writer.drain()
                    writer.close()
                    return
                elif name in self.handlers:
                    reply = self.handlers[name](fields)
                    if reply is not None:
                        writer.write(reply)
                else:
                    writer.write(wire(("Response", "Success"), ("ActionID", aid)))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass


def config(port: int, **overrides: object) -> MonitorConfig:
    values: dict[str, object] = {"enabled": True, "host": "127.0.0.1", "port": port, "username": "callshield",
                                 "secret_env": "CALLSHIELD_AMI_SECRET", "connect_timeout": 1.0, "keepalive": 5.0,
                                 "backoff_initial": 0.001, "backoff_max": 0.008}
    values.update(overrides)
    return MonitorConfig(**values)  # type: ignore[arg-type]


class RecordingRandom(random.Random):
    """A seeded Random that records every backoff draw: (cap, value)."""

    def __init__(self, seed: int = 1):
        super().__init__(seed)
        self.draws: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        assert a == 0.0
        value = super().uniform(a, b)
        self.draws.append((b, value))
        return value


class Harness:
    """A client running against a fake server, its events and its on_connected calls."""

    def __init__(self, server: FakeAmi, client: AmiClient, events: list[dict[str, str]], connected: list[int]):
        self.server, self.client, self.events, self.connected = server, client, events, connected
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> Harness:
        self.task = asyncio.create_task(self.client.run())
        return self

    async def logged_in(self) -> None:
        await eventually(lambda: self.client.logged_in, what="the client to log in")


@pytest_asyncio.fixture
async def fake() -> FakeAmi:
    server = await FakeAmi().start()
    yield server  # type: ignore[misc]
    await server.stop()


@pytest_asyncio.fixture
async def make_client(fake: FakeAmi):
    made: list[Harness] = []

    async def make(*, secret: str = SECRET, on_event: Callable[[dict[str, str]], None] | None = None,
                   on_connected: Callable[[AmiClient], Awaitable[None]] | None = None, rng: random.Random | None = None,
                   port: int | None = None, start: bool = True, **overrides: object) -> Harness:
        events: list[dict[str, str]] = []
        connected: list[int] = []

        async def default_on_connected(client: AmiClient) -> None:
            connected.append(client.logins)

        client = AmiClient(config(fake.port if port is None else port, **overrides), secret,
                           on_event if on_event is not None else events.append,
                           on_connected if on_connected is not None else default_on_connected, rng=rng)
        h = Harness(fake, client, events, connected)
        made.append(h)
        if start:
            await h.start()
        return h

    yield make
    for h in made:
        await h.client.close()
        if h.task is not None:
            assert h.task.done()
            assert h.task.cancelled() or h.task.exception() is None


# -- the parser ----------------------------------------------------------------------

def test_parser_reads_events_and_responses_split_at_every_byte():
    data = (event("Newchannel", Channel="PJSIP/carrier-00000001", Exten="+442071234567", AccountCode="")
            + wire(("Response", "Success"), ("ActionID", "7"), ("Ping", "Pong")))
    whole = AmiParser().feed(data)
    assert whole == [{"Event": "Newchannel", "Channel": "PJSIP/carrier-00000001", "Exten": "+442071234567", "AccountCode": ""},
                     {"Response": "Success", "ActionID": "7", "Ping": "Pong"}]
    for cut in range(1, len(data)):
        p = AmiParser()
        assert p.feed(data[:cut]) + p.feed(data[cut:]) == whole, cut
    p = AmiParser()
    assert [m for i in range(len(data)) for m in p.feed(data[i:i + 1])] == whole


def test_lines_without_colon_space_are_skipped_and_counted():
    p = AmiParser()
    msgs = p.feed(b"Event: Hangup\r\ngarbage line\r\nCause:16\r\nChannel: PJSIP/a-1\r\n\r\n"
                  b"NoEventHere: x\r\n\r\n"
                  b"Event: DialEnd\r\nDialStatus: BUSY\r\n\r\n")
    assert msgs == [{"Event": "Hangup", "Channel": "PJSIP/a-1"}, {"Event": "DialEnd", "DialStatus": "BUSY"}]
    assert p.malformed == 3  # two bad lines, one message that is neither event nor response


def test_non_utf8_bytes_are_replaced_and_split_characters_survive():
    p = AmiParser()
    assert p.feed(b"Event: Newchannel\r\nCallerIDName: \xff\xfeBad\r\n\r\n") == [
        {"Event": "Newchannel", "CallerIDName": "\ufffd\ufffdBad"}]
    name = "Zoë Müller".encode()
    data = b"Event: Newchannel\r\nCallerIDName: " + name + b"\r\n\r\n"
    cut = data.index(b"\xc3") + 1  # inside the two bytes of "ë"
    assert p.feed(data[:cut]) == []
    assert p.feed(data[cut:]) == [{"Event": "Newchannel", "CallerIDName": "Zoë Müller"}]


def test_output_lines_and_repeated_keys_are_joined():
    p = AmiParser()
    msgs = p.feed(wire(("Response", "Success"), ("ActionID", "1"), ("Message", "Command output follows"),
                       ("Output", "Name/username   Host"), ("Output", "agents/agents   127.0.0.1"), ("Output", "")))
    assert msgs[0]["Output"] == "Name/username   Host\nagents/agents   127.0.0.1\n"
    assert p.feed(event("VarSet", ChanVariable="A=1") + b"")[0]["ChanVariable"] == "A=1"
    assert p.feed(b"Event: Newexten\r\nChanVariable: A=1\r\nChanVariable: B=2\r\n\r\n")[0]["ChanVariable"] == "A=1\nB=2"


def test_extra_blank_lines_between_messages():
    # Asterisk ends some errors with a stray newline: "Message: No Contacts found\n\r\n\r\n"
    p = AmiParser()
    msgs = p.feed(b"Response: Error\r\nActionID: 3\r\nMessage: No Contacts found\n\r\n\r\n\r\n\r\nEvent: A\r\n\r\n")
    assert msgs == [{"Response": "Error", "ActionID": "3", "Message": "No Contacts found\n"}, {"Event": "A"}]
    assert p.malformed == 0


@pytest.mark.parametrize("chunk", [1 << 20, 4096, 7])
def test_over_long_messages_are_dropped_and_the_stream_goes_on(chunk, caplog):
    huge_line = wire(("Event", "Huge"), ("ActionID", "big-1"), ("Blob", "x" * (MAX_MESSAGE_BYTES + 10)))
    many_lines = wire(("Event", "Many"), *((f"K{i}", "v") for i in range(MAX_MESSAGE_LINES + 1)))
    data = event("Before") + huge_line + event("Between") + many_lines + event("After")
    p = AmiParser("127.0.0.1:5038")
    with caplog.at_level(logging.WARNING, "callshield.ami"):
        got = [m for i in range(0, len(data), chunk) for m in p.feed(data[i:i + chunk])]
    assert [m["Event"] for m in got] == ["Before", "Between", "After"]
    assert p.dropped == 2
    assert p.dropped_action_ids == ["big-1"]
    assert sum("dropped a message" in r.getMessage() and "127.0.0.1:5038" in r.getMessage() for r in caplog.records) == 2


def test_a_message_at_the_limits_is_kept():
    fields = [("Event", "Edge")] + [(f"K{i}", "v") for i in range(MAX_MESSAGE_LINES - 1)]
    assert AmiParser().feed(wire(*fields))[0]["K0"] == "v"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_arbitrary_bytes_never_crash_the_parser(chunks):
    p = AmiParser(max_bytes=256, max_lines=8)
    for chunk in chunks:
        for msg in p.feed(chunk):
            assert "Event" in msg or "Response" in msg
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in msg.items())
    # after any garbage, a separator resynchronises the stream
    assert p.feed(b"\r\n\r\n" + event("Next"))[-1] == {"Event": "Next"}


_key = st.text(st.characters(codec="utf-8", exclude_characters="\r\n:"), min_size=1, max_size=12)
_value = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=30)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(_key.filter(lambda k: k not in ("Event",)), _value, max_size=6), min_size=1, max_size=6),
       st.data())
def test_any_chunking_of_well_formed_events_gives_the_same_events(bodies, data):
    events = [{"Event": f"E{i}", **body} for i, body in enumerate(bodies)]
    raw = b"".join(wire(*ev.items()) for ev in events)
    cuts = sorted(data.draw(st.sets(st.integers(0, len(raw)), max_size=8)))
    p = AmiParser()
    got = []
    for a, b in zip([0, *cuts], [*cuts, len(raw)]):
        got.extend(p.feed(raw[a:b]))
    assert got == events


@pytest.mark.asyncio
async def test_arbitrary_bytes_from_the_server_never_kill_the_reader(fake, make_client):
    h = await make_client()
    await h.logged_in()
    rng = random.Random(5)
    for _ in range(50):
        fake.push(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))))
    fake.push(SEP + event("AfterGarbage"))
    await eventually(lambda: any(e.get("Event") == "AfterGarbage" for e in h.events), what="the event after garbage")
    assert h.client.connected and not h.task.done()
    assert (await h.client.action("Ping"))["Ping"] == "Pong"


# -- events ----------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_login_then_events_in_order_and_on_connected(fake, make_client):
    fake.after_login = event("FullyBooted", Status="Fully Booted")
    h = await make_client()
    await h.logged_in()
    login = next(a for a in fake.actions if a["Action"] == "Login")
    assert login["Username"] == "callshield" and login["Secret"] == SECRET and login["Events"] == "on"
    fake.push(event("Newchannel", Channel="PJSIP/carrier-1") + event("Hangup", Channel="PJSIP/carrier-1", Cause="16"))
    await eventually(lambda: len(h.events) == 3, what="3 events")
    assert [e["Event"] for e in h.events] == ["FullyBooted", "Newchannel", "Hangup"]
    assert h.connected == [1]
    assert h.client.events_received == 3 and h.client.version == "11.0.0"
    stats = h.client.stats()
    assert stats.connected and stats.logged_in and stats.last_error is None and stats.logins == 1


@pytest.mark.asyncio
async def test_a_burst_of_10000_events_is_dispatched_in_order_without_a_task_each(fake, make_client):
    seen: list[int] = []
    tasks: set[int] = set()

    def on_event(ev: dict[str, str]) -> None:
        seen.append(int(ev["Seq"]))
        if len(seen) % 1000 == 0:
            tasks.add(len(asyncio.all_tasks()))

    h = await make_client(on_event=on_event)
    await h.logged_in()
    fake.push(b"".join(event("VarSet", Seq=str(i), Variable="DIALSTATUS", Value="") for i in range(10_000)))
    await eventually(lambda: len(seen) == 10_000, what="10,000 events")
    assert seen == list(range(10_000))
    assert len(tasks) == 1  # the same few tasks all along: nothing spawned per event


@pytest.mark.asyncio
async def test_an_exception_in_on_event_is_logged_and_the_reader_goes_on(fake, make_client, caplog):
    got: list[str] = []

    def on_event(ev: dict[str, str]) -> None:
        if ev["Event"] == "Boom":
            raise KeyError("DestChannel")
        got.append(ev["Event"])

    h = await make_client(on_event=on_event)
    await h.logged_in()
    with caplog.at_level(logging.ERROR, "callshield.ami"):
        fake.push(event("Boom") + event("Fine") + event("Boom") + event("Fine"))
        await eventually(lambda: len(got) == 2, what="the events after the failures")
    assert h.client.callback_errors == 2 and h.client.connected
    failures = [r for r in caplog.records if "event handler failed on a Boom event" in r.getMessage()]
    assert len(failures) == 2 and failures[0].exc_info is not None


@pytest.mark.asyncio
async def test_shutdown_event_is_named_as_the_reason(fake, make_client):
    h = await make_client(backoff_initial=5.0, backoff_max=5.0)
    await h.logged_in()
    fake.push(event("Shutdown", Shutdown="Cleanly", Restart="True"))
    await eventually(lambda: any(e["Event"] == "Shutdown" for e in h.events), what="the Shutdown event")
    fake.drop()
    await eventually(lambda: h.client.last_error is not None, what="the disconnect")
    assert "shutting down (Shutdown: Cleanly, Restart: True)" in h.client.last_error


# -- actions ---------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_concurrent_actions_get_their_own_responses(fake, make_client):
    held: list[dict[str, str]] = []

    def hold(fields: dict[str, str]) -> bytes | None:
        held.append(fields)
        if len(held) < 2:
            return None
        # answer both, the second first, with an event in between
        a, b = held
        return (wire(("Response", "Success"), ("ActionID", b["ActionID"]), ("Value", b["Variable"]))
                + event("Newstate", ActionID="not-ours")
                + wire(("Response", "Success"), ("ActionID", a["ActionID"]), ("Value", a["Variable"])))

    fake.handlers["Getvar"] = hold
    h = await make_client()
    await h.logged_in()
    first, second = await asyncio.gather(h.client.action("Getvar", Variable="ONE"), h.client.action("Getvar", Variable="TWO"))
    assert first["Value"] == "ONE" and second["Value"] == "TWO"
    assert first["ActionID"] != second["ActionID"]
    await eventually(lambda: any(e["Event"] == "Newstate" for e in h.events), what="the interleaved event")


@pytest.mark.asyncio
async def test_action_error_timeout_and_not_connected(fake, make_client):
    fake.handlers["Setvar"] = lambda f: wire(("Response", "Error"), ("ActionID", f["ActionID"]), ("Message", "No such channel\n"))
    fake.handlers["Silent"] = lambda f: None
    h = await make_client()
    await h.logged_in()
    with pytest.raises(AmiActionError) as err:
        await h.client.action("Setvar", Channel="PJSIP/x-1", Variable="A", Value="1")
    assert err.value.reply["Message"] == "No such channel\n" and str(err.value).endswith("No such channel")
    with pytest.raises(AmiTimeout, match="did not answer the AMI action Silent within 0.05 s"):
        await h.client.action("Silent", timeout=0.05)
    assert h.client._pending == {}
    idle = AmiClient(config(fake.port), SECRET, lambda e: None)
    with pytest.raises(AmiConnectionError, match="not connected"):
        await idle.action("Ping")


@pytest.mark.asyncio
async def test_fields_cannot_inject_lines(fake, make_client):
    h = await make_client()
    await h.logged_in()
    before = len(fake.actions)
    with pytest.raises(ValueError, match="one line"):
        await h.client.action("Setvar", Variable="A", Value="x\r\nAction: Originate")
    assert h.client._pending == {}
    await h.client.action("Ping")
    assert [a["Action"] for a in fake.actions[before:]] == ["Ping"]


@pytest.mark.asyncio
async def test_command_output_lines_are_joined(fake, make_client):
    fake.handlers["Command"] = lambda f: wire(("Response", "Success"), ("ActionID", f["ActionID"]),
                                              ("Message", "Command output follows"),
                                              ("Output", "Asterisk 22.10.1"), ("Output", "built by nobody"))
    h = await make_client()
    await h.logged_in()
    reply = await h.client.action("Command", Command="core show version")
    assert reply["Output"] == "Asterisk 22.10.1\nbuilt by nobody"
    assert fake.actions[-1]["Command"] == "core show version"


@pytest.mark.asyncio
async def test_an_oversized_reply_fails_its_action_at_once(fake, make_client):
    fake.handlers["Command"] = lambda f: wire(("Response", "Success"), ("ActionID", f["ActionID"]),
                                              *(("Output", f"line {i}") for i in range(MAX_MESSAGE_LINES + 5)))
    h = await make_client()
    await h.logged_in()
    started = time.monotonic()
    with pytest.raises(AmiProtocolError, match="over the AMI message limit"):
        await h.client.action("Command", Command="pjsip show endpoints", timeout=5)
    assert time.monotonic() - started < 2
    assert h.client.dropped == 1 and h.client.connected


def contact_list(fields: dict[str, str]) -> bytes:
    aid = fields["ActionID"]
    out = wire(("Response", "Success"), ("ActionID", aid), ("EventList", "start"),
               ("Message", "A listing of Contacts follows, presented as ContactList events"))
    for i, aor in enumerate(("agents", "overflow")):
        out += event("ContactList", ActionID=aid, ObjectType="contact", ObjectName=f"{aor};@{i}abc", AOR=aor,
                     URI=f"sip:{aor}@198.51.100.{i + 1}:5060", Status="Reachable", RoundtripUsec="1532", EndpointName=aor)
        out += event("ContactStatus", URI=f"sip:{aor}@198.51.100.{i + 1}:5060", ContactStatus="Reachable", AOR=aor)
    return out + event("ContactListComplete", ActionID=aid, EventList="Complete", ListItems="2")


@pytest.mark.asyncio
async def test_collect_returns_the_list_events_by_action_id(fake, make_client):
    fake.handlers["PJSIPShowContacts"] = contact_list
    h = await make_client()
    await h.logged_in()
    contacts = await h.client.collect("PJSIPShowContacts", "ContactListComplete")
    assert [(c["Event"], c["AOR"], c["Status"]) for c in contacts] == [("ContactList", "agents", "Reachable"),
                                                                       ("ContactList", "overflow", "Reachable")]
    # unrelated events interleaved with the list go to on_event, the list's own do not
    await eventually(lambda: len([e for e in h.events if e["Event"] == "ContactStatus"]) == 2, what="ContactStatus events")
    assert not any(e["Event"].startswith("ContactList") for e in h.events)


@pytest.mark.asyncio
async def test_collect_raises_on_an_error_response(fake, make_client):
    fake.handlers["PJSIPShowContacts"] = lambda f: wire(("Response", "Error"), ("ActionID", f["ActionID"]),
                                                        ("Message", "No Contacts found\n"))
    h = await make_client()
    await h.logged_in()
    with pytest.raises(AmiActionError, match="No Contacts found$"):
        await h.client.collect("PJSIPShowContacts", "ContactListComplete")


@pytest.mark.asyncio
async def test_a_lost_connection_fails_pending_actions_at_once(fake, make_client):
    fake.handlers["Silent"] = lambda f: None
    h = await make_client(backoff_initial=5.0, backoff_max=5.0)
    await h.logged_in()
    pending = asyncio.create_task(h.client.action("Silent", timeout=10))
    await eventually(lambda: any(a.get("Action") == "Silent" for a in fake.actions), what="the action to arrive")
    started = time.monotonic()
    fake.drop()
    with pytest.raises(AmiConnectionError, match="before Asterisk answered Silent"):
        await pending
    assert time.monotonic() - started < 1
    assert not h.client.connected


# -- keepalive, reconnect, backoff -------------------------------------------------------

@pytest.mark.asyncio
async def test_keepalive_detects_a_silent_server_and_reconnects(fake, make_client, caplog):
    h = await make_client(keepalive=0.1, backoff_initial=0.001, backoff_max=0.001)
    await h.logged_in()
    fake.answer_pings = False
    with caplog.at_level(logging.WARNING, "callshield.ami"):
        await eventually(lambda: fake.connections >= 2, what="a reconnect after the missed Pong")
    assert any("no answer to Ping within 0.1 s (monitor.keepalive)" in r.getMessage() for r in caplog.records)
    fake.answer_pings = True
    await eventually(lambda: h.client.logged_in and len(h.connected) >= 2, what="the second login")
    assert h.connected[:2] == [1, 2]  # on_connected ran again: the monitor resyncs
    assert h.client.reconnects >= 1 and h.client.last_error is None  # cleared by the new login


@pytest.mark.asyncio
async def test_reconnect_backoff_doubles_to_the_cap_with_full_jitter():
    closed_port = FakeAmi()  # bind and close: nothing listens there
    await closed_port.start()
    port = closed_port.port
    await closed_port.stop()
    rng = RecordingRandom(3)
    client = AmiClient(config(port, backoff_initial=0.001, backoff_max=0.008), SECRET, lambda e: None, rng=rng)
    task = asyncio.create_task(client.run())
    try:
        await eventually(lambda: len(rng.draws) >= 7, what="7 retries")
    finally:
        await client.close()
    caps = [cap for cap, _ in rng.draws[:7]]
    assert caps == [0.001, 0.002, 0.004, 0.008, 0.008, 0.008, 0.008]
    values = [v for _, v in rng.draws]
    assert all(0 <= v <= cap for cap, v in rng.draws)
    assert len(set(values)) == len(values)  # jittered, not a fixed delay
    expected = random.Random(3)
    assert values[:7] == [expected.uniform(0, c) for c in caps]  # the injected rng decides every wait
    assert client.reconnects >= 6 and not client.connected
    assert "cannot connect to the Asterisk manager interface at 127.0.0.1:" in client.last_error
    assert task.done()


@pytest.mark.asyncio
async def test_backoff_starts_over_after_a_connection_that_stayed_up(fake, make_client):
    rng = RecordingRandom(4)
    fake.close_after_banner = True  # first: failures, the cap grows
    h = await make_client(rng=rng, keepalive=0.05, backoff_initial=0.001, backoff_max=0.004)
    await eventually(lambda: len(rng.draws) >= 4, what="4 failed attempts")
    assert [c for c, _ in rng.draws[:4]] == [0.001, 0.002, 0.004, 0.004]
    fake.close_after_banner = False
    await h.logged_in()
    n = len(rng.draws)
    pings = sum(a.get("Action") == "Ping" for a in fake.actions)
    # stays up longer than one keepalive: a Ping arrives (and is answered)
    await eventually(lambda: sum(a.get("Action") == "Ping" for a in fake.actions) > pings, what="a keepalive Ping")
    fake.drop()
    await eventually(lambda: len(rng.draws) > n, what="the retry after the drop")
    assert rng.draws[n][0] == 0.001


@pytest.mark.asyncio
async def test_wrong_credentials_clear_error_backoff_no_crash(fake, make_client, caplog):
    rng = RecordingRandom(5)
    with caplog.at_level(logging.DEBUG, "callshield.ami"):
        h = await make_client(secret="wrong-secret-value", rng=rng, backoff_initial=0.001, backoff_max=0.004)
        await eventually(lambda: fake.connections >= 4, what="4 login attempts")
    err = h.client.last_error
    assert "AMI login to 127.0.0.1:%d as user 'callshield' failed (Authentication failed)" % fake.port in err
    assert "CALLSHIELD_AMI_SECRET" in err and "[callshield]" in err
    assert not h.client.logged_in and not h.task.done() and h.connected == []
    assert [c for c, _ in rng.draws[:3]] == [0.001, 0.002, 0.004]  # backoff, not a tight loop
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and "AMI login" in r.getMessage()]
    assert errors and "reconnecting in" in errors[0].getMessage()
    text = "\n".join(r.getMessage() for r in caplog.records) + repr(h.client) + str(h.client.stats())
    assert "wrong-secret-value" not in text and SECRET not in text


@pytest.mark.asyncio
async def test_empty_secret_says_the_environment_variable_is_empty(fake, make_client):
    h = await make_client(secret="", backoff_initial=1.0, backoff_max=1.0)
    await eventually(lambda: h.client.last_error is not None, what="the refused login")
    assert "it is empty: set CALLSHIELD_AMI_SECRET in callshield's environment" in h.client.last_error


@pytest.mark.parametrize("banner, expected", [
    (b"SIP/2.0 400 Bad Request\r\n", "is not an Asterisk manager interface"),
    (None, "sent no AMI banner within 0.2 s"),
])
@pytest.mark.asyncio
async def test_not_an_ami_port(banner, expected):
    server = await FakeAmi(banner=banner).start()
    try:
        client = AmiClient(config(server.port, connect_timeout=0.2, backoff_initial=5.0, backoff_max=5.0), SECRET, lambda e: None)
        task = asyncio.create_task(client.run())
        await eventually(lambda: client.last_error is not None, what="the failed connection")
        assert expected in client.last_error and str(server.port) in client.last_error
        assert server.logins == 0 and not task.done()
        await client.close()
    finally:
        await server.stop()


@pytest.mark.asyncio
async def test_on_connected_failure_drops_the_connection_and_retries(fake, make_client, caplog):
    calls: list[int] = []

    async def resync(client: AmiClient) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("resync bug")

    with caplog.at_level(logging.ERROR, "callshield.ami"):
        h = await make_client(on_connected=resync)
        await eventually(lambda: len(calls) >= 2 and h.client.logged_in, what="the second resync")
    assert fake.connections == 2
    assert any("on_connected" in r.getMessage() and r.exc_info for r in caplog.records)


# -- close and cancellation --------------------------------------------------------------

@pytest.mark.asyncio
async def test_close_logs_off_and_stops_run(fake, make_client):
    h = await make_client()
    await h.logged_in()
    tasks_before = len(asyncio.all_tasks())
    await h.client.close()
    assert h.task.done()
    assert fake.actions[-1]["Action"] == "Logoff"
    assert not h.client.connected and not h.client.logged_in
    await asyncio.sleep(0)
    assert len(asyncio.all_tasks()) <= tasks_before - 3  # run, reader and keepalive are gone
    await h.client.close()  # twice is fine


@pytest.mark.asyncio
async def test_cancelling_run_cleans_up_and_fails_pending(fake, make_client):
    fake.handlers["Silent"] = lambda f: None
    h = await make_client()
    await h.logged_in()
    pending = asyncio.create_task(h.client.action("Silent", timeout=10))
    await eventually(lambda: any(a.get("Action") == "Silent" for a in fake.actions), what="the action to arrive")
    h.task.cancel()
    await asyncio.wait({h.task})
    assert h.task.cancelled()
    with pytest.raises(AmiConnectionError):
        await pending
    assert not h.client.connected and h.client._pending == {}
    with pytest.raises(AmiConnectionError):
        await h.client.action("Ping")


@pytest.mark.asyncio
async def test_run_can_start_again_in_the_same_task_after_it_failed(fake: FakeAmi) -> None:
    """The monitor's supervisor restarts a crashed run() from the task it ran in; before,
    run() kept that (still running) task as its own and refused: 'already running'."""

    class FailsOnce(random.Random):
        failed = False

        def uniform(self, a: float, b: float) -> float:
            if not FailsOnce.failed:
                FailsOnce.failed = True
                raise RuntimeError("a bug between two connections")
            return 0.001

    await fake.stop()  # nothing listens: run() goes straight to its backoff
    client = AmiClient(config(fake.port), SECRET, lambda event: None, rng=FailsOnce())
    with pytest.raises(RuntimeError, match="a bug between two connections"):
        await client.run()
    again = asyncio.create_task(asyncio.wait_for(client.run(), 0.2))
    with pytest.raises(TimeoutError):  # it runs (reconnecting) until the timeout cancels it
        await again

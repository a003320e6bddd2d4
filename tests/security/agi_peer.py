"""A fake Asterisk for the security tests and bench/kill_loss.py: it speaks FastAGI to a
real ``callshield serve`` (the environment, then one reply per command) and reports the
decision it received, as res_agi would act on it."""

from __future__ import annotations

import asyncio
import base64
import itertools
import time
from dataclasses import dataclass, field

from callshield.agi.signal_reader import FIELDS, SEPARATOR
from tests.support import asterisk_parse

HOST = "127.0.0.1"
_serial = itertools.count(1)


def signalling_reply(caller: str) -> bytes:
    """The ``GET FULL VARIABLE`` reply for a plain call from ``caller``."""
    values = {
        "from_header": f"<sip:{caller}@carrier.example;user=phone>;tag=1",
        "pai": f"<sip:{caller}@carrier.example;user=phone>",
        "user_agent": "Carrier SBC 4.2.1",
        "sip_call_id": f"{time.time_ns()}@carrier.example",
        "via1": "SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bK1",
        "max_forwards": "69",
        "header_names": "Via,From,To,Call-ID,CSeq,Contact,Max-Forwards,User-Agent,P-Asserted-Identity",
        "presentation": "allowed_not_screened",
        "source": "203.0.113.7:5060",
        "codecs": "(ulaw|alaw)",
        "channel_state": "Ring",
    }
    fields = (base64.b64encode(values.get(name, "").encode()).decode() for name, _ in FIELDS)
    return SEPARATOR.join(fields).encode()


def environment(script: str, caller: str, ddi: str, uniqueid: str) -> bytes:
    lines = {
        "agi_network": "yes", "agi_network_script": script, "agi_request": f"agi://{HOST}/{script}",
        "agi_channel": f"PJSIP/carrier-{uniqueid}", "agi_language": "en", "agi_type": "PJSIP",
        "agi_uniqueid": uniqueid, "agi_version": "22.0.0", "agi_callerid": caller, "agi_calleridname": "unknown",
        "agi_callingpres": "0", "agi_dnid": ddi, "agi_rdnis": "unknown", "agi_context": "callshield-screen",
        "agi_extension": "s", "agi_priority": "9", "agi_enhanced": "0.0", "agi_accountcode": "", "agi_arg_1": ddi,
    }
    return ("".join(f"{k}: {v}\n" for k, v in lines.items()) + "\n").encode()


def mset_pairs(line: str) -> dict[str, str]:
    """``EXEC MSet "A=1,B=2\\\\,3"`` -> {"A": "1", "B": "2,3"}, as Asterisk parses it."""
    return dict(asterisk_parse.mset_line(line))


@dataclass
class Call:
    """What the Asterisk side saw of one AGI session."""

    variables: dict[str, str] = field(default_factory=dict)
    closed: bool = False  # the server closed the connection

    @property
    def call_id(self) -> str | None:
        """The call id of a decision Asterisk would act on (ROUTE_ACTION received)."""
        return self.variables.get("CALLSHIELD_CALL_ID") if "ROUTE_ACTION" in self.variables else None


async def agi_call(port: int, script: str = "screen", *, caller: str = "+447911123456", ddi: str = "+442071234567",
                   timeout: float = 10.0) -> Call:
    """One AGI session as Asterisk runs it; ConnectionRefusedError when nothing listens."""
    n = next(_serial)
    reader, writer = await asyncio.open_connection(HOST, port)
    call = Call()
    try:
        writer.write(environment(script, caller, ddi, f"{int(time.time())}.{n}"))
        async with asyncio.timeout(timeout):
            while True:
                raw = await reader.readline()
                if not raw:
                    call.closed = True
                    break
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if line.startswith("GET FULL VARIABLE"):
                    writer.write(b"200 result=1 (" + signalling_reply(caller) + b")\n")
                elif line.startswith("EXEC MSet"):
                    call.variables.update(mset_pairs(line))
                    writer.write(b"200 result=0\n")
                elif line.startswith("SET VARIABLE"):
                    _, _, name, value = line.split(" ", 3)
                    call.variables[name] = value.strip('"')
                    writer.write(b"200 result=1\n")
                else:
                    writer.write(b"510 Invalid or unknown command\n")
    except (ConnectionError, OSError):
        call.closed = True
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass
    return call


async def drive(port: int, stop: asyncio.Event, concurrency: int = 16, limit: int = 100_000,
                out: list[Call] | None = None) -> list[Call]:
    """Calls back to back from ``concurrency`` lines until ``stop`` is set, the server
    stops listening, or ``limit`` calls were made; every call made is returned (and
    appended to ``out`` as it ends, for a caller that watches the progress)."""
    calls: list[Call] = [] if out is None else out

    async def line(i: int) -> None:
        while not stop.is_set() and len(calls) < limit:
            try:
                calls.append(await agi_call(port, caller=f"+447911{i:02d}{len(calls) % 10000:04d}"))
            except (ConnectionError, OSError, TimeoutError):
                return

    await asyncio.gather(*(line(i) for i in range(concurrency)))
    return calls

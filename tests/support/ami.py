"""A minimal Asterisk Manager Interface client for the integration tests.

Just enough to log in, send actions with ActionIDs and read their responses; events
are kept in a list for assertions. The product's own AMI monitor is separate.
"""

from __future__ import annotations

import asyncio
import itertools


class AmiClient:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.events: list[dict[str, str]] = []
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[dict[str, str]]] = {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._event_seen = asyncio.Event()

    async def connect(self, username: str, secret: str, timeout: float = 5.0) -> None:
        self._reader, self._writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), timeout)
        await asyncio.wait_for(self._reader.readline(), timeout)  # "Asterisk Call Manager/x.y"
        self._task = asyncio.create_task(self._read_loop())
        reply = await self.action("Login", Username=username, Secret=secret)
        if reply.get("Response") != "Success":
            raise ConnectionError(f"AMI login failed: {reply}")

    async def action(self, name: str, timeout: float = 10.0, **fields: str) -> dict[str, str]:
        assert self._writer is not None
        action_id = f"t{next(self._ids)}"
        lines = [f"Action: {name}", f"ActionID: {action_id}", *(f"{k}: {v}" for k, v in fields.items())]
        fut: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = fut
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self._writer.drain()
        return await asyncio.wait_for(fut, timeout)

    async def wait_event(self, match, timeout: float) -> dict[str, str]:
        """The first event (already received or arriving) for which ``match`` is true."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for event in self.events:
                if match(event):
                    return event
            if asyncio.get_running_loop().time() >= deadline:
                raise TimeoutError(f"no matching AMI event within {timeout}s (saw {len(self.events)} events)")
            self._event_seen.clear()
            try:
                await asyncio.wait_for(self._event_seen.wait(), max(0.0, deadline - asyncio.get_running_loop().time()))
            except (TimeoutError, asyncio.TimeoutError):
                pass

    async def setvar(self, name: str, value: str, channel: str | None = None) -> None:
        fields = {"Variable": name, "Value": value}
        if channel:
            fields["Channel"] = channel
        reply = await self.action("Setvar", **fields)
        if reply.get("Response") != "Success":
            raise RuntimeError(f"Setvar {name} failed: {reply}")

    async def command(self, command: str) -> str:
        reply = await self.action("Command", Command=command)
        return reply.get("Output", "")

    async def _read_loop(self) -> None:
        assert self._reader is not None
        message: dict[str, str] = {}
        outputs: list[str] = []
        while True:
            raw = await self._reader.readline()
            if not raw:
                for fut in self._pending.values():
                    if not fut.done():
                        fut.set_exception(ConnectionError("AMI connection closed"))
                return
            line = raw.decode(errors="replace").rstrip("\r\n")
            if line:
                key, _, value = line.partition(": ")
                if key == "Output":
                    outputs.append(value)
                else:
                    message[key] = value
                continue
            if outputs:
                message["Output"] = "\n".join(outputs)
            fut = self._pending.pop(message.get("ActionID", ""), None)
            if fut is not None and not fut.done() and "Response" in message:
                fut.set_result(message)
            elif "Event" in message:
                self.events.append(message)
                self._event_seen.set()
            message, outputs = {}, []

    async def close(self) -> None:
        if self._writer is not None:
            try:
                await self.action("Logoff", timeout=2)
            except (ConnectionError, TimeoutError, asyncio.TimeoutError):
                pass
            self._writer.close()
        if self._task is not None:
            self._task.cancel()

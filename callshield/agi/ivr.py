"""Prompts and keyed digits over AGI, for the access-code scripts.

Each call is one AGI command (never pipelined). Digits are collected with GET DATA:
a prompt that the first key interrupts, ``#`` ends the entry, and the entry times out
after ``digit_timeout`` seconds without a key. GET DATA has one timeout for the first key
and between keys, so an entry not ended with ``#`` is taken only ``digit_timeout`` after
its last key (unless it reached ``max_digits``): the prompts ask for the ``#``. (Two
GET DATAs, a long wait for the first key and a short one after, would lose a key pressed
between them: res_agi reads and drops a channel's frames while no command runs.)
"""

from __future__ import annotations

import logging

from callshield.agi.encode import quote
from callshield.agi.protocol import AgiSession
from callshield.errors import AgiHangup

log = logging.getLogger("callshield.agi.ivr")
# A prompt can play for a while before the caller keys anything.
PROMPT_SECONDS = 30.0


class Ivr:
    def __init__(self, session: AgiSession, digit_timeout: float):
        self.session = session
        self.digit_timeout = digit_timeout

    async def answer(self) -> None:
        reply = await self.session.command("ANSWER")
        if reply.result == "-1":
            raise AgiHangup("the channel could not be answered")

    async def play(self, sounds: str) -> None:
        """Play each of the &-joined sounds; a missing sound is logged, not fatal."""
        for sound in filter(None, sounds.split("&")):
            reply = await self.session.command(f"STREAM FILE {quote(sound)} \"\"", timeout=PROMPT_SECONDS)
            if reply.result == "-1":
                if self.session.hung_up:
                    raise AgiHangup("the caller hung up during a prompt")
                log.warning("%s: cannot play sound %r (is it installed?)", self.session.context, sound)

    async def digits(self, prompt: str, max_digits: int) -> str:
        """Play ``prompt`` (its first sound if several) and collect up to ``max_digits``
        keys; ``#`` ends early. Returns what was keyed ('' when nothing was)."""
        first, _, rest = prompt.partition("&")
        if rest:
            await self.play(first)
            first = rest
        ms = int(self.digit_timeout * 1000)
        reply = await self.session.command(
            f"GET DATA {quote(first)} {ms} {max_digits}", timeout=PROMPT_SECONDS + self.digit_timeout * (max_digits + 1),
        )
        if reply.result == "-1":
            raise AgiHangup("the caller hung up while keying digits")
        return "".join(ch for ch in reply.result if ch in "0123456789*")

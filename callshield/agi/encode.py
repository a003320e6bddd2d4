"""The one escaping rule for what callshield sends Asterisk: AGI command arguments and MSet.

Every value reaches Asterisk through two parsers, one after the other (Asterisk 22 source):

1. ``res_agi.c`` ``run_agi()`` reads a command line with ``fgets`` into ``char
   buf[AGI_BUF_LEN]``: a longer line is cut there and its tail is read as the *next
   command*; a NUL ends the C string. (The source found has ``AGI_BUF_LEN 2048``; the
   sandbox's Asterisk 22 reads 8,191 bytes and cuts the 8,192nd: measured in
   tests/integration/test_agi_encode_asterisk.py.) ``parse_args()`` splits the line into words at
   spaces and tabs outside double quotes; a ``"`` toggles quoting and is dropped; a
   backslash makes the next character literal and is dropped. ``EXEC`` hands its third
   word to the application as it is: no ``${...}`` substitution unless the channel sets
   ``AGIEXECFULL=yes`` (the include never does).
2. ``MSet`` is ``pbx_builtin_setvar_multiple()`` (``main/pbx_variables.c``):
   ``AST_STANDARD_APP_ARGS`` = ``__ast_app_separate_args(data, ',', remove_chars=1, 99
   slots)`` (``main/app.c``) splits at commas outside ``( )``, ``[ ]`` and ``" "``; it
   drops ``"`` and backslashes, and the character after a backslash is literal (never a
   separator, bracket or quote). Each pair is then split at its first ``=`` (two slots:
   the value is the rest, untouched). The 99th slot gets the unparsed rest of the line.

So one ``EXEC MSet`` carries any value, commas included: the value is backslash-escaped
for MSet (``\\ , " ( ) [ ]``), the whole argument quoted for AGI (``\\`` and ``"``).
What cannot be carried is replaced with U+FFFD: NUL, CR and LF (they would end the
string or the line) and lone surrogates (not UTF-8). tests/unit/test_agi_encode.py checks,
against a model of both parsers written from that source (tests/support/asterisk_parse.py),
that no value can end another or add a variable; tests/integration/test_agi_encode_asterisk.py
checks the real Asterisk.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

from callshield.errors import AgiProtocolError

# Asterisk 22's res_agi reads at most 8,191 bytes of a line, its newline included.
MAX_COMMAND_BYTES = 8190
# __ast_app_separate_args fills 98 slots; the 99th is the rest of the line, unparsed.
MAX_MSET_VARIABLES = 98
REPLACEMENT = "\ufffd"

# str.translate tables (one C pass per value: this runs on every screened call).
_CLEAN = {c: REPLACEMENT for c in (0x00, 0x0A, 0x0D, *range(0xD800, 0xE000))}
_AGI = {**_CLEAN, ord("\\"): "\\\\", ord('"'): '\\"'}
# MSet escapes \ , " ( ) [ ] with a backslash, then AGI quoting escapes each backslash and
# quote once more. On the wire:  ,  ->  \\,    \  ->  \\\\    "  ->  \\\"
_MSET_IN_AGI = {**_CLEAN, **{ord(c): "\\\\" + c for c in ",()[]"}, ord("\\"): "\\" * 4, ord('"'): '\\\\\\"'}
_NEEDS_ESCAPE = re.compile(r'[\\,"()\[\]\x00\n\r\ud800-\udfff]')  # most values need nothing: skip translate
_NEEDS_QUOTE = re.compile(r'[\\"\x00\n\r\ud800-\udfff]')
_NAMES: set[str] = set()  # names already checked (they come from dialplan_vars, not from calls)


def clean(value: str) -> str:
    """``value`` with what no AGI line can carry (NUL, CR, LF, lone surrogates) replaced."""
    return value.translate(_CLEAN)


def quote(value: str) -> str:
    """One AGI command argument: quoted, so spaces stay inside it; ``\\`` and ``"`` escaped."""
    return '"' + (value.translate(_AGI) if _NEEDS_QUOTE.search(value) else value) + '"'


def _check_names(names: Iterable[str]) -> None:
    for name in names:
        if name not in _NAMES:
            if not (name.isascii() and name.isidentifier()):
                raise ValueError(f"not a channel variable name: {name!r}")
            _NAMES.add(name)


def mset(variables: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """The ``EXEC MSet`` command line setting ``variables`` in their order (the last last).

    Each value is backslash-escaped for MSet's parser, then the whole argument quoted for
    AGI's, in one pass. Example: ``mset({"A": "x,y"})`` -> ``EXEC MSet "A=x\\\\,y"``.
    """
    pairs = list(variables.items() if isinstance(variables, Mapping) else variables)
    if not 0 < len(pairs) <= MAX_MSET_VARIABLES:
        raise ValueError(f"MSet sets 1 to {MAX_MSET_VARIABLES} variables, not {len(pairs)}")
    _check_names([name for name, _ in pairs if name not in _NAMES])
    needs = _NEEDS_ESCAPE.search
    return 'EXEC MSet "' + ",".join([f"{name}={value.translate(_MSET_IN_AGI) if needs(value) else value}"
                                     for name, value in pairs]) + '"'


def set_variable(name: str, value: str) -> str:
    """The ``SET VARIABLE`` command line: the value is taken literally, commas and all."""
    _check_names([name])
    return f"SET VARIABLE {name} {quote(value)}"


def command(line: str) -> bytes:
    """``line`` as the bytes res_agi reads as one command, else AgiProtocolError (the handler fails open)."""
    if "\n" in line or "\r" in line:
        raise AgiProtocolError("an AGI command must be one line")
    try:
        data = line.encode("utf-8")
    except UnicodeEncodeError:
        raise AgiProtocolError("an AGI command cannot carry a lone surrogate") from None
    if b"\0" in data:
        raise AgiProtocolError("an AGI command cannot carry a NUL")
    if len(data) > MAX_COMMAND_BYTES:
        raise AgiProtocolError(f"an AGI command of {len(data)} bytes is longer than Asterisk reads as one ({MAX_COMMAND_BYTES})")
    return data + b"\n"

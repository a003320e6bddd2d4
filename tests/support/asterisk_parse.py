"""A model of how Asterisk 22 parses an AGI command line and MSet's argument.

Written from the Asterisk source, not from callshield/agi/encode.py, so that the property
test (tests/unit/test_agi_encode.py) checks the encoder against Asterisk, not against itself:

- ``res/res_agi.c``: the line is read with ``fgets`` into ``char buf[AGI_BUF_LEN]``:
  at most AGI_BUF_LEN - 1 bytes, the rest is the next command (2048 in the source found,
  8192 in the sandbox's Asterisk 22, measured by tests/integration/test_agi_encode_asterisk.py); the command is a C string
  (a NUL ends it); ``parse_args()`` splits it into words; ``handle_exec()`` passes
  ``argv[2]`` to the application unchanged (no substitution without ``AGIEXECFULL``).
- ``main/app.c`` ``__ast_app_separate_args(buf, delim, remove_chars, array, arraylen)``.
- ``main/pbx_variables.c`` ``pbx_builtin_setvar_multiple()`` (MSet): ``AST_STANDARD_APP_ARGS``
  (``','``, remove_chars=1, 99 slots), then ``AST_NONSTANDARD_APP_ARGS(pair, .., '=')``
  (two slots) per entry; entries without ``=`` are ignored with a warning.

Bytes and characters: every character these parsers look at is ASCII, and no byte of a
multi-byte UTF-8 sequence is ASCII, so modelling on ``str`` is the same as on bytes.
"""

from __future__ import annotations

AGI_BUF_LEN = 8192  # Asterisk 22 (measured); older source: 2048
MAX_ARGS = 128  # res_agi.c


class Undefined(Exception):
    """Input on which the C code reads past its string (a trailing lone backslash)."""


def agi_read_line(data: bytes) -> tuple[str, bytes]:
    """res_agi's read of one command: (the command as a C string, what is left for the next read)."""
    limit = AGI_BUF_LEN - 1
    end = data.find(b"\n")
    if end == -1 or end + 1 > limit:
        line, rest = data[:limit], data[limit:]
    else:
        line, rest = data[:end + 1], data[end + 1:]
    line = line.split(b"\0", 1)[0]
    return line.rstrip(b"\n").decode("utf-8", "replace"), rest


def agi_words(line: str) -> list[str]:
    """``parse_args()`` of res_agi.c, character for character."""
    argv: list[list[str]] = []
    quoted = escaped = False
    whitespace = True

    def normal(ch: str) -> None:
        nonlocal whitespace, escaped
        if whitespace:
            if len(argv) >= MAX_ARGS - 1:
                return  # "Too many arguments, truncating"
            argv.append([])
            whitespace = False
        argv[-1].append(ch)
        escaped = False

    for ch in line:
        if ch == '"':
            if escaped:
                normal(ch)
                continue
            quoted = not quoted
            if quoted and whitespace:
                argv.append([])
                whitespace = False
            escaped = False
        elif ch in " \t":
            if not quoted and not escaped:
                whitespace = True
            else:
                normal(ch)
        elif ch == "\\":
            if escaped:
                normal(ch)
            else:
                escaped = True
        else:
            normal(ch)
    return ["".join(word) for word in argv]


def separate_args(buf: str, delim: str, arraylen: int, remove_chars: bool = True) -> list[str]:
    """``__ast_app_separate_args()`` of main/app.c.

    Paren, bracket and quote depth are kept across arguments, as in C. The last slot
    (``arraylen - 1``) gets the rest of the string, not parsed at all.
    """
    if not buf or arraylen <= 0:
        return []
    s = list(buf)
    out: list[str] = []
    paren = bracket = 0
    quote = False
    i = 0
    wasdelim = -1
    while i < len(s) and len(out) < arraylen - 1:
        arg: list[str] = []
        while i < len(s):
            ch = s[i]
            if ch == "(":
                paren += 1
            elif ch == ")":
                paren = max(0, paren - 1)
            elif ch == "[":
                bracket += 1
            elif ch == "]":
                bracket = max(0, bracket - 1)
            elif ch == '"' and delim != '"':
                quote = not quote
                if remove_chars:
                    i += 1
                    continue
            elif ch == "\\":
                if i + 1 >= len(s):
                    raise Undefined("a trailing backslash: the C loop steps over the string's NUL")
                if remove_chars:
                    arg.append(s[i + 1])  # the backslash removed, the next character taken as it is
                else:
                    arg.extend(s[i:i + 2])
                i += 2
                continue
            elif ch == delim and not paren and not quote and not bracket:
                wasdelim = i
                i += 1
                break
            arg.append(ch)
            i += 1
        out.append("".join(arg))
    if i < len(s):
        out.append("".join(s[i:]))
    elif wasdelim == len(s) - 1 and len(out) < arraylen:
        out.append("")
    return out


def mset(data: str) -> list[tuple[str, str]]:
    """``pbx_builtin_setvar_multiple()``: the (name, value) pairs MSet sets, in order."""
    pairs: list[tuple[str, str]] = []
    for entry in separate_args(data, ",", 99):
        pair = separate_args(entry, "=", 2)
        if len(pair) == 2:
            pairs.append((pair[0], pair[1]))
    return pairs


def mset_line(line: str) -> list[tuple[str, str]]:
    """What one ``EXEC MSet ...`` command line sets on the channel."""
    words = agi_words(line)
    if len(words) < 2 or words[0].upper() != "EXEC" or words[1].lower() != "mset":
        raise ValueError(f"not an EXEC MSet line: {line[:80]!r}")
    return mset(words[2]) if len(words) >= 3 else []

"""One rule for text a person reads in a terminal, and for free text they may store.

``printable`` is applied to every stored value the CLI prints (reasons, labels, names,
notes, audit entries, monitor reasons): each control character (newline, tab, ESC, ...),
line or paragraph separator (U+2028, U+2029), bidi override or other invisible
formatting character, and each surrogate, private-use or unassigned code point is shown
as a Python escape (``\\n``, ``\\t``, ``\\x1b``, ``\\u2028``), so a value cannot forge a
line or a column of ``lists show`` or ``audit``, nor send escape sequences to the
terminal. JSON stays valid: ``json.dumps`` output has no such character left to escape.

``text_problem`` refuses exactly those characters in free text to be stored
(``--reason``, ``--label``, ``--name``, ``--description``, ``--note``, a CSV label):
what may be stored prints as it is (accents, a non-breaking space), what is refused is
what the output escapes.
"""

from __future__ import annotations

import unicodedata
from typing import Any

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Control, format (bidi overrides, zero-width), surrogate, private-use, unassigned,
# line separator, paragraph separator.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _escape(c: str) -> str:
    if c in _NAMED:
        return _NAMED[c]
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def _unsafe(c: str) -> bool:
    return unicodedata.category(c) in _REFUSED_CATEGORIES


def printable(value: Any) -> str:
    """``value`` as text safe to print on one line: every unsafe character escaped."""
    text = "" if value is None else str(value)
    if text.isprintable():  # the usual case, at C speed (it also rejects Zs spaces, kept below)
        return text
    return "".join(_escape(c) if _unsafe(c) else c for c in text)


def text_problem(value: str | None) -> str | None:
    """Why ``value`` may not be stored as free text (it holds a control or invisible
    formatting character), or None."""
    for i, c in enumerate(value or "", 1):
        if _unsafe(c):
            name = unicodedata.name(c, "")
            return (f"character {i} is {_escape(c)}{f' ({name})' if name else ''}:"
                    " plain text on one line only (no control, line-break or invisible formatting characters)")
    return None

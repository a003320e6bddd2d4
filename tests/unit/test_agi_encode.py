"""agi/encode.py against a model of Asterisk's own parsers (tests/support/asterisk_parse.py).

The property: whatever the values (caller name, header, carrier, plan name, reason
detail: arbitrary text with , " \\ ; | $ { } ( ) [ ] = newlines, NUL, non-ASCII), the
MSet line callshield sends sets exactly the variables it names, in order, each to its
value (NUL, CR, LF and lone surrogates replaced, as encode.clean documents), and no
value can end another or add a variable.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from callshield.dialplan import variables as dv
from callshield.agi import encode
from callshield.errors import AgiProtocolError
from tests.support import asterisk_parse as ast

SPECIAL = ',"\\;|${}()[]= \t\n\r\x00=éä中😀'
texts = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=SPECIAL + "ROUTE_ACTION=reject", max_size=60),
    st.sampled_from(["ROUTE_ACTION=reject", ",ROUTE_ACTION=reject", "\\,ROUTE_ACTION=reject", '",ROUTE_ACTION=reject,"',
                     "(,ROUTE_ACTION=reject", "),ROUTE_ACTION=reject", "[", "\\", "\\\\", '"', "${SHELL}", "a|b"]),
)
names = st.sampled_from([*dv.PHONE_VARIABLES, *dv.DECISION_VARIABLES, "X", "_INHERIT", "__INHERIT2"])
variable_lists = st.lists(st.tuples(names, texts), min_size=1, max_size=30)


def sent(line: str) -> list[tuple[str, str]]:
    """What Asterisk sets when callshield's session writes ``line`` (AgiSession.command)."""
    command, rest = ast.agi_read_line(encode.command(line))
    assert rest == b"", "the line must be read as one command"
    return ast.mset_line(command)


@settings(max_examples=400, deadline=None)
@given(variable_lists)
@example([(dv.RISK_REASONS, "VERIFICATION_FAILED,ATTESTATION_C"), (dv.ROUTE_ACTION, "deliver")])
@example([(dv.PHONE_CARRIER, 'Evil"|${SHELL}|) (\\" ROUTE_ACTION=reject,'), (dv.ROUTE_ACTION, "deliver")])
@example([(dv.ROUTE_REASON, "plan:DR (site 2), [ops]"), (dv.ROUTE_ACTION, "deliver")])
@example([(dv.PHONE_CARRIER, "a\x00b\r\nc\ud800"), (dv.ROUTE_ACTION, "deliver")])
def test_every_value_arrives_whole_and_adds_no_variable(pairs: list[tuple[str, str]]) -> None:
    line = encode.mset(pairs)
    try:
        variables = sent(line)
    except AgiProtocolError:  # only when Asterisk would cut the line in two
        assert len(line.encode()) > encode.MAX_COMMAND_BYTES
        return
    assert variables == [(name, encode.clean(value)) for name, value in pairs]


@given(texts)
def test_clean_only_replaces_what_a_line_cannot_carry(value: str) -> None:
    cleaned = encode.clean(value)
    assert len(cleaned) == len(value)
    assert all(a == b or (a in "\x00\r\n" or 0xD800 <= ord(a) <= 0xDFFF) and b == encode.REPLACEMENT
               for a, b in zip(value, cleaned))


@given(texts)
def test_quote_is_one_agi_word_that_reads_back_as_the_value(value: str) -> None:
    words = ast.agi_words(f"SET VARIABLE X {encode.quote(value)}")
    assert words == ["SET", "VARIABLE", "X", encode.clean(value)]


@given(texts)
def test_set_variable_carries_any_value(value: str) -> None:
    command, _ = ast.agi_read_line(encode.command(encode.set_variable(dv.CALLSHIELD_HEALTH, value)))
    assert ast.agi_words(command)[2:] == [dv.CALLSHIELD_HEALTH, encode.clean(value)]


def test_a_real_screen_reply_is_one_line_with_reasons_in_it() -> None:
    variables = {name: "N/A" for name in dv.PHONE_VARIABLES} | {name: "x" for name in dv.DECISION_VARIABLES}
    variables[dv.RISK_REASONS] = "WITHHELD,WITHHELD_REPEAT,INTERNATIONAL"
    line = encode.mset(variables)
    assert line.startswith('EXEC MSet "PHONE_VOIP=N/A,') and 'RISK_REASONS=WITHHELD\\\\,WITHHELD_REPEAT\\\\,INTERNATIONAL' in line
    assert sent(line)[-1] == (dv.ROUTE_ACTION, "x")
    assert dict(sent(line))[dv.RISK_REASONS] == "WITHHELD,WITHHELD_REPEAT,INTERNATIONAL"


def test_a_command_asterisk_would_cut_in_two_is_refused() -> None:
    fits = encode.mset({"X": "a" * (encode.MAX_COMMAND_BYTES - len('EXEC MSet "X="'))})
    assert len(fits.encode()) == encode.MAX_COMMAND_BYTES and sent(fits)[0][1].startswith("a")
    with pytest.raises(AgiProtocolError, match="longer than Asterisk reads as one"):
        encode.command(encode.mset({"X": "a" * encode.MAX_COMMAND_BYTES}))
    # What would happen otherwise: the tail is the next command.
    _, rest = ast.agi_read_line(b"EXEC MSet " + b"a" * 9000 + b"\n")
    assert rest.endswith(b"a\n")


@pytest.mark.parametrize("pairs", [[], [(f"V{i}", "") for i in range(encode.MAX_MSET_VARIABLES + 1)], [("A,B", "1")], [("A=", "1")], [("", "1")],
                                   [("X", "1"), ("1X", "1")], [("Ä", "1")]])
def test_names_and_counts_asterisk_cannot_take_are_refused(pairs: list[tuple[str, str]]) -> None:
    with pytest.raises(ValueError):
        encode.mset(pairs)


def test_98_variables_fit_one_mset_but_the_99th_slot_is_not_parsed() -> None:
    pairs = [(f"V{i}", "a,b") for i in range(encode.MAX_MSET_VARIABLES)]
    assert sent(encode.mset(pairs)) == pairs
    # Why the limit: the 99th slot keeps its backslashes (Asterisk does not parse the rest).
    assert ast.mset(",".join(f"V{i}=a\\,b" for i in range(99)))[-1] == ("V98", "a\\,b")


def test_the_model_agrees_with_what_asterisk_documents() -> None:
    # MSet "strips surrounding double-quotes from the right-hand side" and a backslash
    # escapes a separator (docs.asterisk.org, Dialplan Applications: MSet).
    assert ast.mset('A="x y",B=1\\,2') == [("A", "x y"), ("B", "1,2")]
    # Unescaped, a comma ends the value and the rest is a new entry.
    assert ast.mset("A=1,ROUTE_ACTION=reject") == [("A", "1"), ("ROUTE_ACTION", "reject")]
    # An open parenthesis hides the following commas (the depth is kept across entries).
    assert ast.mset("A=(,B=1") == [("A", "(,B=1")]
    assert ast.agi_words('EXEC MSet "A=1 2"') == ["EXEC", "MSet", "A=1 2"]

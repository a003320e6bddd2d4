"""CSV import and export of numbers and dial plans: the whole file validated first,
every bad line named, nothing changed unless everything is right, one transaction."""

from __future__ import annotations

import io
import sqlite3
from typing import Any, Callable

import pytest
import sqlite_utils
from hypothesis import given, settings
from hypothesis import strategies as st

from callshield.manage import routing_csv as csvio
from callshield.dialplan.state import PlanRoute
from callshield.errors import ImportRejected
from callshield.read.numbers import NumberIntel
from callshield.store import open_store
from callshield.store.routing import RoutingStore, load_state, routes_version

DDI = "+442071234567"
SECOND = "+442079460000"
THIRD = "+442079460123"
CONFIG_DDI = "+442079460999"  # known through the configuration's routing.numbers only
NUMBERS_HEADER = "number,route,fallback,announcement,label"
PLANS_HEADER = "plan,number,destination,announcement"
ACTOR = "cli:tester"


def csv_bytes(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def store(db: sqlite_utils.Database, intel: NumberIntel) -> RoutingStore:
    return RoutingStore(db, intel, [CONFIG_DDI])


@pytest.fixture
def numbered(store: RoutingStore) -> RoutingStore:
    """DDI and SECOND in the numbers table."""
    store.set_number(DDI, "PJSIP/agents", label="Sales UK")
    store.set_number(SECOND, "PJSIP/support", "PJSIP/overflow", "welcome")
    return store


@pytest.fixture
def planned(numbered: RoutingStore) -> RoutingStore:
    """The plan 'Flood' routing DDI and SECOND; the plan 'Snow' routing DDI."""
    numbered.create_plan("Flood")
    numbered.set_plan_route("Flood", DDI, "PJSIP/leeds")
    numbered.set_plan_route("Flood", SECOND, "PJSIP/leeds", "closed")
    numbered.create_plan("Snow")
    numbered.set_plan_route("Snow", DDI, "PJSIP/home")
    return numbered


def snapshot(store: RoutingStore) -> tuple[Any, ...]:
    """Everything an import may change, for 'nothing changed' assertions."""
    db = store.db
    return (list(db.query("SELECT * FROM numbers ORDER BY number")),
            list(db.query("SELECT * FROM plans ORDER BY name")),
            list(db.query("SELECT * FROM plan_routes ORDER BY plan, number")),
            list(db.query("SELECT * FROM audit ORDER BY id")),
            routes_version(db))


def rejected(call: Callable[[], Any]) -> list[str]:
    with pytest.raises(ImportRejected) as info:
        call()
    return info.value.problems


def export(write: Callable[[RoutingStore, io.StringIO], int], store: RoutingStore) -> str:
    out = io.StringIO()
    write(store, out)
    return out.getvalue()


# -- numbers ---------------------------------------------------------------------------

def test_a_good_numbers_file_is_applied(store: RoutingStore) -> None:
    data = csv_bytes(NUMBERS_HEADER, "020 7123 4567,PJSIP/agents,PJSIP/overflow,welcome,Sales UK",
                     f"{SECOND},PJSIP/support,,,")

    change = csvio.import_numbers(store, data, "numbers.csv", actor=ACTOR)

    assert (change.counts.added, change.counts.changed, change.counts.unchanged, change.counts.removed) == (2, 0, 0, 0)
    assert store.numbers() == [
        {"number": DDI, "route": "PJSIP/agents", "fallback": "PJSIP/overflow", "announcement": "welcome", "label": "Sales UK"},
        {"number": SECOND, "route": "PJSIP/support", "fallback": "", "announcement": "", "label": ""},
    ]


def test_numbers_columns_may_come_in_any_order(store: RoutingStore) -> None:
    csvio.import_numbers(store, csv_bytes("label,route,number,announcement,fallback", f"Sales,PJSIP/agents,{DDI},,"), "n.csv")

    assert store.numbers()[0]["label"] == "Sales"


def test_a_utf8_byte_order_mark_is_accepted(store: RoutingStore) -> None:
    csvio.import_numbers(store, b"\xef\xbb\xbf" + csv_bytes(NUMBERS_HEADER, f"{DDI},PJSIP/agents,,,Caf\u00e9"), "n.csv")

    assert store.numbers()[0]["label"] == "Caf\u00e9"


def test_numbers_import_counts_added_changed_and_unchanged(numbered: RoutingStore) -> None:
    data = csv_bytes(NUMBERS_HEADER, f"{DDI},PJSIP/agents,,,Sales UK", f"{SECOND},PJSIP/new,,,", f"{THIRD},PJSIP/x,,,")

    counts = csvio.import_numbers(numbered, data, "n.csv").counts

    assert (counts.added, counts.changed, counts.unchanged, counts.removed) == (1, 1, 1, 0)


def test_numbers_missing_from_the_file_are_kept(numbered: RoutingStore) -> None:
    csvio.import_numbers(numbered, csv_bytes(NUMBERS_HEADER, f"{THIRD},PJSIP/x,,,"), "n.csv")

    assert [r["number"] for r in numbered.numbers()] == [DDI, SECOND, THIRD]


def test_replace_removes_the_numbers_missing_from_the_file(numbered: RoutingStore) -> None:
    change = csvio.import_numbers(numbered, csv_bytes(NUMBERS_HEADER, f"{THIRD},PJSIP/x,,,"), "n.csv", replace=True)

    assert (change.remove, change.counts.removed) == ([DDI, SECOND], 2)
    assert [r["number"] for r in numbered.numbers()] == [THIRD]


def test_replace_is_refused_when_a_plan_routes_a_number_it_would_remove(planned: RoutingStore) -> None:
    before = snapshot(planned)

    problems = rejected(lambda: csvio.import_numbers(planned, csv_bytes(NUMBERS_HEADER, f"{SECOND},PJSIP/x,,,"), "n.csv", replace=True))

    assert problems == [f"{DDI} is not in the file but dial plan(s) Flood, Snow route it; --replace would remove it"
                        " (remove it from the plans first, or keep it in the file)"]
    assert snapshot(planned) == before


def test_replace_removes_more_numbers_than_sqlite_binds_in_one_statement(numbered: RoutingStore) -> None:
    """The routed-number check must not build an IN (?, ...) list of every number removed."""
    numbered.db.conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 1)

    change = csvio.import_numbers(numbered, csv_bytes(NUMBERS_HEADER, f"{THIRD},PJSIP/x,,,"), "n.csv", replace=True)

    assert change.remove == [DDI, SECOND]
    assert [r["number"] for r in numbered.numbers()] == [THIRD]


def test_a_file_with_one_bad_row_changes_nothing_and_names_the_line(numbered: RoutingStore) -> None:
    before = snapshot(numbered)
    data = csv_bytes(NUMBERS_HEADER, f"{THIRD},PJSIP/x,,,", f"{DDI},PJSIP/agents 2,,,", f"{SECOND},PJSIP/y,,,")

    problems = rejected(lambda: csvio.import_numbers(numbered, data, "n.csv"))

    assert problems == ["line 3: route: 'PJSIP/agents 2' is not a Dial() device string (TECH/resource, e.g. PJSIP/agents"
                        " or PJSIP/+447700900123@trunk; no commas or spaces)"]
    assert snapshot(numbered) == before


def test_every_bad_row_is_reported_in_line_order(store: RoutingStore) -> None:
    data = csv_bytes(NUMBERS_HEADER, "sales,PJSIP/a,,,", f"{DDI},,,,", f"{SECOND},PJSIP/a,PJSIP/b c,,", "1,2")

    problems = rejected(lambda: csvio.import_numbers(store, data, "n.csv"))

    assert [p.split(":")[0] for p in problems] == ["line 2", "line 3", "line 4", "line 5"]


def test_the_error_message_names_the_file_and_every_problem(store: RoutingStore) -> None:
    with pytest.raises(ImportRejected) as info:
        csvio.import_numbers(store, csv_bytes(NUMBERS_HEADER, "sales,PJSIP/a,,,", f"{DDI},,,,"), "numbers.csv")

    assert str(info.value) == ("numbers.csv: nothing imported, 2 problem(s):\n"
                               "  line 2: number: 'sales' is not a phone number (digits with an optional leading +, e.g. +442071234567)\n"
                               "  line 3: missing required field(s) route")


@pytest.mark.parametrize(("lines", "problem"), [
    (["sales,PJSIP/a,,,"], "line 2: number: 'sales' is not a phone number"),
    ([f"{DDI},agents,,,"], "line 2: route: 'agents' is not a Dial() device string"),
    ([f'{DDI},PJSIP/a,"PJSIP/b,c",,'], "line 2: fallback: 'PJSIP/b,c' is not a Dial() device string"),
    ([f"{DDI},PJSIP/a,,hello world,"], "line 2: announcement: 'hello world' is not a sound name"),
    ([f"{DDI},PJSIP/a,,,", "", f"020 7123 4567,PJSIP/b,,,"], f"line 4: {DDI} is already on line 2 (a number appears once)"),
    ([",PJSIP/a,,,"], "line 2: missing required field(s) number"),
    ([f"{DDI},,,,"], "line 2: missing required field(s) route"),
    ([f"{DDI},PJSIP/a,,"], "line 2: 4 field(s), the header has 5 (number,route,fallback,announcement,label)"),
    ([f"{DDI},PJSIP/a,,,,"], "line 2: 6 field(s), the header has 5"),
    ([f'"{DDI}"x,PJSIP/a,,,'], "line 2: not readable as CSV"),
], ids=["not a phone number", "bad route", "bad fallback", "bad sound", "duplicate", "missing number", "missing route",
        "too few fields", "too many fields", "unreadable CSV"])
def test_each_kind_of_bad_numbers_row_is_named(store: RoutingStore, lines: list[str], problem: str) -> None:
    problems = rejected(lambda: csvio.import_numbers(store, csv_bytes(NUMBERS_HEADER, *lines), "n.csv"))

    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_a_quoted_line_break_counts_as_a_physical_line(store: RoutingStore) -> None:
    problems = rejected(lambda: csvio.import_numbers(store, csv_bytes(NUMBERS_HEADER, f'{DDI},PJSIP/a,,,"Sales', 'UK"',
                                                                      f"{DDI},PJSIP/b,,,"), "n.csv"))

    assert problems == ["line 2: label: character 6 is \\n: plain text on one line only (no control, line-break or invisible"
                        " formatting characters)", f"line 4: {DDI} is already on line 2 (a number appears once)"]


@pytest.mark.parametrize(("header", "problem"), [
    ("number,fallback,announcement,label", "line 1: bad header: missing column(s) route"),
    (NUMBERS_HEADER + ",notes", "line 1: bad header: unknown column(s) 'notes'"),
    (NUMBERS_HEADER + ",label", "line 1: bad header: repeated column(s) label"),
])
def test_a_bad_header_is_refused(store: RoutingStore, header: str, problem: str) -> None:
    problems = rejected(lambda: csvio.import_numbers(store, csv_bytes(header, f"{DDI},PJSIP/a,,,"), "n.csv"))

    assert problems == [problem + " (expected the header row number,route,fallback,announcement,label, in any order;"
                                  " fallback, announcement, label may be left out)"]


def test_a_file_without_a_header_row_is_refused(store: RoutingStore) -> None:
    problems = rejected(lambda: csvio.import_numbers(store, csv_bytes(f"{DDI},PJSIP/a,,,"), "n.csv"))

    assert problems == ["line 1: no header row (the first row names the columns: number,route,fallback,announcement,label, in any order)"]


def test_a_bad_header_after_blank_lines_names_its_line(store: RoutingStore) -> None:
    problems = rejected(lambda: csvio.import_numbers(store, csv_bytes("", "", "number,fallback"), "n.csv"))

    assert problems[0].startswith("line 3: bad header")


def test_a_file_that_is_not_utf8_is_refused(store: RoutingStore) -> None:
    data = csv_bytes(NUMBERS_HEADER, f"{DDI},PJSIP/a,,,") + "Caf\u00e9".encode("latin-1")

    problems = rejected(lambda: csvio.import_numbers(store, data, "n.csv"))

    assert problems == ["line 3: not UTF-8 text (byte 0xe9 at offset 69); save the file as UTF-8 CSV"]


@pytest.mark.parametrize("data", [b"", b"\n\n", b" \r\n", b"\xef\xbb\xbf"], ids=["nothing", "blank lines", "spaces", "a BOM"])
def test_an_empty_file_is_refused(store: RoutingStore, data: bytes) -> None:
    assert rejected(lambda: csvio.import_numbers(store, data, "n.csv")) == [
        "empty file (expected a header row number,route,fallback,announcement,label and at least one row)"]


def test_a_header_without_rows_is_refused(numbered: RoutingStore) -> None:
    problems = rejected(lambda: csvio.import_numbers(numbered, csv_bytes(NUMBERS_HEADER), "n.csv", replace=True))

    assert problems == ["no rows after the header (a file with nothing to import is refused)"]
    assert len(numbered.numbers()) == 2


def test_blank_rows_are_skipped(store: RoutingStore) -> None:
    csvio.import_numbers(store, csv_bytes(NUMBERS_HEADER, "", ",,,,", f"{DDI},PJSIP/a,,,", ""), "n.csv")

    assert [r["number"] for r in store.numbers()] == [DDI]


def test_fields_are_stripped(store: RoutingStore) -> None:
    csvio.import_numbers(store, csv_bytes(NUMBERS_HEADER, f" {DDI} , PJSIP/a ,, welcome , Sales "), "n.csv")

    assert store.numbers() == [{"number": DDI, "route": "PJSIP/a", "fallback": "", "announcement": "welcome", "label": "Sales"}]


def test_a_numbers_import_writes_one_audit_entry_and_bumps_the_version_once(store: RoutingStore) -> None:
    data = csv_bytes(NUMBERS_HEADER, f"{DDI},PJSIP/a,,,", f"{SECOND},PJSIP/b,,,")

    csvio.import_numbers(store, data, "numbers.csv", actor=ACTOR)

    entries = list(store.db.query("SELECT actor, action, target, detail FROM audit"))
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [(ACTOR, "numbers.import", "numbers.csv")]
    assert '"added": 2' in entries[0]["detail"]
    assert routes_version(store.db) == 1


def test_a_numbers_dry_run_reports_and_changes_nothing(numbered: RoutingStore) -> None:
    before = snapshot(numbered)
    data = csv_bytes(NUMBERS_HEADER, f"{SECOND},PJSIP/new,,,", f"{THIRD},PJSIP/x,,,")

    change = csvio.import_numbers(numbered, data, "n.csv", replace=True, dry_run=True)

    assert (change.counts.added, change.counts.changed, change.counts.unchanged, change.counts.removed) == (1, 1, 0, 1)
    assert snapshot(numbered) == before


def test_a_numbers_import_whose_write_fails_leaves_nothing_behind(numbered: RoutingStore, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(numbered)

    def broken_audit(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(csvio, "audit", broken_audit)

    with pytest.raises(RuntimeError):
        csvio.import_numbers(numbered, csv_bytes(NUMBERS_HEADER, f"{THIRD},PJSIP/x,,,"), "n.csv", replace=True)

    assert snapshot(numbered) == before


# -- plans -----------------------------------------------------------------------------

def test_a_plans_file_creates_new_plans_idle_with_their_routes(numbered: RoutingStore) -> None:
    data = csv_bytes(PLANS_HEADER, f"Flood,{DDI},PJSIP/leeds,", f"Flood,{CONFIG_DDI},PJSIP/leeds,closed")

    change = csvio.import_plans(numbered, data, "plans.csv")

    assert [(p.name, p.new, p.counts.added) for p in change.plans] == [("Flood", True, 2)]
    assert numbered.plans()[0] == {"name": "Flood", "slot": None, "active": 0, "invoked_at": None, "invoked_by": None,
                                        "description": "", "announcement": "", "auto_for": None, "routes": 2}
    assert numbered.plan_routes("Flood") == [{"number": DDI, "destination": "PJSIP/leeds", "announcement": ""},
                                             {"number": CONFIG_DDI, "destination": "PJSIP/leeds", "announcement": "closed"}]


def test_a_plans_file_replaces_the_routes_of_each_plan_it_names(planned: RoutingStore) -> None:
    change = csvio.import_plans(planned, csv_bytes(PLANS_HEADER, f"Flood,{DDI},PJSIP/york,"), "plans.csv")

    counts = change.plans[0].counts
    assert (counts.added, counts.changed, counts.unchanged, counts.removed) == (0, 1, 0, 1)
    assert planned.plan_routes("Flood") == [{"number": DDI, "destination": "PJSIP/york", "announcement": ""}]


def test_plans_the_file_does_not_name_are_untouched(planned: RoutingStore) -> None:
    csvio.import_plans(planned, csv_bytes(PLANS_HEADER, f"Flood,{DDI},PJSIP/york,"), "plans.csv")

    assert planned.plan_routes("Snow") == [{"number": DDI, "destination": "PJSIP/home", "announcement": ""}]


def test_an_active_plan_can_be_changed_and_the_route_state_follows(planned: RoutingStore) -> None:
    planned.load_plan("Flood", 1)
    planned.invoke_plan("Flood")
    before = routes_version(planned.db)

    change = csvio.import_plans(planned, csv_bytes(PLANS_HEADER, f"Flood,{DDI},PJSIP/york,"), "plans.csv")

    assert change.plans[0].active and planned.plan("Flood")["active"] == 1
    assert routes_version(planned.db) == before + 1
    assert dict(load_state(planned.db).plans) == {DDI: PlanRoute("Flood", "PJSIP/york", "")}


def test_a_plans_import_writes_one_audit_entry(planned: RoutingStore) -> None:
    before = planned.db.execute("SELECT count(*) FROM audit").fetchone()[0]
    data = csv_bytes(PLANS_HEADER, f"Flood,{DDI},PJSIP/york,", f"Rain,{DDI},PJSIP/york,", f"Rain,{SECOND},PJSIP/york,")

    csvio.import_plans(planned, data, "plans.csv", actor=ACTOR)

    entries = list(planned.db.query("SELECT actor, action, target FROM audit WHERE id > ?", [before]))
    assert entries == [{"actor": ACTOR, "action": "plans.import", "target": "plans.csv"}]


@pytest.mark.parametrize(("lines", "problem"), [
    ([f"Flood,{THIRD},PJSIP/leeds,"], f"line 2: number: {THIRD} is not one of your numbers"),
    (["Flood,sales,PJSIP/leeds,"], "line 2: number: 'sales' is not a phone number"),
    ([f"Flood,{DDI},leeds,"], "line 2: destination: 'leeds' is not a Dial() device string"),
    ([f"Flood,{DDI},PJSIP/leeds,closed today"], "line 2: announcement: 'closed today' is not a sound name"),
    ([f"12,{DDI},PJSIP/leeds,"], "line 2: plan: '12' is not a plan name (all digits"),
    ([f"-Flood,{DDI},PJSIP/leeds,"], "line 2: plan: '-Flood' is not a plan name"),
    ([f"Flood,{DDI},PJSIP/leeds,", f"Snow,{DDI},PJSIP/home,", f"Flood,020 7123 4567,PJSIP/york,"],
     f"line 4: plan 'Flood' routes {DDI} already on line 2 (a plan routes a number once)"),
    ([f",{DDI},PJSIP/leeds,"], "line 2: missing required field(s) plan"),
    ([f"Flood,{DDI},,"], "line 2: missing required field(s) destination"),
    ([f"Flood,{DDI},PJSIP/leeds"], "line 2: 3 field(s), the header has 4 (plan,number,destination,announcement)"),
], ids=["unknown number", "not a phone number", "bad destination", "bad sound", "all-digit plan name", "bad plan name",
        "duplicate", "missing plan", "missing destination", "wrong field count"])
def test_each_kind_of_bad_plans_row_is_named(numbered: RoutingStore, lines: list[str], problem: str) -> None:
    before = snapshot(numbered)

    problems = rejected(lambda: csvio.import_plans(numbered, csv_bytes(PLANS_HEADER, *lines), "p.csv"))

    assert len(problems) == 1 and problems[0].startswith(problem), problems
    assert snapshot(numbered) == before


@pytest.mark.parametrize(("dial", "char"), [("PJSIP/leeds;x", ";"), ("PJSIP/leeds|x", "|"), ("PJSIP/${EXTEN}", "$"),
                                           ("PJSIP/leeds(", "("), ("PJSIP/caf\u00e9", "\u00e9")])
def test_a_dial_string_that_would_break_the_dialplan_is_refused_in_both_files(numbered: RoutingStore, dial: str, char: str) -> None:
    before = snapshot(numbered)
    quoted = '"' + dial + '"'

    numbers = rejected(lambda: csvio.import_numbers(numbered, csv_bytes(NUMBERS_HEADER, f"{DDI},PJSIP/a,{quoted},,"), "n.csv"))
    plans = rejected(lambda: csvio.import_plans(numbered, csv_bytes(PLANS_HEADER, f"Flood,{DDI},{quoted},"), "p.csv"))

    assert numbers == [f"line 2: fallback: {dial!r} is not a Dial() device string ({char!r} would break the dialplan;"
                       " printable ASCII only, without ; | $ { } ( ))"]
    assert plans == [f"line 2: destination: {dial!r} is not a Dial() device string ({char!r} would break the dialplan;"
                     " printable ASCII only, without ; | $ { } ( ))"]
    assert snapshot(numbered) == before


def test_a_plans_file_with_a_numbers_header_is_refused(numbered: RoutingStore) -> None:
    problems = rejected(lambda: csvio.import_plans(numbered, csv_bytes(NUMBERS_HEADER, f"{DDI},PJSIP/a,,,"), "p.csv"))

    assert problems == ["line 1: bad header: missing column(s) plan, destination; unknown column(s) 'route', 'fallback', 'label'"
                        " (expected the header row plan,number,destination,announcement, in any order; announcement may be left out)"]


def test_a_plans_dry_run_reports_per_plan_and_changes_nothing(planned: RoutingStore) -> None:
    before = snapshot(planned)
    data = csv_bytes(PLANS_HEADER, f"Flood,{DDI},PJSIP/leeds,", f"Rain,{DDI},PJSIP/york,")

    change = csvio.import_plans(planned, data, "p.csv", dry_run=True)

    assert [(p.name, p.new, p.counts.added, p.counts.unchanged, p.counts.removed) for p in change.plans] == [
        ("Flood", False, 0, 1, 1), ("Rain", True, 1, 0, 0)]
    assert snapshot(planned) == before


# -- export and round trip -------------------------------------------------------------

def test_numbers_export_is_sorted_csv_quoted_as_needed(store: RoutingStore) -> None:
    store.set_number(SECOND, "PJSIP/b", label='Support, "night"')
    store.set_number(DDI, "PJSIP/a", "PJSIP/c", "welcome", "Sales")

    assert export(csvio.export_numbers, store) == (f"{NUMBERS_HEADER}\n{DDI},PJSIP/a,PJSIP/c,welcome,Sales\n"
                                                   f'{SECOND},PJSIP/b,,,"Support, ""night"""\n')


def test_plans_export_is_sorted_by_plan_then_number(planned: RoutingStore) -> None:
    assert export(csvio.export_plans, planned) == (f"{PLANS_HEADER}\nFlood,{DDI},PJSIP/leeds,\nFlood,{SECOND},PJSIP/leeds,closed\n"
                                                   f"Snow,{DDI},PJSIP/home,\n")


def test_numbers_export_then_import_changes_nothing(numbered: RoutingStore) -> None:
    numbered.set_number(THIRD, "PJSIP/x", label='with a comma, "quoted"')
    data = export(csvio.export_numbers, numbered).encode()
    before = snapshot(numbered)

    change = csvio.import_numbers(numbered, data, "n.csv", replace=True)

    assert (change.counts.unchanged, change.counts.any) == (3, False)
    assert snapshot(numbered)[:3] == before[:3] and routes_version(numbered.db) == before[4]


def test_plans_export_then_import_changes_nothing(planned: RoutingStore) -> None:
    data = export(csvio.export_plans, planned).encode()
    before = snapshot(planned)

    change = csvio.import_plans(planned, data, "p.csv")

    assert not change.any
    assert snapshot(planned)[:3] == before[:3] and routes_version(planned.db) == before[4]


# -- any input at all ------------------------------------------------------------------

@pytest.fixture(scope="module")
def parser_store() -> RoutingStore:
    """A store shared by the property tests (the parsers only read its number rules)."""
    return RoutingStore(open_store(":memory:"), NumberIntel("GB"), [CONFIG_DDI])


CELL = st.one_of(st.sampled_from(["", DDI, "020 7123 4567", "PJSIP/a", "PJSIP/a b", "Flood", "12", "welcome", '"', "x,y"]),
                 st.text(max_size=12))
CSV_LIKE = st.lists(st.lists(CELL, max_size=7).map(",".join), max_size=6).map("\n".join)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(), CSV_LIKE, CSV_LIKE.map(lambda body: NUMBERS_HEADER + "\n" + body),
                      CSV_LIKE.map(lambda body: PLANS_HEADER + "\n" + body)))
def test_any_text_parses_or_is_rejected_with_problems(parser_store: RoutingStore, text: str) -> None:
    for parse in (lambda d: csvio.parse_numbers(d, "t.csv", parser_store.number_key),
                  lambda d: csvio.parse_plans(d, "t.csv", parser_store.number_key, {DDI, CONFIG_DDI})):
        try:
            parse(text.encode("utf-8", "surrogatepass"))
        except ImportRejected as exc:
            assert exc.problems


@settings(max_examples=200, deadline=None)
@given(data=st.binary())
def test_any_bytes_parse_or_are_rejected(parser_store: RoutingStore, data: bytes) -> None:
    try:
        csvio.parse_numbers(data, "t.csv", parser_store.number_key)
    except ImportRejected as exc:
        assert exc.problems


def test_plain_phone_numbers_in_a_file_become_dial_strings(numbered) -> None:
    data = f"plan,number,destination,announcement\nMobiles,{DDI},07700 900123,\n".encode()

    csvio.import_plans(numbered, data, "mobiles.csv")

    assert numbered.plan_routes("Mobiles")[0]["destination"] == "Local/+447700900123@callshield-outbound"

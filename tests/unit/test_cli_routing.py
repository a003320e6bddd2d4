"""The routing commands (numbers, plans, overrides, staff, pins, audit) through click's
CliRunner, on a config whose store lives in tmp_path."""

from __future__ import annotations

import getpass
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
import sqlite_utils
from click.testing import CliRunner, Result

from callshield.cli import main
from callshield.store.pins import verify_pin
from callshield.read.numbers import NumberIntel
from callshield.store import open_store
from callshield.store.routing import RoutingStore, routes_version

DDI = "+442071234567"
SECOND = "+442079460000"
CONFIG_DDI = "+442079460999"
MOBILE = "+447700900123"
T0 = 1_795_000_000.0
T0_ISO = "2026-11-18T11:06:40Z"
RELOAD = "a running callshield serve picks it up within 2.5 s (store.reload_interval)"

Run = Callable[..., Result]


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "var" / "callshield.db"


@pytest.fixture
def config_path(config_file: Callable[..., Path], db_file: Path) -> Path:
    return config_file(
        f"store:\n  path: {db_file}\n  reload_interval: 2.5\n"
        f"routing:\n  numbers:\n    '{CONFIG_DDI}': {{route: PJSIP/config}}\n"
        "  access:\n    override_dial: 'PJSIP/{number}@mobiles'\n    override_hours: 3\n"
    )


@pytest.fixture(autouse=True)
def _login_and_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The login name the audit log shows, and a fixed clock for the printed times."""
    monkeypatch.setattr(getpass, "getuser", lambda: "alice")
    monkeypatch.setattr(time, "time", lambda: T0)


@pytest.fixture
def cli(config_path: Path) -> Run:
    """Run ``callshield ARGS --config <tmp config>`` with optional stdin."""

    def run(*args: str, input: str | bytes | None = None) -> Result:
        return CliRunner().invoke(main, [*args, "--config", str(config_path)], input=input)

    return run


@pytest.fixture
def db(cli: Run, db_file: Path) -> Iterator[sqlite_utils.Database]:
    """The store the commands write (created by a first command)."""
    cli("numbers", "list")
    store = open_store(db_file)
    yield store
    store.close()


@pytest.fixture
def routing(db: sqlite_utils.Database) -> RoutingStore:
    return RoutingStore(db, NumberIntel("GB"))


@pytest.fixture
def numbered(cli: Run) -> Run:
    """DDI and SECOND in the numbers table."""
    cli("numbers", "add", DDI, "--route", "PJSIP/agents", "--label", "Sales UK")
    cli("numbers", "add", SECOND, "--route", "PJSIP/support", "--fallback", "PJSIP/overflow", "--announcement", "welcome")
    return cli


@pytest.fixture
def flood(numbered: Run) -> Run:
    """The plan 'Flood' routing DDI to PJSIP/leeds, loaded into slot 1 (idle)."""
    numbered("plans", "create", "Flood", "--description", "office flooded")
    numbered("plans", "route", "Flood", DDI, "PJSIP/leeds")
    numbered("plans", "load", "Flood", "1")
    return numbered


def ok(result: Result) -> str:
    assert (result.exit_code, result.stderr) == (0, ""), (result.stderr, result.exception)
    return result.stdout


# -- numbers ---------------------------------------------------------------------------

def test_numbers_add_confirms_and_says_when_serve_picks_it_up(cli: Run) -> None:
    result = cli("numbers", "add", "020 7123 4567", "--route", "PJSIP/agents", "--fallback", "PJSIP/overflow")

    assert ok(result) == f"set {DDI}: route PJSIP/agents, fallback PJSIP/overflow; {RELOAD}\n"


def test_numbers_add_refuses_a_bad_route(cli: Run) -> None:
    result = cli("numbers", "add", DDI, "--route", "PJSIP/agents,30")

    assert (result.exit_code, result.stderr) == (1, "Error: route: 'PJSIP/agents,30' is not a Dial() device string (TECH/resource,"
                                                    " e.g. PJSIP/agents or PJSIP/+447700900123@trunk; no commas or spaces)\n")


def test_numbers_add_refuses_a_route_that_would_break_the_dialplan(cli: Run) -> None:
    result = cli("numbers", "add", DDI, "--route", "PJSIP/agents;x")

    assert (result.exit_code, result.stderr) == (1, "Error: route: 'PJSIP/agents;x' is not a Dial() device string (';' would break"
                                                    " the dialplan; printable ASCII only, without ; | $ { } ( ))\n")


def test_numbers_add_needs_a_route(cli: Run) -> None:
    result = cli("numbers", "add", DDI)

    assert result.exit_code == 2 and "Missing option '--route'" in result.stderr


def test_numbers_list_shows_the_table_then_the_config_numbers(numbered: Run) -> None:
    assert ok(numbered("numbers", "list")) == (
        "number         route          fallback        announcement  label     source\n"
        "+442071234567  PJSIP/agents                                 Sales UK  store\n"
        "+442079460000  PJSIP/support  PJSIP/overflow  welcome                 store\n"
        "+442079460999  PJSIP/config                                           config\n"
    )


def test_numbers_remove(numbered: Run) -> None:
    assert ok(numbered("numbers", "remove", DDI)) == f"removed {DDI}; {RELOAD}\n"
    assert DDI not in ok(numbered("numbers", "list"))


def test_numbers_remove_is_refused_while_a_plan_routes_it(flood: Run) -> None:
    result = flood("numbers", "remove", DDI)

    assert (result.exit_code, result.stderr) == (1, f"Error: {DDI} is routed by dial plan(s) Flood; remove it from them first\n")


def test_numbers_import_applies_a_file(cli: Run, tmp_path: Path) -> None:
    path = tmp_path / "numbers.csv"
    path.write_text(f"number,route,fallback,announcement,label\n{DDI},PJSIP/agents,,,Sales\n{SECOND},PJSIP/support,,,\n")

    result = cli("numbers", "import", str(path))

    assert ok(result) == f"{path}: imported: 2 added, 0 changed, 0 unchanged, 0 removed; {RELOAD}\n"
    assert "Sales" in ok(cli("numbers", "list"))


def test_numbers_import_names_every_bad_line_and_changes_nothing(numbered: Run, tmp_path: Path) -> None:
    path = tmp_path / "numbers.csv"
    path.write_text(f"number,route,fallback,announcement,label\nsales,PJSIP/a,,,\n{SECOND},PJSIP/new,,,\n{DDI},,,,\n")
    before = numbered("numbers", "export").stdout

    result = numbered("numbers", "import", str(path))

    assert result.exit_code == 1
    assert result.stderr == (f"Error: {path}: nothing imported, 2 problem(s):\n"
                             "  line 2: number: 'sales' is not a phone number (digits with an optional leading +, e.g. +442071234567)\n"
                             "  line 4: missing required field(s) route\n")
    assert numbered("numbers", "export").stdout == before


def test_numbers_import_dry_run_reports_and_changes_nothing(numbered: Run, tmp_path: Path, db: sqlite_utils.Database) -> None:
    path = tmp_path / "numbers.csv"
    path.write_text(f"number,route,fallback,announcement,label\n{SECOND},PJSIP/new,,,\n")
    version = routes_version(db)

    result = numbered("numbers", "import", str(path), "--dry-run", "--replace")

    assert ok(result) == f"{path}: would import: 0 added, 1 changed, 0 unchanged, 1 removed ({DDI}); dry run, nothing changed\n"
    assert routes_version(db) == version


def test_numbers_import_replace_removes_the_numbers_not_in_the_file(numbered: Run) -> None:
    result = numbered("numbers", "import", "-", "--replace", input=f"number,route,fallback,announcement,label\n{SECOND},PJSIP/support,,,\n")

    assert ok(result) == f"<stdin>: imported: 0 added, 1 changed, 0 unchanged, 1 removed; {RELOAD}\n"
    assert DDI not in ok(numbered("numbers", "list"))


def test_numbers_import_of_a_file_that_is_not_utf8(cli: Run) -> None:
    result = cli("numbers", "import", "-", input=b"number,route,fallback,announcement,label\n+442071234567,PJSIP/a,,,Caf\xe9\n")

    assert (result.exit_code, result.stderr) == (1, "Error: <stdin>: nothing imported, 1 problem(s):\n"
                                                    "  line 2: not UTF-8 text (byte 0xe9 at offset 68); save the file as UTF-8 CSV\n")


def test_numbers_export_writes_csv_to_stdout(numbered: Run) -> None:
    assert ok(numbered("numbers", "export")) == ("number,route,fallback,announcement,label\n"
                                                 f"{DDI},PJSIP/agents,,,Sales UK\n{SECOND},PJSIP/support,PJSIP/overflow,welcome,\n")


def test_numbers_export_to_a_file_then_import_changes_nothing(numbered: Run, tmp_path: Path) -> None:
    path = tmp_path / "out" / "numbers.csv"
    path.parent.mkdir()

    exported = numbered("numbers", "export", str(path))
    imported = numbered("numbers", "import", str(path), "--replace")

    assert ok(exported) == f"wrote 2 number(s) to {path}\n"
    assert ok(imported) == f"{path}: imported: 0 added, 0 changed, 2 unchanged, 0 removed; nothing to change\n"


def test_numbers_export_to_a_missing_directory_is_a_clean_error(numbered: Run, tmp_path: Path) -> None:
    result = numbered("numbers", "export", str(tmp_path / "absent" / "numbers.csv"))

    assert (result.exit_code, result.stderr) == (1, f"Error: cannot write {tmp_path / 'absent' / 'numbers.csv'}: No such file or directory\n")


# -- plans -----------------------------------------------------------------------------

def test_plans_create_then_route(numbered: Run) -> None:
    created = numbered("plans", "create", "Flood")
    routed = numbered("plans", "route", "Flood", CONFIG_DDI, "PJSIP/leeds", "--announcement", "closed")

    assert ok(created) == "created dial plan 'Flood' (next: callshield plans route 'Flood' NUMBER DEST; then load and invoke it)\n"
    assert ok(routed) == f"dial plan 'Flood' routes {CONFIG_DDI} to PJSIP/leeds; {RELOAD}\n"


def test_plans_create_refuses_a_name_ending_with_a_space(cli: Run) -> None:
    result = cli("plans", "create", "Flood ")

    assert (result.exit_code, result.stderr) == (1, "Error: 'Flood ' is not a plan name (1-64 letters, digits, spaces, _ . -;"
                                                    " starting with a letter or digit, not ending with a space)\n")
    assert ok(cli("plans", "list")) == "no dial plans (create one: callshield plans create NAME)\n"


def test_plans_route_refuses_a_number_that_is_not_yours(numbered: Run) -> None:
    numbered("plans", "create", "Flood")

    result = numbered("plans", "route", "Flood", "+442079460123", "PJSIP/leeds")

    assert (result.exit_code, result.stderr) == (1, "Error: +442079460123 is not one of your numbers (add it first: "
                                                    "callshield numbers add +442079460123 --route ...)\n")


def test_plans_invoke_by_slot_and_list(flood: Run) -> None:
    invoked = flood("plans", "invoke", "1")
    flood("plans", "create", "Snow")

    assert ok(invoked) == f"invoked dial plan 'Flood' (slot 1, 1 route(s)); {RELOAD}\n"
    assert ok(flood("plans", "list")) == (
        "slot  name   state   routes  invoked at            invoked by\n"
        f"1     Flood  active  1       {T0_ISO}  cli:alice\n"
        "-     Snow   idle    0\n"
    )


def test_plans_show(flood: Run) -> None:
    flood("plans", "invoke", "Flood")

    assert ok(flood("plans", "show", "1")) == (
        "plan: Flood\n"
        "slot: 1\n"
        f"state: active (last invoked {T0_ISO} by cli:alice)\n"
        "description: office flooded\n"
        "\n"
        "number         destination  announcement\n"
        f"{DDI}  PJSIP/leeds\n"
    )


def test_plans_list_without_plans(cli: Run) -> None:
    assert ok(cli("plans", "list")) == "no dial plans (create one: callshield plans create NAME)\n"


def test_plans_load_refuses_slot_6(flood: Run) -> None:
    result = flood("plans", "load", "Flood", "6")

    assert (result.exit_code, result.stderr) == (1, "Error: slot 6 does not exist: plans are loaded into slots 1-5\n")


def test_plans_load_refuses_a_taken_slot(flood: Run) -> None:
    flood("plans", "create", "Snow")

    result = flood("plans", "load", "Snow", "1")

    assert (result.exit_code, result.stderr) == (1, "Error: slot 1 holds dial plan 'Flood'; unload it first\n")


def test_plans_invoke_needs_the_plan_loaded(numbered: Run) -> None:
    numbered("plans", "create", "Snow")

    result = numbered("plans", "invoke", "Snow")

    assert (result.exit_code, result.stderr) == (
        1, "Error: dial plan 'Snow' is not loaded; load it into a slot first (callshield plans load 'Snow' SLOT)\n")


def test_plans_revoke_unload_unroute_delete(flood: Run) -> None:
    flood("plans", "invoke", "Flood")

    outputs = [ok(flood(*args)) for args in (("plans", "revoke", "1"), ("plans", "unload", "1"),
                                              ("plans", "unroute", "Flood", DDI), ("plans", "delete", "Flood"))]

    assert outputs == [f"revoked dial plan 'Flood'; {RELOAD}\n", f"unloaded dial plan 'Flood'; {RELOAD}\n",
                       f"dial plan 'Flood' no longer routes {DDI}; {RELOAD}\n", f"deleted dial plan 'Flood'; {RELOAD}\n"]


def test_plans_delete_is_refused_while_active(flood: Run) -> None:
    flood("plans", "invoke", "Flood")

    result = flood("plans", "delete", "Flood")

    assert (result.exit_code, result.stderr) == (1, "Error: dial plan 'Flood' is active; revoke it first (callshield plans revoke 'Flood')\n")


def test_plans_import_dry_run_reports_per_plan(flood: Run) -> None:
    csv_text = f"plan,number,destination,announcement\nFlood,{SECOND},PJSIP/leeds,\nRain,{DDI},PJSIP/york,\n"

    result = flood("plans", "import", "-", "--dry-run", input=csv_text)

    assert ok(result) == ("  Flood: 1 added, 0 changed, 0 unchanged, 1 removed\n"
                          "  Rain (new): 1 added, 0 changed, 0 unchanged, 0 removed\n"
                          "<stdin>: 2 plan(s), 1 new; dry run, nothing changed\n")
    assert ok(flood("plans", "list")).count("\n") == 2


def test_plans_import_changes_an_active_plan(flood: Run) -> None:
    flood("plans", "invoke", "Flood")

    result = flood("plans", "import", "-", input=f"plan,number,destination,announcement\nFlood,{DDI},PJSIP/york,\n")

    assert ok(result) == ("  Flood (active): 0 added, 1 changed, 0 unchanged, 0 removed\n"
                          f"<stdin>: 1 plan(s), 0 new: imported; {RELOAD}\n")
    assert "PJSIP/york" in ok(flood("plans", "show", "Flood"))


def test_plans_import_names_the_bad_lines(flood: Run) -> None:
    result = flood("plans", "import", "-", input=f"plan,number,destination,announcement\nFlood,+442079460123,PJSIP/york,\n")

    assert (result.exit_code, result.stderr) == (1, "Error: <stdin>: nothing imported, 1 problem(s):\n"
                                                    "  line 2: number: +442079460123 is not one of your numbers"
                                                    " (add it to the numbers table or routing.numbers first)\n")


def test_plans_export_then_import_changes_nothing(flood: Run, tmp_path: Path) -> None:
    path = tmp_path / "plans.csv"

    assert ok(flood("plans", "export", str(path))) == f"wrote 1 plan route(s) to {path}\n"
    assert path.read_text() == f"plan,number,destination,announcement\nFlood,{DDI},PJSIP/leeds,\n"
    assert ok(flood("plans", "import", str(path))) == ("  Flood: 0 added, 0 changed, 1 unchanged, 0 removed\n"
                                                       f"{path}: 1 plan(s), 0 new: imported; nothing to change\n")


def test_plans_pin_from_stdin_is_stored_hashed(cli: Run, routing: RoutingStore) -> None:
    result = cli("plans", "pin", "--pin-stdin", input="482916\n")

    assert ok(result) == "set the dial-plan PIN (stored hashed)\n"
    assert verify_pin("482916", routing.plans_pin_hash())


def test_plans_pin_prompts_hidden_twice(cli: Run, routing: RoutingStore) -> None:
    result = cli("plans", "pin", input="482916\n482916\n")

    assert ok(result) == "PIN: \nRepeat for confirmation: \nset the dial-plan PIN (stored hashed)\n"
    assert verify_pin("482916", routing.plans_pin_hash())


def test_plans_pin_refuses_a_pin_that_is_not_digits(cli: Run) -> None:
    result = cli("plans", "pin", "--pin-stdin", input="12ab\n")

    assert (result.exit_code, result.stderr) == (1, "Error: a PIN is 4 to 12 digits (it is keyed on a telephone)\n")


# -- overrides -------------------------------------------------------------------------

def test_overrides_set_to_a_phone_uses_the_configured_dial_and_hours(numbered: Run) -> None:
    result = numbered("overrides", "set", DDI, "--to", "07700 900123")

    assert ok(result) == f"override: {DDI} to PJSIP/{MOBILE}@mobiles until 2026-11-18T14:06:40Z; {RELOAD}\n"


def test_overrides_set_to_a_dial_string_for_some_hours(numbered: Run) -> None:
    result = numbered("overrides", "set", DDI, "--dial", "PJSIP/reception", "--hours", "0.5", "--staff", SECOND)

    assert ok(result) == f"override: {DDI} to PJSIP/reception until 2026-11-18T11:36:40Z; {RELOAD}\n"
    assert ok(numbered("overrides", "list")) == (
        "number         destination      to  staff          expires               set by\n"
        f"{DDI}  PJSIP/reception      {SECOND}  2026-11-18T11:36:40Z  cli:alice\n"
    )


@pytest.mark.parametrize("choice", [(), ("--to", MOBILE, "--dial", "PJSIP/x")], ids=["neither", "both"])
def test_overrides_set_needs_exactly_one_of_to_or_dial(numbered: Run, choice: tuple[str, ...]) -> None:
    result = numbered("overrides", "set", DDI, *choice)

    assert result.exit_code == 2 and "Error: give exactly one of --to PHONE or --dial DIAL" in result.stderr


def test_overrides_set_refuses_a_number_that_is_not_yours(cli: Run) -> None:
    result = cli("overrides", "set", DDI, "--to", MOBILE)

    assert result.exit_code == 1 and f"Error: {DDI} is not one of your numbers" in result.stderr


@pytest.mark.parametrize(("args", "error"), [
    (("--to", MOBILE, "--hours", "0"), "an override lasts between 0 and 744 hours (31 days), not 0"),
    (("--dial", "PJSIP/${EXTEN}"), "'PJSIP/${EXTEN}' is not a Dial() device string ('$' would break the dialplan;"
                                   " printable ASCII only, without ; | $ { } ( ))"),
    (("--to", MOBILE, "--staff", "Ann"), "'Ann' is not a phone number (digits with an optional leading +, e.g. +442071234567)"),
], ids=["0 hours", "unsafe dial string", "staff not a number"])
def test_overrides_set_refuses_with_a_message_the_admin_can_act_on(numbered: Run, args: tuple[str, ...], error: str) -> None:
    result = numbered("overrides", "set", DDI, *args)

    assert (result.exit_code, result.stderr) == (1, f"Error: {error}\n")
    assert ok(numbered("overrides", "list")) == "no live overrides\n"


def test_overrides_cancel(numbered: Run) -> None:
    numbered("overrides", "set", DDI, "--to", MOBILE)

    assert ok(numbered("overrides", "cancel", DDI)) == f"cancelled the override of {DDI}; {RELOAD}\n"
    assert ok(numbered("overrides", "list")) == "no live overrides\n"


# -- staff, PIN lockouts, audit --------------------------------------------------------

def test_staff_add_with_the_pin_from_stdin_and_list(numbered: Run, routing: RoutingStore) -> None:
    added = numbered("staff", "add", DDI, "--name", "Ann Smith", "--pin-stdin", input="482916\n")

    assert ok(added) == f"added staff {DDI} (Ann Smith); PIN stored hashed\n"
    assert ok(numbered("staff", "list")) == f"number         name       added\n{DDI}  Ann Smith  {T0_ISO}\n"
    assert verify_pin("482916", routing.staff_pin_hash(DDI))


def test_staff_add_prompts_for_the_pin_twice(numbered: Run) -> None:
    result = numbered("staff", "add", DDI, "--name", "Ann", input="482916\n482916\n")

    assert ok(result) == f"PIN: \nRepeat for confirmation: \nadded staff {DDI} (Ann); PIN stored hashed\n"


def test_staff_remove(numbered: Run) -> None:
    numbered("staff", "add", DDI, "--name", "Ann", "--pin-stdin", input="482916\n")

    assert ok(numbered("staff", "remove", DDI)) == f"removed staff {DDI}\n"
    assert ok(numbered("staff", "list")) == "no staff (add one: callshield staff add NUMBER --name NAME)\n"


def test_pins_unlock_clears_the_failures_of_one_caller(cli: Run, routing: RoutingStore, db: sqlite_utils.Database) -> None:
    routing.record_pin_failure("plans", MOBILE, {})
    routing.record_pin_failure("plans", SECOND, {})

    result = cli("pins", "unlock", "--scope", "plans", "--caller", "07700 900123")

    assert ok(result) == f"cleared 1 PIN failure(s) (plans, {MOBILE})\n"
    assert [r[0] for r in db.execute("SELECT caller FROM pin_failures")] == [SECOND]


def test_pins_unlock_of_everyone(cli: Run, routing: RoutingStore) -> None:
    routing.record_pin_failure("override", "anonymous", {})

    assert ok(cli("pins", "unlock")) == "cleared 1 PIN failure(s) (plans and override, every caller)\n"


def test_audit_prints_the_newest_entries_with_the_login_name(flood: Run) -> None:
    result = flood("audit", "--limit", "2")

    assert ok(result) == (
        f'{T0_ISO}\tcli:alice\tplans.load\tFlood\t{{"slot": 1, "was": null}}\n'
        f'{T0_ISO}\tcli:alice\tplans.route\tFlood:{DDI}\t{{"destination": "PJSIP/leeds", "announcement": ""}}\n'
    )


def test_an_import_is_one_audit_entry(cli: Run) -> None:
    cli("numbers", "import", "-", input=f"number,route,fallback,announcement,label\n{DDI},PJSIP/a,,,\n{SECOND},PJSIP/b,,,\n")

    lines = ok(cli("audit")).splitlines()

    assert len(lines) == 1 and lines[0].startswith(f"{T0_ISO}\tcli:alice\tnumbers.import\t<stdin>\t")

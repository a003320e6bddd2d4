"""Item 9: hostile or careless operator input on the command line and in files.

Each test is one behaviour, through click's CliRunner on a config whose store lives in
tmp_path: numbers longer than E.164 allows are refused everywhere a number is taken
(one check: callshield.read.numbers.typed_key); free text with control characters is refused
and stored text is printed escaped (one rule: callshield.display); a YAML key written
twice is refused with its line; a CSV with only the required columns imports; the store
and the directories made for it are created owner-only. A refused input leaves the store
byte-for-byte as it was (``dump`` before and after).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner, Result

from callshield.cli import main
from callshield.config import load_config
from callshield.read.numbers import NumberIntel
from callshield.store import lists as list_store
from callshield.store import open_store
from callshield.store.routing import RoutingStore

DDI = "+442071234567"
MOBILE = "+447700900123"
PLAN = "Flood"
LONG = {16: "+4420712345678901", 22: "+4420712345678901234567", 10_000: "+44" + "2" * 9_998}
FREE_TEXT = "plain text on one line only (no control, line-break or invisible formatting characters)"

Run = Callable[..., Result]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "callshield.db"


@pytest.fixture
def config_path(tmp_path: Path, db_path: Path) -> Path:
    path = tmp_path / "callshield.yaml"
    path.write_text(f"store:\n  path: {db_path}\n", encoding="utf-8")
    return path


@pytest.fixture
def cli(config_path: Path) -> Run:
    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(main, [*args, "--config", str(config_path)], input=input, env=env)

    return run


@pytest.fixture
def seeded(cli: Run, db_path: Path) -> Path:
    """A store with one number, one plan and one staff member: every command has what it
    needs, so a refusal can only come from the input under test."""
    for args in (("numbers", "add", DDI, "--route", "PJSIP/agents"), ("plans", "create", PLAN)):
        assert cli(*args).exit_code == 0
    assert cli("staff", "add", DDI, "--name", "Ann", "--pin-stdin", input="1234\n").exit_code == 0
    return db_path


def dump(path: Path) -> list[str]:
    """Every table's schema and rows: the whole store, for "nothing changed"."""
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def too_long(digits: int) -> str:
    """The one message for a number longer than E.164 allows."""
    text = LONG[digits]
    shown = repr(text) if len(text) <= 40 else f"{text[:40]!r}... ({len(text)} characters)"
    return f"{shown} is not a phone number: {digits} digits, and E.164 numbers have at most 15"


# -- numbers longer than E.164 -----------------------------------------------------------

NUMBER_COMMANDS = {
    "lists add": lambda n: ("lists", "add", "deny", n),
    "lists remove": lambda n: ("lists", "remove", "deny", n),
    "numbers add": lambda n: ("numbers", "add", n, "--route", "PJSIP/agents"),
    "numbers add --route PHONE": lambda n: ("numbers", "add", DDI, "--route", n),
    "numbers add --fallback PHONE": lambda n: ("numbers", "add", DDI, "--route", "PJSIP/agents", "--fallback", n),
    "numbers remove": lambda n: ("numbers", "remove", n),
    "plans route": lambda n: ("plans", "route", PLAN, n, "PJSIP/leeds"),
    "plans route DEST=PHONE": lambda n: ("plans", "route", PLAN, DDI, n),
    "plans unroute": lambda n: ("plans", "unroute", PLAN, n),
    "overrides set": lambda n: ("overrides", "set", n, "--to", MOBILE),
    "overrides set --to": lambda n: ("overrides", "set", DDI, "--to", n),
    "overrides set --staff": lambda n: ("overrides", "set", DDI, "--to", MOBILE, "--staff", n),
    "overrides cancel": lambda n: ("overrides", "cancel", n),
    "staff remove": lambda n: ("staff", "remove", n),
    "pins unlock --caller": lambda n: ("pins", "unlock", "--caller", n),
}


@pytest.mark.parametrize("digits", sorted(LONG))
@pytest.mark.parametrize("command", sorted(NUMBER_COMMANDS))
def test_a_number_longer_than_e164_is_refused_by_every_command(cli: Run, seeded: Path, command: str, digits: int) -> None:
    before = dump(seeded)

    result = cli(*NUMBER_COMMANDS[command](LONG[digits]))

    assert (result.exit_code, result.stderr) == (1, f"Error: {too_long(digits)}\n")
    assert dump(seeded) == before


@pytest.mark.parametrize("digits", sorted(LONG))
def test_a_number_longer_than_e164_is_refused_by_staff_add(cli: Run, seeded: Path, digits: int) -> None:
    before = dump(seeded)

    result = cli("staff", "add", LONG[digits], "--name", "Bob", "--pin-stdin", input="1234\n")

    assert (result.exit_code, result.stderr) == (1, f"Error: {too_long(digits)}\n")
    assert dump(seeded) == before


@pytest.mark.parametrize("digits", sorted(LONG))
def test_a_number_longer_than_e164_is_refused_by_drill(cli: Run, seeded: Path, digits: int) -> None:
    before = dump(seeded)

    result = cli("drill", "--destination", "agents", "--number", LONG[digits], env={"CALLSHIELD_AMI_SECRET": "x"})

    assert (result.exit_code, result.stderr) == (1, f"Error: {too_long(digits)}\n")
    assert dump(seeded) == before


CSV_FILES = {
    "numbers import, number": ("numbers", "number,route\n{n},PJSIP/agents\n", "number"),
    "numbers import, route": ("numbers", "number,route\n" + DDI + ",{n}\n", "route"),
    "numbers import, fallback": ("numbers", "number,route,fallback\n" + DDI + ",PJSIP/agents,{n}\n", "fallback"),
    "plans import, number": ("plans", "plan,number,destination\n" + PLAN + ",{n},PJSIP/leeds\n", "number"),
    "plans import, destination": ("plans", "plan,number,destination\n" + PLAN + "," + DDI + ",{n}\n", "destination"),
}


@pytest.mark.parametrize("digits", sorted(LONG))
@pytest.mark.parametrize("case", sorted(CSV_FILES))
def test_a_number_longer_than_e164_is_refused_in_a_csv_import(cli: Run, seeded: Path, tmp_path: Path, case: str,
                                                              digits: int) -> None:
    group, text, column = CSV_FILES[case]
    path = tmp_path / "in.csv"
    path.write_text(text.format(n=LONG[digits]), encoding="utf-8")
    before = dump(seeded)

    result = cli(group, "import", str(path))

    assert (result.exit_code, result.stderr) == (1, f"Error: {path}: nothing imported, 1 problem(s):\n"
                                                    f"  line 2: {column}: {too_long(digits)}\n")
    assert dump(seeded) == before


@pytest.mark.parametrize("digits", sorted(LONG))
def test_a_number_longer_than_e164_is_refused_in_a_dnc_import(cli: Run, seeded: Path, tmp_path: Path, digits: int) -> None:
    path = tmp_path / "dnc.txt"
    path.write_text(f"+12025550143\n{LONG[digits]}\n", encoding="utf-8")
    before = dump(seeded)

    result = cli("dnc", "import", str(path))

    assert (result.exit_code, result.stderr) == (1, f"Error: 1 bad line(s), nothing imported:\nline 2: {too_long(digits)}\n")
    assert dump(seeded) == before


@pytest.mark.parametrize("digits", [16, 22])  # 10,000 digits: the same check, a 10 kB key name in the message
def test_a_number_longer_than_e164_is_refused_in_routing_numbers(tmp_path: Path, db_path: Path, digits: int) -> None:
    number = LONG[digits]
    path = tmp_path / "long.yaml"
    path.write_text(f"store:\n  path: {db_path}\nrouting:\n  numbers:\n    '{number}': {{route: PJSIP/agents}}\n", encoding="utf-8")

    result = CliRunner().invoke(main, ["config", "check", "--config", str(path)])

    assert (result.exit_code, result.stderr) == (1, f"Error: config key 'routing.numbers.{number}': {too_long(digits)}\n")


def test_a_national_number_that_is_longer_than_e164_once_normalised_is_refused(cli: Run, seeded: Path) -> None:
    before = dump(seeded)

    result = cli("lists", "add", "deny", "020712345678901")  # 15 digits typed; +44 and 14 digits stored

    assert (result.exit_code, result.stderr) == (
        1, "Error: '020712345678901' is not a phone number: +4420712345678901 has 16 digits, and E.164 numbers have at most 15\n")
    assert dump(seeded) == before


def test_a_number_of_15_digits_is_taken(cli: Run, seeded: Path) -> None:
    result = cli("lists", "add", "deny", "+123456789012345")

    assert (result.exit_code, result.stdout) == (0, "added +123456789012345 to the deny list\n")


def test_an_international_prefix_does_not_count_towards_the_15_digits(cli: Run, seeded: Path) -> None:
    result = cli("lists", "add", "deny", "00123456789012345")

    assert (result.exit_code, result.stdout) == (0, "added +123456789012345 to the deny list\n")


# -- control characters: refused as input, escaped as output ---------------------------

HOSTILE_TEXT = {
    "newline": ("ok\n+447700900999\tforged", "character 3 is \\n"),
    "carriage return": ("ok\rforged", "character 3 is \\r"),
    "tab": ("ok\tforged", "character 3 is \\t"),
    "ANSI escape": ("ok\x1b[2Jforged", "character 3 is \\x1b"),
    "line separator U+2028": ("ok\u2028forged", "character 3 is \\u2028 (LINE SEPARATOR)"),
    "bidi override U+202E": ("ok\u202eforged", "character 3 is \\u202e (RIGHT-TO-LEFT OVERRIDE)"),
    "zero-width space": ("ok\u200bforged", "character 3 is \\u200b (ZERO WIDTH SPACE)"),
}
TEXT_OPTIONS = {
    "lists add --reason": lambda t: ("lists", "add", "deny", MOBILE, "--reason", t),
    "numbers add --label": lambda t: ("numbers", "add", DDI, "--route", "PJSIP/agents", "--label", t),
    "plans create --description": lambda t: ("plans", "create", "Snow", "--description", t),
    "outcomes confirm --note": lambda t: ("outcomes", "confirm", "abc", "fraud", "--note", t),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_TEXT))
@pytest.mark.parametrize("option", sorted(TEXT_OPTIONS))
def test_free_text_with_a_control_character_is_refused(cli: Run, seeded: Path, option: str, kind: str) -> None:
    text, problem = HOSTILE_TEXT[kind]
    before = dump(seeded)

    result = cli(*TEXT_OPTIONS[option](text))

    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == f"Error: Invalid value for '{option.split()[-1]}': {problem}: {FREE_TEXT}"
    assert dump(seeded) == before


@pytest.mark.parametrize("kind", sorted(HOSTILE_TEXT))
def test_a_staff_name_with_a_control_character_is_refused(cli: Run, seeded: Path, kind: str) -> None:
    text, problem = HOSTILE_TEXT[kind]
    before = dump(seeded)

    result = cli("staff", "add", DDI, "--name", text, "--pin-stdin", input="1234\n")

    assert (result.exit_code, result.stderr.splitlines()[-1]) == (2, f"Error: Invalid value for '--name': {problem}: {FREE_TEXT}")
    assert dump(seeded) == before


def test_a_csv_label_with_a_control_character_is_refused(cli: Run, seeded: Path, tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    path.write_text(f"number,route,label\n{DDI},PJSIP/agents,ok\x1b[2Jforged\n", encoding="utf-8")
    before = dump(seeded)

    result = cli("numbers", "import", str(path))

    assert (result.exit_code, result.stderr) == (1, f"Error: {path}: nothing imported, 1 problem(s):\n"
                                                    f"  line 2: label: character 3 is \\x1b: {FREE_TEXT}\n")
    assert dump(seeded) == before


def test_free_text_with_a_non_breaking_space_or_accent_is_taken_and_printed_as_it_is(cli: Run, seeded: Path) -> None:
    label = "Sales\u00a0UK \u2013 Zo\u00eb"
    assert cli("numbers", "add", DDI, "--route", "PJSIP/agents", "--label", label).exit_code == 0

    result = cli("numbers", "list")

    assert (result.exit_code, label in result.stdout.splitlines()[1]) == (0, True)


def test_lists_show_prints_a_stored_reason_on_one_line(cli: Run, seeded: Path) -> None:
    # Text stored before this check, or by another writer: the output must still hold.
    db = open_store(seeded)
    list_store.add(db, NumberIntel("GB"), "deny", MOBILE, "ok\n+447700900999\tforged \x1b[31mred\u202e")
    db.close()

    result = cli("lists", "show", "deny")

    assert (result.exit_code, result.stdout) == (0, f"{MOBILE}\tok\\n+447700900999\\tforged \\x1b[31mred\\u202e\n")


def test_audit_prints_a_hostile_login_name_on_one_line(cli: Run, seeded: Path) -> None:
    # The actor is cli:<login name>, from LOGNAME/USER: the environment, not callshield.
    hostile = "ann\n2026-01-01T00:00:00Z\tcli:root\tlists.allow.add\t+447700900999\t{}"
    assert cli("plans", "load", PLAN, "1", env={"LOGNAME": hostile, "USER": hostile}).exit_code == 0

    result = cli("audit", "--limit", "1")

    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].split("\t")[1:] == [
        "cli:ann\\n2026-01-01T00:00:00Z\\tcli:root\\tlists.allow.add\\t+447700900999\\t{}", "plans.load", PLAN,
        '{"slot": 1, "was": null}']
    assert len(result.stdout.splitlines()) == 1


def _store(path: Path) -> RoutingStore:
    return RoutingStore(open_store(path), NumberIntel("GB"))


STORED_TEXT = {
    "numbers list": (lambda s: s.set_number(DDI, "PJSIP/agents", label="Sales\nEvil"), ("numbers", "list"), "Sales\\nEvil"),
    "staff list": (lambda s: s.add_staff(DDI, "Ann\x1b]0;owned\x07", "1234"), ("staff", "list"), "Ann\\x1b]0;owned\\x07"),
    "plans list": (lambda s: (s.load_plan(PLAN, 1), s.invoke_plan(PLAN, actor="ph\none")), ("plans", "list"), "ph\\none"),
    "plans show": (lambda s: s.create_plan("Snow", description="line\u2028break"), ("plans", "show", "Snow"), "line\\u2028break"),
    "overrides list": (lambda s: s.set_override(DDI, "PJSIP/leeds", staff=DDI, hours=1, actor="cli:\u202eevil"),
                       ("overrides", "list"), "cli:\\u202eevil"),
    "monitor status": (lambda s: s.db.execute("INSERT INTO destination_state VALUES ('agents', 1, 0, 'dial\nfailed', 0, 0)"),
                       ("monitor", "status", "--events", "0"), "dial\\nfailed"),
}


@pytest.mark.parametrize("case", sorted(STORED_TEXT))
def test_tables_print_stored_text_escaped(cli: Run, seeded: Path, case: str) -> None:
    setup, command, escaped = STORED_TEXT[case]
    store = _store(seeded)
    setup(store)
    store.db.conn.commit()
    store.db.close()

    result = cli(*command)

    assert result.exit_code == 0, result.output
    assert escaped in result.stdout
    assert not any(c in result.stdout for c in "\r\x1b\x07\u2028\u202e"), result.stdout


def test_outcomes_list_prints_a_stored_note_escaped(cli: Run, seeded: Path) -> None:
    db = open_store(seeded)
    db.execute("INSERT INTO calls (id, ts, caller_number, dialled, score) VALUES ('c1', 0, ?, ?, 90)", [MOBILE, DDI])
    db.execute("INSERT INTO outcomes (call_id, label, ts, actor, note) VALUES ('c1', 'fraud', 0, 'cli:x', 'a\nb')")
    db.conn.commit()
    db.close()

    result = cli("outcomes", "list")

    assert result.exit_code == 0
    assert result.stdout.splitlines()[1].split()[-1] == "a\\nb"
    assert len(result.stdout.splitlines()) == 2


# -- a YAML key written twice -------------------------------------------------------------

DUPLICATES = {
    "a section": ("agi:\n  port: 4600\nstore:\n  batch_size: 10\nagi:\n  host: 0.0.0.0\n",
                  "at line 5, column 1: duplicate key 'agi' (first at line 1)"),
    "a key in a section": ("agi:\n  port: 4600\n  port: 4601\n", "at line 3, column 3: duplicate key 'port' (first at line 2)"),
    "a dialled number": ("routing:\n  numbers:\n    '+442071234567': {route: PJSIP/a}\n    '+442071234567': {route: PJSIP/b}\n",
                         "at line 4, column 5: duplicate key '+442071234567' (first at line 3)"),
    "a key of a flow mapping": ("agi: {port: 4600, port: 4601}\n", "at line 1, column 19: duplicate key 'port' (first at line 1)"),
}


@pytest.mark.parametrize("case", sorted(DUPLICATES))
def test_config_check_refuses_a_key_written_twice(tmp_path: Path, case: str) -> None:
    text, where = DUPLICATES[case]
    path = tmp_path / "dup.yaml"
    path.write_text(text, encoding="utf-8")

    result = CliRunner().invoke(main, ["config", "check", "--config", str(path)])

    assert (result.exit_code, result.stderr) == (
        1, f"Error: config key '<file>': {path} is not valid YAML {where}; write each key once\n")


def test_every_command_refuses_a_config_with_a_key_written_twice(tmp_path: Path, db_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(f"store:\n  path: {db_path}\nstore:\n  path: {tmp_path / 'other.db'}\n", encoding="utf-8")

    result = CliRunner().invoke(main, ["lists", "show", "deny", "--config", str(path)])

    assert (result.exit_code, result.stderr) == (
        1, f"Error: config key '<file>': {path} is not valid YAML at line 3, column 1: duplicate key 'store' (first at line 1);"
           " write each key once\n")
    assert not db_path.exists() and not (tmp_path / "other.db").exists()


def test_a_yaml_merge_key_may_still_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text("routing:\n  default:\n    high_risk: &divert {action: divert, destination: PJSIP/fraud}\n"
                    "  numbers:\n    '+442071234567':\n      high_risk:\n        <<: *divert\n        destination: PJSIP/other\n",
                    encoding="utf-8")

    config = load_config(path, env={}, must_exist=True)

    assert config.routing.numbers["+442071234567"].high_risk.destination == "PJSIP/other"


# -- CSV files with only the required columns ----------------------------------------------


def test_numbers_import_takes_a_file_with_only_number_and_route(cli: Run, db_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    path.write_text(f"number,route\n{DDI},PJSIP/agents\n02079460001,PJSIP/support\n", encoding="utf-8")

    result = cli("numbers", "import", str(path))

    assert result.exit_code == 0, result.output
    assert cli("numbers", "export").stdout == ("number,route,fallback,announcement,label\n"
                                               "+442071234567,PJSIP/agents,,,\n+442079460001,PJSIP/support,,,\n")


def test_numbers_import_without_a_column_keeps_the_stored_values(cli: Run, seeded: Path, tmp_path: Path) -> None:
    assert cli("numbers", "add", DDI, "--route", "PJSIP/agents", "--fallback", "PJSIP/overflow", "--label", "Sales").exit_code == 0
    path = tmp_path / "n.csv"
    path.write_text(f"route,number\nPJSIP/leeds,{DDI}\n", encoding="utf-8")

    result = cli("numbers", "import", str(path))

    assert result.exit_code == 0, result.output
    assert cli("numbers", "export").stdout == "number,route,fallback,announcement,label\n+442071234567,PJSIP/leeds,PJSIP/overflow,,Sales\n"


def test_plans_import_takes_a_file_without_announcement(cli: Run, seeded: Path, tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(f"plan,number,destination\n{PLAN},{DDI},PJSIP/leeds\n", encoding="utf-8")

    result = cli("plans", "import", str(path))

    assert result.exit_code == 0, result.output
    assert cli("plans", "export").stdout == f"plan,number,destination,announcement\n{PLAN},{DDI},PJSIP/leeds,\n"


def test_a_csv_without_a_required_column_is_refused(cli: Run, seeded: Path, tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    path.write_text(f"number,label\n{DDI},Sales\n", encoding="utf-8")
    before = dump(seeded)

    result = cli("numbers", "import", str(path))

    assert (result.exit_code, result.stderr) == (
        1, f"Error: {path}: nothing imported, 1 problem(s):\n  line 1: bad header: missing column(s) route (expected the"
           " header row number,route,fallback,announcement,label, in any order; fallback, announcement, label may be left out)\n")
    assert dump(seeded) == before


# -- the store's permissions ------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> object:
    old = os.umask(0o022)  # the common default, under which files used to be 0644
    yield
    os.umask(old)


def test_a_new_store_is_owner_only(cli: Run, db_path: Path, loose_umask: object) -> None:
    assert cli("lists", "show", "deny").exit_code == 0

    assert (oct(_mode(db_path)), oct(_mode(db_path.parent))) == ("0o600", "0o700")


def test_the_store_wal_and_shm_files_are_owner_only(db_path: Path, loose_umask: object) -> None:
    db = open_store(db_path)
    db.execute("INSERT INTO audit (ts, actor, action, target, detail) VALUES (0, 'a', 'b', 'c', '{}')")
    db.conn.commit()
    wal, shm = Path(f"{db_path}-wal"), Path(f"{db_path}-shm")

    modes = (oct(_mode(wal)), oct(_mode(shm)))
    db.close()

    assert modes == ("0o600", "0o600")


def test_every_directory_made_for_the_store_is_owner_only(tmp_path: Path, loose_umask: object) -> None:
    path = tmp_path / "a" / "b" / "callshield.db"

    open_store(path).close()

    assert [oct(_mode(d)) for d in (tmp_path / "a", tmp_path / "a" / "b")] == ["0o700", "0o700"]


def test_an_existing_directory_is_left_as_it_is(tmp_path: Path, loose_umask: object) -> None:
    existing = tmp_path / "lib"
    existing.mkdir(mode=0o755)

    open_store(existing / "callshield.db").close()

    assert (oct(_mode(existing)), oct(_mode(existing / "callshield.db"))) == ("0o755", "0o600")


def test_the_modes_do_not_depend_on_the_umask(db_path: Path) -> None:
    old = os.umask(0)
    try:
        open_store(db_path).close()
    finally:
        os.umask(old)

    assert (oct(_mode(db_path)), oct(_mode(db_path.parent))) == ("0o600", "0o700")


def test_the_spill_file_is_owner_only(db_path: Path, loose_umask: object) -> None:
    from callshield.store.writer import CallWriter

    writer = CallWriter(db_path)  # not started: _spill is what a failed write calls
    db_path.parent.mkdir()
    writer._spill([{"id": "c1"}], [0])

    assert oct(_mode(writer.spill_path)) == "0o600"


def test_configured_modes_are_used(tmp_path: Path, db_path: Path, loose_umask: object) -> None:
    path = tmp_path / "modes.yaml"
    path.write_text(f"store:\n  path: {db_path}\n  file_mode: 0640\n  dir_mode: 0750\n", encoding="utf-8")

    result = CliRunner().invoke(main, ["lists", "show", "deny", "--config", str(path)])

    assert result.exit_code == 0, result.output
    assert (oct(_mode(db_path)), oct(_mode(db_path.parent))) == ("0o640", "0o750")


def test_an_existing_world_readable_store_is_warned_about_and_left(cli: Run, db_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    open_store(db_path).close()
    db_path.chmod(0o644)

    with caplog.at_level(logging.WARNING, logger="callshield.store.db"):
        result = cli("lists", "show", "deny")

    assert result.exit_code == 0
    assert [r.getMessage() for r in caplog.records] == [
        f"the store {db_path} has mode 0644: its group and every local user can read or change its call records"
        f" (personal data); run: chmod 0600 {db_path} (store.file_mode)"]
    assert oct(_mode(db_path)) == "0o644"


def test_an_existing_owner_only_store_is_not_warned_about(cli: Run, db_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    open_store(db_path).close()

    with caplog.at_level(logging.WARNING, logger="callshield.store.db"):
        result = cli("lists", "show", "deny")

    assert (result.exit_code, caplog.records) == (0, [])


@pytest.mark.parametrize(("yaml_value", "problem"), [
    ("600", "store.file_mode': must be a permission mode 0000-0777 written in octal with a leading 0 (e.g. 0600), not 600 (octal 1130)"),
    ("0400", "store.file_mode': must let the owner read and write (0600 at least), not 0400"),
    ("0o600", "store.file_mode': must be a whole number, not '0o600'"),
])
def test_a_file_mode_that_is_not_an_octal_mode_is_refused(tmp_path: Path, yaml_value: str, problem: str) -> None:
    path = tmp_path / "modes.yaml"
    path.write_text(f"store:\n  file_mode: {yaml_value}\n", encoding="utf-8")

    result = CliRunner().invoke(main, ["config", "check", "--config", str(path)])

    assert (result.exit_code, result.stderr) == (1, f"Error: config key '{problem}\n")

"""The command line, through click's CliRunner, on a config whose store lives in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner, Result

from callshield.cli import main

DDI = "+442071234567"
GB_CALLER = "+442079460000"
US_CALLER = "+12025550143"

Run = Callable[..., Result]


@pytest.fixture
def config_path(config_file: Callable[..., Path], tmp_path: Path) -> Path:
    # `score` runs serve's screener: these tests need the transparent rule scorer's exact
    # scores (tests/unit/test_one_screener.py checks the bundled model gives serve's decision).
    return config_file(f"store:\n  path: {tmp_path / 'var' / 'callshield.db'}\nscoring:\n  model: rules\n")


@pytest.fixture
def cli(config_path: Path) -> Run:
    """Run ``callshield ARGS --config <tmp config>`` with optional stdin text."""

    def run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(main, [*args, "--config", str(config_path)], input=input)

    return run


def decisions(result: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def signal_line(**fields: Any) -> str:
    return json.dumps({"dialled": DDI, **fields})


def test_config_check_ok(cli: Run, config_path: Path) -> None:
    result = cli("config", "check")

    assert (result.exit_code, result.stdout) == (0, f"{config_path}: OK\n")
    # Nothing is trusted by default, so the allow list would have no effect (tests/security/test_allowlist_trust.py).
    assert result.stderr.startswith("Warning: no trusted source is configured")


def test_config_check_names_the_bad_key(config_file: Callable[..., Path]) -> None:
    path = config_file("agi:\n  prot: 4600\n", name="bad.yaml")

    result = CliRunner().invoke(main, ["config", "check", "--config", str(path)])

    assert result.exit_code == 1
    assert result.stderr == "Error: config key 'agi.prot': unknown key (known: command_timeout, enabled, env_timeout, event_loop, host, port, session_timeout, watchdog_timeout)\n"


def test_config_check_needs_the_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["config", "check", "--config", str(tmp_path / "absent.yaml")])

    assert (result.exit_code, result.stderr) == (1, f"Error: config key '<file>': {tmp_path / 'absent.yaml'} does not exist\n")


def test_config_show_prints_the_effective_config(cli: Run, tmp_path: Path) -> None:
    result = cli("config", "show")

    assert result.exit_code == 0
    shown = result.stdout
    assert "  port: 4573\n" in shown and f"  path: {tmp_path / 'var' / 'callshield.db'}\n" in shown


def test_score_one_object(cli: Run) -> None:
    result = cli("score", "--ephemeral", input=json.dumps({"dialled": DDI, "caller_number": US_CALLER, "timestamp": 1795000000}, indent=2))

    assert (result.exit_code, result.stderr) == (0, "")
    (decision,) = decisions(result)
    assert (decision["RISK_SCORE"], decision["RISK_STATUS"], decision["RISK_REASONS"], decision["ROUTE_ACTION"]) == (
        20, "SAFE", "INTERNATIONAL", "deliver")
    assert decision["reasons"] == [{"code": "INTERNATIONAL", "points": 20, "detail": "caller in US, dialled number in GB"}]


def test_score_json_lines_gives_one_decision_per_line_in_order(cli: Run) -> None:
    lines = [signal_line(caller_number=GB_CALLER, timestamp=1795000000 + 60 * i) for i in range(3)]

    result = cli("score", "--ephemeral", input="\n".join(lines) + "\n\n")

    assert result.exit_code == 0
    assert [d["RISK_REASONS"] for d in decisions(result)] == ["", "", "REPEAT_CALLS"]


def test_score_reports_bad_lines_and_scores_the_rest(cli: Run) -> None:
    lines = [signal_line(caller_number=GB_CALLER, timestamp=100), "not json", '{"dialled": ""}', signal_line(caller_number=US_CALLER, timestamp=50)]

    result = cli("score", "--ephemeral", input="\n".join(lines))

    assert result.exit_code == 1
    assert [d["RISK_REASONS"] for d in decisions(result)] == ["", "INTERNATIONAL"]
    assert result.stderr == (
        "line 2: not JSON: Expecting value at column 1\n"
        "line 3: field 'dialled' is required: the dialled number (DDI) the call arrived on\n"
        "line 4: timestamp goes back in time; repeat-call counts assume time order\n"
        "Error: 2 input line(s) could not be scored (see above)\n"
    )


def test_score_uses_the_lists(cli: Run) -> None:
    cli("lists", "add", "deny", US_CALLER, "--reason", "fraud")

    (decision,) = decisions(cli("score", "--ephemeral", input=signal_line(caller_number=US_CALLER)))

    assert decision["RISK_STATUS"] == "HIGH_RISK" and decision["RISK_REASONS"].startswith("DENYLISTED")


def test_score_without_ephemeral_keeps_history_between_runs(cli: Run) -> None:
    runs = [cli("score", input=signal_line(caller_number=GB_CALLER)) for _ in range(3)]

    assert [r.exit_code for r in runs] == [0, 0, 0]
    assert [decisions(r)[0]["RISK_REASONS"] for r in runs] == ["", "", "REPEAT_CALLS"]


def test_score_ephemeral_keeps_no_history(cli: Run) -> None:
    runs = [cli("score", "--ephemeral", input=signal_line(caller_number=GB_CALLER)) for _ in range(3)]

    assert [decisions(r)[0]["RISK_REASONS"] for r in runs] == ["", "", ""]


def test_lists_add_show_remove(cli: Run) -> None:
    added = cli("lists", "add", "deny", "07400 123456", "--reason", "confirmed fraud")
    shown = cli("lists", "show", "deny")
    removed = cli("lists", "remove", "deny", "+447400123456")
    after = cli("lists", "show", "deny")

    assert (added.exit_code, added.stdout) == (0, "added +447400123456 to the deny list\n")
    assert (shown.exit_code, shown.stdout) == (0, "+447400123456\tconfirmed fraud\n")
    assert (removed.exit_code, removed.stdout) == (0, "removed +447400123456 from the deny list\n")
    assert (after.exit_code, after.stdout) == (0, "")


def test_lists_add_refuses_an_invalid_number(cli: Run) -> None:
    result = cli("lists", "add", "deny", "abc")

    assert (result.exit_code, result.stderr) == (1, "Error: 'abc' is not a phone number (digits with an optional leading +, e.g. +442071234567)\n")


def test_lists_remove_of_an_absent_number(cli: Run) -> None:
    result = cli("lists", "remove", "allow", GB_CALLER)

    assert (result.exit_code, result.stderr) == (1, f"Error: {GB_CALLER} is not on the allow list\n")


def test_lists_unknown_list_is_a_usage_error(cli: Run) -> None:
    result = cli("lists", "show", "grey")

    assert result.exit_code == 2
    assert "Error: Invalid value for 'allow|deny': 'grey' is not one of 'allow', 'deny'." in result.stderr


def test_dnc_import_is_all_or_nothing_and_names_bad_lines(cli: Run, tmp_path) -> None:
    good = tmp_path / "dnc.csv"
    good.write_text("number\n+12025550143\n2025550199\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("+12025550111\n+447400123456\nabc\n")

    assert cli("dnc", "import", str(good)).stdout == "imported 2 Do-Not-Call numbers\n"
    result = cli("dnc", "import", str(bad))

    assert result.exit_code == 1
    assert "2 bad line(s), nothing imported" in result.stderr
    assert "line 2: '+447400123456' is not a US or CA number" in result.stderr
    assert "line 3: 'abc' is not a phone number" in result.stderr

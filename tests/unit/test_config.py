"""Config: defaults < YAML file < environment < overrides, validated once; every error names its key."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from callshield.config import Config, NumberPolicy, StatusAction, Thresholds, load_config
from callshield.dialplan.policy import RoutingTable
from callshield.errors import ConfigError
from callshield.read.numbers import NumberIntel

WriteFile = Callable[..., Path]


def test_defaults_load_and_validate() -> None:
    config = load_config(None, env={})

    assert config == Config()
    assert (config.agi.host, config.agi.port) == ("127.0.0.1", 4573)
    assert config.scoring.home_country == "GB"
    assert config.routing.default.thresholds == Thresholds(suspicious=75, high_risk=85)


def test_missing_file_runs_on_defaults_unless_it_must_exist(tmp_path: Path) -> None:
    assert load_config(tmp_path / "absent.yaml", env={}) == Config()


def test_empty_file_runs_on_defaults(config_file: WriteFile) -> None:
    assert load_config(config_file(""), env={}) == Config()


def test_file_values_are_read(config_file: WriteFile) -> None:
    path = config_file(
        """
agi:
  port: 4600
  command_timeout: 1
store:
  path: /tmp/cs.db
scoring:
  home_country: us
  trust_verstat_from: [203.0.113.0/24]
  weights:
    withheld: 55
routing:
  default:
    route: PJSIP/agents
    high_risk: {action: divert, destination: PJSIP/fraudteam}
  numbers:
    "+442071234567":
      route: PJSIP/sales&PJSIP/backup
"""
    )

    config = load_config(path, env={})

    assert config.agi.port == 4600
    assert config.agi.command_timeout == 1.0 and isinstance(config.agi.command_timeout, float)
    assert config.store.path == "/tmp/cs.db"
    assert config.scoring.home_country == "us"
    assert config.scoring.trust_verstat_from == ["203.0.113.0/24"]
    assert config.scoring.weights.withheld == 55
    assert config.routing.default.high_risk == StatusAction(action="divert", destination="PJSIP/fraudteam")
    assert config.routing.numbers == {"+442071234567": NumberPolicy(route="PJSIP/sales&PJSIP/backup")}


def test_environment_overrides_the_file(config_file: WriteFile) -> None:
    path = config_file("agi:\n  port: 4000\n")

    config = load_config(path, env={"CALLSHIELD_AGI__PORT": "4600", "CALLSHIELD_CONFIG": "ignored.yaml", "HOME": "/root"})

    assert config.agi.port == 4600


def test_environment_is_read_from_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLSHIELD_AGI__PORT", "4600")

    assert load_config(None).agi.port == 4600


def test_overrides_win_over_environment_and_none_means_unset(config_file: WriteFile) -> None:
    path = config_file("agi:\n  port: 4000\n  host: 0.0.0.0\n")

    config = load_config(path, env={"CALLSHIELD_AGI__PORT": "4600"}, overrides={"agi.port": 4700, "agi.host": None})

    assert (config.agi.host, config.agi.port) == ("0.0.0.0", 4700)


@pytest.mark.parametrize(
    ("yaml_text", "key", "words"),
    [
        ("agi:\n  prot: 4600\n", "agi.prot", "unknown key (known: command_timeout, enabled, env_timeout, event_loop, host, port, session_timeout, watchdog_timeout)"),
        ("agl:\n  port: 4600\n", "agl", "unknown key"),
        ('agi:\n  port: "x"\n', "agi.port", "must be a whole number, not 'x'"),
        ("agi:\n  port: true\n", "agi.port", "must be a whole number, not True"),
        ("agi:\n  port: 70000\n", "agi.port", "must be a TCP port 1-65535, not 70000"),
        ("agi:\n  enabled: 1\n", "agi.enabled", "must be true or false"),
        ("agi:\n  command_timeout: 0\n", "agi.command_timeout", "must be greater than 0"),
        ("agi: 5\n", "agi", "must be a mapping"),
        ("store:\n  path: ''\n", "store.path", "must name a SQLite file"),
        ("logging:\n  level: LOUD\n", "logging.level", "must be one of DEBUG, INFO, WARNING, ERROR"),
        ("scoring:\n  weights:\n    withheld: 101\n", "scoring.weights.withheld", "between 0 and 100"),
        ("scoring:\n  repeat_threshold: 0\n", "scoring.repeat_threshold", "greater than 0"),
        ("scoring:\n  home_country: XX\n", "scoring.home_country", "'XX' is not an ISO 3166 region code"),
        ("scoring:\n  trust_verstat_from: [10.0.0.0/8, carrier]\n", "scoring.trust_verstat_from[1]", "'carrier' is not an IP network"),
        ("scoring:\n  trust_verstat_from: 10.0.0.0/8\n", "scoring.trust_verstat_from", "must be a list"),
        ("routing:\n  default:\n    thresholds: {high_risk: 101}\n", "routing.default.thresholds.high_risk", "between 1 and 100, not 101"),
        ("routing:\n  default:\n    thresholds: {suspicious: 90, high_risk: 80}\n", "routing.default.thresholds.suspicious",
         "(90) must not exceed high_risk (80)"),
        ("routing:\n  default:\n    high_risk: {action: divert}\n", "routing.default.high_risk.destination", "a divert needs a destination"),
        ("routing:\n  default:\n    high_risk: {action: drop}\n", "routing.default.high_risk.action", "must be one of deliver, divert"),
        ("routing:\n  default:\n    suspicious: {action: announce_hangup}\n", "routing.default.suspicious.announcement", "needs an announcement"),
        ("routing:\n  default:\n    route: PJSIP/agents,30\n", "routing.default.route", "'PJSIP/agents,30' is not a Dial() device string"),
        ("routing:\n  default:\n    high_risk: {action: divert, destination: 'PJSIP/fraud team'}\n",
         "routing.default.high_risk.destination", "is not a Dial() device string"),
        ("routing:\n  default:\n    announcement: 'hello world'\n", "routing.default.announcement", "is not a sound name"),
        ("routing:\n  numbers:\n    'sales': {route: PJSIP/sales}\n", "routing.numbers.sales", "a dialled number must be digits"),
        ("routing:\n  numbers:\n    '+442071234567': {fallback: 'PJSIP/a,b'}\n", "routing.numbers.+442071234567.fallback", "not a Dial() device string"),
        ("routing:\n  numbers:\n    '+442071234567': {rout: PJSIP/a}\n", "routing.numbers.+442071234567.rout", "unknown key"),
    ],
)
def test_invalid_value_is_refused_naming_its_key(config_file: WriteFile, yaml_text: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(config_file(yaml_text), env={})

    assert caught.value.key == key
    assert str(caught.value).startswith(f"config key '{key}': ")
    assert words in caught.value.problem


@pytest.mark.parametrize(
    ("env", "key", "words"),
    [
        ({"CALLSHIELD_AGI__PORT": "x"}, "agi.port", "must be a whole number, not 'x'"),
        ({"CALLSHIELD_AGI__PROT": "4600"}, "agi.prot", "unknown key"),
        ({"CALLSHIELD_STORE__PATH": ""}, "store.path", "must name a SQLite file"),
    ],
)
def test_invalid_environment_value_is_refused_naming_its_key(env: dict[str, str], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, env=env)

    assert caught.value.key == key
    assert words in caught.value.problem


def test_override_into_a_non_section_names_the_key(config_file: WriteFile) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(config_file("agi: 5\n"), env={"CALLSHIELD_AGI__PORT": "4600"})

    assert caught.value.key == "agi.port"
    assert caught.value.problem == "'agi' is not a section"


def test_corrupt_yaml_names_the_file_line_and_column(config_file: WriteFile) -> None:
    path = config_file("agi:\n  port: 4600\n  host: [unclosed\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})

    assert caught.value.key == "<file>"
    assert caught.value.problem.startswith(f"{path} is not valid YAML at line 4, column 1: ")


@pytest.mark.parametrize(("yaml_text", "kind"), [("- agi\n- store\n", "list"), ("just words\n", "str")])
def test_top_level_that_is_not_a_mapping_is_refused(config_file: WriteFile, yaml_text: str, kind: str) -> None:
    path = config_file(yaml_text)

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})

    assert caught.value.key == "<file>"
    assert caught.value.problem == f"{path} must hold a mapping of sections (agi, store, ...), not {kind}"


def test_non_utf8_file_is_refused(config_file: WriteFile) -> None:
    path = config_file(b"agi:\n  host: caf\xe9\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})

    assert caught.value.key == "<file>"
    assert caught.value.problem.startswith(f"{path} is not UTF-8 text")


def test_unreadable_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, env={})

    assert caught.value.key == "<file>"
    assert caught.value.problem.startswith(f"cannot read {tmp_path}: ")


def test_missing_file_that_must_exist_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={}, must_exist=True)

    assert caught.value.key == "<file>"
    assert caught.value.problem == f"{path} does not exist"


def test_unquoted_national_number_key_is_not_silently_read_as_octal(config_file: WriteFile, intel: NumberIntel) -> None:
    path = config_file("routing:\n  numbers:\n    02071234567:\n      route: PJSIP/sales\n")

    try:
        config = load_config(path, env={})
    except ConfigError as exc:  # refusing the key is a fix too
        assert exc.key.startswith("routing.numbers")
        return
    assert RoutingTable(config.routing, intel).policy("+442071234567").route == "PJSIP/sales"


@pytest.mark.parametrize("route", ["PJSIP/agents;x", "PJSIP/${SHELL(id)}", "PJSIP/agents(", "PJSIP/a|b"])
def test_a_configured_route_that_would_break_the_dialplan_is_refused(make_config, route):
    with pytest.raises(ConfigError, match="routing.default.route.*would break the dialplan"):
        make_config(overrides={"routing.default.route": route})

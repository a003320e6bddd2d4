"""The docs are checked by machine: these fail when a documented thing drifts from the code.

- docs/channel-variables.md names every channel variable, reason code, route action and
  X-CallShield-* header;
- docs/configuration.md and callshield.sample.yaml name every config key, and the sample
  holds the built-in defaults and validates;
- docs/cli.md is what docs/gen_cli.py generates;
- the dialplan include uses every variable of the contract.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import types
import typing
from pathlib import Path

import pytest
import yaml

from callshield.dialplan import variables as dialplan_vars
from callshield.config import ROUTE_ACTIONS, Config, load_config
from callshield.models.reasons import REASON_CODES

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
SAMPLE = REPO / "callshield.sample.yaml"
INCLUDE = REPO / "asterisk-conf" / "extensions_callshield.conf"
DICT_KEY = "<DDI>"  # how docs and tests spell the key of routing.numbers


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def contract_names() -> list[str]:
    """Every UPPER_CASE string constant of dialplan_vars: the channel-variable names."""
    return sorted(v for k, v in vars(dialplan_vars).items() if k.isupper() and isinstance(v, str))


def _unwrap(tp: typing.Any) -> typing.Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def config_keys(cls: typing.Any = Config, prefix: str = "") -> list[str]:
    """Every leaf key of the Config tree as a dotted path; dict keys appear as <DDI>."""
    keys: list[str] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path = f"{prefix}{f.name}"
        tp = _unwrap(hints[f.name])
        if dataclasses.is_dataclass(tp):
            keys += config_keys(tp, path + ".")
        elif typing.get_origin(tp) is dict:
            item = _unwrap(typing.get_args(tp)[1])
            assert dataclasses.is_dataclass(item), f"{path}: document this mapping's values by hand"
            keys += config_keys(item, f"{path}.{DICT_KEY}.")
        else:
            keys.append(path)
    return keys


def test_the_config_walk_sees_the_nested_and_per_number_keys():
    keys = config_keys()
    assert "agi.port" in keys
    assert "scoring.weights.withheld" in keys
    assert "routing.default.thresholds.high_risk" in keys
    assert "routing.numbers.<DDI>.high_risk.action" in keys


# --- docs/channel-variables.md ------------------------------------------------------

@pytest.mark.parametrize("name", contract_names())
def test_every_channel_variable_is_documented(name):
    assert f"`{name}`" in read(DOCS / "channel-variables.md")


@pytest.mark.parametrize("code", sorted(REASON_CODES))
def test_every_reason_code_is_documented(code):
    assert f"`{code}`" in read(DOCS / "channel-variables.md")


@pytest.mark.parametrize("action", ROUTE_ACTIONS)
def test_every_route_action_is_documented(action):
    text = read(DOCS / "channel-variables.md")
    assert f"`{action}`" in text
    assert f"`risk_policy:<STATUS>:{action}`" in text or action == "deliver"


def test_every_agent_header_of_the_include_is_documented():
    headers = sorted(set(re.findall(r"PJSIP_HEADER\(add,(X-CallShield-[A-Za-z-]+)\)", read(INCLUDE))))
    assert headers, "the include adds no X-CallShield-* headers any more?"
    text = read(DOCS / "channel-variables.md")
    for header in headers:
        assert f"`{header}`" in text, header


# --- docs/configuration.md and callshield.sample.yaml -------------------------------

@pytest.mark.parametrize("key", config_keys())
def test_every_config_key_is_documented(key):
    assert f"`{key}`" in read(DOCS / "configuration.md")


def _has_key(data: typing.Any, parts: list[str]) -> bool:
    if not parts:
        return True
    if not isinstance(data, dict):
        return False
    head, rest = parts[0], parts[1:]
    if head == DICT_KEY:
        return any(_has_key(v, rest) for v in data.values())
    return head in data and _has_key(data[head], rest)


@pytest.mark.parametrize("key", config_keys())
def test_every_config_key_is_in_the_sample(key):
    data = yaml.safe_load(read(SAMPLE))
    assert _has_key(data, key.split(".")), f"{key} is missing from callshield.sample.yaml"


def test_the_sample_validates():
    load_config(SAMPLE, env={}, must_exist=True)


def test_the_sample_holds_the_built_in_defaults():
    config = load_config(SAMPLE, env={}, must_exist=True)
    assert config.routing.numbers, "the sample should show an example routing.numbers entry"
    without_example = dataclasses.replace(config, routing=dataclasses.replace(config.routing, numbers={}))
    assert without_example == Config()


def test_the_sample_dialled_numbers_are_quoted():
    # Unquoted, YAML turns +44... into an integer and 0207... into an octal one.
    numbers = yaml.safe_load(read(SAMPLE))["routing"]["numbers"]
    assert all(isinstance(k, str) for k in numbers)


# --- docs/cli.md ----------------------------------------------------------------------

def test_the_cli_reference_is_up_to_date():
    spec = importlib.util.spec_from_file_location("gen_cli", DOCS / "gen_cli.py")
    gen = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(gen)
    assert read(DOCS / "cli.md") == gen.render(), "docs/cli.md is stale: run .venv/bin/python docs/gen_cli.py > docs/cli.md"


# --- the README's pre-answer figures --------------------------------------------------------

def test_the_readmes_pre_answer_figures_are_the_last_measured_ones():
    spec = importlib.util.spec_from_file_location("readme_figures", REPO / "bench" / "readme_figures.py")
    gen = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(gen)
    figures = json.loads(read(REPO / "bench" / "figures.json"))
    assert read(REPO / "README.md") == gen.render(read(REPO / "README.md"), figures), \
        "README.md's pre-answer rows are not bench/figures.json's: run make figures (or bench/readme_figures.py --render)"


# --- the dialplan include ----------------------------------------------------------------

@pytest.mark.parametrize("name", dialplan_vars.DECISION_VARIABLES + dialplan_vars.DIALPLAN_VARIABLES)
def test_the_include_clears_and_uses_every_contract_variable(name):
    text = read(INCLUDE)
    code = "\n".join(re.split(r"(?<!\\);", line, maxsplit=1)[0] for line in text.splitlines())  # comments cut; an escaped \; is no comment
    clear = next(line for line in code.splitlines() if "(clear),MSet(" in line)
    assert f"{name}=" in clear, f"the include does not clear {name} before the AGI"
    assert len(re.findall(rf"\b{name}\b", code)) >= 2, f"the include never uses {name} beyond clearing it"


def test_the_sample_dialplan_has_the_one_line_and_the_include():
    text = read(REPO / "asterisk-conf" / "extensions.sample.conf")
    assert "#include extensions_callshield.conf" in text
    assert "Gosub(callshield-screen,s,1(${EXTEN}))" in text


# --- README's layout and docs/architecture.md match the tree ---------------------------------

PACKAGE = REPO / "callshield"
ARCHITECTURE = DOCS / "architecture.md"


def readme_layout_paths() -> list[str]:
    """Every path of the README's layout block, its indentation (two spaces a level) giving
    the folder it is in; a line indented past the name column continues a description."""
    text = read(REPO / "README.md")
    block = re.search(r"^## Layout\n.*?^```\n(.*?)^```", text, re.S | re.M)
    assert block, "README.md has no ```-block under ## Layout"
    paths: list[str] = []
    parents: list[str] = []
    for line in block.group(1).splitlines():
        indent = len(line) - len(line.lstrip(" "))
        if not line.strip() or indent >= 8:
            continue
        name = line.split()[0]
        depth = indent // 2
        parents = parents[:depth]
        path = "".join(parents) + name
        paths.append(path)
        if name.endswith("/"):
            parents.append(name)
    return paths


def architecture_module_paths() -> list[str]:
    """The module list of docs/architecture.md: each item that starts with a `callshield/...` path."""
    return re.findall(r"^- `(callshield/[^`]*)`", read(ARCHITECTURE), re.M)


def test_every_path_of_the_readme_layout_exists():
    paths = readme_layout_paths()
    assert "callshield/ami_monitor/" in paths and "tests/support/" in paths
    missing = [p for p in paths if not (REPO / p).exists()]
    assert not missing, f"README.md's layout names paths that do not exist: {missing}"


def test_every_path_of_the_architecture_module_list_exists():
    paths = architecture_module_paths()
    assert paths, "docs/architecture.md lists no `callshield/...` modules"
    missing = [p for p in paths if not (REPO / p).exists()]
    # The modules an item names inside its folder (`server.py`, `bundled/`) exist there too.
    for item in re.findall(r"^- `(callshield/[^`]*)`(.*(?:\n  .*)*)", read(ARCHITECTURE), re.M):
        folder = item[0] if item[0].endswith("/") else item[0].rsplit("/", 1)[0] + "/"
        missing += [folder + n for n in re.findall(r"`([a-z_]+\.py|[a-z_]+/)`", item[1]) if not (REPO / folder / n).exists()]
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_every_top_level_entry_of_the_package_is_in_the_architecture():
    entries = sorted(
        f"callshield/{p.name}/" if p.is_dir() else f"callshield/{p.name}"
        for p in PACKAGE.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists())
        or (p.suffix == ".py" and p.name not in ("__init__.py", "__main__.py"))
    )
    named = set(architecture_module_paths())
    missing = [e for e in entries if e not in named]
    assert not missing, f"docs/architecture.md's module list does not name: {missing}"


def test_the_service_unit_in_asterisk_md_is_the_shipped_one():
    """docs/asterisk.md shows deploy/callshield.service whole: one unit, not two that drift."""
    unit = read(REPO / "deploy" / "callshield.service")
    shown = re.search(r"```ini\n(\[Unit\].*?)\n```", read(DOCS / "asterisk.md"), re.S)
    assert shown is not None
    assert shown.group(1) == unit[unit.index("[Unit]"):].rstrip("\n")

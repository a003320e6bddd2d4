"""The one typed configuration object, loaded from YAML and validated once.

Precedence: built-in defaults < YAML file < environment (``CALLSHIELD_<SECTION>__<KEY>``,
e.g. ``CALLSHIELD_AGI__PORT=4600``) < command-line flags. Every key is documented in
docs/configuration.md and commented in callshield.sample.yaml; unknown keys are errors.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml

from callshield.errors import ConfigError

ENV_PREFIX = "CALLSHIELD_"
ROUTE_ACTIONS = ("deliver", "divert", "announce_hangup", "reject")
# A Dial() device string: TECH/resource, several joined by '&'. No commas (they would
# split Dial's arguments), quotes, spaces or backslashes.
DIAL_STRING_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*/[^,\s\"'\\&]+(&[A-Za-z][A-Za-z0-9_-]*/[^,\s\"'\\&]+)*$")
# What DIAL_STRING_RE lets through but must not reach ROUTE: in Dial(${ROUTE},timeout,b(...))
# an unbalanced ( or ) swallows or ends the options; $ { } are variable and function syntax;
# ; (comment) and | (the old argument separator) have no place in a device string; and
# nothing but printable ASCII (no control bytes for the AGI line).
DIAL_UNSAFE_RE = re.compile(r"[;|${}()]|[^\x21-\x7e]")
SOUND_NAME_RE = re.compile(r"^[A-Za-z0-9_/.-]*$")


def dial_string_problem(value: str) -> str | None:
    """Why ``value`` is not a Dial() device string callshield may hand the dialplan, or None."""
    if not DIAL_STRING_RE.fullmatch(value or ""):
        return f"{value!r} is not a Dial() device string (TECH/resource, e.g. PJSIP/agents or PJSIP/+447700900123@trunk; no commas or spaces)"
    unsafe = DIAL_UNSAFE_RE.search(value)
    if unsafe:
        return (f"{value!r} is not a Dial() device string ({unsafe.group()!r} would break the dialplan;"
                " printable ASCII only, without ; | $ { } ( ))")
    return None
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
EVENT_LOOPS = ("uvloop", "asyncio")


@dataclass(frozen=True)
class AgiConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 4573
    command_timeout: float = 2.0
    # A connection must send its whole AGI environment within this (Asterisk sends it at once).
    env_timeout: float = 1.0
    session_timeout: float = 5.0
    watchdog_timeout: float = 1.0
    event_loop: str = "uvloop"

    def validate(self, path: str) -> None:
        if self.event_loop not in EVENT_LOOPS:
            raise ConfigError(f"{path}.event_loop", f"must be one of {', '.join(EVENT_LOOPS)}, not {self.event_loop!r}")
        _port(f"{path}.port", self.port)
        if self.watchdog_timeout < 0:
            raise ConfigError(f"{path}.watchdog_timeout", f"must be 0 (off) or more seconds, not {self.watchdog_timeout}")
        _positive(f"{path}.command_timeout", self.command_timeout)
        _positive(f"{path}.env_timeout", self.env_timeout)
        _positive(f"{path}.session_timeout", self.session_timeout)


@dataclass(frozen=True)
class StoreConfig:
    path: str = "var/callshield.db"
    # Call records are personal data: the store file (and its -wal, -shm) is created
    # owner-only, and so is each directory callshield creates for it (umask aside).
    file_mode: int = 0o600
    dir_mode: int = 0o700
    batch_size: int = 200
    flush_interval: float = 0.25
    reload_interval: float = 1.0
    # Each decision appended to <path>.journal.<n> before its reply: survives a killed serve.
    journal: bool = True
    close_timeout: float = 5.0

    def validate(self, path: str) -> None:
        if not self.path:
            raise ConfigError(f"{path}.path", "must name a SQLite file")
        _mode(f"{path}.file_mode", self.file_mode, 0o600, "read and write")
        _mode(f"{path}.dir_mode", self.dir_mode, 0o700, "read, write and enter")
        _positive(f"{path}.batch_size", self.batch_size)
        _positive(f"{path}.flush_interval", self.flush_interval)
        _positive(f"{path}.reload_interval", self.reload_interval)
        _positive(f"{path}.close_timeout", self.close_timeout)


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "INFO"

    def validate(self, path: str) -> None:
        if self.level.upper() not in LOG_LEVELS:
            raise ConfigError(f"{path}.level", f"must be one of {', '.join(LOG_LEVELS)}, not {self.level!r}")


@dataclass(frozen=True)
class Thresholds:
    suspicious: int = 75
    high_risk: int = 85

    def validate(self, path: str) -> None:
        for name in ("suspicious", "high_risk"):
            value = getattr(self, name)
            if not 0 < value <= 100:
                raise ConfigError(f"{path}.{name}", f"must be between 1 and 100, not {value}")
        if self.suspicious > self.high_risk:
            raise ConfigError(f"{path}.suspicious", f"({self.suspicious}) must not exceed high_risk ({self.high_risk})")


@dataclass(frozen=True)
class RuleWeights:
    """Points each rule adds to the 0-100 score (allowlist and denylist set it outright)."""

    allowlist: int = 0
    denylist: int = 95
    withheld: int = 40
    no_caller_id: int = 30
    invalid_number: int = 20
    repeat_calls: int = 15
    withheld_repeat: int = 40
    attestation_b: int = 10
    attestation_c: int = 35
    verification_failed: int = 40
    identity_invalid: int = 30
    international: int = 20
    cli_mismatch: int = 25
    data_quality: int = 10

    def validate(self, path: str) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not 0 <= value <= 100:
                raise ConfigError(f"{path}.{f.name}", f"must be between 0 and 100, not {value}")


@dataclass(frozen=True)
class ScoringConfig:
    home_country: str = "GB"
    repeat_window: int = 600
    repeat_threshold: int = 3
    withheld_repeat_threshold: int = 2
    withheld_anonymous_threshold: int = 4
    trust_verstat_from: list[str] = field(default_factory=list)
    # Who the allow list believes (callshield.read.trust, docs/security.md).
    trust_identity_from: list[str] = field(default_factory=list)
    internal_networks: list[str] = field(default_factory=list)
    model: str = "bundled"
    weights: RuleWeights = field(default_factory=RuleWeights)

    def validate(self, path: str) -> None:
        import phonenumbers

        if self.home_country.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigError(f"{path}.home_country", f"{self.home_country!r} is not an ISO 3166 region code phonenumbers knows (e.g. GB, US)")
        _positive(f"{path}.repeat_window", self.repeat_window)
        _positive(f"{path}.repeat_threshold", self.repeat_threshold)
        _positive(f"{path}.withheld_repeat_threshold", self.withheld_repeat_threshold)
        _positive(f"{path}.withheld_anonymous_threshold", self.withheld_anonymous_threshold)
        for key in ("trust_verstat_from", "trust_identity_from", "internal_networks"):
            for i, net in enumerate(getattr(self, key)):
                try:
                    ipaddress.ip_network(net, strict=False)
                except ValueError:
                    raise ConfigError(f"{path}.{key}[{i}]", f"{net!r} is not an IP network (e.g. 203.0.113.0/24)") from None
        self.weights.validate(f"{path}.weights")


@dataclass(frozen=True)
class StatusAction:
    """What a risk status does to the call."""

    action: str = "deliver"
    destination: str = ""
    announcement: str = ""
    max_per_hour: int = 0

    def validate(self, path: str) -> None:
        if self.max_per_hour < 0:
            raise ConfigError(f"{path}.max_per_hour", f"must be 0 (no cap) or more diverted calls per hour, not {self.max_per_hour}")
        if self.action not in ROUTE_ACTIONS:
            raise ConfigError(f"{path}.action", f"must be one of {', '.join(ROUTE_ACTIONS)}, not {self.action!r}")
        if self.action == "divert" and not self.destination:
            raise ConfigError(f"{path}.destination", "a divert needs a destination dial string (e.g. PJSIP/fraudteam)")
        if self.destination:
            _dial_string(f"{path}.destination", self.destination)
        _sound(f"{path}.announcement", self.announcement)
        if self.action == "announce_hangup" and not self.announcement:
            raise ConfigError(f"{path}.announcement", "announce_hangup needs an announcement sound name")


@dataclass(frozen=True)
class NumberPolicy:
    """Routing and risk policy of one dialled number (DDI); unset keys inherit the default."""

    route: str | None = None
    fallback: str | None = None
    announcement: str | None = None
    thresholds: Thresholds | None = None
    suspicious: StatusAction | None = None
    high_risk: StatusAction | None = None

    def validate(self, path: str) -> None:
        for name in ("route", "fallback"):
            value = getattr(self, name)
            if value:
                _dial_string(f"{path}.{name}", value)
        if self.announcement:
            _sound(f"{path}.announcement", self.announcement)
        for name in ("thresholds", "suspicious", "high_risk"):
            value = getattr(self, name)
            if value is not None:
                value.validate(f"{path}.{name}")


def _default_policy() -> NumberPolicy:
    return NumberPolicy(
        route="",
        fallback="",
        announcement="",
        thresholds=Thresholds(),
        suspicious=StatusAction(),
        high_risk=StatusAction(),
    )


@dataclass(frozen=True)
class AccessPrompts:
    """Sounds the access-code scripts play (Asterisk sound names; join several with &).
    The defaults are Asterisk's stock English prompts; record your own and name them here."""

    slot: str = "number"
    pin: str = "agent-pass"
    staff_number: str = "agent-user"
    target: str = "vm-enter-num-to-call&vm-then-pound"
    wrong_pin: str = "auth-incorrect"
    locked: str = "please-try-call-later"
    invalid: str = "invalid"
    invoked: str = "activated"
    revoked: str = "de-activated"
    override_on: str = "call-fwd-unconditional&activated"
    override_off: str = "call-fwd-unconditional&de-activated"
    goodbye: str = "goodbye"

    def validate(self, path: str) -> None:
        for f in dataclasses.fields(self):
            for part in getattr(self, f.name).split("&"):
                _sound(f"{path}.{f.name}", part)


@dataclass(frozen=True)
class AccessConfig:
    """Invoking dial plans and personal overrides by telephone (access codes + PIN)."""

    override_dial: str = "Local/{number}@callshield-outbound"  # the same default as routing.number_dial
    override_hours: float = 12.0
    pin_attempts: int = 3
    global_pin_attempts: int = 10
    lockout_minutes: int = 15
    digit_timeout: float = 8.0
    prompts: AccessPrompts = field(default_factory=AccessPrompts)

    def validate(self, path: str) -> None:
        self.prompts.validate(f"{path}.prompts")
        if "{number}" not in self.override_dial:
            raise ConfigError(f"{path}.override_dial", f"must contain {{number}} (where the override's phone number goes), not {self.override_dial!r}")
        _dial_string(f"{path}.override_dial", self.override_dial.replace("{number}", "+447700900123"))
        if not 0 < self.override_hours <= 24 * 31:
            raise ConfigError(f"{path}.override_hours", f"must be more than 0 and at most 744 (31 days), not {self.override_hours}")
        _positive(f"{path}.pin_attempts", self.pin_attempts)
        _positive(f"{path}.global_pin_attempts", self.global_pin_attempts)
        _positive(f"{path}.lockout_minutes", self.lockout_minutes)
        if not 1 <= self.digit_timeout <= 60:
            raise ConfigError(f"{path}.digit_timeout", f"must be 1-60 seconds, not {self.digit_timeout}")


NUMBER_DIAL = "Local/{number}@callshield-outbound"


@dataclass(frozen=True)
class RoutingConfig:
    default: NumberPolicy = field(default_factory=_default_policy)
    numbers: dict[str, NumberPolicy] = field(default_factory=dict)
    access: AccessConfig = field(default_factory=AccessConfig)
    # How a plain phone number given as a route, secondary or plan destination is dialled.
    number_dial: str = NUMBER_DIAL

    def validate(self, path: str) -> None:
        self.default.validate(f"{path}.default")
        if "{number}" not in self.number_dial:
            raise ConfigError(f"{path}.number_dial", f"must contain {{number}} (where the phone number goes), not {self.number_dial!r}")
        _dial_string(f"{path}.number_dial", self.number_dial.replace("{number}", "+447700900123"))
        self.access.validate(f"{path}.access")
        for number, policy in self.numbers.items():
            if not re.fullmatch(r"\+?[0-9]{2,}", number):  # at most 15 digits: read.numbers.check_routing_numbers
                raise ConfigError(f"{path}.numbers.{number}", "a dialled number must be digits with an optional leading + (e.g. '+442071234567')")
            policy.validate(f"{path}.numbers.{number}")


@dataclass(frozen=True)
class LookupConfig:
    """An optional live number-lookup provider for PHONE_ACTIVE and PHONE_PREPAID."""

    url: str = ""
    token_env: str = "CALLSHIELD_LOOKUP_TOKEN"
    budget_ms: int = 50
    cache_ttl: int = 86400

    def validate(self, path: str) -> None:
        if self.url and not (self.url.startswith(("http://", "https://")) and "{number}" in self.url):
            raise ConfigError(f"{path}.url", f"must be an http(s) URL containing {{number}}, not {self.url!r}")
        if not 1 <= self.budget_ms <= 1000:
            raise ConfigError(f"{path}.budget_ms", f"must be 1-1000 ms (the call waits this long at most), not {self.budget_ms}")
        _positive(f"{path}.cache_ttl", self.cache_ttl)


# How `callshield drill` writes the number it dials into monitor.drill_context.
DRILL_NUMBER_FORMATS = ("e164", "national", "digits")


@dataclass(frozen=True)
class MonitorConfig:
    """The AMI monitor: watches call delivery and reachability per destination (the
    PJSIP endpoint a route dials) and diverts when one fails (docs/operations.md)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "callshield"
    secret_env: str = "CALLSHIELD_AMI_SECRET"
    connect_timeout: float = 5.0
    keepalive: float = 10.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    window: float = 60.0
    failures_to_down: int = 3
    noanswer_to_down: int = 10
    failure_causes: list[int] = field(default_factory=lambda: [34, 38, 41, 42])
    hold_down: float = 30.0
    hold_down_max: float = 300.0
    reachable_for: float = 5.0
    webhook_url: str = ""
    webhook_timeout: float = 2.0
    drill_context: str = "from-carrier"
    drill_number_format: str = "national"
    drill_max_seconds: float = 900.0

    def validate(self, path: str) -> None:
        _port(f"{path}.port", self.port)
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,79}", self.drill_context):
            raise ConfigError(f"{path}.drill_context", f"must be a dialplan context name, not {self.drill_context!r}")
        if self.drill_number_format not in DRILL_NUMBER_FORMATS and not re.fullmatch(
                r"(?:[0-9*#+]{0,20}\{(?:national|digits)\}|\{e164\})[0-9*#]{0,20}", self.drill_number_format):
            raise ConfigError(f"{path}.drill_number_format",
                              f"must be e164, national, digits or a template such as '9{{national}}', not {self.drill_number_format!r}")
        if not self.username:
            raise ConfigError(f"{path}.username", "must name the manager.conf user callshield logs in as")
        for name in ("connect_timeout", "keepalive", "backoff_initial", "backoff_max", "window", "hold_down", "hold_down_max",
                     "webhook_timeout", "drill_max_seconds"):
            _positive(f"{path}.{name}", getattr(self, name))
        if self.backoff_max < self.backoff_initial:
            raise ConfigError(f"{path}.backoff_max", f"({self.backoff_max}) must not be less than backoff_initial ({self.backoff_initial})")
        if self.hold_down_max < self.hold_down:
            raise ConfigError(f"{path}.hold_down_max", f"({self.hold_down_max}) must not be less than hold_down ({self.hold_down})")
        _positive(f"{path}.failures_to_down", self.failures_to_down)
        if self.noanswer_to_down < 0:
            raise ConfigError(f"{path}.noanswer_to_down", f"must be 0 (NOANSWER never counts) or more, not {self.noanswer_to_down}")
        if self.reachable_for < 0:
            raise ConfigError(f"{path}.reachable_for", f"must be 0 or more seconds, not {self.reachable_for}")
        for i, cause in enumerate(self.failure_causes):
            if not 1 <= cause <= 127:
                raise ConfigError(f"{path}.failure_causes[{i}]", f"must be a Q.850 cause code 1-127, not {cause}")
        if self.webhook_url and not self.webhook_url.startswith(("http://", "https://")):
            raise ConfigError(f"{path}.webhook_url", f"must be an http(s) URL, not {self.webhook_url!r}")


@dataclass(frozen=True)
class Config:
    agi: AgiConfig = field(default_factory=AgiConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    lookup: LookupConfig = field(default_factory=LookupConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)

    def validate(self, path: str = "") -> None:
        for f in dataclasses.fields(self):
            getattr(self, f.name).validate(f.name)
        # routing.numbers as E.164 keys (at most 15 digits, no number twice) needs number
        # intelligence: read.numbers.check_routing_numbers, called by the CLI after loading.


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    must_exist: bool = False,
) -> Config:
    """Build the validated Config from defaults, an optional YAML file, env and overrides.

    ``overrides`` maps dotted keys to values (``{"agi.port": 4600}``), as flags give them.
    A missing file is allowed (the defaults run) unless ``must_exist``.
    """
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if p.exists():
            data = _read_yaml(p)
        elif must_exist:
            raise ConfigError("<file>", f"{p} does not exist")
    for key, value in _env_overrides(os.environ if env is None else env).items():
        _set_dotted(data, key, _yaml(value) if value != "" else "")
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, key, value)
    config = build(Config, _inherit_number_blocks(data), "")
    config.validate()
    return config


def _inherit_number_blocks(data: dict[str, Any]) -> dict[str, Any]:
    """Let a number's thresholds/suspicious/high_risk block override only the keys it
    names: merge it over routing.default's block (raw YAML), before typing."""
    routing = data.get("routing")
    if not isinstance(routing, dict) or not isinstance(routing.get("numbers"), dict):
        return data
    default = routing.get("default") if isinstance(routing.get("default"), dict) else {}
    numbers = {}
    for number, policy in routing["numbers"].items():
        if isinstance(policy, dict):
            policy = dict(policy)
            for block in ("thresholds", "suspicious", "high_risk"):
                base, own = default.get(block), policy.get(block)
                if isinstance(base, dict) and isinstance(own, dict):
                    policy[block] = {**base, **own}
        numbers[number] = policy
    return {**data, "routing": {**routing, "numbers": numbers}}


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key written twice in one mapping: PyYAML would keep
    the last one silently (a second `agi:` section would replace the first whole)."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, yaml.Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # '<<: *base' merges; the keys written here may override it
                key = self.construct_object(key_node, deep=deep)
                try:
                    seen = first.setdefault(key, key_node)
                except TypeError:  # an unhashable key: SafeLoader's own error says so
                    break
                if seen is not key_node:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping", node.start_mark,
                        f"duplicate key {key!r} (first at line {seen.start_mark.line + 1}); write each key once",
                        key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def _yaml(text: str) -> Any:
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader


def _read_yaml(p: Path) -> dict[str, Any]:
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError("<file>", f"{p} is not UTF-8 text ({exc})") from None
    except OSError as exc:
        raise ConfigError("<file>", f"cannot read {p}: {exc.strerror}") from None
    try:
        data = _yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError("<file>", f"{p} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("<file>", f"{p} must hold a mapping of sections (agi, store, ...), not {type(data).__name__}")
    return data


def _env_overrides(env: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for name, value in env.items():
        if name.startswith(ENV_PREFIX) and "__" in name:
            out[name[len(ENV_PREFIX):].lower().replace("__", ".")] = value
    return out


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(key, f"'{part}' is not a section")
        node = child
    node[parts[-1]] = value


def build(cls: Any, data: Any, path: str) -> Any:
    """Turn plain YAML data into the typed dataclass ``cls``, naming the key of any error."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path or "<file>", f"must be a mapping, not {_kind(data)}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            raise ConfigError(_join(path, str(key)), f"unknown key (known: {', '.join(sorted(names))})")
    kwargs = {name: _convert(hints[name], value, _join(path, name)) for name, value in data.items()}
    return cls(**kwargs)


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(args[0], value, path)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, path)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(path, f"must be a list, not {_kind(value)}")
        (item,) = typing.get_args(tp)
        return [_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(path, f"must be a mapping, not {_kind(value)}")
        _, item = typing.get_args(tp)
        for k in value:
            if not isinstance(k, str):
                raise ConfigError(_join(path, str(k)), f"keys here must be quoted text: YAML read {k!r} as a {type(k).__name__} (write '\"+442071234567\":', quotes included)")
        return {k: _convert(item, v, _join(path, k)) for k, v in value.items()}
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(path, f"must be one of {typing.get_args(tp)}, not {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, f"must be true or false, not {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, f"must be a whole number, not {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(path, f"must be a number, not {value!r}")
        return float(value)
    if tp is str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise ConfigError(path, f"must be text, not {_kind(value)}")
        return value
    raise ConfigError(path, f"unsupported type {tp!r}")  # pragma: no cover - a programming error


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "a boolean"}.get(type(value), repr(value))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _port(path: str, value: int) -> None:
    if not 0 < value < 65536:
        raise ConfigError(path, f"must be a TCP port 1-65535, not {value}")


def _mode(path: str, value: int, owner: int, what: str) -> None:
    """A permission mode: YAML reads 0600 (leading 0) as octal; 600 would be decimal."""
    if not 0 <= value <= 0o777:
        raise ConfigError(path, f"must be a permission mode 0000-0777 written in octal with a leading 0 (e.g. 0{owner:o}),"
                                f" not {value} (octal {value:o})")
    if value & owner != owner:
        raise ConfigError(path, f"must let the owner {what} (0{owner:o} at least), not 0{value:03o}")


def _positive(path: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(path, f"must be greater than 0, not {value}")


def _dial_string(path: str, value: str) -> None:
    problem = dial_string_problem(value)
    if problem:
        raise ConfigError(path, problem)


def _sound(path: str, value: str) -> None:
    if not SOUND_NAME_RE.fullmatch(value):
        raise ConfigError(path, f"{value!r} is not a sound name (letters, digits, _ - . /)")

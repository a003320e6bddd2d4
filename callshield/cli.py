"""The ``callshield`` command line: thin wrappers over the library, one per command."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import getpass
import importlib.util
import io
import json
import logging
import os
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, TextIO

import click
import sqlite_utils
import yaml

from callshield import __version__
from callshield.config import Config, load_config
from callshield.display import printable, text_problem
from callshield.errors import CallshieldError, SignalError
from callshield.screening.lists import LIST_NAMES
from callshield.store import lists as list_store
from callshield.store import open_store
from callshield.store.audit import recent as recent_audit
from callshield.store.routing import SCOPES

# Start-up imports only what every command needs (config, the store, the list names); the
# screener, number intelligence, CSV import/export and training are imported by the
# commands that use them, so e.g. `callshield lists show` loads none of them.
if TYPE_CHECKING:
    from types import ModuleType

    from callshield.read.numbers import NumberIntel
    from callshield.screening.screener import Screener
    from callshield.store.routing import RoutingStore

DEFAULT_CONFIG = "callshield.yaml"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def config_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--config", "config_path", default=None, envvar="CALLSHIELD_CONFIG",
        help=f"YAML configuration file [default: ./{DEFAULT_CONFIG} if present, else the built-in defaults].",
    )(fn)


def domain_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn callshield's own errors into a clean 'Error: ...' and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CallshieldError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


def _db(config: Config, path: str | None = None) -> sqlite_utils.Database:
    """The store (store.path, or ``path``), created with store.file_mode and store.dir_mode."""
    return open_store(path or config.store.path, file_mode=config.store.file_mode, dir_mode=config.store.dir_mode)


def _load(config_path: str | None, **overrides: Any) -> Config:
    """A --config the user named must exist; the default ./callshield.yaml may be absent."""
    if config_path is None:
        config = load_config(DEFAULT_CONFIG, overrides=overrides)
    else:
        config = load_config(config_path, overrides=overrides, must_exist=True)
    _check_numbers(config)
    return config


def _check_numbers(config: Config) -> None:
    """routing.numbers as E.164 keys, none twice (needs number intelligence, so not config.py's)."""
    if config.routing.numbers:
        from callshield.read.numbers import check_routing_numbers

        check_routing_numbers(config)


def _free_text(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A free-text option (reason, label, name, description, note): refused, with nothing
    stored, when it holds a control or invisible formatting character (callshield.display)."""
    problem = text_problem(value)
    if problem:
        raise click.BadParameter(problem, ctx=ctx, param=param)
    return value


@click.group()
@click.version_option(__version__, prog_name="callshield")
def main() -> None:
    """callshield: pre-answer call screening and call resilience for Asterisk."""


@main.command()
@config_option
@click.option("--host", default=None, help="FastAGI listen address (overrides agi.host).")
@click.option("--port", type=int, default=None, help="FastAGI listen port (overrides agi.port).")
@click.option("--db", default=None, help="SQLite store path (overrides store.path).")
@domain_errors
def serve(config_path: str | None, host: str | None, port: int | None, db: str | None) -> None:
    """Run the FastAGI server (and the AMI monitor when monitor.enabled).

    Example: callshield serve --config /etc/callshield/callshield.yaml
    """
    from callshield.serve import BatchedLogHandler, event_loop_factory, lean_log_records, run

    config = _load(config_path, **{"agi.host": host, "agi.port": port, "store.path": db})
    handler = BatchedLogHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.basicConfig(level=config.logging.level.upper(), handlers=[handler])
    lean_log_records()
    try:
        with asyncio.Runner(loop_factory=event_loop_factory(config.agi.event_loop)) as runner:
            runner.run(run(config))
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {config.agi.host}:{config.agi.port}: {exc.strerror}") from None


@main.group("config")
def config_group() -> None:
    """Check or show the configuration."""


@config_group.command("check")
@config_option
@domain_errors
def config_check(config_path: str | None) -> None:
    """Validate the configuration; name the bad key and why.

    Example: callshield config check --config callshield.yaml
    """
    path = config_path or DEFAULT_CONFIG
    config = load_config(path, must_exist=True)
    _check_numbers(config)
    _warn_untrusted_allowlist(config)
    click.echo(f"{path}: OK")


def _warn_untrusted_allowlist(config: Config) -> None:
    """The allow list matches only trusted identities (docs/security.md#which-identities-are-trusted): say so
    on stderr while nothing is trusted."""
    from callshield.read.trust import allowlist_warning

    warning = allowlist_warning(config.scoring)
    if warning:
        click.echo(f"Warning: {warning}", err=True)


@config_group.command("show")
@config_option
@domain_errors
def config_show(config_path: str | None) -> None:
    """Print the effective configuration (defaults, file and environment merged).

    Example: callshield config show
    """
    click.echo(yaml.safe_dump(dataclasses.asdict(_load(config_path)), sort_keys=False), nl=False)


@main.command()
@config_option
@click.option("--ephemeral", is_flag=True, help="Write nothing to the store: read it (when it exists) as serve does, keep the scored calls in memory only.")
@domain_errors
def score(config_path: str | None, ephemeral: bool) -> None:
    """Score call signals from stdin: one JSON object, or JSON Lines in time order.

    Each call is scored by the screener serve runs, built from the store the same way
    (lists, DNC, route state, recent calls, Call DNA memory, scoring.model). Writes one
    decision JSON per line to stdout. A bad line is reported on stderr with its line
    number and skipped; the exit code is then 1.

    Example: echo '{"dialled": "+442071234567", "caller_number": "+12025550143"}' | callshield score --ephemeral
    """
    from callshield.store import calls as call_store
    from callshield.wiring import build_screener  # the model's code: imported by the commands that score

    config = _load(config_path)
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT, stream=sys.stderr)
    # --ephemeral never creates the store: with none, calls are scored as on an empty one
    db = None if ephemeral and not os.path.exists(config.store.path) else _db(config)
    screener = build_screener(config, db).screener  # the one builder, shared with serve and eval
    records: list[dict[str, Any]] = []
    bad = _score_stream(sys.stdin, screener, lambda s: None if ephemeral else records.append(call_store.call_record(s)))
    if records:
        call_store.insert_records(db, records)
    if db is not None:
        db.close()
    if bad:
        raise click.ClickException(f"{bad} input line(s) could not be scored (see above)")


def _score_stream(stream: TextIO, screener: Screener, keep: Callable[[Any], None]) -> int:
    from callshield.read.signal import CallSignal

    text = stream.read()
    stripped = text.strip()
    items: list[tuple[int, str]]
    try:
        whole = json.loads(stripped) if stripped.startswith("{") else None
    except json.JSONDecodeError:
        whole = None
    items = [(1, stripped)] if isinstance(whole, dict) else [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    bad = 0
    last_ts = float("-inf")
    for lineno, line in items:
        try:
            signal = CallSignal.from_dict(json.loads(line))
        except json.JSONDecodeError as exc:
            bad += 1
            click.echo(f"line {lineno}: not JSON: {exc.msg} at column {exc.colno}", err=True)
            continue
        except SignalError as exc:
            bad += 1
            click.echo(f"line {lineno}: {exc}", err=True)
            continue
        if signal.timestamp < last_ts:
            click.echo(f"line {lineno}: timestamp goes back in time; repeat-call counts assume time order", err=True)
        last_ts = max(last_ts, signal.timestamp)
        screening = screener.screen(signal)
        keep(screening)
        click.echo(json.dumps(screening.decision.to_json()))
    return bad


@main.group("dnc")
def dnc_group() -> None:
    """The Do-Not-Call list behind PHONE_DNC (US and CA numbers)."""


@dnc_group.command("import")
@config_option
@click.argument("file", type=click.File("r", encoding="utf-8"))
@domain_errors
def dnc_import(config_path: str | None, file: TextIO) -> None:
    """Import FILE (one number per line, or a CSV with the number first); all or nothing.

    Example: callshield dnc import national-dnc-2026-11.csv
    """
    from callshield.store import dnc as dnc_store

    config = _load(config_path)
    numbers = dnc_store.parse(file.read(), _intel(config))
    n = dnc_store.import_numbers(_db(config), numbers, getattr(file, "name", "stdin"))
    click.echo(f"imported {n} Do-Not-Call numbers")


@main.group("lists")
def lists_group() -> None:
    """Manage the allow and deny lists."""


def _list_args(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.argument("number")(fn)
    fn = click.argument("name", metavar="allow|deny", type=click.Choice(LIST_NAMES))(fn)
    return config_option(fn)


@lists_group.command("add")
@_list_args
@click.option("--reason", default="", callback=_free_text, help="Why the number is listed (shown in reason details).")
@domain_errors
def lists_add(config_path: str | None, name: str, number: str, reason: str) -> None:
    """Add NUMBER to a list (a running serve picks it up within store.reload_interval).

    Example: callshield lists add deny +447700900123 --reason "confirmed fraud 2026-11-02"
    """
    config = _load(config_path)
    db = _db(config)
    key = list_store.add(db, _intel(config), name, number, reason)
    click.echo(f"added {key} to the {name} list")
    if name == "allow":
        _warn_untrusted_allowlist(config)


@lists_group.command("remove")
@_list_args
@domain_errors
def lists_remove(config_path: str | None, name: str, number: str) -> None:
    """Remove NUMBER from a list.

    Example: callshield lists remove deny +447700900123
    """
    config = _load(config_path)
    db = _db(config)
    key = list_store.remove(db, _intel(config), name, number)
    click.echo(f"removed {key} from the {name} list")


@lists_group.command("show")
@config_option
@click.argument("name", metavar="allow|deny", type=click.Choice(LIST_NAMES))
@domain_errors
def lists_show(config_path: str | None, name: str) -> None:
    """Print a list, one number per line with its reason.

    Example: callshield lists show deny
    """
    config = _load(config_path)
    for row in list_store.show(_db(config), name):
        click.echo(f"{printable(row['number'])}\t{printable(row['reason'])}")


def _progress(label: str, length: int | None) -> Any:
    """A progress bar on stderr (training and evaluation runs take minutes)."""
    return click.progressbar(length=length or 0, label=label, file=sys.stderr, show_pos=True)


def _need_train_extra(*modules: str) -> None:
    """Refuse a training command cleanly when the [train] extra (lightgbm, numpy) is missing:
    the runtime install (serve, the CLI, scoring with the bundled model) goes without it."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise click.ClickException(f"{' and '.join(missing)} not installed; training and evaluation need the train extra: "
                                   "pip install 'callshield[train]' (in a checkout: make model, or pip install -e '.[train]')")


def _corpus_lines(config: Config, data: tuple[str, ...], from_store: bool, db_path: str | None) -> tuple[Any, int, list[dict[str, Any]]]:
    """(labelled signal lines in time order, their count, a summary of their source)."""
    from callshield.training import train as training

    if from_store == bool(data):
        raise click.UsageError("give either --data FILE (one or more) or --from-store")
    if data:
        return training.jsonl_lines(data), training.count_lines(data), training.file_summary(data)
    path = db_path or config.store.path
    db = _db(config, path)
    from callshield.store import outcomes as outcome_store

    total = outcome_store.labelled_count(db)
    if not total:
        raise click.ClickException(f"the store at {path} has no calls with a confirmed outcome (fraud or genuine) to train on")
    return training.store_lines(db), total, [{"name": "store", "calls": total}]


@main.command()
@config_option
@click.option("--data", multiple=True, type=click.Path(exists=True, dir_okay=False), help="Labelled call signals (JSON Lines, time order); repeat for more files.")
@click.option("--from-store", is_flag=True, help="Train on the store's calls that have a confirmed outcome (the outcomes table).")
@click.option("--db", "db_path", default=None, help="SQLite store path for --from-store (overrides store.path).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Model file to write; its calibration and facts go to OUT.meta.json.")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed (the same data and seed give the same model).")
@click.option("--outcome-dropout/--no-outcome-dropout", default=True, show_default=True,
              help="Also replay the calls with no confirmed outcomes fed back, so the model does not lean on them alone.")
@domain_errors
def train(config_path: str | None, data: tuple[str, ...], from_store: bool, db_path: str | None, out: str, seed: int,
          outcome_dropout: bool) -> None:
    """Train the Call DNA model: replay labelled calls, fit LightGBM, calibrate.

    The last 20% of the data's time span validates (early stopping) and calibrates.
    Prints the validation metrics as JSON.

    Example: callshield train --data var/train.jsonl --out var/model.txt --seed 1
    """
    _need_train_extra("numpy", "lightgbm")
    from callshield.training import train as training

    config = _load(config_path)
    lines, total, sources = _corpus_lines(config, data, from_store, db_path)
    meta = training.train(lines, config, out, seed=seed, sources=sources, total=total, progress=_progress,
                          outcome_dropout=outcome_dropout)
    click.echo(f"wrote {out} and {out}.meta.json ({meta['version']}, {meta['metrics']['trees']} trees)", err=True)
    click.echo(json.dumps(meta["metrics"], indent=2))


@main.command("eval")
@config_option
@click.option("--data", multiple=True, required=True, type=click.Path(exists=True, dir_okay=False), help="Labelled call signals (JSON Lines, time order); repeat for more files.")
@click.option("--model", "model_spec", default=None, help="Model file, 'bundled', or 'rules' for the rule-based scorer [default: scoring.model].")
@click.option("--no-outcomes", is_flag=True, help="Replay without feeding labels back as confirmed outcomes (a site that confirms none).")
@domain_errors
def eval_(config_path: str | None, data: tuple[str, ...], model_spec: str | None, no_outcomes: bool) -> None:
    """Evaluate a model or the rules on labelled calls; print JSON.

    The calls are replayed in time order through the screener serve builds, on an
    empty store, with the model of --model. Measured: ROC-AUC, PR-AUC, recall and
    false-positive rate at the suspicious and high-risk thresholds, recall at 1% FPR,
    calibration error, per-campaign results, precision at a 1-in-500 fraud base rate,
    and how well caller profiles link calls. With --model rules the same calls are
    scored by the rules, as serve scores them with scoring.model: rules.

    Example: callshield eval --data var/heldout.jsonl --model bundled
    """
    _need_train_extra("numpy")
    from callshield.training.evaluate import evaluate
    from callshield.models.model import load_model
    from callshield.training.train import collect

    config = _load(config_path)
    spec = config.scoring.model if model_spec is None else model_spec
    model = load_model(spec)  # None for 'rules' (or '')
    if model is None and spec not in ("", "rules"):
        raise click.ClickException(f"no model to evaluate ({spec!r} is not installed); name one with --model, or --model rules")
    lines, total, _ = _corpus_lines(config, data, False, None)
    # replayed through the screener serve builds (callshield.wiring), on an empty store, with this model
    corpus = collect(lines, config, total=total, progress=_progress, outcome_delay=float("inf") if no_outcomes else 86400.0,
                     model=model)
    t = config.routing.default.thresholds
    thresholds = (t.suspicious, t.high_risk) if t is not None else (75, 85)
    click.echo(json.dumps(evaluate(corpus, model, thresholds=thresholds), indent=2))


@main.command("simulate")
@click.option("--calls", type=click.IntRange(min=0), required=True, help="How many calls to write.")
@click.option("--seed", type=int, required=True, help="Random seed: the same seed and options write a byte-identical file.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, allow_dash=True), help="JSON Lines file to write ('-' for stdout).")
@click.option("--start", default="2026-11-02T00:00:00Z", show_default=True, help="Start of the simulated window (ISO 8601; no zone means UTC).")
@click.option("--days", type=click.FloatRange(min=0, min_open=True), default=14.0, show_default=True, help="Length of the window in days.")
@click.option("--fraud-share", type=click.FloatRange(0.0, 1.0), default=0.02, show_default=True, help="Share of the calls that are fraud.")
@click.option("--generator", type=click.Choice(["sim", "eval"]), default="sim", show_default=True,
              help="sim: the training simulator; eval: the independent evaluation world (docs/evalworld.md), never for training.")
def simulate_command(calls: int, seed: int, out_path: str, start: str, days: float, fraud_share: float, generator: str) -> None:
    """Write simulated, labelled call signals (JSON Lines, in time order).

    Each line is a call signal plus `label` (fraud or genuine), `campaign` and `actor`
    (docs/simulation.md). A progress bar goes to stderr. --generator eval writes the
    evaluation world instead (docs/evalworld.md) and prints its site's suggested
    scoring config on stderr.

    Example: callshield simulate --calls 200000 --seed 1 --out var/train.jsonl
    """
    from callshield.training.simulate import simulate, write_jsonl
    from callshield.read.signal import parse_timestamp

    try:
        start_ts = parse_timestamp(start)
    except SignalError:
        raise click.BadParameter(f"{start!r} is not ISO 8601 (e.g. 2026-11-02T00:00:00Z)", param_hint="--start") from None
    if generator == "eval":
        from callshield.training import evalworld
        signals = evalworld.generate(calls, seed, start_ts, days, fraud_share)
        write_jsonl = evalworld.write_jsonl
        click.echo(evalworld.summary(seed), err=True)
    else:
        signals = simulate(calls, seed, start_ts, days, fraud_share)
    with click.progressbar(length=calls, label="simulating", file=sys.stderr, show_pos=True) as bar:
        if out_path == "-":
            counts = write_jsonl(sys.stdout, signals, bar.update)
        else:
            tmp = f"{out_path}.part"
            try:
                with open(tmp, "w", encoding="utf-8", newline="\n") as out:
                    counts = write_jsonl(out, signals, bar.update)
                os.replace(tmp, out_path)
            except OSError as exc:
                raise click.ClickException(f"cannot write {out_path}: {exc.strerror}") from None
    click.echo(f"wrote {counts['genuine'] + counts['fraud']} calls ({counts['fraud']} fraud) to {out_path}", err=True)


# -- routing: numbers, dial plans, overrides, staff, PINs, audit ---------------------------

def _intel(config: Config) -> NumberIntel:
    """Number intelligence for the home country (phonenumbers: imported by the commands that need it)."""
    from callshield.read.numbers import NumberIntel

    return NumberIntel(config.scoring.home_country)


def _routing_csv() -> ModuleType:
    """CSV import/export of numbers and plan routes, for the commands that use it."""
    from callshield.manage import routing_csv

    return routing_csv


def _routing(config: Config) -> RoutingStore:
    """The store's routing tables; the config's routing.numbers count as known numbers."""
    from callshield.store.routing import RoutingStore

    intel = _intel(config)
    return RoutingStore(_db(config), intel, [intel.info(n).key for n in config.routing.numbers],
                        config.routing.number_dial)


def _actor() -> str:
    """Who the audit log names for a CLI change: cli:<login name>."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name in the environment and no passwd entry
        return "cli:unknown"


def _changed(config: Config, what: str) -> None:
    click.echo(f"{what}; a running callshield serve picks it up within {config.store.reload_interval:g} s (store.reload_interval)")


def _iso(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if ts is not None else ""


def _table(header: list[str], rows: list[list[Any]], empty: str) -> None:
    """Print rows as left-aligned columns under a header, or ``empty`` when there are none."""
    if not rows:
        click.echo(empty)
        return
    cells = [header, *[[printable(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())


def _read_pin(pin_stdin: bool) -> str:
    if pin_stdin:
        return sys.stdin.readline().strip()
    return click.prompt("PIN", hide_input=True, confirmation_prompt=True)


def _pin_stdin_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--pin-stdin", is_flag=True, help="Read the PIN from the first line of stdin instead of prompting (for scripts).")(fn)


def _export(write: Callable[[TextIO], int], file: str, what: str) -> None:
    """Write CSV to FILE (replaced whole, never half-written) or to stdout for '-'."""
    buffer = io.StringIO()
    n = write(buffer)
    if file == "-":
        click.echo(buffer.getvalue(), nl=False)
        return
    tmp = f"{file}.part"
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as out:
            out.write(buffer.getvalue())
        os.replace(tmp, file)
    except OSError as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise click.ClickException(f"cannot write {file}: {exc.strerror}") from None
    click.echo(f"wrote {n} {what} to {file}")


def _source(file: Any) -> str:
    return getattr(file, "name", "<stdin>")


@main.group("numbers")
def numbers_group() -> None:
    """Your inbound numbers (DDIs) and their normal routes."""


@numbers_group.command("add")
@config_option
@click.argument("number")
@click.option("--route", required=True, help="Normal route: a Dial() device string (e.g. PJSIP/agents).")
@click.option("--fallback", default="", help="Where calls go when the route fails (a Dial() string).")
@click.option("--announcement", default="", help="Sound played before the call is delivered.")
@click.option("--label", default="", callback=_free_text, help="A name for the number (shown in lists).")
@domain_errors
def numbers_add(config_path: str | None, number: str, route: str, fallback: str, announcement: str, label: str) -> None:
    """Add NUMBER, or change its route, fallback, announcement and label.

    Example: callshield numbers add +442071234567 --route PJSIP/agents --fallback PJSIP/overflow --label "Sales UK"
    """
    config = _load(config_path)
    key = _routing(config).set_number(number, route, fallback, announcement, label.strip(), actor=_actor())
    _changed(config, f"set {key}: route {route}" + (f", fallback {fallback}" if fallback else ""))


@numbers_group.command("remove")
@config_option
@click.argument("number")
@domain_errors
def numbers_remove(config_path: str | None, number: str) -> None:
    """Remove NUMBER from the numbers table.

    Refused while a dial plan routes it.

    Example: callshield numbers remove +442071234567
    """
    config = _load(config_path)
    key = _routing(config).remove_number(number, actor=_actor())
    _changed(config, f"removed {key}")


@numbers_group.command("list")
@config_option
@domain_errors
def numbers_list(config_path: str | None) -> None:
    """List your numbers: the numbers table, then routing.numbers.

    The source column says where each number is set: store, config or both.

    Example: callshield numbers list
    """
    config = _load(config_path)
    store = _routing(config)
    rows = [[r["number"], r["route"], r["fallback"], r["announcement"], r["label"],
             "store+config" if r["number"] in store.config_numbers else "store"] for r in store.numbers()]
    listed = {r[0] for r in rows}
    intel = store.intel
    for raw, policy in sorted(config.routing.numbers.items(), key=lambda item: intel.info(item[0]).key):
        key = intel.info(raw).key
        if key not in listed:
            rows.append([key, policy.route or "", policy.fallback or "", policy.announcement or "", "", "config"])
    _table(["number", "route", "fallback", "announcement", "label", "source"], rows, "no numbers (add one: callshield numbers add NUMBER --route DIAL)")


@numbers_group.command("import")
@config_option
@click.argument("file", type=click.File("rb"))
@click.option("--dry-run", is_flag=True, help="Check the file and show what would change; change nothing.")
@click.option("--replace", is_flag=True, help="Also remove the numbers the file does not list (refused if a dial plan routes one).")
@domain_errors
def numbers_import(config_path: str | None, file: Any, dry_run: bool, replace: bool) -> None:
    """Import numbers from a CSV FILE, all or nothing.

    Columns (a header row, any order): number,route,fallback,announcement,label;
    fallback, announcement and label may be empty. Rows add or update numbers; numbers the file does not list stay unless --replace.
    Every bad line is reported with its line number and nothing changes.

    Example: callshield numbers import numbers.csv --dry-run
    """
    config = _load(config_path)
    source = _source(file)
    change = _routing_csv().import_numbers(_routing(config), file.read(), source, actor=_actor(), replace=replace, dry_run=dry_run)
    if dry_run:
        click.echo(f"{source}: would import: {change.counts}" + (f" ({', '.join(change.remove)})" if change.remove else "")
                   + "; dry run, nothing changed")
    elif change.counts.any:
        _changed(config, f"{source}: imported: {change.counts}")
    else:
        click.echo(f"{source}: imported: {change.counts}; nothing to change")


@numbers_group.command("export")
@config_option
@click.argument("file", default="-", type=click.Path(dir_okay=False, allow_dash=True))
@domain_errors
def numbers_export(config_path: str | None, file: str) -> None:
    """Write the numbers table as CSV to FILE (default: stdout).

    Sorted by number, numbers in E.164. The format is the one numbers import reads: importing the file back changes nothing.

    Example: callshield numbers export numbers.csv
    """
    config = _load(config_path)
    _export(functools.partial(_routing_csv().export_numbers, _routing(config)), file, "number(s)")


@main.group("plans")
def plans_group() -> None:
    """Dial plans: emergency routes in slots 1-5."""


@plans_group.command("create")
@config_option
@click.argument("name")
@click.option("--description", default="", callback=_free_text, help="What the plan is for (e.g. 'office flooded: all calls to Leeds').")
@click.option("--announcement", default="", help="Sound played to callers while the plan is active (a route's own announcement wins).")
@domain_errors
def plans_create(config_path: str | None, name: str, description: str, announcement: str) -> None:
    """Create the dial plan NAME (idle, with no routes yet).

    Example: callshield plans create "Office closed" --description "snow: all calls to Leeds"
    """
    config = _load(config_path)
    _routing(config).create_plan(name, description, announcement, actor=_actor())
    click.echo(f"created dial plan {name!r} (next: callshield plans route {name!r} NUMBER DEST; then load and invoke it)")


@plans_group.command("delete")
@config_option
@click.argument("ref", metavar="NAME|SLOT")
@domain_errors
def plans_delete(config_path: str | None, ref: str) -> None:
    """Delete a dial plan and its routes (refused while it is active).

    Example: callshield plans delete "Office closed"
    """
    config = _load(config_path)
    name = _routing(config).delete_plan(ref, actor=_actor())
    _changed(config, f"deleted dial plan {name!r}")


@plans_group.command("route")
@config_option
@click.argument("ref", metavar="NAME|SLOT")
@click.argument("number")
@click.argument("destination", metavar="DEST")
@click.option("--announcement", default="", help="Sound played to callers of NUMBER while the plan is active.")
@domain_errors
def plans_route(config_path: str | None, ref: str, number: str, destination: str, announcement: str) -> None:
    """Route NUMBER's calls to DEST while the plan is active.

    DEST is a Dial() device string. NUMBER must be one of your numbers.

    Example: callshield plans route "Office closed" +442071234567 PJSIP/leeds
    """
    config = _load(config_path)
    store = _routing(config)
    key = store.set_plan_route(ref, number, destination, announcement, actor=_actor())
    _changed(config, f"dial plan {store.plan(ref)['name']!r} routes {key} to {destination}")


@plans_group.command("unroute")
@config_option
@click.argument("ref", metavar="NAME|SLOT")
@click.argument("number")
@domain_errors
def plans_unroute(config_path: str | None, ref: str, number: str) -> None:
    """Remove NUMBER's route from the plan.

    Example: callshield plans unroute "Office closed" +442071234567
    """
    config = _load(config_path)
    store = _routing(config)
    key = store.remove_plan_route(ref, number, actor=_actor())
    _changed(config, f"dial plan {store.plan(ref)['name']!r} no longer routes {key}")


@plans_group.command("load")
@config_option
@click.argument("name")
@click.argument("slot", type=int)
@domain_errors
def plans_load(config_path: str | None, name: str, slot: int) -> None:
    """Load the plan NAME into SLOT (1-5).

    A loaded plan can be invoked, here or by phone.

    Example: callshield plans load "Office closed" 1
    """
    config = _load(config_path)
    loaded = _routing(config).load_plan(name, slot, actor=_actor())
    _changed(config, f"loaded dial plan {loaded!r} into slot {slot}")


@plans_group.command("unload")
@config_option
@click.argument("ref", metavar="NAME|SLOT")
@domain_errors
def plans_unload(config_path: str | None, ref: str) -> None:
    """Take the plan out of its slot (refused while it is active).

    Example: callshield plans unload 1
    """
    config = _load(config_path)
    name = _routing(config).unload_plan(ref, actor=_actor())
    _changed(config, f"unloaded dial plan {name!r}")


@plans_group.command("invoke")
@config_option
@click.argument("ref", metavar="NAME|SLOT")
@domain_errors
def plans_invoke(config_path: str | None, ref: str) -> None:
    """Activate a loaded plan.

    While it is active, its routes replace the numbers' normal routes.

    Example: callshield plans invoke 1
    """
    config = _load(config_path)
    plan = _routing(config).invoke_plan(ref, actor=_actor())
    _changed(config, f"invoked dial plan {plan['name']!r} (slot {plan['slot']}, {plan['routes']} route(s))")


@plans_group.command("revoke")
@config_option
@click.argument("ref", metavar="NAME|SLOT")
@domain_errors
def plans_revoke(config_path: str | None, ref: str) -> None:
    """Deactivate an active plan.

    Its numbers return to their normal routes.

    Example: callshield plans revoke "Office closed"
    """
    config = _load(config_path)
    plan = _routing(config).revoke_plan(ref, actor=_actor())
    _changed(config, f"revoked dial plan {plan['name']!r}")


@plans_group.command("list")
@config_option
@domain_errors
def plans_list(config_path: str | None) -> None:
    """List the dial plans and their state.

    Slot, name, active or idle, route count, and when and by whom last invoked.

    Example: callshield plans list
    """
    config = _load(config_path)
    rows = [[p["slot"] or "-", p["name"], "active" if p["active"] else "idle", p["routes"],
             _iso(p["invoked_at"]), p["invoked_by"] or ""] for p in _routing(config).plans()]
    _table(["slot", "name", "state", "routes", "invoked at", "invoked by"], rows, "no dial plans (create one: callshield plans create NAME)")


@plans_group.command("show")
@config_option
@click.argument("ref", metavar="NAME|SLOT")
@domain_errors
def plans_show(config_path: str | None, ref: str) -> None:
    """Show one dial plan and its routes.

    Example: callshield plans show 1
    """
    config = _load(config_path)
    store = _routing(config)
    plan = store.plan(ref)
    state = "active" if plan["active"] else "idle"
    if plan["invoked_at"] is not None:
        state += f" (last invoked {_iso(plan['invoked_at'])} by {printable(plan['invoked_by'])})"
    click.echo(f"plan: {printable(plan['name'])}")
    click.echo(f"slot: {plan['slot'] if plan['slot'] is not None else '-'}")
    click.echo(f"state: {state}")
    if plan["description"]:
        click.echo(f"description: {printable(plan['description'])}")
    if plan["announcement"]:
        click.echo(f"announcement: {printable(plan['announcement'])}")
    click.echo("")
    rows = [[r["number"], r["destination"], r["announcement"]] for r in store.plan_routes(plan["name"])]
    _table(["number", "destination", "announcement"], rows, "no routes (add one: callshield plans route NAME NUMBER DEST)")


@plans_group.command("import")
@config_option
@click.argument("file", type=click.File("rb"))
@click.option("--dry-run", is_flag=True, help="Check the file and show what would change; change nothing.")
@domain_errors
def plans_import(config_path: str | None, file: Any, dry_run: bool) -> None:
    """Import plan routes from a CSV FILE, all or nothing.

    Columns (a header row, any order): plan,number,destination,announcement;
    announcement may be empty. Each plan the file names is created if new and its routes are replaced by the
    file's rows (an active plan too); plans the file does not name are untouched.
    Every bad line is reported with its line number and nothing changes.

    Example: callshield plans import plans.csv --dry-run
    """
    config = _load(config_path)
    source = _source(file)
    change = _routing_csv().import_plans(_routing(config), file.read(), source, actor=_actor(), dry_run=dry_run)
    for plan in change.plans:
        notes = ", ".join(n for n in ("new" if plan.new else "", "active" if plan.active else "") if n)
        click.echo(f"  {plan.name}{f' ({notes})' if notes else ''}: {plan.counts}")
    summary = f"{source}: {len(change.plans)} plan(s), {sum(p.new for p in change.plans)} new"
    if dry_run:
        click.echo(f"{summary}; dry run, nothing changed")
    elif change.any:
        _changed(config, f"{summary}: imported")
    else:
        click.echo(f"{summary}: imported; nothing to change")


@plans_group.command("export")
@config_option
@click.argument("file", default="-", type=click.Path(dir_okay=False, allow_dash=True))
@domain_errors
def plans_export(config_path: str | None, file: str) -> None:
    """Write every plan's routes as CSV to FILE (default: stdout).

    Sorted by plan, then number. The format is the one plans import reads: importing the file back changes nothing.
    A plan with no routes has no row.

    Example: callshield plans export plans.csv
    """
    config = _load(config_path)
    _export(functools.partial(_routing_csv().export_plans, _routing(config)), file, "plan route(s)")


@plans_group.command("pin")
@config_option
@_pin_stdin_option
@domain_errors
def plans_pin(config_path: str | None, pin_stdin: bool) -> None:
    """Set the PIN for invoking dial plans by phone.

    4 to 12 digits, asked twice without echo (or read from stdin with --pin-stdin);
    only a salted hash is stored.

    Example: callshield plans pin
    """
    config = _load(config_path)
    _routing(config).set_plans_pin(_read_pin(pin_stdin), actor=_actor())
    click.echo("set the dial-plan PIN (stored hashed)")


@main.group("overrides")
def overrides_group() -> None:
    """Personal overrides: a number's calls sent to another phone."""


@overrides_group.command("list")
@config_option
@domain_errors
def overrides_list(config_path: str | None) -> None:
    """List the live overrides.

    Example: callshield overrides list
    """
    config = _load(config_path)
    rows = [[o["number"], o["destination"], o["target"], o["staff"], _iso(o["expires_at"]), o["created_by"]]
            for o in _routing(config).overrides()]
    _table(["number", "destination", "to", "staff", "expires", "set by"], rows, "no live overrides")


@overrides_group.command("set")
@config_option
@click.argument("number")
@click.option("--to", "to_phone", default=None, metavar="PHONE", help="Send the calls to this phone number (dialled through routing.access.override_dial).")
@click.option("--dial", default=None, help="Send the calls to this Dial() string instead.")
@click.option("--hours", type=float, default=None, help="How long the override lasts [default: routing.access.override_hours].")
@click.option("--staff", default="", metavar="NUMBER", help="Whose override it is (shown in the route reason) [default: NUMBER].")
@domain_errors
def overrides_set(config_path: str | None, number: str, to_phone: str | None, dial: str | None, hours: float | None, staff: str) -> None:
    """Send NUMBER's calls elsewhere for a while.

    To a phone number (--to, dialled through routing.access.override_dial) or to a
    Dial() string (--dial), for --hours (default routing.access.override_hours).

    Example: callshield overrides set +442071234567 --to 07700900123 --hours 4
    """
    if (to_phone is None) == (dial is None):
        raise click.UsageError("give exactly one of --to PHONE or --dial DIAL")
    config = _load(config_path)
    store = _routing(config)
    access = config.routing.access
    target = store.number_key(to_phone) if to_phone is not None else ""
    destination = access.override_dial.replace("{number}", target) if to_phone is not None else str(dial)
    override = store.set_override(number, destination, staff=store.number_key(staff or number), target=target,
                                  hours=access.override_hours if hours is None else hours, actor=_actor())
    _changed(config, f"override: {override.number} to {destination} until {_iso(override.expires_at)}")


@overrides_group.command("cancel")
@config_option
@click.argument("number")
@domain_errors
def overrides_cancel(config_path: str | None, number: str) -> None:
    """Cancel NUMBER's override: its calls take their normal route again.

    Example: callshield overrides cancel +442071234567
    """
    config = _load(config_path)
    key = _routing(config).cancel_override(number, actor=_actor())
    _changed(config, f"cancelled the override of {key}")


@main.group("staff")
def staff_group() -> None:
    """Staff who may set a personal override by phone."""


@staff_group.command("add")
@config_option
@click.argument("number")
@click.option("--name", required=True, callback=_free_text, help="The staff member's name.")
@_pin_stdin_option
@domain_errors
def staff_add(config_path: str | None, number: str, name: str, pin_stdin: bool) -> None:
    """Add staff NUMBER, or change its name and PIN.

    NUMBER is one of your numbers. The PIN (4 to 12 digits) is asked twice without
    echo, or read from stdin with --pin-stdin; only a salted hash is stored.

    Example: callshield staff add +442071234567 --name "Ann Smith"
    """
    config = _load(config_path)
    key = _routing(config).add_staff(number, name, _read_pin(pin_stdin), actor=_actor())
    click.echo(f"added staff {key} ({printable(name)}); PIN stored hashed")


@staff_group.command("remove")
@config_option
@click.argument("number")
@domain_errors
def staff_remove(config_path: str | None, number: str) -> None:
    """Remove staff NUMBER.

    Its live override, if any, runs until it expires (or: callshield overrides cancel).

    Example: callshield staff remove +442071234567
    """
    config = _load(config_path)
    key = _routing(config).remove_staff(number, actor=_actor())
    click.echo(f"removed staff {key}")


@staff_group.command("list")
@config_option
@domain_errors
def staff_list(config_path: str | None) -> None:
    """List the staff numbers and names.

    Example: callshield staff list
    """
    config = _load(config_path)
    rows = [[s["number"], s["name"], _iso(s["created_at"])] for s in _routing(config).staff()]
    _table(["number", "name", "added"], rows, "no staff (add one: callshield staff add NUMBER --name NAME)")


@main.group("pins")
def pins_group() -> None:
    """PIN lockouts of invoking plans and overrides by phone."""


@pins_group.command("unlock")
@config_option
@click.option("--scope", type=click.Choice(SCOPES), default=None, help="Only this scope [default: both].")
@click.option("--caller", default=None, metavar="NUMBER", help="Only this caller ('anonymous' for withheld) [default: everyone].")
@domain_errors
def pins_unlock(config_path: str | None, scope: str | None, caller: str | None) -> None:
    """Clear the wrong-PIN failures that lock callers out.

    Example: callshield pins unlock --scope plans --caller +447700900123
    """
    config = _load(config_path)
    store = _routing(config)
    if caller is not None and caller != "anonymous":
        caller = store.number_key(caller)
    n = store.clear_pin_failures(scope, caller, actor=_actor())
    click.echo(f"cleared {n} PIN failure(s) ({scope or 'plans and override'}, {caller or 'every caller'})")


@main.command("audit")
@config_option
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="How many entries, newest first.")
@domain_errors
def audit_command(config_path: str | None, limit: int) -> None:
    """Print the audit log, newest first.

    One line per entry, tab-separated: time (UTC), actor, action, target, detail (JSON).

    Example: callshield audit --limit 20
    """
    config = _load(config_path)
    for entry in recent_audit(_db(config), limit):
        click.echo("\t".join(printable(v) for v in (_iso(entry["ts"]), entry["actor"], entry["action"], entry["target"], entry["detail"])))


@plans_group.command("auto")
@config_option
@click.argument("ref", metavar="NAME|SLOT")
@click.option("--destination", default=None, help="The destination (PJSIP endpoint, e.g. agents) this plan stands in for while it is down.")
@click.option("--off", is_flag=True, help="Stop using this plan automatically.")
@domain_errors
def plans_auto(config_path: str | None, ref: str, destination: str | None, off: bool) -> None:
    """Use a plan automatically while a destination is down (the AMI monitor decides).

    While DESTINATION is down, calls to the numbers the plan routes follow it, with
    ROUTE_REASON trunk_down:DESTINATION; when it recovers they return. The plan needs
    no slot and is not "invoked". Numbers it does not route use their secondary.

    Example: callshield plans auto "Leeds takes London" --destination london-sbc
    """
    if off == (destination is not None):
        raise click.UsageError("give either --destination NAME or --off")
    config = _load(config_path)
    name = _routing(config).set_auto(ref, None if off else destination, actor=_actor())
    _changed(config, f"dial plan {name!r} is {'no longer automatic' if off else f'used automatically while {destination} is down'}")


@main.group("monitor")
def monitor_group() -> None:
    """The AMI monitor's view of your destinations."""


@monitor_group.command("status")
@config_option
@click.option("--events", "n_events", type=click.IntRange(min=0), default=10, show_default=True, help="How many recent transitions to show.")
@domain_errors
def monitor_status(config_path: str | None, n_events: int) -> None:
    """Show each destination the monitor has seen change, and recent transitions.

    Example: callshield monitor status
    """
    from callshield.store import destinations

    config = _load(config_path)
    db = _db(config)
    rows = [[r["destination"], "DOWN" if r["down"] else "up", _iso(r["since"]), "drill" if r["drill"] else "", r["reason"]]
            for r in destinations.states(db)]
    _table(["destination", "state", "since", "", "reason"], rows,
           "no destination has changed state since serve started (all healthy)" if config.monitor.enabled
           else "the AMI monitor is off (monitor.enabled: false)")
    if n_events:
        events = destinations.recent_events(db, n_events)
        if events:
            click.echo("")
            for e in events:
                click.echo("\t".join(printable(v) for v in (_iso(e["ts"]), e["destination"], e["state"], "drill" if e["drill"] else "", e["reason"])))


@main.command("drill")
@config_option
@click.option("--destination", required=True, help="The destination to fail over (the PJSIP endpoint routes dial, e.g. agents).")
@click.option("--calls", type=click.IntRange(min=1, max=50), default=2, show_default=True, help="Test calls while diverted, and again after restore.")
@click.option("--number", "numbers", multiple=True, help="Place the test calls to this number (repeatable) [default: every number routed through DESTINATION].")
@click.option("--induced", is_flag=True, help="The destination has really been stopped: detect, divert, wait for its recovery, check the return.")
@click.option("--timeout", type=click.FloatRange(min=1), default=120.0, show_default=True, help="Seconds to wait for detection and recovery (--induced).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@domain_errors
def drill_command(config_path: str | None, destination: str, calls: int, numbers: tuple[str, ...], induced: bool, timeout: float,
                  as_json: bool) -> None:
    """Run a failover drill on the live system; exit code 1 when it fails.

    Simulated (default): mark DESTINATION failed (labelled drill in the audit log), place
    test calls through Asterisk to the numbers it serves, check they were diverted, restore,
    check calls return; the report gives time to divert and restore, calls placed,
    delivered and lost (must be 0). Needs callshield serve running with monitor.enabled
    and the AMI secret in the environment (monitor.secret_env).

    Example: callshield drill --destination agents --calls 3
    """
    from callshield.ami_monitor.drill import Drill

    config = _load(config_path)
    secret = os.environ.get(config.monitor.secret_env, "")
    if not secret:
        raise click.ClickException(f"the AMI secret is read from the environment variable {config.monitor.secret_env}"
                                   " (monitor.secret_env), which is not set")
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT, stream=sys.stderr)
    drill = Drill(config, secret, destination, calls=calls, numbers=list(numbers) or None, actor=_actor(), induced=induced,
                  timeout=timeout)
    report = asyncio.run(drill.run())
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.text())
    if not report.passed:
        raise SystemExit(1)


@main.group("outcomes")
def outcomes_group() -> None:
    """Confirmed outcomes of screened calls: fraud or genuine."""


@outcomes_group.command("confirm")
@config_option
@click.argument("call_id")
@click.argument("label", type=click.Choice(["fraud", "genuine"]))
@click.option("--note", default="", callback=_free_text, help="What was found (kept with the outcome and in the audit log).")
@domain_errors
def outcomes_confirm(config_path: str | None, call_id: str, label: str, note: str) -> None:
    """Confirm that the call CALL_ID (its CALLSHIELD_CALL_ID) was fraud or genuine.

    A running serve learns it within store.reload_interval: later calls from the same
    number or caller profile carry it (PHONE_RECENT_ABUSE, the model's outcome features),
    and `callshield train --from-store` trains on it.

    Example: callshield outcomes confirm 9b1c2f6e0d3a4e5f8a7b6c5d4e3f2a1b fraud --note "card not present fraud"
    """
    from callshield.store import outcomes as outcome_store

    config = _load(config_path)
    done = outcome_store.confirm(_db(config), call_id, label, actor=_actor(), note=note)
    was = f" (was {done['was']})" if done["was"] else ""
    click.echo(f"confirmed call {printable(call_id)} from {printable(done['caller'] or 'a withheld number')} to {printable(done['dialled'])} as {label}{was};"
               f" a running callshield serve learns it within {config.store.reload_interval:g} s (store.reload_interval)")


@outcomes_group.command("list")
@config_option
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="How many, newest first.")
@domain_errors
def outcomes_list(config_path: str | None, limit: int) -> None:
    """List confirmed outcomes, newest first.

    Example: callshield outcomes list --limit 20
    """
    from callshield.store import outcomes as outcome_store

    config = _load(config_path)
    rows = [[_iso(r["ts"]), r["label"], r["call_id"], r["caller_number"] or "-", r["dialled"] or "-", r["score"], r["actor"], r["note"]]
            for r in outcome_store.recent(_db(config), limit)]
    _table(["confirmed", "outcome", "call", "caller", "dialled", "score", "by", "note"], rows, "no confirmed outcomes yet")

"""The ``callshield`` command line: thin wrappers over the library, one per command."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import sys
import time
from typing import Any, Callable, TextIO

import click
import yaml

from callshield import __version__
from callshield.config import Config, load_config
from callshield.errors import CallshieldError, SignalError
from callshield.history import CallHistory
from callshield.lists import LIST_NAMES
from callshield.numbers import NumberIntel
from callshield.screening import Screener
from callshield.signal import CallSignal
from callshield.store import calls as call_store
from callshield.store import lists as list_store
from callshield.store import open_store

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


def _load(config_path: str | None, **overrides: Any) -> Config:
    """A --config the user named must exist; the default ./callshield.yaml may be absent."""
    if config_path is None:
        return load_config(DEFAULT_CONFIG, overrides=overrides)
    return load_config(config_path, overrides=overrides, must_exist=True)


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
    """Run the FastAGI server (and, as they arrive, the AMI monitor and portal).

    Example: callshield serve --config /etc/callshield/callshield.yaml
    """
    from callshield.serve import event_loop_factory, run

    config = _load(config_path, **{"agi.host": host, "agi.port": port, "store.path": db})
    logging.basicConfig(level=config.logging.level.upper(), format=LOG_FORMAT, stream=sys.stderr)
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
    load_config(path, must_exist=True)
    click.echo(f"{path}: OK")


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
@click.option("--ephemeral", is_flag=True, help="Keep history in memory only: read nothing from and write nothing to the store's calls.")
@domain_errors
def score(config_path: str | None, ephemeral: bool) -> None:
    """Score call signals from stdin: one JSON object, or JSON Lines in time order.

    Writes one decision JSON per line to stdout. A bad line is reported on stderr with
    its line number and skipped; the exit code is then 1.

    Example: echo '{"dialled": "+442071234567", "caller_number": "+12025550143"}' | callshield score --ephemeral
    """
    config = _load(config_path)
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT, stream=sys.stderr)
    db = open_store(config.store.path)
    history = CallHistory(config.scoring.repeat_window)
    if not ephemeral:
        history.replay(call_store.observations_since(db, time.time() - config.scoring.repeat_window))
    screener = Screener(config, history=history, lists=list_store.snapshot(db))
    records: list[dict[str, Any]] = []
    bad = _score_stream(sys.stdin, screener, lambda s: None if ephemeral else records.append(call_store.call_record(s)))
    if records:
        with db.conn:
            db["calls"].insert_all(records, pk="id", replace=True, batch_size=500)
    db.close()
    if bad:
        raise click.ClickException(f"{bad} input line(s) could not be scored (see above)")


def _score_stream(stream: TextIO, screener: Screener, keep: Callable[[Any], None]) -> int:
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
    numbers = dnc_store.parse(file.read(), NumberIntel(config.scoring.home_country))
    n = dnc_store.import_numbers(open_store(config.store.path), numbers, getattr(file, "name", "stdin"))
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
@click.option("--reason", default="", help="Why the number is listed (shown in reason details).")
@domain_errors
def lists_add(config_path: str | None, name: str, number: str, reason: str) -> None:
    """Add NUMBER to a list (a running serve picks it up within store.reload_interval).

    Example: callshield lists add deny +447700900123 --reason "confirmed fraud 2026-11-02"
    """
    config = _load(config_path)
    db = open_store(config.store.path)
    key = list_store.add(db, NumberIntel(config.scoring.home_country), name, number, reason)
    click.echo(f"added {key} to the {name} list")


@lists_group.command("remove")
@_list_args
@domain_errors
def lists_remove(config_path: str | None, name: str, number: str) -> None:
    """Remove NUMBER from a list.

    Example: callshield lists remove deny +447700900123
    """
    config = _load(config_path)
    db = open_store(config.store.path)
    key = list_store.remove(db, NumberIntel(config.scoring.home_country), name, number)
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
    for row in list_store.show(open_store(config.store.path), name):
        click.echo(f"{row['number']}\t{row['reason']}")


def _progress(label: str, length: int | None) -> Any:
    """A progress bar on stderr (training and evaluation runs take minutes)."""
    return click.progressbar(length=length or 0, label=label, file=sys.stderr, show_pos=True)


def _corpus_lines(config: Config, data: tuple[str, ...], from_store: bool, db_path: str | None) -> tuple[Any, int, list[dict[str, Any]]]:
    """(labelled signal lines in time order, their count, a summary of their source)."""
    from callshield.models import train as training

    if from_store == bool(data):
        raise click.UsageError("give either --data FILE (one or more) or --from-store")
    if data:
        return training.jsonl_lines(data), training.count_lines(data), training.file_summary(data)
    path = db_path or config.store.path
    db = open_store(path)
    total = db.execute("SELECT count(*) FROM outcomes o JOIN calls c ON c.id = o.call_id WHERE o.label IN ('fraud', 'genuine')").fetchone()[0]
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
    from callshield.models import train as training

    config = _load(config_path)
    lines, total, sources = _corpus_lines(config, data, from_store, db_path)
    meta = training.train(lines, config, out, seed=seed, sources=sources, total=total, progress=_progress,
                          outcome_dropout=outcome_dropout)
    click.echo(f"wrote {out} and {out}.meta.json ({meta['version']}, {meta['metrics']['trees']} trees)", err=True)
    click.echo(json.dumps(meta["metrics"], indent=2))


@main.command("eval")
@config_option
@click.option("--data", multiple=True, required=True, type=click.Path(exists=True, dir_okay=False), help="Labelled call signals (JSON Lines, time order); repeat for more files.")
@click.option("--model", "model_spec", default=None, help="Model file, or 'bundled' [default: scoring.model].")
@click.option("--no-outcomes", is_flag=True, help="Replay without feeding labels back as confirmed outcomes (a site that confirms none).")
@domain_errors
def eval_(config_path: str | None, data: tuple[str, ...], model_spec: str | None, no_outcomes: bool) -> None:
    """Evaluate a model on labelled calls; print the metrics as JSON.

    ROC-AUC, PR-AUC, recall and false-positive rate at the suspicious and high-risk
    thresholds, recall at 1% FPR, calibration error, per-campaign results, precision at a
    1-in-500 fraud base rate, and how well caller profiles link calls.

    Example: callshield eval --data var/heldout.jsonl --model bundled
    """
    from callshield.models.evaluate import evaluate
    from callshield.models.model import load_model
    from callshield.models.train import collect

    config = _load(config_path)
    spec = config.scoring.model if model_spec is None else model_spec
    model = load_model(spec)
    if model is None:
        raise click.ClickException(f"no model to evaluate (scoring.model is {spec!r}); name one with --model")
    lines, total, _ = _corpus_lines(config, data, False, None)
    corpus = collect(lines, config, total=total, progress=_progress, outcome_delay=float("inf") if no_outcomes else 86400.0)
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
def simulate_command(calls: int, seed: int, out_path: str, start: str, days: float, fraud_share: float) -> None:
    """Write simulated, labelled call signals (JSON Lines, in time order).

    Each line is a call signal plus `label` (fraud or genuine), `campaign` and `actor`
    (docs/simulation.md). A progress bar goes to stderr.

    Example: callshield simulate --calls 200000 --seed 1 --out var/train.jsonl
    """
    import os

    from callshield.models.simulate import simulate, write_jsonl
    from callshield.signal import parse_timestamp

    try:
        start_ts = parse_timestamp(start)
    except SignalError:
        raise click.BadParameter(f"{start!r} is not ISO 8601 (e.g. 2026-11-02T00:00:00Z)", param_hint="--start") from None
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

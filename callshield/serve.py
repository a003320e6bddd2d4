"""``callshield serve``: wire the services once and run every enabled edge in one
asyncio process until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import io
import gc
import logging
import os
import resource
import signal
import sqlite3
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable

import sqlite_utils

from callshield.agi.server import AgiServer
from callshield.agi.watchdog import LoopWatchdog
from callshield.config import Config
from callshield.manage.routing import RouteControl
from callshield.dialplan.policy import RoutingTable
from callshield.models.lookup import CachedLookup, HttpLookup
from callshield.services import Services
from callshield.store import journal as call_journal
from callshield.store import dnc as dnc_store
from callshield.store import lists as list_store
from callshield.store import outcomes as outcome_store
from callshield.store import open_store, versions
from callshield.store.routing import RoutingStore
from callshield.store.writer import CallWriter
from callshield.read.trust import allowlist_warning
from callshield.wiring import build_screener

if TYPE_CHECKING:
    from callshield.ami_monitor.monitor import Monitor

log = logging.getLogger("callshield.serve")


def build_services(config: Config) -> Services:
    """Open the store, write in the calls a killed serve journaled but never stored,
    rebuild in-memory state from it, start the writer; with monitor.enabled, build the
    AMI monitor (``run`` starts it). Everything is built before the frozen Services."""
    db = open_store(config.store.path, file_mode=config.store.file_mode, dir_mode=config.store.dir_mode)
    try:
        replay_journal(db, config.store.path)
        built = build_screener(config, db)  # the one builder: `callshield score` and `eval` use it too
    finally:
        db.close()
    screener = built.screener
    # The serve's own connection for routing changes by phone and the route-state reloads.
    routing = RoutingStore(open_store(config.store.path, migrate=False), screener.intel, screener.routes.configured_numbers(),
                           config.routing.number_dial)
    control = RouteControl(routing, screener.routes)
    control.load()  # on the control's connection, logged: the reloads compare against this version
    log.info("rebuilt the memory of call observations (repeat-call velocity, Call DNA, divert caps) from %d recent calls,"
             " %d of them in the repeat-call window; lists version %d; scorer %s", built.calls_remembered, built.calls_replayed, screener.lists.version, screener.model.name if screener.model else "rules")
    untrusted = allowlist_warning(config.scoring)
    if untrusted and screener.lists.allow:
        log.warning("the allow list holds %d number(s) but %s", len(screener.lists.allow), untrusted)
    journal = call_journal.CallJournal(config.store.path) if config.store.journal else None
    writer = CallWriter(config.store.path, batch_size=config.store.batch_size, flush_interval=config.store.flush_interval,
                        journal=journal).start()
    monitor = start_monitor(config, screener.routes) if config.monitor.enabled else None
    return Services(config=config, screener=screener, writer=writer, lookup=build_lookup(config), control=control,
                    monitor=monitor, outcomes_version=built.outcomes_version, outcomes_upto=built.outcomes_upto)


def replay_journal(db, store_path: str) -> None:
    """Write into the store the decided calls of a serve killed before its writer stored
    them. On failure (a store locked past the busy timeout) the journal is kept for the
    next start and serve carries on."""
    files = call_journal.segments(store_path)
    if not files:
        return
    try:
        inserted, already, bad = call_journal.replay(db, store_path)
    except (sqlite3.Error, OSError) as exc:
        log.error("could not write the call journal (%d file(s), %s...) into the store: %s; it is kept and replayed at"
                  " the next start", len(files), files[0], exc)
        return
    log.log(logging.WARNING if inserted or bad else logging.INFO,
            "call journal: wrote %d decided call(s) the previous serve had not stored (%d were already stored, %d"
            " unreadable record(s) skipped)", inserted, already, bad)


def raise_fd_limit() -> int:
    """Raise the soft open-files limit to the hard one: every AGI connection holds a
    descriptor, and the common default of 1,024 is few for a busy PBX. Returns the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            log.info("open files: soft limit raised from %d to %d (the hard limit)", soft, target)
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("open files: cannot raise the soft limit %d to the hard limit %d: %s", soft, target, exc)
    else:
        log.info("open files: limit %d", soft)
    if soft < 4096:
        log.warning("open files: the limit is %d descriptors; raise it (LimitNOFILE=65536 in the systemd unit, see"
                    " docs/operations.md#file-descriptors) so idle connections cannot crowd out calls", soft)
    return soft


def build_lookup(config: Config) -> CachedLookup | None:
    """The optional live lookup; its token comes from the environment, never the file."""
    if not config.lookup.url:
        return None
    budget = config.lookup.budget_ms / 1000
    provider = HttpLookup(config.lookup.url, timeout=max(1.0, budget * 20), token=os.environ.get(config.lookup.token_env, ""))
    return CachedLookup(provider, budget=budget, ttl=config.lookup.cache_ttl)


async def reload_state(services: Services, executor: ThreadPoolExecutor | None = None) -> None:
    """The one poller: every ``store.reload_interval`` read the store's version counters
    (one query) and reload what moved (``reload_changed``).

    Every read runs on ``executor``, one thread: a cancelled await does not stop a read
    already running there, so the connection is closed on that thread too, after it
    (closing a SQLite connection while another thread runs a statement on it can crash the
    process: Python 3.11 finalises the cached statements)."""
    own = executor is None
    executor = executor or ThreadPoolExecutor(1, thread_name_prefix="callshield-reload")
    db = open_store(services.config.store.path, migrate=False)
    seen = (services.outcomes_version, services.outcomes_upto)
    try:
        while True:
            await asyncio.sleep(services.config.store.reload_interval)
            seen = await poll_once(services, db, seen, executor)
    finally:
        executor.submit(db.close)
        if own:
            executor.shutdown(wait=False)


async def poll_once(services: Services, db: sqlite_utils.Database, seen: tuple[int, float],
                    executor: ThreadPoolExecutor | None = None) -> tuple[int, float]:
    """One tick of the poller: read every version counter in one query on ``executor``
    and dispatch to the reloads whose counter moved; returns the outcomes now learned
    (``seen`` for ``learn_outcomes``). A tick where nothing moved runs that one query."""
    loop = asyncio.get_running_loop()
    try:
        counters = await loop.run_in_executor(executor, versions.current_all, db)
    except Exception:
        log.exception("reading the store's version counters failed; keeping the lists, outcomes and route state in memory")
        return seen
    return await reload_changed(services, db, counters, seen, executor)


async def reload_changed(services: Services, db: sqlite_utils.Database, counters: dict[str, int], seen: tuple[int, float],
                         executor: ThreadPoolExecutor | None = None) -> tuple[int, float]:
    """Swap in a new list snapshot when the lists counter moved, learn newly confirmed
    outcomes when the outcomes counter moved, and reload the route state when the routes
    counter moved or an override expired (changes from the CLI). Each reads on
    ``executor``; a failure is logged and keeps what is in memory."""
    loop = asyncio.get_running_loop()
    version = counters[versions.LISTS]
    if version != services.screener.lists.version:
        try:
            services.screener.dnc = await loop.run_in_executor(executor, dnc_store.load, db)
            services.screener.lists = await loop.run_in_executor(executor, list_store.snapshot, db)
            log.info("lists reloaded: version %d (%d allow, %d deny)", services.screener.lists.version,
                     len(services.screener.lists.allow), len(services.screener.lists.deny))
        except Exception:
            log.exception("reloading the deny/allow lists failed; keeping the previous lists")
    if counters[versions.OUTCOMES] != seen[0]:
        try:
            seen = await learn_outcomes(services, db, seen, executor, version=counters[versions.OUTCOMES])
        except Exception:
            log.exception("reading newly confirmed outcomes failed; they will be read at the next try")
    if services.control is not None:
        try:
            await loop.run_in_executor(executor, services.control.refresh, counters[versions.ROUTES])
        except Exception:
            log.exception("reloading the route state failed; keeping the previous routes")
    return seen


async def learn_outcomes(services: Services, db: sqlite_utils.Database, seen: tuple[int, float],
                         executor: ThreadPoolExecutor | None = None, *, version: int | None = None) -> tuple[int, float]:
    """Feed outcomes confirmed since ``seen`` (version, newest time) into the Call DNA
    memory, on the event loop (the memory is the screening's). ``version`` is the
    outcomes counter as just read (None reads it). A changed label counts as given from
    then on; the earlier one is forgotten at the next restart."""
    loop = asyncio.get_running_loop()
    if version is None:
        version = await loop.run_in_executor(executor, outcome_store.version, db)
    if version == seen[0]:
        return seen
    new = await loop.run_in_executor(executor, outcome_store.since, db, seen[1])
    memory = services.screener.dna.memory
    for _ts, number, profile, fraud in new:
        memory.record_outcome(number, profile, fraud)
    log.info("learned %d newly confirmed outcome(s) (%d fraud); outcomes version %d", len(new), sum(f for *_, f in new), version)
    return version, max([seen[1], *(ts for ts, *_ in new)])


def start_monitor(config: Config, table: RoutingTable) -> "Monitor | None":
    """The AMI monitor over ``table``, or None (logged) when its secret is missing:
    screening carries on without automatic failover and the health probe reports DEGRADED."""
    from callshield.ami_monitor.monitor import Monitor

    ami = config.monitor
    secret = os.environ.get(ami.secret_env, "")
    if not secret:
        log.critical("monitor.enabled is true but the environment variable %s (monitor.secret_env) holding the AMI secret"
                     " of user %r is not set: running WITHOUT the AMI monitor (no automatic failover)", ami.secret_env,
                     ami.username)
        return None
    log.info("AMI monitor: %s@%s:%d", ami.username, ami.host, ami.port)
    return Monitor(config, table, secret)


def _report_crash(task: asyncio.Task[None]) -> None:
    """A background task of serve must run until shutdown: say so at once if it ends."""
    if task.cancelled():
        return
    exc = task.exception()
    log.critical("serve's background task %s %s; callshield carries on without it (restart serve to get it back)",
                 task.get_name(), "crashed" if exc is not None else "ended", exc_info=exc)


LOG_FLUSH_INTERVAL = 0.1  # seconds an INFO line may wait in serve's log buffer


class BatchedLogHandler(logging.StreamHandler):
    """serve's log on stderr, written in batches: INFO and DEBUG lines collect in a 64 KiB
    buffer that ``flush_logs`` writes out every LOG_FLUSH_INTERVAL; a WARNING or worse
    writes out everything at once; exit writes out the rest. A line per call written
    directly cost a ``write()`` per call on the event loop, which hands the GIL to the
    writer thread and back (≈ 40 µs of CPU per call under load, bench/README.md). What a
    killed serve loses is at most the last LOG_FLUSH_INTERVAL of INFO lines; its
    decisions are in the call journal."""

    def __init__(self, fd: int = 2) -> None:
        raw = io.FileIO(fd, "w", closefd=False)
        super().__init__(io.TextIOWrapper(io.BufferedWriter(raw, 1 << 16), encoding="utf-8", errors="backslashreplace"))
        self._urgent = False

    def emit(self, record: logging.LogRecord) -> None:
        self._urgent = record.levelno >= logging.WARNING
        super().emit(record)  # calls flush(): a write only when urgent

    def flush(self) -> None:
        if self._urgent:
            self.flush_now()

    def flush_now(self) -> None:
        self.acquire()
        try:
            self.stream.flush()
        except (OSError, ValueError):  # stderr closed: nothing to be done here
            pass
        finally:
            self.release()

    def close(self) -> None:
        self.flush_now()
        super().close()


def flush_batched_logs() -> None:
    """Write out the batched log lines now."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, BatchedLogHandler):
            handler.flush_now()


async def flush_logs(interval: float = LOG_FLUSH_INTERVAL) -> None:
    """Write out the batched log lines every ``interval`` seconds."""
    while True:
        await asyncio.sleep(interval)
        flush_batched_logs()


def lean_log_records() -> None:
    """Log records without what serve's log format never prints: the caller's source file
    and line (a walk up the stack per record), thread, process and multiprocessing names.
    About a quarter of the cost of each log line on the call path (bench/agi_screen.py)."""
    logging._srcfile = None  # documented in the logging module: None skips the stack walk
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def event_loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop (libuv) roughly halves the per-session cost of accept, read and write."""
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return None


def tune_runtime() -> None:
    """Keep latency tails short on the call path: switch threads every 0.5 ms (the writer
    thread cannot hold the GIL for the default 5 ms), and move everything loaded at
    start-up (phonenumbers metadata, config, history) out of the garbage collector's sight."""
    sys.setswitchinterval(0.0005)
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


async def run(config: Config, *, ready: asyncio.Event | None = None) -> None:
    raise_fd_limit()
    services = build_services(config)
    tune_runtime()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    reloads = ThreadPoolExecutor(1, thread_name_prefix="callshield-reload")  # the reload task's reads, in order
    tasks = [asyncio.create_task(reload_state(services, reloads), name="reload-state"),
             asyncio.create_task(flush_logs(), name="log-flush")]
    if services.monitor is not None:
        tasks.append(asyncio.create_task(services.monitor.run(), name="ami-monitor"))
    agi = AgiServer(services)
    if config.agi.watchdog_timeout > 0:
        watchdog = LoopWatchdog(agi.sockets, config.agi.watchdog_timeout)
        tasks.append(asyncio.create_task(watchdog.heartbeat(), name="watchdog"))
    for task in tasks:
        task.add_done_callback(_report_crash)
    try:
        if config.agi.enabled:
            await agi.start()
            log.info("callshield serving FastAGI on %s:%d (scripts: %s; at most %d connections at once)", config.agi.host,
                     agi.port, ", ".join(sorted(agi.table)), agi.max_connections)
        flush_batched_logs()  # the start-up lines at once: an admin watching the start sees them now
        if ready is not None:
            ready.set()
        await stop.wait()
        log.info("callshield stopping: no new AGI connections; waiting up to %.1fs for the %d open", config.agi.session_timeout,
                 agi.open_connections)
    finally:
        # Graceful: stop accepting, let the sessions in flight finish (bounded), and only
        # then close the writer, so every decision sent is recorded (or kept, and said so).
        finished, cut = await agi.close(grace=config.agi.session_timeout)
        if cut:
            log.warning("AGI sessions at shutdown: %d finished, %d cut after %.1fs (their calls fail open)", finished, cut,
                        config.agi.session_timeout)
        elif finished:
            log.info("AGI sessions at shutdown: %d finished", finished)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):  # a crash was logged when it happened
                await task
        if services.writer is not None:
            services.writer.close(config.store.close_timeout)
        if services.control is not None:
            reloads.submit(services.control.close)  # after a route-state refresh still running
        reloads.shutdown(wait=True)
        log.info("callshield stopped")

"""`rulebot run` put together: config and rules in, a running engine out, until told to stop.

It loads rulebot.yaml and the rules (a broken rule is reported and skipped, never fatal while
another runs), starts the local sim when the network is `sim` with no address, picks the venue
(the real account, or a paper one for dry runs), opens the journal, starts the engine, the status
API and the hot-reload watcher, and on Ctrl+C / SIGTERM stops taking bars, lets the work in flight
finish and protect what it opened, optionally cancels resting orders, says what positions it
leaves and their protection, flushes the journal and returns 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rulebot.config import Config
from rulebot.data.shipped import shipped_quote
from rulebot.lang import ir
from rulebot.lang.load import compile_file
from rulebot.lint import discover
from rulebot.notify.build import NotifySetupError, build_notifier
from rulebot.notify.notifier import Notifier
from rulebot.runtime.engine import Engine
from rulebot.runtime.journal import Journal, dry_run_journal
from rulebot.runtime.reload import (
    ConfigChanged,
    Reloaded,
    ReloadFailed,
    Removed,
    RuleWatcher,
    compile_rule,
)
from rulebot.runtime.status import TOKEN_ENV, StatusError, StatusServer, token_file_for
from rulebot.runtime.strategy import StrategyError
from rulebot.runtime.venue import venue_for

log = logging.getLogger("rulebot.run")


class RunError(Exception):
    """Why the bot cannot start, in one message for the user."""


@dataclass
class RunOptions:
    """What `rulebot run` was asked to do (the command line over rulebot.yaml)."""

    paths: Sequence[Path] = (Path("rules"),)
    config_path: Path | None = None
    strategy: str | None = None  # a strategy name, or None/"all"
    market: str | None = None
    network: str | None = None
    dry_run: bool | None = None
    status_port: int | None = None
    journal: Path | None = None
    confirmed: bool = False  # mainnet without dry-run needs this
    stop_after_s: float | None = None
    say: Callable[[str], None] = print
    sim_settings: dict[str, Any] = field(default_factory=dict)
    on_start: Callable[[Engine], None] | None = None  # called once the engine runs (tests, tools)


@dataclass
class Loaded:
    strategies: list[ir.Strategy]
    problems: list[str]  # rendered diagnostics of rules that did not compile


def load_strategies(options: RunOptions, config: Config) -> Loaded:
    """Every enabled rule under the paths, for live trading, filtered by the options."""
    strategies: list[ir.Strategy] = []
    problems: list[str] = []
    allowed = {m.symbol for m in config.markets}
    for path in discover(options.paths):
        if path.name in ("rulebot.yaml", "rulebot.yml"):
            continue
        result = compile_rule(path)
        if isinstance(result, ReloadFailed):
            problems.append(result.diagnostics)
            continue
        strategy = result.strategy
        if not strategy.enabled:
            continue
        if options.strategy not in (None, "all") and strategy.name != options.strategy:
            continue
        if options.market is not None and options.market not in strategy.markets:
            continue
        outside = sorted({m for m, _ in strategy.feeds} - allowed)
        if outside:
            problems.append(
                f"{path}: `{strategy.name}` trades {', '.join(outside)}, which rulebot.yaml's "
                f"markets do not list ({', '.join(sorted(allowed))}): not started"
            )
            continue
        strategies.append(strategy)
    return Loaded(strategies, problems)


def banner(config: Config, strategies: Sequence[ir.Strategy], url: str) -> str:
    """What the bot is about to do, printed before it does it."""
    mode = "DRY RUN (simulated fills, no order leaves this machine)" if config.dry_run else "LIVE"
    risk = config.risk
    built_in = config.network.name == "sim" and config.network.base_url is None
    lines = [
        f"rulebot run: {len(strategies)} strategies on {config.network.name} ({url}), {mode}",
        *(
            f"  {s.name:<20} {', '.join(s.markets):<10} {s.timeframe:<4} {Path(s.path).name}"
            + (_quoted(s.markets) if built_in else "")
            for s in strategies
        ),
        "  account limits: "
        f"max position {risk.max_position_notional} USDC, max order {risk.max_order_notional} "
        f"USDC, leverage {risk.max_leverage}x, daily loss {risk.max_daily_loss}, "
        f"drawdown {risk.max_drawdown:.0%}, open orders {risk.max_open_orders}",
    ]
    return "\n".join(lines)


def _quoted(markets: Sequence[str]) -> str:
    """What the built-in sim's shipped prices of `markets` are in, when not dollars: its ETH and
    LTC replay pairs priced in BTC, shown as the sim shows them (as if in USDC)."""
    quote = shipped_quote(list(markets))
    return f"  (prices in {quote})" if quote not in (None, "USD", "USDC") else ""


async def run_bot(config: Config, options: RunOptions, stop: asyncio.Event | None = None) -> int:
    """Run until `stop` is set (or a signal arrives); return the exit code. The notifications
    set in rulebot.yaml hear the engine's notices, and an error that ends the run as a crash."""
    try:
        notifier = build_notifier(config)
    except NotifySetupError as problem:
        raise RunError(str(problem)) from None
    async with notifier.running():
        return await _run(config, options, stop, notifier)


async def _run(
    config: Config, options: RunOptions, stop: asyncio.Event | None, notifier: Notifier
) -> int:
    say = options.say
    loaded = load_strategies(options, config)
    for problem in loaded.problems:
        say(problem)
    if not loaded.strategies:
        raise RunError("no strategy to run: fix the rules above, or check --strategy/--market")
    if config.network.name == "mainnet" and not config.dry_run and not options.confirmed:
        raise RunError(
            "this would trade real money on mainnet: pass --yes to confirm, or use --dry-run"
        )
    stop = stop or asyncio.Event()
    journal_path = options.journal or Path(config.runtime.journal)
    if config.dry_run:  # paper fills: a journal of their own, fresh each run (see docs/running.md)
        journal_path = dry_run_journal(journal_path)
    async with venue_for(config, options.sim_settings) as (venue, url, _sim):
        journal = Journal.open(journal_path, fresh=config.dry_run)
        run_id = journal.start_run(config.network.name, config.dry_run)
        engine = Engine(config, venue, journal)
        engine.listeners.append(notifier)
        for strategy in loaded.strategies:
            try:
                engine.add_strategy(strategy, path=strategy.path)
            except StrategyError as problem:
                say(f"{strategy.path}: not started: {problem}")
        say(banner(config, [r.live.strategy for r in engine.strategies.values()], url))
        status = None
        tasks: list[asyncio.Task[Any]] = []
        watcher = RuleWatcher(list(options.paths), options.config_path)
        try:
            _on_signals(stop)  # a stop asked for while starting: stops once started
            await engine.start()
            port = options.status_port
            port = config.runtime.status_port if port is None else port
            if port:
                status = StatusServer(
                    engine.get_status,
                    config.runtime.status_host,
                    port,
                    os.environ.get(TOKEN_ENV),
                    flatten=engine.flatten,
                    journal=journal,
                    token_file=token_file_for(journal_path),
                )
                try:
                    bound = await status.start()
                    say(f"status: http://{config.runtime.status_host}:{bound}/api/status")
                    say(f"dashboard: http://{config.runtime.status_host}:{bound}/")
                    kept = status.token_file or f"the environment ({TOKEN_ENV})"
                    say(f"status token (for `rulebot flatten` and `rulebot status`): in {kept}")
                except StatusError as problem:  # trading goes on without the status API
                    say(f"warning: {problem}")
                    status = None
            tasks.append(asyncio.create_task(_reloads(engine, watcher)))
            if options.on_start is not None:
                options.on_start(engine)
            if options.stop_after_s is not None:
                asyncio.get_running_loop().call_later(options.stop_after_s, stop.set)
            await stop.wait()
            say("stopping: no new evaluations")
        finally:
            watcher.stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for line in await engine.stop(cancel_orders=config.runtime.cancel_orders_on_exit):
                say(line)  # every position left at the venue, and its protection
            if status is not None:
                await status.stop()
            journal.end_run(run_id, "stopped")
            journal.close()
    say("stopped cleanly")
    return 0


async def _reloads(engine: Engine, watcher: RuleWatcher) -> None:
    """Apply each saved or deleted file, and log what came of it, once: the console and the log
    file both get it (a failure or a deleted rule as a warning), and notifications hear it."""
    async for event in watcher.events():
        if isinstance(event, ConfigChanged):
            message, applied = _reload_config(engine, event.path)
            log.log(logging.INFO if applied else logging.WARNING, "%s", message)
            continue
        if isinstance(event, Reloaded | ReloadFailed | Removed):
            message = engine.reload(event)
            if message:
                applied = isinstance(event, Reloaded)
                log.log(logging.INFO if applied else logging.WARNING, "%s", message)
                kind = "reload_error" if isinstance(event, ReloadFailed) else "reload"
                engine.notify(kind, message, path=str(event.path))


def _reload_config(engine: Engine, path: Path) -> tuple[str, bool]:
    """A saved rulebot.yaml: new account risk limits apply at once; a broken file changes
    nothing; other settings need a restart. Returns what happened and whether it applied."""
    from rulebot.config import check_config
    from rulebot.lang.diagnostics import render
    from rulebot.lang.load import read_source

    source, problem = read_source(path)
    if source is None:
        return f"{path}: not reloaded: {problem.message if problem else 'unreadable'}", False
    config, diagnostics = check_config(source)
    if config is None:
        shown = "\n\n".join(render(d, source, str(path)) for d in diagnostics)
        return f"{path}: not reloaded, the running settings continue:\n{shown}", False
    engine.risk_manager.replace_account_limits(config.risk)
    return f"{path}: account risk limits reloaded (other settings apply at the next start)", True


def _on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)


__all__ = ["RunError", "RunOptions", "compile_file", "load_strategies", "run_bot"]

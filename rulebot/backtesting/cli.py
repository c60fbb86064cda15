"""`rulebot backtest`: options in, backtests run, summary printed, files written.

Every failure a user can cause (a broken rule, bad data, a missing file, a bad option) ends in a
readable message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from rulebot import compiled
from rulebot.backtesting.engine import BacktestError, BacktestResult, backtest, load_rules
from rulebot.backtesting.fills import FillSettings
from rulebot.backtesting.report import ReportError
from rulebot.backtesting.settings import SettingsError, fill_settings
from rulebot.data.candles import Candles, DataError, load_candles, load_funding
from rulebot.explain.decisions import Explanation
from rulebot.explain.decisions import explain as explained
from rulebot.explain.render import summary_text
from rulebot.lang import ir

USAGE_ERROR = 2
PREPARING = "preparing the backtester (first run only)…"
"""Said on stderr while numba's cache is empty (a fresh install): see `rulebot.compiled`."""


def run_backtests(
    rules: str,
    *,
    days: float | None,
    start: str | None,
    end: str | None,
    data: list[str],
    funding: str | None,
    config: str | None,
    strategy: str,
    output: str | None,
    trades: str | None,
    plot: str | None,
    verbose: bool,
    explain: bool = False,
) -> int:
    errors = Console(stderr=True, soft_wrap=True)
    try:
        if days is not None and (start or end):
            raise UsageError("give either --days or --start/--end, not both")
        if days is not None and days <= 0:
            raise UsageError("--days must be positive")
        start_ms, end_ms = _day(start, "--start"), _day(end, "--end")
        if plot and Path(plot).suffix.lower() not in (".png", ".html"):
            raise UsageError(f"--plot writes .png or .html files, not {plot!r}")
        settings = settings_from(config)
        strategies = chosen_strategies(rules, strategy)
        given = given_data(data)
        rates = load_funding(funding) if funding else None
        results: list[BacktestResult] = []
        summaries: list[str] = []
        progress = Progress(console=errors, transient=True)
        with progress, compiled.announcing(lambda: _say_preparing(progress)):
            task = progress.add_task("backtesting", total=len(strategies))
            for found in strategies:
                progress.update(task, description=f"backtesting {found.name}")
                run = explained if explain else backtest
                try:
                    done = run(
                        found,
                        given,
                        settings=settings,
                        funding=rates,
                        days=days,
                        start_ms=start_ms,
                        end_ms=end_ms,
                    )
                    if isinstance(done, Explanation):
                        summaries.append(summary_text(found.name, done.summary()))
                        done = done.result
                    results.append(done)
                except BacktestError as skipped:
                    if len(strategies) == 1:
                        raise
                    errors.print(f"[yellow]skipped {found.name}:[/] {skipped}")
                progress.advance(task)
        if not results:
            raise BacktestError("no strategy could be backtested")
        _report(results, output, trades, plot, verbose)
        for summary in summaries:
            print(f"\n{summary}")
    except UsageError as problem:
        errors.print(f"rulebot backtest: {problem}", markup=False, highlight=False)
        return USAGE_ERROR
    except (BacktestError, DataError, ReportError, OSError) as problem:
        errors.print(f"rulebot backtest: {problem}", markup=False, highlight=False)
        return 1
    return 0


def _say_preparing(progress: Progress) -> None:
    """Say that numba is being prepared: in the progress line on a terminal, else as a line."""
    if progress.console.is_terminal:
        for task in progress.task_ids:
            progress.update(task, description=PREPARING)
    else:
        progress.console.print(PREPARING, markup=False, highlight=False)


class UsageError(Exception):
    """An option the user gave is wrong (exit 2)."""


def _report(
    results: list[BacktestResult],
    output: str | None,
    trades: str | None,
    plot: str | None,
    verbose: bool,
) -> None:
    from rulebot.backtesting import report

    console = Console()
    for result in results:
        for note in result.notes:
            console.print(f"[yellow]note:[/] {note}", highlight=False)
        for market, count in result.missing_bars.items():
            console.print(
                f"[yellow]note:[/] the {market} data for {result.strategy} misses {count} bars "
                "on days its market trades (gaps); indicators treat the bars either side of a "
                "gap as neighbours"
            )
    console.print(report.summary_table(results))
    if verbose:
        for result in results:
            console.print(f"{result.strategy}: params {dict(result.params)}")
    if output:
        report.write_json(results, output)
        console.print(f"wrote {output}")
    if trades:
        report.write_trades_csv(results, trades)
        console.print(f"wrote {trades}")
    if plot:
        for result in results:
            path = Path(plot)
            if len(results) > 1:
                path = path.with_name(f"{path.stem}-{result.strategy}{path.suffix}")
            report.write_plot(result, path)
            console.print(f"wrote {path}")


def _day(text: str | None, option: str) -> int | None:
    return utc_ms(text, option, "a date like 2018-01-15")


def utc_ms(text: str | None, option: str, example: str) -> int | None:
    """An option's ISO date or time (UTC unless it says otherwise) as ms; a located usage error
    naming the option and `example` when it is not one."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option} takes {example}, not {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def chosen_strategies(rules: str, strategy: str) -> list[ir.Strategy]:
    """The enabled strategies of `rules`, or the one named `strategy` (`all`: every one)."""
    strategies = load_rules(rules)
    if strategy != "all":
        strategies = [s for s in strategies if s.name == strategy]
        if not strategies:
            raise UsageError(f"no enabled strategy named {strategy!r} in {rules}")
    if not strategies:
        raise BacktestError(f"no enabled strategies in {rules}")
    return strategies


def given_data(options: list[str]) -> Candles | dict[str, Candles] | None:
    """The candles `--data` options give: one file for the strategy's market, files by market,
    or None (the shipped data)."""
    candles = data_options(options)
    if list(candles) == [None]:
        return candles[None]
    if None in candles:
        raise UsageError("give --data as FILE alone, or every one as MARKET=FILE")
    return {str(market): bars for market, bars in candles.items()} or None


def data_options(options: list[str]) -> dict[str | None, Candles]:
    """`--data FILE` (the strategy's market) and `--data MARKET=FILE` options, loaded."""
    loaded: dict[str | None, Candles] = {}
    for option in options:
        market, _, path = option.rpartition("=") if "=" in option else (None, "", option)
        loaded[market or None] = load_candles(path)
    return loaded


def settings_from(config: str | None) -> FillSettings:
    """Fill settings from rulebot.yaml (the one named, or ./rulebot.yaml if there is one)."""
    try:
        return fill_settings(config)
    except SettingsError as problem:
        raise BacktestError(str(problem)) from None


__all__ = [
    "USAGE_ERROR",
    "UsageError",
    "chosen_strategies",
    "data_options",
    "given_data",
    "run_backtests",
    "settings_from",
]

"""`rulebot optimize`: options in, search run with a progress bar, ranked tables printed, files
written. Every failure a user can cause ends in one readable line and a non-zero exit (2 for a
bad option), never a traceback; Ctrl+C stops cleanly, keeping every finished trial for a resume.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from rulebot.cli_options import Config, Data, Days, Funding

USAGE_ERROR = 2
INTERRUPTED = 130


class Method(StrEnum):
    grid = "grid"
    random = "random"
    optuna = "optuna"


def optimize_command(
    rule: Annotated[str, typer.Argument(help="A rule file (or a folder holding one strategy).")],
    days: Days = None,
    data: Data = None,
    funding: Funding = None,
    config: Config = None,
    strategy: Annotated[
        str | None, typer.Option("--strategy", "-s", help="Which strategy of a folder.")
    ] = None,
    metric: Annotated[
        str,
        typer.Option("--metric", "-m", help="sharpe, return, calmar, sortino, cagr, drawdown, ..."),
    ] = "sharpe",
    method: Annotated[
        Method, typer.Option("--method", help="grid: every combination; random; optuna (TPE).")
    ] = Method.grid,
    trials: Annotated[
        int | None,
        typer.Option("--trials", "-n", help="Trials for random and optuna (default 100)."),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", help="Local worker processes (default: all cores)."),
    ] = None,
    walk_forward: Annotated[
        int,
        typer.Option(
            "--walk-forward", help="K folds: optimise on each train window, judge on the next."
        ),
    ] = 0,
    anchored: Annotated[
        bool, typer.Option("--anchored", help="Walk-forward train windows all start at the start.")
    ] = False,
    holdout: Annotated[
        float,
        typer.Option("--holdout", help="Share of the bars at the end held out of the search."),
    ] = 0.2,
    cluster: Annotated[
        str | None,
        typer.Option("--cluster", help="A Dask scheduler, e.g. tcp://scheduler:8786."),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output", "-o", help="Every trial as .csv or .json; run again to resume a search."
        ),
    ] = None,
    restart: Annotated[
        bool, typer.Option("--restart", help="Overwrite --output instead of resuming from it.")
    ] = False,
    heatmap: Annotated[
        str | None,
        typer.Option("--heatmap", help="PNG of the metric over a two-parameter grid."),
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", help="Search NAME over a..b:step, v1,v2 or one value v."),
    ] = None,
    top: Annotated[int, typer.Option("--top", help="Rows in the ranked table.")] = 10,
    check: Annotated[
        int, typer.Option("--check", help="Best in-sample sets run on the held-out period.")
    ] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Seed of random and optuna.")] = 0,
) -> None:
    """Search a rule's params (its `param ... in a..b step s` ranges) on all cores or a Dask
    cluster; rank them in-sample and check the best out of sample."""
    code = run_optimize(
        rule,
        days=days,
        data=data or [],
        funding=funding,
        config=config,
        strategy=strategy,
        metric=metric,
        method=method.value,
        trials=trials,
        jobs=jobs,
        walk_forward=walk_forward,
        anchored=anchored,
        holdout=holdout,
        cluster=cluster,
        output=output,
        restart=restart,
        heatmap=heatmap,
        overrides=overrides or [],
        top=top,
        check=check,
        seed=seed,
    )
    raise typer.Exit(code)


def run_optimize(rule: str, **options: Any) -> int:
    """The command's work, returning its exit code."""
    from rulebot.backtesting.cli import UsageError, given_data, settings_from
    from rulebot.backtesting.engine import BacktestError, load_rules
    from rulebot.data.candles import DataError, load_funding
    from rulebot.optimize.objective import ObjectiveError
    from rulebot.optimize.results import ResultsError
    from rulebot.optimize.runners import RunnerError, keep_freed_memory
    from rulebot.optimize.samplers import SamplerError
    from rulebot.optimize.search import optimize
    from rulebot.optimize.space import SpaceError
    from rulebot.optimize.walkforward import PeriodError

    errors = Console(stderr=True, soft_wrap=True)
    usage = (SpaceError, ObjectiveError, SamplerError, PeriodError, _Usage, UsageError)
    failures = (BacktestError, DataError, ResultsError, RunnerError, _ReportFailure, OSError)
    try:
        _check_options(options)
        settings = settings_from(options["config"])
        found = load_rules(rule)
        if options["strategy"]:
            found = [s for s in found if s.name == options["strategy"]]
        if len(found) != 1:
            names = ", ".join(s.name for s in found) or "none"
            raise _Usage(f"{rule} must hold one enabled strategy (found: {names}); pick with -s")
        given = given_data(options["data"])
        rates = load_funding(options["funding"]) if options["funding"] else None
        keep_freed_memory()  # this process is the command's own: trials run here with --jobs 1
        with _ProgressBar(errors) as progress:
            result = optimize(
                found[0],
                given,
                overrides=options["overrides"],
                metric=options["metric"],
                method=options["method"],
                trials=options["trials"],
                jobs=options["jobs"],
                cluster=options["cluster"],
                walk_forward=options["walk_forward"],
                anchored=options["anchored"],
                holdout=options["holdout"],
                check=options["check"],
                settings=settings,
                funding=rates,
                days=options["days"],
                seed=options["seed"],
                output=options["output"],
                restart=options["restart"],
                progress=progress,
            )
        _show(result, options)
    except KeyboardInterrupt:
        saved = options.get("output")
        kept = f"; finished trials are in {saved}: run again to resume" if saved else ""
        errors.print(f"rulebot optimize: interrupted{kept}", markup=False, highlight=False)
        return INTERRUPTED
    except usage as problem:
        errors.print(f"rulebot optimize: {problem}", markup=False, highlight=False)
        return USAGE_ERROR
    except failures as problem:
        errors.print(f"rulebot optimize: {problem}", markup=False, highlight=False)
        return 1
    return 0


class _Usage(Exception):
    """An option the user gave is wrong (exit 2)."""


class _ReportFailure(Exception):
    """A report file that could not be written."""


def _check_options(options: dict[str, Any]) -> None:
    if options["days"] is not None and options["days"] <= 0:
        raise _Usage("--days must be positive")
    if options["top"] < 1 or options["check"] < 0:
        raise _Usage("--top must be 1 or more and --check 0 or more")
    if options["cluster"] and options["jobs"] is not None:
        raise _Usage("give --jobs or --cluster, not both (the cluster's workers decide)")
    output = options["output"]
    if output and Path(output).suffix.lower() not in (".csv", ".json"):
        raise _Usage(f"--output writes .csv or .json files, not {output!r}")
    heatmap = options["heatmap"]
    if heatmap and Path(heatmap).suffix.lower() != ".png":
        raise _Usage(f"--heatmap writes a .png file, not {heatmap!r}")


def _show(result: Any, options: dict[str, Any]) -> None:
    from rulebot.optimize import report

    console = Console()
    for line in report.summary_lines(result):
        console.print(line, markup=False, highlight=False)
    console.print(report.ranked_table(result, options["top"]))
    if result.folds:
        console.print(report.folds_table(result))
    for warning in report.warnings(result):
        console.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
    if options["output"]:
        console.print(f"wrote {options['output']}", markup=False, highlight=False)
    heatmap = options["heatmap"]
    if heatmap is None and options["output"] and len(result.space.varied) == 2:
        heatmap = str(Path(options["output"]).with_suffix(".png"))
    if heatmap:
        try:
            report.write_heatmap(result, heatmap)
        except report.ReportError as problem:
            raise _ReportFailure(str(problem)) from None
        console.print(f"wrote {heatmap}", markup=False, highlight=False)


class _ProgressBar:
    """A rich progress bar with the trials done, elapsed time and the time left."""

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.task = self.bar.add_task("optimizing", total=None)
        self.shown = False

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.shown:
            self.bar.stop()

    def start(self, total: int) -> None:
        """Shown from here on: the worker processes are started by now, so no drawing thread
        is running when they fork."""
        self.bar.update(self.task, total=total)
        self.bar.start()
        self.shown = True

    def advance(self, count: int, description: str) -> None:
        self.bar.update(self.task, advance=count, description=description)


__all__ = ["optimize_command", "run_optimize"]

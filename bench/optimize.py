"""How fast `rulebot optimize` searches: 1,000 combinations of the shipped mean-reversion rule
over 100,000 bars, in combinations per second on one core, on every local core and on a Dask
LocalCluster, each beside the naive loop of independent `rulebot.backtest` calls measured in the
same run (the ratio is the search's rate over the naive loop's).

The bars are a seeded geometric random walk of 5-minute bars (the rule's own timeframe, so every
bar is a bar the rule reads). The grid is `lookback` 10..59 step 1 by `threshold` 1.5..3.4 step
0.1, `rsi_len` 14: 50 x 20 combinations. Fills: next open, Lighter's fees, 1 bp of slippage.
No held-out period: every combination runs on all the bars, as in the naive loop. Before timing,
a few combinations are checked against their backtests (the metrics must be equal). The naive loop
and the one-core search run in this process with its default memory allocator; worker processes
(local or Dask's own) are as `rulebot optimize` makes them (see `runners.keep_freed_memory`).

It also times, on the naive loop's combinations, the part of a trial no search can share: the
fill loop and the metrics over that combination's own signals (everything else is prepared
first, untimed). A backtest runs that part too, so a naive backtest's time over it is the most
any search whose trials equal their backtests can gain on one core: the ceiling printed.

    .venv/bin/python bench/optimize.py [--bars N] [--naive N]

The Dask run needs the extra `cluster` (`pip install -e '.[cluster]'`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rulebot.backtesting.engine import (  # noqa: E402
    backtest,
    load_rules,
    with_strategy_limits,
)
from rulebot.backtesting.fills import FillSettings, simulate  # noqa: E402
from rulebot.backtesting.metrics import bar_interval_ms, compute_metrics  # noqa: E402
from rulebot.data.candles import Candles  # noqa: E402
from rulebot.lang import ir  # noqa: E402
from rulebot.optimize.cached import SharedColumns  # noqa: E402
from rulebot.optimize.dataset import load_market_data, prepare  # noqa: E402
from rulebot.optimize.search import optimize  # noqa: E402
from rulebot.optimize.space import Params, build_space  # noqa: E402
from rulebot.optimize.trial import signals  # noqa: E402

AIM_ONE_CORE = 10.0  # times the naive loop's combinations per second, at least
BARS = 100_000
SEED = 11
FIVE_MINUTES_MS = 300_000
GRID = ["lookback=10..59:1", "threshold=1.5..3.4:0.1", "rsi_len=14"]
SETTINGS = FillSettings(taker_fee=0.00028, maker_fee=0.00004, slippage_bps=1.0, lot_size=1e-4)
CHECKED = 5


def synthetic_candles(bars: int, seed: int = SEED) -> Candles:
    """A seeded geometric random walk of 5-minute bars; each opens at the last close and its
    high and low reach past both by a random wick."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, bars)))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, 0.001, bars)))
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, 0.001, bars)))
    volume = rng.lognormal(3.0, 1.0, bars)
    timestamp = 1_600_000_000_000 + np.arange(bars, dtype=np.int64) * FIVE_MINUTES_MS
    return Candles(timestamp, open_, high, low, close, volume, source=f"synthetic seed {seed}")


def timed(work: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def unshareable_seconds(strategy: ir.Strategy, candles: Candles, combos: list[Params]) -> float:
    """Seconds the fill loop and the metrics take over `combos`, their inputs made first."""
    dataset = prepare(strategy, load_market_data(strategy, candles))
    shared = SharedColumns(dataset.bars)
    settings = with_strategy_limits(SETTINGS, strategy)
    interval = bar_interval_ms(dataset.bars[dataset.market].timestamp[dataset.first :])
    buffers = shared.buffers(dataset.traded)
    total = 0.0
    for params in combos:
        columns, rules = signals(strategy, dataset, params, shared)
        start = time.perf_counter()
        result = simulate(columns, settings, rules, out=buffers)
        compute_metrics(result, columns, settings, interval)
        total += time.perf_counter() - start
    return total


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arguments.add_argument("--bars", type=int, default=BARS, help="synthetic 5m bars (100,000)")
    arguments.add_argument(
        "--naive",
        type=int,
        default=0,
        help="time the naive loop on N evenly spread combinations instead of all of them (0: all)",
    )
    arguments.add_argument("--no-dask", action="store_true", help="skip the Dask LocalCluster")
    options = arguments.parse_args()

    console = Console(width=140)
    cores = os.cpu_count() or 1
    (strategy,) = load_rules(REPO / "rules" / "mean_reversion.rule")
    candles = synthetic_candles(options.bars)
    space = build_space(strategy, GRID)
    combos = list(space.grid())
    search = dict(overrides=GRID, settings=SETTINGS, holdout=0.0)

    # warm-up: numba's compiled fill loop loaded, then equality on a few combinations
    warm = optimize(strategy, candles, **search, jobs=1, method="random", trials=CHECKED)
    for record in warm.trials:
        alone = backtest(strategy, candles, params=record.params, settings=SETTINGS)
        assert record.metrics == alone.metrics.to_dict(), record.params
    console.print(f"checked {CHECKED} combinations against their backtests: equal")

    naive_combos = combos
    if options.naive:
        naive_combos = combos[:: max(1, len(combos) // options.naive)][: options.naive]
    # each backtest's metrics kept, as a search keeps them (not its whole result: a thousand
    # results hold gigabytes of columns and would slow the loop with page faults)
    naive_s, _ = timed(
        lambda: [
            backtest(strategy, candles, params=p, settings=SETTINGS).metrics for p in naive_combos
        ]
    )
    naive_rate = len(naive_combos) / naive_s
    alone_s = unshareable_seconds(strategy, candles, naive_combos)
    ceiling = naive_s / alone_s

    rows: list[tuple[str, float, int]] = []
    one_s, one = timed(lambda: optimize(strategy, candles, **search, jobs=1))
    rows.append(("optimize, 1 core (in this process)", one_s, one.ran))
    if cores > 1:
        every_s, every = timed(lambda: optimize(strategy, candles, **search, jobs=cores))
        rows.append((f"optimize, {cores} cores (worker processes)", every_s, every.ran))
    if not options.no_dask:
        from distributed import Client, LocalCluster

        with (
            LocalCluster(
                n_workers=cores, threads_per_worker=1, dashboard_address=None, host="127.0.0.1"
            ) as cluster,
            Client(cluster) as client,
        ):
            # warm-up: the workers import rulebot and load the compiled fill loop once
            optimize(strategy, candles, **search, cluster=client, method="random", trials=cores)
            dask_s, dask = timed(lambda: optimize(strategy, candles, **search, cluster=client))
        rows.append((f"optimize, Dask LocalCluster ({cores} workers)", dask_s, dask.ran))

    table = Table(
        title=f"rulebot optimize: {len(combos):,} combinations of mean_reversion over "
        f"{options.bars:,} 5m bars ({cores} cores)"
    )
    for column in ("run", "time", "combinations/s", "÷ naive loop", "aim"):
        table.add_column(column, justify="left" if column == "run" else "right")
    table.add_row(
        f"naive loop: {len(naive_combos):,} backtest() calls",
        f"{naive_s:,.2f} s",
        f"{naive_rate:,.1f}",
        "1.00x",
        "",
    )
    table.add_row(
        f"their fill loops and metrics alone (the ceiling, {len(naive_combos):,} combinations)",
        f"{alone_s:,.2f} s",
        f"{len(naive_combos) / alone_s:,.1f}",
        f"{ceiling:,.2f}x",
        "",
    )
    for name, seconds, count in rows:
        rate = count / seconds
        aim = ""
        if name.startswith("optimize, 1 core"):
            met = rate / naive_rate >= AIM_ONE_CORE
            aim = f"≥ {AIM_ONE_CORE:g}x " + ("[green]met[/]" if met else "[red]MISSED[/]")
            aim += f", {rate / naive_rate / ceiling:.0%} of the ceiling"
        table.add_row(name, f"{seconds:,.2f} s", f"{rate:,.1f}", f"{rate / naive_rate:,.2f}x", aim)
    console.print(table)
    console.print(
        "Each optimize time covers the whole search: preparing the bars, planning and evaluating "
        "every combination's graph (shared columns), its fill loop and its metrics."
    )
    console.print(
        f"Ceiling: a naive backtest spends 1/{ceiling:.2f} of its time in the fill loop and the "
        "metrics of its own combination, which a search runs too (every trial equals its "
        f"backtest), so no search on one core can pass {ceiling:.2f}x here."
    )


if __name__ == "__main__":
    main()

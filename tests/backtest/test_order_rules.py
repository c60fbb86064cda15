"""A rule with resting entries, pyramiding and partial exits, backtested and optimised through
the engine: the graph's order outputs reach the fill loop, and a search's trials equal their
backtests."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rulebot import backtest, compile_text
from rulebot.backtesting.fills import FillSettings, simulate
from rulebot.backtesting.report import summary_rows, write_plot, write_trades_csv
from rulebot.cli import app
from rulebot.lang import ir
from rulebot.optimize.search import optimize

SETTINGS = FillSettings(taker_fee=0.0005, maker_fee=0.0002, slippage_bps=1.0, lot_size=0.001)

MAKER_FADE = """
strategy maker_fade
market BTC
timeframe 5m
param depth = 1.0 in 0.5..1.5 step 0.5

let mid = sma(close, 20)
entry long limit at mid - depth * atr(14) post_only for 3 bars when rsi(close, 14) < 45
exit long 50% when close > mid + atr(14)
pyramiding 2
size 10% of equity
stop_loss 3 * atr(14)
take_profit 50% at 1%
take_profit 50% at 2 * atr(14)
"""


@pytest.fixture(scope="module")
def strategy() -> ir.Strategy:
    compiled = compile_text(MAKER_FADE, "maker_fade.rule")
    assert compiled.strategy is not None, compiled.diagnostics
    return compiled.strategy


def test_the_graphs_order_outputs_reach_the_fill_loop(strategy: ir.Strategy) -> None:
    result = backtest(strategy, settings=SETTINGS, days=20)
    columns = result.columns
    assert (columns.entry_long_kind, columns.entry_long_bars, columns.post_only_long) == (
        "limit",
        3,
        True,
    )
    assert columns.entry_short_kind == "market"
    assert (columns.pyramiding, columns.exit_long_share, columns.exit_short_share) == (2, 0.5, 1.0)
    assert (columns.take_modes, columns.take_shares) == (("percent", "distance"), (0.5, 0.5))
    assert columns.take_mode == "none"
    assert columns.entry_long_level is not None and columns.take_values is not None
    # the level is the rule's `mid - depth * atr(14)`: an ATR (a few hundred dollars on BTC's
    # 5m bars) under the `mid` the report draws
    defined = np.isfinite(columns.entry_long_level)
    assert defined.mean() > 0.99
    atr = result.overlays["mid"][defined] - columns.entry_long_level[defined]
    assert (atr > 0).all() and 10 < np.median(atr) < 1_000
    np.testing.assert_array_equal(columns.take_values[0][defined], 0.01)
    trades = result.trades
    trips = np.unique(trades["trip"])
    assert result.metrics.trades == len(trips) > 10
    assert len(trades) > len(trips)  # round trips of several fills
    taken = trades[trades["exit_reason"] == "take_profit"]
    assert len(taken) > 0
    first = taken[np.isclose(taken["take_price"], taken["entry_price"] * 1.01)]
    assert len(first) > 0 and (first["exit_price"] == first["take_price"]).all()
    # the engine's result is the fill loop's on the same columns
    again = simulate(columns, result.settings)
    np.testing.assert_array_equal(again.equity, result.equity)


def test_a_search_over_the_level_equals_its_backtests(strategy: ir.Strategy) -> None:
    result = optimize(strategy, jobs=1, days=10, holdout=0.0, settings=SETTINGS)
    assert len(result.trials) == 3
    period = result.plan.in_sample
    outcomes = set()
    for record in result.trials:
        assert record.error is None, record.error
        expected = backtest(
            strategy,
            params=record.params,
            settings=SETTINGS,
            start_ms=period.start_ms,
            end_ms=period.end_ms,
        )
        assert record.metrics == expected.metrics.to_dict(), record.params
        outcomes.add(record.metrics["final_equity"])
    assert len(outcomes) == 3  # the param moves the level, and so the fills


def test_the_backtest_command_writes_each_fill_with_its_round_trip(tmp_path: Path) -> None:
    rule, out = tmp_path / "maker_fade.rule", tmp_path / "result.json"
    rule.write_text(MAKER_FADE)
    outcome = CliRunner().invoke(app, ["backtest", str(rule), "--days", "20", "-o", str(out)])
    assert outcome.exit_code == 0, outcome.output
    (written,) = json.loads(out.read_text())["results"]
    trips = [trade["trip"] for trade in written["trades"]]
    assert trips == sorted(trips) and trips[0] == 0
    assert written["metrics"]["trades"] == len(set(trips)) < len(trips)
    assert written["settings"]["limit_fill"] == "cross"


def test_the_reports_list_every_fill(strategy: ir.Strategy, tmp_path: Path) -> None:
    result = backtest(strategy, settings=SETTINGS, days=20)
    rows = list(csv.DictReader(write_trades_csv([result], tmp_path / "t.csv").open()))
    assert len(rows) == len(result.trades)
    assert [int(row["trip"]) for row in rows] == result.trades["trip"].tolist()
    page = write_plot(result, tmp_path / "report.html").read_text()
    assert page.count("<tr data-trade=") == len(result.trades)
    # the summary counts round trips, fewer than the rows
    assert dict(summary_rows([result]))["Trades"] == [f"{len(np.unique(result.trades['trip'])):,}"]
    assert len(np.unique(result.trades["trip"])) < len(result.trades)

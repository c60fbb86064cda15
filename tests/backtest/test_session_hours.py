"""A session filter (`hour`, `dayofweek`) in a backtest and in a search: entries happen only on
bars opening inside the session, by the calendar `datetime` keeps, and a search over the
session's start hour (`--set start=8..16:4`) gives each start its own backtest."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rulebot import backtest
from rulebot.backtesting.fills import FillSettings
from rulebot.cli import app
from rulebot.data.candles import shipped_candles
from rulebot.lang import ir
from rulebot.lang.load import compile_text
from rulebot.optimize.search import optimize

SESSION = """
strategy session
market BTC
timeframe 5m
param h = 8 in 0..20 step 4
let mid = sma(close, 20)
entry long  when {session} and close < mid
exit  long  when close > mid
size 10% of equity
stop_loss 2%
"""
IN_SESSION = "hour >= h and hour < h + 4 and dayofweek < 5"
SETTINGS = FillSettings(taker_fee=0.0005, lot_size=0.0001)


def strategy(session: str = IN_SESSION) -> ir.Strategy:
    compiled = compile_text(SESSION.format(session=session), "session.rule")
    assert compiled.ok and compiled.strategy is not None, compiled.diagnostics
    if session == IN_SESSION:  # a session filter as meant checks clean
        assert not compiled.diagnostics, [d.message for d in compiled.diagnostics]
    return compiled.strategy


def signal_times(trades: np.ndarray, stamps: np.ndarray, fill_at: str) -> list[datetime]:
    """The UTC open of each entry's signal bar (the fill bar itself, or the one before it)."""
    shift = 0 if fill_at == "close" else 1
    return [
        datetime.fromtimestamp(int(stamps[i - shift]) / 1000, UTC) for i in trades["entry_index"]
    ]


@pytest.mark.parametrize("fill_at", ["close", "next_open"])
@pytest.mark.parametrize("start", [0, 8, 16])
def test_entries_happen_only_on_bars_opening_inside_the_session(fill_at: str, start: int) -> None:
    bars = shipped_candles("btc_usd_perp_5m")
    settings = FillSettings(fill_at=fill_at, taker_fee=0.0005, lot_size=0.0001)  # type: ignore[arg-type]
    result = backtest(strategy(), bars, params={"h": start}, settings=settings)
    times = signal_times(result.trades, bars.timestamp, fill_at)
    assert len(times) > 10
    assert all(start <= t.hour < start + 4 and t.weekday() < 5 for t in times)
    anytime = backtest(strategy("true"), bars, settings=settings)
    outside = [
        t for t in signal_times(anytime.trades, bars.timestamp, fill_at)
        if not (start <= t.hour < start + 4 and t.weekday() < 5)
    ]  # fmt: skip
    assert outside  # without the filter the same rule trades outside the session


def test_a_search_over_the_session_start_equals_its_backtests() -> None:
    rule = strategy()
    result = optimize(rule, overrides=["h=8..16:4"], jobs=1, days=8, holdout=0.0, settings=SETTINGS)
    assert sorted(r.params["h"] for r in result.trials) == [8, 12, 16]
    period = result.plan.in_sample
    for record in result.trials:
        assert record.error is None, record.error
        expected = backtest(
            rule,
            params=record.params,
            settings=SETTINGS,
            start_ms=period.start_ms,
            end_ms=period.end_ms,
        )
        assert record.metrics == expected.metrics.to_dict(), record.params
    assert len({r.metrics["trades"] for r in result.trials}) > 1  # the start hour matters


def test_optimize_takes_a_range_of_hours_from_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "session.rule"
    path.write_text(SESSION.format(session=IN_SESSION))
    output = tmp_path / "trials.csv"
    result = CliRunner().invoke(
        app,
        ["optimize", str(path), "--set", "h=8..16:4", "--days", "8", "--jobs", "1",
         "--holdout", "0", "--output", str(output)],
        env={"COLUMNS": "160"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with output.open(newline="") as file:
        starts = sorted(float(r["h"]) for r in csv.DictReader(file) if r["stage"] == "search")
    assert starts == [8, 12, 16]

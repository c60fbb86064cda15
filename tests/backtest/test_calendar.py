"""Annualised figures and drawdown lengths come from the data's own calendar: GOOG's daily
bars (about 252 a year, weekends and holidays absent) are not a 24/7 market's 365."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rulebot.backtesting.engine import BacktestResult, backtest
from rulebot.backtesting.fills import FillSettings
from rulebot.backtesting.settings import fill_settings
from rulebot.cli import app
from rulebot.data.candles import load_candles
from rulebot.lang.load import compile_text

GOOG = Path(__file__).resolve().parents[2] / "rulebot" / "data" / "candles" / "goog_1d.csv"
"""backtesting.py's GOOG daily bars, as shipped."""
DAY_MS = 86_400_000
YEAR_MS = 365 * DAY_MS
SMA_REVERSE = """
strategy sma_reverse
market GOOG
timeframe 1d
entry long  when crossover(sma(close, 10), sma(close, 20))
exit  long  when crossunder(sma(close, 10), sma(close, 20))
entry short when crossunder(sma(close, 10), sma(close, 20))
exit  short when crossover(sma(close, 10), sma(close, 20))
size 100% of equity
"""
SETTINGS = FillSettings(taker_fee=0.002, lot_size=1.0)
"""0.2% commission, whole shares, next-open fills: backtesting.py's example settings."""


def goog(settings: FillSettings = SETTINGS) -> BacktestResult:
    compiled = compile_text(SMA_REVERSE, "sma_reverse.rule")
    assert compiled.strategy is not None
    return backtest(compiled.strategy, load_candles(GOOG), settings=settings)


def longest_drawdown(result: BacktestResult) -> tuple[int, float]:
    """The longest run of bars closing below the running peak, in bars and in days from its
    first bar's open to its last bar's close (a day after its open)."""
    first = result.columns.warmup_bars
    curve = np.r_[result.settings.initial_equity, result.equity[first:]]
    below = (curve < np.maximum.accumulate(curve))[1:]
    opens = result.columns.timestamp[first:]
    bars, days, run = 0, 0.0, 0
    for i, under in enumerate(below):
        run = run + 1 if under else 0
        if run:
            bars = max(bars, run)
            days = max(days, (opens[i] + DAY_MS - opens[i - run + 1]) / DAY_MS)
    return bars, days


def test_daily_stock_bars_annualise_on_their_own_calendar() -> None:
    result = goog()
    m = result.metrics
    opens = result.columns.timestamp[result.columns.warmup_bars :]
    years = (opens[-1] + DAY_MS - opens[0]) / YEAR_MS
    growth = m.final_equity / m.initial_equity
    assert m.periods_per_year == pytest.approx(m.bars / years, rel=1e-12)
    assert 251 < m.periods_per_year < 252
    assert m.cagr == pytest.approx(growth ** (1 / years) - 1, rel=1e-12)
    assert round(m.cagr, 3) == 0.226  # not 0.344, as 365 bars a year would have it
    assert m.sharpe is not None and m.sortino is not None
    assert m.calmar == pytest.approx(m.cagr / m.max_drawdown, rel=1e-12)


def test_a_drawdown_lasts_the_days_it_spans_not_its_bars() -> None:
    m = goog().metrics
    bars, days = longest_drawdown(goog())
    assert m.max_drawdown_duration_bars == bars == 570
    assert m.max_drawdown_duration_days == pytest.approx(days, rel=1e-12)
    assert 800 < m.max_drawdown_duration_days < 850  # about 570 * 365 / 252 days


def test_periods_per_year_given_override_the_calendar() -> None:
    m = goog(replace(SETTINGS, periods_per_year=365)).metrics
    growth = m.final_equity / m.initial_equity
    assert m.periods_per_year == 365
    assert m.cagr == pytest.approx(growth ** (365 / m.bars) - 1, rel=1e-12)
    assert round(m.cagr, 3) == 0.344
    assert m.max_drawdown_duration_days == goog().metrics.max_drawdown_duration_days


def test_rulebot_yaml_sets_the_periods_per_year(tmp_path: Path) -> None:
    rule = tmp_path / "sma_reverse.rule"
    rule.write_text(SMA_REVERSE)
    config = tmp_path / "rulebot.yaml"
    config.write_text(
        "backtest:\n  taker_fee: 0.002\n  slippage_bps: 0\n  size_decimals: 0\n"
        "  periods_per_year: 252\n"
    )
    out = tmp_path / "result.json"
    args = ["backtest", str(rule), "--data", str(GOOG), "--config", str(config)]
    result = CliRunner().invoke(app, [*args, "--output", str(out)])
    assert result.exit_code == 0, result.output
    (document,) = json.loads(out.read_text())["results"]
    m = document["metrics"]
    growth = m["final_equity"] / m["initial_equity"]
    assert m["periods_per_year"] == 252
    assert m["cagr"] == pytest.approx(growth ** (252 / m["bars"]) - 1, rel=1e-12)
    # 252 a year is within a hair of the calendar's own 251.6 for the same trades
    same = replace(fill_settings(config), periods_per_year=None)
    assert m["cagr"] == pytest.approx(goog(same).metrics.cagr, abs=5e-4)


def test_a_bad_periods_per_year_is_a_located_error(tmp_path: Path) -> None:
    rule = tmp_path / "sma_reverse.rule"
    rule.write_text(SMA_REVERSE)
    config = tmp_path / "rulebot.yaml"
    config.write_text("backtest:\n  periods_per_year: -252\n")
    args = ["backtest", str(rule), "--data", str(GOOG), "--config", str(config)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "rulebot.yaml:2:21" in result.output
    assert "`backtest.periods_per_year` must be more than 0" in result.output
    assert "Traceback" not in result.output

"""The window asked for is the window traded: `--days N` trades N days and `--start` trades from
the start, the warm-up loaded from the bars before it when the data has them, and a note saying
so when it does not."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from rulebot import backtest, load_rules
from rulebot.backtesting.fills import FillSettings
from rulebot.cli import app
from rulebot.data import shipped_candles
from rulebot.data.candles import DAY_MS
from rulebot.optimize.search import optimize
from tests.conftest import RULES

FREE = FillSettings()
FIVE_MINUTES = 300_000


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def test_days_trades_that_many_days_with_the_warm_up_read_before_them() -> None:
    (strategy,) = load_rules(RULES / "mean_reversion.rule")
    candles = shipped_candles("btc_usd_perp_5m")
    end = int(candles.timestamp[-1]) + FIVE_MINUTES
    result = backtest(strategy, days=2, settings=FREE)
    assert result.columns.warmup_bars == 0
    assert result.metrics.bars == 2 * 288 == len(result.equity)
    assert result.metrics.start == utc(end - 2 * DAY_MS)
    assert result.notes == ()


def test_a_spread_over_two_days_spans_two_days() -> None:
    (strategy,) = load_rules(RULES / "arbitrage.rule")
    result = backtest(strategy, days=2, settings=FREE)
    metrics = result.metrics
    assert metrics.end - metrics.start == timedelta(days=2) - timedelta(minutes=5)
    assert metrics.bars == 576 and result.columns.warmup_bars == 0


def test_start_is_the_first_traded_bar_and_entries_can_come_at_once() -> None:
    """From the second day on, the bars before `start` hold the warm-up: the first bar is
    tradable, so the trades equal those of a backtest whose signals were read on the whole data
    but only allowed from `start` on (the warm-up never hides the window's first bars)."""
    (strategy,) = load_rules(RULES / "mean_reversion.rule")
    candles = shipped_candles("btc_usd_perp_5m")
    start = int(candles.timestamp[0]) + 3 * DAY_MS
    end = start + 2 * DAY_MS
    result = backtest(strategy, start_ms=start, end_ms=end, settings=FREE)
    assert result.metrics.start == utc(start) and result.metrics.bars == 576
    assert result.columns.warmup_bars == 0 and result.notes == ()
    cold = backtest(strategy, candles.between(start, end), settings=FREE)
    assert cold.columns.warmup_bars == strategy.warmup_bars > 0
    assert cold.metrics.start == utc(start + strategy.warmup_bars * FIVE_MINUTES)


def test_a_window_the_data_cannot_warm_up_says_so(tmp_path: Path) -> None:
    rule = str(RULES / "mean_reversion.rule")
    candles = shipped_candles("btc_usd_perp_5m")
    first = int(candles.timestamp[0])
    start = first + 5 * FIVE_MINUTES  # 5 bars before it; the rule needs 19
    (strategy,) = load_rules(rule)
    result = backtest(strategy, start_ms=start, settings=FREE)
    trades_from = start + (strategy.warmup_bars - 5) * FIVE_MINUTES
    assert result.metrics.start == utc(trades_from)
    (note,) = result.notes
    assert note == (
        f"`mean_reversion` needs {strategy.warmup_bars} bars of warm-up and the data holds only "
        f"5 bars before {utc(start):%Y-%m-%d %H:%M}: "
        f"it trades from {utc(trades_from):%Y-%m-%d %H:%M}"
    )
    shown = utc(start).strftime("%Y-%m-%dT%H:%M")
    output = tmp_path / "result.json"
    run = CliRunner().invoke(
        app, ["backtest", rule, "--start", shown, "--output", str(output)], env={"COLUMNS": "200"}
    )
    assert run.exit_code == 0, run.output
    assert f"note: {note}" in run.output
    (written,) = json.loads(output.read_text())["results"]
    assert written["metrics"]["start"] == utc(trades_from).isoformat()


def test_optimize_searches_the_window_asked_for() -> None:
    (strategy,) = load_rules(RULES / "mean_reversion.rule")
    candles = shipped_candles("btc_usd_perp_5m")
    end = int(candles.timestamp[-1]) + FIVE_MINUTES
    fixed = ["rsi_len=14", "lookback=20", "threshold=2"]
    result = optimize(strategy, overrides=fixed, jobs=1, days=3, holdout=0, settings=FREE)
    assert result.plan.in_sample.start_ms == end - 3 * DAY_MS
    (trial,) = result.trials
    assert trial.metrics is not None and trial.metrics["bars"] == 3 * 288
    alone = backtest(strategy, params=trial.params, days=3, settings=FREE)
    assert trial.metrics == alone.metrics.to_dict()

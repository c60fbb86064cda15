"""Metrics, checked on a small equity curve worked out by hand."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.backtesting import metrics
from rulebot.backtesting.fills import TRADE_DTYPE, FillSettings, SignalColumns, SimResult, simulate
from rulebot.backtesting.metrics import Metrics, bar_interval_ms, compute_metrics

DAY_MS = 86_400_000


def exactly(value: float) -> object:
    return pytest.approx(value, rel=1e-12)


def columns_for(close: list[float], timestamps: list[int], warmup_bars: int) -> SignalColumns:
    n = len(close)
    prices = np.array(close, dtype=np.float64)
    off = np.zeros(n, dtype=bool)
    zeros = np.zeros(n)
    return SignalColumns(
        timestamp=np.array(timestamps, dtype=np.int64),
        open=prices,
        high=prices,
        low=prices,
        close=prices,
        entry_long=off,
        exit_long=off,
        entry_short=off,
        exit_short=off,
        size_mode="base",
        size_value=zeros,
        stop_mode="none",
        stop_value=zeros,
        take_mode="none",
        take_value=zeros,
        trail_mode="none",
        trail_value=zeros,
        warmup_bars=warmup_bars,
    )


def trade_table(rows: list[tuple[float, float, float]]) -> np.ndarray:
    """Trades from (size, entry_price, pnl); the other fields do not enter the metrics."""
    trades = np.zeros(len(rows), dtype=TRADE_DTYPE)
    for i, (size, entry_price, pnl) in enumerate(rows):
        trades[i]["size"] = size
        trades[i]["entry_price"] = entry_price
        trades[i]["pnl"] = pnl
        trades[i]["side"] = 1
        trades[i]["exit_reason"] = "signal"
        trades[i]["trip"] = i  # each row a round trip of its own
    return trades


def test_metrics_of_a_hand_computed_curve():
    # Bar 0 is warm-up. Daily bars, with a 3-day gap before bar 4 (the median interval is 1 day).
    day0 = 1_700_000_000_000
    timestamps = [day0 + d * DAY_MS for d in (0, 1, 2, 3, 6, 7, 8)]
    close = [50, 40, 44, 42, 45, 48, 46]
    equity = [100, 100, 110, 99, 104.5, 121, 96.8]
    position = [0, 0, 1, 1, 0, -1, 0]
    result = SimResult(
        equity=np.array(equity, dtype=np.float64),
        position=np.array(position, dtype=np.float64),
        trades=trade_table([(1, 100, 12.0), (0.5, 100, -5.0), (2, 50, 0.0)]),
        fees_paid=1.25,
        funding_paid=-0.5,
    )
    columns = columns_for(close, timestamps, warmup_bars=1)
    metrics = compute_metrics(result, columns, FillSettings(initial_equity=100))

    # The calendar: bars 1..6 open on days 1, 2, 3, 6, 7, 8 and the last closes on day 9, so
    # they cover 8 days: 6 bars in 8 days is 6 / (8 / 365) = 273.75 bars a year.
    per_year = 6 / (8 / 365)
    assert metrics.periods_per_year == exactly(per_year)
    # Curve E = [100 (initial), 100, 110, 99, 104.5, 121, 96.8]: m = 6 bars from bar 1.
    # Returns: 0, 0.1, -0.1, 104.5/99 - 1, 121/104.5 - 1, 96.8/121 - 1 = -0.2.
    returns = [0.0, 0.1, -0.1, 104.5 / 99 - 1, 121 / 104.5 - 1, -0.2]
    mean = sum(returns) / 6
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / 5)
    downside = math.sqrt((0.1**2 + 0.2**2) / 6)
    assert metrics.bars == 6
    assert metrics.start == datetime.fromtimestamp(timestamps[1] / 1000, tz=UTC)
    assert metrics.end == datetime.fromtimestamp(timestamps[-1] / 1000, tz=UTC)
    assert metrics.initial_equity == 100.0
    assert metrics.final_equity == 96.8
    assert metrics.total_return == exactly(-0.032)
    cagr = 0.968 ** (365 / 8) - 1  # 8 days of the year's 365
    assert metrics.cagr == exactly(cagr)
    assert metrics.sharpe == exactly(mean / std * math.sqrt(per_year))
    assert metrics.sortino == exactly(mean / downside * math.sqrt(per_year))
    # Peaks 100, 100, 110, 110, 110, 121, 121: drawdowns 0, 0, 0, 0.1, 0.05, 0, 0.2.
    # The deepest (0.2, one bar) and the longest (bars 3-4, two bars) are different episodes.
    # Bars 3-4 run from day 3's open to day 6's bar's close on day 7: 4 days, the gap included.
    assert metrics.max_drawdown == exactly(0.2)
    assert metrics.max_drawdown_duration_bars == 2
    assert metrics.max_drawdown_duration_days == exactly(4.0)
    assert metrics.calmar == exactly(cagr / 0.2)

    # Trades: pnl 12, -5, 0 on notionals 100, 50, 100 -> returns 0.12, -0.1, 0.
    assert (metrics.trades, metrics.winning_trades, metrics.losing_trades) == (3, 1, 1)
    assert metrics.win_rate == exactly(1 / 3)
    assert metrics.profit_factor == exactly(12 / 5)
    assert metrics.expectancy == exactly(7 / 3)
    assert metrics.avg_trade_pnl == exactly(7 / 3)
    assert metrics.avg_trade_return == exactly((0.12 - 0.1 + 0) / 3)
    assert (metrics.best_trade_pnl, metrics.worst_trade_pnl) == (12.0, -5.0)
    assert metrics.best_trade_return == exactly(0.12)
    assert metrics.worst_trade_return == exactly(-0.1)

    # Position after bars 1..6: 0, 1, 1, 0, -1, 0 -> 3 of 6 bars.
    assert metrics.exposure == exactly(0.5)
    # From the first tradable bar's close (40, not the warm-up bar's 50): 46 / 40 - 1.
    assert metrics.buy_and_hold_return == exactly(0.15)
    assert (metrics.fees_paid, metrics.funding_paid) == (1.25, -0.5)


def test_undefined_metrics_are_none_and_the_dict_is_plain_json():
    flat = [100.0] * 5
    result = SimResult(
        equity=np.full(5, 1000.0),
        position=np.zeros(5),
        trades=trade_table([]),
        fees_paid=0.0,
        funding_paid=0.0,
    )
    columns = columns_for(flat, [i * DAY_MS for i in range(5)], warmup_bars=0)
    metrics = compute_metrics(result, columns, FillSettings(initial_equity=1000))
    for name in (
        "sharpe",
        "sortino",
        "calmar",
        "win_rate",
        "profit_factor",
        "expectancy",
        "avg_trade_pnl",
        "avg_trade_return",
        "best_trade_pnl",
        "worst_trade_pnl",
        "best_trade_return",
        "worst_trade_return",
    ):
        assert getattr(metrics, name) is None, name
    assert (metrics.max_drawdown, metrics.max_drawdown_duration_bars) == (0.0, 0)
    assert (metrics.total_return, metrics.cagr, metrics.exposure) == (0.0, 0.0, 0.0)

    values = metrics.to_dict()
    assert list(values) == [f for f in Metrics.__dataclass_fields__]
    assert values["start"] == "1970-01-01T00:00:00+00:00"
    json.dumps(values, allow_nan=False)  # raises on NaN or infinity
    assert "sharpe" in str(metrics)


def test_profit_factor_without_losing_trades_is_none_and_a_wiped_out_account_has_cagr_minus_one():
    result = SimResult(
        equity=np.array([1000.0, 500.0, 0.0]),
        position=np.array([1.0, 1.0, 0.0]),
        trades=trade_table([(10, 100, 5.0)]),
        fees_paid=0.0,
        funding_paid=0.0,
    )
    columns = columns_for([100, 50, 1], [0, DAY_MS, 2 * DAY_MS], warmup_bars=0)
    metrics = compute_metrics(result, columns, FillSettings(initial_equity=1000))
    assert metrics.profit_factor is None
    assert metrics.win_rate == 1.0
    assert metrics.cagr == -1.0
    assert metrics.max_drawdown == 1.0
    assert metrics.total_return == -1.0


def test_metrics_agree_with_the_simulation_they_summarise():
    # Buy 1 at open[1] = 100, sell at open[3] = 104 (0.1% taker on both): pnl 4 - 0.204.
    prices = np.array([100.0, 100.0, 102.0, 104.0, 104.0])
    columns = replace(
        columns_for(list(prices), [i * 3_600_000 for i in range(5)], warmup_bars=0),
        entry_long=np.array([True, False, False, False, False]),
        exit_long=np.array([False, False, True, False, False]),
        size_value=np.ones(5),
    )
    settings = FillSettings(taker_fee=0.001)
    result = simulate(columns, settings)
    metrics = compute_metrics(result, columns, settings)
    assert metrics.trades == 1
    assert metrics.expectancy == exactly(3.796)
    assert metrics.final_equity == exactly(10_003.796)
    assert metrics.fees_paid == exactly(0.204)
    # Position after bars 0..4: 0, 1, 1, 0, 0.
    assert metrics.exposure == exactly(0.4)


def test_a_bar_interval_given_is_the_one_worked_out():
    """A search passes the bar interval it worked out once; the metrics are the same."""
    timestamps = [0, 3_600_000, 7_200_000, 14_400_000, 18_000_000]  # one gap of two hours
    columns = replace(
        columns_for([100.0, 99.0, 101.0, 98.0, 97.0], timestamps, warmup_bars=1),
        entry_long=np.array([False, True, False, False, False]),
        size_value=np.ones(5),
    )
    settings = FillSettings()
    result = simulate(columns, settings)
    interval = bar_interval_ms(columns.timestamp)
    assert interval == 3_600_000
    worked_out = compute_metrics(result, columns, settings)
    given = compute_metrics(result, columns, settings, interval_ms=interval)
    assert given == worked_out
    assert worked_out.max_drawdown_duration_days == exactly(2 / 24)
    assert bar_interval_ms(np.array([5], dtype=np.int64)) is None


def curve_stats_by_definition(
    curve: np.ndarray, opens: np.ndarray, interval_ms: float
) -> list[float]:
    """The curve statistics straight from the module's definitions, one bar at a time with
    numpy's NaN rules: every return divided out, every drawdown computed, every episode below
    the peak timed from its first bar's open (`opens[i - 1]` for curve point `i`) to its last
    bar's close."""
    total = negative = deepest = 0.0
    peak, run, longest = curve[0], 0, 0
    began, longest_ms = 0, 0.0
    returns = []
    for i, x in enumerate(curve):
        peak = math.nan if (math.isnan(peak) or math.isnan(x)) else max(peak, x)
        with np.errstate(divide="ignore", invalid="ignore"):
            drawdown = float(1.0 - np.float64(x) / peak)
            r = float(np.float64(x) / curve[i - 1] - 1.0) if i else 0.0
        broken = math.isnan(deepest) or math.isnan(drawdown)
        deepest = math.nan if broken else max(deepest, drawdown)
        if x < peak and run == 0:
            began = int(opens[i - 1])
        run = run + 1 if x < peak else 0
        longest = max(longest, run)
        if run:
            longest_ms = max(longest_ms, int(opens[i - 1]) - began + interval_ms)
        if i:
            returns.append(r)
            total += r
            low = r if (r < 0 or math.isnan(r)) else 0.0
            negative += low * low
    m = len(returns)
    mean = total / m
    squares = 0.0
    for r in returns:
        squares += (r - mean) * (r - mean)
    spread = math.sqrt(squares / (m - 1)) if m > 1 else math.nan
    return [mean, spread, math.sqrt(negative / m), deepest, longest, longest_ms]


@given(
    steps=st.lists(
        st.one_of(
            st.just(0.0),  # a flat bar: the equity does not move
            st.floats(-0.05, 0.05),
            st.sampled_from([math.nan, math.inf, -1.0]),  # broken curves, to zero and beyond
        ),
        min_size=2,
        max_size=60,
    ),
    first=st.integers(0, 5),
    gaps=st.lists(st.integers(1, 4), min_size=60, max_size=60),
)
@settings(max_examples=300, deadline=None)
def test_curve_statistics_are_the_definitions_bit_for_bit(
    steps: list[float], first: int, gaps: list[int]
):
    """The compiled loop reads the curve in place (no copy with the initial equity in front);
    its numbers are the definition's, bit for bit, NaN where the definition gives NaN."""
    with np.errstate(invalid="ignore", over="ignore"):
        equity = 100.0 * np.cumprod(1.0 + np.array(steps))
    first = min(first, len(equity) - 1)
    position = np.where(np.array(steps) == 0.0, 0.0, 1.0)
    # Hourly bars with gaps of up to three missing bars between them.
    opens = np.cumsum(np.array(gaps[: len(equity)], dtype=np.int64)) * 3_600_000
    stats = metrics._curve_stats(100.0, equity, position, first, opens, 3_600_000.0)
    curve = np.concatenate([[100.0], equity[first:]])
    expected = curve_stats_by_definition(curve, opens[first:], 3_600_000.0)
    np.testing.assert_array_equal(stats[[0, 1, 2, 3, 4, 6]], np.array(expected))
    assert stats[5] == np.count_nonzero(position[first:])

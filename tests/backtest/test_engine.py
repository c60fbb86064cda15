"""Backtests end to end: rule text and real candles in, the trades a trader would predict out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import talib

from rulebot.backtesting.engine import BacktestError, backtest
from rulebot.backtesting.fills import FillSettings
from rulebot.data.candles import Candles, shipped_candles
from rulebot.lang.load import compile_text
from tests.conftest import assert_same_trades

SMA_CROSS = """
strategy sma_cross
market ETH
timeframe 5m
entry long when crossover(sma(close, 10), sma(close, 20))
exit  long when crossunder(sma(close, 10), sma(close, 20))
size 100% of equity
"""


def strategy(text: str):
    compiled = compile_text(text, "t.rule")
    assert compiled.strategy is not None, [d.message for d in compiled.diagnostics]
    return compiled.strategy


def reference_sma_cross(candles: Candles, fee: float) -> tuple[float, list[tuple[int, int]]]:
    """The same semantics computed directly: signals at the close from numpy/TA-Lib columns,
    all-in at the next open, a fee on every fill, closed at the last close if still open."""
    fast, slow = talib.SMA(candles.close, 10), talib.SMA(candles.close, 20)
    above = fast > slow
    was_not_above = np.r_[False, fast[:-1] <= slow[:-1]]
    was_not_below = np.r_[False, fast[:-1] >= slow[:-1]]
    enter = above & was_not_above
    leave = (fast < slow) & was_not_below
    cash, size, entered = 10_000.0, 0.0, -1
    trades = []
    for i in range(len(candles) - 1):
        price = candles.open[i + 1]
        if size == 0 and enter[i]:
            size = cash / price
            cash -= size * price * (1 + fee)
            entered = i + 1
        elif size > 0 and leave[i]:
            cash += size * price * (1 - fee)
            trades.append((entered, i + 1))
            size = 0.0
    if size > 0:
        cash += size * candles.close[-1] * (1 - fee)
        trades.append((entered, len(candles) - 1))
    return cash, trades


@pytest.mark.parametrize("data", ["eth_btc_5m", "xrp_usdt_perp_5m"])
def test_sma_crossover_matches_a_direct_computation_on_real_data(data: str) -> None:
    candles = shipped_candles(data)
    result = backtest(strategy(SMA_CROSS), candles, settings=FillSettings(taker_fee=0.001))
    equity, trades = reference_sma_cross(candles, 0.001)
    assert [(int(t["entry_index"]), int(t["exit_index"])) for t in result.trades] == trades
    assert result.metrics.final_equity == pytest.approx(equity, rel=1e-9)


def test_position_rules_are_read_at_each_close() -> None:
    text = SMA_CROSS.replace(
        "exit  long when crossunder(sma(close, 10), sma(close, 20))",
        "exit  long when bars_in_trade >= 5",
    ).replace("crossover(sma(close, 10), sma(close, 20))", "close > open")
    result = backtest(strategy(text), shipped_candles("eth_btc_5m"))
    held = result.trades[result.trades["exit_reason"] == "signal"]
    assert len(held) > 100
    # in at bar e's open, 5 bars old at bar e+5's close, out at bar e+6's open
    assert set((held["exit_index"] - held["entry_index"]).tolist()) == {6}


def test_trades_before_a_bar_do_not_change_when_later_bars_arrive() -> None:
    candles = shipped_candles("eth_btc_5m")
    rule = strategy(SMA_CROSS)
    full = backtest(rule, candles).trades
    for k in (500, 2500):
        cut = backtest(rule, candles.slice(0, k)).trades
        settled = cut[cut["exit_reason"] != "end_of_data"]
        assert len(settled) > 0
        assert_same_trades(settled, full[: len(settled)])


def test_the_shipped_rules_backtest_on_the_shipped_data() -> None:
    for name in ("mean_reversion", "momentum", "ut_bot"):
        suffix = "yaml" if name == "momentum" else "rule"
        result = backtest(f"rules/{name}.{suffix}")
        assert result.metrics.trades > 0
        assert result.metrics.bars == len(result.equity) - result.columns.warmup_bars


@pytest.mark.parametrize("bars", [0, 1, 20])
def test_too_little_data_is_a_clear_error(bars: int) -> None:
    candles = shipped_candles("eth_btc_5m").slice(0, bars)
    with pytest.raises(BacktestError, match=r"too few|no ETH bars"):
        backtest(strategy(SMA_CROSS), candles)


def test_data_on_a_coarser_timeframe_than_the_rule_is_refused() -> None:
    with pytest.raises(BacktestError, match="runs on 5m bars"):
        backtest(strategy(SMA_CROSS), shipped_candles("xrp_usdt_perp_1h"))


def test_finer_data_is_aggregated_to_the_rules_timeframe() -> None:
    one_minute = shipped_candles("unittest_btc_1m")
    result = backtest(strategy(SMA_CROSS), one_minute)
    stamps = result.columns.timestamp
    assert np.all(stamps % 300_000 == 0)  # whole 5-minute bars, on the 5-minute grid
    assert len(stamps) <= (one_minute.timestamp[-1] - one_minute.timestamp[0]) // 300_000 + 1
    assert len(stamps) >= len(one_minute) // 5


def test_a_spread_fills_every_leg_together() -> None:
    result = backtest("rules/arbitrage.rule")
    assert result.legs is not None and result.metrics.trades > 0
    legs = result.legs.leg_trades
    assert len(legs) == 2 * len(result.trades)
    for number, trade in enumerate(result.legs.trades):
        mine = legs[legs["trade"] == number]
        assert sorted(mine["leg"].tolist()) == [0, 1]
        assert mine["side"][mine["leg"] == 0][0] == trade["side"]  # ETH weight +1
        assert mine["side"][mine["leg"] == 1][0] == -trade["side"]  # LTC weight -hedge
        assert mine["pnl"].sum() == pytest.approx(trade["pnl"], rel=1e-9, abs=1e-9)
    document = result.to_dict()
    assert document["market"] == "ETH/LTC"
    assert {leg["market"] for leg in document["leg_trades"]} == {"ETH", "LTC"}


def test_the_python_api_is_as_small_as_promised() -> None:
    from rulebot import backtest as run
    from rulebot import load_rules

    (ut_bot,) = load_rules("rules/ut_bot.rule")
    result = run(ut_bot)
    assert result.strategy == "ut_bot" and result.metrics.trades == len(result.trades)
    assert "Sharpe" in str(result) or "sharpe" in str(result)


def test_a_backtest_is_what_the_streaming_evaluator_would_have_signalled_live() -> None:
    """Stream the graph bar by bar with the position the backtest held at each close (what the
    live engine will feed it); those signals, filled without position rules, give the very
    trades the backtest made with its rules read inside the fill loop."""
    from dataclasses import replace as replace_columns

    from rulebot.backtesting.engine import _fill
    from rulebot.backtesting.fills import simulate
    from rulebot.graph.clocks import BarColumns
    from rulebot.graph.plan import plan
    from rulebot.graph.streaming import StreamingEvaluator

    text = (
        Path("rules/mean_reversion.rule")
        .read_text()
        .replace("bars_in_trade >= 100", "bars_in_trade >= 10 or close < entry_price * 0.995")
    )
    rule = strategy(text)
    bars = BarColumns.of(shipped_candles("btc_usd_perp_5m"))
    graph = plan(rule)
    columns, result, _ = _fill(graph, rule, {"BTC": bars}, FillSettings(), None)
    assert len(result.trades) > 20

    entered = np.full(len(bars), -1)
    price = np.full(len(bars), np.nan)
    for trade in result.trades:
        entered[trade["entry_index"] : trade["exit_index"]] = trade["entry_index"]
        price[trade["entry_index"] : trade["exit_index"]] = trade["entry_price"]
    held = np.sign(result.position)
    evaluator = StreamingEvaluator(graph)
    streamed = {name: [] for name in ("entry.long", "exit.long", "entry.short", "exit.short")}
    for i in range(len(bars)):
        state = {
            "bars_in_trade": float(i - entered[i]) if held[i] != 0 else 0.0,
            "entry_price": float(price[i]) if held[i] != 0 else float("nan"),
            "position": float(held[i]),
        }
        row = tuple(
            getattr(bars, f)[i] for f in ("timestamp", "open", "high", "low", "close", "volume")
        )
        evaluator.update(row, state)
        for name in streamed:
            streamed[name].append(bool(evaluator.value(name)))
    trading = np.arange(len(bars)) >= graph.warmup_bars
    live = replace_columns(
        columns,
        **{name.replace(".", "_"): np.array(v) & trading for name, v in streamed.items()},
    )
    replayed = simulate(live, FillSettings())
    assert_same_trades(replayed.trades, result.trades)

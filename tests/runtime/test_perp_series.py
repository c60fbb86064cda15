"""Live bars carry the perpetual's series the way backtest bars do: a live strategy fed bars
stamped with the latest funding known at each close decides on the bars the backtest's signals
are on, and the engine stamps each closed bar with its market's latest stats."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np

from rulebot.backtesting.engine import backtest, on_timeframe
from rulebot.backtesting.perp_series import funding_series
from rulebot.data.candles import shipped_candles, shipped_funding
from rulebot.lang.load import compile_text
from rulebot.runtime.messages import Bar
from rulebot.runtime.perp_stats import with_perp_stats
from rulebot.runtime.strategy import LiveStrategy, Sizing
from rulebot.venues.lighter.events import MarketStatsChanged

RULE = """strategy funding_tilt
market XRP
timeframe 1h
entry long when funding > 0.012% and close > sma(close, 5)
exit long when funding <= 0.011% or na(funding)
size 10% of equity
"""


def test_live_signals_on_funding_are_the_backtests() -> None:
    compiled = compile_text(RULE, "t.rule")
    assert compiled.strategy is not None, compiled.diagnostics
    strategy = compiled.strategy
    result = backtest(strategy)  # the shipped XRP candles and funding
    bars = on_timeframe(shipped_candles("xrp_usdt_perp_5m"), strategy, "XRP")
    funding = funding_series(shipped_funding("xrp_usdt_perp_funding_8h"), bars)
    live = LiveStrategy(strategy, sizing=Sizing.for_strategy(strategy, lot=Decimal("0.1")))
    entries, exits = [], []
    for i in range(len(bars)):
        rate = None if math.isnan(funding[i]) else float(funding[i])
        bar = Bar(
            "XRP",
            int(bars.timestamp[i]),
            float(bars.open[i]),
            float(bars.high[i]),
            float(bars.low[i]),
            float(bars.close[i]),
            float(bars.volume[i]),
            funding=rate,
        )
        live.on_bar({"XRP": bar}, Decimal(10_000))
        entries.append(bool(live.evaluator.value("entry.long")))
        exits.append(bool(live.evaluator.value("exit.long")))
    first = len(bars) - len(result.columns.timestamp)
    warm = strategy.warmup_bars  # the backtest's signals are false while warming up
    assert not result.columns.entry_long[:warm].any() and not result.columns.exit_long[:warm].any()
    np.testing.assert_array_equal(entries[first + warm :], result.columns.entry_long[warm:])
    np.testing.assert_array_equal(exits[first + warm :], result.columns.exit_long[warm:])
    assert result.columns.entry_long.any() and result.columns.exit_long.any()


def test_a_closed_bar_takes_its_markets_latest_stats() -> None:
    bar = Bar("XRP", 0, 1.0, 1.1, 0.9, 1.05, 10.0)
    latest = {
        "XRP": MarketStatsChanged("XRP", Decimal("0.0001"), Decimal("1.04"), Decimal("5000")),
        "BTC": MarketStatsChanged("BTC", Decimal("-0.0002"), Decimal("40000"), Decimal("3")),
    }
    stamped = with_perp_stats(bar, latest)
    assert (stamped.funding, stamped.mark, stamped.open_interest) == (0.0001, 1.04, 5000.0)
    assert (stamped.open, stamped.close) == (bar.open, bar.close)
    assert with_perp_stats(Bar("ETH", 0, 1, 1, 1, 1, 0), latest).funding is None

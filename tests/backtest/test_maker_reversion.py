"""The fifth shipped rule, `rules/maker_reversion.rule`, on the USD-priced BTC perpetual's real
minute bars: its entries rest as post-only limits and fill as makers at the band, its profit
comes off in two halves at 0.5% and 1.5% from the average entry, and its funding filter keeps
each side out while the rate is against it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rulebot import backtest, load_rules
from rulebot.backtesting.perp_series import funding_series
from rulebot.data import load_candles
from rulebot.data.candles import FundingRates, shipped_candles
from rulebot.lang import ir
from rulebot.lang.load import compile_text
from tests.conftest import RULES

BTC_1M = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "btc_perp_usd_1m.csv"
"""The minute bars the rule is shipped for; the package ships their 5-minute resample, which
makes the same 15-minute bars, for a checkout without them beside it."""
HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def candles():
    return load_candles(BTC_1M) if BTC_1M.exists() else shipped_candles("btc_usd_perp_5m")


def shipped_rule(**replace: str) -> ir.Strategy:
    text = (RULES / "maker_reversion.rule").read_text()
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    compiled = compile_text(text, "maker_reversion.rule")
    assert compiled.strategy is not None, [d.message for d in compiled.diagnostics]
    return compiled.strategy


def test_the_rule_uses_what_it_is_shipped_to_show() -> None:
    (strategy,) = load_rules(RULES / "maker_reversion.rule")
    assert {side: o.kind for side, o in strategy.entry_orders.items()} == {
        "long": "limit",
        "short": "limit",
    }
    assert all(o.post_only for o in strategy.entry_orders.values())
    assert [take.mode for take in strategy.partial_takes] == ["percent", "percent"]
    assert ("BTC", "funding") in {(m, name) for m, name, _ in strategy.perp_reads}


def test_every_entry_rests_at_the_band_and_fills_as_a_maker(candles) -> None:
    result = backtest(shipped_rule(**{"pyramiding 2": "pyramiding 1"}), candles)
    trades, columns, settings = result.trades, result.columns, result.settings
    assert result.metrics.trades >= 20
    for trip in np.unique(trades["trip"]):
        rows = trades[trades["trip"] == trip]
        first = int(rows["entry_index"][0])
        side = int(rows["side"][0])
        level_column = columns.entry_long_level if side > 0 else columns.entry_short_level
        level = level_column[first - 1]  # re-read at the last close before the fill
        # a maker fill: at the level itself, no slippage, in a bar that opened on the near side
        # of the level and then traded through it
        assert rows["entry_price"][0] == pytest.approx(level, rel=1e-12)
        if side > 0:
            assert columns.open[first] >= level > columns.low[first]
        else:
            assert columns.open[first] <= level < columns.high[first]
        size = rows["size"].sum()
        entry_fee = size * level * settings.maker_fee
        exit_fees = sum(
            row["size"] * row["exit_price"]
            * (settings.maker_fee if row["exit_reason"] == "take_profit" else settings.taker_fee)
            for row in rows
        )  # fmt: skip
        assert rows["fees"].sum() == pytest.approx(entry_fee + exit_fees, rel=1e-9)


def test_profit_comes_off_in_two_halves(candles) -> None:
    result = backtest(shipped_rule(**{"pyramiding 2": "pyramiding 1"}), candles)
    trades, lot = result.trades, result.settings.lot_size
    both = 0
    for trip in np.unique(trades["trip"]):
        rows = trades[trades["trip"] == trip]
        takes = rows[rows["exit_reason"] == "take_profit"]
        side, entry, size = int(rows["side"][0]), rows["entry_price"][0], rows["size"].sum()
        targets = entry * (1 + side * np.array([0.005, 0.015]))
        for row, target in zip(takes, targets, strict=False):
            assert row["exit_price"] == pytest.approx(target, rel=1e-12)
        if len(takes) == 2:
            both += 1
            half = np.floor(size * 0.5 / lot + 1e-9) * lot
            assert takes["size"][0] == pytest.approx(half)
            assert takes["size"][1] == pytest.approx(size - half)  # the last takes what is left
    assert both >= 5


def test_adds_average_the_entry_and_stay_within_pyramiding(candles) -> None:
    result = backtest(shipped_rule(), candles)
    trades = result.trades
    added = 0
    for trip in np.unique(trades["trip"]):
        rows = trades[trades["trip"] == trip]
        prices = np.unique(rows["entry_price"])
        assert len(prices) <= 2  # one entry, or that entry and one add: the average moves once
        added += len(prices) == 2
    assert added >= 1


def test_the_funding_filter_keeps_each_side_out_while_the_rate_is_against_it(candles) -> None:
    # a funding history where longs pay 0.05% an hour for the first half of the month, shorts
    # pay 0.05% for the second half, and the rate is 0 in between
    start = int(candles.timestamp[0]) // HOUR_MS * HOUR_MS
    stamps = np.arange(start, int(candles.timestamp[-1]) + HOUR_MS, HOUR_MS)
    third = len(stamps) // 3
    rates = np.zeros(len(stamps))
    rates[:third], rates[-third:] = 0.0005, -0.0005
    funding = FundingRates(stamps, rates, "hourly.csv", HOUR_MS)
    strategy = shipped_rule()
    without = backtest(strategy, candles)
    filtered = backtest(strategy, candles, funding=funding)
    columns = filtered.columns
    known = funding_series(funding, columns)  # the rate each bar read
    longs_pay, shorts_pay = known > 0.0001, known < -0.0001
    assert longs_pay.sum() > 100 and shorts_pay.sum() > 100
    assert not columns.entry_long[longs_pay].any()
    assert not columns.entry_short[shorts_pay].any()
    # with the rate at zero, or against the other side, the rule reads as it does without it
    free = ~(longs_pay | shorts_pay)
    np.testing.assert_array_equal(columns.entry_long[free], without.columns.entry_long[free])
    np.testing.assert_array_equal(columns.entry_short[free], without.columns.entry_short[free])
    np.testing.assert_array_equal(
        columns.entry_short[longs_pay], without.columns.entry_short[longs_pay]
    )
    assert filtered.metrics.funding_paid != 0.0

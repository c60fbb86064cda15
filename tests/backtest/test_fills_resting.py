"""Resting entry orders (limit and stop) in the fill model, every price and fee worked out by hand
in the comments. Bars are (open, high, low, close); `size 1` base unless said."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from rulebot.backtesting.fills import FillSettings, SignalColumns, simulate
from rulebot.risk.bars import LossLimits
from tests.backtest.test_fills import Bar, exactly, flat, strategy

FEES = FillSettings(taker_fee=0.001, maker_fee=0.0002)


def resting(
    columns: SignalColumns,
    kind: str,
    level: float | list[float],
    *,
    side: str = "long",
    bars: int = 1,
    post_only: bool = False,
) -> SignalColumns:
    """`columns` with `side`'s entry resting as a `kind` order at `level` (one value or one a
    bar)."""
    n = len(columns)
    levels = np.broadcast_to(np.asarray(level, dtype=np.float64), (n,)).copy()
    return replace(
        columns,
        **{
            f"entry_{side}_kind": kind,
            f"entry_{side}_level": levels,
            f"entry_{side}_bars": bars,
            f"post_only_{side}": post_only,
        },
    )


def one_trade(columns: SignalColumns, settings: FillSettings) -> np.void:
    trades = simulate(columns, settings).trades
    assert len(trades) == 1
    return trades[0]


def test_a_buy_limit_fills_at_its_level_as_a_maker_when_the_bar_trades_below_it():
    bars: list[Bar] = [(100, 100, 100, 100), (100, 101, 97, 99), (99, 99, 99, 99), (99,) * 4]
    columns = resting(strategy(bars, entry_long=(0,), exit_long=(2,)), "limit", 98.0)
    trade = one_trade(columns, FEES)
    # bar 1 opens at 100 (above 98) and trades down to 97 < 98: bought 1 at 98, maker fee
    # 98 * 0.0002 = 0.0196; the exit at open[3] = 99 pays the taker fee 0.099
    assert (trade["entry_index"], trade["exit_index"]) == (1, 3)
    assert trade["entry_price"] == exactly(98.0)
    assert trade["fees"] == exactly(0.0196 + 0.099)
    assert trade["pnl"] == exactly(1.0 - 0.0196 - 0.099)  # 0.8814


def test_a_buy_limit_the_bar_opens_below_fills_at_the_open_as_a_taker_never_past_its_level():
    settings = replace(FEES, slippage_bps=10)
    bars: list[Bar] = [(100,) * 4, (97, 98, 96, 97), (97,) * 4, (97,) * 4]
    columns = resting(strategy(bars, entry_long=(0,), exit_long=(2,)), "limit", 98.0)
    trade = one_trade(columns, settings)
    # it crossed on arrival: a taker at the open with slippage, 97 * 1.001 = 97.097 (under 98);
    # fee 97.097 * 0.001; the exit sells at 97 * 0.999 = 96.903, fee 0.096903
    assert trade["entry_price"] == exactly(97.097)
    assert trade["fees"] == exactly(0.097097 + 0.096903)
    assert trade["pnl"] == exactly(96.903 - 97.097 - 0.097097 - 0.096903)
    # opening at 97.95: 97.95 * 1.001 = 98.04795 would pay past the level, so it pays 98
    bars[1] = (97.95, 98, 96, 97)
    columns = resting(strategy(bars, entry_long=(0,), exit_long=(2,)), "limit", 98.0)
    assert one_trade(columns, settings)["entry_price"] == exactly(98.0)


def test_a_resting_entry_is_sized_at_its_level_whatever_it_fills_at():
    # `size 980` in quote: 980 / 98 = 10 at the level, as a live order is sized when it rests
    bars: list[Bar] = [(100,) * 4, (97, 98, 96, 97), (97,) * 4, (97,) * 4]
    columns = strategy(bars, entry_long=(0,), exit_long=(2,), size=("quote", 980.0))
    limit = one_trade(resting(columns, "limit", 98.0), FEES)
    # it filled at the better open, 97, and keeps the 10 it rested with (not 980 / 97 = 10.10)
    assert (limit["entry_price"], limit["size"]) == (97.0, exactly(10.0))
    # a buy stop at 102 the bar gaps over to 104: filled at 104, still 980 / 102 = 9.6078...
    bars[1] = (104, 105, 103, 104)
    stop = one_trade(resting(strategy(bars, entry_long=(0,), exit_long=(2,),
                                      size=("quote", 980.0)), "stop", 102.0), FEES)  # fmt: skip
    assert (stop["entry_price"], stop["size"]) == (104.0, exactly(980.0 / 102.0))
    # an order at market is sized at its fill price, as before: 980 / open[1] = 980 / 104
    market = one_trade(strategy(bars, entry_long=(0,), exit_long=(2,), size=("quote", 980.0)), FEES)
    assert (market["entry_price"], market["size"]) == (104.0, exactly(980.0 / 104.0))


def test_a_post_only_limit_that_would_cross_is_refused_and_cancelled():
    bars: list[Bar] = [(100,) * 4, (97, 98, 96, 97), (99, 99, 90, 99), (99,) * 4]
    columns = resting(strategy(bars, entry_long=(0,)), "limit", 98.0, bars=3, post_only=True)
    result = simulate(columns, FEES)
    # bar 1 opens at 97 below 98: taking is refused, and the order is gone, so bar 2 trading
    # down to 90 (while it would still have lived) buys nothing
    assert len(result.trades) == 0
    assert result.position.tolist() == [0.0] * 4
    # without post_only it takes at the open
    taker = resting(strategy(bars, entry_long=(0,)), "limit", 98.0, bars=3)
    assert simulate(taker, FEES).trades["entry_price"].tolist() == [97.0]


def test_a_limit_touched_but_not_traded_through_fills_only_with_limit_fill_touch():
    bars: list[Bar] = [(100,) * 4, (100, 100, 98, 99), (99,) * 4, (99,) * 4]
    columns = resting(strategy(bars, entry_long=(0,), exit_long=(2,)), "limit", 98.0)
    # low 98 == level: `cross` needs low < 98, so nothing fills
    assert len(simulate(columns, FEES).trades) == 0
    # `touch` counts low <= 98: bought at 98 as a maker
    trade = one_trade(columns, replace(FEES, limit_fill="touch"))
    assert (trade["entry_price"], trade["fees"]) == (98.0, exactly(0.0196 + 0.099))


def test_a_stop_entry_fills_at_its_level_or_at_a_gapped_open_with_slippage():
    settings = replace(FEES, slippage_bps=10)
    bars: list[Bar] = [(100,) * 4, (100, 103, 99, 102), (102,) * 4, (102,) * 4]
    columns = resting(strategy(bars, entry_long=(0,), exit_long=(2,)), "stop", 102.0)
    trade = one_trade(columns, settings)
    # bar 1 trades up through 102: bought at 102 * 1.001 = 102.102, taker fee 0.102102
    assert trade["entry_price"] == exactly(102.102)
    assert trade["fees"] == exactly(0.102102 + 102 * 0.999 * 0.001)
    # bar 1 opens at 104, already past 102: bought at the worse open, 104 * 1.001 = 104.104
    bars[1] = (104, 105, 103, 104)
    columns = resting(strategy(bars, entry_long=(0,), exit_long=(2,)), "stop", 102.0)
    assert one_trade(columns, settings)["entry_price"] == exactly(104.104)
    # a sell stop at 98 the bar opens under at 97: sold at 97 * 0.999 = 96.903
    bars[1] = (97, 97.5, 96, 97)
    short = strategy(bars, entry_short=(0,), exit_short=(2,))
    trade = one_trade(resting(short, "stop", 98.0, side="short"), settings)
    assert (trade["side"], trade["entry_price"]) == (-1, exactly(96.903))


def test_a_resting_order_lives_its_bars_then_expires():
    bars: list[Bar] = [(100,) * 4] + [(100, 100, 96, 100)] * 3 + [(100, 100, 94, 100), (100,) * 4]
    # placed at close 0 `for 3 bars`: it may fill on bars 1, 2 and 3 (lows 96, above 95), and
    # is gone before bar 4 trades down to 94
    columns = resting(strategy(bars, entry_long=(0,)), "limit", 95.0, bars=3)
    assert len(simulate(columns, FEES).trades) == 0
    # `for 4 bars` it is still there on bar 4: bought at 95, held to the end (closed at 100)
    trade = one_trade(resting(strategy(bars, entry_long=(0,)), "limit", 95.0, bars=4), FEES)
    assert (trade["entry_index"], trade["entry_price"]) == (4, 95.0)
    assert trade["exit_reason"] == "end_of_data"


def test_a_resting_order_re_reads_its_level_at_each_close():
    bars: list[Bar] = [(100,) * 4, (100, 100, 96, 100), (100, 100, 96.5, 100), (100,) * 4]
    # the level is 95 at close 0 and 97 from close 1 on: bar 1 (low 96) misses 95, bar 2
    # (low 96.5) trades under the 97 read at close 1
    columns = resting(strategy(bars, entry_long=(0,)), "limit", [95, 97, 97, 97], bars=3)
    trade = one_trade(columns, FEES)
    assert (trade["entry_index"], trade["entry_price"]) == (2, 97.0)
    # a NaN level at a close cancels it
    columns = resting(strategy(bars, entry_long=(0,)), "limit", [95, np.nan, 97, 97], bars=3)
    assert len(simulate(columns, FEES).trades) == 0


def test_a_resting_entry_is_cancelled_by_an_opposite_entry_and_by_an_exit():
    bars: list[Bar] = [(100,) * 4, (100, 100, 99, 100), (100, 100, 94, 100), (100,) * 4]
    # a long limit at 95 for 5 bars; the short signal at close 1 cancels it and rests a short
    # limit at 200 that never fills: bar 2's low of 94 buys nothing
    columns = resting(strategy(bars, entry_long=(0,), entry_short=(1,)), "limit", 95.0, bars=5)
    columns = resting(columns, "limit", 200.0, side="short")
    result = simulate(columns, FEES)
    assert len(result.trades) == 0 and not result.position.any()
    # without the short signal it fills at 95 on bar 2
    alone = resting(strategy(bars, entry_long=(0,)), "limit", 95.0, bars=5)
    assert simulate(alone, FEES).trades["entry_price"].tolist() == [95.0]
    # an add resting (pyramiding 2) is cancelled by the exit of the long it would add to:
    # bought 1 at 99 on bar 1 (limit at 99, low 98), the add placed at close 1 rests at 97,
    # the exit at close 2 closes at open[3] and cancels it, so bar 3's low of 96 adds nothing
    bars = [(100,) * 4, (100, 100, 98, 100), (100,) * 4, (100, 100, 96, 100), (100,) * 4]
    columns = strategy(bars, entry_long=(0, 1), exit_long=(2,))
    columns = replace(resting(columns, "limit", [99, 97, 97, 97, 97], bars=3), pyramiding=2)
    result = simulate(columns, FEES)
    assert result.trades[["entry_index", "exit_index", "size"]].tolist() == [(1, 3, 1.0)]
    assert result.position.tolist() == [0.0, 1.0, 1.0, 0.0, 0.0]


@pytest.mark.parametrize(("limit", "adds"), [(1.0, False), (10.0, True)])
def test_a_breached_loss_limit_cancels_a_resting_add(limit: float, adds: bool):
    bars: list[Bar] = [(100,) * 4, (100, 100, 98, 99), (99, 99, 95, 95), (95, 95, 89, 95)]
    bars.append((95,) * 4)
    columns = strategy(bars, entry_long=(0, 1))
    columns = replace(resting(columns, "limit", [99, 90, 90, 90, 90], bars=5), pyramiding=2)
    risk = LossLimits(account_daily_loss=limit, account_daily_percent=False)
    result = simulate(columns, FillSettings(risk=risk))
    # bought 1 at 99 on bar 1; the add placed at close 1 rests at 90. Close 2 marks the long at
    # 95: 5 lost since the day's first close (10,000). A daily limit of 1 is breached there and
    # the add is cancelled, so bar 3's low of 89 adds nothing; with a limit of 10 it adds at 90.
    assert result.position[:-1].tolist() == [0.0, 1.0, 1.0, 2.0 if adds else 1.0]  # then closed


def test_a_stop_in_the_bar_of_a_limit_fill_hits_but_its_take_profit_waits_a_bar():
    stop, take = ("distance", 2.0), ("distance", 1.0)
    # bar 1: bought at 98 (low 95 < 98); the stop at 96 is under the low, so it is hit in the
    # same bar, at the stop price 96 (the open, 100, came before the fill); pnl -2
    bars: list[Bar] = [(100,) * 4, (100, 100.5, 95, 99.5), (99.5,) * 4]
    columns = resting(strategy(bars, entry_long=(0,), stop=stop, take=take), "limit", 98.0)
    trade = one_trade(columns, FillSettings())
    assert trade[["entry_index", "exit_index", "exit_price", "exit_reason", "pnl"]].tolist() == (
        1,
        1,
        96.0,
        "stop_loss",
        -2.0,
    )
    # bar 1 bought at 98 (low 97) then went to 100.5, above the take-profit at 99: the high may
    # have come before the fill, so it is not taken in this bar; bar 2 (high 100) takes it at 99
    bars = [(100,) * 4, (100, 100.5, 97, 99.5), (99.5, 100, 99, 99.5), (99.5,) * 4]
    columns = resting(strategy(bars, entry_long=(0,), stop=stop, take=take), "limit", 98.0)
    trade = one_trade(columns, FillSettings())
    assert trade[["exit_index", "exit_price", "exit_reason", "pnl"]].tolist() == (
        2,
        99.0,
        "take_profit",
        1.0,
    )


def test_a_resting_order_is_not_a_blocker_in_the_trace():
    bars = flat(100, 4)
    columns = resting(strategy(bars, entry_long=(0,)), "limit", 95.0)
    result = simulate(columns, FEES, trace=True)
    assert result.trace is not None
    assert result.trace[3].tolist() == [0.0] * 4  # resting and never filled: nothing stopped it
    assert len(result.trades) == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"entry_long_kind": "limit"}, "needs entry_long_level"),
        ({"entry_long_kind": "iceberg"}, "entry_long_kind must be one of"),
        ({"entry_short_bars": 0}, "entry_short_bars must be a whole number"),
        (
            {"entry_long_kind": "stop", "entry_long_level": np.ones(4), "post_only_long": True},
            "cannot be post_only",
        ),
        ({"pyramiding": 0}, "pyramiding must be a whole number"),
        ({"exit_long_share": 1.5}, "exit_long_share must be in (0, 1]"),
    ],
)
def test_bad_entry_settings_are_refused_with_a_clear_message(
    changes: dict[str, object], message: str
):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("]", r"\]")):
        simulate(replace(strategy(flat(100, 4)), **changes), FEES)

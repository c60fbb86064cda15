"""Scaling in and out in the fill model: pyramiding, partial take-profits and partial signal
exits, one trade row per closing fill, every number worked out by hand in the comments. Bars are
(open, high, low, close)."""

from __future__ import annotations

from dataclasses import replace
from types import ModuleType

import numpy as np
import pytest

from rulebot.backtesting.fills import FillSettings, SignalColumns, simulate
from rulebot.backtesting.metrics import compute_metrics
from rulebot.compiled import forcing
from tests.backtest.test_fills import (  # noqa: F401 - the fixture is used by name
    Bar,
    assert_same,
    exactly,
    flat,
    pure_python_fills,
    real_market,
    strategy,
)

FEES = FillSettings(taker_fee=0.001, maker_fee=0.0002)


def partial_takes(
    columns: SignalColumns, *levels: tuple[float, float], mode: str = "percent"
) -> SignalColumns:
    """`columns` with partial take-profits of (share, value) each, in `mode`."""
    n = len(columns)
    return replace(
        columns,
        take_modes=tuple(mode for _ in levels),
        take_values=np.array([np.full(n, value) for _, value in levels]),
        take_shares=tuple(share for share, _ in levels),
    )


def test_pyramiding_stacks_three_entries_at_their_average_price_and_re_arms_protections():
    bars: list[Bar] = [
        (100, 100, 100, 100),
        (100, 101, 99, 100),
        (110, 111, 109, 110),
        (120, 121, 119, 120),
        (120, 121, 119, 120),
        (125, 133, 124, 130),
        (130,) * 4,
    ]
    columns = strategy(
        bars,
        entry_long=(0, 1, 2, 3),
        stop=("percent", 0.1),
        take=("percent", 0.2),
    )
    result = simulate(replace(columns, pyramiding=3), FEES, trace=True)
    # bought 1 at open[1] = 100, 1 at open[2] = 110 (average 105), 1 at open[3] = 120 (average
    # 110); the fourth signal (close 3) finds three entries held and adds nothing
    assert result.position.tolist() == [0, 1, 2, 3, 3, 0, 0]
    assert result.trace is not None
    assert result.trace[1, 1:5].tolist() == [100.0, 105.0, 110.0, 110.0]  # entry_price read
    assert result.trace[3, 3] == 2  # in_position: the fourth entry was stopped by pyramiding
    # the protections follow the average: after the first entry the take-profit was 120 (bar 3
    # reached 121, but the third entry had moved it to 110 * 1.2 = 132 at its open), and the
    # stop 110 * 0.9 = 99; bar 5's high of 133 takes all 3 at 132 (maker)
    (trade,) = result.trades
    assert trade[["entry_index", "exit_index", "size", "exit_reason"]].tolist() == (
        1,
        5,
        3.0,
        "take_profit",
    )
    assert (trade["entry_price"], trade["stop_price"], trade["take_price"]) == (
        exactly(110.0),
        exactly(99.0),
        exactly(132.0),
    )
    # fees: entries 0.1 + 0.11 + 0.12 (taker), exit 3 * 132 * 0.0002 = 0.0792 (maker)
    assert trade["fees"] == exactly(0.33 + 0.0792)
    assert trade["pnl"] == exactly(3 * (132 - 110) - 0.4092)  # 65.5908
    # with the default `pyramiding 1` the later signals add nothing: 1 bought at 100, whose
    # take-profit at 120 bar 3 reaches (high 121)
    single = simulate(columns, FEES).trades[0]
    assert single[["size", "exit_index", "exit_price"]].tolist() == (1.0, 3, 120.0)


def test_two_partial_take_profits_take_half_each_at_their_levels():
    bars: list[Bar] = [
        (100,) * 4,
        (100, 101, 99, 100),
        (101, 102.5, 100, 102),
        (103, 104.5, 102, 104),
        (104,) * 4,
    ]
    columns = strategy(bars, entry_long=(0,), size=("base", 2.0))
    columns = partial_takes(columns, (0.5, 0.02), (0.5, 0.04))
    trades = simulate(columns, FEES).trades
    # 2 bought at 100 (taker fee 0.2); bar 2 reaches 102 (2%): 1 sold there, fee 0.0204, with
    # half the entry fee, 0.1: pnl 2 - 0.1204 = 1.8796; bar 3 reaches 104 (4%): the other 1,
    # fee 0.0208, pnl 4 - 0.1208 = 3.8792. One round trip (trip 0), two rows.
    assert trades[["exit_index", "size", "exit_price", "exit_reason", "trip"]].tolist() == [
        (2, 1.0, 102.0, "take_profit", 0),
        (3, 1.0, 104.0, "take_profit", 0),
    ]
    assert trades["entry_index"].tolist() == [1, 1]
    assert trades["take_price"].tolist() == [102.0, 104.0]
    assert trades["fees"].tolist() == [exactly(0.1204), exactly(0.1208)]
    assert trades["pnl"].tolist() == [exactly(1.8796), exactly(3.8792)]
    # a bar that gaps over both (opens 105) takes both in it, nearest first, each at its level
    bars[2] = (105, 106, 104.5, 105)
    columns = strategy(bars, entry_long=(0,), size=("base", 2.0))
    columns = partial_takes(columns, (0.5, 0.04), (0.5, 0.02))  # written farthest first
    gapped = simulate(columns, FEES).trades
    assert gapped[["exit_index", "exit_price", "size"]].tolist() == [
        (2, 102.0, 1.0),
        (2, 104.0, 1.0),
    ]


def test_an_add_re_arms_the_partial_take_profits_from_the_new_average():
    bars: list[Bar] = [
        (100,) * 4,
        (100, 101, 99, 100),
        (105, 111, 104, 105),
        (90, 91, 89, 90),
        (100, 103, 99, 100),
        (100,) * 4,
    ]
    columns = replace(strategy(bars, entry_long=(0, 2)), pyramiding=2)
    trades = simulate(partial_takes(columns, (0.5, 0.1)), FillSettings()).trades
    # 1 bought at 100, its take-profit at 110: bar 2 takes half of it (0.5, +5). The add at
    # open[3] = 90 makes 1.5 at (0.5 * 100 + 1 * 90) / 1.5 = 93.33 and arms the take-profit
    # again at 93.33 * 1.1 = 102.67, which bar 4 reaches: half of the full 1.5, 0.75, at +9.33
    # each (+7). The last 0.75 closes at the end at 100 (+5).
    average = (0.5 * 100 + 90) / 1.5
    assert trades[["exit_index", "size", "exit_reason", "trip"]].tolist() == [
        (2, 0.5, "take_profit", 0),
        (4, 0.75, "take_profit", 0),
        (5, 0.75, "end_of_data", 0),
    ]
    assert trades["entry_price"].tolist() == [100.0, exactly(average), exactly(average)]
    assert trades["exit_price"].tolist() == [exactly(110.0), exactly(average * 1.1), 100.0]
    assert trades["pnl"].tolist() == [exactly(5.0), exactly(7.0), exactly(5.0)]


def test_partial_take_profits_round_to_the_lot_and_the_last_one_closes_the_rest():
    bars: list[Bar] = [(100,) * 4, (100,) * 4, (101, 102.5, 100, 102), (103, 104.5, 102, 104)]
    columns = strategy(bars, entry_long=(0,), size=("base", 3.0))
    columns = partial_takes(columns, (0.5, 0.02), (0.5, 0.04))
    trades = simulate(columns, FillSettings(lot_size=1.0)).trades
    # half of 3 is 1.5, rounded down to the lot: 1; the last (shares sum to 100%) takes the 2 left
    assert trades["size"].tolist() == [1.0, 2.0]
    assert trades["pnl"].tolist() == [exactly(2.0), exactly(8.0)]
    # a share that rounds to nothing is skipped: 20% of 3 is 0.6, under a lot; 80% is the last
    columns = strategy(bars, entry_long=(0,), size=("base", 3.0))
    columns = partial_takes(columns, (0.2, 0.02), (0.8, 0.04))
    assert simulate(columns, FillSettings(lot_size=1.0)).trades["size"].tolist() == [3.0]


def test_partial_signal_exits_close_a_share_and_dust_under_min_size_closes_all():
    bars: list[Bar] = [(100,) * 4, (100,) * 4, (100,) * 4, (102,) * 4, (104,) * 4, (106,) * 4]
    columns = strategy(bars, entry_long=(0,), exit_long=(2, 3), size=("base", 3.0))
    columns = replace(columns, exit_long_share=0.5)
    settings = FillSettings(lot_size=1.0, min_size=1.5)
    trades = simulate(columns, settings).trades
    # 3 bought at 100. Exit at close 2: half of 3 is 1.5, 1 after the lot; 2 are left (not under
    # min_size 1.5): 1 sold at open[3] = 102. Exit at close 3: half of 2 is 1, which would leave
    # 1 < min_size: all 2 sold at open[4] = 104.
    assert trades[["exit_index", "size", "exit_price", "exit_reason", "trip"]].tolist() == [
        (3, 1.0, 102.0, "signal", 0),
        (4, 2.0, 104.0, "signal", 0),
    ]
    assert trades["pnl"].tolist() == [exactly(2.0), exactly(8.0)]


def test_funding_and_entry_fees_are_shared_pro_rata_between_partial_rows():
    bars: list[Bar] = [(100,) * 4] * 6
    columns = strategy(
        bars, entry_long=(0,), exit_long=(2,), size=("base", 2.0), funding=[0, 0, 0.01, 0, 0.01, 0]
    )
    columns = replace(columns, exit_long_share=0.5)
    result = simulate(columns, FillSettings(taker_fee=0.001))
    # 2 bought at open[1] = 100 (fee 0.2). Bar 2's funding: 2 * 100 * 0.01 = 2 paid. Half sold
    # at open[3]: its row carries half the funding (1) and half the entry fee (0.1) plus its own
    # fee 0.1: pnl -1.2. Bar 4's funding on the 1 left: 1; the end-of-data close at 100 carries
    # the other 1 + 1 of funding, 0.1 + 0.1 of fees: pnl -2.2.
    trades = result.trades
    assert trades["funding"].tolist() == [exactly(1.0), exactly(2.0)]
    assert trades["fees"].tolist() == [exactly(0.2), exactly(0.2)]
    assert trades["pnl"].tolist() == [exactly(-1.2), exactly(-2.2)]
    assert result.funding_paid == exactly(3.0)
    assert result.equity[-1] == exactly(10_000 - 3.0 - 0.4)


def test_metrics_count_round_trips_not_rows():
    bars: list[Bar] = [(100,) * 4] * 3 + [(102,) * 4, (104,) * 4, (110,) * 4, (110,) * 4]
    columns = strategy(bars, entry_long=(0,), exit_long=(2,), entry_short=(3,), size=("base", 2))
    columns = replace(columns, exit_long_share=0.5)
    result = simulate(columns, FillSettings())
    # round trip 0: 2 bought at 100; 1 sold at open[3] = 102 (+2), the reverse at close 3 sells
    # the other 1 at open[4] = 104 (+4). Round trip 1: 2 sold short there at 104, bought back
    # at the end at 110 (-12).
    assert result.trades["trip"].tolist() == [0, 0, 1]
    assert result.trades["pnl"].tolist() == [2.0, 4.0, -12.0]
    assert result.trades["exit_reason"].tolist() == ["signal", "reverse", "end_of_data"]
    metrics = compute_metrics(result, columns, FillSettings())
    assert (metrics.trades, metrics.winning_trades, metrics.losing_trades) == (2, 1, 1)
    assert metrics.win_rate == 0.5
    assert metrics.avg_trade_pnl == exactly(-3.0)  # (6 - 12) / 2
    assert (metrics.best_trade_pnl, metrics.worst_trade_pnl) == (6.0, -12.0)
    assert metrics.profit_factor == exactly(0.5)  # 6 / 12
    # a round trip's return: its pnl over the cost of all it closed, 6 / (2 * 100); -12 / 208
    assert metrics.best_trade_return == exactly(0.03)
    assert metrics.worst_trade_return == exactly(-12 / 208)


@pytest.mark.parametrize(("last", "trips"), [(103.0, [0, 0, 1]), (100.5, [0, 0])])
def test_a_cooldown_follows_a_losing_round_trip_not_a_losing_row(last: float, trips: list[int]):
    bars: list[Bar] = [(100,) * 4] * 3 + [(99,) * 4, (last,) * 4, (last,) * 4]
    columns = strategy(bars, entry_long=(0,), exit_long=(2,), entry_short=(3,), size=("base", 2))
    columns = replace(columns, exit_long_share=0.5)
    trades = simulate(columns, FillSettings(cooldown_bars=3)).trades
    # 1 sold at open[3] = 99 (-1); the reverse at close 3 sells the other 1 at open[4]: at 103
    # (+3) the round trip made 2, so the short opens there (and closes at the end); at 100.5
    # (+0.5) it lost 0.5, and the reverse's second leg is dropped by the cooldown
    assert trades["trip"].tolist() == trips


@pytest.mark.parametrize("fill_at", ["next_open", "close"])
def test_compiled_and_pure_python_loops_agree_with_resting_orders_adds_and_partial_exits(
    pure_python_fills: ModuleType,  # noqa: F811 - the fixture imported above
    fill_at: str,
):
    market = real_market("xrp_usdt_perp_5m.csv", seed=16, funding_file=None)
    close = market["close"]
    n = len(close)
    spread = np.abs(market["high"] - market["low"])
    columns = SignalColumns(
        **market,
        size_mode="equity",
        stop_mode="percent",
        stop_value=np.full(n, 0.01),
        take_mode="none",
        take_value=np.zeros(n),
        trail_mode="none",
        trail_value=np.zeros(n),
        entry_long_kind="limit",
        entry_long_level=close - spread,
        entry_long_bars=3,
        entry_short_kind="stop",
        entry_short_level=close - spread,
        pyramiding=3,
        exit_long_share=0.5,
        take_modes=("percent", "distance"),
        take_values=np.stack([np.full(n, 0.004), spread * 4]),
        take_shares=(0.5, 0.5),
    )
    settings = FillSettings(
        fill_at=fill_at,  # type: ignore[arg-type]
        taker_fee=0.0005,
        maker_fee=0.0002,
        slippage_bps=3,
        lot_size=1,
        cooldown_bars=2,
    )
    with forcing("compiled"):
        compiled = simulate(columns, settings, trace=True)
    pure = pure_python_fills.simulate(columns, settings, trace=True)
    trades = compiled.trades
    assert len(np.unique(trades["trip"])) > 20
    assert len(trades) > len(np.unique(trades["trip"]))  # some round trips took several rows
    assert {"take_profit", "stop_loss", "signal"} <= set(trades["exit_reason"])
    assert (np.diff(trades["trip"]) >= 0).all()
    assert_same(compiled, pure)
    np.testing.assert_array_equal(compiled.trace, pure.trace)

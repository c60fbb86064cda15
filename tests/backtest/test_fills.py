"""The fill model, checked against prices, fees and PnL worked out by hand."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import rulebot.risk
from rulebot.backtesting import fills, rule_code
from rulebot.backtesting.fills import FillSettings, SignalColumns, SimResult, simulate
from rulebot.compiled import forcing
from rulebot.risk.bars import LossLimits
from tests.conftest import assert_same_trades

DATA = Path(__file__).resolve().parents[2] / "rulebot" / "data" / "candles"  # the shipped candles

Bar = tuple[float, float, float, float]  # open, high, low, close


def exactly(value: float) -> object:
    return pytest.approx(value, rel=1e-12)


def strategy(
    bars: list[Bar],
    *,
    entry_long: tuple[int, ...] = (),
    exit_long: tuple[int, ...] = (),
    entry_short: tuple[int, ...] = (),
    exit_short: tuple[int, ...] = (),
    size: tuple[str, object] = ("base", 1.0),
    stop: tuple[str, object] = ("none", 0.0),
    take: tuple[str, object] = ("none", 0.0),
    trail: tuple[str, object] = ("none", 0.0),
    funding: list[float] | None = None,
) -> SignalColumns:
    """Signal columns over hand-written bars; signals are given as the bars where they are on."""
    prices = np.array(bars, dtype=np.float64)
    n = len(prices)

    def on(bar_numbers: tuple[int, ...]) -> np.ndarray:
        flags = np.zeros(n, dtype=bool)
        flags[list(bar_numbers)] = True
        return flags

    def per_bar(value: object) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).copy()

    return SignalColumns(
        timestamp=np.arange(n, dtype=np.int64) * 3_600_000,
        open=prices[:, 0],
        high=prices[:, 1],
        low=prices[:, 2],
        close=prices[:, 3],
        entry_long=on(entry_long),
        exit_long=on(exit_long),
        entry_short=on(entry_short),
        exit_short=on(exit_short),
        size_mode=size[0],
        size_value=per_bar(size[1]),
        stop_mode=stop[0],
        stop_value=per_bar(stop[1]),
        take_mode=take[0],
        take_value=per_bar(take[1]),
        trail_mode=trail[0],
        trail_value=per_bar(trail[1]),
        funding_rate=None if funding is None else np.array(funding, dtype=np.float64),
    )


def flat(price: float, count: int) -> list[Bar]:
    """`count` bars that never move from `price`."""
    return [(price, price, price, price)] * count


# ---- one hand-computed run ----------------------------------------------------------------------


def test_hand_computed_run_with_fees_slippage_funding_reverse_take_profit_and_end_of_data():
    bars = [
        (100, 101, 99, 100),  # 0  entry_long signal
        (100, 103, 99, 102),  # 1  long fills at the open
        (102, 106, 101, 105),  # 2
        (105, 107, 104, 106),  # 3  funding 0.0001; entry_short signal: reverse at the next open
        (106, 106, 100, 101),  # 4  reverse fills at the open; the short's take-profit 101 is hit
        (100, 101, 97, 98),  # 5  flat: funding 0.0002 is not paid; entry_short signal
        (98, 99, 94, 95),  # 6  short fills at the open
        (95, 96, 93, 94),  # 7  funding 0.0002 received; last bar: end-of-data close
    ]
    columns = strategy(
        bars,
        entry_long=(0,),
        entry_short=(3, 5),
        size=("base", 10.0),
        stop=("distance", 3.0),
        take=("level", [120, 120, 120, 101, 120, 80, 80, 80]),  # fixed from the signal bar
        funding=[0, 0, 0, 0.0001, 0, 0.0002, 0, 0.0002],
    )
    settings = FillSettings(taker_fee=0.001, maker_fee=0.0002, slippage_bps=10)
    result = simulate(columns, settings)

    # Trade 1, long 10. Buy at open[1] = 100 * 1.001 = 100.1; fee 10 * 100.1 * 0.001 = 1.001.
    #   cash 10000 - 1001 - 1.001 = 8997.999; stop 100.1 - 3 = 97.1 and take 120: never touched.
    #   Bar 3 funding: 10 * open 105 * 0.0001 = 0.105 paid -> cash 8997.894.
    #   Sell at open[4] = 106 * 0.999 = 105.894; fee 10 * 105.894 * 0.001 = 1.05894.
    #   pnl = 10 * (105.894 - 100.1) - (1.001 + 1.05894) - 0.105 = 57.94 - 2.05994 - 0.105
    #       = 55.77506; cash 8997.894 + 1058.94 - 1.05894 = 10055.77506.
    # Trade 2, short 10 in the same fill. Sell at 105.894 again, fee 1.05894:
    #   cash 10055.77506 + 1058.94 - 1.05894 = 11113.65612. Stop 105.894 + 3 = 108.894 (bar 4
    #   high 106: no), take-profit level 101 (bar 4 low 100: yes) -> buy at 101, no slippage,
    #   maker fee 10 * 101 * 0.0002 = 0.202. pnl = 10 * (105.894 - 101) - (1.05894 + 0.202)
    #   = 48.94 - 1.26094 = 47.67906; cash 11113.65612 - 1010 - 0.202 = 10103.45412.
    # Trade 3, short 10. Sell at open[6] = 98 * 0.999 = 97.902; fee 0.97902:
    #   cash 10103.45412 + 979.02 - 0.97902 = 11081.4951; stop 100.902, take 80: untouched.
    #   Bar 7 funding: -10 * 95 * 0.0002 = -0.19 (received) -> cash 11081.6851.
    #   End of data: buy at close 94 * 1.001 = 94.094; fee 0.94094.
    #   pnl = 10 * (97.902 - 94.094) - (0.97902 + 0.94094) + 0.19 = 38.08 - 1.91996 + 0.19
    #       = 36.35004; cash 11081.6851 - 940.94 - 0.94094 = 10139.80416.
    trades = result.trades
    assert trades["entry_index"].tolist() == [1, 4, 6]
    assert trades["exit_index"].tolist() == [4, 4, 7]
    assert trades["side"].tolist() == [1, -1, -1]
    assert trades["exit_reason"].tolist() == ["reverse", "take_profit", "end_of_data"]
    assert trades["size"].tolist() == [10.0, 10.0, 10.0]
    assert trades["entry_price"].tolist() == [exactly(100.1), exactly(105.894), exactly(97.902)]
    assert trades["exit_price"].tolist() == [exactly(105.894), exactly(101.0), exactly(94.094)]
    assert trades["fees"].tolist() == [exactly(2.05994), exactly(1.26094), exactly(1.91996)]
    assert trades["funding"].tolist() == [exactly(0.105), 0.0, exactly(-0.19)]
    assert trades["pnl"].tolist() == [exactly(55.77506), exactly(47.67906), exactly(36.35004)]

    # Equity at each close: cash + position * close.
    #   0: 10000; 1: 8997.999 + 10 * 102 = 10017.999; 2: 8997.999 + 1050 = 10047.999;
    #   3: 8997.894 + 1060 = 10057.894; 4: 10103.45412 (flat); 5: 10103.45412;
    #   6: 11081.4951 - 10 * 95 = 10131.4951; 7: 10139.80416 (after the end-of-data close).
    expected_equity = [
        10000,
        10017.999,
        10047.999,
        10057.894,
        10103.45412,
        10103.45412,
        10131.4951,
        10139.80416,
    ]
    assert result.equity.tolist() == [exactly(e) for e in expected_equity]
    assert result.position.tolist() == [0, 10, 10, 10, 0, 0, -10, 0]
    # Fees 1.001 + 1.05894 + 1.05894 + 0.202 + 0.97902 + 0.94094 = 5.24084;
    # funding 0.105 - 0.19 = -0.085.
    assert result.fees_paid == exactly(5.24084)
    assert result.funding_paid == exactly(-0.085)


# ---- one test per rule ---------------------------------------------------------------------------


def test_next_open_fills_at_the_following_open_and_close_fills_at_the_signal_close():
    bars = [(10, 12, 9, 11), (12, 14, 11, 13), (14, 16, 13, 15), (16, 18, 15, 17), (18, 20, 17, 19)]
    columns = strategy(bars, entry_long=(1,), exit_long=(3,))

    at_open = simulate(columns, FillSettings(fill_at="next_open")).trades
    # Signal at close[1] -> buy open[2] = 14; exit signal at close[3] -> sell open[4] = 18.
    assert (at_open["entry_index"][0], at_open["exit_index"][0]) == (2, 4)
    assert (at_open["entry_price"][0], at_open["exit_price"][0]) == (14.0, 18.0)

    at_close = simulate(columns, FillSettings(fill_at="close")).trades
    # Buy close[1] = 13, sell close[3] = 17.
    assert (at_close["entry_index"][0], at_close["exit_index"][0]) == (1, 3)
    assert (at_close["entry_price"][0], at_close["exit_price"][0]) == (13.0, 17.0)
    assert at_close["exit_reason"][0] == "signal"


def test_reverse_closes_then_opens_in_one_fill_and_entry_for_the_held_side_does_nothing():
    bars = [(100, 100, 100, 100), (105, 105, 105, 105), (110, 110, 110, 110), *flat(120, 2)]
    columns = strategy(bars, entry_long=(0, 1), entry_short=(2,), size=("equity", 0.5))
    result = simulate(columns, FillSettings(fill_at="close"))
    # Bar 0: long 10000 * 0.5 / 100 = 50. Bar 1: entry_long again while long: nothing.
    # Bar 2: equity at the signal close 10000 + 50 * (110 - 100) = 10500; the long is sold at 110
    # (pnl 500) and a short of 10500 * 0.5 / 110 opens at 110 in the same fill.
    trades = result.trades
    assert trades["exit_reason"].tolist() == ["reverse", "end_of_data"]
    assert trades["entry_index"].tolist() == [0, 2]
    assert trades["exit_index"].tolist() == [2, 4]
    assert trades["pnl"][0] == exactly(500.0)
    assert trades["size"][1] == exactly(10500 * 0.5 / 110)
    assert result.position.tolist()[:3] == [50.0, 50.0, exactly(-10500 * 0.5 / 110)]


def test_entries_on_both_sides_at_once_do_nothing_flat_or_holding():
    bars = flat(100, 6)
    while_flat = simulate(strategy(bars, entry_long=(1,), entry_short=(1,)), FillSettings())
    assert len(while_flat.trades) == 0
    assert while_flat.equity.tolist() == [10000.0] * 6

    # Long from bar 0's signal; both entries at bar 2 neither reverse nor close it.
    holding = simulate(
        strategy(bars, entry_long=(0, 2), entry_short=(2,), exit_long=(4,)), FillSettings()
    )
    assert holding.trades["exit_reason"].tolist() == ["signal"]
    assert holding.trades["exit_index"].tolist() == [5]
    assert holding.position.tolist() == [0, 1, 1, 1, 1, 0]


@pytest.mark.parametrize(
    ("side", "bar_2", "exit_price"),
    [
        # Long: buy open[1] = 100 * 1.001 = 100.1, stop 100.1 - 2 = 98.1. Bar 2 opens at 96, below
        # the stop: sell at the open, 96 * 0.999 = 95.904.
        (1, (96, 97, 95, 96), 95.904),
        # No gap: bar 2 opens at 99 and trades down to 97: sell at the stop, 98.1 * 0.999 = 98.0019.
        (1, (99, 99, 97, 98), 98.0019),
        # Short: sell at 100 * 0.999 = 99.9, stop 101.9. Bar 2 opens at 104: buy 104 * 1.001.
        (-1, (104, 105, 103, 104), 104.104),
        # No gap: bar 2 opens at 101 and trades up to 103: buy at 101.9 * 1.001 = 102.0019.
        (-1, (101, 103, 100, 102), 102.0019),
    ],
)
def test_stop_loss_fills_at_the_open_when_the_bar_gaps_through_it(
    side: int, bar_2: Bar, exit_price: float
):
    bars = [*flat(100, 2), bar_2, *flat(bar_2[3], 2)]
    signal = {"entry_long" if side > 0 else "entry_short": (0,)}
    columns = strategy(bars, **signal, stop=("distance", 2.0))
    trades = simulate(columns, FillSettings(slippage_bps=10)).trades
    assert trades["exit_reason"].tolist() == ["stop_loss"]
    assert trades["exit_index"].tolist() == [2]
    assert trades["exit_price"].tolist() == [exactly(exit_price)]


def test_protections_start_on_the_fill_bar_at_next_open_and_the_bar_after_at_close():
    # Bar 0 dips to 90 before its close; bar 1 dips to 97. Stop 2 below an entry at 100 = 98.
    bars = [(100, 100, 90, 100), (100, 101, 97, 100), *flat(100, 2)]
    columns = strategy(bars, entry_long=(0,), stop=("distance", 2.0))
    # At close: bought at close[0]; bar 0's low came before the fill, so bar 1 stops it out.
    trades = simulate(columns, FillSettings(fill_at="close")).trades
    assert trades["entry_index"].tolist() == [0]
    assert trades["exit_index"].tolist() == [1]
    assert trades["exit_price"].tolist() == [98.0]
    # At next open: bought at open[1], and bar 1 itself, after its open, stops it out.
    trades = simulate(columns, FillSettings(fill_at="next_open")).trades
    assert trades["entry_index"].tolist() == [1]
    assert trades["exit_index"].tolist() == [1]
    assert trades["exit_price"].tolist() == [98.0]


def test_a_bar_touching_both_stop_and_take_profit_fills_the_stop():
    # Long at open[1] = 100: stop 2% -> 98, take 3% -> 103. Bar 2 spans 97..104: both touched.
    bars = [*flat(100, 2), (100, 104, 97, 100), *flat(100, 2)]
    columns = strategy(bars, entry_long=(0,), stop=("percent", 0.02), take=("percent", 0.03))
    trades = simulate(columns, FillSettings(maker_fee=0.0002, taker_fee=0.001)).trades
    assert trades["exit_reason"].tolist() == ["stop_loss"]
    assert trades["exit_price"][0] == exactly(98.0)
    # Taker fees on both fills: 100 * 0.001 + 98 * 0.001 = 0.198; pnl -2 - 0.198.
    assert trades["fees"][0] == exactly(0.198)
    assert trades["pnl"][0] == exactly(-2.198)


def test_take_profit_fills_at_its_level_with_the_maker_fee_and_no_slippage():
    # Long: buy open[1] = 100 * 1.001 = 100.1; take 3% above it = 103.103. Bar 2 reaches 104.
    bars = [*flat(100, 2), (101, 104, 100.5, 103), (106, 106, 106, 106), *flat(106, 1)]
    columns = strategy(bars, entry_long=(0,), take=("percent", 0.03))
    settings = FillSettings(slippage_bps=10, maker_fee=0.0002, taker_fee=0.001)
    trades = simulate(columns, settings).trades
    assert trades["exit_reason"].tolist() == ["take_profit"]
    assert trades["exit_price"][0] == exactly(100.1 * 1.03)
    # Fees: 100.1 * 0.001 (taker, entry) + 103.103 * 0.0002 (maker) = 0.1001 + 0.0206206.
    assert trades["fees"][0] == exactly(0.1001 + 0.0206206)

    # A bar that opens beyond the take-profit still fills at the level, never at the better open.
    gapped = [*flat(100, 2), (110, 112, 109, 111), *flat(111, 1)]
    trades = simulate(strategy(gapped, entry_long=(0,), take=("percent", 0.03)), settings).trades
    assert trades["exit_price"][0] == exactly(100.1 * 1.03)


def test_trailing_stop_ratchets_with_the_best_price_checked_before_the_bar_moves_it():
    bars = [
        (100, 100, 100, 100),  # 0 signal
        (100, 103, 99, 102),  # 1 fill at 100; level 100 - 5 = 95, low 99: no; extreme -> 103
        (102, 108, 102, 107),  # 2 level 98: no; extreme -> 108
        (107, 110, 104, 109),  # 3 level 103, low 104: no (105 after this bar's high); -> 110
        (109, 109.5, 104.5, 105),  # 4 level 105, low 104.5: exit at 105
        *flat(105, 1),
    ]
    # A 10-point stop loss (90) is looser than the trail, so the trailing stop is the one hit.
    columns = strategy(bars, entry_long=(0,), trail=("distance", 5.0), stop=("distance", 10.0))
    trades = simulate(columns, FillSettings()).trades
    assert trades["exit_reason"].tolist() == ["trailing_stop"]
    assert trades["exit_index"][0] == 4
    assert trades["exit_price"][0] == 105.0

    # The trail starts from the entry fill price: bought at 100 * 1.001 = 100.1, the first level
    # is 95.1, so a fill bar that never trades above 100 but dips to 95.05 stops it out, selling
    # at 95.1 * 0.999 (from the raw open 100 the level would be 95 and nothing would fill).
    slipped = [(100, 100, 100, 100), (100, 100, 95.05, 96), *flat(96, 2)]
    columns = strategy(slipped, entry_long=(0,), trail=("distance", 5.0))
    trades = simulate(columns, FillSettings(slippage_bps=10)).trades
    assert trades["exit_reason"].tolist() == ["trailing_stop"]
    assert trades["exit_price"].tolist() == [exactly(95.1 * 0.999)]

    # Short, 10% trail: extreme 100 -> level 110; bar 1 low 95 -> level 104.5; bar 2 high 104
    # stays under it, low 93 -> level 93 * 1.1 = 102.3; bar 3 high 103 reaches it.
    short_bars = [
        (100, 100, 100, 100),
        (100, 101, 95, 96),
        (96, 104, 93, 103),
        (101, 103, 100, 101),
        *flat(101, 1),
    ]
    columns = strategy(short_bars, entry_short=(0,), trail=("percent", 0.1))
    trades = simulate(columns, FillSettings()).trades
    assert trades["exit_reason"].tolist() == ["trailing_stop"]
    assert trades["exit_index"][0] == 3
    assert trades["exit_price"][0] == exactly(93 * 1.1)


@pytest.mark.parametrize(
    ("size", "settings", "expected_size"),
    [
        (("quote", 1000.0), FillSettings(lot_size=0.5), 33.0),  # 1000 / 30 = 33.33 -> 33.0
        (("base", 0.3), FillSettings(lot_size=0.1), 0.3),  # 0.3 / 0.1 is 2.999..96 in floats
        (("base", 10.0), FillSettings(lot_size=1.0, max_position=2.5), 2.0),  # cap, then round
        (("base", 0.4), FillSettings(min_size=0.5), None),  # below the minimum: skipped
        (("base", 0.4), FillSettings(lot_size=0.5), None),  # rounds down to 0: skipped
        (("equity", 0.09), FillSettings(), 30.0),  # 10000 * 0.09 / 30
    ],
)
def test_sizes_cap_round_down_to_the_lot_and_skip_below_the_minimum(
    size: tuple[str, float], settings: FillSettings, expected_size: float | None
):
    columns = strategy(flat(30, 4), entry_long=(0,), size=size)
    trades = simulate(columns, settings).trades
    if expected_size is None:
        assert len(trades) == 0
    else:
        assert trades["size"].tolist() == [exactly(expected_size)]


def test_risk_sizing_divides_money_at_risk_by_the_stop_distance():
    bars = flat(100, 4)
    close = FillSettings(fill_at="close")
    # 1% of 10000 = 100 at risk; stop 2% below 100 = 98; 100 / 2 = 50.
    trades = simulate(
        strategy(bars, entry_long=(0,), size=("risk_equity", 0.01), stop=("percent", 0.02)), close
    ).trades
    assert trades["size"].tolist() == [exactly(50.0)]
    # 30 quote at risk, short with a stop level at 103: 30 / 3 = 10.
    trades = simulate(
        strategy(bars, entry_short=(0,), size=("risk_quote", 30.0), stop=("level", 103.0)), close
    ).trades
    assert trades["size"].tolist() == [exactly(10.0)]
    # The distance is measured from the fill price: buy at 100 * 1.001 = 100.1, stop 2% of it.
    trades = simulate(
        strategy(bars, entry_long=(0,), size=("risk_quote", 30.0), stop=("percent", 0.02)),
        FillSettings(slippage_bps=10),
    ).trades
    assert trades["size"].tolist() == [exactly(30 / (100.1 * 0.02))]
    # No stop, or a stop level on the wrong side of the entry: no trade.
    for stop in [("none", 0.0), ("level", 101.0)]:
        columns = strategy(bars, entry_long=(0,), size=("risk_quote", 30.0), stop=stop)
        assert len(simulate(columns, close).trades) == 0


def test_a_losing_trade_starts_a_cooldown_and_a_winning_one_does_not():
    # Long at open[1] = 100 with a 1-point stop: bar 1 trades down to 98.5 -> stopped at 99 on
    # bar 1, a loss. Entry signals stay on from bar 1 to the end.
    bars = [(100, 100, 100, 100), (100, 100, 98.5, 99), *flat(100, 5)]
    columns = strategy(bars, entry_long=(0, 1, 2, 3, 4, 5), stop=("distance", 1.0))
    # No cooldown: bar 1's own signal re-enters at open[2].
    trades = simulate(columns, FillSettings()).trades
    assert trades["entry_index"].tolist() == [1, 2]
    # cooldown 2: signals on bars 1 and 2 count for nothing; bar 3's fills at open[4].
    trades = simulate(columns, FillSettings(cooldown_bars=2)).trades
    assert trades["exit_reason"][0] == "stop_loss"
    assert trades["pnl"][0] < 0
    assert trades["entry_index"].tolist() == [1, 4]

    # A reverse whose first leg loses: bar 1's entry_short closes the long at open[2] = 99 (a
    # loss). Without a cooldown the short opens in the same fill; with one, its signal (bar 1)
    # falls inside the cooldown and only the close happens.
    falling = [*flat(100, 2), *flat(99, 4)]
    columns = strategy(falling, entry_long=(0,), entry_short=(1,))
    trades = simulate(columns, FillSettings()).trades
    assert trades["exit_reason"].tolist() == ["reverse", "end_of_data"]
    assert trades["side"].tolist() == [1, -1]
    trades = simulate(columns, FillSettings(cooldown_bars=1)).trades
    assert trades["exit_reason"].tolist() == ["reverse"]

    # A winning exit (bar 1 closes the long above its entry) leaves the next signal alone.
    winning = [(100, 100, 100, 100), (100, 102, 100, 102), *flat(102, 4)]
    columns = strategy(winning, entry_long=(0, 2), exit_long=(1,))
    trades = simulate(columns, FillSettings(fill_at="close", cooldown_bars=5)).trades
    assert trades["pnl"][0] == 2.0
    assert trades["entry_index"].tolist() == [0, 2]


def test_a_position_open_at_the_end_is_closed_at_the_last_close_with_taker_fee():
    bars = [*flat(100, 2), (100, 111, 100, 110)]
    columns = strategy(bars, entry_long=(0,), size=("base", 2.0))
    result = simulate(columns, FillSettings(taker_fee=0.001, maker_fee=0.0, slippage_bps=10))
    trade = result.trades[0]
    # Buy 2 at 100.1 (fee 0.2002); sell at 110 * 0.999 = 109.89 (fee 0.21978).
    # pnl = 2 * (109.89 - 100.1) - 0.2002 - 0.21978 = 19.58 - 0.41998 = 19.16002.
    assert trade["exit_reason"] == "end_of_data"
    assert trade["exit_index"] == 2
    assert trade["exit_price"] == exactly(109.89)
    assert trade["pnl"] == exactly(19.16002)
    assert result.position[-1] == 0.0
    assert result.equity[-1] == exactly(10019.16002)


@pytest.mark.parametrize(("side", "paid"), [(1, 0.26), (-1, -0.26)])
def test_funding_longs_pay_positive_rates_and_shorts_receive_them(side: int, paid: float):
    # Opens 100, 100, 110, 120, 130, 140; funding 0.001 at bars 2 and 4.
    bars = [(p, p, p, p) for p in (100, 100, 110, 120, 130, 140)]
    signal = {"entry_long" if side > 0 else "entry_short": (1,)}
    funding = [0, 0, 0.001, 0, 0.001, 0]
    result = simulate(strategy(bars, **signal, size=("base", 2.0), funding=funding), FillSettings())
    # Filled at open[2]: bar 2's funding is not owed (the position was not carried into it).
    # Bar 4: side * 2 * 130 * 0.001 = +-0.26.
    assert result.trades["funding"].tolist() == [exactly(paid)]
    assert result.funding_paid == exactly(paid)
    without = simulate(strategy(bars, **signal, size=("base", 2.0)), FillSettings())
    assert (without.equity - result.equity).tolist() == [0, 0, 0, 0, exactly(paid), exactly(paid)]

    # A position closed at the open of a funding bar was carried into it, so it pays.
    closed = simulate(
        strategy(
            bars, **signal, size=("base", 2.0), funding=funding, exit_long=(3,), exit_short=(3,)
        ),
        FillSettings(),
    )
    assert closed.trades["exit_index"].tolist() == [4]
    assert closed.trades["funding"].tolist() == [exactly(paid)]


def test_a_signal_on_the_last_bar_does_not_fill():
    bars = flat(100, 4)
    assert len(simulate(strategy(bars, entry_long=(3,)), FillSettings()).trades) == 0
    # With fill_at="close" the last bar opens nothing either (it would close at the same price).
    assert len(simulate(strategy(bars, entry_long=(3,)), FillSettings(fill_at="close")).trades) == 0
    # An exit signal on the last bar cannot fill at a next open: the end-of-data close does it.
    trades = simulate(strategy(bars, entry_long=(0,), exit_long=(3,)), FillSettings()).trades
    assert trades["exit_reason"].tolist() == ["end_of_data"]


# ---- compiled and plain Python give the same numbers ---------------------------------------------


@pytest.fixture
def pure_python_fills(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A second copy of the fills module, loaded as if numba were not installed, with its own
    copies of the risk decision it runs at each close, of its per-fill steps and of the position
    rules' interpreter (numba is hidden only while they load, so that the compiled modules can
    still load their cache afterwards)."""
    spec = importlib.util.spec_from_file_location("fills_without_numba", fills.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    monkeypatch.delitem(sys.modules, "rulebot.risk.bars")
    monkeypatch.delattr(rulebot.risk, "bars")
    monkeypatch.delitem(sys.modules, "rulebot.backtesting.rule_code")
    monkeypatch.delattr(sys.modules["rulebot.backtesting"], "rule_code")
    monkeypatch.delitem(sys.modules, "rulebot.backtesting.fill_steps")
    monkeypatch.delattr(sys.modules["rulebot.backtesting"], "fill_steps")
    with monkeypatch.context() as hidden:
        hidden.setitem(sys.modules, "numba", None)
        spec.loader.exec_module(module)
    return module


def real_market(name: str, seed: int, funding_file: str | None = None) -> dict[str, np.ndarray]:
    table = np.loadtxt(DATA / name, delimiter=",", skiprows=1)
    n = len(table)
    rng = np.random.default_rng(seed)
    funding = np.zeros(n)
    if funding_file is not None:
        rates = np.loadtxt(DATA / funding_file, delimiter=",", skiprows=1)
        bar = np.searchsorted(table[:, 0], rates[:, 0], side="right") - 1
        inside = (bar >= 0) & (rates[:, 0] < table[-1, 0] + (table[1, 0] - table[0, 0]))
        funding[bar[inside]] = rates[inside, 1]
    return {
        "timestamp": table[:, 0].astype(np.int64),
        "open": table[:, 1],
        "high": table[:, 2],
        "low": table[:, 3],
        "close": table[:, 4],
        "entry_long": rng.random(n) < 0.04,
        "exit_long": rng.random(n) < 0.04,
        "entry_short": rng.random(n) < 0.04,
        "exit_short": rng.random(n) < 0.04,
        "funding_rate": funding,
        "size_value": rng.uniform(0.005, 0.02, n),
    }


CASES = [
    (
        "xrp_usdt_perp_5m.csv",
        "xrp_usdt_perp_funding_8h.csv",
        {"size_mode": "risk_equity", "stop_mode": "percent", "take_mode": "percent"},
        FillSettings(taker_fee=0.0005, maker_fee=0.0002, slippage_bps=3, lot_size=1, min_size=5),
    ),
    (
        "xrp_usdt_perp_5m.csv",
        None,
        {"size_mode": "equity", "stop_mode": "percent", "take_mode": "percent"},
        FillSettings(
            taker_fee=0.0005,
            risk=LossLimits(account_daily_loss=0.0005, rule_daily_loss=3, rule_daily_percent=False),
        ),
    ),
    (
        "eth_btc_5m.csv",
        None,
        {"size_mode": "equity", "stop_mode": "distance", "take_mode": "none"},
        FillSettings(fill_at="close", taker_fee=0.001, cooldown_bars=4, max_position=3e5),
    ),
    (
        "goog_1d.csv",
        None,
        {"size_mode": "quote", "stop_mode": "level", "take_mode": "distance"},
        FillSettings(slippage_bps=5, taker_fee=0.0003, lot_size=0.01, cooldown_bars=1),
    ),
    (
        "goog_1d.csv",
        None,
        {"size_mode": "cash", "stop_mode": "percent", "take_mode": "none"},
        FillSettings(taker_fee=0.002, lot_size=0.01, end_of_data="keep"),
    ),
]


@pytest.mark.parametrize(("data", "funding", "modes", "settings"), CASES)
def test_compiled_and_pure_python_loops_agree_on_real_data(
    pure_python_fills: ModuleType,
    data: str,
    funding: str | None,
    modes: dict[str, str],
    settings: FillSettings,
):
    assert fills.NUMBA_AVAILABLE and hasattr(fills._fill_loop, "py_func")
    assert not pure_python_fills.NUMBA_AVAILABLE
    assert not hasattr(pure_python_fills.risk_bars.on_close, "py_func")  # the decision too
    market = real_market(data, seed=len(data), funding_file=funding)
    close = market["close"]
    atr_like = np.abs(market["high"] - market["low"]) * 3 + close * 0.002
    protection = {
        "percent": np.full(len(close), 0.01),
        "distance": atr_like,
        "level": close - atr_like,  # a long's stop level; a short's is on the wrong side: none
        "none": np.zeros(len(close)),
    }
    columns = SignalColumns(
        **market,
        size_mode=modes["size_mode"],
        stop_mode=modes["stop_mode"],
        stop_value=protection[modes["stop_mode"]],
        take_mode=modes["take_mode"],
        take_value=protection[modes["take_mode"]] * 2,
        trail_mode="percent",
        trail_value=np.full(len(close), 0.012),
    )
    if modes["size_mode"] == "quote":
        columns = replace(columns, size_value=np.full(len(close), 5000.0))
    with forcing("compiled"):  # not the plain twin a cold numba cache would run
        compiled = simulate(columns, settings, trace=True)
    pure = pure_python_fills.simulate(columns, settings, trace=True)
    assert len(compiled.trades) > 20
    assert set(compiled.trades["exit_reason"]) >= {"signal", "reverse", "trailing_stop"}
    assert (compiled.funding_paid != 0) == (funding is not None)
    assert_same(compiled, pure)
    assert compiled.trace is not None and pure.trace is not None
    np.testing.assert_array_equal(compiled.trace, pure.trace)  # what stopped entries, too
    with forcing("compiled"):
        assert_same(simulate(columns, settings), compiled)  # tracing changes no fill


def assert_same(compiled: SimResult, pure: SimResult) -> None:
    np.testing.assert_array_equal(compiled.equity, pure.equity)
    np.testing.assert_array_equal(compiled.position, pure.position)
    assert_same_trades(compiled.trades, pure.trades)
    assert (compiled.fees_paid, compiled.funding_paid) == (pure.fees_paid, pure.funding_paid)


# ---- the loop's shortcuts change nothing ---------------------------------------------------------


def as_rules(columns: SignalColumns, names: tuple[str, ...]) -> rule_code.PositionRules:
    """Position rules that copy the named columns: the loop then computes those signals (or
    values) itself at each close, the way it runs a rule that reads the position."""
    targets = [rule_code.RULE_TARGETS.index(name) for name in names]
    copy, from_input = 0, 1  # the encoding's op and operand kind (see fills.py)
    return rule_code.PositionRules(
        table=np.array([(k, 1, target) for k, target in enumerate(targets)], dtype=np.int64),
        code=np.array([(copy, from_input, k, 0, 0, 0, 0) for k in range(len(names))]),
        consts=np.zeros(0),
        inputs=np.stack([np.asarray(getattr(columns, n), dtype=np.float64) for n in names]),
    )


@pytest.mark.parametrize(("data", "funding", "modes", "settings"), CASES)
@pytest.mark.parametrize(
    "computed",
    [
        ("entry_long", "exit_long", "entry_short", "exit_short"),  # entries: every close runs
        ("exit_long", "exit_short"),  # flat stretches skipped, exits run for the side held only
        ("size_value", "stop_value", "take_value"),  # values: read on signal bars only
    ],
)
def test_skipping_flat_bars_and_unread_rules_gives_the_every_bar_result(
    data: str,
    funding: str | None,
    modes: dict[str, str],
    settings: FillSettings,
    computed: tuple[str, ...],
):
    """While flat the loop runs ahead to the next entry signal and a rule for an exit the
    position cannot take is not run; neither may change a fill, a mark or a trade."""
    market = real_market(data, seed=len(data), funding_file=funding)
    n = len(market["close"])
    columns = SignalColumns(
        **market,
        size_mode=modes["size_mode"],
        stop_mode="percent",
        stop_value=np.full(n, 0.01),
        take_mode="percent",
        take_value=np.full(n, 0.02),
        trail_mode="none",
        trail_value=np.zeros(n),
    )
    if modes["size_mode"] == "quote":
        columns = replace(columns, size_value=np.full(n, 5000.0))
    plain = simulate(columns, settings)
    # what the rules compute starts wrong: only what the loop writes at the close may count
    # (entries start off, so a loop that ran ahead over them would find nothing to open)
    scrambled = {name: np.zeros(n, dtype=bool) for name in computed if name.startswith("entry")}
    scrambled |= {name: ~getattr(columns, name) for name in computed if name.startswith("exit")}
    scrambled |= {name: np.full(n, np.nan) for name in computed if name.endswith("_value")}
    ruled = simulate(replace(columns, **scrambled), settings, as_rules(columns, computed))
    assert len(plain.trades) > 20
    assert_same(plain, ruled)


def test_results_go_into_the_arrays_given():
    columns = strategy([*flat(100, 3), (100, 104, 100, 104)], entry_long=(0,))
    equity, position = np.full(4, -1.0), np.full(4, -1.0)
    result = simulate(columns, FillSettings(), out=(equity, position))
    assert result.equity is equity and result.position is position
    assert equity.tolist() == [10_000.0, 10_000.0, 10_000.0, 10_004.0]  # closed at the last close
    assert position.tolist() == [0.0, 1.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="out: the equity array must be 4"):
        simulate(columns, FillSettings(), out=(np.empty(3), position))
    with pytest.raises(ValueError, match="out: the position array"):
        simulate(columns, FillSettings(), out=(equity, np.empty(4, dtype=np.float32)))


def test_inputs_are_checked():
    columns = strategy(flat(100, 3), entry_long=(0,))
    with pytest.raises(ValueError, match="size_mode"):
        simulate(replace(columns, size_mode="lots"), FillSettings())
    with pytest.raises(ValueError, match="shape"):
        simulate(replace(columns, close=np.ones(2)), FillSettings())
    with pytest.raises(ValueError, match="fill_at"):
        FillSettings(fill_at="midpoint")  # type: ignore[arg-type]


OPS = {  # the loop's op codes (fills.py) and what each means, in numpy
    0: lambda a, b, c: a,
    1: lambda a, b, c: -a,
    2: lambda a, b, c: (a == 0).astype(float),
    3: np.add,
    4: np.subtract,
    5: np.multiply,
    6: lambda a, b, c: np.divide(a, b),
    7: lambda a, b, c: (a < b).astype(float),
    8: lambda a, b, c: (a <= b).astype(float),
    9: lambda a, b, c: (a > b).astype(float),
    10: lambda a, b, c: (a >= b).astype(float),
    11: lambda a, b, c: (a == b).astype(float),
    12: lambda a, b, c: (a != b).astype(float),
    13: lambda a, b, c: ((a != 0) & (b != 0)).astype(float),
    14: lambda a, b, c: ((a != 0) | (b != 0)).astype(float),
    15: lambda a, b, c: np.abs(a),
    16: lambda a, b, c: np.maximum(a, b),
    17: lambda a, b, c: np.minimum(a, b),
    18: lambda a, b, c: np.where(np.isnan(a), b, a),
    19: lambda a, b, c: np.isnan(a).astype(float),
    20: lambda a, b, c: np.where(a != 0, b, c),
}


@pytest.mark.parametrize("op", sorted(OPS))
def test_every_rule_op_computes_what_numpy_does(op: int):
    """A rule `entry long when op(a, b, c) > 0.5` decides exactly as the column numpy computes
    for the same condition, with NaN, zeros and infinities among the inputs."""
    market = real_market("eth_btc_5m.csv", seed=op)
    n = len(market["close"])
    rng = np.random.default_rng(op)
    inputs = rng.choice([0.0, 0.3, 1.0, -2.0, np.nan, np.inf, -np.inf], size=(3, n))
    inputs[:, ::3] = rng.normal(0.0, 1.0, size=(3, len(inputs[0, ::3])))
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = OPS[op](*inputs) > 0.5
    const, from_input, result, greater = (
        rule_code._K_CONST,
        rule_code._K_INPUT,
        rule_code._K_RESULT,
        9,
    )
    rules = rule_code.PositionRules(
        table=np.array([(0, 2, 0)]),  # two instructions, target entry_long
        code=np.array(
            [
                (op, from_input, 0, from_input, 1, from_input, 2),
                (greater, result, 0, const, 0, -1, -1),
            ]
        ),
        consts=np.array([0.5]),
        inputs=inputs,
    )
    assert greater == rule_code._OP_GT
    columns = SignalColumns(
        **{**market, "entry_long": expected},
        size_mode="equity",
        stop_mode="none",
        stop_value=np.zeros(n),
        take_mode="none",
        take_value=np.zeros(n),
        trail_mode="none",
        trail_value=np.zeros(n),
    )
    settings = FillSettings(taker_fee=0.001)
    by_column = simulate(columns, settings)
    by_rule = simulate(replace(columns, entry_long=np.zeros(n, dtype=bool)), settings, rules)
    assert len(by_column.trades) > 5
    assert_same(by_column, by_rule)

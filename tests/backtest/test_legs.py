"""The multi-leg fill model, checked against leg fills, fees and spread PnL worked out by hand."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import replace
from types import ModuleType

import numpy as np
import pytest

from rulebot.backtesting import legs
from rulebot.backtesting.fills import FillSettings, close_times
from rulebot.backtesting.legs import LegColumns, LegsResult, simulate_legs
from rulebot.compiled import forcing
from rulebot.data.candles import align, shipped_candles
from rulebot.risk import bars as risk_bars
from rulebot.risk.bars import LossLimits

Bar = tuple[float, float, float, float]  # open, high, low, close


def exactly(value: float) -> object:
    return pytest.approx(value, rel=1e-12)


def spread(
    eth: list[Bar],
    ltc: list[Bar],
    *,
    weights: tuple[object, object] = (1.0, -0.5),
    entry_long: tuple[int, ...] = (),
    exit_long: tuple[int, ...] = (),
    entry_short: tuple[int, ...] = (),
    exit_short: tuple[int, ...] = (),
    size: tuple[str, object] = ("quote", 3000.0),
    stop: tuple[str, object] = ("none", 0.0),
    take: tuple[str, object] = ("none", 0.0),
    trail: tuple[str, object] = ("none", 0.0),
    funding: tuple[list[float], list[float]] | None = None,
) -> LegColumns:
    """Leg columns over hand-written ETH and LTC bars; signals are the bars where they are on."""
    prices = np.array([eth, ltc], dtype=np.float64)  # (leg, bar, field)
    n = prices.shape[1]

    def on(bar_numbers: tuple[int, ...]) -> np.ndarray:
        flags = np.zeros(n, dtype=bool)
        flags[list(bar_numbers)] = True
        return flags

    def per_bar(value: object) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).copy()

    return LegColumns(
        timestamp=np.arange(n, dtype=np.int64) * 300_000,
        open=prices[:, :, 0],
        high=prices[:, :, 1],
        low=prices[:, :, 2],
        close=prices[:, :, 3],
        weight=np.stack([per_bar(w) for w in weights]),
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


def test_hand_computed_spread_with_lots_fees_slippage_funding_reverse_and_stop_at_the_close():
    eth = [
        (100, 100, 100, 100),  # 0  entry_long signal
        (100, 102, 95, 101),  # 1  long spread fills at the opens; the low 95 is never looked at
        (101, 104, 100, 103),  # 2  LTC funding 0.0001
        (103, 105, 102, 104),  # 3  entry_short signal: reverse at the next opens
        (104, 110, 103, 104.5),  # 4  reverse fills; the high 110 is never looked at
        (105, 108, 104, 107),  # 5  ETH funding 0.0002; the 1% stop is hit at this close
        (108, 109, 107, 108),  # 6  the stop fills at the opens
        (108, 108, 108, 108),  # 7  flat
    ]
    ltc = [
        (50, 50, 50, 50),
        (50, 50.5, 49.5, 50.5),
        (50.5, 51, 50, 50.5),
        (50.5, 51.5, 50.5, 51),
        (51, 51.5, 50.5, 51),
        (51, 51.2, 50.8, 51),
        (51, 51, 50.8, 50.8),
        (50.8, 50.8, 50.8, 50.8),
    ]
    columns = spread(
        eth,
        ltc,
        weights=(1.0, -0.5),  # long the spread: buy ETH, sell half that notional of LTC
        entry_long=(0,),
        entry_short=(3,),
        size=("equity", 0.3),
        stop=("percent", 0.01),
        funding=([0, 0, 0, 0, 0, 0.0002, 0, 0], [0, 0, 0.0001, 0, 0, 0, 0, 0]),
    )
    settings = FillSettings(taker_fee=0.001, maker_fee=0.0002, slippage_bps=10)
    result = simulate_legs(columns, settings, lot_sizes=[0.01, 0.1])

    # Trade 1, long the spread, signal at close[0], filled at open[1].
    #   N = 10000 * 0.3 = 3000; |w| sums to 1.5: ETH gets 2000, LTC 1000.
    #   ETH buy at 100 * 1.001 = 100.1: 2000 / 100.1 = 19.98002 -> lot 0.01 -> 19.98;
    #     notional 1999.998, fee 1.999998.
    #   LTC sell at 50 * 0.999 = 49.95: 1000 / 49.95 = 20.02002 -> lot 0.1 -> 20.0;
    #     notional 999, fee 0.999.
    #   cash 10000 - 1999.998 - 1.999998 + 999 - 0.999 = 8996.003002; notional 2998.998, so the
    #   stop is at a spread PnL of -29.98998. Closes: bar 1 19.98 * 0.9 - 20 * 0.55 = 6.982,
    #   bar 2 46.942, bar 3 56.922: no stop. (Bar 1's ETH low of 95 alone puts that leg
    #   19.98 * 5.1 = 101.9 down: a check on the legs' lows and highs would have stopped it.)
    #   Bar 2 funding on LTC: -20 * 50.5 * 0.0001 = -0.101 (received) -> cash 8996.104002.
    #   Reverse at open[4]: sell ETH at 104 * 0.999 = 103.896, fee 19.98 * 103.896 * 0.001 =
    #   2.07584208; buy LTC at 51 * 1.001 = 51.051, fee 20 * 51.051 * 0.001 = 1.02102.
    #   ETH leg: 19.98 * (103.896 - 100.1) = 75.84408 - fees 1.999998 - 2.07584208 = 71.76823992.
    #   LTC leg: -20 * (51.051 - 49.95) = -22.02 - fees 0.999 - 1.02102 + funding 0.101
    #     = -23.93902.
    #   pnl = 75.84408 - 22.02 - 6.09586008 + 0.101 = 47.82921992;
    #   cash 8996.104002 + 2075.84208 - 2.07584208 - 1021.02 - 1.02102 = 10047.82921992.
    # Trade 2, short the spread in the same fill (ETH sold, LTC bought).
    #   Equity at close[3] = 8996.104002 + 19.98 * 104 - 20 * 51 = 10054.024002;
    #   N = 0.3 * that = 3016.2072006: ETH 2010.8048004, LTC 1005.4024002.
    #   ETH sell at 103.896: 19.354 -> 19.35, notional 2010.3876, fee 2.0103876.
    #   LTC buy at 51.051: 19.694 -> 19.6, notional 1000.5996, fee 1.0005996.
    #   cash 10047.82921992 + 2010.3876 - 2.0103876 - 1000.5996 - 1.0005996 = 11054.60623272.
    #   notional 3010.9872, stop at -30.109872. Close 4: -19.35 * 0.604 + 19.6 * (-0.051)
    #   = -12.687: no. Bar 5 funding on ETH: -19.35 * 105 * 0.0002 = -0.40635 (received) ->
    #   cash 11055.01258272. Close 5: -19.35 * 3.104 - 19.6 * 0.051 = -61.062 <= -30.109872: the
    #   stop is hit, and fills at open[6], well past it.
    #   Buy ETH at 108 * 1.001 = 108.108, fee 2.0918898; sell LTC at 51 * 0.999 = 50.949, fee
    #   0.9986004. ETH leg -19.35 * (108.108 - 103.896) = -81.5022; LTC leg
    #   19.6 * (50.949 - 51.051) = -1.9992. fees 2.0103876 + 1.0005996 + 2.0918898 + 0.9986004
    #   = 6.1014774. pnl = -83.5014 - 6.1014774 + 0.40635 = -89.1965274.
    #   cash 11055.01258272 - 2091.8898 - 2.0918898 + 998.6004 - 0.9986004 = 9958.63269252.
    trades = result.trades
    assert trades["entry_index"].tolist() == [1, 4]
    assert trades["exit_index"].tolist() == [4, 6]
    assert trades["side"].tolist() == [1, -1]
    assert trades["exit_reason"].tolist() == ["reverse", "stop_loss"]
    assert trades["entry_notional"].tolist() == [exactly(2998.998), exactly(3010.9872)]
    assert trades["fees"].tolist() == [exactly(6.09586008), exactly(6.1014774)]
    assert trades["funding"].tolist() == [exactly(-0.101), exactly(-0.40635)]
    assert trades["pnl"].tolist() == [exactly(47.82921992), exactly(-89.1965274)]

    fills = result.leg_trades
    assert fills["trade"].tolist() == [0, 0, 1, 1]
    assert fills["leg"].tolist() == [0, 1, 0, 1]
    assert fills["side"].tolist() == [1, -1, -1, 1]
    assert fills["size"].tolist() == [exactly(19.98), exactly(20.0), exactly(19.35), exactly(19.6)]
    assert fills["entry_price"].tolist() == [
        exactly(100.1),
        exactly(49.95),
        exactly(103.896),
        exactly(51.051),
    ]
    assert fills["exit_price"].tolist() == [
        exactly(103.896),
        exactly(51.051),
        exactly(108.108),
        exactly(50.949),
    ]
    assert fills["funding"].tolist() == [0.0, exactly(-0.101), exactly(-0.40635), 0.0]
    assert fills["pnl"][:2].tolist() == [exactly(71.76823992), exactly(-23.93902)]
    # Each trade's legs add up to its pnl.
    assert fills["pnl"][:2].sum() == exactly(trades["pnl"][0])
    assert fills["pnl"][2:].sum() == exactly(trades["pnl"][1])

    # Equity at each close: cash + 19.98 * ETH - 20 * LTC while long, -19.35 * ETH + 19.6 * LTC
    # while short. 1: 8996.003002 + 2017.98 - 1010 = 10003.983002; 2: 8996.104002 + 2057.94
    # - 1010 = 10044.044002; 3: 10054.024002; 4: 11054.60623272 - 2022.075 + 999.6 =
    # 10032.13123272; 5: 11055.01258272 - 2070.45 + 999.6 = 9984.16258272; 6 and 7: flat.
    expected_equity = [
        10000,
        10003.983002,
        10044.044002,
        10054.024002,
        10032.13123272,
        9984.16258272,
        9958.63269252,
        9958.63269252,
    ]
    assert result.equity.tolist() == [exactly(e) for e in expected_equity]
    assert result.positions.tolist() == [
        [0, exactly(19.98), exactly(19.98), exactly(19.98), exactly(-19.35), exactly(-19.35), 0, 0],
        [0, -20, -20, -20, exactly(19.6), exactly(19.6), 0, 0],
    ]
    # Fees 6.09586008 + 6.1014774; funding -0.101 - 0.40635.
    assert result.fees_paid == exactly(12.19733748)
    assert result.funding_paid == exactly(-0.50735)


# ---- one test per rule ---------------------------------------------------------------------------


def test_one_leg_rounding_to_zero_or_below_the_minimum_blocks_every_leg():
    # N = 150 with weights 1 and -0.5: ETH 100 at 100 = 1.0, LTC 50 at 25 = 2.0.
    columns = spread(flat(100, 4), flat(25, 4), entry_long=(0,), size=("quote", 150.0))
    both = simulate_legs(columns, FillSettings(), lot_sizes=[0.5, 1.0])
    assert both.positions[:, 1].tolist() == [1.0, -2.0]

    # LTC's lot of 3 rounds 2.0 down to 0: ETH, which could trade, does not either.
    blocked = simulate_legs(columns, FillSettings(), lot_sizes=[0.5, 3.0])
    assert len(blocked.trades) == 0 and len(blocked.leg_trades) == 0
    assert blocked.positions.tolist() == [[0.0] * 4, [0.0] * 4]
    assert blocked.equity.tolist() == [10000.0] * 4

    # min_size 1.5: ETH's 1.0 is below it, LTC's 2.0 is not; neither trades.
    assert len(simulate_legs(columns, FillSettings(min_size=1.5)).trades) == 0


def test_a_zero_weight_leg_does_not_trade_and_the_others_take_the_whole_notional():
    columns = spread(flat(100, 4), flat(25, 4), weights=(1.0, 0.0), entry_long=(0,))
    result = simulate_legs(columns, FillSettings())
    assert result.positions[:, 1].tolist() == [30.0, 0.0]  # 3000 / 100
    assert result.leg_trades["leg"].tolist() == [0]
    # All weights 0 (or a NaN weight): no trade.
    for weights in [(0.0, 0.0), (1.0, np.nan)]:
        columns = spread(flat(100, 4), flat(25, 4), weights=weights, entry_long=(0,))
        assert len(simulate_legs(columns, FillSettings()).trades) == 0


def test_short_spread_flips_every_leg_and_each_leg_slips_against_its_own_side():
    columns = spread(flat(100, 4), flat(50, 4), entry_short=(0,))
    result = simulate_legs(columns, FillSettings(slippage_bps=10))
    # Short: sell ETH at 100 * 0.999 = 99.9 for 2000, buy LTC at 50 * 1.001 = 50.05 for 1000.
    assert result.trades["side"].tolist() == [-1]
    assert result.leg_trades["side"].tolist() == [-1, 1]
    assert result.positions[:, 1].tolist() == [exactly(-2000 / 99.9), exactly(1000 / 50.05)]
    assert result.leg_trades["entry_price"].tolist() == [exactly(99.9), exactly(50.05)]
    # End of data at close[3]: buy ETH back at 100.1, sell LTC at 49.95.
    assert result.leg_trades["exit_price"].tolist() == [exactly(100.1), exactly(49.95)]
    assert result.trades["pnl"][0] == exactly(
        -2000 / 99.9 * (100.1 - 99.9) + 1000 / 50.05 * (49.95 - 50.05)
    )

    # The same signal long: buy ETH at 100.1, sell LTC at 49.95.
    columns = spread(flat(100, 4), flat(50, 4), entry_long=(0,))
    long = simulate_legs(columns, FillSettings(slippage_bps=10))
    assert long.leg_trades["side"].tolist() == [1, -1]
    assert long.positions[:, 1].tolist() == [exactly(2000 / 100.1), exactly(-1000 / 49.95)]


def stop_bars() -> tuple[list[Bar], list[Bar]]:
    """Long ETH 10 at 100 and short LTC 20 at 50 (N = 2000, weights 1 and -1) lose 20 at close 1
    (its lows and highs would lose far more) and 50 at close 2; the opens of bar 3 gap further."""
    eth = [
        (100, 100, 100, 100),
        (100, 100, 90, 99),
        (99, 99, 97, 97),
        (96, 96, 96, 96),
        *flat(96, 1),
    ]
    ltc = [(50, 50, 50, 50), (50, 51, 50, 50.5), (50.5, 51.2, 50.5, 51), (51.5, 51.5, 51.5, 51.5)]
    return eth, [*ltc, *flat(51.5, 1)]


def test_a_percent_stop_is_checked_at_the_close_and_fills_at_the_next_open():
    eth, ltc = stop_bars()
    columns = spread(
        eth,
        ltc,
        weights=(1.0, -1.0),
        entry_long=(0,),
        size=("quote", 2000.0),
        stop=("percent", 0.02),  # 2% of the entry notional 2000: a spread PnL of -40
    )
    # Next open: bought at open[1]. Close 1: 10 * -1 - 20 * 0.5 = -20 (bar 1's ETH low 90 and
    # LTC high 51 are never read). Close 2: 10 * -3 - 20 * 1 = -50 <= -40: stop, filled at the
    # opens of bar 3: 10 * -4 - 20 * 1.5 = -70, past the stop.
    trades = simulate_legs(columns, FillSettings()).trades
    assert trades["exit_reason"].tolist() == ["stop_loss"]
    assert (trades["entry_index"][0], trades["exit_index"][0]) == (1, 3)
    assert trades["pnl"].tolist() == [exactly(-70.0)]

    # At the close: bought at close[0], stopped out at close[2] itself: pnl -50.
    result = simulate_legs(columns, FillSettings(fill_at="close"))
    assert result.trades["exit_reason"].tolist() == ["stop_loss"]
    assert (result.trades["entry_index"][0], result.trades["exit_index"][0]) == (0, 2)
    assert result.leg_trades["exit_price"].tolist() == [97.0, 51.0]
    assert result.trades["pnl"].tolist() == [exactly(-50.0)]


def test_a_protection_hit_at_a_close_lets_that_close_s_entry_open_after_it():
    eth, ltc = stop_bars()
    columns = spread(
        eth,
        ltc,
        weights=(1.0, -1.0),
        entry_long=(0,),
        entry_short=(2,),
        size=("quote", 2000.0),
        stop=("percent", 0.02),
    )
    # Close 2 hits the stop and carries entry_short: the exit is the stop's, the short follows.
    trades = simulate_legs(columns, FillSettings()).trades
    assert trades["exit_reason"].tolist() == ["stop_loss", "end_of_data"]
    assert trades["side"].tolist() == [1, -1]
    assert trades["entry_index"].tolist() == [1, 3]
    # The stop lost money: with a cooldown the short's signal (bar 2) counts for nothing.
    trades = simulate_legs(columns, FillSettings(cooldown_bars=1)).trades
    assert trades["exit_reason"].tolist() == ["stop_loss"]


def test_trailing_stop_follows_the_best_close_and_take_profit_fills_as_a_market_order():
    # 10 ETH against 20 LTC (N = 2000, weights 1 and -1); LTC never moves.
    eth = [(100, 100, 100, 100), (100, 120, 100, 103), (103, 103, 90, 105), (105, 105, 100, 102.5)]
    eth += [(101, 101, 101, 101), *flat(101, 1)]
    columns = spread(
        eth,
        flat(50, 6),
        weights=(1.0, -1.0),
        entry_long=(0,),
        size=("quote", 2000.0),
        stop=("percent", 0.02),  # -40: looser than the trail
        trail=("percent", 0.01),  # 20 below the best close
    )
    # Closes: PnL 30 (best 30), 50 (50 > 30 - 20; best 50), 25 <= 50 - 20: trailing stop at
    # close 3, filled at open[4] = 101: pnl 10. Bar 1's high 120 and bar 2's low 90 are not read.
    trades = simulate_legs(columns, FillSettings()).trades
    assert trades["exit_reason"].tolist() == ["trailing_stop"]
    assert trades["exit_index"].tolist() == [4]
    assert trades["pnl"].tolist() == [exactly(10.0)]

    # A 2% take-profit (PnL 40) is reached at close 2 (50); it fills at the opens of bar 3, with
    # the taker fee on all four fills: (10 * 100 + 20 * 50 + 10 * 105 + 20 * 50) * 0.001 = 4.05.
    settings = FillSettings(taker_fee=0.001, maker_fee=0.0002)
    taken = simulate_legs(
        replace(columns, take_mode="percent", take_value=np.full(6, 0.02)), settings
    )
    assert taken.trades["exit_reason"].tolist() == ["take_profit"]
    assert taken.trades["exit_index"].tolist() == [3]
    assert taken.trades["fees"].tolist() == [exactly(4.05)]
    assert taken.trades["pnl"].tolist() == [exactly(50 - 4.05)]


def test_reverse_closes_every_leg_then_opens_the_other_side_in_the_same_fill():
    # Flat prices and a 0.1% taker fee: the long loses its fees, so a cooldown drops the short.
    columns = spread(flat(100, 5), flat(50, 5), entry_long=(0,), entry_short=(2,))
    result = simulate_legs(columns, FillSettings(taker_fee=0.001))
    assert result.trades["exit_reason"].tolist() == ["reverse", "end_of_data"]
    assert result.trades["entry_index"].tolist() == [1, 3]
    assert result.trades["exit_index"].tolist() == [3, 4]
    # Long: ETH 20, LTC -20; short from open[3]: ETH -20, LTC 20.
    assert result.positions.tolist() == [[0, 20, 20, -20, 0], [0, -20, -20, 20, 0]]
    # Each leg pays 0.1% of 2000 or 1000 on each fill: 6.0 a trade.
    assert result.trades["pnl"].tolist() == [exactly(-6.0), exactly(-6.0)]

    cooled = simulate_legs(columns, FillSettings(taker_fee=0.001, cooldown_bars=1))
    assert cooled.trades["exit_reason"].tolist() == ["reverse"]
    assert cooled.positions.tolist() == [[0, 20, 20, 0, 0], [0, -20, -20, 0, 0]]


def test_a_spread_open_at_the_end_is_closed_at_the_last_closes():
    eth = [*flat(100, 2), (100, 111, 99, 110)]
    ltc = [*flat(50, 2), (50, 52, 50, 52)]
    columns = spread(eth, ltc, weights=(1.0, -1.0), entry_long=(0,), exit_long=(2,))
    settings = FillSettings(taker_fee=0.001, slippage_bps=10)
    result = simulate_legs(columns, settings, lot_sizes=[1, 1])
    # N 3000: ETH buy at 100.1, 1500 / 100.1 = 14.985 -> 14; LTC sell at 49.95, 1500 / 49.95 =
    # 30.03 -> 30. The exit signal on the last bar cannot fill at a next open: end of data sells
    # ETH at 110 * 0.999 = 109.89 and buys LTC at 52 * 1.001 = 52.052.
    # ETH 14 * (109.89 - 100.1) = 137.06; LTC -30 * (52.052 - 49.95) = -63.06.
    # Fees (14 * 100.1 + 30 * 49.95 + 14 * 109.89 + 30 * 52.052) * 0.001
    #   = (1401.4 + 1498.5 + 1538.46 + 1561.56) * 0.001 = 5.99992.
    # pnl = 137.06 - 63.06 - 5.99992 = 68.00008.
    assert result.trades["exit_reason"].tolist() == ["end_of_data"]
    assert result.trades["exit_index"].tolist() == [2]
    assert result.leg_trades["exit_price"].tolist() == [exactly(109.89), exactly(52.052)]
    assert result.trades["pnl"].tolist() == [exactly(68.00008)]
    assert result.positions[:, -1].tolist() == [0.0, 0.0]
    assert result.equity[-1] == exactly(10068.00008)


def test_entries_on_both_sides_cancel_and_nothing_fills_from_the_last_bar():
    columns = spread(flat(100, 4), flat(50, 4), entry_long=(1, 3), entry_short=(1,))
    assert len(simulate_legs(columns, FillSettings()).trades) == 0
    assert len(simulate_legs(columns, FillSettings(fill_at="close")).trades) == 0


def test_inputs_are_checked():
    columns = spread(flat(100, 3), flat(50, 3), entry_long=(0,))
    with pytest.raises(ValueError, match="size_mode"):
        simulate_legs(replace(columns, size_mode="base"), FillSettings())
    with pytest.raises(ValueError, match="stop_mode"):
        simulate_legs(replace(columns, stop_mode="distance"), FillSettings())
    with pytest.raises(ValueError, match="max_position"):
        simulate_legs(columns, FillSettings(max_position=5.0))
    with pytest.raises(ValueError, match="lot_sizes"):
        simulate_legs(columns, FillSettings(), lot_sizes=[0.1])
    with pytest.raises(ValueError, match="weight"):
        simulate_legs(replace(columns, weight=np.ones((3, 3))), FillSettings())


# ---- compiled and plain Python give the same numbers ---------------------------------------------


@pytest.fixture
def pure_python_legs(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A second copy of the legs module, loaded as if numba were not installed (numba is hidden
    only while it loads, so that the compiled module can still load its cache afterwards)."""
    spec = importlib.util.spec_from_file_location("legs_without_numba", legs.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    with monkeypatch.context() as hidden:
        hidden.setitem(sys.modules, "numba", None)
        spec.loader.exec_module(module)
    return module


def eth_ltc_spread(seed: int) -> LegColumns:
    """ETH/BTC against LTC/BTC 5-minute bars on their common timestamps, with seeded random
    signals, a wandering hedge ratio and funding every 96 bars (8 hours)."""
    bars = align({"ETH": shipped_candles("eth_btc_5m"), "LTC": shipped_candles("ltc_btc_5m")})
    eth, ltc = bars["ETH"], bars["LTC"]
    n = len(eth)
    rng = np.random.default_rng(seed)
    funding = np.zeros((2, n))
    funding[:, ::96] = rng.uniform(-0.0005, 0.0005, (2, len(funding[0, ::96])))

    def stack(field: str) -> np.ndarray:
        return np.stack([getattr(eth, field), getattr(ltc, field)])

    return LegColumns(
        timestamp=eth.timestamp,
        open=stack("open"),
        high=stack("high"),
        low=stack("low"),
        close=stack("close"),
        weight=np.stack([np.ones(n), -rng.uniform(0.5, 1.5, n)]),
        entry_long=rng.random(n) < 0.03,
        exit_long=rng.random(n) < 0.03,
        entry_short=rng.random(n) < 0.03,
        exit_short=rng.random(n) < 0.03,
        size_mode="equity",
        size_value=rng.uniform(0.1, 0.5, n),
        stop_mode="percent",
        stop_value=np.full(n, 0.004),
        take_mode="percent",
        take_value=np.full(n, 0.008),
        trail_mode="percent",
        trail_value=np.full(n, 0.01),
        funding_rate=funding,
    )


@pytest.mark.parametrize(
    "settings",
    [
        FillSettings(taker_fee=0.0005, slippage_bps=3, cooldown_bars=3),
        FillSettings(fill_at="close", taker_fee=0.001, min_size=15_000, max_notional=4_000),
    ],
)
def test_compiled_and_pure_python_loops_agree_on_real_data(
    pure_python_legs: ModuleType, settings: FillSettings
):
    assert legs.NUMBA_AVAILABLE and hasattr(legs._fill_loop, "py_func")
    assert not pure_python_legs.NUMBA_AVAILABLE
    columns = eth_ltc_spread(seed=settings.cooldown_bars)
    with forcing("compiled"):  # not the plain twin a cold numba cache would run
        compiled = simulate_legs(columns, settings, lot_sizes=[1.0, 10.0])
    pure = pure_python_legs.simulate_legs(columns, settings, lot_sizes=[1.0, 10.0])
    assert len(compiled.trades) > 20
    assert set(compiled.trades["exit_reason"]) >= {"signal", "reverse", "stop_loss", "take_profit"}
    assert len(compiled.leg_trades) == 2 * len(compiled.trades)
    assert compiled.funding_paid != 0
    assert_same(compiled, pure)


def assert_same(compiled: LegsResult, pure: LegsResult) -> None:
    np.testing.assert_array_equal(compiled.equity, pure.equity)
    np.testing.assert_array_equal(compiled.positions, pure.positions)
    assert compiled.trades.tolist() == pure.trades.tolist()
    assert compiled.leg_trades.tolist() == pure.leg_trades.tolist()
    assert (compiled.fees_paid, compiled.funding_paid) == (pure.fees_paid, pure.funding_paid)


def test_a_breached_daily_loss_stops_a_spreads_entries_until_the_next_utc_day():
    """Filled at the close with no costs, the equity marked at each close is the one the risk
    decision read there: replayed through it, every entry came at a close that allowed one, and
    the limit refused some that the unlimited run took."""
    columns = eth_ltc_spread(seed=5)
    free = FillSettings(fill_at="close")
    limited = replace(free, risk=LossLimits(account_daily_loss=0.002))
    unlimited = simulate_legs(columns, free, lot_sizes=[1.0, 10.0])
    result = simulate_legs(columns, limited, lot_sizes=[1.0, 10.0])
    assert 20 < len(result.trades) < len(unlimited.trades)
    gate, state = limited.risk.array(limited.initial_equity), np.zeros(risk_bars.STATE_FIELDS)
    times = close_times(columns.timestamp, len(columns.timestamp))
    allowed = [
        risk_bars.on_close(gate, state, t, e) for t, e in zip(times, result.equity, strict=True)
    ]
    assert not all(allowed)
    assert all(allowed[i] for i in result.trades["entry_index"])

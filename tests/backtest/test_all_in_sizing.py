"""`size 100% of cash`: whole units bought with the cash held at the fill, net of the fee.

The SMA 10/20 crossover on the shipped GOOG daily bars (10,000 cash, 0.2% taker fee, next-open
fills, whole units), the setting of backtesting.py's best-known example; the figures below can be
checked by hand from the CSV.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

import numpy as np
import pytest

from rulebot.backtesting.engine import BacktestResult, backtest
from rulebot.backtesting.fills import FillSettings, SignalColumns, simulate
from rulebot.data.candles import shipped_candles
from rulebot.lang.load import compile_text

RULE = """strategy sma_cross
market GOOG
timeframe 1d
let fast = sma(close, 10)
let slow = sma(close, 20)
entry long  when crossover(fast, slow)
entry short when crossunder(fast, slow)
size 100% of cash
"""
FEE = Decimal("0.002")
CASH = Decimal(10_000)
HALF_CENT = Decimal("0.005")


def run(end_of_data: str) -> BacktestResult:
    compiled = compile_text(RULE, "sma_cross.rule")
    assert compiled.strategy is not None, [d.message for d in compiled.diagnostics]
    settings = FillSettings(
        taker_fee=float(FEE), lot_size=1.0, initial_equity=float(CASH), end_of_data=end_of_data
    )
    return backtest(compiled.strategy, shipped_candles("goog_1d"), settings=settings)


def money(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def near(value: float, expected: Decimal) -> bool:
    return abs(money(value) - expected) < HALF_CENT


def test_the_first_trades_by_hand() -> None:
    trades = run("keep").trades
    first, second = trades[0], trades[1]
    # crossunder at the close of bar 62; sold at bar 63's open, 169.02:
    # 10,000 / (169.02 * 1.002) = 59.05 -> 59 units
    assert (first["entry_index"], first["side"], first["size"]) == (63, -1, 59)
    assert money(first["entry_price"]) == Decimal("169.02")
    # bought back at bar 75's open, 179.13: -59 * 10.11 = -596.49, fees 59 * (169.02 + 179.13)
    # * 0.2% = 41.0817, so -637.5717
    assert (first["exit_index"], money(first["exit_price"])) == (75, Decimal("179.13"))
    assert near(first["fees"], Decimal("41.0817"))
    assert near(first["pnl"], Decimal("-637.5717"))
    # the reverse opens with what the close left: 9,362.4283 / (179.13 * 1.002) = 52.16 -> 52
    assert (second["entry_index"], second["side"], second["size"]) == (75, 1, 52)


def replay(trades: np.ndarray) -> Decimal:
    """The cash after `trades`, recomputed in exact decimals from the CSV's prices, checking
    that each entry bought the most whole units the cash paid for, fee included (one more
    would overdraw the account)."""
    cash = CASH
    for trade in trades:
        price = money(trade["entry_price"])
        unit_cost = price * (1 + FEE)
        units = (cash / unit_cost).to_integral_value(ROUND_FLOOR)
        assert trade["size"] == units
        assert units * unit_cost <= cash < (units + 1) * unit_cost
        exit_price = money(trade["exit_price"])
        fees = units * (price + exit_price) * FEE
        pnl = int(trade["side"]) * units * (exit_price - price) - fees
        assert near(trade["pnl"], pnl)
        cash += pnl
    return cash


def test_every_entry_spends_all_the_cash_a_whole_unit_can() -> None:
    trades = run("keep").trades
    assert len(trades) == 93
    replay(trades)


def test_end_of_data_keeps_or_closes_the_last_position() -> None:
    kept, closed = run("keep"), run("close")
    close = kept.columns.close
    last = money(close[-1])
    entry = Decimal("702.24")  # the last reverse: long 69 at bar 2087's open
    cash_before = replay(kept.trades)
    assert (cash_before / (entry * (1 + FEE))).to_integral_value(ROUND_FLOOR) == 69
    cash_after_entry = cash_before - 69 * entry * FEE
    # kept: still long 69, marked at the last close (806.19); its entry fee is paid
    assert kept.result.position[-1] == 69
    assert near(kept.equity[-1], cash_after_entry + 69 * (last - entry))
    assert near(kept.equity[-1], Decimal("56263.5193"))
    # closed: one more trade, sold at the last close, paying the exit fee too
    assert len(closed.trades) == len(kept.trades) + 1
    final = closed.trades[-1]
    assert (final["exit_reason"], final["entry_index"], final["size"]) == ("end_of_data", 2087, 69)
    assert closed.result.position[-1] == 0
    assert near(closed.equity[-1], cash_after_entry + 69 * (last - entry) - 69 * last * FEE)
    assert near(closed.equity[-1], Decimal("56152.2651"))


def flat_columns(share: float) -> SignalColumns:
    """Three bars at 100, a long entry signal on the first, sized `share` of the cash."""
    price = np.full(3, 100.0)
    never = np.zeros(3, dtype=bool)
    return SignalColumns(
        timestamp=np.arange(3) * 60_000,
        open=price,
        high=price,
        low=price,
        close=price,
        entry_long=np.array([True, False, False]),
        exit_long=never,
        entry_short=never,
        exit_short=never,
        size_mode="cash",
        size_value=np.full(3, share),
        stop_mode="none",
        stop_value=np.zeros(3),
        take_mode="none",
        take_value=np.zeros(3),
        trail_mode="none",
        trail_value=np.zeros(3),
    )


def test_cash_sizing_never_rounds_up_past_the_cash() -> None:
    """Lot rounding forgives 1e-9 of a lot; the cash it spends may not: 299.99999999 at 100 a
    unit buys 2 units, not 3."""
    settings = FillSettings(lot_size=1.0, initial_equity=300 - 1e-8, end_of_data="keep")
    result = simulate(flat_columns(1.0), settings)
    assert result.position[-1] == 2


@pytest.mark.parametrize(("share", "units"), [(0.5, 4), (1.0, 9), (1.5, 9)])
def test_a_share_of_the_cash_and_never_more_than_all_of_it(share: float, units: int) -> None:
    """1,000 cash at 100 a unit and a 1% fee: all of it buys 9 (9.9 before rounding), half of it
    4; a share above 100% (an expression can reach one; the checker refuses a constant) spends
    all of it and no more."""
    settings = FillSettings(
        taker_fee=0.01, lot_size=1.0, initial_equity=1_000.0, end_of_data="keep"
    )
    assert simulate(flat_columns(share), settings).position[-1] == units


def test_half_the_cash_on_goog() -> None:
    compiled = compile_text(RULE.replace("100% of cash", "50% of cash"), "t.rule")
    assert compiled.strategy is not None
    settings = FillSettings(taker_fee=float(FEE), lot_size=1.0, initial_equity=float(CASH))
    half = backtest(compiled.strategy, shipped_candles("goog_1d"), settings=settings)
    # 5,000 / (169.02 * 1.002) = 29.52 -> 29
    assert half.trades[0]["size"] == 29

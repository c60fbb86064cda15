"""Funding is charged at the bar of the hour it settles, not at the bar after a late stamp."""

from __future__ import annotations

import numpy as np
import pytest

from rulebot.backtesting.engine import backtest, funding_on_bars
from rulebot.data.candles import shipped_candles, shipped_funding
from rulebot.data.funding_time import funding_time, funding_times
from rulebot.graph.clocks import BarColumns
from rulebot.lang.load import compile_text

HOUR_MS = 3_600_000
HOLD = """
strategy hold
market XRP
timeframe 1h
entry long when close > 0
size 100% of equity
"""


def test_each_shipped_payment_lands_on_the_bar_of_its_hour() -> None:
    """59 of the 91 shipped stamps are a few ms past the hour; every payment inside the hourly
    candles lands on the bar that opens at 00:00, 08:00 or 16:00 UTC, the hours funding is
    paid, one payment on each."""
    bars = BarColumns.of(shipped_candles("xrp_usdt_perp_1h"))
    funding = shipped_funding("xrp_usdt_perp_funding_8h")
    late = np.asarray(funding.timestamp) % HOUR_MS != 0
    assert late.sum() == 59
    end = bars.timestamp[-1] + HOUR_MS
    inside = (funding.timestamp >= bars.timestamp[0] - HOUR_MS // 2) & (
        funding.timestamp < end - HOUR_MS // 2
    )
    assert late[inside].any()

    rates = funding_on_bars(funding, bars)
    charged = np.flatnonzero(rates)
    assert len(charged) == inside.sum() > 5
    assert set((bars.timestamp[charged] % (8 * HOUR_MS)).tolist()) == {0}
    assert rates[charged].tolist() == funding.rate[inside].tolist()


def test_a_held_position_pays_each_payment_at_the_open_of_its_hour() -> None:
    """A long held through the XRP candles pays, for each payment, its size times the open of
    the bar opening at the payment's hour times the rate."""
    candles = shipped_candles("xrp_usdt_perp_1h")
    funding = shipped_funding("xrp_usdt_perp_funding_8h")
    compiled = compile_text(HOLD, "hold.rule")
    assert compiled.strategy is not None
    result = backtest(compiled.strategy, candles, funding=funding)
    (trade,) = result.trades
    opens = dict(zip(candles.timestamp.tolist(), candles.open.tolist(), strict=True))
    held = candles.timestamp[int(trade["entry_index"]) + 1 :].tolist()
    expected = 0.0
    for stamp, rate in zip(funding.timestamp.tolist(), funding.rate.tolist(), strict=True):
        hour = (stamp + HOUR_MS // 2) // HOUR_MS * HOUR_MS
        if hour in held:
            expected += trade["size"] * opens[hour] * rate
    assert expected != 0
    assert trade["funding"] == pytest.approx(expected, rel=1e-12)
    assert result.metrics.funding_paid == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("stamp", "interval", "due"),
    [
        (17, 8 * HOUR_MS, 0),  # 00:00:00.017 on an 8-hour venue: midnight
        (HOUR_MS - 1_500, HOUR_MS, HOUR_MS),  # 1.5 s early: the coming hour
        (HOUR_MS + 2_499, HOUR_MS, HOUR_MS),
        (HOUR_MS // 2, HOUR_MS, HOUR_MS),  # half way rounds up
        (31 * 60_000, 30 * 60_000, 30 * 60_000),  # funding every 30 minutes: its own grid
        (3 * HOUR_MS + 5, None, 3 * HOUR_MS),  # one payment, no interval known: the hour
    ],
)
def test_a_stamp_rounds_to_its_funding_time(stamp: int, interval: int | None, due: int) -> None:
    assert funding_time(stamp, interval) == due
    assert funding_times(np.array([stamp], dtype=np.int64), interval).tolist() == [due]

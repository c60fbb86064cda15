"""Candles played as a market (`rulebot.venues.tape`): the prices a bar prints, in the order the
backtest's fill model assumes, and a real `PaperVenue` filling on them at the backtest's prices."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from rulebot.data.candles import Candles
from rulebot.runtime.orders import STOP_SLIPPAGE
from rulebot.venues.lighter.errors import VenueError
from rulebot.venues.lighter.records import Candle, OrderRequest
from rulebot.venues.paper import PaperVenue
from rulebot.venues.tape import CandleTape, Levels, TapeStream, bar_path
from rulebot.venues.units import MarketInfo

D = Decimal
INFO = MarketInfo(1, "BTC", 5, 1, D("0.0002"), D(10))
STEP = 300_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % STEP


def bar(o: str, h: str, lo: str, c: str) -> Candle:
    return Candle(T0, D(o), D(h), D(lo), D(c), D(10))


def test_a_long_sees_its_low_first_and_prints_at_every_trigger_on_the_way() -> None:
    levels = Levels(stops=(D(95),), targets=(D(108),), position=1)
    assert bar_path(D(100), bar("100", "110", "90", "97"), levels) == [
        D(100), D(95), D(90), D(95), D(108), D(110), D(108), D(97),
    ]  # fmt: skip


def test_a_short_sees_its_high_first() -> None:
    levels = Levels(stops=(D(105),), targets=(D(92),), position=-1)
    assert bar_path(D(100), bar("100", "110", "90", "103"), levels) == [
        D(100), D(105), D(110), D(105), D(92), D(90), D(92), D(103),
    ]  # fmt: skip


def test_a_flat_account_sees_the_sims_path() -> None:
    up, down = bar("100", "110", "90", "105"), bar("100", "110", "90", "95")
    assert bar_path(None, up, Levels()) == [D(100), D(90), D(110), D(105)]
    assert bar_path(None, down, Levels()) == [D(100), D(110), D(90), D(95)]


def test_a_gap_jumps_over_stops_and_passes_through_targets() -> None:
    """Opening beyond a stop fills it at the open (no print at its level before); opening
    beyond a target prints its level first, where the backtest fills it."""
    long = Levels(stops=(D(95),), targets=(D(108),), position=1)
    assert bar_path(D(100), bar("90", "92", "88", "91"), long)[:2] == [D(90), D(88)]
    assert bar_path(D(100), bar("112", "115", "111", "113"), long)[:2] == [D(108), D(112)]


def candles(rows: list[tuple[float, float, float, float]]) -> Candles:
    n = len(rows)
    o, h, lo, c = (np.array(column, dtype=float) for column in zip(*rows, strict=True))
    return Candles(
        np.arange(n, dtype=np.int64) * STEP + T0, o, h, lo, c, np.full(n, 10.0),
        timeframe_ms=STEP,
    )  # fmt: skip


async def test_a_paper_account_fills_at_the_close_and_its_stop_at_the_level_or_the_gap() -> None:
    tape = CandleTape(
        {"BTC": (INFO, candles([(100, 101, 99, 100), (100, 100.5, 94, 96), (90, 91, 89, 90)]))}
    )
    paper = PaperVenue(tape, collateral=10_000)
    stream = TapeStream(tape, paper)
    events = aiter(stream)
    seen = []
    async for event in events:  # bar 0's path
        seen += event.trades
        await paper.on_market_trades("BTC", event.trades)
        if len(seen) == 4:
            break
    assert [t.price for t in seen] == [D(100), D(99), D(101), D(100)]
    assert await tape.candles("BTC", "5m", 0, T0 * 2) == []  # bar 0 has not closed yet
    boundary = await anext(events)  # bar 1 begins with a trade at bar 0's close
    assert boundary.trades[0].price == D(100) and boundary.trades[0].time_ms == T0 + STEP
    assert [c.time_ms for c in await tape.candles("BTC", "5m", 0, T0 * 2)] == [T0]
    await paper.place_order(OrderRequest("BTC", "buy", D("0.5"), kind="market"))
    await paper.place_order(
        OrderRequest("BTC", "sell", D("0.5"), kind="stop_loss", trigger_price=D(95),
                     reduce_only=True, max_slippage=STOP_SLIPPAGE)
    )  # fmt: skip
    bought = paper.take_fills()
    assert [(t.price, t.size) for t in bought] == [(D(100), D("0.5"))]
    async for event in events:
        await paper.on_market_trades("BTC", event.trades)
        if paper.take_fills():
            assert event.trades[0].price == D(95)  # the stop's level, inside the bar
            break
    else:
        pytest.fail("the stop never filled")
    assert (await paper.account()).positions == ()

    # again, with the next bar opening below the stop: it fills at the open
    await paper.place_order(OrderRequest("BTC", "buy", D("0.5"), kind="market"))
    await paper.place_order(
        OrderRequest("BTC", "sell", D("0.5"), kind="stop_loss", trigger_price=D(93),
                     reduce_only=True, max_slippage=STOP_SLIPPAGE)
    )  # fmt: skip
    paper.take_fills()
    filled = []
    async for event in events:
        await paper.on_market_trades("BTC", event.trades)
        filled += paper.take_fills()
    assert [t.price for t in filled] == [D(90)]


async def test_the_tape_answers_only_its_markets_and_its_timeframe() -> None:
    tape = CandleTape({"BTC": (INFO, candles([(100, 101, 99, 100), (100, 101, 99, 100)]))})
    with pytest.raises(VenueError, match="unknown market 'ETH'"):
        await tape.market("ETH")
    with pytest.raises(VenueError, match="300 s bars, not 1m"):
        await tape.candles("BTC", "1m", 0, T0)
    assert (await tape.order_book("BTC")).bids == ()  # no trade yet, no book
    with pytest.raises(ValueError, match="figures of 'BTC'"):
        CandleTape({"ETH": (INFO, candles([(1, 1, 1, 1), (1, 1, 1, 1)]))})

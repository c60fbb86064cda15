"""Market data through the adapter is the data the sim replays: the shipped candle and funding
files, to the market's price and size steps."""

from __future__ import annotations

from decimal import Decimal

from rulebot.backtesting.engine import SHIPPED_FUNDING, SHIPPED_MARKETS
from rulebot.data.candles import Candles, shipped_candles, shipped_funding
from rulebot.venues.lighter.client import LighterVenue
from rulebot.venues.lighter.records import Candle
from rulebot.venues.sim.serving import RunningSim
from rulebot.venues.units import MarketInfo

DAY_MS = 86_400_000
BAR_MS = 5 * 60_000


def exact(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def row_matches(candle: Candle, data: Candles, row: int, market: MarketInfo) -> bool:
    """The candle is the file's row, each price within half a price step and the volume
    within half a size step (the sim rounds the file's floats to the market's units)."""
    half_price, half_size = market.price_step / 2, market.size_step / 2
    prices = zip(
        (candle.open, candle.high, candle.low, candle.close),
        (data.open[row], data.high[row], data.low[row], data.close[row]),
        strict=True,
    )
    return all(abs(ours - exact(theirs)) <= half_price for ours, theirs in prices) and abs(
        candle.volume - exact(data.volume[row])
    ) <= max(half_size, Decimal("1E-12"))


def aligned_row(candles: list[Candle], data: Candles, market: MarketInfo) -> int:
    """The file row the first candle is: the one whose run matches every candle served."""
    for first in range(len(data) - len(candles) + 1):
        if all(row_matches(c, data, first + i, market) for i, c in enumerate(candles[:5])):
            return first
    raise AssertionError("the served candles are not a run of the file's rows")


async def test_candles_are_the_replayed_file_rows(venue: LighterVenue, sim: RunningSim) -> None:
    market = await venue.market("ETH")
    data = shipped_candles(SHIPPED_MARKETS["ETH"])
    now = sim.simulation.now_ms()
    served = await venue.candles("ETH", "5m", now - 4 * DAY_MS, now)
    assert len(served) > 500  # more than one page of the venue's 500 candles
    times = [c.time_ms for c in served]
    assert times == list(range(times[0], times[0] + BAR_MS * len(served), BAR_MS))

    first = aligned_row(served, data, market)
    offset = served[0].time_ms - int(data.timestamp[first])
    for i, candle in enumerate(served):
        assert candle.time_ms - offset == int(data.timestamp[first + i])
        assert row_matches(candle, data, first + i, market), (i, candle)

    sim.simulation.advance(8)  # two more bars play out and close
    later = await venue.candles("ETH", "5m", served[-1].time_ms + 1, sim.simulation.now_ms())
    assert [c.time_ms - offset for c in later] == [
        int(t) for t in data.timestamp[first + len(served) : first + len(served) + 2]
    ]
    for i, candle in enumerate(later):
        assert row_matches(candle, data, first + len(served) + i, market)


async def test_coarser_candles_aggregate_the_file(venue: LighterVenue, sim: RunningSim) -> None:
    market = await venue.market("ETH")
    now = sim.simulation.now_ms()
    fine = await venue.candles("ETH", "5m", now - DAY_MS, now)
    coarse = await venue.candles("ETH", "1h", now - DAY_MS, now)
    assert coarse
    for bar in coarse:
        inside = [c for c in fine if bar.time_ms <= c.time_ms < bar.time_ms + 12 * BAR_MS]
        if len(inside) < 12:
            continue  # the window cut this hour
        assert bar.open == inside[0].open and bar.close == inside[-1].close
        assert bar.high == max(c.high for c in inside) and bar.low == min(c.low for c in inside)
        assert abs(bar.volume - sum(c.volume for c in inside)) <= market.size_step


async def test_the_book_sits_around_the_replayed_price(
    venue: LighterVenue, sim: RunningSim
) -> None:
    now = sim.simulation.now_ms()
    for _ in range(3):
        last = (await venue.candles("ETH", "5m", now - DAY_MS, sim.simulation.now_ms()))[-1]
        book = await venue.order_book("ETH")
        assert book.best_bid is not None and book.best_ask is not None
        assert book.best_bid < last.close < book.best_ask
        assert [level.price for level in book.bids] == sorted(
            (level.price for level in book.bids), reverse=True
        )
        assert [level.price for level in book.asks] == sorted(level.price for level in book.asks)
        sim.simulation.advance(4)  # one whole bar: the book follows its close


async def test_fundings_are_the_replayed_rates(venue: LighterVenue, sim: RunningSim) -> None:
    market = await venue.market("XRP")
    now = sim.simulation.now_ms()
    candles = await venue.candles("XRP", "5m", now - DAY_MS, now)
    data = shipped_candles(SHIPPED_MARKETS["XRP"])
    offset = candles[0].time_ms - int(data.timestamp[aligned_row(candles, data, market)])
    rates = shipped_funding(SHIPPED_FUNDING["XRP"])
    by_time = {
        (int(t) + offset) // 1000 * 1000: exact(r)  # Lighter stamps fundings in seconds
        for t, r in zip(rates.timestamp, rates.rate, strict=True)
    }
    served = await venue.fundings("XRP", now - 30 * DAY_MS, now)
    assert served
    for funding in served:
        assert funding.fraction == by_time[funding.time_ms]  # a signed fraction, as in the file
        assert funding.rate == abs(funding.fraction) * 100  # Lighter's: unsigned percent
        assert funding.direction == ("long" if funding.fraction >= 0 else "short")
    assert [f.time_ms for f in served] == sorted({f.time_ms for f in served})

"""Candles played as a market: a paper account run through the live path over history.

`CandleTape` answers the reads a `PaperVenue` makes of its market data (markets, book, recent
trades, candles) from candle files, and `TapeStream` plays those candles to the engine as the
trades a venue's stream would print, bar by bar, so the engine, its risk manager, its order
manager and a `PaperVenue` trade history exactly as they trade live. What the backtester's fill
model (`rulebot.backtesting.fills`) assumes about the inside of a bar, the tape prints:

- Bar `i` begins with a trade at the previous close, stamped at the bar's open time: it closes
  bar `i - 1` for the engine, which decides there and sends its orders into a book at that
  close (so a market order fills at `close[i - 1]`, as a backtest filling at the close does).
- Then the bar's path, one trade a point: the open; the extreme against the account's position
  first (its low for a long, its high for a short; for a flat account, low first when the bar
  closes up, as the sim replays candles); the other extreme; the close. On the way it prints a
  trade at every stop-loss and take-profit trigger the account has resting that the path passes,
  so a stop fills at its level, and at the open when the bar opens beyond it.
- The jump from the previous close to the open passes through take-profit levels (a target the
  open gaps beyond fills at its level, as the backtest assumes) and over stop levels (a stop the
  open gaps through fills at the open, the worse price).
- The book is one level each side at the latest trade's price, deep enough for any order, so
  orders fill at the price of the moment, never walking a book that candles cannot tell.

Nothing here sleeps or reads the clock: the tape's time is its candles'.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Protocol

from rulebot.data.candles import Candles
from rulebot.venues.lighter.errors import VenueError
from rulebot.venues.lighter.events import TradesPrinted
from rulebot.venues.lighter.records import (
    AccountState,
    BookLevel,
    Candle,
    Funding,
    Order,
    OrderBookSnapshot,
    Trade,
)
from rulebot.venues.units import MarketInfo, Side

TAPE_ACCOUNT = -2
"""The account on the other side of every trade the tape prints."""
DEEP = Decimal(10) ** 12
"""The size of the book's one level each side: more than any order takes."""
RESOLUTION_MS = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "1w": 604_800_000,
}


class CandleTape:
    """One or more markets' candles as a venue's market data, up to the bar being played.

    `candles` answers only bars that have closed (opened before the bar in play), so a
    strategy warms on what it would have seen live. The markets' figures (decimals, fees,
    minimums) are the `MarketInfo`s given; prices are rounded to each market's price units
    once, here.
    """

    network = "tape"
    url = "tape://"

    def __init__(self, markets: Mapping[str, tuple[MarketInfo, Candles]]) -> None:
        if not markets:
            raise ValueError("a tape needs at least one market")
        self._info: dict[str, MarketInfo] = {}
        self._bars: dict[str, list[Candle]] = {}
        self.timeframe_ms: dict[str, int] = {}
        for symbol, (info, candles) in markets.items():
            if info.symbol != symbol:
                raise ValueError(f"market {symbol!r} has the figures of {info.symbol!r}")
            if candles.timeframe_ms is None:
                raise ValueError(f"{symbol}: a tape needs two bars or more")
            self._info[symbol] = info
            self.timeframe_ms[symbol] = candles.timeframe_ms
            self._bars[symbol] = [_candle(candles, i, info) for i in range(len(candles))]
        self.now_ms: int | None = None  # the latest trade printed: the tape's clock
        self._playing: dict[str, int] = {}  # market -> the index of the bar in play
        self._last: dict[str, Trade] = {}
        self._trade_ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"CandleTape({', '.join(self._info)})"

    # --- the reads of `LighterVenue` a paper venue makes --------------------------------------

    async def connect(self) -> CandleTape:
        return self

    async def close(self) -> None:
        return None

    async def markets(self, refresh: bool = False) -> tuple[MarketInfo, ...]:
        return tuple(self._info.values())

    async def market(self, key: str | int) -> MarketInfo:
        for info in self._info.values():
            if key in (info.symbol, info.market_id):
                return info
        raise VenueError(f"unknown market {key!r}: the tape plays {', '.join(self._info)}")

    async def order_book(self, market: str | int, depth: int = 50) -> OrderBookSnapshot:
        """One deep level each side at the latest trade's price (none before the first)."""
        info = await self.market(market)
        last = self._last.get(info.symbol)
        if last is None:
            return OrderBookSnapshot(info.symbol, (), ())
        level = (BookLevel(last.price, DEEP),)
        return OrderBookSnapshot(info.symbol, level, level)

    async def recent_trades(self, market: str | int, limit: int = 100) -> list[Trade]:
        info = await self.market(market)
        last = self._last.get(info.symbol)
        return [] if last is None or limit < 1 else [last]

    async def candles(
        self, market: str | int, resolution: str, start_ms: int, end_ms: int
    ) -> list[Candle]:
        """The closed bars opening in `start_ms ..= end_ms`, in the tape's own timeframe."""
        info = await self.market(market)
        if RESOLUTION_MS.get(resolution) != self.timeframe_ms[info.symbol]:
            raise VenueError(
                f"{info.symbol}: the tape has {self.timeframe_ms[info.symbol] // 1000} s bars, "
                f"not {resolution}"
            )
        played = self._playing.get(info.symbol, 0)
        return [c for c in self._bars[info.symbol][:played] if start_ms <= c.time_ms <= end_ms]

    async def fundings(
        self, market: str | int, start_ms: int, end_ms: int, resolution: str = "1h"
    ) -> list[Funding]:
        await self.market(market)
        return []

    # --- printing -----------------------------------------------------------------------------

    def clock(self) -> int:
        """The tape's time (ms): its latest trade's, or before the first the first bar's open
        (an engine replaying the tape runs on this clock)."""
        if self.now_ms is not None:
            return self.now_ms
        return min(bars[0].time_ms for bars in self._bars.values() if bars)

    def bars(self, symbol: str) -> Sequence[Candle]:
        return self._bars[symbol]

    def play(self, symbol: str, index: int) -> None:
        """Bar `index` of `symbol` is now in play: the bars before it have closed."""
        self._playing[symbol] = index

    def print(self, symbol: str, price: Decimal, time_ms: int, size: Decimal) -> Trade:
        """A trade at `price`, which becomes the market's price (and its book's)."""
        last = self._last.get(symbol)
        taker: Side = "sell" if last is not None and price < last.price else "buy"
        trade = Trade(
            next(self._trade_ids), symbol, price, size, taker, time_ms,
            TAPE_ACCOUNT, TAPE_ACCOUNT, 0, 0, 0, 0,
        )  # fmt: skip
        self._last[symbol] = trade
        self.now_ms = time_ms if self.now_ms is None else max(self.now_ms, time_ms)
        return trade


class Account(Protocol):
    """What the tape reads of the account it plays to: its resting orders and its positions."""

    async def open_orders(self, market: str | int | None = None) -> list[Order]: ...

    async def account(self) -> AccountState: ...


@dataclass(frozen=True)
class Levels:
    """The account's resting triggers on a market, and which way its position points."""

    stops: tuple[Decimal, ...] = ()
    targets: tuple[Decimal, ...] = ()
    position: int = 0  # +1 long, -1 short, 0 flat


def bar_path(previous: Decimal | None, bar: Candle, levels: Levels) -> list[Decimal]:
    """The prices the tape prints inside `bar` after the trade at `previous` (the last close),
    in order: see the module's docstring."""
    o, h, lo, c = bar.open, bar.high, bar.low, bar.close
    low_first = levels.position > 0 or (levels.position == 0 and c >= o)
    path: list[Decimal] = []
    if previous is not None:
        path += _crossed(previous, o, levels.targets)
    path.append(o)
    for a, b in ((o, lo), (lo, h), (h, c)) if low_first else ((o, h), (h, lo), (lo, c)):
        path += _crossed(a, b, levels.stops + levels.targets)
        path.append(b)
    return [p for i, p in enumerate(path) if i == 0 or p != path[i - 1]]


def _crossed(a: Decimal, b: Decimal, levels: Sequence[Decimal]) -> list[Decimal]:
    """The levels strictly between `a` and `b`, in the order a move from `a` to `b` meets them."""
    inside = sorted({x for x in levels if min(a, b) < x < max(a, b)})
    return inside if b > a else inside[::-1]


class TapeStream:
    """The tape's trades as the engine's market stream: `TradesPrinted`, one trade an event.

    Each event is made when the engine asks for it, after it has handled the one before, so
    the triggers a bar's path passes are those the account holds at that moment. The stream
    ends after the last bar's close is printed (that bar never closes: no trade follows it).
    """

    def __init__(self, tape: CandleTape, account: Account, *, start: int = 0) -> None:
        self.tape = tape
        self.account = account
        self.start_index = start
        self._closed = False

    async def start(self) -> TapeStream:
        return self

    async def close(self) -> None:
        self._closed = True

    def __aiter__(self) -> AsyncIterator[TradesPrinted]:
        return self._events()

    async def _events(self) -> AsyncIterator[TradesPrinted]:
        symbols = sorted(self.tape.timeframe_ms)
        by_time: dict[int, list[tuple[str, int]]] = {}
        for symbol in symbols:
            for index, bar in enumerate(self.tape.bars(symbol)):
                if index >= self.start_index:
                    by_time.setdefault(bar.time_ms, []).append((symbol, index))
        for time_ms in sorted(by_time):
            opening = by_time[time_ms]
            for symbol, index in opening:  # every market's last bar closes before any path
                self.tape.play(symbol, index)
                if index > self.start_index:
                    previous = self.tape.bars(symbol)[index - 1]
                    yield self._printed(symbol, previous.close, time_ms, previous.volume)
            for symbol, index in opening:
                bar = self.tape.bars(symbol)[index]
                previous_close = self.tape.bars(symbol)[index - 1].close if index else None
                path = bar_path(previous_close, bar, await self._levels(symbol))
                info = await self.tape.market(symbol)
                for step, (price, size) in enumerate(_sized(path, bar.volume, info), start=1):
                    if self._closed:
                        return
                    yield self._printed(symbol, price, time_ms + step, size)

    def _printed(self, symbol: str, price: Decimal, time_ms: int, size: Decimal) -> TradesPrinted:
        return TradesPrinted(symbol, (self.tape.print(symbol, price, time_ms, size),))

    async def _levels(self, symbol: str) -> Levels:
        orders = await self.account.open_orders(symbol)
        account = await self.account.account()
        held = next((p.size for p in account.positions if p.market == symbol), Decimal(0))
        return Levels(
            stops=tuple(o.trigger_price for o in orders if o.kind.startswith("stop-loss")),
            targets=tuple(o.trigger_price for o in orders if o.kind.startswith("take-profit")),
            position=(held > 0) - (held < 0),
        )


def _sized(
    path: list[Decimal], volume: Decimal, info: MarketInfo
) -> Iterator[tuple[Decimal, Decimal]]:
    """Each point of a path with an equal share of the bar's volume (at least one size unit)."""
    share = (volume / len(path)).quantize(info.size_step, rounding=ROUND_FLOOR)
    for price in path:
        yield price, max(share, info.size_step)


def _candle(candles: Candles, i: int, info: MarketInfo) -> Candle:
    def price(values: object) -> Decimal:
        value = Decimal(repr(float(values[i])))  # type: ignore[index]
        return value.quantize(info.price_step, rounding=ROUND_HALF_EVEN)

    return Candle(
        int(candles.timestamp[i]),
        price(candles.open),
        price(candles.high),
        price(candles.low),
        price(candles.close),
        Decimal(repr(float(candles.volume[i]))).quantize(info.size_step, rounding=ROUND_FLOOR),
    )

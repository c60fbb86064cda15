"""Bars from a market's trades: one open bar at a time, closed on its time boundary.

A bar spans `[start, start + timeframe)` in the venue's time (ms UTC). It closes when a trade of a
later bar arrives or when the venue's clock passes its end (a quiet market still gets its bar: a
flat one at the last price with no volume, so strategies reading several markets stay aligned).
After a disconnection the missing bars come from the venue's candles (`fill_from_candles`), which
take precedence over anything built from a partial stream.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rulebot.runtime.messages import Bar

log = logging.getLogger("rulebot.engine")

RESOLUTIONS = {60: "1m", 300: "5m", 900: "15m", 1800: "30m", 3600: "1h", 14400: "4h", 86400: "1d"}


@dataclass
class _Open:
    start: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class BarBuilder:
    """Trades in, closed bars out, for one market on one timeframe."""

    def __init__(self, market: str, timeframe_ms: int, last_close: float | None = None) -> None:
        if timeframe_ms <= 0:
            raise ValueError(f"timeframe must be positive, not {timeframe_ms} ms")
        self.market = market
        self.timeframe_ms = timeframe_ms
        self.current: _Open | None = None
        self.last_closed: int | None = None  # start of the last bar emitted
        self.last_price = last_close

    def bucket(self, time_ms: int) -> int:
        return time_ms - time_ms % self.timeframe_ms

    def add_trade(self, time_ms: int, price: float, size: float) -> list[Bar]:
        """Take one trade; return the bars it closed (older first). A trade for a bar already
        closed is late: it is dropped (the closed bar was already acted on)."""
        start = self.bucket(time_ms)
        if self.last_closed is not None and start <= self.last_closed:
            return []
        closed = self.advance(start)
        bar = self.current
        if bar is None:
            self.current = _Open(start, price, price, price, price, size)
        else:
            bar.high = max(bar.high, price)
            bar.low = min(bar.low, price)
            bar.close = price
            bar.volume += size
        self.last_price = price
        return closed

    def advance(self, now_ms: int) -> list[Bar]:
        """The venue's clock reached `now_ms`: close every bar that ended by then, including
        flat bars for quiet intervals after the first trade."""
        closed: list[Bar] = []
        start = self.bucket(now_ms)
        bar = self.current
        if bar is not None and bar.start < start:
            closed.append(self._emit(bar))
            self.current = None
        if self.last_closed is not None and self.last_price is not None:
            gap = self.last_closed + self.timeframe_ms
            while gap < start:
                price = self.last_price
                closed.append(self._emit(_Open(gap, price, price, price, price, 0.0)))
                gap += self.timeframe_ms
        return closed

    def fill_from_candles(self, candles: Iterable[Bar]) -> list[Bar]:
        """Closed candles from the venue (after a reconnect or at start): those after the last
        closed bar are emitted as they are; the open bar is dropped if a candle replaces it."""
        closed: list[Bar] = []
        for candle in sorted(candles, key=lambda c: c.timestamp):
            if self.last_closed is not None and candle.timestamp <= self.last_closed:
                continue
            if self.current is not None and self.current.start <= candle.timestamp:
                self.current = None
            self.last_closed = candle.timestamp
            self.last_price = candle.close
            closed.append(candle)
        return closed

    def _emit(self, bar: _Open) -> Bar:
        self.last_closed = bar.start
        return Bar(self.market, bar.start, bar.open, bar.high, bar.low, bar.close, bar.volume)


async def venue_candle(venue: Any, built: Bar, timeframe_ms: int) -> Bar:
    """The venue's own candle for a bar the stream closed: the trades say when a bar ends,
    the candle says what it was (a stream joined mid-bar, or a fill stamped at a bar's
    edge, would make a bar of its own). So live bars are the candles a backtest reads."""
    resolution = RESOLUTIONS[timeframe_ms // 1000]
    try:
        candles = await venue.candles(built.market, resolution, built.timestamp, built.timestamp)
    except Exception as problem:  # the bar as built is the best there is
        log.warning("%s: no candle for the bar at %s (%s)", built.market, built.timestamp, problem)
        return built
    for c in candles:
        if c.time_ms == built.timestamp:
            return Bar(
                built.market, c.time_ms, float(c.open), float(c.high), float(c.low),
                float(c.close), float(c.volume),
            )  # fmt: skip
    return built

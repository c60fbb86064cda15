"""Move the sim's markets along real candles, at `speed` times real time.

The data's timestamps are shifted so that the first replayed candle (`start_index`; the earlier
ones are history) opens "now": the wall clock at construction floored to the coarsest timeframe
among the markets. Sim time then runs at `speed` x the wall clock (0: paused, moved only by
`advance_to` / `step`). Each candle is replayed as four path points at equal steps within the
bar, open -> low -> high -> close (open -> high -> low -> close when it closes down); each point
moves the exchange's market (`Exchange.move_market`) and prints a quarter of the candle's volume
(integer size units; the shares sum exactly to the volume, the first points taking the
remainder), so that a bar built from the prints is the candle: exactly, when its volume is at
least four size units (with less, the points left without a print are missing from it).

Prices and volumes are rounded to the market's units once, at construction; `candles` answers
in those units, so what the sim serves and what it trades agree. Funding rates from the data
(shifted likewise) are applied with `Exchange.apply_funding` as sim time passes them.

Pure: nothing here sleeps or reads the clock except `Replay`'s default `now_ms`.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from rulebot.data.candles import Candles, FundingRates
from rulebot.graph.clocks import BarColumns, aggregate
from rulebot.venues.sim.exchange import Exchange
from rulebot.venues.sim.records import SimMarket

MINUTE_MS = 60_000
RESOLUTIONS = {
    "1m": MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": 60 * MINUTE_MS,
    "4h": 240 * MINUTE_MS,
    "12h": 720 * MINUTE_MS,
    "1d": 1440 * MINUTE_MS,
    "1w": 10080 * MINUTE_MS,
}
POINTS_PER_BAR = 4
DEFAULT_HISTORY = 1000


@dataclass(frozen=True)
class SimCandle:
    """A bar in venue units: prices in price units, `volume` in size units, `quote_volume` in
    USDC (the prints' own prices times their sizes)."""

    timestamp: int  # open, ms of sim time
    open: int
    high: int
    low: int
    close: int
    volume: int
    quote_volume: Decimal


@dataclass(frozen=True)
class PricePoint:
    """One step of the replay: the market moved to `price` and printed `size` there."""

    market_id: int
    time_ms: int
    price: int
    size: int
    is_ask: bool  # the print's taker sold (the price went down)


@dataclass(frozen=True)
class FundingEvent:
    market_id: int
    time_ms: int
    rate: Decimal


ReplayEvent = PricePoint | FundingEvent


class _Tape:
    """One market's bars in sim time and venue units, and how far the replay has played them."""

    def __init__(self, market: SimMarket, candles: Candles, offset_ms: int, start: int) -> None:
        if candles.timeframe_ms is None:
            raise ValueError(f"{candles.source or market.symbol}: too few candles to replay")
        self.market = market
        self.timeframe_ms = candles.timeframe_ms
        self.timestamp = np.asarray(candles.timestamp, dtype=np.int64) + offset_ms
        self.open = _units(candles.open, market.price_decimals)
        self.high = _units(candles.high, market.price_decimals)
        self.low = _units(candles.low, market.price_decimals)
        self.close = _units(candles.close, market.price_decimals)
        self.volume = np.rint(
            np.asarray(candles.volume, dtype=np.float64) * 10.0**market.size_decimals
        ).astype(np.int64)
        self.start = start
        self.bar = start  # the bar being played
        self.point = 0  # its next path point
        self.last_price = int(self.close[start - 1]) if start > 0 else int(self.open[start])
        self.quote = _quote_volumes(self)

    @property
    def done(self) -> bool:
        return self.bar >= len(self.timestamp)

    def next_time(self) -> int | None:
        if self.done:
            return None
        step = self.timeframe_ms // POINTS_PER_BAR
        return int(self.timestamp[self.bar]) + self.point * step

    def take_point(self) -> PricePoint:
        """The next path point, advancing past it."""
        bar, point = self.bar, self.point
        price = _path(self, bar)[point]
        size = _shares(int(self.volume[bar]))[point]
        is_ask = price < self.last_price
        time_ms = self.next_time()
        assert time_ms is not None
        self.last_price = price
        self.point += 1
        if self.point == POINTS_PER_BAR:
            self.bar += 1
            self.point = 0
        return PricePoint(self.market.market_id, time_ms, price, size, is_ask)


class Replay:
    """Replays candles into an `Exchange` (see the module docstring)."""

    def __init__(
        self,
        exchange: Exchange,
        candles_by_market: Mapping[int, Candles],
        funding_by_market: Mapping[int, FundingRates] | None = None,
        start_index: int = DEFAULT_HISTORY,
        speed: float = 1.0,
        now_ms: int | None = None,
    ) -> None:
        if speed < 0:
            raise ValueError(f"speed must be 0 or more, not {speed}")
        if not candles_by_market:
            raise ValueError("nothing to replay: no candles")
        wall = int(time.time() * 1000) if now_ms is None else now_ms
        coarsest = max(c.timeframe_ms or 0 for c in candles_by_market.values())
        if coarsest <= 0:
            raise ValueError("each market needs at least two candles to replay")
        self.start_ms = wall // coarsest * coarsest
        self._exchange = exchange
        self._tapes: dict[int, _Tape] = {}
        self._funding: dict[int, list[FundingEvent]] = {}
        self._funding_next: dict[int, int] = {}
        for market_id, candles in candles_by_market.items():
            start = min(max(start_index, 0), len(candles) - 1)
            offset = self.start_ms - int(candles.timestamp[start])
            tape = _Tape(exchange.market(market_id), candles, offset, start)
            self._tapes[market_id] = tape
            rates = (funding_by_market or {}).get(market_id)
            self._funding[market_id] = _funding_events(market_id, rates, offset)
            self._funding_next[market_id] = _first_after(self._funding[market_id], self.start_ms)
        self._speed = speed
        self._anchor_wall = wall
        self._anchor_sim = self.start_ms
        self._time = self.start_ms
        self._queue: list[tuple[int, int, int]] = []  # (time, kind 0 funding / 1 price, market)
        for market_id in self._tapes:
            self._schedule(market_id)
        for market_id, tape in self._tapes.items():
            exchange.set_sim_time(self.start_ms)
            exchange.move_market(market_id, tape.last_price)
        self.advance_to(self.start_ms)

    # --- time ----------------------------------------------------------------------------
    @property
    def speed(self) -> float:
        return self._speed

    @property
    def time_ms(self) -> int:
        """How far the replay has played (sim time)."""
        return self._time

    @property
    def finished(self) -> bool:
        return not self._queue

    def sim_time_ms(self, wall_ms: int) -> int:
        """Sim time at wall time `wall_ms` (never before what has been played)."""
        running = self._anchor_sim + int((wall_ms - self._anchor_wall) * self._speed)
        return max(self._time, running)

    def set_speed(self, speed: float, wall_ms: int) -> None:
        """Change speed from `wall_ms` on, sim time continuing from where it is then."""
        if speed < 0:
            raise ValueError(f"speed must be 0 or more, not {speed}")
        self._anchor_sim = self.sim_time_ms(wall_ms)
        self._anchor_wall = wall_ms
        self._speed = speed

    def advance_to(self, sim_ms: int) -> list[ReplayEvent]:
        """Play every path point and funding due at or before `sim_ms`, in time order."""
        events: list[ReplayEvent] = []
        while self._queue and self._queue[0][0] <= sim_ms:
            _, kind, market_id = heapq.heappop(self._queue)
            events.append(self._play(kind, market_id))
            self._schedule_kind(market_id, kind)
        if sim_ms > self._time:
            self._time = sim_ms
        self._exchange.set_sim_time(self._time)
        return events

    def step(self, n: int = 1) -> list[ReplayEvent]:
        """Play the next `n` path points (of any market; fundings due on the way too)."""
        events: list[ReplayEvent] = []
        for _ in range(n):
            upcoming = [t for t, kind, _ in self._queue if kind == 1]
            if not upcoming:
                break
            events += self.advance_to(min(upcoming))
        return events

    # --- data ----------------------------------------------------------------------------
    def timeframe_ms(self, market_id: int) -> int:
        return self._tapes[market_id].timeframe_ms

    def candles(
        self,
        market_id: int,
        resolution: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
        count_back: int | None = None,
    ) -> list[SimCandle]:
        """The market's candles that have closed by now, opening in [start_ms, end_ms], the
        last `count_back` of them; coarser than the data's timeframe, aggregated as
        `rulebot.graph.clocks` aggregates (a bar is served once closed)."""
        tape = self._tapes[market_id]
        resolution_ms = RESOLUTIONS.get(resolution)
        if resolution_ms is None:
            raise ValueError(
                f"unsupported resolution {resolution!r}: one of {', '.join(RESOLUTIONS)}"
            )
        if resolution_ms < tape.timeframe_ms or resolution_ms % tape.timeframe_ms:
            raise ValueError(
                f"resolution {resolution} is finer than (or not a multiple of) the data's "
                f"{tape.timeframe_ms // MINUTE_MS}m bars"
            )
        closed = int(np.searchsorted(tape.timestamp + tape.timeframe_ms, self._time, "right"))
        bars = BarColumns(
            tape.timestamp[:closed],
            tape.open[:closed],
            tape.high[:closed],
            tape.low[:closed],
            tape.close[:closed],
            tape.volume[:closed],
        )
        quote = tape.quote[:closed]
        if resolution_ms != tape.timeframe_ms and closed:
            bars, quote = _aggregate(bars, quote, tape.timeframe_ms, resolution_ms)
        keep = np.ones(len(bars), dtype=bool)
        if start_ms is not None:
            keep &= bars.timestamp >= start_ms
        if end_ms is not None:
            keep &= bars.timestamp <= end_ms
        chosen = np.flatnonzero(keep)
        if count_back is not None:
            chosen = chosen[max(len(chosen) - count_back, 0) :]
        scale = -(tape.market.size_decimals + tape.market.price_decimals)
        return [
            SimCandle(
                int(bars.timestamp[i]),
                int(bars.open[i]),
                int(bars.high[i]),
                int(bars.low[i]),
                int(bars.close[i]),
                int(bars.volume[i]),
                Decimal(int(quote[i])).scaleb(scale),
            )
            for i in chosen
        ]

    def forming_candle(self, market_id: int) -> SimCandle | None:
        """The base-timeframe bar being played, as far as it has been (None between bars)."""
        tape = self._tapes[market_id]
        if tape.done or tape.point == 0:
            return None
        path = _path(tape, tape.bar)[: tape.point]
        shares = _shares(int(tape.volume[tape.bar]))[: tape.point]
        quote = sum(p * s for p, s in zip(path, shares, strict=True))
        scale = -(tape.market.size_decimals + tape.market.price_decimals)
        return SimCandle(
            int(tape.timestamp[tape.bar]),
            path[0],
            max(path),
            min(path),
            path[-1],
            sum(shares),
            Decimal(quote).scaleb(scale),
        )

    def fundings(
        self, market_id: int, start_ms: int | None = None, end_ms: int | None = None
    ) -> list[FundingEvent]:
        """The market's funding rates stamped by now (history included), in [start, end]."""
        return [
            event
            for event in self._funding.get(market_id, [])
            if event.time_ms <= self._time
            and (start_ms is None or event.time_ms >= start_ms)
            and (end_ms is None or event.time_ms <= end_ms)
        ]

    # --- playing -------------------------------------------------------------------------
    def _schedule(self, market_id: int) -> None:
        self._schedule_kind(market_id, 0)
        self._schedule_kind(market_id, 1)

    def _schedule_kind(self, market_id: int, kind: int) -> None:
        if kind == 1:
            due = self._tapes[market_id].next_time()
        else:
            events = self._funding[market_id]
            position = self._funding_next[market_id]
            due = events[position].time_ms if position < len(events) else None
        if due is not None:
            heapq.heappush(self._queue, (due, kind, market_id))

    def last_funding(self, market_id: int) -> FundingEvent | None:
        """The market's last funding paid so far (None: none yet, or no funding data)."""
        paid = self._funding_next.get(market_id, 0)
        return self._funding[market_id][paid - 1] if paid > 0 else None

    def _play(self, kind: int, market_id: int) -> ReplayEvent:
        if kind == 0:
            event = self._funding[market_id][self._funding_next[market_id]]
            self._funding_next[market_id] += 1
            self._exchange.set_sim_time(event.time_ms)
            self._exchange.apply_funding(market_id, event.rate)
            return event
        point = self._tapes[market_id].take_point()
        self._exchange.set_sim_time(point.time_ms)
        self._exchange.move_market(market_id, point.price)
        if point.size:
            self._exchange.record_print(market_id, point.price, point.size, point.is_ask)
        return point


def _units(values: np.ndarray, decimals: int) -> np.ndarray:
    scaled = np.rint(np.asarray(values, dtype=np.float64) * 10.0**decimals).astype(np.int64)
    return np.maximum(scaled, 1)


def _path(tape: _Tape, bar: int) -> tuple[int, int, int, int]:
    o, h, lo, c = (
        int(tape.open[bar]),
        int(tape.high[bar]),
        int(tape.low[bar]),
        int(tape.close[bar]),
    )
    return (o, h, lo, c) if c < o else (o, lo, h, c)


def _shares(volume: int) -> tuple[int, ...]:
    """The candle's volume split over its path points: equal, the remainder to the first."""
    base, rest = divmod(volume, POINTS_PER_BAR)
    return tuple(base + (1 if k < rest else 0) for k in range(POINTS_PER_BAR))


def _quote_volumes(tape: _Tape) -> np.ndarray:
    """Each bar's quote volume in (size unit x price unit)s: its prints' prices times sizes."""
    totals = np.zeros(len(tape.timestamp), dtype=np.int64)
    base, rest = np.divmod(tape.volume, POINTS_PER_BAR)
    down = tape.close < tape.open
    second = np.where(down, tape.high, tape.low)
    third = np.where(down, tape.low, tape.high)
    for k, prices in enumerate((tape.open, second, third, tape.close)):
        totals += prices * (base + (rest > k))
    return totals


def _aggregate(
    bars: BarColumns, quote: np.ndarray, base_ms: int, higher_ms: int
) -> tuple[BarColumns, np.ndarray]:
    higher, _ = aggregate(bars, base_ms, higher_ms)
    group = bars.timestamp // higher_ms
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    sums = np.add.reduceat(quote, starts)
    kept = np.isin(group[starts] * higher_ms, higher.timestamp)
    return higher, sums[kept]


def _funding_events(
    market_id: int, rates: FundingRates | None, offset_ms: int
) -> list[FundingEvent]:
    if rates is None:
        return []
    return [
        FundingEvent(market_id, int(t) + offset_ms, Decimal(repr(float(r))))
        for t, r in zip(rates.timestamp, rates.rate, strict=True)
    ]


def _first_after(events: list[FundingEvent], start_ms: int) -> int:
    """Index of the first funding after the replay's start: earlier ones are history."""
    for position, event in enumerate(events):
        if event.time_ms > start_ms:
            return position
    return len(events)

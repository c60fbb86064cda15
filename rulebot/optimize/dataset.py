"""The bars a search runs on: loaded and windowed once, exactly as `rulebot.backtest` would.

A trial then starts from these bars, so its result equals `backtest(strategy, data, params=...,
start_ms=..., end_ms=...)` for the same period; preparing them once (and shipping them to each
worker once) is what keeps a trial cheap.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from rulebot.backtesting import engine
from rulebot.data.candles import Candles, FundingRates, shipped_funding
from rulebot.graph.clocks import BarColumns
from rulebot.lang import ir


@dataclass(frozen=True, eq=False)
class MarketData:
    """Each market's candles and the funding a backtest would use, before any window."""

    candles: Mapping[str, Candles]
    funding: FundingRates | None
    shipped: bool
    """No data was given: the candles (and funding) the project ships."""

    @property
    def first_ms(self) -> int:
        return max(int(c.timestamp[0]) for c in self.candles.values() if len(c))

    @property
    def last_ms(self) -> int:
        return min(int(c.timestamp[-1]) for c in self.candles.values() if len(c))


@dataclass(frozen=True, eq=False)
class Dataset:
    """One period's bars on the strategy's timeframe, with funding placed on them."""

    key: str
    """A fingerprint of the bars: equal keys mean equal bars (worker caches are keyed by it)."""
    bars: Mapping[str, BarColumns]
    market: str
    funding: np.ndarray | None
    """Funding on the strategy's market (single-market strategies)."""
    leg_funding: np.ndarray | None
    """Funding on each leg's bars (spreads on the shipped data), one row per market."""
    start_ms: int | None
    end_ms: int | None
    first: int = 0
    """The period's first bar: `bars` also hold every bar before it (the warm-up, as
    `backtest` loads it); trading starts here."""

    def __len__(self) -> int:
        return len(self.bars[self.market])

    @property
    def traded(self) -> int:
        """The bars traded: the period's own, from `first` on."""
        return len(self) - self.first

    @property
    def first_bar_ms(self) -> int:
        return int(self.bars[self.market].timestamp[self.first])

    @property
    def last_bar_ms(self) -> int:
        return int(self.bars[self.market].timestamp[-1])


def load_market_data(
    strategy: ir.Strategy,
    data: Candles | Mapping[str, Candles] | None = None,
    funding: FundingRates | None = None,
) -> MarketData:
    """The candles `backtest` would read for `strategy` (the shipped ones when `data` is None)."""
    candles = engine.market_data(strategy, data)
    market = strategy.markets[0]
    if funding is None and data is None and market in engine.SHIPPED_FUNDING:
        funding = shipped_funding(engine.SHIPPED_FUNDING[market])
    return MarketData(candles, funding, data is None)


def prepare(
    strategy: ir.Strategy,
    data: MarketData,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    days: float | None = None,
) -> Dataset:
    """The bars of one period, as `backtest(..., days=, start_ms=, end_ms=)` builds them: all
    the bars up to its end, and the index of its first."""
    market = strategy.markets[0]
    trade_from = engine.window_start(data.candles[market], days, start_ms, end_ms)
    bars = {
        m: engine.on_timeframe(c.between(None, end_ms), strategy, m)
        for m, c in data.candles.items()
    }
    bars = engine.perp_bars(strategy, bars, data.funding, data.shipped)
    first = engine.first_traded(bars[market], trade_from, strategy)
    rates = None
    if data.funding is not None:
        rates = engine.funding_on_bars(data.funding, bars[market])
    leg_funding = None
    markets = list(strategy.markets)
    if len(markets) > 1 and data.shipped and any(m in engine.SHIPPED_FUNDING for m in markets):
        n = len(bars[markets[0]])
        leg_funding = np.stack(
            [
                engine.funding_on_bars(shipped_funding(engine.SHIPPED_FUNDING[m]), bars[m])
                if m in engine.SHIPPED_FUNDING
                else np.zeros(n)
                for m in markets
            ]
        )
    return Dataset(
        _fingerprint(bars, rates, leg_funding, first),
        bars,
        market,
        rates,
        leg_funding,
        start_ms,
        end_ms,
        first,
    )


def _fingerprint(
    bars: Mapping[str, BarColumns],
    rates: np.ndarray | None,
    leg_funding: np.ndarray | None,
    first: int,
) -> str:
    digest = hashlib.sha256()
    digest.update(str(first).encode())
    for market in sorted(bars):
        digest.update(market.encode())
        for name in ("timestamp", "open", "high", "low", "close", "volume"):
            digest.update(np.ascontiguousarray(getattr(bars[market], name)).tobytes())
    for extra in (rates, leg_funding):
        digest.update(b"-" if extra is None else np.ascontiguousarray(extra).tobytes())
    return digest.hexdigest()[:16]


__all__ = ["Dataset", "MarketData", "load_market_data", "prepare"]

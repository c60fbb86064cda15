"""`MarketData`: the reads a paper account makes of a market, whoever answers them.

A `LighterVenue` answers them from a venue (the real one or the sim), a `CandleTape` from candle
files played bar by bar; a `PaperVenue` fills its orders on either.
"""

from __future__ import annotations

from typing import Any, Protocol

from rulebot.venues.lighter.records import Candle, Funding, OrderBookSnapshot, Trade
from rulebot.venues.units import MarketInfo


class MarketData(Protocol):
    """Markets, books, trades, candles and fundings, as `LighterVenue` reads them."""

    @property
    def network(self) -> str: ...

    @property
    def url(self) -> str: ...

    async def connect(self) -> Any: ...

    async def close(self) -> None: ...

    async def markets(self, refresh: bool = False) -> tuple[MarketInfo, ...]: ...

    async def market(self, key: str | int) -> MarketInfo: ...

    async def order_book(self, market: str | int, depth: int = 50) -> OrderBookSnapshot: ...

    async def recent_trades(self, market: str | int, limit: int = 100) -> list[Trade]: ...

    async def candles(
        self, market: str | int, resolution: str, start_ms: int, end_ms: int
    ) -> list[Candle]: ...

    async def fundings(
        self, market: str | int, start_ms: int, end_ms: int, resolution: str = "1h"
    ) -> list[Funding]: ...

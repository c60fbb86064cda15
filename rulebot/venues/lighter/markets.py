"""Markets by symbol or id (`"ETH"`, `"0"`, `0`), resolved from the venue's order book details."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal

from lighter.models.order_book import OrderBook
from lighter.models.order_book_details import OrderBookDetails
from lighter.models.order_books import OrderBooks
from lighter.models.perps_order_book_detail import PerpsOrderBookDetail

from rulebot.lang.suggest import did_you_mean
from rulebot.venues.lighter.convert import amount, answered, listed, number, required, whole
from rulebot.venues.lighter.errors import UnknownMarket
from rulebot.venues.units import MarketInfo

PERCENT = Decimal(100)


def market_info(detail: PerpsOrderBookDetail | OrderBook) -> MarketInfo:
    """One market's units and minimums from its details (or, lacking them, its order book entry).

    Lighter gives fees in percent ("0.0280" is 0.028%); `MarketInfo` keeps fractions.
    """
    if isinstance(detail, PerpsOrderBookDetail):
        size_decimals, price_decimals = detail.size_decimals, detail.price_decimals
    else:
        size_decimals = detail.supported_size_decimals
        price_decimals = detail.supported_price_decimals
    symbol = required(detail.symbol, "a market's symbol")
    return MarketInfo(
        market_id=whole(detail.market_id, f"{symbol}'s market id", default=None),
        symbol=symbol,
        size_decimals=whole(size_decimals, f"{symbol}'s size decimals"),
        price_decimals=whole(price_decimals, f"{symbol}'s price decimals"),
        min_base_amount=amount(detail.min_base_amount, f"{symbol}'s minimum size"),
        min_quote_amount=number(detail.min_quote_amount, f"{symbol}'s minimum notional"),
        taker_fee=number(detail.taker_fee, f"{symbol}'s taker fee") / PERCENT,
        maker_fee=number(detail.maker_fee, f"{symbol}'s maker fee") / PERCENT,
    )


def markets_answer(answer: OrderBookDetails | OrderBooks | None) -> list[MarketInfo]:
    """The perpetual markets of `/orderBookDetails` (or `/orderBooks`); a null list is none."""
    if isinstance(answer, OrderBooks):
        return [market_info(book) for book in listed(answer.order_books)]
    details = answered(answer, "orderBookDetails")
    return [market_info(detail) for detail in listed(details.order_book_details)]


class MarketDirectory:
    """The venue's markets, found by symbol (any case) or by id as int or digits."""

    def __init__(self, markets: Iterable[MarketInfo]) -> None:
        self._by_id = {market.market_id: market for market in markets}
        self._by_symbol = {market.symbol: market for market in self._by_id.values()}
        self._by_folded = {symbol.casefold(): m for symbol, m in self._by_symbol.items()}

    def resolve(self, key: str | int) -> MarketInfo:
        """The market `key` names; `UnknownMarket` (with a did-you-mean) when none does."""
        if isinstance(key, bool):
            raise UnknownMarket(str(key))
        if isinstance(key, int):
            return self._by_id_or_raise(key, str(key))
        text = key.strip()
        if text.isdigit():
            return self._by_id_or_raise(int(text), text)
        found = self._by_symbol.get(text) or self._by_folded.get(text.casefold())
        if found is None:
            raise UnknownMarket(text, did_you_mean(text, self._by_symbol))
        return found

    def _by_id_or_raise(self, market_id: int, shown: str) -> MarketInfo:
        found = self._by_id.get(market_id)
        if found is None:
            ids = sorted(self._by_id)
            span = f"ids are {ids[0]}..{ids[-1]}" if ids else "the venue lists no markets"
            raise UnknownMarket(shown, known=span)
        return found

    def __iter__(self) -> Iterator[MarketInfo]:
        return iter(sorted(self._by_id.values(), key=lambda market: market.market_id))

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str | int):
            return False
        try:
            self.resolve(key)
        except UnknownMarket:
            return False
        return True

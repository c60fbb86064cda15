"""The paper account's pieces: its orders, its positions' exact cost basis, and the liquidity
an order takes, all in the venue's integer units (see `rulebot.venues.paper` for how they fill).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    Inexact,
    InvalidOperation,
    localcontext,
)
from typing import Final

from rulebot.venues.lighter.records import (
    Order,
    OrderBookSnapshot,
    OrderKind,
)
from rulebot.venues.units import MarketInfo, Side

MARKET_ACCOUNT: Final = -1
"""The counterparty of every paper fill: the rest of the market, which is no account."""
KIND_NAMES: Final[dict[str, str]] = {  # as the venue's `Order.type` names them
    "limit": "limit",
    "market": "market",
    "stop_loss": "stop-loss",
    "stop_loss_limit": "stop-loss-limit",
    "take_profit": "take-profit",
    "take_profit_limit": "take-profit-limit",
}
TIME_IN_FORCE_NAMES: Final = {
    "gtt": "good-till-time",
    "ioc": "immediate-or-cancel",
    "post_only": "post-only",
}
MARKET_LIKE: Final = frozenset({"market", "stop_loss", "take_profit"})
ACTIVE: Final = frozenset({"open", "pending"})
ENTRY_PRICE_QUANTUM: Final = Decimal("1e-12")  # an average entry that needs more digits
UNLIMITED: Final = 2**63 - 1
EXACT: Final = Context(prec=100, traps=[Inexact, InvalidOperation])  # rounding raises
DIVIDE: Final = Context(prec=100, traps=[InvalidOperation])


@dataclass(frozen=True, slots=True)
class LastTrade:
    """A market's latest public trade: its price is the mark, its time the venue's clock."""

    trade_id: int
    price: Decimal
    time_ms: int


@dataclass(slots=True)
class PaperOrder:
    """One paper order, sizes and prices in the venue's integer units."""

    order_index: int
    client_order_index: int
    market: MarketInfo
    side: Side
    kind: OrderKind
    time_in_force: str
    reduce_only: bool
    price: int
    trigger: int
    size: int
    remaining: int
    filled: int
    filled_quote: Decimal
    status: str
    created_ms: int
    updated_ms: int
    seen_trade_id: int  # only trades after this one can fill or trigger it

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    @property
    def market_like(self) -> bool:
        return self.kind in MARKET_LIKE

    def accepts(self, price: int) -> bool:
        """Whether trading at `price` (units) is within the order's price."""
        return price <= self.price if self.side == "buy" else price >= self.price

    def reached_by(self, trade_price: Decimal) -> bool:
        """Whether a trade at `trade_price` is at or through the order's price."""
        price = self.market.price_value(self.price)
        return trade_price <= price if self.side == "buy" else trade_price >= price

    def fires_at(self, price: Decimal) -> bool:
        """Whether a trade at `price` reaches the trigger of this stop or target."""
        stop = self.kind in ("stop_loss", "stop_loss_limit")
        trigger = self.market.price_value(self.trigger)
        if (self.side == "sell") == stop:  # a sell stop or a buy target fires on the way down
            return price <= trigger
        return price >= trigger

    def record(self) -> Order:
        info = self.market
        return Order(
            order_index=self.order_index,
            client_order_index=self.client_order_index,
            market=info.symbol,
            side=self.side,
            kind=KIND_NAMES[self.kind],
            time_in_force=self.time_in_force,
            reduce_only=self.reduce_only,
            price=info.price_value(self.price),
            trigger_price=info.price_value(self.trigger),
            size=info.size_value(self.size),
            remaining=info.size_value(self.remaining),
            filled=info.size_value(self.filled),
            filled_quote=self.filled_quote,
            status=self.status,
            created_ms=self.created_ms,
            updated_ms=self.updated_ms,
        )


@dataclass(slots=True)
class Holding:
    """The account's position on one market: signed size in units and exact cost basis."""

    market: MarketInfo
    size: int = 0  # + long, - short
    cost: Decimal = Decimal(0)  # what the open size cost, in quote
    realized_pnl: Decimal = Decimal(0)

    def fill(self, side: Side, size: int, price: int) -> Decimal:
        """Book a fill; returns the PnL it realised (before fees)."""
        info = self.market
        with localcontext(EXACT):
            notional = info.size_value(size) * info.price_value(price)
            change = size if side == "buy" else -size
            pnl = Decimal(0)
            if self.size == 0 or (self.size > 0) == (change > 0):
                self.size += change
                self.cost += notional
            else:
                closing = min(size, abs(self.size))
                released = self._released(closing)
                exit_value = info.size_value(closing) * info.price_value(price)
                pnl = exit_value - released if self.size > 0 else released - exit_value
                self.cost -= released
                self.size += closing if change > 0 else -closing
                opening = size - closing
                if opening:
                    self.size = opening if change > 0 else -opening
                    self.cost = info.size_value(opening) * info.price_value(price)
            self.realized_pnl += pnl
        return pnl

    def _released(self, closing: int) -> Decimal:
        """The share of the cost that `closing` units carry, on the market's notional grid."""
        if closing == abs(self.size):
            return self.cost
        grid = Decimal(1).scaleb(-(self.market.size_decimals + self.market.price_decimals))
        with localcontext(DIVIDE):  # rounding to the grid is the point: not the exact context
            share = self.cost * closing / abs(self.size)
            return share.quantize(grid, rounding=ROUND_HALF_EVEN)

    @property
    def signed_size(self) -> Decimal:
        return self.market.size_value(self.size)

    @property
    def entry_price(self) -> Decimal:
        """The average entry: cost over size (to 12 places when it has more)."""
        if self.size == 0:
            return Decimal(0)
        with localcontext(DIVIDE) as context:
            entry = self.cost / abs(self.signed_size)
            if context.flags[Inexact]:
                entry = entry.quantize(ENTRY_PRICE_QUANTUM, rounding=ROUND_HALF_EVEN)
        return entry

    def value(self, mark: Decimal) -> Decimal:
        with localcontext(EXACT):
            return abs(self.signed_size) * mark

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        """What closing the position at `mark` would realise, before fees."""
        with localcontext(EXACT):
            value = self.value(mark)
            return value - self.cost if self.size > 0 else self.cost - value


class Liquidity:
    """One side of a book in units, consumed as paper orders take from it. When that side was
    empty, market orders trade at the last trade's price instead, for any size."""

    def __init__(self, levels: Iterable[tuple[int, int]], last_price: int | None = None) -> None:
        self.levels = [[price, size] for price, size in levels if size > 0]
        self.fallback = last_price if not self.levels else None

    @classmethod
    def facing(
        cls, book: OrderBookSnapshot, side: Side, market: MarketInfo, last: LastTrade | None
    ) -> Liquidity:
        """What a `side` order trades with: the opposite side of `book`."""
        levels = book.asks if side == "buy" else book.bids
        price_rounding = ROUND_CEILING if side == "buy" else ROUND_FLOOR  # the worse way
        units = [
            (
                to_units(level.price, market.price_decimals, price_rounding),
                to_units(level.size, market.size_decimals, ROUND_FLOOR),
            )
            for level in levels
        ]
        last_price = (
            to_units(last.price, market.price_decimals, price_rounding)
            if last is not None
            else None
        )
        return cls(units, last_price)

    def best(self, market_like: bool) -> tuple[int, int] | None:
        """The best (price, size) left, if any."""
        if self.levels:
            price, size = self.levels[0]
            return price, size
        if market_like and self.fallback is not None:
            return self.fallback, UNLIMITED
        return None

    def take(self, size: int) -> None:
        if self.levels:
            self.levels[0][1] -= size
            if self.levels[0][1] == 0:
                self.levels.pop(0)


def to_units(value: Decimal, decimals: int, rounding: str) -> int:
    return int(value.scaleb(decimals).to_integral_value(rounding))

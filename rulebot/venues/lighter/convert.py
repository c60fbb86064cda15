"""The SDK's models (string and float numbers) as our records (exact Decimals).

Lighter's REST answers carry prices and sizes as decimal strings ("3512.37"), read exactly with
`Decimal`; candles arrive as JSON numbers that the SDK parses to floats, read back through
`Decimal(str(x))`, which recovers the decimal text the venue sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from lighter.models.account_position import AccountPosition
from lighter.models.candle import Candle as SdkCandle
from lighter.models.detailed_account import DetailedAccount
from lighter.models.funding import Funding as SdkFunding
from lighter.models.order import Order as SdkOrder
from lighter.models.simple_order import SimpleOrder
from lighter.models.trade import Trade as SdkTrade

from rulebot.venues.lighter.records import (
    AccountState,
    BookLevel,
    Candle,
    Funding,
    Order,
    OrderBookSnapshot,
    Position,
    Trade,
)


def number(value: str | float | int | None) -> Decimal:
    """A venue number as a Decimal: strings exactly, floats by their shortest repr."""
    if value is None or value == "":
        return Decimal(0)
    if isinstance(value, float):
        return Decimal(str(value))
    return Decimal(value)


def order(model: SdkOrder, symbol: str) -> Order:
    return Order(
        order_index=model.order_index,
        client_order_index=model.client_order_index,
        market=symbol,
        side="sell" if model.is_ask else "buy",
        kind=model.type,
        time_in_force=model.time_in_force,
        reduce_only=model.reduce_only,
        price=number(model.price),
        trigger_price=number(model.trigger_price),
        size=number(model.initial_base_amount),
        remaining=number(model.remaining_base_amount),
        filled=number(model.filled_base_amount),
        filled_quote=number(model.filled_quote_amount),
        status=model.status,
        created_ms=model.created_at,
        updated_ms=model.updated_at,
        version=model.order_version or 0,
    )


def position(model: AccountPosition) -> Position:
    size = number(model.position)
    return Position(
        market=model.symbol,
        size=-size if model.sign < 0 else size,
        entry_price=number(model.avg_entry_price),
        unrealized_pnl=number(model.unrealized_pnl),
        realized_pnl=number(model.realized_pnl),
        value=number(model.position_value),
        liquidation_price=number(model.liquidation_price),
    )


def account(model: DetailedAccount) -> AccountState:
    positions = tuple(position(p) for p in model.positions if number(p.position) != 0)
    collateral = number(model.collateral)
    unrealized = sum((p.unrealized_pnl for p in positions), Decimal(0))
    return AccountState(
        account_index=model.index,
        collateral=collateral,
        equity=collateral + unrealized,
        available_balance=number(model.available_balance),
        positions=positions,
    )


def book_levels(orders: Iterable[SimpleOrder], descending: bool) -> tuple[BookLevel, ...]:
    """Resting orders summed into price levels, best first."""
    sizes: dict[Decimal, Decimal] = {}
    for resting in orders:
        price = number(resting.price)
        sizes[price] = sizes.get(price, Decimal(0)) + number(resting.remaining_base_amount)
    return tuple(
        BookLevel(price, size)
        for price, size in sorted(sizes.items(), reverse=descending)
        if size > 0
    )


def order_book(
    symbol: str, bids: Iterable[SimpleOrder], asks: Iterable[SimpleOrder]
) -> OrderBookSnapshot:
    return OrderBookSnapshot(
        market=symbol, bids=book_levels(bids, descending=True), asks=book_levels(asks, False)
    )


def trade(model: SdkTrade, symbol: str) -> Trade:
    return Trade(
        trade_id=model.trade_id,
        market=symbol,
        price=number(model.price),
        size=number(model.size),
        taker_side="buy" if model.is_maker_ask else "sell",
        time_ms=model.timestamp,
        buyer_account=model.bid_account_id,
        seller_account=model.ask_account_id,
        buy_order_index=model.bid_id,
        sell_order_index=model.ask_id,
        buy_client_order_index=model.bid_client_id,
        sell_client_order_index=model.ask_client_id,
    )


def candle(model: SdkCandle) -> Candle:
    return Candle(
        time_ms=model.t,
        open=number(model.o),
        high=number(model.h),
        low=number(model.l),
        close=number(model.c),
        volume=number(model.v),
    )


def funding(model: SdkFunding) -> Funding:
    """Lighter stamps fundings in seconds (candles and trades in ms); the record's time is ms."""
    return Funding(
        time_ms=model.timestamp * 1000,
        rate=number(model.rate),
        value=number(model.value),
        direction=model.direction,
    )


def trade_json(raw: dict[str, object], symbol: str) -> Trade:
    """A trade as the stream sends it (the REST `Trade` fields), read leniently: only the
    fields a trader needs are required."""

    def whole(name: str) -> int:
        value = raw.get(name, 0)
        return (
            int(value) if isinstance(value, int | str) and str(value).lstrip("-").isdigit() else 0
        )

    return Trade(
        trade_id=whole("trade_id"),
        market=symbol,
        price=number(str(raw["price"])),
        size=number(str(raw["size"])),
        taker_side="buy" if raw.get("is_maker_ask") else "sell",
        time_ms=whole("timestamp"),
        buyer_account=whole("bid_account_id"),
        seller_account=whole("ask_account_id"),
        buy_order_index=whole("bid_id"),
        sell_order_index=whole("ask_id"),
        buy_client_order_index=whole("bid_client_id"),
        sell_client_order_index=whole("ask_client_id"),
    )

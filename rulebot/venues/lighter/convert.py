"""The SDK's models (string and float numbers) as our records (exact Decimals).

Lighter's REST answers carry prices and sizes as decimal strings ("3512.37"), read exactly with
`Decimal`; candles arrive as JSON numbers that the SDK parses to floats, read back through
`Decimal(str(x))`, which recovers the decimal text the venue sent.

The venue leaves things out: an empty list comes as `null` or no key at all (`"c": null` for a
window without candles, `"trades": null`, book sides `null`), and candles omit their zero values
(a minute without trades has no `v`/`V`). The SDK builds its models without validating, so those
arrive here as `None`: `listed` reads an absent list as empty, `number` an absent amount as 0.
A field the adapter cannot do without (a candle's time or prices, a trade's id) raises
`BadAnswer` naming it, never a bare `TypeError`. The `*_answer` readers take a whole answer
(or `None`, the SDK's reading of a `null` body) to what the client returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from lighter.models.account_position import AccountPosition
from lighter.models.candle import Candle as SdkCandle
from lighter.models.candles import Candles as SdkCandles
from lighter.models.detailed_account import DetailedAccount
from lighter.models.detailed_accounts import DetailedAccounts
from lighter.models.funding import Funding as SdkFunding
from lighter.models.fundings import Fundings as SdkFundings
from lighter.models.next_nonce import NextNonce
from lighter.models.order import Order as SdkOrder
from lighter.models.order_book_orders import OrderBookOrders
from lighter.models.orders import Orders as SdkOrders
from lighter.models.simple_order import SimpleOrder
from lighter.models.trade import Trade as SdkTrade
from lighter.models.trades import Trades as SdkTrades
from pydantic import ValidationError

from rulebot.venues.lighter.errors import BadAnswer, VenueError
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

T = TypeVar("T")
A = TypeVar("A")

# --- reading what the venue leaves out ----------------------------------------------------------


def listed(items: Iterable[T | None] | None) -> list[T]:
    """A list as the venue sends it: `null` or no key is empty, and null entries are dropped."""
    if items is None:
        return []
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Iterable):
        raise BadAnswer(f"the venue sent {type(items).__name__} where a list belongs")
    return [item for item in items if item is not None]


def number(value: object, what: str = "an amount") -> Decimal:
    """A venue number as a Decimal: strings exactly, floats by their shortest repr, and an
    omitted value (`None`, `""`) as 0, since the venue leaves zeros out."""
    if value is None or value == "":
        return Decimal(0)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadAnswer(f"the venue sent {what} as {value!r}, not a number")
    try:
        read = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise BadAnswer(f"the venue sent {what} as {value!r}, not a number") from None
    if not read.is_finite():
        raise BadAnswer(f"the venue sent {what} as {value!r}, not a number")
    return read


def required(value: T | None, what: str) -> T:
    """`value`, which the adapter cannot do without; `BadAnswer` naming it when it is absent."""
    if value is None or value == "":
        raise BadAnswer(f"the venue's answer has no {what}")
    return value


def amount(value: object, what: str) -> Decimal:
    """A number that must be there (a price: never zero, so never left out)."""
    return number(required(value, what), what)


def whole(value: object, what: str, default: int | None = 0) -> int:
    """A whole number (an id, a time): an int, or digits in a string; an omitted one is
    `default` (0, as the venue leaves zeros out), or `BadAnswer` when `default` is None."""
    if value is None or value == "":
        if default is None:
            raise BadAnswer(f"the venue's answer has no {what}")
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise BadAnswer(f"the venue sent {what} as {value!r}, not a whole number")


@contextmanager
def reading(what: str) -> Iterator[None]:
    """Around an SDK call or `Model.from_json`: a body the SDK cannot parse (not JSON, a word
    where a list of objects belongs) raises `BadAnswer` rather than the SDK's `ValueError`."""
    try:
        yield
    except ValidationError as error:
        problem = error.errors()[0]["msg"] if error.errors() else "not its model"
        raise BadAnswer(
            f"cannot read the venue's {what} answer ({error.title}: {problem})"
        ) from None
    except ValueError as error:
        raise BadAnswer(f"cannot read the venue's {what} answer: {error}") from None


def answered(answer: A | None, what: str) -> A:
    """An SDK answer, which is `None` when the venue's body was `null`."""
    if answer is None:
        raise BadAnswer(f"the venue answered {what} with nothing")
    return answer


# --- one record each ----------------------------------------------------------------------------


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
    size = number(model.position, "a position's size")
    return Position(
        market=required(model.symbol, "a position's symbol"),
        size=-size if whole(model.sign, "a position's sign") < 0 else size,
        entry_price=number(model.avg_entry_price),
        unrealized_pnl=number(model.unrealized_pnl),
        realized_pnl=number(model.realized_pnl),
        value=number(model.position_value),
        liquidation_price=number(model.liquidation_price),
    )


def account(model: DetailedAccount) -> AccountState:
    read = (position(p) for p in listed(model.positions))
    positions = tuple(p for p in read if p.size != 0)
    collateral = number(model.collateral, "the account's collateral")
    unrealized = sum((p.unrealized_pnl for p in positions), Decimal(0))
    return AccountState(
        account_index=whole(model.index, "the account's index", default=None),
        collateral=collateral,
        equity=collateral + unrealized,
        available_balance=number(model.available_balance, "the available balance"),
        positions=positions,
    )


def book_levels(orders: Iterable[SimpleOrder] | None, descending: bool) -> tuple[BookLevel, ...]:
    """Resting orders summed into price levels, best first; a side sent as null is empty."""
    sizes: dict[Decimal, Decimal] = {}
    for resting in listed(orders):
        price = amount(resting.price, "a resting order's price")
        size = number(resting.remaining_base_amount, "a resting order's size")
        sizes[price] = sizes.get(price, Decimal(0)) + size
    return tuple(
        BookLevel(price, size)
        for price, size in sorted(sizes.items(), reverse=descending)
        if size > 0
    )


def order_book(
    symbol: str, bids: Iterable[SimpleOrder] | None, asks: Iterable[SimpleOrder] | None
) -> OrderBookSnapshot:
    return OrderBookSnapshot(
        market=symbol, bids=book_levels(bids, descending=True), asks=book_levels(asks, False)
    )


def price_levels(raw: object, descending: bool) -> tuple[BookLevel, ...]:
    """Price levels as `[{"price": "3512.37", "size": "1.2500"}]` (the depth shape of the
    stream's books), best first; null is empty and a level of size 0 (or none) is dropped."""
    sizes: dict[Decimal, Decimal] = {}
    for level in listed(raw):
        if not isinstance(level, Mapping):
            raise BadAnswer(f"the venue sent a price level as {level!r}")
        price = amount(level.get("price"), "a price level's price")
        sizes[price] = number(level.get("size"), "a price level's size")
    return tuple(
        BookLevel(price, size)
        for price, size in sorted(sizes.items(), reverse=descending)
        if size > 0
    )


def depth(symbol: str, body: object) -> OrderBookSnapshot:
    """A whole book in the depth shape (`{"asks": [...] | null, "bids": ...}`)."""
    if not isinstance(body, Mapping):
        raise BadAnswer(f"the venue sent an order book as {type(body).__name__}")
    return OrderBookSnapshot(
        market=symbol,
        bids=price_levels(body.get("bids"), descending=True),
        asks=price_levels(body.get("asks"), descending=False),
    )


def trade(model: SdkTrade, symbol: str) -> Trade:
    """One trade; the ids and accounts the venue leaves out (zeros) read as 0."""
    return Trade(
        trade_id=whole(model.trade_id, "a trade's id", default=None),
        market=symbol,
        price=amount(model.price, "a trade's price"),
        size=amount(model.size, "a trade's size"),
        taker_side="buy" if model.is_maker_ask else "sell",
        time_ms=whole(model.timestamp, "a trade's time", default=None),
        buyer_account=whole(model.bid_account_id, "a trade's buyer"),
        seller_account=whole(model.ask_account_id, "a trade's seller"),
        buy_order_index=whole(model.bid_id, "a trade's buy order"),
        sell_order_index=whole(model.ask_id, "a trade's sell order"),
        buy_client_order_index=whole(model.bid_client_id, "a trade's buy client order"),
        sell_client_order_index=whole(model.ask_client_id, "a trade's sell client order"),
    )


def candle(model: SdkCandle) -> Candle:
    """One bar; its volumes are left out when zero (a minute without trades) and read as 0."""
    return Candle(
        time_ms=whole(model.t, "a candle's time `t`", default=None),
        open=amount(model.o, "a candle's open `o`"),
        high=amount(model.h, "a candle's high `h`"),
        low=amount(model.l, "a candle's low `l`"),
        close=amount(model.c, "a candle's close `c`"),
        volume=number(model.v, "a candle's volume `v`"),
        quote_volume=number(model.V, "a candle's quote volume `V`"),
    )


def funding(model: SdkFunding) -> Funding:
    """Lighter stamps fundings in seconds (candles and trades in ms); the record's time is ms.
    A zero rate may come without its value or direction; a non-zero one needs its direction."""
    rate = number(model.rate, "a funding's rate")
    direction = model.direction or ""
    if direction not in ("long", "short"):
        if rate != 0 or direction:
            raise BadAnswer(f"the venue sent a funding paid by {direction!r}, not long or short")
        direction = "long"
    return Funding(
        time_ms=whole(model.timestamp, "a funding's time", default=None) * 1000,
        rate=rate,
        value=number(model.value, "a funding's value"),
        direction=direction,
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


# --- whole answers ------------------------------------------------------------------------------


def candles_answer(answer: SdkCandles | None) -> list[Candle]:
    """`/candles`: `"c": null` (a window without bars, which the pager asks for) is none."""
    return [candle(c) for c in listed(answered(answer, "candles").c)]


def fundings_answer(answer: SdkFundings | None) -> list[Funding]:
    """`/fundings`: `"fundings": null` is none."""
    return [funding(f) for f in listed(answered(answer, "fundings").fundings)]


def trades_answer(answer: SdkTrades | None, symbol_of: Callable[[int], str]) -> list[Trade]:
    """`/recentTrades` and `/trades`, newest first whatever order the venue sent them in;
    `"trades": null` or no `trades` at all is none. `symbol_of(market_id)` names each
    trade's market."""
    read = [
        trade(t, symbol_of(whole(t.market_id, "a trade's market", default=None)))
        for t in listed(answered(answer, "trades").trades)
    ]
    return sorted(read, key=lambda t: t.trade_id, reverse=True)


def order_book_answer(symbol: str, answer: OrderBookOrders | None) -> OrderBookSnapshot:
    """`/orderBookOrders`: a side sent as null (nothing resting there) is empty."""
    read = answered(answer, "orderBookOrders")
    return order_book(symbol, read.bids, read.asks)


def orders_answer(answer: SdkOrders | None, symbol_of: Callable[[int], str]) -> list[Order]:
    """`/accountActiveOrders`, `/accountInactiveOrders`, `/accountOrders`: `"orders": null` is
    none."""
    return [
        order(o, symbol_of(whole(o.market_index, "an order's market", default=None)))
        for o in listed(answered(answer, "orders").orders)
    ]


def account_answer(answer: DetailedAccounts | None, account_index: int) -> AccountState:
    """`/account`: the one account asked for; `VenueError` when the venue has none."""
    accounts = listed(answered(answer, "account").accounts)
    if not accounts:
        raise VenueError(f"the venue has no account {account_index}")
    return account(accounts[0])


def next_nonce_answer(answer: NextNonce | None) -> int:
    """`/nextNonce`: the key's next nonce, which the venue always sends."""
    return whole(answered(answer, "nextNonce").nonce, "the next nonce", default=None)

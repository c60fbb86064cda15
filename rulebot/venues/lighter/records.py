"""What the adapter takes and returns: small frozen records in human units (Decimal), never the
SDK's models, so callers do not depend on lighter-sdk's shapes or its string-typed numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final, Literal, get_args

from rulebot.venues.lighter.errors import OrderRejected
from rulebot.venues.units import Amount, Side

OrderKind = Literal[
    "limit", "market", "stop_loss", "stop_loss_limit", "take_profit", "take_profit_limit"
]
TimeInForce = Literal["gtt", "ioc", "post_only"]

TRIGGERED_KINDS: Final = frozenset(
    {"stop_loss", "stop_loss_limit", "take_profit", "take_profit_limit"}
)
PRICED_KINDS: Final = frozenset({"limit", "stop_loss_limit", "take_profit_limit"})
DEFAULT_SLIPPAGE: Final = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order to place, in human units.

    `price` is the limit price for limit kinds and, for `market` / `stop_loss` /
    `take_profit`, the worst average price accepted; when it is None the adapter takes it
    from the book's best price (or the trigger) moved by `max_slippage` against the order.
    `time_in_force` defaults to `gtt` for resting kinds and is `ioc` for market kinds.
    `client_order_index` is the idempotency key; None asks the venue adapter for a fresh one.
    `expiry_ms` is when a resting order lapses (ms UTC); None is the venue's default (28 days).
    """

    market: str | int
    side: Side
    size: Amount
    kind: OrderKind = "limit"
    price: Amount | None = None
    trigger_price: Amount | None = None
    time_in_force: TimeInForce | None = None
    reduce_only: bool = False
    client_order_index: int | None = None
    expiry_ms: int | None = None
    max_slippage: Decimal = DEFAULT_SLIPPAGE

    def __post_init__(self) -> None:
        if self.side not in get_args(Side):
            raise OrderRejected(f"side must be 'buy' or 'sell', not {self.side!r}")
        if self.kind not in get_args(OrderKind):
            kinds = ", ".join(get_args(OrderKind))
            raise OrderRejected(f"order kind must be one of {kinds}, not {self.kind!r}")
        if self.time_in_force is not None and self.time_in_force not in get_args(TimeInForce):
            raise OrderRejected(
                f"time in force must be gtt, ioc or post_only, not {self.time_in_force!r}"
            )
        if self.kind in PRICED_KINDS and self.price is None:
            raise OrderRejected(f"a {self.kind} order needs a price")
        if self.kind in TRIGGERED_KINDS and self.trigger_price is None:
            raise OrderRejected(f"a {self.kind} order needs a trigger price")
        if self.kind not in TRIGGERED_KINDS and self.trigger_price is not None:
            raise OrderRejected(f"a {self.kind} order takes no trigger price")
        if self.kind not in PRICED_KINDS and self.time_in_force not in (None, "ioc"):
            raise OrderRejected(
                f"a {self.kind} order executes immediately: it cannot be {self.time_in_force}"
            )
        if self.time_in_force == "post_only" and self.kind != "limit":
            raise OrderRejected("only a limit order can be post-only")
        if not (self.max_slippage.is_finite() and 0 <= self.max_slippage < 1):
            raise OrderRejected(f"max_slippage is a fraction in [0, 1), not {self.max_slippage}")
        if self.client_order_index is not None and not (1 <= self.client_order_index < 2**48):
            raise OrderRejected("client_order_index must be in 1 .. 2**48 - 1")

    @property
    def effective_time_in_force(self) -> TimeInForce:
        if self.kind not in PRICED_KINDS:
            return "ioc"
        return self.time_in_force or "gtt"


@dataclass(frozen=True, slots=True)
class OrderAck:
    """The venue took the order's transaction. Sizes and prices are as sent, after rounding.

    `recovered` is True when an answer was lost (a 5xx or a timeout) and the adapter found the
    order already at the venue instead of sending it again. When the order was confirmed (see
    `LighterVenue.place_order`), `order_index`, `status` and `filled` say what became of it.
    """

    client_order_index: int
    market: str
    side: Side
    kind: OrderKind
    size: Decimal
    price: Decimal
    trigger_price: Decimal | None
    tx_hash: str
    nonce: int
    recovered: bool = False
    order_index: int | None = None
    status: str | None = None
    filled: Decimal | None = None


@dataclass(frozen=True, slots=True)
class TxAck:
    """A cancel, modify or cancel-all the venue took."""

    tx_hash: str
    nonce: int
    recovered: bool = False


@dataclass(frozen=True, slots=True)
class Order:
    """One order at the venue, active or not."""

    order_index: int
    client_order_index: int
    market: str
    side: Side
    kind: str
    time_in_force: str
    reduce_only: bool
    price: Decimal
    trigger_price: Decimal
    size: Decimal
    remaining: Decimal
    filled: Decimal
    filled_quote: Decimal
    status: str
    created_ms: int
    updated_ms: int
    version: int = 0  # the venue's order_version: up by one at each change (0: not given)

    @property
    def is_active(self) -> bool:
        return self.status in ("open", "pending", "in-progress")


@dataclass(frozen=True, slots=True)
class Position:
    """A position on one market: `size` is signed (+ long, - short)."""

    market: str
    size: Decimal
    entry_price: Decimal
    unrealized_pnl: Decimal
    realized_pnl: Decimal
    value: Decimal
    liquidation_price: Decimal


@dataclass(frozen=True, slots=True)
class AccountState:
    """Collateral, equity (collateral plus unrealised PnL), what is free for new orders, and the
    open positions."""

    account_index: int
    collateral: Decimal
    equity: Decimal
    available_balance: Decimal
    positions: tuple[Position, ...] = field(default=())

    def position(self, market: str) -> Position | None:
        return next((p for p in self.positions if p.market == market), None)


@dataclass(frozen=True, slots=True)
class BookLevel:
    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class OrderBookSnapshot:
    """Price levels, best first: bids high to low, asks low to high."""

    market: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0].price if self.asks else None


@dataclass(frozen=True, slots=True)
class Trade:
    """One trade on a market; `taker_side` is the side that crossed the spread."""

    trade_id: int
    market: str
    price: Decimal
    size: Decimal
    taker_side: Side
    time_ms: int
    buyer_account: int
    seller_account: int
    buy_order_index: int
    sell_order_index: int
    buy_client_order_index: int
    sell_client_order_index: int


@dataclass(frozen=True, slots=True)
class Candle:
    """One bar: `time_ms` is its open time (ms UTC); `volume` in base units, `quote_volume` in
    USDC (both 0 for a bar without trades, whose volumes the venue leaves out)."""

    time_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Funding:
    """One funding payment as Lighter reports it: `rate` unsigned, in percent per interval
    (0.01 is 0.01%), `direction` the side that paid (`long` or `short`), `value` what one whole
    unit of base paid. `fraction` is the rate as the backtester's funding files hold it."""

    time_ms: int
    rate: Decimal
    value: Decimal
    direction: str

    @property
    def fraction(self) -> Decimal:
        """The rate as a signed fraction per interval: 0.0001 is 0.01%, positive when longs
        paid shorts (as `rulebot.data.candles.FundingRates`)."""
        fraction = abs(self.rate).scaleb(-2)
        return -fraction if self.direction == "short" else fraction

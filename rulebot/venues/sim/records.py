"""The sim exchange's records: markets, accounts, orders, trades, and the refusal of a transaction.

Every price and size is the venue's integer units (see `SimMarket`); every amount of quote
currency (collateral, PnL, fees, notional) is an exact `Decimal` of USDC.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from rulebot.data.shipped import STARTING_EQUITY

# tx types the sim applies (lighter's SignerClient / lighter-go txtypes constants)
TX_CREATE_ORDER = 14
TX_CANCEL_ORDER = 15
TX_CANCEL_ALL_ORDERS = 16
TX_MODIFY_ORDER = 17
TX_CREATE_GROUPED_ORDERS = 28

# order types, times in force and grouping types (SignerClient constants)
LIMIT = 0
MARKET = 1
STOP_LOSS = 2
STOP_LOSS_LIMIT = 3
TAKE_PROFIT = 4
TAKE_PROFIT_LIMIT = 5
TWAP = 6
TRIGGER_TYPES = frozenset({STOP_LOSS, STOP_LOSS_LIMIT, TAKE_PROFIT, TAKE_PROFIT_LIMIT})

IMMEDIATE_OR_CANCEL = 0
GOOD_TILL_TIME = 1
POST_ONLY = 2

CANCEL_ALL_IMMEDIATE = 0
CANCEL_ALL_SCHEDULED = 1
CANCEL_ALL_ABORT = 2

ONE_TRIGGERS_THE_OTHER = 1
ONE_CANCELS_THE_OTHER = 2
ONE_TRIGGERS_A_ONE_CANCELS_THE_OTHER = 3

MARKET_MAKER_ACCOUNT = 0  # the synthetic liquidity's own account; never a trader's

MAX_CLIENT_ORDER_INDEX = (1 << 48) - 1
FIRST_ORDER_INDEX = MAX_CLIENT_ORDER_INDEX + 1
"""Exchange order indexes start above every client order index, as on Lighter, so a cancel's
`Index` names one or the other unambiguously."""


@dataclass(frozen=True)
class SimMarket:
    """One perpetual market as order book details describe it."""

    market_id: int
    symbol: str
    size_decimals: int
    price_decimals: int
    min_base_amount: int  # size units
    min_quote_amount: Decimal  # USDC
    taker_fee: Decimal  # fraction of notional, e.g. Decimal("0.00028")
    maker_fee: Decimal
    initial_margin_fraction: int  # 1/10_000 units: 1000 = 10% = 10x
    maintenance_margin_fraction: int

    def notional(self, size: int, price: int) -> Decimal:
        """The exact USDC value of `size` units at `price` units."""
        return Decimal(size * price).scaleb(-(self.size_decimals + self.price_decimals))

    def price_value(self, price: int) -> Decimal:
        """A price in USDC per one whole base unit."""
        return Decimal(price).scaleb(-self.price_decimals)

    def size_value(self, size: int) -> Decimal:
        """A size in whole base units."""
        return Decimal(size).scaleb(-self.size_decimals)


@dataclass(frozen=True)
class AccountSettings:
    """An account the sim creates at start: index, collateral, the API key indexes it accepts."""

    index: int
    collateral: Decimal = STARTING_EQUITY
    api_key_indexes: frozenset[int] | None = None  # None: any index 0..254 is accepted
    l1_address: str = ""


OrderStatus = Literal[
    "pending",  # a stop or target waiting for its trigger (or a child for its parent's fill)
    "open",
    "filled",
    "canceled",
    "canceled-post-only",
    "canceled-reduce-only",
    "canceled-margin-not-allowed",
    "canceled-too-much-slippage",
    "canceled-not-enough-liquidity",
    "canceled-self-trade",
    "canceled-expired",
    "canceled-oco",
    "canceled-child",
]
ACTIVE_STATUSES = frozenset({"pending", "open"})

TriggerStatus = Literal["na", "ready", "mark-price", "parent-order", "triggered"]
"""`na`: not a trigger order; `mark-price`: waiting for the mark price; `parent-order`: a grouped
child waiting for its parent to fill; `triggered`: fired."""


@dataclass(eq=False)
class SimOrder:
    order_index: int  # the exchange's id, unique and increasing
    client_order_index: int  # the trader's id (idempotency key); 0 = none
    market_id: int
    account_index: int
    is_ask: bool
    order_type: int  # SignerClient.ORDER_TYPE_*
    time_in_force: int  # SignerClient.ORDER_TIME_IN_FORCE_*
    reduce_only: bool
    price: int
    trigger_price: int
    initial_base_amount: int
    remaining_base_amount: int
    filled_base_amount: int = 0
    filled_quote_amount: Decimal = Decimal(0)
    status: OrderStatus = "open"
    order_expiry_ms: int = 0  # wall clock; 0 = none (IOC)
    nonce: int = 0
    created_ms: int = 0  # sim time
    updated_ms: int = 0
    trigger_status: TriggerStatus = "na"
    triggered_ms: int = 0
    parent_order_index: int = 0  # a grouped child's parent (OTO / OTOCO)
    to_trigger: tuple[int, ...] = ()  # a grouped parent's children, live once it fills
    to_cancel: int = 0  # the other leg of a one-cancels-the-other pair
    version: int = 1
    """Goes up each time the order's size, price or trigger changes (a fill, a modify, a cut to
    the position, a fire): a modify that names an older version is refused."""

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


@dataclass(frozen=True)
class SimTrade:
    """A fill between two orders, or a replay print (both sides `MARKET_MAKER_ACCOUNT`, order
    indexes 0, no fees): the candle's own volume, shown on the trade stream."""

    trade_id: int
    market_id: int
    price: int
    size: int
    taker_account: int
    maker_account: int
    taker_order_index: int
    maker_order_index: int
    taker_is_ask: bool
    taker_fee: Decimal
    maker_fee: Decimal
    timestamp_ms: int  # sim time
    taker_client_order_index: int = 0
    maker_client_order_index: int = 0
    taker_realized_pnl: Decimal = Decimal(0)
    maker_realized_pnl: Decimal = Decimal(0)

    @property
    def is_print(self) -> bool:
        return self.taker_order_index == 0 and self.maker_order_index == 0


@dataclass
class SimPosition:
    market_id: int
    size: int = 0  # signed size units: + long, - short
    avg_entry_price: Decimal = Decimal(0)  # USDC per whole base unit: entry_quote / size
    realized_pnl: Decimal = Decimal(0)
    funding_paid: Decimal = Decimal(0)  # + paid, - received
    entry_quote: Decimal = Decimal(0)  # USDC paid for the open size (its cost basis), exact


@dataclass
class SimAccount:
    index: int
    collateral: Decimal  # deposits + realised PnL - fees - funding
    l1_address: str
    api_key_indexes: frozenset[int] | None
    positions: dict[int, SimPosition] = field(default_factory=dict)
    nonces: dict[int, int] = field(default_factory=dict)  # api_key_index -> next nonce
    scheduled_cancel_all_ms: int = 0  # wall clock of a pending scheduled cancel-all; 0 = none

    def position(self, market_id: int) -> SimPosition:
        found = self.positions.get(market_id)
        if found is None:
            found = self.positions[market_id] = SimPosition(market_id)
        return found


class TxRejected(Exception):
    """A transaction the exchange refuses, with Lighter's error code and message.

    `message` is Lighter's own text for `code` (the SDK's nonce manager looks for "invalid
    nonce" in it); `detail` says what exactly was wrong, for a person reading it.
    """

    def __init__(self, code: int, message: str, detail: str = "") -> None:
        super().__init__(f"{message} ({detail})" if detail else message)
        self.code = code
        self.message = message
        self.detail = detail


@dataclass(frozen=True)
class Applied:
    """What one accepted transaction did: its hash, and the orders and trades it touched."""

    tx_hash: str
    orders: tuple[SimOrder, ...]
    trades: tuple[SimTrade, ...]


@dataclass(frozen=True)
class BookLevel:
    price: int
    size: int


Listener = Callable[[str, int], None]  # ("order_book" | "account" | "trade", market or account id)

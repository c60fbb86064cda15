"""The messages that flow between the runtime's parts, in one direction:
bars -> strategies -> intents -> risk -> orders -> venue, and fills and events back to the journal.

Prices, sizes and amounts of quote currency are `Decimal` here: they came from, or go to, the
venue's integers. Strategies compute in floats; they become Decimal at the intent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

Side = Literal["buy", "sell"]
OrderKind = Literal["market", "limit", "stop_entry", "stop_loss", "take_profit"]
"""`limit` and `stop_entry` are resting entries (`entry long limit at ...`, `... stop at ...`):
a limit order, and a stop (trigger) order that is not reduce-only."""
EntryOrderKind = Literal["market", "limit", "stop"]
IntentAction = Literal["open_long", "open_short", "close"]
OrderState = Literal["new", "sent", "unknown", "open", "filled", "canceled", "rejected"]
"""`new`: journaled, not sent yet; `sent`: the venue took it; `unknown`: sent, not seen at the
venue in time, so neither placed nor refused until it is looked up (by client order index)
again; `open`: filled partly, or resting; then `filled`, `canceled` or `rejected`."""


@dataclass(frozen=True, slots=True)
class Bar:
    """One closed bar of a market: `timestamp` is its open time (ms UTC)."""

    market: str
    timestamp: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    funding: float | None = None
    """The perpetual's series as the venue published them by the bar's close (None: not
    known): the last funding's rate (a fraction), the mark price, the open interest."""
    mark: float | None = None
    open_interest: float | None = None


@dataclass(frozen=True, slots=True)
class Protection:
    """A stop loss, take profit or trailing stop as the rule gave it at the deciding bar; its
    price is fixed from the entry's (average) fill price, as the backtester fixes it. A partial
    take-profit (`take_profit 50% at 2%`) has its `share` of the position; None: all of it."""

    kind: Literal["stop_loss", "take_profit", "trailing_stop"]
    mode: Literal["percent", "distance", "level"]
    value: float
    share: float | None = None


@dataclass(frozen=True, slots=True)
class Intent:
    """What a strategy wants after a bar closed. `close` intents are exits and always pass risk."""

    strategy: str
    market: str
    action: IntentAction
    size: Decimal  # base units, > 0 (for `close`: the strategy's whole position)
    reason: str  # "signal", "reverse", "stop_loss", "flatten", ...
    bar_time: int  # open time (ms) of the bar whose close decided it
    reference_price: Decimal  # the bar's close: for notional checks before the fill
    protections: tuple[Protection, ...] = ()  # placed as exchange-side orders once filled
    partial: bool = False  # a `close` of `size` only (`exit long 50% when`), not of it all

    @property
    def side(self) -> Side:
        if self.action == "open_long":
            return "buy"
        if self.action == "open_short":
            return "sell"
        raise ValueError("a close intent's side depends on the position it closes")

    # how an entry goes (after the fields above: a dataclass keeps them in this order)
    order: EntryOrderKind = "market"
    """How an entry goes: at market, or resting at `level` (a limit, or a stop that fires once
    price trades through it) with `post_only`, living `bars` closes unless a signal restarts it."""
    level: Decimal | None = None
    post_only: bool = False
    bars: int = 1


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """Whether an intent may go to the market; a refusal says which limit and by how much."""

    allowed: bool
    limit: str | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class RiskEvent:
    """A limit breached or recovered, account-wide (`scope="account"`) or for one strategy."""

    time_ms: int
    scope: str
    limit: str
    state: Literal["breached", "recovered"]
    value: Decimal
    threshold: Decimal
    message: str


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """One order as the runtime knows it; `client_order_index` is its idempotency key."""

    client_order_index: int
    strategy: str
    market: str
    side: Side
    kind: OrderKind
    size: Decimal
    price: Decimal | None
    trigger_price: Decimal | None
    reduce_only: bool
    state: OrderState
    created_ms: int
    updated_ms: int
    venue_order_index: int | None = None
    filled: Decimal = Decimal(0)
    reason: str = ""  # why it was sent ("signal", "stop_loss", ...) or why it was rejected


@dataclass(frozen=True, slots=True)
class Fill:
    """A trade of one of our orders, attributed to the strategy that sent it."""

    trade_id: int
    client_order_index: int
    strategy: str
    market: str
    side: Side
    size: Decimal
    price: Decimal
    fee: Decimal  # paid; negative is a rebate
    time_ms: int


@dataclass(frozen=True, slots=True)
class StrategyPosition:
    """A strategy's own position on one market (the account's is the sum over strategies)."""

    strategy: str
    market: str
    size: Decimal = Decimal(0)  # signed: + long, - short
    entry_price: Decimal = Decimal(0)
    entry_time_ms: int = 0
    realized_pnl: Decimal = Decimal(0)  # price PnL of the closed part, before fees and funding
    fees: Decimal = Decimal(0)
    funding: Decimal = Decimal(0)  # paid; negative when received


DifferenceKind = Literal["position", "unmanaged", "order_gone", "order_unknown", "order_reopened"]


@dataclass(frozen=True, slots=True)
class Difference:
    """Something the venue holds otherwise than the journal said, found by the reconciler and
    settled the venue's way: a strategy's position cut to what the venue holds (`position`),
    a position of the account no strategy sent (`unmanaged`), an order the journal thought
    open that the venue lacks (`order_gone`), an order of ours at the venue the journal does
    not know (`order_unknown`) or thought done (`order_reopened`). `before` and `after` are
    sizes (signed base units) for positions, and 0/1 (open or not) for orders."""

    time_ms: int
    kind: DifferenceKind
    market: str
    strategy: str  # "" when no strategy is concerned
    before: Decimal
    after: Decimal
    message: str
    client_order_index: int = 0


@dataclass(frozen=True, slots=True)
class EquitySnapshot:
    time_ms: int
    equity: Decimal
    collateral: Decimal
    unrealized_pnl: Decimal


NoticeKind = Literal[
    "fill",
    "risk",
    "reload",
    "reload_error",
    "disconnected",
    "reconnected",
    "crash",
    "reconciled",
    "started",
    "stopped",
]


@dataclass(frozen=True, slots=True)
class Notice:
    """Something an operator should hear about, for notifications and the dashboard. `data`
    holds the details as JSON-ready values; `message` says it in one line."""

    kind: NoticeKind
    time_ms: int
    message: str
    data: dict[str, object]

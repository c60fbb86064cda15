"""The sim's exchange: order books, matching, accounts, margin and nonces, with no I/O.

`apply` takes a transaction as lighter-sdk's signer produced it and checks, in order: the tx type
(21505); the account (unknown -> 21100); the API key index (not accepted -> 21109); the nonce
(anything but the next one for that account and key -> 21104 "invalid nonce": a reused or skipped
nonce); the tx's `ExpiredAt` against the wall clock (-> 21501); the fields' ranges, as the
signer's own validation has them (price 1..2^32-1 -> 21702, type, time in force, trigger price,
...; see `txinfo`); then the order's market (21602), its size and notional against the market's
minimums (21706), its client order index among the account's active orders (21728), and initial
margin (21739). Cancels and modifies name an active order of the account by exchange or client
order index (21600 otherwise).

Nonces, as Lighter's docs describe them: a transaction refused by the API does not consume its
nonce, and every refusal here (`TxRejected`) is such a refusal; a transaction the sequencer takes
and then cancels does consume it. So an order that fails its margin check is refused (nonce kept)
when it would rest on the book (a maker order), but accepted and cancelled with status
`canceled-margin-not-allowed` (nonce consumed) when it would trade on arrival (a taker order: a
market or IOC order, or a limit order crossing the book). Likewise accepted and cancelled: a
post-only order that would cross (`canceled-post-only`), a reduce-only order with nothing to
reduce (`canceled-reduce-only`), an IOC/market order's unfilled rest (`canceled`,
`canceled-too-much-slippage` or `canceled-not-enough-liquidity`).

Signatures are not verified. There is no liquidation engine: an account's equity may go below its
maintenance margin and nothing closes it. Self-trades cancel the resting (maker) order, Lighter's
default. Order expiry (`OrderExpiry`) and scheduled cancel-alls run on the wall clock, as the
signer sets them from it; orders and trades are stamped with sim time (`set_sim_time`).

Synthetic liquidity: `move_market` is the replay's next price. The market maker
(`MARKET_MAKER_ACCOUNT`, unlimited collateral, no margin checks) fills every trader order resting
at or through the new price, at the trader's price (the trader is the maker); then it re-quotes
its ladder around the price (`ladder_levels` a side, `ladder_step_bps` apart, each level worth
`ladder_level_notional`); then the stop-loss / take-profit orders the new mark reaches fire, and
trade against the fresh ladder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

from rulebot.venues.sim import errors, ledger, margin, txinfo
from rulebot.venues.sim.book import LadderLevel, MarketBook, acceptable, better_or_equal
from rulebot.venues.sim.errors import rejected
from rulebot.venues.sim.orders import OrderRegistry
from rulebot.venues.sim.records import (
    ACTIVE_STATUSES,
    CANCEL_ALL_ABORT,
    CANCEL_ALL_IMMEDIATE,
    FIRST_ORDER_INDEX,
    IMMEDIATE_OR_CANCEL,
    MARKET,
    MARKET_MAKER_ACCOUNT,
    ONE_CANCELS_THE_OTHER,
    ONE_TRIGGERS_A_ONE_CANCELS_THE_OTHER,
    POST_ONLY,
    STOP_LOSS,
    STOP_LOSS_LIMIT,
    TAKE_PROFIT,
    TRIGGER_TYPES,
    TX_CANCEL_ALL_ORDERS,
    TX_CANCEL_ORDER,
    TX_CREATE_GROUPED_ORDERS,
    TX_CREATE_ORDER,
    TX_MODIFY_ORDER,
    AccountSettings,
    Applied,
    BookLevel,
    Listener,
    OrderStatus,
    SimAccount,
    SimMarket,
    SimOrder,
    SimPosition,
    SimTrade,
    TxRejected,
)

__all__ = [
    "ACTIVE_STATUSES",
    "MARKET_MAKER_ACCOUNT",
    "TX_CANCEL_ALL_ORDERS",
    "TX_CANCEL_ORDER",
    "TX_CREATE_GROUPED_ORDERS",
    "TX_CREATE_ORDER",
    "TX_MODIFY_ORDER",
    "AccountSettings",
    "Applied",
    "BookLevel",
    "Exchange",
    "Listener",
    "OrderStatus",
    "SimAccount",
    "SimMarket",
    "SimOrder",
    "SimPosition",
    "SimTrade",
    "TxRejected",
]

log = logging.getLogger(__name__)

MARKET_MAKER_COLLATERAL = Decimal(10) ** 15
MAX_BATCH = 50
MARKET_LIKE = frozenset({MARKET, STOP_LOSS, TAKE_PROFIT})


class Exchange:
    """All markets and accounts; `apply` is the only way a trader changes anything.

    `now_ms` is the wall clock (ms): it checks `ExpiredAt`, order expiry and scheduled
    cancel-alls. Listeners are called after each change with ("order_book", market_id),
    ("trade", market_id) and ("account", account_index).
    """

    def __init__(
        self,
        markets: Sequence[SimMarket],
        accounts: Sequence[AccountSettings],
        now_ms: Callable[[], int],
        *,
        ladder_levels: int = 10,
        ladder_step_bps: int = 5,
        ladder_level_notional: Decimal = Decimal(250_000),
        history: int = 10_000,
    ) -> None:
        self._markets = {m.market_id: MarketBook(m, history) for m in markets}
        self._accounts: dict[int, SimAccount] = {}
        self._deposits = {settings.index: settings.collateral for settings in accounts}
        for settings in accounts:
            if settings.index == MARKET_MAKER_ACCOUNT:
                raise ValueError(f"account {MARKET_MAKER_ACCOUNT} is the sim's market maker")
            self._accounts[settings.index] = SimAccount(
                settings.index,
                settings.collateral,
                settings.l1_address,
                settings.api_key_indexes,
            )
        self._accounts[MARKET_MAKER_ACCOUNT] = SimAccount(
            MARKET_MAKER_ACCOUNT, MARKET_MAKER_COLLATERAL, "", frozenset()
        )
        self._now = now_ms
        self._sim_ms: int | None = None
        self._ladder_levels = ladder_levels
        self._ladder_step_bps = ladder_step_bps
        self._ladder_level_notional = ladder_level_notional
        self._history = history
        self._listeners: list[Listener] = []
        self._next_order_index = FIRST_ORDER_INDEX
        self._next_trade_id = 1
        self._orders = OrderRegistry(history)
        self._account_trades: dict[int, deque[SimTrade]] = {}
        self._events: dict[tuple[str, int], None] = {}
        self._touched: dict[int, SimOrder] = {}
        self._new_trades: list[SimTrade] = []

    # --- reading -------------------------------------------------------------------------
    def market(self, market_id: int) -> SimMarket:
        return self._markets[market_id].market

    def markets(self) -> Sequence[SimMarket]:
        return [state.market for state in self._markets.values()]

    def account(self, index: int) -> SimAccount:
        """The account `index` (KeyError if unknown)."""
        return self._accounts[index]

    def accounts(self) -> Sequence[SimAccount]:
        return [a for i, a in self._accounts.items() if i != MARKET_MAKER_ACCOUNT]

    def next_nonce(self, account_index: int, api_key_index: int) -> int:
        return self._accounts[account_index].nonces.get(api_key_index, 0)

    def sim_time_ms(self) -> int:
        """The time orders and trades are stamped with: the replay's, or the wall clock's."""
        return self._sim_ms if self._sim_ms is not None else self._now()

    def set_sim_time(self, sim_ms: int) -> None:
        self._sim_ms = sim_ms

    def depth(self, market_id: int, levels: int) -> tuple[list[BookLevel], list[BookLevel]]:
        """Aggregated (bids, asks), best first, `levels` price levels each."""
        book = self._markets[market_id]
        return book.depth(False, levels), book.depth(True, levels)

    def book_orders(self, market_id: int, limit: int) -> tuple[list[SimOrder], list[SimOrder]]:
        """Resting orders (bids, asks) best first, the market maker's ladder levels included as
        orders of `MARKET_MAKER_ACCOUNT`."""
        book = self._markets[market_id]
        now = self.sim_time_ms()
        return book.resting(False, limit, now), book.resting(True, limit, now)

    def order(self, order_index: int) -> SimOrder | None:
        """An active order by its exchange index."""
        return self._orders.get(order_index)

    def active_orders(self, account_index: int, market_id: int | None) -> list[SimOrder]:
        orders = self._orders.of_account(account_index)
        return [o for o in orders if market_id is None or o.market_id == market_id]

    def inactive_orders(
        self, account_index: int, market_id: int | None, limit: int
    ) -> list[SimOrder]:
        """Filled and cancelled orders, newest first."""
        return self._orders.inactive(account_index, market_id, limit)

    def orders_by_client_index(
        self, account_index: int, client_order_indexes: Sequence[int]
    ) -> list[SimOrder]:
        """The account's orders, active or inactive, placed with these client order indexes
        (in the order asked; those it has none for are left out)."""
        found = (self._orders.by_client_index(account_index, i) for i in client_order_indexes)
        return [order for order in found if order is not None]

    def recent_trades(self, market_id: int, limit: int) -> list[SimTrade]:
        """The market's trades (replay prints included), newest first."""
        trades = self._markets[market_id].trades
        return list(itertools.islice(reversed(trades), limit))

    def account_trades(self, account_index: int, limit: int) -> list[SimTrade]:
        trades = self._account_trades.get(account_index, ())
        return list(itertools.islice(reversed(trades), limit))

    def mark_price(self, market_id: int) -> int:
        """The replay's latest price for the market (0 before the first move)."""
        return self._markets[market_id].mark

    def unrealized_pnl(self, account_index: int, market_id: int) -> Decimal:
        position = self._accounts[account_index].positions.get(market_id)
        if position is None:
            return Decimal(0)
        state = self._markets[market_id]
        mark = state.mark or ledger.entry_price_units(position, state.market)
        return ledger.unrealized_pnl(position, state.market, mark)

    def equity(self, account_index: int) -> Decimal:
        """Collateral plus unrealised PnL."""
        account = self._accounts[account_index]
        upnl = sum(
            (self.unrealized_pnl(account_index, market_id) for market_id in account.positions),
            Decimal(0),
        )
        return account.collateral + upnl

    def initial_margin(self, account_index: int) -> Decimal:
        """The initial margin the account's positions and open orders need."""
        return margin.needed(
            self._accounts[account_index], self._orders.of_account(account_index), self._markets
        )

    def available_balance(self, account_index: int) -> Decimal:
        """Equity minus the initial margin in use."""
        return self.equity(account_index) - self.initial_margin(account_index)

    # --- writing -------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def apply(self, tx_type: int, tx_info: Mapping[str, object]) -> Applied:
        """Check account, API key and nonce, then create/cancel/modify/cancel-all/grouped.

        Raises `TxRejected` (nothing changed, nonce not consumed) or returns what it did.
        """
        handler = self._handlers().get(tx_type)
        if handler is None:
            raise rejected(errors.UNSUPPORTED_TX_TYPE, f"tx type {tx_type}")
        self.expire()
        sender = txinfo.sender(tx_info)
        account = self._check_sender(sender)
        self._begin()
        try:
            handler(account, tx_info, sender.nonce)
        except TxRejected:
            self._abandon()
            raise
        account.nonces[sender.api_key_index] = sender.nonce + 1
        self._check_all_triggers()
        return self._finish(_tx_hash(tx_type, tx_info))

    def apply_batch(
        self, txs: Sequence[tuple[int, Mapping[str, object]]]
    ) -> list[Applied | TxRejected]:
        """A batch from one account and API key, applied in order; each one's outcome."""
        if len(txs) > MAX_BATCH:
            raise rejected(errors.MAX_BATCH, f"{len(txs)} transactions")
        senders = {
            (txinfo.field(info, "AccountIndex"), txinfo.field(info, "ApiKeyIndex"))
            for _, info in txs
        }
        if len(senders) > 1:
            raise rejected(errors.BATCH_MULTIPLE_OWNER)
        outcomes: list[Applied | TxRejected] = []
        for tx_type, info in txs:
            try:
                outcomes.append(self.apply(tx_type, info))
            except TxRejected as refusal:
                outcomes.append(refusal)
        return outcomes

    def move_market(self, market_id: int, price: int) -> list[SimTrade]:
        """The replay's next price: re-quote the synthetic liquidity around it, trading any
        resting orders it crosses, and fire the stop-loss / take-profit triggers it reaches."""
        if price < 1:
            raise ValueError(f"a market price is at least 1 unit, not {price}")
        state = self._markets[market_id]
        self.expire()
        self._begin()
        state.mark = price
        state.ladder_bids.clear()
        state.ladder_asks.clear()
        self._fill_crossed(state, price)
        state.requote(
            price,
            levels=self._ladder_levels,
            step_bps=self._ladder_step_bps,
            level_notional=self._ladder_level_notional,
            next_index=self._order_id,
        )
        self._check_triggers(state)
        self._emit("order_book", market_id)
        return list(self._finish("").trades)

    def record_print(self, market_id: int, price: int, size: int, is_ask: bool) -> SimTrade:
        """A trade of the replayed market itself (no trader on either side), so that the trade
        stream carries the candle's volume."""
        state = self._markets[market_id]
        trade = SimTrade(
            trade_id=self._trade_id(),
            market_id=market_id,
            price=price,
            size=size,
            taker_account=MARKET_MAKER_ACCOUNT,
            maker_account=MARKET_MAKER_ACCOUNT,
            taker_order_index=0,
            maker_order_index=0,
            taker_is_ask=is_ask,
            taker_fee=Decimal(0),
            maker_fee=Decimal(0),
            timestamp_ms=self.sim_time_ms(),
        )
        state.trades.append(trade)
        self._begin()
        self._emit("trade", market_id)
        self._finish("")
        return trade

    def apply_funding(self, market_id: int, rate: Decimal) -> None:
        """Pay position notional (at the mark) x `rate` from longs to shorts (shorts to longs
        when negative), into each holder's collateral."""
        state = self._markets[market_id]
        self._begin()
        for account in self._accounts.values():
            position = account.positions.get(market_id)
            if position is None or position.size == 0:
                continue
            mark = state.mark or ledger.entry_price_units(position, state.market)
            payment = ledger.funding_payment(position, state.market, mark, rate)
            position.funding_paid += payment
            account.collateral -= payment
            self._emit("account", account.index)
        self._finish("")

    def reset_account(self, account_index: int) -> None:
        """The exchange loses what it knew of an account: its orders (active and past), its
        positions and its trades are gone and its collateral is its first deposit again. Its
        nonces stay, so its signers carry on. For tests of a bot facing a venue that lost its
        state."""
        account = self._accounts[account_index]
        if account_index == MARKET_MAKER_ACCOUNT:
            raise ValueError(f"account {MARKET_MAKER_ACCOUNT} is the sim's market maker")
        self._begin()
        self._cancel_everything(account, None)
        self._orders.forget(account_index)
        account.positions.clear()
        account.collateral = self._deposits[account_index]
        account.scheduled_cancel_all_ms = 0
        self._account_trades.pop(account_index, None)
        self._emit("account", account_index)
        self._finish("")

    def expire(self) -> None:
        """Cancel the orders whose expiry has passed and run due scheduled cancel-alls (this
        also happens before every transaction and market move)."""
        self._begin()
        self._housekeeping()
        self._finish("")

    # --- sender checks -------------------------------------------------------------------
    def _handlers(self) -> dict[int, Callable[[SimAccount, Mapping[str, object], int], None]]:
        return {
            TX_CREATE_ORDER: self._create_order,
            TX_CANCEL_ORDER: self._cancel_order,
            TX_CANCEL_ALL_ORDERS: self._cancel_all,
            TX_MODIFY_ORDER: self._modify_order,
            TX_CREATE_GROUPED_ORDERS: self._create_group,
        }

    def _check_sender(self, sender: txinfo.Sender) -> SimAccount:
        account = self._accounts.get(sender.account_index)
        if account is None:
            raise rejected(errors.ACCOUNT_NOT_FOUND, f"account {sender.account_index}")
        if account.index == MARKET_MAKER_ACCOUNT:
            raise rejected(errors.INVALID_ACCOUNT, "account 0 is the sim's market maker")
        keys = account.api_key_indexes
        key = sender.api_key_index
        if not 0 <= key <= txinfo.MAX_API_KEY_INDEX or (keys is not None and key not in keys):
            raise rejected(errors.API_KEY_NOT_FOUND, f"api key {key} of account {account.index}")
        expected = account.nonces.get(key, 0)
        if sender.nonce != expected:
            raise rejected(errors.INVALID_NONCE, f"expected {expected}, got {sender.nonce}")
        now = self._now()
        if sender.expired_at_ms < now:
            raise rejected(
                errors.INVALID_TX_INFO, f"ExpiredAt {sender.expired_at_ms} is before now {now}"
            )
        return account

    # --- transactions --------------------------------------------------------------------
    def _create_order(self, account: SimAccount, info: Mapping[str, object], nonce: int) -> None:
        request = txinfo.order_request(info)
        state = self._state(request.market_index)
        self._check_order(account, state, request)
        order = self._new_order(account, request, nonce)
        if not self._margin_ok(account, state, (order,)):
            self._refuse_or_cancel_for_margin(state, order)
            return
        self._admit(state, order)

    def _create_group(self, account: SimAccount, info: Mapping[str, object], nonce: int) -> None:
        group = txinfo.group_request(info)
        state = self._state(group.orders[0].market_index)
        for position, request in enumerate(group.orders):
            sized_by_parent = group.grouping_type != ONE_CANCELS_THE_OTHER and position > 0
            self._check_order(account, state, request, sized_by_parent=sized_by_parent)
        if len({r.client_order_index for r in group.orders if r.client_order_index}) < sum(
            1 for r in group.orders if r.client_order_index
        ):
            raise rejected(errors.CLIENT_ORDER_INDEX_EXISTS, "twice in one group")
        orders = [self._new_order(account, request, nonce) for request in group.orders]
        if group.grouping_type == ONE_CANCELS_THE_OTHER:
            first, second = orders
            first.to_cancel, second.to_cancel = second.order_index, first.order_index
            if not self._margin_ok(account, state, orders):
                raise rejected(errors.NOT_ENOUGH_MARGIN, "for the OCO pair")
            self._admit(state, first)
            if first.trigger_status == "triggered" or first.filled_base_amount:
                self._record_inactive(second, "canceled-oco")
            else:
                self._admit(state, second)
            return
        parent, *children = orders
        parent.to_trigger = tuple(child.order_index for child in children)
        for child in children:
            child.parent_order_index = parent.order_index
            child.status = "pending"
            child.trigger_status = "parent-order"
        if group.grouping_type == ONE_TRIGGERS_A_ONE_CANCELS_THE_OTHER:
            stop, target = children
            stop.to_cancel, target.to_cancel = target.order_index, stop.order_index
        if not self._margin_ok(account, state, (parent,)):
            taker = self._is_taker(state, parent)
            self._refuse_or_cancel_for_margin(state, parent)
            if taker:
                for child in children:
                    self._record_inactive(child, "canceled-child")
            return
        for child in children:
            self._register(child)
        self._admit(state, parent)

    def _cancel_order(self, account: SimAccount, info: Mapping[str, object], nonce: int) -> None:
        request = txinfo.cancel_request(info)
        self._state(request.market_index)
        order = self._find_order(account, request.market_index, request.index)
        self._retire(order, "canceled")

    def _modify_order(self, account: SimAccount, info: Mapping[str, object], nonce: int) -> None:
        request = txinfo.modify_request(info)
        state = self._state(request.market_index)
        order = self._find_order(account, request.market_index, request.index)
        if request.order_version is not None and request.order_version != order.version:
            raise rejected(
                errors.INVALID_ORDER_INFO,
                f"order version {request.order_version} is not order {order.order_index}'s "
                f"current version {order.version}: it changed since (a fill or a modify)",
            )
        waiting_for_parent = order.trigger_status == "parent-order"
        size = order.remaining_base_amount if waiting_for_parent else request.base_amount
        if order.order_type in TRIGGER_TYPES and request.trigger_price < 1:
            raise rejected(errors.INVALID_TRIGGER_PRICE, "a stop or target needs a trigger price")
        if not waiting_for_parent:
            self._check_size(state.market, size, request.price)
        changed = dataclasses.replace(order)
        changed.price = request.price
        changed.trigger_price = request.trigger_price if order.order_type in TRIGGER_TYPES else 0
        changed.remaining_base_amount = size
        changed.initial_base_amount = order.filled_base_amount + size
        if not self._margin_ok(account, state, (changed,), replacing=order):
            raise rejected(errors.NOT_ENOUGH_MARGIN, "for the modified order")
        if order.status == "open":
            state.book(order.is_ask).remove(order)
            self._unregister(order)
        order.price = changed.price
        order.trigger_price = changed.trigger_price
        order.remaining_base_amount = changed.remaining_base_amount
        order.initial_base_amount = changed.initial_base_amount
        order.nonce = nonce
        order.updated_ms = self.sim_time_ms()
        self._changed(order)
        self._emit("account", account.index)
        if order.status == "open":
            self._emit("order_book", state.market.market_id)
            self._execute(state, order)

    def _cancel_all(self, account: SimAccount, info: Mapping[str, object], nonce: int) -> None:
        request = txinfo.cancel_all_request(info)
        if request.market_index is not None:
            self._state(request.market_index)
        if request.time_in_force == CANCEL_ALL_IMMEDIATE:
            self._cancel_everything(account, request.market_index)
        elif request.time_in_force == CANCEL_ALL_ABORT:
            account.scheduled_cancel_all_ms = 0
        else:
            if request.time_ms <= self._now():
                raise rejected(errors.INVALID_CANCEL_ALL_TIME, "a scheduled time is in the future")
            account.scheduled_cancel_all_ms = request.time_ms
        self._emit("account", account.index)

    # --- order checks --------------------------------------------------------------------
    def _state(self, market_id: int) -> MarketBook:
        state = self._markets.get(market_id)
        if state is None:
            raise rejected(errors.INVALID_MARKET_INDEX, f"no market {market_id}")
        return state

    def _check_order(
        self,
        account: SimAccount,
        state: MarketBook,
        request: txinfo.OrderRequest,
        *,
        sized_by_parent: bool = False,
    ) -> None:
        if not sized_by_parent:
            self._check_size(state.market, request.base_amount, request.price)
        taken = self._orders.client_order_taken(account.index, request.client_order_index)
        if request.client_order_index and taken:
            raise rejected(errors.CLIENT_ORDER_INDEX_EXISTS, f"{request.client_order_index}")
        expiry = request.order_expiry_ms
        if margin.rests(request.order_type, request.time_in_force) and 0 < expiry <= self._now():
            raise rejected(errors.INVALID_ORDER_EXPIRY, f"OrderExpiry {request.order_expiry_ms}")

    def _check_size(self, market: SimMarket, size: int, price: int) -> None:
        if size < market.min_base_amount:
            raise rejected(
                errors.INVALID_ORDER_AMOUNT,
                f"size {size} is below the market's minimum {market.min_base_amount}",
            )
        notional = market.notional(size, price)
        if notional < market.min_quote_amount:
            raise rejected(
                errors.INVALID_ORDER_AMOUNT,
                f"notional {notional} is below the market's minimum {market.min_quote_amount}",
            )

    def _find_order(self, account: SimAccount, market_id: int, index: int) -> SimOrder:
        order = self._orders.find(account.index, index)
        if order is None or order.market_id != market_id:
            raise rejected(errors.INACTIVE_CANCEL, f"no active order {index} in market {market_id}")
        return order

    def _new_order(self, account: SimAccount, request: txinfo.OrderRequest, nonce: int) -> SimOrder:
        now = self.sim_time_ms()
        index = self._next_order_index
        self._next_order_index += 1
        resting = margin.rests(request.order_type, request.time_in_force)
        return SimOrder(
            order_index=index,
            client_order_index=request.client_order_index,
            market_id=request.market_index,
            account_index=account.index,
            is_ask=request.is_ask,
            order_type=request.order_type,
            time_in_force=request.time_in_force,
            reduce_only=request.reduce_only,
            price=request.price,
            trigger_price=request.trigger_price,
            initial_base_amount=request.base_amount,
            remaining_base_amount=request.base_amount,
            order_expiry_ms=request.order_expiry_ms if resting else 0,
            nonce=nonce,
            created_ms=now,
            updated_ms=now,
        )

    # --- margin --------------------------------------------------------------------------
    def _margin_ok(
        self,
        account: SimAccount,
        book: MarketBook,
        orders: Sequence[SimOrder],
        *,
        replacing: SimOrder | None = None,
    ) -> bool:
        return margin.fits(
            account,
            self.equity(account.index),
            self._orders.of_account(account.index),
            self._markets,
            book,
            orders,
            replacing=replacing,
        )

    def _is_taker(self, state: MarketBook, order: SimOrder) -> bool:
        if order.order_type in TRIGGER_TYPES:
            return False
        if order.order_type == MARKET or order.time_in_force == IMMEDIATE_OR_CANCEL:
            return True
        return state.crosses(order)

    def _refuse_or_cancel_for_margin(self, state: MarketBook, order: SimOrder) -> None:
        if not self._is_taker(state, order):
            raise rejected(errors.NOT_ENOUGH_MARGIN, f"order of {order.initial_base_amount}")
        self._record_inactive(order, "canceled-margin-not-allowed")

    # --- order life ----------------------------------------------------------------------
    def _admit(self, state: MarketBook, order: SimOrder) -> None:
        """A new order enters: a stop or target waits for the mark, anything else executes."""
        if order.order_type in TRIGGER_TYPES:
            order.status = "pending"
            order.trigger_status = "mark-price"
            self._register(order)
            state.pending[order.order_index] = order
            self._emit("account", order.account_index)
            return
        self._execute(state, order)

    def _execute(self, state: MarketBook, order: SimOrder) -> None:
        """Match `order` on arrival (or on trigger, or after a modify), then rest or cancel the
        rest by its time in force."""
        self._touch(order)
        self._emit("account", order.account_index)
        if order.reduce_only:
            reducible = _reducible(self._accounts[order.account_index], order)
            if reducible == 0:
                self._retire(order, "canceled-reduce-only")
                return
            if order.remaining_base_amount > reducible:
                order.remaining_base_amount = reducible
                order.initial_base_amount = order.filled_base_amount + reducible
                self._changed(order)
        post_only = order.time_in_force == POST_ONLY and order.order_type not in MARKET_LIKE
        if post_only and self._is_taker(state, order):
            self._retire(order, "canceled-post-only")
            return
        stop = self._match(state, order)
        if order.remaining_base_amount == 0:
            self._retire(order, "filled")
            return
        if order.order_type in MARKET_LIKE or order.time_in_force == IMMEDIATE_OR_CANCEL:
            self._retire(order, stop)
            return
        order.status = "open"
        state.book(order.is_ask).add(order)
        self._register(order)
        self._emit("order_book", state.market.market_id)

    def _match(self, state: MarketBook, taker: SimOrder) -> OrderStatus:
        """Trade `taker` against the book and ladder until filled or out of acceptable liquidity;
        the status an IOC rest would be cancelled with."""
        book = state.book(not taker.is_ask)
        ladder = state.ladder(not taker.is_ask)
        market_like = taker.order_type in MARKET_LIKE
        while taker.remaining_base_amount > 0:
            trader_price = book.best()
            level = ladder.best()
            if trader_price is not None and (
                level is None or better_or_equal(trader_price, level.price, book.is_ask)
            ):
                if not acceptable(taker, trader_price):
                    return "canceled-too-much-slippage" if market_like else "canceled"
                self._take_from_book(state, taker, book.first(trader_price))
            elif level is not None:
                if not acceptable(taker, level.price):
                    return "canceled-too-much-slippage" if market_like else "canceled"
                size = min(taker.remaining_base_amount, level.size)
                level.size -= size
                self._trade(state, taker, None, MARKET_MAKER_ACCOUNT, level.price, size, level)
            else:
                return "canceled-not-enough-liquidity" if market_like else "canceled"
        return "filled"

    def _take_from_book(self, state: MarketBook, taker: SimOrder, maker: SimOrder) -> None:
        if maker.account_index == taker.account_index:
            self._retire(maker, "canceled-self-trade")
            return
        size = min(taker.remaining_base_amount, maker.remaining_base_amount)
        if maker.reduce_only:
            size = min(size, _reducible(self._accounts[maker.account_index], maker))
            if size == 0:
                self._retire(maker, "canceled-reduce-only")
                return
        self._trade(state, taker, maker, maker.account_index, maker.price, size)

    def _fill_crossed(self, state: MarketBook, price: int) -> None:
        """The market moved to `price`: resting orders at or through it trade with the market
        maker at their own price."""
        for book in (state.bids, state.asks):
            while (best := book.best()) is not None and (
                best <= price if book.is_ask else best >= price
            ):
                maker = book.first(best)
                size = maker.remaining_base_amount
                if maker.reduce_only:
                    size = min(size, _reducible(self._accounts[maker.account_index], maker))
                    if size == 0:
                        self._retire(maker, "canceled-reduce-only")
                        continue
                taker = _market_maker_taker(state.market.market_id, not book.is_ask, best, size)
                self._trade(state, taker, maker, maker.account_index, best, size)

    def _trade(
        self,
        state: MarketBook,
        taker: SimOrder,
        maker: SimOrder | None,
        maker_account: int,
        price: int,
        size: int,
        level: LadderLevel | None = None,
    ) -> None:
        market = state.market
        taker_fill = ledger.apply_fill(
            self._accounts[taker.account_index],
            market,
            not taker.is_ask,
            size,
            price,
            market.taker_fee,
        )
        maker_fill = ledger.apply_fill(
            self._accounts[maker_account], market, taker.is_ask, size, price, market.maker_fee
        )
        quote = market.notional(size, price)
        for order in (taker, maker):
            if order is None or order.order_index == 0:
                continue
            order.filled_base_amount += size
            order.filled_quote_amount += quote
            order.remaining_base_amount -= size
            order.updated_ms = self.sim_time_ms()
            self._changed(order)
        if maker_account == MARKET_MAKER_ACCOUNT and level is not None:
            maker_index, maker_client = level.order_index, 0
        else:
            assert maker is not None
            maker_index, maker_client = maker.order_index, maker.client_order_index
        trade = SimTrade(
            trade_id=self._trade_id(),
            market_id=market.market_id,
            price=price,
            size=size,
            taker_account=taker.account_index,
            maker_account=maker_account,
            taker_order_index=taker.order_index,
            maker_order_index=maker_index,
            taker_is_ask=taker.is_ask,
            taker_fee=taker_fill.fee,
            maker_fee=maker_fill.fee,
            timestamp_ms=self.sim_time_ms(),
            taker_client_order_index=taker.client_order_index,
            maker_client_order_index=maker_client,
            taker_realized_pnl=taker_fill.realized_pnl,
            maker_realized_pnl=maker_fill.realized_pnl,
        )
        state.trades.append(trade)
        self._new_trades.append(trade)
        for account_index in (taker.account_index, maker_account):
            if account_index != MARKET_MAKER_ACCOUNT:
                trades = self._account_trades.setdefault(account_index, deque(maxlen=self._history))
                trades.append(trade)
                self._emit("account", account_index)
        self._emit("trade", market.market_id)
        self._emit("order_book", market.market_id)
        if maker is not None and maker.order_index and maker.remaining_base_amount == 0:
            self._retire(maker, "filled")
        for order in (taker, maker):
            if order is not None and order.order_index:
                self._after_fill(state, order, size)
        for account_index in (taker.account_index, maker_account):
            if account_index != MARKET_MAKER_ACCOUNT:
                self._enforce_reduce_only(state, self._accounts[account_index])

    def _after_fill(self, state: MarketBook, order: SimOrder, size: int) -> None:
        """Grouped orders: a parent's fill sizes and arms its children; an OCO leg's fill
        cancels the other leg."""
        for child_index in order.to_trigger:
            child = self._orders.get(child_index)
            if child is None:
                continue
            child.initial_base_amount += size
            child.remaining_base_amount += size
            child.updated_ms = self.sim_time_ms()
            if child.trigger_status == "parent-order":
                child.trigger_status = "mark-price"
                state.pending[child.order_index] = child
            self._changed(child)
        if order.to_cancel:
            sibling = self._orders.get(order.to_cancel)
            order.to_cancel = 0
            if sibling is not None:
                sibling.to_cancel = 0
                self._retire(sibling, "canceled-oco")

    def _enforce_reduce_only(self, state: MarketBook, account: SimAccount) -> None:
        """After a fill, reduce-only orders that can no longer reduce are cancelled, and those
        larger than the position are cut to it."""
        for order in self._orders.of_account(account.index):
            if not order.reduce_only or order.market_id != state.market.market_id:
                continue
            if order.trigger_status == "parent-order":
                continue
            reducible = _reducible(account, order)
            if reducible == 0:
                self._retire(order, "canceled-reduce-only")
            elif order.remaining_base_amount > reducible:
                order.remaining_base_amount = reducible
                order.initial_base_amount = order.filled_base_amount + reducible
                self._changed(order)

    def _check_triggers(self, state: MarketBook) -> None:
        """Fire the waiting stops and targets the mark has reached, oldest first, until none."""
        if not state.mark:
            return
        while True:
            due = [o for o in state.pending.values() if _triggered(o, state.mark)]
            if not due:
                return
            self._fire(state, min(due, key=lambda o: o.order_index))

    def _check_all_triggers(self) -> None:
        for state in self._markets.values():
            if state.pending:
                self._check_triggers(state)

    def _fire(self, state: MarketBook, order: SimOrder) -> None:
        del state.pending[order.order_index]
        order.trigger_status = "triggered"
        order.triggered_ms = self.sim_time_ms()
        order.status = "open"
        order.version += 1
        if order.to_cancel:
            sibling = self._orders.get(order.to_cancel)
            order.to_cancel = 0
            if sibling is not None:
                sibling.to_cancel = 0
                self._retire(sibling, "canceled-oco")
        self._unregister(order)
        self._execute(state, order)

    def _cancel_everything(self, account: SimAccount, market_id: int | None) -> None:
        for order in self._orders.of_account(account.index):
            if market_id is None or order.market_id == market_id:
                self._retire(order, "canceled")

    def _housekeeping(self) -> None:
        now = self._now()
        for order in self._orders.expired(now):
            self._retire(order, "canceled-expired")
        for account in self._accounts.values():
            due = account.scheduled_cancel_all_ms
            if due and due <= now:
                account.scheduled_cancel_all_ms = 0
                self._cancel_everything(account, None)
                self._emit("account", account.index)

    # --- bookkeeping ---------------------------------------------------------------------
    def _register(self, order: SimOrder) -> None:
        self._orders.register(order)
        self._touch(order)

    def _unregister(self, order: SimOrder) -> None:
        """Forget an active order's indexes (it is registered again if it rests again)."""
        self._orders.unregister(order)

    def _retire(self, order: SimOrder, status: OrderStatus) -> None:
        """An order leaves the book for good: filled or cancelled (with its children, when it
        is a parent that never filled). Retiring an order that is already done does nothing."""
        if order.status not in ACTIVE_STATUSES:
            return
        state = self._markets[order.market_id]
        if order.status == "open" and self._orders.is_active(order.order_index):
            state.book(order.is_ask).remove(order)
            self._emit("order_book", order.market_id)
        state.pending.pop(order.order_index, None)
        self._unregister(order)
        self._record_inactive(order, status)
        if order.filled_base_amount == 0:
            for child_index in order.to_trigger:
                child = self._orders.get(child_index)
                if child is not None:
                    self._retire(child, "canceled-child")
        if order.to_cancel:
            sibling = self._orders.get(order.to_cancel)
            if sibling is not None:
                sibling.to_cancel = 0

    def _record_inactive(self, order: SimOrder, status: OrderStatus) -> None:
        order.status = status
        order.updated_ms = self.sim_time_ms()
        self._orders.remember(order)
        self._touch(order)
        self._emit("account", order.account_index)

    def _touch(self, order: SimOrder) -> None:
        self._touched[order.order_index] = order

    def _changed(self, order: SimOrder) -> None:
        """The order's size, price or trigger changed: a new version of it."""
        order.version += 1
        self._touch(order)

    def _order_id(self) -> int:
        index = self._next_order_index
        self._next_order_index += 1
        return index

    def _trade_id(self) -> int:
        trade_id = self._next_trade_id
        self._next_trade_id += 1
        return trade_id

    def _emit(self, kind: str, ident: int) -> None:
        if kind == "account" and ident == MARKET_MAKER_ACCOUNT:
            return
        self._events[(kind, ident)] = None

    def _begin(self) -> None:
        self._touched = {}
        self._new_trades = []

    def _abandon(self) -> None:
        self._touched = {}
        self._new_trades = []
        self._events = {}

    def _finish(self, tx_hash: str) -> Applied:
        applied = Applied(tx_hash, tuple(self._touched.values()), tuple(self._new_trades))
        events = list(self._events)
        self._abandon()
        for kind, ident in events:
            for listener in list(self._listeners):
                try:
                    listener(kind, ident)
                except Exception:
                    log.exception("a sim exchange listener failed on %s %s", kind, ident)
        return applied


def _triggered(order: SimOrder, mark: int) -> bool:
    stop = order.order_type in (STOP_LOSS, STOP_LOSS_LIMIT)
    falling_fires = order.is_ask == stop  # a sell stop or a buy target fires on the way down
    return mark <= order.trigger_price if falling_fires else mark >= order.trigger_price


def _reducible(account: SimAccount, order: SimOrder) -> int:
    position = account.positions.get(order.market_id)
    size = position.size if position else 0
    if order.is_ask:
        return max(size, 0)
    return max(-size, 0)


def _market_maker_taker(market_id: int, is_ask: bool, price: int, size: int) -> SimOrder:
    """The market maker's side of a fill against a resting order the market moved through."""
    return SimOrder(
        order_index=0,
        client_order_index=0,
        market_id=market_id,
        account_index=MARKET_MAKER_ACCOUNT,
        is_ask=is_ask,
        order_type=MARKET,
        time_in_force=IMMEDIATE_OR_CANCEL,
        reduce_only=False,
        price=price,
        trigger_price=0,
        initial_base_amount=size,
        remaining_base_amount=size,
    )


def _tx_hash(tx_type: int, tx_info: Mapping[str, object]) -> str:
    canonical = json.dumps([tx_type, tx_info], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(canonical.encode(), digest_size=40).hexdigest()

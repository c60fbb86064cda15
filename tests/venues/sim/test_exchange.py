"""The sim exchange driven by transactions signed with lighter-sdk's real signer.

One market like Lighter's ETH (size decimals 4, price decimals 2): 1 ETH is 10_000 size units
and 3,000.00 USDC is 300_000 price units. The market maker's ladder around 3,000.00 has levels
150 units (0.05%) apart, each 833_334 units (about 250,000 USDC) deep.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from lighter.signer_client import CreateOrderTxReq, SignerClient, create_api_key

from rulebot.venues.sim.exchange import (
    MARKET_MAKER_ACCOUNT,
    AccountSettings,
    Applied,
    BookLevel,
    Exchange,
    SimMarket,
    SimOrder,
    TxRejected,
)

LIMIT, MARKET = SignerClient.ORDER_TYPE_LIMIT, SignerClient.ORDER_TYPE_MARKET
STOP_LOSS, STOP_LOSS_LIMIT = (
    SignerClient.ORDER_TYPE_STOP_LOSS,
    SignerClient.ORDER_TYPE_STOP_LOSS_LIMIT,
)
TAKE_PROFIT = SignerClient.ORDER_TYPE_TAKE_PROFIT
TAKE_PROFIT_LIMIT = SignerClient.ORDER_TYPE_TAKE_PROFIT_LIMIT
IOC = SignerClient.ORDER_TIME_IN_FORCE_IMMEDIATE_OR_CANCEL
GTT = SignerClient.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME
POST_ONLY = SignerClient.ORDER_TIME_IN_FORCE_POST_ONLY
KEY = 3
ETH = 10_000  # size units in 1 ETH
TRADER_COLLATERAL = Decimal(100_000)  # USDC: room for a whole level of the ladder at 10x
MARK = 300_000  # 3,000.00
STEP = 150  # the ladder's spacing at MARK
LEVEL = 833_334  # size of each ladder level at MARK
URL = "http://127.0.0.1:9"  # never contacted: signing is local

ETH_MARKET = SimMarket(
    market_id=0,
    symbol="ETH",
    size_decimals=4,
    price_decimals=2,
    min_base_amount=50,
    min_quote_amount=Decimal(10),
    taker_fee=Decimal("0.00028"),
    maker_fee=Decimal("0.00004"),
    initial_margin_fraction=1000,
    maintenance_margin_fraction=500,
)
BTC_MARKET = SimMarket(
    1, "BTC", 5, 1, 20, Decimal(10), Decimal("0.00028"), Decimal("0.00004"), 500, 250
)


class Clock:
    """The exchange's wall clock: real time, moved on by hand."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def __call__(self) -> int:
        return int(time.time() * 1000) + self.offset_ms


@dataclass
class Trader:
    """One account's signer and its next nonce for API key `KEY`."""

    client: SignerClient
    exchange: Exchange
    nonce: int = 0
    key: int = KEY

    def send(self, signed: tuple[Any, ...], **changes: Any) -> Applied:
        tx_type, info = self.decoded(signed, **changes)
        applied = self.exchange.apply(tx_type, info)
        self.nonce += 1
        return applied

    def decoded(self, signed: tuple[Any, ...], **changes: Any) -> tuple[int, dict[str, Any]]:
        tx_type, tx_info, _, error = signed
        assert error is None, error
        return tx_type, {**json.loads(tx_info), **changes}

    def sign_order(
        self,
        size: int,
        price: int,
        *,
        ask: bool = False,
        coi: int = 0,
        market: int = 0,
        type_: int = LIMIT,
        tif: int = GTT,
        reduce_only: bool = False,
        trigger: int = 0,
        expiry: int | None = None,
        nonce: int | None = None,
    ) -> tuple[Any, ...]:
        if expiry is None:  # the signer wants none on an IOC order, and 28 days on the others
            expiry = 0 if tif == IOC and type_ in (LIMIT, MARKET) else -1
        return self.client.sign_create_order(
            market,
            coi,
            size,
            price,
            ask,
            type_,
            tif,
            reduce_only,
            trigger,
            expiry,
            nonce=self.nonce if nonce is None else nonce,
            api_key_index=self.key,
        )

    def order(self, size: int, price: int, **kwargs: Any) -> Applied:
        return self.send(self.sign_order(size, price, **kwargs))

    def market(self, size: int, worst: int, *, ask: bool = False, **kwargs: Any) -> Applied:
        return self.order(size, worst, ask=ask, type_=MARKET, tif=IOC, expiry=0, **kwargs)

    def cancel(self, index: int, market: int = 0) -> Applied:
        return self.send(
            self.client.sign_cancel_order(market, index, nonce=self.nonce, api_key_index=self.key)
        )

    def cancel_all(self, tif: int = 0, at_ms: int = 0, market: int = 255) -> Applied:
        signed = self.client.sign_cancel_all_orders(
            tif, at_ms, market, nonce=self.nonce, api_key_index=self.key
        )
        return self.send(signed)

    def modify(self, index: int, size: int, price: int, trigger: int = 0) -> Applied:
        signed = self.client.sign_modify_order(
            0, index, size, price, trigger, nonce=self.nonce, api_key_index=self.key
        )
        return self.send(signed)

    def sign_group(self, grouping: int, orders: list[CreateOrderTxReq]) -> tuple[Any, ...]:
        return self.client.sign_create_grouped_orders(
            grouping, orders, nonce=self.nonce, api_key_index=self.key
        )

    def group(self, grouping: int, orders: list[CreateOrderTxReq]) -> Applied:
        return self.send(self.sign_group(grouping, orders))


# The signer refuses a group whose OCO legs (or OTOCO children) differ in expiry, so every
# grouped order takes this one: an expiry read from the clock per order differs whenever a
# millisecond passes between two reads, and -1 is resolved per order by the signer alike.
GROUP_EXPIRY_MS = int(time.time() * 1000) + 27 * 86_400_000


def req(
    size: int,
    price: int,
    *,
    ask: bool,
    type_: int = LIMIT,
    tif: int = GTT,
    reduce_only: bool = False,
    trigger: int = 0,
    coi: int = 0,
) -> CreateOrderTxReq:
    """One order of a grouped-orders transaction."""
    return CreateOrderTxReq(
        MarketIndex=0,
        ClientOrderIndex=coi,
        BaseAmount=size,
        Price=price,
        IsAsk=int(ask),
        Type=type_,
        TimeInForce=tif,
        ReduceOnly=int(reduce_only),
        TriggerPrice=trigger,
        OrderExpiry=0 if tif == IOC and type_ in (LIMIT, MARKET) else GROUP_EXPIRY_MS,
    )


def stop_and_target() -> list[CreateOrderTxReq]:
    """The stop (at 290,000) and target (at 320,000) attached to a long parent, sized by it."""
    return [
        req(0, 280_000, ask=True, type_=STOP_LOSS, tif=IOC, trigger=290_000, reduce_only=True),
        req(0, 320_000, ask=True, type_=TAKE_PROFIT, tif=IOC, trigger=320_000, reduce_only=True),
    ]


def oco_exits() -> list[CreateOrderTxReq]:
    """A long ETH's stop (at 290,000) and limit target (at 310,000), one canceling the other."""
    return [
        req(ETH, 280_000, ask=True, type_=STOP_LOSS, tif=IOC, trigger=290_000, reduce_only=True),
        req(ETH, 310_000, ask=True, type_=TAKE_PROFIT_LIMIT, trigger=310_000, reduce_only=True),
    ]


@dataclass
class Venue:
    exchange: Exchange
    clock: Clock
    traders: dict[int, Trader]
    events: list[tuple[str, int]] = field(default_factory=list)

    @property
    def alice(self) -> Trader:
        return self.traders[1]

    @property
    def bob(self) -> Trader:
        return self.traders[2]

    def position(self, account: int, market: int = 0) -> int:
        found = self.exchange.account(account).positions.get(market)
        return found.size if found else 0


API_KEY = create_api_key()[0]


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    yield_venue, clients = make_venue()
    yield yield_venue
    for client in clients:
        await client.close()


def make_venue(**exchange_options: Any) -> tuple[Venue, list[SignerClient]]:
    clock = Clock()
    accounts = [
        AccountSettings(1, collateral=TRADER_COLLATERAL),
        AccountSettings(2, collateral=TRADER_COLLATERAL),
        AccountSettings(3, collateral=Decimal(1000), api_key_indexes=frozenset({KEY})),
    ]
    exchange = Exchange([ETH_MARKET, BTC_MARKET], accounts, clock, **exchange_options)
    clients = [SignerClient(URL, index, {KEY: API_KEY}) for index in (1, 2, 3, 7)]
    traders = {client.account_index: Trader(client, exchange) for client in clients}
    venue = Venue(exchange, clock, traders)
    exchange.move_market(0, MARK)
    exchange.move_market(1, 600_000)
    exchange.subscribe(lambda kind, ident: venue.events.append((kind, ident)))
    return venue, clients


def statuses(applied: Applied) -> dict[int, str]:
    return {order.order_index: order.status for order in applied.orders}


def only(applied: Applied) -> SimOrder:
    (order,) = applied.orders
    return order


def rejection(call: Callable[[], object]) -> TxRejected:
    with pytest.raises(TxRejected) as caught:
        call()
    return caught.value


# --- signed transactions in, resting orders and the book out -----------------------------


def test_a_limit_order_rests_and_shows_in_depth_and_book(venue: Venue) -> None:
    order = only(venue.alice.order(2 * ETH, 299_900, coi=11))
    assert (order.status, order.client_order_index, order.account_index) == ("open", 11, 1)
    assert (order.price, order.remaining_base_amount, order.is_ask) == (299_900, 2 * ETH, False)
    bids, asks = venue.exchange.depth(0, 3)
    assert bids == [
        BookLevel(299_900, 2 * ETH),
        BookLevel(MARK - STEP, LEVEL),
        BookLevel(MARK - 2 * STEP, LEVEL),
    ]
    assert asks[0] == BookLevel(MARK + STEP, LEVEL)
    book_bids, _ = venue.exchange.book_orders(0, 2)
    assert [o.account_index for o in book_bids] == [1, MARKET_MAKER_ACCOUNT]
    assert venue.exchange.active_orders(1, 0) == [order]
    assert ("order_book", 0) in venue.events and ("account", 1) in venue.events


def test_a_market_order_fills_at_the_ladder_with_exact_fees(venue: Venue) -> None:
    applied = venue.alice.market(ETH, 301_000, coi=5)
    (trade,) = applied.trades
    assert (trade.price, trade.size, trade.maker_account) == (
        MARK + STEP,
        ETH,
        MARKET_MAKER_ACCOUNT,
    )
    assert trade.taker_fee == Decimal("3001.50") * Decimal("0.00028") == Decimal("0.840420")
    assert only(applied).status == "filled"
    position = venue.exchange.account(1).positions[0]
    assert (position.size, position.entry_quote) == (ETH, Decimal("3001.50"))
    assert position.avg_entry_price == Decimal("3001.50")
    assert venue.exchange.account(1).collateral == Decimal("99999.159580")
    assert venue.position(MARKET_MAKER_ACCOUNT) == -ETH
    assert venue.exchange.recent_trades(0, 5) == [trade]
    assert venue.exchange.account_trades(1, 5) == [trade]


def test_a_taker_walks_trader_orders_then_ladder_levels_in_price_order(venue: Venue) -> None:
    bob_ask = only(venue.bob.order(ETH, 300_050, ask=True))
    applied = venue.alice.market(ETH + ETH // 2, 301_000)
    first, second = applied.trades
    assert (first.price, first.size, first.maker_account) == (300_050, ETH, 2)
    assert (second.price, second.size, second.maker_account) == (MARK + STEP, ETH // 2, 0)
    assert first.maker_fee == Decimal("3000.50") * Decimal("0.00004")
    assert statuses(applied)[bob_ask.order_index] == "filled"
    position = venue.exchange.account(1).positions[0]
    assert position.entry_quote == Decimal("3000.50") + Decimal("1500.75")
    assert venue.position(2) == -ETH


def test_resting_orders_fill_partially_in_time_priority(venue: Venue) -> None:
    first = only(venue.bob.order(ETH, 300_050, ask=True))
    second = only(venue.bob.order(ETH, 300_050, ask=True))
    applied = venue.alice.order(ETH + ETH // 4, 300_050, tif=IOC)
    assert [t.maker_order_index for t in applied.trades] == [first.order_index, second.order_index]
    left = venue.exchange.order(second.order_index)
    assert left is not None
    assert (left.status, left.filled_base_amount, left.remaining_base_amount) == (
        "open",
        ETH // 4,
        3 * ETH // 4,
    )
    assert left.filled_quote_amount == Decimal("750.125")


def test_an_ioc_limit_cancels_what_it_cannot_fill(venue: Venue) -> None:
    venue.bob.order(ETH, 300_050, ask=True)
    order = only_taker(venue.alice.order(2 * ETH, 300_100, tif=IOC), account=1)
    assert (order.status, order.filled_base_amount, order.remaining_base_amount) == (
        "canceled",
        ETH,
        ETH,
    )


def only_taker(applied: Applied, account: int) -> SimOrder:
    (order,) = [o for o in applied.orders if o.account_index == account]
    return order


def test_a_market_order_beyond_its_worst_price_stops_there(venue: Venue) -> None:
    order = only(venue.alice.market(ETH, MARK + STEP - 1))
    assert (order.status, order.filled_base_amount) == ("canceled-too-much-slippage", 0)
    assert venue.exchange.next_nonce(1, KEY) == 1  # accepted: the sequencer cancelled it


async def test_a_market_order_larger_than_the_whole_ladder_runs_out() -> None:
    shallow, clients = make_venue(ladder_levels=2, ladder_level_notional=Decimal(3000))
    order = only(shallow.alice.market(3 * ETH, 400_000))
    assert (order.status, order.filled_base_amount) == ("canceled-not-enough-liquidity", 2 * ETH)
    for client in clients:
        await client.close()


def test_post_only_rests_or_is_cancelled_if_it_would_cross(venue: Venue) -> None:
    crossing = only(venue.alice.order(ETH, MARK + STEP, tif=POST_ONLY))
    assert crossing.status == "canceled-post-only"
    resting = only(venue.alice.order(ETH, MARK + STEP - 1, tif=POST_ONLY))
    assert resting.status == "open"
    assert venue.exchange.next_nonce(1, KEY) == 2


def test_reduce_only_clips_to_the_position_or_cancels(venue: Venue) -> None:
    nothing = only(venue.alice.market(ETH, 299_000, ask=True, reduce_only=True))
    assert nothing.status == "canceled-reduce-only"
    venue.alice.market(ETH, 301_000)
    order = only(venue.alice.market(3 * ETH, 299_000, ask=True, reduce_only=True))
    assert (order.status, order.filled_base_amount) == ("filled", ETH)
    assert venue.position(1) == 0


def test_a_resting_reduce_only_order_is_cancelled_once_the_position_is_gone(venue: Venue) -> None:
    venue.alice.market(2 * ETH, 301_000)
    target = only(venue.alice.order(2 * ETH, 310_000, ask=True, reduce_only=True))
    venue.alice.market(ETH, 299_000, ask=True)
    assert venue.exchange.order(target.order_index).remaining_base_amount == ETH  # type: ignore[union-attr]
    applied = venue.alice.market(ETH, 299_000, ask=True)
    assert statuses(applied)[target.order_index] == "canceled-reduce-only"


def test_a_self_trade_cancels_the_resting_order(venue: Venue) -> None:
    own = only(venue.alice.order(ETH, 300_050, ask=True))
    applied = venue.alice.market(ETH, 301_000)
    assert statuses(applied)[own.order_index] == "canceled-self-trade"
    assert [t.maker_account for t in applied.trades] == [MARKET_MAKER_ACCOUNT]


# --- cancel, cancel-all, modify ------------------------------------------------------------


def test_cancel_by_order_index_or_client_order_index(venue: Venue) -> None:
    first = only(venue.alice.order(ETH, 299_000, coi=21))
    second = only(venue.alice.order(ETH, 298_000, coi=22))
    assert only(venue.alice.cancel(first.order_index)).status == "canceled"
    assert only(venue.alice.cancel(22)).order_index == second.order_index
    assert venue.exchange.active_orders(1, None) == []
    assert [o.order_index for o in venue.exchange.inactive_orders(1, 0, 10)] == [
        second.order_index,
        first.order_index,
    ]
    refused = rejection(lambda: venue.alice.cancel(first.order_index))
    assert (refused.code, refused.message) == (21600, "given order is not an active limit order")
    assert venue.exchange.next_nonce(1, KEY) == 4


def test_cancel_all_immediately_in_every_market_or_one(venue: Venue) -> None:
    venue.alice.order(ETH, 299_000)
    venue.alice.order(ETH, 298_000)
    btc = only(venue.alice.order(1_000, 590_000, market=1))
    venue.alice.cancel_all(market=0)
    assert venue.exchange.active_orders(1, None) == [btc]
    venue.alice.cancel_all()
    assert venue.exchange.active_orders(1, None) == []


def test_a_scheduled_cancel_all_runs_on_the_wall_clock_unless_aborted(venue: Venue) -> None:
    venue.alice.order(ETH, 299_000)
    venue.alice.cancel_all(tif=1, at_ms=venue.clock() + 60_000)
    venue.alice.cancel_all(tif=2)
    venue.clock.offset_ms += 120_000
    venue.exchange.expire()
    assert len(venue.exchange.active_orders(1, None)) == 1
    venue.alice.cancel_all(tif=1, at_ms=venue.clock() + 60_000)
    venue.clock.offset_ms += 120_000
    venue.exchange.expire()
    assert venue.exchange.active_orders(1, None) == []


def test_modify_changes_price_and_size_and_loses_time_priority(venue: Venue) -> None:
    first = only(venue.bob.order(ETH, 300_100, ask=True, coi=1))
    second = only(venue.bob.order(ETH, 300_050, ask=True, coi=2))
    modified = only(venue.bob.modify(first.order_index, 2 * ETH, 300_050))
    assert (modified.price, modified.remaining_base_amount, modified.status) == (
        300_050,
        2 * ETH,
        "open",
    )
    applied = venue.alice.order(ETH, 300_050, tif=IOC)
    assert [t.maker_order_index for t in applied.trades] == [second.order_index]


def test_modify_into_the_book_trades_as_a_taker(venue: Venue) -> None:
    order = only(venue.alice.order(ETH, 299_000, coi=3))
    applied = venue.alice.modify(3, ETH, MARK + STEP)
    assert [t.price for t in applied.trades] == [MARK + STEP]
    assert statuses(applied)[order.order_index] == "filled"


def test_modify_of_an_order_that_is_not_active_is_refused(venue: Venue) -> None:
    refused = rejection(lambda: venue.alice.modify(99, ETH, 299_000))
    assert refused.code == 21600


# --- the checks, in order, with Lighter's errors ---------------------------------------------


async def test_nonces_must_be_the_next_one_per_account_and_key(venue: Venue) -> None:
    venue.alice.order(ETH, 299_000)
    reused = rejection(lambda: venue.alice.order(ETH, 299_000, nonce=0))
    skipped = rejection(lambda: venue.alice.order(ETH, 299_000, nonce=5))
    for refused in (reused, skipped):
        assert refused.code == 21104 and "invalid nonce" in refused.message
    assert venue.exchange.next_nonce(1, KEY) == 1
    assert venue.exchange.next_nonce(2, KEY) == 0
    other_key = Trader(SignerClient(URL, 1, {7: API_KEY}), venue.exchange, key=7)
    other_key.order(ETH, 299_000)
    assert (venue.exchange.next_nonce(1, 7), venue.exchange.next_nonce(1, KEY)) == (1, 1)
    await other_key.client.close()


async def test_unknown_accounts_and_unaccepted_api_keys_are_refused(venue: Venue) -> None:
    unknown = rejection(lambda: venue.traders[7].order(ETH, 299_000))
    assert (unknown.code, unknown.message) == (21100, "account not found")
    limited = Trader(SignerClient(URL, 3, {4: API_KEY}), venue.exchange, key=4)
    refused = rejection(lambda: limited.order(ETH, 299_000))
    assert (refused.code, refused.message) == (21109, "api key not found")
    assert only(venue.traders[3].order(100, 299_000)).status == "open"
    await limited.client.close()


def test_an_expired_transaction_is_refused_by_the_wall_clock(venue: Venue) -> None:
    signed = venue.alice.sign_order(ETH, 299_000)
    venue.clock.offset_ms += 11 * 60_000  # the signer gives a transaction ten minutes
    refused = rejection(lambda: venue.alice.send(signed))
    assert (refused.code, refused.message) == (21501, "invalid tx info")
    assert venue.exchange.next_nonce(1, KEY) == 0


def test_checks_run_in_order_account_key_nonce_expiry_market_size(venue: Venue) -> None:
    wrong_market_and_nonce = venue.alice.sign_order(1, 299_000, market=9, nonce=3)
    assert rejection(lambda: venue.alice.send(wrong_market_and_nonce)).code == 21104
    wrong_market_and_size = venue.alice.sign_order(1, 299_000, market=9)
    assert rejection(lambda: venue.alice.send(wrong_market_and_size)).code == 21602


def test_orders_below_the_minimum_size_or_notional_are_refused(venue: Venue) -> None:
    too_small = rejection(lambda: venue.alice.order(49, 299_000))
    assert (too_small.code, too_small.message) == (21706, "invalid order base or quote amount")
    assert "minimum 50" in too_small.detail
    cheap = rejection(lambda: venue.alice.order(50, 100))  # 0.005 ETH at 1.00: 0.005 USDC
    assert cheap.code == 21706 and "notional" in cheap.detail
    assert venue.exchange.next_nonce(1, KEY) == 0


def test_a_price_of_zero_is_refused(venue: Venue) -> None:
    # the signer itself refuses price 0, so the signed order is altered after signing (the sim
    # does not verify signatures)
    refused = rejection(lambda: venue.alice.send(venue.alice.sign_order(ETH, 1), Price=0))
    assert (refused.code, refused.message) == (21702, "invalid price")


def test_a_client_order_index_is_unique_among_active_orders(venue: Venue) -> None:
    venue.alice.order(ETH, 299_000, coi=42)
    duplicate = rejection(lambda: venue.alice.order(ETH, 298_000, coi=42))
    assert (duplicate.code, duplicate.message) == (21728, "client order index already exists")
    venue.bob.order(ETH, 298_000, coi=42)  # another account's index space
    venue.alice.cancel(42)
    assert only(venue.alice.order(ETH, 298_000, coi=42)).status == "open"


def test_unsupported_transactions_and_order_types_are_refused(venue: Venue) -> None:
    assert rejection(lambda: venue.exchange.apply(20, {"AccountIndex": 1})).code == 21505
    twap = rejection(lambda: venue.alice.order(ETH, 299_000, type_=SignerClient.ORDER_TYPE_TWAP))
    assert twap.code == 21710


# --- margin ------------------------------------------------------------------------------


def test_a_resting_order_beyond_the_margin_is_refused_and_keeps_its_nonce(venue: Venue) -> None:
    refused = rejection(lambda: venue.alice.order(400 * ETH, 299_000))
    assert (refused.code, refused.message) == (21739, "not enough margin to create the order")
    assert venue.exchange.next_nonce(1, KEY) == 0
    venue.alice.order(300 * ETH, 299_000)  # 897,000 USDC: 89,700 of margin
    assert venue.exchange.initial_margin(1) == Decimal("89700")
    assert venue.exchange.available_balance(1) == Decimal("10300")
    assert rejection(lambda: venue.alice.order(50 * ETH, 299_000)).code == 21739


def test_a_taker_order_beyond_the_margin_is_cancelled_and_consumes_its_nonce(venue: Venue) -> None:
    order = only(venue.alice.market(400 * ETH, 310_000))
    assert (order.status, order.filled_base_amount) == ("canceled-margin-not-allowed", 0)
    assert venue.exchange.next_nonce(1, KEY) == 1
    assert venue.position(1) == 0


def test_an_order_that_reduces_exposure_is_allowed_even_below_margin(venue: Venue) -> None:
    venue.alice.market(320 * ETH, 310_000)
    venue.exchange.move_market(0, 290_000)  # 3,200 USDC of loss on 320 ETH
    assert venue.exchange.available_balance(1) < 0
    assert rejection(lambda: venue.alice.order(ETH, 280_000)).code == 21739
    order = only_taker(venue.alice.market(100 * ETH, 280_000, ask=True), account=1)
    assert order.status == "filled"
    assert venue.position(1) == 220 * ETH


def test_a_market_order_for_the_whole_buying_power_fills_within_the_ladder(venue: Venue) -> None:
    size = 320 * ETH  # about 960,000 USDC: 10x of 100,000 less slippage and fees
    order = only(venue.alice.market(size, MARK * 101 // 100))
    assert (order.status, order.filled_base_amount) == ("filled", size)
    assert max(t.price for t in venue.exchange.account_trades(1, 10)) <= MARK + 4 * STEP


# --- positions, PnL and funding ----------------------------------------------------------


def test_unrealised_and_realised_pnl_are_exact(venue: Venue) -> None:
    venue.alice.market(ETH, 301_000)  # 1 ETH at 3,001.50
    venue.exchange.move_market(0, 310_000)
    assert venue.exchange.unrealized_pnl(1, 0) == Decimal("98.50")
    collateral = venue.exchange.account(1).collateral
    assert venue.exchange.equity(1) == collateral + Decimal("98.50")
    (trade,) = venue.alice.market(4_000, 300_000, ask=True).trades  # 0.4 ETH at the best bid
    assert trade.price == 310_000 - 155
    exit_value = Decimal("0.4") * Decimal("3098.45")
    assert trade.taker_realized_pnl == exit_value - Decimal("1200.60") == Decimal("38.78")
    position = venue.exchange.account(1).positions[0]
    assert (position.size, position.entry_quote) == (6_000, Decimal("1800.90"))
    assert position.realized_pnl == Decimal("38.78")
    fees = Decimal("3001.50") * Decimal("0.00028") + exit_value * Decimal("0.00028")
    assert venue.exchange.account(1).collateral == TRADER_COLLATERAL + Decimal("38.78") - fees


def test_a_fill_through_zero_flips_the_position_at_the_fill_price(venue: Venue) -> None:
    venue.alice.market(ETH, 301_000)
    venue.alice.market(3 * ETH, 299_000, ask=True)  # closes 1, opens 2 short at 2,998.50
    position = venue.exchange.account(1).positions[0]
    assert (position.size, position.entry_quote) == (-2 * ETH, Decimal("5997.00"))
    assert position.realized_pnl == Decimal("2998.50") - Decimal("3001.50")


def test_funding_is_paid_by_longs_to_shorts_at_the_mark(venue: Venue) -> None:
    venue.alice.market(ETH, 301_000)
    venue.bob.market(2 * ETH, 299_000, ask=True)
    before = {a: venue.exchange.account(a).collateral for a in (1, 2)}
    venue.exchange.apply_funding(0, Decimal("0.0001"))
    assert venue.exchange.account(1).collateral == before[1] - Decimal("0.3")
    assert venue.exchange.account(2).collateral == before[2] + Decimal("0.6")
    assert venue.exchange.account(1).positions[0].funding_paid == Decimal("0.3")


# --- the market moving -------------------------------------------------------------------


def test_a_move_fills_crossed_orders_at_their_price_and_requotes_clear_of_the_rest(
    venue: Venue,
) -> None:
    crossed = only(venue.alice.order(ETH, 299_500))
    untouched = only(venue.bob.order(ETH, 298_000))
    trades = venue.exchange.move_market(0, 299_000)
    (trade,) = trades
    assert (trade.price, trade.size, trade.maker_account, trade.taker_account) == (
        299_500,
        ETH,
        1,
        MARKET_MAKER_ACCOUNT,
    )
    assert trade.maker_fee == Decimal("2995.00") * Decimal("0.00004")
    assert venue.exchange.order(crossed.order_index) is None
    assert venue.exchange.order(untouched.order_index) is not None
    bids, asks = venue.exchange.depth(0, 20)
    assert bids[0].price < 299_000 < asks[0].price
    assert BookLevel(298_000, ETH) not in asks


def test_an_order_resting_exactly_at_the_new_price_fills(venue: Venue) -> None:
    venue.bob.order(ETH, 301_000, ask=True)
    assert [t.price for t in venue.exchange.move_market(0, 301_000)] == [301_000]


def test_orders_expire_on_the_wall_clock(venue: Venue) -> None:
    order = only(venue.alice.order(ETH, 299_000, expiry=venue.clock() + 60_000))
    venue.clock.offset_ms += 120_000
    venue.exchange.expire()
    (expired,) = venue.exchange.inactive_orders(1, 0, 1)
    assert (expired.order_index, expired.status) == (order.order_index, "canceled-expired")


# --- stops and targets -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "ask", "trigger", "quiet", "fires"),
    [
        (STOP_LOSS, True, 295_000, 296_000, 295_000),  # a sell stop fires on the way down
        (STOP_LOSS, False, 305_000, 304_000, 305_000),  # a buy stop on the way up
        (TAKE_PROFIT, True, 305_000, 304_000, 305_000),  # a sell target on the way up
        (TAKE_PROFIT, False, 295_000, 296_000, 295_000),  # a buy target on the way down
    ],
)
def test_stops_and_targets_wait_for_the_mark_then_trade_as_market_orders(
    venue: Venue, type_: int, ask: bool, trigger: int, quiet: int, fires: int
) -> None:
    worst = 250_000 if ask else 350_000
    order = only(venue.alice.order(ETH, worst, ask=ask, type_=type_, tif=IOC, trigger=trigger))
    assert (order.status, order.trigger_status) == ("pending", "mark-price")
    assert venue.exchange.move_market(0, quiet) == []
    (trade,) = venue.exchange.move_market(0, fires)
    step = fires * 5 // 10_000
    assert trade.price == (fires - step if ask else fires + step)  # the fresh ladder's best
    assert trade.taker_account == 1
    (done,) = venue.exchange.inactive_orders(1, 0, 1)
    assert (done.status, done.trigger_status) == ("filled", "triggered")


def test_a_stop_limit_rests_as_a_limit_order_once_triggered(venue: Venue) -> None:
    venue.alice.market(ETH, 301_000)
    stop = only(
        venue.alice.order(
            ETH, 295_500, ask=True, type_=STOP_LOSS_LIMIT, trigger=295_000, reduce_only=True
        )
    )
    venue.exchange.move_market(0, 295_000)  # no bid reaches 2,955.00: it rests
    live = venue.exchange.order(stop.order_index)
    assert live is not None and (live.status, live.trigger_status) == ("open", "triggered")
    (trade,) = venue.exchange.move_market(0, 296_000)
    assert (trade.price, trade.maker_account) == (295_500, 1)
    assert venue.position(1) == 0


def test_a_trigger_already_reached_fires_when_placed(venue: Venue) -> None:
    applied = venue.alice.order(ETH, 310_000, type_=STOP_LOSS, tif=IOC, trigger=MARK - 1)
    assert [t.price for t in applied.trades] == [MARK + STEP]


def test_a_modified_trigger_waits_for_its_new_price(venue: Venue) -> None:
    venue.alice.market(ETH, 301_000)
    stop = only(
        venue.alice.order(ETH, 250_000, ask=True, type_=STOP_LOSS, tif=IOC, trigger=295_000)
    )
    venue.alice.modify(stop.order_index, ETH, 250_000, trigger=290_000)
    assert venue.exchange.move_market(0, 294_000) == []
    assert len(venue.exchange.move_market(0, 290_000)) == 1


# --- grouped orders ----------------------------------------------------------------------


def test_oco_the_first_leg_to_trigger_cancels_the_other(venue: Venue) -> None:
    venue.alice.market(ETH, 301_000)
    applied = venue.alice.group(
        SignerClient.GROUPING_TYPE_ONE_CANCELS_THE_OTHER,
        oco_exits(),
    )
    stop, target = sorted(applied.orders, key=lambda o: o.order_index)
    assert (stop.to_cancel, target.to_cancel) == (target.order_index, stop.order_index)
    assert {stop.status, target.status} == {"pending"}
    trades = venue.exchange.move_market(0, 311_000)
    assert [(t.price, t.maker_account) for t in trades] == [(311_000 - 155, MARKET_MAKER_ACCOUNT)]
    assert [(o.order_index, o.status) for o in venue.exchange.inactive_orders(1, 0, 2)] == [
        (target.order_index, "filled"),
        (stop.order_index, "canceled-oco"),
    ]
    assert venue.position(1) == 0


def test_otoco_children_live_once_the_parent_fills_sized_to_its_fill(venue: Venue) -> None:
    applied = venue.alice.group(
        SignerClient.GROUPING_TYPE_ONE_TRIGGERS_A_ONE_CANCELS_THE_OTHER,
        [req(2 * ETH, 299_900, ask=False, coi=77), *stop_and_target()],
    )
    parent, stop, target = sorted(applied.orders, key=lambda o: o.order_index)
    assert parent.to_trigger == (stop.order_index, target.order_index)
    assert (stop.status, stop.trigger_status, stop.remaining_base_amount) == (
        "pending",
        "parent-order",
        0,
    )
    assert venue.exchange.move_market(0, 321_000) == []  # the target is not armed yet
    venue.exchange.move_market(0, MARK)
    venue.bob.order(ETH, 299_900, ask=True, tif=IOC)  # half the parent fills
    assert stop.trigger_status == "mark-price" and stop.remaining_base_amount == ETH
    venue.exchange.move_market(0, 299_800)  # the rest fills as the market moves through it
    assert (parent.status, stop.remaining_base_amount, target.remaining_base_amount) == (
        "filled",
        2 * ETH,
        2 * ETH,
    )
    venue.exchange.move_market(0, 289_000)
    assert (stop.status, target.status) == ("filled", "canceled-oco")
    assert venue.position(1) == 0


def test_oto_a_parent_filled_on_arrival_arms_its_child(venue: Venue) -> None:
    applied = venue.alice.group(
        SignerClient.GROUPING_TYPE_ONE_TRIGGERS_THE_OTHER,
        [
            req(ETH, 301_000, ask=False, type_=MARKET, tif=IOC),
            req(0, 280_000, ask=True, type_=STOP_LOSS, tif=IOC, trigger=290_000, reduce_only=True),
        ],
    )
    parent, child = sorted(applied.orders, key=lambda o: o.order_index)
    assert parent.status == "filled"
    assert (child.status, child.trigger_status, child.remaining_base_amount) == (
        "pending",
        "mark-price",
        ETH,
    )


def test_a_parent_cancelled_unfilled_takes_its_children_with_it(venue: Venue) -> None:
    applied = venue.alice.group(
        SignerClient.GROUPING_TYPE_ONE_TRIGGERS_A_ONE_CANCELS_THE_OTHER,
        [req(ETH, 299_000, ask=False), *stop_and_target()],
    )
    parent = min(applied.orders, key=lambda o: o.order_index)
    cancelled = venue.alice.cancel(parent.order_index)
    assert sorted(o.status for o in cancelled.orders) == [
        "canceled",
        "canceled-child",
        "canceled-child",
    ]
    assert venue.exchange.active_orders(1, None) == []


def test_cancel_all_cancels_a_group_once(venue: Venue) -> None:
    venue.alice.group(
        SignerClient.GROUPING_TYPE_ONE_TRIGGERS_A_ONE_CANCELS_THE_OTHER,
        [req(ETH, 299_000, ask=False), *stop_and_target()],
    )
    venue.alice.cancel_all()
    history = venue.exchange.inactive_orders(1, None, 10)
    assert len({o.order_index for o in history}) == len(history) == 3
    assert all(o.status.startswith("canceled") for o in history)
    assert venue.exchange.active_orders(1, None) == []


def test_malformed_groups_are_refused(venue: Venue) -> None:
    tx_type, info = venue.alice.decoded(
        venue.alice.sign_group(SignerClient.GROUPING_TYPE_ONE_CANCELS_THE_OTHER, oco_exits())
    )
    refused = rejection(lambda: venue.exchange.apply(tx_type, {**info, "GroupingType": 7}))
    assert (refused.code, refused.message) == (21741, "invalid grouping type")
    one_order = {**info, "Orders": info["Orders"][:1]}
    assert rejection(lambda: venue.exchange.apply(tx_type, one_order)).code == 21742
    legs = [info["Orders"][0], {**info["Orders"][1], "OrderExpiry": GROUP_EXPIRY_MS + 1}]
    refused = rejection(lambda: venue.exchange.apply(tx_type, {**info, "Orders": legs}))
    assert refused.code == 21711 and str(GROUP_EXPIRY_MS + 1) in refused.detail


@pytest.mark.parametrize(
    ("parent_expiry", "child_expiries", "refused"),
    [
        (GROUP_EXPIRY_MS, (GROUP_EXPIRY_MS, GROUP_EXPIRY_MS), False),
        (0, (GROUP_EXPIRY_MS, GROUP_EXPIRY_MS), False),  # a parent without expiry
        (GROUP_EXPIRY_MS, (GROUP_EXPIRY_MS, GROUP_EXPIRY_MS + 1), True),
        (GROUP_EXPIRY_MS + 1, (GROUP_EXPIRY_MS, GROUP_EXPIRY_MS), True),
    ],
    ids=["all-alike", "parent-without", "children-differ", "parent-differs"],
)
def test_a_parent_and_its_attached_orders_expire_together(
    venue: Venue, parent_expiry: int, child_expiries: tuple[int, int], refused: bool
) -> None:
    tx_type, info = venue.alice.decoded(
        venue.alice.sign_group(
            SignerClient.GROUPING_TYPE_ONE_TRIGGERS_A_ONE_CANCELS_THE_OTHER,
            [req(ETH, 299_000, ask=False), *stop_and_target()],
        )
    )
    expiries = (parent_expiry, *child_expiries)
    orders = [
        {**order, "OrderExpiry": e} for order, e in zip(info["Orders"], expiries, strict=True)
    ]

    def apply() -> Applied:
        return venue.exchange.apply(tx_type, {**info, "Orders": orders})

    if refused:
        assert rejection(apply).code == 21711
    else:
        assert len(apply().orders) == 3


# --- batches and listeners ---------------------------------------------------------------


def test_a_batch_applies_each_transaction_in_order(venue: Venue) -> None:
    alice = venue.alice
    first = alice.decoded(alice.sign_order(ETH, 299_000, nonce=0))
    bad = alice.decoded(alice.sign_order(1, 299_000, nonce=1))
    second = alice.decoded(alice.sign_order(ETH, 298_000, nonce=1))
    outcomes = venue.exchange.apply_batch([first, bad, second])
    assert isinstance(outcomes[0], Applied) and isinstance(outcomes[2], Applied)
    assert isinstance(outcomes[1], TxRejected) and outcomes[1].code == 21706
    mixed = [first, venue.bob.decoded(venue.bob.sign_order(ETH, 299_000))]
    assert rejection(lambda: venue.exchange.apply_batch(mixed)).code == 21121


def test_listeners_hear_of_books_trades_and_accounts_after_each_change(venue: Venue) -> None:
    venue.events.clear()
    venue.bob.order(ETH, 300_050, ask=True)
    venue.alice.market(ETH, 301_000)
    assert {("order_book", 0), ("trade", 0), ("account", 1), ("account", 2)} <= set(venue.events)
    assert ("account", MARKET_MAKER_ACCOUNT) not in venue.events

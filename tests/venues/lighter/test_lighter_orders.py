"""Orders through the real lighter-sdk against the sim: place, query, modify, cancel, fills,
positions, and every refusal reaching the caller as a clear `OrderRejected`."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rulebot.venues.lighter.client import LighterVenue
from rulebot.venues.lighter.errors import OrderRejected, UnknownMarket
from rulebot.venues.lighter.records import OrderRequest
from rulebot.venues.sim.serving import RunningSim
from tests.venues.conftest import TRADER_COLLATERAL
from tests.venues.lighter.conftest import accepted_orders, best_prices

LTC = 2  # market id: ETH 0, BTC 1, LTC 2

SIZE = Decimal(200)  # ETH in the sim is quoted in BTC: 200 ETH is about 19 "USDC" of notional


async def test_place_query_modify_and_cancel_an_order(venue: LighterVenue, sim: RunningSim) -> None:
    bid, _ = best_prices(sim)
    price = bid * Decimal("0.98")
    ack = await venue.place_order(OrderRequest("ETH", "buy", SIZE, price=price), confirm=True)
    assert (ack.status, ack.filled, ack.size, ack.recovered) == ("open", 0, SIZE, False)
    assert ack.price <= price and price - ack.price < Decimal("1E-7")  # rounded down, a buy

    (order,) = await venue.open_orders("ETH")
    assert (order.order_index, order.client_order_index) == (
        ack.order_index,
        ack.client_order_index,
    )
    assert (order.side, order.price, order.size, order.status) == ("buy", ack.price, SIZE, "open")

    new_price = ack.price - Decimal("0.0001")
    await venue.modify_order("ETH", order.order_index, size=SIZE + 50, price=new_price)
    (modified,) = await venue.open_orders()
    assert (modified.order_index, modified.price, modified.size) == (
        order.order_index,
        new_price,
        SIZE + 50,
    )

    await venue.cancel_order("ETH", order.order_index)
    assert await venue.open_orders() == []
    (gone,) = [o for o in await venue.order_history("ETH") if o.order_index == order.order_index]
    assert gone.status == "canceled"
    assert len(accepted_orders(sim, ack.client_order_index)) == 1


async def test_cancel_all_in_one_market_then_everywhere(
    venue: LighterVenue, sim: RunningSim
) -> None:
    eth_bid, _ = best_prices(sim, 0)
    ltc_bid, _ = best_prices(sim, LTC)
    ltc = await venue.market("LTC")
    for _ in range(2):
        await venue.place_order(OrderRequest("ETH", "buy", SIZE, price=eth_bid * Decimal("0.9")))
    await venue.place_order(
        OrderRequest("LTC", "buy", ltc.min_base_amount * 2, price=ltc_bid * Decimal("0.9"))
    )
    assert len(await venue.open_orders()) == 3

    await venue.cancel_all("ETH")
    assert [o.market for o in await venue.open_orders()] == ["LTC"]
    await venue.cancel_all()
    assert await venue.open_orders() == []


async def test_an_order_larger_than_the_best_level_fills_partly_and_rests(
    venue: LighterVenue, sim: RunningSim
) -> None:
    market = sim.simulation.exchange.market(0)
    _, asks = sim.simulation.exchange.depth(0, 1)
    level = market.size_value(asks[0].size)
    best_ask = market.price_value(asks[0].price)
    ack = await venue.place_order(
        OrderRequest("ETH", "buy", level + SIZE, price=best_ask), confirm=True
    )
    assert (ack.status, ack.filled) == ("open", level)
    (resting,) = await venue.open_orders("ETH")
    assert (resting.filled, resting.remaining, resting.price) == (level, SIZE, best_ask)
    account = await venue.account()
    (position,) = account.positions
    assert (position.market, position.size, position.entry_price) == ("ETH", level, best_ask)


async def test_positions_and_pnl_after_fills(venue: LighterVenue, sim: RunningSim) -> None:
    fee_rate = sim.simulation.exchange.market(0).taker_fee
    before = await venue.account()
    bought = await venue.place_order(OrderRequest("ETH", "buy", SIZE, kind="market"))
    assert (bought.status, bought.filled) == ("filled", SIZE)
    (buy,) = [t for t in await venue.recent_trades("ETH") if t.buyer_account == 1]

    account = await venue.account()
    (position,) = account.positions
    assert (position.market, position.size, position.entry_price) == ("ETH", SIZE, buy.price)
    assert position.unrealized_pnl == position.value - buy.price * SIZE
    assert account.equity == account.collateral + position.unrealized_pnl

    sim.simulation.advance(8)  # two bars of replay move the mark
    moved = (await venue.account()).positions[0]
    assert moved.unrealized_pnl == moved.value - buy.price * SIZE

    sold = await venue.place_order(
        OrderRequest("ETH", "sell", SIZE, kind="market", reduce_only=True)
    )
    assert sold.filled == SIZE
    (sell,) = [t for t in await venue.recent_trades("ETH") if t.seller_account == 1]
    after = await venue.account()
    assert after.positions == ()
    realized = (sell.price - buy.price) * SIZE
    fees = (buy.price + sell.price) * SIZE * fee_rate
    assert after.collateral == before.collateral + realized - fees


async def test_stop_loss_and_take_profit_wait_for_their_trigger(
    venue: LighterVenue, sim: RunningSim
) -> None:
    await venue.place_order(OrderRequest("ETH", "buy", SIZE, kind="market"))
    bid, ask = best_prices(sim)
    stop = await venue.place_order(
        OrderRequest(
            "ETH",
            "sell",
            SIZE,
            kind="stop_loss",
            trigger_price=bid * Decimal("0.95"),
            reduce_only=True,
        )
    )
    target = await venue.place_order(
        OrderRequest(
            "ETH",
            "sell",
            SIZE,
            kind="take_profit_limit",
            trigger_price=ask * Decimal("1.05"),
            price=ask * Decimal("1.05"),
            reduce_only=True,
        )
    )
    assert (stop.status, target.status) == ("pending", "pending")
    assert stop.trigger_price is not None and stop.trigger_price >= bid * Decimal("0.95")
    waiting = {o.client_order_index: o for o in await venue.open_orders("ETH")}
    assert waiting[stop.client_order_index].trigger_price == stop.trigger_price
    assert waiting[target.client_order_index].kind == "take-profit-limit"


async def test_a_plain_resting_limit_is_looked_up_too_unless_told_not_to(
    venue: LighterVenue, sim: RunningSim
) -> None:
    bid, _ = best_prices(sim)
    ack = await venue.place_order(OrderRequest("ETH", "buy", SIZE, price=bid * Decimal("0.9")))
    (order,) = await venue.open_orders()
    assert (ack.order_index, ack.status, ack.filled) == (order.order_index, "open", 0)
    unchecked = await venue.place_order(
        OrderRequest("ETH", "buy", SIZE, price=bid * Decimal("0.9")), confirm=False
    )
    assert (unchecked.order_index, unchecked.status, unchecked.filled) == (None, None, None)


async def test_a_post_only_order_that_would_cross_is_rejected(
    venue: LighterVenue, sim: RunningSim
) -> None:
    _, ask = best_prices(sim)
    with pytest.raises(OrderRejected, match=r"ETH: the post-only order would have crossed"):
        await venue.place_order(
            OrderRequest("ETH", "buy", SIZE, price=ask, time_in_force="post_only")
        )
    assert (await venue.account()).positions == ()
    assert await venue.open_orders() == []


async def test_not_enough_margin_is_the_venues_refusal_with_its_code(
    venue: LighterVenue, sim: RunningSim
) -> None:
    bid, _ = best_prices(sim)
    huge = TRADER_COLLATERAL * 20 / bid  # far beyond 10x leverage on the collateral
    with pytest.raises(OrderRejected) as caught:
        await venue.place_order(OrderRequest("ETH", "buy", huge, price=bid * Decimal("0.9")))
    assert caught.value.code == 21739
    assert "not enough margin" in str(caught.value)
    assert caught.value.market == "ETH"
    with pytest.raises(OrderRejected, match="not enough margin for the order"):
        await venue.place_order(OrderRequest("ETH", "buy", huge, kind="market"))
    # the next order goes through: the refused nonce was not lost
    assert (await venue.place_order(OrderRequest("ETH", "buy", SIZE, kind="market"))).filled


async def test_a_size_below_the_minimum_is_refused_before_sending(
    venue: LighterVenue, sim: RunningSim
) -> None:
    eth = await venue.market("ETH")
    minimum, below = eth.min_base_amount, eth.min_base_amount - eth.size_step
    expected = f"ETH: size {below:f} is below the market's minimum {minimum.normalize():f}"
    with pytest.raises(OrderRejected) as caught:
        await venue.place_order(OrderRequest("ETH", "buy", below, kind="market"))
    assert str(caught.value) == expected
    assert accepted_orders(sim) == []
    assert sim.simulation.transaction_log(include_refused=True) == []


async def test_a_bad_market_says_which_one_was_meant(venue: LighterVenue, sim: RunningSim) -> None:
    with pytest.raises(UnknownMarket, match=r"unknown market 'ETHH'; did you mean 'ETH'\?"):
        await venue.place_order(OrderRequest("ETHH", "buy", SIZE, kind="market"))
    with pytest.raises(OrderRejected, match=r"unknown market '9' \(ids are 0..5\)"):
        await venue.cancel_all(9)
    assert sim.simulation.transaction_log(include_refused=True) == []


async def test_a_reduce_only_order_without_a_position_is_rejected(venue: LighterVenue) -> None:
    with pytest.raises(OrderRejected, match="no position to reduce"):
        await venue.place_order(OrderRequest("ETH", "sell", SIZE, kind="market", reduce_only=True))


async def test_a_client_order_index_is_used_once(venue: LighterVenue, sim: RunningSim) -> None:
    bid, _ = best_prices(sim)
    order = OrderRequest("ETH", "buy", SIZE, price=bid * Decimal("0.9"), client_order_index=42)
    await venue.place_order(order)
    with pytest.raises(OrderRejected) as caught:
        await venue.place_order(order)
    assert caught.value.code == 21728
    assert len(accepted_orders(sim, 42)) == 1


async def test_fresh_client_order_indexes_never_repeat(venue: LighterVenue) -> None:
    indexes = [venue.new_client_order_index() for _ in range(1000)]
    assert len(set(indexes)) == 1000
    assert indexes == sorted(indexes)
    assert all(1 <= index < 2**48 for index in indexes)

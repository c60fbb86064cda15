"""Every order's fate, through the real lighter-sdk against the sim: a `canceled-…` status is a
refusal whatever the time in force, an order not seen in time is "unknown" (never a success),
orders are found by client order index however old (`accountOrders`), and a modify names the
order version it was worked out from."""

from __future__ import annotations

import re
from decimal import Decimal

import lighter
import pytest
from lighter.exceptions import BadRequestException
from lighter.signer_client import SignerClient

from rulebot.venues.lighter.client import (
    CANCELLED_ON_ARRIVAL,
    UNKNOWN,
    LighterVenue,
    cancelled_on_arrival,
)
from rulebot.venues.lighter.errors import OrderRejected
from rulebot.venues.lighter.records import Order, OrderRequest
from rulebot.venues.sim.serving import RunningSim
from tests.venues.conftest import TRADER_COLLATERAL, MakeSigner
from tests.venues.lighter.conftest import (
    MakeVenue,
    accepted_orders,
    best_prices,
    cancelled_orders,
)

SIZE = Decimal(200)  # ETH in the sim is quoted in BTC: 200 ETH is about 19 "USDC" of notional
ACCOUNT_ORDERS = "/api/v1/accountOrders"
ETH = 0


def sdk_statuses() -> list[str]:
    """The `status` enum of lighter-sdk's `Order`, as its own validator lists it."""
    with pytest.raises(ValueError) as caught:
        lighter.models.Order.status_validate_enum("not-a-status")
    return re.findall(r"'([a-z-]+)'", str(caught.value))


def test_every_cancelled_status_of_the_sdk_reads_as_a_refusal_with_its_reason() -> None:
    statuses = sdk_statuses()
    cancelled = [s for s in statuses if s.startswith("canceled-")]
    assert "canceled-self-trade" in cancelled and len(cancelled) >= 12
    assert sorted(CANCELLED_ON_ARRIVAL) == sorted(cancelled)
    for status in cancelled:
        assert cancelled_on_arrival(status) == CANCELLED_ON_ARRIVAL[status]
    for status in set(statuses) - set(cancelled):  # open, filled, a cancel asked for, ...
        assert cancelled_on_arrival(status) is None
    assert cancelled_on_arrival("canceled-something-new") is not None


async def test_a_good_till_time_order_cancelled_on_arrival_is_refused(
    venue: LighterVenue, sim: RunningSim
) -> None:
    _, ask = best_prices(sim)
    huge = TRADER_COLLATERAL * 20 / ask  # a taker far beyond 10x: the venue takes and cancels it
    with pytest.raises(OrderRejected, match=r"not enough margin for the order \(canceled-margin"):
        await venue.place_order(OrderRequest("ETH", "buy", huge, price=ask))  # good-till-time
    assert len(accepted_orders(sim)) == 1  # it was taken (200), then cancelled
    assert await venue.open_orders() == []


async def test_an_order_not_seen_within_the_settle_time_is_unknown_not_placed(
    make_venue: MakeVenue, sim: RunningSim
) -> None:
    venue = await make_venue(sim, settle_timeout=0.3)
    sim.simulation.faults.delay(3_000, path=ACCOUNT_ORDERS)  # the look-ups go unanswered
    ack = await venue.place_order(OrderRequest("ETH", "buy", SIZE, kind="market"))
    assert ack.status == UNKNOWN
    assert (ack.order_index, ack.filled) == (None, None)
    sim.simulation.faults.clear()
    found = await venue.find_order("ETH", ack.client_order_index)
    assert found is not None and (found.status, found.filled) == ("filled", SIZE)
    assert len(accepted_orders(sim, ack.client_order_index)) == 1
    sim.simulation.faults.server_error(100, path=ACCOUNT_ORDERS)  # the look-ups fail
    failed = await venue.place_order(OrderRequest("ETH", "buy", SIZE, kind="market"))
    assert failed.status == UNKNOWN  # sent: an error would say it was not
    assert len(accepted_orders(sim, failed.client_order_index)) == 1


async def test_an_old_filled_order_is_found_by_its_client_order_index(
    venue: LighterVenue, sim: RunningSim, make_signer: MakeSigner
) -> None:
    first = await venue.place_order(OrderRequest("ETH", "buy", SIZE, kind="market"))
    assert first.status == "filled"
    await cancelled_orders(sim, make_signer, 120)  # 120 later inactive orders
    assert all(o.client_order_index != first.client_order_index for o in await history(venue))
    found = await venue.find_order("ETH", first.client_order_index)
    assert found is not None
    assert (found.status, found.filled, found.order_index) == ("filled", SIZE, first.order_index)
    assert await venue.find_order("BTC", first.client_order_index) is None  # another market
    assert await venue.find_order("ETH", 424242) is None


async def test_orders_are_looked_up_twenty_indexes_a_call(
    venue: LighterVenue, sim: RunningSim, make_signer: MakeSigner
) -> None:
    """The venue answers at most 20 indexes a call (the sim refuses more): 46 take three."""
    indexes = await cancelled_orders(sim, make_signer, 45)
    found = await venue.find_orders([*indexes, 999_999])
    assert sorted(found) == sorted(indexes)
    assert {o.status for o in found.values()} == {"canceled"}


async def test_account_orders_answers_the_sdks_orders_model(
    venue: LighterVenue, sim: RunningSim, make_signer: MakeSigner
) -> None:
    bid, _ = best_prices(sim)
    resting = await venue.place_order(OrderRequest("ETH", "buy", SIZE, price=bid * Decimal("0.9")))
    (done,) = await cancelled_orders(sim, make_signer, 1)
    api = lighter.OrderApi(venue.signer.api_client)
    token = venue._auth_token()
    wanted = f"{resting.client_order_index},{done},31337"
    answer = await api.account_orders(token, wanted, account_index=1)
    assert isinstance(answer, lighter.Orders) and answer.code == 200
    by_index = {o.client_order_index: o for o in answer.orders}
    assert sorted(by_index) == sorted([resting.client_order_index, done])
    assert (by_index[resting.client_order_index].status, by_index[done].status) == (
        "open",
        "canceled",
    )
    mine = await api.account_orders(token, str(done))  # the account is the token's
    assert [o.client_order_index for o in mine.orders] == [done]
    assert (await api.account_orders(token, "31337", account_index=1)).orders is None  # null
    with pytest.raises(BadRequestException, match="client_order_indexes"):
        await api.account_orders(token, ",".join(str(i) for i in range(1, 22)), account_index=1)
    with pytest.raises(BadRequestException, match="auth"):
        await api.account_orders("", str(done), account_index=1)


async def test_a_modify_naming_an_older_order_version_is_refused(
    venue: LighterVenue, sim: RunningSim, make_signer: MakeSigner
) -> None:
    """The SDK's modify carries the order version the sender saw (`order_version`, none by
    default); the sim refuses it once the order changed since: here a partial fill."""
    _, ask = best_prices(sim)
    level = sim.simulation.exchange.depth(ETH, 1)[1][0].size
    market = sim.simulation.exchange.market(ETH)
    bigger = market.size_value(level) + SIZE
    ack = await venue.place_order(OrderRequest("ETH", "buy", bigger, price=ask))
    assert ack.status == "open" and ack.filled and ack.order_index is not None
    (order,) = await venue.open_orders("ETH")
    assert order.version > 1  # created, then filled partly
    signer = make_signer(sim, api_key_index=5)
    units = int(order.remaining.scaleb(market.size_decimals))
    price = int((order.price * Decimal("0.99")).scaleb(market.price_decimals))

    def modify(version: int, nonce: int) -> tuple[int, str]:
        tx_type, tx_info, _hash, error = signer.sign_modify_order(
            ETH, order.order_index, units, price, order_version=version, nonce=nonce,
            api_key_index=5,
        )  # fmt: skip
        assert error is None
        return tx_type, tx_info

    with pytest.raises(BadRequestException, match="changed since"):
        await signer.send_tx(*modify(order.version - 1, 0))
    await signer.send_tx(*modify(order.version, 0))  # the nonce was not spent
    (moved,) = await venue.open_orders("ETH")
    assert moved.version == order.version + 1
    assert moved.price < order.price
    await signer.send_tx(*modify(SignerClient.NIL_ORDER_VERSION, 1))  # no version: no check
    # the adapter names the version it read, and its modify goes through
    await venue.modify_order("ETH", order.order_index, size=moved.remaining, price=moved.price)
    (last,) = await venue.open_orders("ETH")
    assert last.version > moved.version


async def history(venue: LighterVenue) -> list[Order]:
    return await venue.order_history("ETH", limit=100)

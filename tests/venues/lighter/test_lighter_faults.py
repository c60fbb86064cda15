"""Every fault the sim can inject: the adapter recovers with no order lost and none twice, as the
sim's own transaction log and books say."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from rulebot.venues.lighter.client import LighterVenue
from rulebot.venues.lighter.errors import OrderRejected, VenueUnavailable
from rulebot.venues.lighter.records import OrderRequest
from rulebot.venues.lighter.retry import RetryPolicy
from rulebot.venues.sim.records import TX_MODIFY_ORDER
from rulebot.venues.sim.serving import RunningSim
from tests.venues.conftest import TRADER_COLLATERAL
from tests.venues.lighter.conftest import MakeVenue, accepted_orders, best_prices

SEND_TX = "/api/v1/sendTx"
SIZE = Decimal(200)


def resting_buy(sim: RunningSim, client_order_index: int | None = None) -> OrderRequest:
    bid, _ = best_prices(sim)
    return OrderRequest(
        "ETH", "buy", SIZE, price=bid * Decimal("0.95"), client_order_index=client_order_index
    )


def refusals(sim: RunningSim) -> list[str]:
    return [
        record["message"]
        for record in sim.simulation.transaction_log(include_refused=True)
        if not record["accepted"]
    ]


async def test_a_429_is_waited_out_and_the_order_sent_once(
    venue: LighterVenue, sim: RunningSim
) -> None:
    sim.simulation.faults.rate_limit(1, path=SEND_TX, retry_after_s=1)
    ack = await venue.place_order(resting_buy(sim))
    assert sim.simulation.faults.counts["rate_limited"] == 1
    assert len(accepted_orders(sim, ack.client_order_index)) == 1
    assert [o.client_order_index for o in await venue.open_orders()] == [ack.client_order_index]


async def test_reads_are_retried_through_429_and_5xx(venue: LighterVenue, sim: RunningSim) -> None:
    sim.simulation.faults.rate_limit(1, path="/api/v1/account", retry_after_s=0)
    sim.simulation.faults.server_error(2, path="/api/v1/account", status=503)
    account = await venue.account()
    assert account.collateral == TRADER_COLLATERAL
    counts = sim.simulation.faults.counts
    assert (counts["rate_limited"], counts["server_errors"]) == (1, 2)


async def test_a_retry_after_too_long_to_wait_gives_up_without_sending(
    venue: LighterVenue, sim: RunningSim
) -> None:
    sim.simulation.faults.rate_limit(1, path=SEND_TX, retry_after_s=60)
    with pytest.raises(VenueUnavailable, match="rate limited by the venue; retry after 60 s") as e:
        await venue.place_order(resting_buy(sim))
    assert not e.value.ambiguous  # a 429 means the venue did not take it
    assert accepted_orders(sim) == []
    ack = await venue.place_order(resting_buy(sim))  # nothing in doubt: the next one just goes
    assert len(accepted_orders(sim, ack.client_order_index)) == 1


async def test_a_5xx_before_the_order_lands_resends_it_once(
    venue: LighterVenue, sim: RunningSim
) -> None:
    sim.simulation.faults.server_error(2, path=SEND_TX)
    ack = await venue.place_order(resting_buy(sim))
    assert not ack.recovered
    assert sim.simulation.faults.counts["server_errors"] == 2
    assert len(accepted_orders(sim)) == 1
    assert len(await venue.open_orders()) == 1


async def test_a_5xx_after_the_order_landed_finds_it_instead_of_sending_again(
    venue: LighterVenue, sim: RunningSim
) -> None:
    sim.simulation.faults.server_error(1, path=SEND_TX, after_apply=True)
    ack = await venue.place_order(resting_buy(sim), confirm=True)
    assert ack.recovered
    assert ack.status == "open"
    assert len(accepted_orders(sim)) == 1
    assert refusals(sim) == ["invalid nonce (expected 1, got 0)"]  # the re-sent copy, refused
    (order,) = await venue.open_orders()
    assert order.client_order_index == ack.client_order_index
    # the nonce count is right again: the next order goes through first time
    after = await venue.place_order(resting_buy(sim))
    assert not after.recovered
    assert len(accepted_orders(sim)) == 2
    assert len(refusals(sim)) == 1


async def test_answers_lost_until_retries_run_out_still_find_the_order(
    venue: LighterVenue, sim: RunningSim
) -> None:
    sim.simulation.faults.server_error(20, path=SEND_TX, after_apply=True)
    ack = await venue.place_order(resting_buy(sim))
    assert ack.recovered
    assert len(accepted_orders(sim)) == 1
    assert len(await venue.open_orders()) == 1


async def test_an_order_in_doubt_is_looked_up_before_it_is_sent_again(
    venue: LighterVenue, sim: RunningSim
) -> None:
    sim.simulation.faults.server_error(20, path=SEND_TX)
    order = resting_buy(sim, client_order_index=777)
    with pytest.raises(VenueUnavailable) as caught:
        await venue.place_order(order)
    assert caught.value.ambiguous  # for all the adapter knows, it may have landed
    assert accepted_orders(sim) == []
    sim.simulation.faults.clear()
    ack = await venue.place_order(order)  # the caller retries with the same key
    assert not ack.recovered
    assert len(accepted_orders(sim, 777)) == 1


async def test_an_order_in_doubt_that_did_land_is_not_sent_again(
    make_venue: MakeVenue, sim: RunningSim
) -> None:
    venue = await make_venue(sim, retry=RetryPolicy(attempts=1), settle_timeout=0)
    sim.simulation.faults.server_error(1, path=SEND_TX, after_apply=True)
    order = resting_buy(sim, client_order_index=778)
    sim.simulation.faults.server_error(1, path="/api/v1/accountOrders")
    with pytest.raises(VenueUnavailable):
        await venue.place_order(order)  # no retries and the look-up fails: in doubt
    ack = await venue.place_order(order)
    assert ack.recovered
    assert len(accepted_orders(sim, 778)) == 1
    assert refusals(sim) == []  # it was never even sent a second time


async def test_a_delayed_answer_times_out_and_the_order_still_lands_once(
    make_venue: MakeVenue, sim: RunningSim
) -> None:
    venue = await make_venue(sim, request_timeout=0.2)
    sim.simulation.faults.delay(500, count=1, path=SEND_TX)
    ack = await venue.place_order(resting_buy(sim))
    await asyncio.sleep(0.6)  # let the delayed first copy reach the exchange, if it can
    assert sim.simulation.faults.counts["delayed"] == 1
    assert len(accepted_orders(sim, ack.client_order_index)) == 1
    assert len(await venue.open_orders()) == 1
    assert all(message.startswith("invalid nonce") for message in refusals(sim))


async def test_an_injected_rejection_reaches_the_caller_and_the_next_order_goes(
    venue: LighterVenue, sim: RunningSim
) -> None:
    sim.simulation.faults.reject_orders(1)
    with pytest.raises(OrderRejected) as caught:
        await venue.place_order(resting_buy(sim))
    assert caught.value.code == 21506
    assert "too many pending txs" in caught.value.message
    assert accepted_orders(sim) == []
    ack = await venue.place_order(resting_buy(sim))
    assert len(accepted_orders(sim, ack.client_order_index)) == 1


async def test_a_nonce_spent_by_another_sender_is_resynchronised(
    venue: LighterVenue, sim: RunningSim, make_signer
) -> None:
    await venue.place_order(resting_buy(sim))  # the adapter now counts this key's nonces
    other = make_signer(sim, api_key_index=venue.api_key_index)  # same key, another process
    bid, _ = best_prices(sim)
    market = sim.simulation.exchange.market(0)
    _, answer, error = await other.create_order(
        0,
        99,
        200 * 10**market.size_decimals,  # 200 ETH: above the minimum notional
        int(bid * Decimal("0.9") * 10**market.price_decimals),
        False,
        0,
        1,
    )
    assert error is None and answer.code == 200
    ack = await venue.place_order(resting_buy(sim))
    assert refusals(sim) == ["invalid nonce (expected 2, got 1)"]
    assert len(accepted_orders(sim, ack.client_order_index)) == 1
    assert len(accepted_orders(sim)) == 3


async def test_a_cancel_whose_answer_was_lost_is_not_an_error(
    venue: LighterVenue, sim: RunningSim
) -> None:
    ack = await venue.place_order(resting_buy(sim), confirm=True)
    assert ack.order_index is not None
    sim.simulation.faults.server_error(1, path=SEND_TX, after_apply=True)
    cancelled = await venue.cancel_order("ETH", ack.order_index)
    assert cancelled.recovered
    assert await venue.open_orders() == []


async def test_a_modify_whose_answer_was_lost_is_not_sent_twice(
    venue: LighterVenue, sim: RunningSim
) -> None:
    ack = await venue.place_order(resting_buy(sim), confirm=True)
    assert ack.order_index is not None
    new_price = ack.price - Decimal("0.0001")
    sim.simulation.faults.server_error(1, path=SEND_TX, after_apply=True)
    modified = await venue.modify_order("ETH", ack.order_index, size=SIZE * 2, price=new_price)
    assert modified.recovered
    (order,) = await venue.open_orders()
    assert (order.price, order.size) == (new_price, SIZE * 2)
    modifies = [r for r in sim.simulation.transaction_log() if r["tx_type"] == TX_MODIFY_ORDER]
    assert len(modifies) == 1


async def test_a_cancel_all_whose_answer_was_lost_is_not_an_error(
    venue: LighterVenue, sim: RunningSim
) -> None:
    for _ in range(2):
        await venue.place_order(resting_buy(sim))
    sim.simulation.faults.server_error(1, path=SEND_TX, after_apply=True)
    assert (await venue.cancel_all()).recovered
    assert await venue.open_orders() == []


async def test_a_read_that_times_out_is_asked_again(make_venue: MakeVenue, sim: RunningSim) -> None:
    venue = await make_venue(sim, request_timeout=0.2)
    sim.simulation.faults.delay(400, count=1, path="/api/v1/account")
    assert (await venue.account()).collateral == TRADER_COLLATERAL
    assert sim.simulation.faults.counts["delayed"] == 1

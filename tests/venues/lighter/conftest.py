"""A `LighterVenue` on the real sim (see ../conftest.py), with a quick retry policy, and helpers
that read what the sim really did: its transaction log and its books."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import lighter
import pytest
from lighter.signer_client import SignerClient

from rulebot.venues.lighter.client import LighterVenue
from rulebot.venues.lighter.retry import RetryPolicy
from rulebot.venues.sim.records import TX_CREATE_ORDER
from rulebot.venues.sim.serving import RunningSim
from tests.venues.conftest import MakeSigner

ACCOUNT = 1
API_KEY = 3
QUICK = RetryPolicy(attempts=6, base_delay=0.01, max_delay=0.05, max_retry_after=5)

MakeVenue = Callable[..., Awaitable[LighterVenue]]


def new_private_key() -> str:
    private_key, _public_key, error = lighter.signer_client.create_api_key()
    assert error is None, error
    return private_key


@pytest.fixture
async def make_venue() -> AsyncIterator[MakeVenue]:
    venues: list[LighterVenue] = []

    async def create(running: RunningSim, **options: Any) -> LighterVenue:
        options.setdefault("account_index", ACCOUNT)
        options.setdefault("api_key_index", API_KEY)
        options.setdefault("private_key", new_private_key())
        options.setdefault("retry", QUICK)
        options.setdefault("request_timeout", 5.0)
        options.setdefault("settle_timeout", 0.3)
        options.setdefault("rng", random.Random(7))
        venue = LighterVenue("sim", url=running.url, **options)
        venues.append(venue)
        return await venue.connect()

    yield create
    for venue in venues:
        await venue.close()


@pytest.fixture
async def venue(sim: RunningSim, make_venue: MakeVenue) -> LighterVenue:
    return await make_venue(sim)


def accepted_orders(sim: RunningSim, client_order_index: int | None = None) -> list[dict]:
    """The create-order transactions the sim applied (for one client order index, if given)."""
    return [
        record
        for record in sim.simulation.transaction_log()
        if record["tx_type"] == TX_CREATE_ORDER
        and (
            client_order_index is None
            or record["tx_info"]["ClientOrderIndex"] == client_order_index
        )
    ]


def best_prices(sim: RunningSim, market_id: int = 0) -> tuple[Decimal, Decimal]:
    """The sim's best bid and ask now, as human prices."""
    exchange = sim.simulation.exchange
    market = exchange.market(market_id)
    bids, asks = exchange.depth(market_id, 1)
    return market.price_value(bids[0].price), market.price_value(asks[0].price)


async def cancelled_orders(sim: RunningSim, make_signer: MakeSigner, count: int) -> list[int]:
    """`count` orders of account 1 that the venue cancels at once (IOC buys far under the
    book), sent in batches through the SDK with another API key; their client order indexes."""
    signer = make_signer(sim, api_key_index=6)
    market = sim.simulation.exchange.market(0)
    bid, _ = best_prices(sim)
    price = int((bid * Decimal("0.9")).scaleb(market.price_decimals))
    notional = market.min_quote_amount * 2 / market.price_value(price)
    size = max(market.min_base_amount, int(notional.scaleb(market.size_decimals)) + 1)
    nonce = sim.simulation.exchange.next_nonce(1, 6)
    base = int(time.time() * 1000) + 10_000_000
    indexes = [base + i for i in range(count)]
    for start in range(0, count, 50):
        types, infos = [], []
        for index in indexes[start : start + 50]:
            tx_type, tx_info, _hash, error = signer.sign_create_order(
                0, index, size, price, False, SignerClient.ORDER_TYPE_LIMIT,
                SignerClient.ORDER_TIME_IN_FORCE_IMMEDIATE_OR_CANCEL, False,
                SignerClient.NIL_TRIGGER_PRICE, SignerClient.DEFAULT_IOC_EXPIRY,
                nonce=nonce, api_key_index=6,
            )  # fmt: skip
            assert error is None
            types.append(tx_type)
            infos.append(tx_info)
            nonce += 1
        await signer.send_tx_batch(types, infos)
    return indexes

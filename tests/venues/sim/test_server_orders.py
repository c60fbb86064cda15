"""Orders through lighter-sdk's `SignerClient` (its real signer, its nonce manager) against the sim:
create, modify, cancel, cancel-all, batches, partial fills, positions, and the refusals a trader
must see as clear errors."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import aiohttp
import lighter
import pytest
from lighter.exceptions import BadRequestException

from rulebot.venues.sim.records import AccountSettings

XRP = 5  # the shipped markets: ETH, BTC, LTC, ETC, XMR, XRP, ids 0..5
LIMIT, MARKET = 0, 1
IOC, GTT = 0, 1


async def active(signer: lighter.SignerClient, market_id: int | None = None) -> list:
    token, _ = signer.create_auth_token_with_expiry()
    api = lighter.OrderApi(signer.api_client)
    answer = await api.account_active_orders(
        account_index=signer.account_index, market_id=market_id, authorization=token
    )
    return answer.orders


async def inactive(signer: lighter.SignerClient) -> list:
    token, _ = signer.create_auth_token_with_expiry()
    api = lighter.OrderApi(signer.api_client)
    answer = await api.account_inactive_orders(
        account_index=signer.account_index, limit=50, authorization=token
    )
    return answer.orders


async def account(signer: lighter.SignerClient) -> lighter.DetailedAccount:
    api = lighter.AccountApi(signer.api_client)
    answer = await api.account(by="index", value=str(signer.account_index))
    return answer.accounts[0]


async def test_check_client_finds_the_key_the_sim_was_given(sim, signer):
    assert await asyncio.to_thread(signer.check_client) is None


async def test_create_modify_and_cancel_a_limit_order(sim, signer):
    market = sim.simulation.exchange.market(XRP)
    bids, _ = sim.simulation.exchange.depth(XRP, 1)
    below = bids[0].price - 500  # rests: below the best bid
    _, sent, error = await signer.create_order(XRP, 41, 150, below, False, LIMIT, GTT)
    assert error is None and sent.code == 200 and sent.tx_hash
    (order,) = await active(signer, XRP)
    assert (order.client_order_index, order.status, order.type) == (41, "open", "limit")
    assert Decimal(order.price) == market.price_value(below)
    assert Decimal(order.initial_base_amount) == market.size_value(150)

    _, sent, error = await signer.modify_order(XRP, order.order_index, 120, below - 10)
    assert error is None, error
    (modified,) = await active(signer, XRP)
    assert Decimal(modified.price) == market.price_value(below - 10)
    assert Decimal(modified.remaining_base_amount) == market.size_value(120)

    _, sent, error = await signer.cancel_order(XRP, modified.order_index)
    assert error is None, error
    assert await active(signer) == []
    (canceled,) = await inactive(signer)
    assert (canceled.client_order_index, canceled.status) == (41, "canceled")


async def test_cancel_all_cancels_every_open_order(sim, signer):
    bids, _ = sim.simulation.exchange.depth(XRP, 1)
    for client_index in (1, 2, 3):
        _, _, error = await signer.create_order(
            XRP, client_index, 100, bids[0].price - 100 * client_index, False, LIMIT, GTT
        )
        assert error is None, error
    assert len(await active(signer)) == 3
    _, _, error = await signer.cancel_all_orders(signer.CANCEL_ALL_TIF_IMMEDIATE, 0)
    assert error is None, error
    assert await active(signer) == []
    assert sorted(o.client_order_index for o in await inactive(signer)) == [1, 2, 3]


async def test_a_market_buy_opens_a_position_at_its_fill_price(sim, signer):
    market = sim.simulation.exchange.market(XRP)
    before = Decimal((await account(signer)).collateral)
    _, asks = sim.simulation.exchange.depth(XRP, 1)
    _, _, error = await signer.create_market_order(XRP, 9, 300, asks[0].price * 2, False)
    assert error is None, error
    (fill,) = sim.simulation.exchange.account_trades(1, 10)
    assert fill.size == 300 and fill.price == asks[0].price
    after = await account(signer)
    (position,) = after.positions
    assert (position.market_id, position.sign) == (XRP, 1)
    assert Decimal(position.position) == market.size_value(300)
    assert Decimal(position.avg_entry_price) == market.price_value(fill.price)
    fee = market.notional(300, fill.price) * market.taker_fee
    assert Decimal(after.collateral) == before - fee
    (filled,) = await inactive(signer)
    assert (filled.status, filled.client_order_index) == ("filled", 9)
    assert Decimal(filled.filled_base_amount) == market.size_value(300)


async def test_an_ioc_order_larger_than_the_level_fills_partly(sim, signer):
    market = sim.simulation.exchange.market(XRP)
    _, asks = sim.simulation.exchange.depth(XRP, 1)
    best = asks[0]
    _, _, error = await signer.create_order(
        XRP, 77, best.size + 50, best.price, False, LIMIT, IOC, order_expiry=0
    )
    assert error is None, error
    (order,) = await inactive(signer)
    assert order.status == "canceled"
    assert Decimal(order.filled_base_amount) == market.size_value(best.size)
    assert Decimal(order.initial_base_amount) == market.size_value(best.size + 50)
    (position,) = (await account(signer)).positions
    assert Decimal(position.position) == market.size_value(best.size)


async def test_a_batch_applies_its_transactions_in_order(sim, signer):
    tx_api = lighter.TransactionApi(signer.api_client)
    nonce = (await tx_api.next_nonce(account_index=1, api_key_index=3)).nonce
    bids, _ = sim.simulation.exchange.depth(XRP, 1)
    first = signer.sign_create_order(
        XRP, 51, 100, bids[0].price - 100, 0, LIMIT, GTT, nonce=nonce, api_key_index=3
    )
    second = signer.sign_create_order(
        XRP, 52, 100, bids[0].price - 200, 0, LIMIT, GTT, nonce=nonce + 1, api_key_index=3
    )
    sent = await signer.send_tx_batch([first[0], second[0]], [first[1], second[1]])
    assert sent.code == 200 and len(sent.tx_hash) == 2
    assert sorted(o.client_order_index for o in await active(signer)) == [51, 52]
    assert (await tx_api.next_nonce(account_index=1, api_key_index=3)).nonce == nonce + 2

    reused = signer.sign_create_order(
        XRP, 53, 100, bids[0].price - 300, 0, LIMIT, GTT, nonce=nonce, api_key_index=3
    )
    with pytest.raises(BadRequestException) as refused:
        await signer.send_tx_batch([reused[0]], [reused[1]])
    body = json.loads(refused.value.body)
    assert body["code"] == 21104 and body["message"].startswith("invalid nonce")


async def test_refusals_reach_the_caller_as_clear_errors(sim, signer):
    market = sim.simulation.exchange.market(XRP)
    bids, _ = sim.simulation.exchange.depth(XRP, 1)
    _, sent, error = await signer.create_order(
        XRP, 1, market.min_base_amount - 1, bids[0].price - 100, False, LIMIT, GTT
    )
    assert sent is None and "21706" in error
    _, sent, error = await signer.create_order(9, 2, 100, 1000, False, LIMIT, GTT)
    assert sent is None and "21602" in error and "invalid market index" in error
    huge = 10**9  # far beyond 100,000 USDC at 10x
    _, sent, error = await signer.create_order(XRP, 3, huge, bids[0].price - 100, False, LIMIT, GTT)
    assert sent is None and "21739" in error and "not enough margin" in error
    # the nonce manager rolled back after each refusal: the next order goes through
    _, sent, error = await signer.create_order(XRP, 4, 100, bids[0].price - 100, False, LIMIT, GTT)
    assert error is None and sent.code == 200


async def test_a_reused_nonce_is_refused_and_the_sdk_recovers(sim, signer):
    bids, _ = sim.simulation.exchange.depth(XRP, 1)
    price = bids[0].price - 100
    _, _, error = await signer.create_order(XRP, 1, 100, price, False, LIMIT, GTT)
    assert error is None
    _, sent, error = await signer.create_order(
        XRP, 2, 100, price, False, LIMIT, GTT, nonce=0, api_key_index=3
    )
    assert sent is None and "invalid nonce" in error
    _, sent, error = await signer.create_order(
        XRP, 3, 100, price, False, LIMIT, GTT, nonce=5, api_key_index=3
    )
    assert sent is None and "invalid nonce" in error  # skipped ahead
    _, sent, error = await signer.create_order(XRP, 4, 100, price, False, LIMIT, GTT)
    assert error is None, error
    assert sorted(o.client_order_index for o in await active(signer)) == [1, 4]


async def test_unknown_accounts_and_keys_are_refused(make_sim, make_signer):
    sim = await make_sim(accounts=(AccountSettings(1, api_key_indexes=frozenset({3})),))
    allowed = make_signer(sim, account_index=1, api_key_index=3)
    stranger = make_signer(sim, account_index=1, api_key_index=4)
    nobody = lighter.SignerClient(sim.url, 2, {3: lighter.signer_client.create_api_key()[0]})
    try:
        bids, _ = sim.simulation.exchange.depth(XRP, 1)
        price = bids[0].price - 100
        _, sent, error = await allowed.create_order(XRP, 1, 100, price, False, LIMIT, GTT)
        assert error is None
        _, sent, error = await stranger.create_order(
            XRP, 2, 100, price, False, LIMIT, GTT, nonce=0, api_key_index=4
        )
        assert sent is None and "21109" in error
        _, sent, error = await nobody.create_order(
            XRP, 3, 100, price, False, LIMIT, GTT, nonce=0, api_key_index=3
        )
        assert sent is None and "21100" in error
    finally:
        await nobody.close()


async def test_the_transaction_log_shows_what_was_accepted(sim, signer):
    bids, _ = sim.simulation.exchange.depth(XRP, 1)
    await signer.create_order(XRP, 1, 100, bids[0].price - 100, False, LIMIT, GTT)
    await signer.create_order(XRP, 2, 1, bids[0].price - 100, False, LIMIT, GTT)  # too small
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{sim.url}/admin/transactions") as response:
            accepted = (await response.json())["transactions"]
        async with http.get(f"{sim.url}/admin/transactions?all=1") as response:
            everything = (await response.json())["transactions"]
    assert [t["tx_info"]["ClientOrderIndex"] for t in accepted] == [1]
    assert accepted[0]["accepted"] and accepted[0]["tx_type"] == 14 and accepted[0]["tx_hash"]
    assert [(t["accepted"], t["code"]) for t in everything] == [(True, 200), (False, 21706)]


async def test_the_sdks_own_price_helpers_read_the_sims_book(sim, signer):
    bids, asks = sim.simulation.exchange.depth(XRP, 1)
    assert await signer.get_best_price(XRP, is_ask=False) == asks[0].price
    assert await signer.get_best_price(XRP, is_ask=True) == bids[0].price
    _, sent, error = await signer.create_market_order_limited_slippage(XRP, 8, 100, 0.01, True)
    assert error is None and sent.code == 200
    (fill,) = sim.simulation.exchange.account_trades(1, 10)
    assert (fill.price, fill.size, fill.taker_is_ask) == (bids[0].price, 100, True)


async def test_send_tx_answers_fill_the_sdks_models(sim, signer):
    api = lighter.TransactionApi(signer.api_client)
    bids, _ = sim.simulation.exchange.depth(XRP, 1)
    price = bids[0].price - 100
    tx_type, tx_info, _, error = signer.sign_create_order(
        XRP, 1, 100, price, 0, LIMIT, GTT, nonce=0, api_key_index=3
    )
    assert error is None
    one = await api.send_tx_with_http_info(tx_type=tx_type, tx_info=tx_info)
    lighter.RespSendTx.model_validate(json.loads(one.raw_data))
    assert one.data.code == 200 and len(one.data.tx_hash) == 80
    signed = [
        signer.sign_create_order(
            XRP, 2 + k, 100, price, 0, LIMIT, GTT, nonce=1 + k, api_key_index=3
        )
        for k in range(3)
    ]
    batch = await api.send_tx_batch_with_http_info(
        tx_types=json.dumps([s[0] for s in signed]), tx_infos=json.dumps([s[1] for s in signed])
    )
    lighter.RespSendTxBatch.model_validate(json.loads(batch.raw_data))
    assert len(set(batch.data.tx_hash)) == 3
    logged = [t["tx_hash"] for t in sim.simulation.transaction_log()]
    assert logged == [one.data.tx_hash, *batch.data.tx_hash]

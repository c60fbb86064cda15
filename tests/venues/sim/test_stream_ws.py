"""The sim's WebSocket `/stream`, through lighter-sdk's own `WsClient` (its async path) and a
plain `websockets` client: book snapshots and updates, trades, accounts, orders, ping/pong."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import lighter
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

XRP = 5  # the shipped markets: ETH, BTC, LTC, ETC, XMR, XRP, ids 0..5
WAIT_S = 10  # generous: a bound on a hang, not a timing expectation
LIMIT, GTT = 0, 1


async def until(condition: Callable[[], bool]) -> None:
    """Wait (bounded) until `condition()` holds."""
    async with asyncio.timeout(WAIT_S):
        while not condition():
            await asyncio.sleep(0.01)


async def next_of(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next message of type `kind`, answering pings on the way."""
    async with asyncio.timeout(WAIT_S):
        while True:
            message = json.loads(await ws.recv())
            if message.get("type") == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            elif message.get("type") == kind:
                return message


@contextlib.asynccontextmanager
async def stream(sim) -> AsyncIterator[ClientConnection]:
    async with connect(sim.ws_url) as ws:
        assert json.loads(await ws.recv())["type"] == "connected"
        yield ws


@contextlib.asynccontextmanager
async def running(client: lighter.WsClient) -> AsyncIterator[None]:
    task = asyncio.create_task(client.run_async())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
            await task


def levels(side: list[dict[str, str]]) -> dict[Decimal, Decimal]:
    return {Decimal(level["price"]): Decimal(level["size"]) for level in side}


def depth(sim, market_id: int) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    market = sim.simulation.exchange.market(market_id)
    bids, asks = sim.simulation.exchange.depth(market_id, sim.simulation.settings.book_levels)

    def shaped(side: list) -> dict[Decimal, Decimal]:
        return {market.price_value(lv.price): market.size_value(lv.size) for lv in side}

    return shaped(bids), shaped(asks)


async def test_ws_client_keeps_the_sims_book_through_updates(sim):
    books: dict[str, dict[str, Any]] = {}
    updates = []

    def on_book(market_id: str, book: dict[str, Any]) -> None:
        books[market_id] = json.loads(json.dumps(book))
        updates.append(market_id)

    client = lighter.WsClient(
        ws_url=sim.ws_url,
        order_book_ids=[XRP],
        account_ids=[],
        on_order_book_update=on_book,
        on_account_update=None,
    )
    async with running(client):
        await until(lambda: str(XRP) in books)
        bids, asks = depth(sim, XRP)
        assert levels(books[str(XRP)]["bids"]) == bids
        assert levels(books[str(XRP)]["asks"]) == asks
        seen = len(updates)
        sim.simulation.advance(8)  # the ladder moves: levels change and vanish
        bids, asks = depth(sim, XRP)
        await until(
            lambda: (
                (
                    levels(client.order_book_states[str(XRP)]["bids"]),
                    levels(client.order_book_states[str(XRP)]["asks"]),
                )
                == (bids, asks)
            )
        )
        assert len(updates) > seen


async def test_ws_client_sees_the_accounts_position_after_a_fill(sim, signer):
    accounts: list[dict[str, Any]] = []
    client = lighter.WsClient(
        ws_url=sim.ws_url,
        order_book_ids=[],
        account_ids=[1],
        on_order_book_update=None,
        on_account_update=lambda account_id, message: accounts.append(message),
    )
    async with running(client):
        await until(lambda: bool(accounts))
        assert accounts[0]["type"] == "subscribed/account_all"
        assert accounts[0]["positions"] == {}
        _, asks = sim.simulation.exchange.depth(XRP, 1)
        _, _, error = await signer.create_market_order(XRP, 5, 250, asks[0].price * 2, False)
        assert error is None, error
        await until(lambda: any(m["positions"] for m in accounts))
    update = next(m for m in accounts if m["positions"])
    assert update["type"] == "update/account_all"
    assert update["channel"] == "account_all:1"
    market = sim.simulation.exchange.market(XRP)
    position = update["positions"][str(XRP)]
    assert Decimal(position["position"]) == market.size_value(250)
    assert Decimal(position["avg_entry_price"]) == market.price_value(asks[0].price)
    (fill,) = update["trades"][str(XRP)]
    assert fill["bid_account_id"] == 1 and fill["bid_client_id"] == 5
    lighter.Trade.model_validate(fill)
    lighter.AccountPosition.model_validate(position)


async def test_trade_channel_carries_the_replays_prints(sim):
    async with stream(sim) as ws:
        await ws.send(json.dumps({"type": "subscribe", "channel": f"trade/{XRP}"}))
        snapshot = await next_of(ws, "subscribed/trade")
        assert snapshot["channel"] == f"trade:{XRP}"
        known = {t["trade_id"] for t in snapshot["trades"]}
        sim.simulation.advance(10)
        update = await next_of(ws, "update/trade")
    engine = {t.trade_id: t for t in sim.simulation.exchange.recent_trades(XRP, 100)}
    market = sim.simulation.exchange.market(XRP)
    assert update["trades"]
    for trade in update["trades"]:
        lighter.Trade.model_validate(trade)
        assert trade["trade_id"] not in known
        assert Decimal(trade["price"]) == market.price_value(engine[trade["trade_id"]].price)


async def test_account_orders_need_auth_and_follow_each_order(sim, signer):
    async with stream(sim) as ws:
        await ws.send(json.dumps({"type": "subscribe", "channel": "account_all_orders/1"}))
        refused = await next_of(ws, "error")
        assert refused["error"]["code"] == 20001 and "auth" in refused["error"]["message"]
        token, _ = signer.create_auth_token_with_expiry()
        await ws.send(
            json.dumps({"type": "subscribe", "channel": "account_all_orders/1", "auth": token})
        )
        snapshot = await next_of(ws, "subscribed/account_all_orders")
        assert snapshot["orders"] == {}
        bids, _ = sim.simulation.exchange.depth(XRP, 1)
        _, _, error = await signer.create_order(XRP, 31, 100, bids[0].price - 100, False, 0, 1)
        assert error is None
        opened = await next_of(ws, "update/account_all_orders")
        (order,) = opened["orders"][str(XRP)]
        lighter.Order.model_validate(order)
        assert (order["client_order_index"], order["status"]) == (31, "open")
        _, _, error = await signer.cancel_order(XRP, order["order_index"])
        assert error is None
        closed = await next_of(ws, "update/account_all_orders")
    (order,) = closed["orders"][str(XRP)]
    assert (order["client_order_index"], order["status"]) == (31, "canceled")


async def test_subscriptions_are_checked_and_can_be_undone(sim):
    async with stream(sim) as ws:
        await ws.send("not json")
        assert (await next_of(ws, "error"))["error"]["code"] == 30000
        await ws.send(json.dumps({"type": "subscribe", "channel": "order_book/99"}))
        assert (await next_of(ws, "error"))["error"]["code"] == 30005
        await ws.send(json.dumps({"type": "subscribe", "channel": "candles/0"}))
        assert (await next_of(ws, "error"))["error"]["code"] == 30005
        await ws.send(json.dumps({"type": "dance"}))
        assert (await next_of(ws, "error"))["error"]["code"] == 30001
        await ws.send(json.dumps({"type": "subscribe", "channel": "order_book/0"}))
        snapshot = await next_of(ws, "subscribed/order_book")
        assert snapshot["channel"] == "order_book:0" and snapshot["order_book"]["asks"]
        await ws.send(json.dumps({"type": "subscribe", "channel": "order_book/0"}))
        assert (await next_of(ws, "error"))["error"]["code"] == 30003
        await ws.send(json.dumps({"type": "unsubscribe", "channel": "order_book/0"}))
        assert (await next_of(ws, "unsubscribed"))["channel"] == "order_book:0"
        await ws.send(json.dumps({"type": "unsubscribe", "channel": "order_book/0"}))
        assert (await next_of(ws, "error"))["error"]["code"] == 30002
        await ws.send(json.dumps({"type": "ping"}))
        assert (await next_of(ws, "pong"))["type"] == "pong"


async def test_the_server_pings_and_drops_a_client_that_never_answers(make_sim):
    sim = await make_sim(ws_ping_interval_s=0.05)
    pings = 0

    async def answer_pings(ws: ClientConnection) -> None:
        nonlocal pings
        async for text in ws:
            if json.loads(text)["type"] == "ping":
                pings += 1
                await ws.send(json.dumps({"type": "pong"}))

    async with stream(sim) as polite:
        answering = asyncio.create_task(answer_pings(polite))
        async with stream(sim) as silent:
            with pytest.raises(ConnectionClosed):
                async with asyncio.timeout(WAIT_S):
                    while True:
                        await silent.recv()  # pings, never answered
        await until(lambda: pings >= 4)  # answered pings keep a connection open
        assert not answering.done()
        answering.cancel()


async def test_a_lost_book_delta_shows_in_the_next_updates_nonce_chain(sim):
    async with stream(sim) as ws:
        await ws.send(json.dumps({"type": "subscribe", "channel": "order_book/0"}))
        snapshot = await next_of(ws, "subscribed/order_book")
        sim.simulation.faults.stream.lose_book_deltas = 1
        nonce = snapshot["order_book"]["nonce"]
        update = None
        while update is None:
            sim.simulation.advance(1)  # until the book moves twice: once lost, once sent
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.3):
                    update = await next_of(ws, "update/order_book")
    assert sim.simulation.faults.stream.lost_deltas == 1
    assert update["order_book"]["begin_nonce"] > nonce  # the frame in between never came


async def test_account_lists_go_flat_and_prints_go_out_as_liquidations_on_demand(sim, signer):
    faults = sim.simulation.faults.stream
    async with stream(sim) as ws:
        for channel in (f"trade/{XRP}", "account_all/1"):
            await ws.send(json.dumps({"type": "subscribe", "channel": channel}))
        await next_of(ws, "subscribed/trade")
        await next_of(ws, "subscribed/account_all")
        faults.flat_account_lists = True
        faults.liquidation_prints = 1
        _, asks = sim.simulation.exchange.depth(XRP, 1)
        _, _, error = await signer.create_market_order(XRP, 5, 250, asks[0].price * 2, False)
        assert error is None, error
        account = await next_of(ws, "update/account_all")
        trades = await next_of(ws, "update/trade")
    (fill,) = account["trades"]  # a flat list, each row naming its market
    (position,) = account["positions"]
    assert fill["market_id"] == position["market_id"] == XRP
    (liquidation,) = trades["liquidation_trades"]
    assert liquidation["type"] == "liquidation" and liquidation["trade_id"] == fill["trade_id"]


async def test_subscriptions_are_refused_on_demand(sim):
    sim.simulation.faults.stream.refuse_subscriptions = 1
    async with stream(sim) as ws:
        await ws.send(json.dumps({"type": "subscribe", "channel": "order_book/0"}))
        assert (await next_of(ws, "error"))["error"]["code"] == 23000
        await ws.send(json.dumps({"type": "subscribe", "channel": "order_book/0"}))
        assert (await next_of(ws, "subscribed/order_book"))["channel"] == "order_book:0"
    assert sim.simulation.faults.stream.refused == 1

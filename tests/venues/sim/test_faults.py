"""Each fault the sim injects, armed through `/admin/faults/...` and seen through lighter-sdk and
plain clients; and the admin endpoints tests lean on (`advance`, `state`, `transactions`)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import aiohttp
import lighter
import pytest
from lighter.exceptions import ApiException, ServiceException
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from rulebot.venues.sim.faults import Faults, FaultSettings

XRP = 5  # the shipped markets: ETH, BTC, LTC, ETC, XMR, XRP, ids 0..5
WAIT_S = 10
LIMIT, GTT = 0, 1


async def admin(sim, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, f"{sim.url}{path}", json=body) as response,
    ):
        assert response.status == 200, await response.text()
        return await response.json()


async def test_rate_limit_answers_429_with_retry_after_then_recovers(sim, api_client):
    await admin(
        sim,
        "POST",
        "/admin/faults/rate-limit",
        {"count": 2, "path": "/api/v1/orderBooks", "retry_after_s": 3},
    )
    api = lighter.OrderApi(api_client)
    for _ in range(2):
        with pytest.raises(ApiException) as limited:
            await api.order_books()
        assert limited.value.status == 429
        assert limited.value.headers["Retry-After"] == "3"
        assert json.loads(limited.value.body) == {"code": 23000, "message": "Too Many Requests!"}
    await lighter.RootApi(api_client).status()  # another path: untouched
    books = await api.order_books()
    assert len(books.order_books) == 6  # ETH, BTC, LTC, ETC, XMR, XRP
    state = await admin(sim, "GET", "/admin/faults")
    assert state["counts"]["rate_limited"] == 2 and state["armed"] == []


async def test_a_server_error_before_applying_loses_nothing(sim, signer):
    await admin(sim, "POST", "/admin/faults/server-error", {"count": 1, "path": "/api/v1/sendTx"})
    bids, _ = sim.simulation.exchange.depth(XRP, 1)
    with pytest.raises(ServiceException) as failed:
        await signer.create_order(XRP, 61, 100, bids[0].price - 100, False, LIMIT, GTT)
    assert failed.value.status == 500
    assert json.loads(failed.value.body)["code"] == 29500
    assert sim.simulation.transaction_log(include_refused=True) == []
    assert sim.simulation.exchange.next_nonce(1, 3) == 0


async def test_a_server_error_after_applying_hides_an_order_that_landed(sim, signer):
    await admin(
        sim,
        "POST",
        "/admin/faults/server-error",
        {"count": 1, "path": "/api/v1/sendTx", "status": 503, "after_apply": True},
    )
    bids, _ = sim.simulation.exchange.depth(XRP, 1)
    with pytest.raises(ServiceException) as failed:
        await signer.create_order(XRP, 62, 100, bids[0].price - 100, False, LIMIT, GTT)
    assert failed.value.status == 503
    (landed,) = sim.simulation.exchange.active_orders(1, XRP)
    assert landed.client_order_index == 62  # the client cannot tell: the idempotency case
    assert sim.simulation.exchange.next_nonce(1, 3) == 1


async def test_a_delay_holds_the_answer(sim, api_client):
    await admin(sim, "POST", "/admin/faults/delay", {"ms": 30_000, "count": 1})
    held = asyncio.create_task(lighter.RootApi(api_client).status())
    async with asyncio.timeout(WAIT_S):
        while (await admin(sim, "GET", "/admin/faults"))["counts"]["delayed"] < 1:
            await asyncio.sleep(0.01)
    assert not held.done()  # admin answers at once; the delayed request is still held
    await admin(sim, "DELETE", "/admin/faults")  # clearing releases it
    async with asyncio.timeout(WAIT_S):
        status = await held
    assert status.status == 200


async def test_a_delayed_order_lands_even_when_its_sender_gives_up_waiting(sim, signer):
    await admin(sim, "POST", "/admin/faults/delay", {"ms": 1_000, "path": "/api/v1/sendTx"})
    bids, _ = sim.simulation.exchange.depth(XRP, 1)
    sending = asyncio.create_task(
        signer.create_order(XRP, 63, 100, bids[0].price - 100, False, LIMIT, GTT)
    )
    async with asyncio.timeout(WAIT_S):
        while (await admin(sim, "GET", "/admin/faults"))["counts"]["delayed"] < 1:
            await asyncio.sleep(0.01)
    sending.cancel()  # the client hangs up; the request had reached the venue
    await asyncio.gather(sending, return_exceptions=True)
    async with asyncio.timeout(WAIT_S):
        while not sim.simulation.exchange.active_orders(1, XRP):
            await asyncio.sleep(0.01)
    assert [o.client_order_index for o in sim.simulation.exchange.active_orders(1, XRP)] == [63]


async def test_rejected_orders_never_reach_the_exchange(sim, signer):
    await admin(
        sim, "POST", "/admin/faults/reject-orders", {"count": 1, "code": 21739, "message": "no"}
    )
    bids, _ = sim.simulation.exchange.depth(XRP, 1)
    price = bids[0].price - 100
    _, sent, error = await signer.create_order(XRP, 71, 100, price, False, LIMIT, GTT)
    assert sent is None and "21739" in error
    _, sent, error = await signer.create_order(XRP, 72, 100, price, False, LIMIT, GTT)
    assert error is None and sent.code == 200  # the nonce was not spent
    assert [o.client_order_index for o in sim.simulation.exchange.active_orders(1, XRP)] == [72]
    accepted = sim.simulation.transaction_log()
    assert [t["tx_info"]["ClientOrderIndex"] for t in accepted] == [72]


async def test_dropping_websockets_once_and_on_a_schedule(sim):
    async with connect(sim.ws_url) as ws:
        assert json.loads(await ws.recv())["type"] == "connected"
        dropped = await admin(sim, "POST", "/admin/faults/drop-ws", {})
        assert dropped["dropped"] == 1
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(WAIT_S):
                while True:
                    await ws.recv()

    await admin(sim, "POST", "/admin/faults/drop-ws", {"every_s": 0.05})
    for _ in range(2):  # each new connection is dropped again
        async with connect(sim.ws_url) as ws:
            with pytest.raises(ConnectionClosed):
                async with asyncio.timeout(WAIT_S):
                    while True:
                        await ws.recv()
    stopped = await admin(sim, "POST", "/admin/faults/drop-ws", {"every_s": None})
    assert stopped["drop_ws_every_s"] is None and stopped["counts"]["ws_drops"] >= 3


async def test_a_rate_limited_websocket_handshake(sim):
    await admin(sim, "POST", "/admin/faults/rate-limit", {"count": 1, "path": "/stream"})
    with pytest.raises(InvalidStatus) as refused:
        async with connect(sim.ws_url):
            pass
    assert refused.value.response.status_code == 429
    async with connect(sim.ws_url) as ws:
        assert json.loads(await ws.recv())["type"] == "connected"


async def test_clearing_disarms_every_fault(sim, api_client):
    await admin(sim, "POST", "/admin/faults/rate-limit", {"count": 5})
    await admin(sim, "POST", "/admin/faults/reject-orders", {"count": 5})
    cleared = await admin(sim, "DELETE", "/admin/faults")
    assert cleared["armed"] == [] and cleared["reject_orders"]["remaining"] == 0
    await lighter.RootApi(api_client).status()


async def test_bad_admin_input_is_a_400(sim):
    async with aiohttp.ClientSession() as http:
        for path, body in (
            ("/admin/faults/rate-limit", {"count": "many"}),
            ("/admin/faults/server-error", {"status": 404}),
            ("/admin/faults/delay", {"ms": 10, "path": "no-slash"}),
            ("/admin/advance", {"steps": 0}),
            ("/admin/advance", {"bars": -1}),
            ("/admin/speed", {"speed": -2}),
        ):
            async with http.post(f"{sim.url}{path}", json=body) as response:
                assert response.status == 400
                assert (await response.json())["code"] == 20001


async def test_advance_and_state(sim):
    before = await admin(sim, "GET", "/admin/state")
    assert before["speed"] == 0 and [a["index"] for a in before["accounts"]] == [1]
    after = await admin(sim, "POST", "/admin/advance", {"steps": 12})
    assert after["now_ms"] > before["now_ms"]
    marks = {m["symbol"]: m["mark_price"] for m in after["markets"]}
    assert marks["XRP"] == sim.simulation.exchange.mark_price(XRP)
    assert all(m["best_bid"] < m["best_ask"] for m in after["markets"])
    bars_before = len(sim.simulation.replay.candles(XRP, "5m"))
    await admin(sim, "POST", "/admin/advance", {"bars": 3})
    assert len(sim.simulation.replay.candles(XRP, "5m")) == bars_before + 3
    later = await admin(sim, "POST", "/admin/advance", {"ms": 60_000})
    assert later["now_ms"] >= sim.simulation.replay.time_ms > after["now_ms"]
    running = await admin(sim, "POST", "/admin/speed", {"speed": 120})
    assert running["speed"] == 120 == sim.simulation.replay.speed
    paused = await admin(sim, "POST", "/admin/speed", {"speed": 0})
    assert paused["speed"] == 0


def test_fault_rules_are_spent_in_order():
    faults = Faults(FaultSettings(rate_limit=1, server_errors=1, delay_ms=5, path="/a"))
    first = faults.on_request("/a")
    assert (first.status, first.retry_after_s, first.delay_ms) == (429, 1, 5)
    assert faults.on_request("/b").status is None  # path-bound rules skip other paths
    assert faults.on_request("/a").status == 500
    assert faults.on_request("/a").status is None
    assert faults.on_request("/stream").delay_ms == 0  # unbound rules skip the handshake
    assert faults.take_order_rejection() is None
    faults.reject_orders(2, code=1, message="m")
    assert [faults.take_order_rejection() for _ in range(3)] == [(1, "m"), (1, "m"), None]
    assert faults.counts["orders_rejected"] == 2


def test_fault_settings_arm_server_errors_after_applying():
    faults = Faults(FaultSettings(server_errors=1, server_errors_after_apply=True))
    outcome = faults.on_request("/api/v1/sendTx")
    assert (outcome.status, outcome.after_apply) == (500, True)


def test_fault_settings_refuse_nonsense():
    with pytest.raises(ValueError):
        FaultSettings(rate_limit=-1)
    with pytest.raises(ValueError):
        FaultSettings(drop_ws_every_s=0)
    with pytest.raises(ValueError):
        Faults().server_error(1, status=418)


async def test_an_account_that_loses_its_state_has_no_orders_positions_or_trades(sim, signer):
    bids, _ = sim.simulation.exchange.depth(XRP, 1)
    _, _, error = await signer.create_order(XRP, 81, 100, bids[0].price - 100, False, LIMIT, GTT)
    assert error is None, error
    mark = sim.simulation.exchange.mark_price(XRP)
    _, _, error = await signer.create_market_order(XRP, 82, 200, mark * 2, False)
    assert error is None, error
    exchange = sim.simulation.exchange
    assert exchange.account(1).positions[XRP].size == 200 and exchange.active_orders(1, None)
    nonce = exchange.next_nonce(1, 3)

    state = await admin(sim, "POST", "/admin/reset-account", {"account_index": 1})

    assert exchange.active_orders(1, None) == [] and exchange.inactive_orders(1, None, 10) == []
    assert exchange.account(1).positions == {} and exchange.account_trades(1, 10) == []
    (account,) = [a for a in state["accounts"] if a["index"] == 1]
    assert Decimal(account["collateral"]) == 100_000 and not account["positions"]
    assert exchange.next_nonce(1, 3) == nonce  # its signers carry on
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{sim.url}/admin/reset-account", json={"account_index": 0}) as refused,
    ):
        assert refused.status == 400 and "no account 0" in (await refused.json())["message"]

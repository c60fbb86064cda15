"""Every REST endpoint of the sim, called through lighter-sdk's own API classes over real HTTP.

Each answer is checked twice: the SDK deserialised it into its model, and the raw JSON passes
that model's strict validation (every required field present, of its exact type) once what the
venue leaves out is put back (empty lists sent as null or left out, a candle's zero values: see
`wire.results`); then the values are checked against the exchange and the replayed candles.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import lighter
import pytest
from lighter.exceptions import BadRequestException
from pydantic import BaseModel

from rulebot.data import shipped_candles, shipped_funding
from rulebot.venues.sim import wire
from rulebot.venues.sim.records import AccountSettings
from rulebot.venues.sim.replay import DEFAULT_HISTORY
from rulebot.venues.sim.serving import SimThread
from rulebot.venues.sim.settings import SimSettings

XRP = 5  # the shipped markets are ETH, BTC, LTC, ETC, XMR, XRP: ids 0..5
BTC = 1  # as on Lighter


LISTS_SENT_AS_NULL = frozenset({"c", "trades", "fundings", "asks", "bids", "can_rfq_market_ids"})


def as_documented(body: Any) -> Any:
    """`body` with what the venue leaves out put back, as the SDK's models document it: a list
    sent as null (or, for trades, left out) as [], a candle's omitted zero values as 0."""
    if isinstance(body, list):
        return [as_documented(item) for item in body]
    if not isinstance(body, dict):
        return body
    filled = {key: as_documented(value) for key, value in body.items()}
    for key in LISTS_SENT_AS_NULL:
        if key in filled and filled[key] is None:
            filled[key] = []
    if filled.keys() == {"code", "message", "next_cursor"}:  # recentTrades without trades
        filled["trades"] = []
    if {"t", "o", "h", "l", "c"} <= filled.keys():
        for key in wire.OMITTED_WHEN_ZERO:
            filled.setdefault(key, 0)
    return filled


async def answer(call: Callable[..., Awaitable[Any]], model: type[BaseModel], **kwargs: Any) -> Any:
    """Call a `*_with_http_info` SDK method; check the raw JSON strictly against `model`, once
    what the venue leaves out is put back."""
    response = await call(**kwargs)
    assert response.status_code == 200
    assert isinstance(response.data, model)
    model.model_validate(as_documented(json.loads(response.raw_data)))
    return response.data


async def refusal(call: Awaitable[Any]) -> dict[str, Any]:
    """The `{"code", "message"}` of a 400 answer, which the SDK raises."""
    with pytest.raises(BadRequestException) as raised:
        await call
    body = json.loads(raised.value.body)
    lighter.ResultCode.model_validate(body)
    return body


async def served_candles(
    api_client: lighter.ApiClient, market_id: int, resolution: str, count: int
) -> lighter.Candles:
    """The market's last `count` closed candles, as the SDK reads them."""
    return await answer(
        lighter.CandlestickApi(api_client).candles_with_http_info,
        lighter.Candles,
        market_id=market_id,
        resolution=resolution,
        start_timestamp=0,
        end_timestamp=now_ms() + 3_600_000,
        count_back=count,
    )


def now_ms() -> int:
    return int(time.time() * 1000)


async def test_status_and_info(sim, api_client):
    root = lighter.RootApi(api_client)
    status = await answer(root.status_with_http_info, lighter.Status)
    assert status.status == 200
    assert abs(status.timestamp - time.time()) < 60  # seconds, as Lighter's
    info = await answer(root.info_with_http_info, lighter.ZkLighterInfo)
    assert info.contract_address.startswith("0x")


async def test_order_books_list_every_market_with_its_units(sim, api_client):
    api = lighter.OrderApi(api_client)
    books = await answer(api.order_books_with_http_info, lighter.OrderBooks)
    markets = sim.simulation.exchange.markets()
    assert [b.symbol for b in books.order_books] == [m.symbol for m in markets]
    for book, market in zip(books.order_books, markets, strict=True):
        assert book.market_id == market.market_id
        assert book.supported_size_decimals == market.size_decimals
        assert book.supported_price_decimals == market.price_decimals
        assert Decimal(book.min_base_amount) == market.size_value(market.min_base_amount)
        assert Decimal(book.min_quote_amount) == market.min_quote_amount
        assert Decimal(book.taker_fee) / 100 == market.taker_fee
    one = await answer(api.order_books_with_http_info, lighter.OrderBooks, market_id=XRP)
    assert [b.symbol for b in one.order_books] == ["XRP"]


async def test_the_default_btc_is_lighters_btc_priced_in_usd(sim, api_client):
    """Market 1 is BTC with Lighter's units (0.00001 BTC, 0.1 USD), its minimums, and prices
    in the tens of thousands: the shipped BTC perpetual in USD, not a BTC-quoted pair."""
    api = lighter.OrderApi(api_client)
    (book,) = (
        await answer(api.order_books_with_http_info, lighter.OrderBooks, market_id=BTC)
    ).order_books
    assert (book.symbol, book.supported_size_decimals, book.supported_price_decimals) == (
        "BTC",
        5,
        1,
    )
    assert Decimal(book.min_base_amount) == Decimal("0.0002")
    assert Decimal(book.min_quote_amount) == 10
    (detail,) = (
        await answer(api.order_book_details_with_http_info, lighter.OrderBookDetails, market_id=BTC)
    ).order_book_details
    assert 10_000 < Decimal(detail.mark_price) < 100_000
    candles = await served_candles(api_client, BTC, "5m", 10)
    assert candles.c and all(10_000 < bar.c < 100_000 for bar in candles.c)


async def test_order_book_details_follow_the_replay(sim, api_client):
    api = lighter.OrderApi(api_client)
    market = sim.simulation.exchange.market(XRP)
    details = await answer(
        api.order_book_details_with_http_info, lighter.OrderBookDetails, market_id=XRP
    )
    (detail,) = details.order_book_details
    assert details.spot_order_book_details == []
    assert (detail.size_decimals, detail.price_decimals) == (
        market.size_decimals,
        market.price_decimals,
    )
    assert detail.default_initial_margin_fraction == market.initial_margin_fraction
    assert detail.maintenance_margin_fraction == market.maintenance_margin_fraction
    mark = sim.simulation.exchange.mark_price(XRP)
    assert Decimal(detail.mark_price) == market.price_value(mark)

    sim.simulation.advance(3)
    moved = sim.simulation.exchange.mark_price(XRP)
    details = await answer(
        api.order_book_details_with_http_info, lighter.OrderBookDetails, market_id=XRP
    )
    assert Decimal(details.order_book_details[0].mark_price) == market.price_value(moved)
    assert details.order_book_details[0].daily_trades_count > 0


async def test_order_book_orders_are_the_books_best_levels(sim, api_client):
    api = lighter.OrderApi(api_client)
    market = sim.simulation.exchange.market(XRP)
    book = await answer(
        api.order_book_orders_with_http_info, lighter.OrderBookOrders, market_id=XRP, limit=5
    )
    bids, asks = sim.simulation.exchange.depth(XRP, 5)
    assert book.total_asks == len(book.asks) == 5
    assert [Decimal(o.price) for o in book.asks] == [market.price_value(lv.price) for lv in asks]
    assert [Decimal(o.price) for o in book.bids] == [market.price_value(lv.price) for lv in bids]
    assert Decimal(book.bids[0].price) < Decimal(book.asks[0].price)


async def test_recent_trades_are_the_replays_prints(sim, api_client):
    api = lighter.OrderApi(api_client)
    market = sim.simulation.exchange.market(XRP)
    before = await answer(
        api.recent_trades_with_http_info, lighter.Trades, market_id=XRP, limit=100
    )
    sim.simulation.advance(20)  # several path points in every market
    after = await answer(api.recent_trades_with_http_info, lighter.Trades, market_id=XRP, limit=100)
    new = [t for t in after.trades if t.trade_id not in {b.trade_id for b in before.trades}]
    assert new
    engine = {t.trade_id: t for t in sim.simulation.exchange.recent_trades(XRP, 100)}
    for trade in new:
        assert trade.market_id == XRP and trade.type == "trade"
        assert Decimal(trade.price) == market.price_value(engine[trade.trade_id].price)
        assert Decimal(trade.size) == market.size_value(engine[trade.trade_id].size)
    every = await answer(
        api.trades_with_http_info,
        lighter.Trades,
        sort_by="timestamp",
        limit=10,
        market_id=XRP,
        sort_dir="desc",
    )
    assert [t.trade_id for t in every.trades] == [t.trade_id for t in after.trades[:10]]


async def test_candles_are_the_shipped_candles_shifted_to_now(sim, api_client):
    replay = sim.simulation.replay
    market = sim.simulation.exchange.market(XRP)
    answered = await served_candles(api_client, XRP, "5m", 50)
    assert answered.r == "5m"
    assert len(answered.c) == 50
    shipped = shipped_candles("xrp_usdt_perp_5m")
    offset = replay.start_ms - int(shipped.timestamp[DEFAULT_HISTORY])
    for candle in answered.c:
        row = int((candle.t - offset - shipped.timestamp[0]) // shipped.timeframe_ms)
        assert shipped.timestamp[row] + offset == candle.t
        for served, original in (
            (candle.o, shipped.open[row]),
            (candle.h, shipped.high[row]),
            (candle.l, shipped.low[row]),
            (candle.c, shipped.close[row]),
        ):
            exact = Decimal(repr(float(original))).quantize(Decimal(1).scaleb(-5))
            assert Decimal(repr(served)) == exact
        assert Decimal(repr(candle.v)) == Decimal(repr(float(shipped.volume[row]))).quantize(
            Decimal(1).scaleb(-market.size_decimals)
        )
    assert answered.c[-1].t + 300_000 <= replay.time_ms  # closed bars only

    hourly = await served_candles(api_client, XRP, "1h", 3)
    assert len(hourly.c) == 3
    assert all(c.t % 3_600_000 == 0 for c in hourly.c)


async def test_candle_requests_lighter_refuses(sim, api_client):
    api = lighter.CandlestickApi(api_client)
    wrong = await refusal(
        api.candles(
            market_id=XRP, resolution="7m", start_timestamp=0, end_timestamp=1, count_back=1
        )
    )
    assert wrong["code"] == 22402
    backwards = await refusal(
        api.candles(
            market_id=XRP, resolution="5m", start_timestamp=10, end_timestamp=5, count_back=1
        )
    )
    assert backwards["code"] == 22400
    unknown = await refusal(
        api.candles(market_id=99, resolution="5m", start_timestamp=0, end_timestamp=1, count_back=1)
    )
    assert unknown["code"] == 21602


async def test_fundings_and_funding_rates_are_the_shipped_rates(sim, api_client):
    api = lighter.CandlestickApi(api_client)
    answered = await answer(
        api.fundings_with_http_info,
        lighter.Fundings,
        market_id=XRP,
        resolution="1h",
        start_timestamp=0,
        end_timestamp=now_ms() + 3_600_000,
        count_back=100,
    )
    assert answered.fundings
    shipped = shipped_funding()
    candles = shipped_candles("xrp_usdt_perp_5m")
    offset = sim.simulation.replay.start_ms - int(candles.timestamp[DEFAULT_HISTORY])
    by_time = {
        (int(t) + offset) // 1000: Decimal(repr(float(r)))
        for t, r in zip(shipped.timestamp, shipped.rate, strict=True)
    }
    for funding in answered.fundings:  # unsigned percent, and the side that paid
        rate = by_time[funding.timestamp]
        assert Decimal(funding.rate) == abs(rate) * 100
        assert funding.direction == ("long" if rate >= 0 else "short")
    in_seconds = await api.fundings(
        market_id=XRP,
        resolution="1h",
        start_timestamp=0,
        end_timestamp=now_ms() // 1000 + 3600,
        count_back=100,
    )
    assert in_seconds.fundings == answered.fundings  # Lighter's fundings take seconds
    funding_api = lighter.FundingApi(api_client)
    rates = await answer(funding_api.funding_rates_with_http_info, lighter.FundingRates)
    xrp = next(r for r in rates.funding_rates if r.market_id == XRP)
    last = answered.fundings[-1]
    sign = 1 if last.direction == "long" else -1
    assert Decimal(repr(xrp.rate)) == sign * Decimal(last.rate)
    assert {r.symbol for r in rates.funding_rates} == {
        m.symbol for m in sim.simulation.exchange.markets()
    }


async def test_account_by_index_and_by_l1_address(make_sim):
    sim = await make_sim(
        accounts=(
            AccountSettings(1, Decimal("2500.125"), l1_address="0xAbC"),
            AccountSettings(2, l1_address="0xabc"),
        )
    )
    client = lighter.ApiClient(lighter.Configuration(host=sim.url))
    try:
        api = lighter.AccountApi(client)
        accounts = await answer(
            api.account_with_http_info, lighter.DetailedAccounts, by="index", value="1"
        )
        (account,) = accounts.accounts
        assert account.index == account.account_index == 1
        assert Decimal(account.collateral) == Decimal("2500.125")
        assert Decimal(account.available_balance) == Decimal("2500.125")
        assert account.positions == []
        by_address = await answer(
            api.account_with_http_info, lighter.DetailedAccounts, by="l1_address", value="0xabc"
        )
        assert by_address.accounts[0].index == 1
        subs = await answer(
            api.accounts_by_l1_address_with_http_info, lighter.SubAccounts, l1_address="0xABC"
        )
        assert [a.index for a in subs.sub_accounts] == [1, 2]
        missing = await refusal(api.account(by="index", value="7"))
        assert missing == {"code": 21100, "message": "account not found"}
        market_maker = await refusal(api.account(by="index", value="0"))
        assert market_maker["code"] == 21100
    finally:
        await client.close()


async def test_api_keys_report_what_the_sim_knows(sim, make_signer, api_client):
    client = make_signer(sim, api_key_index=5)
    api = lighter.AccountApi(api_client)
    keys = await answer(
        api.apikeys_with_http_info, lighter.AccountApiKeys, account_index=1, api_key_index=255
    )
    assert [k.api_key_index for k in keys.api_keys] == [5]
    assert keys.api_keys[0].nonce == 0
    assert keys.api_keys[0].public_key  # hex, without 0x as Lighter reports it
    assert not keys.api_keys[0].public_key.startswith("0x")
    unknown_key = await answer(
        api.apikeys_with_http_info, lighter.AccountApiKeys, account_index=1, api_key_index=9
    )
    assert [(k.api_key_index, k.public_key) for k in unknown_key.api_keys] == [(9, "")]
    assert client.api_key_dict.keys() == {5}


async def test_next_nonce_counts_each_key_separately(sim, signer, api_client):
    api = lighter.TransactionApi(api_client)
    first = await answer(
        api.next_nonce_with_http_info, lighter.NextNonce, account_index=1, api_key_index=3
    )
    assert first.nonce == 0
    mark = sim.simulation.exchange.mark_price(XRP)
    _, sent, error = await signer.create_order(XRP, 1, 100, mark - 100, False, 0, 1)
    assert error is None and sent.code == 200
    after = await api.next_nonce(account_index=1, api_key_index=3)
    other = await api.next_nonce(account_index=1, api_key_index=4)
    assert (after.nonce, other.nonce) == (1, 0)
    missing = await refusal(api.next_nonce(account_index=8, api_key_index=3))
    assert missing["code"] == 21100


async def test_private_endpoints_need_a_valid_auth_token(sim, signer, api_client):
    api = lighter.OrderApi(api_client)
    mark = sim.simulation.exchange.mark_price(XRP)
    await signer.create_order(XRP, 7, 100, mark - 100, False, 0, 1)
    token, error = signer.create_auth_token_with_expiry()
    assert error is None
    active = await answer(
        api.account_active_orders_with_http_info,
        lighter.Orders,
        account_index=1,
        market_id=XRP,
        authorization=token,
    )
    assert [o.client_order_index for o in active.orders] == [7]
    inactive = await answer(
        api.account_inactive_orders_with_http_info,
        lighter.Orders,
        account_index=1,
        limit=10,
        authorization=token,
    )
    assert inactive.orders == []

    missing = await refusal(api.account_active_orders(account_index=1, authorization=""))
    assert missing["code"] == 20001 and "auth" in missing["message"]
    expired, _ = signer.create_auth_token_with_expiry(60, timestamp=int(time.time()) - 3600)
    stale = await refusal(api.account_active_orders(account_index=1, authorization=expired))
    assert "expired" in stale["message"]
    too_long, _ = signer.create_auth_token_with_expiry(9 * 3600)
    far = await refusal(api.account_active_orders(account_index=1, authorization=too_long))
    assert "8 hours" in far["message"]
    other = await refusal(
        api.account_inactive_orders(account_index=2, limit=5, authorization=token)
    )
    assert other["code"] == 21100
    garbage = await refusal(api.account_active_orders(account_index=1, authorization="x:y"))
    assert "malformed" in garbage["message"]


async def test_pnl_reports_the_accounts_trading_result(sim, signer, api_client):
    mark = sim.simulation.exchange.mark_price(XRP)
    _, _, error = await signer.create_market_order(XRP, 1, 200, mark * 2, False)
    assert error is None, error
    token, _ = signer.create_auth_token_with_expiry()
    pnl = await answer(
        lighter.AccountApi(api_client).pnl_with_http_info,
        lighter.AccountPnL,
        by="index",
        value="1",
        resolution="1h",
        start_timestamp=0,
        end_timestamp=now_ms() + 3_600_000,
        count_back=10,
        authorization=token,
    )
    (entry,) = pnl.pnl
    account = sim.simulation.exchange.account(1)
    expected = account.positions[XRP].realized_pnl + sim.simulation.exchange.unrealized_pnl(1, XRP)
    assert Decimal(repr(entry.trade_pnl)) == Decimal(repr(float(expected)))
    assert entry.volume > 0


def test_wire_numbers_are_exact_strings():
    assert wire.scaled(351237, 2) == "3512.37"
    assert wire.scaled(5, 4) == "0.0005"
    assert wire.scaled(-5, 0) == "-5"
    assert wire.usdc(Decimal(100_000)) == "100000.000000"
    assert wire.usdc(Decimal("0.1234567")) == "0.1234567"  # finer amounts are not rounded
    assert wire.fee_rate(Decimal("0.00028")) == "0.0280"
    assert wire.fee_rate(Decimal(0)) == "0.0000"
    assert wire.margin_percent(1000) == "10.00"


async def test_a_running_replay_moves_the_markets_by_itself(make_sim):
    sim = await make_sim(speed=600)  # ten sim minutes a second: a bar every half second
    replay = sim.simulation.replay
    start, trades = replay.time_ms, len(sim.simulation.exchange.recent_trades(XRP, 1000))
    async with asyncio.timeout(10):  # a bound on a hang, not a timing claim
        while len(sim.simulation.exchange.recent_trades(XRP, 1000)) == trades:
            await asyncio.sleep(0.02)
    assert replay.time_ms > start
    assert sim.simulation.now_ms() == replay.time_ms


def test_a_sim_on_its_own_thread_serves_synchronous_callers():
    runner = SimThread(SimSettings(speed=0))
    with runner as sim:
        with urllib.request.urlopen(f"{sim.url}/api/v1/orderBooks", timeout=10) as response:
            books = json.loads(response.read())
        runner.call(lambda simulation: simulation.advance(40))
        mark = runner.call(lambda simulation: simulation.exchange.mark_price(XRP))
        with urllib.request.urlopen(f"{sim.url}/admin/state", timeout=10) as response:
            state = json.loads(response.read())
    lighter.OrderBooks.model_validate(books)
    assert [b["symbol"] for b in books["order_books"]] == ["ETH", "BTC", "LTC", "ETC", "XMR", "XRP"]
    xrp = next(m for m in state["markets"] if m["symbol"] == "XRP")
    assert xrp["mark_price"] == mark

"""Every REST answer the real venue was captured sending (`captures/http_*.json`) goes through the
adapter's own path, the SDK's model (`from_json`, as its API classes read a body) then the
adapter's reader, and comes out as our records or a clear `VenueError`, never a bare exception.

Expected values are read from the captures' own JSON, so each test says what the adapter must make
of what the venue sent: nulls and missing lists as empty, omitted zeros as 0, trades newest first.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import lighter
import pytest

from rulebot.venues.lighter import convert
from rulebot.venues.lighter.errors import BadAnswer, VenueError
from rulebot.venues.lighter.markets import markets_answer
from rulebot.venues.lighter.records import (
    AccountState,
    Candle,
    Funding,
    Order,
    OrderBookSnapshot,
    Trade,
)
from rulebot.venues.units import MarketInfo

CAPTURES = Path(__file__).parent / "captures"
ACCOUNT = 123456  # the index in http_account.json
SYMBOLS = {0: "ETH", 1: "BTC"}

Reader = Callable[[str], object]


def symbol_of(market_id: int) -> str:
    return SYMBOLS.get(market_id, str(market_id))


def parsed(model: type[Any], what: str) -> Callable[[str], Any]:
    """A body as the SDK's API classes read it into `model`, its failures as the client's."""

    def parse(body: str) -> Any:
        with convert.reading(what):
            return model.from_json(body)

    return parse


account = parsed(lighter.DetailedAccounts, "account")
candles = parsed(lighter.Candles, "candles")
fundings = parsed(lighter.Fundings, "fundings")
next_nonce = parsed(lighter.NextNonce, "nextNonce")
details = parsed(lighter.OrderBookDetails, "orderBookDetails")
book_orders = parsed(lighter.OrderBookOrders, "orderBookOrders")
books = parsed(lighter.OrderBooks, "orderBooks")
orders = parsed(lighter.Orders, "orders")
trades = parsed(lighter.Trades, "trades")

READERS: dict[str, Reader] = {
    "http_account": lambda body: convert.account_answer(account(body), ACCOUNT),
    "http_candles": lambda body: convert.candles_answer(candles(body)),
    "http_fundings": lambda body: convert.fundings_answer(fundings(body)),
    "http_next_nonce": lambda body: convert.next_nonce_answer(next_nonce(body)),
    "http_order_book_depth": lambda body: convert.depth("ETH", json.loads(body)),
    "http_order_book_details": lambda body: markets_answer(details(body)),
    "http_order_book_orders": lambda body: convert.order_book_answer("ETH", book_orders(body)),
    "http_order_books": lambda body: markets_answer(books(body)),
    "http_orders": lambda body: convert.orders_answer(orders(body), symbol_of),
    "http_recent_trades": lambda body: convert.trades_answer(trades(body), symbol_of),
}
"""The reader of each endpoint's captures, by the capture's name without its variant
(`http_candles_null` is read as `http_candles`). The depth shape (`{"asks": [{"price",
"size"}], ...}`, the levels of the stream's books) has no REST model in the SDK: `convert.depth`
reads it."""

RECORDS = (AccountState, Candle, Funding, Order, OrderBookSnapshot, Trade, MarketInfo, int)


def captures() -> list[str]:
    return sorted(path.stem for path in CAPTURES.glob("http_*.json"))


def reader_of(name: str) -> Reader:
    endpoint = max((key for key in READERS if name.startswith(key)), key=len, default=None)
    assert endpoint is not None, f"{name} has no reader: add its endpoint to READERS"
    return READERS[endpoint]


def text(name: str) -> str:
    return (CAPTURES / f"{name}.json").read_text(encoding="utf-8")


def raw(name: str) -> dict[str, Any]:
    body = json.loads(text(name))
    assert isinstance(body, dict)
    return body


def read(name: str, body: dict[str, Any] | None = None) -> Any:
    """The capture `name` (or `body`, a variant of it) through its endpoint's reader."""
    return reader_of(name)(json.dumps(body) if body is not None else text(name))


def exact(value: object) -> Decimal:
    """What a JSON number or decimal string of the venue's is, exactly."""
    return Decimal(str(value))


# --- every capture -----------------------------------------------------------------------------


def test_the_captures_are_there() -> None:
    assert len(captures()) >= 15, captures()  # the copies beside these tests, not elsewhere


@pytest.mark.parametrize("name", captures())
def test_every_capture_reads_as_records(name: str) -> None:
    """Each capture is what the venue really sends: it reads, as our records (never the SDK's
    models); what cannot be read is a `BadAnswer` (see the end of this file)."""
    value = read(name)
    values = value if isinstance(value, list) else [value]
    for one in values:
        assert isinstance(one, RECORDS), (name, type(one))


# --- empty means null ------------------------------------------------------------------------


def test_a_window_without_candles_is_no_candles() -> None:
    assert raw("http_candles_null")["c"] is None
    assert read("http_candles_null") == []


def test_null_or_missing_trades_are_no_trades() -> None:
    assert raw("http_recent_trades_null")["trades"] is None
    assert "trades" not in raw("http_recent_trades_missing")
    assert read("http_recent_trades_null") == []
    assert read("http_recent_trades_missing") == []


def test_null_book_sides_are_empty_sides() -> None:
    depth = raw("http_order_book_depth_null")
    assert depth["asks"] is None and depth["bids"] is None
    book = read("http_order_book_depth_null")
    assert (book.bids, book.asks, book.best_bid, book.best_ask) == ((), (), None, None)

    orders = raw("http_order_book_orders")
    only_bids = read("http_order_book_orders", {**orders, "asks": None, "total_asks": 0})
    assert only_bids.asks == () and only_bids.best_bid == exact(orders["bids"][0]["price"])
    nothing = read("http_order_book_orders", {**orders, "asks": None, "bids": None})
    assert (nothing.bids, nothing.asks) == ((), ())


def test_null_fundings_are_no_fundings() -> None:
    assert read("http_fundings", {**raw("http_fundings"), "fundings": None}) == []


def test_null_entries_in_a_list_are_skipped() -> None:
    body = raw("http_candles")
    assert len(read("http_candles", {**body, "c": [None, *body["c"]]})) == len(body["c"])


# --- omitted zeros ---------------------------------------------------------------------------


def test_a_candle_without_volumes_has_volume_zero() -> None:
    body = raw("http_candles")
    first, *rest = body["c"]
    quiet = {key: value for key, value in first.items() if key not in ("v", "V", "i")}
    candles = read("http_candles", {**body, "c": [quiet, *rest]})
    assert (candles[0].volume, candles[0].quote_volume) == (0, 0)
    assert candles[0].close == exact(first["c"])
    assert candles[1].volume == exact(rest[0]["v"]) and candles[1].volume > 0


def test_candles_read_exactly() -> None:
    body = raw("http_candles")
    candles = read("http_candles")
    assert [c.time_ms for c in candles] == [bar["t"] for bar in body["c"]]
    for candle, bar in zip(candles, body["c"], strict=True):
        assert (candle.open, candle.high, candle.low, candle.close) == tuple(
            exact(bar[key]) for key in "ohlc"
        )
        assert (candle.volume, candle.quote_volume) == (exact(bar["v"]), exact(bar["V"]))


def test_a_trade_without_its_zero_ids_reads_them_as_zero() -> None:
    body = raw("http_recent_trades")
    (sent,) = body["trades"]
    bare = {key: value for key, value in sent.items() if not key.startswith("ask_client_id")}
    (trade,) = read("http_recent_trades", {**body, "trades": [bare]})
    assert trade.sell_client_order_index == 0
    assert trade.buy_client_order_index == sent["bid_client_id"]


# --- order -----------------------------------------------------------------------------------


def test_unordered_trades_come_newest_first() -> None:
    sent = raw("http_recent_trades_unordered")["trades"]
    ids = [t["trade_id"] for t in sent]
    assert ids != sorted(ids, reverse=True)  # the capture is out of order
    trades = read("http_recent_trades_unordered")
    assert [t.trade_id for t in trades] == sorted(ids, reverse=True)
    by_id = {t["trade_id"]: t for t in sent}
    for trade in trades:
        assert trade.price == exact(by_id[trade.trade_id]["price"])
        assert trade.size == exact(by_id[trade.trade_id]["size"])
        assert trade.time_ms == by_id[trade.trade_id]["timestamp"]


# --- the other endpoints' values -----------------------------------------------------------


def test_the_book_is_the_resting_orders() -> None:
    body = raw("http_order_book_orders")
    book = read("http_order_book_orders")
    assert book.best_ask == exact(body["asks"][0]["price"])
    assert book.best_bid == exact(body["bids"][0]["price"])
    assert book.asks[0].size == exact(body["asks"][0]["remaining_base_amount"])

    depth = raw("http_order_book_depth")
    levels = read("http_order_book_depth")
    assert (levels.best_bid, levels.best_ask) == (
        exact(depth["bids"][0]["price"]),
        exact(depth["asks"][0]["price"]),
    )


def test_fundings_are_stamped_in_milliseconds() -> None:
    body = raw("http_fundings")
    fundings = read("http_fundings")
    assert [(f.time_ms, f.rate, f.value, f.direction) for f in fundings] == [
        (f["timestamp"] * 1000, exact(f["rate"]), exact(f["value"]), f["direction"])
        for f in body["fundings"]
    ]


def test_a_zero_funding_may_leave_everything_but_its_time_out() -> None:
    body = raw("http_fundings")
    stamp = body["fundings"][0]["timestamp"]
    (zero,) = read("http_fundings", {**body, "fundings": [{"timestamp": stamp}]})
    assert (zero.rate, zero.value, zero.fraction) == (0, 0, 0)


def test_markets_have_the_venues_decimals_and_minimums() -> None:
    for name, key in (
        ("http_order_book_details", "order_book_details"),
        ("http_order_books", "order_books"),
    ):
        sent = raw(name)[key]
        markets = read(name)
        assert [m.symbol for m in markets] == [d["symbol"] for d in sent]
        for market, detail in zip(markets, sent, strict=True):
            assert market.size_decimals == detail["supported_size_decimals"]
            assert market.price_decimals == detail["supported_price_decimals"]
            assert market.min_base_amount == exact(detail["min_base_amount"])


def test_the_account_and_its_flat_positions() -> None:
    (sent,) = raw("http_account")["accounts"]
    state = read("http_account")
    assert state.account_index == sent["index"]
    assert state.collateral == exact(sent["collateral"])
    assert all(exact(p["position"]) == 0 for p in sent["positions"])
    assert state.positions == ()  # a flat position is listed by the venue, not held
    with pytest.raises(VenueError, match=f"no account {ACCOUNT}"):
        read("http_account", {**raw("http_account"), "accounts": None})


def test_orders_and_the_next_nonce() -> None:
    (sent,) = raw("http_orders")["orders"]
    (order,) = read("http_orders")
    assert (order.order_index, order.client_order_index, order.market) == (
        sent["order_index"],
        sent["client_order_index"],
        SYMBOLS[sent["market_index"]],
    )
    assert (order.price, order.size) == (exact(sent["price"]), exact(sent["initial_base_amount"]))
    assert read("http_orders", {**raw("http_orders"), "orders": None}) == []
    assert read("http_next_nonce") == raw("http_next_nonce")["nonce"]


# --- what cannot be read is a clear VenueError ----------------------------------------------


def broken(name: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    body = raw(name)
    change(body)
    return body


UNREADABLE: dict[str, tuple[str, Callable[[dict[str, Any]], None], str]] = {
    "a candle without its time": ("http_candles", lambda b: b["c"][0].pop("t"), "`t`"),
    "a candle without its close": ("http_candles", lambda b: b["c"][0].pop("c"), "`c`"),
    "a price that is no number": (
        "http_recent_trades",
        lambda b: b["trades"][0].update(price="n/a"),
        "price",
    ),
    "a trade without its id": (
        "http_recent_trades",
        lambda b: b["trades"][0].pop("trade_id"),
        "id",
    ),
    "a trade of no market": (
        "http_recent_trades",
        lambda b: b["trades"][0].pop("market_id"),
        "market",
    ),
    "a list that is a word": (
        "http_fundings",
        lambda b: b.update(fundings="none"),
        "fundings answer \\(Funding",
    ),
    "a funding paid by nobody": (
        "http_fundings",
        lambda b: b["fundings"][0].update(direction=None),
        "long or short",
    ),
    "a resting order without a price": (
        "http_order_book_orders",
        lambda b: b["asks"][0].pop("price"),
        "price",
    ),
    "a depth level that is a number": (
        "http_order_book_depth",
        lambda b: b.update(asks=[7]),
        "price level",
    ),
    "a next nonce left out": ("http_next_nonce", lambda b: b.pop("nonce"), "nonce"),
    "a market without its symbol": (
        "http_order_book_details",
        lambda b: b["order_book_details"][0].pop("symbol"),
        "symbol",
    ),
}


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_what_cannot_be_read_is_a_bad_answer(case: str) -> None:
    name, change, named = UNREADABLE[case]
    with pytest.raises(BadAnswer, match=named):
        read(name, broken(name, change))


@pytest.mark.parametrize("name", ["http_candles", "http_recent_trades", "http_order_book_orders"])
def test_a_null_body_is_a_bad_answer(name: str) -> None:
    with pytest.raises(BadAnswer, match="with nothing"):
        reader_of(name)("null")

"""Every stream frame the real venue was captured sending, through the stream's own frame handler
(the one `MarketStream` reads every frame with): each comes out as events or as a frame of a
channel not subscribed to, and a frame it cannot read is skipped and counted, never raised."""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from rulebot.venues.lighter.client import LighterVenue
from rulebot.venues.lighter.events import AccountChanged, BookChanged, StreamEvent, TradesPrinted
from rulebot.venues.lighter.frames import FrameHandler
from rulebot.venues.lighter.records import BookLevel, OrderRequest
from rulebot.venues.sim.serving import RunningSim

CAPTURES = Path(__file__).parent / "captures"
FRAMES = sorted(CAPTURES.glob("ws_*.json"))
READ_CHANNELS = ("order_book:0", "trade:0")  # what the handler below subscribes to


def capture(name: str) -> dict[str, Any]:
    return json.loads((CAPTURES / name).read_text())


class Handler:
    """The stream's frame handler and the events it emitted."""

    def __init__(self, frames: FrameHandler, events: list[StreamEvent]) -> None:
        self.frames = frames
        self.events = events

    def take(self) -> list[StreamEvent]:
        taken, self.events[:] = list(self.events), []
        return taken


@pytest.fixture
async def handler(venue: LighterVenue) -> Handler:
    """The frame handler `MarketStream` reads with, on ETH's book and trades and the account
    (market 0 is ETH on the sim as on mainnet), its events collected as they are made."""
    markets = {info.market_id: info for info in await venue.markets()}
    assert markets[0].symbol == "ETH"
    events: list[StreamEvent] = []
    frames = FrameHandler(
        markets, books=[0], trades=[0], account=venue.account_index, emit=events.append
    )
    return Handler(frames, events)


def account_frame(account: int, **content: Any) -> str:
    """An `update/account_all` frame carrying `content` (as the venue sends trades and
    positions: keyed by market or flat)."""
    return json.dumps(
        {"type": "update/account_all", "channel": f"account_all:{account}", **content}
    )


@pytest.mark.parametrize("path", FRAMES, ids=[p.stem for p in FRAMES])
async def test_every_captured_frame_is_read_or_ignored_never_raised(
    handler: Handler, path: Path
) -> None:
    text = path.read_text()
    frame = json.loads(text)
    if frame["channel"] not in READ_CHANNELS:
        expected = "ignored"  # market stats, candles, tickers, other account channels
    else:
        expected = "subscribed" if frame["type"].startswith("subscribed/") else "read"
    assert handler.frames.receive(text).kind == expected
    assert handler.frames.frames_skipped == 0


async def test_the_captured_book_snapshot_becomes_the_local_book(handler: Handler) -> None:
    raw = capture("ws_order_book_subscribed.json")
    received = handler.frames.receive(json.dumps(raw))
    assert received.kind == "subscribed" and received.subscription
    (event,) = handler.take()
    assert isinstance(event, BookChanged) and event.full and event.market == "ETH"
    side = raw["order_book"]
    assert event.book.asks == tuple(
        BookLevel(Decimal(lv["price"]), Decimal(lv["size"])) for lv in side["asks"]
    )
    assert event.book.bids == tuple(
        BookLevel(Decimal(lv["price"]), Decimal(lv["size"])) for lv in side["bids"]
    )


async def test_an_update_that_breaks_the_nonce_chain_asks_for_a_rebuild(handler: Handler) -> None:
    """The captured update does not follow the captured snapshot (its begin_nonce is not the
    snapshot's nonce): a delta was lost between them, so the book must be rebuilt."""
    handler.frames.receive((CAPTURES / "ws_order_book_subscribed.json").read_text())
    before = handler.frames.book("ETH")
    handler.take()
    received = handler.frames.receive((CAPTURES / "ws_order_book_update.json").read_text())
    assert received.rebuild == 0
    assert handler.frames.book_rebuilds == 1
    assert handler.take() == [] and handler.frames.book("ETH") == before  # not applied
    # and until a fresh snapshot comes, updates are not applied either
    chained = capture("ws_order_book_update.json")
    chained["order_book"]["offset"] += 7
    chained["order_book"]["begin_nonce"] = chained["order_book"]["nonce"]
    assert handler.frames.receive(json.dumps(chained)).rebuild is None
    assert handler.take() == [] and handler.frames.book_rebuilds == 1


async def test_an_update_on_the_chain_continues_the_book_whatever_its_offset(
    handler: Handler,
) -> None:
    snapshot = capture("ws_order_book_subscribed.json")
    update = capture("ws_order_book_update.json")
    update["order_book"]["begin_nonce"] = snapshot["order_book"]["nonce"]  # on the chain
    handler.frames.receive(json.dumps(snapshot))
    handler.take()
    received = handler.frames.receive(json.dumps(update))  # offset 2164 -> 1558300
    assert received.kind == "read" and received.rebuild is None
    (event,) = handler.take()
    assert isinstance(event, BookChanged) and not event.full
    assert BookLevel(Decimal("2064.54"), Decimal("0.3285")) in event.book.asks
    assert handler.frames.book_rebuilds == 0


async def test_without_begin_nonce_only_the_next_offset_continues_the_book(
    handler: Handler,
) -> None:
    snapshot = capture("ws_order_book_subscribed.json")
    handler.frames.receive(json.dumps(snapshot))
    update = capture("ws_order_book_update.json")
    del update["order_book"]["begin_nonce"]
    update["order_book"]["offset"] = snapshot["order_book"]["offset"] + 1
    assert handler.frames.receive(json.dumps(update)).rebuild is None
    update["order_book"]["offset"] += 2  # one skipped
    assert handler.frames.receive(json.dumps(update)).rebuild == 0
    assert handler.frames.book_rebuilds == 1


async def test_null_book_sides_read_as_empty(handler: Handler) -> None:
    snapshot = capture("ws_order_book_subscribed_empty.json")
    snapshot["channel"] = "order_book:0"
    snapshot["order_book"]["asks"] = snapshot["order_book"]["bids"] = None
    assert handler.frames.receive(json.dumps(snapshot)).kind == "subscribed"
    (event,) = handler.take()
    assert isinstance(event, BookChanged) and event.book.bids == event.book.asks == ()


async def test_liquidation_trades_are_trades(handler: Handler) -> None:
    handler.frames.receive((CAPTURES / "ws_trade_subscribed.json").read_text())  # history
    assert handler.take() == []
    update = capture("ws_trade_update.json")
    (seen,) = update["trades"]
    liquidation = {**seen, "trade_id": seen["trade_id"] + 1, "type": "liquidation"}
    update["liquidation_trades"] = [liquidation]
    update["trades"] = [{**seen, "trade_id": seen["trade_id"] + 2}]
    assert handler.frames.receive(json.dumps(update)).kind == "read"
    (event,) = handler.take()
    assert isinstance(event, TradesPrinted)
    assert [t.trade_id for t in event.trades] == [seen["trade_id"] + 1, seen["trade_id"] + 2]
    assert event.trades[0].price == Decimal(seen["price"])


@pytest.mark.parametrize("layout", ["by_market", "flat"])
async def test_account_updates_are_read_keyed_by_market_or_as_flat_lists(
    handler: Handler, venue: LighterVenue, layout: str
) -> None:
    """The captured account trades and positions, inside an `account_all` frame of ours."""
    positions = capture("ws_account_all_positions_update.json")["positions"]
    trades = capture("ws_account_all_trades_update.json")["trades"]
    if layout == "flat":
        positions = list(positions.values())
        trades = [row for rows in trades.values() for row in rows]
    account = venue.account_index
    handler.frames.receive(account_frame(account, positions={}, trades={}))  # the first: history
    handler.take()
    received = handler.frames.receive(account_frame(account, positions=positions, trades=trades))
    assert received.kind == "read"
    (event,) = handler.take()
    assert isinstance(event, AccountChanged)
    (position,) = event.positions
    assert (position.market, position.size, position.entry_price) == (
        "ETH",
        Decimal("1.5000"),
        Decimal("2350.10"),
    )
    (trade,) = event.trades
    assert (trade.trade_id, trade.market, trade.size) == (19209006902, "ETH", Decimal("0.1336"))
    assert trade.buyer_account == 1234 and trade.buy_client_order_index == 7001011966


def broken_frames(account: int) -> Iterator[tuple[str, str]]:
    """Frames no handler can read, each with why."""
    book = capture("ws_order_book_subscribed.json")
    trade = capture("ws_trade_update.json")
    yield "not JSON", "{'type': 'update/trade'"
    yield "a list", json.dumps([trade])
    yield "no type", json.dumps({"channel": "trade:0"})
    bad_price = copy.deepcopy(book)
    bad_price["order_book"]["asks"][0]["price"] = "two thousand"
    yield "a price that is no number", json.dumps(bad_price)
    no_book = {**book, "order_book": "gone"}
    yield "an order book that is not an object", json.dumps(no_book)
    no_id = copy.deepcopy(trade)
    del no_id["trades"][0]["trade_id"]
    yield "a trade without an id", json.dumps(no_id)
    yield "trades that are no list", json.dumps({**trade, "liquidation_trades": 5})
    flat = trade["trades"][0]
    no_market = {k: v for k, v in flat.items() if k != "market_id"}
    yield "a flat account trade without a market", account_frame(account, trades=[no_market])
    yield "a position that is text", account_frame(account, positions=["ETH long"])
    yield "a position without its size", account_frame(account, positions=[{"symbol": "ETH"}])


async def test_frames_it_cannot_read_are_skipped_and_counted_and_reading_goes_on(
    handler: Handler, venue: LighterVenue
) -> None:
    broken = list(broken_frames(venue.account_index))
    for why, text in broken:
        received = handler.frames.receive(text)
        assert received.kind == "skipped", why
        assert received.detail, why
    assert handler.frames.frames_skipped == len(broken)
    assert handler.take() == []
    # and the next good frame is read as ever
    handler.frames.receive((CAPTURES / "ws_order_book_subscribed.json").read_text())
    (event,) = handler.take()
    assert isinstance(event, BookChanged) and event.book.asks


async def test_an_unreadable_book_snapshot_answers_the_subscription_and_the_next_update_rebuilds(
    handler: Handler,
) -> None:
    """Answered, else the stream would ask for it again and again; and with no snapshot to build
    on, the next update asks for a fresh one rather than waiting forever."""
    book = capture("ws_order_book_subscribed.json")
    book["order_book"]["bids"] = {"price": "1"}
    received = handler.frames.receive(json.dumps(book))
    assert received.kind == "skipped" and received.subscription
    assert received.channel == "order_book:0"
    update = capture("ws_order_book_update.json")
    assert handler.frames.receive(json.dumps(update)).rebuild == 0
    assert handler.take() == []


async def test_the_venues_answer_to_unsubscribing_is_not_a_book_frame(handler: Handler) -> None:
    handler.frames.receive((CAPTURES / "ws_order_book_subscribed.json").read_text())
    received = handler.frames.receive(
        json.dumps({"type": "unsubscribed", "channel": "order_book:0"})
    )
    assert received.kind == "ignored" and handler.frames.frames_skipped == 0


# --- the sim speaks the same frames -----------------------------------------------------------


def same_shape(ours: Any, theirs: Any, where: str = "frame") -> list[str]:
    """Where `ours` lacks a key of `theirs` or holds another JSON type (lists by their first
    item). Keys the capture lacks are fine: the sim's trades also carry the newer fields of the
    SDK's `Trade` model, which the captured frames predate."""
    if isinstance(theirs, dict):
        if not isinstance(ours, dict):
            return [f"{where}: an object in the capture, {type(ours).__name__} here"]
        problems = [f"{where}: no `{key}`" for key in theirs.keys() - ours.keys()]
        for key in theirs.keys() & ours.keys():
            problems += same_shape(ours[key], theirs[key], f"{where}.{key}")
        return problems
    if isinstance(theirs, list):
        if not isinstance(ours, list):
            return [f"{where}: a list in the capture, {type(ours).__name__} here"]
        if ours and theirs:
            return same_shape(ours[0], theirs[0], f"{where}[0]")
        return []
    if theirs is None or type(ours) is type(theirs):
        return []
    return [f"{where}: {type(theirs).__name__} in the capture, {type(ours).__name__} here"]


async def frames_of_the_sim(sim: RunningSim, venue: LighterVenue) -> dict[str, dict[str, Any]]:
    """The first frame of each kind the sim sends on a book, trades and the account, once the
    market has moved and our order filled."""
    seen: dict[str, dict[str, Any]] = {}
    account = venue.account_index
    async with connect(sim.ws_url) as ws:
        for channel in ("order_book/0", "trade/0", f"account_all/{account}"):
            await ws.send(json.dumps({"type": "subscribe", "channel": channel}))
        wanted = {
            "subscribed/order_book",
            "update/order_book",
            "subscribed/trade",
            "update/trade",
            "subscribed/account_all",
            "update/account_all",
        }
        async with asyncio.timeout(10):  # a bound on a hang
            while not wanted <= seen.keys():
                message = json.loads(await ws.recv())
                seen.setdefault(message["type"], message)
                if message["type"] == "subscribed/account_all":
                    sim.simulation.advance(2)
                    eth = await venue.market("ETH")
                    ask = (await venue.order_book("ETH", depth=1)).best_ask
                    assert ask is not None
                    size = eth.smallest_size(ask) * 2
                    await venue.place_order(OrderRequest("ETH", "buy", size, kind="market"))
    return seen


async def test_the_sims_frames_have_the_keys_and_types_of_the_captures(
    sim: RunningSim, venue: LighterVenue
) -> None:
    frames = await frames_of_the_sim(sim, venue)
    problems = []
    for kind, name in (
        ("subscribed/order_book", "ws_order_book_subscribed.json"),
        ("update/order_book", "ws_order_book_update.json"),
        ("subscribed/trade", "ws_trade_subscribed.json"),
        ("update/trade", "ws_trade_update.json"),
    ):
        problems += same_shape(frames[kind], capture(name), name)
    account = frames["update/account_all"]
    (trade,) = [row for rows in account["trades"].values() for row in rows]
    captured_trade = capture("ws_account_all_trades_update.json")["trades"]["0"][0]
    problems += same_shape(trade, captured_trade, "account trade")
    captured_position = capture("ws_account_all_positions_update.json")["positions"]["0"]
    problems += same_shape(account["positions"]["0"], captured_position, "account position")
    assert problems == [], "\n".join(problems)


async def test_the_sims_book_updates_follow_the_nonce_chain_on_offsets_that_jump(
    sim: RunningSim,
) -> None:
    async with connect(sim.ws_url) as ws:
        await ws.send(json.dumps({"type": "subscribe", "channel": "order_book/0"}))
        books = []
        async with asyncio.timeout(20):  # a bound on a hang
            while len(books) < 12:
                try:
                    async with asyncio.timeout(0.2):  # a step may leave the book as it was
                        message = json.loads(await ws.recv())
                except TimeoutError:
                    sim.simulation.advance(1)
                    continue
                if message["type"].endswith("/order_book"):
                    books.append(message["order_book"])
    offsets = [book["offset"] for book in books]
    assert offsets == sorted(set(offsets))
    assert any(b - a > 1 for a, b in itertools.pairwise(offsets))  # not contiguous
    for before, after in itertools.pairwise(books):
        assert after["begin_nonce"] == before["nonce"] < after["nonce"]

"""The WebSocket stream against the sim: books that match REST, trades seen exactly once, the
account's fills, and a dropped connection recovered with nothing lost; and the venue's awkward
frames (a lost book delta, unreadable frames, flat account lists, liquidation prints, a 429
while filling a gap, a refused resubscription), none of which ends the stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from rulebot.venues.lighter.client import LighterVenue
from rulebot.venues.lighter.events import (
    AccountChanged,
    AccountResynced,
    BookChanged,
    Disconnected,
    Resynced,
    StreamEvent,
    TradesPrinted,
)
from rulebot.venues.lighter.frames import FrameHandler, Received
from rulebot.venues.lighter.records import OrderBookSnapshot, OrderRequest
from rulebot.venues.lighter.retry import RetryPolicy
from rulebot.venues.lighter.stream import MarketStream, stream_url
from rulebot.venues.sim.serving import RunningSim
from tests.venues.lighter.conftest import QUICK, MakeVenue

WAIT = 5.0  # seconds an expected event may take before the test fails
FAST = RetryPolicy(attempts=None, base_delay=0.01, max_delay=0.05)


@pytest.fixture
async def stream(venue: LighterVenue) -> AsyncIterator[MarketStream]:
    async with MarketStream(
        venue, books=["ETH"], trades=["ETH"], account=True, reconnect=FAST
    ) as running:
        yield running


async def next_of(stream: MarketStream, kind: type[StreamEvent]) -> StreamEvent:
    """The next event of `kind`, skipping the others."""
    while True:
        event = await stream.next_event(timeout=WAIT)
        if isinstance(event, kind):
            return event


async def drain(stream: MarketStream) -> list[StreamEvent]:
    """Every event already queued or arriving within a moment of quiet."""
    events = []
    while True:
        try:
            events.append(await stream.next_event(timeout=0.2))
        except TimeoutError:
            return events


def top(book: OrderBookSnapshot, levels: int = 10) -> tuple[tuple, tuple]:
    return book.bids[:levels], book.asks[:levels]


def test_the_stream_url_follows_the_base_url() -> None:
    assert stream_url("http://127.0.0.1:8787") == "ws://127.0.0.1:8787/stream"
    assert stream_url("https://mainnet.zklighter.elliot.ai") == (
        "wss://mainnet.zklighter.elliot.ai/stream"
    )


async def test_the_local_book_matches_the_rest_snapshot_as_the_market_moves(
    stream: MarketStream, venue: LighterVenue, sim: RunningSim
) -> None:
    first = await next_of(stream, BookChanged)
    assert first.full and first.market == "ETH"
    assert top(first.book) == top(await venue.order_book("ETH"))
    sim.simulation.advance(3)
    updates = [e for e in await drain(stream) if isinstance(e, BookChanged)]
    assert updates and not any(update.full for update in updates)
    assert top(updates[-1].book) == top(await venue.order_book("ETH"))
    assert stream.book("ETH") == updates[-1].book


async def test_trades_are_yielded_once_each_in_order(
    stream: MarketStream, venue: LighterVenue, sim: RunningSim
) -> None:
    await next_of(stream, BookChanged)
    before = {t.trade_id for t in await venue.recent_trades("ETH")}
    sim.simulation.advance(8)
    printed = [
        trade
        for event in await drain(stream)
        if isinstance(event, TradesPrinted)
        for trade in event.trades
    ]
    expected = sorted(
        t.trade_id for t in await venue.recent_trades("ETH") if t.trade_id not in before
    )
    assert [t.trade_id for t in printed] == expected
    assert len(expected) >= 8  # one print per replay step at least


async def test_our_fill_arrives_as_an_account_change(
    stream: MarketStream, venue: LighterVenue
) -> None:
    await next_of(stream, AccountChanged)  # the subscription's snapshot
    ack = await venue.place_order(OrderRequest("ETH", "buy", Decimal(200), kind="market"))
    change = await next_of(stream, AccountChanged)
    assert isinstance(change, AccountChanged)
    (fill,) = change.trades
    assert (fill.buy_client_order_index, fill.size) == (ack.client_order_index, Decimal(200))
    (position,) = change.positions
    assert (position.market, position.size, position.entry_price) == ("ETH", 200, fill.price)


async def test_a_dropped_connection_is_resumed_with_nothing_lost(
    stream: MarketStream, venue: LighterVenue, sim: RunningSim
) -> None:
    await next_of(stream, BookChanged)
    await next_of(stream, AccountChanged)
    seen = {t.trade_id for t in await venue.recent_trades("ETH")}
    faults = sim.simulation.faults
    faults.server_error(1_000_000, path="/stream", status=503)  # refuse to reconnect, for now
    assert faults.drop_ws() == 1
    # the market trades while we are away: more than the 50 recent trades a resubscription
    # brings, so the rest must come from REST; and our own order fills
    sim.simulation.advance(60)
    ack = await venue.place_order(OrderRequest("ETH", "buy", Decimal(200), kind="market"))
    missed = sorted(t.trade_id for t in await venue.recent_trades("ETH") if t.trade_id not in seen)
    await next_of(stream, Disconnected)
    faults.clear()  # the venue is back

    events = []
    async with asyncio.timeout(WAIT):
        while not any(isinstance(e, Resynced) for e in events):
            events.append(await stream.next_event())
    resynced = next(e for e in events if isinstance(e, Resynced))
    assert resynced.complete
    assert resynced.reconnects == stream.reconnects >= 1
    recovered = [t.trade_id for e in events if isinstance(e, TradesPrinted) for t in e.trades]
    assert recovered == missed and len(missed) > 50
    assert resynced.missed_trades == len(missed)
    assert ack.client_order_index in {
        t.buy_client_order_index for e in events if isinstance(e, TradesPrinted) for t in e.trades
    }
    (account,) = [e.account for e in events if isinstance(e, AccountResynced)]
    (position,) = account.positions
    assert position.size == Decimal(200)
    assert any(isinstance(e, BookChanged) and e.full for e in events)
    await drain(stream)
    assert top(stream.book("ETH")) == top(await venue.order_book("ETH"))

    sim.simulation.advance(4)  # and the stream carries on after the resync
    later = [
        t.trade_id for e in await drain(stream) if isinstance(e, TradesPrinted) for t in e.trades
    ]
    assert later and min(later) > max(missed)


async def test_a_gap_longer_than_one_rest_page_is_flagged(
    stream: MarketStream, venue: LighterVenue, sim: RunningSim
) -> None:
    await next_of(stream, BookChanged)
    sim.simulation.faults.drop_ws()
    sim.simulation.advance(150)  # 150 prints: more than REST's page of 100 recent trades
    events = []
    async with asyncio.timeout(WAIT):
        while not any(isinstance(e, Resynced) for e in events):
            events.append(await stream.next_event())
    resynced = next(e for e in events if isinstance(e, Resynced))
    assert not resynced.complete
    recovered = [t.trade_id for e in events if isinstance(e, TradesPrinted) for t in e.trades]
    newest = sorted(t.trade_id for t in await venue.recent_trades("ETH"))
    assert recovered == newest  # the newest page, in order, and nothing twice


async def test_the_venues_pings_are_answered(make_sim, make_venue) -> None:
    interval = 0.1
    running = await make_sim(ws_ping_interval_s=interval)
    venue = await make_venue(running)
    async with MarketStream(venue, books=["ETH"], reconnect=FAST) as stream:
        await next_of(stream, BookChanged)
        # the sim drops a client that missed two pings and said nothing for a second
        await asyncio.sleep(1.0 + 3 * interval)
        assert not any(isinstance(e, Disconnected) for e in await drain(stream))
        assert stream.reconnects == 0


# --- the venue's awkward frames, and a stream that never dies of one --------------------------


async def arm(sim: RunningSim, fault: str, body: dict[str, Any]) -> dict[str, Any]:
    """Arm one of the sim's stream faults through its admin route."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{sim.url}/admin/faults/stream/{fault}", json=body) as answer,
    ):
        assert answer.status == 200, await answer.text()
        return await answer.json()


def printed(events: list[StreamEvent]) -> list[int]:
    return [t.trade_id for e in events if isinstance(e, TradesPrinted) for t in e.trades]


async def until_resynced(stream: MarketStream) -> list[StreamEvent]:
    """Every event up to and including the next `Resynced`."""
    events: list[StreamEvent] = []
    async with asyncio.timeout(WAIT * 3):
        while not any(isinstance(e, Resynced) for e in events):
            events.append(await stream.next_event())
    return events


async def test_a_lost_book_delta_rebuilds_the_book_from_a_fresh_snapshot(
    stream: MarketStream, venue: LighterVenue, sim: RunningSim
) -> None:
    await next_of(stream, BookChanged)
    await arm(sim, "lose-book-delta", {"count": 1, "market": 0})
    events: list[StreamEvent] = []
    async with asyncio.timeout(WAIT * 3):
        while not any(isinstance(e, BookChanged) and e.full for e in events):
            sim.simulation.advance(1)  # the lost update, then one whose chain shows it
            events += await drain(stream)
    assert sim.simulation.faults.stream.lost_deltas == 1
    assert stream.health().book_rebuilds == 1
    assert stream.health().frames_skipped == 0  # the venue's `unsubscribed` is no data frame
    assert not any(isinstance(e, Disconnected) for e in events)  # the connection stayed
    await drain(stream)
    assert top(stream.book("ETH")) == top(await venue.order_book("ETH"))
    sim.simulation.advance(2)  # and updates apply again on the fresh snapshot's chain
    await drain(stream)
    assert top(stream.book("ETH")) == top(await venue.order_book("ETH"))
    assert stream.health().book_rebuilds == 1


async def test_frames_it_cannot_read_are_skipped_and_counted_and_the_stream_goes_on(
    stream: MarketStream, venue: LighterVenue, sim: RunningSim
) -> None:
    await next_of(stream, BookChanged)
    before = {t.trade_id for t in await venue.recent_trades("ETH")}
    no_price = {"type": "update/trade", "channel": "trade:0", "trades": [{"trade_id": 1}]}
    for text in ("{not json", json.dumps(no_price), json.dumps(["a", "list"])):
        assert (await arm(sim, "frame", {"text": text}))["sent"] == 1
    sim.simulation.advance(4)
    events = await drain(stream)
    health = stream.health()
    assert health.frames_skipped == 3
    assert health.connected and health.reconnects == 0 and health.restarts == 0
    assert health.last_frame_age_s is not None
    assert not any(isinstance(e, Disconnected) for e in events)
    expected = sorted(
        t.trade_id for t in await venue.recent_trades("ETH") if t.trade_id not in before
    )
    assert printed(events) == expected and expected


async def test_account_updates_as_flat_lists_are_read(
    stream: MarketStream, venue: LighterVenue, sim: RunningSim
) -> None:
    await next_of(stream, AccountChanged)  # the subscription's snapshot
    await arm(sim, "flat-account-lists", {"on": True})
    ack = await venue.place_order(OrderRequest("ETH", "buy", Decimal(200), kind="market"))
    change = await next_of(stream, AccountChanged)
    assert isinstance(change, AccountChanged)
    (fill,) = change.trades
    assert (fill.buy_client_order_index, fill.size) == (ack.client_order_index, Decimal(200))
    (position,) = change.positions
    assert (position.market, position.size) == ("ETH", Decimal(200))
    assert stream.health().frames_skipped == 0


async def test_liquidation_prints_are_yielded_as_trades(
    stream: MarketStream, venue: LighterVenue, sim: RunningSim
) -> None:
    await next_of(stream, BookChanged)
    before = {t.trade_id for t in await venue.recent_trades("ETH")}
    await arm(sim, "liquidations", {"count": 3})
    sim.simulation.advance(8)
    events = await drain(stream)
    expected = sorted(
        t.trade_id for t in await venue.recent_trades("ETH") if t.trade_id not in before
    )
    assert sim.simulation.faults.stream.liquidation_prints == 0  # all three went out as such
    assert printed(events) == expected


async def test_a_rate_limit_that_outlasts_the_retries_while_filling_the_gap_is_waited_out(
    sim: RunningSim, make_venue: MakeVenue
) -> None:
    # a one-second rate window: the venue gives up on 429s after it, as after the real minute
    venue = await make_venue(sim, rate_window_s=1.0)
    async with MarketStream(
        venue, books=["ETH"], trades=["ETH"], account=True, reconnect=FAST
    ) as stream:
        await _a_gap_fill_waits_out_its_429s(stream, venue, sim)


async def _a_gap_fill_waits_out_its_429s(
    stream: MarketStream, venue: LighterVenue, sim: RunningSim
) -> None:
    await next_of(stream, BookChanged)
    seen = {t.trade_id for t in await venue.recent_trades("ETH")}
    faults = sim.simulation.faults
    # more 429s than one read's retries: the first gap fill fails, the stream tries it again
    faults.rate_limit(QUICK.attempts + 2, path="/api/v1/recentTrades", retry_after_s=0)
    faults.drop_ws()
    sim.simulation.advance(10)
    events = await until_resynced(stream)
    events += await drain(stream)
    assert faults.counts["rate_limited"] == QUICK.attempts + 2
    missed = sorted(t.trade_id for t in await venue.recent_trades("ETH") if t.trade_id not in seen)
    assert printed(events) == missed and missed
    health = stream.health()  # one resync, in one session: the 429s did not restart it
    assert (health.resyncs, health.reconnects, health.restarts) == (1, 1, 0)


async def test_a_refused_resubscription_is_asked_again_and_the_resync_still_comes(
    stream: MarketStream, venue: LighterVenue, sim: RunningSim
) -> None:
    await next_of(stream, BookChanged)
    await next_of(stream, AccountChanged)
    seen = {t.trade_id for t in await venue.recent_trades("ETH")}
    await arm(sim, "refuse-subscriptions", {"count": 2})
    sim.simulation.faults.drop_ws()
    sim.simulation.advance(20)
    events = await until_resynced(stream)
    events += await drain(stream)
    assert sim.simulation.faults.stream.refused == 2
    missed = sorted(t.trade_id for t in await venue.recent_trades("ETH") if t.trade_id not in seen)
    assert printed(events) == missed and missed  # the held trades, released, each once
    assert any(isinstance(e, AccountResynced) for e in events)
    assert top(stream.book("ETH")) == top(await venue.order_book("ETH"))


class FaultyFrames(FrameHandler):
    """A frame handler with a bug: it raises on any frame that says "boom"."""

    def receive(self, text: str | bytes) -> Received:
        if "boom" in str(text):
            raise RuntimeError("a bug in handling a frame")
        return super().receive(text)


class FaultyStream(MarketStream):
    frame_handler = FaultyFrames


async def test_an_error_while_handling_a_frame_restarts_the_session(
    venue: LighterVenue, sim: RunningSim
) -> None:
    async with FaultyStream(venue, books=["ETH"], trades=["ETH"], reconnect=FAST) as stream:
        await next_of(stream, BookChanged)
        seen = {t.trade_id for t in await venue.recent_trades("ETH")}
        await arm(sim, "frame", {"text": json.dumps({"type": "boom"})})
        sim.simulation.advance(4)
        events = await until_resynced(stream)
        events += await drain(stream)
        (lost,) = [e for e in events if isinstance(e, Disconnected)]
        assert "RuntimeError" in lost.reason
        assert stream.health().restarts == 1 and stream.health().connected
        missed = sorted(
            t.trade_id for t in await venue.recent_trades("ETH") if t.trade_id not in seen
        )
        assert printed(events) == missed and missed  # nothing lost across the restart

"""The `market_stats` channel: the venue's captured frames and the sim's read into
`MarketStatsChanged` (funding rate as a fraction, mark price, open interest), the sim's frames
shaped as the venue's, and `MarketStream` subscribing to it against the sim."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from rulebot.venues.lighter.client import LighterVenue
from rulebot.venues.lighter.events import MarketStatsChanged, StreamEvent
from rulebot.venues.lighter.frames import FrameHandler
from rulebot.venues.lighter.stream import MarketStream
from rulebot.venues.sim.serving import RunningSim

CAPTURES = Path(__file__).parent / "captures"
XRP = 5  # the shipped markets: ETH, BTC, LTC, ETC, XMR, XRP, ids 0..5
DAY_MS = 86_400_000
WAIT = 10.0  # a bound on a hang, not a timing expectation


def capture(name: str) -> dict[str, Any]:
    return json.loads((CAPTURES / name).read_text())


async def test_a_captured_frame_reads_as_the_perpetuals_figures(venue: LighterVenue) -> None:
    markets = {info.market_id: info for info in await venue.markets()}
    events: list[StreamEvent] = []
    frames = FrameHandler(markets, stats=[0, 1], emit=events.append)
    text = (CAPTURES / "ws_market_stats_update_single.json").read_text()
    assert frames.receive(text).kind == "read"
    assert events == [
        MarketStatsChanged(
            "ETH",
            funding_rate=Decimal("0.000002") / 100,  # Lighter's rates are in percent
            mark_price=Decimal("2064.47"),
            open_interest=Decimal("27250.8411"),
        )
    ]
    subscribed = (CAPTURES / "ws_market_stats_subscribed_single.json").read_text()
    assert frames.receive(subscribed).kind == "subscribed"
    raw = capture("ws_market_stats_subscribed_single.json")["market_stats"]
    assert isinstance(events[-1], MarketStatsChanged)
    assert events[-1].funding_rate == Decimal(raw["funding_rate"]) / 100
    assert frames.frames_skipped == 0


async def test_an_unreadable_stats_frame_is_skipped(venue: LighterVenue) -> None:
    markets = {info.market_id: info for info in await venue.markets()}
    events: list[StreamEvent] = []
    frames = FrameHandler(markets, stats=[0], emit=events.append)
    frame = capture("ws_market_stats_update_single.json")
    frame["market_stats"]["funding_rate"] = "n/a"
    assert frames.receive(json.dumps(frame)).kind == "skipped"
    assert events == [] and frames.frames_skipped == 1


async def test_the_sims_frames_have_the_venues_keys_and_types(sim: RunningSim) -> None:
    captured = capture("ws_market_stats_update_single.json")
    async with connect(sim.ws_url) as ws:
        assert json.loads(await ws.recv())["type"] == "connected"
        await ws.send(json.dumps({"type": "subscribe", "channel": f"market_stats/{XRP}"}))
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] != "ping":
                break
    assert frame["type"] == "subscribed/market_stats"
    assert frame["channel"] == f"market_stats:{XRP}"
    assert set(frame) == set(captured)
    ours, theirs = frame["market_stats"], captured["market_stats"]
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        assert type(ours[key]) is type(value), key


async def test_the_stream_yields_the_sims_funding_mark_and_open_interest(
    sim: RunningSim, venue: LighterVenue
) -> None:
    replay = sim.simulation.replay
    async with MarketStream(venue, trades=["XRP"], stats=["XRP"]) as stream:
        first = await next_stats(stream)
        assert first.market == "XRP"
        paid = replay.last_funding(XRP)
        assert first.funding_rate == (paid.rate if paid is not None else 0)
        for _ in range(30):  # funding every 8 hours: on until a payment of another rate
            sim.simulation.advance(ms=DAY_MS // 6)
            paid = replay.last_funding(XRP)
            if paid is not None and paid.rate != first.funding_rate:
                break
        assert paid is not None and paid.rate != first.funding_rate
        latest = await next_stats(stream)
        while latest.funding_rate != paid.rate:  # updates sent on the way, then the last
            latest = await next_stats(stream)
    market = sim.simulation.exchange.market(XRP)
    assert latest.mark_price == market.price_value(sim.simulation.exchange.mark_price(XRP))
    assert latest.open_interest >= 0


async def next_stats(stream: MarketStream) -> MarketStatsChanged:
    while True:
        event = await stream.next_event(timeout=WAIT)
        if isinstance(event, MarketStatsChanged):
            return event

"""`MarketStream`: Lighter's WebSocket kept alive, as typed events.

The SDK's `WsClient` does not reconnect and knows no trades channel, so this is our own loop on
`websockets`. It subscribes to `order_book/{id}`, `trade/{id}` and `account_all/{account}` as
asked, answers the venue's `ping` with `pong`, keeps a local book per market, and when the
connection drops it reconnects with backoff and jitter, resubscribes, and fills the gap:

- books: the resubscription brings a fresh snapshot, which replaces the local book;
- trades: those printed meanwhile, from the resubscription's snapshot and REST `recentTrades`
  merged, newer than the last one seen (by trade id), so none is lost and none yielded twice
  (up to one REST page, 100 trades; `Resynced.complete` says whether that was enough);
- account: REST `/account`, yielded as `AccountResynced`;

and then yields `Resynced`, so a consumer knows its view is whole again.

    async with MarketStream(venue, books=["ETH"], trades=["ETH"], account=True) as stream:
        async for event in stream:
            ...
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Callable, Iterable
from types import TracebackType
from typing import Any, Final

import websockets
from lighter.models.account_position import AccountPosition
from websockets.asyncio.client import ClientConnection, connect

from rulebot.venues.lighter import convert
from rulebot.venues.lighter.book import LocalBook
from rulebot.venues.lighter.client import LighterVenue
from rulebot.venues.lighter.errors import VenueError
from rulebot.venues.lighter.events import (
    AccountChanged,
    AccountResynced,
    BookChanged,
    Disconnected,
    Resynced,
    StreamEvent,
    TradesPrinted,
)
from rulebot.venues.lighter.records import OrderBookSnapshot, Trade
from rulebot.venues.lighter.retry import RetryPolicy
from rulebot.venues.units import MarketInfo

log = logging.getLogger(__name__)

STREAM_PATH: Final = "/stream"
GAP_TRADES: Final = 100  # the most recent trades REST gives in one call
RECONNECT: Final = RetryPolicy(attempts=None, base_delay=0.05, max_delay=5.0, jitter=0.5)
CONNECTION_ERRORS: Final = (
    OSError,
    TimeoutError,
    websockets.ConnectionClosed,
    websockets.InvalidHandshake,
    websockets.InvalidURI,
)


class StreamClosed(VenueError):
    """The stream was closed (by its owner, or after giving up reconnecting)."""


def stream_url(base_url: str) -> str:
    """`https://host` -> `wss://host/stream`; `http://127.0.0.1:8787` -> `ws://.../stream`."""
    if base_url.startswith("https://"):
        return "wss://" + base_url.removeprefix("https://") + STREAM_PATH
    return "ws://" + base_url.removeprefix("http://") + STREAM_PATH


class MarketStream:
    """Books, trades and the account of one venue, yielded as `StreamEvent`s."""

    def __init__(
        self,
        venue: LighterVenue,
        *,
        books: Iterable[str | int] = (),
        trades: Iterable[str | int] = (),
        account: bool = False,
        reconnect: RetryPolicy = RECONNECT,
        rng: random.Random | None = None,
        on_disconnect: Callable[[Disconnected], None] | None = None,
    ) -> None:
        """`on_disconnect` is called the moment the connection is lost (before its
        `Disconnected` event waits in line behind the events not yet consumed)."""
        self._venue = venue
        self._on_disconnect = on_disconnect
        self._book_keys = tuple(books)
        self._trade_keys = tuple(trades)
        self._account = account
        self._policy = reconnect
        self._rng = rng or random.Random()
        self._events: asyncio.Queue[StreamEvent | None] = asyncio.Queue()
        self._books: dict[int, LocalBook] = {}
        self._last_trade: dict[int, int] = {}
        self._last_account_trade = -1
        self._markets: dict[int, MarketInfo] = {}  # every market, for symbols
        self._book_ids: set[int] = set()
        self._trade_ids: set[int] = set()
        self._account_seen = False
        self._held: dict[int, dict[int, Trade]] | None = None  # trades held while resyncing
        self._task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._closed = False
        self.reconnects = 0
        self.connected = asyncio.Event()

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> MarketStream:
        """Resolve the markets and start the connection loop."""
        if self._task is None:
            self._markets = {info.market_id: info for info in await self._venue.markets()}
            self._book_ids = {(await self._venue.market(k)).market_id for k in self._book_keys}
            self._trade_ids = {(await self._venue.market(k)).market_id for k in self._trade_keys}
            self._task = asyncio.create_task(self._run(), name="lighter-stream")
        return self

    async def close(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._events.put_nowait(None)

    async def __aenter__(self) -> MarketStream:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[StreamEvent]:
        while True:
            event = await self._events.get()
            if event is None:
                if self._failure is not None:
                    raise StreamClosed(f"the stream gave up: {self._failure}") from self._failure
                return
            yield event

    async def next_event(self, timeout: float | None = None) -> StreamEvent:
        """The next event, waiting at most `timeout` seconds (TimeoutError after)."""
        async with asyncio.timeout(timeout):
            event = await self._events.get()
        if event is None:
            self._events.put_nowait(None)
            raise StreamClosed("the stream is closed") from self._failure
        return event

    def book(self, market: str | int) -> OrderBookSnapshot | None:
        """The local book of a market subscribed to, as last updated."""
        for market_id, local in self._books.items():
            if market in (market_id, str(market_id), local.market):
                return local.snapshot()
        return None

    # --- the connection loop ------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        try:
            while not self._closed:
                reason = "closed by the venue"
                try:
                    async with connect(
                        stream_url(self._venue.url), max_size=2**22, open_timeout=10
                    ) as ws:
                        attempt = await self._session(ws, resync=self.reconnects > 0)
                except CONNECTION_ERRORS as error:
                    reason = f"{type(error).__name__}: {error}"
                self.connected.clear()
                if self._closed:
                    return
                attempt += 1
                pause = self._policy.delay(attempt, self._rng.random())
                if pause is None:
                    self._failure = StreamClosed(f"could not reconnect: {reason}")
                    return
                log.info("stream dropped (%s); reconnecting in %.2f s", reason, pause)
                lost = Disconnected(reason, attempt)
                if self._on_disconnect is not None:
                    try:
                        self._on_disconnect(lost)
                    except Exception:  # the caller's problem must not stop the stream
                        log.exception("on_disconnect failed")
                self._emit(lost)
                await asyncio.sleep(pause)
                self.reconnects += 1
        except Exception as error:  # a bug or a venue answer we cannot read: end the stream
            log.exception("stream stopped")
            self._failure = error
        finally:
            if not self._closed:
                self._events.put_nowait(None)

    async def _session(self, ws: ClientConnection, *, resync: bool) -> int:
        """Subscribe, then handle messages until the connection closes; returns the number of
        failed attempts to count from (0: this connection worked)."""
        if resync:
            self._held = {}
        pending = await self._subscribe(ws)
        self.connected.set()
        if not pending and resync:
            await self._fill_gap()
        async for raw in ws:
            message = json.loads(raw)
            kind = message.get("type", "")
            if kind == "ping":
                await ws.send('{"type":"pong"}')
                continue
            channel = message.get("channel", "")
            if kind.startswith("subscribed/") and channel in pending:
                self._handle(kind, channel, message)
                pending.discard(channel)
                if not pending and resync:
                    await self._fill_gap()
                continue
            if kind == "error":
                log.warning("stream error from the venue: %s", message.get("error"))
                continue
            self._handle(kind, channel, message)
        return 0

    async def _subscribe(self, ws: ClientConnection) -> set[str]:
        channels: list[tuple[str, str]] = []
        for market_id in sorted(self._book_ids):
            channels.append((f"order_book/{market_id}", f"order_book:{market_id}"))
        for market_id in sorted(self._trade_ids):
            channels.append((f"trade/{market_id}", f"trade:{market_id}"))
        if self._account:
            index = self._venue.account_index
            channels.append((f"account_all/{index}", f"account_all:{index}"))
        for channel, _ in channels:
            await ws.send(json.dumps({"type": "subscribe", "channel": channel}))
        return {answer for _, answer in channels}

    async def _fill_gap(self) -> None:
        """After a reconnect: the trades held since it (the resubscription's snapshot and any
        updates) merged with REST's recent trades, those newer than the last seen yielded in
        order; then the account from REST; then `Resynced`."""
        held, self._held = self._held or {}, None
        missed = 0
        complete = True
        for market_id in sorted(self._trade_ids):
            recent = await self._venue.recent_trades(
                self._markets[market_id].symbol, limit=GAP_TRADES
            )
            last = self._last_trade.get(market_id, -1)
            if len(recent) == GAP_TRADES and min(t.trade_id for t in recent) > last:
                complete = False  # more may have printed than one page holds
            merged = {t.trade_id: t for t in recent} | held.get(market_id, {})
            missed += self._trades(market_id, merged.values())
        if self._account:
            self._emit(AccountResynced(await self._venue.account()))
        self._emit(Resynced(self.reconnects, missed, complete))

    # --- messages -----------------------------------------------------------------------------

    def _handle(self, kind: str, channel: str, message: dict[str, Any]) -> None:
        name, _, ident = channel.partition(":")
        if name == "order_book" and ident.isdigit():
            self._on_book(int(ident), kind, message)
        elif name == "trade" and ident.isdigit() and int(ident) in self._trade_ids:
            symbol = self._symbol(int(ident))
            trades = [convert.trade_json(raw, symbol) for raw in message.get("trades", [])]
            self._trades(int(ident), trades)
        elif name == "account_all":
            self._on_account(message)

    def _on_book(self, market_id: int, kind: str, message: dict[str, Any]) -> None:
        info = self._markets.get(market_id)
        if info is None or market_id not in self._book_ids:
            return
        body = message.get("order_book", {})
        offset = int(body.get("offset", message.get("offset", 0)))
        local = self._books.setdefault(market_id, LocalBook(info.symbol))
        full = kind.startswith("subscribed/")
        if full:
            local.reset(body.get("bids", []), body.get("asks", []), offset)
        elif not local.apply(body.get("bids", []), body.get("asks", []), offset):
            return
        self._emit(BookChanged(info.symbol, local.snapshot(), full))

    def _trades(self, market_id: int, trades: Iterable[Trade]) -> int:
        """Yield the trades not seen yet, oldest first (or hold them while resyncing); returns
        how many were yielded."""
        trades = list(trades)
        if self._held is not None:
            self._held.setdefault(market_id, {}).update((t.trade_id, t) for t in trades)
            return 0
        if market_id not in self._last_trade:
            # the first snapshot is history, not news: remember where it ends
            self._last_trade[market_id] = max((t.trade_id for t in trades), default=-1)
            return 0
        last = self._last_trade[market_id]
        fresh = sorted((t for t in trades if t.trade_id > last), key=lambda t: t.trade_id)
        if not fresh:
            return 0
        self._last_trade[market_id] = fresh[-1].trade_id
        self._emit(TradesPrinted(self._markets[market_id].symbol, tuple(fresh)))
        return len(fresh)

    def _on_account(self, message: dict[str, Any]) -> None:
        positions = []
        for raw in (message.get("positions") or {}).values():
            position = convert.position(AccountPosition.from_dict(raw))
            if position.size != 0:
                positions.append(position)
        trades = [
            convert.trade_json(raw, self._symbol(int(market)))
            for market, rows in (message.get("trades") or {}).items()
            for raw in rows
        ]
        fresh = sorted(
            (t for t in trades if t.trade_id > self._last_account_trade), key=lambda t: t.trade_id
        )
        if fresh:
            self._last_account_trade = fresh[-1].trade_id
        if not self._account_seen:  # the first snapshot's trades are history, not news
            self._account_seen = True
            fresh = []
        self._emit(AccountChanged(tuple(positions), tuple(fresh)))

    def _symbol(self, market_id: int) -> str:
        info = self._markets.get(market_id)
        return info.symbol if info is not None else str(market_id)

    def _emit(self, event: StreamEvent) -> None:
        self._events.put_nowait(event)

"""`MarketStream`: Lighter's WebSocket kept alive, as typed events.

The SDK's `WsClient` does not reconnect and knows no trades channel, so this is our own loop on
`websockets`. It subscribes to `order_book/{id}`, `trade/{id}` and `account_all/{account}` as
asked, answers the venue's `ping` with `pong`, and reads every frame through `FrameHandler`
(frames.py: local books on the nonce chain, trades seen once, the account's updates).

It never dies of a frame; a supervisor keeps it running:

- a frame it cannot read is skipped and counted (`health().frames_skipped`);
- a book that lost a delta is resubscribed, which brings a fresh snapshot (`book_rebuilds`);
- a subscription the venue refuses is sent again with backoff, and after a few refusals the
  session is restarted;
- an error while handling a frame (a bug) restarts the session: reconnect, resubscribe, resync;
- when the connection drops it reconnects with backoff and jitter, for as long as it takes.

After a reconnect it fills the gap, in the background while the socket is served:

- books: the resubscription brings a fresh snapshot, which replaces the local book;
- trades: those printed meanwhile, from the resubscription's snapshot and REST `recentTrades`
  merged, newer than the last one seen (by trade id), so none is lost and none yielded twice
  (up to one REST page, 100 trades; `Resynced.complete` says whether that was enough); trades
  are held until then, and a failing REST call (a 429 that outlasts its retries) is tried
  again with backoff rather than ending the stream;
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
import time
from collections.abc import AsyncIterator, Callable, Iterable
from types import TracebackType
from typing import Final

import websockets
from websockets.asyncio.client import ClientConnection, connect

from rulebot.venues.lighter.client import LighterVenue
from rulebot.venues.lighter.errors import VenueError
from rulebot.venues.lighter.events import (
    AccountResynced,
    Disconnected,
    Resynced,
    StreamEvent,
    StreamHealth,
)
from rulebot.venues.lighter.frames import FrameHandler, Received
from rulebot.venues.lighter.records import AccountState, OrderBookSnapshot, Trade
from rulebot.venues.lighter.retry import RetryPolicy
from rulebot.venues.units import MarketInfo

log = logging.getLogger(__name__)

STREAM_PATH: Final = "/stream"
GAP_TRADES: Final = 100  # the most recent trades REST gives in one call
RECONNECT: Final = RetryPolicy(attempts=None, base_delay=0.05, max_delay=5.0, jitter=0.5)
SUBSCRIBE_REFUSALS: Final = 5  # refusals in a row before the session is restarted
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


class SessionRestart(VenueError):
    """The session cannot go on as it is (a subscription refused again and again, an error in
    the background gap fill): reconnect and start over."""


class MarketStream:
    """Books, trades and the account of one venue, yielded as `StreamEvent`s."""

    frame_handler: type[FrameHandler] = FrameHandler
    """What reads the frames (a subclass may replace it)."""

    def __init__(
        self,
        venue: LighterVenue,
        *,
        books: Iterable[str | int] = (),
        trades: Iterable[str | int] = (),
        stats: Iterable[str | int] = (),
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
        self._stats_keys = tuple(stats)
        self._account = account
        self._policy = reconnect
        self._rng = rng or random.Random()
        self._events: asyncio.Queue[StreamEvent | None] = asyncio.Queue()
        self._markets: dict[int, MarketInfo] = {}  # every market, for symbols
        self.frames: FrameHandler | None = None
        self._ws: ClientConnection | None = None
        self._pending: dict[str, str] = {}  # answer channel -> subscription, not yet answered
        self._refusals = 0
        self._resubscriber: asyncio.Task[None] | None = None
        self._gap: asyncio.Task[None] | None = None
        self._session_error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._closed = False
        self._last_frame: float | None = None  # time.monotonic() of the last frame
        self.reconnects = 0
        self.resyncs = 0
        self.restarts = 0
        self.connected = asyncio.Event()

    # --- lifecycle ----------------------------------------------------------------------------

    async def prepare(self) -> FrameHandler:
        """Resolve the markets and set up the frame handler (no connection yet)."""
        if self.frames is None:
            self._markets = {info.market_id: info for info in await self._venue.markets()}
            books = {(await self._venue.market(k)).market_id for k in self._book_keys}
            trades = {(await self._venue.market(k)).market_id for k in self._trade_keys}
            stats = {(await self._venue.market(k)).market_id for k in self._stats_keys}
            self.frames = self.frame_handler(
                self._markets,
                books=books,
                trades=trades,
                stats=stats,
                account=self._venue.account_index if self._account else None,
                emit=self._emit,
            )
        return self.frames

    async def start(self) -> MarketStream:
        """Resolve the markets and start the connection loop."""
        if self._task is None:
            await self.prepare()
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
        return None if self.frames is None else self.frames.book(market)

    def health(self) -> StreamHealth:
        """Connected or not, the age of the last frame, and what the stream recovered from."""
        frames = self.frames
        return StreamHealth(
            connected=self.connected.is_set(),
            last_frame_age_s=(
                None if self._last_frame is None else time.monotonic() - self._last_frame
            ),
            reconnects=self.reconnects,
            resyncs=self.resyncs,
            book_rebuilds=0 if frames is None else frames.book_rebuilds,
            frames_skipped=0 if frames is None else frames.frames_skipped,
            restarts=self.restarts,
        )

    # --- the supervisor -----------------------------------------------------------------------

    async def _run(self) -> None:
        """Run sessions until closed: a session ends when the connection drops, or restarts
        when something in it went wrong; only a reconnect policy with a finite number of
        attempts ever gives up."""
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
                except SessionRestart as error:
                    self.restarts += 1
                    reason = str(error)
                    log.warning("stream session restarted: %s", error)
                except Exception as error:  # a bug in handling a frame: start over, clean
                    self.restarts += 1
                    reason = f"restarted after an error: {type(error).__name__}: {error}"
                    log.exception("stream session failed; restarting it")
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
        finally:
            if not self._closed:
                self._events.put_nowait(None)

    async def _session(self, ws: ClientConnection, *, resync: bool) -> int:
        """Subscribe, then handle frames until the connection closes; returns the number of
        failed attempts to count from (0: this connection worked)."""
        frames = await self.prepare()
        self._ws = ws
        self._session_error = None
        self._refusals = 0
        if resync:
            frames.hold()  # until the gap is filled (trades held before stay held)
        try:
            self._pending = dict(self._channels())
            for channel in self._pending.values():
                await self._send({"type": "subscribe", "channel": channel})
            self.connected.set()
            self._maybe_fill_gap(resync)
            async for raw in ws:
                self._last_frame = time.monotonic()
                await self._on_frame(frames.receive(raw), resync)
        except CONNECTION_ERRORS:
            if self._session_error is None:  # else: closed by `_stop_session`, said below
                raise
        finally:
            for task in (self._gap, self._resubscriber):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            self._gap = self._resubscriber = None
            self._ws = None
        if self._session_error is not None:
            raise SessionRestart(str(self._session_error)) from self._session_error
        return 0

    async def _on_frame(self, received: Received, resync: bool) -> None:
        if received.kind == "ping":
            await self._send({"type": "pong"})
            return
        if received.kind == "error":
            log.warning("stream error from the venue: %s", received.detail)
            if self._pending:
                self._refused()
            return
        if received.subscription and self._pending.pop(received.channel, None) is not None:
            self._refusals = 0
            self._maybe_fill_gap(resync)
        if received.rebuild is not None:  # a fresh snapshot: leave the channel, join again
            channel = f"order_book/{received.rebuild}"
            self._pending[f"order_book:{received.rebuild}"] = channel
            await self._send({"type": "unsubscribe", "channel": channel})
            await self._send({"type": "subscribe", "channel": channel})

    def _channels(self) -> list[tuple[str, str]]:
        """(answer channel, subscription) for everything subscribed to."""
        assert self.frames is not None
        channels = [(f"order_book:{m}", f"order_book/{m}") for m in sorted(self.frames.book_ids)]
        channels += [(f"trade:{m}", f"trade/{m}") for m in sorted(self.frames.trade_ids)]
        channels += [
            (f"market_stats:{m}", f"market_stats/{m}") for m in sorted(self.frames.stats_ids)
        ]
        if self.frames.account is not None:
            index = self.frames.account
            channels.append((f"account_all:{index}", f"account_all/{index}"))
        return channels

    async def _send(self, message: dict[str, str]) -> None:
        if self._ws is not None:
            await self._ws.send(json.dumps(message))

    def _refused(self) -> None:
        """The venue refused a subscription (it names none reliably: every one still pending
        is sent again after a backoff; too many refusals in a row restart the session)."""
        if self._resubscriber is not None and not self._resubscriber.done():
            return
        self._refusals += 1
        if self._refusals >= SUBSCRIBE_REFUSALS:
            raise SessionRestart(f"the venue refused to subscribe to {sorted(self._pending)}")
        pause = self._policy.backoff(self._refusals, self._rng.random())
        log.info("subscription refused; asking again in %.2f s", pause)
        self._resubscriber = asyncio.create_task(self._resubscribe(pause))

    async def _resubscribe(self, pause: float) -> None:
        await asyncio.sleep(pause)
        try:
            for channel in list(self._pending.values()):
                await self._send({"type": "subscribe", "channel": channel})
        except CONNECTION_ERRORS:
            return  # the session is ending anyway

    async def _stop_session(self, error: BaseException) -> None:
        """End the session from a helper task: the reader sees the socket close."""
        self._session_error = error
        if self._ws is not None:
            await self._ws.close(code=1000, reason="restarting")

    # --- filling the gap after a reconnect ----------------------------------------------------

    def _maybe_fill_gap(self, resync: bool) -> None:
        """Once every subscription after a reconnect is answered, fill the gap."""
        if (
            not resync
            or self._gap is not None
            or any(not answer.startswith("order_book:") for answer in self._pending)
        ):
            return
        self._gap = asyncio.create_task(self._fill_gap(), name="lighter-stream-gap")

    async def _fill_gap(self) -> None:
        """REST's recent trades of every market and the account, read until it works (a
        rate limit or an outage is waited out, with backoff, as trades stay held), then the
        held trades merged with them, newer than the last seen, yielded in order; then the
        account; then `Resynced`."""
        try:
            assert self.frames is not None
            retry = 0
            while True:
                try:
                    recent, account = await self._read_gap()
                    break
                except VenueError as error:
                    retry += 1
                    pause = self._policy.backoff(retry, self._rng.random())
                    log.warning("stream gap fill failed (%s); again in %.2f s", error, pause)
                    await asyncio.sleep(pause)
            missed, complete = self.frames.release(recent, GAP_TRADES)
            if account is not None:
                self._emit(AccountResynced(account))
            self.resyncs += 1
            self._emit(Resynced(self.reconnects, missed, complete))
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a bug: restart the session rather than hold trades forever
            log.exception("filling the stream's gap failed")
            await self._stop_session(error)

    async def _read_gap(self) -> tuple[dict[int, list[Trade]], AccountState | None]:
        assert self.frames is not None
        recent = {
            market_id: await self._venue.recent_trades(
                self._markets[market_id].symbol, limit=GAP_TRADES
            )
            for market_id in sorted(self.frames.trade_ids)
        }
        account = await self._venue.account() if self._account else None
        return recent, account

    def _emit(self, event: StreamEvent) -> None:
        self._events.put_nowait(event)

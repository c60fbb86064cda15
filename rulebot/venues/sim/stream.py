"""The WebSocket `/stream`: Lighter's channels for order books, trades and accounts.

A client is greeted with `{"type": "connected"}` and subscribes with
`{"type": "subscribe", "channel": "order_book/0"}`. Answers name the channel with a colon
(`order_book:0`). Channels:

- `order_book/{market}`: `subscribed/order_book` (the whole book, `book_levels` levels a side),
  then `update/order_book` with the levels that changed (size 0 removes a level). As on
  Lighter, offsets only grow (not one by one) and each update carries `begin_nonce`, the
  `nonce` of the frame before it: that chain is what shows a lost update.
- `trade/{market}`: `subscribed/trade` (recent trades), then `update/trade` with new ones: the
  replay's prints and real fills alike, under `trades` (or `liquidation_trades`, on demand).
- `account_all/{account}`: `subscribed/account_all` (positions, recent trades), then
  `update/account_all` with every position and the account's new trades, keyed by market (or
  as flat lists, on demand).
- `market_stats/{market}`: `subscribed/market_stats`, then `update/market_stats` after each
  of the market's trades: mark and index price, open interest, the last funding's rate (in
  percent, signed, as Lighter sends it) and the daily figures.
- `account_all_orders/{account}`: needs `"auth": <token>` as on Lighter;
  `subscribed/account_all_orders` (open orders), then `update/account_all_orders` with the
  orders that changed, including those that filled or were canceled.

The server sends `{"type": "ping"}` every `ws_ping_interval_s`; a client that has not answered
`{"type": "pong"}` to two pings in a row (and to nothing for at least a second) is disconnected.
Changes are pushed as soon as the event loop is free after the exchange reports them, coalesced
per market and account. The stream's faults (`faults.StreamFaults`) lose a book update, refuse
subscriptions, send prints as liquidations or account lists flat, on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from rulebot.venues.sim import wire
from rulebot.venues.sim.records import BookLevel, SimOrder

if TYPE_CHECKING:
    from rulebot.venues.sim.simulation import Simulation

Json = dict[str, Any]

RECENT_TRADES = 50
SCAN_TRADES = 1000
ERR_INVALID_JSON = (30000, "Invalid Json")
ERR_INVALID_TYPE = (30001, "Invalid Type")
ERR_NOT_SUBSCRIBED = (30002, "Not Subscribed to ")
ERR_ALREADY_SUBSCRIBED = (30003, "Already Subscribed to ")
ERR_INVALID_CHANNEL = (30005, "Invalid Channel")
ERR_AUTH = (20001, "invalid param: auth: ")
ERR_REFUSED = (23000, "Too Many Requests!")  # a subscription refused on demand (a fault)
DROP_CLOSE_CODE = 1012  # service restart
MISSED_PINGS = 2
MIN_SILENCE_S = 1.0  # however short the ping interval, a client gets this long to answer


@dataclass(eq=False)
class _Client:
    ws: web.WebSocketResponse
    outbox: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    channels: set[str] = field(default_factory=set)
    missed_pongs: int = 0
    awaiting_pong: bool = False
    last_pong: float = 0.0  # event loop time of the last pong (or of connecting)

    def send(self, message: Json) -> None:
        self.outbox.put_nowait(json.dumps(message, separators=(",", ":")))

    def error(self, code: int, message: str) -> None:
        self.send({"type": "error", "error": {"code": code, "message": message}})


@dataclass
class _BookState:
    offset: int = 0
    nonce: int = 0
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)


class Stream:
    """Every WebSocket client of one sim, their subscriptions, and what they were last sent."""

    def __init__(self, simulation: Simulation) -> None:
        self._sim = simulation
        self._clients: set[_Client] = set()
        self._books: dict[int, _BookState] = {}
        self._last_trade: dict[int, int] = {}  # market -> last trade id sent
        self._last_account_trade: dict[int, int] = {}  # account -> last trade id sent
        self._sent_orders: dict[int, dict[int, tuple[object, ...]]] = {}  # account -> orders
        self._dirty: set[tuple[str, int]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flush_scheduled = False
        self._pinger: asyncio.Task[None] | None = None
        simulation.exchange.subscribe(self._on_change)
        simulation.faults.on_drop_ws(self.drop_all)
        simulation.faults.stream.sender = self.send_all

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start pinging clients; call from the sim's running event loop."""
        self._loop = asyncio.get_running_loop()
        self._pinger = self._loop.create_task(self._ping_forever())

    async def close(self) -> None:
        """Close every connection and stop pinging."""
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pinger
        for client in list(self._clients):
            await client.ws.close(code=1001, message=b"server shutdown")

    @property
    def connections(self) -> int:
        return len(self._clients)

    def drop_all(self) -> int:
        """Close every connection (a fault); returns how many were open."""
        dropped = list(self._clients)
        for client in dropped:
            self._forget(client)
            client.outbox.put_nowait(None)  # the writer closes the socket
        return len(dropped)

    def send_all(self, text: str) -> int:
        """Send `text` as it is to every connection (a fault); returns how many."""
        for client in self._clients:
            client.outbox.put_nowait(text)
        return len(self._clients)

    # --- one connection -------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """The `/stream` route: greet, then read subscriptions until the client goes."""
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        client = _Client(ws, last_pong=asyncio.get_running_loop().time())
        self._clients.add(client)
        writer = asyncio.create_task(self._write(client))
        client.send({"type": "connected", "session_id": uuid.uuid4().hex})
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                self._receive(client, message.data)
        finally:
            self._forget(client)
            client.outbox.put_nowait(None)
            await writer
        return ws

    async def _write(self, client: _Client) -> None:
        while True:
            text = await client.outbox.get()
            if text is None or client.ws.closed:
                break
            try:
                await client.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                break
        if not client.ws.closed:
            await client.ws.close(code=DROP_CLOSE_CODE, message=b"closed by server")

    def _forget(self, client: _Client) -> None:
        self._clients.discard(client)
        client.channels.clear()

    def _receive(self, client: _Client, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            client.error(*ERR_INVALID_JSON)
            return
        if not isinstance(message, dict):
            client.error(*ERR_INVALID_JSON)
            return
        kind = message.get("type")
        if kind == "pong":
            client.awaiting_pong = False
            client.missed_pongs = 0
            client.last_pong = asyncio.get_running_loop().time()
        elif kind == "ping":
            client.send({"type": "pong"})
        elif kind == "subscribe":
            self._subscribe(client, message)
        elif kind == "unsubscribe":
            self._unsubscribe(client, message)
        else:
            client.error(*ERR_INVALID_TYPE)

    # --- subscriptions --------------------------------------------------------------------

    def _channel(self, client: _Client, message: Json) -> tuple[str, int] | None:
        raw = message.get("channel")
        name, _, ident = str(raw).partition("/")
        if name not in ("order_book", "trade", "market_stats", "account_all", "account_all_orders"):
            client.error(ERR_INVALID_CHANNEL[0], f"{ERR_INVALID_CHANNEL[1]}: {raw}")
            return None
        try:
            number = int(ident)
        except ValueError:
            client.error(ERR_INVALID_CHANNEL[0], f"{ERR_INVALID_CHANNEL[1]}: {raw}")
            return None
        known = (
            self._sim.has_market(number)
            if name in ("order_book", "trade", "market_stats")
            else self._sim.has_account(number)
        )
        if not known:
            client.error(ERR_INVALID_CHANNEL[0], f"{ERR_INVALID_CHANNEL[1]}: {raw}")
            return None
        return name, number

    def _subscribe(self, client: _Client, message: Json) -> None:
        parsed = self._channel(client, message)
        if parsed is None:
            return
        name, number = parsed
        channel = f"{name}:{number}"
        if self._sim.faults.stream.refuse_subscription():
            client.error(*ERR_REFUSED)
            return
        if channel in client.channels:
            client.error(ERR_ALREADY_SUBSCRIBED[0], ERR_ALREADY_SUBSCRIBED[1] + channel)
            return
        if name == "account_all_orders":
            problem = self._sim.auth_problem(message.get("auth"), number)
            if problem is not None:
                client.error(ERR_AUTH[0], ERR_AUTH[1] + problem)
                return
        client.channels.add(channel)
        if name == "order_book":
            client.send(self._book_snapshot(number, channel))
        elif name == "trade":
            client.send(self._trade_snapshot(number, channel))
        elif name == "market_stats":
            client.send(self._stats_message("subscribed/market_stats", number))
        elif name == "account_all":
            client.send(self._account_snapshot(number, channel))
        else:
            client.send(self._orders_snapshot(number, channel))

    def _unsubscribe(self, client: _Client, message: Json) -> None:
        parsed = self._channel(client, message)
        if parsed is None:
            return
        channel = f"{parsed[0]}:{parsed[1]}"
        if channel not in client.channels:
            client.error(ERR_NOT_SUBSCRIBED[0], ERR_NOT_SUBSCRIBED[1] + channel)
            return
        client.channels.discard(channel)
        client.send({"type": "unsubscribed", "channel": channel})

    def _subscribers(self, channel: str) -> list[_Client]:
        return [client for client in self._clients if channel in client.channels]

    # --- order book -----------------------------------------------------------------------

    def _depth(self, market_id: int) -> tuple[dict[int, int], dict[int, int]]:
        bids, asks = self._sim.exchange.depth(market_id, self._sim.settings.book_levels)
        return _levels(bids), _levels(asks)

    def _book_snapshot(self, market_id: int, channel: str) -> Json:
        state = self._books.setdefault(market_id, _BookState())
        bids, asks = self._depth(market_id)
        if len(self._subscribers(channel)) == 1:  # the first subscriber: track from here
            state.bids, state.asks = bids, asks
        return self._book_message("subscribed/order_book", market_id, state, bids, asks)

    def _book_update(self, market_id: int) -> Json | None:
        state = self._books.get(market_id)
        if state is None:
            return None
        bids, asks = self._depth(market_id)
        changed_bids = _changes(state.bids, bids)
        changed_asks = _changes(state.asks, asks)
        state.bids, state.asks = bids, asks
        if not changed_bids and not changed_asks:
            return None
        # offsets grow by more than one at times, and the nonce by the levels that changed
        changes = len(changed_bids) + len(changed_asks)
        state.offset += 1 + changes % 3
        begin_nonce = state.nonce
        state.nonce += 1 + changes
        if self._sim.faults.stream.lose_book_delta(market_id):
            return None  # lost: the book moved on, and the next update's chain shows it
        return self._book_message(
            "update/order_book", market_id, state, changed_bids, changed_asks, begin_nonce
        )

    def _book_message(
        self,
        kind: str,
        market_id: int,
        state: _BookState,
        bids: dict[int, int],
        asks: dict[int, int],
        begin_nonce: int = 0,
    ) -> Json:
        """A snapshot (`begin_nonce` 0, as Lighter sends it) or an update."""
        market = self._sim.exchange.market(market_id)
        now_ms = self._sim.now_ms()
        updated_us = now_ms * 1000
        return {
            "channel": f"order_book:{market_id}",
            "last_updated_at": updated_us,
            "offset": state.offset,
            "order_book": {
                "code": 0,
                "asks": wire.book_levels(_as_levels(asks, reverse=False), market),
                "bids": wire.book_levels(_as_levels(bids, reverse=True), market),
                "offset": state.offset,
                "nonce": state.nonce,
                "last_updated_at": updated_us,
                "begin_nonce": begin_nonce,
            },
            "timestamp": now_ms,
            "type": kind,
        }

    # --- trades ---------------------------------------------------------------------------

    def _trade_snapshot(self, market_id: int, channel: str) -> Json:
        trades = sorted(
            self._sim.exchange.recent_trades(market_id, RECENT_TRADES), key=lambda t: t.trade_id
        )
        if len(self._subscribers(channel)) == 1:
            self._last_trade[market_id] = max((t.trade_id for t in trades), default=-1)
        return self._trade_message("subscribed/trade", market_id, trades)

    def _trade_update(self, market_id: int) -> Json | None:
        last = self._last_trade.get(market_id)
        if last is None:
            return None
        trades = sorted(
            (
                t
                for t in self._sim.exchange.recent_trades(market_id, SCAN_TRADES)
                if t.trade_id > last
            ),
            key=lambda t: t.trade_id,
        )
        if not trades:
            return None
        self._last_trade[market_id] = trades[-1].trade_id
        return self._trade_message("update/trade", market_id, trades)

    def _trade_message(self, kind: str, market_id: int, trades: Iterable[Any]) -> Json:
        prints: list[Json] = []
        liquidations: list[Json] = []
        for trade in trades:
            shaped = self._sim.trade_json(trade)
            if kind.startswith("update/") and self._sim.faults.stream.liquidation_print():
                liquidations.append({**shaped, "type": "liquidation"})
            else:
                prints.append(shaped)
        return {
            "channel": f"trade:{market_id}",
            "liquidation_trades": liquidations,
            "nonce": self._last_trade.get(market_id, 0),
            "trades": prints,
            "type": kind,
        }

    # --- market stats ---------------------------------------------------------------------

    def _stats_update(self, market_id: int) -> Json:
        return self._stats_message("update/market_stats", market_id)

    def _stats_message(self, kind: str, market_id: int) -> Json:
        market = self._sim.exchange.market(market_id)
        stats = self._sim.stream_stats(market_id)
        return {
            "channel": f"market_stats:{market_id}",
            "market_stats": wire.market_stats(market, stats),
            "timestamp": self._sim.now_ms(),
            "type": kind,
        }

    # --- accounts -------------------------------------------------------------------------

    def _account_snapshot(self, account_index: int, channel: str) -> Json:
        trades = self._sim.exchange.account_trades(account_index, RECENT_TRADES)
        if len(self._subscribers(channel)) == 1:
            self._last_account_trade[account_index] = max((t.trade_id for t in trades), default=-1)
        return self._account_message("subscribed/account_all", account_index, trades)

    def _account_update(self, account_index: int) -> Json | None:
        last = self._last_account_trade.get(account_index)
        if last is None:
            return None
        trades = [
            t
            for t in self._sim.exchange.account_trades(account_index, SCAN_TRADES)
            if t.trade_id > last
        ]
        if trades:
            self._last_account_trade[account_index] = max(t.trade_id for t in trades)
        return self._account_message("update/account_all", account_index, trades)

    def _account_message(self, kind: str, account_index: int, trades: Iterable[Any]) -> Json:
        by_market: dict[str, list[Json]] = {}
        for trade in sorted(trades, key=lambda t: t.trade_id):
            by_market.setdefault(str(trade.market_id), []).append(self._sim.trade_json(trade))
        stats = self._sim.account_volumes(account_index)
        positions = self._sim.positions_json(account_index)
        flat = self._sim.faults.stream.flat_account_lists
        return {
            "account": account_index,
            "assets": {},
            "channel": f"account_all:{account_index}",
            **stats,
            "funding_histories": {},
            "positions": (positions if flat else {str(p["market_id"]): p for p in positions}),
            "shares": [],
            "trades": [t for rows in by_market.values() for t in rows] if flat else by_market,
            "type": kind,
        }

    def _orders_snapshot(self, account_index: int, channel: str) -> Json:
        active = self._sim.exchange.active_orders(account_index, None)
        if len(self._subscribers(channel)) == 1:
            self._sent_orders[account_index] = {o.order_index: _signature(o) for o in active}
        return self._orders_message("subscribed/account_all_orders", account_index, active)

    def _orders_update(self, account_index: int) -> Json | None:
        sent = self._sent_orders.get(account_index)
        if sent is None:
            return None
        active = self._sim.exchange.active_orders(account_index, None)
        changed = [o for o in active if sent.get(o.order_index) != _signature(o)]
        gone = set(sent) - {o.order_index for o in active}
        if gone:
            recent = self._sim.exchange.inactive_orders(account_index, None, SCAN_TRADES)
            changed += [o for o in recent if o.order_index in gone]
        self._sent_orders[account_index] = {o.order_index: _signature(o) for o in active}
        if not changed:
            return None
        return self._orders_message("update/account_all_orders", account_index, changed)

    def _orders_message(self, kind: str, account_index: int, orders: Iterable[SimOrder]) -> Json:
        by_market: dict[str, list[Json]] = {}
        for order in sorted(orders, key=lambda o: o.order_index):
            by_market.setdefault(str(order.market_id), []).append(self._sim.order_json(order))
        return {
            "account": account_index,
            "channel": f"account_all_orders:{account_index}",
            "orders": by_market,
            "type": kind,
        }

    # --- pushing changes ------------------------------------------------------------------

    def _on_change(self, kind: str, ident: int) -> None:
        """The exchange's listener: note what changed and flush once the loop is free."""
        if self._loop is None:
            return
        self._dirty.add((kind, ident))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon_threadsafe(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, set()
        for kind, ident in sorted(dirty):
            if kind == "order_book":
                self._publish(f"order_book:{ident}", self._book_update, ident)
            elif kind == "trade":
                self._publish(f"trade:{ident}", self._trade_update, ident)
                self._publish(f"market_stats:{ident}", self._stats_update, ident)
            elif kind == "account":
                self._publish(f"account_all:{ident}", self._account_update, ident)
                self._publish(f"account_all_orders:{ident}", self._orders_update, ident)

    def _publish(self, channel: str, build: Any, ident: int) -> None:
        clients = self._subscribers(channel)
        if not clients:
            return
        message = build(ident)
        if message is None:
            return
        for client in clients:
            client.send(message)

    async def _ping_forever(self) -> None:
        interval = self._sim.settings.ws_ping_interval_s
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            for client in list(self._clients):
                if client.awaiting_pong:
                    client.missed_pongs += 1
                    silent_for = loop.time() - client.last_pong
                    if client.missed_pongs >= MISSED_PINGS and silent_for >= MIN_SILENCE_S:
                        self._forget(client)
                        client.outbox.put_nowait(None)
                        continue
                client.awaiting_pong = True
                client.send({"type": "ping"})


def _levels(levels: Iterable[BookLevel]) -> dict[int, int]:
    return {level.price: level.size for level in levels if level.size > 0}


def _changes(before: dict[int, int], after: dict[int, int]) -> dict[int, int]:
    changed = {price: size for price, size in after.items() if before.get(price) != size}
    changed.update({price: 0 for price in before if price not in after})
    return changed


def _as_levels(levels: dict[int, int], *, reverse: bool) -> list[BookLevel]:
    return [BookLevel(price, levels[price]) for price in sorted(levels, reverse=reverse)]


def _signature(order: SimOrder) -> tuple[object, ...]:
    return (
        order.status,
        order.remaining_base_amount,
        order.filled_base_amount,
        order.price,
        order.trigger_price,
    )

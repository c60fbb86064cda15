"""`PaperVenue`: a dry run's venue — live market data from a real venue, fills simulated here.

Reads (markets, candles, fundings, trades, books) pass through to the `MarketData` it wraps (a
real `LighterVenue`, or a `CandleTape` playing candle files as a market: `rulebot.venues.tape`);
every write (place, modify, cancel) is applied to a local account and never sent, so no
transaction leaves the machine. It has `LighterVenue`'s API and records, so the runtime drives
it unchanged; its fills come out as `Trade` records (`take_fills`), as the account's own trades
would come from the stream.

How orders fill, as the sim fills them:

- An order is checked and rounded exactly as `LighterVenue` does (`MarketInfo`'s units, toward
  safety, and its minimums); a market order's worst price is the best opposite price (or the
  trigger) moved by `max_slippage` against it.
- A market order, or a limit order that crosses, takes liquidity at once from the book the real
  venue reports (best level first, never past the order's price), paying the taker fee. With no
  opposite level at all it fills at the last trade price. Paper orders take from the book as it
  is: they do not remove that liquidity for later orders, nor are they in it. An IOC or market
  order's unfilled rest is cancelled (`canceled-too-much-slippage` when the price stopped it,
  `canceled-not-enough-liquidity` when the book ran out).
- A resting limit order fills on a later trade (`on_market_trades`) at or through its price: a
  buy on a trade at or below it, a sell at or above. It fills at its own price, up to the
  trade's size, paying the maker fee.
- Stop-loss and take-profit orders wait for a later trade price (a sell stop fires when the price
  is at or below its trigger, a buy stop at or above; a take-profit the other way), or fire at
  once if the last price is already there; then they execute like a market order (a `_limit`
  kind like a limit order). One that is not reduce-only (a resting stop entry, `entry long stop
  at ...`) opens or adds to a position when it fires.
- Reduce-only orders never add to a position: one with nothing to reduce is cancelled
  (`canceled-reduce-only`), a larger one is cut to the position, when it executes and after
  every fill. A post-only order that would cross is cancelled (`canceled-post-only`).
- Money is exact, kept as the sim's ledger keeps it: a position holds its exact cost basis (its
  average entry is that cost over its size); closing part of it releases the matching share of
  the cost, rounded to the market's smallest notional, and books the rest as realised PnL, so
  rounding never makes or loses money. Fees are notional times the market's fee; collateral
  moves by realised PnL less fees; equity is collateral plus the positions' unrealised PnL at
  the market's last price (the last public trade, or our own fill if later).

Not simulated: margin (no order is refused for margin, there is no liquidation), funding
payments, order expiry, self-trades. Time is the venue's, as its latest trade on the market
says. The paper account lives in memory: a restarted dry run starts flat with its collateral.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterable, Sequence
from decimal import (
    ROUND_FLOOR,
    Decimal,
    localcontext,
)
from types import TracebackType
from typing import Final, Literal

import lighter
from pydantic import SecretStr

from rulebot.venues.lighter.client import (
    MAX_CLIENT_ORDER_INDEX,
    LighterVenue,
    cancelled_on_arrival,
)
from rulebot.venues.lighter.errors import OrderNotFound, OrderRejected, VenueError
from rulebot.venues.lighter.limiter import Priority
from rulebot.venues.lighter.records import (
    TRIGGERED_KINDS,
    AccountState,
    Candle,
    Funding,
    Order,
    OrderAck,
    OrderBookSnapshot,
    OrderRequest,
    Position,
    Trade,
    TxAck,
)
from rulebot.venues.market_data import MarketData
from rulebot.venues.paper_book import (
    EXACT,
    MARKET_ACCOUNT,
    TIME_IN_FORCE_NAMES,
    Holding,
    LastTrade,
    Liquidity,
    PaperOrder,
    to_units,
)
from rulebot.venues.units import MarketInfo, Side, to_decimal

BOOK_DEPTH: Final = 250  # the most resting orders a side the venue's book call returns
NOTHING_SENT: Final = TxAck(tx_hash="", nonce=-1)
INVALID_TRIGGER_PRICE: Final = (21729, "invalid order trigger price")
CLIENT_ORDER_INDEX_EXISTS: Final = (21728, "client order index already exists")
INACTIVE_CANCEL: Final = (21600, "given order is not an active limit order")
Stopped = Literal["canceled", "canceled-too-much-slippage", "canceled-not-enough-liquidity"]


def market_data_venue(network: str = "sim", *, url: str | None = None) -> LighterVenue:
    """A `LighterVenue` for reads only, for a dry run that has no API key.

    `LighterVenue` insists on a private key to build its signer, so this one gets a throwaway
    key made on the spot. It is never used to sign: a `PaperVenue` sends nothing.
    """
    private_key, _, error = lighter.signer_client.create_api_key()
    if error is not None or not private_key:
        raise VenueError(f"cannot make a throwaway key for market data: {error}")
    return LighterVenue(network, url=url, private_key=SecretStr(private_key))


class PaperVenue:
    """A paper account on live data: `LighterVenue`'s API, with writes simulated locally.

    paper = PaperVenue(market_data_venue("sim", url=url), collateral=Decimal(10_000))
    async with paper:
        await paper.place_order(OrderRequest("ETH", "buy", Decimal("0.05"), kind="market"))
        await paper.on_market_trades("ETH", trades)  # as the market's stream prints them
        fills = paper.take_fills()
    """

    def __init__(
        self, data: MarketData, *, collateral: Decimal | int | str, account_index: int = 0
    ) -> None:
        self.data = data
        self.account_index = account_index
        try:
            self.initial_collateral = to_decimal(collateral, "collateral")
        except OrderRejected as error:
            raise ValueError(error.message) from None
        if self.initial_collateral < 0:
            raise ValueError(f"collateral must be 0 or more, not {collateral}")
        self.collateral = self.initial_collateral
        self._positions: dict[str, Holding] = {}
        self._orders: dict[int, PaperOrder] = {}
        self._history: list[int] = []  # inactive orders' indexes, oldest first
        self._last: dict[str, LastTrade] = {}
        self._marks: dict[str, Decimal] = {}  # the last price, our own fills included
        self._fills: list[Trade] = []
        self._order_indexes = itertools.count(1)
        self._trade_ids = itertools.count(time.time_ns() // 1000)  # unique across restarts
        self._last_client_order_index = 0
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        active = sum(1 for order in self._orders.values() if order.is_active)
        return (
            f"PaperVenue(data={self.data!r}, account_index={self.account_index}, "
            f"collateral={self.collateral}, open_orders={active}, transactions_sent=0)"
        )

    @property
    def transactions_sent(self) -> int:
        """Transactions sent to the venue: none, ever."""
        return 0

    @property
    def network(self) -> str:
        return self.data.network

    @property
    def url(self) -> str:
        """The data venue's URL (where the market stream connects)."""
        return self.data.url

    # --- lifecycle ----------------------------------------------------------------------------

    async def connect(self) -> PaperVenue:
        await self.data.connect()
        return self

    async def close(self) -> None:
        await self.data.close()

    async def __aenter__(self) -> PaperVenue:
        return await self.connect()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # --- reads, from the real venue -----------------------------------------------------------

    async def markets(self, refresh: bool = False) -> tuple[MarketInfo, ...]:
        return await self.data.markets(refresh)

    async def market(self, key: str | int) -> MarketInfo:
        return await self.data.market(key)

    async def order_book(self, market: str | int, depth: int = 50) -> OrderBookSnapshot:
        return await self.data.order_book(market, depth)

    async def recent_trades(self, market: str | int, limit: int = 100) -> list[Trade]:
        return await self.data.recent_trades(market, limit)

    async def candles(
        self, market: str | int, resolution: str, start_ms: int, end_ms: int
    ) -> list[Candle]:
        return await self.data.candles(market, resolution, start_ms, end_ms)

    async def fundings(
        self, market: str | int, start_ms: int, end_ms: int, resolution: str = "1h"
    ) -> list[Funding]:
        return await self.data.fundings(market, start_ms, end_ms, resolution)

    # --- the market's trades in, our fills out ------------------------------------------------

    async def on_market_trades(self, market: str | int, trades: Sequence[Trade]) -> None:
        """Feed the market's public trades as the stream prints them: they move the last price
        and fill or trigger the paper orders placed before them. A trade at or before the
        latest one seen (by trade id) is ignored, so a trade given twice counts once."""
        if not trades:
            return
        async with self._lock:
            info = await self.data.market(market)
            fired: list[PaperOrder] = []
            for trade in sorted(trades, key=lambda t: t.trade_id):
                last = self._last.get(info.symbol)
                if last is not None and trade.trade_id <= last.trade_id:
                    continue
                self._see(info.symbol, trade)
                self._fill_resting(info, trade)
                for order in self._active(info.symbol):
                    if (
                        order.status == "pending"
                        and order.seen_trade_id < trade.trade_id
                        and order.fires_at(trade.price)
                    ):
                        order.status = "triggered"  # out of `pending`, not yet executed
                        fired.append(order)
            if fired:
                try:
                    book = await self.data.order_book(info.symbol, BOOK_DEPTH)
                except BaseException:
                    for order in fired:  # to fire again on the next trade
                        order.status = "pending"
                    raise
                liquidity = {
                    side: Liquidity.facing(book, side, info, self._last.get(info.symbol))
                    for side in ("buy", "sell")
                }
                for order in fired:
                    order.seen_trade_id = self._last[info.symbol].trade_id
                    self._execute(order, liquidity[order.side])

    async def account_trades(self, limit: int = 100) -> list[Trade]:
        """Nothing to catch up on: every paper fill is handed over by `take_fills` as it
        happens, and a dry run starts with a fresh paper account."""
        return []

    def take_fills(self) -> list[Trade]:
        """The paper account's trades since the last call, oldest first: our account is the
        buyer or seller, with its order and client order indexes; the other side is
        `MARKET_ACCOUNT`."""
        fills, self._fills = self._fills, []
        return fills

    def _see(self, symbol: str, trade: Trade) -> None:
        last = self._last.get(symbol)
        if last is None or trade.trade_id >= last.trade_id:
            self._last[symbol] = LastTrade(trade.trade_id, trade.price, trade.time_ms)
            self._marks[symbol] = trade.price

    async def _last_trade(self, info: MarketInfo) -> LastTrade | None:
        """The market's latest trade: as fed, or asked of the venue once."""
        if info.symbol not in self._last:
            for trade in await self.data.recent_trades(info.symbol, 1):
                self._see(info.symbol, trade)
        return self._last.get(info.symbol)

    def _clock(self, symbol: str) -> int:
        last = self._last.get(symbol)
        return last.time_ms if last is not None else time.time_ns() // 1_000_000

    # --- orders -------------------------------------------------------------------------------

    def new_client_order_index(self) -> int:
        """A fresh client order index, as `LighterVenue` makes them (the clock's millisecond)."""
        index = max(time.time_ns() // 1_000_000, self._last_client_order_index + 1)
        if index > MAX_CLIENT_ORDER_INDEX:
            index = 1
        self._last_client_order_index = index
        return index

    async def place_order(self, request: OrderRequest, *, confirm: bool = True) -> OrderAck:
        """Take an order as the venue would, and fill it here. `OrderRejected` says why not:
        as with `LighterVenue`, with `confirm` an order cancelled on arrival without a fill (a
        post-only that would cross, a reduce-only with nothing to reduce, a market order with
        no liquidity in its price) is refused too; the ack says what became of the order."""
        async with self._lock:
            info = await self.data.market(request.market)
            side = request.side
            size = info.size_units(request.size)
            trigger = (
                info.trigger_units(request.trigger_price, side)
                if request.trigger_price is not None
                else 0
            )
            last = await self._last_trade(info)
            book = await self.data.order_book(info.symbol, BOOK_DEPTH)
            price = self._order_price(info, request, trigger, book, last)
            info.check_minimums(size, price)
            index = request.client_order_index or self.new_client_order_index()
            if any(o.client_order_index == index for o in self._active(None)):
                code, message = CLIENT_ORDER_INDEX_EXISTS
                raise OrderRejected(f"{message}: {index}", code=code, market=info.symbol)
            now = self._clock(info.symbol)
            order = PaperOrder(
                order_index=next(self._order_indexes),
                client_order_index=index,
                market=info,
                side=side,
                kind=request.kind,
                time_in_force=TIME_IN_FORCE_NAMES[request.effective_time_in_force],
                reduce_only=request.reduce_only,
                price=price,
                trigger=trigger,
                size=size,
                remaining=size,
                filled=0,
                filled_quote=Decimal(0),
                status="pending" if request.kind in TRIGGERED_KINDS else "open",
                created_ms=now,
                updated_ms=now,
                seen_trade_id=last.trade_id if last is not None else -1,
            )
            self._orders[order.order_index] = order
            if order.status == "open" or (last is not None and order.fires_at(last.price)):
                self._execute(order, Liquidity.facing(book, side, info, last))
            reason = cancelled_on_arrival(order.status)
            if confirm and reason is not None and order.filled == 0:
                raise OrderRejected(f"{reason} ({order.status})", market=info.symbol)
            return OrderAck(
                client_order_index=index,
                market=info.symbol,
                side=side,
                kind=request.kind,
                size=info.size_value(size),
                price=info.price_value(price),
                trigger_price=info.price_value(trigger) if trigger else None,
                tx_hash=NOTHING_SENT.tx_hash,
                nonce=NOTHING_SENT.nonce,
                order_index=order.order_index,
                status=order.status,
                filled=info.size_value(order.filled),
            )

    @staticmethod
    def _order_price(
        info: MarketInfo,
        request: OrderRequest,
        trigger: int,
        book: OrderBookSnapshot,
        last: LastTrade | None,
    ) -> int:
        """The order's price in units, as `LighterVenue` sets it: given, or the best opposite
        price (the last trade's when that side is empty; or the trigger) moved by
        `max_slippage` against the order."""
        side = request.side
        if request.price is not None:
            return info.price_units(request.price, side)
        if request.kind == "market":
            best = book.best_ask if side == "buy" else book.best_bid
            if best is None and last is not None:
                best = last.price
            if best is None:
                opposite = "asks" if side == "buy" else "bids"
                raise OrderRejected(f"no {opposite} to trade with", market=info.symbol)
        else:
            best = info.price_value(trigger)
        return info.worst_price_units(best, side, request.max_slippage)

    async def modify_order(
        self,
        market: str | int,
        order_index: int,
        *,
        size: Decimal | int | str,
        price: Decimal | int | str,
        trigger_price: Decimal | int | str | None = None,
        urgency: Priority = Priority.PROTECT,
        version: int | None = None,
    ) -> TxAck:
        """Change an active order's size (what is left to fill) and price (and trigger), as the
        venue does; a resting order that now crosses trades at once. (`urgency` is the rate
        budget's, which a paper account does not spend; `version` is not checked: a paper order
        fills only under the same lock as this modify.)"""
        async with self._lock:
            info = await self.data.market(market)
            order = self._find_active(info, order_index)
            if order is None:
                raise OrderNotFound(f"{info.symbol}: no open order with index {order_index}")
            size_units = info.size_units(size)
            price_units = info.price_units(price, order.side)
            trigger = (
                info.trigger_units(trigger_price, order.side) if trigger_price is not None else 0
            )
            if order.kind in TRIGGERED_KINDS and trigger == 0:
                code, message = INVALID_TRIGGER_PRICE
                raise OrderRejected(
                    f"{message}: a stop or target needs a trigger price",
                    code=code,
                    market=info.symbol,
                )
            info.check_minimums(size_units, price_units)
            order.price = price_units
            order.trigger = trigger if order.kind in TRIGGERED_KINDS else 0
            order.remaining = size_units
            order.size = order.filled + size_units
            order.updated_ms = self._clock(info.symbol)
            last = await self._last_trade(info)
            if last is not None:
                order.seen_trade_id = last.trade_id  # as if placed now
            if order.status == "open" or (last is not None and order.fires_at(last.price)):
                book = await self.data.order_book(info.symbol, BOOK_DEPTH)
                self._execute(order, Liquidity.facing(book, order.side, info, last))
            return NOTHING_SENT

    async def cancel_order(self, market: str | int, order_index: int) -> TxAck:
        """Cancel one active order by its order index."""
        async with self._lock:
            info = await self.data.market(market)
            order = self._find_active(info, order_index)
            if order is None:
                code, message = INACTIVE_CANCEL
                raise OrderRejected(
                    f"{message}: no active order {order_index} in {info.symbol}",
                    code=code,
                    market=info.symbol,
                )
            self._retire(order, "canceled")
            return NOTHING_SENT

    async def cancel_all(self, market: str | int | None = None) -> TxAck:
        """Cancel every active order, or those of one market."""
        async with self._lock:
            symbol = (await self.data.market(market)).symbol if market is not None else None
            for order in self._active(symbol):
                self._retire(order, "canceled")
            return NOTHING_SENT

    # --- the account's orders -----------------------------------------------------------------

    async def open_orders(self, market: str | int | None = None) -> list[Order]:
        """Active orders (resting, or waiting for a trigger), oldest first."""
        symbol = (await self.data.market(market)).symbol if market is not None else None
        return [order.record() for order in self._active(symbol)]

    async def order_history(self, market: str | int | None = None, limit: int = 100) -> list[Order]:
        """The latest inactive orders (filled, cancelled), newest first."""
        symbol = (await self.data.market(market)).symbol if market is not None else None
        found: list[Order] = []
        for index in reversed(self._history):
            order = self._orders[index]
            if symbol is None or order.market.symbol == symbol:
                found.append(order.record())
                if len(found) == limit:
                    break
        return found

    async def find_order(self, market: str | int, client_order_index: int) -> Order | None:
        """The order placed with `client_order_index`, active or not (the latest such)."""
        symbol = (await self.data.market(market)).symbol
        found = [
            order
            for order in self._orders.values()
            if order.market.symbol == symbol and order.client_order_index == client_order_index
        ]
        if not found:
            return None
        best = max(found, key=lambda order: (order.is_active, order.order_index))
        return best.record()

    async def find_orders(self, client_order_indexes: Iterable[int]) -> dict[int, Order]:
        """The orders placed with these client order indexes, on any market (the latest of
        each), as `LighterVenue.find_orders`; an index with no order is left out."""
        wanted = set(client_order_indexes)
        found: dict[int, PaperOrder] = {}
        for order in self._orders.values():
            index = order.client_order_index
            if index in wanted:
                best = found.get(index)
                if best is None or (order.is_active, order.order_index) > (
                    best.is_active,
                    best.order_index,
                ):
                    found[index] = order
        return {index: order.record() for index, order in found.items()}

    def _active(self, symbol: str | None) -> list[PaperOrder]:
        return [
            order
            for order in self._orders.values()
            if order.is_active and (symbol is None or order.market.symbol == symbol)
        ]

    def _find_active(self, info: MarketInfo, order_index: int) -> PaperOrder | None:
        order = self._orders.get(order_index)
        if order is None or not order.is_active or order.market.symbol != info.symbol:
            return None
        return order

    # --- the account --------------------------------------------------------------------------

    async def account(self) -> AccountState:
        """Collateral, equity at the last prices, and the open positions."""
        positions = []
        for symbol, held in sorted(self._positions.items()):
            if held.size == 0:
                continue
            mark = self._marks.get(symbol, held.entry_price)
            positions.append(
                Position(
                    market=symbol,
                    size=held.signed_size,
                    entry_price=held.entry_price,
                    unrealized_pnl=held.unrealized_pnl(mark),
                    realized_pnl=held.realized_pnl,
                    value=held.value(mark),
                    liquidation_price=Decimal(0),
                )
            )
        with localcontext(EXACT):
            equity = self.collateral + sum((p.unrealized_pnl for p in positions), Decimal(0))
        return AccountState(
            account_index=self.account_index,
            collateral=self.collateral,
            equity=equity,
            available_balance=equity,
            positions=tuple(positions),
        )

    # --- matching -----------------------------------------------------------------------------

    def _execute(self, order: PaperOrder, liquidity: Liquidity) -> None:
        """Run an arriving (or triggered, or modified) order: reduce-only and post-only checks,
        take what it crosses, then rest the rest or cancel it by its time in force."""
        order.updated_ms = self._clock(order.market.symbol)
        if order.reduce_only:
            reducible = self._reducible(order)
            if reducible == 0:
                self._retire(order, "canceled-reduce-only")
                return
            self._cut(order, reducible)
        best = liquidity.best(order.market_like)
        crosses = best is not None and order.accepts(best[0])
        if order.time_in_force == TIME_IN_FORCE_NAMES["post_only"] and crosses:
            self._retire(order, "canceled-post-only")
            return
        stopped = self._take(order, liquidity)
        if order.remaining == 0:
            self._retire(order, "filled")
        elif order.market_like or order.time_in_force == TIME_IN_FORCE_NAMES["ioc"]:
            self._retire(order, stopped)
        else:
            order.status = "open"
        self._enforce_reduce_only(order.market.symbol)

    def _take(self, order: PaperOrder, liquidity: Liquidity) -> Stopped:
        """Trade `order` as the taker until it is filled or out of acceptable liquidity; the
        status its unfilled rest would be cancelled with."""
        while order.remaining > 0:
            level = liquidity.best(order.market_like)
            if level is None:
                return "canceled-not-enough-liquidity" if order.market_like else "canceled"
            price, available = level
            if not order.accepts(price):
                return "canceled-too-much-slippage" if order.market_like else "canceled"
            size = min(order.remaining, available)
            liquidity.take(size)
            self._fill(order, price, size, taker=True)
        return "canceled"

    def _fill_resting(self, info: MarketInfo, trade: Trade) -> None:
        """Resting limit orders that `trade` reaches fill at their own price, best price first,
        sharing the trade's size."""
        available = to_units(trade.size, info.size_decimals, ROUND_FLOOR)
        resting = [
            o
            for o in self._active(info.symbol)
            if o.status == "open" and o.seen_trade_id < trade.trade_id and o.reached_by(trade.price)
        ]
        resting.sort(key=lambda o: (-o.price if o.side == "buy" else o.price, o.order_index))
        for order in resting:
            if available == 0:
                break
            if not order.is_active:  # cancelled by a reduce-only check on the way
                continue
            size = min(order.remaining, available)
            if order.reduce_only:
                size = min(size, self._reducible(order))
                if size == 0:
                    self._retire(order, "canceled-reduce-only")
                    continue
            available -= size
            self._fill(order, order.price, size, taker=False, time_ms=trade.time_ms)
            if order.remaining == 0:
                self._retire(order, "filled")
            self._enforce_reduce_only(info.symbol)

    def _fill(
        self, order: PaperOrder, price: int, size: int, *, taker: bool, time_ms: int | None = None
    ) -> None:
        """Book one fill: the order, the position, the collateral, and a `Trade` out."""
        info = order.market
        symbol = info.symbol
        price_value, size_value = info.price_value(price), info.size_value(size)
        when = self._clock(symbol) if time_ms is None else time_ms
        trade_id = next(self._trade_ids)
        held = self._positions.setdefault(symbol, Holding(info))
        pnl = held.fill(order.side, size, price)
        with localcontext(EXACT):
            quote = price_value * size_value
            fee = quote * (info.taker_fee if taker else info.maker_fee)
            self.collateral += pnl - fee
            order.filled_quote += quote
        self._marks[symbol] = price_value
        order.remaining -= size
        order.filled += size
        order.updated_ms = when
        ours = (self.account_index, order.order_index, order.client_order_index)
        theirs = (MARKET_ACCOUNT, 0, 0)
        buyer, seller = (ours, theirs) if order.side == "buy" else (theirs, ours)
        opposite: Side = "sell" if order.side == "buy" else "buy"
        self._fills.append(
            Trade(
                trade_id=trade_id,
                market=symbol,
                price=price_value,
                size=size_value,
                taker_side=order.side if taker else opposite,
                time_ms=when,
                buyer_account=buyer[0],
                seller_account=seller[0],
                buy_order_index=buyer[1],
                sell_order_index=seller[1],
                buy_client_order_index=buyer[2],
                sell_client_order_index=seller[2],
            )
        )

    def _reducible(self, order: PaperOrder) -> int:
        """How much of the position `order` can reduce, in size units."""
        held = self._positions.get(order.market.symbol)
        size = held.size if held is not None else 0
        return max(size, 0) if order.side == "sell" else max(-size, 0)

    @staticmethod
    def _cut(order: PaperOrder, reducible: int) -> None:
        if order.remaining > reducible:
            order.remaining = reducible
            order.size = order.filled + reducible

    def _enforce_reduce_only(self, symbol: str) -> None:
        """After a fill: reduce-only orders that can no longer reduce are cancelled, and those
        larger than the position are cut to it."""
        for order in self._active(symbol):
            if not order.reduce_only:
                continue
            reducible = self._reducible(order)
            if reducible == 0:
                self._retire(order, "canceled-reduce-only")
            else:
                self._cut(order, reducible)

    def _retire(self, order: PaperOrder, status: str) -> None:
        order.status = status
        order.updated_ms = self._clock(order.market.symbol)
        self._history.append(order.order_index)

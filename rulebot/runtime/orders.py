"""The order manager: intents that passed risk become venue orders; the venue's trades come back
as fills attributed to the strategy that sent each order.

Several strategies on one market share the account's single position. Each strategy's orders are
its own (the journal maps every client order index to its strategy), so its fills, fees and
position are its own; the account's position is their sum. Orders are not netted between
strategies: two strategies trading against each other in one bar both pay the spread, which keeps
every strategy's record exactly what it would be alone.

Stops and take-profits are exchange-side trigger orders, so they hold if the bot dies. A rule
with partial take-profits (`take_profit 50% at 2%`) has one take-profit order per share, each of
its own size, in slots by the order the rule writes them; the stop is sized to the whole position
and placed again whenever the position's size changes (an add, a take-profit that filled). They are
reduce-only when one strategy trades the market (they can never open a position); with several
strategies on a market a reduce-only order could be cut by another strategy's position, so they
are plain orders, and the manager cancels a strategy's protective orders whenever it goes flat.

Every order is journaled as `new` (with its client order index, the venue's idempotency key)
before it is sent, so a crash between the two is found on restart and never sent twice. An entry
or exit order is in flight until its fate is known (every fill booked, or the venue done with
it: an IOC order's rest cancelled); `settle_in_flight` asks the venue, and the engine sends
nothing new for a strategy while one of its orders is in flight.

An order the venue took but did not show within the adapter's settle time is `unknown`: not
placed, not refused. Before the manager sends anything else for that strategy and market (an
entry, an exit, a stop or a take-profit) it looks the unknown order up by its client order index
(`resolve_unknown`) and journals what the venue says; while the venue still shows nothing, it
sends nothing there, and after `UNSEEN_GRACE_MS` it takes the order as never arrived.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from rulebot.runtime.journal import Journal
from rulebot.runtime.messages import (
    Fill,
    Intent,
    OrderKind,
    OrderRecord,
    OrderState,
    Side,
    StrategyPosition,
)
from rulebot.runtime.positions import apply_fill
from rulebot.runtime.reconcile import attribute
from rulebot.runtime.scaling import TakeOrder
from rulebot.venues.lighter.client import UNKNOWN, cancelled_on_arrival
from rulebot.venues.lighter.errors import OrderRejected, VenueError
from rulebot.venues.lighter.limiter import Priority, at_priority
from rulebot.venues.lighter.records import Order, OrderRequest, Trade

log = logging.getLogger("rulebot.orders")

PROTECTIVE: tuple[OrderKind, ...] = ("stop_loss", "take_profit")
RESTING_ENTRIES: tuple[OrderKind, ...] = ("limit", "stop_entry")
"""Entries that rest at the venue (see `rulebot.runtime.resting_orders`): like a stop, they may
fill at any time, so they are not in flight; a `stop_entry` is the venue's stop-loss kind, not
reduce-only."""
VENUE_KINDS: dict[str, str] = {"stop_entry": "stop_loss"}
KIND_NAMES: dict[str, str] = {"stop_loss": "stop", "take_profit": "take-profit"}
"""A protective order's name in what the bot says."""
STOP_SLIPPAGE = Decimal("0.10")
"""A fired stop fills up to 10% past its trigger: a stop must close the position in a gap, as
the backtest's stop fills at a gapped open; a tighter cap would cancel it and leave the
position open."""
ENTRY_SLIPPAGE = Decimal("0.01")
"""Entries and exits at market fill within 1% of the book's best price, or not at all."""
UNSEEN_GRACE_MS = 30_000
"""How long an order the venue does not list stays in flight before it is taken as never
arrived (the venue lists every order it took, active or done, within moments; a send that
failed in doubt may still land in that time)."""
ACTIVE_STATUSES = ("open", "pending", "in-progress")


def exit_or_entry(closing: bool) -> Priority:
    """How urgent an order's requests are when the venue's rate budget is short: closing a
    position (reduce-only or not) goes before opening one."""
    return Priority.EXIT if closing else Priority.ENTRY


@dataclass
class Protective:
    """A strategy's resting stop-loss / take-profit order, by client order index, with the
    size it was placed for (None: not known, e.g. found at the venue after a restart)."""

    client_order_index: int
    trigger: Decimal
    size: Decimal | None = None


@dataclass
class StrategyOrders:
    position: StrategyPosition
    stop: Protective | None = None
    takes: dict[int, Protective] = field(default_factory=dict)  # by slot (the rule's order)
    working: set[int] = field(default_factory=set)  # entry/exit orders not yet done

    @property
    def take(self) -> Protective | None:
        """The first take-profit (the only one, unless the rule takes profits in parts)."""
        return self.takes.get(0) or next(iter(self.takes.values()), None)

    def protective(self) -> list[Protective]:
        """Every protective order resting for the position: the stop, then the take-profits."""
        return [*([self.stop] if self.stop else []), *self.takes.values()]


class OrderManager:
    """Sends, tracks and attributes the orders of every strategy on one account."""

    def __init__(
        self,
        venue: object,
        journal: Journal,
        *,
        account_index: int,
        now_ms: Callable[[], int],
        fees: Callable[[str], tuple[Decimal, Decimal]] = lambda market: (Decimal(0), Decimal(0)),
    ) -> None:
        self.venue = venue
        self.journal = journal
        self.account_index = account_index
        self.now_ms = now_ms
        self.fees = fees  # market -> (taker, maker) fractions
        self.books: dict[tuple[str, str], StrategyOrders] = {}
        for position in journal.positions():
            self.books[(position.strategy, position.market)] = StrategyOrders(position)
        self.sharing: dict[str, set[str]] = {}  # market -> strategies on it
        self._done_at: dict[int, Decimal] = {}  # order -> what it filled, once the venue is done
        self._exits: set[int] = set()  # orders sent to close a position (not to add to one)

    # ---- bookkeeping --------------------------------------------------------------------------
    def register(self, strategy: str, market: str) -> StrategyPosition:
        self.sharing.setdefault(market, set()).add(strategy)
        book = self.books.setdefault(
            (strategy, market), StrategyOrders(StrategyPosition(strategy, market))
        )
        return book.position

    def unregister(self, strategy: str, market: str) -> None:
        self.sharing.get(market, set()).discard(strategy)

    def position(self, strategy: str, market: str) -> StrategyPosition:
        return self.register(strategy, market)

    def positions(self) -> list[StrategyPosition]:
        return [book.position for book in self.books.values()]

    def _alone(self, market: str) -> bool:
        return len(self.sharing.get(market, ())) <= 1

    # ---- sending ------------------------------------------------------------------------------
    @at_priority(lambda _self, intent, *_, **__: exit_or_entry(intent.action == "close"))
    async def execute(self, intent: Intent) -> OrderRecord | None:
        """Send the market order an intent asks for; None when there is nothing to do, or
        when an earlier order of the strategy on the market is still of unknown fate. Every
        request it makes, the look-ups before the order too, goes at the intent's urgency."""
        if intent.order != "market":  # a resting entry: placed, moved or kept
            from rulebot.runtime.resting_orders import rest

            return await rest(self, intent)
        if not await self._fates_known(intent.strategy, intent.market):
            return None
        book = self.books[(intent.strategy, intent.market)]
        held = book.position.size
        if intent.action == "close":
            if held == 0:
                return None
            try:
                backed = await self.venue_holds(intent.strategy, intent.market)
            except VenueError as error:  # unknown: a reduce-only exit cannot open a position
                backed = self._alone(intent.market)
                log.warning(
                    "%s %s: the venue's position could not be read (%s); %s",
                    intent.strategy, intent.market, error,
                    "the exit goes reduce-only" if backed else "no exit sent this time",
                )  # fmt: skip
            if not backed:
                log.warning(
                    "%s %s: no exit sent: the venue does not hold its position %s",
                    intent.strategy, intent.market, held,
                )  # fmt: skip
                return None
            side: Side = "sell" if held > 0 else "buy"
            size = abs(held)
            if intent.partial and intent.size < size:  # a share: its protections follow after
                size = intent.size
            elif await self.cancel_protective(intent.strategy, intent.market):
                log.info(
                    "%s %s: no exit sent: its stop or take-profit filled at the venue first",
                    intent.strategy, intent.market,
                )  # fmt: skip
                return None
        else:
            side = intent.side
            size = intent.size
        reduce_only = intent.action == "close" and self._alone(intent.market)
        return await self._send(
            intent.strategy,
            intent.market,
            side,
            "market",
            size,
            None,
            reduce_only,
            intent.reason,
            closing=intent.action == "close",
        )

    async def _send(
        self,
        strategy: str,
        market: str,
        side: Side,
        kind: OrderKind,
        size: Decimal,
        trigger: Decimal | None,
        reduce_only: bool,
        reason: str,
        *,
        closing: bool = False,
        price: Decimal | None = None,
        time_in_force: str | None = None,
    ) -> OrderRecord | None:
        index = self.journal.next_client_order_index()
        if closing:
            self._exits.add(index)
        now = self.now_ms()
        record = OrderRecord(
            client_order_index=index,
            strategy=strategy,
            market=market,
            side=side,
            kind=kind,
            size=size,
            price=price,
            trigger_price=trigger,
            reduce_only=reduce_only,
            state="new",
            created_ms=now,
            updated_ms=now,
            reason=reason,
        )
        self.journal.record_order(record)
        request = OrderRequest(
            market=market,
            side=side,
            size=size,
            kind=VENUE_KINDS.get(kind, kind),  # type: ignore[arg-type]
            price=price,
            trigger_price=trigger,
            time_in_force=time_in_force,  # type: ignore[arg-type]
            reduce_only=reduce_only,
            client_order_index=index,
            max_slippage=STOP_SLIPPAGE if kind in PROTECTIVE else ENTRY_SLIPPAGE,
        )
        try:
            ack = await self.venue.place_order(request)  # type: ignore[attr-defined]
        except OrderRejected as rejected:
            record = replace(
                record, state="rejected", updated_ms=self.now_ms(), reason=str(rejected)
            )
            self.journal.record_order(record)
            log.warning("order refused by the venue: %s", rejected)
            return record
        record = replace(
            record,
            state="sent",
            price=ack.price,
            size=ack.size,
            trigger_price=ack.trigger_price if ack.trigger_price is not None else trigger,
            updated_ms=self.now_ms(),
        )
        trigger_text = f" when {ack.trigger_price}" if ack.trigger_price is not None else ""
        trigger_text += f" at {ack.price}" if kind == "limit" else ""
        log.info(
            "%s %s: %s %s %s%s (%s)", strategy, market, side, ack.size, kind, trigger_text, reason
        )
        if ack.status == UNKNOWN:
            record = replace(record, state="unknown")
            log.warning(
                "%s %s: order %s sent but not seen at the venue yet: looked up again before "
                "anything else is sent there", strategy, market, index,
            )  # fmt: skip
        done = ack.status is not None and ack.status not in (*ACTIVE_STATUSES, UNKNOWN)
        if kind not in PROTECTIVE and done and ack.filled is not None:
            self._done_at[index] = ack.filled  # the venue is done with it (IOC: at once)
            record = self._settled(record)
        self.journal.record_order(record)
        if record.state in ("sent", "unknown"):
            self.books[(strategy, market)].working.add(index)
        else:
            self._forget(index)
        return record

    @at_priority(Priority.PROTECT)
    async def protect(
        self,
        strategy: str,
        market: str,
        stop: Decimal | None,
        take: Decimal | None,
        takes: Sequence[TakeOrder] | None = None,
    ) -> None:
        """Make the venue hold this stop and take-profit for the strategy's position: place,
        move (cancel and replace) or cancel the trigger orders as needed. `takes`, when given,
        are the take-profits in parts (each its slot, trigger and size) in place of `take`,
        which is one for the whole position. The stop is sized to the whole position: when
        that changes, it is placed again. Nothing changes while an earlier order of the
        strategy on the market is of unknown fate. Its look-ups go at a stop's urgency too, so
        a stop is not moved late behind entries and data."""
        if not await self._fates_known(strategy, market):
            return
        book = self.books[(strategy, market)]
        held = book.position.size
        if held == 0:
            await self.cancel_protective(strategy, market)
            return
        if takes is None:
            takes = () if take is None else (TakeOrder(0, take, abs(held)),)
        wanted: list[tuple[str, int, Decimal | None, Decimal]] = [
            ("stop_loss", 0, stop, abs(held)),
            *(("take_profit", t.slot, t.trigger, t.size) for t in takes),
        ]
        wanted += [("take_profit", k, None, Decimal(0)) for k in book.takes if k not in
                   {t.slot for t in takes}]  # fmt: skip
        for kind, slot, level, size in wanted:  # cancel first: never more resting than held
            current = book.stop if kind == "stop_loss" else book.takes.get(slot)
            if current is None or (level is not None and _same(current, level, size)):
                continue
            await self._cancel(market, current.client_order_index)
            self._set_protective(book, kind, None, slot)
        side: Side = "sell" if held > 0 else "buy"
        for kind, slot, level, size in wanted:
            current = book.stop if kind == "stop_loss" else book.takes.get(slot)
            if level is None or current is not None or size <= 0:
                continue
            record = await self._send(
                strategy, market, side, kind, size, level, self._alone(market),  # type: ignore[arg-type]
                kind,
            )  # fmt: skip
            if record is not None and record.state in ("sent", "unknown"):
                book.working.discard(record.client_order_index)
                protective = Protective(record.client_order_index, level, size)
                self._set_protective(book, kind, protective, slot)

    @staticmethod
    def _set_protective(
        book: StrategyOrders, kind: str, value: Protective | None, slot: int = 0
    ) -> None:
        if kind == "stop_loss":
            book.stop = value
        elif value is None:
            book.takes.pop(slot, None)
        else:
            book.takes[slot] = value

    @at_priority(Priority.PROTECT)
    async def cancel_protective(
        self, strategy: str, market: str, closed_by: int | None = None
    ) -> bool:
        """Cancel the strategy's stop and take-profit at the venue. True when one of them had
        already filled there: its fill, on its way, closes (part of) the position. `closed_by`
        is the order whose fill closed the position: when it is a stop or a take-profit, the
        cancel of the other one (one cancels the other) is logged."""
        book = self.books[(strategy, market)]
        fired = False
        closer = self.journal.order(closed_by) if closed_by is not None else None
        because = None
        if closer is not None and closer.kind in PROTECTIVE:
            because = f"its {KIND_NAMES[closer.kind]} filled"
        for current in book.protective():
            fired = await self._cancel(market, current.client_order_index, because) or fired
        book.stop = None
        book.takes.clear()
        return fired

    async def _cancel(
        self, market: str, client_order_index: int, because: str | None = None
    ) -> bool:
        """Cancel an order at the venue; True when the venue had filled some of it already.
        With `because`, say that it is gone and why (the venue may have cancelled it first)."""
        order = await self._venue_order(market, client_order_index)
        record = self.journal.order(client_order_index)
        if order is not None and order.is_active:
            try:
                await self.venue.cancel_order(market, order.order_index)  # type: ignore[attr-defined]
            except VenueError as error:
                log.warning("cancel of order %s failed: %s", client_order_index, error)
                return False
            how = "cancelled"
        else:
            how = f"cancelled by the venue ({order.status})" if order else "gone from the venue"
        filled = order is not None and order.filled > 0
        if record is not None and record.state in ("new", "sent", "open") and not filled:
            self.journal.record_order(replace(record, state="canceled", updated_ms=self.now_ms()))
        if because is not None and record is not None and not filled:
            log.info(
                "%s %s: %s %s %s: %s (one cancels the other)", record.strategy, market,
                KIND_NAMES.get(record.kind, record.kind), client_order_index, how, because,
            )  # fmt: skip
        return filled

    async def _venue_order(self, market: str, client_order_index: int) -> Order | None:
        return await self.venue.find_order(market, client_order_index)  # type: ignore[attr-defined]

    async def _venue_orders(self, records: Sequence[OrderRecord]) -> dict[int, Order]:
        """The venue's orders for these records, by client order index (on each record's own
        market): one look-up for all of them (`find_orders`, 20 indexes a call)."""
        if not records:
            return {}
        found: dict[int, Order] = await self.venue.find_orders(  # type: ignore[attr-defined]
            [r.client_order_index for r in records]
        )
        markets = {r.client_order_index: r.market for r in records}
        return {i: o for i, o in found.items() if markets.get(i) == o.market}

    # ---- orders of unknown fate ---------------------------------------------------------------
    async def resolve_unknown(self, strategy: str, market: str) -> list[OrderRecord]:
        """Look up the strategy's `unknown` orders on `market` by client order index and journal
        what the venue says (placed, filled, refused on arrival, ...). Returns those still
        unknown: the venue shows nothing of them yet, and their grace has not run out."""
        unknown = [o for o in self.journal.open_orders(strategy, market) if o.state == "unknown"]
        if not unknown:
            return []
        found = await self._venue_orders(unknown)
        left: list[OrderRecord] = []
        for record in unknown:
            order = found.get(record.client_order_index)
            if order is not None:
                self._learn(record, order)
            elif self.now_ms() - record.created_ms > UNSEEN_GRACE_MS:
                self._never_arrived(record)
            else:
                left.append(record)
        return left

    async def _fates_known(self, strategy: str, market: str) -> bool:
        """True when no order of the strategy on the market is of unknown fate (after asking
        the venue about those that were); otherwise says which, and nothing is to be sent."""
        try:
            left = await self.resolve_unknown(strategy, market)
        except VenueError as error:
            left = [o for o in self.journal.open_orders(strategy, market) if o.state == "unknown"]
            log.warning("%s %s: unknown orders not looked up (%s)", strategy, market, error)
        if left:
            log.warning(
                "%s %s: nothing sent: order %s was sent but the venue does not show it yet",
                strategy, market, ", ".join(str(o.client_order_index) for o in left),
            )  # fmt: skip
        return not left

    def _learn(self, record: OrderRecord, order: Order) -> None:
        """Journal what the venue says of an order the journal has `unknown` (or in flight)."""
        index = record.client_order_index
        reason = cancelled_on_arrival(order.status)
        if reason is not None and order.filled == 0:
            note = f"{reason} ({order.status})"
            log.warning("%s %s: order %s refused by the venue: %s", record.strategy,
                        record.market, index, note)  # fmt: skip
            self._finish(replace(record, state="rejected", reason=note, updated_ms=self.now_ms()))
            self._drop(record)
            return
        known = record if record.state != "unknown" else replace(record, state="sent")
        if order.is_active:
            if known is not record:
                self.journal.record_order(replace(known, updated_ms=self.now_ms()))
            return
        self._done_at[index] = order.filled
        settled = self._settled(known)
        if settled.state in ("new", "sent", "open"):  # done there, fills still to be booked
            if known is not record:
                self.journal.record_order(replace(known, updated_ms=self.now_ms()))
            return
        self._finish(settled)
        if settled.state == "canceled":
            self._drop(record)

    def _never_arrived(self, record: OrderRecord) -> None:
        note = "never reached the venue"
        log.warning("%s %s: order %s %s", record.strategy, record.market,
                    record.client_order_index, note)  # fmt: skip
        self._finish(replace(record, state="canceled", reason=note, updated_ms=self.now_ms()))
        self._drop(record)

    # ---- fills --------------------------------------------------------------------------------
    def on_trades(self, trades: Iterable[Trade]) -> list[tuple[Fill, StrategyPosition, Decimal]]:
        """Our trades, attributed: each new fill with the strategy's position after it and the
        realised PnL it booked (net of fees). Trades already journaled are skipped."""
        done: list[tuple[Fill, StrategyPosition, Decimal]] = []
        for trade in trades:
            for side, account, index in (
                ("buy", trade.buyer_account, trade.buy_client_order_index),
                ("sell", trade.seller_account, trade.sell_client_order_index),
            ):
                if account != self.account_index:
                    continue
                record = self.journal.order(index)
                if record is None:
                    log.warning("a fill of order %s that this bot did not send", index)
                    continue
                taker, maker = self.fees(trade.market)
                rate = taker if trade.taker_side == side else maker
                fill = Fill(
                    trade_id=trade.trade_id,
                    client_order_index=index,
                    strategy=record.strategy,
                    market=trade.market,
                    side=side,  # type: ignore[arg-type]
                    size=trade.size,
                    price=trade.price,
                    fee=trade.size * trade.price * rate,
                    time_ms=trade.time_ms,
                )
                book = self.books.get((record.strategy, record.market))
                if book is None:
                    continue
                before = book.position
                after = apply_fill(before, fill)
                filled = record.filled + fill.size
                updated = self._settled(
                    replace(record, filled=filled, state="open", updated_ms=self.now_ms())
                )
                with self.journal.batch():  # the fill and what it moved, all or nothing
                    if not self.journal.record_fill(fill):
                        continue
                    self.journal.save_position(after)
                    self.journal.record_order(updated)
                book.position = after
                state = updated.state
                if state != "open":
                    self._forget(index)
                    _forget_protective(book, index)
                pnl = (after.realized_pnl - before.realized_pnl) - (after.fees - before.fees)
                log.info(
                    "%s %s: filled %s %s at %s; position %s",
                    record.strategy, fill.market, side, fill.size, fill.price, after.size,
                )  # fmt: skip
                done.append((fill, after, pnl))
        return done

    # ---- orders in flight ---------------------------------------------------------------------
    def in_flight(self, strategy: str, market: str | None = None) -> list[OrderRecord]:
        """The strategy's entry and exit orders whose fate is not known yet: sent (or in doubt)
        and neither filled and booked nor seen done at the venue. While one is in flight, the
        strategy's position is not known, so it sends nothing new there."""
        resting = (*PROTECTIVE, *RESTING_ENTRIES)
        return [o for o in self.journal.open_orders(strategy, market) if o.kind not in resting]

    def in_flight_sizes(self, open_orders: Iterable[OrderRecord]) -> dict[tuple[str, str], Decimal]:
        """(strategy, market) -> the signed size still to fill of its entries in flight, among
        the journal's `open_orders`: what the position may yet become. Exits in flight count
        as nothing (if one fails, the position stays what it is), so the sum never reads less
        than the truth may be."""
        sizes: dict[tuple[str, str], Decimal] = {}
        for order in open_orders:
            if order.kind in PROTECTIVE or order.client_order_index in self._exits:
                continue
            left = max(order.size - order.filled, Decimal(0))
            key = (order.strategy, order.market)
            sizes[key] = sizes.get(key, Decimal(0)) + (left if order.side == "buy" else -left)
        return sizes

    async def settle_in_flight(self, strategy: str, markets: Sequence[str]) -> bool:
        """Ask the venue (by client order index) what became of each order of `strategy` in
        flight on `markets`, and journal what it says. Returns True when the venue filled more
        than the journal has booked: those fills are to be booked from the account's trades."""
        behind = False
        records = [o for m in markets for o in self.in_flight(strategy, m)]
        found = await self._venue_orders(records)
        for record in records:
            order = found.get(record.client_order_index)
            if order is None:
                if self.now_ms() - record.created_ms > UNSEEN_GRACE_MS:
                    self._never_arrived(record)
                continue
            self._learn(record, order)
            now = self.journal.order(record.client_order_index)
            if not order.is_active and now is not None and now.state in ("sent", "open"):
                behind = True  # done at the venue, its fills not all booked yet
        return behind

    def _settled(self, record: OrderRecord) -> OrderRecord:
        """The record with its final state once the venue is done with it and every fill it
        made is booked: filled, or canceled at what filled (an IOC order's unfilled rest)."""
        done_at = self._done_at.get(record.client_order_index)
        if record.filled >= record.size:
            state = "filled"
        elif done_at is not None and record.filled >= done_at:
            state = "canceled"
        else:
            return record
        return replace(record, state=state, updated_ms=self.now_ms())  # type: ignore[arg-type]

    def _finish(self, record: OrderRecord) -> None:
        self.journal.record_order(record)
        self._forget(record.client_order_index)

    def _forget(self, client_order_index: int) -> None:
        """An order whose fate is known: nothing more to remember about it in flight."""
        self._done_at.pop(client_order_index, None)
        self._exits.discard(client_order_index)
        for book in self.books.values():
            book.working.discard(client_order_index)

    # ---- recovery -----------------------------------------------------------------------------
    async def reconcile(self, markets: Sequence[str]) -> list[str]:
        """After a start or a reconnect: settle every order the journal thinks is live against
        the venue, so nothing is sent twice or forgotten. Returns what it found, in words."""
        found: list[str] = []
        records = [r for r in self.journal.open_orders() if r.market in markets]
        at_venue = await self._venue_orders(records)  # by client order index, however old
        for record in records:
            order = at_venue.get(record.client_order_index)
            _, note, _ = self._settle_with(record, order)
            found.append(f"order {record.client_order_index} ({record.strategy}): {note}")
        return found

    async def settle(
        self, records: Sequence[OrderRecord]
    ) -> list[tuple[OrderRecord, OrderState, str, bool]]:
        """Journal orders the journal thinks live as the venue has them (looked up by client
        order index, 20 a request): each record with its state, the same in words, and whether
        the venue knows the order at all. An `unknown` order the venue does not show yet stays
        unknown within its grace."""
        at_venue = await self._venue_orders(records)
        return [
            (record, *self._settle_with(record, at_venue.get(record.client_order_index)))
            for record in records
        ]

    def _settle_with(
        self, record: OrderRecord, order: Order | None
    ) -> tuple[OrderState, str, bool]:
        young = self.now_ms() - record.created_ms <= UNSEEN_GRACE_MS
        if order is None and record.state == "unknown" and young:
            return "unknown", "sent, not seen at the venue yet", False
        if order is None:
            gone = "never reached the venue" if record.state in ("new", "unknown") else ""
            note = gone or "no longer at the venue"
            self.journal.record_order(replace(record, state="canceled", updated_ms=self.now_ms()))
            self._forget(record.client_order_index)
            self._drop(record)
            return "canceled", note, False
        if order.is_active:
            book = self.books.get((record.strategy, record.market))
            known = book is not None and any(
                p.client_order_index == record.client_order_index for p in book.protective()
            )
            if book is not None and record.kind in PROTECTIVE and not known:
                # found again (a restart): kept as it rests; moved only if the rule wants it so
                index, trigger = record.client_order_index, order.trigger_price
                protective = Protective(index, trigger, order.remaining)
                slot = 0
                while record.kind == "take_profit" and slot in book.takes:
                    slot += 1  # several take-profits in parts: each in a free slot
                self._set_protective(book, record.kind, protective, slot)
            self.journal.record_order(replace(record, state="open", updated_ms=self.now_ms()))
            return "open", "still open", True
        state: OrderState = "filled" if order.filled >= order.size else "canceled"
        reason = cancelled_on_arrival(order.status)
        note = f"{state}: {reason}" if reason is not None and order.filled == 0 else state
        updated = replace(record, state=state, updated_ms=self.now_ms())
        if note != state:
            updated = replace(updated, reason=note)
        self.journal.record_order(updated)
        self._forget(record.client_order_index)
        if state == "canceled":
            self._drop(record)
        return state, note, True

    def _drop(self, record: OrderRecord) -> None:
        """An order that is gone no longer protects or works for its strategy."""
        book = self.books.get((record.strategy, record.market))
        if book is None:
            return
        book.working.discard(record.client_order_index)
        _forget_protective(book, record.client_order_index)

    def adjust(self, strategy: str, market: str, size: Decimal) -> StrategyPosition:
        """Set a strategy's position to what the venue holds for it (see `reconcile.attribute`);
        no fill is booked, so no PnL: the venue's equity says what it cost."""
        book = self.books[(strategy, market)]
        before = book.position
        after = replace(
            before,
            size=size,
            entry_price=before.entry_price if size else Decimal(0),
            entry_time_ms=before.entry_time_ms if size else 0,
        )
        book.position = after
        self.journal.save_position(after)
        return after

    async def venue_holds(self, strategy: str, market: str) -> bool:
        """Whether the venue's position on `market` backs the whole of the strategy's, as the
        reconciler would share it out (`reconcile.attribute`): an exit of a position the venue
        does not hold would open one."""
        account = await self.venue.account()  # type: ignore[attr-defined]
        at_venue = sum((p.size for p in account.positions if p.market == market), Decimal(0))
        held = {
            name: book.position.size
            for (name, where), book in self.books.items()
            if where == market and book.position.size != 0
        }
        fitted, _ = attribute(at_venue, held)
        return fitted.get(strategy, Decimal(0)) == held.get(strategy, Decimal(0))


def _same(current: Protective, level: Decimal, size: Decimal) -> bool:
    """Whether a resting protective order is the one wanted: same trigger, same size (a size
    not known, as found after a restart, is taken as right)."""
    return current.trigger == level and (current.size is None or current.size == size)


def _forget_protective(book: StrategyOrders, client_order_index: int) -> None:
    """An order that filled or went is no longer one of the position's stop or take-profits."""
    if book.stop is not None and book.stop.client_order_index == client_order_index:
        book.stop = None
    for slot, take in list(book.takes.items()):
        if take.client_order_index == client_order_index:
            del book.takes[slot]

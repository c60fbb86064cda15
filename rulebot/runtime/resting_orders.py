"""Resting entries at the venue: the order manager's side of `rulebot.runtime.resting`.

A strategy that wants an entry resting at a price sends the same intent again at every close it
lives (with the level of that close); `rest` makes the venue's order match it:

- none there yet: a limit order (good till time, or post-only) or a stop order (the venue's
  stop-loss kind, not reduce-only) is placed at the level rounded to the market's price units
  toward safety (`MarketInfo.entry_level`), journaled first like every order;
- there, at another level in venue units: it is modified in place (`modify_order`: the venue's
  order index stays the same, nothing is cancelled and re-placed), at the entry urgency of the
  rate budget; when the budget has no room for it now, the order is kept where it is (said at
  DEBUG) and moved at a later close;
- there at the same level: nothing is sent.

When no intent wants it any more (its lifetime ran out, its level read na, an exit or the other
side's entry, a risk refusal, a flatten), `cancel_resting` cancels it. Its fills are booked as
any order's (maker or taker as the venue says), and the engine places the position's
protections as it does after a market entry. The journal is the memory: the resting orders of a
strategy are its open orders of a resting kind, so a restart finds them there and at the venue.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal

from rulebot.runtime.messages import Intent, OrderKind, OrderRecord
from rulebot.runtime.orders import ENTRY_SLIPPAGE, RESTING_ENTRIES, OrderManager
from rulebot.venues.lighter.errors import OrderRejected, VenueError
from rulebot.venues.lighter.limiter import Priority, at_priority
from rulebot.venues.units import MarketInfo

log = logging.getLogger("rulebot.orders")

MODIFY_REQUESTS = ("accountOrders", "accountActiveOrders", "sendTx", "accountActiveOrders")
"""What moving a resting entry asks of the venue: the order looked up, read again by the
adapter (its version), the modify sent and its landing checked."""


def journal_kind(intent: Intent) -> OrderKind:
    return "limit" if intent.order == "limit" else "stop_entry"


def resting_orders(manager: OrderManager, strategy: str, market: str) -> list[OrderRecord]:
    """The strategy's resting entries on `market` the journal thinks live, oldest first."""
    return [o for o in manager.journal.open_orders(strategy, market) if o.kind in RESTING_ENTRIES]


def _level_of(record: OrderRecord) -> Decimal | None:
    return record.price if record.kind == "limit" else record.trigger_price


def _prices(info: MarketInfo, intent: Intent, level: Decimal) -> tuple[Decimal, Decimal | None]:
    """The order's price and trigger for `level`: a limit's price is the level; a stop's price
    is the worst it may fill at once fired (`ENTRY_SLIPPAGE` past the level)."""
    if intent.order == "limit":
        return level, None
    worst = info.worst_price_units(level, intent.side, ENTRY_SLIPPAGE)
    return info.price_value(worst), level


@at_priority(Priority.ENTRY)
async def rest(manager: OrderManager, intent: Intent) -> OrderRecord | None:
    """Make the venue hold the resting entry `intent` asks for: place it, move it, or keep it.
    Returns its record (state `rejected` when the venue refused it, e.g. a post-only order that
    would have crossed); None when nothing could be sent this time."""
    strategy, market = intent.strategy, intent.market
    if intent.level is None:
        raise ValueError("a resting entry needs a level")
    info = await manager.venue.market(market)  # type: ignore[attr-defined]
    kind, side = journal_kind(intent), intent.side
    try:
        level = info.entry_level(intent.level, side, intent.order)  # type: ignore[arg-type]
    except OrderRejected as refused:
        log.warning("%s %s: resting entry not placed: %s", strategy, market, refused)
        await cancel_resting(manager, strategy, market, "its level is off the venue's prices")
        return None
    kept: OrderRecord | None = None
    for record in resting_orders(manager, strategy, market):
        if kept is None and record.kind == kind and record.side == side:
            kept = record
        else:  # another side or kind: the rule wants this one instead
            other = "an entry of the other side" if record.side != side else "another kind"
            await _cancel(manager, record, other)
    if not await manager._fates_known(strategy, market):
        return None
    if kept is None:
        return await _place(manager, intent, info, level)
    if kept.state in ("new", "unknown") or (_level_of(kept), kept.size) == (level, intent.size):
        return kept
    return await _move(manager, kept, intent, info, level)


async def _place(
    manager: OrderManager, intent: Intent, info: MarketInfo, level: Decimal
) -> OrderRecord | None:
    price, trigger = _prices(info, intent, level)
    tif = None if intent.order != "limit" else "post_only" if intent.post_only else "gtt"
    record = await manager._send(
        intent.strategy,
        intent.market,
        intent.side,
        journal_kind(intent),
        intent.size,
        trigger,
        False,
        intent.reason,
        price=price,
        time_in_force=tif,
    )
    if record is not None:
        manager.books[(intent.strategy, intent.market)].working.discard(record.client_order_index)
        if record.state == "rejected":
            log.info(
                "%s %s: resting %s entry at %s refused by the venue: %s", intent.strategy,
                intent.market, intent.order, level, record.reason,
            )  # fmt: skip
    return record


async def _move(
    manager: OrderManager, record: OrderRecord, intent: Intent, info: MarketInfo, level: Decimal
) -> OrderRecord:
    """Modify the resting order to `level`, if the rate budget has room for it now."""
    strategy, market, index = record.strategy, record.market, record.client_order_index
    was = _level_of(record)
    limiter = getattr(manager.venue, "limiter", None)
    if limiter is not None and not limiter.has_room(MODIFY_REQUESTS, Priority.ENTRY):
        log.debug(
            "%s %s: resting entry %s kept at %s, not moved to %s: the rate budget is short now",
            strategy, market, index, was, level,
        )  # fmt: skip
        return record
    try:
        order = await manager._venue_order(market, index)
        if order is None or not order.is_active or order.filled > 0:
            return record  # filled or gone: its fills and fate come from the venue
        price, trigger = _prices(info, intent, level)
        await manager.venue.modify_order(  # type: ignore[attr-defined]
            market,
            order.order_index,
            size=intent.size,  # what a restarted entry sized at this close (nothing filled)
            price=price,
            trigger_price=trigger,
            urgency=Priority.ENTRY,
            version=order.version or None,  # refused if a fill came since it was read here
        )
    except OrderRejected as refused:  # it changed meanwhile (a fill): its fills say what
        log.info("%s %s: resting entry %s not moved: %s", strategy, market, index, refused)
        return record
    except VenueError as error:
        log.warning("%s %s: resting entry %s not moved: %s", strategy, market, index, error)
        return record
    moved = replace(
        record, price=price, trigger_price=trigger, size=intent.size, updated_ms=manager.now_ms()
    )
    manager.journal.record_order(moved)
    log.info(
        "%s %s: resting %s %s %s moved from %s to %s (order %s)",
        strategy, market, record.side, intent.size, record.kind, was, level, index,
    )  # fmt: skip
    return moved


@at_priority(Priority.EXIT)
async def cancel_resting(manager: OrderManager, strategy: str, market: str, why: str) -> None:
    """Cancel the strategy's resting entries on `market` (`why`, in words, for the log)."""
    for record in resting_orders(manager, strategy, market):
        await _cancel(manager, record, why)


async def _cancel(manager: OrderManager, record: OrderRecord, why: str) -> None:
    market, index = record.market, record.client_order_index
    try:
        filled = await manager._cancel(market, index)
        if filled:  # part of it filled first: journal it done once its fills are booked
            order = await manager._venue_order(market, index)
            if order is not None:
                manager._learn(record, order)
    except VenueError as error:
        log.warning("%s %s: resting entry %s not cancelled: %s", record.strategy, market,
                    index, error)  # fmt: skip
        return
    log.info("%s %s: resting entry %s cancelled: %s", record.strategy, market, index, why)


def placed_for(manager: OrderManager, intent: Intent) -> set[int]:
    """The resting entries already at the venue that a resting `intent` stands for (the risk
    check counts them once, as the intent)."""
    if intent.order == "market":
        return set()
    return {o.client_order_index for o in resting_orders(manager, intent.strategy, intent.market)}


def filled(manager: OrderManager, live: object, client_order_index: int) -> None:
    """A fill of the strategy's: once it completes its resting entry, the strategy no longer
    wants that entry (a later one needs a signal of its own, as in the backtest), and it is
    not placed again however many entries its `pyramiding` allows."""
    record = manager.journal.order(client_order_index)
    wanted = getattr(live, "resting", None)
    if (
        wanted is not None
        and record is not None
        and record.kind in RESTING_ENTRIES
        and record.state == "filled"
        and record.side == wanted.intent.side
    ):
        drop(live, "it filled")


def drop(live: object, why: str) -> None:
    """The engine stopped a live strategy's resting entry (`why`): it is cancelled this close."""
    if getattr(live, "resting", None) is not None:
        live.resting = None  # type: ignore[attr-defined]
        live.resting_gone = why  # type: ignore[attr-defined]


async def cancel_unwanted(manager: OrderManager, live: object) -> None:
    """After a close: cancel the resting entries of a strategy that no longer wants one."""
    if not hasattr(live, "resting") or live.resting is not None:
        return
    market: str = live.market  # type: ignore[attr-defined]
    name: str = live.name  # type: ignore[attr-defined]
    if resting_orders(manager, name, market):
        why = live.resting_gone or "the rule no longer wants it"  # type: ignore[attr-defined]
        await cancel_resting(manager, name, market, why)


async def left_at_stop(venue: object, manager: OrderManager) -> list[str]:
    """For the end-of-run summary: each resting entry still open at the venue once the bot
    stops. It stays there (a restart carries on with it), so it may fill while the bot is away,
    and the position it opens has no stop until the bot is back."""
    open_now = {o.client_order_index for o in await venue.open_orders()}  # type: ignore[attr-defined]
    lines = []
    for record in manager.journal.open_orders():
        if record.kind not in RESTING_ENTRIES or record.client_order_index not in open_now:
            continue
        at = _level_of(record)
        lines.append(
            f"  {record.strategy} {record.market}: resting entry {record.client_order_index} "
            f"({record.side} {record.size} {record.kind.replace('_', ' ')} at {at}) stays at the "
            "venue: filled before the bot restarts, its position has NO PROTECTION until then"
        )
    return lines

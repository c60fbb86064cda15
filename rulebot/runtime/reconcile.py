"""The venue is the truth: compare what the journal says the account holds with what the venue
holds, and say how to adopt the venue's picture.

The comparison is pure (`attribute`, `compare_orders`), and so are the differences it finds, in
words (`position_cut`, `unmanaged_changed`, `order_gone`, ...); `read_venue` is the small async
part that reads a settled picture of the account. The engine applies the result (see
`Engine.reconcile`) on start, after every reconnect and on a timer.

Attribution, per market, with `held` the strategies' positions, `total` their sum and `venue`
the account's position at the venue:

- the venue holds what the strategies hold, or more on the same side: the strategies keep
  their positions, and the rest (`venue - total`) is *unmanaged*: a manual trade, or fills of
  orders this bot did not send. No strategy is given it to exit.
- the venue holds nothing, or the other side: no strategy holds anything (a `flatten` while
  the bot was down, a venue that lost its state); what the venue holds is unmanaged.
- the venue holds less on the same side: the strategies on that side are cut, the largest
  first (ties by name), until they add up to what the venue holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rulebot.runtime.messages import Difference, OrderRecord
from rulebot.venues.lighter.records import AccountState, Order, Trade

SETTLE_TRIES = 3
"""Reads of the account before giving up on this round when fills keep landing meanwhile."""


def _sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


def attribute(venue: Decimal, held: Mapping[str, Decimal]) -> tuple[dict[str, Decimal], Decimal]:
    """The strategies' positions on one market made to fit what the venue holds, and the part
    of the venue's position no strategy holds (unmanaged). See the module's docstring."""
    total = sum(held.values(), Decimal(0))
    if total == 0 or (_sign(venue) == _sign(total) and abs(venue) >= abs(total)):
        return dict(held), venue - total
    if _sign(venue) != _sign(total):
        return {name: Decimal(0) for name in held}, venue
    side = _sign(total)
    excess = abs(total - venue)
    fitted = dict(held)
    on_side = sorted((n for n in held if _sign(held[n]) == side), key=lambda n: (-abs(held[n]), n))
    for name in on_side:
        cut = min(abs(held[name]), excess)
        fitted[name] = held[name] - cut * side
        excess -= cut
        if excess == 0:
            break
    return fitted, Decimal(0)


@dataclass(frozen=True)
class OrderCheck:
    """Orders the journal and the venue see differently: `missing` are open in the journal but
    not at the venue; `unknown` are at the venue under our account with no journal record;
    `reopened` are at the venue though the journal thought them done."""

    missing: tuple[OrderRecord, ...]
    unknown: tuple[Order, ...]
    reopened: tuple[tuple[OrderRecord, Order], ...]


def compare_orders(
    journal_open: Sequence[OrderRecord],
    venue_open: Sequence[Order],
    lookup: Callable[[int], OrderRecord | None],
) -> OrderCheck:
    """Both directions: the journal's open orders the venue lacks, and the venue's open orders
    the journal lacks (`lookup` finds any journal record by client order index)."""
    at_venue = {o.client_order_index for o in venue_open}
    opened = {r.client_order_index for r in journal_open}
    missing = tuple(r for r in journal_open if r.client_order_index not in at_venue)
    unknown: list[Order] = []
    reopened: list[tuple[OrderRecord, Order]] = []
    for order in venue_open:
        if order.client_order_index in opened:
            continue
        record = lookup(order.client_order_index) if order.client_order_index else None
        if record is None:
            unknown.append(order)
        else:
            reopened.append((record, order))
    return OrderCheck(missing, tuple(unknown), tuple(reopened))


# ---- each difference, in words -----------------------------------------------------------------


def position_cut(
    time_ms: int, strategy: str, market: str, before: Decimal, after: Decimal, venue: Decimal
) -> Difference:
    return Difference(
        time_ms, "position", market, strategy, before, after,
        f"{strategy} {market}: the journal held {before}, the venue holds {venue} for the "
        f"account: {strategy} now holds {after} (no order sent)",
    )  # fmt: skip


def unmanaged_changed(
    time_ms: int, market: str, before: Decimal, after: Decimal, venue: Decimal
) -> Difference:
    return Difference(
        time_ms, "unmanaged", market, "", before, after,
        f"{market}: the venue holds {venue}, {after} of it no strategy's (a manual trade, or "
        "orders this bot did not send): not given to any strategy, never exited by the bot",
    )  # fmt: skip


def order_gone(time_ms: int, record: OrderRecord, note: str) -> Difference:
    return Difference(
        time_ms, "order_gone", record.market, record.strategy, Decimal(1), Decimal(0),
        f"{record.strategy} {record.market}: {record.kind} order {record.client_order_index} "
        f"is not at the venue ({note})",
        record.client_order_index,
    )  # fmt: skip


def order_unknown(time_ms: int, order: Order) -> Difference:
    return Difference(
        time_ms, "order_unknown", order.market, "", Decimal(0), Decimal(1),
        f"{order.market}: an order this bot did not send rests on the account ({order.side} "
        f"{order.remaining} {order.kind}, venue index {order.order_index}): left alone",
        order.client_order_index,
    )  # fmt: skip


def order_reopened(time_ms: int, record: OrderRecord) -> Difference:
    return Difference(
        time_ms, "order_reopened", record.market, record.strategy, Decimal(0), Decimal(1),
        f"{record.strategy} {record.market}: order {record.client_order_index} is open at the "
        f"venue though the journal had it {record.state}: open again",
        record.client_order_index,
    )  # fmt: skip


@dataclass(frozen=True)
class VenuePicture:
    """The account as the venue holds it, read when no fill landed in between."""

    account: AccountState
    orders: tuple[Order, ...]

    def position(self, market: str) -> Decimal:
        return sum((p.size for p in self.account.positions if p.market == market), Decimal(0))


async def read_venue(
    venue: Any, take_trades: Callable[[tuple[Trade, ...]], Any]
) -> VenuePicture | None:
    """The account's positions and open orders, read between two looks at its latest trades
    that agree (so no fill landed in between). `take_trades` journals the trades found first
    (awaited), so the journal has every fill the picture includes. None when fills kept
    landing for `SETTLE_TRIES` reads: the caller tries again later."""
    for _ in range(SETTLE_TRIES):
        before = await venue.account_trades()
        await take_trades(tuple(sorted(before, key=lambda t: t.trade_id)))
        account = await venue.account()
        orders = await venue.open_orders()
        after = await venue.account_trades()
        if {t.trade_id for t in after} <= {t.trade_id for t in before}:
            return VenuePicture(account, tuple(orders))
    return None


__all__ = [
    "OrderCheck",
    "VenuePicture",
    "attribute",
    "compare_orders",
    "order_gone",
    "order_reopened",
    "order_unknown",
    "position_cut",
    "read_venue",
    "unmanaged_changed",
]

"""What a clean stop leaves at the venue, said plainly: every position the bot holds, and whether
an exchange-side stop or take-profit of ours rests for it once the bot is gone.

The stop itself is `Engine.stop`: take no new bars, let the evaluation in flight finish (at most
`STOP_TIMEOUT_S`), journal the fills it brought and place their protection, then read the venue
(`protection_at_stop`) and say what it holds with `protection_lines`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rulebot.runtime.orders import OrderManager, Protective

STOP_TIMEOUT_S = 30.0
"""How long a stop waits for the evaluation in flight, and then for its fills and protection."""


@dataclass(frozen=True)
class Held:
    """One strategy's position on one market at the stop, and its protective orders as the
    order manager knows them (client order index and trigger)."""

    strategy: str
    market: str
    size: Decimal
    stop: tuple[int, Decimal] | None = None
    take: tuple[int, Decimal] | None = None
    spread: bool = False  # a leg of a spread: protected by the bot at closes, never at the venue
    more_takes: tuple[tuple[int, Decimal], ...] = ()  # take-profits in parts after the first


def protection_lines(
    held: Sequence[Held],
    resting: Collection[int],
    unmanaged: Mapping[str, Decimal],
    cancelled: bool = False,
) -> list[str]:
    """The end-of-run summary: a line per position with its protection, those with none in
    capitals. `resting` are the client order indexes open at the venue after the stop;
    `cancelled` says the stop cancelled every order (runtime.cancel_orders_on_exit)."""
    lines: list[str] = []
    for h in sorted(held, key=lambda h: (h.strategy, h.market)):
        head = f"  {h.strategy} {h.market} {h.size:+}:"
        if h.spread:
            lines.append(
                f"{head} spread leg, NO PROTECTION at the venue once the bot stops (the spread's "
                "stop and target are checked by the running bot only)"
            )
            continue
        rests = [
            f"{name} at {order[1]}"
            for name, order in (
                ("stop", h.stop),
                ("take-profit", h.take),
                *(("take-profit", take) for take in h.more_takes),
            )
            if order is not None and order[0] in resting
        ]
        if rests:
            lines.append(f"{head} {' and '.join(rests)} rest at the venue")
        elif cancelled:
            lines.append(f"{head} UNPROTECTED: its orders were cancelled on exit")
        else:
            lines.append(f"{head} UNPROTECTED: no stop or take-profit rests at the venue")
    for market, size in sorted(unmanaged.items()):
        lines.append(f"  (no strategy) {market} {size:+}: not the bot's, UNPROTECTED by it")
    title = "positions at the venue and their protection:" if lines else "no position held"
    return [title, *lines]


async def protection_at_stop(
    venue: Any,
    orders: OrderManager,
    spreads: Collection[str],
    unmanaged: Mapping[str, Decimal],
    cancelled: bool,
) -> list[str]:
    """`protection_lines` for every position the order manager holds, its stop and target read
    from the venue's open orders (not assumed); `spreads` names the strategies trading spreads."""
    resting = {o.client_order_index for o in await venue.open_orders()}
    held = []
    for position in orders.positions():
        if position.size == 0:
            continue
        book = orders.books[(position.strategy, position.market)]
        takes = [_placed(orders, t) for _, t in sorted(book.takes.items())]
        held.append(Held(
            position.strategy, position.market, position.size,
            _placed(orders, book.stop), takes[0] if takes else None,
            spread=position.strategy in spreads,
            more_takes=tuple(t for t in takes[1:] if t is not None),
        ))  # fmt: skip
    return protection_lines(held, resting, unmanaged, cancelled)


def _placed(orders: OrderManager, protective: Protective | None) -> tuple[int, Decimal] | None:
    """A protective order and its trigger as the venue took it (rounded to the market's price
    step), for the summary."""
    if protective is None:
        return None
    record = orders.journal.order(protective.client_order_index)
    placed = record.trigger_price if record is not None else None
    return protective.client_order_index, placed or protective.trigger


__all__ = ["STOP_TIMEOUT_S", "Held", "protection_at_stop", "protection_lines"]

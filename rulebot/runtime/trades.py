"""Round trips rebuilt from fills, one fill at a time: what `rulebot report` reads from the journal
and what the running bot says as each fill arrives, from the same bookkeeping.

A trade opens when a strategy's position on a market leaves 0 and closes when it returns to 0 or
flips (a flip closes one trade and opens the next with the rest of the fill, its fee split between
them by size). A fill that reduces a position without closing it is a partial close (a take-profit
of a share, `exit long 50% when`): its part of the trade's PnL is booked, and the trade stays open;
the trade counts its closing fills (`closes`). A fill that adds to an open position (`pyramiding`)
moves its average entry price. A spread's legs are separate trades, one per
market. A trade's `pnl` is net of its fees, as in a backtest. Money is `Decimal` and exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal, Inexact, localcontext
from typing import Final

from rulebot.runtime.messages import Fill, StrategyPosition
from rulebot.runtime.positions import ENTRY_PRICE_QUANTUM, apply_fill, signed_size

_EXACT: Final = Context(prec=100, traps=[Inexact])
_DIVIDE: Final = Context(prec=100)


@dataclass(frozen=True, slots=True)
class Trade:
    """One round trip of one strategy on one market. Open trades have no exit yet."""

    strategy: str
    market: str
    side: str  # "long" or "short"
    entry_time_ms: int
    exit_time_ms: int | None
    size: Decimal  # everything bought (long) or sold (short) to open it
    entry_price: Decimal  # size-weighted average of the opening fills
    exit_price: Decimal | None  # size-weighted average of the closing fills
    gross_pnl: Decimal  # price PnL realised, before fees
    fees: Decimal
    exit_reason: str  # why the last closing order was sent ("signal", "stop_loss", ...); "" if open
    closes: int = 0  # the fills that closed it: more than 1 when taken off in parts

    @property
    def pnl(self) -> Decimal:
        """Net of fees, as the backtester counts a trade."""
        with localcontext(_EXACT):
            return self.gross_pnl - self.fees

    @property
    def is_open(self) -> bool:
        return self.exit_time_ms is None


@dataclass(frozen=True, slots=True)
class PartialClose:
    """The part of an open trade one fill closed, the trade staying open with `left`."""

    strategy: str
    market: str
    side: str  # the trade's: "long" or "short"
    size: Decimal  # closed by this fill
    entry_price: Decimal  # the trade's average entry
    exit_price: Decimal  # this fill's price
    gross_pnl: Decimal  # price PnL this fill realised
    fee: Decimal  # this fill's fee
    left: Decimal  # still open, unsigned
    reason: str  # why the closing order was sent

    @property
    def pnl(self) -> Decimal:
        with localcontext(_EXACT):
            return self.gross_pnl - self.fee


@dataclass(frozen=True, slots=True)
class Booking:
    """What one fill did to its strategy's PnL: price PnL realised and fee paid."""

    strategy: str
    time_ms: int
    realized: Decimal
    fee: Decimal


@dataclass(frozen=True, slots=True)
class Step:
    """What one fill did: its booking, and the trade it closed or the part of one it closed."""

    booking: Booking
    closed: Trade | None = None
    partial: PartialClose | None = None


@dataclass(slots=True)
class _Building:
    """A trade being put together from its fills."""

    side: str
    entry_time_ms: int
    opened: Decimal = Decimal(0)
    opened_value: Decimal = Decimal(0)
    closed: Decimal = Decimal(0)
    closed_value: Decimal = Decimal(0)
    gross_pnl: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    closes: int = 0

    def trade(
        self, strategy: str, market: str, exit_time_ms: int | None, reason: str = ""
    ) -> Trade:
        return Trade(
            strategy,
            market,
            self.side,
            self.entry_time_ms,
            exit_time_ms,
            self.opened,
            _average(self.opened_value, self.opened),
            _average(self.closed_value, self.closed) if self.closed else None,
            self.gross_pnl,
            self.fees,
            reason,
            self.closes,
        )


class TradeBook:
    """Every strategy's trades as fills come, in time order: `add` says what each fill did."""

    def __init__(self) -> None:
        self.positions: dict[tuple[str, str], StrategyPosition] = {}
        self._building: dict[tuple[str, str], _Building] = {}

    def add(self, fill: Fill, exit_reason: Callable[[Fill], str]) -> Step:
        """Book `fill`; `exit_reason(fill)` (asked only of a fill that closes something) names
        why its order was sent. Exact: trades' gross PnL adds up to the positions' realised."""
        key = (fill.strategy, fill.market)
        before = self.positions.get(key) or StrategyPosition(fill.strategy, fill.market)
        after = apply_fill(before, fill)
        self.positions[key] = after
        with localcontext(_EXACT):
            realized = after.realized_pnl - before.realized_pnl
            change = signed_size(fill)
            booking = Booking(fill.strategy, fill.time_ms, realized, fill.fee)
            trade = self._building.get(key)
            if trade is None or before.size == 0:
                trade = self._building[key] = _Building(_side(change), fill.time_ms)
            if before.size == 0 or (before.size > 0) == (change > 0):  # opened or added to
                trade.opened += fill.size
                trade.opened_value += fill.size * fill.price
                trade.gross_pnl += realized  # an average's rounding remainder, if any
                trade.fees += fill.fee
                return Step(booking)
            closing = min(fill.size, abs(before.size))
            fee = fill.fee if closing == fill.size else _share(fill.fee, closing, fill.size)
            trade.closed += closing
            trade.closes += 1
            trade.closed_value += closing * fill.price
            trade.gross_pnl += realized
            trade.fees += fee
            reason = exit_reason(fill)
            if after.size != 0 and (after.size > 0) == (before.size > 0):  # reduced, still open
                part = PartialClose(
                    *key, trade.side, closing, before.entry_price, fill.price, realized, fee,
                    abs(after.size), reason,
                )  # fmt: skip
                return Step(booking, partial=part)
            closed = trade.trade(*key, fill.time_ms, reason)
            del self._building[key]
            if after.size != 0:  # flipped: the rest of the fill opens the next trade
                rest = fill.size - closing
                self._building[key] = _Building(
                    _side(after.size),
                    fill.time_ms,
                    opened=rest,
                    opened_value=rest * fill.price,
                    fees=fill.fee - fee,
                )
            return Step(booking, closed=closed)

    def open_trades(self) -> list[Trade]:
        return [t.trade(s, m, None) for (s, m), t in self._building.items()]


@dataclass
class Replay:
    """Every fill replayed in order: the trades, still-open trades, and each fill's booking."""

    closed: list[Trade] = field(default_factory=list)
    open: list[Trade] = field(default_factory=list)
    bookings: list[Booking] = field(default_factory=list)


def replay_fills(fills: Iterable[Fill], exit_reason: Callable[[Fill], str]) -> Replay:
    """Rebuild the round trips from fills in time order; `exit_reason(fill)` names why a closing
    fill's order was sent."""
    book = TradeBook()
    result = Replay()
    for fill in fills:
        step = book.add(fill, exit_reason)
        result.bookings.append(step.booking)
        if step.closed is not None:
            result.closed.append(step.closed)
    result.open = book.open_trades()
    return result


def money(value: Decimal | None) -> str:
    """Exact decimal text without trailing zeros, never in exponent form; empty for None."""
    if value is None:
        return ""
    with localcontext(_DIVIDE):  # 100 digits: normalizing never rounds
        text = format(value.normalize(), "f")
    return "0" if text == "-0" else text


def _side(signed: Decimal) -> str:
    return "long" if signed > 0 else "short"


def _share(fee: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    """`fee * part / whole`, rounded to far below a cent so that the two shares of a split fee
    still add up to it exactly (the other share is the remainder)."""
    with localcontext(_DIVIDE) as context:
        share = fee * part / whole
        if context.flags[Inexact]:
            share = share.quantize(ENTRY_PRICE_QUANTUM, rounding=ROUND_HALF_EVEN)
    return share


def _average(value: Decimal, size: Decimal) -> Decimal:
    """A size-weighted average price, exact when it can be, else rounded as entry prices are."""
    with localcontext(_DIVIDE) as context:
        average = value / size
        if context.flags[Inexact]:
            average = average.quantize(ENTRY_PRICE_QUANTUM, rounding=ROUND_HALF_EVEN)
    return average


__all__ = [
    "Booking",
    "PartialClose",
    "Replay",
    "Step",
    "Trade",
    "TradeBook",
    "money",
    "replay_fills",
]

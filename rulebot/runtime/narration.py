"""What the running bot says of its trades: a line as each trade closes (or as a fill closes part
of one), and, when the bot stops, this run's trades, PnL and fees.

The engine hands every fill here once it is journaled, from the one place fills arrive. Trades
come from the bookkeeping `rulebot report` uses (`runtime.trades`), first fed the journal's
earlier fills, so a trade opened before a restart closes with its whole PnL and fees, and each
figure said is the one `rulebot report` reads from the journal. A trade's PnL is net of its fees;
money is exact, as the journal keeps it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from rulebot.runtime.journal import Journal
from rulebot.runtime.messages import Fill
from rulebot.runtime.positions import signed_size
from rulebot.runtime.trades import PartialClose, Step, Trade, TradeBook, money

log = logging.getLogger("rulebot.trades")


@dataclass
class Tally:
    """One strategy's trades closed this run, their PnL (net of fees), and every fee its fills
    paid this run (the entries of trades still open too)."""

    trades: int = 0
    won: int = 0
    pnl: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)


class Narrator:
    """Logs each trade as its fills close it, and tallies this run's trades for the stop."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.book = TradeBook()
        self.tallies: dict[str, Tally] = {}
        for fill in _open_trades_fills(journal.fills()):  # before this run: not said again
            self.book.add(fill, lambda _: "")

    def _reason(self, fill: Fill) -> str:
        """Why the closing fill's order was sent (`signal`, `stop_loss`, `take_profit`, ...)."""
        order = self.journal.order(fill.client_order_index)
        return (order.reason if order is not None else "") or "unknown"

    def on_fill(self, fill: Fill) -> Step:
        """Book a fill just journaled; say the trade it closed, or the part of one."""
        step = self.book.add(fill, self._reason)
        tally = self.tallies.setdefault(fill.strategy, Tally())
        tally.fees += fill.fee
        if step.closed is not None:
            tally.trades += 1
            tally.won += step.closed.pnl > 0
            tally.pnl += step.closed.pnl
            log.info("%s", closed_line(step.closed))
        elif step.partial is not None:
            log.info("%s", partial_line(step.partial))
        return step

    def summary(self) -> list[str]:
        """This run's trades, PnL and fees, then a line per strategy when several traded."""
        if not self.tallies:
            return ["this run: no trade"]
        total = Tally()
        rows = []
        for name, tally in sorted(self.tallies.items()):
            rows.append(f"  {name:<20} {_tally_text(tally)}")
            total.trades += tally.trades
            total.won += tally.won
            total.pnl += tally.pnl
            total.fees += tally.fees
        return [f"this run: {_tally_text(total)}", *(rows if len(rows) > 1 else [])]


def _open_trades_fills(fills: list[Fill]) -> list[Fill]:
    """The fills of the trades still open, from the fill that last opened each from flat: what
    the book needs to close them with their whole PnL, without booking every trade ever made
    (a restart stays quick however long the journal)."""
    held: dict[tuple[str, str], Decimal] = {}
    opened_at: dict[tuple[str, str], int] = {}
    for number, fill in enumerate(fills):
        key = (fill.strategy, fill.market)
        before = held.get(key, Decimal(0))
        if before == 0:
            opened_at[key] = number
        held[key] = before + signed_size(fill)
    starts = {key: opened_at[key] for key, size in held.items() if size != 0}
    first = min(starts.values(), default=len(fills))
    return [
        fill
        for number, fill in enumerate(fills[first:], first)
        if number >= starts.get((fill.strategy, fill.market), len(fills))
    ]


def closed_line(trade: Trade) -> str:
    """A closed trade in one line: who, what, why, and its PnL net of its fees."""
    return (
        f"{trade.strategy} {trade.market}: trade closed ({trade.exit_reason}): {trade.side} "
        f"{money(trade.size)}, entry {money(trade.entry_price)}, exit {money(trade.exit_price)}, "
        f"PnL {_signed(trade.pnl)} after fees {money(trade.fees)}"
    )


def partial_line(part: PartialClose) -> str:
    """A fill that closed part of a trade, which stays open."""
    return (
        f"{part.strategy} {part.market}: trade partly closed ({part.reason}): "
        f"{money(part.size)} of the {part.side} at {money(part.exit_price)}, entry "
        f"{money(part.entry_price)}, PnL {_signed(part.pnl)} after fees {money(part.fee)}; "
        f"{money(part.left)} still open"
    )


def _tally_text(tally: Tally) -> str:
    trades = "1 trade" if tally.trades == 1 else f"{tally.trades} trades"
    pnl, fees = _signed(tally.pnl), money(tally.fees)
    return f"{trades} ({tally.won} won), PnL {pnl} net of their fees; fees paid {fees}"


def _signed(value: Decimal) -> str:
    text = money(value)
    return text if text.startswith("-") or text == "0" else f"+{text}"


__all__ = ["Narrator", "Tally", "closed_line", "partial_line"]

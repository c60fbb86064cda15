"""What `rulebot explain`, the runtime's log and the status API say about one decision.

A decision is a strategy's reading at one bar's close: every let, every condition as a tree of its
clauses with their values, and what came of each true condition (an entry taken, or what stopped
it). The backtest (`decisions.py`) and the live runtime build the same records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from rulebot.explain.clauses import Clause

BLOCKER_TEXT = {
    "warmup": "warm-up: not every indicator has enough bars yet",
    "opposite_entries": "both entries are true: they cancel",
    "in_position": "already in that position",
    "last_bar": "the last bar of the data: nothing fills after it",
    "account_daily_loss": "risk: the account's max_daily_loss is breached",
    "account_drawdown": "risk: the account's max_drawdown is breached",
    "daily_loss": "risk: the rule's max_daily_loss is breached",
    "drawdown": "risk: the rule's max_drawdown is breached",
    "max_open_orders": "risk: the entry and its protections need more than max_open_orders",
    "cooldown": "cooldown after a losing trade",
    "no_size": "the size comes to nothing (below the minimum, or no valid stop to size from)",
    "pending_order": "an order is still pending",
    "untraced": "not traced for a strategy on several markets",
}
"""What each blocker means, in a trader's words (`BLOCKERS` of the fill loop, and warm-up)."""

Value = float | bool | None


@dataclass(frozen=True)
class ClauseValue:
    """One clause at one bar: its text, its value (and whether it holds), its operands' values
    and its sub-clauses."""

    text: str
    kind: str
    value: Value
    operands: tuple[tuple[str, Value], ...] = ()
    children: tuple[ClauseValue, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "value": self.value,
            **({"operands": dict(self.operands)} if self.operands else {}),
            **({"clauses": [c.to_dict() for c in self.children]} if self.children else {}),
        }


@dataclass(frozen=True)
class Decision:
    """A strategy's decision at one bar's close: what it read and what it did."""

    strategy: str
    time_ms: int
    """The bar's open time (ms UTC); the decision is at its close."""
    close: float
    position: str
    """`flat`, `long` or `short`: the position the close's rules read."""
    lets: tuple[tuple[str, Value], ...]
    conditions: tuple[tuple[str, ClauseValue], ...]
    """By output name: `entry.long`, `exit.short`, ..."""
    outcomes: tuple[tuple[str, str], ...]
    """What came of each true condition (`entry.long`: `enters long` or the blocker)."""
    orders: tuple[tuple[str, str], ...] = ()
    """By entry condition (`entry.long`), how its entry rests when it is not at market:
    `post-only limit at mid - band = 38282.7 for 3 bars`."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "time": self.time_ms,
            "close": self.close,
            "position": self.position,
            "lets": dict(self.lets),
            "conditions": {name: value.to_dict() for name, value in self.conditions},
            "outcomes": dict(self.outcomes),
            "orders": dict(self.orders),
        }


def plain(value: Any) -> Value:
    """A value of a graph node as a record holds it: a bool, a float, or None for na."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    number = float(value)
    return None if number != number else number


def clause_value(clause: Clause, read: Callable[[str], Value]) -> ClauseValue:
    """A clause tree's values, each read by its part key (`read("entry.long.0")`)."""
    return ClauseValue(
        clause.text,
        clause.kind,
        read(clause.key),
        tuple((o.text, read(o.key)) for o in clause.operands),
        tuple(clause_value(child, read) for child in clause.children),
    )


def entry_outcome(side: str, held: str, blocker: str | None) -> str:
    """What came of a true entry: taken (an entry or a reverse), or what stopped it."""
    if blocker is not None:
        return f"stopped: {BLOCKER_TEXT.get(blocker, blocker)}"
    return f"{'reverses to' if held not in ('flat', side) else 'enters'} {side}"


def exit_outcome(side: str, held: str) -> str:
    return f"closes the {side}" if held == side else "nothing to close"


def stopped(decision: Decision, why: str) -> Decision:
    """The decision with its taken entries stopped after all, `why` (what the live runtime learns
    after the strategy decided: an order in flight, the risk manager's refusal)."""
    taken = ("enters", "reverses")
    outcomes = tuple(
        (name, f"stopped: {why}")
        if name.startswith("entry.") and text.startswith(taken)
        else (name, text)
        for name, text in decision.outcomes
    )
    return replace(decision, outcomes=outcomes)

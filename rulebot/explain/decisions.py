"""Why a strategy did (or did not) trade at each bar: its decisions, read from a real backtest.

The backtest runs with its fill loop tracing (`backtest(..., trace=True)`): at each close it
records the position the rules read and what stopped a true entry (a risk limit, the cooldown,
the position held, ...). The strategy's graph, planned with every clause of its conditions as a
part (`clauses.py`), is then evaluated by the vectorised evaluator over the same bars with that
position state, so each clause's value is what the backtest decided with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rulebot.backtesting.engine import (
    BacktestResult,
    backtest,
    first_traded,
    market_data,
    on_timeframe,
    window_start,
)
from rulebot.backtesting.fills import BLOCKERS, TRACE_ROWS, FillSettings
from rulebot.data.candles import Candles, FundingRates
from rulebot.explain.clauses import Clause, conditions, parts
from rulebot.graph.plan import Graph, plan
from rulebot.graph.vectorised import evaluate, outputs
from rulebot.lang import ir

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "time": self.time_ms,
            "close": self.close,
            "position": self.position,
            "lets": dict(self.lets),
            "conditions": {name: value.to_dict() for name, value in self.conditions},
            "outcomes": dict(self.outcomes),
        }


@dataclass(frozen=True)
class Explanation:
    """A strategy's every value and decision over the bars of a backtest."""

    strategy: ir.Strategy
    graph: Graph
    trees: Mapping[str, Clause]
    named: Mapping[str, np.ndarray]
    """Every output of the graph (lets, conditions, parts) as a full-length column."""
    timestamp: np.ndarray
    close: np.ndarray
    first: int
    """The first bar of the window traded."""
    trace: np.ndarray | None
    """The fill loop's trace over all bars (rows TRACE_ROWS; flat before `first`), or None."""
    result: BacktestResult
    """The backtest it was read from."""

    def __len__(self) -> int:
        return len(self.timestamp)

    def bar_at(self, time_ms: int) -> int:
        """The last bar opening at or before `time_ms`."""
        index = int(np.searchsorted(self.timestamp, time_ms, side="right")) - 1
        return max(index, 0)

    def blocker(self, index: int) -> str | None:
        """What stopped a true entry at this bar's close, or None (nothing did, or no entry)."""
        if index < self.graph.warmup_bars:
            return "warmup"
        if self.trace is None:
            return "untraced"
        code = int(self.trace[TRACE_ROWS.index("blocker"), index])
        return None if code == 0 else BLOCKERS[code]

    def position(self, index: int) -> str:
        if self.trace is None:
            return "flat"
        side = self.trace[TRACE_ROWS.index("position"), index]
        return "long" if side > 0 else "short" if side < 0 else "flat"

    def decision(self, index: int) -> Decision:
        """The decision at bar `index`'s close."""
        lets = tuple(
            (name, _value(self.named[f"let.{name}"], index)) for name in self.strategy.lets
        )
        values = tuple((name, self._clause_value(tree, index)) for name, tree in self.trees.items())
        return Decision(
            self.strategy.name,
            int(self.timestamp[index]),
            float(self.close[index]),
            self.position(index),
            lets,
            values,
            self._outcomes(index),
        )

    def _clause_value(self, clause: Clause, index: int) -> ClauseValue:
        return ClauseValue(
            clause.text,
            clause.kind,
            _value(self.named[f"part.{clause.key}"], index),
            tuple((o.text, _value(self.named[f"part.{o.key}"], index)) for o in clause.operands),
            tuple(self._clause_value(child, index) for child in clause.children),
        )

    def _outcomes(self, index: int) -> tuple[tuple[str, str], ...]:
        held = self.position(index)
        found: list[tuple[str, str]] = []
        for name in self.trees:
            if not bool(self.named[name][index]):
                continue
            kind, side = name.split(".")
            if kind == "exit":
                found.append((name, f"closes the {side}" if held == side else "nothing to close"))
                continue
            blocker = self.blocker(index)
            if blocker is None:
                verb = "reverses to" if held not in ("flat", side) else "enters"
                found.append((name, f"{verb} {side}"))
            else:
                found.append((name, f"stopped: {BLOCKER_TEXT[blocker]}"))
        return tuple(found)

    def summary(self) -> Summary:
        """How often each clause held over the window's bars after warm-up, and how many true
        entries each blocker stopped."""
        start = self.first
        warm = max(start, self.graph.warmup_bars)
        held = {
            clause.key: int(np.count_nonzero(self.named[f"part.{clause.key}"][warm:]))
            for tree in self.trees.values()
            for _, clause in tree.walk()
        }
        entries = np.zeros(len(self), dtype=bool)
        for name in self.trees:
            if name.startswith("entry."):
                entries |= np.asarray(self.named[name], dtype=bool)
        stopped: dict[str, int] = {}
        entered = 0
        for index in np.flatnonzero(entries[start:]) + start:
            blocker = self.blocker(int(index))
            if blocker is None:
                entered += 1
            else:
                stopped[blocker] = stopped.get(blocker, 0) + 1
        return Summary(self.trees, held, len(self) - warm, entered, stopped)


@dataclass(frozen=True)
class Summary:
    """`rulebot backtest --explain`: per clause the bars it held on, per blocker the true entries
    it stopped."""

    trees: Mapping[str, Clause]
    held: Mapping[str, int]
    """Bars each clause (by key) held on, over `bars`."""
    bars: int
    """The window's bars after warm-up."""
    entered: int
    """Bars with a true entry that went ahead."""
    stopped: Mapping[str, int]
    """Bars with a true entry that a blocker stopped, by blocker."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "bars": self.bars,
            "conditions": {
                name: [
                    {"clause": c.text, "depth": depth, "bars_held": self.held[c.key]}
                    for depth, c in tree.walk()
                ]
                for name, tree in self.trees.items()
            },
            "entries_taken": self.entered,
            "entries_stopped": dict(self.stopped),
        }


def explain(
    strategy: ir.Strategy,
    data: Candles | Mapping[str, Candles] | None = None,
    *,
    params: Mapping[str, float | bool] | None = None,
    settings: FillSettings | None = None,
    funding: FundingRates | None = None,
    days: float | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> Explanation:
    """Backtest `strategy` (as `backtest()` does, same arguments) and read every decision."""
    result = backtest(
        strategy,
        data,
        params=params,
        settings=settings,
        funding=funding,
        days=days,
        start_ms=start_ms,
        end_ms=end_ms,
        trace=True,
    )
    market = strategy.markets[0]
    candles = market_data(strategy, data)
    bars = {m: on_timeframe(c.between(None, end_ms), strategy, m) for m, c in candles.items()}
    first = first_traded(
        bars[market], window_start(candles[market], days, start_ms, end_ms), strategy
    )
    trees = conditions(strategy)
    graph = plan(strategy, result.params, parts(trees))
    n = len(bars[market])
    trace = None
    if result.result.trace is not None:
        trace = np.zeros((len(TRACE_ROWS), n))
        trace[TRACE_ROWS.index("entry_price")] = np.nan
        trace[:, first:] = result.result.trace
        trace[TRACE_ROWS.index("blocker"), :first] = 0
    state = None
    if trace is not None:
        state = {name: trace[k] for k, name in enumerate(TRACE_ROWS) if name != "blocker"}
    named = outputs(graph, evaluate(graph, bars, state=state))
    for name, node_id in graph.outputs.items():
        if graph.nodes[node_id].type == "bool":  # a program's true/false is 1.0/0.0
            column = np.asarray(named[name])
            named[name] = column if column.dtype == np.bool_ else (column == column) & (column != 0)
    return Explanation(
        strategy,
        graph,
        trees,
        named,
        bars[market].timestamp,
        bars[market].close,
        first,
        trace,
        result,
    )


def _value(column: np.ndarray, index: int) -> Value:
    value = column[index]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    number = float(value)
    return None if number != number else number

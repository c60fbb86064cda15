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
from rulebot.explain.records import (
    Decision,
    clause_value,
    entry_outcome,
    exit_outcome,
    plain,
)
from rulebot.explain.render import resting_orders
from rulebot.graph.plan import Graph, plan
from rulebot.graph.vectorised import evaluate, outputs
from rulebot.lang import ir


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
        lets = tuple((name, plain(self.named[f"let.{name}"][index])) for name in self.strategy.lets)
        values = tuple(
            (name, clause_value(tree, lambda key: plain(self.named[f"part.{key}"][index])))
            for name, tree in self.trees.items()
        )
        return Decision(
            self.strategy.name,
            int(self.timestamp[index]),
            float(self.close[index]),
            self.position(index),
            lets,
            values,
            self._outcomes(index),
            resting_orders(self.strategy, lambda name: plain(self.named[name][index])),
        )

    def _outcomes(self, index: int) -> tuple[tuple[str, str], ...]:
        held = self.position(index)
        found: list[tuple[str, str]] = []
        for name in self.trees:
            if bool(self.named[name][index]):
                kind, side = name.split(".")
                if kind == "exit":
                    found.append((name, exit_outcome(side, held)))
                else:
                    found.append((name, entry_outcome(side, held, self.blocker(index))))
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

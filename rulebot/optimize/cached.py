"""Graph evaluation that shares columns across the trials of a search.

Each node is named by a structural signature: its op, its settings (params already substituted
by the planner), its clock and the signatures of the nodes it reads. Two trials' nodes with equal
signatures compute equal columns, so a column is computed once per distinct signature: columns
no param touches once for the whole search, `sma(close, lookback)` once per distinct `lookback`,
and only what a combination alone decides once per combination. Columns are kept in a
least-recently-used store bounded in bytes; the search runs trials in grid order, so the columns
a run of trials shares stay while they are needed.

Evaluation itself is the vectorised evaluator's own, node by node, so a column here is the column
`rulebot.backtest` computes, bit for bit. What the fill loop reads is kept the same way: a node's
column as float64 values, and the stacked inputs of the position rules. A trial then allocates
little beyond the signals its own params decide, and writes its equity into buffers kept here.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter, OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from rulebot.backtesting.metrics import bar_interval_ms
from rulebot.graph import vectorised
from rulebot.graph.clocks import BarColumns
from rulebot.graph.plan import Clock, Graph

Column = Any  # an array, or a tuple of arrays for a multi-output indicator

DEFAULT_BUDGET_BYTES = 256 * 1024 * 1024


class SharedColumns:
    """The columns of one set of bars, shared by every graph evaluated on them."""

    def __init__(
        self, bars: Mapping[str, BarColumns], budget_bytes: int = DEFAULT_BUDGET_BYTES
    ) -> None:
        self.bars = {market: BarColumns.of(b) for market, b in bars.items()}
        self.budget_bytes = budget_bytes
        self.held_bytes = 0
        self.hits = 0
        self.misses = 0
        self.computed: Counter[str] = Counter()
        """Columns computed (not found), by node op: what the sharing saved is visible."""
        self._signatures: dict[tuple[Any, ...], int] = {}
        self._columns: OrderedDict[Hashable, Column] = OrderedDict()
        self._clocks: vectorised.Clocks | None = None
        self._base: Clock | None = None
        self._last: dict[int, int] = {}
        """The signature of each node of the graph evaluated last."""
        self._buffers: tuple[np.ndarray, np.ndarray] | None = None
        self._intervals: dict[tuple[str, int], float | None] = {}

    def evaluate(self, graph: Graph, placeholders: set[int] | None = None) -> dict[int, Column]:
        """Every node's column, as `vectorised.evaluate(graph, bars, placeholders=...)` gives
        them; nodes in `placeholders` (read by the fill loop bar by bar) are na/false."""
        clocks = self._clocks_for(graph)
        values: dict[int, Column] = {}
        signatures: dict[int, int] = {}
        for node in graph.nodes:
            if placeholders is not None and node.id in placeholders:
                length = vectorised.clock_length(node, clocks)
                values[node.id] = vectorised.placeholder(node, length)
                continue
            key = (
                node.op,
                _frozen(node.value),
                node.clock,
                node.type,
                tuple(signatures[a] for a in node.args),
            )
            signature = self._signatures.setdefault(key, len(self._signatures))
            signatures[node.id] = signature
            found = self._columns.get(signature)
            if found is not None:
                self._columns.move_to_end(signature)
                self.hits += 1
                values[node.id] = found
                continue
            self.misses += 1
            self.computed[node.op] += 1
            column = vectorised.evaluate_node(node, values, clocks, None)
            values[node.id] = column
            self._keep(signature, column)
        self._last = signatures
        return values

    def floats(self, node_id: int, values: Mapping[int, Column], n: int) -> np.ndarray:
        """Node `node_id` of the graph evaluated last as `n` float64 values (read-only)."""
        if node_id not in self._last:  # a placeholder: the fill loop computes it
            return np.array(np.broadcast_to(values[node_id], (n,)), dtype=np.float64)
        key = ("floats", self._last[node_id])
        found = self._columns.get(key)
        if found is None:
            found = np.array(np.broadcast_to(values[node_id], (n,)), dtype=np.float64)
            self._keep(key, found)
        return found

    def stacked(self, node_ids: Sequence[int], values: Mapping[int, Column], n: int) -> np.ndarray:
        """Nodes of the graph evaluated last stacked as a (k, n) float64 array (read-only)."""
        key = ("stack", *(self._last[i] for i in node_ids))
        found = self._columns.get(key)
        if found is None:
            found = np.empty((len(node_ids), n))
            for row, node_id in zip(found, node_ids, strict=True):
                row[:] = np.broadcast_to(values[node_id], (n,))
            self._keep(key, found)
        return found

    def buffers(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Two arrays of `n` floats a trial's fill loop writes its equity and position into,
        the same ones every trial: a trial's results are read before the next trial runs."""
        if self._buffers is None or len(self._buffers[0]) != n:
            self._buffers = (np.empty(n), np.empty(n))
        return self._buffers

    def interval_ms(self, market: str, first: int = 0) -> float | None:
        """The median bar interval of `market`'s bars from bar `first` (the traded ones): the
        metrics' drawdown duration unit."""
        if (market, first) not in self._intervals:
            self._intervals[market, first] = bar_interval_ms(self.bars[market].timestamp[first:])
        return self._intervals[market, first]

    def _clocks_for(self, graph: Graph) -> vectorised.Clocks:
        """The clocks depend on the graph's base clock only, the same for every trial of a
        strategy: aggregated higher-timeframe bars are built once too."""
        if self._clocks is None or self._base != graph.base:
            self._clocks = vectorised.Clocks(graph, self.bars)
            self._base = graph.base
        return self._clocks

    def _keep(self, signature: Hashable, column: Column) -> None:
        size = _nbytes(column)
        if size > self.budget_bytes:
            return
        _read_only(column)
        self._columns[signature] = column
        self.held_bytes += size
        while self.held_bytes > self.budget_bytes:
            _, dropped = self._columns.popitem(last=False)
            self.held_bytes -= _nbytes(dropped)


def _frozen(value: Any) -> Any:
    """A hashable key that tells apart what Python calls equal (`True == 1 == 1.0`) and makes
    NaN equal to itself, through tuples and the planner's dataclasses (programs)."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else value)
    if isinstance(value, tuple | list):
        return ("tuple", tuple(_frozen(v) for v in value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = tuple(_frozen(getattr(value, f.name)) for f in dataclasses.fields(value))
        return (type(value).__name__, fields)
    return (type(value).__name__, value)


def _nbytes(column: Column) -> int:
    if isinstance(column, tuple):
        return sum(np.asarray(c).nbytes for c in column)
    return int(np.asarray(column).nbytes)


def _read_only(column: Column) -> None:
    """A shared column must never be changed in place by one trial under another."""
    for array in column if isinstance(column, tuple) else (column,):
        if isinstance(array, np.ndarray):
            array.flags.writeable = False


__all__ = ["DEFAULT_BUDGET_BYTES", "SharedColumns"]

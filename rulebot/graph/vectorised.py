"""The vectorised evaluator: every node of a graph as a whole column, over all bars at once.

Indicators are TA-Lib on numpy arrays, elementwise nodes are numpy ufuncs, programs (recurrences
and position rules) run as compiled loops. Higher-timeframe clocks are aggregated from the base
bars and their values are held on the base bars from the moment each higher bar is known.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import talib

from rulebot.graph.bar_time import TIME_COLUMNS, time_column
from rulebot.graph.clocks import BarColumns, aggregate
from rulebot.graph.plan import Clock, Graph, Node, Program
from rulebot.graph.programs import run_loop

Column = np.ndarray

_BINARY: dict[str, Callable[[Column, Column], Column]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
    "and": np.logical_and,
    "or": np.logical_or,
    "max": np.maximum,
    "min": np.minimum,
}


class Clocks:
    """The bars of every clock a graph reads, and when each of its bars is known on base bars."""

    def __init__(self, graph: Graph, bars: Mapping[str, BarColumns]) -> None:
        self.graph = graph
        self.bars = bars
        self.n = len(next(iter(bars.values())))
        self.cache: dict[Clock, tuple[BarColumns, np.ndarray]] = {}

    def columns(self, clock: Clock) -> tuple[BarColumns, np.ndarray]:
        if clock not in self.cache:
            if clock.market not in self.bars:
                raise KeyError(f"no bars for market {clock.market}")
            base = self.bars[clock.market]
            base_s, own_s = self.graph.base.seconds, clock.seconds
            if own_s <= base_s:
                self.cache[clock] = (base, np.arange(len(base)))
            else:
                self.cache[clock] = aggregate(base, base_s * 1000, own_s * 1000)
        return self.cache[clock]


def evaluate(
    graph: Graph,
    bars: Mapping[str, object] | object,
    state: Mapping[str, np.ndarray] | None = None,
    previous: Mapping[int, Column] | None = None,
    placeholders: set[int] | None = None,
) -> dict[int, Column]:
    """Every node's column. `bars` maps each market to its base bars, aligned on the same
    timestamps (one market's bars may be passed alone). `state` gives the position state per bar
    for rules that read it; without it they are evaluated as if flat. With `previous` (values
    from the same bars), only the nodes that depend on the position are computed again. Nodes in
    `placeholders` are not computed (na/false): the fill loop computes them bar by bar."""
    if not isinstance(bars, Mapping):
        bars = {graph.base.market: bars}
    columns = {market: BarColumns.of(b) for market, b in bars.items()}
    clocks = Clocks(graph, columns)
    values: dict[int, Column] = {}
    again = position_dependents(graph) if previous is not None else None
    for node in graph.nodes:
        if placeholders is not None and node.id in placeholders:
            values[node.id] = placeholder(node, clock_length(node, clocks))
        elif again is not None and previous is not None and node.id not in again:
            values[node.id] = previous[node.id]
        else:
            values[node.id] = evaluate_node(node, values, clocks, state)
    return values


def position_dependents(graph: Graph) -> set[int]:
    """The nodes whose values change with the position state."""
    found: set[int] = set()
    for node in graph.nodes:
        reads = node.op == "program" and node.value.reads_state
        if reads or any(a in found for a in node.args):
            found.add(node.id)
    return found


def outputs(graph: Graph, values: Mapping[int, Column]) -> dict[str, Column]:
    """The named outputs (`entry.long`, `size`, ...) as full-length base columns."""
    # the longest column (an indicator's tuple of outputs is read through its `pick` nodes;
    # np.ndim would copy the tuple into one array to answer)
    n = max((len(v) for v in values.values() if isinstance(v, np.ndarray) and v.ndim), default=0)
    return {name: np.broadcast_to(values[i], (n,)) for name, i in graph.outputs.items()}


def evaluate_node(
    node: Node,
    values: Mapping[int, Column],
    clocks: Clocks,
    state: Mapping[str, np.ndarray] | None,
) -> Column:
    """One node's column from the columns of the nodes it reads (`values`)."""
    args = [values[a] for a in node.args]
    op = node.op
    if op == "const":
        return np.asarray(node.value)
    if op == "column":
        own, _ = clocks.columns(node.clock)
        if node.value in TIME_COLUMNS:
            return time_column(node.value, own.timestamp)
        return own.series(node.value)
    if op in _BINARY:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return _BINARY[op](args[0], args[1])
    if op == "neg":
        return np.negative(args[0])
    if op == "not":
        return np.logical_not(args[0])
    if op == "abs":
        return np.abs(args[0])
    if op == "nz":
        return np.where(np.isnan(args[0]), args[1], args[0])
    if op == "na":
        return np.isnan(args[0])
    if op == "choose":
        return np.where(args[0], args[1], args[2])
    if op == "lag":
        return _lag(args[0], node.value, clock_length(node, clocks))
    if op == "indicator":
        return _indicator(node, args, clock_length(node, clocks))
    if op == "pick":
        return args[0][node.value]
    if op == "resample":
        inner, outer = node.value
        return _resample(args[0], clocks.columns(inner)[1], clocks.columns(outer)[1])
    if op == "program":
        program: Program = node.value
        return run_loop(program, args, clock_length(node, clocks), _state_for(node, clocks, state))
    raise ValueError(f"unknown node op {op!r}")


def placeholder(node: Node, n: int) -> Column:
    """What stands for a node the fill loop computes bar by bar: na, or false."""
    return np.zeros(n, dtype=np.bool_) if node.type == "bool" else np.full(n, np.nan)


def clock_length(node: Node, clocks: Clocks) -> int:
    """How many bars the node's clock has."""
    return len(clocks.columns(node.clock)[0])


def _state_for(
    node: Node, clocks: Clocks, state: Mapping[str, np.ndarray] | None
) -> dict[str, np.ndarray] | None:
    if state is None or node.clock.seconds != clocks.graph.base.seconds:
        return None
    return {name: np.asarray(column, dtype=np.float64) for name, column in state.items()}


def _lag(column: Column, bars: int, n: int) -> Column:
    column = np.broadcast_to(column, (n,))
    shifted = np.empty(n, dtype=column.dtype)
    empty = False if column.dtype == np.bool_ else np.nan
    shifted[:bars] = empty
    shifted[bars:] = column[: n - bars] if bars < n else column[:0]
    return shifted


def _indicator(node: Node, args: list[Column], n: int) -> tuple[Column, ...]:
    talib_name, settings = node.value
    inputs = [np.ascontiguousarray(np.broadcast_to(a, (n,)), dtype=np.float64) for a in args]
    function = getattr(talib, talib_name)
    result = function(*inputs, **dict(settings))
    results = result if isinstance(result, tuple) else (result,)
    return tuple(np.asarray(r, dtype=np.float64) for r in results)


def _resample(inner: Column, inner_known: np.ndarray, outer_known: np.ndarray) -> Column:
    """The inner clock's latest known value at each outer bar (na/false before the first)."""
    inner = np.broadcast_to(inner, (len(inner_known),))
    latest = np.searchsorted(inner_known, outer_known, side="right") - 1
    empty = False if inner.dtype == np.bool_ else np.nan
    out = np.full(len(outer_known), empty, dtype=inner.dtype)
    found = latest >= 0
    out[found] = inner[latest[found]]
    return out

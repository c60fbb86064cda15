"""The streaming evaluator: the same graph, updated one closed bar at a time.

Each node keeps only what its next value needs — a running indicator (`incremental.py`), a ring
of the last n values for a lookback, the last known value of a higher timeframe — so the cost of
a bar does not grow with history. Scalar operations mirror numpy's float semantics, so every
value equals the vectorised evaluator's on the same bars.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from rulebot.graph.bar_time import TIME_COLUMNS, time_value
from rulebot.graph.clocks import Aggregator
from rulebot.graph.incremental import STREAMING
from rulebot.graph.plan import Clock, Graph, Node, Program
from rulebot.graph.programs import _div, _max, _min, _nz, constants, stepper
from rulebot.graph.registry import PERP_SERIES

FIELDS = ("timestamp", "open", "high", "low", "close", "volume", *PERP_SERIES)
FLAT_STATE: Mapping[str, float] = {
    "bars_in_trade": 0.0,
    "entry_price": math.nan,
    "position": 0.0,
}

_SCALAR: dict[str, Callable[..., Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _div,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "and": lambda a, b: bool(a) and bool(b),
    "or": lambda a, b: bool(a) or bool(b),
    "max": _max,
    "min": _min,
    "neg": lambda a: -a,
    "not": lambda a: not a,
    "abs": abs,
    "nz": _nz,
    "na": lambda a: a != a,
    "choose": lambda c, t, e: t if c else e,
}


class StreamingEvaluator:
    """Feed it each closed base bar (of every market the strategy reads); read any node's value
    for that bar. Higher timeframes are aggregated from the base bars as they arrive."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.values: list[Any] = [_empty(node) for node in graph.nodes]
        self.bars: dict[Clock, tuple[float, ...]] = {}
        self.bars_seen = 0
        base_seconds = graph.base.seconds
        self.aggregators: dict[Clock, Aggregator] = {}
        groups: dict[int, list[Callable[[], None]]] = {}
        for node in graph.nodes:
            if node.op == "const":
                self.values[node.id] = node.value
                continue
            seconds = node.clock.seconds
            if seconds > base_seconds and node.clock not in self.aggregators:
                self.aggregators[node.clock] = Aggregator(base_seconds * 1000, seconds * 1000)
            groups.setdefault(max(seconds, base_seconds), []).append(self._updater(node))
        self.higher = sorted((s for s in groups if s > base_seconds), reverse=True)
        self.steps = groups
        self.base_seconds = base_seconds
        self.state: Mapping[str, float] = FLAT_STATE

    # ---- feeding bars --------------------------------------------------------------------------
    def update(
        self, bars: Mapping[str, object] | object, state: Mapping[str, float] | None = None
    ) -> None:
        """One closed base bar per market (aligned on the same timestamp). `state` is the
        strategy's position state at this bar for rules that read it (flat if not given)."""
        if not isinstance(bars, Mapping):
            bars = {self.graph.base.market: bars}
        self.state = state if state is not None else FLAT_STATE
        rows = {market: _row(bar) for market, bar in bars.items()}
        closed: dict[Clock, list[tuple[float, ...]]] = {}
        for clock, aggregator in self.aggregators.items():
            closed[clock] = aggregator.update(*rows[clock.market])  # type: ignore[arg-type]
        for seconds in self.higher:
            clocks = [c for c in self.aggregators if c.seconds == seconds]
            ticks = max((len(closed[c]) for c in clocks), default=0)
            for tick in range(ticks):
                for clock in clocks:
                    if tick < len(closed[clock]):
                        self.bars[clock] = closed[clock][tick]
                for step in self.steps[seconds]:
                    step()
        for market, row in rows.items():
            self.bars[Clock(market, self.graph.base.timeframe)] = row
        for step in self.steps.get(self.base_seconds, []):
            step()
        self.bars_seen += 1

    def value(self, name: str) -> Any:
        """The current value of a named output (`entry.long`, `size`, `let.z`, ...)."""
        return self.values[self.graph.outputs[name]]

    def outputs(self) -> dict[str, Any]:
        return {name: self.values[i] for name, i in self.graph.outputs.items()}

    # ---- one updater per node ------------------------------------------------------------------
    def _updater(self, node: Node) -> Callable[[], None]:
        values = self.values
        target = node.id
        args = node.args
        op = node.op
        if op == "column" and node.value in TIME_COLUMNS:
            name = node.value
            clock = node.clock

            def time_of_bar() -> None:
                values[target] = time_value(name, int(self.bars[clock][0]))

            return time_of_bar
        if op == "column":
            index = FIELDS.index(node.value)
            clock = node.clock

            def column() -> None:
                row = self.bars[clock]
                # a bar given without the perpetual's series reads them as na
                values[target] = row[index] if index < len(row) else math.nan

            return column
        if op in _SCALAR:
            function = _SCALAR[op]
            if len(args) == 1:
                (a,) = args
                return lambda: values.__setitem__(target, function(values[a]))
            if len(args) == 2:
                a, b = args
                return lambda: values.__setitem__(target, function(values[a], values[b]))
            return lambda: values.__setitem__(target, function(*(values[i] for i in args)))
        if op == "lag":
            return self._lag(node)
        if op == "indicator":
            talib_name, settings = node.value
            indicator = STREAMING[talib_name](dict(settings))

            def indicator_step() -> None:
                values[target] = indicator.update(*(float(values[i]) for i in args))

            return indicator_step
        if op == "pick":
            (source,) = args
            output = node.value
            return lambda: values.__setitem__(target, values[source][output])
        if op == "resample":
            (source,) = args
            return lambda: values.__setitem__(target, values[source])
        if op == "program":
            return self._program(node)
        raise ValueError(f"unknown node op {op!r}")

    def _lag(self, node: Node) -> Callable[[], None]:
        values = self.values
        (source,) = node.args
        ring: deque[Any] = deque(maxlen=node.value + 1)
        empty = _empty(node)
        target = node.id

        def lag() -> None:
            ring.append(values[source])
            values[target] = ring[0] if len(ring) == ring.maxlen else empty

        return lag

    def _program(self, node: Node) -> Callable[[], None]:
        program: Program = node.value
        values = self.values
        step = stepper(program)
        consts = [float(c) for c in constants(program)]
        history: deque[Any] = deque(maxlen=max(program.max_lag, 1))
        inputs = node.args
        target = node.id

        def run() -> None:
            result = step([values[i] for i in inputs], history, self.state, consts)
            history.append(result)
            values[target] = result

        return run


def _empty(node: Node) -> Any:
    return False if node.type == "bool" else math.nan


def _row(bar: object) -> tuple[float, ...]:
    if isinstance(bar, tuple):
        return bar
    row = tuple(
        int(getattr(bar, name)) if name == "timestamp" else float(getattr(bar, name))
        for name in FIELDS[:6]
    )
    perp = tuple(getattr(bar, name, None) for name in PERP_SERIES)
    return row + tuple(math.nan if v is None else float(v) for v in perp)

"""IR → evaluation graph: a DAG of primitive nodes, each computed once.

Planning substitutes param values and folds what is then constant, expands rulebot's own
functions into primitives (`crossover(a, b)` is `a > b and a[1] <= b[1]`), shares every common
subexpression (`sma(close, 20)` written three times is one node; a multi-output indicator is one
node read by `pick` nodes), and works out each node's warm-up for these param values.

Two parts of a strategy cannot be whole columns computed ahead of time, so they become
`Program`s, small straight-line codes evaluated bar by bar by both evaluators:
- a recurrence: a `let` reading its own past (`stop[1]`);
- anything reading the strategy's position (`bars_in_trade`, `entry_price`, `position`), which
  only the fill loop (backtest) or the order manager (live) knows at each bar.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from rulebot.graph.registry import by_talib_name, registry
from rulebot.lang import ir
from rulebot.lang.constants import evaluate
from rulebot.lang.timeframes import timeframe_seconds

ValueType = Literal["number", "bool"]

ELEMENTWISE = {"neg", "not", "+", "-", "*", "/", "<", "<=", ">", ">=", "==", "!=", "and", "or"}
ELEMENTWISE |= {"abs", "max", "min", "nz", "na", "choose"}


@dataclass(frozen=True, slots=True)
class Clock:
    """The bars a node is computed on: a market at a timeframe."""

    market: str
    timeframe: str

    @property
    def seconds(self) -> int:
        return timeframe_seconds(self.timeframe) or 0


@dataclass(frozen=True, slots=True)
class Node:
    """One computation. `op` says what; `args` are the ids of the nodes it reads; `value` holds
    what is not a node: a constant, a column name, (TA-Lib name, params), an output index, a
    lag, or a Program."""

    id: int
    op: str
    args: tuple[int, ...]
    value: Any
    clock: Clock
    type: ValueType
    warmup: int


@dataclass(frozen=True, slots=True)
class Instr:
    """One step of a Program: `op` over operands, each `("in", k)`, `("self", lag)`,
    `("state", name)`, `("const", v)` or `("r", j)` (the result of step j)."""

    op: str
    operands: tuple[tuple[str, Any], ...]
    type: ValueType


@dataclass(frozen=True, slots=True)
class Program:
    """Straight-line code over columns computed beforehand (`inputs`, graph node ids), the
    program's own past results (a recurrence) and the strategy's position state."""

    inputs: tuple[int, ...]
    code: tuple[Instr, ...]
    type: ValueType
    recurrent: bool
    max_lag: int
    reads_state: bool


@dataclass(frozen=True, slots=True)
class Graph:
    nodes: tuple[Node, ...]
    """In topological order: every node after the nodes it reads."""
    outputs: Mapping[str, int]
    """Named results: `entry.long`, `exit.short`, `size`, `stop_loss`, `leg.BTC`, `let.z`;
    for the order forms `entry_level.long` (a resting entry's price), `entry_bars.long` (its
    lifetime), `exit_share.long`, and `take.0`/`take_share.0` (each partial take-profit's
    distance and share, in the order written)."""
    base: Clock
    params: Mapping[str, float | bool]
    warmup_bars: int

    def node(self, name: str) -> Node:
        return self.nodes[self.outputs[name]]


class PlanError(Exception):
    """The IR holds something the graph cannot compute (reported by the checker normally)."""


def plan(
    strategy: ir.Strategy,
    params: Mapping[str, float | bool] | None = None,
    parts: Mapping[str, ir.Node] | None = None,
) -> Graph:
    """The evaluation graph of `strategy` with the given param values (defaults otherwise).

    `parts` are sub-expressions of the strategy to read too (what `rulebot explain` shows, e.g.
    each clause of a condition), each an output `part.<name>`: planned after the strategy, they
    are the strategy's own nodes where they are shared, and new nodes never change its nodes'
    ids or its warm-up."""
    values: dict[str, float | bool] = {n: p.default for n, p in strategy.params.items()}
    unknown = set(params or {}) - set(values)
    if unknown:
        raise PlanError(f"unknown params: {', '.join(sorted(unknown))}")
    values.update(params or {})
    return _Planner(strategy, values).run(parts or {})


@dataclass
class _Planner:
    strategy: ir.Strategy
    params: dict[str, float | bool]
    nodes: list[Node] = field(default_factory=list)
    keys: dict[tuple[Any, ...], int] = field(default_factory=dict)
    lets: dict[tuple[str, Clock], int] = field(default_factory=dict)
    stateful: dict[tuple[int, str | None], bool] = field(default_factory=dict)
    """`reads_self_or_state` by (id of the IR node, let name): planning asks it at every level
    of an expression, so unremembered it would walk each subtree once per ancestor."""

    def reads_self_or_state(self, node: ir.Node, let_name: str | None = None) -> bool:
        """Whether `node` reads its own past (`let_name`'s) or the position, through lets."""
        key = (id(node), let_name)
        found = self.stateful.get(key)
        if found is not None:
            return found
        match node:
            case ir.SelfRef() | ir.StateRef():
                found = True
            case ir.LetRef() if node.name == let_name:
                found = True
            case ir.LetRef():
                let = self.strategy.lets.get(node.name)
                found = (
                    let is not None
                    and not let.recurrent
                    and self.reads_self_or_state(let.value, let_name)
                )
            case _:
                found = any(self.reads_self_or_state(c, let_name) for c in ir.children(node))
        self.stateful[key] = found
        return found

    def run(self, parts: Mapping[str, ir.Node]) -> Graph:
        strategy = self.strategy
        self.base = Clock(strategy.markets[0], strategy.timeframe)
        outputs: dict[str, int] = {}
        for name in strategy.lets:
            outputs[f"let.{name}"] = self._let(name, self.base)
        for side, condition in strategy.entries.items():
            outputs[f"entry.{side}"] = self.expr(condition, self.base)
        for side, condition in strategy.exits.items():
            outputs[f"exit.{side}"] = self.expr(condition, self.base)
        outputs["size"] = self.expr(strategy.sizing.value, self.base)
        for kind, protection in strategy.protections.items():
            outputs[kind] = self.expr(protection.value, self.base)
        for leg in strategy.legs:
            outputs[f"leg.{leg.market}"] = self.expr(leg.weight, self.base)
        for side, order in strategy.entry_orders.items():
            outputs[f"entry_level.{side}"] = self.expr(order.level, self.base)
            outputs[f"entry_bars.{side}"] = self.expr(order.bars, self.base)
        for side, share in strategy.exit_shares.items():
            outputs[f"exit_share.{side}"] = self.expr(share, self.base)
        for i, take in enumerate(strategy.partial_takes):
            outputs[f"take.{i}"] = self.expr(take.value, self.base)
            outputs[f"take_share.{i}"] = self.expr(take.share, self.base)
        signal_ids = [i for name, i in outputs.items() if not name.startswith("let.")]
        warmup = max((self.nodes[i].warmup for i in signal_ids), default=0)
        for name, part in parts.items():
            outputs[f"part.{name}"] = self.expr(part, self.base)
        return Graph(tuple(self.nodes), outputs, self.base, dict(self.params), warmup)

    # ---- nodes ---------------------------------------------------------------------------------
    def add(
        self,
        op: str,
        args: tuple[int, ...],
        value: Any,
        clock: Clock,
        type_: ValueType,
        own_warmup: int = 0,
    ) -> int:
        key = (op, args, _hashable(value), clock, type_)
        existing = self.keys.get(key)
        if existing is not None:
            return existing
        warmup = own_warmup + max((self.nodes[a].warmup for a in args), default=0)
        node = Node(len(self.nodes), op, args, value, clock, type_, warmup)
        self.nodes.append(node)
        self.keys[key] = node.id
        return node.id

    def const(self, value: float | bool | None, clock: Clock) -> int:
        type_: ValueType = "bool" if isinstance(value, bool) else "number"
        number = math.nan if value is None else value
        return self.add("const", (), number, clock, type_)

    # ---- IR → nodes ----------------------------------------------------------------------------
    def expr(self, node: ir.Node, clock: Clock) -> int:
        if node.info.constant:
            return self.const(evaluate(node, self.params), clock)
        if self.reads_self_or_state(node):
            return self._program(node, clock, let_name=None)
        match node:
            case ir.Column():
                return self.add(
                    "column", (), node.field, Clock(node.market, node.timeframe), "number"
                )
            case ir.LetRef():
                return self._let(node.name, clock)
            case ir.Unary():
                return self._elementwise(node.op, [node.operand], clock, node.info.type)
            case ir.Binary():
                return self._elementwise(node.op, [node.left, node.right], clock, node.info.type)
            case ir.Choose():
                parts = [node.condition, node.then, node.otherwise]
                return self._elementwise("choose", parts, clock, node.info.type)
            case ir.Lag():
                bars = int(evaluate(node.bars, self.params))  # type: ignore[arg-type]
                target = self.expr(node.target, clock)
                return self.lag(target, bars)
            case ir.OnBars():
                inner = Clock(node.market, node.timeframe)
                target = self.expr(node.target, inner)
                return self.resample(target, clock)
            case ir.Call():
                return self._call(node, clock)
        raise PlanError(f"cannot plan {type(node).__name__}")

    def lag(self, target: int, bars: int) -> int:
        if bars == 0:
            return target
        source = self.nodes[target]
        return self.add("lag", (target,), bars, source.clock, source.type, own_warmup=bars)

    def resample(self, target: int, clock: Clock) -> int:
        inner = self.nodes[target]
        if inner.clock == clock:
            return target
        ratio = max(inner.clock.seconds // clock.seconds, 1) if clock.seconds else 1
        node_id = self.add("resample", (target,), (inner.clock, clock), clock, inner.type)
        if ratio > 1:
            planned = self.nodes[node_id]
            warmup = (inner.warmup + 1) * ratio - 1
            self.nodes[node_id] = Node(
                planned.id, planned.op, planned.args, planned.value, clock, planned.type, warmup
            )
        return node_id

    def _let(self, name: str, clock: Clock) -> int:
        key = (name, clock)
        if key not in self.lets:
            let = self.strategy.lets[name]
            if let.recurrent:
                self.lets[key] = self._program(let.value, clock, let_name=name)
            else:
                self.lets[key] = self.expr(let.value, clock)
        return self.lets[key]

    def _elementwise(self, op: str, parts: list[ir.Node], clock: Clock, type_: ValueType) -> int:
        args = tuple(self.expr(part, clock) for part in parts)
        return self.add(op, args, None, clock, type_)

    def _call(self, node: ir.Call, clock: Clock) -> int:
        spec = registry()[node.function]
        name = spec.name
        if spec.talib_name is None:
            inputs = [self.expr(i, clock) for i in node.inputs]
            settings = {k: evaluate(v, self.params) for k, v in node.params}
            return self._builtin(name, inputs, settings, clock)
        inputs = tuple(self.expr(i, clock) for i in node.inputs)
        given = {k: evaluate(v, self.params) for k, v in node.params}
        settings = tuple(
            (p.name, _setting(p.kind, given.get(p.name, p.default))) for p in spec.params
        )
        lookback = spec.lookback(dict(settings))
        if lookback < 0:
            raise PlanError(f"TA-Lib rejects {name} with {dict(settings)}")
        clock_of = self.nodes[inputs[0]].clock if inputs else clock
        indicator = self.add(
            "indicator",
            inputs,
            (spec.talib_name, settings),
            clock_of,
            "number",
            own_warmup=lookback,
        )
        output = spec.outputs.index(node.output) if node.output else 0
        return self.add("pick", (indicator,), output, clock_of, "number")

    def _builtin(
        self, name: str, inputs: list[int], settings: Mapping[str, Any], clock: Clock
    ) -> int:
        """rulebot's own functions, as primitives."""
        if name in ("crossover", "crossunder"):
            a, b = inputs
            now, before = (">", "<=") if name == "crossover" else ("<", ">=")
            crossed = self.add(now, (a, b), None, clock, "bool")
            was = self.add(before, (self.lag(a, 1), self.lag(b, 1)), None, clock, "bool")
            return self.add("and", (crossed, was), None, clock, "bool")
        if name == "change":
            length = int(settings.get("length", 1))
            return self.add("-", (inputs[0], self.lag(inputs[0], length)), None, clock, "number")
        if name == "zscore":
            length = int(settings.get("length", 20))
            x = inputs[0]
            mean = self._talib("SMA", (x,), (("timeperiod", length),), clock)
            deviation = self._talib("STDDEV", (x,), (("timeperiod", length), ("nbdev", 1.0)), clock)
            centred = self.add("-", (x, mean), None, clock, "number")
            return self.add("/", (centred, deviation), None, clock, "number")
        if name == "nz" and len(inputs) == 1:
            inputs = [*inputs, self.const(0.0, clock)]
        if name in ("max", "min"):
            result = inputs[0]
            for other in inputs[1:]:
                result = self.add(name, (result, other), None, clock, "number")
            return result
        type_: ValueType = "bool" if name == "na" else "number"
        return self.add(name, tuple(inputs), None, clock, type_)

    def _talib(
        self, talib_name: str, inputs: tuple[int, ...], settings: tuple[Any, ...], clock: Clock
    ) -> int:
        spec = by_talib_name(talib_name)
        given = dict(settings)
        settings = tuple(
            (p.name, _setting(p.kind, given.get(p.name, p.default))) for p in spec.params
        )
        lookback = spec.lookback(dict(settings))
        indicator = self.add(
            "indicator", inputs, (talib_name, settings), clock, "number", own_warmup=lookback
        )
        return self.add("pick", (indicator,), 0, clock, "number")

    # ---- programs: recurrences and position-dependent expressions -------------------------------
    def _program(self, root: ir.Node, clock: Clock, let_name: str | None) -> int:
        builder = _ProgramBuilder(self, clock, let_name)
        result = builder.emit(root)
        if result[0] != "r":  # the whole expression was an input or a constant
            builder.code.append(Instr("copy", (result,), root.info.type))
        program = Program(
            inputs=tuple(builder.inputs),
            code=tuple(builder.code),
            type=root.info.type,
            recurrent=builder.max_lag > 0,
            max_lag=builder.max_lag,
            reads_state=builder.reads_state,
        )
        return self.add("program", program.inputs, program, clock, root.info.type)


@dataclass
class _ProgramBuilder:
    planner: _Planner
    clock: Clock
    let_name: str | None
    inputs: list[int] = field(default_factory=list)
    code: list[Instr] = field(default_factory=list)
    max_lag: int = 0
    reads_state: bool = False

    def emit(self, node: ir.Node) -> tuple[str, Any]:
        """An operand for `node`: an input column when it reads neither its own past nor
        position state, otherwise the result of new instructions."""
        planner = self.planner
        if node.info.constant:
            value = evaluate(node, planner.params)
            return ("const", math.nan if value is None else value)
        if not planner.reads_self_or_state(node, self.let_name):
            column = planner.expr(node, self.clock)
            if column not in self.inputs:
                self.inputs.append(column)
            return ("in", self.inputs.index(column))
        match node:
            case ir.SelfRef():
                self.max_lag = max(self.max_lag, node.bars)
                return ("self", node.bars)
            case ir.StateRef():
                self.reads_state = True
                return ("state", node.name)
            case ir.LetRef():
                let = planner.strategy.lets[node.name]
                if let.recurrent:
                    raise PlanError(f"`{node.name}` is a recurrence read by a position rule")
                return self.emit(let.value)
            case ir.Unary():
                return self._instr(node.op, [node.operand], node.info.type)
            case ir.Binary():
                return self._instr(node.op, [node.left, node.right], node.info.type)
            case ir.Choose():
                parts = [node.condition, node.then, node.otherwise]
                return self._instr("choose", parts, node.info.type)
            case ir.Call() if node.function in ("abs", "max", "min", "nz", "na"):
                parts = list(node.inputs)
                if node.function == "nz" and len(parts) == 1:
                    operands = (self.emit(parts[0]), ("const", 0.0))
                    self.code.append(Instr("nz", operands, "number"))
                    return ("r", len(self.code) - 1)
                if node.function in ("max", "min") and len(parts) > 2:
                    result = self.emit(parts[0])
                    for part in parts[1:]:
                        self.code.append(Instr(node.function, (result, self.emit(part)), "number"))
                        result = ("r", len(self.code) - 1)
                    return result
                return self._instr(node.function, parts, node.info.type)
        raise PlanError(
            "a rule reading its own past or the position may combine it with arithmetic, "
            f"comparisons, if/then/else, abs, max, min, nz and na only (found {_describe(node)})"
        )

    def _instr(self, op: str, parts: list[ir.Node], type_: ValueType) -> tuple[str, Any]:
        operands = tuple(self.emit(part) for part in parts)
        self.code.append(Instr(op, operands, type_))
        return ("r", len(self.code) - 1)


def _describe(node: ir.Node) -> str:
    if isinstance(node, ir.Call):
        return f"`{node.function}(...)`"
    if isinstance(node, ir.Lag):
        return "a lookback `[n]`"
    if isinstance(node, ir.OnBars):
        return "`@`"
    return type(node).__name__


def _setting(kind: str, value: object) -> float | int:
    return int(value) if kind == "int" else float(value)  # type: ignore[arg-type]


def _hashable(value: Any) -> Any:
    """A key that tells apart values Python calls equal (`True == 1.0`, nan != nan)."""
    if isinstance(value, float) and math.isnan(value):
        return ("nan",)
    return (type(value).__name__, value)

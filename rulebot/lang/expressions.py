"""Expression checking: AST expression → typed IR node, or a located diagnostic.

Resolves names (prices, position state, params, lets), calls (arity, argument kinds, constant
parameters, outputs), types (number vs condition), units (plain, %, bars), lookback offsets (no
lookahead, ever), other markets and higher timeframes, and each node's warm-up. A node that fails
is reported once; its parents are dropped silently so one mistake gives one diagnostic.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from rulebot.graph.registry import BAR_SERIES, PERP_SERIES, FunctionSpec, live_problem, registry
from rulebot.lang import ast, ir
from rulebot.lang.constants import corners, evaluate, param_names
from rulebot.lang.diagnostics import Diagnostic, Severity, Span
from rulebot.lang.scales import oscillator_vs_fraction
from rulebot.lang.suggest import did_you_mean, unknown_name_help
from rulebot.lang.time_of_day import constant_time, time_comparison, weekday_help
from rulebot.lang.timeframes import timeframe_seconds
from rulebot.lang.units import arith_help, arith_unit, unit_words

MAX_LOOKBACK_BARS = 100_000
STATE_UNITS: dict[str, ir.Unit] = {
    "bars_in_trade": "bars",
    "entry_price": "none",
    "position": "none",
}
_SYMBOL = re.compile(r"^[A-Z0-9]+$")


@dataclass(frozen=True, slots=True)
class Context:
    """The bars an expression is computed on."""

    market: str
    timeframe: str
    seconds: int
    at_strategy_bars: bool = True


@dataclass
class Scope:
    """What the names in a strategy refer to, shared by every expression in it."""

    params: dict[str, ir.Param]
    let_values: dict[str, ast.LetDecl]
    resolve_let: Callable[[str, Span], ir.Let | None]
    report: Callable[[Diagnostic], None]
    skipped: frozenset[str] = frozenset()
    used: set[str] = field(default_factory=set)
    feeds: set[tuple[str, str]] = field(default_factory=set)
    perp_reads: list[tuple[str, str, Span]] = field(default_factory=list)
    live: bool = False
    """Checking for live trading: functions the streaming evaluator lacks are errors."""


class ExprChecker:
    """Checks expressions inside one statement; `let_name` is the let being defined, if any."""

    def __init__(self, scope: Scope, let_name: str | None = None) -> None:
        self.scope = scope
        self.let_name = let_name
        self.recurrent = False

    # ---- entry points --------------------------------------------------------------------------
    def check(self, node: ast.Expr, ctx: Context) -> ir.Node | None:
        match node:
            case ast.Number():
                if not math.isfinite(node.value):
                    return self._error(
                        "E406",
                        f"`{node.text}` is too large a number",
                        node.span,
                        help="numbers go up to about 1e308",
                    )
                return ir.Const(node.value, _info("number", node.span, constant=True))
            case ast.Bool():
                return ir.Const(node.value, _info("bool", node.span, constant=True))
            case ast.Na():
                return ir.Const(None, _info("number", node.span, constant=True))
            case ast.Name():
                return self._name(node, ctx)
            case ast.Call():
                return self._call(node, ctx, output=None)
            case ast.Output():
                return self._output(node, ctx)
            case ast.Negate():
                return self._negate(node, ctx)
            case ast.Percent():
                return self._percent(node, ctx)
            case ast.Arith():
                return self._arith(node, ctx)
            case ast.Compare():
                return self._compare(node, ctx)
            case ast.Logic():
                return self._logic(node, ctx)
            case ast.Not():
                return self._not(node, ctx)
            case ast.IfThenElse():
                return self._if(node, ctx)
            case ast.Lookback():
                return self._lookback(node, ctx)
            case ast.AtContext():
                return self._at(node, ctx)
        raise TypeError(f"unknown expression node {type(node).__name__}")

    def condition(self, node: ast.Expr, ctx: Context, what: str) -> ir.Node | None:
        """An expression that must be true/false, e.g. an entry condition."""
        checked = self.check(node, ctx)
        if checked is not None and checked.info.type != "bool":
            self._error(
                "E402",
                f"{what} must be true or false, but this is a number",
                node.span,
                help="compare it with something, e.g. `close > sma(close, 20)`",
            )
            return None
        return checked

    def number(self, node: ast.Expr, ctx: Context, what: str) -> ir.Node | None:
        """An expression that must be a number, e.g. a stop distance."""
        checked = self.check(node, ctx)
        if checked is not None and checked.info.type != "number":
            self._error("E402", f"{what} must be a number, but this is a condition", node.span)
            return None
        return checked

    def constant_value(self, node: ir.Node) -> float | bool | None:
        return evaluate(node, {n: p.default for n, p in self.scope.params.items()})

    # ---- names ---------------------------------------------------------------------------------
    def _name(self, node: ast.Name, ctx: Context) -> ir.Node | None:
        name = node.id
        if name in BAR_SERIES:
            self.scope.feeds.add((ctx.market, ctx.timeframe))
            column = ir.Column(name, ctx.market, ctx.timeframe, _info("number", node.span))
            if (always := constant_time(column)) is not None:
                self.scope.report(always)
            return column
        if name in PERP_SERIES:
            self.scope.feeds.add((ctx.market, ctx.timeframe))
            self.scope.perp_reads.append((ctx.market, name, node.span))
            unit: ir.Unit = "percent" if name == "funding" else "none"
            return ir.Column(name, ctx.market, ctx.timeframe, _info("number", node.span, unit=unit))
        if name in STATE_UNITS:
            if not ctx.at_strategy_bars:
                return self._error(
                    "E209",
                    f"`{name}` is the strategy's own position state; it has no value on other bars",
                    node.span,
                )
            return ir.StateRef(name, _info("number", node.span, unit=STATE_UNITS[name]))  # type: ignore[arg-type]
        if name in self.scope.params:
            self.scope.used.add(name)
            param = self.scope.params[name]
            kind = "bool" if param.kind == "bool" else "number"
            return ir.ParamRef(name, _info(kind, node.span, unit=param.unit, constant=True))
        if name == self.let_name:
            return self._error(
                "E312",
                f"`{name}` refers to itself",
                node.span,
                help=f"a `let` may read its own past: write `{name}[1]` for its previous value",
            )
        if name in self.scope.let_values:
            return self._let(name, node.span, ctx)
        if name in self.scope.skipped:
            return None
        return self._unknown_name(node)

    def _let(self, name: str, span: Span, ctx: Context) -> ir.Node | None:
        if not ctx.at_strategy_bars:
            return self._error(
                "E209",
                f"`{name}` is computed on the strategy's own bars and cannot be moved to others",
                span,
                help="write the expression itself inside `(...)@`, e.g. `sma(close, 20)@1h`",
            )
        self.scope.used.add(name)
        let = self.scope.resolve_let(name, span)
        if let is None:
            return None
        # A let is a series, even when its value is constant: only numbers and params are
        # constants (indicator settings, offsets, limits), and only they can be evaluated.
        return ir.LetRef(name, replace(let.value.info, span=span, constant=False))

    def _unknown_name(self, node: ast.Name) -> None:
        known = [*BAR_SERIES, *PERP_SERIES, *STATE_UNITS, *self.scope.params]
        known += self.scope.let_values
        if node.id in registry():
            help_text = f"`{node.id}` is a function: call it, e.g. `{_example_call(node.id)}`"
        else:
            help_text = unknown_name_help(node.id, known)
        self._error("E202", f"unknown name `{node.id}`", node.span, help=help_text)

    # ---- calls ---------------------------------------------------------------------------------
    def _output(self, node: ast.Output, ctx: Context) -> ir.Node | None:
        if not isinstance(node.target, ast.Call):
            return self._error(
                "E203",
                f"`.{node.name}` picks an output of a function call, e.g. `bbands(close).upper`",
                node.name_span,
                help=weekday_help(node),
            )
        return self._call(node.target, ctx, output=node)

    def _call(self, node: ast.Call, ctx: Context, output: ast.Output | None) -> ir.Node | None:
        spec = registry().get(node.function)
        if spec is None:
            for arg in [*node.args, *(k.value for k in node.kwargs)]:
                self.check(arg, ctx)
            guess = did_you_mean(node.function, registry())
            return self._error(
                "E201",
                f"unknown function `{node.function}`",
                node.function_span,
                help=f"did you mean `{guess}`?" if guess else "see the function list in docs/",
                label="not a function",
            )
        chosen = self._choose_output(spec, node, output)
        if chosen is False:
            return None
        inputs, param_args = self._split_arguments(spec, node, ctx)
        if inputs is None or param_args is None:
            return None
        self._warn_rolling_intent(spec, node, inputs)
        params = self._params(spec, node, param_args)
        if params is None:
            return None
        return self._call_node(spec, node, ctx, inputs, params, chosen or None, output)

    def _choose_output(
        self, spec: FunctionSpec, node: ast.Call, output: ast.Output | None
    ) -> str | bool:
        """The output name to read ('' for a single-output function), or False after an error."""
        names = spec.output_names()
        if output is None:
            if spec.multi_output:
                self._error(
                    "E203",
                    f"`{spec.name}` has several outputs; pick one",
                    node.span,
                    help="add one of " + ", ".join(f"`.{n}`" for n in names),
                )
                return False
            return ""
        if not spec.multi_output:
            self._error(
                "E203",
                f"`{spec.name}` has a single output; `.{output.name}` is not needed",
                output.name_span,
            )
            return False
        chosen = spec.resolve_output(output.name)
        if chosen is None:
            guess = did_you_mean(output.name, [*names, *spec.outputs])
            self._error(
                "E203",
                f"`{spec.name}` has no output `{output.name}`",
                output.name_span,
                help=(f"did you mean `.{guess}`? " if guess else "")
                + "outputs: "
                + ", ".join(f"`.{n}`" for n in names),
            )
            return False
        return chosen

    def _split_arguments(
        self, spec: FunctionSpec, node: ast.Call, ctx: Context
    ) -> tuple[list[ir.Node] | None, list[ast.Expr] | None]:
        """Positional arguments → series inputs (checked) and the rest, which are parameters."""
        args = list(node.args)
        checked: list[ir.Node | None] = []
        failed = False
        for arg in args:
            value = self.check(arg, ctx)
            failed |= value is None
            checked.append(value)
        if failed:
            return None, None
        signature = _signature(spec)
        if spec.variadic:
            if len(args) < 2:
                self._arity(spec, node, f"`{spec.name}` needs at least two values", signature)
                return None, None
            return self._series_inputs(spec, args, checked), []
        explicit = [i for i in spec.inputs if i.column is None]
        implicit = [i for i in spec.inputs if i.column is not None]
        required = spec.required_inputs if spec.required_inputs is not None else len(explicit)
        given = 0
        while given < len(explicit) and given < len(args):
            value = checked[given]
            setting = given >= required or (spec.talib_name is not None and spec.params)
            if value is not None and value.info.constant and setting:
                break
            given += 1
        if given < required:
            what = ", ".join(f"`{i.name}`" for i in explicit[:required])
            self._error(
                "E401",
                f"`{spec.name}` needs a series to read first"
                if required == 1
                else f"`{spec.name}` needs its input series first: {what}",
                node.span,
                help=f"e.g. `{_example_call(spec.name)}`; signature: {signature}",
            )
            return None, None
        inputs_args = args[:given]
        inputs_checked = checked[:given]
        rest = given
        if implicit and rest < len(args) and not (checked[rest] and checked[rest].info.constant):
            if len(args) - rest < len(implicit):
                names = ", ".join(i.name for i in implicit)
                self._arity(
                    spec,
                    node,
                    f"pass all of `{names}` to `{spec.name}`, or none of them",
                    signature,
                )
                return None, None
            inputs_args += args[rest : rest + len(implicit)]
            inputs_checked += checked[rest : rest + len(implicit)]
            rest += len(implicit)
        else:
            for column in implicit:
                self.scope.feeds.add((ctx.market, ctx.timeframe))
                inputs_checked.append(
                    ir.Column(column.column, ctx.market, ctx.timeframe, _info("number", node.span))  # type: ignore[arg-type]
                )
                inputs_args.append(None)  # type: ignore[arg-type]
        if len(args) - rest > len(spec.params):
            self._error(
                "E401",
                f"`{spec.name}` takes at most {rest + len(spec.params)} arguments, got {len(args)}",
                args[rest + len(spec.params)].span.to(args[-1].span),
                help=f"signature: {signature}",
                label="left over",
            )
            return None, None
        for arg, value in zip(inputs_args, inputs_checked, strict=True):
            if arg is not None and value is not None and value.info.type != "number":
                self._error("E402", f"`{spec.name}` reads numbers; this is a condition", arg.span)
                return None, None
        return [v for v in inputs_checked if v is not None], args[rest:]

    def _series_inputs(
        self, spec: FunctionSpec, args: list[ast.Expr], checked: list[ir.Node | None]
    ) -> list[ir.Node] | None:
        for arg, value in zip(args, checked, strict=True):
            if value is not None and value.info.type != "number":
                self._error("E402", f"`{spec.name}` reads numbers; this is a condition", arg.span)
                return None
        return [v for v in checked if v is not None]

    def _params(
        self, spec: FunctionSpec, node: ast.Call, positional: list[ast.Expr]
    ) -> list[tuple[str, ir.Node]] | None:
        given: dict[str, tuple[ast.Expr, Span]] = {}
        for spec_param, arg in zip(spec.params, positional, strict=False):
            given[spec_param.name] = (arg, arg.span)
        names = [p.name for p in spec.params]
        for kwarg in node.kwargs:
            if kwarg.name not in names:
                guess = did_you_mean(kwarg.name, names)
                self._error(
                    "E401",
                    f"`{spec.name}` has no parameter `{kwarg.name}`",
                    kwarg.span,
                    help=(f"did you mean `{guess}`? " if guess else "")
                    + f"signature: {_signature(spec)}",
                )
                return None
            if kwarg.name in given:
                self._error("E401", f"`{kwarg.name}` is given twice to `{spec.name}`", kwarg.span)
                return None
            given[kwarg.name] = (kwarg.value, kwarg.span)
        result: list[tuple[str, ir.Node]] = []
        for spec_param in spec.params:
            if spec_param.name not in given:
                continue
            expr, _span = given[spec_param.name]
            value = self.check(expr, Context("", "", 0, at_strategy_bars=True))
            if value is None:
                return None
            if not value.info.constant or value.info.type != "number":
                self._error(
                    "E403",
                    f"the `{spec_param.name}` of `{spec.name}` must be a constant number",
                    expr.span,
                    help="use a number or a `param`; indicator settings cannot change bar to bar",
                )
                return None
            if value.info.unit != "none":
                self._error(
                    "E404",
                    f"the `{spec_param.name}` of `{spec.name}` is a plain number, "
                    f"not {unit_words(value.info.unit)}",
                    expr.span,
                )
                return None
            result.append((spec_param.name, value))
        return result

    def _call_node(
        self,
        spec: FunctionSpec,
        node: ast.Call,
        ctx: Context,
        inputs: list[ir.Node],
        params: list[tuple[str, ir.Node]],
        output: str | None,
        output_node: ast.Output | None,
    ) -> ir.Node | None:
        names: set[str] = set()
        for _, value in params:
            names |= param_names(value)
        lookback = 0
        for setting in corners(names, self.scope.params):
            values = {name: evaluate(value, setting) for name, value in params}
            bad = self._bad_param(spec, values, dict(params))
            if bad is not None:
                return self._error(*bad)
            this = spec.lookback(values)  # type: ignore[arg-type]
            if this < 0:
                shown = ", ".join(f"{k} = {_fmt(v)}" for k, v in values.items()) or "its defaults"
                span = params[0][1].info.span if params else node.span
                extra = f" (with {_describe_setting(setting, names)})" if setting and names else ""
                moved = [
                    f"`{n}`"
                    for n in sorted(names)
                    if n in self.scope.params and setting[n] != self.scope.params[n].default
                ]
                return self._error(
                    "E405",
                    f"TA-Lib rejects `{spec.name}` with {shown}{extra}",
                    span,
                    help=(f"narrow the range of {', '.join(moved)}; " if moved else "")
                    + f"signature: {_signature(spec)}",
                )
            if setting is not None and lookback == 0:
                lookback = this
            problem = live_problem(spec, values)  # type: ignore[arg-type]
            if problem is not None:
                self._not_live(spec, node, problem)
                break
        unit = "none"
        if spec.talib_name is None and inputs:
            unit = self._same_unit(inputs, node.span, f"the values given to `{spec.name}`")
            if unit is None:
                return None
            if spec.result == "bool" or spec.name in {"zscore", "na"}:
                unit = "none"
        elif spec.name in KEEPS_PERCENT and [i.info.unit for i in inputs] == ["percent"]:
            unit = "percent"  # an average of the funding rate is a rate
        constant = (
            spec.talib_name is None
            and all(i.info.constant for i in inputs)
            and (spec.name in {"abs", "max", "min", "nz"})
        )
        warmup = lookback + max((i.info.warmup for i in inputs), default=0)
        span = output_node.span if output_node is not None else node.span
        return ir.Call(
            spec.name,
            tuple(inputs),
            tuple(params),
            output,
            _info(spec.result, span, unit=unit, constant=constant, warmup=warmup),
        )

    def _bad_param(
        self, spec: FunctionSpec, values: dict[str, object], nodes: dict[str, ir.Node]
    ) -> tuple[str, str, Span, str | None] | None:
        for spec_param in spec.params:
            if spec_param.name not in values:
                continue
            value = values[spec_param.name]
            span = nodes[spec_param.name].info.span
            if value is None:
                return ("E405", f"the `{spec_param.name}` of `{spec.name}` is na", span, None)
            if spec_param.kind == "int" and float(value) != int(value):  # type: ignore[arg-type]
                return (
                    "E407",
                    f"the `{spec_param.name}` of `{spec.name}` must be a whole number, "
                    f"found {_fmt(value)}",
                    span,
                    None,
                )
        return None

    def _warn_rolling_intent(
        self, spec: FunctionSpec, node: ast.Call, inputs: list[ir.Node]
    ) -> None:
        """`max(high, 20)` is the larger of high and 20; the author likely meant 20 bars."""
        if spec.name not in ("max", "min") or len(node.args) != 2:
            return
        second = node.args[1]
        if isinstance(second, ast.Number) and second.text.isdigit() and not inputs[0].info.constant:
            rolling = "highest" if spec.name == "max" else "lowest"
            self.scope.report(
                Diagnostic(
                    "W506",
                    f"`{spec.name}(..., {second.text})` compares with the number {second.text} "
                    "at each bar",
                    node.span,
                    Severity.WARNING,
                    f"for the {rolling} value over {second.text} bars write "
                    f"`{rolling}(..., {second.text})`",
                )
            )

    def _not_live(self, spec: FunctionSpec, node: ast.Call, problem: str) -> None:
        """Live use needs the streaming evaluator; a backtest does not."""
        if self.scope.live:
            self._error(
                "E410",
                f"{problem}, so this rule cannot run live",
                node.span,
                help="backtests can use it; live trading needs an indicator with a streaming "
                "version (see docs/functions.md)",
            )
        else:
            self.scope.report(
                Diagnostic(
                    "W508",
                    f"{problem}: this rule can be backtested but not run live",
                    node.span,
                    Severity.WARNING,
                    "see docs/functions.md for the indicators that run live",
                )
            )

    def _arity(self, spec: FunctionSpec, node: ast.Call, message: str, signature: str) -> None:
        self._error("E401", message, node.span, help=f"signature: {signature}")

    # ---- operators -----------------------------------------------------------------------------
    def _negate(self, node: ast.Negate, ctx: Context) -> ir.Node | None:
        operand = self.number(node.operand, ctx, "the value after `-`")
        if operand is None:
            return None
        if isinstance(operand, ir.Const) and isinstance(operand.value, float):
            return ir.Const(-operand.value, replace(operand.info, span=node.span))
        return ir.Unary("neg", operand, replace(operand.info, span=node.span))

    def _percent(self, node: ast.Percent, ctx: Context) -> ir.Node | None:
        operand = self.number(node.operand, ctx, "a percentage")
        if operand is None:
            return None
        if operand.info.unit != "none":
            return self._error(
                "E404",
                f"`%` applies to a plain number, not {unit_words(operand.info.unit)}",
                node.span,
            )
        info = replace(operand.info, unit="percent", span=node.span)
        if isinstance(operand, ir.Const) and isinstance(operand.value, float):
            return ir.Const(operand.value / 100.0, info)
        hundred = ir.Const(100.0, _info("number", node.span, constant=True))
        return ir.Binary("/", operand, hundred, info)

    def _arith(self, node: ast.Arith, ctx: Context) -> ir.Node | None:
        left = self.number(node.left, ctx, f"the left side of `{node.op}`")
        right = self.number(node.right, ctx, f"the right side of `{node.op}`")
        if left is None or right is None:
            return None
        unit = arith_unit(node.op, left.info, right.info)
        if isinstance(unit, str) and unit not in ("none", "percent", "bars"):
            return self._error("E404", unit, node.span, help=arith_help(node.op, left, right))
        return ir.Binary(
            node.op,
            left,
            right,
            _info(
                "number",
                node.span,
                unit=unit,  # type: ignore[arg-type]
                constant=left.info.constant and right.info.constant,
                warmup=max(left.info.warmup, right.info.warmup),
            ),
        )

    def _compare(self, node: ast.Compare, ctx: Context) -> ir.Node | None:
        left = self.check(node.left, ctx)
        right = self.check(node.right, ctx)
        if left is None or right is None:
            return None
        if left.info.type != right.info.type:
            return self._error(
                "E402",
                f"`{node.op}` compares a number with a condition",
                node.span,
            )
        if left.info.type == "bool" and node.op not in ("==", "!="):
            return self._error("E402", f"`{node.op}` needs numbers, not conditions", node.span)
        units = {left.info.unit, right.info.unit}
        if units == {"percent", "bars"}:
            return self._error(
                "E404", f"`{node.op}` compares a percentage with a number of bars", node.span
            )
        if _rate_with_price(left, right) or _rate_with_price(right, left):
            return self._error(
                "E404",
                f"`{node.op}` compares a rate (a fraction per interval) with a price-like series",
                node.span,
                help="compare the funding rate with a percentage, e.g. `funding > 0.01%`",
            )

        def lookup(name: str) -> ir.Let | None:
            return self.scope.resolve_let(name, node.span)

        for warning in (
            oscillator_vs_fraction(node, left, right, lookup, self.constant_value),
            time_comparison(node, left, right, lookup, self.constant_value),
        ):
            if warning is not None:
                self.scope.report(warning)
        return ir.Binary(
            node.op,
            left,
            right,
            _info(
                "bool",
                node.span,
                constant=left.info.constant and right.info.constant,
                warmup=max(left.info.warmup, right.info.warmup),
            ),
        )

    def _logic(self, node: ast.Logic, ctx: Context) -> ir.Node | None:
        left = self.check(node.left, ctx)
        right = self.check(node.right, ctx)
        numbers = [
            side.span
            for side, value in ((node.left, left), (node.right, right))
            if value is not None and value.info.type != "bool"
        ]
        if len(numbers) == 2:  # `close and open`: one mistake, one error
            numbers = [node.span]
        for span in numbers:
            both = span == node.span
            self._error(
                "E402",
                f"`{node.op}` joins conditions (true or false), but "
                + ("both sides are numbers" if both else "this is a number"),
                span,
                help="compare the numbers instead, e.g. `close > open`"
                if both
                else "compare it with something, e.g. `close > sma(close, 20)`",
            )
        if left is None or right is None or numbers:
            return None
        return ir.Binary(
            node.op,
            left,
            right,
            _info(
                "bool",
                node.span,
                constant=left.info.constant and right.info.constant,
                warmup=max(left.info.warmup, right.info.warmup),
            ),
        )

    def _not(self, node: ast.Not, ctx: Context) -> ir.Node | None:
        operand = self.condition(node.operand, ctx, "the value after `not`")
        if operand is None:
            return None
        return ir.Unary("not", operand, replace(operand.info, span=node.span))

    def _if(self, node: ast.IfThenElse, ctx: Context) -> ir.Node | None:
        condition = self.condition(node.condition, ctx, "the condition after `if`")
        then = self.check(node.then, ctx)
        otherwise = self.check(node.otherwise, ctx)
        if condition is None or then is None or otherwise is None:
            return None
        if then.info.type != otherwise.info.type:
            return self._error(
                "E402",
                "`then` and `else` must both be numbers or both be conditions",
                node.span,
            )
        unit = self._same_unit([then, otherwise], node.span, "`then` and `else`")
        if unit is None:
            return None
        return ir.Choose(
            condition,
            then,
            otherwise,
            _info(
                then.info.type,
                node.span,
                unit=unit,
                constant=condition.info.constant and then.info.constant and otherwise.info.constant,
                warmup=max(condition.info.warmup, then.info.warmup, otherwise.info.warmup),
            ),
        )

    # ---- time: lookback and other bars ---------------------------------------------------------
    def _lookback(self, node: ast.Lookback, ctx: Context) -> ir.Node | None:
        offset = self._offset(node)
        if offset is None:
            return None
        bars = int(self.constant_value(offset) or 0)
        target_name = node.target.id if isinstance(node.target, ast.Name) else None
        if target_name is not None and target_name == self.let_name:
            if bars < 1 or param_names(offset):
                return self._error(
                    "E312",
                    f"`{target_name}` refers to its own current value",
                    node.span,
                    help=f"read its previous value: `{target_name}[1]`",
                )
            self.recurrent = True
            return ir.SelfRef(target_name, bars, _info("number", node.span))
        target = self.check(node.target, ctx)
        if target is None:
            return None
        if target.info.constant:
            return target  # a constant's past is itself (as `@` does): it stays evaluable
        info = replace(target.info, span=node.span, warmup=target.info.warmup + bars)
        return ir.Lag(target, offset, info)

    def _offset(self, lookback: ast.Lookback) -> ir.Node | None:
        expr = lookback.offset
        offset = self.check(expr, Context("", "", 0))
        if offset is None:
            return None
        if not offset.info.constant or offset.info.type != "number":
            return self._error(
                "E311",
                "a lookback offset must be a constant number of bars",
                expr.span,
                help="use a number or a `param`, e.g. `close[1]` or `close[lag]`",
            )
        if offset.info.unit == "percent":
            return self._error(
                "E404", "a lookback offset is a number of bars, not a percentage", expr.span
            )
        for setting in corners(param_names(offset), self.scope.params):
            value = evaluate(offset, setting)
            if value is None or float(value) != int(value):
                return self._error(
                    "E311",
                    f"a lookback offset must be a whole number of bars, found {_fmt(value)}",
                    expr.span,
                )
            if value > MAX_LOOKBACK_BARS:
                return self._error(
                    "E406",
                    f"an offset of {_fmt(value)} bars reaches further back than the "
                    f"{MAX_LOOKBACK_BARS:,} bars of history a strategy keeps",
                    expr.span,
                )
            if value < 0:
                where = _describe_setting(setting, param_names(offset))
                return self._error(
                    "E310",
                    f"{_lookback_text(lookback)} looks into the future: a negative offset reads "
                    "a bar that has not closed",
                    lookback.span,
                    help=f"with {where} the offset is {_fmt(value)}; keep the range at 0 or above"
                    if where
                    else "`[1]` is the bar before this one, `[2]` the one before that",
                    label="offsets must be 0 or more bars back",
                )
        return offset

    def _at(self, node: ast.AtContext, ctx: Context) -> ir.Node | None:
        if node.is_timeframe:
            seconds = timeframe_seconds(node.qualifier)
            if seconds is None:
                return self._error(
                    "E315",
                    f"`{node.qualifier}` is not a timeframe Lighter has",
                    node.qualifier_span,
                    help="use 1m, 5m, 15m, 30m, 1h, 4h, 12h, 1d or 1w",
                )
            if ctx.seconds and seconds < ctx.seconds:
                return self._error(
                    "E314",
                    f"`@{node.qualifier}` bars are shorter than the {ctx.timeframe} bars "
                    "they are read on",
                    node.qualifier_span,
                    help=f"read {ctx.timeframe} bars or longer ones; a shorter bar would be "
                    f"read before the {ctx.timeframe} bar holding it has closed",
                )
            if ctx.seconds and seconds % ctx.seconds:
                return self._error(
                    "E314",
                    f"`@{node.qualifier}` is not a multiple of the "
                    f"{ctx.timeframe} bars it is read on",
                    node.qualifier_span,
                    help=f"read other timeframes at {ctx.timeframe} or higher; "
                    "lower ones would need bars that have not closed",
                )
            inner = Context(ctx.market, node.qualifier, seconds, at_strategy_bars=False)
        else:
            if not _SYMBOL.match(node.qualifier):
                known = {*BAR_SERIES, *self.scope.params, *self.scope.let_values}
                help_text = (
                    "`@` takes a market symbol or a timeframe, e.g. `close@BTC`, `close@1h`"
                    if node.qualifier in known
                    else f"market symbols are upper case: `@{node.qualifier.upper()}`"
                )
                return self._error(
                    "E205",
                    f"`{node.qualifier}` is not a market symbol",
                    node.qualifier_span,
                    help=help_text,
                )
            inner = Context(node.qualifier, ctx.timeframe, ctx.seconds, at_strategy_bars=False)
        target = self.check(node.target, inner)
        if target is None:
            return None
        if target.info.constant:
            return target
        if isinstance(target, ir.OnBars) and isinstance(node.target, ast.AtContext):
            target = target.target  # `x@BTC@1h`: one move to the combined bars
        ratio = inner.seconds // ctx.seconds if ctx.seconds and inner.seconds else 1
        warmup = (target.info.warmup + 1) * ratio - 1 if ratio > 1 else target.info.warmup
        return ir.OnBars(
            target,
            inner.market,
            inner.timeframe,
            replace(target.info, span=node.span, warmup=warmup),
        )

    # ---- helpers -------------------------------------------------------------------------------
    def _same_unit(self, nodes: list[ir.Node], span: Span, what: str) -> ir.Unit | None:
        units = {n.info.unit for n in nodes if not (n.info.constant and n.info.unit == "none")}
        if len(units) > 1:
            shown = " and ".join(sorted(unit_words(u) for u in units))
            self._error("E404", f"{what} mix {shown}", span)
            return None
        return units.pop() if units else "none"

    def _error(
        self,
        code: str,
        message: str,
        span: Span,
        help: str | None = None,
        label: str | None = None,
    ) -> None:
        self.scope.report(Diagnostic(code, message, span, Severity.ERROR, help, label))
        return None


def _info(
    type_: ir.ValueType,
    span: Span,
    *,
    unit: ir.Unit = "none",
    constant: bool = False,
    warmup: int = 0,
) -> ir.Info:
    return ir.Info(type=type_, unit=unit, constant=constant, warmup=warmup, span=span)


KEEPS_PERCENT = frozenset(
    {"change", "dema", "ema", "highest", "kama", "lowest", "midpoint", "sma", "stddev", "sum"}
    | {"t3", "tema", "trima", "wma"}
)
"""TA-Lib functions of one series whose result is on that series' scale: read on a rate in
percent (`funding`), they give a rate too."""


def _rate_with_price(rate: ir.Node, other: ir.Node) -> bool:
    """A series in percent (the funding rate) compared with a plain series (a price, volume):
    the two never meet, so the condition is a mistake."""
    return (
        rate.info.unit == "percent"
        and not rate.info.constant
        and other.info.unit == "none"
        and not other.info.constant
    )


def _signature(spec: FunctionSpec) -> str:
    parts = [i.name for i in spec.inputs if i.column is None]
    if spec.variadic:
        parts = ["a", "b", "..."]
    parts += [f"{p.name}={_fmt(p.default)}" for p in spec.params]
    text = f"{spec.name}({', '.join(parts)})"
    if spec.implicit_inputs or any(i.column for i in spec.inputs):
        columns = ", ".join(i.name for i in spec.inputs if i.column)
        text += f", reading {columns} of the bar"
    if spec.multi_output:
        text += "; outputs " + ", ".join(f".{n}" for n in spec.output_names())
    return text


def _example_call(name: str) -> str:
    spec = registry()[name]
    parts = ["close" for i in spec.inputs if i.column is None]
    if spec.variadic:
        parts = ["a", "b"]
    parts += [_fmt(p.default) for p in spec.params[:1]]
    text = f"{name}({', '.join(parts)})"
    if spec.multi_output:
        text += f".{spec.output_names()[0]}"
    return text


def _describe_setting(setting: dict[str, object], names: set[str]) -> str:
    return ", ".join(f"{n} = {_fmt(setting[n])}" for n in sorted(names) if n in setting)


def _lookback_text(lookback: ast.Lookback) -> str:
    """`close[-1]` as written, for simple lookbacks; `this` otherwise."""
    parts = []
    for part in (lookback.target, lookback.offset):
        sign = ""
        if isinstance(part, ast.Negate):
            sign, part = "-", part.operand
        if isinstance(part, ast.Name):
            parts.append(sign + part.id)
        elif isinstance(part, ast.Number):
            parts.append(sign + part.text)
        else:
            return "this"
    return f"`{parts[0]}[{parts[1]}]`"


def _fmt(value: object) -> str:
    if value is None:
        return "na"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)

"""Values of constant IR expressions: literals and params combined with arithmetic.

The checker uses it to validate lookback offsets and indicator parameters for every value a
param may take; the planner uses it to fold constants.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping

from rulebot.lang import ir

Value = float | bool | None


def evaluate(node: ir.Node, params: Mapping[str, float | bool]) -> Value:
    """The value of a constant node with the given param values (na → None)."""
    match node:
        case ir.Const():
            return node.value
        case ir.ParamRef():
            return params[node.name]
        case ir.Unary(op="neg"):
            value = evaluate(node.operand, params)
            return None if value is None else -value
        case ir.Unary(op="not"):
            value = evaluate(node.operand, params)
            return None if value is None else not value
        case ir.Binary():
            return _binary(node.op, evaluate(node.left, params), evaluate(node.right, params))
        case ir.Choose():
            condition = evaluate(node.condition, params)
            if condition is None:
                return None
            return evaluate(node.then if condition else node.otherwise, params)
        case ir.Call(function="abs"):
            value = evaluate(node.inputs[0], params)
            return None if value is None else abs(value)
        case ir.Call(function="max" | "min"):
            values = [evaluate(i, params) for i in node.inputs]
            if any(v is None for v in values):
                return None
            return max(values) if node.function == "max" else min(values)  # type: ignore[type-var]
        case ir.Call(function="nz"):
            value = evaluate(node.inputs[0], params)
            if value is not None:
                return value
            return evaluate(node.inputs[1], params) if len(node.inputs) > 1 else 0.0
    raise ValueError(f"not a constant expression: {type(node).__name__}")


def param_names(node: ir.Node) -> set[str]:
    """The params a node reads."""
    if isinstance(node, ir.ParamRef):
        return {node.name}
    found: set[str] = set()
    for child in ir.children(node):
        found |= param_names(child)
    return found


def corners(
    names: set[str], params: Mapping[str, ir.Param], limit: int = 64
) -> Iterator[dict[str, float | bool]]:
    """Param settings worth checking a constant at: the defaults, then the ends of each range."""
    defaults = {name: p.default for name, p in params.items()}
    yield defaults
    options = []
    for name in sorted(names):
        param = params.get(name)
        if param is None:
            continue
        values = param.search_values()
        ends = set(_extremes(values))
        options.append([(name, v) for v in ends])
    for combo in itertools.islice(itertools.product(*options), limit):
        yield {**defaults, **dict(combo)}


def _extremes(values: tuple[float | bool, ...]) -> list[float | bool]:
    """The values a constant is most likely to break at: the first and last, the smallest and
    largest, and the first that is not a whole number (an offset or a period must be one)."""
    if not values:
        return []
    found = [values[0], values[-1]]
    numbers = [v for v in values if not isinstance(v, bool)]
    if numbers:
        found += [min(numbers), max(numbers)]
        found += [v for v in numbers if not float(v).is_integer()][:1]
    return found


def _binary(op: str, left: Value, right: Value) -> Value:
    if op == "and":
        return bool(left) and bool(right) if left is not None and right is not None else None
    if op == "or":
        return bool(left) or bool(right) if left is not None and right is not None else None
    if left is None or right is None:
        return None
    if op in ("+", "-", "*", "/"):
        return _finite(_arithmetic(op, left, right))
    comparisons = {
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
        "==": left == right,
        "!=": left != right,
    }
    return comparisons[op]


def _arithmetic(op: str, left: float | bool, right: float | bool) -> Value:
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    return left / right if right != 0 else None


def _finite(value: Value) -> Value:
    """Arithmetic that overflows (`1e308 * 10`, and `inf - inf` after it) is na, like `1 / 0`."""
    if value is None or isinstance(value, bool):
        return value
    try:
        return value if math.isfinite(value) else None
    except OverflowError:  # an int product too large for a float
        return None

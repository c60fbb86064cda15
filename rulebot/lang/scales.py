"""W510: an oscillator read on 0–100 compared with a fraction, a condition that never changes.

`rsi(close, 14) < 30%` compares RSI with 0.3: RSI is below 0.3 almost never, so the entry is
dead while the rule checks clean. The same goes for a plain fraction (`rsi(close, 14) < 0.3`).
The warning fires when one side of a comparison is an oscillator on a 100-point scale (directly,
through a `let`, a lookback `[n]` or `@`) and the other a constant that is a percentage or a
number strictly between -1 and 1 (0 reads the same on both scales); its help gives the level
on the 100-point scale.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from rulebot.lang import ast, ir
from rulebot.lang.diagnostics import Diagnostic, Severity, Span

HUNDRED_POINT = {
    "adx": "0 to 100",
    "adxr": "0 to 100",
    "aroon": "0 to 100",
    "aroonosc": "-100 to 100",
    "cmo": "-100 to 100",
    "dx": "0 to 100",
    "mfi": "0 to 100",
    "minus_di": "0 to 100",
    "plus_di": "0 to 100",
    "rsi": "0 to 100",
    "stoch": "0 to 100",
    "stochf": "0 to 100",
    "stochrsi": "0 to 100",
    "ultosc": "0 to 100",
    "willr": "-100 to 0",
}
"""The oscillators whose values run over 100 points, and their range."""

LetLookup = Callable[[str], ir.Let | None]
T = TypeVar("T")
Evaluate = Callable[[ir.Node], float | bool | None]


def oscillator_vs_fraction(
    compare: ast.Compare,
    left: ir.Node,
    right: ir.Node,
    lookup: LetLookup,
    evaluate: Evaluate,
) -> Diagnostic | None:
    """The W510 warning for a checked comparison, or None when it is not that mistake."""
    for this, other, other_ast in ((left, right, compare.right), (right, left, compare.left)):
        function = read_through(this, lookup, _oscillator)
        if function is None or not other.info.constant:
            continue
        value = evaluate(other)
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        if value == 0 or (other.info.unit != "percent" and abs(value) >= 1):
            continue
        return _warning(compare.span, function, other_ast, other.info.unit, value)
    return None


def read_through(node: ir.Node, lookup: LetLookup, pick: Callable[[ir.Node], T | None]) -> T | None:
    """What `pick` finds in the series `node` reads as it is: itself, or through `[n]`, `@` and
    lets (a let read twice is followed once)."""
    seen: set[str] = set()
    while True:
        found = pick(node)
        if found is not None:
            return found
        match node:
            case ir.Lag() | ir.OnBars():
                node = node.target
            case ir.LetRef() if node.name not in seen:
                seen.add(node.name)
                let = lookup(node.name)
                if let is None:
                    return None
                node = let.value
            case _:
                return None


def _oscillator(node: ir.Node) -> str | None:
    """The 100-point oscillator `node` is, if it is one."""
    return node.function if isinstance(node, ir.Call) and node.function in HUNDRED_POINT else None


def _warning(span: Span, function: str, written: ast.Expr, unit: str, value: float) -> Diagnostic:
    text = _written(written)
    if text is None or (unit != "percent" and isinstance(written, ast.Number | ast.Negate)):
        compared = f"it is compared with the fraction {_number(value)}"
    else:
        compared = f"`{text}` is the number {_number(value)}"
    return Diagnostic(
        "W510",
        f"`{function}` runs from {HUNDRED_POINT[function]}, but {compared}: the condition is "
        "true on almost every bar or on almost none",
        span,
        Severity.WARNING,
        f"write the level on {function}'s own scale: `{_number(value * 100)}` for "
        f"{_number(value * 100)}%",
    )


def _written(node: ast.Expr) -> str | None:
    """A constant as the rule wrote it, when it is a simple one."""
    match node:
        case ast.Number():
            return node.text
        case ast.Name():
            return node.id
        case ast.Percent(operand=ast.Number() as number):
            return f"{number.text}%"
        case ast.Negate(operand=operand):
            inner = _written(operand)
            return f"-{inner}" if inner else None
    return None


def _number(value: float) -> str:
    rounded = round(value, 10)
    return str(int(rounded)) if float(rounded).is_integer() else str(rounded)

"""Which of a rule's `let`s are prices, so a report can draw them over the candles.

The checker's units say plain, percent or bars; a plain number may be a price (`sma(close, 20)`),
a distance in price (`atr(14)`), or neither (`rsi(close, 14)`). This walk tells them apart:

- the strategy's own market's `open`, `high`, `low`, `close` (at any timeframe) and `entry_price`
  are prices; a moving average, band, SAR or price transform of prices is a price
  (TA-Lib's overlap studies and price transforms, `highest`, `lowest`, `max`, `min`, `nz`, ...);
- `atr`, `trange`, `stddev`, `change` (of a price), `x - y` of two prices are distances;
- a price plus or minus a distance or a constant, or times or over a constant, is a price;
- `if c then a else b` is a price when both branches are (a `let`'s own past counts as either).

>>> from rulebot.backtesting.engine import load_rules
>>> (strategy,) = load_rules("rules/ut_bot.rule")
>>> price_lets(strategy)
['stop']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from rulebot.graph.registry import registry
from rulebot.lang import ir

Kind = Literal["price", "distance", "constant", "either", "other"]
"""`either`: a let's own past or `na`, read as whatever the rest of the expression is."""

PRICE_GROUPS = ("Overlap Studies", "Price Transform")
PRICE_FUNCTIONS = {
    "highest", "lowest", "minmax", "max", "min", "nz", "linearreg", "linearreg_intercept", "tsf",
    "percentile",
}  # fmt: skip
"""Functions outside those groups whose value is on the scale of their (price) inputs."""
NOT_PRICE = {"avgdev", "trend", "mavp"}
"""Names in those groups that are not prices (a deviation, supertrend's direction)."""
DISTANCE_FUNCTIONS = {"atr", "trange", "stddev", "avgdev", "adr", "change", "abs"}
"""Functions whose value is a distance in price when their inputs are prices or distances."""
_PRICE_COLUMNS = ("open", "high", "low", "close")


def price_lets(strategy: ir.Strategy) -> list[str]:
    """The names of the strategy's number `let`s that are prices, in the rule's order."""
    kinds: dict[str, Kind] = {}
    found = []
    for name, let in strategy.lets.items():
        kind = _kind(let.value, strategy.markets[0], kinds)
        kinds[name] = kind if kind != "either" else "other"
        if kinds[name] == "price" and let.value.info.type == "number":
            found.append(name)
    return found


def _kind(node: ir.Node, market: str, lets: Mapping[str, Kind]) -> Kind:
    """What `node`'s value is measured in, for the market the strategy trades."""
    match node:
        case ir.Const(value=None) | ir.SelfRef():
            return "either"
        case ir.Const() | ir.ParamRef():
            return "constant"
        case ir.Column(field=field, market=on):
            return "price" if field in _PRICE_COLUMNS and on == market else "other"
        case ir.StateRef(name=name):
            return "price" if name == "entry_price" else "other"
        case ir.LetRef(name=name):
            return lets.get(name, "other")
        case ir.Lag(target=target):
            return _kind(target, market, lets)
        case ir.OnBars(target=target, market=on):
            return _kind(target, market, lets) if on == market else "other"
        case ir.Choose(then=then, otherwise=otherwise):
            return _either(_kind(then, market, lets), _kind(otherwise, market, lets))
        case ir.Unary(op="neg", operand=operand):
            inner = _kind(operand, market, lets)
            return inner if inner in ("distance", "constant", "either") else "other"
        case ir.Binary():
            return _arithmetic(
                node.op, _kind(node.left, market, lets), _kind(node.right, market, lets)
            )
        case ir.Call():
            return _call(node, [_kind(arg, market, lets) for arg in node.inputs])
    if node.info.constant:
        return "constant"
    return "other"


def _either(a: Kind, b: Kind) -> Kind:
    """Two values one of which is taken (`if`, `max`, `min`, `nz`): the same kind, or `either`
    giving way to the other."""
    if a == "either":
        return b
    if b == "either" or a == b:
        return a
    return "other"


_ARITHMETIC: dict[tuple[str, Kind, Kind], Kind] = {
    ("+", "price", "distance"): "price",
    ("+", "distance", "price"): "price",
    ("+", "price", "constant"): "price",
    ("+", "constant", "price"): "price",
    ("-", "price", "distance"): "price",
    ("-", "price", "constant"): "price",
    ("-", "price", "price"): "distance",
    ("*", "price", "constant"): "price",
    ("*", "constant", "price"): "price",
    ("/", "price", "constant"): "price",
}


def _arithmetic(op: str, left: Kind, right: Kind) -> Kind:
    """`left op right`; a let's own past or `na` counts as a constant here."""
    left = "constant" if left == "either" else left
    right = "constant" if right == "either" else right
    if (op, left, right) in _ARITHMETIC:
        return _ARITHMETIC[op, left, right]
    if op not in ("+", "-", "*", "/") or not {left, right} <= {"distance", "constant"}:
        return "other"
    if left == right == "constant":
        return "constant"
    if (op == "/" and right == "distance") or (op == "*" and left == right):
        return "other"  # a ratio of distances, or a distance squared
    return "distance"


def _call(node: ir.Call, inputs: list[Kind]) -> Kind:
    spec = registry().get(node.function)
    if spec is None or spec.result != "number":
        return "other"
    named = node.output or (spec.outputs[0] if spec.outputs else "")
    measured = [k for k in inputs if k != "constant"]
    if node.function in DISTANCE_FUNCTIONS:
        scaled_inputs = all(k in ("price", "distance", "either") for k in measured)
        return "distance" if scaled_inputs else "other"
    scaled = spec.group in PRICE_GROUPS or node.function in PRICE_FUNCTIONS
    if not scaled or node.function in NOT_PRICE or named in NOT_PRICE:
        return "other"
    if node.function == "vwma":
        measured = measured[:1]  # its second input is the volume that weighs the prices
    kind: Kind = "either" if not measured else measured[0]
    for other in measured[1:]:
        kind = _either(kind, other)
    return kind if kind in ("price", "distance", "either") else "other"

"""W512/W513: `hour`, `minute` and `dayofweek` used in a way that cannot be meant.

They count hours (0–23), minutes (0–59) and days (0 = Monday … 6 = Sunday) of the bar's open,
UTC. Three mistakes check clean otherwise and leave a session filter dead or meaningless:
- W512: compared with a percentage (`hour < 30%` is `hour < 0.3`) or with a series that is not a
  time of day (`hour > close`);
- W513: compared with a constant so that the result never changes on the bars it is read on
  (`hour > 24`, `dayofweek == 7`, `hour == 9` on 4h bars, which open at 0, 4, 8, …), or read on
  bars that all open at the same time (`minute` on 1h bars is always 0).
"""

from __future__ import annotations

import operator
from collections.abc import Callable

from rulebot.graph.bar_time import RANGES, TIME_COLUMNS, reachable
from rulebot.graph.registry import PRICE_COLUMNS
from rulebot.lang import ast, ir
from rulebot.lang.diagnostics import Diagnostic, Severity, Span
from rulebot.lang.scales import LetLookup, read_through
from rulebot.lang.timeframes import timeframe_seconds

Evaluate = Callable[[ir.Node], float | bool | None]

_COUNTS = {"hour": "hours", "minute": "minutes", "dayofweek": "days"}
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def constant_time(column: ir.Column) -> Diagnostic | None:
    """W513 when every bar `column` is read on opens at the same `hour`/`minute`/`dayofweek`."""
    if column.field not in TIME_COLUMNS:
        return None
    values = _values(column)
    if values is None or len(values) > 1:
        return None
    return Diagnostic(
        "W513",
        f"`{column.field}` is always {values[0]} on {column.timeframe} bars: every one of them "
        f"opens at the same {_unit(column.field)}",
        column.info.span,
        Severity.WARNING,
        f"`{column.field}` is read from the bar's open; filter on it with shorter bars, or drop it",
    )


def time_comparison(
    compare: ast.Compare,
    left: ir.Node,
    right: ir.Node,
    lookup: LetLookup,
    evaluate: Evaluate,
) -> Diagnostic | None:
    """The W512/W513 warning for a checked comparison, or None when it is not that mistake."""
    for this, other, op in (
        (left, right, compare.op),
        (right, left, _FLIPPED[compare.op]),  # read with `this` on the left
    ):
        column = read_through(this, lookup, _time_column)
        if column is None or read_through(other, lookup, _time_column) is not None:
            continue
        if not other.info.constant:
            return _not_a_time(compare.span, column.field, read_through(other, lookup, _price))
        value = evaluate(other)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        if other.info.unit == "percent":
            return _percent(compare.span, column.field, value)
        return _fixed(compare.span, column, op, value)
    return None


def weekday_help(output: ast.Output) -> str | None:
    """The help for Pine's `dayofweek.monday`: rulebot's days are numbers, 0 = Monday."""
    if not (isinstance(output.target, ast.Name) and output.target.id == "dayofweek"):
        return None
    day = output.name.lower()
    number = f"`dayofweek == {_WEEKDAYS.index(day)}`" if day in _WEEKDAYS else "a number"
    return f"`dayofweek` is a number from 0 = Monday to 6 = Sunday: write {number}"


def _fixed(span: Span, column: ir.Column, op: str, value: float) -> Diagnostic | None:
    values = _values(column)
    if values is None or len(values) == 1:
        return None  # unknown bars, or a field that never changes: `constant_time` says so
    results = {_OPS[op](v, value) for v in values}
    if len(results) > 1:
        return None
    field = column.field
    low, high = RANGES[field]
    if values == list(range(low, high + 1)):
        why = f"`{field}` runs from {low} to {high}"
        help_text = (
            "`dayofweek` counts from 0 = Monday to 6 = Sunday (UTC, as Python does): Sunday is 6"
            if field == "dayofweek"
            else f"`{field}` is the {_unit(field)} of the bar's open, UTC, from {low} to {high}"
        )
    else:
        shown = ", ".join(str(v) for v in values[:-1]) + f" and {values[-1]}"
        why = f"{column.timeframe} bars open only at {_COUNTS[field]} {shown}"
        help_text = f"compare with one of those, or read `{field}` on shorter bars"
    verdict = "always true" if results.pop() else "never true"
    return Diagnostic(
        "W513",
        f"this comparison is {verdict}: {why}",
        span,
        Severity.WARNING,
        help_text,
    )


def _percent(span: Span, field: str, value: float) -> Diagnostic:
    low, high = RANGES[field]
    return Diagnostic(
        "W512",
        f"`{field}` counts {_COUNTS[field]} from {low} to {high}, but it is compared with a "
        f"percentage (the number {value:g})",
        span,
        Severity.WARNING,
        f"compare it with a whole {_unit(field)}, e.g. `{field} >= {min(high, 8)}`",
    )


def _not_a_time(span: Span, field: str, price: str | None) -> Diagnostic:
    low, high = RANGES[field]
    what = f"the price `{price}`" if price else "a series that is not a time of day"
    return Diagnostic(
        "W512",
        f"`{field}` counts {_COUNTS[field]} from {low} to {high}, but it is compared with {what}",
        span,
        Severity.WARNING,
        f"compare it with a constant or a param, e.g. `{field} >= {min(high, 8)}`",
    )


def _time_column(node: ir.Node) -> ir.Column | None:
    """`node` if it is a time series."""
    return node if isinstance(node, ir.Column) and node.field in TIME_COLUMNS else None


def _price(node: ir.Node) -> str | None:
    """The price column `node` is, if it is one."""
    if isinstance(node, ir.Column) and node.field in PRICE_COLUMNS and node.field != "volume":
        return node.field
    return None


def _values(column: ir.Column) -> list[int] | None:
    seconds = timeframe_seconds(column.timeframe)
    return reachable(column.field, seconds) if seconds else None


def _unit(field: str) -> str:
    return {"hour": "hour", "minute": "minute", "dayofweek": "day"}[field]

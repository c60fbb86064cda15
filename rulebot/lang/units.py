"""Units in arithmetic: what `a op b` is when a and b are plain numbers, percentages or bars.

A percentage, a number of bars and a plain number (prices, indicator values) do not mix by
accident: `close + 2%` is ambiguous, `bars_in_trade * 2%` is not a number of bars.
"""

from __future__ import annotations

from rulebot.lang import ir


def arith_unit(op: str, left: ir.Info, right: ir.Info) -> str:
    """The unit of `left op right`, or an error message."""
    lu, ru = left.unit, right.unit
    if op in "+-":
        if lu == ru:
            return lu
        if {lu, ru} == {"none", "percent"}:
            plain = left if lu == "none" else right
            if plain.constant:
                return "none"  # 1 + 2% is 1.02
            return f"`{op}` between a price-like series and a percentage is ambiguous"
        if {lu, ru} == {"none", "bars"}:
            return "bars"
        return f"`{op}` mixes {unit_words(lu)} and {unit_words(ru)}"
    if op == "*":
        if "none" in (lu, ru):
            other = ru if lu == "none" else lu
            return "none" if other == "percent" else other
        return f"`*` multiplies {unit_words(lu)} by {unit_words(ru)}"
    # division
    if lu == ru:
        return "none"
    if ru == "none":
        return lu
    return "none" if lu == "none" else f"`/` divides {unit_words(lu)} by {unit_words(ru)}"


def arith_help(op: str, left: ir.Node, right: ir.Node) -> str | None:
    if op in "+-" and "percent" in (left.info.unit, right.info.unit):
        return "to move a price by a percentage, multiply: `close * (1 + 2%)`"
    return None


def unit_words(unit: str) -> str:
    return {"percent": "a percentage", "bars": "a number of bars", "none": "a plain number"}[unit]

"""Which reads of a perpetual's series a rule guards against `na` itself.

A rule that reads `funding` on data without funding rates would read na on every bar; unless it
says what na means, a backtest there quietly never trades, so that is an error. A read inside
`nz(...)` (na becomes a number) or `na(...)` (na is asked about) has said what na means: on data
without the series such a read is na, and the backtest says so in a note instead of stopping.
A `let` is followed: a read in a let is guarded when every use of the let is.
"""

from __future__ import annotations

from collections.abc import Iterator

from rulebot.graph.registry import PERP_SERIES
from rulebot.lang import ir
from rulebot.lang.diagnostics import Span

_GUARDS = ("nz", "na")


def roots(strategy: ir.Strategy) -> Iterator[ir.Node]:
    """Every expression the strategy evaluates outside its lets (lets are reached by reference)."""
    yield from strategy.entries.values()
    yield from strategy.exits.values()
    yield strategy.sizing.value
    for protection in strategy.protections.values():
        yield protection.value
    for leg in strategy.legs:
        yield leg.weight
    for order in strategy.entry_orders.values():
        yield order.level
        yield order.bars
    yield from strategy.exit_shares.values()
    for take in strategy.partial_takes:
        yield take.share
        yield take.value


def unguarded_perp_reads(strategy: ir.Strategy) -> dict[tuple[str, str], Span]:
    """(market, series) of every perpetual series the strategy reads outside `nz`/`na`, with
    the first such read in the text."""
    found: dict[tuple[str, str], Span] = {}
    seen: set[tuple[str, bool]] = set()

    def walk(node: ir.Node, guarded: bool) -> None:
        match node:
            case ir.Column() if node.field in PERP_SERIES:
                key = (node.market, node.field)
                span = node.info.span
                if not guarded and (key not in found or (span.line, span.col) < _at(found[key])):
                    found[key] = span
                return
            case ir.LetRef() | ir.SelfRef():
                let = strategy.lets.get(node.name)
                if let is not None and (node.name, guarded) not in seen:
                    seen.add((node.name, guarded))
                    walk(let.value, guarded)
                return
            case ir.Call() if node.function in _GUARDS and node.inputs:
                walk(node.inputs[0], True)
                for child in ir.children(node)[1:]:
                    walk(child, guarded)
                return
        for child in ir.children(node):
            walk(child, guarded)

    for root in roots(strategy):
        walk(root, False)
    return found


def _at(span: Span) -> tuple[int, int]:
    return span.line, span.col


__all__ = ["roots", "unguarded_perp_reads"]

"""Where a rule's own past or its position may flow: only through elementwise operations.

A recurrence (`stop[1]`) and the position state (`bars_in_trade`, `entry_price`, `position`)
are known one bar at a time, so both evaluators run them as small per-bar programs. Those
programs hold arithmetic, comparisons, `if/then/else`, `abs`, `max`, `min`, `nz` and `na`; an
indicator, a lookback or another timeframe fed from them cannot be computed that way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from rulebot.lang import ir

ELEMENTWISE_CALLS = frozenset({"abs", "max", "min", "nz", "na"})


def violation(
    node: ir.Node,
    lets: Mapping[str, ir.Let | None],
    reads: Callable[[ir.Node], bool],
) -> ir.Node | None:
    """The first node that feeds what `reads` detects into something other than an elementwise
    operation, or None."""
    match node:
        case ir.SelfRef() | ir.StateRef() | ir.Const() | ir.ParamRef() | ir.Column():
            return None
        case ir.LetRef():
            let = lets.get(node.name)
            if let is None or let.recurrent:
                return None
            return violation(let.value, lets, reads)
        case ir.Unary() | ir.Binary() | ir.Choose():
            pass
        case ir.Call() if node.function in ELEMENTWISE_CALLS:
            pass
        case _:
            return node if reads(node) else None
    for child in ir.children(node):
        found = violation(child, lets, reads)
        if found is not None:
            return found
    return None


def reader(lets: Mapping[str, ir.Let | None], kinds: tuple[type, ...]) -> Callable[[ir.Node], bool]:
    """A predicate: does a node read (directly or through non-recurrent lets) any of `kinds`?"""

    def reads(node: ir.Node) -> bool:
        if isinstance(node, kinds):
            return True
        if isinstance(node, ir.LetRef):
            let = lets.get(node.name)
            return let is not None and not let.recurrent and reads(let.value)
        return any(reads(child) for child in ir.children(node))

    return reads

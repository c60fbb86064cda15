"""A condition as a tree of its clauses: what `rulebot explain` shows a value for.

`z < -threshold and strength < 35` is an `and` of two comparisons; each comparison shows the
values it compares (`z`, `-threshold`, `strength`). A chain `a and b and c` is one node with
three clauses, and a condition that names a true/false `let` (`entry long when buy`) opens that
let's own tree. Every clause and operand has a key (`entry.long.0.1`): the planner computes it as
a node of the strategy's own graph (`plan(..., parts=...)`), so its values come from the
evaluators, not from a second interpreter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rulebot.lang import ir
from rulebot.lang.diagnostics import Source, Span

ClauseKind = Literal["and", "or", "not", "compare", "cross", "let", "value"]

_COMPARISONS = {"<", "<=", ">", ">=", "==", "!="}
_CROSSES = {"crossover", "crossunder"}


@dataclass(frozen=True)
class Operand:
    """A value a clause compares, shown beside it (`z = -2.31`)."""

    key: str
    text: str
    node: ir.Node


@dataclass(frozen=True)
class Clause:
    """One clause of a condition: its key, its source text, and its sub-clauses or operands."""

    key: str
    text: str
    kind: ClauseKind
    node: ir.Node
    children: tuple[Clause, ...] = ()
    operands: tuple[Operand, ...] = ()

    def walk(self, depth: int = 0) -> list[tuple[int, Clause]]:
        """This clause and every clause under it, each with its depth, in reading order."""
        found = [(depth, self)]
        for child in self.children:
            found += child.walk(depth + 1)
        return found


def conditions(strategy: ir.Strategy) -> dict[str, Clause]:
    """Every entry and exit condition's tree, by output name (`entry.long`, `exit.short`)."""
    trees: dict[str, Clause] = {}
    for kind, found in (("entry", strategy.entries), ("exit", strategy.exits)):
        for side, node in found.items():
            key = f"{kind}.{side}"
            trees[key] = _clause(strategy, node, key, expanded=frozenset())
    return trees


def parts(trees: dict[str, Clause]) -> dict[str, ir.Node]:
    """Every clause and operand of the trees as a part to plan, by key."""
    found: dict[str, ir.Node] = {}
    for tree in trees.values():
        for _, clause in tree.walk():
            found[clause.key] = clause.node
            for operand in clause.operands:
                found[operand.key] = operand.node
    return found


def source_text(source: Source | None, span: Span) -> str:
    """The text a span covers, on one line (a clause written over several lines is joined)."""
    if source is None:
        return ""
    if span.line == span.end_line:
        return source.line(span.line)[span.col - 1 : span.end_col - 1].strip()
    lines = [source.line(span.line)[span.col - 1 :]]
    lines += [source.line(n) for n in range(span.line + 1, span.end_line)]
    lines.append(source.line(span.end_line)[: span.end_col - 1])
    return " ".join(" ".join(lines).split())


def _clause(strategy: ir.Strategy, node: ir.Node, key: str, expanded: frozenset[str]) -> Clause:
    text = source_text(strategy.source, node.info.span) or _name(node)
    match node:
        case ir.Binary(op="and" | "or"):
            chain = _chain(node, node.op)
            children = tuple(
                _clause(strategy, part, f"{key}.{k}", expanded) for k, part in enumerate(chain)
            )
            return Clause(key, text, node.op, node, children)
        case ir.Unary(op="not"):
            child = _clause(strategy, node.operand, f"{key}.0", expanded)
            return Clause(key, text, "not", node, (child,))
        case ir.Binary() if node.op in _COMPARISONS:
            sides = (node.left, node.right)
            return Clause(key, text, "compare", node, operands=_operands(strategy, sides, key))
        case ir.Call() if node.function in _CROSSES:
            return Clause(key, text, "cross", node, operands=_operands(strategy, node.inputs, key))
        case ir.LetRef() if _opens(strategy, node.name, expanded):
            let = strategy.lets[node.name]
            inner = _clause(strategy, let.value, f"{key}.0", expanded | {node.name})
            return Clause(key, text, "let", node, (inner,))
    return Clause(key, text, "value", node)


def _chain(node: ir.Node, op: str) -> list[ir.Node]:
    """`a and b and c` (parsed as `(a and b) and c`) as [a, b, c]."""
    if isinstance(node, ir.Binary) and node.op == op:
        return _chain(node.left, op) + _chain(node.right, op)
    return [node]


def _opens(strategy: ir.Strategy, name: str, expanded: frozenset[str]) -> bool:
    """Whether a named condition is shown as its own tree: a true/false let, not a recurrence."""
    let = strategy.lets.get(name)
    return (
        let is not None
        and not let.recurrent
        and let.value.info.type == "bool"
        and name not in expanded
    )


def _operands(strategy: ir.Strategy, nodes: tuple[ir.Node, ...], key: str) -> tuple[Operand, ...]:
    """The values compared, except plain numbers (their text already says them)."""
    found = []
    for k, node in enumerate(nodes):
        if isinstance(node, ir.Const):
            continue
        text = source_text(strategy.source, node.info.span) or _name(node)
        found.append(Operand(f"{key}.v{k}", text, node))
    return tuple(found)


def _name(node: ir.Node) -> str:
    """A clause's name when its source text is not at hand."""
    for attribute in ("name", "function", "field"):
        value = getattr(node, attribute, None)
        if isinstance(value, str):
            return value
    return type(node).__name__.lower()

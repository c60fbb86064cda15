"""Decisions and summaries as the text `rulebot explain` and `backtest --explain` print.

Each clause is one line: whether it holds, its source text, and the values it compared, indented
under the clause it belongs to, so a trader reads down to the clause that was false.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rulebot.explain.clauses import source_text
from rulebot.explain.records import BLOCKER_TEXT, ClauseValue, Decision, Value
from rulebot.lang import ir

if TYPE_CHECKING:
    from rulebot.explain.decisions import Summary

_INDENT = "  "


def decision_text(decision: Decision, header: str = "") -> str:
    """One bar's decision: the lets, every condition's clauses, and what came of them."""
    lines = [
        f"{decision.strategy}{header}  bar {_time(decision.time_ms)}  "
        f"close {number(decision.close)}  {decision.position}"
    ]
    width = max((len(name) for name, _ in decision.lets), default=0)
    for name, value in decision.lets:
        lines.append(f"{_INDENT}let {name.ljust(width)} = {number(value)}")
    orders = dict(decision.orders)
    for name, clause in decision.conditions:
        rests = f"  (rests as a {orders[name]})" if name in orders else ""
        lines.append(f"{_INDENT}{name.replace('.', ' ')}{rests}")
        lines += _clause_lines(clause, 2)
    if decision.outcomes:
        for name, outcome in decision.outcomes:
            lines.append(f"{_INDENT}=> {name.replace('.', ' ')}: {outcome}")
    else:
        lines.append(f"{_INDENT}=> no condition holds: nothing to do")
    return "\n".join(lines)


def resting_orders(
    strategy: ir.Strategy, read: Callable[[str], Value]
) -> tuple[tuple[str, str], ...]:
    """How each entry that rests at a price does at this close, its level read by output name
    (`read("entry_level.long")`): `post-only limit at mid - band = 38282.7 for 3 bars`."""
    found = []
    for side, order in strategy.entry_orders.items():
        level = source_text(strategy.source, order.level.info.span) or "its level"
        bars = read(f"entry_bars.{side}")
        lifetime = "until the next close" if bars in (None, 1.0) else f"for {number(bars)} bars"
        kind = f"post-only {order.kind}" if order.post_only else order.kind
        text = f"{kind} at {level} = {number(read(f'entry_level.{side}'))}, {lifetime}"
        found.append((f"entry.{side}", text))
    return tuple(found)


def decision_line(decision: Decision) -> str:
    """The decision on one line, for the log: lets, each condition's clauses (`and`/`or` as
    brackets) with their values, and the outcomes."""
    lets = " ".join(f"{name}={number(value)}" for name, value in decision.lets)
    conditions = "; ".join(f"{name}={_inline(clause)}" for name, clause in decision.conditions)
    outcomes = "; ".join(f"{name}: {text}" for name, text in decision.outcomes) or "nothing to do"
    return (
        f"{decision.strategy} bar {_time(decision.time_ms)} close {number(decision.close)} "
        f"{decision.position} | {lets} | {conditions} | => {outcomes}"
    )


def _inline(clause: ClauseValue) -> str:
    operands = ",".join(f"{text}={number(value)}" for text, value in clause.operands)
    own = f"{number(clause.value)}({operands})" if operands else number(clause.value)
    if not clause.children:
        return f"{own} `{clause.text}`"
    return f"{number(clause.value)}[" + ", ".join(_inline(c) for c in clause.children) + "]"


def decision_from_dict(data: Mapping[str, Any]) -> Decision:
    """A decision as the status API sends it (`Decision.to_dict`), to print it the same way."""

    def clause(text: str, found: Mapping[str, Any]) -> ClauseValue:
        return ClauseValue(
            text,
            "",
            found.get("value"),
            tuple((k, v) for k, v in (found.get("operands") or {}).items()),
            tuple(clause(c["text"], c) for c in found.get("clauses") or ()),
        )

    return Decision(
        str(data.get("strategy", "")),
        int(data.get("time", 0)),
        float(data.get("close", float("nan"))),
        str(data.get("position", "")),
        tuple((data.get("lets") or {}).items()),
        tuple(
            (name, clause(found["text"], found))
            for name, found in (data.get("conditions") or {}).items()
        ),
        tuple((data.get("outcomes") or {}).items()),
        tuple((data.get("orders") or {}).items()),
    )


def summary_text(strategy: str, summary: Summary) -> str:
    """Per condition, per clause: on how many bars it held; per blocker: how many true entries
    it stopped."""
    lines = [f"why {strategy} traded: {summary.bars} bars after warm-up"]
    width = len(str(summary.bars))
    for name, tree in summary.trees.items():
        lines.append(f"{_INDENT}{name.replace('.', ' ')}")
        for depth, clause in tree.walk():
            held = summary.held[clause.key]
            share = f"{100 * held / summary.bars:5.1f}%" if summary.bars else "    -"
            text = f"{_INDENT * depth}{clause.text}"
            lines.append(f"{_INDENT * 2}{str(held).rjust(width)} bars {share}  {text}")
    tried = summary.entered + sum(summary.stopped.values())
    if "untraced" in summary.stopped:
        lines.append(
            f"{_INDENT}bars with a true entry: {tried}; what stopped them is not traced yet "
            "for a strategy on several markets"
        )
        return "\n".join(lines)
    lines.append(f"{_INDENT}bars with a true entry: {tried}; entries taken: {summary.entered}")
    for blocker, count in sorted(summary.stopped.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"{_INDENT * 2}{count} stopped: {BLOCKER_TEXT[blocker]}")
    return "\n".join(lines)


def number(value: Value) -> str:
    """A value as a trader reads it: true/false, na, or six significant digits."""
    if value is None:
        return "na"
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:.6g}"


def _clause_lines(clause: ClauseValue, depth: int) -> list[str]:
    """A clause, the values it compared, and the clauses under it."""
    operands = ", ".join(f"{text} = {number(value)}" for text, value in clause.operands)
    line = f"{_INDENT * depth}{number(clause.value).ljust(5)}  {clause.text}"
    lines = [f"{line}   ({operands})" if operands else line]
    for child in clause.children:
        lines += _clause_lines(child, depth + 1)
    return lines


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")

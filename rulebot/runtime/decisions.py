"""A live strategy's decision at a bar close, as `rulebot explain` records one.

The values are the streaming evaluator's: the strategy's graph is planned with every clause of
its conditions as a part (`rulebot.explain.clauses`), so each clause is a node it updates anyway.
What stopped a true entry is what the strategy itself found (warm-up, both entries, the position
held, the cooldown, no size); the engine adds what it learns later (an order in flight, the risk
manager's refusal) with `rulebot.explain.records.stopped`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from rulebot.explain.clauses import Clause
from rulebot.explain.records import (
    Decision,
    clause_value,
    entry_outcome,
    exit_outcome,
    plain,
    stopped,
)
from rulebot.explain.render import decision_line, resting_orders
from rulebot.graph.streaming import StreamingEvaluator
from rulebot.lang import ir

log = logging.getLogger("rulebot.decisions")


def live_decision(
    strategy: ir.Strategy,
    trees: Mapping[str, Clause],
    evaluator: StreamingEvaluator,
    *,
    time_ms: int,
    close: float,
    side: float,
    blocker: str | None,
) -> Decision:
    """The decision just taken at the close of the bar opening at `time_ms`, holding `side`."""
    held = "long" if side > 0 else "short" if side < 0 else "flat"
    outputs = evaluator.graph.outputs
    outcomes: list[tuple[str, str]] = []
    for name in trees:
        if name in outputs and bool(evaluator.value(name)):
            kind, which = name.split(".")
            if kind == "exit":
                outcomes.append((name, exit_outcome(which, held)))
            else:
                outcomes.append((name, entry_outcome(which, held, blocker)))
    return Decision(
        strategy.name,
        time_ms,
        close,
        held,
        tuple((name, plain(evaluator.value(f"let.{name}"))) for name in strategy.lets),
        tuple(
            (name, clause_value(tree, lambda key: plain(evaluator.value(f"part.{key}"))))
            for name, tree in trees.items()
        ),
        tuple(outcomes),
        resting_orders(strategy, lambda name: plain(evaluator.value(name))),
    )


def entry_stopped(live: object, why: str) -> None:
    """The engine stopped the entry a live strategy decided (`why`): its decision says so."""
    decision = getattr(live, "decision", None)
    if decision is not None:
        live.decision = stopped(decision, why)  # type: ignore[attr-defined]


def log_decision(live: object) -> None:
    """One DEBUG line per bar close per strategy: the decision, as `rulebot explain` says it."""
    decision = getattr(live, "decision", None)
    if decision is not None and log.isEnabledFor(logging.DEBUG):
        log.debug("%s", decision_line(decision))

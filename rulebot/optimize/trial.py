"""One trial: a strategy's params backtested on prepared bars, with shared columns.

The steps are `rulebot.backtest`'s own (plan, evaluate, signal columns, fill loop, metrics), in
the same order and on the same functions, so a trial's metrics equal the backtest's exactly; only
evaluation differs, reading columns other trials already computed (`cached.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rulebot.backtesting import engine
from rulebot.backtesting.fills import (
    FillSettings,
    PositionRules,
    SignalColumns,
    SimResult,
    simulate,
)
from rulebot.backtesting.legs import simulate_legs
from rulebot.backtesting.metrics import compute_metrics
from rulebot.backtesting.position_rules import position_rules
from rulebot.graph.plan import Graph, PlanError, plan
from rulebot.graph.vectorised import position_dependents
from rulebot.lang import ir
from rulebot.optimize.cached import SharedColumns
from rulebot.optimize.dataset import Dataset
from rulebot.optimize.space import Params


@dataclass(frozen=True, slots=True)
class TrialOutcome:
    """A trial's metrics (JSON-ready, as `Metrics.to_dict()`), or why it could not run."""

    params: Params
    metrics: dict[str, Any] | None
    error: str | None = None


def run_trial(
    strategy: ir.Strategy,
    dataset: Dataset,
    settings: FillSettings,
    params: Params,
    shared: SharedColumns,
) -> TrialOutcome:
    """Backtest `params` on `dataset`; `settings` already carry the rule's own limits
    (`engine.with_strategy_limits`)."""
    try:
        columns, result = fill(strategy, dataset, settings, params, shared)
    except (engine.BacktestError, PlanError, ValueError) as problem:
        return TrialOutcome(dict(params), None, str(problem))
    interval = shared.interval_ms(dataset.market, dataset.first)
    metrics = compute_metrics(result, columns, settings, interval)
    return TrialOutcome(dict(params), metrics.to_dict())


def fill(
    strategy: ir.Strategy,
    dataset: Dataset,
    settings: FillSettings,
    params: Params,
    shared: SharedColumns,
) -> tuple[SignalColumns, SimResult]:
    """The signal columns and the simulation `backtest` would produce for these params. The
    result's equity and position are `shared`'s buffers, valid until the next trial."""
    graph = _planned(strategy, dataset, params)
    if len(strategy.markets) > 1:
        return _fill_spread(graph, strategy, dataset, settings, shared)
    columns, rules = _signals(graph, strategy, dataset, shared)
    return columns, simulate(columns, settings, rules, out=shared.buffers(dataset.traded))


def signals(
    strategy: ir.Strategy, dataset: Dataset, params: Params, shared: SharedColumns
) -> tuple[SignalColumns, PositionRules]:
    """What a one-market trial hands its fill loop: everything but the fill and the metrics
    (`bench/optimize.py` times those alone, the part of a trial no search can share)."""
    return _signals(_planned(strategy, dataset, params), strategy, dataset, shared)


def _planned(strategy: ir.Strategy, dataset: Dataset, params: Params) -> Graph:
    graph = plan(strategy, params)
    engine.too_few(strategy, graph, len(dataset), dataset.first)
    return graph


def _signals(
    graph: Graph, strategy: ir.Strategy, dataset: Dataset, shared: SharedColumns
) -> tuple[SignalColumns, PositionRules]:
    n = len(dataset)
    values = shared.evaluate(graph, placeholders=position_dependents(graph))
    bars = dataset.bars[dataset.market]

    def floats(node_id: int) -> np.ndarray:
        return shared.floats(node_id, values, n)

    def stack(node_ids: Sequence[int]) -> np.ndarray:
        return shared.stacked(node_ids, values, n)

    columns = engine.signal_columns(graph, strategy, bars, values, dataset.funding, floats)
    rules = position_rules(graph, values, n, stack)
    return engine.cut(columns, dataset.first), engine.cut_rules(rules, dataset.first)


def _fill_spread(
    graph: Graph,
    strategy: ir.Strategy,
    dataset: Dataset,
    settings: FillSettings,
    shared: SharedColumns,
) -> tuple[SignalColumns, SimResult]:
    """Every leg at once, as the backtest fills a spread (`engine.fill_legs`), from shared
    columns."""
    if position_dependents(graph):
        raise engine.BacktestError(
            f"`{strategy.name}` reads the position on several markets; that is not supported yet"
        )
    values = shared.evaluate(graph)
    columns, legs = engine.leg_columns(graph, strategy, dataset.bars, values, dataset.leg_funding)
    try:
        spread = simulate_legs(engine.cut(legs, dataset.first), settings)
    except ValueError as problem:
        raise engine.BacktestError(f"`{strategy.name}`: {problem}") from None
    return engine.cut(columns, dataset.first), engine.spread_result(spread)


__all__ = ["TrialOutcome", "fill", "run_trial", "signals"]

"""Shared columns: what no param touches is computed once per search, what a param decides
once per distinct value, and a shared column equals the one the evaluator computes alone."""

from __future__ import annotations

import numpy as np

from rulebot import load_rules
from rulebot.graph.plan import plan
from rulebot.graph.vectorised import evaluate, position_dependents
from rulebot.optimize.cached import SharedColumns
from rulebot.optimize.dataset import load_market_data, prepare
from rulebot.optimize.space import build_space
from tests.conftest import RULES


def _setup(rule: str, overrides: list[str]):
    (strategy,) = load_rules(RULES / rule)
    dataset = prepare(strategy, load_market_data(strategy), days=5)
    return strategy, dataset, build_space(strategy, overrides)


def test_indicators_are_computed_once_per_distinct_value() -> None:
    strategy, dataset, space = _setup(
        "mean_reversion.rule", ["lookback=10..40:10", "threshold=1.5..3:0.5", "rsi_len=7,14"]
    )
    shared = SharedColumns(dataset.bars)
    for params in space.grid():
        graph = plan(strategy, params)
        shared.evaluate(graph, placeholders=position_dependents(graph))
    # sma and stddev per lookback (4 each), rsi per rsi_len (2), atr(14) once: not 32 * 4
    assert shared.computed["indicator"] == 4 * 2 + 2 + 1
    assert space.size == 32
    assert shared.hits > shared.misses


def test_a_small_budget_still_gives_the_evaluators_columns() -> None:
    strategy, dataset, space = _setup("ut_bot.rule", ["key_value=1,2", "atr_period=5,10"])
    shared = SharedColumns(dataset.bars, budget_bytes=64 * 1024)  # a few columns at most
    for params in [*space.grid(), *space.grid()]:
        graph = plan(strategy, params)
        placeholders = position_dependents(graph)
        mine = shared.evaluate(graph, placeholders=placeholders)
        alone = evaluate(graph, dataset.bars, placeholders=placeholders)
        assert mine.keys() == alone.keys()
        for node, column in alone.items():
            for a, b in zip(_parts(column), _parts(mine[node]), strict=True):
                assert a.dtype == b.dtype
                np.testing.assert_array_equal(a, b)
    assert shared.held_bytes <= 64 * 1024


def test_shared_columns_cannot_be_changed_in_place() -> None:
    strategy, dataset, _ = _setup("mean_reversion.rule", [])
    shared = SharedColumns(dataset.bars)
    graph = plan(strategy)
    values = shared.evaluate(graph, placeholders=position_dependents(graph))
    sma = next(n.id for n in graph.nodes if n.op == "pick")
    assert not values[sma].flags.writeable


def _parts(column):
    return column if isinstance(column, tuple) else (np.asarray(column),)


def test_what_the_fill_loop_reads_is_kept_per_distinct_value() -> None:
    """The float columns (size, stop) and the position rules' stacked inputs are made once per
    distinct value too: trials that differ in `threshold` alone read the same arrays."""
    strategy, dataset, _ = _setup("mean_reversion.rule", [])
    shared = SharedColumns(dataset.bars)
    n = len(dataset)

    def read(params: dict[str, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        graph = plan(strategy, params)
        values = shared.evaluate(graph, placeholders=position_dependents(graph))
        program = graph.node("exit.long")
        stop = shared.floats(graph.outputs["stop_loss"], values, n)
        stacked = shared.stacked(program.args, values, n)
        expected = [np.asarray(values[i], dtype=np.float64) for i in program.args]
        np.testing.assert_array_equal(stacked, np.stack(expected))
        return shared.floats(graph.outputs["size"], values, n), stop, stacked

    first = read({"lookback": 20, "threshold": 2.0})
    again = read({"lookback": 20, "threshold": 2.5})
    other = read({"lookback": 30, "threshold": 2.0})
    assert all(a is b for a, b in zip(first, again, strict=True))
    assert first[0] is other[0] and first[1] is other[1]  # size and stop: no lookback in them
    assert other[2] is not first[2]  # the exit reads z, which the lookback decides
    assert first[0].shape == (n,) and first[0].dtype == np.float64
    assert not any(array.flags.writeable for array in (*first, other[2]))
    equity, position = shared.buffers(n)
    assert shared.buffers(n)[0] is equity and len(position) == n

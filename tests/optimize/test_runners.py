"""The same search on one process, on local worker processes and on a Dask cluster (a real
`distributed.LocalCluster` of worker processes) gives the same trials."""

from __future__ import annotations

import distributed
import pytest

from rulebot import load_rules
from rulebot.backtesting.engine import with_strategy_limits
from rulebot.backtesting.fills import FillSettings
from rulebot.optimize.dataset import load_market_data, prepare
from rulebot.optimize.runners import (
    DaskRunner,
    RunnerError,
    SerialRunner,
    Workload,
    batches,
    held_bytes,
)
from rulebot.optimize.search import optimize
from rulebot.optimize.space import build_space
from tests.conftest import RULES

OVERRIDES = ["key_value=1..3:1", "atr_period=5,10", "allow_short=true,false"]


@pytest.fixture(scope="module")
def strategy():
    (found,) = load_rules(RULES / "ut_bot.rule")
    return found


@pytest.fixture(scope="module")
def serial(strategy):
    return optimize(strategy, overrides=OVERRIDES, jobs=1, days=6, walk_forward=1)


def _same(a, b) -> None:
    assert [r.to_dict() for r in a.trials] == [r.to_dict() for r in b.trials]
    assert [c.out_of_sample for c in a.holdout] == [c.out_of_sample for c in b.holdout]
    assert a.folds == b.folds


def test_worker_processes_give_the_same_trials(strategy, serial) -> None:
    parallel = optimize(strategy, overrides=OVERRIDES, jobs=2, days=6, walk_forward=1)
    assert parallel.ran == serial.ran == 12 + 5 + 12 + 1
    _same(parallel, serial)


def test_a_dask_cluster_gives_the_same_trials(strategy, serial) -> None:
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        by_address = optimize(
            strategy, overrides=OVERRIDES, days=6, walk_forward=1, cluster=cluster.scheduler_address
        )
        by_client = optimize(strategy, overrides=OVERRIDES, days=6, walk_forward=1, cluster=client)
        assert len(client.scheduler_info()["workers"]) == 2
    _same(by_address, serial)
    _same(by_client, serial)


def test_an_unreachable_cluster_is_one_readable_error(strategy) -> None:
    workload = Workload(strategy, FillSettings(), {})
    with pytest.raises(
        RunnerError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"
    ):
        DaskRunner(workload, "tcp://127.0.0.1:9", timeout=1)


def test_batches_are_neighbours_and_keep_every_worker_busy() -> None:
    params = [{"x": i} for i in range(100)]
    cut = batches(params, 2)
    assert [p for batch in cut for p in batch] == params
    assert len(cut) >= 8
    assert batches([], 4) == []


def test_a_search_in_this_process_lets_its_columns_go_when_it_ends(strategy) -> None:
    """The columns a search keeps in this process (up to the budget) are dropped when it
    ends: a backtest after it must not run on a heap full of a finished search's columns."""
    dataset = prepare(strategy, load_market_data(strategy), days=3)
    settings = with_strategy_limits(FillSettings(), strategy)
    workload = Workload(strategy, settings, {dataset.key: dataset})
    runner = SerialRunner(workload)
    params = list(build_space(strategy, OVERRIDES).grid())[:4]
    outcomes = [o for batch in runner.map(dataset.key, params) for o in batch]
    assert [o.error for o in outcomes] == [None] * 4
    assert held_bytes() > 0  # kept between the batches of a search
    runner.close()
    assert held_bytes() == 0
    optimize(strategy, overrides=OVERRIDES, jobs=1, days=3, method="random", trials=3)
    assert held_bytes() == 0

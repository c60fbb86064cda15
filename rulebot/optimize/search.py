"""`optimize`: search a strategy's params on the in-sample bars, check the best sets on the
held-out period, and walk forward through folds.

The steps: load and window the data once (as `backtest` does); split it into periods
(`walkforward.py`); send the strategy and every period's bars to the workers once
(`runners.py`); then let the sampler hand out batches of params until it is done, skipping every
trial the results file already holds, so an interrupted search resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rulebot.backtesting import engine
from rulebot.backtesting.fills import FillSettings
from rulebot.data.candles import Candles, FundingRates
from rulebot.lang import ir
from rulebot.optimize.dataset import Dataset, load_market_data, prepare
from rulebot.optimize.objective import Objective, objective
from rulebot.optimize.results import ResultsFile, TrialRecord
from rulebot.optimize.runners import Runner, Workload, column_budget, runner_for
from rulebot.optimize.samplers import Sampler, sampler_for
from rulebot.optimize.space import Params, SearchSpace, build_space
from rulebot.optimize.walkforward import Fold, Plan, collapsed, split

SEARCH = "search"
HOLDOUT = "holdout"


class Progress:
    """Told how many trials there are and as each batch finishes; does nothing by default."""

    def start(self, total: int) -> None:
        return None

    def advance(self, count: int, description: str) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Check:
    """One param set in sample and out of sample, side by side."""

    params: Params
    in_sample: TrialRecord
    out_of_sample: TrialRecord | None
    collapsed: bool


@dataclass(frozen=True, slots=True)
class FoldResult:
    fold: Fold
    best: TrialRecord | None
    """The best set on the fold's train period (None when no trial there had a score)."""
    test: TrialRecord | None
    collapsed: bool


@dataclass(frozen=True)
class OptimizeResult:
    strategy: str
    objective: Objective
    space: SearchSpace
    method: str
    plan: Plan
    trials: list[TrialRecord]
    """The in-sample search, best first (failed and undefined trials last)."""
    holdout: list[Check]
    """The best in-sample sets run on the held-out period (empty without one)."""
    folds: list[FoldResult]
    resumed: int = 0
    """Trials read back from the results file instead of run."""
    ran: int = 0
    output: Path | None = None

    @property
    def best(self) -> TrialRecord | None:
        """The best in-sample trial, if any has a score."""
        if self.trials and self.objective.value(self.trials[0].metrics) is not None:
            return self.trials[0]
        return None


def optimize(
    strategy: ir.Strategy | str | Path,
    data: Candles | Mapping[str, Candles] | None = None,
    *,
    overrides: Sequence[str] = (),
    space: SearchSpace | None = None,
    metric: str = "sharpe",
    method: str = "grid",
    trials: int | None = None,
    jobs: int | None = None,
    cluster: Any | None = None,
    walk_forward: int = 0,
    anchored: bool = False,
    holdout: float = 0.2,
    check: int = 5,
    settings: FillSettings | None = None,
    funding: FundingRates | None = None,
    days: float | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    seed: int = 0,
    output: str | Path | None = None,
    restart: bool = False,
    progress: Progress | None = None,
) -> OptimizeResult:
    """Search `strategy`'s params (its declared ranges, `overrides` as `name=a..b:step`), with
    `settings` or else the fill settings `rulebot optimize` reads here (./rulebot.yaml, if any).

    Every trial's metrics equal `backtest(strategy, data, params=..., settings=...,
    start_ms=period.start_ms, end_ms=period.end_ms)` for its period. With `output` (.csv or
    .json) every trial is written as it finishes, and a search run again with the same file
    skips the trials already there. The best `check` in-sample sets run on the held-out
    period (the last `holdout` share of the bars); `walk_forward` folds split the rest."""
    strategy = _one_strategy(strategy)
    space = space or build_space(strategy, overrides)
    goal = objective(metric)
    progress = progress or Progress()
    settings = engine.with_strategy_limits(settings or engine.settings_here(), strategy)
    market = load_market_data(strategy, data, funding)
    whole = prepare(strategy, market, start_ms=start_ms, end_ms=end_ms, days=days)
    timestamps = whole.bars[whole.market].timestamp[whole.first :]
    plan = split(
        timestamps,
        strategy.timeframe_seconds * 1000,
        holdout=holdout,
        folds=walk_forward,
        anchored=anchored,
    )
    periods = [plan.in_sample, *([plan.holdout] if plan.holdout else [])]
    periods += [p for fold in plan.folds for p in (fold.train, fold.test)]
    datasets = {p: prepare(strategy, market, start_ms=p.start_ms, end_ms=p.end_ms) for p in periods}
    search_id = fingerprint(strategy, settings)
    local_workers = (jobs or os.cpu_count() or 1) if cluster is None else 1
    workload = Workload(
        strategy,
        settings,
        {d.key: d for d in datasets.values()},
        column_budget(local_workers),
    )

    def sampler(parallelism: int) -> Sampler:
        return sampler_for(method, space, trials=trials, seed=seed, batch=parallelism)

    per_search = space.size if method == "grid" else min(trials or 100, space.size)
    shown = min(check, per_search)
    total = per_search * (1 + len(plan.folds)) + (shown if plan.holdout else 0) + len(plan.folds)
    with ResultsFile(output, search_id, space, strategy.name, restart=restart) as store:
        runner = runner_for(workload, jobs, cluster)
        try:
            progress.start(total)
            stages = _Stages(store, runner, goal, space, progress)
            found = stages.search(SEARCH, datasets[plan.in_sample], sampler(runner.parallelism))
            checks: list[Check] = []
            if plan.holdout is not None:
                chosen = [r for r in found[:shown] if r.metrics is not None]
                outside = stages.run(HOLDOUT, datasets[plan.holdout], [r.params for r in chosen])
                checks = [
                    Check(r.params, r, o, _collapsed(goal, r, o))
                    for r, o in zip(chosen, outside, strict=True)
                ]
            folds = []
            for fold in plan.folds:
                train = datasets[fold.train]
                ranked = stages.search(
                    f"fold{fold.number}.train", train, sampler(runner.parallelism)
                )
                best = ranked[0] if ranked and goal.value(ranked[0].metrics) is not None else None
                test = None
                if best is not None:
                    (test,) = stages.run(
                        f"fold{fold.number}.test", datasets[fold.test], [best.params]
                    )
                folds.append(
                    FoldResult(fold, best, test, best is not None and _collapsed(goal, best, test))
                )
        finally:
            runner.close()
    return OptimizeResult(
        strategy.name,
        goal,
        space,
        method,
        plan,
        found,
        checks,
        folds,
        store.resumed,
        stages.ran,
        Path(output) if output is not None else None,
    )


class _Stages:
    """Runs the trials of each stage, reading finished ones from the results file."""

    def __init__(
        self,
        store: ResultsFile,
        runner: Runner,
        goal: Objective,
        space: SearchSpace,
        progress: Progress,
    ) -> None:
        self.store = store
        self.runner = runner
        self.goal = goal
        self.space = space
        self.progress = progress
        self.ran = 0

    def search(self, stage: str, dataset: Dataset, sampler: Sampler) -> list[TrialRecord]:
        """Every trial the sampler asks for on `dataset`, ranked best first."""
        known = [
            r
            for r in self.store.records
            if r.stage == stage and r.period == dataset.key and self.space.holds(r.params)
        ]
        sampler.tell([r.params for r in known], [self.goal.score(r.metrics) for r in known])
        done = len(known)
        seen: dict[int, TrialRecord] = {self.space.index(r.params): r for r in known}
        self.progress.advance(len(known), stage)
        while batch := sampler.ask(done):
            records = self.run(stage, dataset, batch, announce=False)
            sampler.tell(batch, [self.goal.score(r.metrics) for r in records])
            for record in records:
                seen[self.space.index(record.params)] = record
            done += len(batch)
        return self.ranked(list(seen.values()))

    def run(
        self, stage: str, dataset: Dataset, params: Sequence[Params], *, announce: bool = True
    ) -> list[TrialRecord]:
        """`params` on `dataset`, in their order (the results file's records where it has them)."""
        found = {i: self.store.find(stage, dataset.key, p) for i, p in enumerate(params)}
        missing = [p for i, p in enumerate(params) if found[i] is None]
        resumed = len(params) - len(missing)
        if resumed and announce:
            self.progress.advance(resumed, stage)
        for outcomes in self.runner.map(dataset.key, missing):
            records = [
                TrialRecord(stage, dataset.key, o.params, o.metrics, o.error) for o in outcomes
            ]
            self.store.add(records)
            self.ran += len(records)
            self.progress.advance(len(records), stage)
        return [self._found(stage, dataset.key, p) for p in params]

    def _found(self, stage: str, period: str, params: Params) -> TrialRecord:
        record = self.store.find(stage, period, params)
        if record is None:  # a runner that lost a batch: a bug, not something a user did
            raise RuntimeError(f"trial {params} of {stage} never came back from its worker")
        return record

    def ranked(self, records: list[TrialRecord]) -> list[TrialRecord]:
        return sorted(
            records, key=lambda r: (-self.goal.score(r.metrics), self.space.index(r.params))
        )


def _collapsed(goal: Objective, inside: TrialRecord, outside: TrialRecord | None) -> bool:
    return collapsed(
        goal, goal.value(inside.metrics), goal.value(outside.metrics if outside else None)
    )


def fingerprint(strategy: ir.Strategy, settings: FillSettings) -> str:
    """Names a search: equal for the same rule (wherever its file is) and fill settings."""
    text = repr(replace(strategy, path="")) + repr(settings)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _one_strategy(strategy: ir.Strategy | str | Path) -> ir.Strategy:
    if isinstance(strategy, ir.Strategy):
        return strategy
    found = engine.load_rules(strategy)
    if len(found) != 1:
        raise engine.BacktestError(f"{strategy} holds {len(found)} strategies; pass one")
    return found[0]


__all__ = ["Check", "FoldResult", "OptimizeResult", "Progress", "optimize"]

"""Where trials run: in this process, on every local core (processes), or on a Dask cluster.

Each worker receives the workload (the strategy, the fill settings and the prepared bars) once,
keeps a `SharedColumns` per set of bars for as long as it lives, and runs trials in batches of
neighbouring grid combinations, so the columns a batch shares are computed once in that worker.
A runner yields each batch's outcomes as it finishes, in whatever order the workers finish.
"""

from __future__ import annotations

import ctypes
import math
import multiprocessing
import os
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Protocol

from rulebot.backtesting.fills import FillSettings
from rulebot.lang import ir
from rulebot.optimize.cached import DEFAULT_BUDGET_BYTES, SharedColumns
from rulebot.optimize.dataset import Dataset
from rulebot.optimize.space import Params
from rulebot.optimize.trial import TrialOutcome, run_trial

MAX_BATCH = 64
BATCHES_PER_WORKER = 4
KEPT_PERIODS = 2
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


class RunnerError(Exception):
    """A cluster that cannot be reached, or Dask missing."""


@dataclass(frozen=True, eq=False)
class Workload:
    """What every worker needs, sent to each once."""

    strategy: ir.Strategy
    settings: FillSettings
    """With the rule's own limits applied (`engine.with_strategy_limits`)."""
    datasets: Mapping[str, Dataset]
    """Each period's bars, by `Dataset.key`."""
    budget_bytes: int = DEFAULT_BUDGET_BYTES
    """The most a worker holds in shared columns, over all the periods it keeps."""
    token: str = field(default_factory=lambda: uuid.uuid4().hex)


class Runner(Protocol):
    parallelism: int
    """How many trials run at once."""

    def map(self, period: str, params: Sequence[Params]) -> Iterator[list[TrialOutcome]]:
        """Run `params` on the period's bars, yielding each batch's outcomes as it finishes."""
        ...

    def close(self) -> None: ...


# ---- the worker side -------------------------------------------------------------------------
_local = threading.local()


def run_batch(workload: Workload, period: str, batch: Sequence[Params]) -> list[TrialOutcome]:
    """Run a batch in this worker, with the columns its earlier batches left (one store per
    thread, so a threaded worker needs no locks). A worker keeps the stores of the last
    `KEPT_PERIODS` periods it ran: stages run one after another, and a rolling walk-forward's
    test period is the next fold's train period."""
    stores: dict[tuple[str, str], SharedColumns] = getattr(_local, "stores", None) or {}
    _local.stores = stores
    key = (workload.token, period)
    shared = stores.pop(key, None)
    if shared is None:
        budget = workload.budget_bytes // KEPT_PERIODS
        shared = SharedColumns(workload.datasets[period].bars, budget)
    stores[key] = shared  # the most recent last
    for old in list(stores)[:-KEPT_PERIODS]:
        del stores[old]
    dataset = workload.datasets[period]
    return [
        run_trial(workload.strategy, dataset, workload.settings, params, shared) for params in batch
    ]


def held_bytes() -> int:
    """What this thread's column stores hold, in bytes (0 once its searches are over)."""
    stores: dict[tuple[str, str], SharedColumns] = getattr(_local, "stores", None) or {}
    return sum(store.held_bytes for store in stores.values())


def forget(workload: Workload) -> None:
    """Drop this thread's column stores of `workload`: the search running here is over, and its
    columns (up to the budget) would otherwise stay for as long as the thread lives."""
    stores: dict[tuple[str, str], SharedColumns] = getattr(_local, "stores", None) or {}
    for key in [key for key in stores if key[0] == workload.token]:
        del stores[key]


_installed: Workload | None = None


def _install(workload: Workload) -> None:
    global _installed
    _installed = workload
    keep_freed_memory()


def keep_freed_memory() -> None:
    """In a process of our own (a worker, the command): let glibc's malloc keep freed memory
    for the next trial.

    Every trial allocates and frees dozens of bar-length arrays; by default glibc hands each one
    back to the kernel and faults its pages in again for the next, which costs a worker about a
    quarter of its time in the kernel. Elsewhere (not glibc) this does nothing."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024)  # the most glibc allows
        libc.mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024)
    except (OSError, AttributeError):
        return


def _run_installed(period: str, batch: Sequence[Params]) -> list[TrialOutcome]:
    assert _installed is not None, "worker started without its workload"
    return run_batch(_installed, period, batch)


def _ready() -> int:
    return os.getpid()


# ---- runners -----------------------------------------------------------------------------------
def batches(params: Sequence[Params], parallelism: int) -> list[list[Params]]:
    """Consecutive slices (neighbours share columns), enough for every worker to stay busy."""
    if not params:
        return []
    size = math.ceil(len(params) / (parallelism * BATCHES_PER_WORKER))
    size = max(1, min(MAX_BATCH, size))
    return [list(params[i : i + size]) for i in range(0, len(params), size)]


class SerialRunner:
    """Every trial in this process, one after another (`--jobs 1`)."""

    parallelism = 1

    def __init__(self, workload: Workload) -> None:
        self.workload = workload

    def map(self, period: str, params: Sequence[Params]) -> Iterator[list[TrialOutcome]]:
        for batch in batches(params, 1):
            yield run_batch(self.workload, period, batch)

    def close(self) -> None:
        forget(self.workload)


class ProcessRunner:
    """A pool of worker processes on this machine, each holding the workload."""

    def __init__(self, workload: Workload, jobs: int) -> None:
        self.parallelism = jobs
        start = "fork" if sys.platform == "linux" else "spawn"
        self.pool = ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=multiprocessing.get_context(start),
            initializer=_install,
            initargs=(workload,),
        )
        # start every worker now, before a progress bar's thread exists
        for waiting in [self.pool.submit(_ready) for _ in range(jobs)]:
            waiting.result()

    def map(self, period: str, params: Sequence[Params]) -> Iterator[list[TrialOutcome]]:
        futures = [
            self.pool.submit(_run_installed, period, batch)
            for batch in batches(params, self.parallelism)
        ]
        try:
            for done in as_completed(futures):
                yield done.result()
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskRunner:
    """The trials as tasks on a Dask distributed cluster (the optional extra `cluster`); the
    workload is scattered to every worker once. `cluster` is a scheduler address or a
    `distributed.Client`; `timeout` is how long to try reaching a scheduler, in seconds."""

    def __init__(self, workload: Workload, cluster: Any, timeout: float = 10.0) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise RunnerError(
                "--cluster needs Dask: pip install 'rulebot[cluster]' (on the workers too)"
            ) from None
        self._own = not isinstance(cluster, Client)
        try:
            self.client = Client(cluster, timeout=f"{timeout}s") if self._own else cluster
        except (OSError, TimeoutError) as problem:
            raise RunnerError(f"cannot reach the Dask scheduler at {cluster}: {problem}") from None
        workers = self.client.scheduler_info().get("workers", {})
        self.parallelism = max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))
        self.workload = self.client.scatter(workload, broadcast=True)

    def map(self, period: str, params: Sequence[Params]) -> Iterator[list[TrialOutcome]]:
        from distributed import as_completed as dask_completed

        futures: list[Future[Any]] = [
            self.client.submit(run_batch, self.workload, period, batch, pure=False)
            for batch in batches(params, self.parallelism)
        ]
        try:
            for done in dask_completed(futures):
                yield done.result()
        finally:
            self.client.cancel(futures)

    def close(self) -> None:
        if self._own:
            self.client.close()


def column_budget(workers: int) -> int:
    """Bytes of shared columns each of `workers` local processes may hold: the default, or less
    so that together they stay within a quarter of this machine's memory."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return DEFAULT_BUDGET_BYTES
    return max(16 * 1024 * 1024, min(DEFAULT_BUDGET_BYTES, memory // 4 // max(workers, 1)))


def runner_for(workload: Workload, jobs: int | None, cluster: Any | None) -> Runner:
    """Dask when a cluster is given, else processes for `jobs` > 1 (default: every core), else
    this process."""
    if cluster is not None:
        return DaskRunner(workload, cluster)
    count = jobs if jobs is not None else (os.cpu_count() or 1)
    if count < 1:
        raise RunnerError(f"--jobs must be 1 or more, not {count}")
    if count == 1:
        return SerialRunner(workload)
    return ProcessRunner(workload, count)


__all__ = [
    "DaskRunner",
    "ProcessRunner",
    "Runner",
    "RunnerError",
    "SerialRunner",
    "Workload",
    "batches",
    "column_budget",
    "forget",
    "held_bytes",
    "keep_freed_memory",
    "run_batch",
    "runner_for",
]

"""Timing shared by the benchmarks."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable


def median_time(work: Callable[[], object], repeat: int) -> float:
    """The median wall time of `work` over `repeat` runs, garbage collection held off."""
    times = []
    gc.disable()
    try:
        for _ in range(repeat):
            start = time.perf_counter()
            work()
            times.append(time.perf_counter() - start)
    finally:
        gc.enable()
    return statistics.median(times)

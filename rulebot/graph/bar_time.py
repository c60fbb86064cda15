"""The time of day of a bar's open, UTC: the `hour`, `minute` and `dayofweek` series.

Both evaluators compute them from the bar's `timestamp` (ms UTC at its open) with the same
integer arithmetic, so they agree exactly. `dayofweek` counts as Python does: 0 is Monday, 6 is
Sunday (1 January 1970, day 0 of the epoch, was a Thursday: 3).
"""

from __future__ import annotations

import numpy as np

# name -> (length of one unit in ms, how many units before it wraps, and the offset of day 0)
_FIELDS: dict[str, tuple[int, int, int]] = {
    "hour": (3_600_000, 24, 0),
    "minute": (60_000, 60, 0),
    "dayofweek": (86_400_000, 7, 3),
}

TIME_COLUMNS = tuple(_FIELDS)
"""The built-in time series, read from the bar's open like `close` is read from its close."""

RANGES: dict[str, tuple[int, int]] = {name: (0, wrap - 1) for name, (_, wrap, _) in _FIELDS.items()}
"""The smallest and largest value of each."""


def time_column(name: str, timestamps: np.ndarray) -> np.ndarray:
    """`name` of every bar, as float64 (a series like any other), from ms UTC timestamps."""
    unit, wrap, offset = _FIELDS[name]
    return ((np.asarray(timestamps, dtype=np.int64) // unit + offset) % wrap).astype(np.float64)


def time_value(name: str, timestamp: int) -> float:
    """`name` of one bar opening at `timestamp` (ms UTC): the streaming twin of `time_column`."""
    unit, wrap, offset = _FIELDS[name]
    return float((int(timestamp) // unit + offset) % wrap)


def reachable(name: str, bar_seconds: int) -> list[int]:
    """The values `name` can take on bars `bar_seconds` long, opening on multiples of their
    length (as Lighter's and rulebot's bars do): `minute` on 1h bars is only ever 0."""
    unit, wrap, offset = _FIELDS[name]
    bar_ms = bar_seconds * 1000
    period = unit * wrap
    count = np.lcm(bar_ms, period) // bar_ms
    return sorted({(k * bar_ms // unit + offset) % wrap for k in range(int(count))})

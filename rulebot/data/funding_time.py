"""When a funding payment is for: its funding time, not the moment the venue stamped it.

Venues stamp a payment a little after the funding it settles (milliseconds to seconds late: 59
of the 91 stamps in the shipped XRP file are 7 to 17 ms past the hour). Taken as it is, a
payment stamped 00:00:00.017 falls after the 00:00 bar's open and is charged at the next bar.
Funding is paid on the hour (every hour on Lighter, every 8 hours on some other venues), so each
stamp is rounded to the nearest whole hour; funding that comes more often than hourly is
rounded to the nearest multiple of its interval instead. Backtests and `rulebot data download`
both go through `funding_times`, so the two agree.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

HOUR_MS: Final = 3_600_000


def funding_grid_ms(interval_ms: int | None) -> int:
    """The grid funding times lie on: the whole hour, or the interval itself when funding
    comes more often (a 30-minute interval: every 30 minutes; 90 minutes: every 30)."""
    if interval_ms is None or interval_ms <= 0:
        return HOUR_MS
    return math.gcd(int(interval_ms), HOUR_MS)


def funding_time(stamp_ms: int, interval_ms: int | None = HOUR_MS) -> int:
    """One payment's funding time: `stamp_ms` rounded to the nearest point of the grid (a
    half-way stamp rounds up)."""
    grid = funding_grid_ms(interval_ms)
    return (int(stamp_ms) + grid // 2) // grid * grid


def funding_times(
    stamps_ms: npt.NDArray[np.int64], interval_ms: int | None = HOUR_MS
) -> npt.NDArray[np.int64]:
    """`funding_time` of every stamp."""
    grid = funding_grid_ms(interval_ms)
    stamps = np.asarray(stamps_ms, dtype=np.int64)
    return (stamps + grid // 2) // grid * grid


__all__ = ["HOUR_MS", "funding_grid_ms", "funding_time", "funding_times"]

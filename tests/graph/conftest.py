"""Real candles for graph tests: the data the project ships, read straight from the CSV files."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from rulebot.graph.clocks import BarColumns

CANDLES = Path(__file__).resolve().parents[2] / "rulebot" / "data" / "candles"
CANDLE_FILES = sorted(p.name for p in CANDLES.glob("*.csv") if "funding" not in p.name)


@cache
def candles(name: str) -> BarColumns:
    table = np.genfromtxt(CANDLES / name, delimiter=",", names=True)
    return BarColumns(
        table["timestamp"].astype(np.int64),
        *(
            np.ascontiguousarray(table[c], dtype=np.float64)
            for c in ("open", "high", "low", "close", "volume")
        ),
    )


def partner(bars: BarColumns, other: BarColumns) -> BarColumns:
    """Another market's prices on these bars' timestamps, for multi-market evaluation tests."""
    n = len(bars)
    reps = -(-n // len(other))

    def fit(column: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.tile(column, reps)[:n])

    return BarColumns(
        bars.timestamp,
        fit(other.open),
        fit(other.high),
        fit(other.low),
        fit(other.close),
        fit(other.volume),
    )

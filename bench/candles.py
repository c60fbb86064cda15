"""How fast a candle file loads: `load_candles` (parsing and every validation rule, with line
numbers for bad rows) against numpy's `loadtxt` of the same file (parsing alone), on the shipped
13,681-bar one-minute file. Aim: well under 100 ms, and within a small factor of the bare parse.

    .venv/bin/python bench/candles.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from timing import median_time  # noqa: E402

from rulebot.data import load_candles, shipped_candles  # noqa: E402

REPEAT = 15


def main() -> None:
    path = Path(shipped_candles("unittest_btc_1m").source)
    bars = len(load_candles(path).close)
    ours = median_time(lambda: load_candles(path), REPEAT)
    bare = median_time(lambda: np.loadtxt(path, delimiter=",", skiprows=1), REPEAT)
    print(f"{path.name}: {bars:,} bars")
    print(f"  load_candles      {ours * 1000:7.1f} ms  (aim: < 100 ms)")
    print(f"  numpy.loadtxt     {bare * 1000:7.1f} ms  (parse alone: the baseline)")
    print(f"  ratio             {ours / bare:7.2f}x")


if __name__ == "__main__":
    main()

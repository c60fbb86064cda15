"""Coarser candles from finer ones, written as a candle file: how the shipped BTC series is made.

`resample` turns bars into bars `timeframe_ms` long (open of the first, highest high, lowest
low, close of the last, summed volume), keeping only the bars whose every finer bar is present:
a bar built from part of its span would misstate its range. `base_volume` converts a volume
given in the quote currency (USD traded, as in the BTC perpetual file) into the base asset at
each bar's typical price (high + low + close) / 3, the usual stand-in for the price a bar traded
at; done on the 1-minute bars before resampling, the estimate is minute by minute.
`write_candles` writes a CSV that `load_candles` reads back unchanged.

Regenerate the shipped file from its source (see `rulebot/data/candles/SOURCES.md`):

    python -m rulebot.data.resample btc-perp-20211231-20220201_1m.csv \
        rulebot/data/candles/btc_usd_perp_5m.csv --minutes 5 --quote-volume --volume-decimals 5
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from rulebot.data.candles import CANDLE_COLUMNS, Candles, load_candles

MINUTE_MS = 60_000


def resample(candles: Candles, timeframe_ms: int, volume_decimals: int | None = None) -> Candles:
    """Bars `timeframe_ms` long (a whole multiple of the data's own timeframe), each from a full
    set of finer bars; a span with any finer bar missing is left out. Summed volumes are rounded
    to `volume_decimals` places when given."""
    step = candles.timeframe_ms
    if step is None or timeframe_ms <= 0 or timeframe_ms % step:
        raise ValueError(
            f"{candles.source or 'candles'}: cannot make {timeframe_ms} ms bars from "
            f"{step} ms bars (a whole multiple is needed)"
        )
    per_bar = timeframe_ms // step
    group = candles.timestamp // timeframe_ms
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    counts = np.diff(np.r_[starts, len(group)])
    ends = starts + counts - 1
    full = counts == per_bar
    volume = np.add.reduceat(candles.volume, starts)[full]
    return Candles(
        timestamp=(group[starts] * timeframe_ms)[full],
        open=candles.open[starts][full],
        high=np.maximum.reduceat(candles.high, starts)[full],
        low=np.minimum.reduceat(candles.low, starts)[full],
        close=candles.close[ends][full],
        volume=volume if volume_decimals is None else np.round(volume, volume_decimals),
        source=candles.source,
        timeframe_ms=timeframe_ms,
    )


def base_volume(candles: Candles) -> Candles:
    """The bars with a volume traded in the quote currency turned into the base asset: each bar's
    quote volume over its typical price."""
    typical = (candles.high + candles.low + candles.close) / 3
    return replace(candles, volume=candles.volume / typical)


def write_candles(candles: Candles, path: str | os.PathLike[str]) -> None:
    """A candle CSV (`timestamp,open,high,low,close,volume`, ms UTC), each number written as
    the shortest text that reads back as the same float."""
    rows = [",".join(CANDLE_COLUMNS)]
    for i in range(len(candles)):
        values = (getattr(candles, name)[i] for name in CANDLE_COLUMNS[1:])
        rows.append(f"{int(candles.timestamp[i])}," + ",".join(repr(float(v)) for v in values))
    Path(path).write_text("\n".join(rows) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    """`python -m rulebot.data.resample SOURCE OUT --minutes N [--quote-volume]`."""
    parser = argparse.ArgumentParser(description="Write coarser candles made from a candle file.")
    parser.add_argument("source")
    parser.add_argument("out")
    parser.add_argument("--minutes", type=int, required=True, help="the new bars' length")
    parser.add_argument(
        "--quote-volume", action="store_true", help="the source's volume is in the quote currency"
    )
    parser.add_argument("--volume-decimals", type=int, help="round the volumes to these places")
    args = parser.parse_args(argv)
    candles = load_candles(args.source)
    if args.quote_volume:
        candles = base_volume(candles)
    write_candles(resample(candles, args.minutes * MINUTE_MS, args.volume_decimals), args.out)


if __name__ == "__main__":
    main()

"""Coarser candles from finer ones: how the shipped BTC series is derived (rulebot.data.resample),
and that the shipped file reads like BTC in USD."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rulebot.data import Candles, find_gaps, load_candles, shipped_candles
from rulebot.data.resample import base_volume, main, resample, write_candles

MINUTE = 60_000
FIVE_MINUTES = 5 * MINUTE
T0 = 1_640_995_200_000  # 2022-01-01 00:00 UTC


def minutes(first_ms: int, rows: list[tuple[float, float, float, float, float]]) -> Candles:
    """1-minute candles from (open, high, low, close, volume) rows, one a minute."""
    columns = np.asarray(rows, dtype=np.float64).T
    stamps = T0 + first_ms + MINUTE * np.arange(len(rows), dtype=np.int64)
    return Candles(stamps, *columns, source="minutes", timeframe_ms=MINUTE)


# Two full five-minute spans (from 00:05 and 00:10), one partial span before and one after.
ROWS = [
    (9, 9, 9, 9, 1),  # 00:04, alone in its span: left out
    *[(10, 12, 9, 11, 2), (11, 15, 10, 14, 3), (14, 14, 8, 9, 4), (9, 10, 9, 10, 5)],
    (10, 11, 7, 8, 6),  # 00:09 closes the first full span
    *[(8, 9, 8, 9, 1), (9, 9, 9, 9, 1), (9, 20, 9, 19, 1), (19, 19, 18, 18, 1), (18, 18, 1, 2, 1)],
    (2, 3, 2, 3, 7),  # 00:15, alone: left out
]


def test_resample_takes_first_open_extremes_last_close_and_summed_volume() -> None:
    bars = resample(minutes(4 * MINUTE, ROWS), FIVE_MINUTES)
    assert bars.timestamp.tolist() == [T0 + FIVE_MINUTES, T0 + 2 * FIVE_MINUTES]
    assert bars.open.tolist() == [10, 8]
    assert bars.high.tolist() == [15, 20]
    assert bars.low.tolist() == [7, 1]
    assert bars.close.tolist() == [8, 2]
    assert bars.volume.tolist() == [20, 5]
    assert bars.timeframe_ms == FIVE_MINUTES


def test_a_span_missing_a_minute_is_left_out() -> None:
    whole = minutes(5 * MINUTE, ROWS[1:11])
    holed = Candles(
        *(np.delete(getattr(whole, name), 7) for name in ("timestamp", "open", "high")),
        *(np.delete(getattr(whole, name), 7) for name in ("low", "close", "volume")),
        timeframe_ms=MINUTE,
    )
    assert resample(holed, FIVE_MINUTES).timestamp.tolist() == [T0 + FIVE_MINUTES]


def test_resample_refuses_a_timeframe_that_is_not_a_whole_multiple() -> None:
    with pytest.raises(ValueError, match="whole multiple"):
        resample(minutes(0, ROWS), 90_000)


def test_base_volume_divides_quote_volume_by_the_typical_price() -> None:
    bars = minutes(0, [(100, 110, 90, 100, 3_000), (200, 240, 180, 180, 1_000)])
    assert base_volume(bars).volume.tolist() == pytest.approx([30.0, 1_000 / 200])
    assert resample(base_volume(bars), 2 * MINUTE, volume_decimals=2).volume.tolist() == [35.0]


def test_a_written_file_reads_back_as_the_same_bars(tmp_path: Path) -> None:
    bars = resample(minutes(4 * MINUTE, ROWS), FIVE_MINUTES)
    write_candles(bars, tmp_path / "out.csv")
    again = load_candles(tmp_path / "out.csv")
    for name in ("timestamp", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(again, name), getattr(bars, name))


def test_the_command_writes_five_minute_bars_with_base_volume(tmp_path: Path) -> None:
    write_candles(minutes(4 * MINUTE, ROWS), tmp_path / "in.csv")
    main([str(tmp_path / "in.csv"), str(tmp_path / "out.csv"), "--minutes", "5", "--quote-volume"])
    out = load_candles(tmp_path / "out.csv")
    assert out.timestamp.tolist() == [T0 + FIVE_MINUTES, T0 + 2 * FIVE_MINUTES]
    typical = [(12 + 9 + 11) / 3, (15 + 10 + 14) / 3, (14 + 8 + 9) / 3, 29 / 3, (11 + 7 + 8) / 3]
    quote_volumes = [2, 3, 4, 5, 6]
    expected = sum(v / p for v, p in zip(quote_volumes, typical, strict=True))
    assert out.volume[0] == pytest.approx(expected)


def test_the_shipped_btc_reads_like_btc_in_usd() -> None:
    btc = shipped_candles("btc_usd_perp_5m")
    assert btc.timeframe_ms == FIVE_MINUTES and find_gaps(btc) == []
    assert len(btc) == 9_005
    assert 30_000 < btc.low.min() < btc.high.max() < 50_000  # USD, January 2022
    # volume in BTC: tens to thousands of BTC in five minutes, not the source's USD millions
    assert 10 < float(np.median(btc.volume)) < 1_000
    assert np.array_equal(btc.volume, np.round(btc.volume, 5))

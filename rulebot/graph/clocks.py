"""Higher-timeframe bars built from base bars, and when each becomes known.

A 1h bar is known once it has closed: at the base bar that completes it, or, when a gap hides
its last base bar, at the first base bar of a later hour. `closed_at[k]` is the base bar index at
whose close higher bar k is first known; both evaluators use this same rule, so a value read
with `@1h` never repaints and never looks ahead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rulebot.graph.registry import PERP_SERIES


@dataclass(frozen=True, slots=True)
class BarColumns:
    """OHLCV columns of consecutive bars, `timestamp` in ms UTC at the bar's open, and the
    perpetual's own series known at each bar's close (None when the data has none)."""

    timestamp: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    funding: np.ndarray | None = None
    mark: np.ndarray | None = None
    open_interest: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.timestamp)

    def series(self, name: str) -> np.ndarray:
        """A column by name; a perpetual series the data does not have is na on every bar."""
        column = getattr(self, name)
        return np.full(len(self), np.nan) if column is None else column

    @classmethod
    def of(cls, bars: object) -> BarColumns:
        """Any object with these six attributes (e.g. loaded candles) as float64/int64 columns,
        and its perpetual series when it has them."""
        perp = {}
        for name in PERP_SERIES:
            column = getattr(bars, name, None)
            if column is not None:
                perp[name] = np.ascontiguousarray(column, dtype=np.float64)
        return cls(
            np.asarray(bars.timestamp, dtype=np.int64),  # type: ignore[attr-defined]
            *(
                np.ascontiguousarray(getattr(bars, name), dtype=np.float64)
                for name in ("open", "high", "low", "close", "volume")
            ),
            **perp,
        )


def aggregate(bars: BarColumns, base_ms: int, higher_ms: int) -> tuple[BarColumns, np.ndarray]:
    """The closed higher bars and, for each, the base index at which it is first known."""
    if len(bars) == 0:
        return bars, np.zeros(0, dtype=np.int64)
    group = bars.timestamp // higher_ms
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    ends = np.r_[starts[1:], len(bars)] - 1
    complete = (bars.timestamp[ends] + base_ms) % higher_ms == 0
    # an incomplete group is known at the first bar of the next one; the last one never closes
    known = np.where(complete, ends, ends + 1)
    keep = known < len(bars)
    higher = BarColumns(
        timestamp=(group[starts] * higher_ms)[keep],
        open=bars.open[starts][keep],
        high=np.maximum.reduceat(bars.high, starts)[keep],
        low=np.minimum.reduceat(bars.low, starts)[keep],
        close=bars.close[ends][keep],
        volume=np.add.reduceat(bars.volume, starts)[keep],
        **{
            name: getattr(bars, name)[ends][keep]
            for name in PERP_SERIES
            if getattr(bars, name) is not None
        },
    )
    known = known[keep]
    return higher, known.astype(np.int64)


class Aggregator:
    """The streaming twin of `aggregate`: fed base bars one by one, it reports each higher bar
    when it becomes known (none, one, or two at once after a gap). Values after the volume (the
    perpetual's series) are carried as known at the higher bar's last base bar."""

    def __init__(self, base_ms: int, higher_ms: int) -> None:
        self.base_ms = base_ms
        self.higher_ms = higher_ms
        self.group: int | None = None
        self.bar: list[float] = []
        self.volumes: list[float] = []  # summed as numpy sums them, for identical results
        self.latest: tuple[float, ...] = ()

    def update(
        self,
        timestamp: int,
        open_: float,
        high: float,
        low: float,
        close: float,
        volume: float,
        *latest: float,
    ) -> list[tuple[float, ...]]:
        closed = []
        group = timestamp // self.higher_ms
        if self.group is not None and group != self.group:
            closed.append(self._close())
        if self.group is None:
            self.group = group
            self.bar = [open_, high, low, close]
            self.volumes = [volume]
        else:
            bar = self.bar
            bar[1] = max(bar[1], high)
            bar[2] = min(bar[2], low)
            bar[3] = close
            self.volumes.append(volume)
        self.latest = latest
        if (timestamp + self.base_ms) % self.higher_ms == 0:
            closed.append(self._close())
        return closed

    def _close(self) -> tuple[float, ...]:
        assert self.group is not None
        o, h, lo, c = self.bar
        v = float(np.add.reduceat(np.asarray(self.volumes, dtype=np.float64), [0])[0])
        bar = (self.group * self.higher_ms, o, h, lo, c, v, *self.latest)
        self.group = None
        return bar

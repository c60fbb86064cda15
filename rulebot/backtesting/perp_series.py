"""The perpetual's own series on a backtest's bars: what `funding`, `mark` and `open_interest`
read in a rule.

`funding` at a bar is the rate of the latest funding payment known at that bar's close: each
payment is placed on the first bar opening at or after its funding time, the bar the backtest
charges it on (`funding_bar_index`), and holds until the next one, so a bar never sees a rate
paid after it. Before the first payment, and after the last interval the file covers, it is na.
A rule that reads a series the data does not have is an error, located at the read: a backtest
that quietly reads na there would never trade and never say why. A read the rule guards itself
(`nz(funding)`, `na(funding)`, see `rulebot.lang.guarded`) is na on such data instead, and the
backtest says so in a note.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from rulebot.data.candles import FundingRates
from rulebot.data.funding_time import HOUR_MS, funding_times
from rulebot.graph.clocks import BarColumns
from rulebot.lang import ir
from rulebot.lang.diagnostics import Span
from rulebot.lang.guarded import unguarded_perp_reads


class MissingSeries(Exception):
    """A rule reads a perpetual series the backtest's data does not have."""


def funding_bar_index(funding: FundingRates, bars: BarColumns) -> np.ndarray:
    """For each payment, the first bar opening at or after its funding time (its stamp rounded
    to the hour: `funding_times`); `len(bars)` for a payment after the last bar."""
    due = funding_times(funding.timestamp, funding.interval_ms)
    return np.searchsorted(bars.timestamp, due, side="left")


def funding_series(funding: FundingRates, bars: BarColumns) -> np.ndarray:
    """The funding rate known at each bar: the latest payment placed on it or before, na before
    the first payment and once the bar opens after the last interval the file covers."""
    n = len(bars)
    series = np.full(n, np.nan)
    if len(funding) == 0 or n == 0:
        return series
    index = funding_bar_index(funding, bars)
    latest = np.searchsorted(index, np.arange(n), side="right") - 1
    known = latest >= 0
    series[known] = np.asarray(funding.rate, dtype=np.float64)[latest[known]]
    interval = funding.interval_ms or HOUR_MS
    covered_until = int(funding_times(funding.timestamp[-1:], funding.interval_ms)[0]) + interval
    series[bars.timestamp > covered_until] = np.nan
    return series


def with_perp_series(
    strategy: ir.Strategy,
    bars: Mapping[str, BarColumns],
    funding: Mapping[str, FundingRates],
) -> dict[str, BarColumns]:
    """`bars` with the perpetual series the strategy reads placed on them; `funding` holds the
    funding rates the backtest has, by market. Raises `MissingSeries` for a series it lacks and
    reads unguarded; one it reads only inside `nz`/`na` is na on every bar (`absent_series`)."""
    placed = dict(bars)
    unguarded = unguarded_perp_reads(strategy)
    for market, name, span in strategy.perp_reads:
        if market not in placed or getattr(placed[market], name) is not None:
            continue
        if name != "funding" or market not in funding:
            if (market, name) in unguarded:
                raise MissingSeries(_missing(strategy, market, name, unguarded[market, name]))
            placed[market] = replace(placed[market], **{name: np.full(len(placed[market]), np.nan)})
            continue
        series = funding_series(funding[market], placed[market])
        if np.isnan(series).all():
            raise MissingSeries(
                f"{_where(strategy, span)}: the rule reads `funding` of {market}, but the funding "
                f"rates given ({funding[market].source or 'no name'}) do not cover the "
                f"backtest's bars; give a funding file for the same period"
            )
        placed[market] = replace(placed[market], funding=series)
    return placed


def absent_series(strategy: ir.Strategy, placed: Mapping[str, BarColumns]) -> tuple[str, ...]:
    """Notes for the series the rule reads only inside `nz`/`na` and the data does not have
    (`placed`: what `with_perp_series` returned)."""
    unguarded = unguarded_perp_reads(strategy)
    notes = []
    for market, name in sorted({(market, name) for market, name, _ in strategy.perp_reads}):
        column = getattr(placed[market], name) if market in placed else None
        if (market, name) in unguarded or column is None or not np.isnan(column).all():
            continue
        notes.append(
            f"`{name}` of {market}: the data has none, so it is na on every bar "
            f"(the rule reads it inside nz()/na(), which say what that means)"
        )
    return tuple(notes)


def _missing(strategy: ir.Strategy, market: str, name: str, span: Span) -> str:
    where = _where(strategy, span)
    if name == "funding":
        return (
            f"{where}: the rule reads `funding` of {market}, but the backtest has no funding "
            f"rates for {market}; give them with `--funding FILE` (`rulebot data download` "
            f"fetches them)"
        )
    what = {"mark": "mark prices", "open_interest": "open interest"}[name]
    return (
        f"{where}: the rule reads `{name}` of {market}, but backtest data has no {what} "
        f"(candle and funding files do not carry them); `{name}` is read live only"
    )


def _where(strategy: ir.Strategy, span: Span) -> str:
    return f"{strategy.path}:{span.line}:{span.col}"


__all__ = [
    "MissingSeries",
    "absent_series",
    "funding_bar_index",
    "funding_series",
    "with_perp_series",
]

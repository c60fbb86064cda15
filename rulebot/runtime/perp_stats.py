"""The perpetual's series on live bars: what `funding`, `mark` and `open_interest` read.

The venue's market stats stream says, for each perpetual, the rate of its last funding, its mark
price and its open interest. The engine keeps the latest it has heard per market, and a bar that
closes takes those values: what was known at its close, as a backtest's `funding` is the latest
payment placed on or before the bar. A market the stream has not spoken of yet reads na.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from rulebot.runtime.messages import Bar
from rulebot.venues.lighter.events import MarketStatsChanged


def with_perp_stats(bar: Bar, latest: Mapping[str, MarketStatsChanged]) -> Bar:
    """`bar` with its market's latest stats (unchanged when there are none yet)."""
    stats = latest.get(bar.market)
    if stats is None:
        return bar
    return replace(
        bar,
        funding=float(stats.funding_rate),
        mark=float(stats.mark_price),
        open_interest=float(stats.open_interest),
    )

"""W514: a rule reads a perpetual's series (`funding`, `mark`, `open_interest`) that the data
given to `rulebot lint --data` does not carry.

A candle file has no funding rates and no mark prices or open interest: a backtest of the rule
on it stops with an error (`funding` needs `--funding FILE` beside it; `mark` and
`open_interest` are read live only), unless the rule reads it only inside `nz`/`na`, when the
backtest reads na there. Lint says so before the backtest does. It speaks only when
data files are given: without them, what the backtest reads is not decided yet.
"""

from __future__ import annotations

from rulebot.lang import ir
from rulebot.lang.diagnostics import Diagnostic, Severity
from rulebot.lang.guarded import unguarded_perp_reads
from rulebot.price_scale import PriceData


def perp_data_warnings(strategy: ir.Strategy, prices: PriceData) -> list[Diagnostic]:
    """One W514 per perpetual series a market's given data lacks, at the rule's first read."""
    found = []
    seen: set[tuple[str, str]] = set()
    unguarded = unguarded_perp_reads(strategy)
    for market, name, span in strategy.perp_reads:
        origin = _given(strategy, market, prices)
        if origin is None or (market, name) in seen:
            continue
        seen.add((market, name))
        if name == "funding":
            message = f"`funding` of {market}: {origin} has no funding rates"
            help_text = (
                "a backtest on it needs the funding too: `rulebot backtest --funding FILE` "
                "(`rulebot data download` fetches both)"
            )
        else:
            what = "mark prices" if name == "mark" else "open interest"
            message = f"`{name}` of {market}: {origin} has no {what}"
            help_text = f"`{name}` is read live only; a backtest of this rule stops with an error"
        if (market, name) not in unguarded:
            help_text = (
                "the rule reads it only inside nz()/na(): a backtest on this data reads na "
                "there on every bar, and says so"
            )
        found.append(Diagnostic("W514", message, span, Severity.WARNING, help_text))
    return found


def _given(strategy: ir.Strategy, market: str, prices: PriceData) -> str | None:
    """Where the data given for `market` comes from, in words (None: no file was given)."""
    if prices.by_market and market in prices.by_market:
        return prices.by_market[market].origin
    if prices.every is not None and market == strategy.markets[0]:
        return prices.every.origin
    return None

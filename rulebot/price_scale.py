"""W511: a stop or target given as a price distance at least the market's whole price.

`stop_loss 2` is a distance of 2 in price. On a market near 0.1 a long's stop would sit below
zero and a short's needs the price to rise twentyfold: the stop never fires, and the author
almost surely meant `stop_loss 2%`. To see that, lint needs the market's price. It takes it
from the bars the rule would be backtested on: a data file given to `rulebot lint --data`
(`FILE` for each rule's market, `MARKET=FILE` for one market), else the shipped series of that
market. Lint never asks a venue, so a market with neither is not checked. The price is the
median close of those bars; the warning fires when a constant distance (a number or a param's
default) is at least that price.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from rulebot.data.candles import Candles, load_candles, shipped_candles
from rulebot.data.shipped import SHIPPED_MARKETS, SHIPPED_QUOTES
from rulebot.lang import ir
from rulebot.lang.constants import evaluate
from rulebot.lang.diagnostics import Diagnostic, Severity, Source

_SYMBOL = re.compile(r"[A-Z0-9]{2,20}")


@dataclass(frozen=True, slots=True)
class MarketPrice:
    """A market's typical price and where it comes from, said in words."""

    price: float
    origin: str


@dataclass(frozen=True, slots=True)
class PriceData:
    """The data files given to lint: `every` for each rule's market, `by_market` for one."""

    every: MarketPrice | None = None
    by_market: dict[str, MarketPrice] | None = None

    def price(self, market: str) -> MarketPrice | None:
        """The price a rule trading `market` is measured against (None: not known)."""
        if self.by_market and market in self.by_market:
            return self.by_market[market]
        if self.every is not None:
            return self.every
        return _shipped_price(market)


def read_price_data(options: Sequence[str]) -> PriceData:
    """`--data FILE` and `--data MARKET=FILE` options, loaded; raises `DataError` on a bad file."""
    every: MarketPrice | None = None
    by_market: dict[str, MarketPrice] = {}
    for option in options:
        market, _, path = option.partition("=")
        if path and _SYMBOL.fullmatch(market):
            by_market[market] = _median(load_candles(path), f"the data in {path}")
        else:
            every = _median(load_candles(option), f"the data in {option}")
    return PriceData(every, by_market)


@cache
def _shipped_price(market: str) -> MarketPrice | None:
    name = SHIPPED_MARKETS.get(market)
    if name is None:
        return None
    quote = SHIPPED_QUOTES[market]
    return _median(shipped_candles(name), f"the shipped {market} data, priced in {quote}")


def _median(candles: Candles, origin: str) -> MarketPrice:
    return MarketPrice(float(np.median(candles.close)), origin)


def distance_warnings(strategy: ir.Strategy, source: Source, prices: PriceData) -> list[Diagnostic]:
    """A W511 warning for each constant price distance at least the market's price."""
    if len(strategy.markets) != 1:
        return []  # several markets take percentages only
    market = strategy.markets[0]
    known = prices.price(market)
    if known is None:
        return []
    defaults = {name: param.default for name, param in strategy.params.items()}
    found = []
    for protection in strategy.protections.values():
        if protection.mode != "distance" or not protection.value.info.constant:
            continue
        distance = evaluate(protection.value, defaults)
        if not isinstance(distance, int | float) or isinstance(distance, bool):
            continue
        if distance >= known.price:
            found.append(_warning(protection, distance, market, known, source))
    return found


def _warning(
    protection: ir.Protection, distance: float, market: str, known: MarketPrice, source: Source
) -> Diagnostic:
    span = protection.value.info.span
    written = _text(source, span.line, span.col, span.end_line, span.end_col) or _number(distance)
    times = distance / known.price
    kind = protection.kind
    return Diagnostic(
        "W511",
        f"`{kind} {written}` is a price distance of {_number(distance)}, "
        f"{_times(times)} {market}'s price (about {known.price:.3g}, the median close of "
        f"{known.origin}): it will almost surely never be reached",
        span,
        Severity.WARNING,
        _help(protection, written, distance),
    )


def _help(protection: ir.Protection, written: str, distance: float) -> str:
    """The likely fix: the same number read as a percentage of the entry price."""
    kind, value = protection.kind, protection.value
    if isinstance(value, ir.ParamRef):
        return (
            f"for {_number(distance)}% of the entry price give the param `{value.name}` as a "
            f"percentage: {_number(distance)}%"
        )
    if written.replace(".", "", 1).isdigit():
        return f"for {written}% of the entry price write `{kind} {written}%`"
    return f"give `{kind}` as a percentage of the entry price, e.g. `{kind} 2%`"


def _times(times: float) -> str:
    return f"{times:.0f} times" if times >= 10 else f"{times:.1f} times"


def _text(source: Source, line: int, col: int, end_line: int, end_col: int) -> str | None:
    """The source text of a one-line span."""
    if line != end_line:
        return None
    text = source.line(line)[col - 1 : end_col - 1].strip()
    return text or None


def _number(value: float) -> str:
    return f"{value:.6g}"

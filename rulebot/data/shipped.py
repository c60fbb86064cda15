"""The embedded default: the shipped series that stands for each market, and the starting equity.

With no data file and no network, `rulebot backtest` reads these series and `rulebot sim` (the
default venue of `rulebot run`) replays them, in this order (the sim's market ids). BTC is a
real BTC perpetual priced in USD, the units a Lighter trader sees; ETH, LTC, ETC and XMR are
spot pairs priced in BTC, kept for two-leg spreads whose legs share a quote; XRP is a USDT
perpetual with its funding rates. `quote` names the currency each series' prices are in, so
that whatever shows them can say so.

`STARTING_EQUITY` is what the sim's default account holds and what a backtest starts from, so
that a backtest and a run on the sim begin with the same money.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

STARTING_EQUITY = Decimal(10_000)
"""USDC in the sim's default account, and a backtest's initial equity (`backtest.initial_equity`
in rulebot.yaml overrides the latter)."""


@dataclass(frozen=True)
class ShippedMarket:
    """A market the shipped data stands for: its candle file, its quote, its funding file."""

    symbol: str
    candles: str
    quote: str
    funding: str | None = None


SHIPPED = (
    ShippedMarket("ETH", "eth_btc_5m", "BTC"),
    ShippedMarket("BTC", "btc_usd_perp_5m", "USD"),
    ShippedMarket("LTC", "ltc_btc_5m", "BTC"),
    ShippedMarket("ETC", "etc_btc_5m", "BTC"),
    ShippedMarket("XMR", "xmr_btc_5m", "BTC"),
    ShippedMarket("XRP", "xrp_usdt_perp_5m", "USDT", funding="xrp_usdt_perp_funding_8h"),
)
"""In the sim's market id order: ETH 0 and BTC 1, as on Lighter."""

SHIPPED_MARKETS = {market.symbol: market.candles for market in SHIPPED}
SHIPPED_FUNDING = {market.symbol: market.funding for market in SHIPPED if market.funding}
SHIPPED_QUOTES = {market.symbol: market.quote for market in SHIPPED}


def shipped_quote(markets: str | tuple[str, ...] | list[str]) -> str | None:
    """The currency the shipped prices of `markets` are in, when they share one (None when a
    market is not shipped, or the markets' quotes differ)."""
    symbols = [markets] if isinstance(markets, str) else list(markets)
    quotes = {SHIPPED_QUOTES.get(symbol) for symbol in symbols}
    if len(quotes) != 1 or None in quotes:
        return None
    return quotes.pop()

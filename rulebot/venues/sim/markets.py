"""The sim's markets: one `SimMarket` per candle series, its decimals derived from the data.

Market ids are 0, 1, ... in the order given (the shipped markets in `rulebot.data.shipped`
order: ETH 0 and BTC 1, as on Lighter). Decimals come from the median close, so the same data
always makes the same market: `price_decimals = 6 - ceil(log10(median close))` keeps about six
significant digits (lowered until the highest price fits Lighter's uint32 price field),
`size_decimals = ceil(log10(median close))` makes one size unit worth between 0.1 and 1 USDC at
the median (never below 0 decimals), and `min_base_amount` is the size worth
`min_quote_amount` at the median.

The shipped BTC is a USD-priced perpetual, as BTC is on Lighter: it trades with Lighter's own BTC
figures (`LIGHTER_BTC`). The shipped ETH, LTC, ETC and XMR candles are priced in BTC and XRP's in
USDT: the sim presents those numbers as they are, as if they were USDC (`rulebot sim` says
which currency they really are). A size is in the base coin whatever the quote, so the BTC-priced
ETH still takes Lighter's ETH sizes (`LIGHTER_ETH`: steps of 0.0001 ETH, at least 0.005 ETH);
its price decimals come from its data, since Lighter's two USD decimals would leave an ETH/BTC
price of 0.092 a single significant digit. Markets without captured Lighter figures (LTC, ETC,
XMR, XRP) take theirs from their data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import numpy as np

from rulebot.data.candles import (
    Candles,
    FundingRates,
    load_candles,
    load_funding,
    shipped_candles,
    shipped_funding,
)
from rulebot.data.shipped import SHIPPED
from rulebot.venues.sim.records import SimMarket

TAKER_FEE = Decimal("0.00028")  # Lighter's premium-account figures
MAKER_FEE = Decimal("0.00004")
MIN_QUOTE_AMOUNT = Decimal(10)
INITIAL_MARGIN_FRACTION = 1000  # 10%: 10x
MAINTENANCE_MARGIN_FRACTION = 500
SIGNIFICANT_DIGITS = 6
MAX_PRICE = (1 << 32) - 1
MAX_PRICE_DECIMALS = 10
MAX_SIZE_DECIMALS = 8


@dataclass(frozen=True)
class LighterFigures:
    """A market's units and minimum order as Lighter's `orderBookDetails` gives them;
    `price_decimals` None takes the prices' decimals from the data (a market whose prices are
    not in USD, as Lighter's are)."""

    size_decimals: int
    price_decimals: int | None
    min_base_amount: Decimal  # in base units

    def sizes_only(self) -> LighterFigures:
        """These figures for the same coin priced in another currency: sizes only."""
        return replace(self, price_decimals=None)


LIGHTER_BTC = LighterFigures(size_decimals=5, price_decimals=1, min_base_amount=Decimal("0.0002"))
"""Lighter's BTC perpetual: sizes in 0.00001 BTC, prices in 0.1 USD, at least 0.0002 BTC (and
10 USDC) an order."""
LIGHTER_ETH = LighterFigures(size_decimals=4, price_decimals=2, min_base_amount=Decimal("0.005"))
"""Lighter's ETH perpetual (tests/venues/lighter/captures/http_order_book_details.json): sizes
in 0.0001 ETH, prices in 0.01 USD, at least 0.005 ETH (and 10 USDC) an order."""
LIGHTER_FIGURES = {"BTC": LIGHTER_BTC, "ETH": LIGHTER_ETH}
"""Lighter's figures for the shipped markets it lists, from its real answers."""


@dataclass(frozen=True)
class MarketData:
    """A market and the history the sim replays in it."""

    market: SimMarket
    candles: Candles
    funding: FundingRates | None = None


def decimals_for(candles: Candles) -> tuple[int, int]:
    """(size_decimals, price_decimals) for a series, from its median and highest close."""
    closes = np.asarray(candles.close, dtype=np.float64)
    closes = closes[closes > 0]
    if not len(closes):
        raise ValueError(f"{candles.source or 'candles'}: no positive close to size a market by")
    magnitude = math.ceil(math.log10(float(np.median(closes))))
    price_decimals = min(max(SIGNIFICANT_DIGITS - magnitude, 0), MAX_PRICE_DECIMALS)
    highest = float(np.max(np.asarray(candles.high, dtype=np.float64)))
    while price_decimals > 0 and highest * 10**price_decimals > MAX_PRICE:
        price_decimals -= 1
    size_decimals = min(max(magnitude, 0), MAX_SIZE_DECIMALS)
    return size_decimals, price_decimals


def make_market(
    market_id: int,
    symbol: str,
    candles: Candles,
    *,
    taker_fee: Decimal = TAKER_FEE,
    maker_fee: Decimal = MAKER_FEE,
    min_quote_amount: Decimal = MIN_QUOTE_AMOUNT,
    lighter: LighterFigures | None = None,
) -> SimMarket:
    """The market for a candle series: its decimals and minimum size derived from the data (see
    the module's rules), or Lighter's own `lighter` figures when given."""
    if lighter is not None:
        size_decimals, price_decimals = lighter.size_decimals, lighter.price_decimals
        if price_decimals is None:
            price_decimals = decimals_for(candles)[1]
        min_base = int(lighter.min_base_amount.scaleb(size_decimals))
    else:
        size_decimals, price_decimals = decimals_for(candles)
        closes = np.asarray(candles.close, dtype=np.float64)
        median = Decimal(repr(float(np.median(closes[closes > 0]))))
        min_base = math.ceil(min_quote_amount.scaleb(size_decimals) / median)
    return SimMarket(
        market_id=market_id,
        symbol=symbol,
        size_decimals=size_decimals,
        price_decimals=price_decimals,
        min_base_amount=max(min_base, 1),
        min_quote_amount=min_quote_amount,
        taker_fee=taker_fee,
        maker_fee=maker_fee,
        initial_margin_fraction=INITIAL_MARGIN_FRACTION,
        maintenance_margin_fraction=MAINTENANCE_MARGIN_FRACTION,
    )


def shipped_symbols() -> tuple[str, ...]:
    """The symbols of `shipped_markets`, the markets of a sim started with no data, without
    loading their candles: what `rulebot lint` holds rulebot.yaml's markets against when the
    sim runs inside the bot (`rulebot check` asks that sim itself)."""
    return tuple(shipped.symbol for shipped in SHIPPED)


def shipped_figures(symbol: str, quote: str) -> LighterFigures | None:
    """Lighter's figures for a shipped market priced in `quote`: all of them in USD, the sizes
    only in another currency; None when Lighter's are not known."""
    figures = LIGHTER_FIGURES.get(symbol)
    if figures is None or quote == "USD":
        return figures
    return figures.sizes_only()


def shipped_markets() -> list[MarketData]:
    """The markets of the candles the project ships (ETH, BTC, LTC, ETC, XMR, XRP), ids 0..5;
    BTC, priced in USD, with Lighter's own BTC figures, and the BTC-priced ETH with Lighter's
    ETH sizes."""
    found = []
    for market_id, shipped in enumerate(SHIPPED):
        candles = shipped_candles(shipped.candles)
        funding = shipped_funding(shipped.funding) if shipped.funding else None
        lighter = shipped_figures(shipped.symbol, shipped.quote)
        market = make_market(market_id, shipped.symbol, candles, lighter=lighter)
        found.append(MarketData(market, candles, funding))
    return found


def markets_from_files(specs: Sequence[str]) -> list[MarketData]:
    """Markets from user files, ids in the order given. Each spec is `FILE`, `SYMBOL=FILE` or
    `SYMBOL=FILE,FUNDING_FILE`; without a symbol, the file name up to its first `_` or `.`,
    upper-cased, names the market (`eth_5m.csv` is ETH)."""
    found: list[MarketData] = []
    for market_id, spec in enumerate(specs):
        symbol, _, paths = spec.rpartition("=")
        candle_path, _, funding_path = paths.partition(",")
        symbol = symbol or symbol_of(candle_path)
        if any(data.market.symbol == symbol for data in found):
            raise ValueError(f"two data files for market {symbol}: name them SYMBOL=FILE")
        candles = load_candles(candle_path)
        funding = load_funding(funding_path) if funding_path else None
        found.append(MarketData(make_market(market_id, symbol, candles), candles, funding))
    return found


def symbol_of(path: str) -> str:
    """A market symbol from a data file's name: `eth_5m.csv` -> `ETH`."""
    stem = Path(path).name
    return stem.split("_", 1)[0].split(".", 1)[0].upper()

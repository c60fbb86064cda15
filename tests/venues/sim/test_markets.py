"""The sim's markets: ids, and decimals and minimums from Lighter's real figures where their prices
allow, else derived from the candles they replay."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from rulebot.data.candles import Candles
from rulebot.data.shipped import SHIPPED_MARKETS
from rulebot.venues.sim.markets import (
    LIGHTER_BTC,
    LIGHTER_ETH,
    LIGHTER_FIGURES,
    decimals_for,
    make_market,
    markets_from_files,
    shipped_figures,
    shipped_markets,
    symbol_of,
)

MAX_PRICE = (1 << 32) - 1
CAPTURES = Path(__file__).resolve().parents[1] / "lighter" / "captures"  # the real venue's answers


def test_the_shipped_markets_are_numbered_in_order_with_xrp_funding() -> None:
    markets = shipped_markets()
    assert [(m.market.market_id, m.market.symbol) for m in markets] == list(
        enumerate(SHIPPED_MARKETS)
    )
    assert [m.market.symbol for m in markets if m.funding is not None] == ["XRP"]
    for data in markets:
        market = data.market
        assert (market.taker_fee, market.maker_fee) == (Decimal("0.00028"), Decimal("0.00004"))
        assert (market.initial_margin_fraction, market.maintenance_margin_fraction) == (1000, 500)
        assert market.min_quote_amount == 10


def test_the_shipped_btc_is_lighters_btc_in_usd() -> None:
    """BTC is market 1 as on Lighter, in Lighter's units (sizes 0.00001 BTC, prices 0.1 USD,
    orders of 0.0002 BTC at least), replaying USD prices in the tens of thousands."""
    data = shipped_markets()[1]
    btc = data.market
    assert (btc.market_id, btc.symbol) == (1, "BTC")
    assert (
        (btc.size_decimals, btc.price_decimals)
        == (5, 1)
        == (
            LIGHTER_BTC.size_decimals,
            LIGHTER_BTC.price_decimals,
        )
    )
    assert btc.size_value(btc.min_base_amount) == Decimal("0.0002")
    assert btc.min_quote_amount == 10
    assert 10_000 < float(np.median(data.candles.close)) < 100_000
    assert data.funding is None


def test_the_btc_priced_eth_takes_lighters_eth_sizes_and_its_datas_prices() -> None:
    """Sizes are in ETH whatever the quote: Lighter's (0.0001 ETH steps, 0.005 ETH at least,
    as the captured orderBookDetails says); prices are in BTC, which Lighter's two USD decimals
    cannot carry, so their decimals come from the data like any market's."""
    captured = json.loads((CAPTURES / "http_order_book_details.json").read_text())
    [lighter] = [d for d in captured["order_book_details"] if d["symbol"] == "ETH"]
    data = shipped_markets()[0]
    eth = data.market
    assert (eth.market_id, eth.symbol) == (0, "ETH") == (lighter["market_id"], lighter["symbol"])
    assert eth.size_decimals == lighter["supported_size_decimals"] == LIGHTER_ETH.size_decimals
    assert eth.size_value(eth.min_base_amount) == Decimal(lighter["min_base_amount"])
    assert Decimal(lighter["min_quote_amount"]) == eth.min_quote_amount
    assert eth.price_decimals == decimals_for(data.candles)[1] == 7 != LIGHTER_ETH.price_decimals
    assert shipped_figures("ETH", "USD") == LIGHTER_ETH  # in USD it would take all of them


@pytest.mark.parametrize("data", shipped_markets(), ids=lambda d: d.market.symbol)
def test_shipped_prices_keep_six_digits_and_fit_the_uint32_price(data) -> None:
    market = data.market
    median = float(np.median(data.candles.close))
    if market.symbol == "BTC":  # Lighter's own: 0.1 USD
        assert market.price_decimals == 1
    else:
        assert 10**5 <= median * 10**market.price_decimals < 10**6 + 1
    assert float(np.max(data.candles.high)) * 10**market.price_decimals <= MAX_PRICE


@pytest.mark.parametrize(
    "data",
    [d for d in shipped_markets() if d.market.symbol not in LIGHTER_FIGURES],
    ids=lambda d: d.market.symbol,
)
def test_shipped_sizes_without_lighters_figures_come_from_the_data(data) -> None:
    market = data.market
    median = float(np.median(data.candles.close))
    # one size unit is worth at most 1 USDC at the median, and at least 0.1 once the market has
    # size decimals at all (a market priced under 1 cannot go below whole units)
    unit = median / 10**market.size_decimals
    assert unit <= 1 and (unit > 0.1 or market.size_decimals == 0)
    # the minimum size is the least worth 10 USDC at the median
    assert market.min_base_amount * unit >= 10 > (market.min_base_amount - 1) * unit


def test_the_other_btc_priced_markets_read_as_their_numbers() -> None:
    ltc = shipped_markets()[2].market
    # closes around 0.017 BTC: ceil(log10(0.017)) = -1, so 7 price decimals and whole-LTC sizes
    assert (ltc.symbol, ltc.size_decimals, ltc.price_decimals) == ("LTC", 0, 7)


def candles(closes: list[float], highs: list[float] | None = None) -> Candles:
    n = len(closes)
    close = np.asarray(closes)
    high = np.asarray(highs) if highs is not None else close
    return Candles(np.arange(n, dtype=np.int64) * 60_000, close, high, close, close, np.ones(n))


def test_decimals_follow_the_median_close() -> None:
    assert decimals_for(candles([3500.0, 3600.0, 3400.0])) == (4, 2)
    assert decimals_for(candles([98_000.0, 101_000.0, 100_000.0])) == (5, 1)
    assert decimals_for(candles([0.0012, 0.0011, 0.0013])) == (0, 8)


def test_price_decimals_drop_until_the_highest_price_fits_uint32() -> None:
    size_decimals, price_decimals = decimals_for(candles([1.0, 1.0, 1.0], [1.0, 1.0, 9000.0]))
    assert 9000.0 * 10**price_decimals <= MAX_PRICE < 9000.0 * 10 ** (price_decimals + 1)
    assert size_decimals == 0


def test_min_base_amount_is_worth_the_min_quote_amount() -> None:
    market = make_market(3, "ETH", candles([3500.0, 3600.0, 3400.0]))
    assert market.min_base_amount == math.ceil(10 * 10**4 / 3500)
    assert market.notional(market.min_base_amount, 350_000) >= market.min_quote_amount


def write(path: Path, rows: list[tuple[int, float]]) -> str:
    lines = ["timestamp,open,high,low,close,volume"]
    lines += [f"{t},{p},{p},{p},{p},5" for t, p in rows]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_user_files_are_numbered_in_order_and_named(tmp_path: Path) -> None:
    btc = write(tmp_path / "btc_1m.csv", [(0, 100_000.0), (60_000, 100_100.0)])
    sol = write(tmp_path / "whatever.csv", [(0, 150.0), (60_000, 151.0)])
    funding = tmp_path / "sol_funding.csv"
    funding.write_text("timestamp,rate\n0,0.0001\n28800000,-0.0002\n")
    markets = markets_from_files([btc, f"SOL={sol},{funding}"])
    assert [(m.market.market_id, m.market.symbol) for m in markets] == [(0, "BTC"), (1, "SOL")]
    assert markets[0].funding is None
    assert markets[1].funding is not None and list(markets[1].funding.rate) == [0.0001, -0.0002]
    with pytest.raises(ValueError, match="two data files for market BTC"):
        markets_from_files([btc, f"BTC={sol}"])


def test_a_symbol_comes_from_the_file_name() -> None:
    assert symbol_of("data/eth_5m.csv") == "ETH"
    assert symbol_of("sol.parquet") == "SOL"

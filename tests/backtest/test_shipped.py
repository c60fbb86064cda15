"""The embedded default as `rulebot backtest` sees it with no data: the shipped single-market
rules trade BTC priced in USD, the arbitrage keeps its BTC-quoted legs, and every one trades."""

from __future__ import annotations

import numpy as np
import pytest

from rulebot import backtest, load_rules
from rulebot.data.shipped import STARTING_EQUITY
from tests.conftest import RULES


@pytest.mark.parametrize(
    "name", ["maker_reversion.rule", "mean_reversion.rule", "momentum.yaml", "ut_bot.rule"]
)
def test_the_shipped_single_market_rules_trade_btc_in_usd(name: str) -> None:
    (strategy,) = load_rules(RULES / name)
    assert strategy.markets == ("BTC",)
    result = backtest(strategy)
    assert result.quote == "USD"
    assert result.metrics.initial_equity == float(STARTING_EQUITY)
    assert result.metrics.trades >= 20
    prices = np.concatenate([result.trades["entry_price"], result.trades["exit_price"]])
    assert prices.min() > 30_000 and prices.max() < 50_000  # BTC in USD, January 2022
    # sizes read like BTC: a few percent of 10,000 USD is a few thousandths of a BTC
    assert 0 < result.trades["size"].max() < 0.1


def test_the_arbitrage_keeps_its_legs_priced_in_btc() -> None:
    (strategy,) = load_rules(RULES / "arbitrage.rule")
    assert strategy.markets == ("ETH", "LTC")
    result = backtest(strategy)
    assert result.quote == "BTC"
    assert result.metrics.trades > 0
    assert result.legs is not None
    leg_prices = result.legs.leg_trades["entry_price"]
    assert leg_prices.min() > 0 and leg_prices.max() < 1  # ETH and LTC in BTC

"""Which lets the report draws over the candles: prices, not distances or oscillators."""

from __future__ import annotations

import pytest

from rulebot.backtesting.price_lets import price_lets
from rulebot.lang.load import compile_text
from tests.conftest import strategy_text

PRICES = {
    "mid": "sma(close, 20)",
    "upper": "mid + 2 * atr(14)",
    "lower": "mid - stddev(close, 20) * 2",
    "top": "highest(high, 10)",
    "either": "if close > mid then mid else close",
    "above": "close * 1.01",
    "hlc": "typprice()",
    "lagged": "mid[3]",
    "trail": "if close > nz(trail[1]) then max(nz(trail[1]), close - atr(10)) else close + atr(10)",
}
NOT_PRICES = {
    "gap": "close - mid",
    "strength": "rsi(close, 14)",
    "band": "atr(14)",
    "spread": "stddev(close, 20)",
    "flipped": "100 - close",
    "squared": "close * close",
    "ratio": "close / mid",
    "other": "close@BTC",
    "volume_line": "sma(volume, 20)",
    "mixed": "if close > mid then mid else 0",
    "signal": "close > mid",
}


def lets(definitions: dict[str, str]) -> str:
    return "".join(f"let {name} = {value}\n" for name, value in definitions.items())


def test_prices_are_told_from_distances_and_oscillators() -> None:
    body = lets({**PRICES, **NOT_PRICES}) + "entry long when close > mid\n"
    compiled = compile_text(strategy_text(body), "t.rule")
    assert compiled.strategy is not None, [d.message for d in compiled.diagnostics]
    assert price_lets(compiled.strategy) == list(PRICES)


@pytest.mark.parametrize("name", sorted(NOT_PRICES))
def test_a_let_built_on_a_non_price_is_not_a_price(name: str) -> None:
    body = lets({"mid": "sma(close, 20)", "x": NOT_PRICES[name], "y": "x[1]"})
    compiled = compile_text(strategy_text(body + "entry long when close > mid\n"), "t.rule")
    assert compiled.strategy is not None, [d.message for d in compiled.diagnostics]
    assert price_lets(compiled.strategy) == ["mid"]

"""The perpetual's series (`funding`, and `mark`/`open_interest` where bars carry them) read the
same in both evaluators, on the shipped XRP perpetual's candles with its real funding placed on
them: directly, through a lookback, an indicator, a higher timeframe and another market."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from rulebot.backtesting.perp_series import funding_series
from rulebot.data.candles import shipped_funding
from rulebot.graph.clocks import BarColumns
from rulebot.graph.plan import plan
from rulebot.graph.streaming import FIELDS, StreamingEvaluator
from rulebot.graph.vectorised import evaluate, outputs
from rulebot.lang.load import compile_text
from tests.graph.conftest import candles, partner

RULES = {
    "direct": """
        entry short when funding > 0.01% and rsi(close, 14) > 70
        exit short when funding <= 0.01%
    """,
    "lookback_and_indicator": """
        let tilt = sma(funding, 6) - funding[12]
        entry long when tilt > 0 or na(funding)
        exit long when funding < 0.011%
    """,
    "higher_timeframe": """
        let hourly = funding@1h
        entry long when hourly > 0.012% and close > sma(close, 20)@1h
        exit long when hourly[2] <= 0.01%
    """,
    "other_market": """
        entry long when funding@BTC > 0.012% and funding < 0.013%
        exit long when funding@BTC < 0.011%
    """,
    "mark_and_open_interest": """
        let premium = (mark - close) / close
        entry long when premium > 0.01% and open_interest > open_interest[3]
        exit long when premium < 0
    """,
}


def xrp_with_perp_series() -> BarColumns:
    bars = candles("xrp_usdt_perp_5m.csv")
    funding = funding_series(shipped_funding("xrp_usdt_perp_funding_8h"), bars)
    assert np.isfinite(funding).sum() > 500 and np.isnan(funding).sum() > 500
    # mark and open interest as the venue would report them: real prices of these bars
    mark = (bars.high + bars.low) / 2
    return replace(bars, funding=funding, mark=mark, open_interest=np.cumsum(bars.volume))


def partner_with_funding(bars: BarColumns) -> BarColumns:
    """Another market (the BTC perpetual's prices) with the XRP funding a few payments later."""
    other = partner(bars, candles("btc_usd_perp_5m.csv"))
    assert bars.funding is not None
    return replace(other, funding=np.roll(bars.funding, 8 * 12))


def stream_outputs(graph, markets: dict[str, BarColumns]) -> dict[str, np.ndarray]:
    evaluator = StreamingEvaluator(graph)
    rows = {m: list(zip(*(b.series(f) for f in FIELDS), strict=True)) for m, b in markets.items()}
    recorded: dict[str, list] = {name: [] for name in graph.outputs}
    for i in range(len(markets["XRP"])):
        evaluator.update({m: rows[m][i] for m in markets})
        for name, value in evaluator.outputs().items():
            recorded[name].append(value)
    return {name: np.asarray(values) for name, values in recorded.items()}


@pytest.mark.parametrize("name", RULES)
def test_both_evaluators_read_the_perpetual_series_alike(name: str) -> None:
    text = f"strategy p\nmarket XRP\ntimeframe 5m\n{RULES[name]}\nsize 10% of equity\n"
    compiled = compile_text(text.replace("\n        ", "\n"), "p.rule")
    assert compiled.strategy is not None, [d.message for d in compiled.diagnostics]
    graph = plan(compiled.strategy)
    xrp = xrp_with_perp_series()
    markets = {"XRP": xrp}
    if name == "other_market":
        markets["BTC"] = partner_with_funding(xrp)
    vectorised = outputs(graph, evaluate(graph, markets))
    streamed = stream_outputs(graph, markets)
    signals = 0
    for output, column in vectorised.items():
        other = streamed[output]
        if column.dtype == np.bool_:
            np.testing.assert_array_equal(other.astype(bool), column, err_msg=output)
            signals += int(column.sum())
        else:
            other = other.astype(np.float64)
            np.testing.assert_array_equal(np.isnan(other), np.isnan(column), err_msg=output)
            np.testing.assert_allclose(other, column, rtol=1e-9, atol=0, err_msg=output)
    assert signals > 0, "the rule never fired: the comparison proves little"


def test_bars_without_the_series_read_na_in_both() -> None:
    text = "strategy p\nmarket XRP\ntimeframe 5m\nentry long when na(funding)\nsize 10% of equity\n"
    compiled = compile_text(text, "p.rule")
    assert compiled.strategy is not None
    graph = plan(compiled.strategy)
    bars = candles("xrp_usdt_perp_5m.csv")
    assert outputs(graph, evaluate(graph, bars))["entry.long"].all()
    evaluator = StreamingEvaluator(graph)
    evaluator.update(tuple(float(getattr(bars, f)[0]) for f in FIELDS[:6]))
    assert evaluator.value("entry.long") is True

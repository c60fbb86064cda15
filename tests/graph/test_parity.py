"""The promise: the vectorised and streaming evaluators agree on every bar of real data.

Booleans and signals exactly, numbers to 1e-9 relative (NaN exactly where the other has NaN),
for every shipped strategy on every shipped data set, and for every indicator the streaming
evaluator supports.
"""

from __future__ import annotations

import numpy as np
import pytest
from talib import abstract

from rulebot.graph.clocks import BarColumns
from rulebot.graph.plan import Graph, plan
from rulebot.graph.registry import registry
from rulebot.graph.streaming import StreamingEvaluator
from rulebot.graph.vectorised import evaluate, outputs
from rulebot.lang.load import compile_file, compile_text
from tests.conftest import RULES, SHIPPED_RULES, strategy_text
from tests.graph.conftest import CANDLE_FILES, candles, partner


def synthetic_state(bars: BarColumns) -> dict[str, np.ndarray]:
    """A position history that changes often, for rules that read the position."""
    n = len(bars)
    index = np.arange(n)
    position = ((index // 37) % 3 - 1).astype(np.float64)
    return {
        "bars_in_trade": np.where(position != 0, (index % 37).astype(np.float64), 0.0),
        "entry_price": np.where(position != 0, bars.close[index - index % 37], np.nan),
        "position": position,
    }


def stream(graph: Graph, markets: dict[str, BarColumns], state: dict[str, np.ndarray] | None):
    evaluator = StreamingEvaluator(graph)
    n = len(next(iter(markets.values())))
    rows = {
        m: list(
            zip(
                *(getattr(b, f) for f in ("timestamp", "open", "high", "low", "close", "volume")),
                strict=True,
            )
        )
        for m, b in markets.items()
    }
    recorded: dict[str, list] = {name: [] for name in graph.outputs}
    for i in range(n):
        bar_state = None if state is None else {k: float(v[i]) for k, v in state.items()}
        evaluator.update({m: rows[m][i] for m in markets}, bar_state)
        for name, value in evaluator.outputs().items():
            recorded[name].append(value)
    return {name: np.asarray(values) for name, values in recorded.items()}


def assert_same(graph: Graph, markets: dict[str, BarColumns], state=None) -> None:
    vectorised = outputs(graph, evaluate(graph, markets, state))
    streamed = stream(graph, markets, state)
    for name, column in vectorised.items():
        other = streamed[name]
        if column.dtype == np.bool_:
            np.testing.assert_array_equal(other.astype(bool), column, err_msg=name)
        else:
            other = other.astype(np.float64)
            np.testing.assert_array_equal(np.isnan(other), np.isnan(column), err_msg=name)
            np.testing.assert_allclose(other, column, rtol=1e-9, atol=0, err_msg=name)


def markets_for(strategy, name: str) -> dict[str, BarColumns]:
    bars = candles(name)
    result = {strategy.markets[0]: bars}
    others = [f for f in CANDLE_FILES if f != name]
    for market, other in zip(strategy.markets[1:], others, strict=False):
        result[market] = partner(bars, candles(other))
    return result


@pytest.mark.parametrize("data", CANDLE_FILES)
@pytest.mark.parametrize("rule", SHIPPED_RULES, ids=lambda p: p.name)
def test_shipped_strategies_agree_on_shipped_data(rule, data: str) -> None:
    strategy = compile_file(rule).strategy
    graph = plan(strategy)
    markets = markets_for(strategy, data)
    state = synthetic_state(markets[strategy.markets[0]])
    assert_same(graph, markets, state)


def streaming_functions() -> list[str]:
    return sorted(name for name, spec in registry().items() if spec.streaming)


def call_text(name: str) -> str:
    spec = registry()[name]
    args = ["close" for i in spec.inputs if i.column is None][: spec.required_inputs or None]
    if spec.variadic:
        args = ["close", "open"]
    text = f"{name}({', '.join(args)})"
    return text + (f".{spec.output_names()[0]}" if spec.multi_output else "")


@pytest.mark.parametrize("name", streaming_functions())
def test_every_streaming_indicator_agrees_on_real_data(name: str) -> None:
    spec = registry()[name]
    outputs_ = spec.output_names() if spec.multi_output else [None]
    lets = "\n".join(
        f"let x{k} = {call_text(name).rsplit('.', 1)[0] if output else call_text(name)}"
        + (f".{output}" if output else "")
        for k, output in enumerate(outputs_)
    )
    condition = " or ".join(f"x{k} > 0" for k in range(len(outputs_)))
    if spec.result == "bool":
        condition = " or ".join(f"x{k}" for k in range(len(outputs_)))
    compiled = compile_text(strategy_text(f"{lets}\nentry long when {condition}"), "t.rule")
    assert compiled.ok, [d.message for d in compiled.diagnostics]
    graph = plan(compiled.strategy)
    for data in ("eth_btc_5m.csv", "goog_1d.csv"):
        assert_same(graph, {"ETH": candles(data)})


def gapped(bars: BarColumns) -> BarColumns:
    keep = np.ones(len(bars), dtype=bool)
    keep[[5, 6, 7, 40, 100, 101, 230]] = False  # whole and partial hours go missing
    return BarColumns(
        *(getattr(bars, f)[keep] for f in ("timestamp", "open", "high", "low", "close", "volume"))
    )


def test_higher_timeframes_agree_with_gaps_in_the_data() -> None:
    body = (
        "let hourly = sma(close, 3)@1h\nlet daily_range = (high - low)@4h\n"
        "entry long when close > hourly and rsi(close, 14)@1h > 50 and daily_range > 0"
    )
    graph = plan(compile_text(strategy_text(body), "t.rule").strategy)
    bars = gapped(candles("eth_btc_5m.csv"))
    assert_same(graph, {"ETH": bars})
    hourly = outputs(graph, evaluate(graph, {"ETH": bars}))["let.hourly"]
    # the value changes only on bars that complete an hour (or follow a gap), never within it
    changes = np.flatnonzero(np.diff(np.nan_to_num(hourly)) != 0) + 1
    closes = (bars.timestamp[changes] + 300_000) % 3_600_000
    after_gap = np.diff(bars.timestamp)[changes - 1] > 300_000
    assert np.all((closes == 0) | after_gap)


def test_a_signal_never_changes_when_later_bars_arrive() -> None:
    """No lookahead: evaluating on bars[:k] gives the same first k values as on all bars."""
    for rule in SHIPPED_RULES:
        strategy = compile_file(rule).strategy
        graph = plan(strategy)
        full = markets_for(strategy, "eth_btc_5m.csv")
        everything = outputs(graph, evaluate(graph, full))
        for k in (50, 400, 2000):
            cut = {
                m: BarColumns(
                    *(
                        getattr(b, f)[:k]
                        for f in ("timestamp", "open", "high", "low", "close", "volume")
                    )
                )
                for m, b in full.items()
            }
            prefix = outputs(graph, evaluate(graph, cut))
            for name, column in prefix.items():
                np.testing.assert_array_equal(
                    column, everything[name][:k], err_msg=f"{rule.name} {name} @ {k}"
                )


def test_warmup_matches_talib_lookback_on_real_data() -> None:
    strategy = compile_file(RULES / "mean_reversion.rule").strategy
    graph = plan(strategy)
    values = evaluate(graph, candles("eth_btc_5m.csv"))
    z = np.asarray(values[graph.outputs["let.z"]])
    first = int(np.flatnonzero(~np.isnan(z))[0])
    assert first == graph.node("let.z").warmup == abstract.Function("SMA", timeperiod=20).lookback

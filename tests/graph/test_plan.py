"""Planning: shared subexpressions, folded constants, param values, warm-up, programs."""

from __future__ import annotations

import pytest
from talib import abstract

from rulebot.graph.plan import PlanError, plan
from rulebot.lang.load import compile_file, compile_text
from tests.conftest import RULES, strategy_text


def planned(body: str, **params: float):
    compiled = compile_text(strategy_text(body), "t.rule")
    assert compiled.ok, [d.message for d in compiled.diagnostics]
    return plan(compiled.strategy, params or None)


def ops(graph, op: str) -> list:
    return [n for n in graph.nodes if n.op == op]


def test_a_subexpression_written_three_times_is_one_node() -> None:
    graph = planned(
        "let a = sma(close, 20)\nentry long when close > sma(close, 20) and sma(close, 20) > open"
        "\nexit long when a < open"
    )
    assert len(ops(graph, "indicator")) == 1
    assert len(ops(graph, "column")) == 2  # close and open


def test_a_multi_output_indicator_is_computed_once() -> None:
    graph = planned("entry long when bbands(close).upper > close and bbands(close).lower < open")
    assert len(ops(graph, "indicator")) == 1
    assert sorted(n.value for n in ops(graph, "pick")) == [0, 2]


def test_constants_fold_with_param_values() -> None:
    body = "param k = 2 in 1..3\nentry long when close > open * ((k + 1) * 2%)"
    folded = planned(body)
    assert pytest.approx(0.06) in [n.value for n in ops(folded, "const")]
    assert [n.op for n in folded.nodes].count("*") == 1  # only `open * 0.06` is left to compute
    assert pytest.approx(0.08) in [n.value for n in ops(planned(body, k=3), "const")]


def test_param_values_reach_indicators_and_warmup() -> None:
    body = "param n = 20 in 10..50 step 10\nentry long when close > sma(close, n)"
    for n in (10, 50):
        graph = planned(body, n=n)
        (indicator,) = ops(graph, "indicator")
        assert dict(indicator.value[1]) == {"timeperiod": n}
        assert graph.warmup_bars == abstract.Function("SMA", timeperiod=n).lookback
    with pytest.raises(PlanError):
        planned(body, m=3)


def test_builtins_expand_to_primitives() -> None:
    graph = planned("entry long when crossover(close, ema(close, 10))")
    assert len(ops(graph, "lag")) == 2
    assert graph.warmup_bars == abstract.Function("EMA", timeperiod=10).lookback + 1
    zscore = planned("entry long when zscore(close, 30) > 2")
    assert {n.value[0] for n in ops(zscore, "indicator")} == {"SMA", "STDDEV"}


def test_recurrences_and_position_rules_become_programs() -> None:
    ut_bot = plan(compile_file(RULES / "ut_bot.rule").strategy)
    (program,) = ops(ut_bot, "program")
    assert program.value.recurrent and not program.value.reads_state
    assert program.value.max_lag == 1
    mean_reversion = plan(compile_file(RULES / "mean_reversion.rule").strategy)
    readers = ops(mean_reversion, "program")
    assert len(readers) == 2 and all(p.value.reads_state for p in readers)


def test_higher_timeframes_carry_their_warmup_in_base_bars() -> None:
    graph = planned("entry long when close > sma(close, 3)@1h")
    (resample,) = ops(graph, "resample")
    assert resample.warmup == (2 + 1) * 12 - 1


def test_order_forms_are_named_outputs_with_their_values() -> None:
    graph = planned(
        "param part = 50% in 25%..75% step 25%\npyramiding 2\n"
        "entry long limit at bbands(close, 20).lower for 3 bars when close > open\n"
        "entry short stop at low - atr(14) when close < open\n"
        "exit long part when close < open\n"
        "take_profit 50% at 2%\ntake_profit 50% at 1.5 * atr(14)",
        part=0.75,
    )
    assert graph.node("entry_level.long").op == "pick"
    assert graph.node("entry_level.short").op == "-"
    assert graph.node("entry_bars.long").value == 3
    assert graph.node("entry_bars.short").value == 1
    assert graph.node("exit_share.long").value == pytest.approx(0.75)
    assert "exit_share.short" not in graph.outputs
    assert graph.node("take.0").value == pytest.approx(0.02)
    assert graph.node("take_share.0").value == pytest.approx(0.5)
    assert graph.node("take.1").op == "*"
    assert graph.node("take_share.1").value == pytest.approx(0.5)
    # the levels count towards the warm-up like any signal
    assert graph.warmup_bars >= graph.node("entry_level.long").warmup == 19

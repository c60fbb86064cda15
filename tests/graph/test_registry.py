"""The registry is TA-Lib's own table: every function callable with its real signature."""

from __future__ import annotations

import pytest
import talib
from talib import abstract

from rulebot.graph.registry import RENAMED_TALIB, by_talib_name, registry
from rulebot.lang import ir
from rulebot.lang.load import compile_text
from tests.conftest import strategy_text

TALIB_FUNCTIONS = sorted(talib.get_functions())


def literal(value: object) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def call_text(name: str, *, keywords: bool, output: str | None) -> str:
    info = abstract.Function(name).info
    spec = by_talib_name(name)
    args = ["close" for i in spec.inputs if i.column is None]
    for param, default in info["parameters"].items():
        args.append(f"{param}={literal(default)}" if keywords else literal(default))
    text = f"{spec.name}({', '.join(args)})"
    return text + (f".{output}" if output else "")


def checked_call(text: str) -> ir.Call:
    compiled = compile_text(strategy_text(f"let x = {text}\nentry long when x > 0"), "t.rule")
    assert compiled.ok, [d.message for d in compiled.diagnostics]
    value = compiled.strategy.lets["x"].value
    assert isinstance(value, ir.Call)
    return value


@pytest.mark.parametrize("name", TALIB_FUNCTIONS)
def test_every_talib_function_is_callable_with_its_real_signature(name: str) -> None:
    info = abstract.Function(name).info
    outputs = info["output_names"]
    for keywords in (False, True):
        for output in outputs if len(outputs) > 1 else [None]:
            call = checked_call(call_text(name, keywords=keywords, output=output))
            assert call.function == by_talib_name(name).name
            assert [p for p, _ in call.params] == list(info["parameters"])
            assert call.output == output
            # warm-up is TA-Lib's own lookback for these parameters
            assert call.info.warmup == abstract.Function(name).lookback


@pytest.mark.parametrize(
    "name", [n for n in TALIB_FUNCTIONS if len(abstract.Function(n).info["output_names"]) > 1]
)
def test_multi_output_functions_accept_their_short_output_names(name: str) -> None:
    spec = by_talib_name(name)
    for short, full in zip(spec.output_names(), spec.outputs, strict=True):
        call = checked_call(call_text(name, keywords=False, output=short))
        assert call.output == full


def test_registry_holds_every_talib_function_once_and_rulebots_own() -> None:
    table = registry()
    talib_names = {spec.talib_name for spec in table.values() if spec.talib_name}
    assert talib_names == set(TALIB_FUNCTIONS)
    for own in ("crossover", "crossunder", "change", "zscore", "nz", "na", "abs", "max", "min"):
        assert table[own].talib_name is None
    for talib_name, name in RENAMED_TALIB.items():
        assert table[name].talib_name == talib_name


def test_implicit_price_inputs_read_the_bar_and_may_be_given_explicitly() -> None:
    implicit = checked_call("atr(14)")
    assert [(c.field, c.market) for c in implicit.inputs] == [
        ("high", "ETH"),
        ("low", "ETH"),
        ("close", "ETH"),
    ]
    explicit = checked_call("atr(high@BTC, low@BTC, close@BTC, 14)")
    assert [type(i).__name__ for i in explicit.inputs] == ["OnBars"] * 3
    assert explicit.params[0][0] == "timeperiod"


def test_max_and_min_are_elementwise_and_highest_lowest_are_talib_max_min() -> None:
    assert checked_call("max(close, open, high)").function == "max"
    highest = checked_call("highest(high, 20)")
    assert registry()[highest.function].talib_name == "MAX"
    assert highest.info.warmup == 19


def test_the_function_reference_in_docs_is_generated_from_the_registry() -> None:
    from rulebot.graph.reference import functions_markdown
    from tests.conftest import ROOT

    assert (ROOT / "docs" / "functions.md").read_text(encoding="utf-8") == functions_markdown()

"""The checker's semantics: names, series, recurrences, contexts, units, sizing and warm-up."""

from __future__ import annotations

import dataclasses

import pytest
from talib import abstract

from rulebot.lang import ir
from rulebot.lang.load import compile_file, compile_text
from tests.conftest import RULES, SHIPPED_RULES, strategy_text


def codes(compiled) -> list[str]:
    return [d.code for d in compiled.diagnostics]


def errors(compiled) -> list[str]:
    return [d.code for d in compiled.diagnostics if d.is_error]


@pytest.mark.parametrize("path", SHIPPED_RULES, ids=lambda p: p.name)
def test_shipped_rules_compile_clean(path) -> None:
    compiled = compile_file(path)
    assert compiled.diagnostics == []
    assert compiled.strategy is not None
    assert compiled.strategy.name == path.stem


def test_warmup_is_the_longest_talib_lookback_a_signal_reads() -> None:
    strategy = compile_file(RULES / "mean_reversion.rule").strategy
    lookbacks = [
        abstract.Function("SMA", timeperiod=20).lookback,
        abstract.Function("STDDEV", timeperiod=20).lookback,
        abstract.Function("RSI", timeperiod=14).lookback,
        abstract.Function("ATR", timeperiod=14).lookback,
    ]
    assert strategy.warmup_bars == max(lookbacks)


def test_lookback_adds_to_warmup_and_negative_offsets_are_lookahead(compile_rule) -> None:
    ok = compile_rule("let x = sma(close, 10)[5]\nentry long when x > 0")
    assert ok.strategy.lets["x"].value.info.warmup == 9 + 5
    bad = compile_rule("entry long when close > close[-1]")
    assert errors(bad) == ["E310"]
    assert (bad.diagnostics[0].span.line, bad.diagnostics[0].span.col) == (4, 25)
    assert bad.diagnostics[0].message.startswith("`close[-1]` looks into the future")


def test_a_param_whose_range_goes_negative_cannot_be_an_offset(compile_rule) -> None:
    bad = compile_rule("param lag = 1 in -2..3\nentry long when close > close[lag]")
    assert errors(bad) == ["E310"]
    assert "lag = -2" in bad.diagnostics[0].help
    assert errors(compile_rule("entry long when close > close[close]")) == ["E311"]


def test_a_let_may_read_its_own_past_but_no_other_cycle(compile_rule) -> None:
    ut_bot = compile_file(RULES / "ut_bot.rule").strategy
    assert ut_bot.lets["stop"].recurrent
    assert not ut_bot.lets["loss"].recurrent
    assert errors(compile_rule("let a = a + 1\nentry long when a > 0")) == ["E312"]
    assert errors(compile_rule("let a = a[0] + 1\nentry long when a > 0")) == ["E312"]
    cycle = compile_rule("let a = b[1] + 1\nlet b = a * 2\nentry long when a > b")
    assert errors(cycle) == ["E313"]


def test_lets_may_be_written_in_any_order_and_come_out_in_dependency_order(compile_rule) -> None:
    compiled = compile_rule("let b = a * 2\nlet a = sma(close, 5)\nentry long when b > a")
    assert list(compiled.strategy.lets) == ["a", "b"]


def test_other_markets_and_higher_timeframes_are_series(compile_rule) -> None:
    compiled = compile_rule(
        "let ratio = close / close@BTC\nlet trend = sma(close, 20)@1h\n"
        "entry long when ratio > 1 and close > trend"
    )
    assert compiled.ok
    strategy = compiled.strategy
    assert strategy.feeds == {("ETH", "5m"), ("BTC", "5m"), ("ETH", "1h")}
    trend = strategy.lets["trend"].value
    assert isinstance(trend, ir.OnBars) and trend.timeframe == "1h"
    # a 1h value needs 20 closed hours of 12 five-minute bars
    assert trend.info.warmup == (19 + 1) * 12 - 1
    assert errors(compile_rule("entry long when close > close@1m")) == ["E314"]
    assert errors(compile_rule("entry long when close > close@btc")) == ["E205"]


def test_conditions_and_numbers_do_not_mix(compile_rule) -> None:
    assert errors(compile_rule("entry long when close")) == ["E402"]
    assert errors(compile_rule("entry long when close and open > 1")) == ["E402"]
    assert errors(compile_rule("entry long when (close > open) + 1 > 0")) == ["E402"]


def test_units_are_checked(compile_rule) -> None:
    assert errors(compile_rule("entry long when close + 2% > open")) == ["E404"]
    assert compile_rule("entry long when close > open * (1 + 2%)").ok
    assert errors(compile_rule("entry long when bars_in_trade > 5%")) == ["E404"]
    assert errors(compile_rule("entry long when sma(close, 5%) > 0")) == ["E404"]


def test_protections_read_percent_distance_or_level(compile_rule) -> None:
    text = strategy_text("entry long when close > open\ntake_profit at highest(high, 20)")
    text = text.replace("stop_loss 2%", "stop_loss 2 * atr(14)\ntrailing_stop 1.5%")
    strategy = compile_text(text, "t.rule").strategy
    modes = {k: p.mode for k, p in strategy.protections.items()}
    assert modes == {"stop_loss": "distance", "trailing_stop": "percent", "take_profit": "level"}
    trailing = strategy.protections["trailing_stop"].value
    assert isinstance(trailing, ir.Const) and trailing.value == pytest.approx(0.015)
    bad = compile_text(text.replace("stop_loss 2 * atr(14)", "stop_loss 5 bars"), "t.rule")
    assert errors(bad) == ["E101"]  # `bars` is a unit of amounts, not of distances


@pytest.mark.parametrize(
    ("size", "mode", "value"),
    [
        ("size 2% of equity", "equity", 0.02),
        ("size 2%", "equity", 0.02),
        ("size 0.1 ETH", "base", 0.1),
        ("size 250 USDC", "quote", 250),
        ("size risk 1% of equity", "risk_equity", 0.01),
        ("size risk 40 USDC", "risk_quote", 40),
        ("size 100% of cash", "cash", 1.0),
        ("size 50% of cash", "cash", 0.5),
    ],
)
def test_sizing_modes(size: str, mode: str, value: float) -> None:
    text = strategy_text("entry long when close > open").replace("size 1% of equity", size)
    strategy = compile_text(text, "t.rule").strategy
    assert strategy.sizing.mode == mode
    assert strategy.sizing.value.value == pytest.approx(value)


def test_sizing_mistakes(compile_rule) -> None:
    def sized(size: str, stop: str = "stop_loss 2%"):
        text = strategy_text("entry long when close > open")
        return compile_text(
            text.replace("size 1% of equity", size).replace("stop_loss 2%", stop), "t.rule"
        )

    assert errors(sized("size 0.1")) == ["E404"]
    assert errors(sized("size 0.1 BTC")) == ["E404"]
    assert errors(sized("size 2 of equity")) == ["E404"]
    assert errors(sized("size risk 1%", stop="take_profit 3%")) == ["E208"]
    assert errors(sized("size 1 of cash")) == ["E404"]  # a share of cash is a percentage
    assert errors(sized("size 100 USDC of cash")) == ["E404"]
    assert errors(sized("size risk 1% of cash")) == ["E404"]
    assert errors(sized("size 150% of cash")) == ["E406"]  # no more cash than there is
    assert errors(sized("size 0% of cash")) == ["E406"]
    overdrawn = sized("size 150% of cash").diagnostics[0]
    assert (overdrawn.span.line, overdrawn.help) == (
        5,
        "write `size 100% of cash`, or size from equity: `size 200% of equity`",
    )
    cash_limit = sized("size 1% of equity\nrisk { max_drawdown 10% of cash }")
    assert errors(cash_limit) == ["E404"]
    assert "does not take a share of cash" in cash_limit.diagnostics[0].message


def test_risk_limits_carry_their_unit() -> None:
    strategy = compile_file(RULES / "mean_reversion.rule").strategy
    shown = {name: (limit.mode, limit.value) for name, limit in strategy.limits.items()}
    assert shown == {
        "max_position": ("percent", pytest.approx(0.20)),
        "max_daily_loss": ("percent", pytest.approx(0.03)),
        "max_drawdown": ("percent", pytest.approx(0.10)),
        "cooldown": ("bars", 5),
        "max_open_orders": ("count", 4),
    }


def test_params_declare_their_search_space(compile_rule) -> None:
    compiled = compile_rule(
        "param n = 20 in 10..30 step 10\nparam k = 2% in 1%..3% step 1%\nparam short_ok = true\n"
        "param ma = 0 in [0, 1, 3]\n"
        "entry long when ma(close, n, ma) > close * (1 + k) and short_ok"
    )
    params = compiled.strategy.params
    assert params["n"].kind == "int" and params["n"].search_values() == (10, 20, 30)
    assert params["k"].unit == "percent"
    assert params["k"].search_values() == pytest.approx((0.01, 0.02, 0.03))
    assert params["short_ok"].search_values() == (True, False)
    assert params["ma"].search_values() == (0, 1, 3)


def test_warnings_do_not_stop_a_strategy(compile_rule) -> None:
    compiled = compile_text(
        "strategy t\nmarket ETH\ntimeframe 5m\nparam unused = 3\nlet spare = sma(close, 3)\n"
        "entry long when close > open\nexit short when close < open\nsize 1% of equity\n",
        "t.rule",
    )
    assert compiled.ok and compiled.strategy is not None
    assert sorted(codes(compiled)) == ["W501", "W502", "W503", "W504"]


def test_every_error_in_a_file_is_reported() -> None:
    compiled = compile_text(
        "strategy t\nmarket ETH\ntimeframe 5m\nlet a = (close +\nlet b = smaa(close, 3)\n"
        "entry long when close > close[-1]\nentry short when a >\nsize 1% of equity\n",
        "t.rule",
    )
    assert sorted(errors(compiled)) == ["E103", "E103", "E201", "E310"]


def strip_spans(value: object) -> object:
    """A comparable form of IR with every source position (and the source text) removed."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (
            type(value).__name__,
            tuple(
                (f.name, strip_spans(getattr(value, f.name)))
                for f in dataclasses.fields(value)
                if f.name not in ("span", "path", "source")
            ),
        )
    if isinstance(value, dict):
        return tuple(sorted((k, strip_spans(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(strip_spans(v) for v in value)
    if isinstance(value, frozenset):
        return tuple(sorted(value))
    return value


MOMENTUM_NATIVE = """
strategy momentum
market BTC
timeframe 5m
param fast = 12 in 6..18 step 3
param slow = 26 in 20..50 step 6
param adx_min = 20 in 15..30 step 5
let fast_ema = ema(close, fast)
let slow_ema = ema(close, slow)
let trending = adx(14) > adx_min
let histogram = macd(close, fast, slow, 9).hist
entry long when crossover(fast_ema, slow_ema) and histogram > 0 and trending
entry short when crossunder(fast_ema, slow_ema) and histogram < 0 and trending
exit long when crossunder(fast_ema, slow_ema)
exit short when crossover(fast_ema, slow_ema)
size 3% of equity
stop_loss 2%
trailing_stop 3 * atr(14)
risk { max_position 30%; max_daily_loss 4%; max_drawdown 15%; cooldown 3 bars }
"""


def test_yaml_and_native_forms_build_the_same_strategy() -> None:
    from_yaml = compile_file(RULES / "momentum.yaml")
    native = compile_text(MOMENTUM_NATIVE, "momentum.rule")
    assert from_yaml.ok and native.ok
    assert strip_spans(from_yaml.strategy) == strip_spans(native.strategy)


@pytest.mark.parametrize(
    ("value", "line", "col"),
    [
        ("  long: close > smaa(close, 5)\n", 7, 17),
        ('  long: "close > smaa(close, 5)"\n', 7, 18),
        ("  long: |\n    close >\n      smaa(close, 5)\n", 9, 7),
    ],
    ids=["plain", "quoted", "block"],
)
def test_yaml_errors_point_inside_the_yaml_file(value: str, line: int, col: int) -> None:
    text = (
        "strategy: t\nmarket: ETH\ntimeframe: 5m\nsize: 1% of equity\nstop_loss: 2%\n"
        "entry:\n" + value
    )
    compiled = compile_text(text, "t.yaml")
    assert errors(compiled) == ["E201"]
    span = compiled.diagnostics[0].span
    assert (span.line, span.col) == (line, col)


def test_max_with_a_bar_count_warns_that_highest_was_probably_meant(compile_rule) -> None:
    compiled = compile_rule("entry long when close > max(high, 20)")
    assert compiled.ok and codes(compiled) == ["W506"]
    assert "highest(..., 20)" in compiled.diagnostics[0].help
    assert codes(compile_rule("entry long when close > max(high, low)")) == []

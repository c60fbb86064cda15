"""Param overrides (`backtest(params=...)`, `rulebot optimize --set`) go through the checker the
rule's own params go through: the same located diagnostics, headed by the override that caused
them, never a crash inside numpy or a value silently truncated."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rulebot import BacktestError, backtest, load_rules
from rulebot.backtesting.fills import FillSettings
from rulebot.cli import app
from rulebot.lang.load import compile_text

LAGGED = """\
strategy lagged
market BTC
timeframe 5m

param k = 1 in 1..3
param n = 14

entry long when close > close[k] and rsi(close, n) < 40
exit long when close < close[k]

size 2% of equity
stop_loss 2%
"""
FREE = FillSettings()


@pytest.fixture
def rule(tmp_path: Path) -> Path:
    path = tmp_path / "lagged.rule"
    path.write_text(LAGGED)
    return path


def refused(rule: Path, **params: object) -> str:
    (strategy,) = load_rules(rule)
    with pytest.raises(BacktestError) as caught:
        backtest(strategy, params=params, days=1, settings=FREE)
    return str(caught.value)


def test_a_negative_lookback_given_to_a_backtest_is_lookahead(rule: Path) -> None:
    text = refused(rule, k=-1)
    assert text.startswith("the override `params['k'] = -1` does not fit `lagged`:")
    assert f"{rule}:8:25: error[E310]: `close[k]` looks into the future" in text
    assert f"{rule}:9:24: error[E310]" in text
    assert "with k = -1 the offset is -1" in text


def test_a_fraction_given_for_a_lookback_is_refused_not_truncated(rule: Path) -> None:
    text = refused(rule, k=1.5)
    assert "`params['k'] = 1.5`" in text
    assert f"{rule}:8:31: error[E311]: a lookback offset must be a whole number of bars, " in text


def test_an_indicator_period_given_to_a_backtest_is_checked_as_declared_ones(rule: Path) -> None:
    assert f"{rule}:8:49: error[E405]: TA-Lib rejects `rsi` with timeperiod = 1" in refused(
        rule, n=1
    )
    whole = refused(rule, k=2, n=14.5)
    assert "`params['n'] = 14.5`" in whole and "`params['k']" not in whole
    assert "error[E407]: the `timeperiod` of `rsi` must be a whole number, found 14.5" in whole


def test_unknown_and_mistyped_params_are_named(rule: Path) -> None:
    assert "`lagged` has no param 'm' (its params: k, n)" in refused(rule, m=3)
    assert f"`k` is a number ({rule}:5:1)" in refused(rule, k="2")


def test_an_override_the_rule_can_take_runs_as_declared(rule: Path) -> None:
    (strategy,) = load_rules(rule)
    given = backtest(strategy, params={"k": 4}, days=2, settings=FREE)
    written = compile_text(LAGGED.replace("param k = 1 in 1..3", "param k = 4"), "k4.rule")
    assert written.strategy is not None
    declared = backtest(written.strategy, days=2, settings=FREE)
    assert given.params["k"] == 4 and given.metrics.trades > 0
    assert given.trade_dicts() == declared.trade_dicts()


@pytest.mark.parametrize(
    ("override", "found"),
    [
        ("k=-1..1:1", ":8:25: error[E310]"),
        ("k=1.5", ":8:31: error[E311]"),
        ("k=1..2:0.5", ":8:31: error[E311]"),
        ("n=1..3", ":8:49: error[E405]"),
    ],
)
def test_optimize_set_overrides_get_the_rules_diagnostics(
    rule: Path, override: str, found: str
) -> None:
    result = CliRunner().invoke(
        app, ["optimize", str(rule), "--set", override, "--days", "2", "--jobs", "1"]
    )
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    assert f"the override `{override}` does not fit `lagged`:" in result.output
    assert f"{rule}{found}" in result.output


def test_a_declared_range_with_a_fractional_step_is_checked_at_its_fractions() -> None:
    """The checker visits a fractional value of a range, not only its ends: `1..2 step 0.5`
    holds 1.5, which `close[k]` would otherwise truncate to 1."""
    compiled = compile_text(LAGGED.replace("1..3", "1..2 step 0.5"), "half.rule")
    assert [d.code for d in compiled.diagnostics if d.is_error] == ["E311", "E311"]

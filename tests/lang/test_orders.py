"""The order forms: resting entries, pyramiding, partial exits and partial take-profits, from
the text to the IR fields the fill loop and the order manager read."""

from __future__ import annotations

import pytest

from rulebot.lang import ir
from rulebot.lang.load import compile_text
from tests.conftest import strategy_text


def compiled(body: str):
    result = compile_text(strategy_text(body), "t.rule")
    assert result.ok, [(d.code, d.message) for d in result.diagnostics]
    return result.strategy


def codes(body: str, header: str = "strategy t\nmarket ETH\ntimeframe 5m\n") -> list[str]:
    return [d.code for d in compile_text(strategy_text(body, header), "t.rule").diagnostics]


def test_a_market_entry_leaves_the_order_fields_at_their_defaults() -> None:
    strategy = compiled("entry long when close > open\nexit long when close < open")
    assert strategy.entry_orders == {}
    assert strategy.pyramiding == 1
    assert strategy.exit_shares == {}
    assert strategy.partial_takes == ()


def test_a_limit_entry_rests_at_its_level_for_its_lifetime() -> None:
    strategy = compiled(
        "entry long limit at bbands(close, 20).lower post_only for 3 bars when close > open"
    )
    order = strategy.entry_orders["long"]
    assert (order.kind, order.post_only) == ("limit", True)
    assert isinstance(order.level, ir.Call) and order.level.output == "lowerband"
    assert isinstance(order.bars, ir.Const) and order.bars.value == 3
    assert strategy.entries["long"] is not None  # the signal that places it
    assert strategy.warmup_bars >= order.level.info.warmup == 19


def test_a_stop_entry_lives_one_bar_unless_told() -> None:
    strategy = compiled("entry short stop at low - atr(14) when close < open")
    order = strategy.entry_orders["short"]
    assert (order.kind, order.post_only, order.bars.value) == ("stop", False, 1)
    assert "long" not in strategy.entry_orders


def test_options_may_come_in_either_order_and_bar_is_singular() -> None:
    strategy = compiled("entry long limit at close - atr(14) for 1 bar post_only when close > 1")
    assert strategy.entry_orders["long"].post_only


def test_limit_and_stop_stay_free_as_names() -> None:
    strategy = compiled(
        "let stop = close - atr(14)\nlet limit = low\n"
        "entry long limit at min(stop, limit) when close > stop"
    )
    assert strategy.entry_orders["long"].kind == "limit"


def test_pyramiding_partial_exits_and_partial_takes() -> None:
    strategy = compiled(
        "pyramiding 3\nentry long when close > open\nexit long 50% when close < open\n"
        "take_profit 50% at 2%\ntake_profit 25% at 1.5 * atr(14)"
    )
    assert strategy.pyramiding == 3
    assert strategy.exit_shares["long"].value == pytest.approx(0.5)
    first, second = strategy.partial_takes
    assert first.mode == "percent"
    assert first.value.value == pytest.approx(0.02) and first.share.value == pytest.approx(0.5)
    assert second.mode == "distance" and second.share.value == pytest.approx(0.25)
    assert "take_profit" not in strategy.protections


def test_a_share_may_be_a_param() -> None:
    strategy = compiled(
        "param part = 50% in 25%..75% step 25%\nentry long when close > open\n"
        "exit long part when close < open"
    )
    assert isinstance(strategy.exit_shares["long"], ir.ParamRef)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("entry long limt at low when close > open", "E104"),
        ("entry long stop at high post_only when close > open", "E212"),
        ("entry long limit at 2% when close > open", "E404"),
        ("entry long limit at entry_price when close > open", "E319"),
        ("entry long limit at low for 0 bars when close > open", "E414"),
        ("entry long limit at low for 1.5 bars when close > open", "E407"),
        ("entry long limit at low for 3 days when close > open", "E404"),
        ("entry long limit at low for bars_in_trade bars when close > open", "E403"),
        ("pyramiding 0\nentry long when close > open", "E413"),
        ("pyramiding 2.5\nentry long when close > open", "E413"),
        ("param n = 2\npyramiding n\nentry long when close > open", "E403"),
        ("entry long when close > open\nexit long 0% when close < open", "E411"),
        ("entry long when close > open\nexit long 150% when close < open", "E411"),
        ("entry long when close > open\nexit long 0.5 when close < open", "E404"),
        ("entry long when close > open\ntake_profit 60% at 2%\ntake_profit 50% at 4%", "E412"),
        ("entry long when close > open\ntake_profit 3%\ntake_profit 50% at 4%", "E211"),
        ("entry long when close > open\ntake_profit 50% at 5 bars", "E101"),
        ("entry long when close > open\ntake_profit 50% at -1%", "E406"),
    ],
)
def test_mistakes_are_located_errors(body: str, code: str) -> None:
    assert code in codes(body)


def test_stop_loss_with_a_share_is_an_error() -> None:
    result = compile_text(
        "strategy t\nmarket ETH\ntimeframe 5m\nentry long when close > open\n"
        "size 1% of equity\nstop_loss 50% at 2%\n",
        "t.rule",
    )
    assert [d.code for d in result.diagnostics] == ["E213"]


@pytest.mark.parametrize(
    "body",
    [
        "entry long stop at close - atr(14) when close > open",
        "entry long stop at close * 0.99 when close > open",
        "entry long stop at low when close > open",
        "entry long limit at close + 2 * atr(14) when close > open",
        "entry long limit at high when close > open",
        "entry long limit at close when close > open",
        "entry short stop at high when close < open",
        "entry short limit at close / 1.01 when close < open",
        "let band = close - atr(14)\nentry long stop at band when close > open",
    ],
)
def test_a_level_on_the_side_that_fills_at_once_is_a_warning(body: str) -> None:
    assert codes(body) == ["W515"]


@pytest.mark.parametrize(
    "body",
    [
        "entry long stop at close + atr(14) when close > open",
        "entry long limit at close * (1 - 1%) when close > open",
        "entry long limit at low when close > open",
        "entry short stop at low - atr(14) when close < open",
        "entry short limit at high when close < open",
        "entry long stop at highest(high, 20) when close > open",  # not visible: no warning
        "entry long limit at close - sma(close, 5) + open when close > open",
    ],
)
def test_a_level_on_the_resting_side_or_unknown_is_clean(body: str) -> None:
    assert codes(body) == []


def test_the_forms_are_errors_on_several_markets() -> None:
    header = "strategy t\nmarkets ETH, BTC\ntimeframe 5m\nleg ETH weight 1\nleg BTC weight -1\n"
    found = codes(
        "pyramiding 2\nentry long limit at low when close > open\n"
        "exit long 50% when close < open\ntake_profit 50% at 2%",
        header,
    )
    assert found.count("E210") == 4

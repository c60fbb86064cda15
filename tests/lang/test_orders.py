"""The order forms: resting entries, pyramiding, partial exits and partial take-profits, from
the text to the IR fields the fill loop and the order manager read."""

from __future__ import annotations

import pytest

from rulebot.lang import ir
from rulebot.lang.load import compile_file, compile_text
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


def test_the_yaml_form_takes_every_order_form(tmp_path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "strategy: t\nmarket: BTC\ntimeframe: 5m\npyramiding: 2\n"
        "entry:\n"
        "  long: limit at bbands(close, 20).lower post_only for 3 bars when close > open\n"
        "  short: close < open\n"
        "exit:\n  long: 50% when close < open\n  short: close > open\n"
        "size: 2% of equity\nstop_loss: 2%\n"
        "take_profit: [50% at 2%, 50% at 1.5 * atr(14)]\n",
        encoding="utf-8",
    )
    result = compile_file(path)
    assert result.ok, [(d.code, d.message) for d in result.diagnostics]
    strategy = result.strategy
    assert strategy.pyramiding == 2
    assert strategy.entry_orders["long"].post_only and "short" not in strategy.entry_orders
    assert strategy.exit_shares["long"].value == pytest.approx(0.5)
    assert [t.mode for t in strategy.partial_takes] == ["percent", "distance"]


@pytest.mark.parametrize(
    ("body", "code", "help_starts"),
    [
        ("entry long at low when close > open", "E101", "name the order: `entry long limit at"),
        ("entry long limit at low for 3 when close > open", "E101", "a lifetime is counted"),
        ("entry long limit at low post_only post_only when close > open", "E207", None),
        ("entry long limit at low for 2 bars for 3 bars when close > open", "E207", None),
    ],
)
def test_short_or_doubled_orders_say_how_to_write_them(body, code, help_starts) -> None:
    (diagnostic,) = compile_text(strategy_text(body), "t.rule").diagnostics
    assert diagnostic.code == code
    if help_starts is not None:
        assert diagnostic.help.startswith(help_starts)


@pytest.mark.parametrize(
    ("body", "code", "where"),
    [
        (
            "param part = 50% in 25%..150% step 25%\nentry long when close > open\n"
            "exit long part when close < open",
            "E411",
            "with part = 150%",
        ),
        (
            "param n = 2 in 0..4\nentry long limit at low for n bars when close > open",
            "E414",
            "n = 0",
        ),
        (
            "param p = 40% in 20%..60% step 20%\nentry long when close > open\n"
            "take_profit p at 2%\ntake_profit 50% at 4%",
            "E412",
            "110% with p = 60%",
        ),
    ],
)
def test_params_are_checked_at_the_ends_of_their_ranges(body: str, code: str, where: str) -> None:
    (diagnostic,) = compile_text(strategy_text(body), "t.rule").diagnostics
    assert diagnostic.code == code and where in diagnostic.message


def test_shares_within_the_whole_range_are_clean() -> None:
    compiled(
        "param p = 40% in 20%..50% step 10%\nentry long when close > open\n"
        "take_profit p at 2%\ntake_profit 50% at 4%"
    )


@pytest.mark.parametrize("level", ["high", "close + atr(14)", "close * 1.02"])
def test_a_shared_take_profit_written_as_a_price_is_a_warning(level: str) -> None:
    body = f"entry long when close > open\ntake_profit 50% at {level}"
    assert codes(body) == ["W516"]


@pytest.mark.parametrize("distance", ["close * 2%", "close * 0.02", "2 * atr(14)", "3%"])
def test_a_shared_take_profit_at_a_share_of_the_price_is_clean(distance: str) -> None:
    assert codes(f"entry long when close > open\ntake_profit 50% at {distance}") == []

"""Unit mistakes that leave a rule dead: an oscillator on 0–100 compared with a fraction (W510)
and a stop or target given as a price distance at least the market's price (W511).

W510 is the checker's: every rule compiled gets it. W511 needs the market's price, so only lint
gives it, measured against `--data` when given and the shipped candles otherwise.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rulebot.cli import app
from rulebot.data.candles import shipped_candles
from rulebot.lang.load import compile_text

HEAD = "strategy t\nmarket {market}\ntimeframe 5m\nsize 2% of equity\n"


def rule(condition: str, *extra: str, market: str = "ETH") -> str:
    lines = [HEAD.format(market=market), f"entry long when {condition}", *extra]
    return "\n".join([*lines, ""])


def warnings(text: str, code: str) -> list[tuple[str, str | None]]:
    compiled = compile_text(text)
    assert compiled.ok, compiled.diagnostics
    return [(d.message, d.help) for d in compiled.diagnostics if d.code == code]


# --- W510: oscillators --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "extra", "subject", "level"),
    [
        ("rsi(close, 14) < 30%", (), "`rsi` runs from 0 to 100, but `30%` is the number 0.3", 30),
        ("30% > rsi(close, 14)", (), "`rsi` runs from 0 to 100, but `30%`", 30),
        ("rsi(close, 14) < 0.3", (), "it is compared with the fraction 0.3", 30),
        ("rsi(close, 14)@1h >= 0.25", (), "the fraction 0.25", 25),
        ("willr(14) > -20%", (), "`willr` runs from -100 to 0, but `-20%`", -20),
        ("mfi(14)[1] > 80%", (), "`mfi` runs from 0 to 100", 80),
        ("stoch().k > level", ("param level = 80%",), "`level` is the number 0.8", 80),
        ("osc < 0.2", ("let osc = stochrsi(close).d",), "`stochrsi`", 20),
        ("strong[1] > 0.4", ("let strong = adx(14)",), "`adx`", 40),
    ],
)
def test_an_oscillator_compared_with_a_fraction_is_warned_with_its_level(
    condition: str, extra: tuple[str, ...], subject: str, level: int
) -> None:
    ((message, help_line),) = warnings(rule(condition, *extra, "stop_loss 2%"), "W510")
    assert subject in message
    assert help_line is not None and f"`{level}` for {level}%" in help_line


@pytest.mark.parametrize(
    "condition",
    [
        "rsi(close, 14) < 30",
        "rsi(close, 14) > 0",  # zero reads the same on either scale
        "cmo(close, 14) > 0%",
        "rsi(close, 14) / 100 < 30%",  # rescaled: a fraction is right
        "rsi(close, 14) > rsi(close, 14)[1]",
        "roc(close, 10) > 2%",  # not on a 100-point scale
        "sma(close, 20) > 0.5",
        "rsi(close, 14) < 1",
    ],
)
def test_oscillators_on_their_own_scale_and_other_series_are_not_warned(condition: str) -> None:
    assert warnings(rule(condition, "stop_loss 2%"), "W510") == []


def test_an_oscillator_warning_is_a_warning_and_the_rule_still_compiles() -> None:
    compiled = compile_text(rule("rsi(close, 14) < 30%", "stop_loss 2%"))
    assert compiled.strategy is not None
    (warning,) = compiled.diagnostics
    assert not warning.is_error and (warning.span.line, warning.span.col) == (6, 17)


# --- W511: price distances ----------------------------------------------------------------------


def lint(tmp_path: Path, text: str, *options: str) -> tuple[int, str, str]:
    path = tmp_path / "t.rule"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["lint", str(path), *options])
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


def shipped_path(name: str) -> str:
    return shipped_candles(name).source


def test_a_stop_twenty_times_the_shipped_price_is_warned_with_the_percentage(
    tmp_path: Path,
) -> None:
    code, out, _ = lint(tmp_path, rule("close > open", "stop_loss 2"))
    assert code == 0
    assert "warning[W511]: `stop_loss 2` is a price distance of 2, 22 times ETH's price" in out
    assert "(about 0.0922, the median close of the shipped ETH data, priced in BTC)" in out
    assert "help: for 2% of the entry price write `stop_loss 2%`" in out


@pytest.mark.parametrize(
    ("market", "protection", "warned"),
    [
        ("ETH", "take_profit 0.1", True),  # at least the price (0.0922)
        ("ETH", "trailing_stop 0.5", True),
        ("ETH", "stop_loss 0.05", False),  # within the price: a real, if wide, stop
        ("ETH", "stop_loss 2%", False),
        ("ETH", "stop_loss 2 * atr(14)", False),  # not a constant: its size is not known
        ("BTC", "stop_loss 200", False),  # BTC's shipped price is about 41,900
        ("BTC", "stop_loss 50000", True),
        ("DOGE", "stop_loss 2", False),  # no shipped data and no --data: no price to measure by
    ],
)
def test_a_distance_is_warned_only_when_it_is_at_least_the_price(
    tmp_path: Path, market: str, protection: str, warned: bool
) -> None:
    _, out, _ = lint(tmp_path, rule("close > open", protection, market=market))
    assert ("W511" in out) is warned, out


def test_a_param_default_is_measured_and_its_fix_names_the_param(tmp_path: Path) -> None:
    text = rule("close > open", "param distance = 3", "take_profit distance")
    _, out, _ = lint(tmp_path, text)
    assert "`take_profit distance` is a price distance of 3, 33 times ETH's price" in out
    assert "give the param `distance` as a percentage: 3%" in out


def test_data_given_to_lint_replaces_the_shipped_prices(tmp_path: Path) -> None:
    text = rule("close > open", "stop_loss 2")
    btc, xrp = shipped_path("btc_usd_perp_5m"), shipped_path("xrp_usdt_perp_5m")
    _, for_eth, _ = lint(tmp_path, text, "--data", f"ETH={btc}")
    assert "W511" not in for_eth  # 2 is nothing on prices near 42,000
    _, for_other, _ = lint(tmp_path, text, "--data", f"BTC={btc}")
    assert "W511" in for_other  # that file is BTC's: ETH keeps its shipped prices
    _, unknown, _ = lint(
        tmp_path, rule("close > open", "stop_loss 2", market="DOGE"), "--data", xrp
    )
    assert "1.8 times DOGE's price (about 1.09, the median close of the data in" in unknown


def test_a_data_file_lint_cannot_read_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bars.csv"
    bad.write_text("timestamp,open,high,low,close,volume\n1,2,3,1,x,5\n", encoding="utf-8")
    code, out, err = lint(tmp_path, rule("close > open", "stop_loss 2%"), "--data", str(bad))
    assert code == 2 and out == ""
    assert err.startswith("rulebot lint: cannot read --data: ") and "bars.csv" in err

"""`funding`, `mark` and `open_interest` in the language: read with `@MARKET` like any series,
the funding rate compared with percentages (never with a price), and lint warning (W514) when
the data given with `--data` lacks a series the rule reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from rulebot.lang import ir
from rulebot.lang.load import compile_text
from rulebot.lint import lint, render_text

CANDLES = Path(__file__).resolve().parents[2] / "rulebot" / "data" / "candles"
HEAD = "strategy t\nmarket XRP\ntimeframe 1h\nsize 2% of equity\nstop_loss 2%\n"


def compiled(condition: str):
    return compile_text(f"{HEAD}entry short when {condition}\n", "t.rule")


@pytest.mark.parametrize(
    "condition",
    [
        "funding > 0.01% and rsi(close, 14) > 70",
        "funding > 0.0001",
        "sma(funding, 24) > funding[1]",
        "funding@BTC - funding > 0.005%",
        "funding@4h > highest(funding, 8)",
        "mark > close * (1 + 0.5%)",
        "open_interest > open_interest[24] * 1.1",
    ],
)
def test_the_perpetual_series_read_like_any_series(condition: str) -> None:
    result = compiled(condition)
    assert result.ok, [d.message for d in result.diagnostics]


def test_reads_are_recorded_by_market_with_their_place() -> None:
    result = compiled("funding@BTC > 0.01% and mark > close")
    assert result.strategy is not None
    reads = [(m, n, s.line, s.col) for m, n, s in result.strategy.perp_reads]
    assert reads == [("BTC", "funding", 6, 18), ("XRP", "mark", 6, 42)]
    assert ("BTC", "1h") in result.strategy.feeds


@pytest.mark.parametrize(
    "condition",
    ["funding > close", "sma(funding, 24) < sma(close, 24)", "volume < funding@BTC"],
)
def test_the_funding_rate_against_a_price_is_an_error(condition: str) -> None:
    result = compiled(condition)
    assert not result.ok
    assert [d.code for d in result.diagnostics if d.severity.value == "error"] == ["E404"]


def test_the_rate_keeps_its_unit_through_averages() -> None:
    result = compiled("ema(funding, 3) > 0.01%")
    assert result.strategy is not None
    entry = result.strategy.entries["short"]
    assert isinstance(entry, ir.Binary)
    assert entry.left.info.unit == "percent"


def test_lint_warns_when_the_given_data_lacks_a_series(tmp_path: Path, snapshot) -> None:
    rule = tmp_path / "perp.rule"
    rule.write_text(
        f"{HEAD}entry short when funding > 0.01% and mark > close\n"
        "exit short when open_interest < open_interest[1] or funding@BTC < 0\n"
    )
    reports = lint([rule], data=[f"XRP={CANDLES / 'xrp_usdt_perp_5m.csv'}"])
    for report in reports:
        report.path = "perp.rule"
    text = render_text(reports).replace(str(CANDLES), "DATA")
    assert [d.code for d in reports[0].diagnostics] == ["W514"] * 3
    assert text == snapshot
    # BTC's data is not given: what a backtest reads there is not decided, so no warning for it
    assert "of BTC" not in text
    # without --data, nothing is said
    assert not [d for d in lint([rule])[0].diagnostics if d.code == "W514"]


def test_lint_says_a_guarded_read_is_na_on_the_given_data(tmp_path: Path) -> None:
    rule = tmp_path / "perp.rule"
    rule.write_text(f"{HEAD}entry short when nz(funding) > 0.01% and na(mark)\n")
    reports = lint([rule], data=[f"XRP={CANDLES / 'xrp_usdt_perp_5m.csv'}"])
    found = [d for d in reports[0].diagnostics if d.code == "W514"]
    assert [d.message.split(":")[0] for d in found] == ["`funding` of XRP", "`mark` of XRP"]
    assert all("only inside nz()/na()" in (d.help or "") for d in found)

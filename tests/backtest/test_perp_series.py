"""`funding` on a backtest's bars: the rate known at each bar, never one paid after it, and a
located error when a rule reads a perpetual series the backtest's data does not have."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rulebot.backtesting.engine import BacktestError, backtest, funding_on_bars, on_timeframe
from rulebot.backtesting.perp_series import funding_series
from rulebot.cli import app
from rulebot.data.candles import shipped_candles, shipped_funding
from rulebot.data.funding_time import funding_times
from rulebot.graph.clocks import BarColumns
from rulebot.lang.load import compile_text

CANDLES = Path(__file__).resolve().parents[2] / "rulebot" / "data" / "candles"
XRP_CANDLES = CANDLES / "xrp_usdt_perp_5m.csv"
XRP_FUNDING = CANDLES / "xrp_usdt_perp_funding_8h.csv"

FUNDING_RULE = """strategy funding_tilt
market {market}
timeframe {timeframe}
entry long when funding > 0.012%
exit long when funding <= 0.012%
size 10% of equity
"""


def strategy(text: str):
    compiled = compile_text(text, "t.rule")
    assert compiled.strategy is not None, [d.message for d in compiled.diagnostics]
    return compiled.strategy


def xrp_bars(timeframe: str = "5m") -> BarColumns:
    candles = shipped_candles("xrp_usdt_perp_5m")
    rule = strategy(FUNDING_RULE.format(market="XRP", timeframe=timeframe))
    return on_timeframe(candles, rule, "XRP")


@pytest.mark.parametrize("timeframe", ["5m", "1h", "4h"])
def test_each_bar_reads_the_latest_payment_placed_on_or_before_it(timeframe: str) -> None:
    bars = xrp_bars(timeframe)
    funding = shipped_funding("xrp_usdt_perp_funding_8h")
    series = funding_series(funding, bars)
    due = funding_times(funding.timestamp, funding.interval_ms)
    covered_until = int(due[-1]) + int(funding.interval_ms)
    for i, opened in enumerate(bars.timestamp):
        # the payment's bar is the first opening at or after its funding time
        placed = [k for k in range(len(due)) if due[k] <= opened]
        if not placed or opened > covered_until:
            assert np.isnan(series[i]), i
        else:
            assert series[i] == funding.rate[placed[-1]], i
    assert np.isfinite(series).sum() > 0 and np.isnan(series).sum() > 0


def test_the_rate_changes_on_the_bar_the_backtest_charges_it() -> None:
    bars = xrp_bars("1h")
    funding = shipped_funding("xrp_usdt_perp_funding_8h")
    series = funding_series(funding, bars)
    charged = np.flatnonzero(funding_on_bars(funding, bars))
    assert len(charged) > 3
    for i in charged:
        assert series[i] == funding_on_bars(funding, bars)[i]
        # up to the bar before, the previous rate (or na)
        if i > 0 and np.isfinite(series[i - 1]):
            held = series[charged[charged < i][-1]] if (charged < i).any() else np.nan
            assert series[i - 1] == held


@pytest.mark.parametrize("cut", [6, 7, 9, 11])
def test_no_bar_sees_a_rate_paid_after_it(cut: int) -> None:
    """Funding data that ends at payment `cut` gives the same series on every bar before that
    payment's bar: a later rate never leaks back."""
    bars = xrp_bars("5m")
    funding = shipped_funding("xrp_usdt_perp_funding_8h")
    full = funding_series(funding, bars)
    stamp = int(funding.timestamp[cut])
    known = funding.between(None, stamp)  # payments before `cut` only
    partial = funding_series(known, bars)
    due = int(funding_times(funding.timestamp[cut : cut + 1], funding.interval_ms)[0])
    before = bars.timestamp < due
    assert before.sum() > 100
    np.testing.assert_array_equal(partial[before], full[before])
    # and the new rate comes exactly at the payment's bar
    first_after = int(np.argmax(~before))
    assert funding.rate[cut] != funding.rate[cut - 1]
    assert full[first_after] == funding.rate[cut]
    assert full[first_after - 1] == funding.rate[cut - 1]


def test_a_rule_trades_on_the_funding_it_reads() -> None:
    rule = strategy(FUNDING_RULE.format(market="XRP", timeframe="1h"))
    result = backtest(rule)  # the shipped XRP data and its funding
    bars = xrp_bars("1h")
    series = funding_series(shipped_funding("xrp_usdt_perp_funding_8h"), bars)
    first = len(bars) - len(result.columns.timestamp)
    expected = np.nan_to_num(series[first:], nan=0.0) > 0.00012
    assert expected.any()
    np.testing.assert_array_equal(result.columns.entry_long, expected)
    assert len(result.trades) >= 1


def test_a_funding_file_feeds_the_series_from_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "tilt.rule"
    path.write_text(FUNDING_RULE.format(market="XRP", timeframe="1h"))
    runner = CliRunner()
    out = tmp_path / "result.json"
    given = runner.invoke(
        app,
        [
            "backtest",
            str(path),
            "--data",
            str(XRP_CANDLES),
            "--funding",
            str(XRP_FUNDING),
            "--output",
            str(out),
        ],
    )
    assert given.exit_code == 0, given.output
    assert out.exists()
    missing = runner.invoke(app, ["backtest", str(path), "--data", str(XRP_CANDLES)])
    assert missing.exit_code == 1
    assert "reads `funding` of XRP" in missing.output
    assert "--funding FILE" in missing.output


@pytest.mark.parametrize(
    ("market", "line"),
    [
        ("BTC", "entry long when funding > 0.012%"),
        ("XRP", "entry long when mark > close"),
        ("XRP", "entry long when open_interest > open_interest[1]"),
    ],
)
def test_a_series_the_data_lacks_is_a_located_error(market: str, line: str, snapshot) -> None:
    text = f"strategy s\nmarket {market}\ntimeframe 1h\n{line}\nsize 10% of equity\n"
    with pytest.raises(BacktestError) as raised:
        backtest(strategy(text))
    assert str(raised.value).startswith("t.rule:4:17: ")
    assert str(raised.value) == snapshot


def test_funding_that_misses_the_bars_is_an_error(snapshot) -> None:
    funding = shipped_funding("xrp_usdt_perp_funding_8h")
    long_before = funding.between(None, int(funding.timestamp[0]) + 1)
    early = type(funding)(
        long_before.timestamp - 400 * 86_400_000, long_before.rate, "early.csv", 28_800_000
    )
    rule = strategy(FUNDING_RULE.format(market="XRP", timeframe="1h"))
    candles = shipped_candles("xrp_usdt_perp_5m")
    with pytest.raises(BacktestError) as raised:
        backtest(rule, candles, funding=early)
    assert str(raised.value) == snapshot


GUARDED_RULE = """strategy s
market BTC
timeframe 1h
let ok = {filter}
entry long when ok and close > close[1]
exit long when close < close[1]
size 10% of equity
"""


@pytest.mark.parametrize(
    ("filter", "passes"),
    [("nz(funding) <= 0.01%", True), ("not na(sma(funding, 3))", False)],
)
def test_a_read_the_rule_guards_is_na_on_data_without_the_series(filter: str, passes: bool) -> None:
    result = backtest(strategy(GUARDED_RULE.format(filter=filter)))  # shipped BTC: no funding
    assert any(
        note.startswith("`funding` of BTC") and "na on every bar" in note for note in result.notes
    )
    rising = np.diff(result.columns.close) > 0
    if passes:  # nz(na) is 0, under the cap: every rising close enters
        np.testing.assert_array_equal(result.columns.entry_long[1:], rising)
        assert len(result.trades) > 0
    else:  # funding is na: nothing passes
        assert not result.columns.entry_long.any()


def test_one_unguarded_read_still_needs_the_data() -> None:
    text = GUARDED_RULE.format(filter="not na(funding) and funding <= 0.01%")
    with pytest.raises(BacktestError, match=r"t.rule:4:30: the rule reads `funding` of BTC"):
        backtest(strategy(text))

"""Reports of real backtests: the console summary, JSON, trades CSV, PNG and HTML charts."""

from __future__ import annotations

import csv
import json
import math
import re
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from rulebot import __version__
from rulebot.backtesting.engine import BacktestResult, backtest
from rulebot.backtesting.report import (
    MAX_HTML_TRADES,
    TRADE_COLUMNS,
    ReportError,
    equity_and_drawdown,
    summary_text,
    write_html,
    write_json,
    write_plot,
    write_png,
    write_trades_csv,
)
from rulebot.backtesting.report_html import chart_data, html_report
from rulebot.backtesting.report_png import png_figure

ROOT = Path(__file__).resolve().parents[2]

RESULT_KEYS = [
    "strategy",
    "market",
    "timeframe",
    "quote",
    "params",
    "settings",
    "metrics",
    "equity_curve",
    "trades",
]
TRADE_KEYS = [
    "entry_time",
    "exit_time",
    "side",
    "size",
    "entry_price",
    "exit_price",
    "pnl",
    "fees",
    "funding",
    "exit_reason",
    "stop_price",
    "take_price",
    "trip",
]
METRIC_KEYS = [
    "start",
    "end",
    "bars",
    "periods_per_year",
    "initial_equity",
    "final_equity",
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_duration_bars",
    "max_drawdown_duration_days",
    "calmar",
    "trades",
    "winning_trades",
    "losing_trades",
    "win_rate",
    "profit_factor",
    "expectancy",
    "avg_trade_pnl",
    "avg_trade_return",
    "best_trade_pnl",
    "worst_trade_pnl",
    "best_trade_return",
    "worst_trade_return",
    "exposure",
    "buy_and_hold_return",
    "fees_paid",
    "funding_paid",
]


@pytest.fixture(scope="module")
def results() -> list[BacktestResult]:
    """The shipped mean_reversion and ut_bot strategies on the shipped BTC candles (in USD)."""
    return [backtest(ROOT / "rules" / name) for name in ("mean_reversion.rule", "ut_bot.rule")]


def strict_json(text: str) -> object:
    def refuse(constant: str) -> object:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


# ---- the console summary -------------------------------------------------------------------------
def test_summary_of_the_shipped_strategies(results: list[BacktestResult], snapshot) -> None:
    assert summary_text(results) == snapshot


def test_summary_shows_undefined_metrics_as_a_dash(results: list[BacktestResult]) -> None:
    result = results[0]
    undefined = replace(
        result, metrics=replace(result.metrics, sharpe=None, profit_factor=None, win_rate=None)
    )
    rows = dict(
        re.split(r"\s{2,}", line.strip(), maxsplit=1)
        for line in summary_text([undefined]).splitlines()
        if re.search(r"\S\s{2,}\S", line)
    )
    assert rows["Sharpe"] == rows["Profit factor"] == rows["Win rate"] == "—"
    assert rows["Sortino"] != "—"


def test_summary_formats_money_and_percentages(results: list[BacktestResult]) -> None:
    text = summary_text(results)
    assert "10,000.00" in text
    assert re.search(r"Return\s+-?\d+\.\d\d%\s+-?\d+\.\d\d%", text)
    assert "2022-01-01" in text and "days)" in text
    assert "BTC 5m (USD)" in text  # the shipped data's quote is said


# ---- JSON --------------------------------------------------------------------------------------
def test_json_round_trip_has_stable_keys(results: list[BacktestResult], tmp_path: Path) -> None:
    path = write_json(results, tmp_path / "results.json")
    document = strict_json(path.read_text())
    assert list(document) == ["rulebot_version", "results"]
    assert document["rulebot_version"] == __version__
    assert len(document["results"]) == len(results)
    for written, result in zip(document["results"], results, strict=True):
        assert list(written) == RESULT_KEYS
        assert list(written["metrics"]) == METRIC_KEYS
        assert written["trades"], "the shipped strategies trade"
        assert all(list(trade) == TRADE_KEYS for trade in written["trades"])
        assert len(written["equity_curve"]) == len(result.columns) == len(result.equity)
        assert list(written["equity_curve"][0]) == ["timestamp", "equity"]
        assert written["strategy"] == result.strategy
        assert len(written["trades"]) == written["metrics"]["trades"] == len(result.trades)
        assert written["metrics"]["final_equity"] == result.metrics.final_equity
        assert written["settings"]["max_position"] is None or math.isfinite(
            written["settings"]["max_position"]
        )


def test_json_writes_non_finite_floats_as_null(
    results: list[BacktestResult], tmp_path: Path
) -> None:
    result = replace(results[0], params={"threshold": float("nan"), "cap": float("inf")})
    document = strict_json(write_json([result], tmp_path / "r.json").read_text())
    assert document["results"][0]["params"] == {"threshold": None, "cap": None}


def test_files_are_replaced_whole_with_no_temporary_left(
    results: list[BacktestResult], tmp_path: Path
) -> None:
    path = tmp_path / "results.json"
    path.write_text("old")
    write_json(results[:1], path)
    write_trades_csv(results, tmp_path / "trades.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json", "trades.csv"]
    assert strict_json(path.read_text())["results"][0]["strategy"] == "mean_reversion"


# ---- trades CSV ----------------------------------------------------------------------------------
def test_trades_csv_parses_back(results: list[BacktestResult], tmp_path: Path) -> None:
    path = write_trades_csv(results, tmp_path / "trades.csv")
    with path.open(newline="") as file:
        reader = csv.DictReader(file)
        assert tuple(reader.fieldnames or ()) == TRADE_COLUMNS
        rows = list(reader)
    assert len(rows) == sum(len(r.trades) for r in results)
    for result in results:
        mine = [row for row in rows if row["strategy"] == result.strategy]
        assert len(mine) == result.metrics.trades
        assert math.fsum(float(row["pnl"]) for row in mine) == math.fsum(result.trades["pnl"])
        assert {row["market"] for row in mine} == {result.market}
        assert {row["side"] for row in mine} <= {"long", "short"}
        first = result.to_dict()["trades"][0]
        entry = datetime.fromisoformat(mine[0]["entry_time"])
        assert entry.utcoffset() is not None and entry.utcoffset().total_seconds() == 0
        assert int(entry.timestamp() * 1000) == first["entry_time"]
        assert float(mine[0]["exit_price"]) == first["exit_price"]
        assert mine[0]["exit_reason"] == first["exit_reason"]


# ---- charts --------------------------------------------------------------------------------------
def test_png_chart(results: list[BacktestResult], tmp_path: Path) -> None:
    path = write_plot(results[1], tmp_path / "ut_bot.png")
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 20_000


def test_png_has_a_price_pane_with_the_trades(results: list[BacktestResult]) -> None:
    result = results[0]  # mean_reversion: a stop loss and a take-profit, `mid` an overlay
    figure = png_figure(result)
    price, equity, drawdown = figure.axes
    assert price.get_ylabel().startswith("Price") and equity.get_ylabel() == "Equity"
    assert drawdown.get_ylabel() == "Drawdown"
    bars = len(result.equity) - result.columns.warmup_bars
    lines = {line.get_label(): line for line in price.get_lines()}
    assert np.array_equal(lines["Close"].get_ydata(), result.columns.close[-bars:])
    assert np.allclose(lines["mid"].get_ydata(), result.overlays["mid"][-bars:], equal_nan=True)
    scattered = {c.get_label().split(" (")[0]: c.get_offsets() for c in price.collections}
    trades = result.trades
    longs = trades[trades["side"] > 0]
    assert np.allclose(scattered["Long entry"][:, 1], longs["entry_price"])
    assert np.allclose(scattered["Exit"][:, 1], trades["exit_price"])
    stops = next(c for c in price.collections if c.get_label() == "Stop loss")
    assert len(stops.get_segments()) == np.isfinite(trades["stop_price"]).sum() > 0
    assert figure.get_size_inches()[1] > 7  # taller than the two panes it had


def test_png_of_a_spread_has_no_price_pane(tmp_path: Path) -> None:
    figure = png_figure(backtest(ROOT / "rules" / "arbitrage.rule"))
    assert [axis.get_ylabel() for axis in figure.axes] == ["Equity", "Drawdown"]


def test_png_without_matplotlib_says_how_to_install_it(
    results: list[BacktestResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ReportError, match=re.escape("pip install 'rulebot[plot]'")):
        write_png(results[0], tmp_path / "chart.png")
    assert not list(tmp_path.iterdir())


def test_html_report_is_self_contained(results: list[BacktestResult], tmp_path: Path) -> None:
    page = write_plot(results[0], tmp_path / "report.html").read_text()
    assert page.startswith("<!doctype html>")
    assert "mean_reversion" in page
    assert '<svg id="chart"' in page and "</svg>" in page
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"\b(src|href)\s*=", page), "nothing loaded from anywhere"
    assert "<link" not in page and "@import" not in page and "fetch(" not in page
    assert "Max drawdown" in page


def test_html_escapes_a_hostile_strategy_name(
    results: list[BacktestResult], tmp_path: Path
) -> None:
    hostile = replace(results[0], strategy='<script>alert("x")</script><img src=x onerror=1>&')
    page = write_html(hostile, tmp_path / "report.html").read_text()
    assert '<script>alert("x")' not in page and "<img" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "&amp;" in page


def test_html_data_cannot_close_its_script(results: list[BacktestResult]) -> None:
    named = replace(results[0], overlays={"</script><b>": results[0].overlays["mid"]})
    page = html_report(named)
    data = page.split('id="chart-data">')[1].split("</script>")[0]
    assert json.loads(data)["overlays"][0]["name"] == "</script><b>"


def test_html_lists_the_first_trades_and_says_so(
    results: list[BacktestResult], tmp_path: Path
) -> None:
    result = results[1]
    assert len(result.trades) > 100
    page = html_report(result, max_trades=100)
    body = page.split("<tbody>")[1].split("</tbody>")[0]
    assert body.count("<tr ") == 100
    assert f"first 100 of {len(result.trades):,} trades" in page
    assert len(result.trades) <= MAX_HTML_TRADES, "by default the table lists every trade"


def test_chart_data_holds_every_bar_and_trade(results: list[BacktestResult]) -> None:
    for result in results:
        data = chart_data(result)
        timestamps, equity, _ = equity_and_drawdown(result)
        assert data["time"] == timestamps.tolist()
        assert np.allclose(data["equity"], equity, rtol=1e-9)
        assert data["price"] is not None
        assert np.allclose(data["price"]["close"], result.columns.close[-len(equity) :])
        assert len(data["trades"]) == len(result.trades)
        shown = data["trades"][0]
        first = result.trade_dicts()[0]
        assert {k: shown[k] for k in shown} == {k: first[k] for k in shown}
    assert [o["name"] for o in chart_data(results[1])["overlays"]] == ["stop"]


def test_trades_keep_their_levels_fixed_at_entry(results: list[BacktestResult]) -> None:
    result = results[0]  # stop_loss 1.5 * atr(14), take_profit 3%
    trades = result.trades
    sides = trades["side"].astype(np.float64)
    assert np.all(np.isfinite(trades["take_price"]))
    assert np.allclose(trades["take_price"], trades["entry_price"] * (1 + 0.03 * sides))
    stops = trades["stop_price"]
    assert np.all(sides * (trades["entry_price"] - stops) > 0), "each stop on the loss side"
    stopped = trades["exit_reason"] == "stop_loss"
    assert stopped.any()
    # a stop fills at its level (less slippage) or at a worse open
    assert np.all(sides[stopped] * (stops[stopped] - trades["exit_price"][stopped]) >= -1e-9)


def test_chart_drawdown_matches_the_metrics(results: list[BacktestResult]) -> None:
    for result in results:
        timestamps, equity, drawdown = equity_and_drawdown(result)
        assert len(timestamps) == len(equity) == len(drawdown) == result.metrics.bars
        assert datetime.fromtimestamp(timestamps[0] / 1000, UTC) == result.metrics.start
        assert float(drawdown.max()) == pytest.approx(result.metrics.max_drawdown, rel=1e-12)


@pytest.mark.parametrize("name", ["chart.svg", "chart.pdf", "chart"])
def test_unknown_chart_format(results: list[BacktestResult], tmp_path: Path, name: str) -> None:
    with pytest.raises(ReportError, match=r"use \.png or \.html"):
        write_plot(results[0], tmp_path / name)
    assert not list(tmp_path.iterdir())

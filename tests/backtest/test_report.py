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
    MAX_CHART_POINTS,
    MAX_HTML_TRADES,
    TRADE_COLUMNS,
    ReportError,
    downsample,
    equity_and_drawdown,
    summary_text,
    write_html,
    write_json,
    write_plot,
    write_png,
    write_trades_csv,
)

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
    assert "<svg" in page and "</svg>" in page
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert "Max drawdown" in page


def test_html_escapes_a_hostile_strategy_name(
    results: list[BacktestResult], tmp_path: Path
) -> None:
    hostile = replace(results[0], strategy='<script>alert("x")</script><img src=x onerror=1>&')
    page = write_html(hostile, tmp_path / "report.html").read_text()
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "&amp;" in page


def test_html_lists_the_first_trades_and_says_so(
    results: list[BacktestResult], tmp_path: Path
) -> None:
    result = results[1]
    assert len(result.trades) > MAX_HTML_TRADES, "ut_bot trades often enough to be cut"
    page = write_html(result, tmp_path / "report.html").read_text()
    body = page.split("<tbody>")[1].split("</tbody>")[0]
    assert body.count("<tr>") == MAX_HTML_TRADES
    assert f"first {MAX_HTML_TRADES:,} of {len(result.trades):,} trades" in page


def test_html_chart_lines_are_downsampled(results: list[BacktestResult], tmp_path: Path) -> None:
    result = results[1]
    assert len(result.equity) > MAX_CHART_POINTS
    page = write_html(result, tmp_path / "report.html").read_text()
    lines = re.findall(r'<polyline class="[^"]+" points="([^"]+)"', page)
    assert len(lines) == 2  # equity and drawdown
    assert all(0 < len(points.split()) <= MAX_CHART_POINTS for points in lines)


def test_downsampling_keeps_spikes_and_ends() -> None:
    values = np.sin(np.linspace(0, 20, 100_000))
    values[41_234] = 9.0
    values[77_777] = -9.0
    keep = downsample(values)
    assert len(keep) <= MAX_CHART_POINTS
    assert {0, 41_234, 77_777, 99_999} <= set(keep.tolist())
    assert np.all(np.diff(keep) > 0)
    assert downsample(values[:50]).tolist() == list(range(50))


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

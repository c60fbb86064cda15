"""`rulebot backtest` as a user runs it: files in, summary and files out, clear failures."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rulebot.cli import app

ROOT = Path(__file__).resolve().parents[2]
RULE = str(ROOT / "rules" / "mean_reversion.rule")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["backtest", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    output = result.output
    assert "Traceback" not in output
    return result.exit_code, output


def test_a_shipped_rule_backtests_on_the_shipped_data_and_writes_its_files(tmp_path: Path) -> None:
    out, trades = tmp_path / "result.json", tmp_path / "trades.csv"
    code, output = run(
        RULE, "--output", str(out), "--trades", str(trades), "--config", str(ROOT / "rulebot.yaml")
    )
    assert code == 0, output
    for label in ("mean_reversion", "Sharpe", "Max drawdown", "Win rate"):
        assert label in output
    document = json.loads(out.read_text())
    (result,) = document["results"]
    assert result["strategy"] == "mean_reversion"
    assert {"metrics", "equity_curve", "trades", "params", "settings"} <= set(result)
    with trades.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(result["trades"]) == result["metrics"]["trades"]


def test_plots_are_written(tmp_path: Path) -> None:
    for name in ("report.html", "report.png"):
        code, output = run(RULE, "--plot", str(tmp_path / name))
        assert code == 0, output
        assert (tmp_path / name).stat().st_size > 1000


def test_gaps_in_the_data_are_pointed_out(tmp_path: Path) -> None:
    source = (ROOT / "rulebot" / "data" / "candles" / "eth_btc_5m.csv").read_text().splitlines()
    gapped = tmp_path / "gapped.csv"
    gapped.write_text("\n".join(source[:100] + source[103:]) + "\n")  # three bars go missing
    code, output = run(RULE, "--data", str(gapped))
    assert code == 0
    assert "misses 3 bars" in output
    assert "misses" not in run(RULE)[1]  # the shipped ETH data has no gaps


def test_days_limit_the_period(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert run(RULE, "--days", "5", "--output", str(out))[0] == 0
    result = json.loads(out.read_text())["results"][0]
    span_ms = result["equity_curve"][-1]["timestamp"] - result["equity_curve"][0]["timestamp"]
    assert span_ms <= 5 * 86_400_000


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--days", "3", "--start", "2018-01-12"], 2, "either --days or --start"),
        (["--start", "12/01/2018"], 2, "takes a date"),
        (["--strategy", "nope"], 2, "no enabled strategy named"),
        (["--plot", "chart.svg"], 2, "--plot writes .png or .html"),
    ],
)
def test_wrong_options_are_usage_errors(args: list[str], code: int, says: str) -> None:
    exit_code, output = run(RULE, *args)
    assert exit_code == code and says in output


def test_bad_data_is_reported_with_its_line_not_a_traceback(tmp_path: Path) -> None:
    data = tmp_path / "bad.csv"
    data.write_text(
        "timestamp,open,high,low,close,volume\n"
        "1515570000000,1,2,0.5,1.5,10\n"
        "1515570300000,1,0.5,0.4,1.5,10\n"  # high below close
    )
    code, output = run(RULE, "--data", str(data))
    assert code == 1
    assert "bad.csv:3" in output


@pytest.mark.parametrize("content", ["", "timestamp,open,high,low,close,volume\n"])
def test_empty_data_is_a_clear_error(tmp_path: Path, content: str) -> None:
    data = tmp_path / "empty.csv"
    data.write_text(content)
    code, output = run(RULE, "--data", str(data))
    assert code == 1 and "rulebot backtest:" in output


def test_a_broken_rule_shows_its_diagnostics(tmp_path: Path) -> None:
    broken = tmp_path / "broken.rule"
    broken.write_text(
        "strategy b\nmarket ETH\ntimeframe 5m\n"
        "entry long when smaa(close, 3) > 1\nsize 1% of equity\n"
    )
    code, output = run(str(broken))
    assert code == 1
    assert "error[E201]" in output and "did you mean `sma`?" in output

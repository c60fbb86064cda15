"""`rulebot optimize` as a user runs it: a ranked table, both samples side by side, the
warning when the best set collapses, the trial file, the heatmap, clear failures."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rulebot import backtest, load_rules
from rulebot.backtesting.fills import FillSettings
from rulebot.cli import app
from rulebot.data import shipped_candles
from rulebot.optimize import report
from rulebot.optimize.search import optimize
from tests.conftest import RULES

RULE = str(RULES / "mean_reversion.rule")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LIGHTER_COSTS = FillSettings(taker_fee=0.00028, maker_fee=0.00004, slippage_bps=1, lot_size=1e-4)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["optimize", *args], env={"COLUMNS": "160"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_a_two_parameter_grid_prints_its_table_and_writes_trials_and_heatmap(
    tmp_path: Path,
) -> None:
    output = tmp_path / "trials.csv"
    code, text = run(
        RULE,
        "--days", "8",
        "--set", "rsi_len=14",
        "--set", "lookback=10..30:10",
        "--jobs", "1",
        "--metric", "return",
        "--output", str(output),
        "--walk-forward", "2",
    )  # fmt: skip
    assert code == 0, text
    for label in ("12 trials by total_return", "in-sample", "held-out", "walk-forward", "best:"):
        assert label in text
    with output.open(newline="") as file:
        rows = list(csv.DictReader(file))
    search = [r for r in rows if r["stage"] == "search"]
    assert len(search) == 12
    best = max(search, key=lambda r: float(r["total_return"]))
    assert f"best: lookback={best['lookback']} threshold={float(best['threshold']):g}" in text
    heatmap = output.with_suffix(".png")
    assert heatmap.read_bytes()[:8] == PNG_MAGIC
    assert f"wrote {heatmap}" in text.replace("\n", "")


def test_the_ranked_table_and_the_best_set_match_a_backtest(tmp_path: Path) -> None:
    (strategy,) = load_rules(RULE)
    result = optimize(strategy, overrides=["rsi_len=14"], jobs=1, days=8, holdout=0.25)
    best = result.best
    assert best is not None and best.metrics is not None
    plan = result.plan
    alone = backtest(
        strategy,
        params=best.params,
        start_ms=plan.in_sample.start_ms,
        end_ms=plan.in_sample.end_ms,
    )
    assert best.metrics["sharpe"] == alone.metrics.sharpe
    scores = [result.objective.score(r.metrics) for r in result.trials]
    assert scores == sorted(scores, reverse=True)
    checked = result.holdout[0]
    assert checked.params == best.params and checked.out_of_sample is not None
    grid = report.heatmap_grid(result)
    assert grid[0:2] == ("lookback", "threshold") and grid[4].shape == (5, 4)


def test_a_best_set_that_collapses_held_out_is_a_warning() -> None:
    """On the shipped ETH/BTC candles, with Lighter's fees, the best in-sample Sharpe of this
    grid turns negative on the last fifth of the data."""
    (strategy,) = load_rules(RULE)
    eth = shipped_candles("eth_btc_5m")
    result = optimize(strategy, eth, overrides=["rsi_len=14"], jobs=1, settings=LIGHTER_COSTS)
    best, check = result.best, result.holdout[0]
    assert best is not None and check.params == best.params
    inside = result.objective.value(best.metrics)
    outside = result.objective.value(check.out_of_sample.metrics if check.out_of_sample else None)
    assert inside is not None and outside is not None and outside < 0 < inside
    assert check.collapsed
    (warning,) = [w for w in report.warnings(result) if "collapses" in w]
    assert f"sharpe {inside:,.2f} in-sample, {outside:,.2f} held-out" in warning
    table = report.ranked_table(result)
    assert table.row_count == 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "lookbak=1..2"], "no param 'lookbak'"),
        (["--metric", "luck"], "unknown metric 'luck'"),
        (["--output", "trials.txt"], ".csv or .json"),
        (["--heatmap", "map.jpg"], ".png"),
        (["--walk-forward", "5000"], "too few"),
        (["--holdout", "1.5"], "share of the bars"),
        (["--jobs", "2", "--cluster", "tcp://127.0.0.1:9"], "not both"),
    ],
)
def test_a_bad_option_is_a_usage_error(args: list[str], message: str) -> None:
    code, text = run(RULE, "--days", "2", *args)
    assert code == 2
    assert message in text.replace("\n", " ")


def test_a_missing_rule_or_a_broken_file_fails_readably(tmp_path: Path) -> None:
    code, text = run(str(tmp_path / "nope.rule"))
    assert code == 1 and "rulebot optimize:" in text
    garbage = tmp_path / "trials.csv"
    garbage.write_text("not,a,results,file\n")
    code, text = run(RULE, "--days", "2", "--jobs", "1", "--output", str(garbage))
    assert code == 1 and "another search" in text

"""`backtest()` and `optimize()` read rulebot.yaml exactly as `rulebot backtest` and `rulebot
optimize` do, so the same rule in the same folder gives the same figures either way; an
explicit `settings=` still wins."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rulebot import backtest, load_rules
from rulebot.backtesting.fills import FillSettings
from rulebot.cli import app
from rulebot.optimize.search import optimize
from tests.conftest import RULES

RULE = str(RULES / "mean_reversion.rule")
# Costs far from both the defaults and zero, so a run that ignores the file cannot match.
CONFIG = """\
markets: [ETH, LTC]
backtest:
  initial_equity: 25000
  taker_fee: 0.002
  maker_fee: 0.001
  slippage_bps: 5
  size_decimals: 3
"""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding a rulebot.yaml, made the working folder as a user's shell would."""
    (tmp_path / "rulebot.yaml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli(*args: str) -> None:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output


def test_backtest_reads_the_folders_rulebot_yaml_as_the_cli_does(folder: Path) -> None:
    cli("backtest", RULE, "--days", "5", "--output", str(folder / "cli.json"))
    (shown,) = json.loads((folder / "cli.json").read_text())["results"]
    (strategy,) = load_rules(RULE)
    result = backtest(strategy, days=5)
    assert result.settings.taker_fee == 0.002 and result.settings.initial_equity == 25000
    assert result.to_dict()["settings"] == shown["settings"]
    assert result.metrics.to_dict() == shown["metrics"]
    assert result.trade_dicts() == shown["trades"]


def test_an_explicit_settings_wins_over_the_folders_rulebot_yaml(folder: Path) -> None:
    (strategy,) = load_rules(RULE)
    free = FillSettings()
    result = backtest(strategy, days=5, settings=free)
    assert result.settings.taker_fee == 0.0 and result.settings.initial_equity == 10000
    assert result.metrics.fees_paid == 0


def test_optimize_reads_the_folders_rulebot_yaml_as_the_cli_does(folder: Path) -> None:
    options = ["--days", "4", "--set", "rsi_len=14", "--set", "lookback=10..30:10"]
    cli("optimize", RULE, *options, "--jobs", "1", "--holdout", "0", "--output", "trials.csv")
    with (folder / "trials.csv").open(newline="") as file:
        rows = [r for r in csv.DictReader(file) if r["stage"] == "search"]
    (strategy,) = load_rules(RULE)
    result = optimize(
        strategy, overrides=["rsi_len=14", "lookback=10..30:10"], jobs=1, days=4, holdout=0
    )
    assert len(rows) == len(result.trials) == 12
    by_params = {(float(r["lookback"]), float(r["threshold"])): r for r in rows}
    for trial in result.trials:
        assert trial.metrics is not None
        row = by_params[(float(trial.params["lookback"]), float(trial.params["threshold"]))]
        assert float(row["fees_paid"]) == pytest.approx(trial.metrics["fees_paid"], rel=1e-12)
    best = result.best
    assert best is not None and best.metrics is not None and best.metrics["fees_paid"] > 0

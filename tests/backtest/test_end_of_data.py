"""`end_of_data`: a position still open after the last bar is closed there, or kept open."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rulebot.backtesting.fills import FillSettings
from rulebot.backtesting.legs import LegColumns, simulate_legs
from rulebot.cli import app

GOOG = Path(__file__).resolve().parents[2] / "rulebot" / "data" / "candles" / "goog_1d.csv"
ALL_IN = """strategy sma_cross
market GOOG
timeframe 1d
entry long  when crossover(sma(close, 10), sma(close, 20))
entry short when crossunder(sma(close, 10), sma(close, 20))
size 100% of cash
"""


def spread_entered_once() -> LegColumns:
    """Buy ETH and sell twice as much LTC at open[1]; ETH rises 10 over the last bar."""
    n = 4
    prices = np.array([[100.0, 100.0, 100.0, 110.0], [50.0, 50.0, 50.0, 50.0]])
    never = np.zeros(n, dtype=bool)
    return LegColumns(
        timestamp=np.arange(n) * 60_000,
        open=prices,
        high=prices,
        low=prices,
        close=prices,
        weight=np.array([[1.0] * n, [-1.0] * n]),
        entry_long=np.array([True, False, False, False]),
        exit_long=never,
        entry_short=never,
        exit_short=never,
        size_mode="quote",
        size_value=np.full(n, 2000.0),
        stop_mode="none",
        stop_value=np.zeros(n),
        take_mode="none",
        take_value=np.zeros(n),
        trail_mode="none",
        trail_value=np.zeros(n),
    )


def test_a_spread_kept_open_is_marked_at_the_last_close() -> None:
    settings = FillSettings(taker_fee=0.001, initial_equity=10_000.0, end_of_data="keep")
    kept = simulate_legs(spread_entered_once(), settings)
    # 10 ETH and -20 LTC held; entry fees 0.1% of the 2,000 bought and sold: 2.0;
    # marked at the last close: 10,000 - 2 + 10 * (110 - 100)
    assert len(kept.trades) == 0
    assert kept.positions[:, -1].tolist() == [10.0, -20.0]
    assert kept.equity[-1] == pytest.approx(10_098.0, abs=1e-9)

    closed = simulate_legs(spread_entered_once(), FillSettings(taker_fee=0.001))
    assert closed.trades["exit_reason"].tolist() == ["end_of_data"]
    assert closed.positions[:, -1].tolist() == [0.0, 0.0]
    # and the exit fees: 0.1% of 10 * 110 + 20 * 50 = 2.1
    assert closed.equity[-1] == pytest.approx(10_095.9, abs=1e-9)


def test_end_of_data_takes_close_or_keep() -> None:
    with pytest.raises(ValueError, match="end_of_data must be 'close' or 'keep'"):
        FillSettings(end_of_data="hold")  # type: ignore[arg-type]


ROOMY_RISK = (  # account limits that never bind, so the figures are the sizing's alone
    "risk:\n  max_position_notional: 1000000\n  max_order_notional: 1000000\n"
    "  max_leverage: 100\n  max_daily_loss: 99%\n  max_drawdown: 99%\n"
)


@pytest.mark.parametrize(
    ("end_of_data", "trades", "final"), [("keep", 93, 56263.52), ("close", 94, 56152.27)]
)
def test_rulebot_yaml_says_whether_the_last_position_is_kept(
    tmp_path: Path, end_of_data: str, trades: int, final: float
) -> None:
    """`rulebot backtest` with rulebot.yaml's `end_of_data`, on GOOG daily with whole units and a
    0.2% fee (the figures `tests/backtest/test_all_in_sizing.py` works out by hand)."""
    (tmp_path / "sma_cross.rule").write_text(ALL_IN)
    (tmp_path / "rulebot.yaml").write_text(
        "backtest:\n  initial_equity: 10000\n  taker_fee: 0.002\n  slippage_bps: 0\n"
        f"  size_decimals: 0\n  end_of_data: {end_of_data}\n" + ROOMY_RISK
    )
    out = tmp_path / "result.json"
    args = ["backtest", str(tmp_path / "sma_cross.rule"), "--data", str(GOOG)]
    args += ["--config", str(tmp_path / "rulebot.yaml"), "--output", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (backtested,) = json.loads(out.read_text())["results"]
    assert backtested["settings"]["end_of_data"] == end_of_data
    assert len(backtested["trades"]) == trades
    assert abs(backtested["metrics"]["final_equity"] - final) < 0.005


def test_a_wrong_end_of_data_in_rulebot_yaml_is_located(tmp_path: Path) -> None:
    (tmp_path / "rulebot.yaml").write_text("backtest:\n  end_of_data: hold\n")
    args = ["backtest", str(tmp_path / "r.rule"), "--config", str(tmp_path / "rulebot.yaml")]
    (tmp_path / "r.rule").write_text(ALL_IN)
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "end_of_data" in result.output and ":2:" in result.output, result.output

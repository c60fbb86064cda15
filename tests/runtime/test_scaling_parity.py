"""A rule that adds to its positions and takes them off in parts trades the same round trips
through the live path as in the backtest.

The live side is the engine trading a `PaperVenue` on the shipped BTC candles played as trades
(`tests/runtime/test_scaling_paper.py`'s rule and run: two entries stacked, half taken off at the
mean each close, two take-profits of half each); the backtest fills at the close, as a close's
orders fill live. Round trips are compared: first entry bar, last exit bar, side, everything
opened, how many fills closed it, why the last one did, and its PnL."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rulebot.backtesting.engine import backtest
from rulebot.backtesting.fills import FillSettings
from rulebot.backtesting.settings import with_account_risk
from rulebot.reporting import read_report
from tests.runtime.test_risk_parity import BTC, EQUITY, candles
from tests.runtime.test_scaling_paper import LOOSE, rule, run

FIELDS = ("entry_index", "exit_index", "side", "closes", "exit_reason")


def backtest_trips() -> list[dict[str, object]]:
    """The backtest's rows (one per closing fill) summed per round trip (`trip`)."""
    settings = FillSettings(
        fill_at="close",
        initial_equity=EQUITY,
        lot_size=float(BTC.size_step),
        min_size=float(BTC.min_base_amount),
    )
    bars = candles()
    rows = backtest(rule(), bars, settings=with_account_risk(settings, LOOSE)).trades
    trips: dict[int, dict[str, object]] = {}
    for row in rows:
        trip = trips.setdefault(int(row["trip"]), {
            "entry_index": int(row["entry_index"]), "exit_index": 0, "side": float(row["side"]),
            "size": 0.0, "closes": 0, "exit_reason": "", "pnl": 0.0,
        })  # fmt: skip
        trip["exit_index"] = int(row["exit_index"])
        trip["size"] += float(row["size"])  # type: ignore[operator]
        trip["closes"] += 1  # type: ignore[operator]
        trip["exit_reason"] = str(row["exit_reason"])
        trip["pnl"] += float(row["pnl"])  # type: ignore[operator]
    # the live run's last bar never closes (no trade follows it): nothing is decided there
    return [
        t for _, t in sorted(trips.items())
        if t["exit_reason"] != "end_of_data" and t["exit_index"] < len(bars) - 1  # type: ignore[operator]
    ]  # fmt: skip


def live_trips(journal: Path) -> list[dict[str, object]]:
    run(rule(), journal)
    bars = candles()
    step, start = int(bars.timeframe_ms or 0), int(bars.timestamp[0])

    def index(time_ms: int) -> int:  # a fill's bar: a close's fill is stamped at the next open
        return (time_ms - 1 - start) // step

    return [
        {
            "entry_index": index(t.entry_time_ms),
            "exit_index": index(t.exit_time_ms),
            "side": 1.0 if t.side == "long" else -1.0,
            "size": float(t.size),
            "closes": t.closes,
            "exit_reason": t.exit_reason,
            "pnl": float(t.pnl),
        }
        for t in read_report(journal).trades
        if t.exit_time_ms is not None
    ]


def test_adds_and_partial_exits_trade_the_backtests_round_trips(tmp_path: Path) -> None:
    expected = backtest_trips()
    got = live_trips(tmp_path / "journal.sqlite")
    assert len(expected) > 50 and len(got) == len(expected)
    assert sum(t["closes"] > 1 for t in expected) > 20  # type: ignore[operator]
    for field in FIELDS:
        assert [t[field] for t in got] == [t[field] for t in expected], field
    np.testing.assert_allclose(
        [t["size"] for t in got], [t["size"] for t in expected], rtol=0, atol=1e-9
    )
    # live stops and targets rest at whole price units, the backtest's at exact levels
    np.testing.assert_allclose(
        [t["pnl"] for t in got], [t["pnl"] for t in expected], rtol=0, atol=1e-4
    )

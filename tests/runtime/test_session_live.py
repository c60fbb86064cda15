"""A session filter live: the engine (streaming evaluator, order manager, SQLite journal) trading
a paper account over the shipped BTC candles enters only on bars opening inside the session, and
makes the backtest's trades on the same bars."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from rulebot.lang.load import compile_text
from tests.runtime.test_risk_parity import FIELDS, LOOSE, backtest_trades, candles, live_trades

SESSION = """
strategy session
market BTC
timeframe 5m
let mid = sma(close, 20)
entry long  when hour >= 8 and hour < 16 and dayofweek < 5 and close < mid
exit  long  when close > mid or hour >= 16
entry short when (hour < 8 or minute@15m == 45) and close > mid + stddev(close, 20)
exit  short when close < mid
size 50% of equity
stop_loss 2%
"""


def test_live_entries_happen_only_inside_the_session_and_match_the_backtest(
    tmp_path: Path,
) -> None:
    compiled = compile_text(SESSION, "session.rule", live=True)
    assert compiled.strategy is not None and not compiled.diagnostics, compiled.diagnostics
    strategy = compiled.strategy
    expected = backtest_trades(strategy, LOOSE)
    got, _ = live_trades(strategy, LOOSE, tmp_path / "journal.sqlite")
    assert len(expected) > 10 and {1, -1} <= set(expected["side"].tolist())
    assert len(got) == len(expected)
    for field in FIELDS:
        np.testing.assert_allclose([t[field] for t in got], expected[field], err_msg=field)
    stamps = candles().timestamp
    for trade in got:  # fills at the signal bar's close: the bar is the signal's
        opened = datetime.fromtimestamp(int(stamps[int(trade["entry_index"])]) / 1000, UTC)
        if trade["side"] > 0:
            assert 8 <= opened.hour < 16 and opened.weekday() < 5, opened
        else:
            # the 15m bar opening at :45 is known from the close of the 5m bar at :55 on,
            # and held until the next 15m bar closes: on the 5m bars at :55, :00 and :05
            assert opened.hour < 8 or opened.minute in (55, 0, 5), opened

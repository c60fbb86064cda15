"""`hour`, `minute` and `dayofweek`: the UTC time of each bar's open, equal in both evaluators.

The values are held to Python's own calendar (`datetime`, 0 = Monday), on every shipped data
set, on the strategy's bars and on higher timeframes (`@4h`: the open of the last closed 4h bar),
and the streaming evaluator must give the vectorised evaluator's values bar for bar.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from rulebot.graph.clocks import aggregate
from rulebot.graph.plan import plan
from rulebot.graph.vectorised import evaluate, outputs
from rulebot.lang.load import compile_text
from tests.conftest import strategy_text
from tests.graph.conftest import CANDLE_FILES, candles, partner
from tests.graph.test_parity import assert_same, gapped

TIMEFRAMES = {"unittest_btc_1m.csv": "1m", "eurusd_1h.csv": "1h", "goog_1d.csv": "1d"}
"""Data sets whose bars are not 5 minutes long (the rest are 5m)."""

SESSION = """
param start = 8 in 0..20 step 4
let h = hour
let m = minute
let d = dayofweek
let minute_of_day = hour * 60 + minute
let held = if hour == start then close else nz(held[1])
entry long  when hour >= start and hour < 16 and dayofweek < 5 and close > open
entry short when dayofweek >= 5 and minute_of_day > 600 and hour@BTC == hour and close < open
exit  long  when hour[1] == 15 or close < held
"""


def calendar(stamps: np.ndarray) -> dict[str, np.ndarray]:
    """Each bar's hour, minute and weekday (0 = Monday), from `datetime`, not from rulebot."""
    moments = [datetime.fromtimestamp(int(t) / 1000, UTC) for t in stamps]
    return {
        "h": np.array([m.hour for m in moments], dtype=np.float64),
        "m": np.array([m.minute for m in moments], dtype=np.float64),
        "d": np.array([m.weekday() for m in moments], dtype=np.float64),
    }


def header(data: str) -> str:
    return f"strategy t\nmarket ETH\ntimeframe {TIMEFRAMES.get(data, '5m')}\n"


@pytest.mark.parametrize("data", CANDLE_FILES)
def test_time_of_day_is_the_utc_time_of_each_bar_open(data: str) -> None:
    compiled = compile_text(strategy_text(SESSION, header(data)), "t.rule")
    assert compiled.strategy is not None, [d.message for d in compiled.diagnostics]
    bars = candles(data)
    graph = plan(compiled.strategy)
    named = outputs(graph, evaluate(graph, {"ETH": bars, "BTC": bars}))
    expected = calendar(bars.timestamp)
    for name in ("h", "m", "d"):
        np.testing.assert_array_equal(named[f"let.{name}"], expected[name], err_msg=name)
    np.testing.assert_array_equal(named["let.minute_of_day"], expected["h"] * 60 + expected["m"])


@pytest.mark.parametrize("data", CANDLE_FILES)
def test_the_evaluators_agree_on_time_of_day_on_real_data(data: str) -> None:
    compiled = compile_text(strategy_text(SESSION, header(data)), "t.rule")
    assert compiled.strategy is not None
    graph = plan(compiled.strategy)
    bars = candles(data)
    other = next(c for c in CANDLE_FILES if c != data and c not in TIMEFRAMES)
    assert_same(graph, {"ETH": bars, "BTC": partner(bars, candles(other))})


def test_a_higher_timeframe_gives_the_open_of_its_last_closed_bar() -> None:
    body = (
        "let h4 = hour@4h\nlet d1 = dayofweek@1d\nlet m1h = minute@1h\n"
        "entry long when h4 == 8 and close > open"
    )
    compiled = compile_text(strategy_text(body), "t.rule")
    assert compiled.strategy is not None
    graph = plan(compiled.strategy)
    bars = gapped(candles("eth_btc_5m.csv"))
    assert_same(graph, {"ETH": bars})
    named = outputs(graph, evaluate(graph, {"ETH": bars}))
    for name, length, field in (("h4", 4 * 3_600_000, "h"), ("d1", 86_400_000, "d")):
        higher, known = aggregate(bars, 300_000, length)
        expected = np.full(len(bars), np.nan)
        expected[known] = calendar(higher.timestamp)[field]
        filled = np.maximum.accumulate(np.where(np.isnan(expected), -1, np.arange(len(bars))))
        want = np.where(filled >= 0, expected[np.maximum(filled, 0)], np.nan)
        np.testing.assert_array_equal(named[f"let.{name}"], want, err_msg=name)
    known_minutes = named["let.m1h"][~np.isnan(named["let.m1h"])]
    assert len(known_minutes) and np.all(known_minutes == 0)


def test_a_session_filter_changes_the_signals() -> None:
    """The filter is not vacuous: without it the same rule enters outside the session."""
    bars = candles("eth_btc_5m.csv")
    hours = calendar(bars.timestamp)["h"]
    signals = {}
    for name, condition in (("filtered", "hour >= 8 and hour < 16"), ("all", "true")):
        body = f"entry long when {condition} and close > open"
        graph = plan(compile_text(strategy_text(body), "t.rule").strategy)
        signals[name] = outputs(graph, evaluate(graph, {"ETH": bars}))["entry.long"]
    outside = (hours < 8) | (hours >= 16)
    assert signals["all"][outside].any()
    assert not signals["filtered"][outside].any()
    np.testing.assert_array_equal(signals["filtered"][~outside], signals["all"][~outside])

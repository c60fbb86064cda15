"""The checker on `hour`, `minute` and `dayofweek`: what it warns about (W512, W513) and, as
much, what it leaves alone. The warnings' full text is in the corpus snapshots (`cases/`)."""

from __future__ import annotations

import pytest

from rulebot.lang.load import compile_text
from tests.conftest import strategy_text


def codes(body: str, timeframe: str = "5m", live: bool = False) -> list[str]:
    header = f"strategy t\nmarket ETH\ntimeframe {timeframe}\n"
    compiled = compile_text(strategy_text(body, header), "t.rule", live=live)
    assert compiled.strategy is not None, [d.message for d in compiled.diagnostics]
    return [d.code for d in compiled.diagnostics]


@pytest.mark.parametrize(
    ("condition", "timeframe"),
    [
        ("hour >= 8 and hour < 16 and dayofweek < 5", "5m"),
        ("hour@BTC > 3", "5m"),
        ("hour == hour[1] and dayofweek@1d != dayofweek", "5m"),
        ("minute == 0", "5m"),
        ("minute >= 30", "15m"),
        ("hour == 8", "4h"),
        ("dayofweek == 6", "1d"),
        ("hour * 60 + minute >= 570", "5m"),
        ("hour >= 23", "1h"),
    ],
)
def test_session_filters_as_meant_check_clean(condition: str, timeframe: str) -> None:
    assert codes(f"entry long when {condition}", timeframe) == []


@pytest.mark.parametrize(
    ("condition", "timeframe", "code"),
    [
        ("hour > 24", "5m", "W513"),
        ("24 < hour", "5m", "W513"),  # either side
        ("hour >= 0", "5m", "W513"),  # always true
        ("dayofweek == 7", "5m", "W513"),
        ("minute > 0", "1h", "W513"),  # at the name: minute is always 0 on 1h bars
        ("minute@1h == 0", "5m", "W513"),
        ("hour == 9", "4h", "W513"),
        ("hour > 0", "1d", "W513"),
        ("dayofweek == 3", "1w", "W513"),
        ("hour < 30%", "5m", "W512"),
        ("hour > close", "5m", "W512"),
        ("dayofweek != sma(close, 20)", "5m", "W512"),
    ],
)
def test_misused_time_of_day_is_warned(condition: str, timeframe: str, code: str) -> None:
    assert codes(f"entry long when {condition} and close > open", timeframe) == [code]


def test_a_time_of_day_read_through_a_let_a_lookback_and_a_param_is_still_checked() -> None:
    body = "param late = 25\nlet h = hour\nentry long when h[2] >= late and close > open"
    assert codes(body) == ["W513"]


def test_time_of_day_runs_live() -> None:
    assert (
        codes("entry long when hour >= 8 and dayofweek < 5 and minute@15m == 45", live=True) == []
    )

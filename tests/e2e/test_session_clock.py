"""The time of day live against the sim: the bars the engine builds from the sim's candles over
the real lighter-sdk carry their open's UTC time into `hour`, `minute` and `dayofweek`, as
`datetime` reads it, on the strategy's bars and on a higher timeframe's."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from rulebot.venues.sim.serving import serve_sim
from rulebot.venues.sim.settings import SimSettings
from tests.e2e.test_truth import play_until, running

CLOCK = """strategy clock
market ETH
timeframe 5m
let h = hour
let m = minute
let d = dayofweek
let hourly = hour@1h
entry long when close < 0 and h + m + d + nz(hourly) >= 0
size 5% of equity
stop_loss 5%
"""
"""Never trades; reads the time of each bar."""


async def test_live_bars_carry_the_utc_time_of_their_open(tmp_path: Path) -> None:
    async with serve_sim(SimSettings(speed=0)) as sim, running(sim, tmp_path, CLOCK, []) as engine:
        live = engine.strategies["clock"].live
        seen: list[tuple[int, float, float, float]] = []

        def record() -> bool:
            if live.last_time is not None and (not seen or seen[-1][0] != live.last_time):
                value = live.evaluator.value
                seen.append((live.last_time, value("let.h"), value("let.m"), value("let.d")))
            return len(seen) >= 4

        await play_until(sim, engine, record)
    for time_ms, hour, minute, day in seen:
        opened = datetime.fromtimestamp(time_ms / 1000, UTC)
        assert (hour, minute, day) == (opened.hour, opened.minute, opened.weekday())
    assert len({minute for _, _, minute, _ in seen}) > 1  # the clock moves bar by bar

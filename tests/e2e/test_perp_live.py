"""A rule reading `funding` runs live: the engine subscribes to the sim's market stats and each
closed bar carries the rate of the last funding the venue paid, as a fraction.

The real engine, the real lighter-sdk over real sockets and a paused sim moved step by step."""

from __future__ import annotations

import contextlib
import functools
import math
from pathlib import Path

from rulebot.runtime.messages import Notice
from rulebot.venues.sim.serving import serve_sim
from rulebot.venues.sim.settings import SimSettings
from tests.e2e.test_in_flight import until
from tests.e2e.test_truth import running

XRP = 5
READER = """strategy reader
market XRP
timeframe 5m
let rate = funding
let oi = open_interest
entry long when funding > 1%
size 1% of equity
stop_loss 5%
"""
"""Reads the perpetual's series and never trades (no funding is 1% an interval)."""


async def test_live_bars_carry_the_venues_funding(tmp_path: Path) -> None:
    async with serve_sim(SimSettings(speed=0)) as sim:
        notices: list[Notice] = []
        async with running(sim, tmp_path, READER, notices) as engine:
            live = engine.strategies["reader"].live
            await until(lambda: "XRP" in engine.perp_stats, 10)
            bars_before = live.bar
            for _ in range(80):  # price points until two live bars have closed
                sim.simulation.advance(1)
                if live.bar >= bars_before + 2:
                    break
                taken = functools.partial(lambda t: engine.venue_ms >= t, sim.simulation.now_ms())
                with contextlib.suppress(TimeoutError):  # a print seen as history is not news
                    await until(taken, 5)
            assert live.bar >= bars_before + 2
            paid = sim.simulation.replay.last_funding(XRP)
            rate = live.evaluator.value("let.rate")
            assert paid is not None and rate == float(paid.rate)
            assert not math.isnan(live.evaluator.value("let.oi"))
        assert not [n for n in notices if n.kind == "crash"]

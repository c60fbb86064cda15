"""Thirty strategies entering at one bar close on a standard account: the bot spreads the burst
over the venue's rolling window (shortened here, on the sim and in rulebot.yaml alike) so the
venue never answers 429, and every entry lands once."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from rulebot.venues.sim.records import TX_CREATE_ORDER
from rulebot.venues.sim.serving import serve_sim
from rulebot.venues.sim.settings import SimSettings
from tests.e2e.test_in_flight import (
    always_long,
    engine_on,
    market_orders,
    nothing_in_flight,
    until,
    venue_position,
)
from tests.e2e.test_run import ROOMY_RISK

STRATEGIES = 30
WINDOW_S = 2.0  # the venue's minute, shortened for the test on both sides


async def test_thirty_entries_at_one_close_meet_no_429_and_lose_no_order(tmp_path: Path) -> None:
    names = [f"s{i:02d}" for i in range(STRATEGIES)]
    rules = {f"{name}.rule": always_long(name, size="100 USDC") for name in names}
    account = {"tier": "standard", "rate_window_s": WINDOW_S}
    risk = ROOMY_RISK | {"max_open_orders": 100}
    settings = SimSettings(speed=0, rate_limit_tier="standard", rate_window_s=WINDOW_S)
    async with (
        serve_sim(settings) as sim,
        engine_on(sim, tmp_path, rules, account=account, risk=risk) as engine,
    ):
        counted = sim.simulation.rate_limits.counted
        first = {name: engine.strategies[name].live.bar for name in names}
        sim.simulation.advance(bars=1)  # one close: every strategy wants in at once

        def all_in() -> bool:
            return all(
                engine.strategies[n].live.bar > first[n]
                and nothing_in_flight(engine, n)
                and engine.orders.position(n, "ETH").size != 0
                for n in names
            )

        await until(all_in, timeout=120)
        limits = sim.simulation.rate_limits
        assert limits.refused == 0  # the venue never said 429
        assert limits.counted - counted > 60  # more than one window's worth: it had to wait
        assert engine.venue.limiter.waits > 0
        created = [
            r["tx_info"]["ClientOrderIndex"]
            for r in sim.simulation.transaction_log()
            if r["tx_type"] == TX_CREATE_ORDER
        ]
        sent = [o for n in names for o in market_orders(engine, n)]
        assert len(sent) == STRATEGIES  # one entry each, none lost, none twice
        assert sorted(created) == sorted(o.client_order_index for o in sent)
        held = sum((engine.orders.position(n, "ETH").size for n in names), Decimal(0))
        assert held == venue_position(sim)

"""The venue's rate limits per account tier, as the sim enforces them (off unless a tier is set):
seen through lighter-sdk, and as arithmetic over explicit times."""

from __future__ import annotations

import json

import lighter
import pytest
from lighter.exceptions import ApiException

from rulebot.venues.sim.ratelimits import RateLimits
from rulebot.venues.sim.settings import SettingsError, SimSettings
from tests.venues.conftest import MakeSim

TOO_MANY = {"code": 23000, "message": "Too Many Requests!"}


async def test_a_standard_account_gets_60_requests_a_window_then_the_venues_429(
    make_sim: MakeSim,
) -> None:
    sim = await make_sim(rate_limit_tier="standard", rate_window_s=60)
    client = lighter.ApiClient(lighter.Configuration(host=sim.url))
    try:
        api = lighter.OrderApi(client)
        for _ in range(60):
            await api.order_book_details(market_id=0)
        with pytest.raises(ApiException) as limited:
            await api.order_books()
        assert limited.value.status == 429
        assert json.loads(limited.value.body) == TOO_MANY
        assert "Retry-After" not in (limited.value.headers or {})
        await lighter.RootApi(client).status()  # outside /api/v1: not counted
    finally:
        await client.close()
    assert sim.simulation.rate_limits.snapshot() == {
        "tier": "standard",
        "window_s": 60,
        "counted": 60,
        "weight": 60 * 300,
        "refused": 1,
    }


async def test_without_a_tier_the_sim_has_no_limits(make_sim: MakeSim) -> None:
    sim = await make_sim()
    client = lighter.ApiClient(lighter.Configuration(host=sim.url))
    try:
        api = lighter.OrderApi(client)
        for _ in range(70):
            await api.order_book_details(market_id=0)
    finally:
        await client.close()
    assert sim.simulation.rate_limits.refused == 0


def test_heavy_endpoints_count_by_weight() -> None:
    standard = RateLimits("standard", 60)
    assert all(standard.allow("a", "recentTrades", 0.0) for _ in range(40))
    assert not standard.allow("a", "recentTrades", 1.0)  # 24,000 / 600 = 40 a minute
    assert standard.allow("a", "account", 1.0)  # other endpoints: up to 60 in all
    assert standard.allow("b", "recentTrades", 1.0)  # another client counts on its own
    assert standard.allow("a", "recentTrades", 60.0)  # the window rolled on

    premium = RateLimits("premium", 60)
    assert all(premium.allow("a", "account", 0.0) for _ in range(79))  # 79 x 300 = 23,700
    assert all(premium.allow("a", "sendTx", 0.0) for _ in range(50))  # 50 x 6 = 300
    assert not premium.allow("a", "sendTx", 0.0)
    assert premium.refused == 1


def test_bad_tiers_and_windows_are_refused() -> None:
    with pytest.raises(SettingsError, match="unknown account tier 'gold'"):
        SimSettings(rate_limit_tier="gold")
    with pytest.raises(SettingsError, match="rate_window_s"):
        SimSettings(rate_window_s=0)

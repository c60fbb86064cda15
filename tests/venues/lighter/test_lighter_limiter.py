"""The rate budget: the venue's weights and tiers as arithmetic, the order of urgency when
requests wait, and, against the sim enforcing a standard account's limits over a shortened
window, no 429 while the limiter keeps the budget, and a 429 waited out rather than given up."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import pytest

from rulebot.config import Config, check_config
from rulebot.lang.diagnostics import Source
from rulebot.runtime.venue import account_venue, venue_for
from rulebot.venues.lighter.client import LighterVenue, order_priority
from rulebot.venues.lighter.errors import RateLimited
from rulebot.venues.lighter.limiter import (
    CAPACITY,
    Priority,
    RateBudget,
    RateLimiter,
    Window,
    at_priority,
    current_priority,
    priority,
)
from rulebot.venues.lighter.records import OrderRequest
from rulebot.venues.sim.records import TX_CANCEL_ORDER, TX_CREATE_ORDER
from tests.venues.conftest import MakeSim
from tests.venues.lighter.conftest import MakeVenue, best_prices

# --- arithmetic --------------------------------------------------------------------------------


def test_a_standard_account_sends_60_requests_a_window_and_40_of_the_heaviest() -> None:
    standard = RateBudget("standard")
    assert CAPACITY // standard.cost("account") == 60
    assert CAPACITY // standard.cost("sendTx") == 60  # light endpoints still count as one of 60
    assert CAPACITY // standard.cost("recentTrades") == 40  # 24,000 / 600
    assert CAPACITY // standard.cost("changeAccountTier") == 8


def test_a_premium_account_spends_the_endpoints_weights() -> None:
    premium = RateBudget("premium")
    weights = {name: premium.cost(name) for name in ("sendTx", "nextNonce", "trades")}
    assert weights == {"sendTx": 6, "nextNonce": 6, "trades": 600}
    assert premium.cost("accountInactiveOrders") == 100
    assert premium.cost("orderBookOrders") == 300  # not listed: the venue's 300
    # a market order: the book, the transaction, its confirmation by client order index
    market_order = {"orderBookOrders": 1, "sendTx": 1, "accountOrders": 1}
    assert premium.per_window(market_order) == CAPACITY / 606
    assert RateBudget("standard").per_window(market_order) == 20


def test_a_window_frees_what_it_spent_one_length_after_the_answer() -> None:
    window = Window(60.0)
    first = window.spend(0.0, 400)
    window.settle(window.spend(10.0, 400), 10.0)
    assert window.used(59.0) == 800
    assert window.wait(59.0, 400, 800) == 1.0  # the first frees at 60
    window.settle(first, 5.0)  # its answer came at 5: the venue may have counted it then
    assert window.wait(59.0, 400, 800) == 6.0
    assert window.used(65.0) == 400
    assert window.wait(65.0, 400, 800) == 0.0
    slow = window.spend(70.0, 400)
    assert window.used(131.0) == 0  # in flight past a window: no longer counted meanwhile...
    window.settle(slow, 131.0)
    assert window.used(131.0) == 400  # ...but counted again from its answer


def test_each_urgency_may_fill_its_share_of_the_window() -> None:
    budget = RateBudget("standard")
    window = Window(60.0)
    for _ in range(48):
        window.spend(0.0, budget.cost("account"))
    cost = budget.cost("account")
    assert window.wait(1.0, cost, budget.ceiling(Priority.DATA)) > 0  # data: 80%, 48 of 60
    assert window.wait(1.0, cost, budget.ceiling(Priority.ENTRY)) == 0  # entries: 54 of 60
    for _ in range(6):
        window.spend(1.0, cost)
    assert window.wait(2.0, cost, budget.ceiling(Priority.ENTRY)) > 0
    assert window.wait(2.0, cost, budget.ceiling(Priority.PROTECT)) == 0  # the rest is theirs


def test_unknown_tiers_and_windows_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="unknown account tier 'gold'"):
        RateBudget("gold")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="more than 0 seconds"):
        RateBudget("standard", window_s=0)


# --- urgency -----------------------------------------------------------------------------------


def test_orders_are_as_urgent_as_what_they_do() -> None:
    def urgency(**fields: object) -> Priority:
        return order_priority(None, OrderRequest("ETH", "sell", Decimal(1), **fields))  # type: ignore[arg-type]

    assert urgency(kind="stop_loss", trigger_price=Decimal(90)) is Priority.PROTECT
    assert urgency(kind="take_profit_limit", trigger_price=Decimal(9), price=9) is Priority.PROTECT
    assert urgency(kind="market", reduce_only=True) is Priority.EXIT
    assert urgency(kind="market") is Priority.ENTRY


async def test_nested_reads_inherit_the_urgency_and_a_more_urgent_caller_wins() -> None:
    seen: list[Priority] = []

    async def read() -> None:
        seen.append(current_priority())

    @at_priority(Priority.ENTRY)
    async def enter() -> None:
        await read()

    await read()
    await enter()
    with priority(Priority.EXIT):
        await enter()
    await read()
    assert seen == [Priority.DATA, Priority.ENTRY, Priority.EXIT, Priority.DATA]


async def test_when_the_window_is_full_the_most_urgent_goes_first() -> None:
    limiter = RateLimiter(RateBudget("standard", window_s=0.5))
    with priority(Priority.PROTECT):
        for _ in range(60):
            limiter.settle(await limiter.acquire("account"))  # the window is full
    granted: list[str] = []

    async def request(level: Priority, name: str) -> None:
        with priority(level):
            limiter.settle(await limiter.acquire("account"))
        granted.append(name)

    tasks = [
        asyncio.create_task(request(level, name))
        for level, name in [
            (Priority.DATA, "candles"),
            (Priority.ENTRY, "entry"),
            (Priority.DATA, "account"),
            (Priority.EXIT, "exit"),
            (Priority.PROTECT, "cancel"),
        ]
    ]
    await asyncio.gather(*tasks)
    assert granted == ["cancel", "exit", "entry", "candles", "account"]
    assert limiter.waits == 5


async def test_a_request_cancelled_while_waiting_leaves_the_queue() -> None:
    limiter = RateLimiter(RateBudget("standard", window_s=1.0))
    with priority(Priority.PROTECT):
        for _ in range(60):
            await limiter.acquire("account")
    waiting = asyncio.create_task(limiter.acquire("account"))
    await asyncio.sleep(0.05)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await limiter.acquire("account")  # not stuck behind the cancelled one
    assert limiter.sent["account"] == 61


def test_a_429_holds_for_the_venues_minute_at_most() -> None:
    limiter = RateLimiter(RateBudget("standard", window_s=60.0))
    assert limiter.refused(0.0, 60.0, 0.5) is None  # a whole minute: give up at once
    assert limiter.refused(0.0, 5.0, 0.5) == 5.0  # as the venue asks
    assert limiter.refused(58.0, 5.0, 0.5) is None  # past the minute in all
    waited = 0.0
    pauses = []
    while (pause := limiter.refused(waited, None, 0.5)) is not None:
        pauses.append(pause)
        waited += pause
    assert waited == 60.0  # it backs off for one window in all, not a few seconds
    assert pauses == sorted(pauses[:-1]) + pauses[-1:]  # growing, the last one what is left
    assert limiter.refusals == len(pauses) + 4


# --- against the sim enforcing a standard account's limits -------------------------------------

WINDOW_S = 5.0
SIZE = Decimal(200)


def sent(venue: LighterVenue) -> int:
    """How many requests the venue's limiter has let go so far."""
    return sum(venue.limiter.sent.values())


async def test_the_limiter_keeps_a_standard_account_within_the_venues_limits(
    make_sim: MakeSim, make_venue: MakeVenue
) -> None:
    sim = await make_sim(rate_limit_tier="standard", rate_window_s=WINDOW_S / 2)
    venue = await make_venue(sim, tier="standard", rate_window_s=WINDOW_S / 2)
    reads = [venue.account() for _ in range(70)] + [venue.recent_trades("ETH") for _ in range(5)]
    await asyncio.gather(*reads)
    limits = sim.simulation.rate_limits
    assert limits.refused == 0 and venue.limiter.refusals == 0
    assert limits.counted > 60  # more than one window's worth: the limiter had to spread them
    assert venue.limiter.waits > 0


async def test_a_cancel_goes_to_the_venue_before_entries_that_waited_longer(
    make_sim: MakeSim, make_venue: MakeVenue
) -> None:
    sim = await make_sim(rate_limit_tier="standard", rate_window_s=WINDOW_S / 2)
    venue = await make_venue(sim, tier="standard", rate_window_s=WINDOW_S / 2)
    bid, _ = best_prices(sim)
    low = bid * Decimal("0.9")
    resting = await venue.place_order(OrderRequest("ETH", "buy", SIZE, price=low), confirm=True)
    with priority(Priority.PROTECT):  # fill the window exactly, with requests that all go now
        await asyncio.gather(*(venue.account() for _ in range(60 - sent(venue))))
    entries = [
        asyncio.create_task(venue.place_order(OrderRequest("ETH", "buy", SIZE, price=low)))
        for _ in range(3)
    ]
    await asyncio.sleep(0.1)  # the entries are waiting for room
    assert resting.order_index is not None
    await venue.cancel_order("ETH", resting.order_index)
    await asyncio.gather(*entries)
    kinds = [r["tx_type"] for r in sim.simulation.transaction_log()]
    assert kinds == [TX_CREATE_ORDER, TX_CANCEL_ORDER] + [TX_CREATE_ORDER] * 3
    assert sim.simulation.rate_limits.refused == 0


async def test_an_orders_settle_time_leaves_out_its_look_ups_wait_for_room(
    make_sim: MakeSim, make_venue: MakeVenue
) -> None:
    sim = await make_sim(rate_limit_tier="standard", rate_window_s=WINDOW_S / 2)
    venue = await make_venue(sim, tier="standard", rate_window_s=WINDOW_S / 2, settle_timeout=0.3)
    bid, _ = best_prices(sim)
    await venue.sender.nonces.next(venue.api_key_index)  # known: the order sends one request
    with priority(Priority.PROTECT):  # leave the window room for one request
        await asyncio.gather(*(venue.account() for _ in range(59 - sent(venue))))
        order = OrderRequest("ETH", "buy", SIZE, price=bid * Decimal("0.9"))
        ack = await venue.place_order(order)  # sent; its look-up waits a window for room
    assert venue.limiter.waits == 1  # the look-up, and nothing else
    assert ack.status == "open" and ack.order_index is not None  # not "unknown"
    assert sim.simulation.rate_limits.refused == 0


async def test_a_429_is_waited_out_for_up_to_the_venues_window(
    make_sim: MakeSim, make_venue: MakeVenue
) -> None:
    """A client that does not know the account's tier (no budget of its own) meets the venue's
    limit: it waits and tries again for up to one window, so every read comes back."""
    sim = await make_sim(rate_limit_tier="standard", rate_window_s=WINDOW_S)
    venue = await make_venue(sim, tier=None, rate_window_s=WINDOW_S, rng=random.Random(3))
    for _ in range(65):
        await venue.account()
    assert sim.simulation.rate_limits.refused > 0  # the venue did refuse some
    assert venue.limiter.refusals == sim.simulation.rate_limits.refused


async def test_a_429_that_outlasts_the_window_reaches_the_caller(
    make_sim: MakeSim, make_venue: MakeVenue
) -> None:
    sim = await make_sim()
    venue: LighterVenue = await make_venue(sim, rate_window_s=1.0)
    sim.simulation.faults.rate_limit(1000, path="/api/v1/account", retry_after_s=0)
    with pytest.raises(RateLimited):
        await venue.account()
    assert sim.simulation.faults.counts["rate_limited"] > 6  # tried for the window, not 6 times


# --- the tier from rulebot.yaml ----------------------------------------------------------------


def test_the_tier_and_window_come_from_rulebot_yaml() -> None:
    text = "network: {name: testnet}\naccount: {tier: premium, rate_window_s: 30}\n"
    config, diagnostics = check_config(Source("rulebot.yaml", text))
    assert diagnostics == [] and config is not None
    venue = account_venue(config, "http://127.0.0.1:1", paper=True)
    assert venue.limiter.budget == RateBudget("premium", window_s=30)
    unset, _ = check_config(Source("rulebot.yaml", "network: {name: testnet}\n"))
    assert unset is not None
    lighter = account_venue(unset, "http://127.0.0.1:2", paper=True)
    assert lighter.limiter.budget == RateBudget("standard")  # Lighter's accounts start standard
    sim, _ = check_config(Source("rulebot.yaml", "network: {name: sim}\n"))
    assert sim is not None
    assert account_venue(sim, "http://127.0.0.1:3").limiter.budget is None  # a plain sim


def test_a_misspelt_tier_is_a_located_diagnostic() -> None:
    _, diagnostics = check_config(Source("rulebot.yaml", "account:\n  tier: gold\n"))
    (diagnostic,) = diagnostics
    assert diagnostic.span.line == 2
    assert "`account.tier` must be one of `standard` or `premium`" in diagnostic.message


async def test_a_tier_set_for_the_bots_own_sim_starts_the_sim_with_those_limits() -> None:
    config = Config.model_validate(
        {
            "network": {"name": "sim"},
            "account": {"tier": "standard", "rate_window_s": 5},
            "dry_run": False,
        }
    )
    async with venue_for(config) as (venue, _url, sim):
        assert sim.simulation.rate_limits.tier == "standard"
        assert sim.simulation.rate_limits.window_s == 5
        assert venue.limiter.budget == RateBudget("standard", window_s=5)


def test_room_now_is_the_share_of_the_window_left_to_an_urgency() -> None:
    now = [0.0]
    limiter = RateLimiter(RateBudget("premium", window_s=60.0), clock=lambda: now[0])
    modify = ("accountActiveOrders", "sendTx")
    assert limiter.has_room(modify, Priority.ENTRY)
    spent = limiter._window.spend(0.0, CAPACITY * 90 // 100 - 300)  # entries' share all but full
    assert not limiter.has_room(modify, Priority.ENTRY)  # 306 more is past 90%
    assert limiter.has_room(modify, Priority.EXIT)  # exits may use the rest
    now[0] = 61.0  # the window moved on
    assert limiter.has_room(modify, Priority.ENTRY)
    limiter.settle(spent)
    assert not limiter.has_room(modify, Priority.ENTRY)  # counted again from its answer
    assert RateLimiter(None).has_room(modify, Priority.ENTRY)  # no budget: always room

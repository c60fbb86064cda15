"""When the rate budget is short, the order manager's exits reach the venue before its entries:
on a real journal and the real lighter-sdk against a sim that enforces a standard account's
limits over a shortened window."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import lighter

from rulebot.runtime.journal import Journal
from rulebot.runtime.messages import Intent, IntentAction, OrderRecord
from rulebot.runtime.orders import OrderManager
from rulebot.venues.lighter.client import LighterVenue
from rulebot.venues.lighter.limiter import CAPACITY, Priority, RateBudget, priority
from rulebot.venues.lighter.retry import RetryPolicy
from rulebot.venues.sim.records import TX_CANCEL_ORDER, TX_CREATE_ORDER, AccountSettings
from rulebot.venues.sim.serving import RunningSim, serve_sim
from rulebot.venues.sim.settings import SimSettings
from tests.venues.lighter.conftest import accepted_orders

ACCOUNT = 1
SIZE = Decimal(200)  # ETH in the sim is quoted in BTC: 200 ETH is about 19 "USDC" of notional
WINDOW_S = 2.5
"""The rate window of both the sim and the bot (the venue's minute, shortened)."""
QUICK = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, max_retry_after=5)


@contextlib.asynccontextmanager
async def standard_account(
    tmp_path: Path,
) -> AsyncIterator[tuple[RunningSim, LighterVenue, OrderManager]]:
    """A paused sim limiting a standard account, a `LighterVenue` keeping the same budget, and an
    order manager for strategies "a" and "b", which share ETH (so a close is a plain order, not
    reduce-only: only the manager says it exits)."""
    settings = SimSettings(
        speed=0,
        accounts=(AccountSettings(ACCOUNT, collateral=Decimal(100_000)),),
        rate_limit_tier="standard",
        rate_window_s=WINDOW_S,
    )
    async with serve_sim(settings) as sim:
        private_key, _public, error = lighter.signer_client.create_api_key()
        assert error is None
        venue = LighterVenue(
            "sim", url=sim.url, account_index=ACCOUNT, api_key_index=3, private_key=private_key,
            retry=QUICK, request_timeout=5.0, settle_timeout=0.3, rng=random.Random(7),
            tier="standard", rate_window_s=WINDOW_S,
        )  # fmt: skip
        journal = Journal.open(tmp_path / "j.sqlite")
        try:
            await venue.connect()
            orders = OrderManager(venue, journal, account_index=ACCOUNT, now_ms=lambda: 1)
            orders.register("a", "ETH")
            orders.register("b", "ETH")
            yield sim, venue, orders
        finally:
            journal.close()
            await venue.close()


def intent(strategy: str, action: IntentAction) -> Intent:
    return Intent(strategy, "ETH", action, SIZE, "signal", 0, Decimal(1))


async def fill_what_entries_may_use(venue: LighterVenue) -> None:
    """Spend the window exactly up to the share entries may fill (54 of a standard account's 60
    requests), with reads that all go at once: entries must then wait, exits and stops need not.
    First the setup's requests leave the window (however long the setup took), so the count is
    exact."""
    await asyncio.sleep(WINDOW_S + 0.1)  # longer only empties the window more
    venue.limiter.reset_counts()
    budget = RateBudget("standard", WINDOW_S)
    entries_may_send = budget.ceiling(Priority.ENTRY) // budget.cost("account")
    with priority(Priority.PROTECT):
        await asyncio.gather(*(venue.account() for _ in range(entries_may_send)))
    assert sum(venue.limiter.sent.values()) * budget.cost("account") == CAPACITY * 90 // 100
    assert venue.limiter.waits == 0


async def hold(venue: LighterVenue, orders: OrderManager, strategy: str) -> OrderRecord:
    """Give `strategy` a position through the manager: an entry, its fills booked as the runtime
    books them."""
    entry = await orders.execute(intent(strategy, "open_long"))
    assert entry is not None and entry.state == "sent"
    orders.on_trades(await venue.account_trades())
    assert orders.position(strategy, "ETH").size == SIZE
    return entry


def created(sim: RunningSim) -> list[int]:
    """The client order indexes of the create-order transactions the sim applied, in order."""
    return [record["tx_info"]["ClientOrderIndex"] for record in accepted_orders(sim)]


async def test_a_close_reaches_the_venue_before_an_entry_that_waited_longer(
    tmp_path: Path,
) -> None:
    async with standard_account(tmp_path) as (sim, venue, orders):
        held = await hold(venue, orders, "b")
        await fill_what_entries_may_use(venue)
        entry = asyncio.create_task(orders.execute(intent("a", "open_long")))
        await asyncio.sleep(0.1)  # the entry is waiting for room
        assert not entry.done()
        close = await orders.execute(intent("b", "close"))
        opened = await entry
        assert close is not None and close.state == "sent"
        assert opened is not None and opened.state == "sent"
        assert created(sim) == [
            held.client_order_index,
            close.client_order_index,
            opened.client_order_index,
        ]
        assert sim.simulation.rate_limits.refused == 0


async def test_a_stop_is_moved_at_the_venue_before_an_entry_that_waited_longer(
    tmp_path: Path,
) -> None:
    async with standard_account(tmp_path) as (sim, venue, orders):
        held = await hold(venue, orders, "b")
        bid = (await venue.order_book("ETH", depth=1)).best_bid
        assert bid is not None
        await orders.protect("b", "ETH", bid * Decimal("0.9"), None)
        stop = orders.books[("b", "ETH")].stop
        assert stop is not None
        await fill_what_entries_may_use(venue)
        entry = asyncio.create_task(orders.execute(intent("a", "open_long")))
        await asyncio.sleep(0.1)  # the entry is waiting for room
        assert not entry.done()
        await orders.protect("b", "ETH", bid * Decimal("0.8"), None)  # looked up, cancelled, new
        opened = await entry
        assert opened is not None and opened.state == "sent"
        moved = orders.books[("b", "ETH")].stop
        assert moved is not None and moved.client_order_index != stop.client_order_index
        kinds = [r["tx_type"] for r in sim.simulation.transaction_log()]
        assert kinds == [TX_CREATE_ORDER] * 2 + [TX_CANCEL_ORDER] + [TX_CREATE_ORDER] * 2
        assert created(sim) == [
            held.client_order_index,
            stop.client_order_index,
            moved.client_order_index,
            opened.client_order_index,
        ]
        assert sim.simulation.rate_limits.refused == 0


async def test_a_stop_is_cancelled_at_the_venue_before_an_entry_that_waited_longer(
    tmp_path: Path,
) -> None:
    async with standard_account(tmp_path) as (sim, venue, orders):
        await hold(venue, orders, "b")
        bid = (await venue.order_book("ETH", depth=1)).best_bid
        assert bid is not None
        await orders.protect("b", "ETH", bid * Decimal("0.9"), None)
        await fill_what_entries_may_use(venue)
        entry = asyncio.create_task(orders.execute(intent("a", "open_long")))
        await asyncio.sleep(0.1)  # the entry is waiting for room
        assert not entry.done()
        assert await orders.cancel_protective("b", "ETH") is False  # looked up, then cancelled
        opened = await entry
        assert opened is not None and opened.state == "sent"
        kinds = [r["tx_type"] for r in sim.simulation.transaction_log()]
        assert kinds == [TX_CREATE_ORDER] * 2 + [TX_CANCEL_ORDER, TX_CREATE_ORDER]
        assert sim.simulation.rate_limits.refused == 0

"""What the order manager does with an order's fate, on a real journal and the real lighter-sdk
against the sim: an order not seen in time is journaled `unknown` and looked up by its client
order index before anything else goes out for that strategy and market, and a restart finds an
old filled order filled, however many orders came after it."""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import lighter

from rulebot.runtime.journal import Journal
from rulebot.runtime.messages import Intent, OrderRecord
from rulebot.runtime.orders import UNSEEN_GRACE_MS, OrderManager
from rulebot.venues.lighter.client import LighterVenue
from rulebot.venues.lighter.records import OrderRequest
from rulebot.venues.lighter.retry import RetryPolicy
from rulebot.venues.sim.records import AccountSettings
from rulebot.venues.sim.serving import RunningSim, serve_sim
from rulebot.venues.sim.settings import SimSettings
from tests.venues.lighter.conftest import accepted_orders

ACCOUNT = 1
ACCOUNT_ORDERS = "/api/v1/accountOrders"
SIZE = Decimal(200)  # ETH in the sim is quoted in BTC: 200 ETH is about 19 "USDC" of notional
QUICK = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, max_retry_after=5)


class Clock:
    """The manager's clock, moved by the test (the grace of an unseen order is measured on it)."""

    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def __call__(self) -> int:
        return self.now


@contextlib.asynccontextmanager
async def trading(
    tmp_path: Path, collateral: Decimal = Decimal(100_000)
) -> AsyncIterator[tuple[RunningSim, LighterVenue, Journal]]:
    """A paused sim, a `LighterVenue` on it (a short settle time) and a fresh journal."""
    settings = SimSettings(speed=0, accounts=(AccountSettings(ACCOUNT, collateral=collateral),))
    async with serve_sim(settings) as sim:
        private_key, _public, error = lighter.signer_client.create_api_key()
        assert error is None
        venue = LighterVenue(
            "sim", url=sim.url, account_index=ACCOUNT, api_key_index=3, private_key=private_key,
            retry=QUICK, request_timeout=5.0, settle_timeout=0.3, rng=random.Random(7),
        )  # fmt: skip
        journal = Journal.open(tmp_path / "j.sqlite")
        try:
            yield sim, await venue.connect(), journal
        finally:
            journal.close()
            await venue.close()


def buy(size: Decimal = SIZE, strategy: str = "s") -> Intent:
    return Intent(strategy, "ETH", "open_long", size, "signal", 0, Decimal(1))


def creates(sim: RunningSim) -> list[int]:
    """The client order indexes of the create-order transactions the sim applied, in order."""
    return [record["tx_info"]["ClientOrderIndex"] for record in accepted_orders(sim)]


async def test_an_unseen_order_is_unknown_and_looked_up_before_the_next_order(
    tmp_path: Path,
) -> None:
    async with trading(tmp_path) as (sim, venue, journal):
        clock = Clock(venue.new_client_order_index())
        orders = OrderManager(venue, journal, account_index=ACCOUNT, now_ms=clock)
        orders.register("s", "ETH")
        faults = sim.simulation.faults
        faults.server_error(1_000, path=ACCOUNT_ORDERS)  # the venue shows no order for now
        first = await orders.execute(buy())
        assert first is not None and first.state == "unknown"  # not "sent": never a success
        assert [o.client_order_index for o in orders.in_flight("s", "ETH")] == [
            first.client_order_index
        ]
        assert await orders.execute(buy()) is None  # its fate first: nothing else goes out
        assert creates(sim) == [first.client_order_index]
        faults.clear()
        second = await orders.execute(buy())  # looked up first, then sent
        assert second is not None and second.state == "sent"
        assert creates(sim) == [first.client_order_index, second.client_order_index]
        known = journal.order(first.client_order_index)
        assert known is not None and known.state == "sent"  # filled there, fills to book
        orders.on_trades(await venue.account_trades())
        assert journal.order(first.client_order_index).state == "filled"  # type: ignore[union-attr]
        assert orders.position("s", "ETH").size == 2 * SIZE


async def test_an_unknown_order_the_venue_cancelled_on_arrival_is_refused_with_its_reason(
    tmp_path: Path,
) -> None:
    async with trading(tmp_path, collateral=Decimal(100)) as (sim, venue, journal):
        orders = OrderManager(venue, journal, account_index=ACCOUNT, now_ms=Clock(1))
        orders.register("s", "ETH")
        sim.simulation.faults.server_error(1_000, path=ACCOUNT_ORDERS)
        huge = await orders.execute(buy(SIZE * 1_000))  # far beyond the margin of 100 USDC
        assert huge is not None and huge.state == "unknown"
        sim.simulation.faults.clear()
        assert await orders.resolve_unknown("s", "ETH") == []
        refused = journal.order(huge.client_order_index)
        assert refused is not None and refused.state == "rejected"
        assert refused.reason == "not enough margin for the order (canceled-margin-not-allowed)"
        assert orders.in_flight("s", "ETH") == []


async def test_an_unknown_order_never_shown_is_taken_as_never_arrived_after_its_grace(
    tmp_path: Path,
) -> None:
    async with trading(tmp_path) as (_sim, venue, journal):
        clock = Clock(1_000_000)
        orders = OrderManager(venue, journal, account_index=ACCOUNT, now_ms=clock)
        orders.register("s", "ETH")
        lost = OrderRecord(
            client_order_index=4242, strategy="s", market="ETH", side="buy", kind="market",
            size=SIZE, price=None, trigger_price=None, reduce_only=False, state="unknown",
            created_ms=clock.now, updated_ms=clock.now,
        )  # fmt: skip
        journal.record_order(lost)
        assert await orders.resolve_unknown("s", "ETH") == [lost]  # within its grace: unknown
        assert await orders.execute(buy()) is None
        assert await orders.settle([lost]) == [
            (lost, "unknown", "sent, not seen at the venue yet", False)
        ]
        clock.now += UNSEEN_GRACE_MS + 1
        sent = await orders.execute(buy())
        assert sent is not None and sent.state == "sent"
        gone = journal.order(4242)
        assert gone is not None and (gone.state, gone.reason) == (
            "canceled",
            "never reached the venue",
        )


async def test_a_restart_finds_an_old_filled_order_filled_not_cancelled(tmp_path: Path) -> None:
    async with trading(tmp_path) as (_sim, venue, journal):
        clock = Clock(1)
        orders = OrderManager(venue, journal, account_index=ACCOUNT, now_ms=clock)
        orders.register("s", "ETH")
        first = await orders.execute(buy())
        assert first is not None and first.state == "sent"
        # the bot dies before it books the fill; meanwhile 120 more orders come and go
        bid = (await venue.order_book("ETH", depth=1)).best_bid
        assert bid is not None
        for _ in range(120):  # IOC buys under the book: cancelled at once
            far = OrderRequest("ETH", "buy", SIZE, price=bid * Decimal("0.9"), time_in_force="ioc")
            await venue.place_order(far, confirm=False)
        history = await venue.order_history("ETH", limit=100)
        assert first.client_order_index not in {o.client_order_index for o in history}
        restarted = OrderManager(venue, journal, account_index=ACCOUNT, now_ms=clock)
        restarted.register("s", "ETH")
        (note,) = await restarted.reconcile(["ETH"])
        assert note == f"order {first.client_order_index} (s): filled"
        record = journal.order(first.client_order_index)
        assert record is not None and record.state == "filled"


async def test_a_stop_of_unknown_fate_is_looked_up_before_it_is_moved(tmp_path: Path) -> None:
    async with trading(tmp_path) as (sim, venue, journal):
        orders = OrderManager(venue, journal, account_index=ACCOUNT, now_ms=Clock(1))
        orders.register("s", "ETH")
        entry = await orders.execute(buy())
        assert entry is not None and entry.state == "sent"
        orders.on_trades(await venue.account_trades())
        bid = (await venue.order_book("ETH", depth=1)).best_bid
        assert bid is not None and orders.position("s", "ETH").size == SIZE
        sim.simulation.faults.server_error(1_000, path=ACCOUNT_ORDERS)
        await orders.protect("s", "ETH", bid * Decimal("0.9"), None)
        stop = orders.books[("s", "ETH")].stop
        assert stop is not None
        assert journal.order(stop.client_order_index).state == "unknown"  # type: ignore[union-attr]
        sent = creates(sim)
        await orders.protect("s", "ETH", bid * Decimal("0.8"), None)  # not moved blind
        assert creates(sim) == sent
        sim.simulation.faults.clear()
        await orders.protect("s", "ETH", bid * Decimal("0.8"), None)
        placed = journal.order(stop.client_order_index)
        assert placed is not None and placed.state == "canceled"  # found resting, then moved
        moved = orders.books[("s", "ETH")].stop
        assert moved is not None and moved.client_order_index != stop.client_order_index
        (resting,) = await venue.open_orders("ETH")
        assert resting.client_order_index == moved.client_order_index

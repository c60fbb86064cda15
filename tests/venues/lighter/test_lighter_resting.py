"""A resting entry through the order manager and the real adapter, against the sim enforcing a
standard account's rate limits: placed at its level rounded toward safety, moved by a modify
(the same order at the venue) only when the rate budget has room for an entry's requests, and
kept where it is (said at DEBUG) when it has not."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from rulebot.runtime.journal import Journal
from rulebot.runtime.messages import Intent
from rulebot.runtime.orders import OrderManager
from rulebot.runtime.resting_orders import MODIFY_REQUESTS, cancel_resting
from rulebot.venues.lighter.errors import OrderRejected
from rulebot.venues.lighter.limiter import Priority, priority
from rulebot.venues.lighter.records import OrderRequest
from rulebot.venues.sim.records import TX_CANCEL_ORDER, TX_CREATE_ORDER, TX_MODIFY_ORDER
from rulebot.venues.sim.serving import RunningSim
from tests.venues.conftest import MakeSim
from tests.venues.lighter.conftest import ACCOUNT, MakeVenue

WINDOW_S = 2.0


def sent(sim: RunningSim, tx_type: int) -> list[dict]:
    return [t["tx_info"] for t in sim.simulation.transaction_log() if t["tx_type"] == tx_type]


async def test_a_resting_entry_moves_only_when_the_rate_budget_has_room(
    make_sim: MakeSim, make_venue: MakeVenue, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "rulebot.orders")
    sim = await make_sim(rate_limit_tier="standard", rate_window_s=WINDOW_S)
    venue = await make_venue(sim, tier="standard", rate_window_s=WINDOW_S)
    info = await venue.market("ETH")
    (last,) = await venue.recent_trades("ETH", 1)
    level = last.price * Decimal("0.9") + info.price_step / 3  # off the grid: rounded down
    with Journal.open(tmp_path / "j.sqlite") as journal:
        orders = OrderManager(venue, journal, account_index=ACCOUNT, now_ms=lambda: 0)
        orders.register("fader", "ETH")
        intent = Intent(
            "fader", "ETH", "open_long", Decimal(200), "signal", 0, last.price,
            order="limit", level=level, post_only=True,
        )  # fmt: skip
        placed = await orders.execute(intent)
        assert placed is not None and placed.state == "sent" and placed.kind == "limit"
        assert placed.price == level.quantize(info.price_step, "ROUND_FLOOR") < level
        (created,) = sent(sim, TX_CREATE_ORDER)
        (order,) = await venue.open_orders("ETH")
        assert (order.time_in_force, order.reduce_only) == ("post-only", False)

        with priority(Priority.EXIT):  # exits may fill the window past the entries' share
            while venue.limiter.has_room(MODIFY_REQUESTS, Priority.ENTRY):
                await venue.account()
        lower = replace(intent, level=placed.price - 5 * info.price_step)
        kept = await orders.execute(lower)
        assert kept == placed and sent(sim, TX_MODIFY_ORDER) == []
        assert "not moved to" in caplog.text and "the rate budget is short" in caplog.text
        assert [r.levelno for r in caplog.records if "budget is short" in r.message] == [
            logging.DEBUG
        ]

        await asyncio.sleep(WINDOW_S)  # the window moves on: room again
        moved = await orders.execute(lower)
        assert moved is not None and moved.price == lower.level
        (modify,) = sent(sim, TX_MODIFY_ORDER)
        assert modify["Index"] == order.order_index and sent(sim, TX_CREATE_ORDER) == [created]
        (now,) = await venue.open_orders("ETH")
        assert (now.order_index, now.price) == (order.order_index, lower.level)
        assert journal.order(placed.client_order_index).price == lower.level  # type: ignore[union-attr]

        await cancel_resting(orders, "fader", "ETH", "its lifetime ran out")
        assert [c["Index"] for c in sent(sim, TX_CANCEL_ORDER)] == [order.order_index]
        assert await venue.open_orders("ETH") == []
        assert journal.order(placed.client_order_index).state == "canceled"  # type: ignore[union-attr]


async def test_a_modify_naming_an_older_version_is_refused(
    make_sim: MakeSim, make_venue: MakeVenue
) -> None:
    """The runtime reads a resting entry, works its move out from that read, and names that
    version: an order that changed since (a fill, another modify) is not moved blindly."""
    sim = await make_sim()
    venue = await make_venue(sim)
    step = (await venue.market("ETH")).price_step
    (last,) = await venue.recent_trades("ETH", 1)
    low = (last.price * Decimal("0.9")).quantize(step)
    await venue.place_order(OrderRequest("ETH", "buy", Decimal(200), price=low))
    (read,) = await venue.open_orders("ETH")
    await venue.modify_order("ETH", read.order_index, size=Decimal(200), price=low - step)
    with pytest.raises(OrderRejected, match="version"):
        await venue.modify_order(
            "ETH", read.order_index, size=Decimal(200), price=low - 2 * step, version=read.version
        )
    (now,) = await venue.open_orders("ETH")
    assert now.price == low - step and now.version == read.version + 1

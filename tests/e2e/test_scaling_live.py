"""Scaling in and out live: adds stacked up to `pyramiding`, at the average entry price, and
take-profits in parts, each its own order of its share, with the stop following the smaller
position, through a restart in the middle.

The real engine, the real lighter-sdk over real sockets, a paused sim moved a price point at a
time, and a real SQLite journal."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import pytest

from rulebot.lang.load import compile_file
from rulebot.runtime.engine import Engine
from rulebot.runtime.journal import Journal
from rulebot.runtime.messages import OrderRecord
from rulebot.runtime.trades import money
from rulebot.venues.sim.records import SimOrder
from rulebot.venues.sim.serving import RunningSim, serve_sim
from rulebot.venues.sim.settings import SimSettings
from tests.e2e.test_in_flight import until
from tests.e2e.test_run import config

ETH = 0
ACCOUNT = 1
PYRAMID = """strategy stacker
market ETH
timeframe 5m
pyramiding 3
entry long when close > 0
size 2% of equity
stop_loss 5%
take_profit 20%
"""
"""Wants to be long at every close: adds at each until it holds three entries."""
PARTS = """strategy parts
market ETH
timeframe 5m
entry long when close > 0
size 5% of equity
stop_loss 5%
take_profit 50% at 0.3%
take_profit 50% at 1.5%
"""
"""Long at once; half taken close by, the rest farther."""
IDLE = """strategy idle
market ETH
timeframe 5m
entry long when close < 0
size 5% of equity
"""
"""Never trades; on the same market, it makes the other's protections plain orders."""


@contextlib.asynccontextmanager
async def running(sim: RunningSim, folder: Path, *rules: str) -> AsyncIterator[Engine]:
    """An engine on `sim` running `rules`, journaling to `folder/state.sqlite`; stopped after."""
    cfg = config(sim, runtime={"status_port": 0, "reconcile_interval_s": 0})
    with Journal.open(folder / "state.sqlite") as journal:
        engine = Engine(cfg, journal=journal)
        for rule in rules:
            path = folder / f"{rule.split()[1]}.rule"
            path.write_text(rule)
            compiled = compile_file(path, live=True)
            assert compiled.strategy is not None, compiled.diagnostics
            engine.add_strategy(compiled.strategy)
        await engine.start()
        try:
            await asyncio.wait_for(engine.stream.connected.wait(), 30)
            yield engine
        finally:
            await engine.stop()


async def play_until(
    sim: RunningSim, engine: Engine, done: Callable[[], bool], points: int = 400
) -> None:
    """Move the paused replay on a price point at a time, each once the engine has taken the
    trades of the one before and done what they asked (so a stop placed at a close is seen
    before the next price can fire it), until `done()`."""
    for _ in range(points):
        if done():
            return
        sim.simulation.advance(1)
        taken = functools.partial(lambda t: done() or engine.venue_ms >= t, sim.simulation.now_ms())
        with contextlib.suppress(TimeoutError):
            await until(taken, 5)
            await until(lambda: not engine._turn.locked(), 5)  # the bar's orders all sent
    await until(done, 10)


def resting(sim: RunningSim, engine: Engine) -> dict[str, list[tuple[SimOrder, OrderRecord]]]:
    """The account's active orders at the sim by kind, as the journal names them."""
    found: dict[str, list[tuple[SimOrder, OrderRecord]]] = {}
    for order in sim.simulation.exchange.active_orders(ACCOUNT, ETH):
        record = engine.journal.order(order.client_order_index)
        assert record is not None, f"an order the bot did not send: {order}"
        found.setdefault(record.kind, []).append((order, record))
    return found


def size_of(sim: RunningSim, units: int) -> Decimal:
    return Decimal(units).scaleb(-sim.simulation.exchange.market(ETH).size_decimals)


def fills_of(engine: Engine, kind: str) -> list[tuple[Decimal, OrderRecord]]:
    """What each order of `kind` filled (in parts, maybe), in the order they first filled."""
    filled: dict[int, Decimal] = {}
    for fill in engine.journal.fills():
        record = engine.journal.order(fill.client_order_index)
        assert record is not None
        if record.kind == kind:
            index = fill.client_order_index
            filled[index] = filled.get(index, Decimal(0)) + fill.size
    return [(size, engine.journal.order(i)) for i, size in filled.items()]  # type: ignore[misc]


def journaled(engine: Engine) -> list[OrderRecord]:
    """Every order the bot sent, in the order sent."""
    with sqlite3.connect(f"file:{engine.journal.path}?mode=ro", uri=True) as db:
        indexes = [r[0] for r in db.execute("SELECT client_order_index FROM orders ORDER BY 1")]
    return [r for r in map(engine.journal.order, indexes) if r is not None]


def entries(engine: Engine, name: str) -> int:
    return engine.strategies[name].live.holding.entries  # type: ignore[union-attr]


async def test_adds_stack_up_to_pyramiding_at_the_average_price_and_the_stop_follows(
    tmp_path: Path,
) -> None:
    async with serve_sim(SimSettings(speed=0)) as sim:
        async with running(sim, tmp_path, PYRAMID) as engine:
            await stack_three(sim, engine)
        # a restart: three entries held, at their average; no fourth however long it runs
        async with running(sim, tmp_path, PYRAMID) as engine:
            live = engine.strategies["stacker"].live
            position = engine.orders.position("stacker", "ETH")
            holding = live.holding  # type: ignore[union-attr]
            assert holding.entries == 3 and holding.size == float(position.size)
            assert holding.entry_price == float(position.entry_price)
            bar = live.last_time
            await play_until(sim, engine, lambda: (live.last_time or 0) >= (bar or 0) + 2 * 300_000)
            assert engine.orders.position("stacker", "ETH").size == position.size
            assert len({f.client_order_index for f in engine.journal.fills()}) == 3


async def stack_three(sim: RunningSim, engine: Engine) -> None:
    """Play until the stacker holds three entries; check their sizes, prices and protection."""
    live = engine.strategies["stacker"].live
    book = engine.orders.books[("stacker", "ETH")]

    def stacked() -> bool:
        stop = book.stop
        return (
            entries(engine, "stacker") == 3
            and stop is not None
            and (stop.size == book.position.size)
        )

    await play_until(sim, engine, stacked)
    bar = live.last_time
    await play_until(sim, engine, lambda: (live.last_time or 0) >= (bar or 0) + 2 * 300_000)

    buys = [f for f in engine.journal.fills() if f.strategy == "stacker"]
    orders = {fill.client_order_index for fill in buys}
    assert len(orders) == 3  # three entries, then no more however long the signal holds
    assert all(fill.side == "buy" for fill in buys)
    position = engine.orders.position("stacker", "ETH")
    total = sum((fill.size for fill in buys), Decimal(0))
    cost = sum((fill.size * fill.price for fill in buys), Decimal(0))
    assert position.size == total
    assert abs(position.entry_price - cost / total) < Decimal("1e-9")
    assert live.holding.entry_price == float(position.entry_price)  # type: ignore[union-attr]
    # the stop and target: one of each at the venue, for the whole size, from the average
    at_venue = resting(sim, engine)
    ((stop, stop_record),) = at_venue["stop_loss"]
    ((take, take_record),) = at_venue["take_profit"]
    assert size_of(sim, stop.remaining_base_amount) == position.size
    assert size_of(sim, take.remaining_base_amount) == position.size
    average = position.entry_price
    tick = Decimal(1).scaleb(-sim.simulation.exchange.market(ETH).price_decimals)
    assert stop_record.trigger_price is not None and take_record.trigger_price is not None
    assert abs(stop_record.trigger_price - average * Decimal("0.95")) <= tick
    assert abs(take_record.trigger_price - average * Decimal("1.2")) <= tick
    # each add cancelled the stop and target placed for the smaller size
    for kind in ("stop_loss", "take_profit"):
        placed = [r for r in journaled(engine) if r.kind == kind]
        assert [r.size for r in placed] == sorted({r.size for r in placed})  # one an entry
        assert len(placed) == 3 and placed[-1].size == position.size
        assert all(r.state == "canceled" for r in placed[:-1])


@pytest.mark.parametrize("alone", [True, False], ids=["reduce_only", "shared_market"])
async def test_partial_take_profits_each_fill_their_share_and_the_stop_follows(
    tmp_path: Path, alone: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rulebot.trades")
    rules = (PARTS,) if alone else (PARTS, IDLE)
    async with serve_sim(SimSettings(speed=0)) as sim:
        async with running(sim, tmp_path, *rules) as engine:
            book = engine.orders.books[("parts", "ETH")]
            await play_until(sim, engine, lambda: len(book.takes) == 2 and book.stop is not None)
            full = book.position.size
            lot = sim.simulation.exchange.market(ETH)
            step = Decimal(1).scaleb(-lot.size_decimals)
            half = (full / 2 / step).to_integral_value(ROUND_DOWN) * step
            placed = journaled(engine)
            sizes = sorted(r.size for r in placed if r.kind == "take_profit")
            assert sizes == sorted([half, full - half])  # the last takes what is left
            assert [r.size for r in placed if r.kind == "stop_loss"] == [full]
            assert all(r.reduce_only == alone for r in placed if r.kind != "market")

            # the near take-profit fires: its share is closed, the stop follows what is left
            await play_until(sim, engine, lambda: book.position.size != full, 2000)
            await until(lambda: book.stop is not None and book.stop.size == book.position.size)
            ((filled, record),) = fills_of(engine, "take_profit")
            assert record.size == half and filled == half
            said = [r.getMessage() for r in caplog.records if r.name == "rulebot.trades"]
            assert any(
                m.startswith(f"parts ETH: trade partly closed (take_profit): {money(half)} of the "
                             f"long at ") and m.endswith(f"{money(full - half)} still open")
                for m in said
            ), said  # fmt: skip
            assert book.position.size == full - half
            live = engine.strategies["parts"].live
            assert live.holding.armed == (False, True)  # type: ignore[union-attr]
            at_venue = resting(sim, engine)
            ((stop, _),) = at_venue["stop_loss"]
            ((take, take_record),) = at_venue["take_profit"]
            assert size_of(sim, stop.remaining_base_amount) == full - half
            assert size_of(sim, take.remaining_base_amount) == full - half
            far = take_record.client_order_index

        # a restart in the middle: the holding, its armed take-profit and its orders carry on
        async with running(sim, tmp_path, *rules) as engine:
            live = engine.strategies["parts"].live
            holding = live.holding  # type: ignore[union-attr]
            assert holding.side == 1.0 and holding.size == float(full - half)
            assert holding.armed == (False, True) and holding.full_size == float(full)
            book = engine.orders.books[("parts", "ETH")]
            assert book.stop is not None and len(book.takes) == 1
            at_venue = resting(sim, engine)
            assert len(at_venue["stop_loss"]) == 1 and len(at_venue["take_profit"]) == 1
            ((take, _),) = at_venue["take_profit"]
            assert size_of(sim, take.remaining_base_amount) == full - half
            # the far one closes the rest: the trade ends, its stop goes with it
            await play_until(sim, engine, lambda: len(fills_of(engine, "take_profit")) == 2, 2000)
            await until(lambda: book.stop is None or book.position.size != 0)
            (first, _), (second, record) = fills_of(engine, "take_profit")
            assert first + second == full and second == record.size == full - half
            stops = [r for r in journaled(engine) if r.kind == "stop_loss"]
            assert stops and all(r.state == "canceled" for r in stops)  # none fired
            assert far  # the far take-profit as placed before the restart

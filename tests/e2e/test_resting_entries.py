"""Entries that rest at a price, live: a limit entry placed once and then MODIFIED at the venue
as its level moves (the venue's order index stays the same: nothing cancelled and re-placed),
filled as a maker with its stop and take-profit placed from the fill price; a stop entry filled
once price trades through its level; a resting entry cancelled when its lifetime runs out, when
the other side's entry comes, or when the risk manager refuses it; a post-only entry that would
cross refused cleanly; a restart that carries on with the order it finds.

The real engine, the real lighter-sdk over real sockets, a paused sim moved a price point at a
time, and a real SQLite journal."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

import pytest

from rulebot.lang.load import compile_file
from rulebot.runtime.engine import Engine
from rulebot.runtime.journal import Journal
from rulebot.runtime.messages import Notice, OrderRecord
from rulebot.venues.sim.records import TX_CANCEL_ORDER, TX_CREATE_ORDER, TX_MODIFY_ORDER
from rulebot.venues.sim.serving import RunningSim, serve_sim
from rulebot.venues.sim.settings import SimSettings
from tests.e2e.test_in_flight import until
from tests.e2e.test_run import ROOMY_RISK, config
from tests.e2e.test_truth import HOLDER

ETH = 0
ACCOUNT = 1
RESTER = """strategy rester
market ETH
timeframe 5m
entry long {kind} at close * {factor}{options} when {when}
size 5% of equity
stop_loss 2%
take_profit 3%
"""


def rule(
    kind: str = "limit", factor: str = "0.993", options: str = "", when: str = "close > 0"
) -> str:
    """A rule resting a long entry at `factor` times the close (re-read at every close)."""
    return RESTER.format(kind=kind, factor=factor, options=options, when=when)


@contextlib.asynccontextmanager
async def running(
    sim: RunningSim,
    folder: Path,
    rules: list[str],
    notices: list[Notice],
    dry_run: bool = False,
    **risk: Any,
) -> AsyncIterator[Engine]:
    """An engine on `sim` (or a paper account on its data, `dry_run`) running `rules`,
    journaling to `folder/state.sqlite` (the same file across restarts), its notices
    collected; stopped cleanly after."""
    cfg = config(
        sim,
        runtime={"status_port": 0, "reconcile_interval_s": 0},
        risk={**ROOMY_RISK, **risk},
        dry_run=dry_run,
    )
    with Journal.open(folder / "state.sqlite") as journal:
        engine = Engine(cfg, journal=journal)
        engine.listeners.append(notices.append)
        for text in rules:
            path = folder / f"{text.split()[1]}.rule"
            path.write_text(text)
            engine.add_strategy(compile_file(path, live=True).strategy)
        await engine.start()
        try:
            await asyncio.wait_for(engine.stream.connected.wait(), 30)
            yield engine
        finally:
            await engine.stop()


async def play(sim: RunningSim, engine: Engine, done: Callable[[], bool], steps: int = 600) -> None:
    """Move the paused replay on a price point at a time, each once the engine has taken the
    trades of the one before, until `done()` (which must come within `steps` points)."""
    for _ in range(steps):
        if done():
            return
        sim.simulation.advance(1)
        taken = functools.partial(lambda t: done() or engine.venue_ms >= t, sim.simulation.now_ms())
        with contextlib.suppress(TimeoutError):  # a print seen as history is not news
            await until(taken, 5)
    await until(done, 10)


def entries(engine: Engine, name: str = "rester") -> list[OrderRecord]:
    """The strategy's resting entry orders as journaled, oldest first."""
    with sqlite3.connect(f"file:{engine.journal.path}?mode=ro", uri=True) as db:
        indexes = [r[0] for r in db.execute("SELECT client_order_index FROM orders ORDER BY 1")]
    orders = [engine.journal.order(i) for i in indexes]
    return [o for o in orders if o and o.strategy == name and o.kind in ("limit", "stop_entry")]


def sent(sim: RunningSim, tx_type: int) -> list[dict[str, Any]]:
    return [t["tx_info"] for t in sim.simulation.transaction_log() if t["tx_type"] == tx_type]


def held_and_protected(engine: Engine) -> bool:
    book = engine.orders.books[("rester", "ETH")]
    return book.position.size != 0 and book.stop is not None and book.take is not None


def crashes(notices: list[Notice]) -> list[Notice]:
    return [n for n in notices if n.kind == "crash"]


async def test_a_resting_limit_entry_is_moved_as_its_level_moves_and_fills_as_a_maker(
    tmp_path: Path,
) -> None:
    notices: list[Notice] = []
    async with (
        serve_sim(SimSettings(speed=0)) as sim,
        running(sim, tmp_path, [rule()], notices) as engine,
    ):
        await play(sim, engine, lambda: held_and_protected(engine))
        (entry,) = entries(engine)
        assert entry.state == "filled" and entry.side == "buy" and not entry.reduce_only
        # placed once, then modified in place over several bars: one order at the venue
        index = entry.client_order_index
        (created,) = [t for t in sent(sim, TX_CREATE_ORDER) if t["ClientOrderIndex"] == index]
        (at_venue,) = sim.simulation.exchange.orders_by_client_index(ACCOUNT, [index])
        modified = sent(sim, TX_MODIFY_ORDER)
        assert len(modified) >= 2
        assert {m["Index"] for m in modified} == {at_venue.order_index}
        assert not [c for c in sent(sim, TX_CANCEL_ORDER) if c["Index"] == at_venue.order_index]
        assert at_venue.price == modified[-1]["Price"] != created["Price"]  # where it filled
        # filled at its own (last) price, as a maker: the maker fee booked, not the taker's
        (fill,) = [f for f in engine.journal.fills() if f.client_order_index == index]
        info = engine.markets["ETH"]
        assert fill.price == entry.price == info.price_value(at_venue.price)
        assert fill.fee == fill.size * fill.price * info.maker_fee
        assert info.maker_fee < info.taker_fee
        # its protections follow, at levels from the fill price (a sell's trigger rounds up)
        book = engine.orders.books[("rester", "ETH")]
        position = book.position
        assert position.size == fill.size and position.entry_price == fill.price
        step = info.price_step
        for protective, fraction in ((book.stop, "0.98"), (book.take, "1.03")):
            assert protective is not None
            record = engine.journal.order(protective.client_order_index)
            assert record is not None and record.trigger_price is not None
            wanted = Decimal(repr(float(fill.price) * float(fraction)))
            assert record.trigger_price == (wanted / step).to_integral_value(ROUND_CEILING) * step
    assert not crashes(notices)


async def test_a_stop_entry_fills_once_price_trades_through_its_level(tmp_path: Path) -> None:
    notices: list[Notice] = []
    async with (
        serve_sim(SimSettings(speed=0)) as sim,
        running(sim, tmp_path, [rule("stop", "1.003")], notices) as engine,
    ):
        await play(sim, engine, lambda: held_and_protected(engine))
        (entry,) = entries(engine)
        assert entry.kind == "stop_entry" and entry.state == "filled" and not entry.reduce_only
        assert entry.trigger_price is not None
        fills = engine.journal.fills()
        (fill,) = [f for f in fills if f.client_order_index == entry.client_order_index]
        assert fill.price >= entry.trigger_price  # bought once price traded at or through it
        info = engine.markets["ETH"]
        assert fill.fee == fill.size * fill.price * info.taker_fee  # a stop takes liquidity
    assert not crashes(notices)


async def test_a_resting_entry_is_cancelled_when_its_lifetime_runs_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "rulebot.orders")
    notices: list[Notice] = []
    async with (
        serve_sim(SimSettings(speed=0)) as sim,
        running(sim, tmp_path, [rule(factor="0.95", when="close > close[1]")], notices) as engine,
    ):
        cancelled = "cancelled: its lifetime ran out"
        await play(sim, engine, lambda: cancelled in caplog.text)
        first = entries(engine)[0]
        assert first.state == "canceled"
        index = first.client_order_index
        (at_venue,) = sim.simulation.exchange.orders_by_client_index(ACCOUNT, [index])
        assert at_venue.status == "canceled"
        assert {c["Index"] for c in sent(sim, TX_CANCEL_ORDER)} >= {at_venue.order_index}
    assert not crashes(notices)


async def test_the_other_sides_entry_cancels_a_resting_entry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "rulebot.orders")
    both = rule(factor="0.95", when="close > close[1]") + (
        "entry short limit at close * 1.05 when close <= close[1]\n"
    )
    notices: list[Notice] = []
    async with (
        serve_sim(SimSettings(speed=0)) as sim,
        running(sim, tmp_path, [both], notices) as engine,
    ):

        def flipped() -> bool:
            orders = entries(engine)
            return len({o.side for o in orders}) == 2 and orders[0].state == "canceled"

        await play(sim, engine, flipped)
        first = entries(engine)[0]
        said = f"resting entry {first.client_order_index} cancelled: an entry of the other side"
        assert said in caplog.text
        live = [o for o in entries(engine) if o.state in ("sent", "open")]
        assert len(live) <= 1  # never a long and a short resting at once
    assert not crashes(notices)


async def test_a_risk_breach_cancels_a_resting_entry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The holder's market entry pays a fee: the account's equity falls past a tiny drawdown
    limit, and at the next close the resting entry is refused and cancelled."""
    caplog.set_level(logging.INFO, "rulebot.orders")
    notices: list[Notice] = []
    async with (
        serve_sim(SimSettings(speed=0)) as sim,
        running(
            sim, tmp_path, [rule(factor="0.95"), HOLDER], notices, max_drawdown="0.0001%"
        ) as engine,
    ):

        def cancelled() -> bool:
            return any(o.state == "canceled" for o in entries(engine))

        await play(sim, engine, cancelled)
        assert "cancelled: risk: " in caplog.text
        assert [n for n in notices if n.kind == "risk"]
        placed = len(entries(engine))
        bar = engine.strategies["rester"].live.last_time
        await play(sim, engine, lambda: engine.strategies["rester"].live.last_time != bar)
        assert len(entries(engine)) == placed  # none placed again while the limit is breached
    assert not crashes(notices)


async def test_a_post_only_entry_that_would_cross_is_refused_cleanly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "rulebot")
    notices: list[Notice] = []
    async with (
        serve_sim(SimSettings(speed=0)) as sim,
        running(sim, tmp_path, [rule(factor="1.01", options=" post_only")], notices) as engine,
    ):
        await play(sim, engine, lambda: any(o.state == "rejected" for o in entries(engine)))
        first = entries(engine)[0]
        assert first.state == "rejected" and "post-only" in first.reason
        assert engine.orders.position("rester", "ETH").size == 0
        assert engine.strategies["rester"].live.resting is None
        assert not engine.journal.fills(strategy="rester")
    assert "the post-only order would have crossed the book" in caplog.text
    assert "Traceback" not in caplog.text and not crashes(notices)


async def test_a_restart_carries_on_with_the_resting_entry_at_the_venue(tmp_path: Path) -> None:
    async with serve_sim(SimSettings(speed=0)) as sim:
        async with running(sim, tmp_path, [rule(factor="0.95")], []) as engine:
            await play(sim, engine, lambda: bool(entries(engine)))
            (entry,) = entries(engine)
            index = entry.client_order_index
            said = [line for line in await engine.stop() if "resting entry" in line]
        assert len(said) == 1 and f"resting entry {index} (buy" in said[0]
        assert "stays at the venue" in said[0] and "NO PROTECTION" in said[0]
        (at_venue,) = sim.simulation.exchange.orders_by_client_index(ACCOUNT, [index])
        assert at_venue.is_active  # the bot stopped; its resting entry stays at the venue
        before = len(sent(sim, TX_MODIFY_ORDER))
        notices: list[Notice] = []
        async with running(sim, tmp_path, [rule(factor="0.95")], notices) as engine:
            await play(sim, engine, lambda: len(sent(sim, TX_MODIFY_ORDER)) > before)
            (still,) = entries(engine)
            assert still.client_order_index == index and still.state in ("sent", "open")
        assert [t["ClientOrderIndex"] for t in sent(sim, TX_CREATE_ORDER)] == [index]
        assert sent(sim, TX_MODIFY_ORDER)[-1]["Index"] == at_venue.order_index
        assert not crashes(notices)


async def test_a_dry_run_rests_moves_and_fills_the_entry_on_paper(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "rulebot.orders")
    notices: list[Notice] = []
    async with (
        serve_sim(SimSettings(speed=0)) as sim,
        running(sim, tmp_path, [rule()], notices, dry_run=True) as engine,
    ):

        def done() -> bool:  # paper fills up to each trade's size: maybe in parts
            found = entries(engine)
            return held_and_protected(engine) and found[0].state in ("filled", "canceled")

        await play(sim, engine, done)
        (entry,) = entries(engine)
        index = entry.client_order_index
        assert "limit moved from" in caplog.text and f"(order {index})" in caplog.text
        fills = [f for f in engine.journal.fills() if f.client_order_index == index]
        info = engine.markets["ETH"]
        assert fills and {f.price for f in fills} == {entry.price}
        assert all(f.fee == f.size * f.price * info.maker_fee for f in fills)
        position = engine.orders.position("rester", "ETH")
        assert position.size == sum(f.size for f in fills)
        assert sim.simulation.transaction_log(include_refused=True) == []  # nothing sent
    assert not crashes(notices)


async def test_a_restart_cancels_a_resting_entry_the_rule_no_longer_wants(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "rulebot.orders")
    async with serve_sim(SimSettings(speed=0)) as sim:
        async with running(sim, tmp_path, [rule(factor="0.95")], []) as engine:
            await play(sim, engine, lambda: bool(entries(engine)))
            (entry,) = entries(engine)
        index = entry.client_order_index
        at_market = rule().replace("entry long limit at close * 0.993 when", "entry long when")
        at_market = at_market.replace("close > 0", "close < 0")  # never enters
        notices: list[Notice] = []
        async with running(sim, tmp_path, [at_market], notices) as engine:
            live = engine.strategies["rester"].live
            assert live.resting is None  # the saved entry is not this rule's
            bar = live.last_time
            await play(sim, engine, lambda: live.last_time != bar)
            await until(lambda: entries(engine)[0].state == "canceled", 10)
        (at_venue,) = sim.simulation.exchange.orders_by_client_index(ACCOUNT, [index])
        assert at_venue.status == "canceled"
        assert f"resting entry {index} cancelled: the rule no longer wants it" in caplog.text
        assert not crashes(notices)


async def test_a_stop_entry_is_moved_by_its_trigger(tmp_path: Path) -> None:
    notices: list[Notice] = []
    async with (
        serve_sim(SimSettings(speed=0)) as sim,
        running(sim, tmp_path, [rule("stop", "1.02")], notices) as engine,
    ):
        await play(sim, engine, lambda: len(sent(sim, TX_MODIFY_ORDER)) >= 2)
        (entry,) = entries(engine)
        (at_venue,) = sim.simulation.exchange.orders_by_client_index(
            ACCOUNT, [entry.client_order_index]
        )
        assert at_venue.status == "pending" and not at_venue.reduce_only  # waits for its trigger
        assert {m["Index"] for m in sent(sim, TX_MODIFY_ORDER)} == {at_venue.order_index}
        info = engine.markets["ETH"]
        trigger = info.price_value(at_venue.trigger_price)
        await until(lambda: entries(engine)[0].trigger_price == trigger, 10)  # journaled as moved
        (entry,) = entries(engine)
        assert entry.price == info.price_value(at_venue.price) > trigger  # its cap, 1% past
    assert not crashes(notices)


async def test_a_filled_resting_entry_is_not_placed_again(tmp_path: Path) -> None:
    """Its fill used it up: with room for another entry (`pyramiding 2`), lifetime left and
    no new signal (the rule enters only when flat), nothing rests again after it."""
    text = rule(options=" for 5 bars", when="close > 0 and position == 0") + "pyramiding 2\n"
    notices: list[Notice] = []
    async with (
        serve_sim(SimSettings(speed=0)) as sim,
        running(sim, tmp_path, [text], notices) as engine,
    ):
        await play(sim, engine, lambda: held_and_protected(engine))
        live = engine.strategies["rester"].live
        for _ in range(3):
            bar = live.last_time
            await play(sim, engine, lambda: live.last_time != bar)  # noqa: B023
        (entry,) = entries(engine)
        assert entry.state == "filled" and live.resting is None
        assert len(sent(sim, TX_CREATE_ORDER)) == 3  # the entry, its stop and its take-profit
    assert not crashes(notices)

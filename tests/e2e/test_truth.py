"""The venue is the truth: a bot whose journal says otherwise than the venue adopts the venue's
picture (on start, on a timer, after a reconnect), records and notifies each difference, never
exits a position the venue does not hold, and hears of a lost stream as it happens.

The real engine, the real lighter-sdk over real sockets, a paused sim moved bar by bar, and a
real SQLite journal."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import lighter
import pytest
from pydantic import SecretStr

from rulebot.lang.load import compile_file
from rulebot.runtime.commands import _flatten
from rulebot.runtime.engine import Engine
from rulebot.runtime.journal import Journal
from rulebot.runtime.messages import Intent, Notice
from rulebot.venues.sim.records import SimMarket
from rulebot.venues.sim.serving import RunningSim, serve_sim
from rulebot.venues.sim.settings import SimSettings
from tests.e2e.test_in_flight import until
from tests.e2e.test_run import config

ETH = 0
CREATE_ORDER, MARKET = 14, 1
HOLDER = """strategy holder
market ETH
timeframe 5m
entry long when close > 0
exit long when close > 0
size 5% of equity
stop_loss 5%
"""
"""Enters at a close when flat, exits at the next close: a position held for one bar."""
IDLE = HOLDER.replace("strategy holder", "strategy idle").replace("close > 0", "close < 0")
"""Never trades."""
SHORTER = """strategy shorter
market ETH
timeframe 5m
entry short when close > 0
exit short when close < 0
size 10% of equity
stop_loss 5%
"""
"""Goes short at its first close and stays: on the holder's market, twice its size."""
FLIPPER = """strategy flipper
market ETH
timeframe 5m
entry long when position <= 0
entry short when position > 0
size 5% of equity
stop_loss 5%
"""
"""Long, then short, then long: a reversal (an exit, then an entry) at every close."""


def smallest_size(market: SimMarket, price: int) -> int:
    """The fewest size units the sim takes in an order at `price`: the market's minimum size,
    or its minimum notional, whichever is more."""
    by_notional = math.ceil(market.min_quote_amount / market.notional(1, price))
    return max(market.min_base_amount, by_notional)


@contextlib.asynccontextmanager
async def running(
    sim: RunningSim,
    folder: Path,
    rule: str,
    notices: list[Notice],
    *others: str,
    **runtime: Any,
) -> AsyncIterator[Engine]:
    """An engine on `sim` running `rule` (and `others`), journaling to `folder/state.sqlite`,
    its notices collected from before it starts; stopped cleanly after."""
    cfg = config(sim, runtime={"status_port": 0, "reconcile_interval_s": 0, **runtime})
    with Journal.open(folder / "state.sqlite") as journal:
        engine = Engine(cfg, journal=journal)
        engine.listeners.append(notices.append)
        for text in (rule, *others):
            path = folder / f"{text.split()[1]}.rule"
            path.write_text(text)
            engine.add_strategy(compile_file(path, live=True).strategy)
        await engine.start()
        try:
            await asyncio.wait_for(engine.stream.connected.wait(), 30)
            yield engine
        finally:
            await engine.stop()


@contextlib.asynccontextmanager
async def holding(folder: Path, *others: str) -> AsyncIterator[tuple[RunningSim, Engine, Decimal]]:
    """A paused sim and an engine running the holder (and `others`), once the holder holds a
    position with its stop at the venue: the sim, the engine, and the holder's position."""
    async with (
        serve_sim(SimSettings(speed=0)) as sim,
        running(sim, folder, HOLDER, [], *others) as engine,
    ):
        await play_until(sim, engine, lambda: holds_with_a_stop(engine))
        yield sim, engine, engine.orders.position("holder", "ETH").size


async def play_until(sim: RunningSim, engine: Engine, done: Callable[[], bool]) -> None:
    """Move the paused replay on a price point at a time, each once the engine has taken the
    trades of the one before, until `done()`."""
    for _ in range(60):
        if done():
            return
        sim.simulation.advance(1)
        taken = functools.partial(lambda t: done() or engine.venue_ms >= t, sim.simulation.now_ms())
        # a print made while the stream subscribes comes as its history, and is not news
        with contextlib.suppress(TimeoutError):
            await until(taken, 5)
    await until(done)


def holds_with_a_stop(engine: Engine, name: str = "holder") -> bool:
    book = engine.orders.books[(name, "ETH")]
    return book.position.size != 0 and book.stop is not None


def venue_position(sim: RunningSim) -> Decimal:
    exchange = sim.simulation.exchange
    position = exchange.account(1).positions.get(ETH)
    return Decimal(position.size if position else 0).scaleb(-exchange.market(ETH).size_decimals)


def market_orders(sim: RunningSim, since: int = 0, sells: bool = True) -> list[dict[str, Any]]:
    """The market orders the account sent (sells, or buys), from the sim's transaction log."""
    return [
        t["tx_info"]
        for t in sim.simulation.transaction_log()[since:]
        if t["tx_type"] == CREATE_ORDER
        and t["tx_info"]["Type"] == MARKET
        and bool(t["tx_info"]["IsAsk"]) == sells
    ]


async def admin(sim: RunningSim, path: str, body: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as http, http.post(sim.url + path, json=body) as answer:
        assert answer.status == 200, await answer.text()


async def test_a_flatten_while_the_bot_was_down_is_adopted_and_nothing_is_exited(
    tmp_path: Path,
) -> None:
    async with serve_sim(SimSettings(speed=0)) as sim:
        notices: list[Notice] = []
        async with running(sim, tmp_path, HOLDER, notices) as engine:
            await play_until(sim, engine, lambda: holds_with_a_stop(engine))
            held = engine.orders.position("holder", "ETH").size
        assert venue_position(sim) == held > 0
        # the bot is down: `rulebot flatten` talks to the venue itself
        key = lighter.signer_client.create_api_key()[0]
        keyed = config(sim).model_copy(update={"private_key": SecretStr(key)})
        assert await _flatten(keyed, "ETH") == 0
        assert venue_position(sim) == 0
        sent = len(sim.simulation.transaction_log())

        notices.clear()
        async with running(sim, tmp_path, HOLDER, notices) as engine:
            live = engine.strategies["holder"].live
            assert engine.orders.position("holder", "ETH").size == 0
            assert live.holding.side == 0.0 and engine.unmanaged == {}
            (difference,) = engine.journal.differences()
            assert (difference.kind, difference.strategy, difference.market) == (
                "position", "holder", "ETH",
            )  # fmt: skip
            assert (difference.before, difference.after) == (held, 0)
            reconciled = [n for n in notices if n.kind == "reconciled"]
            assert reconciled and reconciled[0].data["reason"] == "start"
            assert "holder ETH" in reconciled[0].message
            # the next close: the journal's old picture would exit here; the venue's enters
            bar = live.last_time
            await play_until(sim, engine, lambda: live.last_time != bar)
            await until(lambda: bool(market_orders(sim, sent, sells=False)))
        assert market_orders(sim, sent, sells=True) == []  # no exit of what was not held


@pytest.mark.parametrize("noticed_by", ["timer", "reconnect"])
async def test_a_venue_that_lost_its_state_is_adopted_while_the_bot_runs(
    tmp_path: Path, noticed_by: str
) -> None:
    interval = 0.2 if noticed_by == "timer" else 0
    notices: list[Notice] = []
    async with (
        serve_sim(SimSettings(speed=0)) as sim,
        running(sim, tmp_path, HOLDER, notices, reconcile_interval_s=interval) as engine,
    ):
        await play_until(sim, engine, lambda: holds_with_a_stop(engine))
        held = engine.orders.position("holder", "ETH").size
        sent = len(sim.simulation.transaction_log())
        await admin(sim, "/admin/reset-account", {"account_index": 1})
        if noticed_by == "reconnect":
            await until(lambda: sim.simulation.faults.drop_ws() > 0)

        await until(lambda: engine.orders.position("holder", "ETH").size == 0)
        live = engine.strategies["holder"].live
        assert live.holding.side == 0.0 and engine.orders.books[("holder", "ETH")].stop is None
        (difference,) = [d for d in engine.journal.differences() if d.kind == "position"]
        assert (difference.before, difference.after) == (held, 0)
        (notice,) = [n for n in notices if n.kind == "reconciled"]
        assert notice.data["reason"] == noticed_by
        assert market_orders(sim, sent, sells=True) == []  # nothing was exited
        assert engine.journal.open_orders() == []  # its stop, settled as gone


async def test_what_another_client_does_on_the_account_is_reported_never_a_strategys(
    tmp_path: Path,
) -> None:
    notices: list[Notice] = []
    async with (
        serve_sim(SimSettings(speed=0)) as sim,
        running(sim, tmp_path, IDLE, notices, reconcile_interval_s=0.2) as engine,
    ):
        exchange = sim.simulation.exchange
        market, mark = exchange.market(ETH), exchange.mark_price(ETH)
        size = smallest_size(market, mark) * 3
        private_key, public_key, error = lighter.signer_client.create_api_key()
        assert error is None, error
        sim.simulation.register_api_key(1, 9, public_key)
        other = lighter.SignerClient(sim.url, 1, {9: private_key})
        try:  # a manual buy at market, and a sell resting far above it
            _, _, error = await other.create_market_order(ETH, 424242, size, mark * 2, False)
            assert error is None, error
            _, _, error = await other.create_order(ETH, 424243, size, mark * 3, True, 0, 1)
            assert error is None, error
        finally:
            await other.close()
        bought = Decimal(size).scaleb(-market.size_decimals)

        await until(lambda: len(engine.journal.differences()) == 2)
        assert engine.unmanaged == {"ETH": bought}
        assert engine.orders.position("idle", "ETH").size == 0
        assert engine.get_status()["unmanaged"] == [{"market": "ETH", "size": bought}]
        unknown, unmanaged = sorted(engine.journal.differences(), key=lambda d: d.kind)
        assert (unmanaged.kind, unmanaged.strategy, unmanaged.after) == ("unmanaged", "", bought)
        assert (unknown.kind, unknown.client_order_index) == ("order_unknown", 424243)
        told = sorted(n.data["difference"] for n in notices if n.kind == "reconciled")
        assert told == ["order_unknown", "unmanaged"]
        assert engine.journal.fills() == []  # a fill of an order this bot did not send
        # bars and rounds go by: the bot neither exits it nor hands it to a strategy, touches
        # nobody's order, and says nothing twice
        live = engine.strategies["idle"].live
        bar, rounds = live.last_time, len(engine.differences)
        await play_until(sim, engine, lambda: live.last_time not in (None, bar))
        await engine.reconcile("again")
        assert len(engine.journal.differences()) == 2 and len(engine.differences) == rounds
        log = sim.simulation.transaction_log()
        assert [t["tx_info"]["ClientOrderIndex"] for t in log] == [424242, 424243]
        assert [o.client_order_index for o in exchange.active_orders(1, ETH)] == [424243]


async def test_a_stop_cancelled_behind_the_bots_back_is_placed_again(tmp_path: Path) -> None:
    notices: list[Notice] = []
    async with (
        serve_sim(SimSettings(speed=0)) as sim,
        running(sim, tmp_path, HOLDER, notices) as engine,
    ):
        await play_until(sim, engine, lambda: holds_with_a_stop(engine))
        book = engine.orders.books[("holder", "ETH")]
        assert book.stop is not None
        cancelled = book.stop.client_order_index
        (stop,) = sim.simulation.exchange.active_orders(1, ETH)
        private_key, public_key, error = lighter.signer_client.create_api_key()
        assert error is None, error
        sim.simulation.register_api_key(1, 9, public_key)
        other = lighter.SignerClient(sim.url, 1, {9: private_key})
        try:
            _, _, error = await other.cancel_order(ETH, stop.order_index)
            assert error is None, error
        finally:
            await other.close()
        assert sim.simulation.exchange.active_orders(1, ETH) == []

        (gone,) = await engine.reconcile("test")
        assert (gone.kind, gone.client_order_index) == ("order_gone", cancelled)
        assert book.stop is not None and book.stop.client_order_index != cancelled
        (placed,) = sim.simulation.exchange.active_orders(1, ETH)
        assert placed.client_order_index == book.stop.client_order_index
        assert engine.orders.position("holder", "ETH").size != 0  # the position stands
        assert [n.data["difference"] for n in notices if n.kind == "reconciled"] == ["order_gone"]


async def test_a_close_for_a_position_the_venue_no_longer_holds_sends_nothing(
    tmp_path: Path,
) -> None:
    async with holding(tmp_path) as (sim, engine, held):
        await admin(sim, "/admin/reset-account", {"account_index": 1})  # no timer: not seen yet
        sent = len(sim.simulation.transaction_log(include_refused=True))
        mark = engine.marks["ETH"]
        close = Intent("holder", "ETH", "close", held, "signal", engine.venue_ms, mark)
        assert await engine.orders.execute(close) is None
        assert len(sim.simulation.transaction_log(include_refused=True)) == sent
        assert venue_position(sim) == 0


async def test_an_exit_goes_out_on_a_shared_market_whose_venue_position_is_the_others_side(
    tmp_path: Path,
) -> None:
    async with (
        serve_sim(SimSettings(speed=0)) as sim,
        running(sim, tmp_path, HOLDER, [], SHORTER) as engine,
    ):
        holder = engine.orders.books[("holder", "ETH")]
        shorter = engine.orders.books[("shorter", "ETH")]
        await play_until(
            sim, engine, lambda: holder.position.size > 0 and shorter.position.size < 0
        )
        exchange = sim.simulation.exchange
        market, mark = exchange.market(ETH), exchange.mark_price(ETH)
        private_key, public_key, error = lighter.signer_client.create_api_key()
        assert error is None, error
        sim.simulation.register_api_key(1, 9, public_key)
        other = lighter.SignerClient(sim.url, 1, {9: private_key})
        try:  # another client's sell: the venue holds more of the shorter's side than it
            _, _, error = await other.create_market_order(
                ETH, 424242, smallest_size(market, mark // 2) * 3, mark // 2, True
            )
            assert error is None, error
        finally:
            await other.close()
        assert venue_position(sim) < 0 < holder.position.size
        sent = len(sim.simulation.transaction_log())
        await play_until(sim, engine, lambda: holder.position.size == 0)  # its exit went out
        assert market_orders(sim, sent, sells=True)  # the holder's exit: a sell at market
        assert shorter.position.size < 0  # the other strategy keeps what it holds


async def test_a_reversal_whose_exit_is_refused_sends_no_entry(tmp_path: Path) -> None:
    async with (
        serve_sim(SimSettings(speed=0)) as sim,
        running(sim, tmp_path, FLIPPER, []) as engine,
    ):
        await play_until(sim, engine, lambda: holds_with_a_stop(engine, "flipper"))
        held = engine.orders.position("flipper", "ETH").size
        live = engine.strategies["flipper"].live
        bar, sent = live.last_time, len(sim.simulation.transaction_log())
        await admin(sim, "/admin/faults/reject-orders", {"count": 1})  # the exit, refused
        await play_until(sim, engine, lambda: live.last_time != bar)
        await engine.reconcile("after the bar")  # waits for the bar in hand to finish
        assert market_orders(sim, sent, sells=True) == []  # nor the short entry after it
        assert engine.orders.position("flipper", "ETH").size == held


async def test_a_stop_leaves_a_resting_stop_where_it_is_and_names_its_price(
    tmp_path: Path,
) -> None:
    async with holding(tmp_path) as (sim, engine, _):
        stop = engine.orders.books[("holder", "ETH")].stop
        assert stop is not None
        placed = engine.journal.order(stop.client_order_index)
        assert placed is not None and placed.trigger_price is not None
        sent = len(sim.simulation.transaction_log(include_refused=True))
        lines = await engine.stop()
        assert len(sim.simulation.transaction_log(include_refused=True)) == sent  # not moved
        (line,) = [line for line in lines if "holder" in line]
        assert f"stop at {placed.trigger_price} rest" in line  # the venue's price, rounded


async def test_no_exit_goes_out_for_a_position_whose_stop_filled_first(tmp_path: Path) -> None:
    async with holding(tmp_path, SHORTER) as (sim, engine, held):  # shared: no reduce-only exit
        mark = engine.marks["ETH"]
        async with engine._turn:  # the engine hears nothing meanwhile: the stop's fill waits
            sent, before = len(sim.simulation.transaction_log()), venue_position(sim)
            await engine.orders.protect("holder", "ETH", mark * Decimal("1.05"), None)  # fires
            assert venue_position(sim) == before - held  # the stop sold it at the venue
            assert engine.orders.position("holder", "ETH").size == held  # not booked yet
            close = Intent("holder", "ETH", "close", held, "signal", engine.venue_ms, mark)
            assert await engine.orders.execute(close) is None
            assert market_orders(sim, sent, sells=True) == []  # no second sell
        await until(lambda: engine.orders.position("holder", "ETH").size == 0)


async def test_a_close_when_the_venue_cannot_say_what_it_holds_goes_reduce_only(
    tmp_path: Path,
) -> None:
    async with holding(tmp_path) as (sim, engine, held):
        sent = len(sim.simulation.transaction_log())
        await admin(  # every read of the account refused, past the adapter's retries
            sim,
            "/admin/faults/rate-limit",
            {"count": 50, "path": "/api/v1/account", "retry_after_s": 60},
        )
        close = Intent(
            "holder", "ETH", "close", held, "signal", engine.venue_ms, engine.marks["ETH"]
        )
        record = await engine.orders.execute(close)
        async with aiohttp.ClientSession() as http, http.delete(sim.url + "/admin/faults"):
            pass
        assert record is not None  # alone on its market: a reduce-only exit cannot open one
        (sell,) = market_orders(sim, sent)
        assert sell["ReduceOnly"] in (True, 1)


async def test_a_lost_stream_is_told_at_once_even_while_the_engine_waits_on_the_venue(
    tmp_path: Path,
) -> None:
    notices: list[Notice] = []
    async with (
        serve_sim(SimSettings(speed=0)) as sim,
        running(sim, tmp_path, IDLE, notices) as engine,
    ):
        faults = sim.simulation.faults
        # the engine reads the account at each close: hold that answer until released
        faults.delay(120_000, count=1, path="/api/v1/account")
        await play_until(sim, engine, lambda: faults.counts["delayed"] >= 1)
        await until(lambda: faults.drop_ws() > 0)
        try:
            await until(lambda: any(n.kind == "disconnected" for n in notices))
            assert not any(n.kind == "reconnected" for n in notices)  # told while it is lost
        finally:
            faults.clear()  # releases the held answer
        await until(lambda: any(n.kind == "reconnected" for n in notices))

"""The runtime decides from the truth of its orders: on a paused sim moved bar by bar, with the
sim's own faults (a slow venue, rate limits), entries never stack while a fill is in flight, a
venue error never loses a bar, `max_open_orders` holds, and an IOC order's rest is settled."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rulebot.lang.load import compile_file
from rulebot.runtime.engine import Engine
from rulebot.runtime.messages import Notice, OrderRecord
from rulebot.venues.sim.faults import Faults
from rulebot.venues.sim.records import AccountSettings
from rulebot.venues.sim.serving import RunningSim, serve_sim
from rulebot.venues.sim.settings import SimSettings
from tests.e2e.test_run import config

ALWAYS_LONG = """strategy {name}
market {market}
timeframe 5m
entry long when close > 0
exit long when close < 0
size {size}
{extra}
"""


def always_long(name: str, market: str = "ETH", size: str = "200 USDC", extra: str = "") -> str:
    """A rule that wants to be long at every close: each bar would add an entry if it could."""
    return ALWAYS_LONG.format(name=name, market=market, size=size, extra=extra)


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait for `condition`, checking every 50 ms; fail after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def engine_on(
    sim: RunningSim, tmp_path: Path, rules: dict[str, str], **changes: Any
) -> AsyncIterator[Engine]:
    """A started engine running `rules` (file name -> text) on `sim`, its stream connected."""
    cfg = config(sim, runtime={"status_port": 0, "journal": str(tmp_path / "j.sqlite")}, **changes)
    engine = Engine(cfg)
    for name, text in rules.items():
        (tmp_path / name).write_text(text)
        engine.add_strategy(compile_file(tmp_path / name, live=True).strategy)
    await engine.start()
    try:
        await asyncio.wait_for(engine.stream.connected.wait(), 20)
        yield engine
    finally:
        await engine.stop()


def venue_position(sim: RunningSim, market_id: int = 0) -> Decimal:
    exchange = sim.simulation.exchange
    market = exchange.market(market_id)
    position = exchange.account(1).positions.get(market_id)
    return Decimal(position.size if position else 0).scaleb(-market.size_decimals)


def market_orders(engine: Engine, strategy: str | None = None) -> list[OrderRecord]:
    """Every entry and exit order sent (of one strategy), done or not, as journaled."""
    with sqlite3.connect(f"file:{engine.journal.path}?mode=ro", uri=True) as db:
        indexes = [r[0] for r in db.execute("SELECT client_order_index FROM orders")]
    orders = [engine.journal.order(i) for i in indexes]
    return [
        o for o in orders if o is not None and o.kind == "market" and strategy in (None, o.strategy)
    ]


def entries(engine: Engine, strategy: str) -> list[Decimal]:
    """The sizes of the market orders the strategy sent."""
    return [o.size for o in market_orders(engine, strategy)]


def nothing_in_flight(engine: Engine, strategy: str) -> bool:
    return not [o for o in engine.journal.open_orders(strategy) if o.kind == "market"]


def settled(engine: Engine, sim: RunningSim, strategy: str) -> Callable[[], bool]:
    """Nothing in flight, and the journal's position is the venue's."""

    def check() -> bool:
        held = engine.orders.position(strategy, "ETH").size
        return nothing_in_flight(engine, strategy) and held == venue_position(sim)

    return check


def bar_after(engine: Engine, bars: dict[str, int]) -> Callable[[], bool]:
    """Every strategy named has evaluated a bar after the one given."""
    return lambda: all(engine.strategies[n].live.bar > b for n, b in bars.items())


async def test_bars_closing_together_send_one_entry_not_one_per_bar(tmp_path: Path) -> None:
    async with (
        serve_sim(SimSettings(speed=0)) as sim,
        engine_on(sim, tmp_path, {"s.rule": always_long("stacker")}) as engine,
    ):
        live = engine.strategies["stacker"].live
        first = live.bar
        sim.simulation.advance(bars=3)  # three closes arrive before any fill can
        await until(lambda: live.bar >= first + 3)
        await until(settled(engine, sim, "stacker"))
        sent = entries(engine, "stacker")
        assert len(sent) == 1
        assert venue_position(sim) == sent[0]  # one entry's size, never more


async def test_a_slow_venue_never_lets_entries_stack(tmp_path: Path) -> None:
    async with (
        serve_sim(SimSettings(speed=0)) as sim,
        engine_on(sim, tmp_path, {"s.rule": always_long("stacker")}) as engine,
    ):
        live = engine.strategies["stacker"].live
        first = live.bar
        sim.simulation.faults.delay(1500, path="/api/v1/sendTx")
        for _ in range(4):  # bars close while the entry's answer is held back
            sim.simulation.advance(bars=1)
            await asyncio.sleep(0.3)
        sim.simulation.faults.clear()
        await until(lambda: live.bar >= first + 4)
        await until(settled(engine, sim, "stacker"))
        sent = entries(engine, "stacker")
        assert len(sent) == 1
        assert venue_position(sim) == sent[0]


ACCOUNT_READ = "/api/v1/account"
ACCOUNT_FAULTS: dict[str, Callable[[Faults], None]] = {
    # refused past the retry ceiling (Retry-After 60 s > 30 s)
    "rate limit": lambda faults: faults.rate_limit(10_000, path=ACCOUNT_READ, retry_after_s=60),
    # every retry answered 503
    "5xx storm": lambda faults: faults.server_error(10_000, path=ACCOUNT_READ, status=503),
}


@pytest.mark.parametrize("fault", sorted(ACCOUNT_FAULTS))
async def test_a_venue_error_at_a_bar_close_loses_no_bar(tmp_path: Path, fault: str) -> None:
    notices: list[Notice] = []
    async with (
        serve_sim(SimSettings(speed=0)) as sim,
        engine_on(sim, tmp_path, {"s.rule": always_long("stacker")}) as engine,
    ):
        engine.listeners.append(notices.append)
        live = engine.strategies["stacker"].live
        first, stored = live.bar, len(engine.history["ETH"])
        ACCOUNT_FAULTS[fault](sim.simulation.faults)
        sim.simulation.advance(bars=2)
        await until(lambda: live.bar >= first + 2)
        assert len(engine.history["ETH"]) == stored + 2  # every bar stored and evaluated
        await until(settled(engine, sim, "stacker"))
        assert venue_position(sim) == entries(engine, "stacker")[0]  # decided on the last equity
        sim.simulation.faults.clear()
        assert not [n for n in notices if n.kind == "crash"]


async def test_max_open_orders_counts_resting_and_in_flight_orders(tmp_path: Path) -> None:
    protected = "stop_loss 5%\ntake_profit 5%"  # each entry rests two orders once filled
    rules = {
        "a.rule": always_long("on_eth", "ETH", extra=protected),
        "b.rule": always_long("on_xrp", "XRP", extra=protected),
    }
    risk = {
        "max_position_notional": "1000000 USDC",
        "max_order_notional": "100000 USDC",
        "max_leverage": 50,
        "max_open_orders": 2,
    }
    async with (
        serve_sim(SimSettings(speed=0)) as sim,
        engine_on(sim, tmp_path, rules, risk=risk) as engine,
    ):
        bars = {name: engine.strategies[name].live.bar for name in ("on_eth", "on_xrp")}
        for _ in range(3):
            sim.simulation.advance(bars=1)
            await until(bar_after(engine, dict(bars)))
            bars = {n: engine.strategies[n].live.bar for n in bars}
            await until(lambda: nothing_in_flight(engine, "on_eth"))
            await until(lambda: nothing_in_flight(engine, "on_xrp"))
        markets = {"on_eth": "ETH", "on_xrp": "XRP"}
        holding = [n for n, m in markets.items() if engine.orders.position(n, m).size]
        assert len(holding) == 1  # the second entry would have taken the orders past 2
        resting = sim.simulation.exchange.active_orders(1, None)
        assert len(resting) == 2
        limits = engine.get_status()["risk"]["account"]["limits"]["max_open_orders"]
        assert limits["value"] == "2" and limits["breached"]


async def test_a_partly_filled_market_order_is_settled_at_what_filled(tmp_path: Path) -> None:
    rich = (AccountSettings(index=1, collateral=Decimal(100_000_000)),)
    risk = {
        "max_position_notional": "100000000 USDC",
        "max_order_notional": "100000000 USDC",
        "max_leverage": 50,
    }
    async with (
        serve_sim(SimSettings(speed=0, accounts=rich)) as sim,
        # 5% of 100M is more than the sim's book holds within the order's 1% price limit
        engine_on(
            sim, tmp_path, {"s.rule": always_long("big", size="5% of equity")}, risk=risk
        ) as engine,
    ):
        live = engine.strategies["big"].live
        first = live.bar
        sim.simulation.advance(bars=1)
        await until(lambda: live.bar >= first + 1)
        await until(lambda: engine.orders.position("big", "ETH").size != 0)
        (order,) = market_orders(engine)
        await until(lambda: engine.journal.order(order.client_order_index).state != "sent")
        record = engine.journal.order(order.client_order_index)
        assert record is not None and 0 < record.filled < record.size
        assert record.state == "canceled"  # the IOC rest is gone: the order is done
        assert nothing_in_flight(engine, "big")
        assert engine.orders.position("big", "ETH").size == record.filled == venue_position(sim)


PAIR = """strategy pair
markets ETH, XRP
timeframe 5m
entry long when close@ETH > 0
exit long when close@ETH < 0
leg ETH weight 1
leg XRP weight -1
size 400 USDC
"""


async def test_a_spread_sends_no_second_entry_while_a_leg_is_in_flight(tmp_path: Path) -> None:
    async with (
        serve_sim(SimSettings(speed=0)) as sim,
        engine_on(sim, tmp_path, {"pair.rule": PAIR}) as engine,
    ):
        live = engine.strategies["pair"].live
        first = live.bar
        sim.simulation.advance(bars=3)  # three closes arrive before any leg's fill can
        await until(lambda: live.bar >= first + 3)
        await until(lambda: nothing_in_flight(engine, "pair"))
        sent = market_orders(engine, "pair")
        assert sorted(o.market for o in sent) == ["ETH", "XRP"]  # one order per leg
        ids = {m.symbol: m.market_id for m in sim.simulation.exchange.markets()}
        for order in sent:
            held = venue_position(sim, ids[order.market])
            assert abs(held) == order.size == abs(engine.orders.position("pair", order.market).size)


async def test_an_order_whose_send_failed_is_in_doubt_not_a_crash(tmp_path: Path) -> None:
    notices: list[Notice] = []
    async with (
        serve_sim(SimSettings(speed=0)) as sim,
        engine_on(sim, tmp_path, {"s.rule": always_long("stacker")}) as engine,
    ):
        engine.listeners.append(notices.append)
        live = engine.strategies["stacker"].live
        first = live.bar
        sim.simulation.faults.rate_limit(1, path="/api/v1/sendTx", retry_after_s=60)
        sim.simulation.advance(bars=1)
        await until(lambda: live.bar >= first + 1)
        (order,) = market_orders(engine, "stacker")
        assert order.state == "new"  # its fate is not known: in flight
        sim.simulation.advance(bars=2)
        await until(lambda: live.bar >= first + 3)
        assert len(market_orders(engine, "stacker")) == 1  # no second entry meanwhile
        assert venue_position(sim) == 0
        assert not [n for n in notices if n.kind == "crash"]
        assert engine.journal.strategy_state("stacker") is not None

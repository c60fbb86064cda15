"""The live engine: one asyncio process running every strategy on its markets.

Data flows one way: the venue's stream -> bars (one builder per market, shared by every strategy
on it) -> each strategy's streaming evaluator -> intents -> the risk manager -> the order manager
-> the venue. Fills come back from the account stream and are attributed to the strategy whose
order it was. Everything that must survive a crash goes to the journal as it happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from rulebot.config import Config
from rulebot.lang import ir
from rulebot.runtime import resting_orders as resting
from rulebot.runtime.bars import RESOLUTIONS, BarBuilder, venue_candle
from rulebot.runtime.decisions import entry_stopped, log_decision
from rulebot.runtime.hot_reload import HotReload
from rulebot.runtime.journal import Journal
from rulebot.runtime.messages import (
    Bar,
    Difference,
    EquitySnapshot,
    Intent,
    Notice,
    NoticeKind,
    OrderRecord,
    RiskEvent,
    StrategyPosition,
)
from rulebot.runtime.narration import Narrator
from rulebot.runtime.orders import PROTECTIVE, OrderManager
from rulebot.runtime.perp_stats import with_perp_stats
from rulebot.runtime.reconcile import (
    attribute,
    compare_orders,
    order_gone,
    order_reopened,
    order_unknown,
    position_cut,
    read_venue,
    unmanaged_changed,
)
from rulebot.runtime.risk import PortfolioView, RiskManager
from rulebot.runtime.running import Live, Running, live_for
from rulebot.runtime.spread import Leg, LiveSpread
from rulebot.runtime.status_report import StatusReport
from rulebot.runtime.stopping import STOP_TIMEOUT_S, protection_at_stop
from rulebot.runtime.strategy import Holding, LiveStrategy, Sizing
from rulebot.venues.lighter.errors import VenueError
from rulebot.venues.lighter.events import (
    AccountChanged,
    Disconnected,
    MarketStatsChanged,
    Resynced,
    TradesPrinted,
)
from rulebot.venues.lighter.records import Trade
from rulebot.venues.units import MarketInfo

log = logging.getLogger("rulebot.engine")

HISTORY_BARS = 5_000
RISK_STATE = "risk_state"  # bars kept per market to warm a reloaded rule


class EngineError(Exception):
    """The engine cannot start as configured (no traceback for the user)."""


class Engine(HotReload, StatusReport):
    """Runs strategies against one venue account. `add_strategy`, then `await start()`;
    `get_status()` at any time; `await stop()` to finish cleanly."""

    def __init__(
        self,
        config: Config,
        venue: Any = None,
        journal: Journal | None = None,
        *,
        stream: Any = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        """With no venue, `start` connects to rulebot.yaml's network (starting the local sim
        when that is `sim` with no address); with no journal, it opens rulebot.yaml's. With no
        `stream`, the market events come from the venue's WebSocket (`MarketStream`); a
        `TapeStream` plays candles instead (a paper account through the live path), and
        `clock` (ms) gives the time its trades are at, in place of the wall clock."""
        self.config = config
        self._clock = clock
        self.venue = venue
        self.journal = journal if journal is not None else Journal.open(config.runtime.journal)
        self._owned = contextlib.AsyncExitStack()
        self.risk_manager = RiskManager(config.risk)
        self.orders = OrderManager(
            venue,
            self.journal,
            account_index=config.account.index,
            now_ms=self.now_ms,
            fees=self._fees,
        )
        self.narrator = Narrator(self.journal)  # says each trade closed, and the run at the stop
        self.strategies: dict[str, Running] = {}
        self.builders: dict[str, BarBuilder] = {}
        self.history: dict[str, deque[Bar]] = {}
        self.markets: dict[str, MarketInfo] = {}
        self.marks: dict[str, Decimal] = {}
        self.perp_stats: dict[str, MarketStatsChanged] = {}  # the stream's latest, by market
        self.equity = Decimal(0)
        self.collateral = Decimal(0)
        self.started_ms = 0
        self.venue_ms = 0  # the venue's clock, as its trades tell it
        self.events: list[RiskEvent] = []
        self.stream: Any = stream
        self._stream_task: asyncio.Task[None] | None = None
        self.running = False
        self.halted = False  # after `flatten`: exits only
        self._closing: list[str] = []
        self._refill: set[str] = set()  # markets whose bars need candles after a reconnect
        self.unmanaged: dict[str, Decimal] = {}  # market -> the venue's position no strategy holds
        self.differences: list[Difference] = []  # found by `reconcile` this run
        self._turn = asyncio.Lock()  # one thing at a time: a stream event, a reconcile, the stop
        self._timer: asyncio.Task[None] | None = None
        self._stopping = False
        self._told_unknown: set[int] = set()  # venue indexes of others' orders already reported
        self.listeners: list[Callable[[Notice], None]] = []
        """Called with every `Notice` (fills, risk events, reloads, disconnections, crashes):
        notifications and the dashboard subscribe here. A listener must not block."""

    # ---- setting up ---------------------------------------------------------------------------
    def now_ms(self) -> int:
        return self._clock() if self._clock is not None else int(time.time() * 1000)

    def _fees(self, market: str) -> tuple[Decimal, Decimal]:
        info = self.markets.get(market)
        if info is None:
            return Decimal(0), Decimal(0)
        return info.taker_fee, info.maker_fee

    def add_strategy(
        self,
        strategy: ir.Strategy,
        params: Mapping[str, float | bool] | None = None,
        path: str = "",
    ) -> None:
        """Run `strategy` (compiled for live trading) from the next start or bar on."""
        live = live_for(strategy, params)
        self.strategies[strategy.name] = Running(live, path or strategy.path)
        self.risk_manager.add_strategy(strategy.name, strategy.limits)
        for market in strategy.markets:
            self.orders.register(strategy.name, market)

    async def start(self) -> None:
        """Connect, warm every strategy from history, reconcile with the venue, subscribe."""
        from rulebot.venues.lighter.stream import MarketStream

        if self.venue is None:
            from rulebot.runtime.venue import venue_for

            venue, _url, _sim = await self._owned.enter_async_context(venue_for(self.config))
            self.venue = self.orders.venue = venue
        self.started_ms = self.now_ms()
        markets = sorted({m for r in self.strategies.values() for m in r.live.markets})
        for market in markets:
            self.markets[market] = await self.venue.market(market)
        for running in self.strategies.values():
            self._size(running.live)
        self._restore_risk()
        await self._warm(markets)  # learns the venue's clock, which stamps equity snapshots
        await self._refresh_account()
        self._restore_strategies()
        for note in await self.orders.reconcile(markets):
            log.info("reconciled: %s", note)
        await self._catch_up_fills()
        await self._reconcile("start")
        paper = hasattr(self.venue, "take_fills")  # a dry run: never the real account's stream
        if self.stream is None:
            stats = sorted(
                {m for r in self.strategies.values() for m, _, _ in r.live.strategy.perp_reads}
                & set(markets)
            )
            self.stream = MarketStream(
                self.venue,
                trades=markets,
                stats=stats,
                account=not paper,
                on_disconnect=self._on_disconnect,
            )
        await self.stream.start()
        self._stream_task = asyncio.create_task(self._consume())
        interval = self.config.runtime.reconcile_interval_s
        if interval > 0 and not paper:
            self._timer = asyncio.create_task(self._reconcile_every(interval))
        self.running = True

    async def _warm(self, markets: list[str]) -> None:
        """History from the venue's candles, so every strategy is warm at its first live bar."""
        recent: dict[str, list[Trade]] = {m: await self.venue.recent_trades(m, 1) for m in markets}
        now = max((t[-1].time_ms for t in recent.values() if t), default=self.now_ms())
        self.venue_ms = now
        by_market: dict[str, list[Bar]] = {}
        for market in markets:
            seconds = min(
                r.live.strategy.timeframe_seconds
                for r in self.strategies.values()
                if market in r.live.markets
            )
            need = max(
                (r.live.warm_after for r in self.strategies.values() if market in r.live.markets),
                default=0,
            )
            span = seconds * 1000 * (need * 2 + 10)
            candles = await self.venue.candles(market, RESOLUTIONS[seconds], now - span, now)
            bars = [
                Bar(
                    market,
                    c.time_ms,
                    float(c.open),
                    float(c.high),
                    float(c.low),
                    float(c.close),
                    float(c.volume),
                )
                for c in candles
                if c.time_ms + seconds * 1000 <= now
            ]
            by_market[market] = bars
            self.history[market] = deque(bars, maxlen=HISTORY_BARS)
            builder = BarBuilder(market, seconds * 1000)
            builder.fill_from_candles(bars)
            self.builders[market] = builder
            if bars:
                self.marks[market] = Decimal(repr(bars[-1].close))
        for running in self.strategies.values():
            live = running.live
            times = sorted(
                set.intersection(*({b.timestamp for b in by_market[m]} for m in live.markets))
            )
            index = {m: {b.timestamp: b for b in by_market[m]} for m in live.markets}
            live.warm([{m: index[m][t] for m in live.markets} for t in times])

    def _size(self, live: Live) -> None:
        """The venue's lots and minimums, and the rule's caps, for a strategy's orders."""
        if isinstance(live, LiveSpread):
            live.lots = {m: self.markets[m].size_step for m in live.strategy.markets}
            live.min_size = max(self.markets[m].min_base_amount for m in live.strategy.markets)
            return
        info = self.markets[live.market]
        live.sizing = Sizing.for_strategy(
            live.strategy,
            lot=info.size_step,
            min_size=info.min_base_amount,
            taker_fee=float(info.taker_fee),
        )

    def notify(self, kind: NoticeKind, message: str, **data: object) -> None:
        """Tell every listener; a failing listener is logged, never fatal."""
        notice = Notice(kind, self.now_ms(), message, data)
        for listener in list(self.listeners):
            try:
                listener(notice)
            except Exception:
                log.exception("a notice listener failed")

    # ---- surviving a restart -----------------------------------------------------------------
    def _restore_risk(self) -> None:
        saved = self.journal.meta(RISK_STATE)
        if saved is None:
            return
        try:
            restored = RiskManager.from_state(self.config.risk, json.loads(saved))
        except ValueError as problem:
            log.warning("risk state not restored (%s): limits start afresh", problem)
            return
        for name, running in self.strategies.items():
            restored.add_strategy(name, running.live.strategy.limits)
        self.risk_manager = restored

    def _restore_strategies(self) -> None:
        """Each strategy carries on from its journaled state, checked against its journaled
        position (the fills are the truth: a state older than the last fill gives way)."""
        for name, running in self.strategies.items():
            live = running.live
            saved = self.journal.strategy_state(name)
            if saved is not None and saved.get("state"):
                try:
                    live.restore(saved["state"])
                except (KeyError, TypeError, ValueError) as problem:
                    log.warning("%s: saved state not usable (%s)", name, problem)
            for market in live.strategy.markets:
                position = self.orders.position(name, market)
                if isinstance(live, LiveStrategy):
                    side = 0.0 if position.size == 0 else (1.0 if position.size > 0 else -1.0)
                    if side != live.holding.side or float(abs(position.size)) != live.holding.size:
                        live.holding = Holding()
                        if side != 0.0:
                            live.on_fill(
                                side, float(abs(position.size)), float(position.entry_price)
                            )
                            log.warning(
                                "%s: position %s taken from the journal; its stop and target "
                                "are not known, so none is held", name, position.size,
                            )  # fmt: skip
                elif isinstance(live, LiveSpread):
                    leg = live.legs.setdefault(market, Leg())
                    leg.size, leg.entry_price = abs(position.size), position.entry_price
                    leg.side = 0.0 if position.size == 0 else (1.0 if position.size > 0 else -1.0)
            if isinstance(live, LiveSpread) and all(g.size == 0 for g in live.legs.values()):
                live.side = 0.0
            if live.holding_size() != 0:
                log.info("%s: carrying on with its position", name)

    async def _close_all(self, name: str) -> None:
        for market in self.strategies[name].live.strategy.markets:
            position = self.orders.position(name, market)
            if position.size:
                intent = Intent(
                    name, market, "close", abs(position.size), "rule_deleted", self.venue_ms,
                    self.marks.get(market, Decimal(0)),
                )  # fmt: skip
                await self.orders.execute(intent)

    async def _refill_bars(self, market: str, until_ms: int) -> None:
        """After a reconnect, before the first new trade: the bars that closed while the stream
        was away, from the venue's candles (not flat bars made up for the gap)."""
        builder = self.builders[market]
        if builder.last_closed is not None:
            seconds = builder.timeframe_ms // 1000
            start = builder.last_closed + builder.timeframe_ms
            end = builder.bucket(until_ms)
            candles = await self.venue.candles(market, RESOLUTIONS[seconds], start, end)
            bars = [
                Bar(market, c.time_ms, float(c.open), float(c.high), float(c.low),
                    float(c.close), float(c.volume))
                for c in candles
                if c.time_ms + builder.timeframe_ms <= end
            ]  # fmt: skip
            for bar in builder.fill_from_candles(bars):
                self.history.setdefault(market, deque(maxlen=HISTORY_BARS)).append(bar)
                await self._on_bar(bar)

    async def _catch_up_fills(self) -> None:
        """Fills the venue made while the bot was down or disconnected (a stop that fired, an
        order that filled late): journaled once each, as if they had streamed in."""
        missed = sorted(await self.venue.account_trades(), key=lambda t: t.trade_id)
        if missed:
            await self._on_account_trades(tuple(missed))

    # ---- the venue is the truth --------------------------------------------------------------
    async def reconcile(self, reason: str) -> list[Difference]:
        """Compare every position and open order with the venue's and adopt the venue's (see
        `rulebot.runtime.reconcile` for who keeps what); each difference is journaled, logged
        and notified. Runs on start, after each reconnect and every
        `runtime.reconcile_interval_s`, and when called, between two stream events; a dry run's
        paper venue is the bot's own book."""
        async with self._turn:
            return await self._reconcile(reason)

    async def _reconcile(self, reason: str) -> list[Difference]:
        if hasattr(self.venue, "take_fills"):
            return []
        picture = await read_venue(self.venue, self._on_account_trades)
        if picture is None:
            log.info("reconcile (%s): fills kept landing meanwhile; trying again later", reason)
            return []
        found: list[Difference] = []
        protect: set[str] = set()
        venue_markets = {p.market for p in picture.account.positions}
        for market in sorted(set(self.markets) | venue_markets | set(self.unmanaged)):
            held = {
                p.strategy: p.size
                for p in self.orders.positions()
                if p.market == market and p.size != 0
            }
            venue = picture.position(market)
            fitted, unmanaged = attribute(venue, held)
            for name, size in fitted.items():
                if size != held[name]:
                    found.append(await self._adopt(name, market, held[name], size, venue))
                    protect.add(name)
            before = self.unmanaged.pop(market, Decimal(0))
            if unmanaged != 0:
                self.unmanaged[market] = unmanaged
            if unmanaged != before:
                found.append(unmanaged_changed(self.now_ms(), market, before, unmanaged, venue))
        journal = self.journal
        check = compare_orders(journal.open_orders(), picture.orders, journal.order)
        for record, state, note, known in await self.orders.settle(check.missing):
            if state == "unknown":
                continue  # sent, not shown by the venue yet: looked up again before the next
            if known and not (state == "canceled" and record.kind in PROTECTIVE):
                continue  # done at the venue as orders are: its fills came in above
            protect.add(record.strategy)
            found.append(order_gone(self.now_ms(), record, note))
        for order in check.unknown:
            if order.order_index in self._told_unknown:
                continue  # said once; it stays the owner's business
            self._told_unknown.add(order.order_index)
            found.append(order_unknown(self.now_ms(), order))
        for record, _order in check.reopened:
            journal.record_order(replace(record, state="open", updated_ms=self.now_ms()))
            found.append(order_reopened(self.now_ms(), record))
        for name in sorted(protect):  # positions kept whose protection went missing or moved
            running = self.strategies.get(name)
            if running is not None and isinstance(running.live, LiveStrategy):
                await self._sync_protection(running.live)
        for difference in found:
            self.journal.record_difference(difference)
            self.differences = [*self.differences[-99:], difference]
            log.warning("reconciled (%s): %s", reason, difference.message)
            self.notify(
                "reconciled", difference.message, difference=difference.kind, reason=reason,
                market=difference.market, strategy=difference.strategy,
                before=str(difference.before), after=str(difference.after),
            )  # fmt: skip
        return found

    async def _adopt(
        self, name: str, market: str, before: Decimal, after: Decimal, venue: Decimal
    ) -> Difference:
        """A strategy's position cut to what the venue holds for it: journaled, its protective
        orders cancelled (placed again for what is left), its holding made to match."""
        await self.orders.cancel_protective(name, market)
        self.orders.adjust(name, market, after)
        running = self.strategies.get(name)
        if running is not None:
            live = running.live
            if isinstance(live, LiveStrategy):
                if after == 0:
                    live.holding = Holding()  # its stop and target go with it
                else:
                    live.holding.size = float(abs(after))
            else:
                leg = live.legs.setdefault(market, Leg())
                leg.size = abs(after)
                leg.side = 0.0 if after == 0 else leg.side
                if all(g.size == 0 for g in live.legs.values()):
                    live.side = 0.0
            self._save(live)
        return position_cut(self.now_ms(), name, market, before, after, venue)

    async def _reconcile_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            async with self._turn:
                if self._stopping:
                    return
                try:
                    await self._reconcile("timer")
                except Exception as error:  # a venue error: try again at the next round
                    log.warning("reconcile (timer) failed: %s", error)

    def _save(self, live: Live) -> None:
        with self.journal.batch():
            self.journal.save_strategy_state(live.name, {"state": live.snapshot()})
            self.journal.set_meta(RISK_STATE, json.dumps(self.risk_manager.to_state()))

    # ---- the loop -----------------------------------------------------------------------------
    async def _consume(self) -> None:
        assert self.stream is not None
        async for event in self.stream:
            await self._turn.acquire()
            try:
                if self._stopping and isinstance(event, TradesPrinted):
                    continue  # stopping: no new bars
                if isinstance(event, TradesPrinted):
                    await self._on_trades(event.market, event.trades)
                elif isinstance(event, MarketStatsChanged):
                    self.perp_stats[event.market] = event
                elif isinstance(event, AccountChanged):
                    await self._on_account_trades(event.trades)
                elif isinstance(event, Resynced):
                    log.info("stream back after %s reconnects", event.reconnects)
                    self.notify("reconnected", "market stream back", reconnects=event.reconnects)
                    await self._catch_up_fills()
                    await self._reconcile("reconnect")
                elif isinstance(event, Disconnected):  # said as it happened: `_on_disconnect`
                    self._refill = set(self.builders)
            except Exception as error:  # one bad event must not stop trading
                log.exception("while handling %s", type(event).__name__)
                self.notify("crash", f"error while handling {type(event).__name__}: {error}")
            finally:
                self._turn.release()

    async def wait(self) -> None:
        """Until the market stream ends: a replayed tape's last trade (a venue's stream does
        not end while it runs)."""
        if self._stream_task is not None:
            await asyncio.shield(self._stream_task)

    def _on_disconnect(self, event: Disconnected) -> None:
        """Called by the stream the moment it is lost (not when its event is handled, which
        waits for the work in hand: a venue that is down can hold that until it is back)."""
        if event.attempt == 1:
            log.warning("market stream lost (%s); reconnecting", event.reason)
            self.notify("disconnected", f"market stream lost: {event.reason}")

    async def _on_trades(self, market: str, trades: tuple[Trade, ...]) -> None:
        builder = self.builders.get(market)
        if builder is None:
            return
        if market in self._refill and trades:
            self._refill.discard(market)
            await self._refill_bars(market, min(t.time_ms for t in trades))
        if trades:
            self.venue_ms = max(self.venue_ms, max(t.time_ms for t in trades))
        take_fills = getattr(self.venue, "take_fills", None)
        if take_fills is not None:  # a paper venue fills resting orders from the market's trades
            await self.venue.on_market_trades(market, trades)
            fills = tuple(take_fills())
            if fills:  # the account is marked at fills and closes, as the venue's stream tells
                await self._on_account_trades(fills)
        closed: list[Bar] = []
        for trade in trades:
            self.marks[market] = trade.price
            closed += builder.add_trade(trade.time_ms, float(trade.price), float(trade.size))
        if closed:  # mark the account at each close: sizing and the loss limits read it
            await self._refresh_account_or_carry_on()
        for built in closed:
            timeframe = self.builders[built.market].timeframe_ms
            bar = with_perp_stats(await venue_candle(self.venue, built, timeframe), self.perp_stats)
            self.history.setdefault(bar.market, deque(maxlen=HISTORY_BARS)).append(bar)
            await self._on_bar(bar)

    async def _on_bar(self, bar: Bar) -> None:
        while self._closing:  # deleted rules whose positions the config says to close
            name = self._closing.pop()
            await self._isolated(name, self._close_all(name), "closing its position")
        for name, running in list(self.strategies.items()):
            if not running.stopped:
                await self._isolated(name, self._bar_for(running, bar), "evaluating a bar")

    async def _isolated(self, name: str, work: Coroutine[Any, Any, None], what: str) -> None:
        """Run one strategy's work; its failure is logged and notified as that strategy's
        crash, and never stops another strategy's evaluation."""
        try:
            await work
        except Exception as error:
            log.exception("%s: %s failed", name, what)
            self.notify("crash", f"{name}: {what} failed: {error}", strategy=name)

    async def _bar_for(self, running: Running, bar: Bar) -> None:
        if running.replacement is not None:
            self._swap(running)
        live = running.live
        if bar.market not in live.markets:
            return
        if live.last_time is not None and bar.timestamp <= live.last_time:
            return
        waiting = running.waiting.setdefault(bar.timestamp, {})
        waiting[bar.market] = bar
        if len(waiting) < len(live.markets):
            return
        del running.waiting[bar.timestamp]
        await self._evaluate(running, waiting)

    async def _evaluate(self, running: Running, bars: dict[str, Bar]) -> None:
        live = running.live
        in_flight = await self._settle_in_flight(live)
        deciding = live.pending  # what the orders in flight were sent for
        intents = live.on_bar(bars, self.equity)
        self.risk_manager.on_bar(live.name, _bar_index(live))
        if in_flight and intents:  # its position is not known: no second entry (nor exit)
            orders = ", ".join(
                f"{o.side} {o.size} {o.market} (order {o.client_order_index})" for o in in_flight
            )
            log.warning(
                "%s: no new order this bar: %s in flight, its fate not known yet",
                live.name, orders,
            )  # fmt: skip
            intents = []
            live.pending = deciding
            entry_stopped(live, "an order is still in flight: its fate is not known yet")
        entries = [i for i in intents if i.action != "close"]
        if isinstance(live, LiveSpread) and entries:
            verdicts = [self.risk_manager.check(i, self._view()) for i in entries]
            refused = [v for v in verdicts if not v.allowed or v.size != v.requested]
            if refused:  # every leg or none
                log.warning("%s: spread entry refused: %s", live.name, refused[0].message)
                intents = [i for i in intents if i.action == "close"]
                live.pending = tuple(intents)
        if self.halted:
            intents = [i for i in intents if i.action == "close"]
            live.pending = tuple(intents)
            entry_stopped(live, "entries are off (flattened)")
            resting.drop(live, "entries are off (flattened)")
        unclosed: set[str] = set()  # markets whose exit did not go out: no entry there now
        for intent in intents:
            if intent.action != "close" and intent.market in unclosed:
                log.warning(
                    "%s %s: entry dropped: the exit before it did not go out", live.name,
                    intent.market,
                )  # fmt: skip
                live.pending = tuple(p for p in live.pending if p is not intent)
                resting.drop(live, "the exit before it did not go out")
                continue
            verdict = self.risk_manager.check(
                intent, self._view(resting.placed_for(self.orders, intent))
            )
            if not verdict.allowed:
                log.warning("%s: entry refused: %s", live.name, verdict.message)
                entry_stopped(live, f"risk: {verdict.message}")
                resting.drop(live, f"risk: {verdict.message}")
                continue
            if verdict.size != intent.size and verdict.size > 0:
                log.warning("%s: %s", live.name, verdict.message)
                intent = Intent(**{**_fields(intent), "size": verdict.size})
                live.pending = tuple(
                    intent if p.action == intent.action and p.market == intent.market else p
                    for p in live.pending
                )
            if intent.action == "close":
                if not await self._exit(intent):
                    unclosed.add(intent.market)
            else:
                try:
                    record = await self.orders.execute(intent)
                except VenueError as error:  # in doubt: in flight until the venue says
                    log.warning("%s %s: order not confirmed (%s)", live.name, intent.market, error)
                else:
                    if record is not None and record.state == "rejected":
                        resting.drop(live, "the venue refused it")
            take_fills = getattr(self.venue, "take_fills", None)
            if take_fills is not None:
                await self._on_account_trades(tuple(take_fills()))
        await resting.cancel_unwanted(self.orders, live)
        if not intents:  # with orders in flight, their fills set the protection
            await self._sync_protection(live)
        self._save(live)
        log_decision(live)

    async def _exit(self, intent: Intent) -> bool:
        """Send an exit; True once it went out or nothing is left to exit. When the venue does
        not back the position (the order manager sends nothing), the venue's picture is taken
        first (fills booked, positions adopted, as `reconcile` does) and what is left, if any,
        is tried once more: fills still on their way must not hold an exit back."""
        strategy, market = intent.strategy, intent.market
        for attempt in range(2):
            try:
                record = await self.orders.execute(intent)
            except VenueError as error:  # in doubt: in flight until the venue says (next bar)
                log.warning("%s %s: exit not confirmed (%s)", strategy, market, error)
                return False
            if self.orders.position(strategy, market).size == 0:
                return True
            if record is not None:
                return record.state != "rejected"
            if attempt:
                return False
            try:
                await self._reconcile("exit")
            except VenueError as error:
                log.warning("%s %s: the venue's picture not taken (%s)", strategy, market, error)
                return False
        return False

    async def _settle_in_flight(self, live: Live) -> list[OrderRecord]:
        """The strategy's orders still in flight once the venue was asked about them (and the
        fills it made booked): what it must wait for before it sends anything new."""
        markets = live.strategy.markets
        if not any(self.orders.in_flight(live.name, m) for m in markets):
            return []
        try:
            if await self.orders.settle_in_flight(live.name, markets):
                await self._catch_up_fills()
        except Exception as error:  # still unknown: asked again at the next close
            log.warning(
                "%s: the venue did not say what became of its orders (%s: %s)",
                live.name, type(error).__name__, error,
            )  # fmt: skip
        return [o for m in markets for o in self.orders.in_flight(live.name, m)]

    async def _sync_protection(self, live: Live) -> None:
        stop, take = live.stop_price(), live.take_price()
        held = abs(self.orders.position(live.name, live.market).size)
        await self.orders.protect(
            live.name,
            live.market,
            None if math.isnan(stop) else Decimal(repr(stop)),
            None if math.isnan(take) else Decimal(repr(take)),
            live.take_orders(held) if isinstance(live, LiveStrategy) else None,
        )

    async def _on_account_trades(self, trades: tuple[Trade, ...]) -> None:
        for fill, position, pnl in self.orders.on_trades(trades):
            self.narrator.on_fill(fill)
            self.notify(
                "fill",
                f"{fill.strategy} {fill.market}: {fill.side} {fill.size} at {fill.price}",
                strategy=fill.strategy, market=fill.market, side=fill.side, size=str(fill.size),
                price=str(fill.price), fee=str(fill.fee), position=str(position.size),
                pnl=str(pnl), trade_id=fill.trade_id,
            )  # fmt: skip
            running = self.strategies.get(fill.strategy)
            if running is None:
                continue
            live = running.live
            trade_pnl = live.closed_pnl + pnl
            order = self.journal.order(fill.client_order_index)  # an add? a take-profit?
            closed = live.on_position(fill.market, position.size, position.entry_price, pnl, order)
            if closed:
                self.risk_manager.on_trade_closed(live.name, trade_pnl, _bar_index(live) + 1)
                await self.orders.cancel_protective(live.name, fill.market, fill.client_order_index)
            elif position.size != 0:
                await self._sync_protection(live)
            resting.filled(self.orders, live, fill.client_order_index)
            self._save(live)
        await self._refresh_account_or_carry_on()

    async def _refresh_account_or_carry_on(self) -> None:
        """Refresh the account; when the venue cannot answer (rate limits, errors past every
        retry), carry on with the last known account and try again at the next bar or fill: a
        bar is never lost to a venue error."""
        try:
            await self._refresh_account()
        except VenueError as error:
            log.warning(
                "account not refreshed (%s); deciding on the last known equity %s",
                error, self.equity,
            )  # fmt: skip

    async def _refresh_account(self) -> None:
        account = await self.venue.account()
        self.equity = account.equity
        self.collateral = account.collateral
        time_ms = self.venue_ms or self.now_ms()  # the venue's clock: the sim's runs fast
        snapshot = EquitySnapshot(
            time_ms, account.equity, account.collateral, account.equity - account.collateral
        )
        self.journal.record_equity(snapshot)
        pnl = {
            name: sum(
                (self._pnl(p) for p in self.orders.positions() if p.strategy == name),
                Decimal(0),
            )
            for name in self.strategies
        }
        for event in self.risk_manager.on_equity(snapshot.time_ms, account.equity, pnl):
            self.journal.record_risk_event(event)
            self.events.append(event)
            log.warning("risk: %s", event.message)
            self.notify(
                "risk", event.message, scope=event.scope, limit=event.limit, state=event.state
            )

    def _pnl(self, position: StrategyPosition) -> Decimal:
        """A strategy's PnL on one market as the risk limits read it, the backtest's way:
        realised, less fees and funding, plus the open part marked at the market's last price."""
        mark = self.marks.get(position.market)
        held = position.size * (mark - position.entry_price) if mark and position.size else 0
        return position.realized_pnl - position.fees - position.funding + held

    def _view(self, leave_out: set[int] | None = None) -> PortfolioView:
        """The account as risk sees it: positions including the entries in flight (what they
        may yet become), and every order of ours the venue may hold (see docs/running.md),
        but those in `leave_out` (a resting entry checked again: counted once, as its intent)."""
        marks = {m: p for m, p in self.marks.items() if p > 0}
        out = leave_out or set()
        open_orders = [o for o in self.journal.open_orders() if o.client_order_index not in out]
        in_flight = [
            StrategyPosition(strategy, market, size)
            for (strategy, market), size in self.orders.in_flight_sizes(open_orders).items()
        ]
        return PortfolioView.from_positions(
            self.equity,
            [p for p in [*self.orders.positions(), *in_flight] if p.market in marks],
            marks,
            open_orders=Counter(o.strategy for o in open_orders),
            size_steps={m: i.size_step for m, i in self.markets.items()},
        )

    # ---- emergency ----------------------------------------------------------------------------
    async def flatten(self, market: str | None = None) -> list[str]:
        """Cancel every order and close every strategy's position (of one market, or all), and
        take no new entries until restarted. Returns each result, in words."""
        async with self._turn:  # not in the middle of a bar, nor of a reconcile
            return await self._flatten(market)

    async def _flatten(self, market: str | None) -> list[str]:
        self.halted = True
        results: list[str] = []
        markets = [market] if market else sorted(self.markets)
        for symbol in markets:
            try:
                await self.venue.cancel_all(symbol)
                results.append(f"{symbol}: every order cancelled")
            except Exception as error:
                results.append(f"{symbol}: cancel all FAILED: {error}")
        for position in self.orders.positions():
            if position.size == 0 or position.market not in markets:
                continue
            book = self.orders.books[(position.strategy, position.market)]
            book.stop = None
            book.takes.clear()
            intent = Intent(
                position.strategy,
                position.market,
                "close",
                abs(position.size),
                "flatten",
                self.venue_ms,
                self.marks.get(position.market, Decimal(0)),
            )
            record = await self.orders.execute(intent)
            state = record.state if record is not None else "nothing to do"
            results.append(
                f"{position.strategy} {position.market}: close {position.size} at market: {state}"
            )
            take_fills = getattr(self.venue, "take_fills", None)
            if take_fills is not None:
                await self._on_account_trades(tuple(take_fills()))
        results.append("new entries are off until the bot restarts")
        return results

    # ---- stopping and status ------------------------------------------------------------------
    async def stop(self, cancel_orders: bool = False, timeout: float = STOP_TIMEOUT_S) -> list[str]:
        """Stop cleanly: take no new bars, let the evaluation in flight finish (at most
        `timeout` s), journal the fills it brought and place their stops, then stop the stream.
        Returns the end-of-run summary: this run's trades, PnL and fees, then every position
        and its protection at the venue."""
        if self._stopping:  # stopped already
            return []
        self.running = False
        self._stopping = True
        if self._timer is not None:
            self._timer.cancel()
            await asyncio.gather(self._timer, return_exceptions=True)
        lines: list[str] = []
        settled = False
        if self._stream_task is not None:
            try:
                async with asyncio.timeout(timeout):
                    await self._turn.acquire()
                settled = True
            except TimeoutError:
                lines.append(f"WARNING: the work in flight did not finish in {timeout:g} s")
        if self.stream is not None:
            await self.stream.close()
        if self._stream_task is not None:
            self._stream_task.cancel()
            await asyncio.gather(self._stream_task, return_exceptions=True)
            self._stream_task = None
        protection: list[str] = []
        try:
            async with asyncio.timeout(timeout):
                if settled:
                    await self._finish_in_flight()
                if cancel_orders:
                    for market in self.markets:
                        await self.venue.cancel_all(market)
                if self.venue is not None:
                    spreads = {
                        n for n, r in self.strategies.items() if isinstance(r.live, LiveSpread)
                    }
                    protection = await protection_at_stop(
                        self.venue, self.orders, spreads, self.unmanaged, cancel_orders
                    )
                    protection += await resting.left_at_stop(self.venue, self.orders)
        except Exception as error:  # the venue is away: say what is not known
            protection = [f"WARNING: could not check the positions' protection at the venue: "
                          f"{error or type(error).__name__}"]  # fmt: skip
        lines += [*self.narrator.summary(), *protection]  # the run's trades, then what it leaves
        await self._owned.aclose()
        if settled:
            self._turn.release()
        for line in lines:
            loud = "UNPROTECTED" in line or "NO PROTECTION" in line or "WARNING" in line
            log.log(logging.WARNING if loud else logging.INFO, "stop: %s", line.strip())
        return lines

    async def _finish_in_flight(self) -> None:
        """Orders the last evaluation sent: settled with the venue, their fills journaled, and
        every position's stop and target placed, as if the stream had brought them."""
        await self.orders.reconcile(sorted(self.markets))
        await self._catch_up_fills()
        for running in self.strategies.values():
            live = running.live
            if isinstance(live, LiveStrategy) and not running.stopped and live.holding_size():
                await self._sync_protection(live)


def _bar_index(live: Live) -> int:
    """The last bar's number on the strategy's clock, the same after a restart."""
    return (live.last_time or 0) // (live.strategy.timeframe_seconds * 1000)


def _fields(intent: Intent) -> dict[str, Any]:
    return {name: getattr(intent, name) for name in intent.__slots__}  # type: ignore[attr-defined]


__all__ = ["Engine", "EngineError", "Path"]

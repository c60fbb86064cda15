"""A strategy running live: the streaming evaluator, fed each closed bar, turned into intents.

This is the live twin of the backtester's fill loop (`rulebot.backtesting.fills`), and it decides
with the same functions: `decide` (exit, reverse or entry at a close), `_entry_size` and
`_protection_level`. What the backtest knows from its own fills, this learns from the venue's:
`on_fill` tells it the entry or exit price and the bar it happened in, so `bars_in_trade`,
`entry_price`, the cooldown and the protection levels are what the backtest would have used.

Sizing reads the account's equity (several strategies share one account), at the closing bar's
price; the order fills at the next price the market offers, as the backtest fills at the next open.
`size 100% of cash` reads that equity as the cash the entry may spend (an entry is made flat),
net of the market's taker fee.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_DOWN, Decimal

import numpy as np

from rulebot.backtesting.fills import (
    _LEVEL,
    _NONE,
    _PERCENT,
    EXIT_REASONS,
    decide,
)
from rulebot.backtesting.fills import _entry_size as entry_size
from rulebot.backtesting.fills import _protection_level as protection_level
from rulebot.explain.clauses import Clause, conditions, parts
from rulebot.explain.records import Decision
from rulebot.graph.plan import Graph, plan
from rulebot.graph.streaming import StreamingEvaluator
from rulebot.lang import ir
from rulebot.runtime import resting as resting_entry
from rulebot.runtime.decisions import live_decision
from rulebot.runtime.messages import Bar, Intent, OrderRecord, Protection
from rulebot.runtime.scaling import TakeOrder, share_of, take_sizes

SIZE_MODES = ("equity", "base", "quote", "risk_equity", "risk_quote", "cash")
PROTECTION_MODES = ("none", "percent", "distance", "level")
_COSTS = 9  # the length of fills.py's costs array
_TAKER, _LOT, _MIN_SIZE, _MAX_POSITION, _MAX_NOTIONAL, _MAX_SHARE = 0, 3, 4, 5, 7, 8


class StrategyError(Exception):
    """A strategy that cannot run live as written (e.g. it reads a market with no data)."""


@dataclass(frozen=True)
class Sizing:
    """The venue's size step, minimum (base units) and taker fee, and the rule's caps."""

    lot: Decimal = Decimal(0)
    min_size: Decimal = Decimal(0)
    max_position: float = math.inf
    max_notional: float = math.inf
    max_equity_share: float = math.inf
    taker_fee: float = 0.0
    """What `size 100% of cash` keeps back for the entry's fee."""

    @classmethod
    def for_strategy(
        cls,
        strategy: ir.Strategy,
        lot: Decimal = Decimal(0),
        min_size: Decimal = Decimal(0),
        taker_fee: float = 0.0,
    ) -> Sizing:
        """The rule's own `max_position` (base, quote or share of equity) applied as the
        backtester applies it (`with_strategy_limits`)."""
        caps: dict[str, float] = {}
        cap = strategy.limits.get("max_position")
        if cap is not None:
            name = {"base": "max_position", "quote": "max_notional", "percent": "max_equity_share"}
            caps[name[cap.mode]] = cap.value
        return cls(lot=lot, min_size=min_size, taker_fee=taker_fee, **caps)

    def costs(self) -> np.ndarray:
        costs = np.zeros(_COSTS)
        costs[_TAKER] = self.taker_fee
        costs[_LOT] = float(self.lot)
        costs[_MIN_SIZE] = float(self.min_size)
        costs[_MAX_POSITION] = self.max_position
        costs[_MAX_NOTIONAL] = self.max_notional
        costs[_MAX_SHARE] = self.max_equity_share
        return costs


@dataclass
class Holding:
    """The strategy's own position as its rules see it (the account's is the sum)."""

    side: float = 0.0  # +1 long, -1 short, 0 flat
    size: float = 0.0
    entry_price: float = math.nan
    entry_bar: int = 0
    extreme: float = math.nan  # best price since entry, for the trailing stop
    stop: float = math.nan  # fixed at entry
    take: float = math.nan
    trail_kind: int = _NONE  # 0 none, 1 fraction, 2 distance (as fills.py)
    trail_amount: float = 0.0
    protections: tuple[Protection, ...] = ()
    entries: int = 0  # entry fills stacked in this position (`pyramiding N`: at most N)
    full_size: float = 0.0  # the size after the last entry fill: partial take-profits' base
    takes: tuple[float, ...] = ()  # partial take-profit levels, from the average entry price
    take_shares: tuple[float, ...] = ()
    armed: tuple[bool, ...] = ()  # each partial take-profit fires once, re-armed by an add
    entry_order: int = -1  # the client order index of the last entry fill (its parts add up)

    def state(self, bar: int) -> dict[str, float]:
        """What `bars_in_trade`, `entry_price` and `position` read at this close."""
        held = self.side != 0.0
        return {
            "bars_in_trade": float(bar - self.entry_bar) if held else 0.0,
            "entry_price": self.entry_price if held else math.nan,
            "position": self.side,
        }


class Warming:
    """What live strategies and spreads share: their names and markets, bar times, the graph's
    warm-up length, and feeding history bars. Needs `graph`, `bar` and `_feed` from the class
    it is mixed into."""

    graph: Graph
    strategy: ir.Strategy
    bar: int
    last_time: int | None

    @property
    def name(self) -> str:
        return self.strategy.name

    @property
    def market(self) -> str:
        """The first market traded: the one whose bar times the strategy counts in."""
        return self.strategy.markets[0]

    @property
    def markets(self) -> tuple[str, ...]:
        """Every market whose bars this strategy reads, those it trades first."""
        others = sorted({m for m, _ in self.strategy.feeds} - set(self.strategy.markets))
        return (*self.strategy.markets, *others)

    def bar_time(self, bar: int) -> int:
        """The open time of bar index `bar` (snapshots store times: a restart counts afresh)."""
        return (self.last_time or 0) + (bar - self.bar) * self.strategy.timeframe_seconds * 1000

    def bar_index(self, time: object) -> int:
        """The bar index of open time `time`, as `bar_time` wrote it."""
        tf = self.strategy.timeframe_seconds * 1000
        return self.bar - ((self.last_time or 0) - int(time)) // tf  # type: ignore[call-overload]

    @property
    def warm_after(self) -> int:
        """Bars to feed before a signal counts (the graph's warm-up)."""
        return self.graph.warmup_bars

    @property
    def is_warm(self) -> bool:
        return self.bar >= self.warm_after

    def warm(self, history: Sequence[Mapping[str, Bar]]) -> None:
        """Feed past bars (aligned: one per market per time); no intents come of them."""
        for bars in history:
            self._feed(bars)

    def _feed(self, bars: Mapping[str, Bar]) -> None:
        raise NotImplementedError


@dataclass
class LiveStrategy(Warming):
    """One compiled strategy on live bars. Feed history with `warm`, then each closed bar with
    `on_bar`; report fills with `on_fill`. Everything it does is decided at bar closes."""

    strategy: ir.Strategy
    params: Mapping[str, float | bool] = field(default_factory=dict)
    sizing: Sizing = field(default_factory=Sizing)
    graph: Graph = field(init=False)
    evaluator: StreamingEvaluator = field(init=False)
    holding: Holding = field(default_factory=Holding)
    bar: int = -1  # index of the last bar fed, counted from the first history bar
    last_time: int | None = None
    cooldown_until: int = 0
    pending: tuple[Intent, ...] = ()
    closed_pnl: Decimal = Decimal(0)  # realised by the fills of the trade being closed
    trees: dict[str, Clause] = field(init=False)
    decision: Decision | None = None
    """The last bar close's decision (`rulebot explain --port`, the log at DEBUG)."""
    resting: resting_entry.RestingEntry | None = None
    """The entry it wants resting at the venue (`entry long limit at ...`), if any."""
    resting_gone: str = ""
    """Why the last close let its resting entry go (for the log), "" when it did not."""

    def __post_init__(self) -> None:
        if len(self.strategy.markets) != 1:
            raise StrategyError(
                f"`{self.strategy.name}` trades {len(self.strategy.markets)} markets: "
                "spreads run in backtests only for now"
            )
        self.trees = conditions(self.strategy)
        self.graph = plan(self.strategy, self.params or None, parts(self.trees))
        self.evaluator = StreamingEvaluator(self.graph)

    # ---- bars -----------------------------------------------------------------------------------

    def on_bar(self, bars: Mapping[str, Bar], equity: Decimal) -> list[Intent]:
        """A bar closed on every market the strategy reads: evaluate, then decide. `equity` is
        the account's, marked at this close."""
        self._feed(bars)
        close = bars[self.market].close
        side = self.holding.side
        if self.holding.side != 0.0:
            self._trail(bars[self.market])
        time = bars[self.market].timestamp
        signals = self._signals()
        if not self.is_warm:
            self._decided(time, close, side, "warmup")
            return []
        can_add = self.holding.side != 0.0 and self.holding.entries < self.strategy.pyramiding
        exit_code, open_side = decide(
            self.holding.side,
            signals["entry.long"],
            signals["exit.long"],
            signals["entry.short"],
            signals["exit.short"],
            can_add,
        )
        blocker = _blocker(signals, open_side)
        intents: list[Intent] = []
        resting_side = self.resting.side if self.resting is not None else 0.0
        self.resting, self.resting_gone = resting_entry.carry_on(
            self.resting, bar=self.bar, level=self._level(resting_side), signals=signals,
            exit_code=exit_code, open_side=open_side, held=self.holding.side,
            full=getattr(self.holding, "entries", 1) >= self.strategy.pyramiding,
        )  # fmt: skip
        reference = _decimal(close)
        if exit_code >= 0:
            size, partial = self._exit_size(EXIT_REASONS[exit_code])
            if size > 0:
                intents.append(
                    Intent(
                        strategy=self.name,
                        market=self.market,
                        action="close",
                        size=size,
                        reason=EXIT_REASONS[exit_code],
                        bar_time=time,
                        reference_price=reference,
                        partial=partial,
                    )
                )
        if open_side != 0.0 and self.bar < self.cooldown_until:
            blocker = "cooldown"
        elif open_side != 0.0:
            entry = self._entry(open_side, close, float(equity), time)
            if entry is not None:
                intents.append(self._rest(entry, open_side, float(equity)))
            elif resting_entry.entry_order_kind(self.strategy, open_side) and math.isnan(
                self._level(open_side)
            ):
                blocker = "its entry level is na"
            else:
                blocker = "no_size"
        if self.resting_gone == resting_entry.RESTARTED and self.resting is None:
            self.resting_gone = f"its entry was stopped: {blocker}"  # not placed again
        if self.resting is not None and self.resting.intent not in intents:
            self.resting = self._resized(self.resting)
            intents.append(self.resting.intent)  # kept from an earlier close, at its new level
        self.pending = tuple(intents)
        self._decided(time, close, side, blocker)
        return intents

    def _exit_size(self, reason: str) -> tuple[Decimal, bool]:
        """What an exit at this close closes, and whether that is a part: all of the position,
        or for `exit long 50% when` (a signal exit, not a reverse) its share rounded down to
        the lot (all of it when the rest would be dust; nothing when the share rounds to 0)."""
        held = _decimal(self.holding.size)
        side = "long" if self.holding.side > 0 else "short"
        share = self._value(f"exit_share.{side}") if reason == "signal" else math.nan
        if not 0.0 < share < 1.0:
            return held, False
        part = share_of(held, share, self.sizing.lot, self.sizing.min_size)
        return part, part < held

    def _decided(self, time: int, close: float, side: float, blocker: str | None) -> None:
        self.decision = live_decision(
            self.strategy, self.trees, self.evaluator, time_ms=time, close=close, side=side,
            blocker=blocker,
        )  # fmt: skip

    def _feed(self, bars: Mapping[str, Bar]) -> None:
        rows = evaluator_rows(self.name, self.markets, bars, self.last_time)
        self.bar += 1
        self.last_time = bars[self.market].timestamp
        self.evaluator.update(rows, self.holding.state(self.bar))

    def _signals(self) -> dict[str, bool]:
        outputs = self.graph.outputs
        return {
            name: bool(self.evaluator.value(name)) if name in outputs else False
            for name in ("entry.long", "exit.long", "entry.short", "exit.short")
        }

    def _value(self, name: str) -> float:
        return float(self.evaluator.value(name)) if name in self.graph.outputs else math.nan

    def _protection(self, kind: str) -> tuple[int, float]:
        found = self.strategy.protections.get(kind)
        if found is None:
            return _NONE, math.nan
        return PROTECTION_MODES.index(found.mode), self._value(kind)

    def _level(self, side: float) -> float:
        """The level of the resting entry on `side` at this close (NaN: none)."""
        return self._value(f"entry_level.{resting_entry.SIDE_NAMES[side]}") if side else math.nan

    def _entry(self, side: float, price: float, equity: float, time: int) -> Intent | None:
        if resting_entry.entry_order_kind(self.strategy, side):  # rests: sized at its level
            price = self._level(side)
            if not (price > 0.0):
                return None
        amount = self._amount(side, price, equity, self._value("size"), self._stop_value())
        if amount is None:
            return None
        protections = tuple(
            Protection(kind, found.mode, self._value(kind))  # type: ignore[arg-type]
            for kind, found in sorted(self.strategy.protections.items())
            if not math.isnan(self._value(kind))
        ) + tuple(
            Protection("take_profit", take.mode, self._value(f"take.{k}"),
                       self._value(f"take_share.{k}"))
            for k, take in enumerate(self.strategy.partial_takes)
        )  # fmt: skip
        return Intent(
            strategy=self.name,
            market=self.market,
            action="open_long" if side > 0 else "open_short",
            size=amount,
            reason="signal",
            bar_time=time,
            reference_price=_decimal(price),
            protections=protections,
        )

    def _stop_value(self) -> float:
        found = self.strategy.protections.get("stop_loss")
        return math.nan if found is None else self._value("stop_loss")

    def _amount(
        self, side: float, price: float, equity: float, size_value: float, stop_value: float
    ) -> Decimal | None:
        """Base units an entry at `price` opens (rounded down to the lot), or None for none."""
        stop_mode, _ = self._protection("stop_loss")
        stop = protection_level(stop_mode, stop_value, price, side, True)
        mode = SIZE_MODES.index(self.strategy.sizing.mode)
        size = entry_size(mode, size_value, equity, price, stop, self.sizing.costs())
        if size <= 0.0:
            return None
        lot = self.sizing.lot
        amount = _decimal(size)
        if lot > 0:
            amount = (amount / lot).to_integral_value(ROUND_DOWN) * lot
        if amount <= 0 or amount < self.sizing.min_size:
            return None
        return amount

    def _resized(self, resting: resting_entry.RestingEntry) -> resting_entry.RestingEntry:
        """A resting entry kept from an earlier close, sized again at its new level from what
        the close that placed it read (unchanged when that comes to nothing)."""
        if resting.sizing is None:
            return resting
        equity, size_value, stop_value = resting.sizing
        level = float(resting.intent.level)
        amount = self._amount(resting.side, level, equity, size_value, stop_value)
        if amount is None or amount == resting.intent.size:
            return resting
        return replace(resting, intent=replace(resting.intent, size=amount))

    def _rest(self, entry: Intent, side: float, equity: float) -> Intent:
        """The entry as the order that rests at its level, when the rule's entry on `side` is
        one (`entry long limit at ...`): it is the strategy's resting entry from now."""
        kind = resting_entry.entry_order_kind(self.strategy, side)
        if kind is None:
            return entry
        name = resting_entry.SIDE_NAMES[side]
        bars = self._value(f"entry_bars.{name}")
        bars = int(bars) if bars >= 1 else 1
        post_only = self.strategy.entry_orders[name].post_only
        entry = replace(entry, order=kind, level=entry.reference_price, post_only=post_only,
                        bars=bars)  # fmt: skip
        sizing = (equity, self._value("size"), self._stop_value())
        self.resting = resting_entry.RestingEntry(entry, self.bar + bars, sizing)
        return entry

    # ---- fills ----------------------------------------------------------------------------------
    def on_fill(
        self,
        side: float,
        size: float,
        price: float,
        pnl: float | None = None,
        *,
        at_close: bool = False,
    ) -> None:
        """The venue filled this strategy: an entry (`side` ±1 opens at `price`) or, with
        `side == 0`, a full exit whose trade made `pnl`. Fills arrive while the next bar forms,
        so they count at bar `self.bar + 1`, as the backtest's next-open fills do; `at_close`
        counts one at the bar that just closed (the backtest's `fill_at="close"`)."""
        fill_bar = self.bar if at_close else self.bar + 1
        if side == 0.0:
            if pnl is not None and pnl < 0.0 and self.strategy.limits.get("cooldown"):
                self.cooldown_until = fill_bar + int(self.strategy.limits["cooldown"].value)
            self.holding = Holding()
            return
        holding = Holding(
            side=side, size=size, entry_price=price, entry_bar=fill_bar, extreme=price
        )
        self.holding = holding
        self._arm(price)

    def on_add(self, size: float, average_price: float, order: int = -1) -> None:
        """Another entry filled into the position held (`pyramiding`): `size` is the position
        after it and `average_price` its average entry price. The stop, target and partial
        take-profits are set afresh from the add's own bar values and the new average, every
        partial take-profit armed again; `bars_in_trade` still counts from the first entry."""
        holding = self.holding
        holding.entries += 1
        holding.size = size
        holding.entry_price = average_price
        holding.entry_order = order
        self._arm(average_price)

    def on_take_filled(self, trigger: float) -> None:
        """A partial take-profit order filled at the venue (its trigger `trigger`): the armed
        one nearest that level has fired; it stays off until the next entry fill."""
        holding = self.holding
        armed = [k for k, on in enumerate(holding.armed) if on]
        if not armed:
            return
        fired = min(armed, key=lambda k: abs(holding.takes[k] - trigger))
        holding.armed = tuple(on and k != fired for k, on in enumerate(holding.armed))

    def _arm(self, price: float) -> None:
        """Set the position's protection levels from `price` (the entry's, or the average after
        an add) and the values the entry's bar gave: the full size the partial take-profits
        share out is the size now."""
        holding = self.holding
        side = holding.side
        stop_mode, stop_value = self._pending_protection("stop_loss")
        take_mode, take_value = self._pending_protection("take_profit")
        trail_mode, trail_value = self._pending_protection("trailing_stop")
        holding.stop = protection_level(stop_mode, stop_value, price, side, True)
        holding.take = protection_level(take_mode, take_value, price, side, False)
        holding.trail_kind, holding.trail_amount = _NONE, 0.0
        if trail_mode == _PERCENT:
            holding.trail_kind, holding.trail_amount = 1, trail_value
        elif trail_mode != _NONE:
            amount = side * (price - trail_value) if trail_mode == _LEVEL else trail_value
            holding.trail_kind, holding.trail_amount = 2, amount
        if not holding.trail_amount > 0.0:
            holding.trail_kind = _NONE
        partial = self._pending_partial_takes()
        holding.takes = tuple(
            protection_level(PROTECTION_MODES.index(p.mode), p.value, price, side, False)
            for p in partial
        )
        holding.take_shares = tuple(float(p.share or 0.0) for p in partial)
        holding.armed = tuple(
            t == t and s > 0.0 for t, s in zip(holding.takes, holding.take_shares, strict=True)
        )
        holding.full_size = holding.size
        holding.entries = max(holding.entries, 1)

    def on_position(
        self,
        market: str,
        size: Decimal,
        entry_price: Decimal,
        pnl: Decimal,
        order: OrderRecord | None = None,
    ) -> bool:
        """The strategy's position on `market` after a fill of `order` (`pnl`: what the fill
        realised, net of fees). Returns True when a trade just closed. The first fill of an
        entry opens the trade; later parts of the same order only add to its size; a fill of
        another entry order in the same direction is an add (`pyramiding`); a smaller position
        is a partial close, and when a take-profit made it, that one has fired."""
        index = order.client_order_index if order is not None else -1
        if size == 0:
            closed = self.holding.side != 0.0
            self.closed_pnl += pnl
            if closed:
                self.on_fill(0.0, 0.0, 0.0, float(self.closed_pnl))
                self.closed_pnl = Decimal(0)
            return closed
        side = 1.0 if size > 0 else -1.0
        holding = self.holding
        held = float(abs(size))
        if holding.side == 0.0 or holding.side != side:
            self.on_fill(side, held, float(entry_price))
            self.holding.entry_order = index
        elif held > holding.size and index >= 0 and index != holding.entry_order:
            self.on_add(held, float(entry_price), index)  # another entry (`pyramiding`)
        elif held > holding.size:  # more of the same entry (a market order filling in parts)
            holding.size = held
            holding.entry_price = float(entry_price)
            if holding.entries > 1:  # an add's levels follow its average as it fills
                self._arm(float(entry_price))
            holding.full_size = held
        else:  # a partial close: the average entry price stays
            holding.size = held
            if order is not None and order.kind == "take_profit" and order.trigger_price:
                self.on_take_filled(float(order.trigger_price))
        self.closed_pnl += pnl
        return False

    # ---- surviving a restart -------------------------------------------------------------------
    def holding_size(self) -> float:
        return self.holding.size if self.holding.side != 0.0 else 0.0

    def snapshot(self) -> dict[str, object]:
        """What a restart needs to carry on as if it had not stopped (JSON-ready); bar indexes
        become bar times, since a restarted strategy counts its bars afresh."""
        h = self.holding
        return {
            "side": h.side,
            "size": h.size,
            "entry_price": _json_float(h.entry_price),
            "entry_time": self.bar_time(h.entry_bar),
            "extreme": _json_float(h.extreme),
            "stop": _json_float(h.stop),
            "take": _json_float(h.take),
            "trail_kind": h.trail_kind,
            "trail_amount": h.trail_amount,
            "entries": h.entries,
            "full_size": h.full_size,
            "takes": [_json_float(t) for t in h.takes],
            "take_shares": list(h.take_shares),
            "armed": list(h.armed),
            "entry_order": h.entry_order,
            "cooldown_until_time": self.bar_time(self.cooldown_until),
            "closed_pnl": str(self.closed_pnl),
            "resting": None
            if self.resting is None
            else self.resting.snapshot(self.bar_time(self.resting.expires)),
        }

    def restore(self, state: Mapping[str, object]) -> None:
        """Take back a `snapshot` after warming up on history (bar times become indexes)."""
        self.holding = Holding(
            side=float(state["side"]),  # type: ignore[arg-type]
            size=float(state["size"]),  # type: ignore[arg-type]
            entry_price=_from_json(state["entry_price"]),
            entry_bar=self.bar_index(state["entry_time"]),
            extreme=_from_json(state["extreme"]),
            stop=_from_json(state["stop"]),
            take=_from_json(state["take"]),
            trail_kind=int(state["trail_kind"]),  # type: ignore[call-overload]
            trail_amount=float(state["trail_amount"]),  # type: ignore[arg-type]
            entries=int(state.get("entries", 1 if state["side"] else 0)),  # type: ignore[call-overload]
            full_size=float(state.get("full_size", state["size"])),  # type: ignore[arg-type]
            takes=tuple(_from_json(t) for t in state.get("takes", ())),  # type: ignore[attr-defined]
            take_shares=tuple(float(t) for t in state.get("take_shares", ())),  # type: ignore[attr-defined]
            armed=tuple(bool(a) for a in state.get("armed", ())),  # type: ignore[attr-defined]
            entry_order=int(state.get("entry_order", -1)),  # type: ignore[call-overload]
        )
        self.cooldown_until = self.bar_index(state["cooldown_until_time"])
        self.closed_pnl = Decimal(str(state["closed_pnl"]))
        resting = state.get("resting")
        self.resting = None
        if isinstance(resting, Mapping):
            expires = self.bar_index(resting["expires_time"])
            wanted = resting_entry.restore(resting, expires, self.name, self.market)
            if resting_entry.entry_order_kind(self.strategy, wanted.side) == wanted.intent.order:
                self.resting = wanted  # else the rule no longer rests it: cancelled at a close

    def _pending_protection(self, kind: str) -> tuple[int, float]:
        for intent in self.pending:
            for protection in intent.protections:
                if protection.kind == kind and protection.share is None:
                    return PROTECTION_MODES.index(protection.mode), protection.value
        return _NONE, math.nan

    def _pending_partial_takes(self) -> tuple[Protection, ...]:
        for intent in self.pending:
            if intent.action != "close":
                return tuple(p for p in intent.protections if p.share is not None)
        return ()

    def _trail(self, bar: Bar) -> None:
        """After a bar: the best price since entry takes in this bar's extreme."""
        holding = self.holding
        favourable = bar.high if holding.side > 0 else bar.low
        if holding.side * (favourable - holding.extreme) > 0.0:
            holding.extreme = favourable

    def stop_price(self) -> float:
        """The stop the exchange should hold now: the tighter of the stop loss and the trailing
        stop (NaN: none), as the backtest checks the next bar against."""
        holding = self.holding
        if holding.side == 0.0:
            return math.nan
        stop = holding.stop
        if holding.trail_kind != _NONE:
            if holding.trail_kind == 1:
                trail = holding.extreme * (1.0 - holding.side * holding.trail_amount)
            else:
                trail = holding.extreme - holding.side * holding.trail_amount
            if stop != stop or holding.side * (trail - stop) > 0.0:
                stop = trail
        return stop

    def take_price(self) -> float:
        return self.holding.take if self.holding.side != 0.0 else math.nan

    def take_orders(self, held: Decimal) -> tuple[TakeOrder, ...]:
        """The take-profit orders the exchange should hold for a position of `held` (unsigned,
        the venue's exact size): the rule's one take-profit for all of it, or each armed partial
        take-profit with its share (see `scaling.take_sizes`)."""
        holding = self.holding
        if holding.side == 0.0 or held <= 0:
            return ()
        if holding.take == holding.take:
            return (TakeOrder(0, _decimal(holding.take), held),)
        sizes = take_sizes(
            held, _decimal(holding.full_size), holding.take_shares, holding.armed, holding.takes,
            holding.side, self.sizing.lot, self.sizing.min_size,
        )  # fmt: skip
        return tuple(TakeOrder(k, _decimal(holding.takes[k]), size) for k, size in sizes.items())


def _blocker(signals: Mapping[str, bool], open_side: float) -> str | None:
    """What `decide` itself stopped: both entries, or an entry for the side already held."""
    if signals["entry.long"] and signals["entry.short"]:
        return "opposite_entries"
    if (signals["entry.long"] or signals["entry.short"]) and open_side == 0.0:
        return "in_position"
    return None


def evaluator_rows(
    name: str, markets: Sequence[str], bars: Mapping[str, Bar], last_time: int | None
) -> dict[str, tuple[float, ...]]:
    """One closed bar per market the strategy reads, as the streaming evaluator takes them;
    a missing market or a bar that is not after the last one is refused."""
    missing = [m for m in markets if m not in bars]
    if missing:
        raise StrategyError(f"`{name}` needs a bar of {', '.join(missing)}")
    time = bars[markets[0]].timestamp
    if last_time is not None and time <= last_time:
        raise StrategyError(f"`{name}`: bar at {time} is not after {last_time}")
    return {
        m: (float(b.timestamp), b.open, b.high, b.low, b.close, b.volume, *_perp(b))
        for m, b in bars.items()
        if m in markets
    }


def _perp(bar: Bar) -> tuple[float, float, float]:
    """The bar's perpetual series for the evaluator, na where the venue has not said."""
    return tuple(  # type: ignore[return-value]
        math.nan if v is None else float(v) for v in (bar.funding, bar.mark, bar.open_interest)
    )


def _decimal(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else value


def _from_json(value: object) -> float:
    return math.nan if value is None else float(value)  # type: ignore[arg-type]

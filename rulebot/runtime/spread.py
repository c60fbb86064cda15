"""A spread strategy running live: several markets traded together, every leg or none.

The live twin of `rulebot.backtesting.legs`, with its rules: long the spread trades each leg on
the side of its weight (short flips them), the spread's notional is split by |weight|, sizes round
down to each leg's lot and the spread trades only when every leg can. Protections are fractions of
the entry notional, checked at bar closes against the legs' closes (no single price of a spread
exists inside a bar, so no exchange-side order can hold them): a hit closes every leg at market.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from rulebot.backtesting.fills import EXIT_REASONS, decide
from rulebot.graph.plan import Graph, plan
from rulebot.graph.streaming import StreamingEvaluator
from rulebot.lang import ir
from rulebot.runtime.messages import Bar, Intent, OrderRecord
from rulebot.runtime.strategy import StrategyError, Warming, evaluator_rows

_NO_EXIT = -1


@dataclass
class Leg:
    side: float = 0.0
    size: Decimal = Decimal(0)
    entry_price: Decimal = Decimal(0)


@dataclass
class LiveSpread(Warming):
    """A strategy on several markets (`leg` statements). Same interface as `LiveStrategy`."""

    strategy: ir.Strategy
    params: Mapping[str, float | bool] = field(default_factory=dict)
    lots: Mapping[str, Decimal] = field(default_factory=dict)
    min_size: Decimal = Decimal(0)
    graph: Graph = field(init=False)
    evaluator: StreamingEvaluator = field(init=False)
    side: float = 0.0  # the spread: +1 long, -1 short, 0 flat
    legs: dict[str, Leg] = field(default_factory=dict)
    entry_bar: int = 0
    notional: float = 0.0
    stop: float = math.nan  # money, from the entry notional
    take: float = math.nan
    trail: float = math.nan
    best: float = 0.0
    bar: int = -1
    last_time: int | None = None
    cooldown_until: int = 0
    pending: tuple[Intent, ...] = ()
    closed_pnl: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if self.strategy.sizing.mode not in ("equity", "quote"):
            raise StrategyError(
                f"`{self.strategy.name}`: a spread is sized in equity or quote, not "
                f"{self.strategy.sizing.mode}"
            )
        self.graph = plan(self.strategy, self.params or None)
        self.evaluator = StreamingEvaluator(self.graph)
        self.legs = {m: Leg() for m in self.strategy.markets}

    def _feed(self, bars: Mapping[str, Bar]) -> None:
        rows = evaluator_rows(self.name, self.markets, bars, self.last_time)
        self.bar += 1
        self.last_time = bars[self.market].timestamp
        self.evaluator.update(rows)

    def _value(self, name: str) -> float:
        return float(self.evaluator.value(name)) if name in self.graph.outputs else math.nan

    # ---- deciding -------------------------------------------------------------------------------
    def on_bar(self, bars: Mapping[str, Bar], equity: Decimal) -> list[Intent]:
        self._feed(bars)
        if not self.is_warm:
            return []
        closes = {m: bars[m].close for m in self.strategy.markets}
        time = bars[self.market].timestamp
        if self.side == 0.0 and any(leg.size > 0 for leg in self.legs.values()):
            # a leg filled and another did not (refused, or cut short): close what is held
            self.pending = tuple(
                Intent(self.name, m, "close", leg.size, "unbalanced", time, _decimal(closes[m]))
                for m, leg in self.legs.items()
                if leg.size > 0
            )
            return list(self.pending)
        exit_code = self._protection_exit(closes) if self._held() else _NO_EXIT
        side = 0.0 if exit_code != _NO_EXIT else self.side
        signals = [
            bool(self.evaluator.value(n)) if n in self.graph.outputs else False
            for n in ("entry.long", "exit.long", "entry.short", "exit.short")
        ]
        signal_exit, open_side = decide(side, *signals)
        if exit_code == _NO_EXIT:
            exit_code = signal_exit
        intents: list[Intent] = []
        if exit_code != _NO_EXIT:
            for market, leg in self.legs.items():
                if leg.size > 0:
                    intents.append(
                        Intent(
                            self.name,
                            market,
                            "close",
                            leg.size,
                            EXIT_REASONS[exit_code],
                            time,
                            _decimal(closes[market]),
                        )
                    )
        if open_side != 0.0 and self.bar >= self.cooldown_until:
            intents += self._entry(open_side, closes, float(equity), time)
        self.pending = tuple(intents)
        return intents

    def _held(self) -> bool:
        return self.side != 0.0 and all(
            leg.size > 0 for m, leg in self.legs.items() if self._weight(m) != 0.0 or leg.size > 0
        )

    def _weight(self, market: str) -> float:
        return self._value(f"leg.{market}")

    def _protection_exit(self, closes: Mapping[str, float]) -> int:
        pnl = sum(
            leg.side * float(leg.size) * (closes[m] - float(leg.entry_price))
            for m, leg in self.legs.items()
            if leg.size > 0
        )
        stop, reason = -self.stop, EXIT_REASONS.index("stop_loss")
        if self.trail == self.trail:
            level = self.best - self.trail
            if stop != stop or level > stop:
                stop, reason = level, EXIT_REASONS.index("trailing_stop")
        if stop == stop and pnl <= stop:
            return reason
        if self.take == self.take and pnl >= self.take:
            return EXIT_REASONS.index("take_profit")
        self.best = max(self.best, pnl)
        return _NO_EXIT

    def _entry(
        self, side: float, closes: Mapping[str, float], equity: float, time: int
    ) -> list[Intent]:
        value = self._value("size")
        notional = equity * value if self.strategy.sizing.mode == "equity" else value
        cap = self.strategy.limits.get("max_position")
        if cap is not None and cap.mode == "quote":
            notional = min(notional, cap.value)
        if cap is not None and cap.mode == "percent":
            notional = min(notional, equity * cap.value)
        if not (notional > 0.0 and notional < math.inf):
            return []
        weights = {m: self._weight(m) for m in self.strategy.markets}
        total = sum(abs(w) for w in weights.values())
        if not (total > 0.0 and total < math.inf):
            return []
        intents: list[Intent] = []
        for market, weight in weights.items():
            if weight == 0.0:
                continue
            price = closes[market]
            if not price > 0.0:
                return []
            size = _decimal(notional * abs(weight) / total / price)
            lot = self.lots.get(market, Decimal(0))
            if lot > 0:
                size = (size / lot).to_integral_value(ROUND_DOWN) * lot
            if size <= 0 or size < self.min_size:
                return []  # both or neither
            leg_side = side if weight > 0 else -side
            action = "open_long" if leg_side > 0 else "open_short"
            intents.append(
                Intent(self.name, market, action, size, "signal", time, _decimal(price))  # type: ignore[arg-type]
            )
        return intents

    # ---- fills ----------------------------------------------------------------------------------
    def on_position(
        self,
        market: str,
        size: Decimal,
        entry_price: Decimal,
        pnl: Decimal,
        order: OrderRecord | None = None,
    ) -> bool:
        """A leg's position after a fill (of `order`: a spread books its legs by position
        alone). The spread is open once every leg the entry asked for has filled, and closed
        once every leg is flat; returns True when it just closed."""
        leg = self.legs.setdefault(market, Leg())
        leg.side = 0.0 if size == 0 else (1.0 if size > 0 else -1.0)
        leg.size = abs(size)
        leg.entry_price = entry_price
        self.closed_pnl += pnl
        wanted = {i.market: i for i in self.pending if i.action != "close"}
        if self.side == 0.0 and wanted:
            if all(self.legs[m].size >= i.size for m, i in wanted.items()):
                first = next(iter(wanted.values()))
                weight_side = 1.0 if first.action == "open_long" else -1.0
                self.side = weight_side if self._weight(first.market) > 0 else -weight_side
                self.entry_bar = self.bar + 1
                self.notional = sum(float(lg.size * lg.entry_price) for lg in self.legs.values())
                self.stop = self._amount("stop_loss")
                self.take = self._amount("take_profit")
                self.trail = self._amount("trailing_stop")
                self.best = 0.0
            return False
        if self.side != 0.0 and all(lg.size == 0 for lg in self.legs.values()):
            if self.closed_pnl < 0 and self.strategy.limits.get("cooldown"):
                self.cooldown_until = self.bar + 1 + int(self.strategy.limits["cooldown"].value)
            self.side = 0.0
            self.closed_pnl = Decimal(0)
            return True
        return False

    # ---- surviving a restart -------------------------------------------------------------------
    def holding_size(self) -> float:
        return float(sum(leg.size for leg in self.legs.values()))

    def snapshot(self) -> dict[str, object]:
        return {
            "side": self.side,
            "legs": {
                m: [leg.side, str(leg.size), str(leg.entry_price)] for m, leg in self.legs.items()
            },
            "entry_time": self.bar_time(self.entry_bar),
            "notional": self.notional,
            "stop": None if math.isnan(self.stop) else self.stop,
            "take": None if math.isnan(self.take) else self.take,
            "trail": None if math.isnan(self.trail) else self.trail,
            "best": self.best,
            "cooldown_until_time": self.bar_time(self.cooldown_until),
            "closed_pnl": str(self.closed_pnl),
        }

    def restore(self, state: Mapping[str, object]) -> None:
        def number(value: object) -> float:
            return math.nan if value is None else float(value)  # type: ignore[arg-type]

        self.side = float(state["side"])  # type: ignore[arg-type]
        legs = state["legs"]
        assert isinstance(legs, Mapping)
        self.legs = {
            m: Leg(float(side), Decimal(size), Decimal(price))
            for m, (side, size, price) in legs.items()
        }
        self.entry_bar = self.bar_index(state["entry_time"])
        self.notional = float(state["notional"])  # type: ignore[arg-type]
        self.stop, self.take = number(state["stop"]), number(state["take"])
        self.trail, self.best = number(state["trail"]), float(state["best"])  # type: ignore[arg-type]
        self.cooldown_until = self.bar_index(state["cooldown_until_time"])
        self.closed_pnl = Decimal(str(state["closed_pnl"]))

    def _amount(self, kind: str) -> float:
        found = self.strategy.protections.get(kind)
        value = self._value(kind) if found is not None else math.nan
        return value * self.notional if value > 0.0 else math.nan

    def stop_price(self) -> float:
        return math.nan  # checked at closes, never held at the exchange

    def take_price(self) -> float:
        return math.nan


def _decimal(value: float) -> Decimal:
    return Decimal(repr(float(value)))

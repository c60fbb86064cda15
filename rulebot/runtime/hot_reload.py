"""Hot reload, as the engine applies it: a saved rule is warmed on the bars already seen and
swapped in at the next bar, keeping the position; a broken one changes nothing; a deleted rule
stops (its position kept or closed as `runtime.on_rule_deleted` says); a renamed one is the old
name deleted and the new one added. Mixed into `Engine`, whose state it reads."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from rulebot.runtime.reload import Reloaded, ReloadEvent, ReloadFailed, Removed
from rulebot.runtime.resting import entry_order_kind
from rulebot.runtime.running import Live, Running, live_for
from rulebot.runtime.spread import LiveSpread
from rulebot.runtime.strategy import LiveStrategy

if TYPE_CHECKING:
    from rulebot.config import Config
    from rulebot.runtime.messages import Bar
    from rulebot.runtime.orders import OrderManager
    from rulebot.runtime.risk import RiskManager

log = logging.getLogger("rulebot.engine")


class HotReload:
    """`reload(event)` and the swap at the next bar; needs the engine's strategies, history,
    orders, risk manager, `add_strategy` and `_size`."""

    config: Config
    strategies: dict[str, Running]
    history: dict[str, deque[Bar]]
    orders: OrderManager
    risk_manager: RiskManager
    _closing: list[str]

    add_strategy: Callable[..., None]  # the engine's own
    _size: Callable[[Live], None]

    def reload(self, event: ReloadEvent) -> str:
        """Apply a reload event; returns what happened, in words, for the log and notifications.
        A new version is warmed from the bars already seen and swapped in at the next bar; a
        broken one changes nothing; a deleted rule stops trading and keeps its position."""
        if isinstance(event, ReloadFailed):
            return (
                f"{event.path}: not reloaded, the running version continues:\n{event.diagnostics}"
            )
        by_path: dict[Path, str] = {}  # a running strategy before a stopped one of that file
        for name, r in self.strategies.items():
            if not r.stopped or Path(r.path).resolve() not in by_path:
                by_path[Path(r.path).resolve()] = name
        if isinstance(event, Removed):
            name = by_path.get(event.path)
            if name is None:
                return f"{event.path}: removed (it was not running)"
            return self._stop_deleted(name, "rule deleted")
        if not isinstance(event, Reloaded):
            return ""
        strategy = event.strategy
        name = by_path.get(event.path, strategy.name)
        renamed = ""
        if name != strategy.name:  # renamed in its file: the old name is deleted, the new added
            other = self.strategies.get(strategy.name)
            if other is not None and not other.stopped:
                return (
                    f"{event.path}: not reloaded: `{strategy.name}` already runs from "
                    f"{other.path}; {name} continues"
                )
            renamed = self._stop_deleted(name, f"renamed to {strategy.name}") + "\n"
            name = strategy.name
        running = self.strategies.get(name)
        if running is None:
            self.add_strategy(strategy, path=str(event.path))
            new = self.strategies[strategy.name]
            self._warm_one(new.live)
            return f"{renamed}{strategy.name}: new rule, warmed on {new.live.bar + 1} bars"
        old = running.live
        if strategy.markets != old.strategy.markets:
            return (
                f"{renamed}{name}: not reloaded: it moved from {', '.join(old.strategy.markets)}"
                f" to {', '.join(strategy.markets)}; stop the bot to move a strategy's position"
            )
        running.path = str(event.path)
        replacement = live_for(strategy, None)
        self._size(replacement)
        self._warm_one(replacement)
        running.replacement = replacement
        running.stopped = False
        self.risk_manager.replace_strategy_limits(name, strategy.limits)
        before, after = set(old.strategy.params), set(strategy.params)
        params = ""
        if before != after:
            params = (
                f"; params removed: {', '.join(sorted(before - after)) or 'none'}, "
                f"added: {', '.join(sorted(after - before)) or 'none'}"
            )
        return f"{renamed}{name}: reloaded, live from the next bar{params}"

    def _stop_deleted(self, name: str, why: str) -> str:
        """Stop a strategy whose rule is gone (deleted, or renamed), its position handled as
        `runtime.on_rule_deleted` says; returns what happened, in words."""
        running = self.strategies[name]
        running.stopped = True
        held = {m: self.orders.position(name, m).size for m in running.live.strategy.markets}
        held = {m: size for m, size in held.items() if size}
        if not held:
            return f"{name}: {why}; stopped (it held no position)"
        if self.config.runtime.on_rule_deleted == "close":
            self._closing.append(name)
            return f"{name}: {why}; stopped, closing its position {_sizes(held)}"
        return (
            f"{name}: {why}; stopped evaluating; WARNING: its position "
            f"{_sizes(held)} is kept, with its stop and target at the exchange "
            "(runtime.on_rule_deleted: close would close it)"
        )

    def _warm_one(self, live: Live) -> None:
        markets = live.markets
        if not all(m in self.history for m in markets):
            return
        index = {m: {b.timestamp: b for b in self.history[m]} for m in markets}
        times = sorted(set.intersection(*(set(index[m]) for m in markets)))
        live.warm([{m: index[m][t] for m in markets} for t in times])

    def _swap(self, running: Running) -> None:
        new = running.replacement
        assert new is not None
        old = running.live
        if old.last_time is not None and (new.last_time or -1) < old.last_time:
            self._catch_up(new, old.last_time)
        offset = new.bar - old.bar  # both have now seen the same last bar
        if isinstance(new, LiveStrategy) and isinstance(old, LiveStrategy):
            new.holding = replace(old.holding, entry_bar=old.holding.entry_bar + offset)
            if old.resting is not None and entry_order_kind(new.strategy, old.resting.side):
                new.resting = replace(old.resting, expires=old.resting.expires + offset)
        elif isinstance(new, LiveSpread) and isinstance(old, LiveSpread):
            new.legs, new.side, new.notional = old.legs, old.side, old.notional
            new.stop, new.take, new.trail, new.best = old.stop, old.take, old.trail, old.best
            new.entry_bar = old.entry_bar + offset
        new.cooldown_until = old.cooldown_until + offset
        new.closed_pnl, new.pending = old.closed_pnl, old.pending
        running.live = new
        running.replacement = None
        log.info("%s: the reloaded rule is live", new.name)

    def _catch_up(self, live: Live, until: int) -> None:
        markets = live.markets
        index = {m: {b.timestamp: b for b in self.history.get(m, ())} for m in markets}
        times = sorted(
            t
            for t in set.intersection(*(set(index[m]) for m in markets))
            if (live.last_time or -1) < t <= until
        )
        live.warm([{m: index[m][t] for m in markets} for t in times])


def _sizes(held: Mapping[str, Decimal]) -> str:
    return ", ".join(f"{size} {market}" for market, size in held.items())

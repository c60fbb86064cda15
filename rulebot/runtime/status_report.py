"""The running engine's picture for the status API, `rulebot status` and the dashboard: account,
strategies, positions, orders, unmanaged positions, differences with the venue and risk, as plain
JSON-ready values. Mixed into `Engine`, whose state it reads."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rulebot.config import Config
    from rulebot.runtime.journal import Journal
    from rulebot.runtime.messages import Difference, RiskEvent
    from rulebot.runtime.orders import OrderManager
    from rulebot.runtime.risk import PortfolioView, RiskManager
    from rulebot.runtime.running import Running


class StatusReport:
    """`get_status()`: what the engine holds and knows, at this moment."""

    config: Config
    journal: Journal
    orders: OrderManager
    risk_manager: RiskManager
    strategies: dict[str, Running]
    equity: Decimal
    collateral: Decimal
    running: bool
    halted: bool
    started_ms: int
    unmanaged: dict[str, Decimal]
    differences: list[Difference]
    events: list[RiskEvent]
    stream: Any  # the venue's MarketStream once started

    now_ms: Callable[[], int]  # the engine's own
    _view: Callable[[], PortfolioView]

    def _account_status(self) -> dict[str, Any]:
        risk = self.risk_manager.get_risk_status()["account"]
        day_start, peak = risk.get("day_start_equity"), risk.get("peak_equity")
        equity = self.equity
        return {
            "equity": equity,
            "collateral": self.collateral,
            "daily_pnl": equity - Decimal(day_start) if day_start is not None else None,
            "drawdown": (
                (Decimal(peak) - equity) / Decimal(peak) if peak and Decimal(peak) > 0 else None
            ),
        }

    def _stream_status(self) -> dict[str, object] | None:
        """The market stream's health: connected, age of its last frame, what it recovered
        from (None before it starts)."""
        health = getattr(self.stream, "health", None)
        return None if health is None else health().as_json()

    def get_status(self) -> dict[str, Any]:
        now = self.now_ms()
        return {
            "running": self.running,
            "uptime_s": (now - self.started_ms) / 1000 if self.started_ms else 0,
            "network": self.config.network.name,
            "dry_run": self.config.dry_run,
            "entries": "off (flattened)" if self.halted else "on",
            "account": self._account_status(),
            "stream": self._stream_status(),
            "strategies": [
                {
                    "name": name,
                    "market": r.live.market,
                    "timeframe": r.live.strategy.timeframe,
                    "bars": r.live.bar + 1,
                    "warm": r.live.is_warm,
                    "holding": r.live.holding_size(),
                    "stopped": r.stopped,
                    "path": r.path,
                    "decision": _decision(r.live),
                }
                for name, r in sorted(self.strategies.items())
            ],
            "positions": [
                {
                    "strategy": p.strategy,
                    "market": p.market,
                    "size": p.size,
                    "entry_price": p.entry_price,
                    "realized_pnl": p.realized_pnl,
                    "fees": p.fees,
                }
                for p in self.orders.positions()
            ],
            "orders": [
                {
                    "client_order_index": o.client_order_index,
                    "strategy": o.strategy,
                    "market": o.market,
                    "side": o.side,
                    "kind": o.kind,
                    "size": o.size,
                    "trigger_price": o.trigger_price,
                    "state": o.state,
                }
                for o in self.journal.open_orders()
            ],
            "unmanaged": [
                {"market": market, "size": size} for market, size in sorted(self.unmanaged.items())
            ],
            "reconciled": [
                {"time_ms": d.time_ms, "kind": d.kind, "market": d.market, "message": d.message}
                for d in self.differences[-20:]
            ],
            "risk": self.risk_manager.get_risk_status(self._view()),
            "risk_events": [
                {"time_ms": e.time_ms, "limit": e.limit, "state": e.state, "message": e.message}
                for e in self.events[-20:]
            ],
        }


def _decision(live: object) -> dict[str, Any] | None:
    """The strategy's last bar-close decision (`rulebot explain --port`), None before one."""
    decision = getattr(live, "decision", None)
    return None if decision is None else decision.to_dict()

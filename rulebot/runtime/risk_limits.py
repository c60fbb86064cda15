"""Risk's size limits: each one on an entry as `|start + side * size| * price <= cap`, and the
limits a rule may set. The risk manager's (`rulebot.runtime.risk`) own parts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import TYPE_CHECKING, Final

from rulebot.lang import ir
from rulebot.runtime.risk_readings import _decimal, _money, _over, _pct, _size

if TYPE_CHECKING:
    from rulebot.runtime.risk import PortfolioView

STRATEGY_LIMITS: Final[dict[str, frozenset[str]]] = {
    "max_position": frozenset({"base", "quote", "percent"}),
    "max_daily_loss": frozenset({"percent", "quote"}),
    "max_drawdown": frozenset({"percent"}),
    "cooldown": frozenset({"bars"}),
    "max_open_orders": frozenset({"count"}),
    "max_leverage": frozenset({"ratio"}),
    "max_order_notional": frozenset({"quote"}),
}
"""Every limit a rule may set, and the modes each is read in (as the checker accepts them)."""

_ZERO: Final = Decimal(0)


# --- size limits ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Bound:
    """One size limit on one entry: `|start + side * size| * price <= cap`, sizes in base."""

    limit: str
    scope: str
    start: Decimal
    side: int
    price: Decimal
    cap: Decimal
    describe: Callable[[Decimal], str]
    """The limited measure at a size, against the limit, in words."""

    def allows(self, size: Decimal) -> bool:
        return abs(self.start + self.side * size) * self.price <= self.cap

    def room(self) -> Decimal:
        """The largest size this limit allows, rounded down (-Infinity when none does)."""
        if self.cap < 0:
            return Decimal("-Infinity")
        with localcontext() as ctx:
            ctx.rounding = ROUND_FLOOR
            return self.cap / self.price - self.side * self.start


def _caps(limit: ir.Limit, market: str) -> bool:
    """Whether a `max_position` caps `market`. A base amount caps the market it is written in
    when the IR says which (a `unit`), otherwise every market (exact for one-market rules)."""
    unit = getattr(limit, "unit", None)
    return limit.mode != "base" or unit is None or unit == market


def _largest_position(view: PortfolioView, strategy: str, limit: ir.Limit) -> Decimal:
    """The largest of `strategy`'s positions that `limit` caps: in base, or at the mark."""
    held = [
        abs(size) if limit.mode == "base" else abs(size) * view.marks[market]
        for (name, market), size in view.positions.items()
        if name == strategy and size and _caps(limit, market)
    ]
    return max(held, default=_ZERO)


def _position_bound(
    limit: ir.Limit,
    name: str,
    market: str,
    start: Decimal,
    side: int,
    mark: Decimal,
    equity: Decimal,
) -> _Bound:
    value = _decimal(limit.value)
    if limit.mode == "base":

        def in_base(s: Decimal) -> str:
            held = abs(start + side * s)
            limit_text = _size(value, market)
            return (
                f"position would be {_size(held, market)}, limit {limit_text}{_over(held, value)}"
            )

        return _Bound(limit.name, name, start, side, Decimal(1), value, in_base)
    cap = value if limit.mode == "quote" else value * equity
    written = _money(cap) if limit.mode == "quote" else f"{_pct(value)} of equity = {_money(cap)}"

    def in_quote(s: Decimal) -> str:
        held = abs(start + side * s) * mark
        return f"position would be {_money(held)}, limit {written}{_over(held, cap)}"

    return _Bound(limit.name, name, start, side, mark, cap, in_quote)


def _validated(name: str, limits: Mapping[str, ir.Limit]) -> dict[str, ir.Limit]:
    """`limits` as a dict, refusing any this manager could not apply."""
    checked: dict[str, ir.Limit] = {}
    for key, limit in limits.items():
        if key != limit.name or limit.mode not in STRATEGY_LIMITS.get(key, ()):
            raise ValueError(f"`{name}` has a limit risk cannot apply: {key} ({limit.mode})")
        if not 0 <= limit.value < float("inf"):
            raise ValueError(f"`{name}`'s {key} must be a number of at least 0")
        checked[key] = limit
    return checked

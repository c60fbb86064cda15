"""A live strategy's resting entry: an entry that waits at the venue at a price (`entry long
limit at EXPR`, `entry short stop at EXPR`) instead of going at market on the close.

The strategy decides it at a close as the backtester's fill loop does (`rulebot.backtesting.fills`):
placed after the close that decided it, it lives `bars` closes (`for N bars`, default 1: until
the next close); at each close while it lives its level is re-read from the graph output
`entry_level.<side>`, and a true entry signal restarts its lifetime (and its size, from the
equity at that close). It is cancelled when its lifetime runs out, when its level reads na, on
an exit or a reverse, on an entry signal of the other side, and (in the engine) when the risk
manager refuses it. What the strategy wants is an `Intent` with `order` set, sent again at every
close it lives; the order manager (`rulebot.runtime.resting_orders`) makes the venue's order
match: placed once, then modified when its level moves, cancelled when no intent wants it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import astuple, dataclass, replace
from decimal import Decimal
from typing import Literal

from rulebot.runtime.messages import Intent, Protection

SIDE_NAMES: dict[float, str] = {1.0: "long", -1.0: "short"}
RESTARTED = "restarted"


@dataclass(frozen=True)
class RestingEntry:
    """The resting entry a strategy wants at the venue: its intent (side, kind, level, size,
    protections) as last (re)placed, and the bar index of the last close it lives to.
    `sizing` is what its size was worked out from at the close that (re)placed it (the
    equity, the `size` value and the stop loss's value): when its level moves, its size is
    worked out again from them at the new level, as the backtest sizes it at the level it
    fills at."""

    intent: Intent
    expires: int
    sizing: tuple[float, float, float] | None = None

    @property
    def side(self) -> float:
        return 1.0 if self.intent.action == "open_long" else -1.0

    def snapshot(self, bar_time: int) -> dict[str, object]:
        """JSON-ready, with its expiry as a bar time (a restart counts its bars afresh)."""
        i = self.intent
        return {
            "action": i.action, "order": i.order, "level": str(i.level), "size": str(i.size),
            "post_only": i.post_only, "bars": i.bars, "bar_time": i.bar_time,
            "reference_price": str(i.reference_price), "expires_time": bar_time,
            "protections": [list(astuple(p)) for p in i.protections],
            "sizing": None if self.sizing is None else list(self.sizing),
        }  # fmt: skip


def entry_order_kind(strategy: object, side: float) -> Literal["limit", "stop"] | None:
    """The resting kind of the strategy's entry on `side`, or None for a market entry."""
    found = getattr(strategy, "entry_orders", {}).get(SIDE_NAMES.get(side, ""))
    return None if found is None else found.kind


def carry_on(
    resting: RestingEntry | None,
    *,
    bar: int,
    level: float,
    signals: Mapping[str, bool],
    exit_code: int,
    open_side: float,
    held: float,
    full: bool = True,
) -> tuple[RestingEntry | None, str]:
    """What becomes at this close of the resting entry placed at an earlier one, when no new
    entry of its side (re)places it: kept (its level re-read), or gone and why (`""`: kept).
    `held` is the side of the position held; `full`, that it may take no more entries (its
    `pyramiding`): a resting entry of that side is then the rest of one that filled in part."""
    if resting is None:
        return None, ""
    side = resting.side
    other = SIDE_NAMES[-side]
    if open_side == side:
        return None, RESTARTED  # re-placed by this close's entry, with a fresh lifetime
    if exit_code >= 0 or open_side == -side or signals.get(f"entry.{other}", False):
        return None, "an exit or an entry of the other side"
    if held == side and full:
        return None, "the position is open"  # the rest of a partly filled entry
    if bar >= resting.expires:
        return None, "its lifetime ran out"
    if not math.isfinite(level) or level <= 0.0:
        return None, "its level reads na"
    return replace(resting, intent=replace(resting.intent, level=_decimal(level))), ""


def restore(
    state: Mapping[str, object], bar_index: int, strategy: str, market: str
) -> RestingEntry:
    """A `RestingEntry.snapshot` taken back, its expiry time made `bar_index`."""
    protections = tuple(Protection(*fields) for fields in state["protections"])  # type: ignore[attr-defined]
    intent = Intent(
        strategy=strategy,
        market=market,
        action=state["action"],  # type: ignore[arg-type]
        size=Decimal(str(state["size"])),
        reason="signal",
        bar_time=int(state["bar_time"]),  # type: ignore[call-overload]
        reference_price=Decimal(str(state["reference_price"])),
        protections=protections,
        order=state["order"],  # type: ignore[arg-type]
        level=Decimal(str(state["level"])),
        post_only=bool(state["post_only"]),
        bars=int(state["bars"]),  # type: ignore[call-overload]
    )
    sizing = state.get("sizing")
    kept = None  # a snapshot from before sizings were kept: its size stays as it is
    if isinstance(sizing, list) and len(sizing) == 3:
        kept = (float(sizing[0]), float(sizing[1]), float(sizing[2]))
    return RestingEntry(intent, bar_index, kept)


def _decimal(value: float) -> Decimal:
    return Decimal(repr(float(value)))

"""When a loss limit stops entries and when it lets them resume: the one decision that the
backtest's fill loop (`rulebot.risk.bars`) and the live risk manager (`rulebot.runtime.risk`)
both make, written once.

- **Breach.** A daily loss breaches its limit when it reaches it (`down >= cap`); a drawdown
  when the fall from the peak reaches its share of the equity at the peak (with no equity at the
  peak, any fall). A breached limit stops new entries; exits still run.
- **Orders.** An entry counts as its protections (resting orders) and at least one order
  (itself, in flight); it is refused when that takes the open orders past `max_open_orders`.
- **A new UTC day** (a snapshot in a later day than the last, days counted from 00:00 UTC)
  starts a new daily loss and clears a daily-loss breach.
- **Recovery, with hysteresis.** Equity includes unrealised PnL, so a reading at the edge of a
  limit would flap between breached and recovered with every tick. A breached limit recovers
  only once its metric is back inside the limit by `margin` of it (a 3% limit: below 2.7%) at
  every snapshot for `hold_ms`; a snapshot outside the margin starts the wait again.

The functions are plain arithmetic on whatever numbers they are given: the live manager passes
exact decimals, the backtest floats, through the same code compiled with numba when it is there.
They call nothing, so numba can compile each on its own.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

DAY_MS: Final = 86_400_000
"""A UTC day, in milliseconds: days are counted as `time_ms // DAY_MS`."""
RECOVERY_MARGIN: Final = Decimal("0.1")
"""A breached loss limit recovers only once its metric is this share of the limit inside it."""
RECOVERY_HOLD_MS: Final = 60_000
"""... and has stayed there this long, at every equity snapshot."""

NOT_CALM: Final = -1
"""`calm_since` of a limit that is not inside its recovery margin (or not breached)."""
STAY, BREACH, RECOVER, NEW_DAY = 0, 1, 2, 3
"""What a snapshot did to a loss limit: nothing, breached it, recovered it, or cleared a daily
loss breach because a new UTC day began."""


def new_day(day: int, time_ms: int) -> bool:
    """Whether a snapshot at `time_ms` is in a later UTC day than `day` (days since 1970)."""
    return time_ms // DAY_MS > day


def daily_loss_breached(down: Decimal, cap: Decimal) -> bool:
    """Whether a loss of `down` since the day's start reaches the limit `cap` (both in quote)."""
    return down >= cap


def drawdown_breached(below: Decimal, base: Decimal, share: Decimal) -> bool:
    """Whether a fall of `below` from the peak reaches `share` of `base`, the equity at the peak
    (with no equity to take a share of, any fall is too much)."""
    if base > 0:
        return below >= share * base
    return below > 0


def orders_allowed(open_orders: int, added: int, bound: int) -> bool:
    """Whether an entry adding `added` orders (its protections, at least itself) to
    `open_orders` resting keeps them within `max_open_orders` of `bound`."""
    return open_orders + added <= bound


def loss_transition(
    breached: bool,
    calm_since: int,
    time_ms: int,
    value: Decimal,
    threshold: Decimal,
    breached_now: bool,
    day_began: bool,
    margin: Decimal,
    hold_ms: int,
) -> tuple[int, bool, int]:
    """One loss limit at an equity snapshot: `breached` and `calm_since` before it, its metric
    `value` against `threshold`, whether that reading is a breach, and whether a new UTC day
    began (for a daily loss only). Returns what happened (`STAY`, `BREACH`, `RECOVER`,
    `NEW_DAY`) and the limit's `breached` and `calm_since` after it."""
    if breached_now and not breached:
        return BREACH, True, NOT_CALM
    if not breached:
        return STAY, False, NOT_CALM
    if day_began:
        return NEW_DAY, False, NOT_CALM
    if value > threshold * (1 - margin):
        return STAY, True, NOT_CALM
    since = time_ms if calm_since == NOT_CALM else calm_since
    if time_ms - since >= hold_ms:
        return RECOVER, False, NOT_CALM
    return STAY, True, since

"""The risk decision at each bar's close of a one-strategy backtest, on plain float arrays so that
the fill loop (compiled with numba when it is installed) can make it bar by bar.

The backtest's account holds one strategy, so the strategy's PnL is the account's equity less
the equity it started with. At each close the account is marked and, as the live risk manager
does at each equity snapshot, every loss limit is read and stepped by `rulebot.risk.decision`:
rulebot.yaml's `max_daily_loss` and `max_drawdown` (scope: the account) and the rule's own
(scope: the strategy; a percent daily loss is a share of the account's equity at the day's
start, a drawdown is PnL below its best as a share of the equity when that best was reached).
A UTC day starts at its first close. Entries are allowed while no limit is breached.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np

from rulebot import config
from rulebot.lang import ir
from rulebot.risk import decision

try:
    import numba
except ImportError:  # pragma: no cover - exercised by loading this module with numba hidden
    numba = None

_Function = TypeVar("_Function")


def _compiled(function: _Function) -> _Function:
    """numba's `njit(cache=True)` without its runtime when numba is installed (nothing here
    allocates), the plain function otherwise."""
    return numba.njit(cache=True, _nrt=False)(function) if numba is not None else function


_new_day = _compiled(decision.new_day)
_daily_loss_breached = _compiled(decision.daily_loss_breached)
_drawdown_breached = _compiled(decision.drawdown_breached)
_loss_transition = _compiled(decision.loss_transition)
_orders_allowed = _compiled(decision.orders_allowed)

# The limits, one float array (inf: no such limit).
ACCOUNT_DAILY, ACCOUNT_DAILY_PERCENT, ACCOUNT_DRAWDOWN = 0, 1, 2
RULE_DAILY, RULE_DAILY_PERCENT, RULE_DRAWDOWN = 3, 4, 5
MARGIN, HOLD_MS, INITIAL_EQUITY, MAX_OPEN_ORDERS = 6, 7, 8, 9
LIMIT_FIELDS = 10

# The state, one float array: the day, its start, the peaks, then (breached, calm since) per limit.
_STARTED, _DAY, _DAY_START, _PEAK, _DAY_START_PNL, _PEAK_PNL, _EQUITY_AT_PEAK = range(7)
_SLOTS = 7
STATE_FIELDS = _SLOTS + 8


@dataclass(frozen=True)
class LossLimits:
    """The limits that stop entries in a backtest, as the live risk manager applies them: a
    daily loss as a fraction of the day's starting equity (`*_percent`) or an amount of quote, a
    drawdown as a fraction, and the orders an entry may take resting (inf: no such limit)."""

    account_daily_loss: float = math.inf
    account_daily_percent: bool = True
    account_drawdown: float = math.inf
    rule_daily_loss: float = math.inf
    rule_daily_percent: bool = True
    rule_drawdown: float = math.inf
    max_open_orders: float = math.inf

    @property
    def binding(self) -> bool:
        """Whether any loss limit is set (the fill loop then reads the account at every close)."""
        return any(
            v < math.inf
            for v in (
                self.account_daily_loss,
                self.account_drawdown,
                self.rule_daily_loss,
                self.rule_drawdown,
            )
        )

    def with_account(self, risk: config.Risk) -> LossLimits:
        """These limits and rulebot.yaml's `risk:` section (scope: the account)."""
        loss = risk.max_daily_loss
        return replace(
            self,
            account_daily_loss=float(loss.value),
            account_daily_percent=loss.is_percent,
            account_drawdown=float(risk.max_drawdown),
            max_open_orders=min(self.max_open_orders, risk.max_open_orders),
        )

    def with_rule(self, limits: Mapping[str, ir.Limit]) -> LossLimits:
        """These limits and a rule's own `risk { ... }` (scope: the strategy)."""
        changes: dict[str, float | bool] = {}
        if (loss := limits.get("max_daily_loss")) is not None:
            changes["rule_daily_loss"] = loss.value
            changes["rule_daily_percent"] = loss.mode == "percent"
        if (drawdown := limits.get("max_drawdown")) is not None:
            changes["rule_drawdown"] = drawdown.value
        if (orders := limits.get("max_open_orders")) is not None:
            changes["max_open_orders"] = min(self.max_open_orders, orders.value)
        return replace(self, **changes) if changes else self

    def array(self, initial_equity: float) -> np.ndarray:
        """The limits as the fill loop reads them."""
        limits = np.full(LIMIT_FIELDS, math.inf)
        limits[ACCOUNT_DAILY] = self.account_daily_loss
        limits[ACCOUNT_DAILY_PERCENT] = self.account_daily_percent
        limits[ACCOUNT_DRAWDOWN] = self.account_drawdown
        limits[RULE_DAILY] = self.rule_daily_loss
        limits[RULE_DAILY_PERCENT] = self.rule_daily_percent
        limits[RULE_DRAWDOWN] = self.rule_drawdown
        limits[MARGIN] = float(decision.RECOVERY_MARGIN)
        limits[HOLD_MS] = decision.RECOVERY_HOLD_MS
        limits[INITIAL_EQUITY] = initial_equity
        limits[MAX_OPEN_ORDERS] = self.max_open_orders
        return limits


@_compiled
def _step(
    limits: np.ndarray,
    state: np.ndarray,
    slot: int,
    time_ms: float,
    value: float,
    threshold: float,
    breached_now: bool,
    day_began: bool,
) -> bool:
    """Step one loss limit; whether it stops entries now."""
    at = _SLOTS + 2 * slot
    _, breached, calm = _loss_transition(
        state[at] != 0.0,
        state[at + 1],
        time_ms,
        value,
        threshold,
        breached_now,
        day_began,
        limits[MARGIN],
        limits[HOLD_MS],
    )
    state[at] = 1.0 if breached else 0.0
    state[at + 1] = calm
    return breached


@_compiled
def on_close(limits: np.ndarray, state: np.ndarray, time_ms: float, equity: float) -> bool:
    """Take the equity marked at a close (at `time_ms`, the close's time) and return whether
    entries are allowed after it. `state` starts as zeros."""
    pnl = equity - limits[INITIAL_EQUITY]
    first = state[_STARTED] == 0.0
    rolled = not first and _new_day(state[_DAY], time_ms)
    if first or rolled:
        state[_DAY] = time_ms // decision.DAY_MS
        state[_DAY_START] = equity
        state[_DAY_START_PNL] = pnl
    if first or equity > state[_PEAK]:
        state[_PEAK] = equity
    if first or pnl > state[_PEAK_PNL]:
        state[_PEAK_PNL] = pnl
        state[_EQUITY_AT_PEAK] = equity
    state[_STARTED] = 1.0
    stopped = False
    start = state[_DAY_START]
    if limits[ACCOUNT_DAILY] < math.inf:
        cap = (
            limits[ACCOUNT_DAILY] * start
            if limits[ACCOUNT_DAILY_PERCENT]
            else limits[ACCOUNT_DAILY]
        )
        down = start - equity
        now = _daily_loss_breached(down, cap)
        stopped |= _step(limits, state, 0, time_ms, down, cap, now, rolled)
    if limits[ACCOUNT_DRAWDOWN] < math.inf:
        share, peak = limits[ACCOUNT_DRAWDOWN], state[_PEAK]
        below = peak - equity
        now = _drawdown_breached(below, peak, share)
        value = below / peak if peak > 0.0 else (1.0 if below > 0.0 else 0.0)
        stopped |= _step(limits, state, 1, time_ms, value, share, now, False)
    if limits[RULE_DAILY] < math.inf:
        cap = limits[RULE_DAILY] * start if limits[RULE_DAILY_PERCENT] else limits[RULE_DAILY]
        down = state[_DAY_START_PNL] - pnl
        now = _daily_loss_breached(down, cap)
        stopped |= _step(limits, state, 2, time_ms, down, cap, now, rolled)
    if limits[RULE_DRAWDOWN] < math.inf:
        share, base = limits[RULE_DRAWDOWN], state[_EQUITY_AT_PEAK]
        below = state[_PEAK_PNL] - pnl
        now = _drawdown_breached(below, base, share)
        value = below / base if base > 0.0 else (1.0 if below > 0.0 else 0.0)
        stopped |= _step(limits, state, 3, time_ms, value, share, now, False)
    return not stopped


@_compiled
def entry_orders_allowed(limits: np.ndarray, protections: int) -> bool:
    """Whether an entry with `protections` resting orders fits `max_open_orders`, the account
    holding none (an entry comes flat, or after the close of what it reverses)."""
    return _orders_allowed(0, max(1, protections), limits[MAX_OPEN_ORDERS])


@_compiled
def breached_slot(state: np.ndarray) -> int:
    """Which loss limit stops entries (0 the account's daily loss, 1 its drawdown, 2 the rule's
    daily loss, 3 its drawdown; the first breached), or -1 when none does."""
    for slot in range(4):
        if state[_SLOTS + 2 * slot] != 0.0:
            return slot
    return -1

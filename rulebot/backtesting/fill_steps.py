"""The fill loop's per-fill steps and the account state they share (see fills.py's docstring).

The loop in fills.py keeps the account in one small float array and calls these helpers to size,
open, close and protect a position; they are compiled with numba as the loop is (no runtime,
nothing allocated) and run as plain Python with it otherwise (`rulebot.compiled`).
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np

from rulebot.backtesting.rule_code import ACCOUNT_STATE

try:
    import numba
except ImportError:  # pragma: no cover - exercised by loading fills.py with numba hidden
    numba = None

_Function = TypeVar("_Function")

# Account state lives in one small float array so that helpers can update it in place.

_SIDE, _SIZE, _ENTRY_PRICE, _ENTRY_INDEX, _FEES, _FUNDING = 0, 1, 2, 3, 4, 5
assert (_SIDE, _ENTRY_PRICE, _ENTRY_INDEX) == ACCOUNT_STATE  # what position rules read
_STOP, _TAKE, _TRAIL_KIND, _TRAIL_AMOUNT, _EXTREME = 6, 7, 8, 9, 10
_CASH, _COOLDOWN_UNTIL, _TRADE_COUNT = 11, 12, 13
_STATE_FIELDS = 14

# Costs and limits, one float array.
_TAKER, _MAKER, _SLIPPAGE, _LOT, _MIN_SIZE, _MAX_POSITION, _COOLDOWN = 0, 1, 2, 3, 4, 5, 6
_MAX_NOTIONAL, _MAX_SHARE = 7, 8

# Trade table columns (the reason is its index in EXIT_REASONS).
_T_ENTRY_INDEX, _T_EXIT_INDEX, _T_SIDE, _T_SIZE, _T_ENTRY_PRICE, _T_EXIT_PRICE = 0, 1, 2, 3, 4, 5
_T_PNL, _T_FEES, _T_FUNDING, _T_STOP, _T_TAKE, _T_REASON = 6, 7, 8, 9, 10, 11
_TRADE_FIELDS = 12

_NO_EXIT, _SIGNAL, _REVERSE, _STOP_LOSS, _TAKE_PROFIT, _TRAILING_STOP, _END_OF_DATA = range(-1, 6)
_B_OPPOSITE, _B_HELD, _B_LAST_BAR, _B_LOSS_LIMIT, _B_ORDERS, _B_COOLDOWN, _B_NO_SIZE = (
    1,
    2,
    3,
    4,  # + the breached limit's slot in rulebot.risk.bars (0..3)
    8,
    9,
    10,
)
# The trace's rows (`simulate(trace=True)`): the position state position rules read at each
# close (bars_in_trade, entry_price, position), then the code of what stopped an entry there.
TRACE_ROWS = ("bars_in_trade", "entry_price", "position", "blocker")
_NONE, _PERCENT, _DISTANCE, _LEVEL = 0, 1, 2, 3
_EQUITY, _BASE, _QUOTE, _RISK_EQUITY, _RISK_QUOTE, _CASH_AT_FILL = 0, 1, 2, 3, 4, 5
_TRAIL_FRACTION, _TRAIL_DISTANCE = 1, 2


def _compiled(function: _Function) -> _Function:
    """numba's `njit(cache=True)` without its runtime when numba is installed, the plain
    function otherwise.

    With its runtime, compiled code counts references to every array it handles, with atomic
    operations at each call of a helper; on every bar held that cost more than the arithmetic
    (measured: the loop ran over twice as slow with it). Nothing here allocates (the caller
    passes every array, the rules' registers included), so nothing needs the runtime."""
    return numba.njit(cache=True, _nrt=False)(function) if numba is not None else function


@_compiled
def _protection_level(
    mode: int, value: float, entry_price: float, side: float, stop: bool
) -> float:
    """A stop (or take-profit) price fixed at entry; NaN when there is none or it is invalid."""
    if mode == _NONE or value != value:
        return np.nan
    toward = -side if stop else side
    if mode == _PERCENT:
        level = entry_price * (1.0 + toward * value)
    elif mode == _DISTANCE:
        level = entry_price + toward * value
    else:
        level = value
    if toward * (level - entry_price) > 0.0:
        return level
    return np.nan


@_compiled
def _entry_size(
    mode: int, value: float, equity: float, price: float, stop: float, costs: np.ndarray
) -> float:
    """Base units to open, after the cap, lot rounding and minimum; 0.0 means no trade. With
    `cash` sizing, `equity` is the cash available at the fill."""
    if not price > 0.0:
        return 0.0
    if mode == _EQUITY:
        size = equity * value / price
    elif mode == _CASH_AT_FILL:
        size = equity * min(value, 1.0) / (price * (1.0 + costs[_TAKER]))
    elif mode == _BASE:
        size = value
    elif mode == _QUOTE:
        size = value / price
    else:
        distance = abs(price - stop)
        if not distance > 0.0:  # also NaN: no stop loss
            return 0.0
        at_risk = equity * value if mode == _RISK_EQUITY else value
        size = at_risk / distance
    if not (size > 0.0 and size < math.inf):
        return 0.0
    size = min(
        size, costs[_MAX_POSITION], costs[_MAX_NOTIONAL] / price, equity * costs[_MAX_SHARE] / price
    )
    lot = costs[_LOT]
    if lot > 0.0:
        size = math.floor(size / lot + 1e-9) * lot
        if mode == _CASH_AT_FILL and size * price * (1.0 + costs[_TAKER]) > equity:
            size -= lot  # rounded up within the tolerance: never spend more than the cash
    if size <= 0.0 or size < costs[_MIN_SIZE]:
        return 0.0
    return size


@_compiled
def _close_position(
    state: np.ndarray, trades: np.ndarray, bar: int, price: float, reason: int, costs: np.ndarray
) -> None:
    """Close the whole position at `price` (before slippage) and record the trade."""
    side = state[_SIDE]
    size = state[_SIZE]
    if reason == _TAKE_PROFIT:
        exit_price = price
        fee = size * exit_price * costs[_MAKER]
    else:
        exit_price = price * (1.0 - side * costs[_SLIPPAGE])
        fee = size * exit_price * costs[_TAKER]
    fees = state[_FEES] + fee
    pnl = side * size * (exit_price - state[_ENTRY_PRICE]) - fees - state[_FUNDING]
    state[_CASH] += side * size * exit_price - fee
    row = int(state[_TRADE_COUNT])
    trades[row, _T_ENTRY_INDEX] = state[_ENTRY_INDEX]
    trades[row, _T_EXIT_INDEX] = bar
    trades[row, _T_SIDE] = side
    trades[row, _T_SIZE] = size
    trades[row, _T_ENTRY_PRICE] = state[_ENTRY_PRICE]
    trades[row, _T_EXIT_PRICE] = exit_price
    trades[row, _T_PNL] = pnl
    trades[row, _T_FEES] = fees
    trades[row, _T_FUNDING] = state[_FUNDING]
    trades[row, _T_STOP] = state[_STOP]
    trades[row, _T_TAKE] = state[_TAKE]
    trades[row, _T_REASON] = reason
    state[_TRADE_COUNT] = row + 1
    state[_SIDE] = 0.0
    state[_SIZE] = 0.0
    if pnl < 0.0 and costs[_COOLDOWN] > 0.0:
        state[_COOLDOWN_UNTIL] = bar + costs[_COOLDOWN]


@_compiled
def _open_position(
    state: np.ndarray,
    side: float,
    bar: int,
    signal_bar: int,
    price: float,
    equity: float,
    size_mode: int,
    size_value: np.ndarray,
    stop_mode: int,
    stop_value: np.ndarray,
    take_mode: int,
    take_value: np.ndarray,
    trail_mode: int,
    trail_value: np.ndarray,
    costs: np.ndarray,
) -> int:
    """Open `side` at `price` (before slippage), sized and protected from the signal bar;
    0, or the blocker that stopped it (the cooldown, or a size that came to nothing)."""
    if signal_bar < state[_COOLDOWN_UNTIL]:
        return _B_COOLDOWN
    entry_price = price * (1.0 + side * costs[_SLIPPAGE])
    stop = _protection_level(stop_mode, stop_value[signal_bar], entry_price, side, True)
    if size_mode == _CASH_AT_FILL:
        equity = state[_CASH]  # flat here: what the account holds after this fill's close
    size = _entry_size(size_mode, size_value[signal_bar], equity, entry_price, stop, costs)
    if size == 0.0:
        return _B_NO_SIZE
    fee = size * entry_price * costs[_TAKER]
    trail_kind = _NONE
    trail_amount = trail_value[signal_bar]
    if trail_mode == _PERCENT:
        trail_kind = _TRAIL_FRACTION
    elif trail_mode == _DISTANCE:
        trail_kind = _TRAIL_DISTANCE
    elif trail_mode == _LEVEL:
        trail_kind = _TRAIL_DISTANCE
        trail_amount = side * (entry_price - trail_amount)
    if not trail_amount > 0.0:
        trail_kind = _NONE
    state[_SIDE] = side
    state[_SIZE] = size
    state[_ENTRY_PRICE] = entry_price
    state[_ENTRY_INDEX] = bar
    state[_FEES] = fee
    state[_FUNDING] = 0.0
    state[_STOP] = stop
    state[_TAKE] = _protection_level(take_mode, take_value[signal_bar], entry_price, side, False)
    state[_TRAIL_KIND] = trail_kind
    state[_TRAIL_AMOUNT] = trail_amount
    state[_EXTREME] = entry_price
    state[_CASH] -= side * size * entry_price + fee
    return 0


@_compiled
def _check_protections(
    state: np.ndarray,
    trades: np.ndarray,
    bar: int,
    bar_open: float,
    high: float,
    low: float,
    costs: np.ndarray,
) -> None:
    """Fill a stop or take-profit touched inside the bar, else move the trailing extreme."""
    side = state[_SIDE]
    stop = state[_STOP]
    reason = _STOP_LOSS
    kind = state[_TRAIL_KIND]
    if kind != _NONE:
        if kind == _TRAIL_FRACTION:
            trail = state[_EXTREME] * (1.0 - side * state[_TRAIL_AMOUNT])
        else:
            trail = state[_EXTREME] - side * state[_TRAIL_AMOUNT]
        if stop != stop or side * (trail - stop) > 0.0:
            stop = trail
            reason = _TRAILING_STOP
    adverse = low if side > 0.0 else high
    favourable = high if side > 0.0 else low
    if stop == stop and side * (adverse - stop) <= 0.0:
        fill = bar_open if side * (bar_open - stop) <= 0.0 else stop
        _close_position(state, trades, bar, fill, reason, costs)
        return
    take = state[_TAKE]
    if take == take and side * (favourable - take) >= 0.0:
        _close_position(state, trades, bar, take, _TAKE_PROFIT, costs)
        return
    if side * (favourable - state[_EXTREME]) > 0.0:
        state[_EXTREME] = favourable

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
# `_ENTRY_PRICE` is the average entry price; `_ENTRY_INDEX` the round trip's first entry bar;
# `_FEES` / `_FUNDING` what the size still held has paid (entry fees, funding), taken pro rata
# by each closing fill; `_FULL_SIZE` the size after the last entry fill (partial take-profits
# take shares of it); `_TRIP` the round trip's number and `_TRIP_PNL` its rows' pnl so far.
_ENTRIES, _FULL_SIZE, _TRIP, _TRIP_PNL = 14, 15, 16, 17
# The resting entry order (side 0: none): its level, the last bar it may fill at, the close
# that last placed it (its size and protections are read there) and the equity at that close.
_ORDER_SIDE, _ORDER_LEVEL, _ORDER_UNTIL, _ORDER_BAR, _ORDER_EQUITY = 18, 19, 20, 21, 22
_STATE_FIELDS = 23

# Costs and limits, one float array.
_TAKER, _MAKER, _SLIPPAGE, _LOT, _MIN_SIZE, _MAX_POSITION, _COOLDOWN = 0, 1, 2, 3, 4, 5, 6
_MAX_NOTIONAL, _MAX_SHARE = 7, 8

# How entries are made, one float array: per side (long at the index, short one after) the
# order kind, its lifetime in bars, post_only (1.0), the share an exit signal closes; then
# pyramiding and whether a limit fills on a touch (1.0) or only when the price trades through.
_O_KIND, _O_BARS, _O_POST_ONLY, _O_EXIT_SHARE, _O_PYRAMIDING, _O_TOUCH = 0, 2, 4, 6, 8, 9
_ORDER_FIELDS = 10
_MARKET, _LIMIT, _STOP_ORDER = 0, 1, 2

# Trade table columns (the reason is its index in EXIT_REASONS).
_T_ENTRY_INDEX, _T_EXIT_INDEX, _T_SIDE, _T_SIZE, _T_ENTRY_PRICE, _T_EXIT_PRICE = 0, 1, 2, 3, 4, 5
_T_PNL, _T_FEES, _T_FUNDING, _T_STOP, _T_TAKE, _T_REASON, _T_TRIP = 6, 7, 8, 9, 10, 11, 12
_TRADE_FIELDS = 13

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
_DUST = 1e-9
"""Relative tolerance of lot rounding and of a rest that counts as nothing."""


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
    mode: int,
    value: float,
    equity: float,
    price: float,
    stop: float,
    costs: np.ndarray,
    held: float = 0.0,
) -> float:
    """Base units to open, after the cap, lot rounding and minimum; 0.0 means no trade. With
    `cash` sizing, `equity` is the cash available at the fill. `held`: the size already held on
    this side (an add under `pyramiding`), which the position and leverage caps count."""
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
        size,
        costs[_MAX_POSITION] - held,
        costs[_MAX_NOTIONAL] / price,
        equity * costs[_MAX_SHARE] / price - held,
    )
    lot = costs[_LOT]
    if lot > 0.0:
        size = math.floor(size / lot + _DUST) * lot
        if mode == _CASH_AT_FILL and size * price * (1.0 + costs[_TAKER]) > equity:
            size -= lot  # rounded up within the tolerance: never spend more than the cash
    if size <= 0.0 or size < costs[_MIN_SIZE]:
        return 0.0
    return size


@_compiled
def _part_size(held: float, wanted: float, costs: np.ndarray) -> float:
    """How much of `held` a partial exit of `wanted` closes: `wanted` rounded down to the lot;
    0.0 when that is nothing; all of `held` when the rest would be under a lot, under
    `min_size`, or dust."""
    part = wanted
    lot = costs[_LOT]
    if lot > 0.0:
        part = math.floor(part / lot + _DUST) * lot
    if not part > 0.0:
        return 0.0
    rest = held - part
    if rest <= held * _DUST or rest < costs[_MIN_SIZE] or (lot > 0.0 and rest < lot * (1 - _DUST)):
        return held
    return part


@_compiled
def _close_size(
    state: np.ndarray,
    trades: np.ndarray,
    bar: int,
    price: float,
    reason: int,
    costs: np.ndarray,
    size: float,
) -> None:
    """Close `size` of the position (all of it when that is what is held, or more) at `price`
    (before slippage) and record the fill: its own fee plus the entry fees and funding of the
    size it closes, pro rata."""
    side = state[_SIDE]
    held = state[_SIZE]
    whole = size >= held
    if whole:
        size = held
    if reason == _TAKE_PROFIT:
        exit_price = price
        fee = size * exit_price * costs[_MAKER]
    else:
        exit_price = price * (1.0 - side * costs[_SLIPPAGE])
        fee = size * exit_price * costs[_TAKER]
    entry_fees = state[_FEES]
    funding = state[_FUNDING]
    if not whole:
        entry_fees = entry_fees * (size / held)
        funding = funding * (size / held)
    fees = entry_fees + fee
    pnl = side * size * (exit_price - state[_ENTRY_PRICE]) - fees - funding
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
    trades[row, _T_FUNDING] = funding
    trades[row, _T_STOP] = state[_STOP]
    trades[row, _T_TAKE] = state[_TAKE]
    trades[row, _T_REASON] = reason
    trades[row, _T_TRIP] = state[_TRIP]
    state[_TRADE_COUNT] = row + 1
    state[_TRIP_PNL] += pnl
    if not whole:
        state[_SIZE] = held - size
        state[_FEES] -= entry_fees
        state[_FUNDING] -= funding
        return
    state[_SIDE] = 0.0
    state[_SIZE] = 0.0
    state[_ENTRIES] = 0.0
    if state[_TRIP_PNL] < 0.0 and costs[_COOLDOWN] > 0.0:
        state[_COOLDOWN_UNTIL] = bar + costs[_COOLDOWN]


@_compiled
def _close_position(
    state: np.ndarray, trades: np.ndarray, bar: int, price: float, reason: int, costs: np.ndarray
) -> None:
    """Close the whole position at `price` (before slippage) and record the trade."""
    _close_size(state, trades, bar, price, reason, costs, state[_SIZE])


@_compiled
def _arm_takes(
    takes: np.ndarray,
    take_modes: np.ndarray,
    take_values: np.ndarray,
    signal_bar: int,
    entry_price: float,
    side: float,
) -> None:
    """Arm every partial take-profit at its level from `entry_price` (the average entry price)
    and the signal bar's values (`takes` rows: level, armed)."""
    for k in range(take_modes.shape[0]):
        takes[0, k] = _protection_level(
            take_modes[k], take_values[k, signal_bar], entry_price, side, False
        )
        takes[1, k] = 1.0


@_compiled
def _open_position(
    state: np.ndarray,
    side: float,
    bar: int,
    signal_bar: int,
    entry_price: float,
    fee_rate: float,
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
    take_modes: np.ndarray,
    take_values: np.ndarray,
    takes: np.ndarray,
    size_price: float,
) -> int:
    """Open `side` at `entry_price` (after slippage) paying `fee_rate`, or add to the position
    held on that side, sized at `size_price` and protected from the signal bar; 0, or the
    blocker that stopped it (the cooldown, or a size that came to nothing). An add moves the
    average entry price and sets every protection (partial take-profits re-armed) again from it.
    `size_price` is the fill price for an order at market, and a resting order's level: a live
    order is sized before it is placed, at the price it rests at, whatever it fills at."""
    if signal_bar < state[_COOLDOWN_UNTIL]:
        return _B_COOLDOWN
    if state[_SIDE] == -side:
        return 0  # not reached: an order for the other side is cancelled before it could fill
    held = state[_SIZE] if state[_SIDE] == side else 0.0
    stop = _protection_level(stop_mode, stop_value[signal_bar], entry_price, side, True)
    if size_mode == _CASH_AT_FILL:
        equity = state[_CASH]  # flat here: what the account holds after this fill's close
    sizing_stop = stop
    if size_price != entry_price:
        sizing_stop = _protection_level(stop_mode, stop_value[signal_bar], size_price, side, True)
    size = _entry_size(
        size_mode, size_value[signal_bar], equity, size_price, sizing_stop, costs, held
    )
    if size == 0.0:
        return _B_NO_SIZE
    fee = size * entry_price * fee_rate
    average = entry_price
    if held > 0.0:
        average = (held * state[_ENTRY_PRICE] + size * entry_price) / (held + size)
        stop = _protection_level(stop_mode, stop_value[signal_bar], average, side, True)
        state[_SIZE] = held + size
        state[_FEES] += fee
        state[_ENTRIES] += 1.0
    else:
        state[_SIZE] = size
        state[_ENTRY_INDEX] = bar
        state[_FEES] = fee
        state[_FUNDING] = 0.0
        state[_EXTREME] = entry_price
        state[_ENTRIES] = 1.0
        state[_TRIP] += 1.0
        state[_TRIP_PNL] = 0.0
    trail_kind = _NONE
    trail_amount = trail_value[signal_bar]
    if trail_mode == _PERCENT:
        trail_kind = _TRAIL_FRACTION
    elif trail_mode == _DISTANCE:
        trail_kind = _TRAIL_DISTANCE
    elif trail_mode == _LEVEL:
        trail_kind = _TRAIL_DISTANCE
        trail_amount = side * (average - trail_amount)
    if not trail_amount > 0.0:
        trail_kind = _NONE
    state[_SIDE] = side
    state[_ENTRY_PRICE] = average
    state[_FULL_SIZE] = state[_SIZE]
    state[_STOP] = stop
    state[_TAKE] = _protection_level(take_mode, take_value[signal_bar], average, side, False)
    state[_TRAIL_KIND] = trail_kind
    state[_TRAIL_AMOUNT] = trail_amount
    _arm_takes(takes, take_modes, take_values, signal_bar, average, side)
    state[_CASH] -= side * size * entry_price + fee
    return 0


@_compiled
def _resting_fill(
    state: np.ndarray,
    orders: np.ndarray,
    bar_open: float,
    high: float,
    low: float,
    costs: np.ndarray,
) -> tuple[float, float, bool]:
    """Where the resting entry order fills in this bar: (price after slippage, fee rate, whether
    it filled inside the bar at its level rather than at the open); NaN price: it does not fill.
    A post_only limit that the open crosses is refused: the order is cancelled."""
    side = state[_ORDER_SIDE]
    level = state[_ORDER_LEVEL]
    slot = 0 if side > 0.0 else 1
    slip = costs[_SLIPPAGE]
    if orders[_O_KIND + slot] == _LIMIT:
        if side * (level - bar_open) > 0.0:  # the bar opens beyond the level: it crossed
            if orders[_O_POST_ONLY + slot] != 0.0:
                state[_ORDER_SIDE] = 0.0
                return np.nan, 0.0, False
            price = bar_open * (1.0 + side * slip)
            if side * (price - level) > 0.0:
                price = level  # a limit never pays past its level
            return price, costs[_TAKER], False
        adverse = low if side > 0.0 else high
        beyond = side * (level - adverse)
        if beyond > 0.0 or (beyond == 0.0 and orders[_O_TOUCH] != 0.0):
            return level, costs[_MAKER], True
        return np.nan, 0.0, False
    if side * (bar_open - level) >= 0.0:  # a stop the open is already through
        return bar_open * (1.0 + side * slip), costs[_TAKER], False
    favourable = high if side > 0.0 else low
    if side * (favourable - level) >= 0.0:
        return level * (1.0 + side * slip), costs[_TAKER], True
    return np.nan, 0.0, False


@_compiled
def _check_protections(
    state: np.ndarray,
    trades: np.ndarray,
    bar: int,
    bar_open: float,
    high: float,
    low: float,
    costs: np.ndarray,
    take_allowed: bool = True,
) -> None:
    """Fill a stop or take-profit touched inside the bar, else move the trailing extreme.
    `take_allowed` False: the position was entered inside this bar at a level (`bar_open` is
    then that level), so only its stop can fill."""
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
    if take_allowed and take == take and side * (favourable - take) >= 0.0:
        _close_position(state, trades, bar, take, _TAKE_PROFIT, costs)
        return
    if side * (favourable - state[_EXTREME]) > 0.0:
        state[_EXTREME] = favourable


@_compiled
def _take_partials(
    state: np.ndarray,
    trades: np.ndarray,
    bar: int,
    high: float,
    low: float,
    costs: np.ndarray,
    take_shares: np.ndarray,
    takes: np.ndarray,
) -> None:
    """Fill every armed partial take-profit the bar reaches, nearest level first, each at its
    level (maker fee) and once: a share of the full size rounded down to the lot (skipped when
    that is nothing); the last one, when the shares sum to 100%, closes what is left; one that
    would leave less than a lot or `min_size` closes all."""
    side = state[_SIDE]
    favourable = high if side > 0.0 else low
    count = take_shares.shape[0]
    total = 0.0
    for k in range(count):
        total += take_shares[k]
    while state[_SIDE] != 0.0:
        best = -1
        armed = 0
        for k in range(count):
            level = takes[0, k]
            if takes[1, k] == 0.0 or level != level:
                continue
            armed += 1
            reached = side * (favourable - level) >= 0.0
            if reached and (best < 0 or side * (level - takes[0, best]) < 0.0):
                best = k
        if best < 0:
            return
        takes[1, best] = 0.0
        held = state[_SIZE]
        if armed == 1 and total >= 1.0 - _DUST:
            part = held
        else:
            part = _part_size(held, min(take_shares[best] * state[_FULL_SIZE], held), costs)
        if part > 0.0:
            _close_size(state, trades, bar, takes[0, best], _TAKE_PROFIT, costs, part)
            trades[int(state[_TRADE_COUNT]) - 1, _T_TAKE] = takes[0, best]

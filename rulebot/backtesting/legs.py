"""The multi-leg fill model: several markets traded together as one spread, every leg or none.

A spread strategy holds one position (flat, long the spread or short it) carried as `k` legs, one
per market. Leg `j`'s weight `w_j` gives its side and its share of the money: long the spread is
`sign(w_j)` on leg `j` (buy where the weight is positive, sell where it is negative), short the
spread flips every leg, and a leg whose weight is 0 does not trade. With `leg ETH weight 1` and
`leg LTC weight -hedge`, long the spread buys ETH and sells `hedge` times that notional of LTC.

Every fill follows from these rules, in this order inside each bar `i` (they are the single-market
rules of `rulebot.backtesting.fills`, except where a spread has no single price):

1. **Funding**, per leg. If `funding_rate[j, i]` is nonzero, leg `j`'s position carried into bar
   `i` pays `position_j * open[j, i] * funding_rate[j, i]` (a long leg pays a positive rate, a
   short leg receives it). A spread opened at `open[:, i]` does not pay bar `i`'s funding; one
   closed there does.
2. **Orders at the open** (`fill_at="next_open"`): the exit, then the entry, decided at the
   previous close fill at every leg's `open[:, i]`.
3. **Nothing inside the bar.** Protections are not checked against highs and lows: each leg's high
   and low happened at its own moment, so no price of the spread inside the bar is known, and a
   stop touched "inside the bar" would be one invented from prices that never coexisted. `high`
   and `low` are not read by this model at all.
4. **Protections at the close**, for a spread that filled before this point (with `next_open` that
   includes one that filled at this bar's open; with `close` checks start the bar after the
   fill). The spread's PnL is `pnl = sum_j side_j * size_j * (close[j, i] - entry_price_j)` (fill
   prices, before fees and funding), measured against the entry notional
   `sum_j size_j * entry_price_j`. The stop loss is hit when `pnl <= -stop * notional`, the
   take-profit when `pnl >= take * notional`, the trailing stop when
   `pnl <= best - trail * notional`, `best` being the highest PnL at the closes checked before
   this one (0 at the entry, so a close's own new best only moves the trailing stop for the next
   close). The stop is the tighter of the stop loss and the trailing stop (a tie counts as the
   stop loss) and wins over the take-profit. A protection that is hit does **not** fill at its
   level: it closes every leg at the next fill, `open[:, i+1]` (`next_open`) or `close[:, i]`
   (`close`), as market orders, so the loss can be well past the stop when the next open gaps.
   Exit reason `stop_loss`, `take_profit` or `trailing_stop`.
5. **Signals at the close**, read from bar `i`, as in the single-market loop. When both entries
   are true on one bar they cancel. Long the spread: `entry_short` closes it and opens a short
   in the same fill (reason `reverse`); otherwise `exit_long` closes it (reason `signal`);
   `entry_long` does nothing. Mirrored for short. Flat: an entry opens that side. A spread whose
   protection was hit at this close counts as flat here: it exits with the protection's reason,
   and an entry signal on this bar (either side) opens after it in the same fill, as after a
   single-market stop inside the bar. The orders fill at `close[:, i]` (`fill_at="close"`) or at
   `open[:, i+1]` (`"next_open"`); with `next_open` nothing decided at the last close fills (the
   end-of-data close does the exit), and with `close` the last bar opens nothing.
6. **Mark.** `equity[i] = cash + sum_j position_j[i] * close[j, i]`.

After the last bar a spread still open is closed at every leg's `close[:, -1]` (reason
`end_of_data`), and `equity[-1]` / `positions[:, -1]` show the account after that close; with
`end_of_data="keep"` it stays open, marked at the last close, and is not among the trades.

**Prices and fees.** Every fill is a market order on each leg (there are no resting take-profit
orders): it moves against the trader by `slippage_bps` on that leg's own side, a buy at
`price * (1 + bps/10_000)` and a sell at `price * (1 - bps/10_000)`, and pays
`size * fill_price * taker_fee`. `maker_fee` is not used.

**Size.** The spread's notional `N` comes from the signal bar's `size_value`: `equity` →
`equity_at_signal_close * value`, `quote` → `value` (the equity marked at the signal bar's close,
before that close's fills). It is capped at `max_notional` and `equity * max_equity_share`.
Leg `j` gets the notional `N * |w_j| / sum|w|` at its entry fill price after slippage, so
`size_j = N * |w_j| / sum|w| / price_j`, rounded down to a multiple of the leg's lot
(`lot_sizes[j]`, or `lot_size` for every leg; within 1e-9 of a lot). The weights are read at the
signal bar and fixed for the trade: a held spread is never rebalanced. **Both or neither:** when
any trading leg's size is `<= 0`, NaN or `< min_size` (base units, the same for every leg), or any
weight is NaN, or all are 0, no leg trades.
`base`, `risk_equity` and `risk_quote` sizing and a finite `max_position` are refused: a spread
has no single base unit and no single price to stop at.

**Protections** are `percent` only (or `none`), fixed at entry from the signal bar's values as
fractions of the entry notional; a value that is not positive, or NaN, means no such protection.

**Cooldown.** A spread trade with `pnl < 0` that exits on bar `k` makes entry signals read on
bars `k .. k + cooldown_bars - 1` count for nothing. The second half of a reverse whose first half
lost is dropped the same way, and so is an entry in the same fill as a losing protection exit.

**Risk limits** are decided at each close as in the single-market loop (`rulebot.risk`, the
live risk manager's code): a breached loss limit stops entries until it recovers or, for a daily
loss, a new UTC day begins; each leg's entry is one order against `max_open_orders`.

**Trades.** One row per spread trade (`SPREAD_TRADE_DTYPE`): fill bars, `side` (+1 long the
spread, -1 short), `entry_notional`, `fees` (every leg, both fills), `funding` (every leg, paid
while held; negative when received) and
`pnl = sum_j side_j * size_j * (exit_price_j - entry_price_j) - fees - funding`. One row per leg of
each trade (`LEG_TRADE_DTYPE`), with its own side, size, fill prices, fees, funding and `pnl` on the
same formula; a trade's legs add up to its pnl.

The loop is one function over plain numpy arrays, compiled with numba when it is installed and
run as plain Python otherwise; both give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np

from rulebot import compiled
from rulebot.backtesting.fills import EXIT_REASONS, FillSettings, close_times
from rulebot.risk import bars as risk_bars

try:
    import numba
except ImportError:  # pragma: no cover - exercised by loading this module with numba hidden
    numba = None

_Function = TypeVar("_Function")

NUMBA_AVAILABLE = numba is not None
# measured: the loop as plain Python takes ~20 µs a bar; compiling it ~9 s (see `compiled`)
_PLAIN_SECONDS_PER_BAR, _COMPILE_SECONDS = 20e-6, 9.0
"""Whether the fill loop is compiled (False: the same loop runs as plain Python)."""

SpreadSizeMode = Literal["equity", "quote"]
SpreadProtectionMode = Literal["none", "percent"]

SPREAD_SIZE_MODES: tuple[SpreadSizeMode, ...] = ("equity", "quote")
SPREAD_PROTECTION_MODES: tuple[SpreadProtectionMode, ...] = ("none", "percent")

SPREAD_TRADE_DTYPE = np.dtype(
    [
        ("entry_index", np.int64),
        ("exit_index", np.int64),
        ("side", np.int8),
        ("entry_notional", np.float64),
        ("pnl", np.float64),
        ("fees", np.float64),
        ("funding", np.float64),
        ("exit_reason", "U13"),
    ]
)
"""One row per closed spread trade, in exit order."""

LEG_TRADE_DTYPE = np.dtype(
    [
        ("trade", np.int64),
        ("leg", np.int64),
        ("side", np.int8),
        ("size", np.float64),
        ("entry_price", np.float64),
        ("exit_price", np.float64),
        ("pnl", np.float64),
        ("fees", np.float64),
        ("funding", np.float64),
    ]
)
"""One row per leg of each spread trade: `trade` is its row in the trades, `leg` its market."""


@dataclass(frozen=True)
class LegColumns:
    """Per-bar inputs for `k` markets traded as one spread, on aligned bars (bar `i` is the same
    moment in every market). Price, weight and funding arrays are `(k, n)`, one row per leg; the
    rest are `(n,)`."""

    timestamp: np.ndarray
    """Bar open time, int64 unix milliseconds."""
    open: np.ndarray
    high: np.ndarray
    """Not read by the fill model (protections are checked at closes only)."""
    low: np.ndarray
    close: np.ndarray
    weight: np.ndarray
    """Each leg's weight at each bar: its side when long the spread, and its share of the
    notional (`|w_j| / sum|w|`)."""
    entry_long: np.ndarray
    """Bool; already False during warm-up (so are the other three signals)."""
    exit_long: np.ndarray
    entry_short: np.ndarray
    exit_short: np.ndarray
    size_mode: SpreadSizeMode
    size_value: np.ndarray
    """The spread's total notional: a fraction of equity (`equity`) or a quote amount."""
    stop_mode: SpreadProtectionMode
    stop_value: np.ndarray
    """Fractions of the spread's entry notional, like `take_value` and `trail_value`."""
    take_mode: SpreadProtectionMode
    take_value: np.ndarray
    trail_mode: SpreadProtectionMode
    trail_value: np.ndarray
    funding_rate: np.ndarray | None = None
    """`(k, n)`: each leg's rate at bars where a payment happens, 0 elsewhere (None: no funding)."""
    warmup_bars: int = 0
    """Bars before the strategy can trade; metrics start at this bar."""

    def __len__(self) -> int:
        return np.shape(self.close)[-1]


@dataclass(frozen=True)
class LegsResult:
    """What a spread simulation produced."""

    equity: np.ndarray
    """Cash plus every leg marked at each bar's close (after the bar's fills)."""
    positions: np.ndarray
    """`(k, n)`: signed base units of each leg held after each bar."""
    trades: np.ndarray
    """Closed spread trades, a structured array of `SPREAD_TRADE_DTYPE`."""
    leg_trades: np.ndarray
    """Each trade's legs, a structured array of `LEG_TRADE_DTYPE`, in the same order."""
    fees_paid: float
    funding_paid: float
    """Net funding paid (negative when received)."""


# ---- the compiled loop ---------------------------------------------------------------------------
# The spread's state lives in one small float array, each leg's in a column of a second one, so
# that helpers can update them in place.

_SIDE, _ENTRY_INDEX, _NOTIONAL, _STOP, _TAKE, _TRAIL, _BEST = 0, 1, 2, 3, 4, 5, 6
_CASH, _COOLDOWN_UNTIL, _TRADE_COUNT, _LEG_COUNT = 7, 8, 9, 10
_STATE_FIELDS = 11

# Leg state rows; the `_NEW_` rows hold an entry being sized until every leg has passed.
_L_SIDE, _L_SIZE, _L_ENTRY_PRICE, _L_FEES, _L_FUNDING, _L_NEW_SIZE, _L_NEW_PRICE = range(7)
_LEG_FIELDS = 7

# Costs and limits, one float array.
_TAKER, _SLIPPAGE, _MIN_SIZE, _MAX_NOTIONAL, _MAX_SHARE, _COOLDOWN = 0, 1, 2, 3, 4, 5

# Spread trade table columns (the reason is its index in EXIT_REASONS).
_T_ENTRY_INDEX, _T_EXIT_INDEX, _T_SIDE, _T_NOTIONAL, _T_PNL, _T_FEES, _T_FUNDING = range(7)
_T_REASON = 7
_TRADE_FIELDS = 8

# Leg trade table columns.
_G_TRADE, _G_LEG, _G_SIDE, _G_SIZE, _G_ENTRY_PRICE, _G_EXIT_PRICE = 0, 1, 2, 3, 4, 5
_G_PNL, _G_FEES, _G_FUNDING = 6, 7, 8
_LEG_TRADE_FIELDS = 9

_NO_EXIT = -1
_SIGNAL = EXIT_REASONS.index("signal")
_REVERSE = EXIT_REASONS.index("reverse")
_STOP_LOSS = EXIT_REASONS.index("stop_loss")
_TAKE_PROFIT = EXIT_REASONS.index("take_profit")
_TRAILING_STOP = EXIT_REASONS.index("trailing_stop")
_END_OF_DATA = EXIT_REASONS.index("end_of_data")
_EQUITY, _QUOTE = 0, 1
_NONE, _PERCENT = 0, 1


def _compiled(function: _Function) -> _Function:
    """numba's `njit(cache=True)` when numba is installed, the plain function otherwise."""
    return numba.njit(cache=True)(function) if numba is not None else function


@_compiled
def _protection_amount(mode: int, value: float, notional: float) -> float:
    """A protection as money (a fraction of the entry notional); NaN when there is none."""
    if mode == _NONE or not value > 0.0:  # also NaN
        return np.nan
    return value * notional


@_compiled
def _spread_notional(
    mode: int, value: float, equity: float, max_notional: float, max_share: float
) -> float:
    """The spread's total notional, after the caps; 0.0 means no trade."""
    notional = equity * value if mode == _EQUITY else value
    if notional > max_notional:
        notional = max_notional
    if max_share < math.inf and notional > equity * max_share:
        notional = equity * max_share
    if not (notional > 0.0 and notional < math.inf):
        return 0.0
    return notional


@_compiled
def _open_spread(
    state: np.ndarray,
    legs: np.ndarray,
    side: float,
    bar: int,
    signal_bar: int,
    price: np.ndarray,
    equity: float,
    weight: np.ndarray,
    size_mode: int,
    size_value: np.ndarray,
    stop_mode: int,
    stop_value: np.ndarray,
    take_mode: int,
    take_value: np.ndarray,
    trail_mode: int,
    trail_value: np.ndarray,
    costs: np.ndarray,
    lots: np.ndarray,
) -> None:
    """Open `side` of the spread at each leg's `price[j, bar]` (before slippage), sized and
    protected from the signal bar: every leg, or none when one of them cannot trade."""
    if signal_bar < state[_COOLDOWN_UNTIL]:
        return
    notional = _spread_notional(
        size_mode,
        size_value[signal_bar],
        equity,
        costs[_MAX_NOTIONAL],
        costs[_MAX_SHARE],
    )
    if notional == 0.0:
        return
    k = legs.shape[1]
    total_weight = 0.0
    for j in range(k):
        total_weight += abs(weight[j, signal_bar])
    if not (total_weight > 0.0 and total_weight < math.inf):  # also a NaN weight
        return
    for j in range(k):
        w = weight[j, signal_bar]
        legs[_L_NEW_SIZE, j] = 0.0
        if w == 0.0:
            continue
        leg_side = side if w > 0.0 else -side
        fill = price[j, bar] * (1.0 + leg_side * costs[_SLIPPAGE])
        if not fill > 0.0:
            return
        size = notional * abs(w) / total_weight / fill
        lot = lots[j]
        if lot > 0.0:
            size = math.floor(size / lot + 1e-9) * lot
        if not size > 0.0 or size < costs[_MIN_SIZE]:
            return
        legs[_L_NEW_SIZE, j] = size
        legs[_L_NEW_PRICE, j] = fill
    entry_notional = 0.0
    for j in range(k):
        size = legs[_L_NEW_SIZE, j]
        if size == 0.0:
            continue
        leg_side = side if weight[j, signal_bar] > 0.0 else -side
        fill = legs[_L_NEW_PRICE, j]
        fee = size * fill * costs[_TAKER]
        legs[_L_SIDE, j] = leg_side
        legs[_L_SIZE, j] = size
        legs[_L_ENTRY_PRICE, j] = fill
        legs[_L_FEES, j] = fee
        legs[_L_FUNDING, j] = 0.0
        state[_CASH] -= leg_side * size * fill + fee
        entry_notional += size * fill
    state[_SIDE] = side
    state[_ENTRY_INDEX] = bar
    state[_NOTIONAL] = entry_notional
    state[_STOP] = _protection_amount(stop_mode, stop_value[signal_bar], entry_notional)
    state[_TAKE] = _protection_amount(take_mode, take_value[signal_bar], entry_notional)
    state[_TRAIL] = _protection_amount(trail_mode, trail_value[signal_bar], entry_notional)
    state[_BEST] = 0.0


@_compiled
def _close_spread(
    state: np.ndarray,
    legs: np.ndarray,
    trades: np.ndarray,
    leg_trades: np.ndarray,
    bar: int,
    price: np.ndarray,
    column: int,
    reason: int,
    costs: np.ndarray,
) -> None:
    """Close every leg at `price[j, column]` (before slippage) and record the trade and its legs."""
    row = int(state[_TRADE_COUNT])
    leg_row = int(state[_LEG_COUNT])
    gross = 0.0
    fees = 0.0
    funding = 0.0
    for j in range(legs.shape[1]):
        leg_side = legs[_L_SIDE, j]
        if leg_side == 0.0:
            continue
        size = legs[_L_SIZE, j]
        entry_price = legs[_L_ENTRY_PRICE, j]
        exit_price = price[j, column] * (1.0 - leg_side * costs[_SLIPPAGE])
        fee = size * exit_price * costs[_TAKER]
        leg_fees = legs[_L_FEES, j] + fee
        leg_gross = leg_side * size * (exit_price - entry_price)
        state[_CASH] += leg_side * size * exit_price - fee
        leg_trades[leg_row, _G_TRADE] = row
        leg_trades[leg_row, _G_LEG] = j
        leg_trades[leg_row, _G_SIDE] = leg_side
        leg_trades[leg_row, _G_SIZE] = size
        leg_trades[leg_row, _G_ENTRY_PRICE] = entry_price
        leg_trades[leg_row, _G_EXIT_PRICE] = exit_price
        leg_trades[leg_row, _G_PNL] = leg_gross - leg_fees - legs[_L_FUNDING, j]
        leg_trades[leg_row, _G_FEES] = leg_fees
        leg_trades[leg_row, _G_FUNDING] = legs[_L_FUNDING, j]
        leg_row += 1
        gross += leg_gross
        fees += leg_fees
        funding += legs[_L_FUNDING, j]
        legs[_L_SIDE, j] = 0.0
        legs[_L_SIZE, j] = 0.0
    pnl = gross - fees - funding
    trades[row, _T_ENTRY_INDEX] = state[_ENTRY_INDEX]
    trades[row, _T_EXIT_INDEX] = bar
    trades[row, _T_SIDE] = state[_SIDE]
    trades[row, _T_NOTIONAL] = state[_NOTIONAL]
    trades[row, _T_PNL] = pnl
    trades[row, _T_FEES] = fees
    trades[row, _T_FUNDING] = funding
    trades[row, _T_REASON] = reason
    state[_TRADE_COUNT] = row + 1
    state[_LEG_COUNT] = leg_row
    state[_SIDE] = 0.0
    if pnl < 0.0 and costs[_COOLDOWN] > 0.0:
        state[_COOLDOWN_UNTIL] = bar + costs[_COOLDOWN]


@_compiled
def _marked(state: np.ndarray, legs: np.ndarray, close: np.ndarray, bar: int) -> float:
    """Cash plus every leg at `close[j, bar]`."""
    equity = state[_CASH]
    for j in range(legs.shape[1]):
        equity += legs[_L_SIDE, j] * legs[_L_SIZE, j] * close[j, bar]
    return equity


@_compiled
def _protection_exit(state: np.ndarray, legs: np.ndarray, close: np.ndarray, bar: int) -> int:
    """The exit a protection calls for at this close (`_NO_EXIT` for none); when there is none,
    the best PnL takes in this close."""
    pnl = 0.0
    for j in range(legs.shape[1]):
        pnl += legs[_L_SIDE, j] * legs[_L_SIZE, j] * (close[j, bar] - legs[_L_ENTRY_PRICE, j])
    stop = -state[_STOP]
    reason = _STOP_LOSS
    trail = state[_TRAIL]
    if trail == trail:
        trail_level = state[_BEST] - trail
        if stop != stop or trail_level > stop:
            stop = trail_level
            reason = _TRAILING_STOP
    if stop == stop and pnl <= stop:
        return reason
    take = state[_TAKE]
    if take == take and pnl >= take:
        return _TAKE_PROFIT
    if pnl > state[_BEST]:
        state[_BEST] = pnl
    return _NO_EXIT


@_compiled
def _fill_loop(
    open_: np.ndarray,
    close: np.ndarray,
    weight: np.ndarray,
    entry_long: np.ndarray,
    exit_long: np.ndarray,
    entry_short: np.ndarray,
    exit_short: np.ndarray,
    size_mode: int,
    size_value: np.ndarray,
    stop_mode: int,
    stop_value: np.ndarray,
    take_mode: int,
    take_value: np.ndarray,
    trail_mode: int,
    trail_value: np.ndarray,
    funding_rate: np.ndarray,
    fill_at_close: bool,
    close_at_end: bool,
    costs: np.ndarray,
    lots: np.ndarray,
    initial_equity: float,
    state: np.ndarray,
    legs: np.ndarray,
    equity_out: np.ndarray,
    positions_out: np.ndarray,
    trades: np.ndarray,
    leg_trades: np.ndarray,
    risk_limits: np.ndarray,
    risk_state: np.ndarray,
    close_ms: np.ndarray,
) -> None:
    """Run every bar; write equity, positions and both trade tables (their row counts are left in
    `state`)."""
    k = close.shape[0]
    n = close.shape[1]
    state[:] = 0.0
    legs[:, :] = 0.0
    state[_CASH] = initial_equity
    pending_exit = _NO_EXIT  # orders decided at a close, for the next open
    pending_side = 0.0
    pending_bar = 0
    pending_equity = 0.0
    for i in range(n):
        for j in range(k):
            rate = funding_rate[j, i]
            if rate != 0.0 and legs[_L_SIDE, j] != 0.0:
                payment = legs[_L_SIDE, j] * legs[_L_SIZE, j] * open_[j, i] * rate
                state[_CASH] -= payment
                legs[_L_FUNDING, j] += payment

        if pending_exit != _NO_EXIT:
            _close_spread(state, legs, trades, leg_trades, i, open_, i, pending_exit, costs)
        if pending_side != 0.0:
            _open_spread(
                state,
                legs,
                pending_side,
                i,
                pending_bar,
                open_,
                pending_equity,
                weight,
                size_mode,
                size_value,
                stop_mode,
                stop_value,
                take_mode,
                take_value,
                trail_mode,
                trail_value,
                costs,
                lots,
            )
        pending_exit = _NO_EXIT
        pending_side = 0.0

        side = state[_SIDE]
        protection = _NO_EXIT
        if side != 0.0:  # with fill_at="close", opened at an earlier close
            protection = _protection_exit(state, legs, close, i)
        equity = _marked(state, legs, close, i)
        wants_long = entry_long[i] and not entry_short[i]
        wants_short = entry_short[i] and not entry_long[i]
        exit_reason = _NO_EXIT
        open_side = 0.0
        if protection != _NO_EXIT:
            exit_reason = protection
            if wants_long:
                open_side = 1.0
            elif wants_short:
                open_side = -1.0
        elif side > 0.0:
            if wants_short:
                exit_reason = _REVERSE
                open_side = -1.0
            elif exit_long[i]:
                exit_reason = _SIGNAL
        elif side < 0.0:
            if wants_long:
                exit_reason = _REVERSE
                open_side = 1.0
            elif exit_short[i]:
                exit_reason = _SIGNAL
        elif wants_long:
            open_side = 1.0
        elif wants_short:
            open_side = -1.0
        if i == n - 1:
            open_side = 0.0
        if close_ms.shape[0] > 0 and not risk_bars.on_close(
            risk_limits, risk_state, close_ms[i], equity
        ):
            open_side = 0.0  # a loss limit is breached: no new entry, the exit still runs
        if open_side != 0.0 and not risk_bars.entry_orders_allowed(risk_limits, 0):
            open_side = 0.0  # each leg's entry is one order: its protections are not resting

        if fill_at_close:
            if exit_reason != _NO_EXIT:
                _close_spread(state, legs, trades, leg_trades, i, close, i, exit_reason, costs)
            if open_side != 0.0:
                _open_spread(
                    state,
                    legs,
                    open_side,
                    i,
                    i,
                    close,
                    equity,
                    weight,
                    size_mode,
                    size_value,
                    stop_mode,
                    stop_value,
                    take_mode,
                    take_value,
                    trail_mode,
                    trail_value,
                    costs,
                    lots,
                )
        elif i < n - 1:
            pending_exit = exit_reason
            pending_side = open_side
            pending_bar = i
            pending_equity = equity

        equity_out[i] = _marked(state, legs, close, i)
        for j in range(k):
            positions_out[j, i] = legs[_L_SIDE, j] * legs[_L_SIZE, j]

    if n > 0 and state[_SIDE] != 0.0 and close_at_end:
        _close_spread(state, legs, trades, leg_trades, n - 1, close, n - 1, _END_OF_DATA, costs)
        equity_out[n - 1] = state[_CASH]
        for j in range(k):
            positions_out[j, n - 1] = 0.0


# ---- the public entry point ----------------------------------------------------------------------

_SIGNAL_NAMES = ("entry_long", "exit_long", "entry_short", "exit_short")


def _mode_code(name: str, value: str, modes: tuple[str, ...], why: str) -> int:
    if value not in modes:
        raise ValueError(
            f"{name} must be one of {', '.join(modes)} for a spread{why}; got {value!r}"
        )
    return modes.index(value)


def _array(columns: LegColumns, name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    array = np.ascontiguousarray(getattr(columns, name), dtype=dtype)
    if array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}, expected {shape}")
    return array


def _lots(settings: FillSettings, lot_sizes: Sequence[float] | None, k: int) -> np.ndarray:
    if lot_sizes is None:
        return np.full(k, float(settings.lot_size))
    lots = np.asarray(lot_sizes, dtype=np.float64)
    if lots.shape != (k,):
        raise ValueError(f"lot_sizes has {lots.size} values for {k} legs")
    if not (np.isfinite(lots) & (lots >= 0)).all():
        raise ValueError(f"lot_sizes must be finite and 0 or more, not {lots.tolist()}")
    return lots


def simulate_legs(
    columns: LegColumns, settings: FillSettings, lot_sizes: Sequence[float] | None = None
) -> LegsResult:
    """Fill a spread strategy's signals bar by bar, every leg or none (rules in this module's
    docstring). `lot_sizes` gives each leg's lot; by default every leg uses `settings.lot_size`.

    >>> import numpy as np
    >>> n = 4
    >>> prices = np.array([[100.0, 100.0, 110.0, 110.0], [50.0, 50.0, 50.0, 50.0]])
    >>> flag = lambda *on: np.isin(np.arange(n), on)
    >>> columns = LegColumns(
    ...     timestamp=np.arange(n) * 60_000, open=prices, high=prices, low=prices, close=prices,
    ...     weight=np.array([[1.0] * n, [-1.0] * n]), entry_long=flag(0), exit_long=flag(2),
    ...     entry_short=flag(), exit_short=flag(), size_mode="quote", size_value=np.full(n, 2000.0),
    ...     stop_mode="none", stop_value=np.zeros(n), take_mode="none", take_value=np.zeros(n),
    ...     trail_mode="none", trail_value=np.zeros(n))
    >>> result = simulate_legs(columns, FillSettings())  # buy 10 ETH, sell 20 LTC at open[1]
    >>> result.positions[:, 1].tolist(), float(result.trades["pnl"][0])
    ([10.0, -20.0], 100.0)
    """
    close = np.asarray(columns.close)
    if close.ndim != 2 or close.shape[0] == 0 or close.shape[1] == 0:
        raise ValueError(f"close must be (legs, bars) with at least one of each, not {close.shape}")
    k, n = close.shape
    if not math.isinf(settings.max_position):
        raise ValueError(
            "max_position is in one market's base units and a spread has several: "
            "cap a spread with max_notional or max_equity_share"
        )
    size_mode = _mode_code(
        "size_mode", columns.size_mode, SPREAD_SIZE_MODES, " (base units of which leg?)"
    )
    no_price = " (a spread has no single price to put a distance or level on)"
    stop_mode = _mode_code("stop_mode", columns.stop_mode, SPREAD_PROTECTION_MODES, no_price)
    take_mode = _mode_code("take_mode", columns.take_mode, SPREAD_PROTECTION_MODES, no_price)
    trail_mode = _mode_code("trail_mode", columns.trail_mode, SPREAD_PROTECTION_MODES, no_price)
    open_, _, _, close, weight = (
        _array(columns, name, (k, n), np.float64)
        for name in ("open", "high", "low", "close", "weight")
    )
    flags = [_array(columns, name, (n,), np.bool_) for name in _SIGNAL_NAMES]
    size_value, stop_value, take_value, trail_value = (
        _array(columns, name, (n,), np.float64)
        for name in ("size_value", "stop_value", "take_value", "trail_value")
    )
    if columns.funding_rate is None:
        funding = np.zeros((k, n))
    else:
        funding = _array(columns, "funding_rate", (k, n), np.float64)
        if not np.isfinite(funding).all():
            raise ValueError("funding_rate must be finite (0 where no payment happens)")
    costs = np.array(
        [
            settings.taker_fee,
            settings.slippage_bps / 10_000.0,
            settings.min_size,
            settings.max_notional,
            settings.max_equity_share,
            float(settings.cooldown_bars),
        ]
    )
    entries = int(np.count_nonzero(flags[0] | flags[2]))  # every trade opens on its own signal bar
    trades = np.empty((entries + 1, _TRADE_FIELDS))
    leg_trades = np.empty(((entries + 1) * k, _LEG_TRADE_FIELDS))
    equity = np.empty(n)
    positions = np.empty((k, n))
    state = np.zeros(_STATE_FIELDS)
    compiled.call(
        _fill_loop,
        n * _PLAIN_SECONDS_PER_BAR,
        _COMPILE_SECONDS,
        open_,
        close,
        weight,
        flags[0],
        flags[1],
        flags[2],
        flags[3],
        size_mode,
        size_value,
        stop_mode,
        stop_value,
        take_mode,
        take_value,
        trail_mode,
        trail_value,
        funding,
        settings.fill_at == "close",
        settings.end_of_data == "close",
        costs,
        _lots(settings, lot_sizes, k),
        float(settings.initial_equity),
        state,
        np.zeros((_LEG_FIELDS, k)),
        equity,
        positions,
        trades,
        leg_trades,
        settings.risk.array(float(settings.initial_equity)),
        np.zeros(risk_bars.STATE_FIELDS),
        close_times(columns.timestamp, n) if settings.risk.binding else np.zeros(0),
    )
    spread_trades = _spread_records(trades[: int(state[_TRADE_COUNT])])
    return LegsResult(
        equity=equity,
        positions=positions,
        trades=spread_trades,
        leg_trades=_leg_records(leg_trades[: int(state[_LEG_COUNT])]),
        fees_paid=float(spread_trades["fees"].sum()),
        funding_paid=float(spread_trades["funding"].sum()),
    )


def _spread_records(table: np.ndarray) -> np.ndarray:
    trades = np.empty(len(table), dtype=SPREAD_TRADE_DTYPE)
    trades["entry_index"] = table[:, _T_ENTRY_INDEX]
    trades["exit_index"] = table[:, _T_EXIT_INDEX]
    trades["side"] = table[:, _T_SIDE]
    trades["entry_notional"] = table[:, _T_NOTIONAL]
    trades["pnl"] = table[:, _T_PNL]
    trades["fees"] = table[:, _T_FEES]
    trades["funding"] = table[:, _T_FUNDING]
    trades["exit_reason"] = np.array(EXIT_REASONS)[table[:, _T_REASON].astype(np.int64)]
    return trades


def _leg_records(table: np.ndarray) -> np.ndarray:
    legs = np.empty(len(table), dtype=LEG_TRADE_DTYPE)
    legs["trade"] = table[:, _G_TRADE]
    legs["leg"] = table[:, _G_LEG]
    legs["side"] = table[:, _G_SIDE]
    legs["size"] = table[:, _G_SIZE]
    legs["entry_price"] = table[:, _G_ENTRY_PRICE]
    legs["exit_price"] = table[:, _G_EXIT_PRICE]
    legs["pnl"] = table[:, _G_PNL]
    legs["fees"] = table[:, _G_FEES]
    legs["funding"] = table[:, _G_FUNDING]
    return legs

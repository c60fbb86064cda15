"""The fill model: one market, one strategy, a loop over bars that turns signals into trades.

**The window.** The bars filled are the window asked for (`days`, `start_ms`/`end_ms`), from
its first bar: the signals are computed on every bar the data holds before it too (the warm-up,
and the history an indicator would have had live) and cut at the window's start. Only when the
data holds fewer bars before the window than the strategy's warm-up are the window's first bars
warm-up (`warmup_bars`: no signal there), and the backtest says so in a note.

Every fill a backtest makes follows from these rules, in this order inside each bar `i`:

1. **Funding.** If `funding_rate[i]` is nonzero, the position carried into bar `i` (the one held
   after bar `i-1`, before anything fills at this bar's open) pays
   `position * open[i] * funding_rate[i]` (signed: a long pays a positive rate, a short receives
   it). A position opened at `open[i]` does not pay bar `i`'s funding; one closed there does.
   A payment is on the first bar opening at or after its funding time, its stamp rounded to the
   hour (`engine.funding_on_bars`, `rulebot.data.funding_time`): stamped 00:00:00.017, it is
   paid at the 00:00 bar's open.
2. **Market orders at the open** (`fill_at="next_open"`): the order decided at the previous
   close fills at `open[i]`.
3. **The resting entry order** (`entry long limit at L`, `... stop at L`), if one lives: placed
   after the close that decided it, it may fill from the next bar on, for `entry_*_bars` bars
   (1: the next bar only). At each close while it lives its level is read again from
   `entry_*_level` (NaN: it is cancelled), and a true entry signal on its side places it again
   (its lifetime restarts, its size and protections are read at that close). It is cancelled by
   an exit of the side held (signal or reverse, partial too; a stop or take-profit closing the
   position it would add to), a breached loss limit, or an entry signal for the other side (a
   market one included; one only rests at a time). A buy limit at `L` fills at the open when
   `open < L` (it crossed on arrival: a taker fill with slippage, never past `L`; a `post_only`
   one is refused and cancelled instead), else at `L` when `low < L` (`limit_fill="touch"`:
   `low <= L`) as a maker, with no slippage. A buy stop at `L` fills at the open when
   `open >= L`, else at `L` when `high >= L`; taker fee and slippage (a market-type fill).
   Mirrored for sells. Its size is worked out as an order at market's, from the `size` value
   and the equity at the close that last placed it, at its level (not the fill price: a live
   order is sized before it rests, at the price it rests at, and keeps that size when it fills
   at a better open or a gapped one).
4. **Protections inside the bar**, for a position that filled before this point (with `next_open`
   that includes one that just filled at this open; with `close` checks start the bar after the
   fill). The stop is the tighter of the stop loss and the trailing stop (long: the higher one,
   short: the lower one; a tie counts as the stop loss). A long's stop is touched when
   `low <= stop`, its take-profit when `high >= take` (mirrored for a short). The stop fills at
   the stop price, or at the open when the bar opens beyond it (the worse price). The take-profit
   fills at its level, even when the bar opens beyond it. When one bar touches both, the stop
   wins. A position a resting order entered (or added to) inside this bar, at its level rather
   than the open, can hit its stop in this bar (at the stop price, or at the entry level when
   that is already beyond it) but not its take-profits: the price went through the level on
   the way, and the bar's best price may have come first. Then the partial take-profits
   (below), and the trailing extreme takes in this bar (long: highest high, short: lowest low),
   so a bar's own new extreme only moves the trailing stop for the next bar.
5. **Signals at the close**, read from bar `i`. When both entries are true on one bar they cancel
   (whether flat or not). Holding a long: `entry_short` closes it and opens a short in the same
   fill (exit reason `reverse`); otherwise `exit_long` closes it (reason `signal`), or the share
   `exit_long_share` of it; `entry_long` adds to it when fewer than `pyramiding` entries are in
   it, else does nothing. Mirrored for a short. Flat: an entry opens that side; exits do
   nothing. A market order fills at `close[i]` (`fill_at="close"`) or at `open[i+1]`
   (`"next_open"`); a limit or stop entry rests from this close on (step 3). A signal on the
   last bar with `next_open` never fills, and with `close` the last bar opens nothing (the
   position would be closed again at the same price).
6. **Mark.** `equity[i] = cash + position[i] * close[i]`.

**Scaling in and out.** With `pyramiding N` up to N entries stack in one direction, each sized
as an entry from flat (the position cap and `max_equity_share` count the size already held). An
add moves the entry price to the size-weighted average and sets the stop loss, take-profit and
trailing distance again from the add's signal bar values and that average (the trailing
extreme carries on). Partial take-profits (`take_modes`, `take_values`, `take_shares`: `take_profit
50% at 2%`) are levels from the average entry price, armed at each entry fill (an add re-arms
them all); each fires once, when the bar reaches it (nearest first, several in one bar if it
reaches several), at its level with the maker fee, and closes its share of the full size (the
size after the last entry fill) rounded down to the lot: nothing (skipped) when that rounds to
nothing, all that is left when it is the last one and the shares sum to 100%, or when what it
would leave is under a lot or `min_size`. A partial signal exit (`exit_long_share` s) closes `s`
of the size held at its fill, rounded the same way, at each close where the exit is true.

After the last bar a position still open is closed at `close[-1]` (reason `end_of_data`, a
market-type fill), and `equity[-1]` / `position[-1]` show the account after that close. With
`end_of_data="keep"` it stays open: `equity[-1]` marks it at `close[-1]`, `position[-1]` holds
it, and it is not among the trades (its entry fee is already out of the cash).

**Prices.** Market-type fills (entries, signal exits, reverses, stop losses, trailing stops, the
end-of-data close) move against the trader by `slippage_bps`: a buy fills at
`price * (1 + bps/10_000)`, a sell at `price * (1 - bps/10_000)`. Take-profits and resting limit
entries filled at their level fill there with no slippage. Every fill pays
`size * fill_price * fee` (the taker fee for market-type fills, the maker fee for take-profits
and limit entries filled at their level).

**Size**, from the signal bar's `size_value` and the entry fill price (after slippage):
`equity` → `equity_at_signal_close * value / price`; `base` → `value`; `quote` →
`value / price`; `risk_equity` / `risk_quote` → money at risk (`equity * value` / `value`)
divided by `|price - stop|`, the distance to the stop loss fixed at that entry (no valid stop
loss: no trade); `cash` → `cash * min(value, 1) / (price * (1 + taker_fee))`, a share of the
cash the account holds at the fill (after this fill's exit, so all of it is the equity at the
fill price), net of the entry's fee: backtesting.py's and Pine's "buy with all the cash". Then
it is capped at `max_position` (base), `max_notional / price` (quote) and
`equity * max_equity_share / price` (for `cash`, `equity` is that cash), rounded down to a
multiple of `lot_size` (within 1e-9 of a lot; for `cash`, one lot less when that rounded up past
what the cash pays for, fee included), and the entry is skipped when the result is `<= 0`, NaN or
`< min_size`. `lot_size=1` sizes in whole units, as backtesting.py does.
`equity_at_signal_close` is the equity marked at the signal bar's close, before that close's
fills.

**Protection levels** are fixed at entry from the signal bar's values and the entry fill price
`p`: `percent` → `p * (1 - v)` for a long's stop, `p * (1 + v)` for its take-profit (mirrored for a
short); `distance` → `p - v` / `p + v`; `level` → `v`. A level that is not strictly on the loss
side (stop) or profit side (take-profit) of `p`, or is NaN, means no such protection for this
trade. The trailing stop trails the best price since entry, starting from `p`: `percent` →
`extreme * (1 - v)` for a long; `distance` → `extreme - v`; `level` → the stop starts at `v` and
trails at the distance `p - v` (mirrored for a short; a distance or percent that is not positive,
e.g. a level on the wrong side, means no trailing stop).

**Cooldown.** A round trip with `pnl < 0` that ends on bar `k` makes entry signals read on bars
`k .. k + cooldown_bars - 1` count for nothing (so no entry before the signal on bar
`k + cooldown_bars`). The second leg of a reverse whose first leg lost is dropped the same way.

**Risk limits** (`settings.risk`: rulebot.yaml's `risk:` for the account, the rule's own
`risk { ... }` for the strategy) are decided by `rulebot.risk`, the code the live risk manager
runs. At each close, after the protections of step 4 and before the close's fills, the equity
marked there goes to the decision at the close's time (the bar's open time plus the data's bar
length): a UTC day starts at its first close, `max_daily_loss` is the loss since then (the
account's equity; the strategy's PnL, which in a one-strategy backtest is the equity less the
starting equity; a percent limit is a share of the equity at the day's start), `max_drawdown`
the fall from the peak as a share of the equity at the peak. Reaching a limit breaches it: no
entry is decided at that close or after it (an exit still runs; a reverse then only closes),
until a new UTC day clears a daily loss, or the metric has been inside the limit by 10% of it at
every close for 60 s (with bars of a minute or more: at the second close inside the margin).
An entry counts as its protections and at least one order, and is skipped when that is more
than `max_open_orders` (the account holds no other order when it decides).
The size caps are the account's `max_order_notional` and `max_position_notional` and the rule's
`max_order_notional` (in `max_notional`), and both `max_leverage`s (in `max_equity_share`: an
entry comes flat, so leverage is its notional over equity).

**Trades**: one row per closing fill, in exit order; a round trip (flat to flat) may have
several. A row records the fill bars (`entry_index`: the round trip's first entry bar;
`exit_index`), `side` (+1/-1), `size` (what this fill closed), `entry_price` (the average entry
price), `exit_price`, `fees` (its own exit fee plus the entry fees of the size it closed, pro
rata), `funding` (paid while held by the size it closed, pro rata; negative when received), the
stop loss and take-profit levels in force (`stop_price`, `take_price`; a partial take-profit's
row holds its own level; NaN: none), `trip` (the round trip's number, from 0) and
`pnl = side * size * (exit_price - entry_price) - fees - funding`. The cooldown reads a round
trip's pnl (the sum of its rows) when it closes.

The loop is one function over plain numpy arrays, compiled with numba when it is installed and
run as plain Python otherwise; both give the same numbers.
"""

from __future__ import annotations

import numpy as np

from rulebot import compiled
from rulebot.backtesting.fill_columns import (
    BLOCKERS,
    ENTRY_KINDS,
    EXIT_REASONS,
    PARTIAL_MODES,
    PROTECTION_MODES,
    SIZE_MODES,
    TRADE_DTYPE,
    EndOfData,
    EntryKind,
    ExitReason,
    FillAt,
    FillSettings,
    LimitFill,
    PartialMode,
    ProtectionMode,
    SignalColumns,
    SimResult,
    SizeMode,
    _entry_orders,
    _flags,
    _floats,
    _mode_code,
    _partial_takes,
    _trade_records,
)
from rulebot.backtesting.fill_steps import (
    _B_HELD,
    _B_LAST_BAR,
    _B_LOSS_LIMIT,
    _B_OPPOSITE,
    _B_ORDERS,
    _CASH,
    _END_OF_DATA,
    _ENTRIES,
    _ENTRY_INDEX,
    _ENTRY_PRICE,
    _FUNDING,
    _LEVEL,
    _MARKET,
    _NO_EXIT,
    _NONE,
    _O_BARS,
    _O_EXIT_SHARE,
    _O_KIND,
    _O_PYRAMIDING,
    _ORDER_BAR,
    _ORDER_EQUITY,
    _ORDER_LEVEL,
    _ORDER_SIDE,
    _ORDER_UNTIL,
    _PERCENT,
    _REVERSE,
    _SIDE,
    _SIGNAL,
    _SIZE,
    _SLIPPAGE,
    _STATE_FIELDS,
    _TAKER,
    _TRADE_COUNT,
    _TRADE_FIELDS,
    _TRIP,
    TRACE_ROWS,
    _check_protections,
    _close_position,
    _close_size,
    _compiled,
    _entry_size,
    _open_position,
    _part_size,
    _protection_level,
    _resting_fill,
    _take_partials,
)
from rulebot.backtesting.rule_code import PositionRules, apply_rules, registers
from rulebot.risk import bars as risk_bars

try:
    import numba
except ImportError:  # pragma: no cover - exercised by loading this module with numba hidden
    numba = None

NUMBA_AVAILABLE = numba is not None
"""Whether the fill loop is compiled (False: the same loop runs as plain Python)."""
# measured: the loop as plain Python takes ~20 µs a bar; compiling it ~10 s (see `compiled`)
_PLAIN_SECONDS_PER_BAR, _COMPILE_SECONDS = 20e-6, 10.0

# ---- the compiled loop ---------------------------------------------------------------------------


@_compiled
def decide(
    side: float,
    entry_long: bool,
    exit_long: bool,
    entry_short: bool,
    exit_short: bool,
    can_add: bool = False,
) -> tuple[int, float]:
    """At a close: which exit to take (an index in EXIT_REASONS, or -1 for none) and which side
    to open (+1, -1, or 0), given the side held. `can_add`: the position may take another entry
    in its own direction (`pyramiding N` with fewer than N entries in it), so an entry signal on
    the side held opens that side again, unless an exit signal for it is true too. The backtest's
    fill loop and the live runtime both decide with this one function."""
    wants_long = entry_long and not entry_short
    wants_short = entry_short and not entry_long
    if side > 0.0:
        if wants_short:
            return _REVERSE, -1.0
        if exit_long:
            return _SIGNAL, 0.0
        if wants_long and can_add:
            return _NO_EXIT, 1.0
        return _NO_EXIT, 0.0
    if side < 0.0:
        if wants_long:
            return _REVERSE, 1.0
        if exit_short:
            return _SIGNAL, 0.0
        if wants_short and can_add:
            return _NO_EXIT, -1.0
        return _NO_EXIT, 0.0
    if wants_long:
        return _NO_EXIT, 1.0
    if wants_short:
        return _NO_EXIT, -1.0
    return _NO_EXIT, 0.0


@_compiled
def _fill_loop(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
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
    initial_equity: float,
    state: np.ndarray,
    equity_out: np.ndarray,
    position_out: np.ndarray,
    trades: np.ndarray,
    rule_table: np.ndarray,
    rule_code: np.ndarray,
    rule_inputs: np.ndarray,
    registers: np.ndarray,
    flags: np.ndarray,
    values: np.ndarray,
    risk_limits: np.ndarray,
    risk_state: np.ndarray,
    close_ms: np.ndarray,
    trace: np.ndarray,
    orders: np.ndarray,
    entry_levels: np.ndarray,
    take_modes: np.ndarray,
    take_shares: np.ndarray,
    take_values: np.ndarray,
    takes: np.ndarray,
) -> int:
    """Run every bar; write equity, position and the trade table; return the trade count.
    `trace` (rows TRACE_ROWS, or no columns for none) gets the position state each close read
    and what stopped each true entry.
    `flags`/`values` are the signal and value columns stacked (rows in RULE_TARGETS order), so
    position rules can write them at each close; the rules run on `registers` (`registers`),
    allocated by the caller: the loop allocates nothing.
    `orders` says how each side enters (`_O_*`); `entry_levels` holds the resting orders' levels
    (rows long, short; no columns when both sides enter at market); `take_modes`, `take_shares`
    and `take_values` (one row per level) are the partial take-profits and `takes` their state
    (rows level, armed)."""
    n = close.shape[0]
    state[:] = 0.0
    state[_CASH] = initial_equity
    state[_TRIP] = -1.0
    takes[:, :] = 0.0
    pending_exit = _NO_EXIT  # an order decided at a close, for the next open
    pending_side = 0.0
    pending_bar = 0
    pending_equity = 0.0
    pending_share = 1.0  # the share of the position a signal exit closes
    partial = take_modes.shape[0] > 0
    protected = stop_mode != _NONE or take_mode != _NONE or trail_mode != _NONE or partial
    # While flat with nothing pending, a bar without an entry signal changes nothing but the
    # mark, so the loop runs ahead to the next entry signal, unless a position rule decides
    # entries (it must run at every close). Value rules are read at signal bars only.
    has_funding = funding_rate.shape[0] > 0  # empty: no funding
    skip_flat = close_ms.shape[0] == 0  # loss limits read the account at every close
    for k in range(rule_table.shape[0]):
        if rule_table[k, 2] == 0 or rule_table[k, 2] == 2:
            skip_flat = False
    traced = trace.shape[1] > 0
    i = 0
    while i < n:
        if (
            skip_flat
            and state[_SIDE] == 0.0
            and pending_exit == _NO_EXIT
            and pending_side == 0.0
            and state[_ORDER_SIDE] == 0.0  # an order resting may fill on any bar
        ):
            start = i
            while i < n and not (entry_long[i] or entry_short[i]):
                i += 1
            flat_cash = state[_CASH]
            flat_size = state[_SIDE] * state[_SIZE]
            for k in range(start, i):
                equity_out[k] = flat_cash + flat_size * close[k]
                position_out[k] = flat_size
            if i == n:
                break
        # 1. funding
        rate = funding_rate[i] if has_funding else 0.0
        if rate != 0.0 and state[_SIDE] != 0.0:
            payment = state[_SIDE] * state[_SIZE] * open_[i] * rate
            state[_CASH] -= payment
            state[_FUNDING] += payment

        # 2. market orders decided at the previous close
        if pending_exit != _NO_EXIT:
            if pending_share < 1.0:
                part = _part_size(state[_SIZE], pending_share * state[_SIZE], costs)
                if part > 0.0:
                    _close_size(state, trades, i, open_[i], pending_exit, costs, part)
            else:
                _close_position(state, trades, i, open_[i], pending_exit, costs)
        if pending_side != 0.0:
            stopped = _open_position(
                state,
                pending_side,
                i,
                pending_bar,
                open_[i] * (1.0 + pending_side * costs[_SLIPPAGE]),
                costs[_TAKER],
                pending_equity,
                size_mode,
                size_value,
                stop_mode,
                stop_value,
                take_mode,
                take_value,
                trail_mode,
                trail_value,
                costs,
                take_modes,
                take_values,
                takes,
                open_[i] * (1.0 + pending_side * costs[_SLIPPAGE]),
            )
            if traced:
                trace[3, pending_bar] = stopped
        pending_exit = _NO_EXIT
        pending_side = 0.0
        pending_share = 1.0

        # 3. the resting entry order
        inside = False  # entered inside this bar at the order's level
        entered_at = 0.0
        if state[_ORDER_SIDE] != 0.0:
            price, fee_rate, at_level = _resting_fill(
                state, orders, open_[i], high[i], low[i], costs
            )
            if price == price:
                order_bar = int(state[_ORDER_BAR])
                order_side = state[_ORDER_SIDE]
                order_level = state[_ORDER_LEVEL]
                state[_ORDER_SIDE] = 0.0
                stopped = _open_position(
                    state,
                    order_side,
                    i,
                    order_bar,
                    price,
                    fee_rate,
                    state[_ORDER_EQUITY],
                    size_mode,
                    size_value,
                    stop_mode,
                    stop_value,
                    take_mode,
                    take_value,
                    trail_mode,
                    trail_value,
                    costs,
                    take_modes,
                    take_values,
                    takes,
                    order_level,
                )
                inside = at_level and stopped == 0
                entered_at = price
                if traced and stopped != 0:
                    trace[3, order_bar] = stopped

        # 4. protections (with fill_at="close": of a position opened at an earlier close)
        if protected and state[_SIDE] != 0.0:
            held_side = state[_SIDE]
            _check_protections(
                state,
                trades,
                i,
                entered_at if inside else open_[i],
                high[i],
                low[i],
                costs,
                not inside,
            )
            if partial and not inside and state[_SIDE] != 0.0:
                _take_partials(state, trades, i, high[i], low[i], costs, take_shares, takes)
            if state[_SIDE] == 0.0 and state[_ORDER_SIDE] == held_side:
                state[_ORDER_SIDE] = 0.0  # an add waiting for a position now closed

        # 5. signals at the close
        side = state[_SIDE]
        if traced:
            trace[0, i] = i - state[_ENTRY_INDEX] if side != 0.0 else 0.0
            trace[1, i] = state[_ENTRY_PRICE] if side != 0.0 else np.nan
            trace[2, i] = 1.0 if side > 0.0 else (-1.0 if side < 0.0 else 0.0)
        if rule_table.shape[0] > 0:
            apply_rules(i, state, rule_table, rule_code, rule_inputs, registers, flags, values)
        equity = state[_CASH] + side * state[_SIZE] * close[i]
        can_add = side != 0.0 and state[_ENTRIES] < orders[_O_PYRAMIDING]
        exit_reason, open_side = decide(
            side, entry_long[i], exit_long[i], entry_short[i], exit_short[i], can_add
        )
        blocker = 0  # what stopped a true entry, for the trace only
        if traced and entry_long[i] and entry_short[i]:
            blocker = _B_OPPOSITE
        elif traced and (entry_long[i] or entry_short[i]) and open_side == 0.0:
            blocker = _B_HELD
        if i == n - 1 and open_side != 0.0:
            open_side = 0.0
            blocker = _B_LAST_BAR
        breached = False
        if close_ms.shape[0] > 0 and not risk_bars.on_close(
            risk_limits, risk_state, close_ms[i], equity
        ):
            if open_side != 0.0:
                blocker = _B_LOSS_LIMIT + risk_bars.breached_slot(risk_state)
            open_side = 0.0  # a loss limit is breached: no new entry, the exit still runs
            breached = True
        if open_side != 0.0:
            protections = (
                (stop_mode != _NONE and stop_value[i] == stop_value[i])
                + (take_mode != _NONE and take_value[i] == take_value[i])
                + (trail_mode != _NONE and trail_value[i] == trail_value[i])
            )
            for k in range(take_modes.shape[0]):
                protections += take_values[k, i] == take_values[k, i]
            if not risk_bars.entry_orders_allowed(risk_limits, protections):
                open_side = 0.0
                blocker = _B_ORDERS

        order_side = state[_ORDER_SIDE]
        if order_side != 0.0:  # cancelled, or its level re-read for the next bar
            slot = 0 if order_side > 0.0 else 1
            opposite = entry_short[i] and not entry_long[i]
            if order_side < 0.0:
                opposite = entry_long[i] and not entry_short[i]
            level = entry_levels[slot, i]
            if (
                exit_reason != _NO_EXIT
                or breached
                or opposite
                or level != level
                or state[_ORDER_UNTIL] <= i
            ):
                state[_ORDER_SIDE] = 0.0
            else:
                state[_ORDER_LEVEL] = level
        if open_side != 0.0:
            slot = 0 if open_side > 0.0 else 1
            if orders[_O_KIND + slot] != _MARKET:  # rests from this close on, instead
                level = entry_levels[slot, i]
                if level == level:
                    state[_ORDER_SIDE] = open_side
                    state[_ORDER_LEVEL] = level
                    state[_ORDER_UNTIL] = i + orders[_O_BARS + slot]
                    state[_ORDER_BAR] = i
                    state[_ORDER_EQUITY] = equity
                open_side = 0.0
        share = 1.0
        if exit_reason == _SIGNAL:
            share = orders[_O_EXIT_SHARE + (0 if side > 0.0 else 1)]

        if fill_at_close:
            if exit_reason != _NO_EXIT:
                if share < 1.0:
                    part = _part_size(state[_SIZE], share * state[_SIZE], costs)
                    if part > 0.0:
                        _close_size(state, trades, i, close[i], exit_reason, costs, part)
                else:
                    _close_position(state, trades, i, close[i], exit_reason, costs)
            if open_side != 0.0:
                blocker = _open_position(
                    state,
                    open_side,
                    i,
                    i,
                    close[i] * (1.0 + open_side * costs[_SLIPPAGE]),
                    costs[_TAKER],
                    equity,
                    size_mode,
                    size_value,
                    stop_mode,
                    stop_value,
                    take_mode,
                    take_value,
                    trail_mode,
                    trail_value,
                    costs,
                    take_modes,
                    take_values,
                    takes,
                    close[i] * (1.0 + open_side * costs[_SLIPPAGE]),
                )
        elif i < n - 1:
            pending_exit = exit_reason
            pending_side = open_side
            pending_bar = i
            pending_equity = equity
            pending_share = share

        if traced:
            trace[3, i] = blocker
        equity_out[i] = state[_CASH] + state[_SIDE] * state[_SIZE] * close[i]
        position_out[i] = state[_SIDE] * state[_SIZE]
        i += 1

    if n > 0 and state[_SIDE] != 0.0 and close_at_end:
        _close_position(state, trades, n - 1, close[n - 1], _END_OF_DATA, costs)
        equity_out[n - 1] = state[_CASH]
        position_out[n - 1] = 0.0
    return int(state[_TRADE_COUNT])


# ---- the public entry point ----------------------------------------------------------------------

_SIGNAL_NAMES = ("entry_long", "exit_long", "entry_short", "exit_short")


def simulate(
    columns: SignalColumns,
    settings: FillSettings,
    rules: PositionRules | None = None,
    out: tuple[np.ndarray, np.ndarray] | None = None,
    trace: bool = False,
) -> SimResult:
    """Fill a strategy's signals bar by bar (rules in this module's docstring).

    `trace`: also record, at each close, the position state the rules read there and what
    stopped a true entry (`SimResult.trace`, rows TRACE_ROWS, codes in BLOCKERS): how
    `rulebot explain` says why a strategy did not trade.

    `out`: two float64 arrays of one value per bar that the equity and the position are written
    into, and that the result then holds (a search reuses them from trial to trial rather than
    have every trial allocate and fault in fresh pages).

    >>> import numpy as np
    >>> price = np.array([100.0, 101.0, 103.0, 102.0])
    >>> flag = lambda *on: np.isin(np.arange(4), on)
    >>> columns = SignalColumns(
    ...     timestamp=np.arange(4) * 60_000, open=price, high=price + 1, low=price - 1,
    ...     close=price, entry_long=flag(0), exit_long=flag(2), entry_short=flag(),
    ...     exit_short=flag(), size_mode="base", size_value=np.full(4, 2.0),
    ...     stop_mode="none", stop_value=np.zeros(4), take_mode="none", take_value=np.zeros(4),
    ...     trail_mode="none", trail_value=np.zeros(4))
    >>> result = simulate(columns, FillSettings())   # buy 2 at open[1], sell 2 at open[3]
    >>> float(result.trades["pnl"][0]), result.equity.tolist()
    (2.0, [10000.0, 10000.0, 10004.0, 10002.0])
    """
    n = len(columns.close)
    if n == 0:
        raise ValueError("no bars to simulate")
    names = ("open", "high", "low", "close", "size_value", "stop_value", "take_value")
    prices = [_floats(columns, name, n) for name in (*names, "trail_value")]
    # signals and values stacked (and copied) so that position rules can write them in place
    rules = rules if rules is not None else PositionRules.none(n)
    targets = rules.table[:, 2]
    flags = [_flags(columns, name, n) for name in _SIGNAL_NAMES]
    stacked_flags = np.zeros((4, 0), dtype=np.bool_)
    stacked_values = np.zeros((4, 0))
    if (targets < 4).any():
        stacked_flags = np.stack(flags)
        flags = list(stacked_flags)
    if (targets >= 4).any():
        stacked_values = np.stack(prices[4:8])
        prices[4:8] = list(stacked_values)
    if rules.inputs.shape[1:] != (n,):
        raise ValueError(f"position rule inputs have shape {rules.inputs.shape}, expected (k, {n})")
    if columns.funding_rate is None:
        funding = np.zeros(0)  # the loop reads an empty array as no funding
    else:
        funding = _floats(columns, "funding_rate", n)
        if not np.isfinite(funding).all():
            raise ValueError("funding_rate must be finite (0 where no payment happens)")
    costs = np.array(
        [
            settings.taker_fee,
            settings.maker_fee,
            settings.slippage_bps / 10_000.0,
            settings.lot_size,
            settings.min_size,
            settings.max_position,
            float(settings.cooldown_bars),
            settings.max_notional,
            settings.max_equity_share,
        ]
    )
    equity, position = out if out is not None else (np.empty(n), np.empty(n))
    for name, array in (("equity", equity), ("position", position)):
        if array.shape != (n,) or array.dtype != np.float64 or not array.flags.c_contiguous:
            raise ValueError(f"out: the {name} array must be {n} contiguous float64 values")
    orders, levels = _entry_orders(columns, settings, n)
    take_modes, take_shares, take_values = _partial_takes(columns, n)
    entries = np.count_nonzero(flags[0] | flags[2])  # every entry fill has its own signal bar
    if np.isin(rules.table[:, 2], (0, 2)).any():  # entries decided at each close: up to one a bar
        entries = n
    rows = entries * (len(take_modes) + 1) + 1  # each entry fill arms each partial take once
    if orders[_O_EXIT_SHARE] < 1.0 or orders[_O_EXIT_SHARE + 1] < 1.0:
        exits = np.count_nonzero(flags[1] | flags[3])
        rows += n if np.isin(rules.table[:, 2], (1, 3)).any() else exits
    table = np.empty((rows, _TRADE_FIELDS))
    recorded = np.zeros((len(TRACE_ROWS), n if trace else 0))
    recorded[1] = np.nan  # entry_price while flat (bars the loop runs past while flat)
    count = compiled.call(
        _fill_loop,
        n * _PLAIN_SECONDS_PER_BAR,
        _COMPILE_SECONDS,
        prices[0],
        prices[1],
        prices[2],
        prices[3],
        flags[0],
        flags[1],
        flags[2],
        flags[3],
        _mode_code("size_mode", columns.size_mode, SIZE_MODES),
        prices[4],
        _mode_code("stop_mode", columns.stop_mode, PROTECTION_MODES),
        prices[5],
        _mode_code("take_mode", columns.take_mode, PROTECTION_MODES),
        prices[6],
        _mode_code("trail_mode", columns.trail_mode, PROTECTION_MODES),
        prices[7],
        funding,
        settings.fill_at == "close",
        settings.end_of_data == "close",
        costs,
        float(settings.initial_equity),
        np.zeros(_STATE_FIELDS),
        equity,
        position,
        table,
        *registers(rules),
        stacked_flags,
        stacked_values,
        settings.risk.array(float(settings.initial_equity)),
        np.zeros(risk_bars.STATE_FIELDS),
        close_times(columns.timestamp, n) if settings.risk.binding else np.zeros(0),
        recorded,
        orders,
        levels,
        take_modes,
        take_shares,
        take_values,
        np.zeros((2, len(take_modes))),
    )
    trades = _trade_records(table[:count])
    return SimResult(
        equity=equity,
        position=position,
        trades=trades,
        fees_paid=float(trades["fees"].sum()),
        funding_paid=float(trades["funding"].sum()),
        trace=recorded if trace else None,
    )


def close_times(timestamp: np.ndarray, n: int) -> np.ndarray:
    """Each bar's close time: its open time plus the data's bar length (the shortest step)."""
    opens = np.asarray(timestamp, dtype=np.int64)
    steps = np.diff(opens)
    step = int(steps[steps > 0].min()) if (steps > 0).any() else 0
    return (opens + step).astype(np.float64)


# The fill model's names, wherever they are defined; the live runtime also sizes and protects its
# entries with the loop's own steps (`_entry_size`, `_protection_level`, `_LEVEL`, ...).
__all__ = [
    "BLOCKERS",
    "ENTRY_KINDS",
    "EXIT_REASONS",
    "NUMBA_AVAILABLE",
    "PARTIAL_MODES",
    "PROTECTION_MODES",
    "SIZE_MODES",
    "TRACE_ROWS",
    "TRADE_DTYPE",
    "_LEVEL",
    "_NONE",
    "_PERCENT",
    "EndOfData",
    "EntryKind",
    "ExitReason",
    "FillAt",
    "FillSettings",
    "LimitFill",
    "PartialMode",
    "PositionRules",
    "ProtectionMode",
    "SignalColumns",
    "SimResult",
    "SizeMode",
    "_entry_size",
    "_protection_level",
    "close_times",
    "decide",
    "simulate",
]

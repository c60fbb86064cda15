"""The fill loop's inputs and outputs: its settings, the signal columns it reads, the trades and
curves it gives, and the checks that turn columns into the plain arrays the loop runs on.

The rules they follow are the fill model, in fills.py's docstring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from rulebot.backtesting.fill_steps import (
    _O_BARS,
    _O_EXIT_SHARE,
    _O_KIND,
    _O_POST_ONLY,
    _O_PYRAMIDING,
    _O_TOUCH,
    _ORDER_FIELDS,
    _PERCENT,
    _T_REASON,
    _T_TRIP,
)
from rulebot.data.shipped import STARTING_EQUITY
from rulebot.risk.bars import LossLimits

FillAt = Literal["next_open", "close"]
SizeMode = Literal["equity", "base", "quote", "risk_equity", "risk_quote", "cash"]
EndOfData = Literal["close", "keep"]
ProtectionMode = Literal["none", "percent", "distance", "level"]
EntryKind = Literal["market", "limit", "stop"]
PartialMode = Literal["percent", "distance"]
LimitFill = Literal["cross", "touch"]
ExitReason = Literal[
    "signal", "reverse", "stop_loss", "take_profit", "trailing_stop", "end_of_data"
]

SIZE_MODES: tuple[SizeMode, ...] = ("equity", "base", "quote", "risk_equity", "risk_quote", "cash")
PROTECTION_MODES: tuple[ProtectionMode, ...] = ("none", "percent", "distance", "level")
ENTRY_KINDS: tuple[EntryKind, ...] = ("market", "limit", "stop")
PARTIAL_MODES: tuple[PartialMode, ...] = ("percent", "distance")
EXIT_REASONS: tuple[ExitReason, ...] = (
    "signal",
    "reverse",
    "stop_loss",
    "take_profit",
    "trailing_stop",
    "end_of_data",
)

BLOCKERS = (
    "none",
    "opposite_entries",
    "in_position",
    "last_bar",
    "account_daily_loss",
    "account_drawdown",
    "daily_loss",
    "drawdown",
    "max_open_orders",
    "cooldown",
    "no_size",
)
"""What stopped a true entry at a close, by the code the loop records (`simulate(trace=True)`):
both entries true, the side already held, the last bar, a breached loss limit (the account's
or the rule's), `max_open_orders`, the cooldown after a loss, or a size that came to nothing."""

TRADE_DTYPE = np.dtype(
    [
        ("entry_index", np.int64),
        ("exit_index", np.int64),
        ("side", np.int8),
        ("size", np.float64),
        ("entry_price", np.float64),
        ("exit_price", np.float64),
        ("pnl", np.float64),
        ("fees", np.float64),
        ("funding", np.float64),
        ("stop_price", np.float64),
        ("take_price", np.float64),
        ("exit_reason", "U13"),
        ("trip", np.int64),
    ]
)
"""One row per closing fill, in exit order; `stop_price` and `take_price` are the stop loss and
take-profit in force (NaN: none; a partial take-profit's row holds the level it filled at);
`trip` numbers the round trips (flat to flat) from 0, so the rows of one round trip share it."""


@dataclass(frozen=True)
class FillSettings:
    """How orders fill: timing, costs, rounding and the account the backtest starts with."""

    fill_at: FillAt = "next_open"
    taker_fee: float = 0.0
    """Fraction of notional on market-type fills (entries, exits, stop losses, trailing stops)."""
    maker_fee: float = 0.0
    """Fraction of notional on take-profit fills (resting limit orders); negative is a rebate."""
    slippage_bps: float = 0.0
    """Basis points against the trader on market-type fills only."""
    lot_size: float = 0.0
    """Base-unit step; sizes round down to it (0 = no rounding)."""
    min_size: float = 0.0
    """Orders smaller than this (base units) are skipped."""
    initial_equity: float = float(STARTING_EQUITY)
    """The account at the start, in the quote currency (the sim's default account holds the
    same)."""
    periods_per_year: float | None = None
    """Bars a year for annualised metrics (None: from the data's own calendar); the fills do not
    read it."""
    cooldown_bars: int = 0
    """Bars to wait after a losing trade before a new entry."""
    max_position: float = math.inf
    max_notional: float = math.inf
    """Cap on an entry's notional (quote) at its fill price."""
    max_equity_share: float = math.inf
    """Cap on an entry's notional as a fraction of equity at the signal close."""
    """Cap on position size, base units."""
    risk: LossLimits = field(default_factory=LossLimits)
    """The loss limits and order count that stop entries, as live risk applies them."""
    limit_fill: LimitFill = "cross"
    """A resting limit entry fills when the price trades through its level (`cross`: a buy
    when `low < level`) or already when it touches it (`touch`: `low <= level`)."""
    end_of_data: EndOfData = "close"
    """A position still open after the last bar: closed at the last close (`close`), or kept
    open and marked there (`keep`, as backtesting.py leaves it unless told to finalize)."""

    def __post_init__(self) -> None:
        if self.fill_at not in ("next_open", "close"):
            raise ValueError(f"fill_at must be 'next_open' or 'close', not {self.fill_at!r}")
        if self.limit_fill not in ("cross", "touch"):
            raise ValueError(f"limit_fill must be 'cross' or 'touch', not {self.limit_fill!r}")
        if self.end_of_data not in ("close", "keep"):
            raise ValueError(f"end_of_data must be 'close' or 'keep', not {self.end_of_data!r}")
        for name in ("slippage_bps", "lot_size", "min_size", "cooldown_bars"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be 0 or more, not {getattr(self, name)!r}")
        if self.periods_per_year is not None and not self.periods_per_year > 0:
            raise ValueError(f"periods_per_year must be positive, not {self.periods_per_year!r}")
        if not self.max_position > 0:
            raise ValueError(f"max_position must be positive, not {self.max_position!r}")


@dataclass(frozen=True)
class SignalColumns:
    """Per-bar inputs for one market and one strategy; every array has the same length."""

    timestamp: np.ndarray
    """Bar open time, int64 unix milliseconds."""
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    entry_long: np.ndarray
    """Bool; already False during warm-up (so are the other three signals)."""
    exit_long: np.ndarray
    entry_short: np.ndarray
    exit_short: np.ndarray
    size_mode: SizeMode
    size_value: np.ndarray
    """Value at each bar; `equity` and `risk_equity` values are fractions of equity."""
    stop_mode: ProtectionMode
    stop_value: np.ndarray
    take_mode: ProtectionMode
    take_value: np.ndarray
    trail_mode: ProtectionMode
    trail_value: np.ndarray
    funding_rate: np.ndarray | None = None
    """The rate at bars where a funding payment happens, 0 elsewhere (None: no funding)."""
    warmup_bars: int = 0
    """Bars before the strategy can trade; metrics start at this bar."""
    entry_long_kind: EntryKind = "market"
    """How a long entry goes: at market, or as a resting `limit` or `stop` order at
    `entry_long_level` (re-read at each close while it lives)."""
    entry_short_kind: EntryKind = "market"
    entry_long_level: np.ndarray | None = None
    """The resting long entry's level at each bar (needed when `entry_long_kind` is not
    `market`); NaN: no order (and one resting is cancelled)."""
    entry_short_level: np.ndarray | None = None
    entry_long_bars: int = 1
    """A resting long entry's lifetime in bars (1: until the next close)."""
    entry_short_bars: int = 1
    post_only_long: bool = False
    """A resting long limit that would cross on arrival is refused instead of taking."""
    post_only_short: bool = False
    pyramiding: int = 1
    """How many entries may stack in one direction."""
    exit_long_share: float = 1.0
    """The share of a long an exit signal closes, in (0, 1]."""
    exit_short_share: float = 1.0
    take_modes: tuple[PartialMode, ...] = ()
    """Partial take-profits, one per level in the order written (a rule with these has
    `take_mode` `none`): each one's mode, ..."""
    take_values: np.ndarray | None = None
    """... its value at each bar (shape (levels, bars)) ..."""
    take_shares: tuple[float, ...] = ()
    """... and the share of the full size it takes, in (0, 1], summing to 1 at most."""

    def __len__(self) -> int:
        return len(self.close)


@dataclass(frozen=True)
class SimResult:
    """What a simulation produced."""

    equity: np.ndarray
    """Cash plus the position marked at each bar's close (after the bar's fills)."""
    position: np.ndarray
    """Signed base units held after each bar."""
    trades: np.ndarray
    """One row per closing fill, a structured array of `TRADE_DTYPE`."""
    fees_paid: float
    funding_paid: float
    """Net funding paid (negative when received)."""
    trace: np.ndarray | None = None
    """With `simulate(trace=True)`: rows TRACE_ROWS, one column per bar."""


def _mode_code(name: str, value: str, modes: tuple[str, ...]) -> int:
    if value not in modes:
        raise ValueError(f"{name} must be one of {', '.join(modes)}; got {value!r}")
    return modes.index(value)


def _floats(columns: SignalColumns, name: str, n: int) -> np.ndarray:
    array = np.ascontiguousarray(getattr(columns, name), dtype=np.float64)
    if array.shape != (n,):
        raise ValueError(f"{name} has shape {array.shape}, expected ({n},)")
    return array


def _flags(columns: SignalColumns, name: str, n: int) -> np.ndarray:
    array = np.ascontiguousarray(getattr(columns, name), dtype=np.bool_)
    if array.shape != (n,):
        raise ValueError(f"{name} has shape {array.shape}, expected ({n},)")
    return array


def _entry_orders(
    columns: SignalColumns, settings: FillSettings, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """The loop's `orders` array (how each side enters, `_O_*`) and the resting orders' levels
    (rows long, short; no columns when both sides enter at market)."""
    orders = np.zeros(_ORDER_FIELDS)
    resting = False
    for slot, side in enumerate(("long", "short")):
        kind = getattr(columns, f"entry_{side}_kind")
        orders[_O_KIND + slot] = _mode_code(f"entry_{side}_kind", kind, ENTRY_KINDS)
        bars = getattr(columns, f"entry_{side}_bars")
        if int(bars) != bars or bars < 1:
            raise ValueError(f"entry_{side}_bars must be a whole number of bars >= 1, not {bars!r}")
        orders[_O_BARS + slot] = bars
        post_only = bool(getattr(columns, f"post_only_{side}"))
        if post_only and kind == "stop":
            raise ValueError(f"a {side} stop entry cannot be post_only: it takes when it fires")
        orders[_O_POST_ONLY + slot] = post_only
        share = getattr(columns, f"exit_{side}_share")
        if not 0.0 < share <= 1.0:
            raise ValueError(f"exit_{side}_share must be in (0, 1], not {share!r}")
        orders[_O_EXIT_SHARE + slot] = share
        resting = resting or kind != "market"
    if int(columns.pyramiding) != columns.pyramiding or columns.pyramiding < 1:
        raise ValueError(f"pyramiding must be a whole number >= 1, not {columns.pyramiding!r}")
    orders[_O_PYRAMIDING] = columns.pyramiding
    orders[_O_TOUCH] = settings.limit_fill == "touch"
    if not resting:
        return orders, np.zeros((2, 0))
    levels = np.full((2, n), np.nan)
    for slot, side in enumerate(("long", "short")):
        if getattr(columns, f"entry_{side}_kind") != "market":
            if getattr(columns, f"entry_{side}_level") is None:
                raise ValueError(f"a {side} limit or stop entry needs entry_{side}_level")
            levels[slot] = _floats(columns, f"entry_{side}_level", n)
    return orders, levels


def _partial_takes(columns: SignalColumns, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The partial take-profits as the loop reads them: modes, shares, values (levels x bars)."""
    count = len(columns.take_modes)
    if count == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros((0, n))
    if columns.take_mode != "none":
        raise ValueError("a take_profit with partial ones: give each take-profit a share")
    shares = np.array(columns.take_shares, dtype=np.float64)
    if shares.shape != (count,) or not ((shares > 0) & (shares <= 1)).all():
        raise ValueError(f"take_shares must be {count} shares in (0, 1], not {columns.take_shares}")
    if shares.sum() > 1.0 + 1e-9:
        raise ValueError(f"take_shares sum to {shares.sum():.6g}, past 100%")
    modes = np.array(
        [_mode_code("take_modes", m, PARTIAL_MODES) + _PERCENT for m in columns.take_modes],
        dtype=np.int64,
    )
    values = np.ascontiguousarray(columns.take_values, dtype=np.float64)
    if values.shape != (count, n):
        raise ValueError(f"take_values has shape {values.shape}, expected ({count}, {n})")
    return modes, shares, values


def _trade_records(table: np.ndarray) -> np.ndarray:
    """The loop's trade table as `TRADE_DTYPE` rows (its columns are the dtype's, in order)."""
    trades = np.empty(len(table), dtype=TRADE_DTYPE)
    for column, name in enumerate(TRADE_DTYPE.names[:_T_REASON]):
        trades[name] = table[:, column]
    trades["exit_reason"] = np.array(EXIT_REASONS)[table[:, _T_REASON].astype(np.int64)]
    trades["trip"] = table[:, _T_TRIP]
    return trades

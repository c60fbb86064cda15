"""Scaling in and out live: how much a partial exit closes and how big each take-profit is.

The backtest's rules (spec of `rulebot.backtesting.fills`), worked in the venue's exact sizes:
a share is rounded down to the lot; a part that would leave less than a lot, or less than the
market's minimum, closes everything; a part that rounds to nothing is skipped. Take-profit `k`
closes `share_k * full_size`, where `full_size` is the position after its last entry fill; the
last one, when the shares add up to 100%, closes whatever is left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

SHARES_WHOLE = 1.0 - 1e-9
"""Shares adding up to this or more take the whole position (100% written as 50% + 50%)."""


@dataclass(frozen=True, slots=True)
class TakeOrder:
    """One take-profit the venue should hold: its place in the rule (`slot`, the order written),
    its trigger price and its size (base units)."""

    slot: int
    trigger: Decimal
    size: Decimal


def round_to_lot(size: Decimal, lot: Decimal) -> Decimal:
    """`size` rounded down to a whole number of lots (as is, with no lot)."""
    if lot <= 0:
        return size
    return (size / lot).to_integral_value(ROUND_DOWN) * lot


def share_of(held: Decimal, share: float, lot: Decimal, min_size: Decimal) -> Decimal:
    """What closing `share` of a position of `held` (unsigned) closes: rounded down to the lot,
    all of it when the rest would be under a lot or the minimum; 0 when it rounds to nothing."""
    if share >= SHARES_WHOLE:
        return held
    part = min(round_to_lot(held * Decimal(repr(share)), lot), held)
    return _whole_if_dust(part, held, lot, min_size)


def take_sizes(
    held: Decimal,
    full_size: Decimal,
    shares: Sequence[float],
    armed: Sequence[bool],
    levels: Sequence[float],
    side: float,
    lot: Decimal,
    min_size: Decimal,
) -> dict[int, Decimal]:
    """Slot -> size of each armed take-profit, for a position of `held` (unsigned) whose last
    entry fill left it at `full_size`. Sized nearest level first (that fires first), each capped
    by what the nearer ones leave; the farthest takes all that is left when the shares add up
    to 100%; one that rounds to nothing is left out."""
    whole = sum(shares) >= SHARES_WHOLE
    order = sorted((k for k in range(len(shares)) if armed[k]), key=lambda k: side * levels[k])
    left = held
    sizes: dict[int, Decimal] = {}
    for k in order:
        if left <= 0:
            break
        if whole and k == order[-1]:
            part = left
        else:
            part = min(round_to_lot(full_size * Decimal(repr(shares[k])), lot), left)
        part = _whole_if_dust(part, left, lot, min_size)
        if part <= 0:
            continue
        sizes[k] = part
        left -= part
    return sizes


def _whole_if_dust(part: Decimal, held: Decimal, lot: Decimal, min_size: Decimal) -> Decimal:
    if part <= 0:
        return Decimal(0)
    rest = held - part
    if rest > 0 and (rest < lot or rest < min_size):
        return held
    return part


__all__ = ["SHARES_WHOLE", "TakeOrder", "round_to_lot", "share_of", "take_sizes"]

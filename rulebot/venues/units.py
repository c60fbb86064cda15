"""A market's units: human Decimal sizes and prices to and from the venue's integers, exactly.

Lighter sends sizes and prices as integers scaled by each market's `size_decimals` and
`price_decimals`. Converting to them rounds toward safety, never to nearest:

- sizes round down (never trade more than asked);
- a buy's limit price rounds down and a sell's up (never a worse price than asked), and the same
  holds for a market order's worst acceptable price;
- trigger prices round like the order's own price — a sell's up, a buy's down. For a stop-loss
  that means it fires no later than asked (a sell stop closing a long fires at or above the
  asked trigger, a buy stop closing a short at or below it); for a take-profit it means it
  fires at a price no worse than asked.

Amounts are capped where the venue caps them: a size at 2^48 - 1 size units, a price at
2^32 - 1 price units (the venue allows 2^48 - 1, the signer's price field holds 32 bits); a
larger one is refused with the largest allowed, before anything is signed.

Money is never a float here: a float input is read through `Decimal(str(x))` (its shortest repr,
which is what the user typed), and NaN, infinities, negatives and zero are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Final, Literal

from rulebot.venues.lighter.errors import OrderRejected

Side = Literal["buy", "sell"]
Amount = Decimal | int | float | str

MAX_AMOUNT_UNITS: Final = 2**48 - 1
"""The largest base or price amount, in units, that the venue accepts."""
MAX_SIZE_UNITS: Final = MAX_AMOUNT_UNITS
MAX_PRICE_UNITS: Final = min(2**32 - 1, MAX_AMOUNT_UNITS)  # the signer packs prices as uint32


def to_decimal(value: Amount, what: str = "amount") -> Decimal:
    """`value` as a finite Decimal; floats go through `str` so 0.1 stays 0.1."""
    if isinstance(value, bool):
        raise OrderRejected(f"{what} must be a number, not {value!r}")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(str(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise OrderRejected(f"{what} {value!r} is not a number") from None
    else:
        raise OrderRejected(f"{what} must be a number, not {type(value).__name__}")
    if not number.is_finite():
        raise OrderRejected(f"{what} must be a finite number, not {number}")
    return number


def _plain(number: Decimal) -> str:
    """A Decimal as a trader writes it: no exponent, no trailing zeros."""
    text = f"{number:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True, slots=True)
class MarketInfo:
    """One market as its order book details describe it.

    `min_base_amount` is in base units (e.g. ETH), `min_quote_amount` in quote (USDC), and the
    fees are fractions of notional (0.00028 is 0.028%).
    """

    market_id: int
    symbol: str
    size_decimals: int
    price_decimals: int
    min_base_amount: Decimal
    min_quote_amount: Decimal
    taker_fee: Decimal = Decimal(0)
    maker_fee: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if self.size_decimals < 0 or self.price_decimals < 0:
            raise ValueError(f"{self.symbol}: decimals must be 0 or more")

    @property
    def size_step(self) -> Decimal:
        """The smallest size the market trades: one size unit."""
        return Decimal(1).scaleb(-self.size_decimals)

    @property
    def price_step(self) -> Decimal:
        """The smallest price increment: one price unit."""
        return Decimal(1).scaleb(-self.price_decimals)

    # --- human -> venue ---------------------------------------------------------------------

    def size_units(self, size: Amount) -> int:
        """`size` (base) as size units, rounded down; refuses what rounds to nothing."""
        number = self._positive(size, "size")
        units = int(number.scaleb(self.size_decimals).to_integral_value(ROUND_FLOOR))
        if units == 0:
            raise OrderRejected(
                f"size {_plain(number)} is below the smallest step {_plain(self.size_step)}",
                market=self.symbol,
            )
        if units > MAX_SIZE_UNITS:
            raise OrderRejected(
                f"size {_plain(number)} is above the largest the venue accepts "
                f"({_plain(self.size_value(MAX_SIZE_UNITS))}: 2^48 - 1 size units)",
                market=self.symbol,
            )
        return units

    def price_units(self, price: Amount, side: Side, what: str = "price") -> int:
        """A limit (or worst acceptable) price as price units: a buy's rounded down, a sell's up."""
        number = self._positive(price, what)
        rounding = ROUND_FLOOR if side == "buy" else ROUND_CEILING
        units = int(number.scaleb(self.price_decimals).to_integral_value(rounding))
        if units == 0:
            raise OrderRejected(
                f"{what} {_plain(number)} is below the smallest step {_plain(self.price_step)}",
                market=self.symbol,
            )
        if units > MAX_PRICE_UNITS:
            raise OrderRejected(
                f"{what} {_plain(number)} is above the largest the venue accepts "
                f"({_plain(self.price_value(MAX_PRICE_UNITS))}: 2^32 - 1 price units)",
                market=self.symbol,
            )
        return units

    def trigger_units(self, trigger: Amount, side: Side) -> int:
        """A stop-loss or take-profit trigger as price units, rounded as the order's own price
        (sell up, buy down): a stop fires no later, and a target no worse, than asked."""
        return self.price_units(trigger, side, what="trigger price")

    def entry_level(self, level: Amount, side: Side, kind: Literal["limit", "stop"]) -> Decimal:
        """A resting entry's level on the market's price grid, rounded toward safety: a limit
        as its own price (a buy down, a sell up: never a worse price than asked), a stop the
        other way (a buy stop up, a sell stop down: it fires no earlier than asked, never at a
        level the rule did not reach)."""
        number = self._positive(level, "entry level")
        rounding = ROUND_FLOOR if (side == "buy") == (kind == "limit") else ROUND_CEILING
        units = int(number.scaleb(self.price_decimals).to_integral_value(rounding))
        if not 0 < units <= MAX_PRICE_UNITS:
            raise OrderRejected(
                f"entry level {_plain(number)} is outside the prices the venue accepts "
                f"({_plain(self.price_step)} .. {_plain(self.price_value(MAX_PRICE_UNITS))})",
                market=self.symbol,
            )
        return self.price_value(units)

    def worst_price_units(self, best: Decimal, side: Side, slippage: Decimal) -> int:
        """The worst acceptable price for an order that takes `best`: moved `slippage` (a
        fraction) against the order, as price units rounded for its side."""
        worst = best * (1 + slippage) if side == "buy" else best * (1 - slippage)
        return self.price_units(worst, side)

    # --- venue -> human ---------------------------------------------------------------------

    def size_value(self, units: int) -> Decimal:
        """Size units as a base amount, exactly."""
        return Decimal(units).scaleb(-self.size_decimals)

    def price_value(self, units: int) -> Decimal:
        """Price units as a quote price, exactly."""
        return Decimal(units).scaleb(-self.price_decimals)

    # --- minimums ---------------------------------------------------------------------------

    def smallest_size(self, price: Amount) -> Decimal:
        """The smallest size an order at `price` may have: the market's minimum size or the
        size its minimum notional needs, whichever is more, rounded up to a whole size step."""
        by_notional = self.min_quote_amount / self._positive(price, "price")
        steps = (by_notional / self.size_step).to_integral_value(rounding=ROUND_CEILING)
        return max(self.min_base_amount, self.size_value(int(steps)))

    def check_minimums(self, size_units: int, price_units: int) -> None:
        """Refuse an order smaller than the market's minimum size or minimum notional."""
        size = self.size_value(size_units)
        if size < self.min_base_amount:
            raise OrderRejected(
                f"size {_plain(size)} is below the market's minimum {_plain(self.min_base_amount)}",
                market=self.symbol,
            )
        notional = size * self.price_value(price_units)
        if notional < self.min_quote_amount:
            raise OrderRejected(
                f"notional {_plain(notional)} USDC ({_plain(size)} at "
                f"{_plain(self.price_value(price_units))}) is below the market's minimum "
                f"{_plain(self.min_quote_amount)} USDC",
                market=self.symbol,
            )

    def _positive(self, value: Amount, what: str) -> Decimal:
        try:
            number = to_decimal(value, what)
        except OrderRejected as error:
            raise OrderRejected(error.message, market=self.symbol) from None
        if number <= 0:
            raise OrderRejected(f"{what} must be more than 0, not {value}", market=self.symbol)
        return number

"""Human amounts to Lighter's integers and back: exact, and rounded toward safety."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rulebot.venues.lighter.errors import OrderRejected
from rulebot.venues.units import MAX_PRICE_UNITS, MAX_SIZE_UNITS, MarketInfo, to_decimal

ETH = MarketInfo(
    market_id=0,
    symbol="ETH",
    size_decimals=4,
    price_decimals=2,
    min_base_amount=Decimal("0.0050"),
    min_quote_amount=Decimal("10"),
)

decimals = st.integers(min_value=0, max_value=8)
amounts = st.decimals(
    min_value=Decimal("0.00000001"),
    max_value=Decimal("100000"),
    allow_nan=False,
    allow_infinity=False,
    places=10,
)


def market(size_decimals: int = 4, price_decimals: int = 2) -> MarketInfo:
    return MarketInfo(0, "ETH", size_decimals, price_decimals, Decimal(0), Decimal(0))


def test_the_documented_example_converts_exactly() -> None:
    assert ETH.size_units(Decimal("0.0500")) == 500
    assert ETH.price_units(Decimal("3512.37"), "buy") == 351237
    assert ETH.size_value(500) == Decimal("0.05")
    assert ETH.price_value(351237) == Decimal("3512.37")


def test_sizes_round_down_and_prices_round_against_the_trader_never() -> None:
    assert ETH.size_units("0.05009") == 500
    assert ETH.price_units("3512.379", "buy") == 351237
    assert ETH.price_units("3512.371", "sell") == 351238
    assert ETH.trigger_units("3000.001", "sell") == 300001
    assert ETH.trigger_units("3000.009", "buy") == 300000


def test_the_worst_price_moves_against_the_order_then_rounds_for_its_side() -> None:
    slippage = Decimal("0.001")
    assert ETH.worst_price_units(Decimal("3000.05"), "buy", slippage) == 300305  # 3003.05005
    assert ETH.worst_price_units(Decimal("3000.05"), "sell", slippage) == 299705  # 2997.04995
    assert ETH.worst_price_units(Decimal("3000.05"), "buy", Decimal(0)) == 300005


def test_floats_are_read_as_the_user_wrote_them() -> None:
    assert to_decimal(0.1) == Decimal("0.1")
    assert ETH.size_units(0.3) == 3000  # 0.3 as a binary float is 0.29999...; not here
    assert ETH.price_units(1.15, "sell") == 115


@pytest.mark.parametrize(
    "bad", [Decimal("NaN"), float("nan"), float("inf"), Decimal("-Infinity"), "abc", True, None]
)
def test_non_numbers_are_refused(bad: object) -> None:
    with pytest.raises(OrderRejected):
        ETH.size_units(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [Decimal("-1"), 0, "-0.5"])
def test_zero_and_negative_are_refused(bad: object) -> None:
    with pytest.raises(OrderRejected, match="must be more than 0"):
        ETH.price_units(bad, "buy")  # type: ignore[arg-type]


def test_a_size_that_rounds_to_nothing_says_the_step() -> None:
    with pytest.raises(OrderRejected, match=r"ETH: size 0.00001 is below the smallest step 0.0001"):
        ETH.size_units("0.00001")


def test_a_price_beyond_the_signer_range_is_refused() -> None:
    too_high = ETH.price_value(MAX_PRICE_UNITS) + 1
    with pytest.raises(OrderRejected, match="largest the venue accepts"):
        ETH.price_units(too_high, "buy")


def test_a_size_beyond_the_venues_amount_cap_is_refused_with_the_largest_allowed() -> None:
    assert ETH.size_units(Decimal("28147497671.0655")) == 2**48 - 1  # the cap itself passes
    for size in (Decimal("28147497671.0656"), Decimal("1e12")):
        with pytest.raises(OrderRejected) as caught:
            ETH.size_units(size)
        assert str(caught.value) == (
            f"ETH: size {size:f} is above the largest the venue accepts "
            "(28147497671.0655: 2^48 - 1 size units)"
        )
        assert caught.value.market == "ETH"


def test_the_caps_are_the_venues_and_the_signers() -> None:
    assert MAX_SIZE_UNITS == 2**48 - 1
    assert MAX_PRICE_UNITS == 2**32 - 1 <= 2**48 - 1
    with pytest.raises(OrderRejected, match=r"\(42949672.95: 2\^32 - 1 price units\)"):
        ETH.price_units("42949672.96", "sell")


def test_minimum_size_names_market_value_and_minimum() -> None:
    with pytest.raises(OrderRejected) as caught:
        ETH.check_minimums(ETH.size_units("0.004"), ETH.price_units("3500", "buy"))
    assert str(caught.value) == "ETH: size 0.004 is below the market's minimum 0.005"
    assert caught.value.market == "ETH"
    assert caught.value.code is None


def test_minimum_notional_names_market_value_and_minimum() -> None:
    with pytest.raises(OrderRejected) as caught:
        ETH.check_minimums(ETH.size_units("0.005"), ETH.price_units("1000", "buy"))
    assert str(caught.value) == (
        "ETH: notional 5 USDC (0.005 at 1000) is below the market's minimum 10 USDC"
    )


def test_an_order_at_the_minimums_passes() -> None:
    ETH.check_minimums(ETH.size_units("0.005"), ETH.price_units("2000", "buy"))


def test_the_smallest_size_is_the_minimum_size_or_what_the_minimum_notional_needs() -> None:
    assert ETH.smallest_size("3000") == Decimal("0.005")  # 15 USDC: the size minimum binds
    assert ETH.smallest_size("1000") == Decimal("0.01")  # 10 USDC exactly
    assert ETH.smallest_size("999.99") == Decimal("0.0101")  # 0.01 is 9.9999: one step more


@given(price=amounts)
def test_the_smallest_size_passes_the_minimums_and_one_step_less_does_not(price: Decimal) -> None:
    size = ETH.smallest_size(price)
    units = ETH.price_units(price, "sell")  # rounded up: the price the check will read
    ETH.check_minimums(ETH.size_units(size), units)
    if size > ETH.min_base_amount and ETH.price_value(units) == price:
        with pytest.raises(OrderRejected):
            ETH.check_minimums(ETH.size_units(size) - 1, units)


@given(amount=amounts, places=decimals)
def test_size_rounds_down_by_less_than_one_step(amount: Decimal, places: int) -> None:
    info = market(size_decimals=places)
    if amount < info.size_step:
        with pytest.raises(OrderRejected):
            info.size_units(amount)
        return
    value = info.size_value(info.size_units(amount))
    assert value <= amount
    assert amount - value < info.size_step


@given(amount=amounts, places=decimals)
def test_buy_prices_round_down_and_sell_prices_up(amount: Decimal, places: int) -> None:
    info = market(price_decimals=places)
    if amount * 10**places > MAX_PRICE_UNITS:
        return
    sell = info.price_value(info.price_units(amount, "sell"))
    assert amount <= sell < amount + info.price_step
    if amount < info.price_step:
        with pytest.raises(OrderRejected):
            info.price_units(amount, "buy")
        return
    buy = info.price_value(info.price_units(amount, "buy"))
    assert amount - info.price_step < buy <= amount


@given(amount=amounts, places=decimals)
def test_triggers_round_like_their_orders_price(amount: Decimal, places: int) -> None:
    info = market(price_decimals=places)
    if amount * 10**places > MAX_PRICE_UNITS or amount < info.price_step:
        return
    for side in ("buy", "sell"):
        assert info.trigger_units(amount, side) == info.price_units(amount, side)


@given(units=st.integers(min_value=1, max_value=MAX_PRICE_UNITS), places=decimals)
def test_venue_integers_survive_the_round_trip(units: int, places: int) -> None:
    info = market(size_decimals=places, price_decimals=places)
    assert info.size_units(info.size_value(units)) == units
    assert info.price_units(info.price_value(units), "buy") == units
    assert info.price_units(info.price_value(units), "sell") == units


@pytest.mark.parametrize(
    ("side", "kind", "level", "placed"),
    [
        ("buy", "limit", "3512.378", "3512.37"),  # a buy limit rounds down: never pays more
        ("sell", "limit", "3512.371", "3512.38"),  # a sell limit up: never sells for less
        ("buy", "stop", "3512.371", "3512.38"),  # a buy stop up: never fires before the level
        ("sell", "stop", "3512.378", "3512.37"),  # a sell stop down
        ("buy", "stop", "3512.37", "3512.37"),  # on the grid already: as asked
    ],
)
def test_a_resting_entry_level_rounds_toward_safety(
    side: str, kind: str, level: str, placed: str
) -> None:
    assert ETH.entry_level(Decimal(level), side, kind) == Decimal(placed)  # type: ignore[arg-type]
    assert ETH.entry_level(float(level), side, kind) == Decimal(placed)  # type: ignore[arg-type]


def test_a_resting_entry_level_off_the_venues_prices_is_refused() -> None:
    with pytest.raises(OrderRejected, match=r"entry level 0\.001 is outside"):
        ETH.entry_level(Decimal("0.001"), "sell", "stop")
    with pytest.raises(OrderRejected, match="must be a finite number"):
        ETH.entry_level(float("nan"), "buy", "limit")

"""Who keeps what when the venue holds otherwise than the journal: the pure attribution and order
comparison of `rulebot.runtime.reconcile`."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from rulebot.runtime.messages import OrderRecord
from rulebot.runtime.reconcile import attribute, compare_orders
from rulebot.venues.lighter.records import Order

D = Decimal


def test_the_venue_holding_what_the_strategies_hold_changes_nothing() -> None:
    assert attribute(D("1.5"), {"a": D(2), "b": D("-0.5")}) == ({"a": D(2), "b": D("-0.5")}, 0)
    assert attribute(D(0), {"a": D(1), "b": D(-1)}) == ({"a": D(1), "b": D(-1)}, 0)


def test_a_flat_venue_leaves_no_strategy_holding_anything() -> None:
    assert attribute(D(0), {"a": D(2), "b": D("-0.5")}) == ({"a": D(0), "b": D(0)}, 0)


def test_the_other_side_at_the_venue_is_unmanaged_and_no_strategy_holds() -> None:
    assert attribute(D(-1), {"a": D(2)}) == ({"a": D(0)}, D(-1))


def test_more_at_the_venue_is_unmanaged_and_given_to_no_strategy() -> None:
    assert attribute(D(3), {"a": D(2)}) == ({"a": D(2)}, D(1))
    assert attribute(D("0.3"), {}) == ({}, D("0.3"))
    assert attribute(D(2), {"a": D(2), "b": D(-1)}) == ({"a": D(2), "b": D(-1)}, D(1))


def test_less_at_the_venue_cuts_the_largest_strategy_on_that_side_first() -> None:
    fitted, unmanaged = attribute(D(3), {"a": D(2), "b": D(3), "c": D(-1)})
    assert fitted == {"a": D(2), "b": D(2), "c": D(-1)} and unmanaged == 0
    fitted, _ = attribute(D("-0.5"), {"a": D(-2), "b": D(-2)})
    assert fitted == {"a": D(0), "b": D("-0.5")}  # ties: the first by name is cut first


sizes = st.decimals(min_value=-5, max_value=5, places=2)


@given(st.dictionaries(st.sampled_from("abcd"), sizes, max_size=4), sizes)
def test_the_strategies_and_the_unmanaged_part_always_add_up_to_the_venue(
    held: dict[str, Decimal], venue: Decimal
) -> None:
    fitted, unmanaged = attribute(venue, held)
    assert sum(fitted.values(), D(0)) + unmanaged == venue
    for name, size in fitted.items():  # a strategy is only ever cut toward flat
        assert abs(size) <= abs(held[name]) and size * held[name] >= 0


def record(index: int, state: str = "open", kind: str = "stop_loss") -> OrderRecord:
    return OrderRecord(
        index, "s", "ETH", "sell", kind, D(1), None, D(90), True, state, 0, 0,  # type: ignore[arg-type]
    )  # fmt: skip


def order(index: int) -> Order:
    return Order(
        100 + index, index, "ETH", "sell", "stop_loss", "gtt", True, D(89), D(90), D(1), D(1),
        D(0), D(0), "open", 0, 0,
    )  # fmt: skip


def test_orders_are_compared_both_ways() -> None:
    journal = {1: record(1), 2: record(2), 3: record(3, state="canceled")}
    check = compare_orders([journal[1], journal[2]], [order(1), order(3), order(4)], journal.get)
    assert check.missing == (journal[2],)  # open in the journal, not at the venue
    assert check.unknown == (order(4),)  # at the venue, never journaled
    assert check.reopened == ((journal[3], order(3)),)  # at the venue, journaled as done

"""How much a partial exit closes and how big each take-profit order is, worked by hand in the
venue's exact sizes (lot 0.001, minimum 0.005)."""

from __future__ import annotations

from decimal import Decimal

from rulebot.runtime.scaling import share_of, take_sizes

D = Decimal
LOT, MIN = D("0.001"), D("0.005")


def test_a_share_is_rounded_down_to_the_lot() -> None:
    assert share_of(D("0.125"), 0.5, LOT, MIN) == D("0.062")  # 0.0625 -> 0.062, 0.063 left
    assert share_of(D("0.1"), 0.3, LOT, MIN) == D("0.030")


def test_a_share_that_would_leave_dust_closes_everything() -> None:
    assert share_of(D("0.012"), 0.7, LOT, MIN) == D("0.012")  # 0.008 taken would leave 0.004
    assert share_of(D("0.0125"), 0.5, D(0), MIN) == D("0.00625")  # no lot: exact halves
    assert share_of(D("0.0019"), 0.9, LOT, D(0)) == D("0.0019")  # 0.001 would leave 0.0009


def test_a_share_that_rounds_to_nothing_closes_nothing() -> None:
    assert share_of(D("0.01"), 0.05, LOT, D(0)) == 0  # 0.0005 -> 0


def test_a_whole_share_closes_everything() -> None:
    assert share_of(D("0.0123"), 1.0, LOT, MIN) == D("0.0123")


def test_take_profits_share_the_full_size_the_last_takes_the_rest() -> None:
    # long, full size 0.125: 50% at the near level is 0.0625 -> 0.062; the far one takes the
    # rest 0.063 (the shares add up to 100%)
    sizes = take_sizes(
        D("0.125"), D("0.125"), (0.5, 0.5), (True, True), (102.0, 104.0), 1.0, LOT, MIN
    )
    assert sizes == {0: D("0.062"), 1: D("0.063")}
    # written far first: the near one still fires first and is sized first
    sizes = take_sizes(
        D("0.125"), D("0.125"), (0.5, 0.5), (True, True), (104.0, 102.0), 1.0, LOT, MIN
    )
    assert sizes == {1: D("0.062"), 0: D("0.063")}


def test_a_fired_take_profit_leaves_the_others_sized_from_the_full_size() -> None:
    # 30% + 30% of 0.1 (not 100%: the rest waits for the stop or an exit); the first fired
    sizes = take_sizes(
        D("0.07"), D("0.1"), (0.3, 0.3), (False, True), (102.0, 104.0), 1.0, LOT, MIN
    )
    assert sizes == {1: D("0.030")}


def test_take_profits_are_capped_by_a_smaller_position() -> None:
    # a partial exit took 0.08 of 0.1: the near 50% take is cut to the 0.02 left, the far
    # one has nothing left to close
    sizes = take_sizes(D("0.02"), D("0.1"), (0.5, 0.5), (True, True), (98.0, 96.0), -1.0, LOT, MIN)
    assert sizes == {0: D("0.02")}


def test_a_take_profit_that_would_leave_dust_takes_it_all() -> None:
    # 40% of 0.014 is 0.0056 -> 0.005, leaving 0.009; the second 40% (0.005) would leave
    # 0.004, under the minimum: it takes all 0.009
    sizes = take_sizes(
        D("0.014"), D("0.014"), (0.4, 0.4), (True, True), (101.0, 102.0), 1.0, LOT, MIN
    )
    assert sizes == {0: D("0.005"), 1: D("0.009")}

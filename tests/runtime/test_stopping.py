"""The end-of-run summary: every position left at the venue, and its protection there."""

from __future__ import annotations

from decimal import Decimal

from rulebot.runtime.stopping import Held, protection_lines

D = Decimal


def test_the_stop_summary_says_which_position_is_protected_and_which_is_not() -> None:
    lines = protection_lines(
        [
            Held("trend", "ETH", D("0.5"), stop=(7, D(90)), take=(8, D(120))),
            Held("naked", "XRP", D(-30)),
            Held("gone", "LTC", D(2), stop=(9, D(50))),  # its stop is not at the venue
            Held("pair", "ETH", D("0.1"), spread=True),
        ],
        resting={7, 8},
        unmanaged={"XRP": D(5)},
    )
    assert lines[0] == "positions at the venue and their protection:"
    text = "\n".join(lines)
    assert "trend ETH +0.5: stop at 90 and take-profit at 120 rest at the venue" in text
    assert "naked XRP -30: UNPROTECTED" in text and "gone LTC +2: UNPROTECTED" in text
    assert "pair ETH +0.1: spread leg, NO PROTECTION at the venue once the bot stops" in text
    assert "(no strategy) XRP +5: not the bot's" in text
    assert protection_lines([], set(), {}) == ["no position held"]
    cancelled = protection_lines([Held("t", "ETH", D(1), stop=(7, D(9)))], set(), {}, True)
    assert "UNPROTECTED: its orders were cancelled on exit" in cancelled[1]


def test_the_stop_summary_names_every_take_profit_of_a_position_taken_off_in_parts() -> None:
    held = Held("parts", "BTC", D("0.2"), stop=(3, D(95)), take=(4, D(102)),
                more_takes=((5, D(104)),))  # fmt: skip
    (_, line) = protection_lines([held], resting={3, 4, 5}, unmanaged={})
    assert line == (
        "  parts BTC +0.2: stop at 95 and take-profit at 102 and take-profit at 104 rest at the "
        "venue"
    )
    (_, line) = protection_lines([held], resting={3, 5}, unmanaged={})  # the first one filled
    assert line == "  parts BTC +0.2: stop at 95 and take-profit at 104 rest at the venue"

"""A resting entry's life at each close, as the backtest's fill loop lives it: kept with its
level re-read, restarted by a true signal, gone on expiry, an na level, an exit or reverse, the
other side's entry, or once the position it opens is held."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from rulebot.runtime.messages import Intent, Protection
from rulebot.runtime.resting import RestingEntry, carry_on, restore

QUIET = {"entry.long": False, "exit.long": False, "entry.short": False, "exit.short": False}


def resting(expires: int = 12, action: str = "open_long") -> RestingEntry:
    intent = Intent(
        "fader", "ETH", action, Decimal("0.5"), "signal", 1_000, Decimal("99.5"),  # type: ignore[arg-type]
        (Protection("stop_loss", "percent", 0.02),), order="limit", level=Decimal("99.5"),
        post_only=True, bars=3,
    )  # fmt: skip
    return RestingEntry(intent, expires)


def step(
    entry: RestingEntry | None, bar: int = 10, level: float = 99.0, **changes: object
) -> tuple[RestingEntry | None, str]:
    what: dict[str, object] = {
        "signals": QUIET, "exit_code": -1, "open_side": 0.0, "held": 0.0, **changes,
    }  # fmt: skip
    return carry_on(entry, bar=bar, level=level, **what)  # type: ignore[arg-type]


def test_a_living_entry_is_kept_at_the_level_of_this_close() -> None:
    kept, why = step(resting(), level=98.75)
    assert why == "" and kept is not None
    assert kept.intent.level == Decimal("98.75") and kept.expires == 12
    assert kept.intent.size == Decimal("0.5") and kept.intent.post_only  # as last placed


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"bar": 12}, "its lifetime ran out"),
        ({"level": math.nan}, "its level reads na"),
        ({"exit_code": 0}, "an exit or an entry of the other side"),
        ({"open_side": -1.0}, "an exit or an entry of the other side"),
        ({"signals": {**QUIET, "entry.short": True}}, "an exit or an entry of the other side"),
        ({"held": 1.0}, "the position is open"),
        ({"open_side": 1.0}, "restarted"),
    ],
)
def test_a_resting_entry_goes(changes: dict[str, object], why: str) -> None:
    assert step(resting(), **changes) == (None, why)


def test_nothing_resting_stays_nothing() -> None:
    assert step(None) == (None, "")


def test_a_snapshot_comes_back_as_it_was() -> None:
    entry = resting(action="open_short")
    back = restore(entry.snapshot(5_000), 12, "fader", "ETH")
    assert back == entry and back.side == -1.0

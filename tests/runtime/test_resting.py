"""A resting entry's life at each close, as the backtest's fill loop lives it: kept with its
level re-read, restarted by a true signal, gone on expiry, an na level, an exit or reverse, the
other side's entry, or once the position it opens is held."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from rulebot.lang.load import compile_text
from rulebot.runtime.messages import Bar, Intent, Protection
from rulebot.runtime.resting import RESTARTED, RestingEntry, carry_on, restore
from rulebot.runtime.strategy import LiveStrategy, Sizing

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
        ({"open_side": 1.0}, RESTARTED),
    ],
)
def test_a_resting_entry_goes(changes: dict[str, object], why: str) -> None:
    assert step(resting(), **changes) == (None, why)


def test_a_resting_add_lives_on_while_the_position_may_take_more_entries() -> None:
    kept, why = step(resting(), held=1.0, full=False)  # `pyramiding 2`, one entry in
    assert kept is not None and why == ""


def test_nothing_resting_stays_nothing() -> None:
    assert step(None) == (None, "")


def test_a_snapshot_comes_back_as_it_was() -> None:
    entry = resting(action="open_short")
    back = restore(entry.snapshot(5_000), 12, "fader", "ETH")
    assert back == entry and back.side == -1.0


FADER = """strategy fader
market BTC
timeframe 5m
entry long limit at close * 0.99 post_only for 2 bars when close > close[1]
size 10% of equity
stop_loss 2%
"""


def fed(closes: list[float], text: str = FADER) -> tuple[LiveStrategy, list[list[Intent]]]:
    """A live strategy fed one bar per close (5 minutes apart); the intents of each close."""
    result = compile_text(text, "fader.rule")
    assert result.strategy is not None, result.diagnostics
    live = LiveStrategy(result.strategy, sizing=Sizing(lot=Decimal("0.001")))
    decided = []
    for i, close in enumerate(closes):
        bar = Bar("BTC", i * 300_000, close, close, close, close, 1.0)
        decided.append(live.on_bar({"BTC": bar}, Decimal(10_000)))
    return live, decided


def test_a_strategy_rests_its_entry_and_keeps_it_for_its_lifetime() -> None:
    live, decided = fed([100.0, 101.0, 100.5, 100.2])
    assert decided[0] == []  # close[1] is not known yet: no signal
    (placed,) = decided[1]
    assert (placed.action, placed.order, placed.post_only, placed.bars) == (
        "open_long", "limit", True, 2,
    )  # fmt: skip
    assert placed.level == Decimal(repr(101.0 * 0.99))
    assert placed.size == Decimal("10.001")  # 10% of 10,000 at its level 99.99, to the lot
    assert [p.kind for p in placed.protections] == ["stop_loss"]
    (kept,) = decided[2]  # no signal: kept, its level re-read at this close
    assert kept.level == Decimal(repr(100.5 * 0.99))
    # and sized again there from the equity the placing close read: 1,000 / 99.495 = 10.0507
    assert kept.size == Decimal("10.050")
    assert decided[3] == [] and live.resting is None  # two closes on: its lifetime ran out
    assert live.resting_gone == "its lifetime ran out"


def test_a_true_signal_restarts_its_lifetime_and_its_size() -> None:
    live, decided = fed([100.0, 101.0, 102.0, 101.5, 101.2])
    first, restarted, kept = decided[1][0], decided[2][0], decided[3][0]
    assert restarted.level == Decimal(repr(102.0 * 0.99)) and restarted.size < first.size
    # kept at 101.5 * 0.99 = 100.485, sized there from the restarting close's equity:
    # 1,000 / 100.98 = 9.9029 at the restart, 1,000 / 100.485 = 9.9517 kept
    assert (restarted.size, kept.size) == (Decimal("9.902"), Decimal("9.951"))
    assert decided[4] == [] and live.resting_gone == "its lifetime ran out"


def test_an_na_level_places_nothing_and_says_why() -> None:
    level = "if close > 101.5 then close * 0.99 else na"
    live, decided = fed([100.0, 101.0], FADER.replace("close * 0.99", level))
    assert decided[1] == [] and live.resting is None
    assert live.decision is not None
    assert dict(live.decision.outcomes)["entry.long"] == "stopped: its entry level is na"

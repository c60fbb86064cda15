"""Adds and partial exits through the live path in a dry run: the engine (streaming evaluator,
risk manager, order manager, a real SQLite journal) trading a `PaperVenue` on the shipped BTC
candles played as trades (`rulebot.venues.tape`), as tests/runtime/test_risk_parity.py does.

The rule is the shipped mean reversion made to stack two entries, take half off at the mean
(`exit long 50% when`) and hold two take-profits of half each. What is checked is read back from
the journal: every order's size against the position it was sent for, worked out again here from
the journal's fills, and the trades `rulebot report` rebuilds."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import pytest

from rulebot import config
from rulebot.lang import ir
from rulebot.lang.load import compile_text
from rulebot.reporting import read_report
from rulebot.runtime.journal import Journal
from rulebot.runtime.messages import Fill, OrderRecord
from rulebot.runtime.positions import signed_size
from rulebot.runtime.scaling import share_of
from tests.runtime.test_risk_parity import BTC, ROOT, replay

LOOSE = config.Risk(
    max_daily_loss=config.LossLimit(Decimal(1_000_000), is_percent=False),
    max_drawdown="100%",
    max_order_notional=Decimal(1_000_000),
)


def rule() -> ir.Strategy:
    text = (ROOT / "rules" / "mean_reversion.rule").read_text()
    edits = {
        "exit  long  when z >= 0": "exit  long  50% when z >= 0",
        "exit  short when z <= 0": "exit  short 50% when z <= 0",
        "take_profit 3%": "take_profit 50% at 0.3%\ntake_profit 50% at 0.6%\npyramiding 2",
        "size 2% of equity": "size 5% of equity",
        "  max_daily_loss  3%\n  max_drawdown    10%\n  cooldown        5 bars\n": "",
        "max_position    20%": "max_position    50%",
    }
    for old, new in edits.items():
        assert old in text, old
        text = text.replace(old, new)
    compiled = compile_text(text, "mr.rule")
    assert compiled.strategy is not None, compiled.diagnostics
    return compiled.strategy


def run(strategy: ir.Strategy, journal: Path) -> None:
    """The engine and a paper account over the shipped candles (`replay`), with loose limits."""
    replay(strategy, LOOSE, journal)


Run = tuple[Path, list[Fill], dict[int, OrderRecord]]


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One dry run of the rule: its journal, fills in the order booked, and orders by index."""
    path = tmp_path_factory.mktemp("scaling") / "journal.sqlite"
    run(rule(), path)
    journal = Journal.open(path, readonly=True)
    try:
        fills = journal.fills()
        orders = {f.client_order_index: journal.order(f.client_order_index) for f in fills}
    finally:
        journal.close()
    return path, fills, {i: o for i, o in orders.items() if o is not None}


def test_adds_and_partial_exits_go_out_at_the_sizes_the_rule_says(
    dry_run: Run,
) -> None:
    path, fills, orders = dry_run
    lot, least = BTC.size_step, BTC.min_base_amount
    held = Decimal(0)
    entry_orders: set[int] = set()  # of the round trip held
    most_entries, partial_exits, whole_exits, seen = 0, 0, 0, set()
    for fill in fills:
        order = orders[fill.client_order_index]
        change = signed_size(fill)
        opening = held == 0 or (held > 0) == (change > 0)
        first = fill.client_order_index not in seen
        seen.add(fill.client_order_index)
        if first and order.kind == "market" and order.reason == "signal" and not opening:
            # `exit 50% when`: the share of what was held, to the lot, dust closes it all
            assert order.size == share_of(abs(held), 0.5, lot, least), (order, held)
            partial_exits += order.size < abs(held)
            whole_exits += order.size == abs(held)
        if opening:
            entry_orders.add(fill.client_order_index)
            most_entries = max(most_entries, len(entry_orders))
        held += change
        if held == 0:
            entry_orders.clear()
    assert most_entries == 2  # `pyramiding 2`: an add, never a third entry
    assert partial_exits > 0 and whole_exits > 0

    report = read_report(path)
    parts = [t for t in report.trades if t.closes > 1]
    assert parts, "no round trip was taken off in parts"
    assert any(t.exit_reason == "take_profit" for t in parts)
    assert sum(t.closes for t in report.trades) > len(report.trades)


def test_take_profits_rest_at_their_shares_and_the_stop_follows_the_position(
    dry_run: Run,
) -> None:
    """At each take-profit's fill, its order is the one placed for the position then held: the
    first to fire since the last entry is half of the position after that entry (to the lot,
    capped by what is held), or what the other half leaves; a later one takes what is left.
    At each stop's fill, the stop is sized to the whole position."""
    _, fills, orders = dry_run
    lot = BTC.size_step
    held = full = Decimal(0)
    fired, seen, takes, stops = 0, set(), 0, 0
    for fill in fills:
        order = orders[fill.client_order_index]
        change = signed_size(fill)
        opening = held == 0 or (held > 0) == (change > 0)
        first = fill.client_order_index not in seen
        seen.add(fill.client_order_index)
        if first and order.kind == "take_profit":
            near = min((full / 2 / lot).to_integral_value(ROUND_DOWN) * lot, abs(held))
            if 0 < abs(held) - near < max(lot, BTC.min_base_amount):
                near = abs(held)  # it would leave dust: it takes it all
            wanted = {near, abs(held) - near} if fired == 0 else {abs(held)}
            assert order.size in wanted, (order, held, full, fired)
            fired += 1
            takes += 1
        if first and order.kind == "stop_loss":
            assert order.size == abs(held), (order, held)
            stops += 1
        held += change
        if opening:
            full, fired = abs(held), 0
    assert takes > 5 and stops > 0

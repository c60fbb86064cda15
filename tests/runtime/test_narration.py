"""What the bot says of its trades, on a real SQLite journal: a partial close says so and what is
left, a full close has the whole trade's PnL and fees (those of fills from before a restart too),
a flip closes one trade and opens the next, and the run's summary counts this run only."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import pytest

from rulebot.reporting import read_report
from rulebot.runtime.journal import Journal
from rulebot.runtime.messages import Fill, OrderRecord, Side, StrategyPosition
from rulebot.runtime.narration import Narrator
from rulebot.runtime.positions import apply_fill

D = Decimal
T0 = 1_736_121_600_000


def book(journal: Journal, index: int, side: Side, size: str, price: str, reason: str) -> Fill:
    """Journal an order of `hold` on ETH and its whole fill (fee 0.1% of its notional), and the
    position it leaves, as the order manager does."""
    kind = "stop_loss" if reason == "stop_loss" else "market"
    journal.record_order(OrderRecord(
        client_order_index=index, strategy="hold", market="ETH", side=side, kind=kind,
        size=D(size), price=None, trigger_price=None, reduce_only=False, state="filled",
        created_ms=T0, updated_ms=T0, filled=D(size), reason=reason,
    ))  # fmt: skip
    fill = Fill(index, index, "hold", "ETH", side, D(size), D(price), D(size) * D(price) / 1000,
                T0 + index)  # fmt: skip
    before = next((p for p in journal.positions() if p.strategy == "hold"), None)
    journal.record_fill(fill)
    journal.save_position(apply_fill(before or StrategyPosition("hold", "ETH"), fill))
    return fill


def test_a_partial_close_then_the_rest_and_a_flip_are_said_as_the_report_reads_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rulebot.trades")
    with Journal.open(tmp_path / "j.sqlite") as journal:
        narrator = Narrator(journal)
        fills = [
            book(journal, 1, "buy", "2", "100", "signal"),
            book(journal, 2, "sell", "0.5", "110", "signal"),
            book(journal, 3, "sell", "2.5", "90", "reverse"),  # closes 1.5, opens a short of 1
        ]
        for fill in fills:
            narrator.on_fill(fill)
    said = [r.getMessage() for r in caplog.records]
    report = read_report(tmp_path / "j.sqlite")
    (trade,) = report.trades
    assert said == [
        "hold ETH: trade partly closed (signal): 0.5 of the long at 110, entry 100, "
        "PnL +4.945 after fees 0.055; 1.5 still open",
        "hold ETH: trade closed (reverse): long 2, entry 100, exit 95, PnL -10.39 after fees 0.39",
    ]
    # 0.5 at +10 and 1.5 at -10; fees 0.2 + 0.055 + 1.5/2.5 of 0.225: as the report has it
    assert (trade.exit_price, trade.pnl, trade.fees) == (D(95), D("-10.39"), D("0.39"))
    assert narrator.summary() == [
        "this run: 1 trade (0 won), PnL -10.39 net of their fees; fees paid 0.48"
    ]


def test_a_trade_opened_before_a_restart_closes_with_its_whole_pnl_and_this_run_counts_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rulebot.trades")
    path = tmp_path / "j.sqlite"
    with Journal.open(path) as journal:
        book(journal, 1, "buy", "1", "100", "signal")
        book(journal, 2, "sell", "1", "120", "signal")  # a trade of the run before
        book(journal, 3, "buy", "1", "100", "signal")  # opened before the restart
    with Journal.open(path) as journal:
        narrator = Narrator(journal)
        narrator.on_fill(book(journal, 4, "sell", "1", "95", "stop_loss"))
    assert [r.getMessage() for r in caplog.records] == [
        "hold ETH: trade closed (stop_loss): long 1, entry 100, exit 95, "
        "PnL -5.195 after fees 0.195"
    ]
    assert narrator.summary() == [
        "this run: 1 trade (0 won), PnL -5.195 net of their fees; fees paid 0.095"
    ]
    assert [t.pnl for t in read_report(path).trades] == [D("19.78"), D("-5.195")]


def test_a_trade_a_flip_opened_before_a_restart_keeps_its_share_of_the_flip_s_fee(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rulebot.trades")
    path = tmp_path / "j.sqlite"
    with Journal.open(path) as journal:
        book(journal, 1, "buy", "1", "100", "signal")
        book(journal, 2, "sell", "2", "110", "reverse")  # closes the long, opens a short of 1
    with Journal.open(path) as journal:
        narrator = Narrator(journal)
        narrator.on_fill(book(journal, 3, "buy", "1", "95", "stop_loss"))
    # +15 on the short; fees: half of the flip's 0.22 and 0.095
    assert [r.getMessage() for r in caplog.records] == [
        "hold ETH: trade closed (stop_loss): short 1, entry 110, exit 95, "
        "PnL +14.795 after fees 0.205"
    ]
    assert read_report(path).trades[-1].pnl == D("14.795")


def test_a_run_without_fills_says_so(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite") as journal:
        assert Narrator(journal).summary() == ["this run: no trade"]

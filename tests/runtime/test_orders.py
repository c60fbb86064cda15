"""The order manager's bookkeeping on a real SQLite journal: fills, positions and orders."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from rulebot.config import Config
from rulebot.runtime.engine import Engine
from rulebot.runtime.journal import Journal, JournalError
from rulebot.runtime.messages import Intent, OrderRecord
from rulebot.runtime.orders import OrderManager
from rulebot.venues.lighter.records import Trade
from tests.runtime.test_risk import rule_limits

ACCOUNT = 1


def entry(index: int, size: str) -> OrderRecord:
    return OrderRecord(
        client_order_index=index, strategy="s", market="ETH", side="buy", kind="market",
        size=Decimal(size), price=None, trigger_price=None, reduce_only=False, state="sent",
        created_ms=1, updated_ms=1,
    )  # fmt: skip


def bought(index: int, size: str, trade_id: int = 1) -> Trade:
    return Trade(
        trade_id=trade_id, market="ETH", price=Decimal("2000"), size=Decimal(size),
        taker_side="buy", time_ms=1_000, buyer_account=ACCOUNT, seller_account=0,
        buy_order_index=10, sell_order_index=11, buy_client_order_index=index,
        sell_client_order_index=0,
    )  # fmt: skip


def test_a_fill_and_the_position_it_moves_are_journaled_all_or_nothing(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal.open(path)
    orders = OrderManager(None, journal, account_index=ACCOUNT, now_ms=lambda: 5)
    orders.register("s", "ETH")
    journal.record_order(entry(7, "2"))
    # the disk refuses the position write: a failure of the database itself, mid-fill
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON positions"
            " BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    with pytest.raises(JournalError, match="disk full"):
        orders.on_trades([bought(7, "2")])
    assert journal.fills() == []  # nothing half-recorded: the fill went with its position
    assert orders.position("s", "ETH").size == 0
    with sqlite3.connect(path) as db:
        db.execute("DROP TRIGGER refuse")
    # the same trade, seen again (the stream, or the catch-up after a restart), is booked whole
    (done,) = orders.on_trades([bought(7, "2")])
    assert done[1].size == Decimal(2)
    assert [p.size for p in journal.positions()] == [Decimal(2)]
    assert journal.order(7).state == "filled"  # type: ignore[union-attr]
    journal.close()


def test_risk_sees_the_entries_in_flight_and_every_order_that_may_rest(tmp_path: Path) -> None:
    cfg = Config.model_validate(
        {"network": {"name": "sim", "url": "http://127.0.0.1:9"}, "dry_run": False,
         "runtime": {"journal": str(tmp_path / "j.sqlite"), "status_port": 0}}
    )  # fmt: skip
    engine = Engine(cfg)
    engine.risk_manager.add_strategy("s", rule_limits("max_position 2.5 ETH"))
    engine.orders.register("s", "ETH")
    engine.equity, engine.marks["ETH"] = Decimal(100_000), Decimal(2000)
    engine.journal.record_order(entry(7, "2"))  # sent, no fill seen yet
    stop = replace(entry(8, "2"), kind="stop_loss", side="sell", trigger_price=Decimal(1900))
    engine.journal.record_order(stop)  # resting at the venue
    view = engine._view()
    assert view.position("s", "ETH") == Decimal(2)  # what the entry in flight may yet make it
    assert view.open_orders == {"s": 2}
    verdict = engine.risk_manager.check(
        Intent("s", "ETH", "open_long", Decimal(2), "signal", 0, Decimal(2000)), view
    )
    assert verdict.allowed and verdict.size == Decimal("0.5")  # max_position counts it
    status = engine.risk_manager.get_risk_status(view)["account"]["limits"]["max_open_orders"]
    assert status["value"] == "2"
    engine.journal.close()

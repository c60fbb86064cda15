"""The journal on real SQLite files: every record type round-trips exactly, fills are idempotent,
client order indexes never repeat, batches are all-or-nothing, and bad files are refused."""

from __future__ import annotations

import itertools
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulebot.runtime.journal import (
    CLIENT_ORDER_INDEX_BLOCK,
    MAX_CLIENT_ORDER_INDEX,
    OPEN_STATES,
    SCHEMA_VERSION,
    Journal,
    JournalError,
    Run,
)
from rulebot.runtime.messages import (
    Difference,
    EquitySnapshot,
    Fill,
    OrderRecord,
    RiskEvent,
    StrategyPosition,
)


def order(index: int = 7, **changes: object) -> OrderRecord:
    fields: dict[str, object] = {
        "client_order_index": index,
        "strategy": "mean_reversion",
        "market": "ETH",
        "side": "buy",
        "kind": "limit",
        "size": Decimal("0.0500"),
        "price": Decimal("3512.37"),
        "trigger_price": None,
        "reduce_only": False,
        "state": "new",
        "created_ms": 1_700_000_000_000,
        "updated_ms": 1_700_000_000_000,
    }
    fields.update(changes)
    return OrderRecord(**fields)  # type: ignore[arg-type]


def fill(trade_id: int = 1, index: int = 7, **changes: object) -> Fill:
    fields: dict[str, object] = {
        "trade_id": trade_id,
        "client_order_index": index,
        "strategy": "mean_reversion",
        "market": "ETH",
        "side": "buy",
        "size": Decimal("0.0500"),
        "price": Decimal("3512.37"),
        "fee": Decimal("0.04917318"),
        "time_ms": 1_700_000_000_500,
    }
    fields.update(changes)
    return Fill(**fields)  # type: ignore[arg-type]


@pytest.fixture
def journal(tmp_path: Path):
    with Journal.open(tmp_path / "journal.sqlite") as opened:
        yield opened


# --- round trips ----------------------------------------------------------------------------


def test_orders_round_trip_and_update_in_place(journal: Journal) -> None:
    stop = order(
        8,
        side="sell",
        kind="stop_loss",
        price=None,
        trigger_price=Decimal("3400.10"),
        reduce_only=True,
        state="open",
        venue_order_index=281_474_976_710_000,
        reason="stop_loss",
    )
    journal.record_order(order())
    journal.record_order(stop)
    assert journal.order(7) == order()
    assert journal.order(8) == stop
    assert journal.order(9) is None

    filled = order(state="filled", filled=Decimal("0.0500"), updated_ms=1_700_000_001_000)
    journal.record_order(filled)
    assert journal.order(7) == filled
    assert journal.open_orders() == [stop]


def test_open_orders_are_new_sent_or_open_and_filter_by_strategy_and_market(
    journal: Journal,
) -> None:
    states = ["new", "sent", "open", "filled", "canceled", "rejected"]
    for index, state in enumerate(states, start=1):
        journal.record_order(order(index, state=state))
    journal.record_order(order(10, strategy="momentum", state="open"))
    journal.record_order(order(11, market="BTC", state="open"))

    assert [o.client_order_index for o in journal.open_orders()] == [1, 2, 3, 10, 11]
    assert [o.client_order_index for o in journal.open_orders(strategy="momentum")] == [10]
    assert [o.client_order_index for o in journal.open_orders(market="BTC")] == [11]
    assert [
        o.client_order_index for o in journal.open_orders(strategy="mean_reversion", market="ETH")
    ] == [1, 2, 3]


def test_an_index_cannot_be_reused_by_another_order(journal: Journal) -> None:
    journal.record_order(order())
    with pytest.raises(JournalError, match="7 already belongs to another order"):
        journal.record_order(order(strategy="momentum"))
    with pytest.raises(JournalError, match="already belongs"):
        journal.record_order(order(side="sell"))
    assert journal.order(7) == order()


def test_fills_round_trip_are_idempotent_and_filter(journal: Journal) -> None:
    first = fill(1, time_ms=1_000)
    partial = fill(2, size=Decimal("0.0125"), fee=Decimal("0"), time_ms=2_000)
    other = fill(3, index=9, strategy="momentum", side="sell", time_ms=3_000)
    assert journal.record_fill(first) is True
    assert journal.record_fill(partial) is True
    assert journal.record_fill(other) is True
    assert journal.record_fill(first) is False  # replayed after a reconnect: a no-op
    assert journal.record_fill(fill(1, price=Decimal("1"), time_ms=1_000)) is False
    assert (
        journal.record_fill(fill(1, index=8, time_ms=1_500)) is True
    )  # same trade, our other side

    assert journal.fills() == [first, fill(1, index=8, time_ms=1_500), partial, other]
    assert journal.fills(since_ms=2_000) == [partial, other]
    assert journal.fills(strategy="momentum") == [other]
    assert journal.fills(since_ms=2_500, strategy="mean_reversion") == []


def test_positions_round_trip_one_per_strategy_and_market(journal: Journal) -> None:
    long_eth = StrategyPosition(
        "mean_reversion",
        "ETH",
        size=Decimal("0.0500"),
        entry_price=Decimal("3512.37"),
        entry_time_ms=1_000,
        realized_pnl=Decimal("-12.004"),
        fees=Decimal("0.04917318"),
        funding=Decimal("-0.000001"),
    )
    short_btc = StrategyPosition("mean_reversion", "BTC", size=Decimal("-0.001"))
    flat = StrategyPosition("momentum", "ETH", realized_pnl=Decimal("3.5"))
    for position in (long_eth, short_btc, flat):
        journal.save_position(position)
    assert journal.positions() == [short_btc, long_eth, flat]

    closed = StrategyPosition("mean_reversion", "ETH", realized_pnl=Decimal("4.25"))
    journal.save_position(closed)
    assert journal.positions() == [short_btc, closed, flat]


def test_equity_snapshots_round_trip_in_time_order(journal: Journal) -> None:
    snapshots = [
        EquitySnapshot(3_000, Decimal("100012.5"), Decimal("100000"), Decimal("12.5")),
        EquitySnapshot(1_000, Decimal("100000.000001"), Decimal("100000"), Decimal("0.000001")),
        EquitySnapshot(2_000, Decimal("99990"), Decimal("100000"), Decimal("-10")),
    ]
    for snapshot in snapshots:
        journal.record_equity(snapshot)
    assert journal.equity_since(0) == sorted(snapshots, key=lambda s: s.time_ms)
    assert journal.equity_since(2_000) == [snapshots[2], snapshots[0]]

    again = EquitySnapshot(3_000, Decimal("100013"), Decimal("100000"), Decimal("13"))
    journal.record_equity(again)
    assert journal.equity_since(3_000) == [again]


def test_risk_events_round_trip_in_order(journal: Journal) -> None:
    breached = RiskEvent(
        5_000,
        "account",
        "max_daily_loss",
        "breached",
        Decimal("-3012.40"),
        Decimal("-3000"),
        "daily loss 3012.40 USDC is over the limit of 3000 USDC by 12.40",
    )
    recovered = RiskEvent(
        9_000, "mean_reversion", "max_drawdown", "recovered", Decimal("0.09"), Decimal("0.1"), ""
    )
    same_time = RiskEvent(
        9_000, "momentum", "max_position", "breached", Decimal("0.6"), Decimal("0.5"), "0.1 over"
    )
    for event in (breached, recovered, same_time):
        journal.record_risk_event(event)
    assert journal.risk_events() == [breached, recovered, same_time]
    assert journal.risk_events(since_ms=9_000) == [recovered, same_time]


def test_strategy_state_round_trips_as_json(journal: Journal) -> None:
    state = {
        "params": {"lookback": 20, "threshold": 2.5},
        "bars_seen": 1234,
        "last_bar_ms": 1_700_000_100_000,
        "cooldown_until_bar": None,
        "stop_price": "3400.10",
        "trail": [0.1, 1e-300, -2.0],
    }
    assert journal.strategy_state("mean_reversion") is None
    journal.save_strategy_state("mean_reversion", state)
    assert journal.strategy_state("mean_reversion") == state
    journal.save_strategy_state("mean_reversion", {"bars_seen": 1235})
    assert journal.strategy_state("mean_reversion") == {"bars_seen": 1235}
    with pytest.raises(JournalError, match="not JSON"):
        journal.save_strategy_state("mean_reversion", {"stop": Decimal("1")})
    assert journal.strategy_state("mean_reversion") == {"bars_seen": 1235}


def test_runs_and_meta(journal: Journal) -> None:
    first = journal.start_run("sim", dry_run=True, started_ms=1_000)
    journal.end_run(first, "stopped by Ctrl+C", stopped_ms=2_000)
    second = journal.start_run("testnet", dry_run=False, started_ms=3_000)
    assert journal.runs() == [
        Run(first, 1_000, 2_000, "sim", True, "stopped by Ctrl+C"),
        Run(second, 3_000, None, "testnet", False, ""),
    ]

    assert journal.meta("day_start_equity") is None
    journal.set_meta("day_start_equity", "100000.50")
    journal.set_meta("day_start_equity", "99000.25")
    assert Decimal(journal.meta("day_start_equity") or "") == Decimal("99000.25")
    with pytest.raises(JournalError, match="reserved"):
        journal.set_meta("journal.client_order_index_reserved", "0")


money = st.decimals(allow_nan=False, allow_infinity=False)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=money, price=money, fee=money)
def test_any_finite_decimal_comes_back_identical(
    journal: Journal, size: Decimal, price: Decimal, fee: Decimal
) -> None:
    trade_id = len(journal.fills()) + 1
    journal.record_fill(fill(trade_id, size=size, price=price, fee=fee, time_ms=trade_id))
    stored = journal.fills(since_ms=trade_id)[0]
    # same value and same digits and exponent: str() shows both
    assert (str(stored.size), str(stored.price), str(stored.fee)) == (
        str(size),
        str(price),
        str(fee),
    )


def test_money_must_be_a_finite_decimal(journal: Journal) -> None:
    with pytest.raises(TypeError, match="Decimal, not float"):
        journal.record_fill(fill(size=0.05))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        journal.record_equity(EquitySnapshot(1, Decimal("NaN"), Decimal(0), Decimal(0)))
    assert journal.fills() == []
    assert journal.equity_since(0) == []


# --- transactions ---------------------------------------------------------------------------


def test_a_batch_commits_all_or_nothing(journal: Journal) -> None:
    with journal.batch():
        journal.record_order(order(1, state="filled", filled=Decimal("0.0500")))
        journal.record_fill(fill(1, index=1))
        journal.save_position(StrategyPosition("mean_reversion", "ETH", Decimal("0.0500")))
    assert len(journal.fills()) == 1

    with pytest.raises(RuntimeError, match="venue went away"), journal.batch():
        journal.record_order(order(2, state="filled", filled=Decimal("0.0500")))
        journal.record_fill(fill(2, index=2))
        with journal.batch():  # a nested batch joins the outer one
            journal.save_position(StrategyPosition("mean_reversion", "ETH", Decimal("0.1")))
        raise RuntimeError("venue went away")
    assert journal.order(2) is None
    assert [f.trade_id for f in journal.fills()] == [1]
    assert journal.positions()[0].size == Decimal("0.0500")


def test_an_index_is_not_handed_out_inside_a_batch(journal: Journal) -> None:
    with pytest.raises(JournalError, match="inside batch"), journal.batch():
        journal.next_client_order_index()


# --- client order indexes -------------------------------------------------------------------


def test_client_order_indexes_strictly_increase_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    issued: list[int] = []
    for _ in range(4):
        with Journal.open(path) as journal:
            issued += [
                journal.next_client_order_index() for _ in range(CLIENT_ORDER_INDEX_BLOCK + 3)
            ]
    assert issued[0] >= 1
    assert all(a < b for a, b in itertools.pairwise(issued))
    assert issued[-1] <= MAX_CLIENT_ORDER_INDEX


def test_indexes_start_above_any_order_already_journaled(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    with Journal.open(path) as journal:
        journal.record_order(order(5_000))
        assert journal.next_client_order_index() == 5_001


def test_indexes_stop_at_the_signers_maximum(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    with Journal.open(path) as journal:
        journal.record_order(order(MAX_CLIENT_ORDER_INDEX - 1))
        assert journal.next_client_order_index() == MAX_CLIENT_ORDER_INDEX
        with pytest.raises(JournalError, match="every client order index has been used"):
            journal.next_client_order_index()


# --- opening --------------------------------------------------------------------------------


def test_a_second_writer_is_refused_and_a_reader_is_not(tmp_path: Path) -> None:
    path = tmp_path / "state" / "journal.sqlite"
    with Journal.open(path) as writer:
        writer.record_fill(fill())
        with pytest.raises(JournalError, match="already open for writing"):
            Journal.open(path)
        with Journal.open(path, readonly=True) as reader:
            assert reader.readonly
            assert reader.fills() == [fill()]
            writer.record_fill(fill(2))
            assert len(reader.fills()) == 2
            with pytest.raises(JournalError, match="read-only"):
                reader.record_fill(fill(3))
            with pytest.raises(JournalError, match="read-only"):
                reader.next_client_order_index()
    with Journal.open(path) as writer:  # the lock went with the first writer
        assert len(writer.fills()) == 2


def test_a_fresh_journal_deletes_nothing_while_another_writer_holds_it(tmp_path: Path) -> None:
    """A dry run starts its journal afresh, but a second bot in the same folder must not wipe
    the first one's: the lock comes before the deletion."""
    path = tmp_path / "journal.dry-run.sqlite"
    with Journal.open(path) as writer:
        writer.record_fill(fill())
        with pytest.raises(JournalError, match="already open for writing"):
            Journal.open(path, fresh=True)
        assert path.is_file() and Path(f"{path}-wal").is_file()
        writer.record_fill(fill(2))
        with Journal.open(path, readonly=True) as reader:
            assert len(reader.fills()) == 2
    with Journal.open(path, fresh=True) as fresh:  # the first bot gone: a fresh start
        assert fresh.fills() == []


def test_a_read_only_batch_sees_one_moment(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    with Journal.open(path) as writer, Journal.open(path, readonly=True) as reader:
        writer.record_fill(fill(1))
        with reader.batch():
            before = reader.fills()
            writer.record_fill(fill(2))
            assert reader.fills() == before
        assert len(reader.fills()) == 2


def test_reading_a_missing_journal_says_so(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="no journal here"):
        Journal.open(tmp_path / "missing.sqlite", readonly=True)
    assert not (tmp_path / "missing.sqlite").exists()


@pytest.mark.parametrize(
    "content",
    [b"strategy mean_reversion\nmarket ETH\n", bytes(range(256)) * 64],
    ids=["text", "binary"],
)
@pytest.mark.parametrize("readonly", [False, True])
def test_a_file_that_is_not_a_database_is_refused(
    tmp_path: Path, content: bytes, readonly: bool
) -> None:
    path = tmp_path / "journal.sqlite"
    path.write_bytes(content)
    with pytest.raises(JournalError, match="not a rulebot journal"):
        Journal.open(path, readonly=readonly)
    assert path.read_bytes() == content


@pytest.mark.parametrize("readonly", [False, True])
def test_another_programs_database_is_refused(tmp_path: Path, readonly: bool) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
    other.close()
    with pytest.raises(JournalError, match="not a rulebot journal"):
        Journal.open(path, readonly=readonly)


def test_an_empty_file_becomes_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    path.touch()
    with pytest.raises(JournalError, match="not a rulebot journal"):
        Journal.open(path, readonly=True)
    with Journal.open(path) as journal:
        journal.record_fill(fill())
    with Journal.open(path, readonly=True) as journal:
        assert journal.fills() == [fill()]


@pytest.mark.parametrize("readonly", [False, True])
def test_a_newer_schema_is_refused(tmp_path: Path, readonly: bool) -> None:
    path = tmp_path / "journal.sqlite"
    Journal.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO schema_version VALUES (?, 0)", (SCHEMA_VERSION + 1,))
    db.close()
    with pytest.raises(JournalError, match=f"newer rulebot .*schema {SCHEMA_VERSION + 1}"):
        Journal.open(path, readonly=readonly)


def test_a_folder_is_not_a_journal(tmp_path: Path) -> None:
    for readonly in (False, True):
        with pytest.raises(JournalError, match="a folder, not a journal"):
            Journal.open(tmp_path, readonly=readonly)
    assert list(tmp_path.iterdir()) == []


def test_a_journal_records_its_schema(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    Journal.open(path).close()
    with sqlite3.connect(path) as db:
        versions = [row[0] for row in db.execute("SELECT version FROM schema_version")]
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    db.close()
    assert versions == list(range(1, SCHEMA_VERSION + 1))
    assert mode == "wal"
    Journal.open(path).close()  # reopening applies nothing twice
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    db.close()


def test_differences_with_the_venue_round_trip_in_order(tmp_path: Path) -> None:
    cut = Difference(
        2_000, "position", "ETH", "ut_bot", Decimal("0.50"), Decimal(0), "ut_bot ETH: cut"
    )
    gone = Difference(1_000, "order_gone", "ETH", "ut_bot", Decimal(1), Decimal(0), "gone", 7)
    with Journal.open(tmp_path / "journal.sqlite") as journal:
        journal.record_difference(cut)
        journal.record_difference(gone)
    with Journal.open(tmp_path / "journal.sqlite", readonly=True) as journal:
        assert journal.differences() == [gone, cut]
        assert journal.differences(since_ms=1_500) == [cut]


def test_a_journal_of_the_first_schema_is_migrated_and_keeps_its_records(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    with Journal.open(path) as journal:
        journal.record_order(order())
    with sqlite3.connect(path) as db:  # as a journal written before the differences table
        db.execute("DROP TABLE differences")
        db.execute("DELETE FROM schema_version WHERE version > 1")
    db.close()
    with Journal.open(path) as journal:
        assert journal.order(7) == order()
        journal.record_difference(
            Difference(1, "unmanaged", "ETH", "", Decimal(0), Decimal("0.1"), "not ours")
        )
        assert [d.kind for d in journal.differences()] == ["unmanaged"]


def test_open_orders_of_a_strategy_are_read_through_the_open_index_unknown_ones_too(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.sqlite"
    with Journal.open(path) as journal:
        journal.record_order(order(state="unknown"))
        assert [o.client_order_index for o in journal.open_orders("mean_reversion", "ETH")] == [7]
    with sqlite3.connect(path) as db:
        states = ", ".join(repr(state) for state in OPEN_STATES)
        plan = db.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM orders"
            f" WHERE state IN ({states}) AND strategy = ? AND market = ?",
            ("mean_reversion", "ETH"),
        ).fetchall()
    db.close()
    assert any("orders_open" in row[-1] for row in plan), plan


def test_a_journal_syncs_every_commit_unless_it_is_a_replays(tmp_path: Path) -> None:
    """`synchronous=FULL` (2) for a bot's journal; a replay over history may skip the fsyncs."""
    for durable, expected in ((True, 2), (False, 0)):
        journal = Journal.open(tmp_path / f"{durable}.sqlite", durable=durable)
        try:
            assert journal._db.execute("PRAGMA synchronous").fetchone()[0] == expected
        finally:
            journal.close()

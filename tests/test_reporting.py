"""`rulebot report`: round trips rebuilt from a real journal's fills, exact money, windows, the
table people read (snapshot), JSON and CSV for tools, and clear words when there is no journal."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rulebot.cli import app
from rulebot.reporting import (
    SUMMARY_COLUMNS,
    TRADE_COLUMNS,
    journal_path,
    read_report,
    render_table,
    replay_fills,
)
from rulebot.runtime.journal import Journal
from rulebot.runtime.messages import (
    EquitySnapshot,
    Fill,
    OrderRecord,
    Side,
    StrategyPosition,
)
from rulebot.runtime.positions import apply_fill

T0 = 1_736_121_600_000  # 2025-01-06 00:00 UTC
HOUR = 3_600_000
D = Decimal


class Row(NamedTuple):
    """A fill and why its order was sent; `offset` is ms after T0."""

    offset: int
    strategy: str
    market: str
    side: Side
    size: str
    price: str
    fee: str
    reason: str


FILLS = [
    Row(0, "ut_bot", "ETH", "buy", "1", "2000", "0.56", "signal"),
    Row(HOUR // 2, "mean_reversion", "LTC", "buy", "10", "70.1", "0.19628", "signal"),
    Row(HOUR, "ut_bot", "ETH", "sell", "1", "1990", "0.55", "stop_loss"),
    Row(2 * HOUR, "ut_bot", "ETH", "sell", "0.5", "1980", "0.2772", "signal"),
    Row(3 * HOUR, "ut_bot", "ETH", "buy", "1.5", "1950", "0.819", "reverse"),
    Row(5 * HOUR, "mean_reversion", "LTC", "sell", "4", "71", "0.07952", "signal"),
    Row(24 * HOUR, "ut_bot", "ETH", "sell", "1", "2010", "0.5628", "take_profit"),
]
EQUITY = [(0, "100000"), (HOUR, "99988.89"), (3 * HOUR, "100010"), (4 * HOUR, "99950")]
EQUITY += [(24 * HOUR, "100070")]
FUNDING = {("ut_bot", "ETH"): "1.25", ("mean_reversion", "LTC"): "-0.40"}


def write_journal(path: Path, rows: list[Row] = FILLS, equity: bool = True) -> Journal:
    """A real journal holding the fills, their orders, the positions they leave (with funding)
    and equity snapshots, as `rulebot run` writes them. Left open, as a running bot leaves it."""
    journal = Journal.open(path)
    positions: dict[tuple[str, str], StrategyPosition] = {}
    for n, row in enumerate(rows, 1):
        time_ms, size = T0 + row.offset, D(row.size)
        journal.record_order(
            OrderRecord(
                n, row.strategy, row.market, row.side, "market", size, None, None, False,
                "filled", time_ms, time_ms, n * 10, size, row.reason,
            )
        )  # fmt: skip
        fill = Fill(
            n, n, row.strategy, row.market, row.side, size, D(row.price), D(row.fee), time_ms
        )
        journal.record_fill(fill)
        key = (fill.strategy, fill.market)
        positions[key] = apply_fill(positions.get(key) or StrategyPosition(*key), fill)
    for key, position in positions.items():
        journal.save_position(replace(position, funding=D(FUNDING.get(key, "0"))))
    for offset, amount in EQUITY if equity else []:
        journal.record_equity(EquitySnapshot(T0 + offset, D(amount), D(100_000), D(0)))
    return journal


@pytest.fixture
def journal_file(tmp_path: Path) -> Path:
    path = tmp_path / "state.sqlite"
    write_journal(path).close()
    return path


def test_round_trips_are_rebuilt_from_fills_exactly(journal_file: Path) -> None:
    report = read_report(journal_file)
    trades = [(t.strategy, t.side, t.size, t.entry_price, t.exit_price) for t in report.trades]
    assert trades == [
        ("ut_bot", "long", D(1), D(2000), D(1990)),
        ("ut_bot", "short", D("0.5"), D(1980), D(1950)),  # closed by the flip
        ("ut_bot", "long", D(1), D(1950), D(2010)),  # opened by the flip's rest
    ]
    assert [t.exit_reason for t in report.trades] == ["stop_loss", "reverse", "take_profit"]
    # the flip's fee (0.819 for 1.5) is split by size: 0.273 closes the short, 0.546 opens the long
    assert [t.fees for t in report.trades] == [D("1.11"), D("0.5502"), D("1.1088")]
    assert [t.pnl for t in report.trades] == [D("-11.11"), D("14.4498"), D("58.8912")]
    (still_open,) = report.open_trades
    assert (still_open.strategy, still_open.side, still_open.size) == ("mean_reversion", "long", 10)
    assert still_open.gross_pnl == D("3.6") and still_open.exit_time_ms is None


def test_each_strategy_and_the_total_add_up(journal_file: Path) -> None:
    report = read_report(journal_file)
    mean_reversion, ut_bot = report.strategies
    assert (ut_bot.trades, ut_bot.winning_trades, ut_bot.losing_trades) == (3, 2, 1)
    assert ut_bot.win_rate == pytest.approx(2 / 3)
    assert (ut_bot.realized_pnl, ut_bot.fees, ut_bot.funding) == (D(65), D("2.769"), D("1.25"))
    assert ut_bot.net_pnl == D("60.981")
    assert ut_bot.max_drawdown == D("11.3872")  # net realised PnL: 0 down to -11.3872
    assert (ut_bot.best_trade, ut_bot.worst_trade) == (D("58.8912"), D("-11.11"))
    assert (mean_reversion.trades, mean_reversion.win_rate) == (0, None)
    assert mean_reversion.realized_pnl == D("3.6")  # the open trade's partial close
    assert mean_reversion.net_pnl == D("3.6") - D("0.2758") + D("0.40")
    total = report.total
    assert (total.trades, total.realized_pnl, total.fees) == (3, D("68.6"), D("3.0448"))
    assert total.net_pnl == ut_bot.net_pnl + mean_reversion.net_pnl
    assert total.max_drawdown == D(60)  # account equity: 100,010 down to 99,950
    assert report.max_drawdown_fraction == pytest.approx(60 / 100_010)
    assert (report.equity_start, report.equity_end) == (D(100_000), D(100_070))
    assert (report.start_ms, report.end_ms) == (T0, T0 + 24 * HOUR)


def test_a_window_takes_the_fills_and_trades_inside_it(journal_file: Path) -> None:
    report = read_report(journal_file, days=0.5)  # the 12 hours up to the newest record
    assert report.start_ms == T0 + 12 * HOUR
    (trade,) = report.trades
    assert trade.exit_reason == "take_profit" and trade.pnl == D("58.8912")  # opened before it
    mean_reversion, ut_bot = report.strategies  # funding and its open trade keep it listed
    assert (ut_bot.realized_pnl, ut_bot.fees) == (D(60), D("0.5628"))
    assert (mean_reversion.trades, mean_reversion.realized_pnl) == (0, D(0))
    assert report.equity_start == report.equity_end == D(100_070)
    assert report.total.max_drawdown == D(0)


def test_the_table_people_read(journal_file: Path, snapshot: object) -> None:
    assert render_table(read_report(journal_file)) == snapshot


def test_json_has_the_documented_keys_and_exact_money(journal_file: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--journal", str(journal_file), "-f", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert set(document) == {
        "rulebot_version", "journal", "start", "end", "days", "strategies", "total", "open_trades"
    }  # fmt: skip
    for row in document["strategies"]:
        assert list(row) == list(SUMMARY_COLUMNS)
    assert list(document["total"]) == [
        *SUMMARY_COLUMNS, "equity_start", "equity_end", "max_drawdown_fraction"
    ]  # fmt: skip
    ut_bot = document["strategies"][1]
    assert ut_bot["net_pnl"] == "60.981" and ut_bot["fees"] == "2.769"
    assert ut_bot["best_trade"] == "58.8912" and ut_bot["markets"] == ["ETH"]
    assert document["total"]["max_drawdown"] == "60"
    (still_open,) = document["open_trades"]
    assert list(still_open) == list(TRADE_COLUMNS) and still_open["exit_time"] is None


def test_csv_is_one_row_per_strategy_then_the_total(journal_file: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--journal", str(journal_file), "-f", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["strategy"] for r in rows] == ["mean_reversion", "ut_bot", "total"]
    assert rows[1]["net_pnl"] == "60.981" and rows[0]["win_rate"] == ""
    assert rows[2]["markets"] == "ETH LTC" and rows[2]["trades"] == "3"


def test_report_trades_exports_the_window_as_csv(journal_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "trades.csv"
    args = ["report", "--journal", str(journal_file), "trades", "--days", "7", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "wrote 3 trades" in result.stdout and "1 still open" in result.stdout
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == list(TRADE_COLUMNS)
    assert [r["pnl"] for r in rows] == ["-11.11", "14.4498", "58.8912"]
    assert rows[0]["entry_time"] == "2025-01-06T00:00:00Z"
    assert rows[2]["exit_time"] == "2025-01-07T00:00:00Z"

    shared = CliRunner().invoke(
        app, ["report", "--days", "0.5", "--journal", str(journal_file), "trades", "-f", "json"]
    )
    assert shared.exit_code == 0, shared.output
    (only,) = json.loads(shared.stdout)  # the options given before `trades` count for it
    assert only["exit_reason"] == "take_profit" and only["exit_time"] == T0 + 24 * HOUR


def test_the_report_reads_a_journal_the_bot_is_still_writing(tmp_path: Path) -> None:
    path = tmp_path / "live.sqlite"
    with write_journal(path, FILLS[:3], equity=False) as writing:
        assert read_report(path).total.trades == 1
        writing.record_fill(Fill(99, 99, "ut_bot", "ETH", "buy", D(2), D(1900), D(0), T0 + HOUR))
        report = read_report(path)
        assert report.open_trades[-1].size == D(2)
        result = CliRunner().invoke(app, ["report", "--journal", str(path)])
        assert result.exit_code == 0 and "ut_bot" in result.stdout


def test_a_missing_journal_is_a_clear_message(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--journal", str(tmp_path / "none.sqlite")])
    assert result.exit_code == 1
    assert "no journal here (has `rulebot run` been started?)" in result.stderr
    assert "Traceback" not in result.output


def test_an_empty_journal_is_a_clear_message_and_valid_json(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    Journal.open(path).close()
    table = CliRunner().invoke(app, ["report", "--journal", str(path)])
    assert table.exit_code == 0
    assert table.stdout.strip() == f"{path}: no fills yet, nothing to report"
    as_json = CliRunner().invoke(app, ["report", "--journal", str(path), "--format", "json"])
    assert as_json.exit_code == 0 and "no fills yet" in as_json.stderr
    document = json.loads(as_json.stdout)
    assert document["strategies"] == [] and document["total"]["trades"] == 0


def test_a_window_with_no_fills_says_when_the_last_one_was(journal_file: Path) -> None:
    with Journal.open(journal_file) as journal:  # much later, only equity moves
        journal.record_equity(EquitySnapshot(T0 + 30 * 24 * HOUR, D(100_070), D(100_000), D(0)))
    result = CliRunner().invoke(app, ["report", "--journal", str(journal_file), "--days", "7"])
    assert result.exit_code == 0
    assert "no fills in the last 7 days" in result.stdout


def test_report_reads_the_journal_of_the_last_run_and_names_the_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `run --live` after dry runs (rulebot.yaml says dry_run: true): report shows the live
    run, and says how to read the dry run's journal; a later dry run turns it round."""
    monkeypatch.chdir(tmp_path)
    Path("rulebot.yaml").write_text("runtime:\n  journal: bot.sqlite\ndry_run: true\n")
    with write_journal(tmp_path / "bot.dry-run.sqlite", FILLS[:1]) as dry:
        dry.start_run("sim", True, started_ms=T0)
    with write_journal(tmp_path / "bot.sqlite", FILLS[:3]) as live:
        live.start_run("sim", False, started_ms=T0 + HOUR)

    result = CliRunner().invoke(app, ["report", "--format", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["journal"] == "bot.sqlite"
    assert "for bot.dry-run.sqlite: --journal bot.dry-run.sqlite" in result.stderr
    trades = CliRunner().invoke(app, ["report", "trades"])
    assert trades.exit_code == 0 and "--journal bot.dry-run.sqlite" in trades.stderr

    with Journal.open(tmp_path / "bot.dry-run.sqlite") as dry:
        dry.start_run("sim", True, started_ms=T0 + 2 * HOUR)
    result = CliRunner().invoke(app, ["report", "--format", "json"])
    assert json.loads(result.stdout)["journal"] == "bot.dry-run.sqlite"
    assert "for bot.sqlite: --journal bot.sqlite" in result.stderr


def test_the_journal_is_the_one_rulebot_yaml_makes_run_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert journal_path(None, None) == Path("rulebot-state.dry-run.sqlite")  # the defaults
    Path("rulebot.yaml").write_text("runtime:\n  journal: state/bot.sqlite\ndry_run: false\n")
    assert journal_path(None, None) == Path("state/bot.sqlite")
    Path("dry.yaml").write_text("runtime:\n  journal: state/bot.sqlite\n")
    assert journal_path(None, "dry.yaml") == Path("state/bot.dry-run.sqlite")
    assert journal_path("other.sqlite", "dry.yaml") == Path("other.sqlite")

    write_journal(tmp_path / "state" / "bot.sqlite", FILLS[:1], equity=False).close()
    result = CliRunner().invoke(app, ["report", "-c", "dry.yaml"])
    assert result.exit_code == 1
    assert "there is state/bot.sqlite: pass --journal state/bot.sqlite" in result.stderr

    Path("broken.yaml").write_text("runtime:\n  jurnal: x\n")
    result = CliRunner().invoke(app, ["report", "-c", "broken.yaml"])
    assert result.exit_code == 1 and "unknown key `jurnal`" in result.stderr


_SIZES = st.integers(1, 400).map(lambda n: Decimal(n) / 100)
_PRICES = st.integers(1, 10_000).map(lambda n: Decimal(n) / 10)
_FEES = st.integers(-50, 500).map(lambda n: Decimal(n) / 1000)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.booleans(), _SIZES, _PRICES, _FEES), max_size=40))
def test_trades_account_for_every_fill_to_the_last_digit(
    steps: list[tuple[bool, Decimal, Decimal, Decimal]],
) -> None:
    fills = [
        Fill(n, n, "s", "ETH", "buy" if buy else "sell", size, price, fee, n)
        for n, (buy, size, price, fee) in enumerate(steps, 1)
    ]
    position = StrategyPosition("s", "ETH")
    for fill in fills:
        position = apply_fill(position, fill)
    replayed = replay_fills(fills, lambda fill: "signal")
    trades = [*replayed.closed, *replayed.open]
    assert sum((t.gross_pnl for t in trades), D(0)) == position.realized_pnl
    assert sum((t.fees for t in trades), D(0)) == sum((f.fee for f in fills), D(0))
    assert len(replayed.open) == (1 if position.size else 0)
    if replayed.open:
        (still_open,) = replayed.open
        assert still_open.side == ("long" if position.size > 0 else "short")
    for trade in replayed.closed:
        assert trade.exit_price is not None and trade.size > 0
        assert trade.exit_time_ms is not None and trade.exit_time_ms >= trade.entry_time_ms

"""`rulebot report`: how the bot has done, read from its journal (read-only, so it works while the
bot runs).

Trades are round trips rebuilt from each strategy's fills on each market by `runtime.trades`,
the bookkeeping the running bot says its trades with: a trade opens when the strategy's position
there leaves 0 and closes when it returns to 0 or flips (a flip closes one trade and opens the
next with the rest of the fill, its fee split between them by size). A spread's legs are
separate trades, one per market.

For a window (`--days N`: the N days up to the journal's newest record, which on the sim is the
replay's clock): `realized_pnl` and `fees` sum the fills inside it, the trades are those that
closed inside it, and drawdowns are measured inside it. `funding` is the running total the journal
keeps per position since it began (it has no history of payments to cut to a window).
`net_pnl = realized_pnl - fees - funding`; a trade's `pnl` is net of its fees, as in a backtest,
and a trade wins when that is above 0. Money is `Decimal` throughout and exact strings in JSON and
CSV; ratios (`win_rate`, `max_drawdown_fraction`) are plain numbers.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Context, Decimal, Inexact, localcontext
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final

import typer

from rulebot import __version__
from rulebot.runtime.journal import dry_run_journal
from rulebot.runtime.messages import EquitySnapshot, Fill, StrategyPosition
from rulebot.runtime.trades import Booking, Trade, money, replay_fills

DAY_MS: Final = 86_400_000
SUMMARY_COLUMNS: Final = (
    "strategy",
    "markets",
    "trades",
    "winning_trades",
    "losing_trades",
    "win_rate",
    "realized_pnl",
    "fees",
    "funding",
    "net_pnl",
    "max_drawdown",
    "best_trade",
    "worst_trade",
)
"""The `--format csv` header, in order; the last row is `total`."""
TRADE_COLUMNS: Final = (
    "strategy",
    "market",
    "side",
    "entry_time",
    "exit_time",
    "size",
    "entry_price",
    "exit_price",
    "pnl",
    "gross_pnl",
    "fees",
    "exit_reason",
    "closes",
)
"""The trades CSV's header, in order (times ISO 8601 UTC)."""
_EXACT: Final = Context(prec=100, traps=[Inexact])
_DIVIDE: Final = Context(prec=100)


class ReportError(Exception):
    """Why there is no report, in one message for the user."""


# --- performance ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Performance:
    """A strategy's results (or, as `total`, every strategy's together)."""

    strategy: str
    markets: tuple[str, ...]
    trades: int
    winning_trades: int
    losing_trades: int
    realized_pnl: Decimal
    fees: Decimal
    funding: Decimal
    max_drawdown: Decimal | None  # quote: of the net realised PnL (total: of account equity)
    best_trade: Decimal | None
    worst_trade: Decimal | None

    @property
    def win_rate(self) -> float | None:
        return self.winning_trades / self.trades if self.trades else None

    @property
    def net_pnl(self) -> Decimal:
        with localcontext(_EXACT):
            return self.realized_pnl - self.fees - self.funding


@dataclass(frozen=True, slots=True)
class Report:
    """Everything `rulebot report` shows, for one window of one journal."""

    journal: str
    start_ms: int | None  # None: no record at all
    end_ms: int | None
    days: float | None
    strategies: tuple[Performance, ...]
    total: Performance
    trades: tuple[Trade, ...]  # closed inside the window, in exit order
    open_trades: tuple[Trade, ...]
    equity_start: Decimal | None
    equity_end: Decimal | None
    max_drawdown_fraction: float | None  # of account equity, from its peak
    fills: int = 0  # inside the window


def build_report(
    journal: str,
    fills: Sequence[Fill],
    positions: Sequence[StrategyPosition],
    equity: Sequence[EquitySnapshot],
    exit_reason: Callable[[Fill], str],
    days: float | None = None,
) -> Report:
    """The report over the last `days` (all of it if None) of what a journal holds."""
    times = [f.time_ms for f in fills[-1:]] + [s.time_ms for s in equity[-1:]]
    end = max(times) if times else None
    firsts = [f.time_ms for f in fills[:1]] + [s.time_ms for s in equity[:1]]
    start = min(firsts) if firsts else None
    if days is not None and end is not None:
        start = max(start or end, end - int(days * DAY_MS))
    since = start if start is not None else 0
    replayed = replay_fills(fills, exit_reason)
    trades = [t for t in replayed.closed if (t.exit_time_ms or 0) >= since]
    bookings = [b for b in replayed.bookings if b.time_ms >= since]
    funding: dict[str, Decimal] = {}
    for p in positions:
        funding[p.strategy] = funding.get(p.strategy, Decimal(0)) + p.funding
    names = sorted(
        {b.strategy for b in bookings}
        | {s for s, f in funding.items() if f}
        | {t.strategy for t in replayed.open}
    )
    rows = tuple(
        _performance(
            name,
            [t for t in trades if t.strategy == name],
            [b for b in bookings if b.strategy == name],
            funding.get(name, Decimal(0)),
            sorted({f.market for f in fills if f.strategy == name}),
        )
        for name in names
    )
    window = [s for s in equity if s.time_ms >= since]
    drawdown, fraction = _equity_drawdown(window)
    total = _performance(
        "total",
        trades,
        bookings,
        sum(funding.values(), Decimal(0)),
        sorted({m for r in rows for m in r.markets}),
    )
    total = replace(total, max_drawdown=drawdown)
    return Report(
        journal=journal,
        start_ms=start,
        end_ms=end,
        days=days,
        strategies=rows,
        total=total,
        trades=tuple(sorted(trades, key=lambda t: (t.exit_time_ms or 0, t.strategy, t.market))),
        open_trades=tuple(replayed.open),
        fills=len(bookings),
        equity_start=window[0].equity if window else None,
        equity_end=window[-1].equity if window else None,
        max_drawdown_fraction=fraction,
    )


def _performance(
    name: str,
    trades: Sequence[Trade],
    bookings: Sequence[Booking],
    funding: Decimal,
    markets: Sequence[str],
) -> Performance:
    with localcontext(_EXACT):
        realized = sum((b.realized for b in bookings), Decimal(0))
        fees = sum((b.fee for b in bookings), Decimal(0))
        curve, peak, drawdown = Decimal(0), Decimal(0), Decimal(0)
        for b in bookings:
            curve += b.realized - b.fee
            peak = max(peak, curve)
            drawdown = max(drawdown, peak - curve)
    pnls = [t.pnl for t in trades]
    return Performance(
        strategy=name,
        markets=tuple(markets),
        trades=len(trades),
        winning_trades=sum(p > 0 for p in pnls),
        losing_trades=sum(p < 0 for p in pnls),
        realized_pnl=realized,
        fees=fees,
        funding=funding,
        max_drawdown=drawdown if bookings else None,
        best_trade=max(pnls) if pnls else None,
        worst_trade=min(pnls) if pnls else None,
    )


def _equity_drawdown(snapshots: Sequence[EquitySnapshot]) -> tuple[Decimal | None, float | None]:
    """The largest fall of equity from its running peak: in quote, and as a fraction of the
    peak it fell from (the largest such fraction)."""
    if not snapshots:
        return None, None
    peak = snapshots[0].equity
    amount, fraction = Decimal(0), Decimal(0)
    with localcontext(_DIVIDE):
        for snapshot in snapshots:
            peak = max(peak, snapshot.equity)
            fall = peak - snapshot.equity
            amount = max(amount, fall)
            if peak > 0:
                fraction = max(fraction, fall / peak)
    return amount, float(fraction)


# --- reading the journal ----------------------------------------------------------------------


def journal_path(journal: str | None, config_path: str | None) -> Path:
    """The journal to read (see `choose_journal`)."""
    return choose_journal(journal, config_path)[0]


def choose_journal(journal: str | None, config_path: str | None) -> tuple[Path, str | None]:
    """The journal to read, and a note naming the other one when there is one to pick.

    `journal` if given; else, of the two journals rulebot.yaml's `runtime.journal` makes
    `rulebot run` write (live, and its dry-run twin), the one whose last run started last, so
    `report` after `run --live` shows that run whatever `dry_run` says. With neither written
    yet, the one rulebot.yaml's `dry_run` picks."""
    if journal is not None:
        return Path(journal), None
    from rulebot.config import Config, ConfigError, check_config
    from rulebot.lang.diagnostics import Source

    path = Path(config_path) if config_path is not None else Path("rulebot.yaml")
    if config_path is None and not path.exists():
        config: Config | None = Config()
    else:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise ReportError(f"cannot read {path}: {error}") from None
        source = Source(str(path), text)
        config, diagnostics = check_config(source)
        if config is None:
            raise ReportError(str(ConfigError(diagnostics, source)))
    assert config is not None
    live = Path(config.runtime.journal)
    chosen, other = (
        (dry_run_journal(live), live) if config.dry_run else (live, dry_run_journal(live))
    )
    chosen_ms, other_ms = _last_run_ms(chosen), _last_run_ms(other)
    if other_ms is None:
        return chosen, None
    if chosen_ms is None or other_ms > chosen_ms:
        chosen, other = other, chosen
    return chosen, f"reading {chosen}, of the last run here; for {other}: --journal {other}"


def _last_run_ms(path: Path) -> int | None:
    """When the last run recorded in the journal at `path` started; None without one."""
    from rulebot.runtime.journal import Journal, JournalError

    if not path.is_file():
        return None
    try:
        with Journal.open(path, readonly=True) as journal:
            runs = journal.runs()
    except JournalError:
        return None
    return runs[-1].started_ms if runs else None


def read_report(path: Path, days: float | None = None) -> Report:
    """The report of the journal at `path`, opened read-only (a running bot keeps writing)."""
    from rulebot.runtime.journal import Journal, JournalError

    if days is not None and not days > 0:
        raise ReportError(f"--days must be more than 0, not {days}")
    try:
        journal = Journal.open(path, readonly=True)
    except JournalError as error:
        raise ReportError(_missing_hint(path, str(error))) from None
    with journal:
        try:
            with journal.batch():  # one moment: the bot may write between two reads
                fills = journal.fills()
                positions = journal.positions()
                equity = journal.equity_since(0)
                reasons: dict[int, str] = {}

                def exit_reason(fill: Fill) -> str:
                    index = fill.client_order_index
                    if index not in reasons:
                        order = journal.order(index)
                        reasons[index] = order.reason if order is not None else ""
                    return reasons[index]

                return build_report(str(path), fills, positions, equity, exit_reason, days)
        except JournalError as error:
            raise ReportError(str(error)) from None


def _missing_hint(path: Path, message: str) -> str:
    """The journal's error, plus the other journal (live or dry run) when that one exists."""
    twin = (
        path.with_name(path.name.replace(".dry-run", ""))
        if ".dry-run" in path.name
        else dry_run_journal(path)
    )
    if twin != path and twin.is_file():
        return f"{message}; there is {twin}: pass --journal {twin}"
    return message


# --- showing it -------------------------------------------------------------------------------


def _shown(value: Decimal | None) -> str:
    """Money for people: two decimals, thousands separated; `—` for None."""
    if value is None:
        return "—"
    text = f"{value:,.2f}"
    return text.removeprefix("-") if text in ("-0.00",) else text


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _iso(time_ms: int | None) -> str:
    if time_ms is None:
        return ""
    return datetime.fromtimestamp(time_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(time_ms: int | None) -> str:
    if time_ms is None:
        return "?"
    return datetime.fromtimestamp(time_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def render_table(report: Report, width: int = 110) -> str:
    """The report as a person reads it: one row per strategy, the total, the account."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    out = io.StringIO()
    console = Console(
        file=out, width=width, color_system=None, force_terminal=False, highlight=False
    )
    span = f"{_day(report.start_ms)} → {_day(report.end_ms)} UTC"
    if report.days is not None:
        span += f", last {report.days:g} days"
    table = Table(
        box=box.SIMPLE_HEAD,
        title=f"Performance of {Path(report.journal).name}: {span}",
        title_justify="left",
    )
    table.add_column("Strategy", no_wrap=True)
    table.add_column("Markets")
    for label in ("Trades", "Win rate", "Realised PnL", "Fees", "Funding", "Net PnL", "Max DD"):
        table.add_column(label, justify="right", no_wrap=True)
    for index, row in enumerate((*report.strategies, report.total)):
        table.add_row(
            row.strategy,
            ", ".join(row.markets),
            f"{row.trades:,}",
            _percent(row.win_rate),
            _shown(row.realized_pnl),
            _shown(row.fees),
            _shown(row.funding),
            _shown(row.net_pnl),
            _shown(row.max_drawdown),
            end_section=index == len(report.strategies) - 1,
            style="bold" if row is report.total else None,
        )
    console.print(table)
    if report.equity_start is not None and report.equity_end is not None:
        fraction = report.max_drawdown_fraction
        console.print(
            f"Account equity {_shown(report.equity_start)} → {_shown(report.equity_end)} USDC; "
            f"max drawdown {_shown(report.total.max_drawdown)} USDC"
            + (f" ({fraction:.2%})" if fraction is not None else "")
        )
    for line in _open_lines(report):
        console.print(line)
    console.print(
        "Realised PnL and fees: fills in the window; trades: round trips closed in it; "
        "funding: since the journal began; Max DD: of net realised PnL (total: account equity)."
    )
    text = out.getvalue()
    return "\n".join(line.rstrip() for line in text.splitlines()).strip("\n") + "\n"


def _open_lines(report: Report) -> list[str]:
    return [
        f"Open: {t.strategy} {t.market} {t.side} {money(t.size)} at {money(t.entry_price)} "
        f"since {_day(t.entry_time_ms)} UTC"
        for t in report.open_trades
    ]


def performance_dict(row: Performance) -> dict[str, Any]:
    """A row as JSON-ready values, with the keys of `SUMMARY_COLUMNS`."""
    return {
        "strategy": row.strategy,
        "markets": list(row.markets),
        "trades": row.trades,
        "winning_trades": row.winning_trades,
        "losing_trades": row.losing_trades,
        "win_rate": row.win_rate,
        "realized_pnl": money(row.realized_pnl),
        "fees": money(row.fees),
        "funding": money(row.funding),
        "net_pnl": money(row.net_pnl),
        "max_drawdown": money(row.max_drawdown) or None,
        "best_trade": money(row.best_trade) or None,
        "worst_trade": money(row.worst_trade) or None,
    }


def trade_dict(trade: Trade) -> dict[str, Any]:
    """A trade as JSON-ready values, with the keys of `TRADE_COLUMNS` (times in ms UTC)."""
    return {
        "strategy": trade.strategy,
        "market": trade.market,
        "side": trade.side,
        "entry_time": trade.entry_time_ms,
        "exit_time": trade.exit_time_ms,
        "size": money(trade.size),
        "entry_price": money(trade.entry_price),
        "exit_price": money(trade.exit_price) or None,
        "pnl": money(trade.pnl),
        "gross_pnl": money(trade.gross_pnl),
        "fees": money(trade.fees),
        "exit_reason": trade.exit_reason,
        "closes": trade.closes,
    }


def report_json(report: Report) -> str:
    """The report as one JSON document (see docs: keys of `performance_dict` and `trade_dict`)."""
    total = performance_dict(report.total)
    total.update(
        equity_start=money(report.equity_start) or None,
        equity_end=money(report.equity_end) or None,
        max_drawdown_fraction=report.max_drawdown_fraction,
    )
    document = {
        "rulebot_version": __version__,
        "journal": report.journal,
        "start": report.start_ms,
        "end": report.end_ms,
        "days": report.days,
        "strategies": [performance_dict(row) for row in report.strategies],
        "total": total,
        "open_trades": [trade_dict(t) for t in report.open_trades],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def report_csv(report: Report) -> str:
    """One row per strategy and a last row `total` (columns `SUMMARY_COLUMNS`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SUMMARY_COLUMNS)
    for row in (*report.strategies, report.total):
        values = performance_dict(row)
        values["markets"] = " ".join(row.markets)
        values["win_rate"] = "" if row.win_rate is None else repr(row.win_rate)
        writer.writerow(["" if values[k] is None else values[k] for k in SUMMARY_COLUMNS])
    return buffer.getvalue()


def trades_csv(trades: Iterable[Trade]) -> str:
    """One row per trade (columns `TRADE_COLUMNS`, times ISO 8601 UTC)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(TRADE_COLUMNS)
    for trade in trades:
        values = trade_dict(trade)
        values["entry_time"] = _iso(trade.entry_time_ms)
        values["exit_time"] = _iso(trade.exit_time_ms)
        writer.writerow(["" if values[k] is None else values[k] for k in TRADE_COLUMNS])
    return buffer.getvalue()


def trades_json(trades: Iterable[Trade]) -> str:
    return json.dumps([trade_dict(t) for t in trades], indent=2) + "\n"


# --- the command line -------------------------------------------------------------------------


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class TradesFormat(StrEnum):
    csv = "csv"
    json = "json"


@dataclass
class _Shared:
    """Options given before `trades` (`rulebot report --days 7 trades`) count for it too."""

    days: float | None = None
    journal: str | None = None
    config: str | None = None


DaysOption = Annotated[
    float | None,
    typer.Option("--days", help="Only the last N days (up to the journal's newest record)."),
]
JournalOption = Annotated[
    str | None,
    typer.Option("--journal", help="The SQLite journal. Default: the one rulebot.yaml names."),
]
ConfigOption = Annotated[
    str | None, typer.Option("--config", "-c", help="rulebot.yaml (its journal and dry_run).")
]

report_app = typer.Typer(
    help="Performance from the journal: PnL, trades, win rate, fees, funding, drawdown.",
    no_args_is_help=False,
)


@report_app.callback(invoke_without_command=True)
def report_command(
    ctx: typer.Context,
    days: DaysOption = None,
    output_format: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="table for people; json, csv for tools.")
    ] = ReportFormat.table,
    journal: JournalOption = None,
    config: ConfigOption = None,
) -> None:
    """Per strategy and in total: realised PnL, trades, win rate, fees, funding, max drawdown.
    Reads the journal read-only: safe while the bot runs."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = _Shared(days, journal, config)
        return
    raise typer.Exit(run_report(days, output_format, journal, config))


@report_app.command("trades")
def trades_command(
    ctx: typer.Context,
    days: DaysOption = None,
    out: Annotated[
        str | None, typer.Option("--out", "-o", help="Write here (default: print them).")
    ] = None,
    output_format: Annotated[
        TradesFormat, typer.Option("--format", "-f", help="csv or json.")
    ] = TradesFormat.csv,
    journal: JournalOption = None,
    config: ConfigOption = None,
) -> None:
    """Export the round trips that closed in the window, one row each."""
    shared = ctx.obj if isinstance(ctx.obj, _Shared) else _Shared()
    code = run_trades(
        days if days is not None else shared.days,
        out,
        output_format,
        journal or shared.journal,
        config or shared.config,
    )
    raise typer.Exit(code)


def run_report(
    days: float | None,
    output_format: ReportFormat | str,
    journal: str | None,
    config: str | None,
    echo: Callable[[str], None] = typer.echo,
) -> int:
    """`rulebot report`: print the report; 0 when printed, 1 when there is no journal."""
    try:
        path, note = choose_journal(journal, config)
        report = read_report(path, days)
    except ReportError as error:
        typer.echo(f"rulebot report: {error}", err=True)
        return 1
    if note is not None:
        typer.echo(f"rulebot report: {note}", err=True)
    output_format = ReportFormat(output_format)
    if report.fills == 0:
        note = _empty_note(report)
        if output_format is ReportFormat.table:
            echo(note)
            for line in _open_lines(report):
                echo(line)
            return 0
        typer.echo(f"rulebot report: {note}", err=True)
    if output_format is ReportFormat.json:
        echo(report_json(report).rstrip("\n"))
    elif output_format is ReportFormat.csv:
        echo(report_csv(report).rstrip("\n"))
    else:
        echo(render_table(report, width=_width()).rstrip("\n"))
    return 0


def run_trades(
    days: float | None,
    out: str | None,
    output_format: TradesFormat | str,
    journal: str | None,
    config: str | None,
) -> int:
    """`rulebot report trades`: the closed trades as CSV or JSON, to a file or stdout."""
    try:
        path, note = choose_journal(journal, config)
        report = read_report(path, days)
    except ReportError as error:
        typer.echo(f"rulebot report trades: {error}", err=True)
        return 1
    if note is not None:
        typer.echo(f"rulebot report trades: {note}", err=True)
    output_format = TradesFormat(output_format)
    text = trades_json(report.trades) if output_format is TradesFormat.json else None
    text = text if text is not None else trades_csv(report.trades)
    if out is None:
        sys.stdout.write(text)
        return 0
    try:
        _write_atomically(Path(out), text)
    except OSError as error:
        typer.echo(f"rulebot report trades: cannot write {out}: {error.strerror}", err=True)
        return 1
    still_open = (
        f" ({len(report.open_trades)} still open, not listed)" if report.open_trades else ""
    )
    typer.echo(f"wrote {len(report.trades)} trades to {out}{still_open}")
    return 0


def _empty_note(report: Report) -> str:
    if report.end_ms is None or report.days is None:
        return f"{report.journal}: no fills yet, nothing to report"
    return (
        f"{report.journal}: no fills in the last {report.days:g} days "
        f"(its newest record is from {_day(report.end_ms)} UTC)"
    )


def _width() -> int:
    import shutil

    return max(80, min(shutil.get_terminal_size((110, 24)).columns, 160))


def _write_atomically(path: Path, text: str) -> None:
    import os
    import tempfile

    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


__all__ = [
    "SUMMARY_COLUMNS",
    "TRADE_COLUMNS",
    "Performance",
    "Report",
    "ReportError",
    "Trade",
    "build_report",
    "journal_path",
    "read_report",
    "render_table",
    "replay_fills",
    "report_app",
    "report_csv",
    "report_json",
    "trades_csv",
]

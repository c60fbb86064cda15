"""Backtest reports: the console summary, JSON and trades CSV files, and equity charts.

`summary_table` / `summary_text` print the results side by side, one column per strategy.
`write_json` and `write_trades_csv` write the machine-readable results; `write_plot` draws the
price with the trades, the equity curve and the drawdown as a PNG (`report_png`: matplotlib, the
`plot` extra) or as a self-contained HTML page with a zoomable chart and the trades table
(`report_html`). Every file is written atomically: a temporary file beside the target, renamed
over it once complete.

>>> from rulebot.backtesting.engine import backtest
>>> result = backtest("rules/mean_reversion.rule")
>>> print(summary_text([result]))  # doctest: +SKIP
>>> write_plot(result, "mean_reversion.html")  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

from rulebot import __version__
from rulebot.backtesting.engine import BacktestResult

MISSING = "—"
"""How a metric that is undefined (None) is shown."""
TRADE_COLUMNS = (
    "strategy",
    "market",
    "side",
    "entry_time",
    "exit_time",
    "size",
    "entry_price",
    "exit_price",
    "pnl",
    "fees",
    "funding",
    "exit_reason",
    "trip",
)
"""The trades CSV's header, in order: one row per closing fill; `trip` numbers the round trips
(a round trip's fills share it)."""
MAX_HTML_TRADES = 5_000
"""Trades listed in the HTML report's table (its chart shows them all); the trades CSV has
them all."""


class ReportError(Exception):
    """Why a report cannot be written, in one readable message."""


# ---- the console summary -------------------------------------------------------------------------
def summary_rows(results: Sequence[BacktestResult]) -> list[tuple[str, list[str]]]:
    """The summary as (label, one formatted value per result) rows, strategy name first."""
    rows: list[tuple[str, Callable[[BacktestResult], str]]] = [
        ("Strategy", lambda r: r.strategy),
        ("Market", _market),
        ("Period (UTC)", _period),
        ("Initial equity", lambda r: _money(r.metrics.initial_equity)),
        ("Final equity", lambda r: _money(r.metrics.final_equity)),
        ("Return", lambda r: _percent(r.metrics.total_return)),
        ("Buy & hold", lambda r: _percent(r.metrics.buy_and_hold_return)),
        ("CAGR", lambda r: _percent(r.metrics.cagr)),
        ("Sharpe", lambda r: _number(r.metrics.sharpe)),
        ("Sortino", lambda r: _number(r.metrics.sortino)),
        ("Max drawdown", _max_drawdown),
        ("Calmar", lambda r: _number(r.metrics.calmar)),
        ("Trades", lambda r: f"{r.metrics.trades:,}"),
        ("Winning trades", lambda r: f"{r.metrics.winning_trades:,}"),
        ("Losing trades", lambda r: f"{r.metrics.losing_trades:,}"),
        ("Win rate", lambda r: _percent(r.metrics.win_rate)),
        ("Profit factor", lambda r: _number(r.metrics.profit_factor)),
        ("Expectancy", lambda r: _money(r.metrics.expectancy)),
        ("Best / worst trade", _best_worst),
        ("Exposure", lambda r: _percent(r.metrics.exposure)),
        ("Fees paid", lambda r: _money(r.metrics.fees_paid)),
        ("Funding paid", lambda r: _money(r.metrics.funding_paid)),
    ]
    return [(label, [shown(r) for r in results]) for label, shown in rows]


def summary_table(results: Sequence[BacktestResult]) -> Table:
    """The results side by side, one column per strategy, one row per metric."""
    (_, names), *rows = summary_rows(results)
    table = Table(box=box.SIMPLE_HEAD, title="Backtest summary", title_justify="left")
    labels = [label for label, _ in rows]
    table.add_column("Strategy", style="bold", no_wrap=True, min_width=max(map(len, labels)))
    for name in names:
        table.add_column(name, justify="right", overflow="fold")
    for label, values in rows:
        table.add_row(label, *values)
    return table


def summary_text(results: Sequence[BacktestResult], width: int = 120) -> str:
    """The summary table as plain text (no colour codes), for logs and snapshot tests."""
    console = Console(
        file=io.StringIO(), record=True, width=width, color_system=None, force_terminal=False
    )
    console.print(summary_table(results))
    text = console.export_text(styles=False)
    return "\n".join(line.rstrip() for line in text.splitlines()).strip("\n") + "\n"


def _market(r: BacktestResult) -> str:
    """`BTC 5m (USD)`: the market, its timeframe and, when known, the currency its prices and
    money are in."""
    return f"{r.market} {r.timeframe}" + (f" ({r.quote})" if r.quote else "")


def _period(r: BacktestResult) -> str:
    start, end = r.metrics.start, r.metrics.end
    days = (end - start).total_seconds() / 86_400
    return f"{start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M}\n({days:,.1f} days)"


def _max_drawdown(r: BacktestResult) -> str:
    m = r.metrics
    if m.max_drawdown == 0:
        return _percent(m.max_drawdown)
    if m.max_drawdown_duration_days is None:
        return f"{_percent(m.max_drawdown)} ({m.max_drawdown_duration_bars:,} bars)"
    return f"{_percent(m.max_drawdown)} ({m.max_drawdown_duration_days:,.1f} days)"


def _best_worst(r: BacktestResult) -> str:
    best, worst = r.metrics.best_trade_return, r.metrics.worst_trade_return
    if best is None or worst is None:
        return MISSING
    return f"{_percent(best)} / {_percent(worst)}"


def _percent(value: float | None) -> str:
    """12.34%; a tiny loss keeps its sign (-0.00%), only an exact zero is 0.00%."""
    return MISSING if value is None else f"{value + 0.0:.2%}"


def _money(value: float | None) -> str:
    return MISSING if value is None else f"{value + 0.0:,.2f}"


def _number(value: float | None) -> str:
    return MISSING if value is None else f"{value + 0.0:,.2f}"


def _unsigned_zero(text: str) -> str:
    """'-0' or '-0.00' (a tick at zero, or just below it) shown unsigned."""
    return text[1:] if text.startswith("-") and not text.strip("-0.,%") else text


# ---- JSON and CSV --------------------------------------------------------------------------------
def write_json(results: Sequence[BacktestResult], path: str | Path) -> Path:
    """Write `{"rulebot_version", "results": [to_dict(), ...]}`; NaN and infinity become null."""
    document = {
        "rulebot_version": __version__,
        "results": [_finite(r.to_dict()) for r in results],
    }
    text = json.dumps(document, ensure_ascii=False, allow_nan=False) + "\n"
    return _write_atomically(path, lambda file: file.write(text.encode()))


def write_trades_csv(results: Sequence[BacktestResult], path: str | Path) -> Path:
    """Write one row per closing fill of every result (columns: `TRADE_COLUMNS`, times ISO 8601
    UTC)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(TRADE_COLUMNS)
    for r in results:
        for trade in trade_rows(r):
            writer.writerow([r.strategy, r.market, *(trade[k] for k in TRADE_COLUMNS[2:])])
    return _write_atomically(path, lambda file: file.write(buffer.getvalue().encode()))


def trade_rows(result: BacktestResult) -> list[dict[str, Any]]:
    """Each trade as plain values: side "long"/"short", fill times as ISO 8601 UTC strings."""
    return result.trade_dicts(_iso)


def _finite(value: Any) -> Any:
    """`value` with every non-finite float replaced by None (numpy scalars made plain)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _iso(timestamp_ms: int | np.integer) -> str:
    return datetime.fromtimestamp(int(timestamp_ms) / 1000, tz=UTC).isoformat()


def _write_atomically(path: str | Path, write: Callable[[IO[bytes]], object]) -> Path:
    """Run `write` on a temporary file beside `path`, then rename it over `path`."""
    target = Path(path)
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


# ---- charts --------------------------------------------------------------------------------------
def write_plot(result: BacktestResult, path: str | Path) -> Path:
    """Draw the equity curve and drawdown; the format follows the suffix (`.png` or `.html`)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".png":
        return write_png(result, path)
    if suffix == ".html":
        return write_html(result, path)
    raise ReportError(f"cannot draw a chart as `{suffix or Path(path).name}`: use .png or .html")


def equity_and_drawdown(result: BacktestResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Timestamps (ms), equity and drawdown (a fraction, 0.25 = 25% below the peak) for the
    measured bars, from the first tradable bar on, as the metrics count them."""
    equity = np.asarray(result.equity, dtype=np.float64)
    first = min(max(int(result.columns.warmup_bars), 0), len(equity) - 1)
    equity = equity[first:]
    peaks = np.maximum.accumulate(np.concatenate([[result.settings.initial_equity], equity]))[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = np.where(peaks > 0, 1.0 - equity / peaks, 0.0)
    timestamps = np.asarray(result.columns.timestamp, dtype=np.int64)[first:]
    return timestamps, equity, drawdown


def _headline(result: BacktestResult) -> str:
    m = result.metrics
    return (
        f"Return {_percent(m.total_return)}  ·  Buy & hold {_percent(m.buy_and_hold_return)}  ·  "
        f"Max drawdown {_percent(m.max_drawdown)}  ·  Sharpe {_number(m.sharpe)}  ·  "
        f"{m.trades:,} trades, win rate {_percent(m.win_rate)}"
    )


def write_png(result: BacktestResult, path: str | Path) -> Path:
    """Draw the price with the trades, the equity curve and the drawdown as a PNG
    (`rulebot.backtesting.report_png`; needs matplotlib, the `plot` extra)."""
    from rulebot.backtesting.report_png import png_figure

    figure = png_figure(result)
    return _write_atomically(path, lambda file: figure.savefig(file, format="png"))


def write_html(result: BacktestResult, path: str | Path) -> Path:
    """Write the self-contained HTML report (`rulebot.backtesting.report_html`)."""
    from rulebot.backtesting.report_html import html_report

    return _write_atomically(path, lambda file: file.write(html_report(result).encode()))


def _price(value: float) -> str:
    """A price with enough significant digits for sub-unit markets (0.09424 BTC)."""
    if value == 0 or abs(value) >= 100:
        return f"{value:,.2f}"
    decimals = min(10, max(2, 5 - math.floor(math.log10(abs(value)))))
    return f"{value:,.{decimals}f}"


def _decimals(step: float) -> int:
    """The decimals that show every multiple of `step` exactly (0.25 → 2, 5 → 0)."""
    if not step > 0:
        return 2
    return next((d for d in range(10) if abs(round(step, d) - step) <= step * 1e-6), 10)

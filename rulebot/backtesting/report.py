"""Backtest reports: the console summary, JSON and trades CSV files, and equity charts.

`summary_table` / `summary_text` print the results side by side, one column per strategy.
`write_json` and `write_trades_csv` write the machine-readable results; `write_plot` draws the
equity curve and drawdown as a PNG (matplotlib, the `plot` extra) or as a self-contained HTML
page with an inline SVG chart. Every file is written atomically: a temporary file beside the
target, renamed over it once complete.

>>> from rulebot.backtesting.engine import backtest
>>> result = backtest("rules/mean_reversion.rule")
>>> print(summary_text([result]))  # doctest: +SKIP
>>> write_plot(result, "mean_reversion.html")  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import html
import io
import itertools
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
)
"""The trades CSV's header, in order."""
MAX_CHART_POINTS = 2_000
"""Points per line in the HTML chart; longer series keep each bucket's min and max."""
MAX_HTML_TRADES = 500
"""Trades listed in the HTML report; the trades CSV has them all."""


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
    """Write one row per trade of every result (columns: `TRADE_COLUMNS`, times ISO 8601 UTC)."""
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
    """Draw the equity curve (trade exits marked, green won, red lost) above the drawdown."""
    try:
        from matplotlib import dates as mdates
        from matplotlib import ticker
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ReportError(
            "PNG charts need matplotlib: pip install 'rulebot[plot]' (or write .html)"
        ) from None

    class TickLabels(ticker.Formatter):
        def __init__(self, pattern: str, scale: float) -> None:
            self.pattern, self.scale = pattern, scale

        def __call__(self, x: float, pos: int | None = None) -> str:
            return _tick_labels([x], self.pattern, self.scale)[0]

        def format_ticks(self, values: Sequence[float]) -> list[str]:
            return _tick_labels(values, self.pattern, self.scale)

    timestamps, equity, drawdown = equity_and_drawdown(result)
    when = timestamps.astype("datetime64[ms]")
    figure = Figure(figsize=(12, 7), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    figure.suptitle(
        f"{result.strategy} · {result.market} {result.timeframe}", fontsize=14, fontweight="bold"
    )
    top.set_title(_headline(result), fontsize=10, color="#444444", pad=24)

    top.plot(when, equity, color="#1f5fa8", linewidth=1.0, label="Equity")
    top.axhline(
        result.settings.initial_equity,
        color="#999999",
        linewidth=0.8,
        linestyle="--",
        label="Initial equity",
    )
    exits = _trade_exits(result, len(result.equity) - len(equity))
    for outcome, colour, marker, label in (
        (1, "#1a9850", "^", "won"),
        (-1, "#d73027", "v", "lost"),
        (0, "#777777", "o", "break-even"),
    ):
        chosen = exits[exits[:, 1] == outcome, 0]
        if len(chosen):
            top.scatter(
                when[chosen],
                equity[chosen],
                s=10,
                marker=marker,
                color=colour,
                alpha=0.6,
                linewidths=0,
                zorder=3,
                label=f"Trade exit, {label} ({len(chosen):,})",
            )
    top.set_ylabel("Equity")
    top.yaxis.set_major_formatter(TickLabels("{:,.{}f}", 1.0))
    top.grid(True, color="#e5e5e5", linewidth=0.8)
    top.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=4, fontsize=9, frameon=False)

    bottom.fill_between(when, -drawdown, 0.0, color="#d73027", alpha=0.35, linewidth=0)
    bottom.plot(when, -drawdown, color="#d73027", linewidth=0.8)
    bottom.set_ylabel("Drawdown")
    bottom.yaxis.set_major_formatter(TickLabels("{:.{}f}%", 100.0))
    bottom.set_ylim(top=0.0)
    bottom.grid(True, color="#e5e5e5", linewidth=0.8)
    locator = mdates.AutoDateLocator()
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    bottom.set_xlim(when[0], when[-1])
    for axis in (top, bottom):
        axis.spines[["top", "right"]].set_visible(False)

    return _write_atomically(path, lambda file: figure.savefig(file, format="png"))


def _tick_labels(values: Sequence[float], pattern: str, scale: float) -> list[str]:
    """Tick labels with as many decimals as the step between ticks needs."""
    scaled = np.asarray(values, dtype=np.float64) * scale
    steps = np.abs(np.diff(scaled))
    decimals = _decimals(float(steps.min())) if len(steps) else 2
    return [_unsigned_zero(pattern.format(v, decimals)) for v in scaled]


def _trade_exits(result: BacktestResult, first: int) -> np.ndarray:
    """(bar index into the measured bars, sign of the pnl) for each trade, an (n, 2) int array."""
    trades = result.trades
    index = np.asarray(trades["exit_index"], dtype=np.int64) - first
    outcome = np.sign(np.asarray(trades["pnl"], dtype=np.float64)).astype(np.int64)
    keep = index >= 0
    return np.column_stack([index[keep], outcome[keep]]).reshape(-1, 2)


def write_html(result: BacktestResult, path: str | Path) -> Path:
    """Write a self-contained HTML report: summary, inline SVG equity and drawdown, trades."""
    return _write_atomically(path, lambda file: file.write(html_report(result).encode()))


def html_report(result: BacktestResult) -> str:
    """The HTML report as text (no scripts, no external references)."""
    name = html.escape(result.strategy)
    rows = [
        f"<tr><th>{html.escape(label)}</th><td>{_html_lines(value)}</td></tr>"
        for label, (value,) in summary_rows([result])[1:]
    ]
    half = (len(rows) + 1) // 2
    summary = "".join(
        f"<table class='summary'>{''.join(part)}</table>" for part in (rows[:half], rows[half:])
    )
    trades = trade_rows(result)
    shown = trades[:MAX_HTML_TRADES]
    headers = ("#", "Side", "Entry (UTC)", "Exit (UTC)", "Size", "Entry price", "Exit price")
    headers += ("PnL", "Fees", "Funding", "Exit reason")
    trade_head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    trade_body = "".join(_trade_row(number, trade) for number, trade in enumerate(shown, 1))
    if len(trades) > len(shown):
        note = (
            f"<p class='note'>Showing the first {len(shown):,} of {len(trades):,} trades; "
            "the trades CSV lists them all.</p>"
        )
    elif not trades:
        note = "<p class='note'>No trades.</p>"
    else:
        note = ""
    title = f"{name} · {html.escape(result.market)} {html.escape(result.timeframe)}"
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · rulebot backtest</title>
<style>{_CSS}</style>
</head>
<body>
<h1>{title}</h1>
<p class="sub">{html.escape(_headline(result))}</p>
<p class="legend"><span class="key equity"></span>Equity
<span class="key start"></span>Initial equity
<span class="key won">▲</span>Trade exit, won <span class="key lost">▼</span>Trade exit, lost
<span class="key drawdown"></span>Drawdown from the running peak</p>
<section class="chart">{svg_chart(result)}</section>
<section><h2>Summary</h2><div class="summary">{summary}</div></section>
<section class="trades"><h2>Trades</h2>{note}
<table class="trades"><thead><tr>{trade_head}</tr></thead><tbody>{trade_body}</tbody></table>
</section>
<footer>rulebot {html.escape(__version__)} backtest report</footer>
</body>
</html>
"""


def _html_lines(text: str) -> str:
    """`text` escaped, its line breaks kept."""
    return "<br>".join(html.escape(line) for line in text.splitlines())


def _trade_row(number: int, trade: dict[str, Any]) -> str:
    pnl_class = "won" if trade["pnl"] > 0 else "lost" if trade["pnl"] < 0 else ""
    cells = (
        f"{number:,}",
        trade["side"],
        trade["entry_time"][:16].replace("T", " "),
        trade["exit_time"][:16].replace("T", " "),
        f"{trade['size']:,.4f}",
        _price(trade["entry_price"]),
        _price(trade["exit_price"]),
        _money(trade["pnl"]),
        _money(trade["fees"]),
        _money(trade["funding"]),
        trade["exit_reason"].replace("_", " "),
    )
    tds = "".join(
        f"<td class='{pnl_class}'>{html.escape(c)}</td>" if i == 7 else f"<td>{html.escape(c)}</td>"
        for i, c in enumerate(cells)
    )
    return f"<tr>{tds}</tr>"


def _price(value: float) -> str:
    """A price with enough significant digits for sub-unit markets (0.09424 BTC)."""
    if value == 0 or abs(value) >= 100:
        return f"{value:,.2f}"
    decimals = min(10, max(2, 5 - math.floor(math.log10(abs(value)))))
    return f"{value:,.{decimals}f}"


# ---- the inline SVG chart ------------------------------------------------------------------------
_WIDTH, _EQUITY_HEIGHT, _DRAWDOWN_HEIGHT, _GAP = 1100, 320, 130, 24
_LEFT, _RIGHT, _TOP, _BOTTOM = 86, 16, 12, 28


def downsample(values: np.ndarray, max_points: int = MAX_CHART_POINTS) -> np.ndarray:
    """Indices of at most `max_points` values that keep each bucket's min and max (so spikes
    survive) and the first and last value; all indices when there are few enough."""
    n = len(values)
    if n <= max_points:
        return np.arange(n)
    buckets = (max_points - 2) // 2
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    chosen = [0, n - 1]
    for start, end in itertools.pairwise(edges):
        part = values[start:end]
        chosen += [start + int(np.nanargmin(part)), start + int(np.nanargmax(part))]
    return np.unique(np.asarray(chosen, dtype=np.int64))


def svg_chart(result: BacktestResult) -> str:
    """The equity curve above the drawdown, as one inline <svg> element."""
    timestamps, equity, drawdown = equity_and_drawdown(result)
    t0, t1 = int(timestamps[0]), int(timestamps[-1])
    t1 = t1 if t1 > t0 else t0 + 1
    plot_width = _WIDTH - _LEFT - _RIGHT
    equity_top = _TOP
    drawdown_top = _TOP + _EQUITY_HEIGHT + _GAP
    height = drawdown_top + _DRAWDOWN_HEIGHT + _BOTTOM

    def x_of(t: np.ndarray | float) -> np.ndarray | float:
        return _LEFT + (np.asarray(t, dtype=np.float64) - t0) / (t1 - t0) * plot_width

    low, high = float(np.nanmin(equity)), float(np.nanmax(equity))
    initial = float(result.settings.initial_equity)
    low, high = min(low, initial), max(high, initial)
    equity_ticks, equity_step = _nice_ticks(low, high)
    e_low, e_high = equity_ticks[0], equity_ticks[-1]

    def y_equity(v: np.ndarray | float) -> np.ndarray | float:
        span = e_high - e_low or 1.0
        return equity_top + (e_high - np.asarray(v, dtype=np.float64)) / span * _EQUITY_HEIGHT

    deepest = float(np.nanmax(drawdown)) or 1e-4
    dd_ticks, dd_step = _nice_ticks(0.0, deepest, count=3)
    dd_bottom = dd_ticks[-1]

    def y_drawdown(v: np.ndarray | float) -> np.ndarray | float:
        return drawdown_top + np.asarray(v, dtype=np.float64) / dd_bottom * _DRAWDOWN_HEIGHT

    parts = [
        f'<svg viewBox="0 0 {_WIDTH} {height}" width="100%" role="img" '
        f'aria-label="Equity curve and drawdown of {html.escape(result.strategy)}">',
    ]
    # grid and axis labels
    equity_decimals = _decimals(equity_step)
    for tick in equity_ticks:
        y = y_equity(tick)
        parts.append(
            f'<line class="grid" x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="ylab" x="{_LEFT - 8}" y="{y + 4:.1f}">{tick:,.{equity_decimals}f}</text>'
        )
    dd_decimals = max(0, _decimals(dd_step * 100))
    for tick in dd_ticks:
        y = y_drawdown(tick)
        parts.append(
            f'<line class="grid" x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        label = "0%" if tick == 0 else f"-{tick * 100:.{dd_decimals}f}%"
        parts.append(f'<text class="ylab" x="{_LEFT - 8}" y="{y + 4:.1f}">{label}</text>')
    for tick, label in _time_ticks(t0, t1):
        x = x_of(tick)
        parts.append(
            f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{equity_top}" '
            f'y2="{drawdown_top + _DRAWDOWN_HEIGHT}"/>'
        )
        parts.append(
            f'<text class="xlab" x="{x:.1f}" y="{drawdown_top + _DRAWDOWN_HEIGHT + 18}">'
            f"{html.escape(label)}</text>"
        )
    parts.append(
        f'<text class="axis" x="14" y="{equity_top + _EQUITY_HEIGHT / 2:.0f}" '
        f'transform="rotate(-90 14 {equity_top + _EQUITY_HEIGHT / 2:.0f})">Equity</text>'
    )
    parts.append(
        f'<text class="axis" x="14" y="{drawdown_top + _DRAWDOWN_HEIGHT / 2:.0f}" '
        f'transform="rotate(-90 14 {drawdown_top + _DRAWDOWN_HEIGHT / 2:.0f})">Drawdown</text>'
    )
    # the starting equity, the curve and the trade exits
    y = y_equity(initial)
    parts.append(
        f'<line class="start" x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
    )
    keep = downsample(equity)
    line = _points(x_of(timestamps[keep]), y_equity(equity[keep]))
    parts.append(f'<polyline class="equity" points="{line}"/>')
    parts.extend(_exit_marks(result, timestamps, equity, x_of, y_equity))
    # drawdown as a filled area hanging from zero
    keep = downsample(drawdown)
    xs, ys = x_of(timestamps[keep]), y_drawdown(drawdown[keep])
    zero = y_drawdown(0.0)
    area = f"{xs[0]:.1f},{zero:.1f} {_points(xs, ys)} {xs[-1]:.1f},{zero:.1f}"
    parts.append(f'<polygon class="drawdown" points="{area}"/>')
    parts.append(f'<polyline class="drawdown-line" points="{_points(xs, ys)}"/>')
    parts.append(
        f'<rect class="frame" x="{_LEFT}" y="{equity_top}" width="{plot_width}" '
        f'height="{_EQUITY_HEIGHT}"/>'
    )
    parts.append(
        f'<rect class="frame" x="{_LEFT}" y="{drawdown_top}" width="{plot_width}" '
        f'height="{_DRAWDOWN_HEIGHT}"/>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def _exit_marks(
    result: BacktestResult,
    timestamps: np.ndarray,
    equity: np.ndarray,
    x_of: Callable[[np.ndarray], Any],
    y_of: Callable[[np.ndarray], Any],
) -> list[str]:
    """A small triangle on the equity curve where each trade closed (at most MAX_CHART_POINTS)."""
    exits = _trade_exits(result, len(result.equity) - len(equity))
    if len(exits) == 0:
        return []
    exits = exits[np.linspace(0, len(exits) - 1, min(len(exits), MAX_CHART_POINTS)).astype(int)]
    index = exits[:, 0]
    xs, ys = x_of(timestamps[index]), y_of(equity[index])
    marks = ['<g class="exits">']
    for x, y, outcome in zip(xs, ys, exits[:, 1], strict=True):
        kind = "won" if outcome > 0 else "lost" if outcome < 0 else "even"
        marks.append(f'<polygon class="{kind}" points="{_marker(x, y, outcome)}"/>')
    marks.append("</g>")
    return marks


def _marker(x: float, y: float, outcome: int) -> str:
    """A triangle above the curve for a win, below for a loss, a diamond for break-even."""
    if outcome > 0:
        return f"{x:.1f},{y - 5:.1f} {x - 2.5:.1f},{y - 1:.1f} {x + 2.5:.1f},{y - 1:.1f}"
    if outcome < 0:
        return f"{x:.1f},{y + 5:.1f} {x - 2.5:.1f},{y + 1:.1f} {x + 2.5:.1f},{y + 1:.1f}"
    return f"{x - 2:.1f},{y:.1f} {x:.1f},{y - 2:.1f} {x + 2:.1f},{y:.1f} {x:.1f},{y + 2:.1f}"


def _points(xs: np.ndarray, ys: np.ndarray) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))


def _nice_ticks(low: float, high: float, count: int = 5) -> tuple[list[float], float]:
    """Round tick values (steps of 1, 2 or 5 times a power of ten) covering [low, high]."""
    if not high > low:
        pad = abs(low) * 0.01 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    last = math.ceil(high / step) * step
    ticks = [first + i * step for i in range(round((last - first) / step) + 1)]
    return [round(t, 12) for t in ticks], step


def _decimals(step: float) -> int:
    """The decimals that show every multiple of `step` exactly (0.25 → 2, 5 → 0)."""
    if not step > 0:
        return 2
    return next((d for d in range(10) if abs(round(step, d) - step) <= step * 1e-6), 10)


_MINUTE = 60_000
_DAY = 1_440 * _MINUTE
_TIME_STEPS = [m * _MINUTE for m in (1, 5, 15, 30, 60, 120, 180, 360, 720)] + [
    d * _DAY for d in (1, 2, 7, 14)
]


def _time_ticks(t0: int, t1: int, count: int = 10) -> list[tuple[int, str]]:
    """Round UTC times between t0 and t1 (ms) with labels; whole months or years for long spans."""
    span = t1 - t0
    step = next((s for s in _TIME_STEPS if span / s <= count), None)
    if step is not None:
        first = -(-t0 // step) * step
        ticks = range(first, t1 + 1, step)
        shown = "%H:%M" if step < _DAY else "%Y-%m-%d"
        labels = []
        for tick in ticks:
            moment = datetime.fromtimestamp(tick / 1000, tz=UTC)
            at_midnight = step < _DAY and moment.hour == 0 and moment.minute == 0
            labels.append(moment.strftime("%Y-%m-%d" if at_midnight else shown))
        return list(zip(ticks, labels, strict=True))
    start = datetime.fromtimestamp(t0 / 1000, tz=UTC)
    months_spanned = span / (30.44 * _DAY)
    every = next((m for m in (1, 2, 3, 6, 12, 24, 60, 120) if months_spanned / m <= count), 240)
    month = start.year * 12 + start.month - 1
    month = -(-month // every) * every
    ticks = []
    while True:
        moment = datetime(month // 12, month % 12 + 1, 1, tzinfo=UTC)
        tick = int(moment.timestamp() * 1000)
        if tick > t1:
            break
        if tick >= t0:
            ticks.append((tick, moment.strftime("%Y" if every >= 12 else "%Y-%m")))
        month += every
    return ticks


_CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2330;
  margin: 24px auto; max-width: 1180px; padding: 0 16px; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 20px 0 8px; }
.sub, .note, footer { color: #5b6475; }
.sub { margin: 0 0 12px; }
footer { margin: 24px 0 0; font-size: 12px; }
.chart svg { display: block; }
.chart .grid { stroke: #e8ebf0; stroke-width: 1; }
.chart .frame { fill: none; stroke: #c9ced8; stroke-width: 1; }
.chart .start { stroke: #9aa2b1; stroke-width: 1; stroke-dasharray: 4 4; }
.chart .equity { fill: none; stroke: #1f5fa8; stroke-width: 1.4; stroke-linejoin: round; }
.chart .drawdown { fill: #d73027; fill-opacity: 0.3; }
.chart .drawdown-line { fill: none; stroke: #d73027; stroke-width: 1; }
.chart .exits polygon { fill-opacity: 0.55; }
.chart .won { fill: #1a9850; }
.chart .lost { fill: #d73027; }
.chart .even { fill: #777777; }
.chart text { font-size: 12px; fill: #5b6475; }
.chart .ylab { text-anchor: end; font-variant-numeric: tabular-nums; }
.chart .xlab { text-anchor: middle; }
.chart .axis { text-anchor: middle; font-size: 13px; fill: #1d2330; }
.legend { font-size: 13px; color: #5b6475; margin: 0 0 4px; }
.legend .key { display: inline-block; width: 18px; margin: 0 6px 0 14px; text-align: center;
  vertical-align: middle; font-size: 11px; }
.legend .key:first-child { margin-left: 0; }
.legend .equity { border-top: 2px solid #1f5fa8; }
.legend .start { border-top: 1px dashed #9aa2b1; }
.legend .won { color: #1a9850; }
.legend .lost { color: #d73027; }
.legend .drawdown { height: 10px; background: rgba(215, 48, 39, 0.3); }
section.trades { overflow-x: auto; }
div.summary { display: flex; gap: 40px; flex-wrap: wrap; align-items: flex-start; }
table.summary { min-width: 340px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eef0f4; white-space: nowrap; }
table.summary th { text-align: left; font-weight: 500; color: #5b6475; }
table.summary td, table.trades td { text-align: right; }
table.trades th { position: sticky; top: 0; background: #f6f7f9; text-align: right; }
table.trades { font-size: 13px; }
td.won { color: #1a7f45; }
td.lost { color: #c0392b; }
"""

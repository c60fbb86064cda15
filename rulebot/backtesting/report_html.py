"""The backtest report as one self-contained HTML page: the chart, the summary, every trade.

The chart is drawn in the page by plain JavaScript (`report_static/report.js`, inlined with its
stylesheet; nothing is loaded from the network) from the result embedded as JSON: candles with
each trade's entry and exit (side and reason on hover), its stop loss and take-profit over the
bars it was held, the rule's price-like `let`s as lines, then the equity and the drawdown. The
three panes share one time axis: zooming (wheel, drag, the buttons) moves them together, and a
click on a trade in the table zooms to it. Each view draws at most one candle per two pixels,
aggregating the bars under it, so 100k-bar backtests stay quick to read. A spread has no one
price: its page draws the equity and drawdown only.
"""

from __future__ import annotations

import html
import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from rulebot import __version__
from rulebot.backtesting.engine import BacktestResult
from rulebot.backtesting.report import (
    MAX_HTML_TRADES,
    _headline,
    _money,
    _price,
    equity_and_drawdown,
    summary_rows,
    trade_rows,
)

STATIC = Path(__file__).parent / "report_static"
"""The page's script and stylesheet, inlined into every report."""
_DAY_MS = 86_400_000


def html_report(result: BacktestResult, max_trades: int = MAX_HTML_TRADES) -> str:
    """The HTML report as text: no external reference, the data and scripts inline."""
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
    shown = trades[:max_trades]
    headers = ("#", "Side", "Entry (UTC)", "Exit (UTC)", "Size", "Entry price", "Exit price")
    headers += ("Stop loss", "Take-profit", "PnL", "Fees", "Funding", "Exit reason")
    trade_head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    trade_body = "".join(_trade_row(number, trade) for number, trade in enumerate(shown, 1))
    if len(trades) > len(shown):
        note = (
            f"<p class='note'>Showing the first {len(shown):,} of {len(trades):,} trades; "
            "the chart shows them all and the trades CSV lists them all.</p>"
        )
    elif not trades:
        note = "<p class='note'>No trades.</p>"
    else:
        note = "<p class='note'>Click a trade to zoom the chart to it.</p>"
    title = f"{name} · {html.escape(result.market)} {html.escape(result.timeframe)}"
    data = json.dumps(chart_data(result), separators=(",", ":"), allow_nan=False)
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    price_keys = (
        '<span class="key candle"></span>Price <span class="key entry">▲</span>Long entry '
        '<span class="key short">▼</span>Short entry <span class="key won">◆</span>Exit, won '
        '<span class="key lost">◆</span>Exit, lost <span class="key stop"></span>Stop loss '
        '<span class="key take"></span>Take-profit '
        + "".join(
            f'<span class="key overlay"></span>{html.escape(overlay)} '
            for overlay in result.overlays
        )
        if result.legs is None
        else ""
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · rulebot backtest</title>
<style>{_static("report.css")}</style>
</head>
<body>
<h1>{title}</h1>
<p class="sub">{html.escape(_headline(result))}</p>
<p class="legend">{price_keys}<span class="key equity"></span>Equity
<span class="key start"></span>Initial equity
<span class="key drawdown"></span>Drawdown from the running peak</p>
<div class="controls"><button type="button" data-zoom="all">All</button>
<button type="button" data-zoom="{30 * _DAY_MS}">30 days</button>
<button type="button" data-zoom="{7 * _DAY_MS}">7 days</button>
<button type="button" data-zoom="{_DAY_MS}">1 day</button>
<button type="button" data-zoom="in">Zoom in</button>
<button type="button" data-zoom="out">Zoom out</button>
<span class="view" id="chart-view"></span></div>
<section class="chart"><svg id="chart" role="img" viewBox="0 0 1100 800"
aria-label="Price with trades, equity and drawdown of {name}"></svg>
<noscript><p class="note">The chart is drawn by the page's own script: allow scripts for
this file to see it.</p></noscript>
<p class="note">Wheel: zoom · drag: move · double click: everything.</p></section>
<script type="application/json" id="chart-data">{data}</script>
<script>{_static("report.js")}</script>
<section><h2>Summary</h2><div class="summary">{summary}</div></section>
<section class="trades"><h2>Trades</h2>{note}
<table class="trades"><thead><tr>{trade_head}</tr></thead><tbody>{trade_body}</tbody></table>
</section>
<footer>rulebot {html.escape(__version__)} backtest report</footer>
</body>
</html>
"""


def chart_data(result: BacktestResult) -> dict[str, Any]:
    """What the page's script draws, from the first measured bar on (as the metrics count):
    bar times (ms UTC), the candles (None for a spread), the price-like lets, equity, drawdown
    and every trade (times ms UTC, levels None when the trade had none)."""
    timestamps, equity, drawdown = equity_and_drawdown(result)
    first = len(result.equity) - len(equity)
    columns = result.columns
    price = None
    if result.legs is None:
        price = {
            name: _numbers(np.asarray(getattr(columns, name), dtype=np.float64)[first:])
            for name in ("open", "high", "low", "close")
        }
    return {
        "time": [int(t) for t in timestamps],
        "price": price,
        "overlays": [
            {"name": name, "values": _numbers(np.asarray(values, dtype=np.float64)[first:])}
            for name, values in (result.overlays.items() if price is not None else ())
        ],
        "equity": _numbers(equity),
        "drawdown": _numbers(drawdown),
        "initial_equity": float(result.settings.initial_equity),
        "trades": [
            {
                key: trade[key]
                for key in (
                    "side",
                    "entry_time",
                    "exit_time",
                    "entry_price",
                    "exit_price",
                    "stop_price",
                    "take_price",
                    "pnl",
                    "exit_reason",
                )
            }
            for trade in result.trade_dicts()
        ],
    }


def _numbers(values: np.ndarray) -> list[float | None]:
    """Floats with 10 significant digits (a smaller page, the same chart); NaN as None."""
    return [float(f"{v:.10g}") if math.isfinite(v) else None for v in values.tolist()]


@cache
def _static(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


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
        "—" if trade["stop_price"] is None else _price(trade["stop_price"]),
        "—" if trade["take_price"] is None else _price(trade["take_price"]),
        _money(trade["pnl"]),
        _money(trade["fees"]),
        _money(trade["funding"]),
        trade["exit_reason"].replace("_", " "),
    )
    tds = "".join(
        f"<td class='{pnl_class}'>{html.escape(c)}</td>" if i == 9 else f"<td>{html.escape(c)}</td>"
        for i, c in enumerate(cells)
    )
    return f"<tr data-trade='{number - 1}'>{tds}</tr>"

"""The backtest chart as a PNG (matplotlib, the `plot` extra): the price with every trade on it,
the equity curve, and the drawdown, sharing one time axis.

The price pane draws candles when there are few enough bars to see them (`MAX_PNG_CANDLES`), the
close otherwise; each trade's entry (a triangle pointing its way) and exit (a dot, green won, red
lost) at its fill's time and price, its stop loss and take-profit as lines over the bars it was
held, and the rule's price-like `let`s (`BacktestResult.overlays`) as lines. A spread has no one
price: its chart is the equity and drawdown alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rulebot.backtesting.engine import BacktestResult
from rulebot.backtesting.report import (
    ReportError,
    _decimals,
    _headline,
    _unsigned_zero,
    equity_and_drawdown,
)

MAX_PNG_CANDLES = 600
"""Bars up to which the price pane draws candles; more would be narrower than a pixel."""
_WON, _LOST, _EVEN = "#1a9850", "#d73027", "#777777"
_OVERLAY_COLOURS = ("#7b3fb5", "#e08a00", "#1f9eb5", "#b5487b", "#5a7d1e", "#444444")


def png_figure(result: BacktestResult) -> Any:
    """The chart as a matplotlib Figure (its axes: price when the result has one price, equity,
    drawdown), ready to save."""
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
    first = len(result.equity) - len(equity)
    with_price = result.legs is None
    figure = Figure(figsize=(12, 10 if with_price else 7), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    ratios = [3, 2, 1] if with_price else [3, 1]
    axes = figure.subplots(len(ratios), 1, sharex=True, height_ratios=ratios)
    price, top, bottom = axes if with_price else (None, *axes)
    figure.suptitle(
        f"{result.strategy} · {result.market} {result.timeframe}", fontsize=14, fontweight="bold"
    )
    (price if price is not None else top).set_title(
        _headline(result), fontsize=10, color="#444444", pad=24 if price is None else 34
    )
    if price is not None:
        _draw_price(price, result, first, when)
        price.yaxis.set_major_formatter(TickLabels("{:,.{}f}", 1.0))

    top.plot(when, equity, color="#1f5fa8", linewidth=1.0, label="Equity")
    top.axhline(
        result.settings.initial_equity,
        color="#999999",
        linewidth=0.8,
        linestyle="--",
        label="Initial equity",
    )
    exits = _trade_exits(result, first)
    for outcome, colour, marker, label in (
        (1, _WON, "^", "won"),
        (-1, _LOST, "v", "lost"),
        (0, _EVEN, "o", "break-even"),
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
    top.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=4, fontsize=9, frameon=False)

    bottom.fill_between(when, -drawdown, 0.0, color=_LOST, alpha=0.35, linewidth=0)
    bottom.plot(when, -drawdown, color=_LOST, linewidth=0.8)
    bottom.set_ylabel("Drawdown")
    bottom.yaxis.set_major_formatter(TickLabels("{:.{}f}%", 100.0))
    bottom.set_ylim(top=0.0)
    locator = mdates.AutoDateLocator()
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    bottom.set_xlim(when[0], when[-1])
    for axis in figure.axes:
        axis.grid(True, color="#e5e5e5", linewidth=0.8)
        axis.spines[["top", "right"]].set_visible(False)
    return figure


def _draw_price(axis: Any, result: BacktestResult, first: int, when: np.ndarray) -> None:
    """Candles (or the close), the price-like lets, every trade's fills and levels."""
    columns = result.columns
    opens, highs, lows, closes = (
        np.asarray(getattr(columns, name), dtype=np.float64)[first:]
        for name in ("open", "high", "low", "close")
    )
    if len(closes) <= MAX_PNG_CANDLES:
        step = (when[1] - when[0]) if len(when) > 1 else np.timedelta64(60_000, "ms")
        width = step * 0.7
        up = closes >= opens
        for chosen, colour in ((up, _WON), (~up, _LOST)):
            axis.vlines(when[chosen], lows[chosen], highs[chosen], color=colour, linewidth=0.8)
            axis.bar(
                when[chosen],
                np.maximum(np.abs(closes - opens)[chosen], 1e-12),
                width,
                bottom=np.minimum(opens, closes)[chosen],
                color=colour,
            )
    else:
        axis.plot(when, closes, color="#555555", linewidth=0.8, label="Close")
    for k, (name, values) in enumerate(result.overlays.items()):
        axis.plot(
            when,
            np.asarray(values, dtype=np.float64)[first:],
            color=_OVERLAY_COLOURS[k % len(_OVERLAY_COLOURS)],
            linewidth=1.0,
            label=name,
        )
    trades = result.trades
    stamps = np.asarray(columns.timestamp, dtype=np.int64).astype("datetime64[ms]")
    entry_at = stamps[np.asarray(trades["entry_index"], dtype=np.int64)]
    exit_at = stamps[np.asarray(trades["exit_index"], dtype=np.int64)]
    for kind, colour in (("stop_price", _LOST), ("take_price", _WON)):
        levels = np.asarray(trades[kind], dtype=np.float64)
        held = np.isfinite(levels)
        if held.any():
            axis.hlines(
                levels[held],
                entry_at[held],
                exit_at[held],
                color=colour,
                linewidth=0.9,
                linestyle="--",
                label="Stop loss" if kind == "stop_price" else "Take-profit",
            )
    side = np.asarray(trades["side"])
    for chosen, marker, colour, label in (
        (side > 0, "^", "#1f5fa8", "Long entry"),
        (side < 0, "v", "#f0a030", "Short entry"),
    ):
        if chosen.any():
            axis.scatter(
                entry_at[chosen],
                trades["entry_price"][chosen],
                marker=marker,
                s=28,
                color=colour,
                edgecolors="#1d2330",
                linewidths=0.4,
                zorder=4,
                label=f"{label} ({int(chosen.sum()):,})",
            )
    pnl = np.asarray(trades["pnl"], dtype=np.float64)
    if len(pnl):
        axis.scatter(
            exit_at,
            trades["exit_price"],
            marker="o",
            s=16,
            c=np.where(pnl > 0, _WON, np.where(pnl < 0, _LOST, _EVEN)),
            edgecolors="#1d2330",
            linewidths=0.4,
            zorder=4,
            label=f"Exit ({len(pnl):,})",
        )
    low, high = float(np.nanmin(lows)), float(np.nanmax(highs))
    for values in result.overlays.values():
        shown = np.asarray(values, dtype=np.float64)[first:]
        if np.isfinite(shown).any():
            low, high = min(low, float(np.nanmin(shown))), max(high, float(np.nanmax(shown)))
    margin = (high - low) * 0.04 or abs(high) * 0.01 or 1.0
    axis.set_ylim(low - margin, high + margin)  # a far stop clipped, not the candles squeezed
    axis.set_ylabel(f"Price ({result.quote})" if result.quote else "Price")
    axis.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=9, fontsize=9, frameon=False)


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

"""The order forms' outputs (a resting entry's level and lifetime, exit and take-profit shares,
take-profit distances) agree between the vectorised and streaming evaluators on every bar of a
month of real 1-minute perpetual prices."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rulebot.graph.clocks import BarColumns
from rulebot.graph.plan import plan
from rulebot.graph.vectorised import evaluate, outputs
from rulebot.lang.load import compile_text
from tests.graph.test_parity import assert_same


def _perp_minutes() -> tuple[BarColumns, str]:
    """The month of 1-minute BTC perpetual bars the project's data folder holds, or (in a
    checkout without it) the same month resampled to 5 minutes, shipped with the package."""
    root = Path(__file__).resolve().parents[2]
    shared = root.parent / "shared" / "data" / "btc_perp_usd_1m.csv"
    path, timeframe = (
        (shared, "1m")
        if shared.is_file()
        else (root / "rulebot" / "data" / "candles" / "btc_usd_perp_5m.csv", "5m")
    )
    table = np.genfromtxt(path, delimiter=",", names=True)
    columns = (
        np.ascontiguousarray(table[c], dtype=np.float64)
        for c in ("open", "high", "low", "close", "volume")
    )
    return BarColumns(table["timestamp"].astype(np.int64), *columns), timeframe


RULE = """
strategy resting_orders
market BTC
timeframe {timeframe}
param depth = 2 in 1..3
let mid = ema(close, 50)
let ceiling = if high > nz(ceiling[1], high) then high else nz(ceiling[1], high) * 0.999
pyramiding 3
entry long limit at bbands(close, 20, depth).lower post_only for 3 bars
    when rsi(close, 14) < 45 and close > mid
entry short stop at min(low@15m, ceiling) - 0.5 * atr(14) for 2 bars when close < mid
exit long 50% when rsi(close, 14) > 65
exit short 25% when crossover(close, mid)
size 2% of equity
stop_loss 2 * atr(14)
take_profit 50% at 1%
take_profit 30% at 1.5 * atr(14)
"""


def test_order_outputs_agree_bar_for_bar_on_real_perpetual_prices() -> None:
    bars, timeframe = _perp_minutes()
    compiled = compile_text(RULE.format(timeframe=timeframe), "resting_orders.rule")
    assert compiled.ok, [(d.code, d.message) for d in compiled.diagnostics]
    graph = plan(compiled.strategy, {"depth": 3})
    names = [
        "entry_level.long",
        "entry_bars.long",
        "entry_level.short",
        "entry_bars.short",
        "exit_share.long",
        "exit_share.short",
        "take.0",
        "take_share.0",
        "take.1",
        "take_share.1",
    ]
    assert set(names) <= set(graph.outputs)
    assert_same(graph, {"BTC": bars})

    values = outputs(graph, evaluate(graph, {"BTC": bars}, None))
    # The levels are real prices that move, the buy limit under the close where the rule puts it.
    for side in ("long", "short"):
        level = values[f"entry_level.{side}"]
        assert np.isfinite(level).sum() > len(bars) * 0.9
        assert len(np.unique(level[np.isfinite(level)])) > 1000
    long_level = values["entry_level.long"]
    held = np.isfinite(long_level)
    assert (long_level[held] < bars.close[held]).mean() > 0.9
    assert set(values["entry_bars.long"]) == {3.0} and set(values["entry_bars.short"]) == {2.0}
    assert set(values["exit_share.short"]) == {0.25} and set(values["take_share.1"]) == {0.3}

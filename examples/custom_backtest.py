"""Backtest a rule written in Python code, with your own fill settings and a param sweep.

    python examples/custom_backtest.py

The rule is the classic SMA crossover; the sweep tries a few fast/slow pairs on the shipped
BTC candles (a BTC perpetual priced in USD) and prints each one's return, Sharpe and trade count.
"""

from __future__ import annotations

from rulebot import backtest, compile_text
from rulebot.backtesting.fills import FillSettings
from rulebot.data.candles import shipped_candles

RULE = """
strategy sma_cross
market BTC
timeframe 5m
param fast = 10 in 5..20 step 5
param slow = 30 in 20..60 step 10
entry long when crossover(sma(close, fast), sma(close, slow))
exit  long when crossunder(sma(close, fast), sma(close, slow))
size 50% of equity
stop_loss 2%
"""


def main() -> None:
    compiled = compile_text(RULE, "sma_cross.rule")
    if compiled.strategy is None:
        raise SystemExit("\n".join(d.message for d in compiled.diagnostics))
    candles = shipped_candles("btc_usd_perp_5m")
    settings = FillSettings(taker_fee=0.00028, maker_fee=0.00004, slippage_bps=1)
    print(f"{'fast':>4} {'slow':>4} {'return':>8} {'sharpe':>7} {'trades':>6}")
    for fast in (5, 10, 20):
        for slow in (30, 60):
            result = backtest(
                compiled.strategy, candles, params={"fast": fast, "slow": slow}, settings=settings
            )
            metrics = result.metrics
            sharpe = f"{metrics.sharpe:7.2f}" if metrics.sharpe is not None else "      —"
            print(f"{fast:>4} {slow:>4} {metrics.total_return:>8.2%} {sharpe} {metrics.trades:>6}")


if __name__ == "__main__":
    main()

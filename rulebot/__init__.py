"""rulebot: a declarative trading rules engine for the Lighter perpetual exchange.

from rulebot import load_rules, backtest
(strategy,) = load_rules("rules/mean_reversion.rule")
result = backtest(strategy)          # the shipped candles for its market
print(result.metrics)
"""

from __future__ import annotations

from typing import Any

from rulebot.lang.load import Compiled, compile_file, compile_text

__version__ = "0.1.0"

_BACKTEST_API = {"backtest", "load_rules", "BacktestResult", "BacktestError"}


def __getattr__(name: str) -> Any:
    """The backtest API loads on first use: `rulebot lint` need not pay for numba."""
    if name in _BACKTEST_API:
        from rulebot.backtesting import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'rulebot' has no attribute {name!r}")


__all__ = [
    "BacktestError",
    "BacktestResult",
    "Compiled",
    "__version__",
    "backtest",
    "compile_file",
    "compile_text",
    "load_rules",
]

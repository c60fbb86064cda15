"""Shared fixtures: paths of the repository's shipped rules and a helper to compile rule text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rulebot.lang.load import Compiled, compile_text

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
SHIPPED_RULES = sorted(p for p in RULES.iterdir() if p.suffix in (".rule", ".yaml"))


def strategy_text(body: str, header: str = "strategy t\nmarket ETH\ntimeframe 5m\n") -> str:
    """A minimal valid strategy around `body` (which must hold at least one entry)."""
    return header + body + "\nsize 1% of equity\nstop_loss 2%\n"


def assert_same_trades(actual: np.ndarray, expected: np.ndarray) -> None:
    """Two trade tables hold the same trades, field by field (a NaN level, meaning the trade had
    no stop loss or take-profit, equals a NaN)."""
    assert actual.dtype == expected.dtype and len(actual) == len(expected)
    for name in actual.dtype.names or ():
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)


@pytest.fixture
def compile_rule():
    def run(body: str, **kwargs: str) -> Compiled:
        return compile_text(strategy_text(body, **kwargs), "t.rule")

    return run

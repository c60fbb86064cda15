"""The examples run as a user would run them."""

from __future__ import annotations

import subprocess
import sys

from rulebot.lang.load import compile_file
from tests.conftest import ROOT, SHIPPED_RULES


def test_inspect_rules_describes_every_shipped_strategy() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "inspect_rules.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    for path in SHIPPED_RULES:
        strategy = compile_file(path).strategy
        assert f"{strategy.name} ({path.name})" in result.stdout
        assert f"warm-up {strategy.warmup_bars} bars" in result.stdout
    assert "let stop: warm after" in result.stdout and "[recurrence]" in result.stdout


def test_custom_backtest_sweeps_its_params() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "custom_backtest.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert [(r[0], r[1]) for r in rows] == [(f, s) for f in ("5", "10", "20") for s in ("30", "60")]
    assert all(int(r[-1]) > 0 for r in rows)  # every setting traded
    assert len({r[2] for r in rows}) > 1  # and the params changed the outcome

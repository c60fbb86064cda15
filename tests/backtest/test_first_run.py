"""A backtest on a fresh install (numba's cache empty): the same numbers whichever path runs,
nothing compiled in the foreground when plain Python is quicker, a line saying the backtester is
being prepared, and compiled runs once the background warm-up has filled the cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import FunctionType

import numpy as np
import pytest

from rulebot import compiled
from rulebot.backtesting import fills, legs, metrics
from rulebot.backtesting.cli import PREPARING
from rulebot.backtesting.engine import BacktestResult, backtest, load_rules
from rulebot.graph import program_loop, programs
from tests.conftest import assert_same_trades

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p.name for p in (ROOT / "rules").iterdir() if p.suffix in (".rule", ".yaml"))
WARM_UP_WAIT = 600.0  # seconds at most for the background warm-up (a loaded machine is slow)


def run_both(name: str) -> tuple[BacktestResult, BacktestResult]:
    (strategy,) = load_rules(ROOT / "rules" / name)
    with compiled.forcing("compiled"):
        fast = backtest(strategy, None)
    with compiled.forcing("plain"):
        plain = backtest(strategy, None)
    return fast, plain


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_rule_gives_the_same_numbers_compiled_and_as_plain_python(name: str) -> None:
    fast, plain = run_both(name)
    assert fast.metrics.trades > 10
    np.testing.assert_array_equal(fast.equity, plain.equity)
    assert_same_trades(fast.trades, plain.trades)
    assert fast.metrics.to_dict() == plain.metrics.to_dict()


@pytest.mark.parametrize(
    ("function", "calls_others", "own_twin"),
    [
        (fills._fill_loop, True, None),
        (legs._fill_loop, True, None),
        (metrics._curve_stats, False, None),
        # the interpreter's twin is its generated-Python loop (tested equal in tests/graph)
        (programs._interpreter(), False, program_loop.interpret),
    ],
    ids=["fills", "legs", "metrics", "programs"],
)
def test_a_plain_twin_reaches_no_compiled_function(
    function: object, calls_others: bool, own_twin: FunctionType | None
) -> None:
    """Every function the twin can call, directly or through a module, is plain too."""
    seen: set[int] = set()

    def walk(twin: FunctionType) -> None:
        if id(twin) in seen:
            return
        seen.add(id(twin))
        for name in compiled._global_names(twin.__code__):
            value = twin.__globals__.get(name)
            if isinstance(value, compiled._PlainModule):
                value = [getattr(value, n) for n in dir(value._module) if not n.startswith("__")]
            for found in value if isinstance(value, list) else [value]:
                assert not hasattr(found, "py_func"), f"{twin.__name__} reaches {name}"
                if isinstance(found, FunctionType) and found.__module__.startswith("rulebot"):
                    walk(found)

    twin = compiled.plain(function)
    code = function.py_func.__code__ if own_twin is None else own_twin.__code__  # type: ignore[attr-defined]
    assert twin is not function and twin.__code__ is code
    walk(twin)
    assert (len(seen) > 1) == calls_others  # the walk went through the loops' helpers


def cli(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`rulebot backtest` in a fresh process whose numba cache is `cache`."""
    environment = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "rulebot", "backtest", *args],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


def warming(cache: Path) -> list[Path]:
    return list(cache.rglob(f"*{compiled.LOCK_SUFFIX}"))


def test_the_first_run_says_it_is_preparing_and_later_runs_are_compiled(tmp_path: Path) -> None:
    cache, out = tmp_path / "numba-cache", tmp_path / "result.json"
    cache.mkdir()
    rule = str(ROOT / "rules" / "mean_reversion.rule")

    first = cli(cache, rule, "--output", str(out))
    assert first.returncode == 0, first.stderr
    assert PREPARING in first.stderr
    assert "preparing" not in first.stdout and "preparing" not in out.read_text()
    assert json.loads(out.read_text())["results"][0]["strategy"] == "mean_reversion"
    assert warming(cache), "no background warm-up was started"

    deadline = time.monotonic() + WARM_UP_WAIT
    while warming(cache) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not warming(cache), "the background warm-up did not finish"
    assert list(cache.rglob("fills._fill_loop-*.nbi"))
    assert list(cache.rglob("metrics._curve_stats_loop-*.nbi"))

    second = cli(cache, rule, "--output", str(out))
    assert second.returncode == 0, second.stderr
    assert PREPARING not in second.stderr
    assert "Final equity" in second.stdout and second.stdout == first.stdout  # same numbers


def test_a_forced_plain_run_compiles_nothing(tmp_path: Path) -> None:
    """The plain path runs no compiled function, so numba's empty cache stays empty."""
    script = (
        "from rulebot import compiled\n"
        "from rulebot.backtesting.engine import backtest, load_rules\n"
        "with compiled.forcing('plain'):\n"
        f"    for strategy in load_rules({str(ROOT / 'rules')!r}):\n"
        "        backtest(strategy, None)\n"
    )
    environment = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []

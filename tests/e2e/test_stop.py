"""A clean stop (SIGTERM, Ctrl+C, `--stop-after`) in the middle of an evaluation whose entry is
still on its way to the venue: the bot finishes it, journals the fill, places the stop, and says
what it leaves at the venue. `bench/stop_protection.py` repeats the SIGTERM case."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from rulebot.runtime.app import RunOptions, run_bot
from rulebot.runtime.engine import Engine
from rulebot.runtime.journal import Journal
from rulebot.venues.sim.serving import RunningSim, SimThread, serve_sim
from rulebot.venues.sim.settings import SimSettings
from tests.e2e.test_run import ROOMY_RISK, ROOT, config

ETH, STOP_LOSS = 0, 2
ENTRY_DELAY_MS = 3_000
HOLD = """strategy hold
market ETH
timeframe 5m
entry long when close > 0
exit long when close < 0
size 5% of equity
stop_loss 5%
"""
"""Enters at the first close and holds, with an exchange-side stop 5% below its entry."""


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Wait for `condition`, checked every 50 ms; a bound on a hang, not a timing claim."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def held_and_protected(sim: RunningSim | Any, journal: Path) -> tuple[Decimal, list[Any]]:
    """The account's ETH position at the venue and the stop orders resting for it, once the
    delayed entry has landed; and checks the journal has every fill of the account."""
    exchange = sim.simulation.exchange
    position = exchange.account(1).positions.get(ETH)
    size = Decimal(position.size if position else 0).scaleb(-exchange.market(ETH).size_decimals)
    stops = [o for o in exchange.active_orders(1, ETH) if o.order_type == STOP_LOSS]
    with Journal.open(journal, readonly=True) as book:
        assert {f.trade_id for f in book.fills()} == {
            t.trade_id for t in exchange.account_trades(1, 1000)
        }
        assert sum((p.size for p in book.positions()), Decimal(0)) == size
    return size, stops


def entry_landed(sim: Any) -> bool:
    return any(
        t["tx_type"] == 14 and t["tx_info"]["Type"] == 1 for t in sim.simulation.transaction_log()
    )


def test_sigterm_while_an_entry_is_in_flight_leaves_the_position_with_its_stop(
    tmp_path: Path,
) -> None:
    runner = SimThread(SimSettings(speed=0))
    with runner as sim:
        output, code = sigterm_during_an_entry(runner, sim, tmp_path)
        assert code == 0, output
        wait_for(lambda: entry_landed(sim))
        size, stops = runner.call(lambda _: held_and_protected(sim, tmp_path / "j.sqlite"))
    assert size > 0 and len(stops) == 1, output  # a position, protected at the venue
    assert "Traceback" not in output and "stopped cleanly" in output
    assert "positions at the venue and their protection:" in output
    assert f"hold ETH +{size}: stop at " in output and "rest at the venue" in output


def sigterm_during_an_entry(runner: SimThread, sim: Any, folder: Path) -> tuple[str, int]:
    """Run `rulebot run` on `sim` (paused), let its first entry reach the venue held up by a
    delay, SIGTERM it then, and return its output and exit code."""
    (folder / "rules").mkdir(exist_ok=True)
    (folder / "rules" / "hold.rule").write_text(HOLD)
    cfg = folder / "rulebot.yaml"
    cfg.write_text(yaml.safe_dump({
        "network": {"name": "sim", "url": sim.url}, "markets": ["ETH"], "dry_run": False,
        "risk": ROOMY_RISK, "runtime": {"status_port": 0},
    }))  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "rulebot", "run", str(folder / "rules"), "-c", str(cfg),
         "--journal", str(folder / "j.sqlite"), "--status-port", "0"],
        cwd=folder, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:

        def state() -> Any:
            with urllib.request.urlopen(f"{sim.url}/admin/state", timeout=10) as answer:
                return json.loads(answer.read())

        wait_for(lambda: state()["ws_connections"] > 0)
        runner.call(lambda s: s.faults.delay(ENTRY_DELAY_MS, count=1, path="/api/v1/sendTx"))

        def entry_held() -> bool:
            if runner.call(lambda s: s.faults.counts["delayed"]) >= 1:
                return True
            runner.call(lambda s: s.advance(1))
            time.sleep(0.2)
            return False

        wait_for(entry_held)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    return output.decode(), process.returncode


def test_sigterm_while_the_bot_starts_stops_it_cleanly_once_started(tmp_path: Path) -> None:
    runner = SimThread(SimSettings(speed=0))
    with runner as sim:
        (tmp_path / "rules").mkdir()
        (tmp_path / "rules" / "hold.rule").write_text(HOLD)
        cfg = tmp_path / "rulebot.yaml"
        cfg.write_text(yaml.safe_dump({
            "network": {"name": "sim", "url": sim.url}, "markets": ["ETH"], "dry_run": False,
            "runtime": {"status_port": 0},
        }))  # fmt: skip
        # the start's history download is held: the bot is starting when the signal comes
        runner.call(lambda s: s.faults.delay(ENTRY_DELAY_MS, count=1, path="/api/v1/candles"))
        process = subprocess.Popen(
            [sys.executable, "-m", "rulebot", "run", str(tmp_path / "rules"), "-c", str(cfg),
             "--journal", str(tmp_path / "j.sqlite"), "--status-port", "0"],
            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            seen = b""
            while b"rulebot run: 1 strategies" not in seen:  # printed just before the start
                line = process.stdout.readline()
                assert line, seen.decode()
                seen += line
            wait_for(lambda: runner.call(lambda s: s.faults.counts["delayed"]) >= 1)
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, (seen + output).decode()
    assert b"stopped cleanly" in output and b"no position held" in output


async def test_a_stop_asked_for_while_an_entry_is_in_flight_finishes_it_first(
    tmp_path: Path,
) -> None:
    """Ctrl+C and `--stop-after` set the run's stop event, as this test does."""
    async with serve_sim(SimSettings(speed=0)) as sim:
        (tmp_path / "rules").mkdir()
        (tmp_path / "rules" / "hold.rule").write_text(HOLD)
        journal = tmp_path / "j.sqlite"
        lines: list[str] = []
        stop = asyncio.Event()
        started: list[Engine] = []
        options = RunOptions(
            paths=[tmp_path / "rules"], journal=journal, say=lines.append,
            on_start=started.append,
        )  # fmt: skip
        faults = sim.simulation.faults

        async def stop_while_the_entry_is_held() -> None:
            while not started or not started[0].stream.connected.is_set():
                await asyncio.sleep(0.05)
            faults.delay(ENTRY_DELAY_MS, count=1, path="/api/v1/sendTx")
            while faults.counts["delayed"] < 1:
                sim.simulation.advance(1)
                await asyncio.sleep(0.2)
            stop.set()

        driver = asyncio.ensure_future(stop_while_the_entry_is_held())
        code = await asyncio.wait_for(run_bot(config(sim), options, stop), 120)
        await driver
        assert code == 0
        async with asyncio.timeout(30):
            while not entry_landed(sim):
                await asyncio.sleep(0.05)
        size, stops = held_and_protected(sim, journal)
        assert size > 0 and len(stops) == 1, lines
        summary = "\n".join(lines)
        assert f"hold ETH +{size}: stop at " in summary and "rest at the venue" in summary

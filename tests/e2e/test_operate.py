"""Operating a running bot: the status API, `rulebot status`, `flatten`, the Python API, a
dropped market stream, and SIGTERM."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from rulebot.lang.load import compile_file
from rulebot.runtime.app import RunOptions
from rulebot.runtime.commands import render_status
from rulebot.runtime.engine import Engine
from rulebot.runtime.status import PARTS
from rulebot.venues.sim.serving import serve_sim
from rulebot.venues.sim.settings import SimSettings
from tests.e2e.test_run import FAST, ROOT, config, rules_dir, run_until

BTC = 1  # the sim's id for BTC, the market the shipped ut_bot trades


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, path: str) -> Any:
    return get_url(f"http://127.0.0.1:{port}{path}")


def get_url(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def steady(part: Any) -> Any:
    """A status part without the time of the last account read, which a refresh between two
    requests moves on."""
    if isinstance(part, dict):
        return {key: value for key, value in part.items() if key != "time_ms"}
    return part


async def test_the_status_api_reports_what_the_engine_holds_and_flatten_closes_it(
    tmp_path: Path,
) -> None:
    async with serve_sim(SimSettings(speed=FAST)) as sim:
        port = free_port()
        cfg = config(sim)
        seen: dict[str, Any] = {}

        def holding(engine: Engine) -> bool:
            return any(p.size for p in engine.orders.positions()) and bool(
                engine.journal.open_orders()
            )

        options = RunOptions(
            paths=[rules_dir(tmp_path, "ut_bot.rule")], journal=tmp_path / "j.sqlite",
            status_port=port, say=lambda line: seen.setdefault("lines", []).append(line),
        )  # fmt: skip

        async def scenario(engine: Engine) -> bool:
            sim.simulation.set_speed(0)  # hold the market still while we look
            await asyncio.sleep(0.3)
            assert f"status: http://127.0.0.1:{port}/api/status" in seen["lines"]
            status = await asyncio.to_thread(get, port, "/api/status")
            positions = await asyncio.to_thread(get, port, "/api/positions")
            orders = await asyncio.to_thread(get, port, "/api/orders")
            assert status["positions"] == positions and status["orders"] == orders
            held = {p["strategy"]: Decimal(p["size"]) for p in positions}
            assert held["ut_bot"] == engine.orders.position("ut_bot", "BTC").size != 0
            assert {o["client_order_index"] for o in orders} == {
                o.client_order_index for o in engine.journal.open_orders()
            }
            for path, key in PARTS.items():
                part = await asyncio.to_thread(get, port, path)
                assert steady(part) == steady(status[key]), path
            assert "ut_bot" in render_status(status)
            results = await engine.flatten()
            seen["flatten"] = results
            return True

        state: dict[str, Any] = {}

        def done(engine: Engine) -> bool:
            if "task" not in state and holding(engine):
                state["task"] = asyncio.ensure_future(scenario(engine))
            task = state.get("task")
            if task is not None and task.done():
                task.result()
                return True
            return False

        engine = await run_until(cfg, options, done)
        assert any("every order cancelled" in line for line in seen["flatten"])
        assert engine.halted
        await asyncio.sleep(0.1)
        account = sim.simulation.exchange.account(1)
        assert all(p.size == 0 for p in account.positions.values())
        assert sim.simulation.exchange.active_orders(1, None) == []


async def test_the_python_api_runs_a_strategy_from_a_config_alone(tmp_path: Path) -> None:
    async with serve_sim(SimSettings(speed=FAST)) as sim:
        cfg = config(sim, runtime={"journal": str(tmp_path / "api.sqlite"), "status_port": 0})
        engine = Engine(cfg)
        engine.add_strategy(compile_file(ROOT / "rules" / "ut_bot.rule", live=True).strategy)
        await engine.start()
        try:
            for _ in range(400):
                if engine.journal.fills():
                    break
                await asyncio.sleep(0.05)
            status = engine.get_status()
            assert status["running"] and status["strategies"][0]["name"] == "ut_bot"
            assert engine.journal.fills()
            assert "limits" in json.dumps(engine.risk_manager.get_risk_status(), default=str)
        finally:
            await engine.stop()


async def test_a_dropped_market_stream_is_resumed_and_bars_keep_closing(tmp_path: Path) -> None:
    async with serve_sim(SimSettings(speed=FAST)) as sim:
        options = RunOptions(paths=[rules_dir(tmp_path, "ut_bot.rule")], journal=tmp_path / "j")
        state: dict[str, Any] = {}

        def dropped_and_back(engine: Engine) -> bool:
            live = engine.strategies["ut_bot"].live
            ready = "dropped" not in state and engine.stream.connected.is_set()
            # drop_ws() says how many connections it closed: the bot's, once it is connected
            if ready and live.bar > live.warm_after + 5 and sim.simulation.faults.drop_ws() > 0:
                state["dropped"] = live.bar
            if "dropped" in state and live.bar > state["dropped"] + 20:
                state["stream"] = engine.get_status()["stream"]
                return True
            return False

        engine = await run_until(config(sim), options, dropped_and_back)
        assert engine.stream.reconnects >= 1
        stream = state["stream"]  # what /api/status and `rulebot status` showed, once back
        assert stream["connected"] and stream["reconnects"] == engine.stream.reconnects
        assert stream["resyncs"] >= 1 and stream["last_frame_age_s"] is not None
        times = [b.timestamp for b in engine.history["BTC"]]
        assert times == sorted(set(times))  # no bar twice, none out of order
        steps = {b - a for a, b in itertools.pairwise(times)}
        assert steps == {300_000}  # no gap
        # and every bar is the venue's candle, the ones missed while away included (never a
        # flat bar made up for the gap)
        market = sim.simulation.exchange.market(BTC)
        candles = {c.timestamp: c for c in sim.simulation.replay.candles(BTC, "5m", times[0])}
        for bar in engine.history["BTC"]:
            candle = candles[bar.timestamp]
            for field in ("open", "high", "low", "close"):
                venue = Decimal(getattr(candle, field)).scaleb(-market.price_decimals)
                assert Decimal(repr(getattr(bar, field))) == venue, (bar, candle)


def test_sigterm_stops_the_bot_cleanly(tmp_path: Path) -> None:
    from rulebot.venues.sim.serving import SimThread

    with SimThread(SimSettings(speed=FAST)) as sim:
        cfg = tmp_path / "rulebot.yaml"
        cfg.write_text(
            yaml.safe_dump(
                {"network": {"name": "sim", "url": sim.url}, "markets": ["BTC"], "dry_run": False}
            )
        )
        rules = rules_dir(tmp_path, "ut_bot.rule")
        process = subprocess.Popen(
            [sys.executable, "-m", "rulebot", "run", str(rules), "-c", str(cfg),
             "--journal", str(tmp_path / "j.sqlite"), "--status-port", "0"],
            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 120  # a bound on a hang: a busy machine starts slowly
        while get_url(f"{sim.url}/admin/state")["ws_connections"] == 0:  # running: streaming
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 0, output.decode()
        assert b"stopped cleanly" in output and b"Traceback" not in output

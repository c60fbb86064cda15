"""A running bot explains itself: one DEBUG line per bar close per strategy, and its last
decision in the status API, which `rulebot explain --port` prints. The real engine on the sim."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rulebot.cli import app
from rulebot.explain.render import decision_from_dict, decision_line
from rulebot.runtime.app import RunOptions, run_bot
from rulebot.runtime.engine import Engine
from rulebot.venues.sim.serving import serve_sim
from rulebot.venues.sim.settings import SimSettings
from tests.e2e.test_dashboard import free_port, get
from tests.e2e.test_run import FAST, config, rules_dir

FIVE_MINUTES_MS = 300_000


async def test_each_bar_close_is_logged_and_the_last_decision_is_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="rulebot.decisions")
    async with serve_sim(SimSettings(speed=FAST)) as sim:
        port = free_port()
        started: list[Engine] = []
        stop = asyncio.Event()
        options = RunOptions(
            paths=[rules_dir(tmp_path, "ut_bot.rule", "mean_reversion.rule")],
            journal=tmp_path / "state.sqlite", status_port=port, on_start=started.append,
        )  # fmt: skip
        bot = asyncio.create_task(run_bot(config(sim), options, stop))

        def bar_of(decision: dict[str, object]) -> str:
            """The logged line of the served decision's bar."""
            return decision_line(decision_from_dict(decision))

        def logged(name: str) -> list[str]:
            return [
                r.getMessage()
                for r in caplog.records
                if r.name == "rulebot.decisions" and r.getMessage().startswith(f"{name} ")
            ]

        try:
            while not any("=> entry" in line for line in logged("ut_bot")) or any(
                len(logged(name)) <= 3 for name in ("ut_bot", "mean_reversion")
            ):  # an entry, and a few bars of each (the sim's history may enter at once)
                assert not bot.done()
                await asyncio.sleep(0.05)
            sim.simulation.set_speed(0)  # hold the market still: no bar closes now
            await asyncio.sleep(0.5)
            # a decision is served once made, and logged once its orders went out
            status = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/api/status")
            for _ in range(200):
                if all(bar_of(s["decision"]) in logged(s["name"]) for s in status["strategies"]):
                    break
                await asyncio.sleep(0.05)
                status = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/api/status")
            seen = {name: logged(name) for name in ("ut_bot", "mean_reversion")}
            result = await asyncio.to_thread(
                CliRunner().invoke, app, ["explain", "ut_bot", "--port", str(port)]
            )
            after = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/api/status")
        finally:
            stop.set()
            assert await asyncio.wait_for(bot, 30) == 0
    served = {s["name"]: s["decision"] for s in status["strategies"]}
    for name, lines in seen.items():
        # one line per bar close: consecutive bars, none twice
        times = [line.split(" bar ")[1][:20] for line in lines]
        assert len(set(times)) == len(times) > 3
        # the last line says what the status API serves
        assert lines[-1] == decision_line(decision_from_dict(served[name]))
    # with the clauses and their values
    assert "`crossover(close, stop)`" in seen["ut_bot"][-1]
    assert "`bars_in_trade >= 100`" in seen["mean_reversion"][-1]
    # `rulebot explain --port` prints the served decision as `rulebot explain` prints any
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ut_bot  bar ")
    assert "crossover(close, stop)" in result.output
    stops = [
        f"let stop = {s['decision']['lets']['stop']:.6g}"
        for s in (*status["strategies"], *after["strategies"])
        if s["name"] == "ut_bot"
    ]  # the bar the bot was at when asked (the sim's clock may close one more meanwhile)
    assert any(stop in result.output for stop in stops)
    assert "mean_reversion" not in result.output

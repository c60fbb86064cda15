"""`kill -9` in the middle of a run, then a restart: the journal and the venue reconcile, and no
order is sent twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import yaml

from rulebot.runtime.journal import Journal
from rulebot.venues.sim.serving import serve_sim
from rulebot.venues.sim.settings import SimSettings

ROOT = Path(__file__).resolve().parents[2]
CREATE_ORDER = 14
BTC = 1  # the market the shipped ut_bot trades: the sim's id for it


def write_config(path: Path, url: str) -> None:
    path.write_text(
        yaml.safe_dump(
            {
                "network": {"name": "sim", "url": url},
                "markets": ["BTC"],
                "dry_run": False,
                "risk": {
                    "max_position_notional": "1000000 USDC",
                    "max_order_notional": "100000 USDC",
                    "max_leverage": 50,
                },
                "runtime": {"status_port": 0},
            }
        )
    )


def orders_in(journal: Path, where: str = "1") -> int:
    if not journal.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
            return db.execute(f"select count(*) from orders where {where}").fetchone()[0]
    except sqlite3.Error:
        return 0


HOLDING_A_STOP = "kind = 'stop_loss' and state in ('sent', 'open')"


async def bot(folder: Path, config: Path, journal: Path, *extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rulebot", "run", str(folder), "-c", str(config),
        "--journal", str(journal), "--status-port", "0", *extra,
        cwd=folder.parent, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


async def test_a_killed_bot_restarts_and_reconciles_without_sending_an_order_twice(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "ut_bot.rule").write_bytes((ROOT / "rules" / "ut_bot.rule").read_bytes())
    journal = tmp_path / "state.sqlite"
    config = tmp_path / "rulebot.yaml"
    async with serve_sim(SimSettings(speed=3000)) as sim:
        write_config(config, sim.url)
        first = await bot(folder, config, journal)
        for _ in range(600):
            if orders_in(journal) >= 6 and orders_in(journal, HOLDING_A_STOP):
                break
            await asyncio.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        assert first.returncode == -signal.SIGKILL
        killed_at = orders_in(journal)
        assert killed_at >= 6
        # while the bot is down, the market runs through its stop: a fill it never saw
        sim.simulation.set_speed(0)
        exchange = sim.simulation.exchange
        with Journal.open(journal, readonly=True) as book:
            stops = [o for o in book.open_orders() if o.kind == "stop_loss"]
            seen = {f.trade_id for f in book.fills()}
        active = {o.client_order_index for o in exchange.active_orders(1, None)}
        for stop in stops:
            if stop.client_order_index in active:
                factor = Decimal("0.97") if stop.side == "sell" else Decimal("1.03")
                beyond = stop.trigger_price * factor
                market = exchange.market(BTC)
                exchange.move_market(BTC, int(beyond.scaleb(market.price_decimals)))
        unseen = {t.trade_id for t in exchange.account_trades(1, 10_000)} - seen
        assert stops and unseen  # the bot held a stop, and it filled while the bot was down
        sim.simulation.set_speed(3000)

        second = await bot(folder, config, journal, "--stop-after", "5")
        await asyncio.sleep(3.5)
        sim.simulation.set_speed(0)  # hold the market still while the bot stops
        output, _ = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode == 0, output.decode()
        assert b"carrying on with its position" in output or b"reconciled" in output
        assert b"Traceback" not in output

        log = sim.simulation.transaction_log()
        created = Counter(
            t["tx_info"]["ClientOrderIndex"] for t in log if t["tx_type"] == CREATE_ORDER
        )
        assert created and max(created.values()) == 1  # no client order index sent twice
        exchange = sim.simulation.exchange
        active = {o.client_order_index for o in exchange.active_orders(1, None)}
        with Journal.open(journal, readonly=True) as book:
            assert {o.client_order_index for o in book.open_orders()} == active
            net = sum((p.size for p in book.positions()), Decimal(0))
            fills = {f.trade_id for f in book.fills()}
        market = exchange.market(BTC)
        position = exchange.account(1).positions.get(BTC)
        size = Decimal(position.size if position else 0).scaleb(-market.size_decimals)
        assert net == size
        assert fills == {t.trade_id for t in exchange.account_trades(1, 10_000)}

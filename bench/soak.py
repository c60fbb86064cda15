"""The soak: 20 strategies on a separate `rulebot sim` with its faults on, then the journal is
compared with the venue.

A `rulebot sim` subprocess replays the shipped candles at high speed (`--speed`, 600 by
default: a 5-minute bar every half second), and this process runs `rulebot run`'s engine on it
with 20 strategies (the shipped single-market rules on every market the sim serves, and the
spread on two pairs). While it runs, a fault driver arms one of the sim's faults every few
seconds in turn: a delayed `sendTx` (a fill in flight while bars close), a 429 burst, a lost
answer to a `sendTx` that landed, a refused order and a dropped WebSocket. At the end the sim is
paused, the bot stops cleanly, and the bench prints:

- **Differences between journal and venue**: per market, the strategies' summed position against
  the account's position at the venue; the orders the journal holds open against the orders
  resting at the venue. Aim: 0.
- **Doubled positions**: an entry filled for a strategy that already held a position on that side
  from another entry. Aim: 0 (no strategy pyramids).
- **Memory**: the bot's resident memory sampled through the run; growth per hour of wall time
  (a least-squares slope after the warm-up) and the ratio of the last sample to the first after
  warm-up (the baseline), with the bar history's length against its cap.

    .venv/bin/python bench/soak.py                    # the full soak: 30 minutes
    .venv/bin/python bench/soak.py --minutes 3        # a quick look

Loopback only: the sim listens on 127.0.0.1 and every request loop here is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sqlite3
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rulebot.config import Config  # noqa: E402
from rulebot.runtime.app import RunOptions, run_bot  # noqa: E402
from rulebot.runtime.engine import HISTORY_BARS, Engine  # noqa: E402
from rulebot.runtime.journal import Journal  # noqa: E402
from rulebot.venues.lighter.client import LighterVenue  # noqa: E402

STRATEGIES = 20
SINGLE = ("mean_reversion.rule", "ut_bot.rule", "momentum.yaml")
SPREAD_PAIRS = (("ETH", "LTC"), ("ETC", "XMR"))
FAULTS = (
    ("delay", {"ms": 1500, "count": 2, "path": "/api/v1/sendTx"}),
    ("rate-limit", {"count": 3, "retry_after_s": 1}),
    ("server-error", {"count": 1, "path": "/api/v1/sendTx", "after_apply": True}),
    ("reject-orders", {"count": 1}),
    ("drop-ws", {}),
)
ROOMY_RISK = {
    "max_position_notional": "10000000 USDC",
    "max_order_notional": "1000000 USDC",
    "max_leverage": 50,
    "max_open_orders": 100,  # every strategy's stop and target may rest at once
}
RSS_EVERY_S = 5.0
_DRAINS: set[asyncio.Task[None]] = set()  # the sim's output, read so its pipe never fills


@dataclass
class Soak:
    """What the run saw, for the report."""

    faults: Counter[str] = field(default_factory=Counter)
    rss: list[tuple[float, int]] = field(default_factory=list)  # (seconds, bytes)
    history_max: int = 0
    bars: int = 0


# ---- the sim, in a process of its own --------------------------------------------------------
async def start_sim(speed: float) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rulebot", "sim", "--port", "0", "--speed", str(speed),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        if found:
            _DRAINS.add(asyncio.create_task(_drain(process.stdout)))
            return process, found.group(0)
        if not line:
            break
    process.kill()
    raise SystemExit("the sim did not start")


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


async def admin(session: aiohttp.ClientSession, url: str, path: str, body: Any = None) -> Any:
    method = "GET" if body is None else "POST"
    async with session.request(method, f"{url}/admin/{path}", json=body) as answer:
        answer.raise_for_status()
        return await answer.json()


# ---- the strategies ---------------------------------------------------------------------------
def write_rules(folder: Path, markets: list[str]) -> list[str]:
    """Twenty rule files: the shipped single-market rules on each market, then the spread."""
    folder.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    pairs = [p for p in SPREAD_PAIRS if set(p) <= set(markets)]
    singles = [(rule, market) for market in markets for rule in SINGLE]
    for k in range(STRATEGIES - len(pairs)):  # a second round shares a market with the first
        rule, market = singles[k % len(singles)]
        text = (REPO / "rules" / rule).read_text()
        stem = rule.split(".")[0]
        round_ = k // len(singles)
        name = f"{stem}_{market.lower()}" + (f"_{round_ + 1}" if round_ else "")
        text = re.sub(r"(?m)^(strategy:?\s+)\w+", rf"\g<1>{name}", text)
        text = re.sub(r"(?m)^(market:?\s+)\w+", rf"\g<1>{market}", text)
        text = re.sub(r"max_position(:?\s+)[\d.]+ [A-Z]+", r"max_position\g<1>20%", text)
        (folder / f"{name}{Path(rule).suffix}").write_text(text)
        names.append(name)
    for first, second in pairs:
        text = (REPO / "rules" / "arbitrage.rule").read_text()
        name = f"arbitrage_{first.lower()}_{second.lower()}"
        text = re.sub(r"(?m)^strategy\s+\w+", f"strategy {name}", text)
        text = re.sub(r"(?m)^markets\s+.*$", f"markets {first}, {second}", text)
        text = text.replace("@ETH", f"@{first}").replace("@LTC", f"@{second}")
        text = re.sub(r"(?m)^leg ETH", f"leg {first}", text)
        text = re.sub(r"(?m)^leg LTC", f"leg {second}", text)
        (folder / f"{name}.rule").write_text(text)
        names.append(name)
    return names


# ---- while it runs ----------------------------------------------------------------------------
async def drive_faults(
    session: aiohttp.ClientSession, url: str, every_s: float, until: float, soak: Soak
) -> None:
    """Arm one fault every `every_s` seconds, in turn, until `until` (monotonic)."""
    rng = random.Random(7)
    turn = 0
    while time.monotonic() + every_s < until:
        await asyncio.sleep(every_s * rng.uniform(0.5, 1.5))
        kind, body = FAULTS[turn % len(FAULTS)]
        turn += 1
        try:
            await admin(session, url, f"faults/{kind}", body)
            soak.faults[kind] += 1
        except aiohttp.ClientError:
            soak.faults["not armed"] += 1


async def sample_memory(engines: list[Engine], until: float, soak: Soak) -> None:
    began = time.monotonic()
    while time.monotonic() < until:
        soak.rss.append((time.monotonic() - began, _rss_bytes()))
        if engines:
            engine = engines[0]
            soak.history_max = max([soak.history_max, *map(len, engine.history.values())])
            soak.bars = sum(r.live.bar + 1 for r in engine.strategies.values())
        await asyncio.sleep(RSS_EVERY_S)


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


# ---- afterwards -------------------------------------------------------------------------------
async def venue_picture(url: str) -> tuple[dict[str, Decimal], set[int]]:
    """The account's positions (by market) and the client order indexes resting at the venue."""
    from lighter.signer_client import create_api_key

    async with LighterVenue("sim", url=url, account_index=1, private_key=create_api_key()[0]) as v:
        positions = {p.market: p.size for p in (await v.account()).positions if p.size}
        orders = {o.client_order_index for o in await v.open_orders()}
    return positions, orders


def journal_picture(path: Path) -> tuple[dict[str, Decimal], set[int], int, int, int]:
    """The strategies' summed positions, the open orders, fills, orders, doubled entries."""
    with Journal.open(path, readonly=True) as journal:
        summed: dict[str, Decimal] = defaultdict(Decimal)
        for position in journal.positions():
            summed[position.market] += position.size
        open_orders = {o.client_order_index for o in journal.open_orders()}
        fills = sorted(journal.fills(), key=lambda f: (f.time_ms, f.trade_id))
        orders = {f.client_order_index: journal.order(f.client_order_index) for f in fills}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        (sent,) = db.execute("SELECT count(*) FROM orders").fetchone()
    return (
        {m: s for m, s in summed.items() if s},
        open_orders,
        len(fills),
        sent,
        doubled(fills, orders),
    )


def doubled(fills: list[Any], orders: dict[int, Any]) -> int:
    """Entries filled while the strategy already held that side from another entry order."""
    held: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    opened_by: dict[tuple[str, str], int] = {}
    count = 0
    for fill in fills:
        key = (fill.strategy, fill.market)
        order = orders.get(fill.client_order_index)
        change = fill.size if fill.side == "buy" else -fill.size
        before = held[key]
        entry = order is not None and order.kind == "market" and order.reason == "signal"
        same_side = before != 0 and (before > 0) == (change > 0)
        if entry and same_side and opened_by.get(key) != fill.client_order_index:
            count += 1
        held[key] = before + change
        if before == 0 or (before > 0) != (held[key] > 0):
            opened_by[key] = fill.client_order_index
    return count


def growth_per_hour(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope of resident memory, in bytes per hour."""
    if len(samples) < 3:
        return float("nan")
    xs = [s for s, _ in samples]
    ys = [float(b) for _, b in samples]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var * 3600 if var else 0


# ---- the whole run ----------------------------------------------------------------------------
async def soak(minutes: float, speed: float, fault_every_s: float) -> int:
    console = Console()
    sim, url = await start_sim(speed)
    report = Soak()
    try:
        async with aiohttp.ClientSession() as session:
            state = await admin(session, url, "state")
            markets = [m["symbol"] for m in state["markets"]]
            folder = Path(tempfile.mkdtemp(prefix="rulebot-soak-"))
            names = write_rules(folder / "rules", markets)
            journal = folder / "soak.sqlite"
            config = Config.model_validate(
                {"network": {"name": "sim", "url": url}, "markets": markets, "dry_run": False,
                 "runtime": {"status_port": 0}, "risk": ROOMY_RISK}
            )  # fmt: skip
            lines: list[str] = []
            engines: list[Engine] = []
            stop = asyncio.Event()
            options = RunOptions(
                paths=[folder / "rules"], journal=journal, say=lines.append,
                on_start=engines.append,
            )  # fmt: skip
            console.print(
                f"soak: {len(names)} strategies on {', '.join(markets)}, sim at {speed:g}x, "
                f"{minutes:g} min, a fault every ~{fault_every_s:g} s"
            )
            bot = asyncio.create_task(run_bot(config, options, stop))
            while not engines and not bot.done():
                await asyncio.sleep(0.1)
            if bot.done():
                console.print("\n".join(lines))
                return bot.result() or 1
            until = time.monotonic() + minutes * 60
            helpers = [
                asyncio.create_task(drive_faults(session, url, fault_every_s, until, report)),
                asyncio.create_task(sample_memory(engines, until, report)),
            ]
            await asyncio.gather(*helpers)
            async with session.delete(f"{url}/admin/faults"):
                pass
            await admin(session, url, "speed", {"speed": 0})  # hold the market still
            await asyncio.sleep(3)  # let what is in flight land
            stop.set()
            code = await asyncio.wait_for(bot, 120)
        venue_positions, venue_orders = await venue_picture(url)
    finally:
        sim.terminate()
        await sim.wait()
    summed, journal_orders, fills, orders, doubles = journal_picture(journal)
    position_diffs = sorted(
        m for m in set(summed) | set(venue_positions)
        if summed.get(m, Decimal(0)) != venue_positions.get(m, Decimal(0))
    )  # fmt: skip
    order_diffs = journal_orders ^ venue_orders
    warm = [s for s in report.rss if s[0] >= min(60.0, minutes * 60 / 5)]
    first, last = (warm[0][1], warm[-1][1]) if warm else (0, 0)
    table = Table(title="soak: journal against venue")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("aim", justify="right")
    rows = [
        ("exit code of the bot", str(code), "0"),
        ("strategies", str(len(names)), "20"),
        ("bars evaluated (all strategies)", f"{report.bars:,}", ""),
        ("orders / fills journaled", f"{orders:,} / {fills:,}", ""),
        ("faults armed", ", ".join(f"{k} {n}" for k, n in sorted(report.faults.items())), ""),
        ("position differences (markets)", str(len(position_diffs)), "0"),
        ("open-order differences", str(len(order_diffs)), "0"),
        ("doubled positions", str(doubles), "0"),
        ("RSS after warm-up / at end", f"{first / 2**20:.1f} / {last / 2**20:.1f} MiB", ""),
        ("RSS growth per hour", f"{growth_per_hour(warm) / 2**20:+.1f} MiB/h", ""),
        ("RSS end / after warm-up (baseline)", f"{last / first:.3f}x" if first else "-", "~1"),
        ("longest bar history / cap", f"{report.history_max:,} / {HISTORY_BARS:,}", "<= cap"),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for market in position_diffs:
        console.print(
            f"  {market}: journal {summed.get(market, 0)} venue {venue_positions.get(market, 0)}"
        )
    if order_diffs:
        console.print(f"  orders only in the journal: {sorted(journal_orders - venue_orders)}")
        console.print(f"  orders only at the venue: {sorted(venue_orders - journal_orders)}")
    tracebacks = [line for line in lines if "Traceback" in line]
    if tracebacks:
        console.print(f"  {len(tracebacks)} tracebacks in the bot's output")
    print(json.dumps({"position_differences": len(position_diffs),
                      "order_differences": len(order_diffs), "doubled": doubles}))  # fmt: skip
    return int(bool(position_diffs or order_diffs or doubles or code))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="wall time of the soak")
    parser.add_argument("--speed", type=float, default=600.0, help="the sim's speed")
    parser.add_argument("--fault-every", type=float, default=8.0, help="seconds between faults")
    args = parser.parse_args()
    raise SystemExit(asyncio.run(soak(args.minutes, args.speed, args.fault_every)))


if __name__ == "__main__":
    main()

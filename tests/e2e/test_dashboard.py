"""The dashboard end to end in headless Chromium (Debian's `chromium`, driven by playwright):
the bot runs in-process on a fast sim with its status server on a free port, and the page must
load, draw the equity curve, show new fills as they happen, and show exactly the positions,
orders and equity the status API reports."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import urllib.request
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Locator, Page, async_playwright, expect

from rulebot.runtime.app import RunOptions, run_bot
from rulebot.runtime.engine import Engine
from rulebot.runtime.journal import Journal
from rulebot.runtime.messages import EquitySnapshot, Fill
from rulebot.runtime.status import StatusServer
from rulebot.venues.sim.serving import serve_sim
from rulebot.venues.sim.settings import SimSettings
from tests.e2e.test_run import FAST, config, rules_dir

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # Debian's package; .ci/run installs it
WAIT_MS = 20_000  # how long the page may take to show something before the test fails


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
        return json.loads(r.read())


@contextlib.asynccontextmanager
async def headless_chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield browser
        finally:
            await browser.close()


async def new_tab(browser: Browser, errors: list[str]) -> Page:
    """A fresh page (nothing remembered) whose scripts' errors, raised or logged, go to `errors`."""
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return page


async def still(url: str) -> Any:
    """The status once two reads a second apart agree on positions and orders: the bot has
    taken in what was in flight when the market stopped (a busy machine takes a while)."""
    before = None
    for _ in range(60):
        now = await asyncio.to_thread(get, url)
        if before is not None and (now["positions"], now["orders"]) == (
            before["positions"],
            before["orders"],
        ):
            return now
        before = now
        await asyncio.sleep(1.0)
    raise AssertionError("the bot's positions kept changing with the market stopped")


def cell(page: Page, table: str, key: str, field: str) -> Locator:
    return page.locator(f'#{table} tbody tr[data-key="{key}"] td[data-field="{field}"]')


async def test_the_dashboard_shows_the_running_bot_and_follows_it_live(tmp_path: Path) -> None:
    async with serve_sim(SimSettings(speed=FAST)) as sim:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        started: list[Engine] = []
        lines: list[str] = []
        stop = asyncio.Event()
        options = RunOptions(
            paths=[rules_dir(tmp_path, "ut_bot.rule", "mean_reversion.rule")],
            journal=tmp_path / "state.sqlite", status_port=port, say=lines.append,
            on_start=started.append,
        )  # fmt: skip
        bot = asyncio.create_task(run_bot(config(sim), options, stop))
        try:
            while not started:
                assert not bot.done(), lines
                await asyncio.sleep(0.05)
            engine = started[0]
            assert f"dashboard: {url}/" in lines
            errors: list[str] = []
            async with headless_chromium() as browser:
                page = await new_tab(browser, errors)
                await page.goto(f"{url}/")

                # it draws the equity curve and follows it: the chart gains points
                chart = page.locator("#equity-chart")
                await expect(chart.locator("canvas")).to_have_count(1, timeout=WAIT_MS)
                await expect(page.locator("#drawdown-chart canvas")).to_have_count(1)
                drawn = int(await chart.get_attribute("data-points") or 0)
                assert drawn > 0
                await expect(chart).not_to_have_attribute(
                    "data-points", str(drawn), timeout=WAIT_MS
                )
                assert int(await chart.get_attribute("data-points") or 0) > drawn

                # a fill the bot makes after the page has loaded appears in the fills table
                while not engine.journal.fills():
                    await asyncio.sleep(0.05)
                known = {(f.trade_id, f.client_order_index) for f in engine.journal.fills()}
                while len(engine.journal.fills()) == len(known):
                    await asyncio.sleep(0.05)
                new = next(
                    f
                    for f in reversed(engine.journal.fills())
                    if (f.trade_id, f.client_order_index) not in known
                )
                row = f'#fills tbody tr[data-key="{new.trade_id}/{new.client_order_index}"]'
                await expect(page.locator(row)).to_be_visible(timeout=WAIT_MS)
                await expect(page.locator(f'{row} td[data-field="price"]')).to_have_text(
                    str(new.price)
                )

                # hold the market still with a position open: the page shows what the API says
                while not any(p.size for p in engine.orders.positions()):
                    await asyncio.sleep(0.05)
                sim.simulation.set_speed(0)
                status = await still(f"{url}/api/status")  # what was in flight, taken in
                positions = await asyncio.to_thread(get, f"{url}/api/positions")
                assert positions == status["positions"]
                assert any(Decimal(p["size"]) != 0 for p in positions)
                rows = page.locator("#positions tbody tr")
                await expect(rows).to_have_count(len(positions), timeout=WAIT_MS)
                for p in positions:
                    key = f"{p['strategy']}/{p['market']}"
                    for field in ("size", "entry_price", "realized_pnl", "fees"):
                        shown = cell(page, "positions", key, field)
                        await expect(shown).to_have_attribute("data-value", p[field])
                    size = cell(page, "positions", key, "size")
                    await expect(size).to_have_text(p["size"])  # exactly, as the venue's lots
                    size_now = Decimal(p["size"])
                    side = "long" if size_now > 0 else "short" if size_now < 0 else "flat"
                    await expect(page.locator(f'#positions tr[data-key="{key}"]')).to_contain_text(
                        side
                    )
                orders = page.locator("#orders tbody tr")
                await expect(orders).to_have_count(len(status["orders"]))
                for o in status["orders"]:
                    shown = page.locator(f'#orders tr[data-key="{o["client_order_index"]}"]')
                    await expect(shown).to_contain_text(o["kind"])
                equity = status["account"]["equity"]
                await expect(page.locator("#equity")).to_have_attribute("title", equity)
                await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
                limits = page.locator("#limits tbody tr")
                await expect(limits.first).to_be_visible()
                assert await page.locator('#limits tr[data-key="account/max_drawdown"]').count()
                assert await page.locator('#strategies tr[data-key="ut_bot"]').count() == 1
                # each strategy's last decision, as the status API has it (the market is still)
                decision = next(s for s in status["strategies"] if s["name"] == "ut_bot")
                decision = decision["decision"]
                stamp = datetime.fromtimestamp(decision["time"] / 1000, UTC)
                shown = page.locator('#strategies tr[data-key="ut_bot"] td.decision')
                await expect(shown).to_contain_text(stamp.strftime("%Y-%m-%d %H:%M:%S"))
                await expect(shown).to_contain_text(decision["position"])
                assert errors == []
        finally:
            stop.set()
            assert await asyncio.wait_for(bot, 30) == 0


async def test_behind_a_token_the_page_asks_for_it_then_shows_the_journal(
    tmp_path: Path,
) -> None:
    """Bound with a token, the page loads, asks for the token, and with it reads everything;
    a token given as `#token=` is used and taken out of the address bar."""
    with Journal.open(tmp_path / "state.sqlite") as journal:
        for time_ms, equity in [(60_000, "1000"), (120_000, "1100"), (180_000, "990")]:
            snapshot = EquitySnapshot(time_ms, Decimal(equity), Decimal(equity), Decimal(0))
            journal.record_equity(snapshot)
        status = {
            "running": True, "uptime_s": 42, "network": "sim", "dry_run": True, "entries": "on",
            "account": {"equity": "990", "collateral": "990", "daily_pnl": "-10",
                        "drawdown": "0.1"},
            "positions": [{"strategy": "ut_bot", "market": "ETH", "size": "-0.25",
                           "entry_price": "3512.37", "realized_pnl": "51.2", "fees": "0.42"}],
            "orders": [], "strategies": [], "risk": {}, "risk_events": [],
        }  # fmt: skip
        server = StatusServer(lambda: status, port=0, token="s3cret", journal=journal)
        port = await server.start()
        try:
            errors: list[str] = []
            async with headless_chromium() as browser:
                page = await new_tab(browser, errors)
                await page.goto(f"http://127.0.0.1:{port}/")
                await expect(page.locator("#token-form")).to_be_visible(timeout=WAIT_MS)
                await expect(page.locator("#dashboard")).to_be_hidden()
                await page.fill("#token", "s3cret")
                await page.click("#token-form button")
                shown = page.locator('#positions tr[data-key="ut_bot/ETH"]')
                await expect(shown).to_contain_text("short", timeout=WAIT_MS)
                await expect(shown.locator('td[data-field="size"]')).to_have_text("-0.25")
                chart = page.locator("#equity-chart")
                await expect(chart).to_have_attribute("data-points", "3", timeout=WAIT_MS)
                await expect(page.locator("#max-drawdown")).to_have_text("10.00%")

                # a fill journaled while the page is open shows up without a reload
                fill = Fill(7, 8, "ut_bot", "ETH", "sell", Decimal("0.25"), Decimal("3512.37"),
                            Decimal("0.42"), 200_000)  # fmt: skip
                journal.record_fill(fill)
                await expect(page.locator('#fills tr[data-key="7/8"]')).to_be_visible(
                    timeout=WAIT_MS
                )
                assert [e for e in errors if "401" not in e] == []  # asked, as it should
                await page.close()
                errors.clear()

                page = await new_tab(browser, errors)
                await page.goto(f"http://127.0.0.1:{port}/#token=s3cret")
                shown = page.locator('#positions tr[data-key="ut_bot/ETH"]')
                await expect(shown).to_be_visible(timeout=WAIT_MS)
                assert "s3cret" not in page.url
                await expect(page.locator("#token-form")).to_be_hidden()
                assert errors == []
        finally:
            await server.stop()

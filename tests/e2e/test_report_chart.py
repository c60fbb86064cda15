"""The backtest report's chart in headless Chromium (Debian's `chromium`, driven by playwright, as
the dashboard's test does): the page is the file `rulebot backtest --plot report.html` writes,
opened from disk. Every trade's entry and exit marker must sit at its fill's time and price, read
back through the axes the page draws (tick values and where their lines are), zooming must move
the price, equity and drawdown panes together, and the trades table must list every trade and
zoom to the one clicked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.async_api import Page, expect

from rulebot.backtesting.engine import BacktestResult, backtest
from rulebot.backtesting.report import write_plot
from tests.e2e.test_dashboard import WAIT_MS, headless_chromium, new_tab

ROOT = Path(__file__).resolve().parents[2]
PIXELS = 1.5  # how far a marker may sit from where its time and price are, in screen pixels

GEOMETRY = """() => {
  const centre = (e) => { const b = e.getBoundingClientRect();
    return [b.left + b.width / 2, b.top + b.height / 2]; };
  const panes = {};
  for (const pane of document.querySelectorAll("#chart g.pane")) {
    panes[pane.dataset.pane] = {
      t0: Number(pane.dataset.t0), t1: Number(pane.dataset.t1),
      y: [...pane.querySelectorAll("g.ytick")].map((g) =>
        [Number(g.dataset.value), g.querySelector("line").getBoundingClientRect().top]),
      x: [...pane.querySelectorAll("g.xtick")].map((g) =>
        [Number(g.dataset.value), g.querySelector("line").getBoundingClientRect().left]),
      paths: [...pane.querySelectorAll("path.equity, path.drawdown-line")].map((p) =>
        p.getAttribute("d")),
      candles: [...pane.querySelectorAll("g.candle")].map((c) => Number(c.dataset.bars)),
    };
  }
  const markers = [...document.querySelectorAll("#chart path.marker")].map((m) => ({
    trade: Number(m.dataset.trade), kind: m.dataset.kind, side: m.dataset.side,
    reason: m.dataset.reason || null, title: m.querySelector("title").textContent,
    at: centre(m) }));
  const levels = [...document.querySelectorAll("#chart line.level")].map((l) => {
    const b = l.getBoundingClientRect();
    return { trade: Number(l.dataset.trade), kind: l.classList.contains("stop") ? "stop" : "take",
      left: b.left, right: b.right, y: b.top };
  });
  return { panes, markers, levels };
}"""


@pytest.fixture(scope="module")
def result() -> BacktestResult:
    """mean_reversion on the shipped BTC candles: a stop and a target on every trade, `mid` a
    price."""
    return backtest(ROOT / "rules" / "mean_reversion.rule")


@pytest.fixture(scope="module")
def report(result: BacktestResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_plot(result, tmp_path_factory.mktemp("report") / "report.html")


def axis(ticks: list[list[float]]) -> Any:
    """Value → screen pixel, from two of an axis's ticks (its labels and where they are drawn)."""
    assert len(ticks) >= 2, "an axis draws at least two ticks"
    (v0, p0), (v1, p1) = ticks[0], ticks[-1]
    return lambda v: p0 + (v - v0) * (p1 - p0) / (v1 - v0)


def stamps(result: BacktestResult, field: str) -> np.ndarray:
    return np.asarray(result.columns.timestamp)[result.trades[field]]


async def geometry(page: Page) -> dict[str, Any]:
    return await page.evaluate(GEOMETRY)


async def open_report(page: Page, report: Path) -> None:
    await page.goto(report.as_uri())
    await expect(page.locator("#chart g.pane")).to_have_count(3, timeout=WAIT_MS)


def assert_markers_on_fills(
    drawn: dict[str, Any], result: BacktestResult, trades: list[int]
) -> None:
    price = drawn["panes"]["price"]
    x_of, y_of = axis(price["x"]), axis(price["y"])
    at = {(m["trade"], m["kind"]): m for m in drawn["markers"]}
    rows = result.trades
    entries, exits = stamps(result, "entry_index"), stamps(result, "exit_index")
    for i in trades:
        for kind, when, fill in (
            ("entry", entries[i], rows["entry_price"][i]),
            ("exit", exits[i], rows["exit_price"][i]),
        ):
            x, y = at[i, kind]["at"]
            assert x == pytest.approx(x_of(int(when)), abs=PIXELS), (i, kind, "time")
            assert y == pytest.approx(y_of(float(fill)), abs=PIXELS), (i, kind, "price")
        side = "long" if rows["side"][i] > 0 else "short"
        assert at[i, "entry"]["side"] == at[i, "exit"]["side"] == side
        assert at[i, "exit"]["reason"] == rows["exit_reason"][i]
        assert rows["exit_reason"][i].replace("_", " ") in at[i, "exit"]["title"]


async def test_markers_sit_at_every_trades_fill_times_and_prices(
    result: BacktestResult, report: Path
) -> None:
    errors: list[str] = []
    async with headless_chromium() as browser:
        page = await new_tab(browser, errors)
        await open_report(page, report)
        drawn = await geometry(page)
        assert len(drawn["markers"]) == 2 * len(result.trades) > 0
        assert_markers_on_fills(drawn, result, list(range(len(result.trades))))
        assert await page.locator('#chart path.overlay[data-name="mid"]').count() == 1
        # the whole backtest is drawn with far fewer candles than bars, every bar in one
        candles = drawn["panes"]["price"]["candles"]
        assert sum(candles) == len(result.equity) - result.columns.warmup_bars
        assert len(candles) <= 1100 // 2 and max(candles) > 1
    assert errors == []


async def test_zoom_moves_the_price_equity_and_drawdown_together(report: Path) -> None:
    errors: list[str] = []
    async with headless_chromium() as browser:
        page = await new_tab(browser, errors)
        await open_report(page, report)
        before = (await geometry(page))["panes"]
        box = await page.locator('#chart g.pane[data-pane="price"] rect.frame').bounding_box()
        assert box is not None
        await page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
        for _ in range(6):
            await page.mouse.wheel(0, -120)  # wheel up: zoom in around the pointer
        await expect(page.locator("#chart")).not_to_have_attribute(
            "data-t0", str(before["price"]["t0"]), timeout=WAIT_MS
        )
        await page.wait_for_timeout(200)  # the last wheel step drawn
        zoomed = (await geometry(page))["panes"]
        views = {(p["t0"], p["t1"]) for p in zoomed.values()}
        assert len(views) == 1, "one time axis for the three panes"
        ((t0, t1),) = views
        full = before["price"]["t1"] - before["price"]["t0"]
        assert before["price"]["t0"] <= t0 < t1 <= before["price"]["t1"]
        assert t1 - t0 < full / 2
        for name in ("price", "equity", "drawdown"):
            assert zoomed[name]["x"] != before[name]["x"], f"the {name} pane's time axis moved"
        for name in ("equity", "drawdown"):
            assert zoomed[name]["paths"] != before[name]["paths"], f"the {name} pane redrew"

        # a drag moves every pane by the same time
        await page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + 40)
        await page.mouse.down()
        await page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + 40, steps=5)
        await page.mouse.up()
        await page.wait_for_timeout(200)
        dragged = (await geometry(page))["panes"]
        views = {(p["t0"], p["t1"]) for p in dragged.values()}
        assert len(views) == 1
        ((d0, d1),) = views
        assert d0 > t0 and d1 - d0 == pytest.approx(t1 - t0)

        await page.get_by_role("button", name="All").click()
        await page.wait_for_timeout(200)
        again = (await geometry(page))["panes"]
        assert {(p["t0"], p["t1"]) for p in again.values()} == {
            (before["price"]["t0"], before["price"]["t1"])
        }
    assert errors == []


async def test_the_table_lists_every_trade_and_a_click_zooms_to_it(
    result: BacktestResult, report: Path
) -> None:
    errors: list[str] = []
    trades = result.trades
    # a trade with both levels that lasted a few bars, so its levels span some width
    held = trades["exit_index"] - trades["entry_index"]
    chosen = int(np.flatnonzero(np.isfinite(trades["take_price"]) & (held >= 3))[0])
    async with headless_chromium() as browser:
        page = await new_tab(browser, errors)
        await open_report(page, report)
        rows = page.locator("table.trades tbody tr")
        assert await rows.count() == len(trades)
        numbers = await page.locator("table.trades tbody tr td:first-child").all_inner_texts()
        assert numbers == [f"{k:,}" for k in range(1, len(trades) + 1)]

        await page.locator(f'table.trades tbody tr[data-trade="{chosen}"]').click()
        await expect(
            page.locator(f'#chart path.marker.selected[data-trade="{chosen}"]')
        ).to_have_count(2, timeout=WAIT_MS)
        drawn = await geometry(page)
        price = drawn["panes"]["price"]
        entry, exit_ = (int(stamps(result, f)[chosen]) for f in ("entry_index", "exit_index"))
        assert price["t0"] < entry <= exit_ < price["t1"]
        assert price["t1"] - price["t0"] < 200 * 300_000, "zoomed in to the trade"
        assert all(bars == 1 for bars in price["candles"]), "zoomed in, a candle is a bar"
        visible = sorted({m["trade"] for m in drawn["markers"]})
        assert chosen in visible
        assert_markers_on_fills(drawn, result, visible)

        # the stop loss and the take-profit run over the bars the trade was held, at their levels
        x_of, y_of = axis(price["x"]), axis(price["y"])
        for kind, field in (("stop", "stop_price"), ("take", "take_price")):
            (line,) = [lv for lv in drawn["levels"] if lv["trade"] == chosen and lv["kind"] == kind]
            assert line["y"] == pytest.approx(y_of(float(trades[field][chosen])), abs=PIXELS)
            assert line["left"] == pytest.approx(x_of(entry), abs=PIXELS)
            assert line["right"] == pytest.approx(x_of(exit_), abs=PIXELS)
    assert errors == []


async def test_a_spread_report_draws_equity_and_drawdown_only(tmp_path: Path) -> None:
    spread = backtest(ROOT / "rules" / "arbitrage.rule")
    path = write_plot(spread, tmp_path / "spread.html")
    errors: list[str] = []
    async with headless_chromium() as browser:
        page = await new_tab(browser, errors)
        await page.goto(path.as_uri())
        await expect(page.locator("#chart g.pane")).to_have_count(2, timeout=WAIT_MS)
        panes = (await geometry(page))["panes"]
        assert sorted(panes) == ["drawdown", "equity"]
        assert all(p["paths"] and p["paths"][0] for p in panes.values())
        assert await page.locator("table.trades tbody tr").count() == len(spread.trades)
    assert errors == []

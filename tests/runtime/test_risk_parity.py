"""Risk limits that bind on real data stop the same entries in a backtest and live.

The live side is the live path itself: the engine (streaming evaluator, risk manager, order
manager, a real SQLite journal) trading a `PaperVenue` whose market is the shipped BTC candles
played as trades (`rulebot.venues.tape`: a bar's close is the price its decisions fill at, its
path passes through the stops and targets the account holds). The rule is the shipped mean
reversion with its `risk { ... }` rewritten so that its limits bind on those candles;
rulebot.yaml's account limits are the defaults unless a case sets them. The trades compared are
the journal's, as `rulebot report` reads them.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from rulebot import config
from rulebot.backtesting.engine import backtest
from rulebot.backtesting.fills import FillSettings
from rulebot.backtesting.settings import with_account_risk
from rulebot.data.candles import Candles, shipped_candles
from rulebot.lang import ir
from rulebot.lang.load import compile_text
from rulebot.reporting import read_report
from rulebot.runtime.engine import Engine
from rulebot.runtime.journal import Journal
from rulebot.runtime.messages import RiskEvent
from rulebot.venues.paper import PaperVenue
from rulebot.venues.tape import CandleTape, TapeStream
from rulebot.venues.units import MarketInfo

ROOT = Path(__file__).resolve().parents[2]
BTC = MarketInfo(  # Lighter's BTC sizes (the sim's `LIGHTER_BTC`), no fees (a standard account's)
    market_id=1,
    symbol="BTC",
    size_decimals=5,
    price_decimals=4,  # live rounds a stop to whole price units, the backtest does not: fine
    # units keep that out of the equity a size is taken from (0.1 USD moves one trade in 40)
    min_base_amount=Decimal("0.0002"),
    min_quote_amount=Decimal(10),
)
EQUITY = 10_000
FIELDS = ("entry_index", "exit_index", "side", "size")
SHIPPED_RISK = """  max_daily_loss  3%
  max_drawdown    10%
  cooldown        5 bars
"""
LOOSE = config.Risk(
    max_daily_loss=config.LossLimit(Decimal(1_000_000), is_percent=False),
    max_drawdown="100%",
    max_order_notional=Decimal(1_000_000),
)


def rule(limits: str) -> ir.Strategy:
    """The shipped mean reversion at 100% of equity (its `max_position 20%` still caps it), with
    `limits` in its risk block in place of its loss limits and cooldown."""
    text = (ROOT / "rules" / "mean_reversion.rule").read_text()
    assert SHIPPED_RISK in text and "size 2% of equity" in text
    text = text.replace(SHIPPED_RISK, "".join(f"  {line}\n" for line in limits.split(";") if line))
    compiled = compile_text(text.replace("size 2% of equity", "size 100% of equity"), "mr.rule")
    assert compiled.strategy is not None, compiled.diagnostics
    return compiled.strategy


def candles() -> Candles:
    """The shipped BTC 5-minute candles' first 3,000 bars (ten UTC days and more)."""
    bars = shipped_candles("btc_usd_perp_5m")
    n = 3000
    return Candles(
        bars.timestamp[:n], bars.open[:n], bars.high[:n], bars.low[:n], bars.close[:n],
        bars.volume[:n], source=bars.source, timeframe_ms=bars.timeframe_ms,
    )  # fmt: skip


def backtest_trades(strategy: ir.Strategy, account: config.Risk) -> np.ndarray:
    settings = FillSettings(
        fill_at="close",
        initial_equity=EQUITY,
        lot_size=float(BTC.size_step),
        min_size=float(BTC.min_base_amount),
    )
    bars = candles()
    trades = backtest(strategy, bars, settings=with_account_risk(settings, account)).trades
    # the live run's last bar never closes (no trade follows it): nothing is decided there
    return trades[(trades["exit_reason"] != "end_of_data") & (trades["exit_index"] < len(bars) - 1)]


def replay(strategy: ir.Strategy, account: config.Risk, journal: Path) -> list[RiskEvent]:
    """The engine and a paper account over the shipped BTC candles played as trades, journaled
    to `journal`; the risk events it saw."""
    bars = candles()
    settings = config.Config.model_validate(
        {"network": {"name": "sim"}, "markets": ["BTC"], "dry_run": True}
    )
    settings = settings.model_copy(update={"risk": account})

    async def run() -> list[RiskEvent]:
        tape = CandleTape({"BTC": (BTC, bars)})
        paper = PaperVenue(tape, collateral=EQUITY, account_index=settings.account.index)
        engine = Engine(
            settings,
            paper,
            Journal.open(journal, durable=False),
            stream=TapeStream(tape, paper),
            clock=tape.clock,
        )
        engine.add_strategy(strategy)
        await engine.start()
        await engine.wait()
        await engine.stop()
        engine.journal.close()
        return engine.events

    return asyncio.run(run())


def live_trades(
    strategy: ir.Strategy, account: config.Risk, journal: Path
) -> tuple[list[dict[str, float]], list[RiskEvent]]:
    """The closed trades `replay` journaled, with the bars they filled on."""
    bars = candles()
    events = replay(strategy, account, journal)
    step = int(bars.timeframe_ms or 0)
    start = int(bars.timestamp[0])

    def index(time_ms: int) -> int:  # a fill's bar: a close's fill is stamped at the next open
        return (time_ms - 1 - start) // step

    report = read_report(journal)
    return [
        {
            "entry_index": index(t.entry_time_ms),
            "exit_index": index(t.exit_time_ms),
            "side": 1.0 if t.side == "long" else -1.0,
            "entry_price": float(t.entry_price),
            "exit_price": float(t.exit_price),
            "size": float(t.size),
        }
        for t in report.trades
        if t.exit_time_ms is not None and t.exit_price is not None
    ], events


CASES = {
    # the rule's daily loss, a share of the day's starting equity: stops, and clears at 00:00
    # UTC or once back inside the limit by the margin
    "rule_daily_loss": ("max_daily_loss 0.4%", config.Risk(), {"new UTC day", "back within"}),
    # the rule's drawdown: breached while a trade is open, and recovered or not as live recovers
    "rule_drawdown": ("max_drawdown 1%", config.Risk(), set()),
    # both, and an order notional cap from rulebot.yaml that cuts every entry
    "rule_both_account_order_cap": (
        "max_daily_loss 0.4%;max_drawdown 2%",
        config.Risk(max_order_notional=Decimal(1500)),
        {"new UTC day"},
    ),
    # rulebot.yaml's daily loss in quote and drawdown, the rule setting none
    "account_limits": (
        "",
        config.Risk(
            max_daily_loss=config.LossLimit(Decimal(25), is_percent=False),
            max_drawdown="2%",
        ),
        {"new UTC day"},
    ),
}
"""Each case: the rule's limits, rulebot.yaml's, and the ways its breaches must be seen to clear."""


@pytest.mark.parametrize("case", sorted(CASES))
def test_limits_that_bind_stop_the_same_entries_in_the_backtest_and_live(
    case: str, tmp_path: Path
) -> None:
    limits, account, recoveries = CASES[case]
    strategy = rule(limits)
    expected = backtest_trades(strategy, account)
    unlimited = backtest_trades(rule(""), LOOSE)
    assert 10 < len(expected) < len(unlimited)  # the limits bind
    got, events = live_trades(strategy, account, tmp_path / "journal.sqlite")
    assert any(e.state == "breached" for e in events)
    assert len(got) == len(expected)
    for field in FIELDS:
        np.testing.assert_allclose(
            [t[field] for t in got], expected[field], rtol=1e-12, err_msg=field
        )
    for field in ("entry_price", "exit_price"):  # live levels are whole price units
        np.testing.assert_allclose(
            [t[field] for t in got], expected[field], rtol=0, atol=float(BTC.price_step),
            err_msg=field,
        )  # fmt: skip
    # how live cleared each breach (the backtest, trading the same bars, cleared it alike)
    recovered = [e for e in events if e.state == "recovered"]
    new_days = [e for e in recovered if "new UTC day" in e.message]
    back = [e for e in recovered if "back within" in e.message]
    assert len(new_days) + len(back) == len(recovered)
    assert all(e.time_ms % 86_400_000 == 0 for e in new_days)  # the first close of the day
    assert all(e.value <= e.threshold * Decimal("0.9") for e in back)  # inside by the margin
    assert {"new UTC day"} & recoveries <= ({"new UTC day"} if new_days else set())
    assert {"back within"} & recoveries <= ({"back within"} if back else set())


def test_a_paper_account_is_marked_at_fills_and_closes_only(tmp_path: Path) -> None:
    """As the account stream marks a live bot's: never at a price inside a bar that no fill
    took, which would let the loss limits read intrabar lows the backtest never reads."""
    path = tmp_path / "journal.sqlite"
    live_trades(rule("max_drawdown 1%"), config.Risk(), path)
    journal = Journal.open(path, readonly=True)
    try:
        snapshots = journal.equity_since(0)
        fills = {fill.time_ms for fill in journal.fills()}
    finally:
        journal.close()
    bars = candles()
    step, start = int(bars.timeframe_ms or 0), int(bars.timestamp[0])
    closes = [s for s in snapshots if (s.time_ms - start) % step == 0]
    assert len(closes) >= len(bars) - 2  # every close is marked (the first bar's start too)
    assert {s.time_ms for s in snapshots} - {s.time_ms for s in closes} <= fills

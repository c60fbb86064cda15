"""Risk limits that bind on real data stop the same entries in a backtest and live.

The live path is the runtime's at each bar: the account's equity marked at the close goes to the
risk manager (`on_equity`, at the close's time), the streaming strategy decides on the bar, and
each entry it wants goes through `RiskManager.check` (refused, or cut to fit) before it fills;
exits always fill. Fills follow the backtester's rules (at the close, stops and targets inside the
bar at the levels the live strategy asks the exchange to hold), as in `test_strategy`. The rule is
the shipped mean reversion with its `risk { ... }` rewritten so that its limits bind on the
shipped BTC candles; rulebot.yaml's account limits are the defaults unless a case sets them.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from rulebot import config
from rulebot.backtesting.engine import backtest
from rulebot.backtesting.fills import FillSettings
from rulebot.backtesting.settings import with_account_risk
from rulebot.data.candles import shipped_candles
from rulebot.lang import ir
from rulebot.lang.load import compile_text
from rulebot.runtime.messages import Bar, RiskEvent
from rulebot.runtime.risk import PortfolioView, RiskManager
from rulebot.runtime.strategy import LiveStrategy, Sizing

ROOT = Path(__file__).resolve().parents[2]
LOT = Decimal("0.001")
EQUITY = 10_000.0
FIELDS = ("entry_index", "exit_index", "side", "entry_price", "exit_price", "size")
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


def backtest_trades(strategy: ir.Strategy, account: config.Risk) -> np.ndarray:
    settings = FillSettings(fill_at="close", initial_equity=EQUITY, lot_size=float(LOT))
    candles = shipped_candles("btc_usd_perp_5m")
    trades = backtest(strategy, candles, settings=with_account_risk(settings, account)).trades
    # the live run fills nothing at the last close: not comparable there
    return trades[
        (trades["exit_reason"] != "end_of_data") & (trades["exit_index"] < len(candles) - 1)
    ]


def live_trades(
    strategy: ir.Strategy, account: config.Risk
) -> tuple[list[dict[str, float]], list[RiskEvent]]:
    """The streaming strategy and the risk manager over the shipped BTC candles, every order
    filled at the backtester's prices."""
    candles = shipped_candles("btc_usd_perp_5m")
    step = int(np.diff(candles.timestamp).min())
    live = LiveStrategy(strategy, sizing=Sizing.for_strategy(strategy, lot=LOT))
    risk = RiskManager(account)
    risk.add_strategy(strategy.name, strategy.limits)
    cash, trades, events, opened = EQUITY, [], [], {}

    def close(i: int, price: float, at_close: bool = False) -> None:
        nonlocal cash
        held = live.holding
        pnl = held.side * held.size * (price - held.entry_price)
        cash += pnl
        trades.append({**opened, "exit_index": i, "exit_price": price})
        live.on_fill(0.0, 0.0, price, pnl, at_close=at_close)

    n = len(candles.close)
    for i in range(n):
        o, h, lo, c = (float(getattr(candles, f)[i]) for f in ("open", "high", "low", "close"))
        side = live.holding.side
        if side != 0.0 and opened.get("entry_index") != i:
            stop, take = live.stop_price(), live.take_price()
            adverse, favourable = (lo, h) if side > 0 else (h, lo)
            if stop == stop and side * (adverse - stop) <= 0.0:
                close(i, o if side * (o - stop) <= 0.0 else stop)
            elif take == take and side * (favourable - take) >= 0.0:
                close(i, take)
        held = live.holding
        equity = cash + held.side * held.size * (c - held.entry_price) if held.side else cash
        time = int(candles.timestamp[i])
        pnl = {strategy.name: Decimal(repr(equity - EQUITY))}
        events += risk.on_equity(time + step, Decimal(repr(equity)), pnl)
        bar = Bar("BTC", time, o, h, lo, c, float(candles.volume[i]))
        intents = live.on_bar({"BTC": bar}, Decimal(repr(equity)))
        risk.on_bar(strategy.name, i)
        if i == n - 1:
            break
        for intent in intents:
            if intent.action == "close":
                close(i, c, at_close=True)
                continue
            held = live.holding
            view = PortfolioView(
                Decimal(repr(equity)),
                {(strategy.name, "BTC"): Decimal(repr(held.side * held.size))},
                {"BTC": Decimal(repr(c))},
                size_steps={"BTC": LOT},
            )
            verdict = risk.check(intent, view)
            if verdict.allowed:
                side = 1.0 if intent.action == "open_long" else -1.0
                opened.clear()
                opened.update(entry_index=i, side=side, entry_price=c, size=float(verdict.size))
                live.on_fill(side, float(verdict.size), c, at_close=True)
    return trades, events


CASES = {
    # the rule's daily loss, a share of the day's starting equity: stops and resets at 00:00 UTC
    "rule_daily_loss": ("max_daily_loss 0.4%", config.Risk()),
    # the rule's drawdown: breached while a trade is open, and recovered or not as live recovers
    "rule_drawdown": ("max_drawdown 1.5%", config.Risk()),
    # both, and an order notional cap from rulebot.yaml that cuts every entry
    "rule_both_account_order_cap": (
        "max_daily_loss 0.4%;max_drawdown 2%",
        config.Risk(max_order_notional=Decimal(1500)),
    ),
    # rulebot.yaml's daily loss in quote and drawdown, the rule setting none
    "account_limits": (
        "",
        config.Risk(
            max_daily_loss=config.LossLimit(Decimal(25), is_percent=False),
            max_drawdown="2%",
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_limits_that_bind_stop_the_same_entries_in_the_backtest_and_live(case: str) -> None:
    limits, account = CASES[case]
    strategy = rule(limits)
    expected = backtest_trades(strategy, account)
    unlimited = backtest_trades(rule(""), LOOSE)
    assert 10 < len(expected) < len(unlimited)  # the limits bind
    got, events = live_trades(strategy, account)
    assert any(e.state == "breached" for e in events)
    assert len(got) == len(expected)
    for field in FIELDS:
        np.testing.assert_allclose(
            [t[field] for t in got], expected[field], rtol=1e-12, err_msg=field
        )


def test_a_daily_loss_breach_clears_at_00_00_utc_and_a_drawdown_with_the_hysteresis() -> None:
    """The live events of the binding cases: a daily loss recovered by a new UTC day, and a
    drawdown recovered only once back inside the limit by the margin (both then trade again in
    the backtest, as the parity above shows)."""
    _, daily = live_trades(rule("max_daily_loss 0.4%"), config.Risk())
    new_days = [e for e in daily if e.state == "recovered" and "new UTC day" in e.message]
    assert new_days and all(e.time_ms % 86_400_000 == 0 for e in new_days)
    _, drawdown = live_trades(rule(""), CASES["account_limits"][1])
    back = [e for e in drawdown if e.state == "recovered" and "back within" in e.message]
    assert back
    assert all(e.value <= e.threshold * Decimal("0.9") for e in back)

"""A live strategy fed bar by bar, filled the way the backtester fills, trades as the backtest did.

The venue here is a few lines of fill rules (the backtester's, from its module docstring): an order
decided at a close fills at that close (`fill_at="close"`) or at the next open, stops and targets
fill inside the bar at the levels the live strategy asks the exchange to hold. What is under test
is everything the live strategy decides: signals, position state, sizing, protection levels,
trailing, cooldown.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from rulebot.backtesting.engine import backtest
from rulebot.backtesting.fills import FillSettings
from rulebot.config import Config
from rulebot.data.candles import shipped_candles
from rulebot.lang.load import compile_text
from rulebot.runtime.engine import Engine
from rulebot.runtime.messages import Bar
from rulebot.runtime.strategy import SIZE_MODES, LiveStrategy, Sizing, StrategyError, entry_size
from rulebot.venues.units import MarketInfo

ROOT = Path(__file__).resolve().parents[2]
LOT = 0.001  # BTC: sizes of a few percent of 10,000 USD are a few lots
FIELDS = ("entry_index", "exit_index", "side", "entry_price", "exit_price")


def _rule(name: str, *edits: tuple[str, str]) -> object:
    text = (ROOT / "rules" / name).read_text()
    for edit in edits:
        assert edit[0] in text
        text = text.replace(*edit)
    result = compile_text(text, name)
    assert result.strategy is not None, result.diagnostics
    return result.strategy


def _live_trades(strategy: object, fill_at: str, lot: float) -> list[dict[str, float]]:
    """Run the live strategy over the shipped BTC candles against the backtester's fill rules."""
    candles = shipped_candles("btc_usd_perp_5m")
    sizing = Sizing.for_strategy(strategy, lot=Decimal(repr(lot)))  # type: ignore[arg-type]
    live = LiveStrategy(strategy, sizing=sizing)  # type: ignore[arg-type]
    cash, trades, pending, opened = 10_000.0, [], [], {}

    def close(i: int, price: float, at_close: bool = False) -> None:
        nonlocal cash
        holding = live.holding
        pnl = holding.side * holding.size * (price - holding.entry_price)
        cash += pnl
        trades.append({**opened, "exit_index": i, "exit_price": price})
        live.on_fill(0.0, 0.0, price, pnl, at_close=at_close)

    def open_(i: int, side: float, size: float, price: float) -> None:
        opened.clear()
        opened.update(entry_index=i, side=side, entry_price=price, size=size)
        live.on_fill(side, size, price, at_close=fill_at == "close")

    def fill(i: int, intents: list, price: float) -> None:
        for intent in intents:
            if intent.action == "close":
                close(i, price, at_close=fill_at == "close")
            else:
                side = 1.0 if intent.action == "open_long" else -1.0
                open_(i, side, float(intent.size), price)

    n = len(candles.close)
    for i in range(n):
        o, h, lo, c = (float(getattr(candles, f)[i]) for f in ("open", "high", "low", "close"))
        if pending:
            fill(i, pending, o)
            pending = []
        side = live.holding.side
        if side != 0.0 and not (fill_at == "close" and opened.get("entry_index") == i):
            stop, take = live.stop_price(), live.take_price()
            adverse, favourable = (lo, h) if side > 0 else (h, lo)
            if stop == stop and side * (adverse - stop) <= 0.0:
                close(i, o if side * (o - stop) <= 0.0 else stop)
            elif take == take and side * (favourable - take) >= 0.0:
                close(i, take)
        held = live.holding
        equity = cash + held.side * held.size * (c - held.entry_price) if held.side else cash
        bar = Bar("BTC", int(candles.timestamp[i]), o, h, lo, c, float(candles.volume[i]))
        intents = live.on_bar({"BTC": bar}, Decimal(repr(equity)))
        if i == n - 1:
            break
        if fill_at == "close":
            fill(i, [x for x in intents if x.action == "close" or i < n - 1], c)
        else:
            pending = intents
    return trades


def _backtest_trades(strategy: object, fill_at: str, lot: float) -> np.ndarray:
    settings = FillSettings(fill_at=fill_at, initial_equity=10_000.0, lot_size=lot)  # type: ignore[arg-type]
    candles = shipped_candles("btc_usd_perp_5m")
    result = backtest(strategy, candles, settings=settings)  # type: ignore[arg-type]
    trades = result.trades
    kept = trades["exit_reason"] != "end_of_data"
    if fill_at == "close":  # the live run fills nothing at the last close: not comparable there
        kept &= trades["exit_index"] < len(candles) - 1
    return trades[kept]


CASES = {
    "mean_reversion": ("mean_reversion.rule",),
    "ut_bot": ("ut_bot.rule",),
    "ut_bot_trailing": ("ut_bot.rule", ("stop_loss 5%", "stop_loss 5%\ntrailing_stop 1%")),
    "momentum_cooldown": ("mean_reversion.rule", ("take_profit 3%", "take_profit 0.4%")),
    # all in, the rule's 5% daily loss binds: loss limits are the risk manager's, which this
    # evaluator-only comparison leaves out (tests/runtime/test_risk_parity.py compares them)
    "ut_bot_all_in": (
        "ut_bot.rule",
        ("size 5% of equity", "size 100% of cash"),
        ("  max_daily_loss 5%\n", ""),
        ("  max_drawdown   15%\n", ""),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_live_decisions_filled_at_the_close_are_the_backtests_trades(case: str) -> None:
    strategy = _rule(*CASES[case])
    expected = _backtest_trades(strategy, "close", LOT)
    got = _live_trades(strategy, "close", LOT)
    assert len(expected) > 10
    assert len(got) == len(expected)
    for field in FIELDS:
        np.testing.assert_allclose(
            [t[field] for t in got], expected[field], rtol=1e-12, err_msg=field
        )
    sizes = np.array([t["size"] for t in got])
    np.testing.assert_allclose(sizes, expected["size"], rtol=1e-12)
    assert np.all(np.abs(sizes / LOT - np.round(sizes / LOT)) < 1e-9)  # whole lots


@pytest.mark.parametrize("case", sorted(CASES))
def test_live_decisions_filled_at_the_next_open_enter_and_exit_where_the_backtest_did(
    case: str,
) -> None:
    """At the next open the backtest sizes from the fill price, which live cannot know before it
    fills: live sizes from the deciding close. Everything but the size is the same."""
    strategy = _rule(*CASES[case])
    expected = _backtest_trades(strategy, "next_open", 0.0)
    got = _live_trades(strategy, "next_open", 0.0)
    assert len(expected) > 10
    assert len(got) == len(expected)
    for field in FIELDS:
        np.testing.assert_allclose(
            [t[field] for t in got], expected[field], rtol=1e-12, err_msg=field
        )
    ratio = np.array([t["size"] for t in got]) / expected["size"]
    assert np.all(np.abs(ratio - 1.0) < 0.05)


def test_no_intent_comes_of_warm_up_bars() -> None:
    strategy = _rule("mean_reversion.rule")
    live = LiveStrategy(strategy)  # type: ignore[arg-type]
    candles = shipped_candles("btc_usd_perp_5m")
    fields = ("open", "high", "low", "close", "volume")
    for i in range(live.warm_after):
        values = (float(getattr(candles, f)[i]) for f in fields)
        bar = Bar("BTC", int(candles.timestamp[i]), *values)
        assert live.on_bar({"BTC": bar}, Decimal(10_000)) == []
    assert not live.is_warm and live.bar == live.warm_after - 1


def test_a_bar_out_of_order_or_missing_a_market_is_refused() -> None:
    live = LiveStrategy(_rule("mean_reversion.rule"))  # type: ignore[arg-type]
    bar = Bar("BTC", 60_000, 1.0, 1.0, 1.0, 1.0, 1.0)
    live.on_bar({"BTC": bar}, Decimal(1))
    with pytest.raises(StrategyError, match="not after"):
        live.on_bar({"BTC": bar}, Decimal(1))
    with pytest.raises(StrategyError, match="needs a bar of BTC"):
        live.on_bar({"LTC": bar}, Decimal(1))


def test_live_sizing_keeps_the_markets_taker_fee_back() -> None:
    """Live sizes with the same function, from the venue's lot and taker fee: 10,000 at 100 a
    unit buys 100 units with no fee, and 99 with a 0.2% fee (10,000 / 100.2 = 99.8)."""
    mode = SIZE_MODES.index("cash")
    for fee, units in ((0.0, 100), (0.002, 99)):
        costs = Sizing(lot=Decimal(1), taker_fee=fee).costs()
        assert entry_size(mode, 1.0, 10_000.0, 100.0, float("nan"), costs) == units


def test_the_engine_sizes_a_strategy_with_its_markets_lot_and_taker_fee(tmp_path: Path) -> None:
    cfg = Config.model_validate(
        {"network": {"name": "sim", "url": "http://127.0.0.1:9"}, "dry_run": False,
         "runtime": {"journal": str(tmp_path / "j.sqlite"), "status_port": 0}}
    )  # fmt: skip
    engine = Engine(cfg)
    engine.markets["BTC"] = MarketInfo(
        1, "BTC", 0, 1, Decimal(1), Decimal(10), taker_fee=Decimal("0.002")
    )
    all_in = _rule("ut_bot.rule", ("size 5% of equity", "size 100% of cash"))
    live = LiveStrategy(all_in)  # type: ignore[arg-type]
    engine._size(live)
    assert (live.sizing.lot, live.sizing.taker_fee) == (Decimal(1), 0.002)
    engine.journal.close()

"""The risk manager on real compiled limits: each limit's breach and refusal, reduction to fit,
recovery, day rollover, exits always allowed, account vs strategy scope, hot reload and the
state kept across restarts."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from rulebot import config
from rulebot.lang import ir
from rulebot.lang.load import compile_file, compile_text
from rulebot.runtime.messages import Intent, Protection, StrategyPosition
from rulebot.runtime.risk import (
    ACCOUNT,
    DAY_MS,
    RECOVERY_HOLD_MS,
    PortfolioView,
    RiskManager,
    RiskVerdict,
)
from tests.conftest import SHIPPED_RULES, strategy_text

T0 = 1_717_200_000_000  # 2024-06-01 00:00 UTC
STOP = Protection("stop_loss", "percent", 0.02)
TAKE = Protection("take_profit", "percent", 0.03)
D = Decimal


def rule_limits(risk: str, market: str = "ETH") -> dict[str, ir.Limit]:
    """The limits of a rule whose risk block is `risk`, compiled by the real checker."""
    header = f"strategy t\nmarket {market}\ntimeframe 5m\n"
    text = strategy_text(f"entry long when close > open\nrisk {{ {risk} }}\n", header=header)
    compiled = compile_text(text, "t.rule")
    assert compiled.ok and compiled.strategy is not None, compiled.diagnostics
    return compiled.strategy.limits


def account(**limits: str | int) -> config.Risk:
    """rulebot.yaml's risk section, roomy unless told otherwise, as the config reads it."""
    values: dict[str, str | int] = {
        "max_position_notional": "1000000 USDC",
        "max_order_notional": "1000000 USDC",
        "max_leverage": "100x",
        "max_daily_loss": "50%",
        "max_drawdown": "90%",
        "max_open_orders": 100,
    }
    return config.Risk.model_validate(values | limits)


def manager(risk: config.Risk | None = None, **strategies: str) -> RiskManager:
    rm = RiskManager(risk or account())
    for name, block in strategies.items():
        rm.add_strategy(name, rule_limits(block) if block else {})
    return rm


def entry(
    strategy: str = "s",
    size: str = "1",
    price: str = "2000",
    action: str = "open_long",
    market: str = "ETH",
    protections: tuple[Protection, ...] = (),
) -> Intent:
    return Intent(strategy, market, action, D(size), "signal", T0, D(price), protections)  # type: ignore[arg-type]


def close(strategy: str = "s", size: str = "1") -> Intent:
    return Intent(strategy, "ETH", "close", D(size), "signal", T0, D("2000"))


def view(
    equity: str = "10000",
    positions: dict[tuple[str, str], str] | None = None,
    marks: dict[str, str] | None = None,
    orders: dict[str, int] | None = None,
    other_orders: int = 0,
    steps: dict[str, str] | None = None,
) -> PortfolioView:
    return PortfolioView(
        D(equity),
        {key: D(size) for key, size in (positions or {}).items()},
        {m: D(p) for m, p in (marks or {"ETH": "2000", "BTC": "60000"}).items()},
        orders or {},
        other_orders,
        {m: D(s) for m, s in (steps or {"ETH": "0.0001", "BTC": "0.00001"}).items()},
    )


def allowed(verdict: RiskVerdict, size: str) -> None:
    assert verdict.allowed, verdict.message
    assert verdict.size == D(size)


def refused(verdict: RiskVerdict, limit: str | None, scope: str | None) -> None:
    assert not verdict.allowed
    assert (verdict.limit, verdict.scope) == (limit, scope)
    assert verdict.size == 0
    assert verdict.message.startswith(f"{limit} ({scope}): ") if limit else verdict.message


# --- exits and plain entries ----------------------------------------------------------------


def test_exits_pass_whatever_the_limits_say() -> None:
    rm = manager(account(max_open_orders=1), s="max_daily_loss 1%; cooldown 5 bars")
    rm.on_equity(T0, D(10000), {"s": D(0)})
    rm.on_equity(T0 + 1, D(5000), {"s": D(-5000)})
    rm.on_trade_closed("s", D(-5000), 10)
    crowded = view("5000", {("s", "ETH"): "100"}, orders={"s": 5})
    assert not rm.check(entry(), crowded).allowed
    verdict = rm.check(close(size="100"), crowded)
    assert verdict.allowed and verdict.size == D(100) and not verdict.reduced
    assert rm.check(close("gone"), crowded).allowed  # even a strategy that is not running


def test_an_entry_within_every_limit_goes_as_asked() -> None:
    rm = manager(account(max_order_notional="5000 USDC"), s="max_position 1 ETH")
    verdict = rm.check(entry(size="0.5", protections=(STOP, TAKE)), view())
    allowed(verdict, "0.5")
    assert not verdict.reduced and verdict.limit is None and verdict.message == ""


def test_an_entry_of_a_strategy_that_is_not_running_is_refused() -> None:
    rm = manager(s="")
    verdict = rm.check(entry("other"), view())
    assert not verdict.allowed and "`other` is not running" in verdict.message
    rm.remove_strategy("s")
    assert not rm.check(entry("s"), view()).allowed


# --- size limits: reduced to fit, or refused ------------------------------------------------


def test_max_order_notional_reduces_the_entry_to_fit() -> None:
    rm = manager(account(max_order_notional="5000 USDC"), s="")
    verdict = rm.check(entry(size="1.2", price="5100"), view(marks={"ETH": "5100"}))
    allowed(verdict, "0.9803")  # 5000 / 5100 = 0.98039..., down to the 0.0001 step
    assert verdict.reduced and verdict.requested == D("1.2")
    assert (verdict.limit, verdict.scope) == ("max_order_notional", ACCOUNT)
    assert "order is 6,120.00 USDC, limit 5,000.00 USDC (22% over)" in verdict.message


def test_an_entry_refused_when_no_step_of_it_fits() -> None:
    rm = manager(account(max_order_notional="5000 USDC"), s="")
    coarse = view(marks={"ETH": "6000"}, steps={"ETH": "1"})
    refused(rm.check(entry(size="1", price="6000"), coarse), "max_order_notional", ACCOUNT)


def test_a_rules_own_max_order_notional() -> None:
    rm = manager(s="max_order_notional 1000 USDC", t="")
    verdict = rm.check(entry(size="1"), view())
    allowed(verdict, "0.5")
    assert verdict.scope == "s"
    allowed(rm.check(entry("t", size="1"), view()), "1")


def test_max_position_in_base_caps_the_strategys_position() -> None:
    rm = manager(s="max_position 0.5 ETH")
    allowed(rm.check(entry(size="0.3"), view(positions={("s", "ETH"): "0.4"})), "0.1")
    full = rm.check(entry(size="0.3"), view(positions={("s", "ETH"): "0.5"}))
    refused(full, "max_position", "s")
    assert full.message == ("max_position (s): position would be 0.8 ETH, limit 0.5 ETH (60% over)")
    # another strategy's position on the same market does not count against this one's cap
    allowed(rm.check(entry(size="0.5"), view(positions={("x", "ETH"): "3"})), "0.5")


def test_max_position_in_quote_and_as_a_share_of_equity() -> None:
    rm = manager(q="max_position 3000 USDC", p="max_position 20%")
    allowed(rm.check(entry("q", size="2"), view()), "1.5")
    allowed(rm.check(entry("p", size="2"), view("10000")), "1")  # 20% of 10,000 at 2,000
    allowed(rm.check(entry("p", size="2"), view("20000")), "2")
    short = rm.check(
        entry("p", size="2", action="open_short"), view(positions={("p", "ETH"): "-1"})
    )
    refused(short, "max_position", "p")
    assert "position would be 6,000.00 USDC, limit 20% of equity = 2,000.00 USDC" in short.message


def test_a_reverse_counts_only_the_new_side() -> None:
    """Holding a short, a long entry is a reverse: the close goes first, so the new position is
    the entry's size alone, not the netted one."""
    rm = manager(s="max_position 0.5 ETH")
    verdict = rm.check(entry(size="0.6"), view(positions={("s", "ETH"): "-1"}))
    allowed(verdict, "0.5")


def test_a_strategys_max_leverage_counts_its_positions_on_every_market() -> None:
    rm = manager(s="max_leverage 1")
    btc = {("s", "BTC"): "0.1"}  # 6,000 of BTC on 10,000 of equity
    verdict = rm.check(entry(size="3"), view(positions=btc))
    allowed(verdict, "2")
    assert "leverage would be 1.2x (12,000.00 USDC on 10,000.00 USDC equity), limit 1x" in (
        verdict.message
    )


def test_account_position_notional_nets_the_strategies() -> None:
    rm = manager(account(max_position_notional="12000 USDC"), a="", b="")
    a_long = {("a", "ETH"): "5"}  # 10,000
    allowed(rm.check(entry("b", size="2"), view(positions=a_long)), "1")
    allowed(rm.check(entry("b", size="2", action="open_short"), view(positions=a_long)), "2")
    over = view(positions={("a", "ETH"): "7"})  # 14,000: already past the limit
    small = rm.check(entry("b", size="0.5", action="open_short"), over)
    refused(small, "max_position_notional", ACCOUNT)
    assert small.message == (
        "max_position_notional (account): positions would total 13,000.00 USDC, "
        "limit 12,000.00 USDC (8.3% over)"
    )
    allowed(rm.check(entry("b", size="1", action="open_short"), over), "1")


def test_account_leverage_is_total_notional_over_equity() -> None:
    rm = manager(account(max_leverage="3x"), s="")
    held = {("s", "BTC"): "0.25", ("t", "ETH"): "5"}  # 15,000 + 10,000
    verdict = rm.check(entry(size="3"), view(positions=held))
    allowed(verdict, "2.5")
    assert (verdict.limit, verdict.scope) == ("max_leverage", ACCOUNT)
    broke = rm.check(entry(), view("0"))
    refused(broke, "max_leverage", ACCOUNT)
    assert "account equity is 0.00 USDC" in broke.message


def test_the_tightest_limit_sets_the_size_and_is_named() -> None:
    rm = manager(account(max_order_notional="5000 USDC"), s="max_position 0.5 ETH")
    verdict = rm.check(entry(size="4"), view())
    allowed(verdict, "0.5")
    assert verdict.limit == "max_position"


def test_max_open_orders_counts_the_entrys_protections() -> None:
    rm = manager(account(max_open_orders=10), s="max_open_orders 4", t="")
    both = (STOP, TAKE)
    refused(
        rm.check(entry("t", protections=both), view(orders={"s": 3}, other_orders=6)),
        "max_open_orders",
        ACCOUNT,
    )
    allowed(rm.check(entry("t", protections=both), view(orders={"s": 3}, other_orders=5)), "1")
    own = rm.check(entry("s", protections=both), view(orders={"s": 3}))
    refused(own, "max_open_orders", "s")
    assert own.message == (
        "max_open_orders (s): 3 orders open and this entry adds 2, limit 4 (1 over)"
    )
    allowed(rm.check(entry("s"), view(orders={"s": 3})), "1")  # no protection: adds 1
    refused(rm.check(entry("s"), view(orders={"s": 4})), "max_open_orders", "s")


def test_an_add_counts_its_protections_in_place_of_those_resting() -> None:
    rm = manager(account(max_open_orders=6), s="max_open_orders 3", t="")
    three = (STOP, TAKE, TAKE)
    held = {("s", "ETH"): "1"}
    # the first entry's stop and two take-profits rest: an add places three in their place
    allowed(rm.check(entry("s", protections=three), view(positions=held, orders={"s": 3})), "1")
    crowded = view(positions=held, orders={"s": 3}, other_orders=3)
    allowed(rm.check(entry("s", protections=three), crowded), "1")
    over = rm.check(
        entry("s", protections=three), view(positions=held, orders={"s": 3}, other_orders=4)
    )
    refused(over, "max_open_orders", ACCOUNT)
    assert over.message == (
        "max_open_orders (account): 7 orders open, 7 once this add's protections replace its "
        "resting ones, limit 6 (1 over)"
    )
    # an entry the other way is a reverse, not an add: its orders come on top
    short = entry("s", action="open_short", protections=three)
    refused(rm.check(short, view(positions=held, orders={"s": 3})), "max_open_orders", "s")


# --- loss limits: breach, recovery, rollover ------------------------------------------------


def test_account_daily_loss_breaches_and_recovers() -> None:
    rm = manager(account(max_daily_loss="500 USDC"), s="")
    assert rm.on_equity(T0, D(10000), {}) == []
    (breach,) = rm.on_equity(T0 + 60_000, D(9400), {})
    assert (breach.scope, breach.limit, breach.state) == (ACCOUNT, "max_daily_loss", "breached")
    assert (breach.value, breach.threshold) == (D(600), D(500))
    assert rm.on_equity(T0 + 120_000, D(9300), {}) == []  # reported once
    verdict = rm.check(entry(), view("9300"))
    refused(verdict, "max_daily_loss", ACCOUNT)
    assert verdict.message == (
        "max_daily_loss (account): down 700.00 USDC today, limit 500.00 USDC (200.00 USDC over)"
    )
    assert rm.on_equity(T0 + 180_000, D(9600), {}) == []  # inside the limit: held a while first
    refused(rm.check(entry(), view("9600")), "max_daily_loss", ACCOUNT)
    (back,) = rm.on_equity(T0 + 180_000 + RECOVERY_HOLD_MS, D(9600), {})
    assert (back.limit, back.state) == ("max_daily_loss", "recovered")
    assert "back within the limit" in back.message
    allowed(rm.check(entry(), view("9600")), "1")


def test_reaching_a_loss_limit_is_a_breach() -> None:
    rm = manager(account(max_daily_loss="5%"), s="")
    rm.on_equity(T0, D(10000), {})
    (event,) = rm.on_equity(T0 + 1, D(9500), {})
    assert event.state == "breached" and "(at the limit)" in event.message


def test_daily_loss_clears_when_the_utc_day_rolls_over() -> None:
    rm = manager(account(max_daily_loss="5%"), s="")
    rm.on_equity(T0 + 1000, D(10000), {})
    rm.on_equity(T0 + DAY_MS - 1, D(9000), {})
    refused(rm.check(entry(), view("9000")), "max_daily_loss", ACCOUNT)
    (event,) = rm.on_equity(T0 + DAY_MS, D(9000), {})
    assert event.state == "recovered"
    assert event.message == (
        "max_daily_loss (account): a new UTC day began (2024-06-02); entries resume"
    )
    allowed(rm.check(entry(), view("9000")), "1")
    assert rm.get_risk_status()["account"]["day_start_equity"] == "9000"
    (again,) = rm.on_equity(T0 + DAY_MS + 1, D(8550), {})  # 5% of the new day's start
    assert again.state == "breached"


def test_account_drawdown_from_the_peak() -> None:
    rm = manager(account(max_drawdown="20%"), s="")
    rm.on_equity(T0, D(10000), {})
    rm.on_equity(T0 + 1, D(12000), {})
    (breach,) = rm.on_equity(T0 + DAY_MS, D(9500), {})  # 20.8% below 12,000, the next day
    assert (breach.limit, breach.state) == ("max_drawdown", "breached")
    assert breach.message == (
        "max_drawdown (account): equity 9,500.00 USDC is 20.8% below its peak of "
        "12,000.00 USDC, limit 20% (100.00 USDC over); new entries stop, exits still run"
    )
    refused(rm.check(entry(), view("9500")), "max_drawdown", ACCOUNT)
    assert rm.on_equity(T0 + 2 * DAY_MS, D(9550), {}) == []  # a new day does not clear it
    # 19.2% below: within 20%, not by the margin (10% of it: below 18%)
    assert rm.on_equity(T0 + 2 * DAY_MS + 1, D(9700), {}) == []
    refused(rm.check(entry(), view("9700")), "max_drawdown", ACCOUNT)
    assert rm.on_equity(T0 + 2 * DAY_MS + 2, D(9900), {}) == []  # 17.5%: the hold starts
    (back,) = rm.on_equity(T0 + 2 * DAY_MS + 2 + RECOVERY_HOLD_MS, D(9900), {})
    assert back.state == "recovered"
    allowed(rm.check(entry(), view("9900")), "1")


def test_a_strategys_daily_loss_is_a_share_of_the_accounts_day_start() -> None:
    rm = manager(s="max_daily_loss 3%", q="max_daily_loss 100 USDC")
    rm.on_equity(T0, D(10000), {"s": D(50), "q": D(0)})
    assert rm.on_equity(T0 + 1, D(9800), {"s": D(-249), "q": D(-99)}) == []
    events = rm.on_equity(T0 + 2, D(9700), {"s": D(-250), "q": D(-100)})
    assert {(e.scope, e.limit, e.state) for e in events} == {
        ("s", "max_daily_loss", "breached"),
        ("q", "max_daily_loss", "breached"),
    }
    s_verdict = rm.check(entry("s"), view("9700"))
    refused(s_verdict, "max_daily_loss", "s")
    assert s_verdict.message == (
        "max_daily_loss (s): PnL down 300.00 USDC today, limit 3% of the account's "
        "10,000.00 USDC at the day's start = 300.00 USDC (at the limit)"
    )
    (rolled, rolled_q) = rm.on_equity(T0 + DAY_MS, D(9700), {})  # PnL kept: the day restarts
    assert rolled.state == rolled_q.state == "recovered"
    allowed(rm.check(entry("s"), view("9700")), "1")


def test_a_strategys_drawdown_is_from_its_best_pnl() -> None:
    rm = manager(s="max_drawdown 10%")
    rm.on_equity(T0, D(10000), {"s": D(0)})
    rm.on_equity(T0 + 1, D(11000), {"s": D(1000)})  # its best, with 11,000 in the account
    assert rm.on_equity(T0 + 2, D(10000), {"s": D(0)}) == []  # 1,000 below: 9.1%
    (breach,) = rm.on_equity(T0 + 3, D(9900), {"s": D(-100)})  # 1,100: 10%
    assert (breach.scope, breach.state, breach.value) == ("s", "breached", D("0.1"))
    assert "1,100.00 USDC below its best of 1,000.00 USDC: 10% of the account's" in (breach.message)
    assert rm.on_equity(T0 + 4, D(10200), {"s": D(200)}) == []
    (back,) = rm.on_equity(T0 + 4 + RECOVERY_HOLD_MS, D(10200), {"s": D(200)})
    assert back.state == "recovered"


def test_a_loss_limit_read_at_its_edge_does_not_flap() -> None:
    """Equity includes unrealised PnL: a reading that wobbles about the limit is one breach,
    and recovery waits until it is back inside by the margin for the hold time."""
    rm = manager(account(max_daily_loss="500 USDC"), s="")
    rm.on_equity(T0, D(10000), {})
    events = []
    for n in range(1, 25):  # a snapshot every 5 s for two minutes, either side of the limit
        events += rm.on_equity(T0 + n * 5_000, D(9490 if n % 2 else 9510), {})
    assert [e.state for e in events] == ["breached"]
    refused(rm.check(entry(), view("9510")), "max_daily_loss", ACCOUNT)
    for n in range(25, 25 + RECOVERY_HOLD_MS // 5_000):  # back by 60 and more: inside the margin
        events += rm.on_equity(T0 + n * 5_000, D(9560), {})
    assert [e.state for e in events] == ["breached"]
    events += rm.on_equity(T0 + (25 + RECOVERY_HOLD_MS // 5_000) * 5_000, D(9560), {})
    assert [e.state for e in events] == ["breached", "recovered"]


def test_a_strategy_breach_stops_only_that_strategy() -> None:
    rm = manager(s="max_drawdown 5%", t="max_drawdown 50%")
    rm.on_equity(T0, D(10000), {"s": D(0), "t": D(0)})
    rm.on_equity(T0 + 1, D(9400), {"s": D(-600), "t": D(0)})
    refused(rm.check(entry("s"), view("9400")), "max_drawdown", "s")
    allowed(rm.check(entry("t"), view("9400")), "1")
    assert rm.entries_allowed() and not rm.entries_allowed("s") and rm.entries_allowed("t")


def test_an_account_breach_stops_every_strategy() -> None:
    rm = manager(account(max_drawdown="10%"), s="", t="max_drawdown 50%")
    rm.on_equity(T0, D(10000), {"s": D(0), "t": D(0)})
    rm.on_equity(T0 + 1, D(8900), {"s": D(-1100), "t": D(0)})
    for name in ("s", "t"):
        refused(rm.check(entry(name), view("8900")), "max_drawdown", ACCOUNT)
    assert not rm.entries_allowed()


def test_cooldown_after_a_losing_trade_counts_the_strategys_bars() -> None:
    rm = manager(s="cooldown 3 bars", t="cooldown 3 bars")
    rm.on_trade_closed("s", D("12.5"), 100)  # a win: no cooldown
    rm.on_bar("s", 100)
    allowed(rm.check(entry("s"), view()), "1")
    rm.on_trade_closed("s", D("-0.01"), 100)
    for bar in (100, 101, 102):
        rm.on_bar("s", bar)
        refused(rm.check(entry("s"), view()), "cooldown", "s")
    assert rm.check(entry("s"), view()).message == (
        "cooldown (s): a losing trade closed 2 bars ago; entries wait 3 bars after a loss (1 to go)"
    )
    allowed(rm.check(entry("t"), view()), "1")  # another strategy's loss is not this one's
    rm.on_bar("s", 103)
    allowed(rm.check(entry("s"), view()), "1")


# --- hot reload and restarts ----------------------------------------------------------------


def test_replacing_a_strategys_limits_keeps_its_state() -> None:
    rm = manager(s="cooldown 5 bars; max_drawdown 5%; max_position 0.5 ETH")
    rm.on_equity(T0, D(10000), {"s": D(0)})
    assert [e.state for e in rm.on_equity(T0 + 1, D(9400), {"s": D(-600)})] == ["breached"]
    rm.on_trade_closed("s", D(-600), 50)
    rm.on_bar("s", 52)
    rm.replace_strategy_limits("s", rule_limits("cooldown 2 bars; max_position 2 ETH"))
    allowed(rm.check(entry("s", size="1"), view("9400")), "1")  # cooldown 2 is over at bar 52
    (removed,) = rm.on_equity(T0 + 2, D(9400), {"s": D(-600)})
    assert (removed.limit, removed.state) == ("max_drawdown", "recovered")
    assert "the limit was removed" in removed.message
    rm.replace_strategy_limits("s", rule_limits("cooldown 5 bars; max_drawdown 5%"))
    refused(rm.check(entry("s"), view("9400")), "max_drawdown", "s")  # peak PnL kept
    (again,) = rm.on_equity(T0 + 3, D(9400), {"s": D(-600)})
    assert again.state == "breached"
    rm.on_equity(T0 + 4, D(10000), {"s": D(0)})
    rm.on_equity(T0 + 4 + RECOVERY_HOLD_MS, D(10000), {"s": D(0)})  # recovered, held
    refused(rm.check(entry("s"), view()), "cooldown", "s")  # the loss at bar 50 still counts
    with pytest.raises(KeyError):
        rm.replace_strategy_limits("nobody", {})


def test_replacing_the_account_limits_keeps_its_state() -> None:
    rm = manager(account(max_daily_loss="10%"), s="")
    rm.on_equity(T0, D(10000), {})
    assert rm.on_equity(T0 + 1, D(9400), {}) == []
    rm.replace_account_limits(account(max_daily_loss="5%"))
    refused(rm.check(entry(), view("9400")), "max_daily_loss", ACCOUNT)
    (event,) = rm.on_equity(T0 + 2, D(9400), {})
    assert event.threshold == D(500)


def test_state_round_trips_through_json() -> None:
    risk = account(max_daily_loss="5%", max_drawdown="10%")
    blocks = {"s": "cooldown 4 bars; max_drawdown 5%", "t": "max_daily_loss 2%"}
    rm = manager(risk, **blocks)
    rm.on_equity(T0, D(10000), {"s": D(0), "t": D(0)})
    rm.on_equity(T0 + 1, D(10400), {"s": D(500), "t": D(-100)})
    rm.on_equity(T0 + 2, D(9850), {"s": D(-50), "t": D(-100)})
    rm.on_trade_closed("s", D(-550), 7)
    rm.on_bar("s", 8)
    state = rm.to_state()
    text = json.dumps(state)
    restored = RiskManager.from_state(risk, json.loads(text))
    for name, block in blocks.items():
        restored.add_strategy(name, rule_limits(block))
    assert restored.to_state() == state
    assert restored.get_risk_status() == rm.get_risk_status()
    refused(restored.check(entry("s"), view("9850")), "max_drawdown", "s")
    assert restored.recent_events == rm.recent_events
    # both carry on alike: the same next snapshots give the same events
    for step, (equity, s_pnl) in enumerate([(10300, 400), (10300, 400), (9000, -900)], 3):
        snapshot = (T0 + DAY_MS * step, D(equity), {"s": D(s_pnl)})
        assert restored.on_equity(*snapshot) == rm.on_equity(*snapshot)
    restored.on_bar("s", 11)
    rm.on_bar("s", 11)
    assert restored.check(entry("s"), view()) == rm.check(entry("s"), view())


@pytest.mark.parametrize(
    "damage",
    [
        lambda s: s.update(version=99),
        lambda s: s["account"].pop("peak_equity"),
        lambda s: s["account"].update(day_start_equity=123.5),
        lambda s: s["strategies"]["s"].update(last_loss_bar="seven"),
        lambda s: s["events"].append({"time_ms": 1}),
    ],
)
def test_damaged_state_is_refused(damage) -> None:
    rm = manager(s="cooldown 2 bars")
    rm.on_equity(T0, D(10000), {"s": D(0)})
    state = json.loads(json.dumps(rm.to_state()))
    damage(state)
    with pytest.raises(ValueError, match="risk state"):
        RiskManager.from_state(account(), state)


# --- status, shipped rules, bad input -------------------------------------------------------


def test_status_is_json_ready_with_values_headroom_and_events() -> None:
    rm = manager(
        account(max_position_notional="20000 USDC", max_daily_loss="5%"),
        s="max_position 0.5 ETH; max_open_orders 4; cooldown 2 bars",
    )
    assert json.loads(json.dumps(rm.get_risk_status()))["account"]["equity"] is None
    rm.on_equity(T0, D(10000), {"s": D(0)})
    rm.on_equity(T0 + 1, D(9400), {"s": D(-600)})
    rm.on_trade_closed("s", D(-600), 3)
    held = view("9400", {("s", "ETH"): "0.4", ("t", "BTC"): "-0.1"}, orders={"s": 1})
    status = json.loads(json.dumps(rm.get_risk_status(held)))
    assert status["day"] == "2024-06-01" and status["entries_allowed"] is False
    limits = status["account"]["limits"]
    assert limits["max_daily_loss"] | {"text": None} == {
        "limit": "5%",
        "unit": "USDC",
        "threshold": "500",
        "value": "600",
        "headroom": "-100",
        "breached": True,
        "text": None,
    }
    assert limits["max_position_notional"]["value"] == "6800"
    assert limits["max_position_notional"]["headroom"] == "13200"
    assert limits["max_open_orders"]["value"] == "1"
    strategy = status["strategies"]["s"]
    assert strategy["entries_allowed"] is False and strategy["pnl"] == "-600"
    assert strategy["limits"]["max_position"]["value"] == "0.4"
    assert strategy["limits"]["cooldown"]["breached"] is True
    assert [e["state"] for e in status["events"]] == ["breached"]
    bare = rm.get_risk_status()["account"]["limits"]["max_position_notional"]
    assert bare["value"] is None and bare["breached"] is False


def test_the_shipped_rules_limits_are_all_applied() -> None:
    rm = RiskManager(config.Config().risk)
    for path in SHIPPED_RULES:
        strategy = compile_file(path).strategy
        assert strategy is not None
        rm.add_strategy(strategy.name, strategy.limits)
        status = rm.get_risk_status(view())["strategies"][strategy.name]
        assert set(status["limits"]) == set(strategy.limits)
    # mean_reversion: max_position 20% of equity, so 2,000 of ETH on 10,000
    verdict = rm.check(entry("mean_reversion", size="3"), view())
    allowed(verdict, "1")
    assert verdict.limit == "max_position"


def test_limits_the_manager_cannot_apply_are_refused() -> None:
    rm = manager(s="")
    with pytest.raises(ValueError, match="already added"):
        rm.add_strategy("s", {})
    with pytest.raises(ValueError, match=r"names rulebot\.yaml's limits"):
        rm.add_strategy(ACCOUNT, {})
    odd = ir.Limit("max_spread", "quote", 5.0, rule_limits("cooldown 1 bars")["cooldown"].span)
    with pytest.raises(ValueError, match="max_spread"):
        rm.add_strategy("t", {"max_spread": odd})
    with pytest.raises(KeyError):
        rm.remove_strategy("nobody")


def test_a_view_needs_a_mark_for_every_position() -> None:
    with pytest.raises(ValueError, match="no mark price for XRP"):
        view(positions={("s", "XRP"): "10"})
    records = [
        StrategyPosition("s", "ETH", D("0.5")),
        StrategyPosition("t", "ETH", D("-0.2")),
        StrategyPosition("s", "BTC", D("0.01")),
    ]
    built = PortfolioView.from_positions(D(10000), records, {"ETH": D(2000), "BTC": D(60000)})
    assert built.net_position("ETH") == D("0.3")
    assert built.total_notional() == D(1200)
    assert built.strategy_notional("s") == D(1600)


def test_refusal_and_reduction_messages(snapshot) -> None:
    """Every message a trader may read, in one place to review."""
    rm = manager(
        account(
            max_order_notional="5000 USDC",
            max_position_notional="20000 USDC",
            max_leverage="3x",
            max_daily_loss="5%",
            max_drawdown="20%",
            max_open_orders=10,
        ),
        s="max_position 0.5 ETH; max_daily_loss 300 USDC; max_drawdown 8%; cooldown 5 bars; "
        "max_open_orders 2; max_leverage 2; max_order_notional 3000 USDC",
        q="max_position 2500 USDC",
        p="max_position 20%",
        lev="max_leverage 2",
        free="",
    )
    checks = {
        "order notional, account": rm.check(entry("free", size="3"), view()),
        "order notional, rule": rm.check(entry("s", size="0.2", price="16000"), view()),
        "position, base": rm.check(entry("s", size="0.7"), view()),
        "position, quote": rm.check(entry("q", size="2"), view()),
        "position, equity share": rm.check(entry("p", size="2"), view()),
        "leverage, rule": rm.check(entry("lev", size="1.5"), view("1000")),
        "positions, account": rm.check(
            entry("free", size="2"), view(positions={("p", "BTC"): "0.3"})
        ),
        "leverage, account": rm.check(entry("free", size="2"), view("5000", {("p", "BTC"): "0.2"})),
        "open orders": rm.check(entry("s", protections=(STOP, TAKE)), view(orders={"s": 1})),
        "equity": rm.check(entry("free"), view("-5")),
        "not running": rm.check(entry("gone"), view()),
    }
    messages = {name: v.message for name, v in checks.items()}
    hour = 3_600_000
    events = rm.on_equity(T0, D(10000), {"s": D(0)})
    events += rm.on_equity(T0 + hour, D(9700), {"s": D(-400)})
    messages["daily loss, rule"] = rm.check(entry("s"), view("9700")).message
    events += rm.on_equity(T0 + 2 * hour, D(9400), {"s": D(-400)})
    messages["daily loss, account"] = rm.check(entry("free"), view("9400")).message
    events += rm.on_equity(T0 + DAY_MS, D(7900), {"s": D(-1900)})
    messages["drawdown, account"] = rm.check(entry("free"), view("7900")).message
    events += rm.on_equity(T0 + DAY_MS + hour, D(10000), {"s": D(0)})
    events += rm.on_equity(T0 + DAY_MS + 2 * hour, D(10000), {"s": D(0)})  # held: recovered
    rm.on_trade_closed("s", D(-5), 40)
    rm.on_bar("s", 41)
    messages["cooldown"] = rm.check(entry("s"), view()).message
    assert all(messages.values())
    assert messages == snapshot
    assert [(e.scope, e.limit, e.state, e.message) for e in events] == snapshot

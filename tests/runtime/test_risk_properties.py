"""Properties of the risk manager's size decisions over random portfolios and limits: an entry it
allows never leaves a limit exceeded, one that fits every limit goes as asked, and a reduced
entry is the largest that fits. Each limit is recomputed here from its definition, not through
the manager's own arithmetic."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot import config
from rulebot.lang import ir
from rulebot.lang.diagnostics import Span
from rulebot.runtime.messages import Intent, Protection
from rulebot.runtime.risk import PortfolioView, RiskManager

MARKETS = ("ETH", "BTC")
NAMES = ("a", "b")
SPAN = Span.point(1, 1)
STOP = Protection("stop_loss", "percent", 0.02)


def amounts(low: int, high: int, places: int) -> st.SearchStrategy[Decimal]:
    """Decimals from low to high with `places` decimals, as a venue or a trader writes them."""
    scale = 10**places
    return st.integers(low * scale, high * scale).map(lambda n: Decimal(n) / scale)


@st.composite
def rule_limits(draw: st.DrawFn) -> dict[str, ir.Limit]:
    limits: dict[str, ir.Limit] = {}
    mode = draw(st.sampled_from([None, "base", "quote", "percent"]))
    if mode is not None:
        high = {"base": 20, "quote": 50_000, "percent": 1}[mode]
        value = float(draw(amounts(0, high, 2)).max(Decimal("0.01")))
        limits["max_position"] = ir.Limit("max_position", mode, value, SPAN)
    if draw(st.booleans()):
        value = float(draw(amounts(0, 10, 1)).max(Decimal("0.1")))
        limits["max_leverage"] = ir.Limit("max_leverage", "ratio", value, SPAN)
    if draw(st.booleans()):
        value = float(draw(amounts(1, 50_000, 0)))
        limits["max_order_notional"] = ir.Limit("max_order_notional", "quote", value, SPAN)
    if draw(st.booleans()):
        value = float(draw(st.integers(1, 8)))
        limits["max_open_orders"] = ir.Limit("max_open_orders", "count", value, SPAN)
    return limits


@st.composite
def cases(
    draw: st.DrawFn,
) -> tuple[config.Risk, dict[str, dict[str, ir.Limit]], PortfolioView, Intent]:
    risk = config.Risk(
        max_position_notional=draw(amounts(1, 200_000, 0)),
        max_order_notional=draw(amounts(1, 50_000, 0)),
        max_leverage=draw(amounts(0, 10, 1)).max(Decimal("0.1")),
        max_open_orders=draw(st.integers(1, 12)),
    )
    limits = {name: draw(rule_limits()) for name in NAMES}
    marks = {"ETH": draw(amounts(100, 5000, 2)), "BTC": draw(amounts(10_000, 100_000, 1))}
    positions = {(name, market): draw(amounts(-3, 3, 3)) for name in NAMES for market in MARKETS}
    view = PortfolioView(
        equity=draw(amounts(-100, 100_000, 2)),
        positions=positions,
        marks=marks,
        open_orders={name: draw(st.integers(0, 6)) for name in NAMES},
        other_open_orders=draw(st.integers(0, 3)),
        size_steps={"ETH": Decimal("0.001"), "BTC": Decimal("0.0001")},
    )
    market = draw(st.sampled_from(MARKETS))
    slip = draw(st.integers(-50, 50))  # the bar's close against the mark, in basis points
    intent = Intent(
        strategy=draw(st.sampled_from(NAMES)),
        market=market,
        action=draw(st.sampled_from(["open_long", "open_short"])),
        size=draw(amounts(0, 5, 3)).max(Decimal("0.001")),
        reason="signal",
        bar_time=0,
        reference_price=marks[market] * (1 + Decimal(slip) / 10_000),
        protections=(STOP,) * draw(st.integers(0, 2)),
    )
    return risk, limits, view, intent


def broken_limits(
    risk: config.Risk,
    limits: dict[str, dict[str, ir.Limit]],
    view: PortfolioView,
    intent: Intent,
    size: Decimal,
) -> list[str]:
    """Every limit the entry at `size` would leave exceeded, by the definitions in risk.py's
    doc: positions netted per market, a reverse replaces the strategy's position."""
    side = 1 if intent.action == "open_long" else -1
    positions = dict(view.positions)
    key = (intent.strategy, intent.market)
    held = positions.get(key, Decimal(0))
    positions[key] = side * size if held * side < 0 else held + side * size
    equity, marks, own = view.equity, view.marks, limits[intent.strategy]

    def notional(name: str | None) -> Decimal:
        total = Decimal(0)
        for market in MARKETS:
            held = sum(
                (s for (n, m), s in positions.items() if m == market and name in (None, n)),
                Decimal(0),
            )
            total += abs(held) * marks[market]
        return total

    broken = []
    if size * intent.reference_price > risk.max_order_notional:
        broken.append("account max_order_notional")
    if notional(None) > risk.max_position_notional:
        broken.append("account max_position_notional")
    if equity <= 0 or notional(None) > risk.max_leverage * equity:
        broken.append("account max_leverage")
    added = max(1, len(intent.protections))
    if held * side > 0:  # an add: its protections take the place of the strategy's resting
        added -= view.open_orders.get(intent.strategy, 0)
    if view.account_open_orders + added > risk.max_open_orders:
        broken.append("account max_open_orders")
    for limit in own.values():
        value = Decimal(repr(limit.value))
        new = abs(positions[key])
        if limit.name == "max_order_notional" and size * intent.reference_price > value:
            broken.append(limit.name)
        elif limit.name == "max_open_orders":
            if view.open_orders.get(intent.strategy, 0) + added > value:
                broken.append(limit.name)
        elif limit.name == "max_leverage" and notional(intent.strategy) > value * equity:
            broken.append(limit.name)
        elif limit.name == "max_position":
            cap = {"base": value, "quote": value, "percent": value * equity}[limit.mode]
            held_value = new if limit.mode == "base" else new * marks[intent.market]
            if held_value > cap:
                broken.append(limit.name)
    return broken


def manager(risk: config.Risk, limits: dict[str, dict[str, ir.Limit]]) -> RiskManager:
    rm = RiskManager(risk)
    for name, own in limits.items():
        rm.add_strategy(name, own)
    return rm


@settings(max_examples=400, deadline=None)
@given(cases())
def test_an_allowed_entry_never_leaves_a_limit_exceeded(case) -> None:
    risk, limits, view, intent = case
    verdict = manager(risk, limits).check(intent, view)
    if verdict.allowed:
        assert 0 < verdict.size <= intent.size
        assert broken_limits(risk, limits, view, intent, verdict.size) == []
    else:
        assert verdict.size == 0 and verdict.message


@settings(max_examples=400, deadline=None)
@given(cases())
def test_an_entry_that_fits_goes_as_asked_and_a_reduced_one_is_the_largest_that_fits(
    case,
) -> None:
    risk, limits, view, intent = case
    verdict = manager(risk, limits).check(intent, view)
    if not broken_limits(risk, limits, view, intent, intent.size):
        assert verdict.allowed and verdict.size == intent.size and not verdict.reduced
    if verdict.reduced:
        step = view.size_steps[intent.market]
        assert verdict.size % step == 0
        assert verdict.limit is not None and verdict.limit in verdict.message
        assert broken_limits(risk, limits, view, intent, verdict.size + step) != []


@settings(max_examples=200, deadline=None)
@given(cases())
def test_exits_always_pass(case) -> None:
    risk, limits, view, intent = case
    exit_intent = Intent(
        intent.strategy, intent.market, "close", intent.size, "signal", 0, intent.reference_price
    )
    verdict = manager(risk, limits).check(exit_intent, view)
    assert verdict.allowed and verdict.size == intent.size

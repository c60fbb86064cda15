"""A backtest: a checked strategy, candles and fill settings in; trades, equity and metrics out.

The strategy's graph is evaluated once over all bars (the vectorised evaluator), its signals
are filled by the compiled fill loop, and the metrics summarise the result. Signals that read the
position (`bars_in_trade`, `entry_price`, `position`) run inside the fill loop at each close
(`position_rules.py`), reading the columns computed beforehand and the position held then.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from rulebot.backtesting.fills import (
    TRADE_DTYPE,
    FillSettings,
    PositionRules,
    SignalColumns,
    SimResult,
    simulate,
)
from rulebot.backtesting.legs import LegColumns, LegsResult, simulate_legs
from rulebot.backtesting.metrics import Metrics, compute_metrics
from rulebot.backtesting.perp_series import (
    MissingSeries,
    absent_series,
    funding_bar_index,
    with_perp_series,
)
from rulebot.backtesting.position_rules import position_rules
from rulebot.backtesting.price_lets import price_lets
from rulebot.backtesting.settings import SettingsError, fill_settings
from rulebot.data.candles import (
    DAY_MS,
    Candles,
    FundingRates,
    align,
    missing_open_bars,
    shipped_candles,
    shipped_funding,
)
from rulebot.data.shipped import SHIPPED_FUNDING, SHIPPED_MARKETS, shipped_quote
from rulebot.graph.clocks import BarColumns, aggregate
from rulebot.graph.plan import Graph, plan
from rulebot.graph.vectorised import evaluate, outputs, position_dependents
from rulebot.lang import ir
from rulebot.lang.diagnostics import render
from rulebot.lang.load import compile_file
from rulebot.lang.overrides import OverrideError, check_params
from rulebot.lint import discover
from rulebot.risk.bars import LossLimits


class BacktestError(Exception):
    """Why a backtest cannot run, in one readable message (no traceback for the user)."""


@dataclass(frozen=True)
class BacktestResult:
    strategy: str
    market: str
    timeframe: str
    params: Mapping[str, float | bool]
    settings: FillSettings
    columns: SignalColumns
    result: SimResult
    metrics: Metrics
    legs: LegsResult | None = None
    """For strategies on several markets: every leg's fills (`trades` are whole spreads)."""
    missing_bars: Mapping[str, int] = field(default_factory=dict)
    """Bars absent from each market's data (gaps): indicators see the bars around a gap as
    neighbours, so a trader should know."""
    quote: str | None = None
    """The currency prices and money are in, when known: the shipped data's (`USD` for BTC,
    `BTC` for the spot pairs); None for data a user gave."""
    notes: tuple[str, ...] = ()
    """What a trader should know about the window: warm-up the data could not give before it."""
    overlays: Mapping[str, np.ndarray] = field(default_factory=dict)
    """The rule's `let`s that are prices (`price_lets`), one value per bar as `equity`: what
    the report draws over the candles. Empty for a spread."""

    @property
    def trades(self) -> np.ndarray:
        return self.result.trades

    @property
    def equity(self) -> np.ndarray:
        return self.result.equity

    def __str__(self) -> str:
        return f"{self.strategy} on {self.market} {self.timeframe}\n{self.metrics}"

    def to_dict(self) -> dict[str, Any]:
        """Everything, with stable key names (documented in the README)."""
        return {
            "strategy": self.strategy,
            "market": self.market,
            "timeframe": self.timeframe,
            "quote": self.quote,
            "params": dict(self.params),
            "settings": _settings_data(self.settings.__dict__),
            "metrics": self.metrics.to_dict(),
            "equity_curve": [
                {"timestamp": int(t), "equity": float(e)}
                for t, e in zip(self.columns.timestamp, self.result.equity, strict=True)
            ],
            "trades": self.trade_dicts(),
            **({"leg_trades": self._leg_trades()} if self.legs is not None else {}),
        }

    def trade_dicts(self, time: Callable[[int], Any] = int) -> list[dict[str, Any]]:
        """Each trade row (one per closing fill) as plain values; fill times (ms UTC) pass
        through `time`; `stop_price` and `take_price` are the levels in force (None: none);
        `trip` is the round trip's number (rows of one round trip share it)."""
        stamps = self.columns.timestamp
        return [
            {
                "entry_time": time(int(stamps[t["entry_index"]])),
                "exit_time": time(int(stamps[t["exit_index"]])),
                "side": "long" if t["side"] > 0 else "short",
                "size": float(t["size"]),
                "entry_price": float(t["entry_price"]),
                "exit_price": float(t["exit_price"]),
                "pnl": float(t["pnl"]),
                "fees": float(t["fees"]),
                "funding": float(t["funding"]),
                "exit_reason": str(t["exit_reason"]),
                "stop_price": _level(t["stop_price"]),
                "take_price": _level(t["take_price"]),
                "trip": int(t["trip"]),
            }
            for t in self.result.trades
        ]

    def _leg_trades(self) -> list[dict[str, Any]]:
        assert self.legs is not None
        markets = self.market.split("/")
        return [
            {
                "trade": int(leg["trade"]),
                "market": markets[int(leg["leg"])],
                "side": "long" if leg["side"] > 0 else "short",
                "size": float(leg["size"]),
                "entry_price": float(leg["entry_price"]),
                "exit_price": float(leg["exit_price"]),
                "pnl": float(leg["pnl"]),
                "fees": float(leg["fees"]),
                "funding": float(leg["funding"]),
            }
            for leg in self.legs.leg_trades
        ]


def _level(price: float) -> float | None:
    """A stop or take-profit level fixed at entry; None when the trade had none."""
    return float(price) if math.isfinite(price) else None


def _settings_data(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings as JSON: no limit (inf) as null, the loss limits as a section of their own."""
    return {
        k: (
            _settings_data(v.__dict__)
            if isinstance(v, LossLimits)
            else None
            if isinstance(v, float) and math.isinf(v)
            else v
        )
        for k, v in settings.items()
    }


def load_rules(path: str | Path, *, include_disabled: bool = False) -> list[ir.Strategy]:
    """The checked strategies in a rule file or folder; any error stops with the diagnostics."""
    try:
        files = discover([path])
    except Exception as error:  # a UsageError: a path that is not there
        raise BacktestError(str(error)) from None
    strategies = []
    for file in files:
        if file.name in ("rulebot.yaml", "rulebot.yml"):
            continue
        compiled = compile_file(file)
        if compiled.strategy is None:
            shown = "\n".join(
                render(d, compiled.source, compiled.path)
                for d in compiled.diagnostics
                if d.is_error
            )
            raise BacktestError(f"{file} does not compile:\n{shown}")
        if compiled.strategy.enabled or include_disabled:
            strategies.append(compiled.strategy)
    return strategies


def backtest(
    strategy: ir.Strategy | str | Path,
    data: Candles | Mapping[str, Candles] | None = None,
    *,
    params: Mapping[str, float | bool] | None = None,
    settings: FillSettings | None = None,
    funding: FundingRates | None = None,
    days: float | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    trace: bool = False,
) -> BacktestResult:
    """Backtest one strategy. With no `data`, the candles the project ships for its market; with
    no `settings`, the fill settings `rulebot backtest` reads here (./rulebot.yaml, if any).
    `trace`: the fill loop also records what each close read and what stopped each true entry
    (`result.result.trace`; a single market's strategy only), which `rulebot explain` reads."""
    if not isinstance(strategy, ir.Strategy):
        found = load_rules(strategy)
        if len(found) != 1:
            raise BacktestError(f"{strategy} holds {len(found)} strategies; pass one")
        strategy = found[0]
    settings = with_strategy_limits(settings or settings_here(), strategy)
    market = strategy.markets[0]
    candles = market_data(strategy, data)
    if funding is None and data is None and market in SHIPPED_FUNDING:
        funding = shipped_funding(SHIPPED_FUNDING[market])
    trade_from = window_start(candles[market], days, start_ms, end_ms)
    missing = {m: missing_open_bars(c.between(trade_from, end_ms)) for m, c in candles.items()}
    missing = {m: count for m, count in missing.items() if count}
    bars = {m: on_timeframe(c.between(None, end_ms), strategy, m) for m, c in candles.items()}
    bars = perp_bars(strategy, bars, funding, data is None)
    if params:
        try:
            params = check_params(strategy, params)
        except OverrideError as problem:
            raise BacktestError(str(problem)) from None
    graph = plan(strategy, params)
    first = first_traded(bars[market], trade_from, strategy)
    too_few(strategy, graph, len(bars[market]), first)
    rates = funding_on_bars(funding, bars[market]) if funding is not None else None
    legs: LegsResult | None = None
    overlays: dict[str, np.ndarray] = {}
    if len(strategy.markets) > 1:
        columns, legs = fill_legs(graph, strategy, bars, settings, data is None, first)
        result = spread_result(legs)
    else:
        columns, result, overlays = _fill(graph, strategy, bars, settings, rates, first, trace)
    metrics = compute_metrics(result, columns, settings)
    return BacktestResult(
        strategy.name,
        "/".join(strategy.markets),
        strategy.timeframe,
        graph.params,
        settings,
        columns,
        result,
        metrics,
        legs,
        missing,
        shipped_quote(strategy.markets) if data is None else None,
        (warmup_notes(strategy, graph, bars[market], first) if trade_from is not None else ())
        + absent_series(strategy, bars),
        overlays,
    )


def settings_here() -> FillSettings:
    """The fill settings `rulebot backtest` would use in this folder (its rulebot.yaml, if any):
    what `backtest()` and `optimize()` run with when no `settings=` is given."""
    try:
        return fill_settings()
    except SettingsError as problem:
        raise BacktestError(str(problem)) from None


def with_strategy_limits(settings: FillSettings, strategy: ir.Strategy) -> FillSettings:
    """The rule's own limits on top of the fill settings: its cooldown, its size caps (position
    in base, quote or share of equity, order notional, leverage as a share of equity: a
    backtest's entry comes flat) and the loss limits and order count that stop entries."""
    changes: dict[str, Any] = {}
    cooldown = strategy.limits.get("cooldown")
    if cooldown is not None:
        changes["cooldown_bars"] = int(cooldown.value)
    field = {"base": "max_position", "quote": "max_notional", "percent": "max_equity_share"}
    for key, mode in (
        ("max_position", None),
        ("max_order_notional", "quote"),
        ("max_leverage", "percent"),
    ):
        cap = strategy.limits.get(key)
        if cap is not None:
            name = field[mode or cap.mode]
            changes[name] = min(changes.get(name, getattr(settings, name)), cap.value)
    risk = settings.risk.with_rule(strategy.limits)
    if risk != settings.risk:
        changes["risk"] = risk
    return replace(settings, **changes) if changes else settings


# ---- signals and the fixed point ---------------------------------------------------------------
def _fill(
    graph: Graph,
    strategy: ir.Strategy,
    bars: Mapping[str, BarColumns],
    settings: FillSettings,
    funding: np.ndarray | None,
    first: int = 0,
    trace: bool = False,
) -> tuple[SignalColumns, SimResult, dict[str, np.ndarray]]:
    """The signals, the fills (traced when asked), and the price `let`s (from bar `first` on)
    for the report."""
    market = strategy.markets[0]
    n = len(bars[market])
    values = evaluate(graph, bars, placeholders=position_dependents(graph))
    columns = signal_columns(graph, strategy, bars[market], values, funding)
    rules = position_rules(graph, values, n)
    columns = cut(columns, first)
    named = outputs(graph, values)
    overlays = {
        name: np.asarray(named[f"let.{name}"][first:], dtype=np.float64)
        for name in price_lets(strategy)
        if graph.outputs[f"let.{name}"] not in position_dependents(graph)
    }
    result = simulate(columns, settings, cut_rules(rules, first), trace=trace)
    return columns, result, overlays


def fill_legs(
    graph: Graph,
    strategy: ir.Strategy,
    bars: Mapping[str, BarColumns],
    settings: FillSettings,
    shipped: bool,
    first: int = 0,
) -> tuple[SignalColumns, LegsResult]:
    """Every leg filled together: both or neither (see legs.py), from bar `first` on."""
    if position_dependents(graph):
        raise BacktestError(
            f"`{strategy.name}` reads the position on several markets; that is not supported yet"
        )
    markets = list(strategy.markets)
    n = len(bars[markets[0]])
    funding = None
    if shipped and any(m in SHIPPED_FUNDING for m in markets):
        funding = np.stack(
            [
                funding_on_bars(shipped_funding(SHIPPED_FUNDING[m]), bars[m])
                if m in SHIPPED_FUNDING
                else np.zeros(n)
                for m in markets
            ]
        )
    columns, legs = leg_columns(graph, strategy, bars, evaluate(graph, bars), funding)
    try:
        return cut(columns, first), simulate_legs(cut(legs, first), settings)
    except ValueError as problem:
        raise BacktestError(f"`{strategy.name}`: {problem}") from None


def leg_columns(
    graph: Graph,
    strategy: ir.Strategy,
    bars: Mapping[str, BarColumns],
    values: Mapping[int, np.ndarray],
    funding: np.ndarray | None,
) -> tuple[SignalColumns, LegColumns]:
    """A spread's signals (on its first market's clock) and every leg's prices and weights, as
    `simulate_legs` takes them, from the graph's evaluated values."""
    markets = list(strategy.markets)
    first = bars[markets[0]]
    columns = signal_columns(graph, strategy, first, values, None)
    named = outputs(graph, values)
    weights = np.stack([np.asarray(named[f"leg.{m}"], dtype=np.float64) for m in markets])

    def stack(field: str) -> np.ndarray:
        return np.stack([getattr(bars[m], field) for m in markets])

    legs = LegColumns(
        timestamp=first.timestamp,
        open=stack("open"),
        high=stack("high"),
        low=stack("low"),
        close=stack("close"),
        weight=weights,
        entry_long=columns.entry_long,
        exit_long=columns.exit_long,
        entry_short=columns.entry_short,
        exit_short=columns.exit_short,
        size_mode=strategy.sizing.mode,  # type: ignore[arg-type]
        size_value=columns.size_value,
        stop_mode=columns.stop_mode,  # type: ignore[arg-type]
        stop_value=columns.stop_value,
        take_mode=columns.take_mode,  # type: ignore[arg-type]
        take_value=columns.take_value,
        trail_mode=columns.trail_mode,  # type: ignore[arg-type]
        trail_value=columns.trail_value,
        funding_rate=funding,
        warmup_bars=graph.warmup_bars,
    )
    return columns, legs


def spread_result(legs: LegsResult) -> SimResult:
    """Whole-spread trades in the single-market shape the metrics read: a trade's `size` is its
    entry notional and its prices are 1 (entry) and 1 + gross return (exit)."""
    spread = legs.trades
    trades = np.zeros(len(spread), dtype=TRADE_DTYPE)
    for name in ("entry_index", "exit_index", "side", "pnl", "fees", "funding", "exit_reason"):
        trades[name] = spread[name]
    trades["size"] = spread["entry_notional"]
    trades["stop_price"] = trades["take_price"] = np.nan  # a spread's levels are not prices
    trades["entry_price"] = 1.0
    trades["trip"] = np.arange(len(spread))  # every spread trade goes from flat to flat
    gross = spread["pnl"] + spread["fees"] + spread["funding"]
    with np.errstate(divide="ignore", invalid="ignore"):
        trades["exit_price"] = 1.0 + spread["side"] * gross / spread["entry_notional"]
    held = np.any(legs.positions != 0, axis=0).astype(np.float64)
    return SimResult(legs.equity, held, trades, legs.fees_paid, legs.funding_paid)


def signal_columns(
    graph: Graph,
    strategy: ir.Strategy,
    bars: BarColumns,
    values: Mapping[int, np.ndarray],
    funding: np.ndarray | None,
    floats: Callable[[int], np.ndarray] | None = None,
) -> SignalColumns:
    """The fill loop's inputs from the graph's evaluated values. `floats(node_id)` gives a
    node's column as one float64 per bar that nothing will write to (a search passes one that
    keeps them); by default each is a fresh copy."""
    named = outputs(graph, values)
    n = len(bars)

    def signal(name: str) -> np.ndarray:
        if name not in named:
            return np.zeros(n, dtype=bool)
        flags = np.array(named[name], dtype=bool)
        flags[: graph.warmup_bars] = False
        return flags

    def number(name: str) -> np.ndarray:
        if floats is not None:
            return floats(graph.outputs[name])
        return np.asarray(named[name], dtype=np.float64).copy()

    def protection(kind: str) -> tuple[str, np.ndarray]:
        found = strategy.protections.get(kind)
        if found is None:
            return "none", np.zeros(n)
        return found.mode, number(kind)

    stop_mode, stop_value = protection("stop_loss")
    take_mode, take_value = protection("take_profit")
    trail_mode, trail_value = protection("trailing_stop")
    return SignalColumns(
        timestamp=bars.timestamp,
        open=bars.open,
        high=bars.high,
        low=bars.low,
        close=bars.close,
        entry_long=signal("entry.long"),
        exit_long=signal("exit.long"),
        entry_short=signal("entry.short"),
        exit_short=signal("exit.short"),
        size_mode=strategy.sizing.mode,
        size_value=number("size"),
        stop_mode=stop_mode,  # type: ignore[arg-type]
        stop_value=stop_value,
        take_mode=take_mode,  # type: ignore[arg-type]
        take_value=take_value,
        trail_mode=trail_mode,  # type: ignore[arg-type]
        trail_value=trail_value,
        funding_rate=funding,
        warmup_bars=graph.warmup_bars,
        **order_columns(strategy, named, number),
    )


def order_columns(
    strategy: ir.Strategy,
    named: Mapping[str, np.ndarray],
    number: Callable[[str], np.ndarray],
) -> dict[str, Any]:
    """The `SignalColumns` fields of resting entries, pyramiding and partial exits, from the
    graph's outputs (`entry_level.<side>`, `entry_bars.<side>`, `exit_share.<side>`, `take.<i>`,
    `take_share.<i>`); none for a rule without them, so it fills as it always has."""
    fields: dict[str, Any] = {}
    for side, order in strategy.entry_orders.items():
        fields[f"entry_{side}_kind"] = order.kind
        fields[f"entry_{side}_level"] = number(f"entry_level.{side}")
        fields[f"entry_{side}_bars"] = int(_constant(named, f"entry_bars.{side}", 1.0))
        fields[f"post_only_{side}"] = order.post_only
    if strategy.pyramiding != 1:
        fields["pyramiding"] = strategy.pyramiding
    for side in strategy.exit_shares:
        fields[f"exit_{side}_share"] = _constant(named, f"exit_share.{side}", 1.0)
    takes = strategy.partial_takes
    if takes:
        fields["take_modes"] = tuple(take.mode for take in takes)
        fields["take_values"] = np.stack([number(f"take.{k}") for k in range(len(takes))])
        fields["take_shares"] = tuple(
            _constant(named, f"take_share.{k}", 1.0) for k in range(len(takes))
        )
    return fields


def _constant(named: Mapping[str, np.ndarray], name: str, default: float) -> float:
    """A constant output's value (the checker makes sure it is one); `default` when absent."""
    value = named.get(name)
    return default if value is None else float(np.ravel(value)[-1])


# ---- the window ---------------------------------------------------------------------------------
# The window asked for is the window traded: a backtest evaluates every bar the data holds before
# it (the warm-up, and all the history an indicator would have had live), then fills from the
# window's first bar. Only when the data starts too late does warm-up eat into the window.
def window_start(
    candles: Candles, days: float | None, start_ms: int | None, end_ms: int | None
) -> int | None:
    """When trading starts (ms UTC): `start_ms`, or `days` before the last bar's close."""
    if days is None:
        return start_ms
    before = candles.between(start_ms, end_ms)
    if not len(before):
        return start_ms
    end = int(before.timestamp[-1]) + (before.timeframe_ms or 0)
    start = end - round(days * DAY_MS)
    return start if start_ms is None else max(start, start_ms)


def first_traded(bars: BarColumns, trade_from: int | None, strategy: ir.Strategy) -> int:
    """The index of the window's first bar among `bars` (all the bars up to its end)."""
    first = 0 if trade_from is None else int(np.searchsorted(bars.timestamp, trade_from))
    if first >= len(bars):
        raise BacktestError(f"no {strategy.markets[0]} bars in the chosen period")
    return first


def too_few(strategy: ir.Strategy, graph: Graph, n: int, first: int) -> None:
    """Refuse a window in which nothing could trade: all of it is warm-up."""
    if n <= max(graph.warmup_bars, first) + 1:
        raise BacktestError(
            f"{n - first} bars of {strategy.markets[0]} are too few: `{strategy.name}` needs "
            f"{graph.warmup_bars} bars of warm-up before it can trade, and the data holds "
            f"{first} before the chosen period"
        )


def warmup_notes(
    strategy: ir.Strategy, graph: Graph, bars: BarColumns, first: int
) -> tuple[str, ...]:
    """A note when the data holds fewer bars before the window than the warm-up needs, so the
    window's first bars are warm-up and trading starts later than asked."""
    if first >= graph.warmup_bars:
        return ()
    start = _day(int(bars.timestamp[first]))
    trades = _day(int(bars.timestamp[graph.warmup_bars]))
    held = f"only {first} bars" if first else "no bars"
    return (
        f"`{strategy.name}` needs {graph.warmup_bars} bars of warm-up and the data holds "
        f"{held} before {start}: it trades from {trades}",
    )


def _day(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%d %H:%M") if moment.hour or moment.minute else str(moment.date())


def cut(columns: Any, first: int) -> Any:
    """Signal or leg columns from bar `first` on (every per-bar array along its last axis),
    the warm-up counted from there."""
    if first == 0:
        return columns
    n = len(columns.timestamp)
    changes: dict[str, Any] = {}
    for name in columns.__dataclass_fields__:
        value = getattr(columns, name)
        if isinstance(value, np.ndarray) and value.ndim and value.shape[-1] == n:
            changes[name] = value[..., first:]
    changes["warmup_bars"] = max(columns.warmup_bars - first, 0)
    return replace(columns, **changes)


def cut_rules(rules: PositionRules, first: int) -> PositionRules:
    """Position rules reading their input columns from bar `first` on."""
    return replace(rules, inputs=rules.inputs[:, first:]) if first else rules


# ---- data ----------------------------------------------------------------------------------------
def market_data(
    strategy: ir.Strategy, data: Candles | Mapping[str, Candles] | None
) -> dict[str, Candles]:
    """The candles of every market `strategy` reads: `data`, or the shipped candles when it is
    None; several markets are aligned on common timestamps."""
    markets = sorted({m for m, _ in strategy.feeds} | set(strategy.markets))
    if isinstance(data, Candles):
        if len(markets) > 1:
            raise BacktestError(f"`{strategy.name}` reads {', '.join(markets)}: give data for each")
        return {markets[0]: data}
    given = dict(data or {})
    for market in markets:
        if market in given:
            continue
        if data is not None or market not in SHIPPED_MARKETS:
            known = ", ".join(sorted(SHIPPED_MARKETS))
            raise BacktestError(
                f"no candles for {market}: pass a data file (the shipped data covers {known})"
            )
        given[market] = shipped_candles(SHIPPED_MARKETS[market])
    if len(given) > 1:
        return dict(align(given))
    return given


def on_timeframe(candles: Candles, strategy: ir.Strategy, market: str) -> BarColumns:
    """The candles as bars of the strategy's timeframe (finer candles are aggregated)."""
    bars = BarColumns.of(candles)
    if len(bars) == 0:
        raise BacktestError(f"no {market} bars in the chosen period")
    wanted = strategy.timeframe_seconds * 1000
    have = candles.timeframe_ms or wanted
    if have == wanted:
        return bars
    if have < wanted and wanted % have == 0:
        aggregated, _ = aggregate(bars, have, wanted)
        return aggregated
    raise BacktestError(
        f"`{strategy.name}` runs on {strategy.timeframe} bars but the {market} data has "
        f"{have // 1000 // 60} minute bars; give data of {strategy.timeframe} or finer"
    )


def perp_bars(
    strategy: ir.Strategy,
    bars: Mapping[str, BarColumns],
    funding: FundingRates | None,
    shipped: bool,
) -> dict[str, BarColumns]:
    """`bars` with the perpetual series the strategy reads (`funding`, ...) placed on them:
    `funding` is the strategy's market's rates; with the shipped data, every shipped market's."""
    if not strategy.perp_reads:
        return dict(bars)
    rates: dict[str, FundingRates] = {}
    if shipped:
        rates = {m: shipped_funding(SHIPPED_FUNDING[m]) for m in bars if m in SHIPPED_FUNDING}
    if funding is not None:
        rates[strategy.markets[0]] = funding
    try:
        return with_perp_series(strategy, bars, rates)
    except MissingSeries as problem:
        raise BacktestError(str(problem)) from None


def funding_on_bars(funding: FundingRates, bars: BarColumns) -> np.ndarray:
    """Each funding payment on the first bar opening at or after its funding time (its stamp
    rounded to the hour, `funding_times`: a payment stamped 00:00:00.017 is the 00:00 bar's)."""
    rates = np.zeros(len(bars))
    index = funding_bar_index(funding, bars)
    inside = index < len(bars)
    np.add.at(rates, index[inside], np.asarray(funding.rate)[inside])
    return rates


__all__ = [
    "BacktestError",
    "BacktestResult",
    "backtest",
    "cut",
    "cut_rules",
    "fill_legs",
    "first_traded",
    "funding_on_bars",
    "leg_columns",
    "load_rules",
    "market_data",
    "on_timeframe",
    "settings_here",
    "signal_columns",
    "spread_result",
    "too_few",
    "warmup_notes",
    "window_start",
    "with_strategy_limits",
]

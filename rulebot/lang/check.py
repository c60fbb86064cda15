"""The checker: a rule file's AST → a typed `ir.Strategy`, plus every diagnostic it earned.

Statements are checked here (what must be there once, markets, params, sizing, protections, legs,
risk limits) and expressions in `expressions.py`. Lets are resolved on demand, so they may be
written in any order; a let reading its own past is a recurrence, any other cycle is an error.
Warnings flag what is legal but likely a mistake: unused definitions, no stop, dead exits.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from rulebot.graph.registry import BAR_SERIES, PERP_SERIES
from rulebot.lang import ast, ir, spines
from rulebot.lang.diagnostics import Diagnostic, Severity, Span
from rulebot.lang.expressions import STATE_UNITS, Context, ExprChecker, Scope
from rulebot.lang.orders import OrderChecker
from rulebot.lang.parse import PROTECTION_KEYWORDS
from rulebot.lang.suggest import did_you_mean
from rulebot.lang.timeframes import TIMEFRAMES, timeframe_seconds

_D = TypeVar("_D")
QUOTE_UNITS = ("USDC", "USD")
MAX_SEARCH_VALUES = 10_000
FILE_START = Span.point(1, 1)
# Statements that read params and lets: when one is lost to a syntax error, "unused" is a guess.
_USING_STATEMENTS = ("let", "entry", "exit", "size", "leg", "legs", "risk")

# What each risk limit accepts.
_LIMITS: dict[str, tuple[str, ...]] = {
    "max_position": ("base", "quote", "percent"),
    "max_daily_loss": ("percent", "quote"),
    "max_drawdown": ("percent",),
    "cooldown": ("bars",),
    "max_open_orders": ("count",),
    "max_leverage": ("ratio",),
    "max_order_notional": ("quote",),
}
_LIMIT_EXAMPLES = {
    "max_position": "`max_position 0.5 ETH`, `max_position 2000 USDC` or `max_position 20%`",
    "max_daily_loss": "`max_daily_loss 3%` or `max_daily_loss 300 USDC`",
    "max_drawdown": "`max_drawdown 10%`",
    "cooldown": "`cooldown 5 bars`",
    "max_open_orders": "`max_open_orders 4`",
    "max_leverage": "`max_leverage 3`",
    "max_order_notional": "`max_order_notional 5000 USDC`",
}


@dataclass(frozen=True, slots=True)
class CheckResult:
    strategy: ir.Strategy | None
    diagnostics: list[Diagnostic]


def check_rule(
    tree: ast.RuleFile,
    path: str,
    skipped: frozenset[str] = frozenset(),
    live: bool = False,
    overrides: Mapping[str, tuple[float | bool, ...]] | None = None,
) -> CheckResult:
    """Check a parsed rule file. `skipped` names were defined by statements dropped for syntax
    errors: their uses are not reported again. `live` checks for live trading, where every
    indicator needs a streaming version. `overrides` gives params other values than the rule
    declares (a backtest's `params`, a search's `--set`), checked exactly as declared ones."""
    return _Checker(tree, path, skipped, live, overrides or {}).run()


class _Checker:
    def __init__(
        self,
        tree: ast.RuleFile,
        path: str,
        skipped: frozenset[str],
        live: bool = False,
        overrides: Mapping[str, tuple[float | bool, ...]] | None = None,
    ) -> None:
        self.live = live
        self.overrides = overrides or {}
        self.tree = tree
        self.path = path
        self.diagnostics: list[Diagnostic] = []
        self.skipped = skipped
        self.anchor = FILE_START
        self.by_type: dict[type, list[ast.Statement]] = defaultdict(list)
        for statement in tree.statements:
            self.by_type[type(statement)].append(statement)

    # ---- the whole file ------------------------------------------------------------------------
    def run(self) -> CheckResult:
        name = self._single(ast.StrategyDecl, "strategy")
        market_decl = self._single(ast.MarketDecl, "market")
        timeframe = self._single(ast.TimeframeDecl, "timeframe")
        size = self._single(ast.SizeDecl, "size")
        enabled = self._single(ast.EnabledDecl, "enabled")
        pyramiding = self._single(ast.PyramidingDecl, "pyramiding")
        self.anchor = name.name_span if name else FILE_START
        self._require(name, "strategy", "name it", "mean_reversion")
        self._require(market_decl, "market", "say what it trades", "ETH")
        self._require(timeframe, "timeframe", "say its bar length", "5m")
        self._require(size, "size", "say how much to trade", "2% of equity")

        markets = self._markets(market_decl)
        seconds = self._timeframe(timeframe)
        params = self._params()
        lets_decls = self._let_decls(params)
        base = Context(markets[0] if markets else "", timeframe.text if timeframe else "", seconds)

        self.lets: dict[str, ir.Let | None] = {}
        self.in_progress: list[str] = []
        self.scope = Scope(
            params, lets_decls, self._resolve_let, self._report, self.skipped, live=self.live
        )
        self.base = base
        for let_name in lets_decls:
            self._resolve_let(let_name, lets_decls[let_name].name_span)

        entries, exits = self._signals()
        self.multi_market = len(markets) > 1
        protections = self._protections()
        shares = [
            d
            for d in self.by_type.get(ast.ProtectDecl, [])
            if isinstance(d, ast.ProtectDecl) and d.share is not None
        ]
        orders = OrderChecker(self.scope, base, self.lets, self.multi_market, self._report).run(
            list(self.signal_decls.values()), shares, self.plain_take, pyramiding
        )
        sizing = self._sizing(size, markets, protections) if size else None
        legs = self._legs(markets)
        limits = self._limits(markets)
        self._check_spines(
            [*entries.values(), *exits.values(), *(p.value for p in protections.values())]
            + ([sizing.value] if sizing else [])
            + [leg.weight for leg in legs]
        )
        self._warn_unused(params, lets_decls)
        self._warn_no_stop(name, protections)
        self._warn_dead_exits(entries, exits)

        errors = any(d.is_error for d in self.diagnostics)
        if errors or not (name and timeframe and sizing and markets and entries):
            return CheckResult(None, self.diagnostics)
        nodes: Iterable[ir.Node] = [
            *entries.values(),
            *exits.values(),
            sizing.value,
            *(p.value for p in protections.values()),
            *(leg.weight for leg in legs),
            *orders.nodes(),
        ]
        strategy = ir.Strategy(
            name=name.name,
            path=self.path,
            markets=markets,
            timeframe=timeframe.text,
            timeframe_seconds=seconds,
            enabled=enabled.enabled if enabled else True,
            params=params,
            lets={n: let for n, let in self.lets.items() if let is not None},
            entries=entries,
            exits=exits,
            sizing=sizing,
            protections=protections,
            legs=legs,
            limits=limits,
            warmup_bars=max((n.info.warmup for n in nodes), default=0),
            feeds=frozenset(self.scope.feeds),
            perp_reads=tuple(self.scope.perp_reads),
            entry_orders=orders.entry_orders,
            pyramiding=orders.pyramiding,
            exit_shares=orders.exit_shares,
            partial_takes=orders.partial_takes,
        )
        return CheckResult(strategy, self.diagnostics)

    # ---- declarations that appear once ---------------------------------------------------------
    def _single(self, kind: type[_D], keyword: str) -> _D | None:
        found = self.by_type.get(kind, [])
        for extra in found[1:]:
            self._error(
                "E207",
                f"`{keyword}` is declared more than once",
                extra.span,  # type: ignore[attr-defined]
                help=f"the first is on line {found[0].span.line}",  # type: ignore[attr-defined]
            )
        return found[0] if found else None

    def _require(self, decl: object, keyword: str, what: str, example: str) -> None:
        if decl is None and not self._lost(keyword, *(("markets",) if keyword == "market" else ())):
            written = (
                f"{keyword}: {example}" if self.tree.form == "yaml" else f"{keyword} {example}"
            )
            help_text = f"{what}: `{written}`"
            self._error("E206", f"the rule has no `{keyword}`", self.anchor, help=help_text)

    def _lost(self, *keywords: str) -> bool:
        """True if a statement with one of these keywords was dropped for a syntax error."""
        return any(skipped.split(" ")[0] in keywords for skipped in self.skipped)

    def _markets(self, decl: ast.MarketDecl | None) -> tuple[str, ...]:
        if decl is None:
            return ()
        seen: list[str] = []
        for ref in decl.markets:
            if ref.symbol in seen:
                self._error("E207", f"market `{ref.symbol}` is listed twice", ref.span)
            elif not (ref.symbol.isdigit() or ref.symbol.isupper()):
                self._error(
                    "E205",
                    f"`{ref.symbol}` is not a market symbol",
                    ref.span,
                    help=f"market symbols are upper case: `{ref.symbol.upper()}`",
                )
                seen.append(ref.symbol.upper())  # reported; read on as meant
            else:
                seen.append(ref.symbol)
        return tuple(seen)

    def _timeframe(self, decl: ast.TimeframeDecl | None) -> int:
        if decl is None:
            return 0
        seconds = timeframe_seconds(decl.text)
        if seconds is None:
            self._error(
                "E315",
                f"Lighter has no {decl.text} candles",
                decl.span,
                help="use one of " + ", ".join(TIMEFRAMES),
            )
            return 0
        return seconds

    # ---- params and lets -----------------------------------------------------------------------
    def _params(self) -> dict[str, ir.Param]:
        params: dict[str, ir.Param] = {}
        for decl in self.by_type.get(ast.ParamDecl, []):
            assert isinstance(decl, ast.ParamDecl)
            if self._reserved(decl.name, decl.name_span) or self._duplicate(
                decl.name, decl.name_span, params
            ):
                continue
            param = self._param(decl)
            if param is not None and decl.name in self.overrides:
                param = param.taking(self.overrides[decl.name])
            if param is not None:
                params[decl.name] = param
            else:  # reported once here; its uses are not unknown names
                self.skipped = self.skipped | {decl.name}
        return params

    def _param(self, decl: ast.ParamDecl) -> ir.Param | None:
        literals = [decl.default]
        if isinstance(decl.domain, ast.ParamRange):
            literals += [decl.domain.low, decl.domain.high]
            literals += [decl.domain.step] if decl.domain.step else []
        elif isinstance(decl.domain, ast.ParamChoices):
            literals += list(decl.domain.choices)
        is_bool = [isinstance(lit.value, bool) for lit in literals]
        if any(is_bool) and not all(is_bool):
            bad = next(lit for lit, b in zip(literals, is_bool, strict=True) if b != is_bool[0])
            return self._error(
                "E406", f"param `{decl.name}` mixes true/false and numbers", bad.span
            )
        if is_bool[0] and isinstance(decl.domain, ast.ParamRange):
            return self._error(
                "E406",
                f"param `{decl.name}` is true/false; it has no range",
                decl.domain.span,
                help="leave the range out: a search tries both true and false",
            )
        huge = next((lit for lit in literals if not math.isfinite(lit.value)), None)
        if huge is not None:
            return self._error(
                "E406",
                f"param `{decl.name}` has a number too large to use",
                huge.span,
                help="numbers go up to about 1e308",
            )
        percent = decl.default.is_percent
        for lit in literals[1:]:
            if not is_bool[0] and lit.is_percent != percent:
                return self._error(
                    "E404",
                    f"param `{decl.name}` mixes percentages and plain numbers",
                    decl.default.span.to(lit.span),
                    help="write every value of a percentage param with `%`",
                )
        scale = 0.01 if percent else 1.0

        def value(lit: ast.Literal_) -> float | bool:
            return lit.value if isinstance(lit.value, bool) else lit.value * scale

        if is_bool[0]:
            kind = "bool"
        elif all(lit.is_integer for lit in literals) and not percent:
            kind = "int"
        else:
            kind = "float"
        default = value(decl.default)
        if kind == "int":
            default = int(default)
        unit: ir.Unit = "percent" if percent else "none"
        if isinstance(decl.domain, ast.ParamRange):
            low, high = value(decl.domain.low), value(decl.domain.high)
            step = value(decl.domain.step) if decl.domain.step else None
            if low > high:
                return self._error(
                    "E406",
                    f"the range of `{decl.name}` runs backwards",
                    decl.domain.span,
                    help="write the smaller bound first",
                )
            if step is not None and step <= 0:
                return self._error(
                    "E406", f"the step of `{decl.name}` must be positive", decl.domain.step.span
                )
            stride = step or (1 if kind == "int" else (high - low) / 10)
            count = (high - low) / stride if stride else 1
            if not math.isfinite(count) or count > MAX_SEARCH_VALUES:
                return self._error(
                    "E406",
                    f"the range of `{decl.name}` holds too many values for a search",
                    decl.domain.span,
                    help=f"a search tries at most {MAX_SEARCH_VALUES:,} values of a param; "
                    "use a larger step or a narrower range",
                )
            if not low <= default <= high:
                self._warning(
                    "W505",
                    f"the default of `{decl.name}` ({_fmt(decl.default)}) is outside its range",
                    decl.default.span,
                    help="a search would never try the default; widen the range or move it",
                )
            return ir.Param(decl.name, kind, default, unit, low, high, step, span=decl.span)
        if isinstance(decl.domain, ast.ParamChoices):
            choices = tuple(value(c) for c in decl.domain.choices)
            if default not in choices:
                self._warning(
                    "W505",
                    f"the default of `{decl.name}` ({_fmt(decl.default)}) "
                    "is not one of its choices",
                    decl.default.span,
                )
            return ir.Param(decl.name, kind, default, unit, choices=choices, span=decl.span)
        return ir.Param(decl.name, kind, default, unit, span=decl.span)

    def _let_decls(self, params: dict[str, ir.Param]) -> dict[str, ast.LetDecl]:
        lets: dict[str, ast.LetDecl] = {}
        for decl in self.by_type.get(ast.LetDecl, []):
            assert isinstance(decl, ast.LetDecl)
            if self._reserved(decl.name, decl.name_span):
                continue
            if decl.name in params:
                self._error(
                    "E204",
                    f"`{decl.name}` is already a param",
                    decl.name_span,
                    help="give the let another name",
                )
                continue
            if not self._duplicate(decl.name, decl.name_span, lets):
                lets[decl.name] = decl
        return lets

    def _resolve_let(self, name: str, span: Span) -> ir.Let | None:
        if name in self.lets:
            return self.lets[name]
        if name in self.in_progress:
            chain = [*self.in_progress[self.in_progress.index(name) :], name]
            self._error(
                "E313",
                "these lets depend on each other in a circle: " + " → ".join(chain),
                span,
                help="only a let's own past (`x[1]`) may be read before it is computed",
            )
            return None
        decl = self.scope.let_values[name]
        self.in_progress.append(name)
        checker = ExprChecker(self.scope, let_name=name)
        value = checker.check(decl.value, self.base)
        self.in_progress.pop()
        let = ir.Let(name, value, checker.recurrent, decl.span) if value is not None else None
        self.lets[name] = let
        return let

    # ---- signals, protections, size, legs ------------------------------------------------------
    def _signals(self) -> tuple[dict[str, ir.Node], dict[str, ir.Node]]:
        entries: dict[str, ir.Node] = {}
        exits: dict[str, ir.Node] = {}
        first: dict[tuple[str, str], ast.SignalDecl] = {}
        if not self._lost("entry") and (
            not self.by_type.get(ast.SignalDecl)
            or not any(
                s.kind == "entry"
                for s in self.by_type[ast.SignalDecl]  # type: ignore[attr-defined]
            )
        ):
            self._error(
                "E206",
                "the rule has no `entry`",
                self.anchor,
                help="add an `entry:` section with `long: ...` or `short: ...`"
                if self.tree.form == "yaml"
                else "e.g. `entry long when ...`",
            )
        for decl in self.by_type.get(ast.SignalDecl, []):
            assert isinstance(decl, ast.SignalDecl)
            key = (decl.kind, decl.side)
            if key in first:
                self._error(
                    "E207",
                    f"`{decl.kind} {decl.side}` is declared more than once",
                    decl.span,
                    help=f"combine the conditions with `or` (the first is on line "
                    f"{first[key].span.line})",
                )
                continue
            first[key] = decl
            checker = ExprChecker(self.scope)
            condition = checker.condition(
                decl.condition, self.base, f"the `{decl.kind} {decl.side}` condition"
            )
            if condition is not None:
                (entries if decl.kind == "entry" else exits)[decl.side] = condition
        self.signal_decls = first
        return entries, exits

    def _protections(self) -> dict[str, ir.Protection]:
        result: dict[str, ir.Protection] = {}
        seen: dict[str, ast.ProtectDecl] = {}
        for decl in self.by_type.get(ast.ProtectDecl, []):
            assert isinstance(decl, ast.ProtectDecl)
            if decl.share is not None:
                continue  # a partial take-profit: `orders.py` checks it
            if decl.kind in seen:
                self._error(
                    "E207",
                    f"`{decl.kind}` is declared more than once",
                    decl.span,
                    help=f"the first is on line {seen[decl.kind].span.line}",
                )
                continue
            seen[decl.kind] = decl
            value = ExprChecker(self.scope).number(decl.value, self.base, f"the `{decl.kind}`")
            if value is None:
                continue
            if decl.at_level:
                if value.info.unit != "none":
                    self._error(
                        "E404",
                        f"`{decl.kind} at` takes a price level, not {_unit(value.info.unit)}",
                        decl.value.span,
                        help=f"for a distance from the entry price, drop `at`: `{decl.kind} 2%`",
                    )
                    continue
                mode = "level"
            elif value.info.unit == "bars":
                self._error(
                    "E404",
                    f"`{decl.kind}` is a percentage or a price distance, not a number of bars",
                    decl.value.span,
                    help="for a time exit write `exit long when bars_in_trade >= 20`",
                )
                continue
            else:
                mode = "percent" if value.info.unit == "percent" else "distance"
            if self.multi_market and mode != "percent":
                self._error(
                    "E404",
                    f"on several markets `{decl.kind}` is a percentage of the spread's "
                    "entry notional",
                    decl.value.span,
                    help=f"e.g. `{decl.kind} 3%`",
                )
                continue
            if not self._positive(value, decl.value.span, f"`{decl.kind}`"):
                continue
            result[decl.kind] = ir.Protection(decl.kind, mode, value, decl.span)  # type: ignore[arg-type]
        self.plain_take = seen.get("take_profit")
        return result

    def _sizing(
        self,
        decl: ast.SizeDecl,
        markets: tuple[str, ...],
        protections: dict[str, ir.Protection],
    ) -> ir.Sizing | None:
        amount = decl.amount
        value = ExprChecker(self.scope).number(amount.value, self.base, "the size")
        if value is None:
            return None
        if amount.of_cash:
            return self._cash_sizing(decl, value, markets)
        unit = self._amount_unit(amount, value, markets)
        if unit is None:
            return None
        if decl.risk_based:
            if unit == "base":
                return self._error(
                    "E404",
                    "`size risk` is an amount of money to lose at the stop, not a quantity",
                    amount.span,
                    help="write `size risk 1% of equity` or `size risk 50 USDC`",
                )
            if "stop_loss" not in protections:
                return self._error(
                    "E208",
                    "`size risk` needs a `stop_loss` to measure the risk against",
                    decl.span,
                    help="add e.g. `stop_loss 2 * atr(14)`",
                )
            mode = "risk_equity" if unit == "percent" else "risk_quote"
        else:
            mode = {"percent": "equity", "base": "base", "quote": "quote"}[unit]
        if len(markets) > 1 and mode not in ("equity", "quote"):
            return self._spread_sizing(amount)
        if not self._positive(value, amount.value.span, "the size"):
            return None
        return ir.Sizing(mode, value, decl.span)  # type: ignore[arg-type]

    def _spread_sizing(self, amount: ast.Amount) -> None:
        """E404 for a sizing a spread cannot take: it sizes the whole spread, not one leg."""
        return self._error(
            "E404",
            "a strategy on several markets sizes the whole spread",
            amount.span,
            help="use a share of equity or a quote amount: `size 10% of equity` or "
            "`size 5000 USDC`",
        )

    def _cash_sizing(
        self, decl: ast.SizeDecl, value: ir.Node, markets: tuple[str, ...]
    ) -> ir.Sizing | None:
        """`size 100% of cash`: a share of the cash available at the fill, net of the fee (no
        leverage, so at most all of it)."""
        amount = decl.amount
        if decl.risk_based:
            return self._error(
                "E404",
                "`size risk` is an amount of money to lose at the stop, not a share of cash",
                amount.span,
                help="write `size risk 1% of equity`, or `size 100% of cash` to buy with all the "
                "cash",
            )
        if amount.unit is not None:
            return self._error(
                "E404", f"a share of cash has no unit; drop `{amount.unit}`", amount.unit_span
            )
        if value.info.unit != "percent":
            return self._error(
                "E404",
                "a share of cash is a percentage",
                amount.value.span,
                help="write it with `%`: `size 100% of cash`",
            )
        if len(markets) > 1:
            return self._spread_sizing(amount)
        if not self._positive(value, amount.value.span, "the size"):
            return None
        share = ExprChecker(self.scope).constant_value(value) if value.info.constant else None
        if isinstance(share, float | int) and share > 1:
            return self._error(
                "E406",
                "a share of cash is at most 100%: an entry cannot spend more cash than there is",
                amount.value.span,
                help="write `size 100% of cash`, or size from equity: `size 200% of equity`",
            )
        return ir.Sizing("cash", value, decl.span)

    def _amount_unit(
        self, amount: ast.Amount, value: ir.Node, markets: tuple[str, ...]
    ) -> str | None:
        """`percent`, `base` or `quote` for a sizing amount; reports why not otherwise."""
        if amount.unit is not None:
            if value.info.unit == "percent":
                return self._error(
                    "E404", f"a percentage has no unit; drop `{amount.unit}`", amount.unit_span
                )
            if amount.unit in QUOTE_UNITS:
                return "quote"
            if amount.unit in markets:
                return "base"
            if not markets:
                return None  # "the rule has no `market`" says it already
            guess = did_you_mean(amount.unit, [*markets, *QUOTE_UNITS])
            return self._error(
                "E404",
                f"`{amount.unit}` is not a unit here: this strategy trades {', '.join(markets)}",
                amount.unit_span,
                help=f"did you mean `{guess}`?"
                if guess
                else f"use {', '.join(markets)} (base) or USDC (quote)",
            )
        if value.info.unit == "percent":
            return "percent"
        if amount.of_equity:
            return self._error(
                "E404",
                "a share of equity is a percentage",
                amount.value.span,
                help="write it with `%`: `size 2% of equity`",
            )
        example = markets[0] if markets else "ETH"
        return self._error(
            "E404",
            "this amount has no unit",
            amount.value.span,
            help=f"say what it is: `0.1 {example}` (base), `100 USDC` (quote) or `2% of equity`",
        )

    def _legs(self, markets: tuple[str, ...]) -> tuple[ir.Leg, ...]:
        decls = [d for d in self.by_type.get(ast.LegDecl, []) if isinstance(d, ast.LegDecl)]
        legs: list[ir.Leg] = []
        seen: set[str] = set()
        if decls and len(markets) < 2:
            self._error(
                "E208",
                "`leg` is for strategies on several markets",
                decls[0].span,
                help="list them: `markets ETH, BTC`",
            )
            return ()
        for decl in decls:
            symbol = decl.market.symbol
            if symbol not in markets:
                guess = did_you_mean(symbol, markets)
                self._error(
                    "E205",
                    f"`{symbol}` is not one of this strategy's markets",
                    decl.market.span,
                    help=f"did you mean `{guess}`?" if guess else f"markets: {', '.join(markets)}",
                )
                continue
            if symbol in seen:
                self._error("E207", f"the leg on `{symbol}` is declared twice", decl.span)
                continue
            seen.add(symbol)
            weight = ExprChecker(self.scope).number(decl.weight, self.base, "a leg's weight")
            if weight is not None:
                legs.append(ir.Leg(symbol, weight, decl.span))
        if len(markets) > 1 and not self._lost("leg", "legs"):
            listed = [d for d in self.by_type[ast.MarketDecl] if isinstance(d, ast.MarketDecl)]
            refs = {ref.symbol: ref.span for d in listed for ref in d.markets}
            for symbol in markets:
                if symbol not in seen and not any(d.market.symbol == symbol for d in decls):
                    example = (
                        f"`{symbol}: 1` under `legs:`"
                        if self.tree.form == "yaml"
                        else f"`leg {symbol} weight 1`"
                    )
                    self._error(
                        "E206",
                        f"market `{symbol}` has no `leg`",
                        refs.get(symbol, self.anchor),
                        help=f"say how it trades when the strategy goes long: {example} "
                        "(or -1 to sell it)",
                    )
        return tuple(legs)

    def _limits(self, markets: tuple[str, ...]) -> dict[str, ir.Limit]:
        limits: dict[str, ir.Limit] = {}
        for block in self.by_type.get(ast.RiskDecl, []):
            assert isinstance(block, ast.RiskDecl)
            for item in block.limits:
                if item.name in limits:
                    self._error("E207", f"`{item.name}` is set twice", item.span)
                    continue
                limit = self._limit(item, markets)
                if limit is not None:
                    limits[item.name] = limit
        return limits

    def _limit(self, item: ast.RiskLimit, markets: tuple[str, ...]) -> ir.Limit | None:
        accepted = _LIMITS[item.name]
        example = _LIMIT_EXAMPLES[item.name]
        amount = item.amount
        value = ExprChecker(self.scope).number(amount.value, self.base, f"`{item.name}`")
        if value is None:
            return None
        if not value.info.constant:
            return self._error(
                "E403",
                f"`{item.name}` must be a constant",
                amount.value.span,
                help=f"e.g. {example}",
            )
        number = ExprChecker(self.scope).constant_value(value)
        if number is None or isinstance(number, bool):
            return self._error("E406", f"`{item.name}` has no value", amount.value.span)
        if amount.of_cash:
            return self._error(
                "E404",
                f"`{item.name}` does not take a share of cash",
                amount.span,
                help=f"e.g. {example}",
            )
        unit = amount.unit
        if value.info.unit == "percent":
            mode = "percent"
        elif unit in QUOTE_UNITS:
            mode = "quote"
        elif unit is not None and unit in markets:
            mode = "base"
        elif unit == "bars" or (unit is None and accepted == ("bars",)):
            mode = "bars"
        elif unit is None and accepted == ("count",):
            mode = "count"
        elif (unit is None or unit == "x") and accepted == ("ratio",):
            mode = "ratio"
        else:
            mode = "?"
        if mode not in accepted:
            what = (
                f"`{unit}`" if unit else ("a percentage" if mode == "percent" else "a plain number")
            )
            return self._error(
                "E404",
                f"`{item.name}` does not take {what}",
                amount.span,
                help=f"e.g. {example}",
            )
        if mode in ("bars", "count") and float(number) != int(number):
            return self._error("E407", f"`{item.name}` must be a whole number", amount.value.span)
        if number < 0 or (number == 0 and item.name != "cooldown"):
            return self._error(
                "E406", f"`{item.name}` must be positive", amount.value.span, help=f"e.g. {example}"
            )
        market = unit if mode == "base" else None
        return ir.Limit(item.name, mode, float(number), item.span, market)  # type: ignore[arg-type]

    def _check_spines(self, roots: list[ir.Node]) -> None:
        """A let's own past and the position state reach only elementwise operations."""
        lets = self.lets
        reported: set[Span] = set()
        state = spines.reader(lets, (ir.StateRef,))
        for let in lets.values():
            if let is not None and let.recurrent:
                bad = spines.violation(let.value, lets, spines.reader(lets, (ir.SelfRef,)))
                if bad is not None and bad.info.span not in reported:
                    reported.add(bad.info.span)
                    self._error(
                        "E316",
                        f"`{let.name}` feeds its own past into {_what(bad)}",
                        bad.info.span,
                        help="a recurrence may combine its past with arithmetic, comparisons, "
                        "if/then/else, abs, max, min, nz and na",
                    )
                if state(let.value) and let.span not in reported:
                    reported.add(let.span)
                    self._error(
                        "E318",
                        f"`{let.name}` reads its own past and the position together",
                        let.span,
                        help="keep the recurrence on prices and indicators, and compare it with "
                        "the position in the entry or exit condition",
                    )
        for root in [*(let.value for let in lets.values() if let is not None), *roots]:
            bad = spines.violation(root, lets, state)
            if bad is not None and bad.info.span not in reported:
                reported.add(bad.info.span)
                self._error(
                    "E317",
                    f"the position (`bars_in_trade`, `entry_price`, `position`) feeds {_what(bad)}",
                    bad.info.span,
                    help="the position is known bar by bar: compare it or compute with it, "
                    "but do not pass it to an indicator, a lookback or `@`",
                )

    # ---- warnings ------------------------------------------------------------------------------
    def _warn_unused(self, params: dict[str, ir.Param], lets: dict[str, ast.LetDecl]) -> None:
        if self._lost(*_USING_STATEMENTS, *PROTECTION_KEYWORDS):
            return
        for name, decl in lets.items():
            if name not in self.scope.used and self.lets.get(name) is not None:
                self._warning(
                    "W501",
                    f"`{name}` is defined but never used",
                    decl.name_span,
                    help="use it in a condition, or delete it",
                )
        for name, param in params.items():
            if name not in self.scope.used and param.span is not None:
                self._warning("W502", f"param `{name}` is never used", param.span)

    def _warn_no_stop(
        self, name: ast.StrategyDecl | None, protections: dict[str, ir.Protection]
    ) -> None:
        if name is None or "stop_loss" in protections or "trailing_stop" in protections:
            return
        stops = ("stop_loss", "trailing_stop")
        if self._lost(*stops) or any(
            d.kind in stops  # type: ignore[attr-defined]
            for d in self.by_type.get(ast.ProtectDecl, [])
        ):
            return  # a broken stop was reported already
        self._warning(
            "W503",
            f"strategy `{name.name}` has no stop loss or trailing stop",
            name.span,
            help="a losing trade has no floor; add e.g. `stop_loss 2%` or `stop_loss 2 * atr(14)`",
        )

    def _warn_dead_exits(self, entries: dict[str, ir.Node], exits: dict[str, ir.Node]) -> None:
        if not any(kind == "entry" for kind, _ in self.signal_decls):
            return  # "the rule has no `entry`" says it already
        for side, condition in exits.items():
            decl = self.signal_decls[("exit", side)]
            if {"entry", f"entry {side}"} & self.skipped:
                continue  # the entry was lost to a syntax error
            if ("entry", side) not in self.signal_decls:
                self._warning(
                    "W504",
                    f"`exit {side}` can never fire: nothing opens a {side} position",
                    decl.span,
                    help=f"add `entry {side} when ...`, or delete this exit",
                )
            elif isinstance(condition, ir.Const) and condition.value is False:
                self._warning("W504", f"`exit {side}` is always false", decl.span)

    # ---- helpers -------------------------------------------------------------------------------
    def _positive(self, value: ir.Node, span: Span, what: str) -> bool:
        if not value.info.constant:
            return True
        number = ExprChecker(self.scope).constant_value(value)
        if number is None or number <= 0:
            self._error("E406", f"{what} must be positive", span)
            return False
        return True

    def _reserved(self, name: str, span: Span) -> bool:
        if name in BAR_SERIES or name in PERP_SERIES or name in STATE_UNITS:
            self._error(
                "E204",
                f"`{name}` is a built-in series and cannot be redefined",
                span,
                help="choose another name",
            )
            return True
        return False

    def _duplicate(self, name: str, span: Span, seen: dict[str, object]) -> bool:
        if name in seen:
            self._error("E204", f"`{name}` is defined twice", span)
            return True
        return False

    def _report(self, diagnostic: Diagnostic) -> None:
        self.diagnostics.append(diagnostic)

    def _error(self, code: str, message: str, span: Span | None, help: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code, message, span or FILE_START, help=help))
        return None

    def _warning(self, code: str, message: str, span: Span, help: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code, message, span, Severity.WARNING, help))


def _what(node: ir.Node) -> str:
    if isinstance(node, ir.Call):
        return f"`{node.function}(...)`"
    if isinstance(node, ir.Lag):
        return "a lookback `[n]`"
    if isinstance(node, ir.OnBars):
        return "`@`"
    return "an operation"


def _unit(unit: str) -> str:
    return {"percent": "a percentage", "bars": "a number of bars"}.get(unit, "a plain number")


def _fmt(literal: ast.Literal_) -> str:
    value = literal.value
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(int(value)) if float(value).is_integer() else str(value)
    return text + ("%" if literal.is_percent else "")

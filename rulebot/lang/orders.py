"""How a strategy's orders are shaped beyond a market entry and a full exit: entries that rest
at a price (`entry long limit at ... when`), pyramiding (`pyramiding 3`), exits that close a
share (`exit long 50% when`) and take-profits that each take one (`take_profit 50% at 2%`).

The checker hands over the statements that hold these forms; this module checks their values
(a level is a price, a share a percentage in (0, 100%], a lifetime a whole number of bars) and
how they fit together, and returns the IR fields of `ir.Strategy` they fill.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from rulebot.lang import ast, ir, spines
from rulebot.lang.diagnostics import Diagnostic, Severity, Span
from rulebot.lang.expressions import Context, ExprChecker, Scope
from rulebot.lang.suggest import did_you_mean

ORDER_KINDS = ("limit", "stop")
_LIFETIME_UNITS = ("bars", "bar")
_NON_NEGATIVE = frozenset({"atr", "natr", "stddev", "trange", "var", "avgdev", "abs"})
"""Functions whose value is never below zero: `close - atr(14)` is below the close."""

Relation = str  # one of "<", "<=", "=", ">=", ">": a level compared with the close


@dataclass(frozen=True, slots=True)
class OrderShapes:
    """What this module adds to `ir.Strategy`."""

    entry_orders: dict[str, ir.EntryOrder] = field(default_factory=dict)
    pyramiding: int = 1
    exit_shares: dict[str, ir.Node] = field(default_factory=dict)
    partial_takes: tuple[ir.PartialTake, ...] = ()

    def nodes(self) -> list[ir.Node]:
        """Every expression these forms read (for the warm-up)."""
        found: list[ir.Node] = []
        for order in self.entry_orders.values():
            found += [order.level, order.bars]
        found += list(self.exit_shares.values())
        for take in self.partial_takes:
            found += [take.share, take.value]
        return found


class OrderChecker:
    """Checks the order forms of one strategy. `lets` are the strategy's checked lets (to see
    through them); `multi_market` is True for a strategy trading legs, which has none of these
    forms yet."""

    def __init__(
        self,
        scope: Scope,
        base: Context,
        lets: Mapping[str, ir.Let | None],
        multi_market: bool,
        report: Callable[[Diagnostic], None],
    ) -> None:
        self.scope = scope
        self.base = base
        self.lets = lets
        self.multi_market = multi_market
        self.report = report

    def run(
        self,
        signals: Sequence[ast.SignalDecl],
        takes: Sequence[ast.ProtectDecl],
        plain_take: ast.ProtectDecl | None,
        pyramiding: ast.PyramidingDecl | None,
    ) -> OrderShapes:
        """`signals` are the first `entry`/`exit` of each side, `takes` the protections written
        with a share, `plain_take` a `take_profit` written without one."""
        entry_orders: dict[str, ir.EntryOrder] = {}
        exit_shares: dict[str, ir.Node] = {}
        for decl in signals:
            if decl.order is not None and not self._single_market("a resting entry", decl.order):
                order = self._entry_order(decl.side, decl.order)
                if order is not None:
                    entry_orders[decl.side] = order
            if decl.share is not None and not self._single_market("a partial exit", decl.share):
                share = self._share(decl.share, f"the share `exit {decl.side}` closes")
                if share is not None:
                    exit_shares[decl.side] = share
        count = 1
        if pyramiding is not None and not self._single_market("`pyramiding`", pyramiding):
            count = self._pyramiding(pyramiding) or 1
        return OrderShapes(entry_orders, count, exit_shares, self._partial_takes(takes, plain_take))

    # ---- resting entries -----------------------------------------------------------------------
    def _entry_order(self, side: str, decl: ast.EntryOrderDecl) -> ir.EntryOrder | None:
        if decl.kind not in ORDER_KINDS:
            guess = did_you_mean(decl.kind, ORDER_KINDS)
            return self._error(
                "E104",
                f"unknown entry order `{decl.kind}`",
                decl.kind_span,
                help=(f"did you mean `{guess}`? " if guess else "")
                + f"`entry {side} limit at PRICE` rests {_limit_words(side)}; "
                f"`entry {side} stop at PRICE` {_stop_words(side)}",
            )
        ok = True
        if decl.kind == "stop" and decl.post_only is not None:
            ok = self._error(
                "E212",
                "`post_only` is for `limit` entries: a stop takes liquidity when it fires",
                decl.post_only,
                help="drop `post_only`, or rest a `limit` order",
            )
        level = ExprChecker(self.scope).number(decl.level, self.base, "the entry level")
        bars = self._lifetime(decl.lifetime, decl.span)
        if level is None or bars is None or not ok:
            return None
        if level.info.unit != "none":
            return self._error(
                "E404",
                f"an entry level is a price, not {_unit_words(level.info.unit)}",
                decl.level.span,
                help="for a price 1% under the close write `close * (1 - 1%)`"
                if level.info.unit == "percent"
                else "e.g. `bbands(close, 20).lower` or `close - atr(14)`",
            )
        if spines.reader(self.lets, (ir.StateRef,))(level):
            return self._error(
                "E319",
                "an entry level cannot read the position (`bars_in_trade`, `entry_price`, "
                "`position`)",
                decl.level.span,
                help="compute the level from prices and indicators; the position rules of the "
                "fill loop do not cover resting orders",
            )
        self._warn_wrong_side(side, decl, level)
        post_only = decl.post_only is not None
        return ir.EntryOrder(decl.kind, level, bars, post_only, decl.span)  # type: ignore[arg-type]

    def _lifetime(self, decl: ast.Lifetime | None, order_span: Span) -> ir.Node | None:
        """`for N bars`, or 1 (until the next close) when left out."""
        if decl is None:
            return ir.Const(1.0, ir.Info(type="number", constant=True, span=order_span))
        if decl.unit not in _LIFETIME_UNITS:
            return self._error(
                "E404",
                f"a resting entry lives a number of bars, not `{decl.unit}`",
                decl.unit_span,
                help="write `for 3 bars`",
            )
        bars = ExprChecker(self.scope).number(decl.bars, self.base, "the lifetime")
        if bars is None:
            return None
        number = self._constant(bars, decl.bars.span, "the lifetime of a resting entry")
        if number is None:
            return None
        if bars.info.unit != "none":
            return self._error(
                "E404",
                f"the lifetime is a count of bars, not {_unit_words(bars.info.unit)}",
                decl.bars.span,
                help="write `for 3 bars`",
            )
        if float(number) != int(number):
            return self._error(
                "E407", "the lifetime must be a whole number of bars", decl.bars.span
            )
        if number < 1:
            return self._error(
                "E414",
                "a resting entry lives at least 1 bar",
                decl.span,
                help="leave `for` out to keep it until the next close, or write `for 3 bars`",
            )
        return bars

    def _warn_wrong_side(self, side: str, decl: ast.EntryOrderDecl, level: ir.Node) -> None:
        """W515 for a level the checker can see is on the side of the close it fills at once."""
        relation = self._relation(level)
        if relation is None:
            return
        below = relation in ("<", "<=", "=")
        above = relation in (">", ">=", "=")
        buying = side == "long"
        if decl.kind == "stop" and (below if buying else above):
            where = "at or below" if buying else "at or above"
            way = "above" if buying else "below"
            self._warning(
                "W515",
                f"a {'buy' if buying else 'sell'} stop {where} the close fills at once, "
                "at the next open",
                decl.level.span,
                help=f"a stop entry waits for price to trade through a level {way} the close, "
                f"e.g. `close {'+' if buying else '-'} atr(14)`; "
                f"to {'buy a dip' if buying else 'sell a rally'} use `limit at`",
            )
        elif decl.kind == "limit" and (above if buying else below):
            where = "at or above" if buying else "at or below"
            way = "below" if buying else "above"
            self._warning(
                "W515",
                f"a {'buy' if buying else 'sell'} limit {where} the close crosses at once: "
                "it fills at the next open as a taker, not a maker"
                + (" (as `post_only` it is refused)" if decl.post_only else ""),
                decl.level.span,
                help=f"a limit entry rests {way} the close, "
                f"e.g. `close {'-' if buying else '+'} atr(14)`; "
                f"to {'buy a breakout' if buying else 'sell a breakdown'} use `stop at`",
            )

    def _relation(self, node: ir.Node) -> Relation | None:
        """How `node` compares with this bar's close, where its form shows it, else None."""
        match node:
            case ir.Column() if (node.market, node.timeframe) == (
                self.base.market,
                self.base.timeframe,
            ):
                return {"close": "=", "high": ">=", "low": "<="}.get(node.field)
            case ir.LetRef():
                let = self.lets.get(node.name)
                return None if let is None or let.recurrent else self._relation(let.value)
            case ir.Binary(op="+" | "-"):
                shift = self._sign(node.right)
                left = self._relation(node.left)
                if left is not None and shift is not None:
                    return _shifted(left, shift if node.op == "+" else -shift)
                if node.op == "+":
                    right = self._relation(node.right)
                    shift = self._sign(node.left)
                    if right is not None and shift is not None:
                        return _shifted(right, shift)
            case ir.Binary(op="*" | "/"):
                pairs = [(node.left, node.right)]
                if node.op == "*":
                    pairs.append((node.right, node.left))
                for price, factor in pairs:
                    relation = self._relation(price)
                    scale = self._constant_number(factor)
                    if relation is None or scale is None or scale <= 0:
                        continue
                    if node.op == "/":
                        scale = 1 / scale
                    return _shifted(relation, (scale > 1) - (scale < 1))
        return None

    def _sign(self, node: ir.Node) -> int | None:
        """+1, 0 or -1 if the sign of `node` is plain from its form, else None."""
        number = self._constant_number(node)
        if number is not None:
            return (number > 0) - (number < 0)
        match node:
            case ir.Call() if node.function in _NON_NEGATIVE:
                return 1
            case ir.LetRef():
                let = self.lets.get(node.name)
                return None if let is None or let.recurrent else self._sign(let.value)
            case ir.Unary(op="neg"):
                inner = self._sign(node.operand)
                return None if inner is None else -inner
            case ir.Binary(op="*" | "/"):
                left, right = self._sign(node.left), self._sign(node.right)
                return None if left is None or right is None else left * right
            case ir.Binary(op="+"):
                left, right = self._sign(node.left), self._sign(node.right)
                return left if left is not None and left == right else None
        return None

    def _constant_number(self, node: ir.Node) -> float | None:
        if not node.info.constant:
            return None
        value = ExprChecker(self.scope).constant_value(node)
        if value is None or isinstance(value, bool):
            return None
        return float(value)

    # ---- pyramiding ------------------------------------------------------------------------------
    def _pyramiding(self, decl: ast.PyramidingDecl) -> int | None:
        count = ExprChecker(self.scope).number(decl.count, self.base, "`pyramiding`")
        if count is None:
            return None
        if any(isinstance(n, ir.ParamRef) for n in _walk(count)):
            return self._error(
                "E403",
                "`pyramiding` is a number written in the rule, not a param",
                decl.count.span,
                help="e.g. `pyramiding 3`",
            )
        number = self._constant(count, decl.count.span, "`pyramiding`")
        if number is None:
            return None
        if count.info.unit != "none" or float(number) != int(number) or number < 1:
            return self._error(
                "E413",
                "`pyramiding` is a whole number of entries, 1 or more",
                decl.count.span,
                help="`pyramiding 1` (the default) allows one entry per direction; "
                "`pyramiding 3` stacks up to three",
            )
        return int(number)

    # ---- partial exits -------------------------------------------------------------------------
    def _partial_takes(
        self, takes: Sequence[ast.ProtectDecl], plain_take: ast.ProtectDecl | None
    ) -> tuple[ir.PartialTake, ...]:
        result: list[ir.PartialTake] = []
        total = 0.0
        for decl in takes:
            assert decl.share is not None
            if decl.kind != "take_profit":
                self._error(
                    "E213",
                    f"`{decl.kind}` closes the whole position; only `take_profit` takes a share",
                    decl.share.span,
                    help=f"drop the share: `{decl.kind} 2%`",
                )
                continue
            if self._single_market("a partial take-profit", decl):
                continue
            share = self._share(decl.share, "the share a take-profit takes")
            value = ExprChecker(self.scope).number(decl.value, self.base, "the `take_profit`")
            if share is None or value is None:
                continue
            if value.info.unit == "bars":
                self._error(
                    "E404",
                    "a take-profit is a percentage or a price distance, not a number of bars",
                    decl.value.span,
                    help="e.g. `take_profit 50% at 2%` or `take_profit 50% at 1.5 * atr(14)`",
                )
                continue
            distance = self._constant_number(value)
            if distance is not None and distance <= 0:
                self._error("E406", "the `take_profit` must be positive", decl.value.span)
                continue
            fraction = self._constant_number(share) or 0.0
            if total + fraction > 1 + 1e-9:
                self._error(
                    "E412",
                    f"the take-profit shares add up to {_percent(total + fraction)}, past 100%",
                    decl.share.span,
                    help="make them add up to 100% at most; the last then closes what is left",
                )
                continue
            total += fraction
            mode = "percent" if value.info.unit == "percent" else "distance"
            result.append(ir.PartialTake(share, mode, value, decl.span))
        if takes and plain_take is not None:
            self._error(
                "E211",
                "a `take_profit` without a share next to ones with a share",
                plain_take.span,
                help="give each take-profit a share, e.g. `take_profit 50% at 4%`",
            )
        return tuple(result)

    def _share(self, node: ast.Expr, what: str) -> ir.Node | None:
        share = ExprChecker(self.scope).number(node, self.base, what)
        if share is None:
            return None
        if share.info.unit != "percent":
            return self._error(
                "E404",
                f"{what} is a percentage",
                node.span,
                help="write it with `%`, e.g. `50%`",
            )
        number = self._constant(share, node.span, what)
        if number is None:
            return None
        if not 0 < number <= 1:
            return self._error(
                "E411",
                f"{what} is {_percent(float(number))}: a share is more than 0% and at most 100%",
                node.span,
            )
        return share

    # ---- helpers -------------------------------------------------------------------------------
    def _single_market(self, what: str, where: object) -> bool:
        """E210 for these forms on a strategy over several markets; True if reported."""
        if not self.multi_market:
            return False
        span: Span = where.span  # type: ignore[attr-defined]
        self._error(
            "E210",
            f"{what} is not available yet on a strategy over several markets",
            span,
            help="a spread enters and leaves all its legs at market, in one go",
        )
        return True

    def _constant(self, node: ir.Node, span: Span, what: str) -> float | None:
        if not node.info.constant:
            return self._error(
                "E403", f"{what} must be a constant", span, help="use a number or a param"
            )
        value = ExprChecker(self.scope).constant_value(node)
        if value is None or isinstance(value, bool):
            return self._error("E406", f"{what} has no value", span)
        return float(value)

    def _error(self, code: str, message: str, span: Span, help: str | None = None) -> None:
        self.report(Diagnostic(code, message, span, help=help))
        return None

    def _warning(self, code: str, message: str, span: Span, help: str | None = None) -> None:
        self.report(Diagnostic(code, message, span, Severity.WARNING, help))


def _shifted(relation: Relation, shift: int) -> Relation | None:
    """The relation to the close after moving the level up (+1), not at all (0) or down (-1)."""
    if shift == 0:
        return relation
    if shift > 0:
        return ">" if relation in ("=", ">=", ">") else None
    return "<" if relation in ("=", "<=", "<") else None


def _walk(node: ir.Node) -> list[ir.Node]:
    found = [node]
    for child in ir.children(node):
        found += _walk(child)
    return found


def _limit_words(side: str) -> str:
    return "a buy at or below the price" if side == "long" else "a sell at or above the price"


def _stop_words(side: str) -> str:
    return (
        "buys once price trades at or above it"
        if side == "long"
        else "sells once price trades at or below it"
    )


def _unit_words(unit: str) -> str:
    return {"percent": "a percentage", "bars": "a number of bars"}.get(unit, "a plain number")


def _percent(fraction: float) -> str:
    return f"{round(fraction * 100, 6):g}%"

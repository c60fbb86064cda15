"""Parse tree → AST: one Lark Transformer, one method per grammar rule, named after the rule.

It is Lark's non-recursive transformer, so a deeply nested expression cannot exhaust the stack.
"""

from __future__ import annotations

from typing import Any

from lark import Token, v_args
from lark.tree import Meta
from lark.visitors import Transformer_NonRecursive

from rulebot.lang import ast
from rulebot.lang.diagnostics import Span


def token_span(token: Token) -> Span:
    return Span(token.line, token.column, token.end_line, token.end_column)


def meta_span(meta: Meta) -> Span:
    return Span(meta.line, meta.column, meta.end_line, meta.end_column)


_OF_EQUITY = object()
_OF_CASH = object()


@v_args(meta=True)
class AstBuilder(Transformer_NonRecursive):
    """Builds `rulebot.lang.ast` nodes from the grammar's rules."""

    # ---- file and statements --------------------------------------------------------------------
    def start(self, meta: Meta, children: list[Any]) -> ast.RuleFile:
        return ast.RuleFile(tuple(c for c in children if c is not None), form="rule")

    def statement(self, meta: Meta, children: list[Any]) -> None:
        return None  # a lone `;`

    def strategy_stmt(self, meta: Meta, children: list[Token]) -> ast.StrategyDecl:
        (name,) = children
        return ast.StrategyDecl(str(name), token_span(name), meta_span(meta))

    def market_ref(self, meta: Meta, children: list[Token]) -> ast.MarketRef:
        (token,) = children
        return ast.MarketRef(str(token), token_span(token))

    def market_stmt(self, meta: Meta, children: list[ast.MarketRef]) -> ast.MarketDecl:
        return ast.MarketDecl(tuple(children), meta_span(meta))

    markets_stmt = market_stmt

    def timeframe_stmt(self, meta: Meta, children: list[Token]) -> ast.TimeframeDecl:
        (duration,) = children
        return ast.TimeframeDecl(str(duration), token_span(duration))

    def enabled_stmt(self, meta: Meta, children: list[ast.Bool]) -> ast.EnabledDecl:
        return ast.EnabledDecl(children[0].value, meta_span(meta))

    def param_stmt(self, meta: Meta, children: list[Any]) -> ast.ParamDecl:
        name, (default, domain) = children
        return ast.ParamDecl(str(name), token_span(name), default, domain, meta_span(meta))

    def param_spec(self, meta: Meta, children: list[Any]) -> tuple[Any, Any]:
        default = children[0]
        domain = children[1] if len(children) > 1 else None
        return default, domain

    def param_range(self, meta: Meta, children: list[ast.Literal_]) -> ast.ParamRange:
        low, high, *rest = children
        return ast.ParamRange(low, high, rest[0] if rest else None, meta_span(meta))

    def param_choices(self, meta: Meta, children: list[ast.Literal_]) -> ast.ParamChoices:
        return ast.ParamChoices(tuple(children), meta_span(meta))

    def number_literal(self, meta: Meta, children: list[Token]) -> ast.Literal_:
        negative = any(t.type == "MINUS" for t in children)
        percent = any(t.type == "PERCENT" for t in children)
        (number,) = (t for t in children if t.type == "NUMBER")
        value = float(number)
        return ast.Literal_(
            -value if negative else value,
            is_percent=percent,
            is_integer=_is_integer_text(str(number)),
            span=meta_span(meta),
        )

    def literal(self, meta: Meta, children: list[ast.Bool]) -> ast.Literal_:
        (boolean,) = children
        return ast.Literal_(boolean.value, is_percent=False, is_integer=False, span=boolean.span)

    def let_stmt(self, meta: Meta, children: list[Any]) -> ast.LetDecl:
        name, value = children
        return ast.LetDecl(str(name), token_span(name), value, meta_span(meta))

    def side(self, meta: Meta, children: list[Token]) -> str:
        return str(children[0])

    def entry_stmt(self, meta: Meta, children: list[Any]) -> ast.SignalDecl:
        side, condition = children
        return ast.SignalDecl("entry", side, condition, meta_span(meta))

    def entry_order_stmt(self, meta: Meta, children: list[Any]) -> ast.SignalDecl:
        side, order, condition = children
        return ast.SignalDecl("entry", side, condition, meta_span(meta), order=order)

    def entry_order(self, meta: Meta, children: list[Any]) -> ast.EntryOrderDecl:
        kind, level, *options = children
        post_only = next((o for o in options if isinstance(o, Token)), None)
        lifetime = next((o for o in options if isinstance(o, ast.Lifetime)), None)
        return ast.EntryOrderDecl(
            str(kind),
            token_span(kind),
            level,
            token_span(post_only) if post_only is not None else None,
            lifetime,
            meta_span(meta),
        )

    def entry_lifetime(self, meta: Meta, children: list[Any]) -> ast.Lifetime:
        bars, unit = children
        return ast.Lifetime(bars, str(unit), token_span(unit), meta_span(meta))

    def exit_stmt(self, meta: Meta, children: list[Any]) -> ast.SignalDecl:
        side, share, condition = children
        return ast.SignalDecl("exit", side, condition, meta_span(meta), share=share)

    def pyramiding_stmt(self, meta: Meta, children: list[Any]) -> ast.PyramidingDecl:
        return ast.PyramidingDecl(children[0], meta_span(meta))

    def size_stmt(self, meta: Meta, children: list[ast.SizeDecl]) -> ast.SizeDecl:
        return children[0]

    def size_amount(self, meta: Meta, children: list[ast.Amount]) -> ast.SizeDecl:
        return ast.SizeDecl(False, children[0], meta_span(meta))

    def size_risk(self, meta: Meta, children: list[ast.Amount]) -> ast.SizeDecl:
        return ast.SizeDecl(True, children[0], meta_span(meta))

    def protect_stmt(self, meta: Meta, children: list[Any]) -> ast.ProtectDecl:
        kind, (value, at_level, *share) = children
        return ast.ProtectDecl(
            str(kind), value, at_level, meta_span(meta), share=share[0] if share else None
        )

    def exit_distance(self, meta: Meta, children: list[Any]) -> tuple[ast.Expr, bool]:
        return children[0], False

    def exit_at(self, meta: Meta, children: list[Any]) -> tuple[ast.Expr, bool]:
        return children[0], True

    def exit_share(self, meta: Meta, children: list[Any]) -> tuple[ast.Expr, bool, ast.Expr]:
        """`50% at 2%`: a share of the position, taken at a distance (not a level)."""
        share, value = children
        return value, False, share

    def leg_stmt(self, meta: Meta, children: list[Any]) -> ast.LegDecl:
        market, weight = children
        return ast.LegDecl(market, weight, meta_span(meta))

    def risk_stmt(self, meta: Meta, children: list[Any]) -> ast.RiskDecl:
        return ast.RiskDecl(tuple(c for c in children if c is not None), meta_span(meta))

    def risk_limit(self, meta: Meta, children: list[Token]) -> Token:
        return children[0]

    def risk_item(self, meta: Meta, children: list[Any]) -> ast.RiskLimit:
        name, amount = children
        return ast.RiskLimit(str(name), token_span(name), amount, meta_span(meta))

    def amount(self, meta: Meta, children: list[Any]) -> ast.Amount:
        value = children[0]
        unit = next((c for c in children[1:] if isinstance(c, Token)), None)
        of_equity = any(c is _OF_EQUITY for c in children[1:])
        of_cash = any(c is _OF_CASH for c in children[1:])
        return ast.Amount(
            value,
            str(unit) if unit is not None else None,
            token_span(unit) if unit is not None else None,
            of_equity,
            meta_span(meta),
            of_cash,
        )

    def of_equity(self, meta: Meta, children: list[Any]) -> object:
        return _OF_EQUITY

    def of_cash(self, meta: Meta, children: list[Any]) -> object:
        return _OF_CASH

    # ---- expressions ----------------------------------------------------------------------------
    def number(self, meta: Meta, children: list[Token]) -> ast.Number:
        (token,) = children
        return ast.Number(float(token), str(token), token_span(token))

    def true(self, meta: Meta, children: list[Any]) -> ast.Bool:
        return ast.Bool(True, meta_span(meta))

    def false(self, meta: Meta, children: list[Any]) -> ast.Bool:
        return ast.Bool(False, meta_span(meta))

    def na(self, meta: Meta, children: list[Any]) -> ast.Na:
        return ast.Na(meta_span(meta))

    def na_call(self, meta: Meta, children: list[Any]) -> ast.Call:
        """`na(x)`: the function, spelled like the `na` value."""
        span = meta_span(meta)
        arguments = children[0] or []
        args = tuple(a for a in arguments if not isinstance(a, ast.KeywordArg))
        kwargs = tuple(a for a in arguments if isinstance(a, ast.KeywordArg))
        function_span = Span(span.line, span.col, span.line, span.col + 2)
        return ast.Call("na", function_span, args, kwargs, span)

    def name(self, meta: Meta, children: list[Token]) -> ast.Name:
        (token,) = children
        return ast.Name(str(token), token_span(token))

    def call(self, meta: Meta, children: list[Any]) -> ast.Call:
        function, arguments = children
        arguments = arguments or []
        args = tuple(a for a in arguments if not isinstance(a, ast.KeywordArg))
        kwargs = tuple(a for a in arguments if isinstance(a, ast.KeywordArg))
        return ast.Call(str(function), token_span(function), args, kwargs, meta_span(meta))

    def arguments(self, meta: Meta, children: list[Any]) -> list[Any]:
        return list(children)

    def keyword_argument(self, meta: Meta, children: list[Any]) -> ast.KeywordArg:
        name, value = children
        return ast.KeywordArg(str(name), value, meta_span(meta))

    def negate(self, meta: Meta, children: list[Any]) -> ast.Negate:
        return ast.Negate(children[-1], meta_span(meta))

    def percent(self, meta: Meta, children: list[Any]) -> ast.Percent:
        return ast.Percent(children[0], meta_span(meta))

    def arith(self, meta: Meta, children: list[Any]) -> ast.Arith:
        left, op, right = children
        return ast.Arith(str(op), left, right, meta_span(meta))  # type: ignore[arg-type]

    def compare(self, meta: Meta, children: list[Any]) -> ast.Compare:
        left, op, right = children
        return ast.Compare(str(op), left, right, meta_span(meta))  # type: ignore[arg-type]

    def and_op(self, meta: Meta, children: list[Any]) -> ast.Logic:
        return ast.Logic("and", children[0], children[1], meta_span(meta))

    def or_op(self, meta: Meta, children: list[Any]) -> ast.Logic:
        return ast.Logic("or", children[0], children[1], meta_span(meta))

    def not_op(self, meta: Meta, children: list[Any]) -> ast.Not:
        return ast.Not(children[0], meta_span(meta))

    def if_then_else(self, meta: Meta, children: list[Any]) -> ast.IfThenElse:
        condition, then, otherwise = children
        return ast.IfThenElse(condition, then, otherwise, meta_span(meta))

    def lookback(self, meta: Meta, children: list[Any]) -> ast.Lookback:
        target, offset = children
        return ast.Lookback(target, offset, meta_span(meta))

    def output(self, meta: Meta, children: list[Any]) -> ast.Output:
        target, name = children
        return ast.Output(target, str(name), token_span(name), meta_span(meta))

    def at_context(self, meta: Meta, children: list[Any]) -> ast.AtContext:
        target, qualifier = children
        return ast.AtContext(
            target,
            str(qualifier),
            qualifier.type == "DURATION",
            token_span(qualifier),
            meta_span(meta),
        )


def _is_integer_text(text: str) -> bool:
    return not any(ch in text for ch in ".eE")

"""The YAML surface form of a rule: the same AST as a `.rule` file, from a YAML mapping.

    strategy: momentum
    market: ETH
    timeframe: 15m
    params:
      fast: 12 in 5..20 step 1
    let:
      trend: ema(close, fast) - ema(close, 50)
    entry:
      long: crossover(trend, 0)
    size: 2% of equity
    stop_loss: 2 * atr(14)
    risk:
      max_drawdown: 10%

Every value is parsed with one of the grammar's start rules, from the exact text it has in the
YAML file, padded to its place there, so an error points at its line and column in the YAML file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml

from rulebot.lang import ast
from rulebot.lang.diagnostics import Diagnostic, Source, Span
from rulebot.lang.parse import StartRule, parse_fragment
from rulebot.lang.suggest import did_you_mean
from rulebot.lang.yaml_source import compose, kind_name, node_span

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SIDES = ("long", "short")
_SIDE_WORDS = {"buy": "long", "sell": "short"}
PROTECTIONS = ("stop_loss", "take_profit", "trailing_stop")
RISK_LIMITS = (
    "max_position",
    "max_daily_loss",
    "max_drawdown",
    "cooldown",
    "max_open_orders",
    "max_leverage",
    "max_order_notional",
)
TOP_KEYS = (
    "strategy",
    "market",
    "markets",
    "timeframe",
    "enabled",
    "params",
    "let",
    "entry",
    "exit",
    "size",
    *PROTECTIONS,
    "legs",
    "risk",
)


def parse_yaml_rule(
    source: Source,
) -> tuple[ast.RuleFile | None, list[Diagnostic], frozenset[str]]:
    """The AST of a YAML rule file, the diagnostics found reading it, and the names of
    definitions that could not be read (so their uses are not reported again)."""
    root, diagnostics = compose(source)
    if diagnostics:
        return None, diagnostics, frozenset()
    reader = _Reader(source)
    if root is None:
        reader.error("E107", "the file is empty", Span.point(1, 1), "start with `strategy: NAME`")
        return None, reader.diagnostics, frozenset()
    if not isinstance(root, yaml.MappingNode):
        reader.error(
            "E107",
            f"a YAML rule is a mapping of `key: value` lines, found {kind_name(root)}",
            node_span(root),
        )
        return None, reader.diagnostics, frozenset()
    statements = reader.rule(root)
    return (
        ast.RuleFile(tuple(statements), form="yaml"),
        reader.diagnostics,
        frozenset(reader.skipped),
    )


class _Reader:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.diagnostics: list[Diagnostic] = []
        self.skipped: set[str] = set()

    def rule(self, root: yaml.MappingNode) -> list[ast.Statement]:
        handlers: dict[str, Callable[[yaml.ScalarNode, yaml.Node], list[ast.Statement]]] = {
            "strategy": self._strategy,
            "market": self._markets,
            "markets": self._markets,
            "timeframe": self._timeframe,
            "enabled": self._enabled,
            "params": self._params,
            "let": self._lets,
            "entry": self._signals,
            "exit": self._signals,
            "size": self._size,
            "legs": self._legs,
            "risk": self._risk,
            **{kind: self._protection for kind in PROTECTIONS},
        }
        statements: list[ast.Statement] = []
        for key, value in self._items(root, TOP_KEYS, "a rule"):
            reported = len(self.diagnostics)
            statements += handlers[key.value](key, value)
            if len(self.diagnostics) > reported:
                self.skipped.add(key.value)  # partly unread: the checker does not call it missing
        return statements

    # ---- sections ------------------------------------------------------------------------------
    def _strategy(self, key: yaml.ScalarNode, value: yaml.Node) -> list[ast.Statement]:
        name = self._identifier(value, "the strategy name")
        if name is None:
            return []
        return [ast.StrategyDecl(name, node_span(value), _span(key, value))]

    def _markets(self, key: yaml.ScalarNode, value: yaml.Node) -> list[ast.Statement]:
        items = value.value if isinstance(value, yaml.SequenceNode) else [value]
        refs = []
        for item in items:
            if not isinstance(item, yaml.ScalarNode) or not item.value:
                self.error(
                    "E107",
                    f"a market is a symbol such as ETH, found {kind_name(item)}",
                    node_span(item),
                )
                continue
            for symbol in (s.strip() for s in str(item.value).split(",")):
                refs.append(ast.MarketRef(symbol, node_span(item)))
        return [ast.MarketDecl(tuple(refs), _span(key, value))] if refs else []

    def _timeframe(self, key: yaml.ScalarNode, value: yaml.Node) -> list[ast.Statement]:
        text = self._scalar(value, "the timeframe")
        return [ast.TimeframeDecl(text.strip(), node_span(value))] if text is not None else []

    def _enabled(self, key: yaml.ScalarNode, value: yaml.Node) -> list[ast.Statement]:
        if isinstance(value, yaml.ScalarNode) and value.tag.endswith(":bool"):
            enabled = yaml.safe_load(value.value) if value.style is None else None
            if isinstance(enabled, bool):
                return [ast.EnabledDecl(enabled, _span(key, value))]
        self.error(
            "E107", f"`enabled` is true or false, found {kind_name(value)}", node_span(value)
        )
        return []

    def _params(self, key: yaml.ScalarNode, value: yaml.Node) -> list[ast.Statement]:
        statements: list[ast.Statement] = []
        for name_node, spec_node in self._named(value, "params"):
            parsed = self._fragment(spec_node, "param_spec", "a param")
            if parsed is None:
                self.skipped.add(name_node.value)
                continue
            default, domain = parsed
            statements.append(
                ast.ParamDecl(
                    name_node.value,
                    node_span(name_node),
                    default,
                    domain,
                    _span(name_node, spec_node),
                )
            )
        return statements

    def _lets(self, key: yaml.ScalarNode, value: yaml.Node) -> list[ast.Statement]:
        statements: list[ast.Statement] = []
        for name_node, expr_node in self._named(value, "let"):
            expr = self._fragment(expr_node, "expr", f"`{name_node.value}`")
            if expr is None:
                self.skipped.add(name_node.value)
                continue
            statements.append(
                ast.LetDecl(
                    name_node.value, node_span(name_node), expr, _span(name_node, expr_node)
                )
            )
        return statements

    def _signals(self, key: yaml.ScalarNode, value: yaml.Node) -> list[ast.Statement]:
        statements: list[ast.Statement] = []
        for side, condition_node in self._items(value, SIDES, f"`{key.value}`"):
            expr = self._fragment(condition_node, "expr", f"`{key.value}.{side.value}`")
            if expr is not None:
                statements.append(
                    ast.SignalDecl(key.value, side.value, expr, _span(side, condition_node))  # type: ignore[arg-type]
                )
        return statements

    def _size(self, key: yaml.ScalarNode, value: yaml.Node) -> list[ast.Statement]:
        size = self._fragment(value, "size_spec", "the size", key.value)
        return [size] if size is not None else []

    def _protection(self, key: yaml.ScalarNode, value: yaml.Node) -> list[ast.Statement]:
        parsed = self._fragment(value, "exit_level", f"`{key.value}`", key.value)
        if parsed is None:
            return []
        expr, at_level, *share = parsed
        return [
            ast.ProtectDecl(
                key.value,  # type: ignore[arg-type]
                expr,
                at_level,
                _span(key, value),
                share=share[0] if share else None,
            )
        ]

    def _legs(self, key: yaml.ScalarNode, value: yaml.Node) -> list[ast.Statement]:
        statements: list[ast.Statement] = []
        for market, weight_node in self._named(value, "legs"):
            weight = self._fragment(weight_node, "expr", f"the weight of `{market.value}`")
            if weight is not None:
                statements.append(
                    ast.LegDecl(
                        ast.MarketRef(market.value, node_span(market)),
                        weight,
                        _span(market, weight_node),
                    )
                )
        return statements

    def _risk(self, key: yaml.ScalarNode, value: yaml.Node) -> list[ast.Statement]:
        limits = []
        for name, amount_node in self._items(value, RISK_LIMITS, "`risk`"):
            amount = self._fragment(amount_node, "amount", f"`{name.value}`", name.value)
            if amount is not None:
                limits.append(
                    ast.RiskLimit(name.value, node_span(name), amount, _span(name, amount_node))
                )
        return [ast.RiskDecl(tuple(limits), _span(key, value))] if limits else []

    # ---- reading values ------------------------------------------------------------------------
    def _items(
        self, node: yaml.Node, allowed: tuple[str, ...], where: str
    ) -> list[tuple[yaml.ScalarNode, yaml.Node]]:
        """The entries of a mapping whose keys are from `allowed`; others are reported."""
        if not isinstance(node, yaml.MappingNode):
            self.error(
                "E107",
                f"{where} is a mapping of `key: value` lines, found {kind_name(node)}",
                node_span(node),
                "write its keys on indented lines below it: " + ", ".join(allowed),
            )
            return []
        result = []
        seen: dict[str, yaml.ScalarNode] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.value not in allowed:
                shown = key.value if isinstance(key, yaml.ScalarNode) else kind_name(key)
                guess = did_you_mean(str(shown), allowed)
                if guess is None and _SIDE_WORDS.get(str(shown)) in allowed:
                    guess = _SIDE_WORDS[str(shown)]
                if guess is not None:
                    self.skipped.add(guess)
                self.error(
                    "E107",
                    f"unknown key `{shown}` in {where}",
                    node_span(key),
                    f"did you mean `{guess}`?" if guess else "keys: " + ", ".join(allowed),
                )
                continue
            if key.value in seen:
                self.error(
                    "E207",
                    f"`{key.value}` is set more than once",
                    node_span(key),
                    f"the first is on line {seen[key.value].start_mark.line + 1}",
                )
                continue
            seen[key.value] = key
            result.append((key, value))
        return result

    def _named(self, node: yaml.Node, where: str) -> list[tuple[yaml.ScalarNode, yaml.Node]]:
        """The entries of a mapping keyed by names the author chooses (params, lets, legs)."""
        if not isinstance(node, yaml.MappingNode):
            listed = isinstance(node, yaml.SequenceNode)
            for item in node.value if listed else []:
                if isinstance(item, yaml.MappingNode):
                    self.skipped.update(str(k.value) for k, _ in item.value)
            self.error(
                "E107",
                f"`{where}` is a mapping of `name: value` lines, found {kind_name(node)}",
                node_span(node),
                "write each `name: value` on its own line, without `- `" if listed else None,
            )
            return []
        result = []
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or not _IDENTIFIER.match(str(key.value)):
                self.error(
                    "E107",
                    f"`{getattr(key, 'value', '?')}` is not a name",
                    node_span(key),
                    "names are letters, digits and `_`, starting with a letter",
                )
                continue
            result.append((key, value))
        return result

    def _identifier(self, node: yaml.Node, what: str) -> str | None:
        text = self._scalar(node, what)
        if text is None:
            return None
        if not _IDENTIFIER.match(text):
            self.error(
                "E107",
                f"{what} must be a name, found `{text}`",
                node_span(node),
                "letters, digits and `_`, starting with a letter",
            )
            return None
        return text

    def _scalar(self, node: yaml.Node, what: str) -> str | None:
        if isinstance(node, yaml.ScalarNode) and str(node.value).strip():
            return str(node.value)
        self.error("E107", f"{what} is missing a value, found {kind_name(node)}", node_span(node))
        return None

    def _fragment(
        self, node: yaml.Node, start: StartRule, what: str, keyword: str | None = None
    ) -> Any:
        """Parse a YAML scalar with a grammar start rule, positioned where it is in the file."""
        if self._scalar(node, what) is None:
            return None
        assert isinstance(node, yaml.ScalarNode)
        padded = _padded_text(self.source.text, node)
        parsed, diagnostics = parse_fragment(padded, start, keyword)
        self.diagnostics += diagnostics
        return parsed

    def error(self, code: str, message: str, span: Span, help: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code, message, span, help=help))


def _padded_text(text: str, node: yaml.ScalarNode) -> str:
    """The scalar's own text from the file, preceded by blank space up to its position, so the
    parser reports positions in the YAML file. Quotes and block indicators become spaces."""
    start, end = node.start_mark, node.end_mark
    raw = text[start.index : end.index]
    if node.style in ("|", ">"):
        newline = raw.find("\n")
        raw = (
            " " * (newline if newline >= 0 else len(raw))
            + raw[newline if newline >= 0 else len(raw) :]
        )
    elif node.style in ('"', "'") and len(raw) >= 2:
        inner = raw[1:-1]
        if " ".join(inner.split()) != " ".join(str(node.value).split()):
            inner = str(node.value)  # escapes: positions are approximate, the value is exact
        raw = " " + inner + " "
    return "\n" * start.line + " " * start.column + raw


def _span(first: yaml.Node, last: yaml.Node) -> Span:
    return node_span(first).to(node_span(last))

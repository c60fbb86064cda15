"""The rule language's syntax tree: what the author wrote, each node with its source span.

Both surface forms (native `.rule` text and YAML) build these nodes; the checker reads them and
nothing else. Nodes are plain frozen dataclasses with no behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rulebot.lang.diagnostics import Span

# ---- expressions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Number:
    value: float
    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class Bool:
    value: bool
    span: Span


@dataclass(frozen=True, slots=True)
class Na:
    span: Span


@dataclass(frozen=True, slots=True)
class Name:
    id: str
    span: Span


@dataclass(frozen=True, slots=True)
class KeywordArg:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Call:
    function: str
    function_span: Span
    args: tuple[Expr, ...]
    kwargs: tuple[KeywordArg, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Negate:
    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Percent:
    """`x%`: the value x read as a percentage."""

    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Arith:
    op: Literal["+", "-", "*", "/"]
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Compare:
    op: Literal["<", "<=", ">", ">=", "==", "!="]
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Logic:
    op: Literal["and", "or"]
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class IfThenElse:
    condition: Expr
    then: Expr
    otherwise: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Lookback:
    """`x[n]`: the value of x n bars ago."""

    target: Expr
    offset: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Output:
    """`f(...).name`: one output of a multi-output indicator."""

    target: Expr
    name: str
    name_span: Span
    span: Span


@dataclass(frozen=True, slots=True)
class AtContext:
    """`x@BTC` or `x@1h`: x computed on another market's or a higher timeframe's bars."""

    target: Expr
    qualifier: str
    is_timeframe: bool
    qualifier_span: Span
    span: Span


Expr = (
    Number
    | Bool
    | Na
    | Name
    | Call
    | Negate
    | Percent
    | Arith
    | Compare
    | Logic
    | Not
    | IfThenElse
    | Lookback
    | Output
    | AtContext
)

# ---- statements --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal_:
    """A constant in a `param` declaration: a number (maybe negative, maybe %) or a boolean."""

    value: float | bool
    is_percent: bool
    is_integer: bool
    span: Span


@dataclass(frozen=True, slots=True)
class ParamRange:
    low: Literal_
    high: Literal_
    step: Literal_ | None
    span: Span


@dataclass(frozen=True, slots=True)
class ParamChoices:
    choices: tuple[Literal_, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Amount:
    """An expression with an optional unit: `0.5 ETH`, `500 USDC`, `5 bars`, `2% of equity`,
    `100% of cash`."""

    value: Expr
    unit: str | None
    unit_span: Span | None
    of_equity: bool
    span: Span
    of_cash: bool = False


@dataclass(frozen=True, slots=True)
class StrategyDecl:
    name: str
    name_span: Span
    span: Span


@dataclass(frozen=True, slots=True)
class MarketRef:
    symbol: str
    span: Span


@dataclass(frozen=True, slots=True)
class MarketDecl:
    markets: tuple[MarketRef, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class TimeframeDecl:
    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class EnabledDecl:
    enabled: bool
    span: Span


@dataclass(frozen=True, slots=True)
class ParamDecl:
    name: str
    name_span: Span
    default: Literal_
    domain: ParamRange | ParamChoices | None
    span: Span


@dataclass(frozen=True, slots=True)
class LetDecl:
    name: str
    name_span: Span
    value: Expr
    span: Span


Side = Literal["long", "short"]


@dataclass(frozen=True, slots=True)
class Lifetime:
    """`for N bars` on a resting entry: `unit` is the word after N (`bars` when right)."""

    bars: Expr
    unit: str
    unit_span: Span
    span: Span


@dataclass(frozen=True, slots=True)
class EntryOrderDecl:
    """`limit at EXPR [post_only] [for N bars]` in an entry: `kind` as written (`limit`,
    `stop`, or a mistake the checker names)."""

    kind: str
    kind_span: Span
    level: Expr
    post_only: Span | None
    lifetime: Lifetime | None
    span: Span


@dataclass(frozen=True, slots=True)
class SignalDecl:
    """`entry long when ...` or `exit short when ...`; an entry may rest at a price
    (`entry long limit at ... when ...`), an exit may close a share (`exit long 50% when ...`)."""

    kind: Literal["entry", "exit"]
    side: Side
    condition: Expr
    span: Span
    order: EntryOrderDecl | None = None
    share: Expr | None = None


@dataclass(frozen=True, slots=True)
class SizeDecl:
    """`size AMOUNT`, or `size risk AMOUNT` (risk that much between entry and stop)."""

    risk_based: bool
    amount: Amount
    span: Span


@dataclass(frozen=True, slots=True)
class ProtectDecl:
    """`stop_loss`, `take_profit` or `trailing_stop`: a distance from entry, or `at` a level."""

    kind: Literal["stop_loss", "take_profit", "trailing_stop"]
    value: Expr
    at_level: bool
    span: Span
    share: Expr | None = None
    """`take_profit 50% at 2%`: the share of the position it takes (the value is a distance)."""


@dataclass(frozen=True, slots=True)
class PyramidingDecl:
    """`pyramiding N`: up to N entries stacked in one direction."""

    count: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class LegDecl:
    market: MarketRef
    weight: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class RiskLimit:
    name: str
    name_span: Span
    amount: Amount
    span: Span


@dataclass(frozen=True, slots=True)
class RiskDecl:
    limits: tuple[RiskLimit, ...]
    span: Span


Statement = (
    StrategyDecl
    | MarketDecl
    | TimeframeDecl
    | EnabledDecl
    | ParamDecl
    | LetDecl
    | SignalDecl
    | SizeDecl
    | ProtectDecl
    | PyramidingDecl
    | LegDecl
    | RiskDecl
)


@dataclass(frozen=True, slots=True)
class RuleFile:
    statements: tuple[Statement, ...]
    form: Literal["rule", "yaml"]

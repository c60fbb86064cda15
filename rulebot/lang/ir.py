"""The typed IR: a checked strategy, ready for the graph planner.

Every expression node knows its value type (number or bool), its unit (plain, percent, bars),
whether it is constant (depends on literals and params only), and its warm-up: how many bars of
history it needs before its first meaningful value, at the params' default values. Percentages
are stored as fractions (`3%` is 0.03). Names are resolved: a node says which registry function,
which column of which market and timeframe, which param or let it reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from rulebot.lang.diagnostics import Source, Span

ValueType = Literal["number", "bool"]
Unit = Literal["none", "percent", "bars"]
StateName = Literal["bars_in_trade", "entry_price", "position"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Info:
    """What the checker knows about every node."""

    type: ValueType
    unit: Unit = "none"
    constant: bool = False
    warmup: int = 0
    span: Span


@dataclass(frozen=True, slots=True)
class Const:
    value: float | bool | None  # None is `na`
    info: Info


@dataclass(frozen=True, slots=True)
class ParamRef:
    name: str
    info: Info


@dataclass(frozen=True, slots=True)
class Column:
    """A bar column (`open`, `high`, `low`, `close`, `volume`) of a market at a timeframe, or a
    perpetual's own series (`funding`, `mark`, `open_interest`) held on those bars."""

    field: str
    market: str
    timeframe: str
    info: Info


@dataclass(frozen=True, slots=True)
class StateRef:
    """The strategy's own position state: `bars_in_trade`, `entry_price`, `position`."""

    name: StateName
    info: Info


@dataclass(frozen=True, slots=True)
class LetRef:
    name: str
    info: Info


@dataclass(frozen=True, slots=True)
class SelfRef:
    """A recurrence: a `let` reading its own value `bars` bars ago (na before its first value)."""

    name: str
    bars: int
    info: Info


@dataclass(frozen=True, slots=True)
class Call:
    """A registry function. `params` are constant nodes by TA-Lib parameter name."""

    function: str
    inputs: tuple[Node, ...]
    params: tuple[tuple[str, Node], ...]
    output: str | None
    info: Info


@dataclass(frozen=True, slots=True)
class Unary:
    op: Literal["neg", "not"]
    operand: Node
    info: Info


@dataclass(frozen=True, slots=True)
class Binary:
    op: Literal["+", "-", "*", "/", "<", "<=", ">", ">=", "==", "!=", "and", "or"]
    left: Node
    right: Node
    info: Info


@dataclass(frozen=True, slots=True)
class Choose:
    """`if condition then a else b`."""

    condition: Node
    then: Node
    otherwise: Node
    info: Info


@dataclass(frozen=True, slots=True)
class Lag:
    """`x[n]`: n is a constant whole number of bars, never negative."""

    target: Node
    bars: Node
    info: Info


@dataclass(frozen=True, slots=True)
class OnBars:
    """`x@BTC` / `x@1h`: x computed on those bars; the last closed value, held between them."""

    target: Node
    market: str
    timeframe: str
    info: Info


Node = (
    Const
    | ParamRef
    | Column
    | StateRef
    | LetRef
    | SelfRef
    | Call
    | Unary
    | Binary
    | Choose
    | Lag
    | OnBars
)


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of a node, in evaluation order."""
    match node:
        case Call():
            return (*node.inputs, *(value for _, value in node.params))
        case Unary():
            return (node.operand,)
        case Binary():
            return (node.left, node.right)
        case Choose():
            return (node.condition, node.then, node.otherwise)
        case Lag():
            return (node.target, node.bars)
        case OnBars():
            return (node.target,)
    return ()


# ---- the strategy -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: Literal["int", "float", "bool"]
    default: float | bool
    unit: Unit
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[float | bool, ...] | None = None
    span: Span | None = None

    def search_values(self) -> tuple[float | bool, ...]:
        """The values a parameter search visits (the default alone when none is declared)."""
        if self.choices is not None:
            return self.choices
        if self.low is None or self.high is None:
            return (True, False) if self.kind == "bool" else (self.default,)
        step = (
            self.step if self.step else (1 if self.kind == "int" else (self.high - self.low) / 10)
        )
        count = round((self.high - self.low) / step) + 1 if step > 0 else 1
        values = [
            self.low + i * step for i in range(count) if self.low + i * step <= self.high + 1e-12
        ]
        return tuple(round(v) if self.kind == "int" else round(v, 12) for v in values)

    def taking(self, values: tuple[float | bool, ...]) -> Param:
        """This param limited to `values` (an override), checked as if the rule declared them:
        a fraction given to a whole-number param makes it a fractional one, so the checker
        reports every place that needs a whole number instead of the value being truncated."""
        kind = self.kind
        if kind != "bool":
            whole = all(float(v).is_integer() for v in values)
            kind = "int" if kind == "int" and whole else "float"
            values = tuple(int(v) if kind == "int" else float(v) for v in values)
        default = self.default if len(values) > 1 and self.default in values else values[0]
        return replace(
            self, kind=kind, default=default, low=None, high=None, step=None, choices=values
        )


@dataclass(frozen=True, slots=True)
class Let:
    name: str
    value: Node
    recurrent: bool
    span: Span


@dataclass(frozen=True, slots=True)
class Sizing:
    """How much to trade. `equity` and `risk_equity` values are fractions of equity; `cash`
    values are fractions of the cash available at the fill, net of the fee."""

    mode: Literal["equity", "base", "quote", "risk_equity", "risk_quote", "cash"]
    value: Node
    span: Span


@dataclass(frozen=True, slots=True)
class Protection:
    """A stop loss, take profit or trailing stop: a fraction of entry price, a price distance,
    or a price level."""

    kind: Literal["stop_loss", "take_profit", "trailing_stop"]
    mode: Literal["percent", "distance", "level"]
    value: Node
    span: Span


@dataclass(frozen=True, slots=True)
class EntryOrder:
    """An entry that rests at a price instead of going at market on the close.

    `limit` buys at or below the level (sells at or above it, for a short): fades and maker
    entries. `stop` buys once price trades at or above the level (sells at or below it): breakouts.
    The level is re-read at every close while the order lives; a true entry signal (re)starts its
    lifetime of `bars` closes (1: until the next close). `post_only` orders never take liquidity:
    one that would cross on arrival is refused. `level` and `bars` are graph outputs
    `entry_level.<side>` and `entry_bars.<side>` (`bars` is constant)."""

    kind: Literal["limit", "stop"]
    level: Node
    bars: Node
    post_only: bool
    span: Span


@dataclass(frozen=True, slots=True)
class PartialTake:
    """`take_profit 50% at 2%`: take `share` (a constant fraction, graph output `take_share.<i>`)
    of the position at a percentage or price distance from the average entry price (graph
    output `take.<i>`)."""

    share: Node
    mode: Literal["percent", "distance"]
    value: Node
    span: Span


@dataclass(frozen=True, slots=True)
class Leg:
    market: str
    weight: Node
    span: Span


@dataclass(frozen=True, slots=True)
class Limit:
    """One risk limit. `mode` says how to read `value`: a fraction of equity (`percent`), a base
    amount, a quote amount, a number of bars, or a count."""

    name: str
    mode: Literal["percent", "base", "quote", "bars", "count", "ratio"]
    value: float
    span: Span
    unit: str | None = None
    """For a `base` limit, the market whose units it counts (`max_position 0.5 ETH`)."""


@dataclass(frozen=True, slots=True)
class Strategy:
    name: str
    path: str
    markets: tuple[str, ...]
    timeframe: str
    timeframe_seconds: int
    enabled: bool
    params: dict[str, Param]
    lets: dict[str, Let]
    """In dependency order: every let comes after the lets it reads."""
    entries: dict[str, Node]
    exits: dict[str, Node]
    sizing: Sizing
    protections: dict[str, Protection]
    legs: tuple[Leg, ...]
    limits: dict[str, Limit]
    warmup_bars: int
    feeds: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    """Every (market, timeframe) of bars the strategy reads."""
    perp_reads: tuple[tuple[str, str, Span], ...] = ()
    """Every read of a perpetual's own series (`funding`, `mark`, `open_interest`): market,
    series and where the rule reads it, so missing data is reported at the rule's text."""
    source: Source | None = field(default=None, repr=False, compare=False)
    """The rule text it was compiled from: param overrides are checked against it."""
    entry_orders: dict[str, EntryOrder] = field(default_factory=dict)
    """By side (`long`, `short`): the entries that rest at a price; a side not here enters at
    market."""
    pyramiding: int = 1
    """How many entries may stack in one direction (`pyramiding N`)."""
    exit_shares: dict[str, Node] = field(default_factory=dict)
    """By side: the constant share of the position an exit signal closes (`exit long 50% when`,
    graph output `exit_share.<side>`); a side not here closes it all."""
    partial_takes: tuple[PartialTake, ...] = ()
    """Take-profits that each take a share, in the order written (`take_profit 50% at 2%`);
    a rule with these has no `take_profit` in `protections`."""

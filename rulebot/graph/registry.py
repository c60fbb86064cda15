"""The one table of functions a rule may call: every TA-Lib function, plus rulebot's own.

The checker reads it to resolve names, arity, argument kinds and warm-up; the evaluators read it
to compute. TA-Lib entries are generated from TA-Lib's own metadata (inputs, parameters with their
real names and defaults, outputs), so the language tracks the installed TA-Lib exactly.

Calling convention, for a trader:
- A function over one or more arbitrary series takes them first: `sma(close, 20)`, `beta(close,
  close@BTC, 5)`.
- A function over the bar's own prices (high/low/close, ...) reads them implicitly: `atr(14)`,
  `stoch()`, `cdldoji()`; they may also be passed explicitly:
  `atr(high@BTC, low@BTC, close@BTC, 14)`.
- Parameters follow, by position or by TA-Lib's name: `bbands(close, 20, nbdevup=2.5)`.
- A multi-output function is read by output name: `bbands(close).upper`, `macd(close).signal`;
  TA-Lib's full names work too (`.upperband`, `.macdsignal`).

Two TA-Lib names mean something else in rules: `max`/`min` are the larger/smaller of their
arguments at each bar, as traders expect; TA-Lib's rolling MAX/MIN are `highest`/`lowest`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

import talib
from talib import abstract

from rulebot.graph.bar_time import TIME_COLUMNS

ValueType = Literal["number", "bool"]
ParamUnit = Literal["bars", "number", "matype"]

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
BAR_SERIES = (*PRICE_COLUMNS, *TIME_COLUMNS)
"""Every built-in series of a bar: its prices and volume, and the time of day of its open."""
PERP_SERIES = ("funding", "mark", "open_interest")
"""A perpetual's own data, read like a bar column: `funding` is the rate of the current funding
interval (a fraction per interval), `mark` the mark price, `open_interest` the open interest.
They come from funding files and mark-price data in backtests, from market stats live."""

# TA-Lib functions that rules call by another name, and why: see the module docstring.
RENAMED_TALIB = {"MAX": "highest", "MIN": "lowest"}


@dataclass(frozen=True, slots=True)
class InputSpec:
    """One series input. `column` is the bar column it reads when not passed explicitly."""

    name: str
    column: str | None = None


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One constant parameter, with TA-Lib's name and default."""

    name: str
    kind: Literal["int", "float"]
    default: float
    unit: ParamUnit = "number"


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    name: str
    group: str
    summary: str
    inputs: tuple[InputSpec, ...]
    params: tuple[ParamSpec, ...] = ()
    outputs: tuple[str, ...] = ("real",)
    result: ValueType = "number"
    talib_name: str | None = None
    variadic: bool = False
    required_inputs: int | None = None
    """How many leading inputs must be given (None: all of them)."""
    input_type: ValueType = "number"
    own_lookback: Callable[[Mapping[str, float]], int] | None = None
    output_aliases: Mapping[str, str] = field(default_factory=dict)

    @property
    def implicit_inputs(self) -> bool:
        """True if the inputs are the bar's own price columns and may be left out."""
        return bool(self.inputs) and all(i.column is not None for i in self.inputs)

    @property
    def streaming(self) -> bool:
        """True if the streaming evaluator (live trading) can compute it bar by bar. rulebot's
        own functions are built from primitives it always can."""
        if self.talib_name is None:
            return True
        from rulebot.graph.incremental import STREAMING  # imported late: it reads this table

        return self.talib_name in STREAMING

    @property
    def multi_output(self) -> bool:
        return len(self.outputs) > 1

    def resolve_output(self, name: str) -> str | None:
        """The output called `name` (its TA-Lib name or its short alias), if there is one."""
        if name in self.outputs:
            return name
        return self.output_aliases.get(name)

    def output_names(self) -> list[str]:
        """The names a trader writes: the short alias where there is one."""
        short = {full: alias for alias, full in self.output_aliases.items()}
        return [short.get(o, o) for o in self.outputs]

    def lookback(self, params: Mapping[str, float]) -> int:
        """Bars of input consumed before the first output; -1 if the parameters are invalid."""
        if self.talib_name is not None:
            values = tuple((p.name, params.get(p.name, p.default)) for p in self.params)
            return _talib_lookback(self.talib_name, self.params, values)
        if self.own_lookback is not None:
            return self.own_lookback(params)
        return 0


@cache
def _talib_lookback(
    talib_name: str, specs: tuple[ParamSpec, ...], values: tuple[tuple[str, float], ...]
) -> int:
    function = abstract.Function(talib_name)
    typed: dict[str, float] = {}
    for spec, (_, value) in zip(specs, values, strict=True):
        if spec.kind == "int" and float(value) != int(value):
            return -1
        typed[spec.name] = int(value) if spec.kind == "int" else float(value)
    try:
        function.set_parameters(**typed)
        return int(function.lookback)
    except Exception:  # TA-Lib rejects out-of-range values in several ways; all mean invalid
        return -1


def _param_unit(name: str) -> ParamUnit:
    if name.endswith("matype"):
        return "matype"
    if "period" in name or name in {"leftbars", "rightbars"}:
        return "bars"
    return "number"


_OUTPUT_PREFIXES = ("macd", "smi", "aroon", "slow", "fast", "swing", "ha")
_OUTPUT_SUFFIXES = ("band", "idx", "power", "vi")


def _aliases(outputs: list[str]) -> dict[str, str]:
    """Short names for multi-output functions: `upperband` → `upper`, `macdsignal` → `signal`."""
    if len(outputs) < 2:
        return {}
    aliases: dict[str, str] = {}
    for output in outputs:
        short = output
        for prefix in _OUTPUT_PREFIXES:
            if short.startswith(prefix) and len(short) > len(prefix):
                short = short[len(prefix) :]
        for suffix in _OUTPUT_SUFFIXES:
            if short.endswith(suffix) and len(short) > len(suffix):
                short = short[: -len(suffix)]
        if short != output and short not in outputs:
            aliases[short] = output
    return aliases


def _from_talib(talib_name: str) -> FunctionSpec:
    info = abstract.Function(talib_name).info
    inputs: list[InputSpec] = []
    for key, value in info["input_names"].items():
        if isinstance(value, list | tuple):
            inputs.extend(InputSpec(column, column) for column in value)
        else:
            inputs.append(InputSpec(key if key != "price" else "real"))
    params = tuple(
        ParamSpec(
            name,
            "int" if isinstance(default, int) else "float",
            default,
            _param_unit(name),
        )
        for name, default in info["parameters"].items()
    )
    outputs = list(info["output_names"])
    candle = "Output is a candlestick" in info.get("function_flags", [])
    return FunctionSpec(
        name=RENAMED_TALIB.get(talib_name, talib_name.lower()),
        group=info["group"],
        summary=info["display_name"] + (" (+100 bullish, -100 bearish, 0 none)" if candle else ""),
        inputs=tuple(inputs),
        params=params,
        outputs=tuple(outputs),
        talib_name=talib_name,
        output_aliases=_aliases(outputs),
    )


def _param(params: Mapping[str, float], name: str, default: float) -> int:
    return int(params.get(name, default))


def _builtins() -> list[FunctionSpec]:
    series = (InputSpec("a"), InputSpec("b"))
    length = ParamSpec("length", "int", 1, "bars")
    return [
        FunctionSpec(
            "crossover",
            "rulebot",
            "True on the bar where a crosses above b",
            series,
            result="bool",
            own_lookback=lambda p: 1,
        ),
        FunctionSpec(
            "crossunder",
            "rulebot",
            "True on the bar where a crosses below b",
            series,
            result="bool",
            own_lookback=lambda p: 1,
        ),
        FunctionSpec(
            "change",
            "rulebot",
            "x minus its value `length` bars ago",
            (InputSpec("x"),),
            (length,),
            own_lookback=lambda p: _param(p, "length", 1) if _param(p, "length", 1) >= 1 else -1,
        ),
        FunctionSpec(
            "zscore",
            "rulebot",
            "How many standard deviations x is from its `length`-bar mean",
            (InputSpec("x"),),
            (ParamSpec("length", "int", 20, "bars"),),
            own_lookback=lambda p: (
                _param(p, "length", 20) - 1 if _param(p, "length", 20) >= 2 else -1
            ),
        ),
        FunctionSpec(
            "nz",
            "rulebot",
            "x, or `replacement` (default 0) where x is na",
            (InputSpec("x"), InputSpec("replacement")),
            required_inputs=1,
        ),
        FunctionSpec("na", "rulebot", "True where x is na", (InputSpec("x"),), result="bool"),
        FunctionSpec("abs", "rulebot", "The absolute value of x", (InputSpec("x"),)),
        FunctionSpec(
            "max",
            "rulebot",
            "The largest of its arguments at each bar",
            series,
            variadic=True,
        ),
        FunctionSpec(
            "min",
            "rulebot",
            "The smallest of its arguments at each bar",
            series,
            variadic=True,
        ),
    ]


@cache
def registry() -> Mapping[str, FunctionSpec]:
    """Every callable function by the name a rule uses."""
    table: dict[str, FunctionSpec] = {}
    for talib_name in sorted(talib.get_functions()):
        spec = _from_talib(talib_name)
        table[spec.name] = spec
    for spec in _builtins():
        table[spec.name] = spec
    return table


def live_problem(spec: FunctionSpec, params: Mapping[str, float]) -> str | None:
    """Why the streaming evaluator cannot compute `spec` with these settings, or None."""
    if spec.talib_name is None:
        return None
    return _live_problem(spec.name, spec.talib_name, tuple(sorted(params.items())))


@cache
def _live_problem(name: str, talib_name: str, params: tuple[tuple[str, float], ...]) -> str | None:
    from rulebot.graph.incremental import STREAMING, Unsupported  # it reads this table

    factory = STREAMING.get(talib_name)
    if factory is None:
        return f"`{name}` has no streaming version yet"
    try:
        factory(dict(params))
    except Unsupported as reason:
        return f"`{name}` with these settings has no streaming version ({reason})"
    return None


def by_talib_name(talib_name: str) -> FunctionSpec:
    """The registry entry computed by a TA-Lib function."""
    return registry()[RENAMED_TALIB.get(talib_name, talib_name.lower())]

"""The search space: each param's values, from the rule's `param ... in a..b step s` ranges and
the user's `--set name=...` overrides.

Every dimension is a finite, ordered tuple of values of the param's kind (int, float or bool), so
a grid, a random sample and an optuna study all visit values the rule itself could declare, and a
trial's params can be passed to `rulebot.backtest` unchanged.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from rulebot.lang import ir
from rulebot.lang.overrides import OverrideError, check_overrides

ParamValue = float | bool
Params = dict[str, ParamValue]


class SpaceError(ValueError):
    """A `--set` override that cannot be read or does not fit the param."""


@dataclass(frozen=True, slots=True)
class Dimension:
    """One param and the values the search visits, in ascending order."""

    name: str
    kind: str
    values: tuple[ParamValue, ...]

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True, slots=True)
class SearchSpace:
    """The params searched over; params with a single value are held fixed."""

    dimensions: tuple[Dimension, ...]

    @property
    def size(self) -> int:
        """How many combinations the grid holds."""
        return math.prod(len(d) for d in self.dimensions)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dimensions)

    @property
    def varied(self) -> tuple[Dimension, ...]:
        """The dimensions with more than one value (a heatmap needs exactly two)."""
        return tuple(d for d in self.dimensions if len(d) > 1)

    def grid(self) -> Iterator[Params]:
        """Every combination. The first dimension varies slowest, so trials that share its
        value (and the columns it alone decides) run one after another."""
        for combination in itertools.product(*(d.values for d in self.dimensions)):
            yield dict(zip(self.names, combination, strict=True))

    def at(self, index: int) -> Params:
        """The grid's combination number `index` (the order of `grid()`)."""
        chosen: Params = {}
        for dimension in reversed(self.dimensions):
            index, position = divmod(index, len(dimension))
            chosen[dimension.name] = dimension.values[position]
        return {name: chosen[name] for name in self.names}

    def index(self, params: Params) -> int:
        """The position of `params` in the grid's order (the inverse of `at`)."""
        index = 0
        for dimension in self.dimensions:
            index = index * len(dimension) + _position(dimension, params[dimension.name])
        return index

    def holds(self, params: Params) -> bool:
        """Whether every value of `params` is one of the space's."""
        if set(params) != set(self.names):
            return False
        try:
            self.index(params)
        except ValueError:
            return False
        return True


def _position(dimension: Dimension, value: ParamValue) -> int:
    for position, known in enumerate(dimension.values):
        if known == value and isinstance(known, bool) == isinstance(value, bool):
            return position
    raise ValueError(f"{value!r} is not a value of {dimension.name}")


def build_space(strategy: ir.Strategy, overrides: Sequence[str] = ()) -> SearchSpace:
    """The rule's declared ranges, with each `name=...` override replacing one of them.

    An override is `a..b:step` (a range), `a..b` (the param's own step), `v1,v2,...` (a list) or
    `v` (held fixed). Every override's values are checked as the rule's own are (`rulebot.lang.
    overrides`): one the rule cannot take is a `SpaceError` with the rule's located diagnostics.
    Dimensions follow the rule's own param order."""
    values = {name: param.search_values() for name, param in strategy.params.items()}
    written: dict[str, str] = {}
    for override in overrides:
        name, chosen = parse_override(override, strategy.params)
        values[name] = chosen
        written[name] = f"`{override.strip()}`"
    try:
        check_overrides(strategy, {name: values[name] for name in written}, written)
    except OverrideError as problem:
        raise SpaceError(str(problem)) from None
    dimensions = [
        Dimension(name, _kind(strategy.params[name], values[name]), values[name])
        for name in strategy.params
    ]
    return SearchSpace(tuple(dimensions))


def parse_override(text: str, params: Mapping[str, ir.Param]) -> tuple[str, tuple[ParamValue, ...]]:
    """One `--set` option as (param name, the values to visit)."""
    name, equals, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    if not equals or not name or not spec:
        raise SpaceError(f"--set takes name=a..b:step, name=v1,v2 or name=v, not {text!r}")
    param = params.get(name)
    if param is None:
        known = ", ".join(params) or "none"
        raise SpaceError(f"--set {name}: the rule has no param {name!r} (its params: {known})")
    if ".." in spec:
        if param.kind == "bool":
            raise SpaceError(f"--set {name}: a bool param takes true,false, not a range")
        found = _range(name, spec, param)
    else:
        found = tuple(_value(name, part.strip(), param.kind) for part in spec.split(","))
    unique = tuple(sorted(set(found), key=_order)) if param.kind != "bool" else _distinct(found)
    return name, unique


def _range(name: str, spec: str, param: ir.Param) -> tuple[ParamValue, ...]:
    bounds, colon, step_text = spec.partition(":")
    low_text, _, high_text = bounds.partition("..")
    low = _number(name, low_text, param.kind)
    high = _number(name, high_text, param.kind)
    if colon:
        step = _number(name, step_text, param.kind)
    else:
        step = param.step or (1 if param.kind == "int" else (high - low) / 10 or 1)
    if not step > 0:
        raise SpaceError(f"--set {name}: the step must be positive, not {step_text!r}")
    if high < low:
        raise SpaceError(f"--set {name}: the range {spec!r} runs backwards")
    count = math.floor((high - low) / step + 1e-9) + 1
    # each value computed from `low` (not by adding steps up), rounded like the rule's own ranges
    values = [low + i * step for i in range(count)]
    if param.kind == "int" and all(abs(v - round(v)) < 1e-9 for v in values):
        return tuple(round(v) for v in values)
    return tuple(round(v, 12) for v in values)


def _number(name: str, text: str, kind: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise SpaceError(f"--set {name}: {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise SpaceError(f"--set {name}: {text.strip()!r} is not a finite number")
    return value  # a fraction for a whole-number param is the checker's to judge, where used


def _value(name: str, text: str, kind: str) -> ParamValue:
    if kind == "bool":
        lowered = text.lower()
        if lowered not in ("true", "false"):
            raise SpaceError(f"--set {name}: {name} is true or false, not {text!r}")
        return lowered == "true"
    number = _number(name, text, kind)
    return round(number) if kind == "int" and number.is_integer() else number


def _kind(param: ir.Param, values: tuple[ParamValue, ...]) -> str:
    """A whole-number param given fractions searches fractions (the checker allowed them)."""
    if param.kind == "int" and any(not float(v).is_integer() for v in values):
        return "float"
    return param.kind


def _order(value: ParamValue) -> float:
    return float(value)


def _distinct(values: tuple[ParamValue, ...]) -> tuple[ParamValue, ...]:
    return tuple(dict.fromkeys(values))


__all__ = ["Dimension", "Params", "SearchSpace", "SpaceError", "build_space", "parse_override"]

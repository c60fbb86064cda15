"""Param overrides checked as the rule's own params are: the one entry point for `backtest(params=)`
and `rulebot optimize --set`.

A rule's params are checked at their declared values (every place that needs a whole number, no
lookahead, a period TA-Lib takes, ...). Values given instead of them are checked by the same
checker, on the same rule text, with the override standing in for the declaration; what it
finds is reported with the rule's own located diagnostics, headed by the override that caused it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from rulebot.lang import ir
from rulebot.lang.diagnostics import Source, render
from rulebot.lang.load import compile_source, read_source

Value = float | bool


class OverrideError(ValueError):
    """Param values a rule cannot take, with the diagnostics that say why."""


def check_params(strategy: ir.Strategy, params: Mapping[str, object]) -> dict[str, Value]:
    """`params` (a backtest's, one value each) checked against `strategy`; the values to use."""
    values: dict[str, Value] = {}
    for name, value in params.items():
        values[name] = _one(strategy, name, value)
    check_overrides(
        strategy,
        {name: (value,) for name, value in values.items()},
        {name: f"`params[{name!r}] = {_shown(value)}`" for name, value in values.items()},
    )
    return values


def check_overrides(
    strategy: ir.Strategy,
    values: Mapping[str, Sequence[Value]],
    written: Mapping[str, str],
) -> None:
    """Raise `OverrideError` if a param given `values` makes the rule wrong. `written` says how
    each override was given (`--set k=-1..1:1`), to name it. Values the rule declares itself
    were checked when it compiled and are not checked again."""
    changed = {
        name: tuple(found)
        for name, found in values.items()
        if name in strategy.params and not set(found) <= set(_declared(strategy.params[name]))
    }
    if not changed:
        return
    source = strategy.source or read_source(strategy.path)[0]
    if source is None:  # neither its text nor its file: nothing to check against
        return
    problems = []
    for name, found in changed.items():
        shown = _errors(source, {name: found})
        if shown:
            problems.append(
                f"the override {written[name]} does not fit `{strategy.name}`:\n{shown}"
            )
    if not problems and len(changed) > 1:
        shown = _errors(source, changed)
        if shown:
            together = " with ".join(written[name] for name in changed)
            problems.append(f"the overrides {together} do not fit `{strategy.name}`:\n{shown}")
    if problems:
        raise OverrideError("\n".join(problems))


def _declared(param: ir.Param) -> tuple[Value, ...]:
    return (param.default, *param.search_values())


def _errors(source: Source, overrides: Mapping[str, tuple[Value, ...]]) -> str:
    compiled = compile_source(source, overrides=overrides)
    return "\n".join(
        render(d, compiled.source, compiled.path) for d in compiled.diagnostics if d.is_error
    )


def _one(strategy: ir.Strategy, name: str, value: object) -> Value:
    param = strategy.params.get(name)
    if param is None:
        known = ", ".join(strategy.params) or "none"
        raise OverrideError(
            f"params[{name!r}]: `{strategy.name}` has no param {name!r} (its params: {known})"
        )
    where = f"{strategy.path}:{param.span.line}:{param.span.col}" if param.span else strategy.path
    if param.kind == "bool":
        if not isinstance(value, bool):
            raise OverrideError(
                f"params[{name!r}] = {value!r}: `{name}` is true or false ({where})"
            )
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OverrideError(f"params[{name!r}] = {value!r}: `{name}` is a number ({where})")
    if not math.isfinite(value):
        raise OverrideError(f"params[{name!r}] = {value!r}: `{name}` must be a finite number")
    return value


def _shown(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:g}"


__all__ = ["OverrideError", "check_overrides", "check_params"]

"""The interpreter of encoded programs as generated Python, for a run without numba's machine code.

`programs._interpret` reads every instruction's operands from arrays at every bar: compiled by
numba that is quick, but as plain Python (a fresh install runs it so while numba's cache fills in
the background: see `rulebot.compiled`) it costs about 4 µs an instruction a bar. Here the same
rows become straight-line Python statements, one loop over the bars, with the interpreter's own
float rules (booleans as 1.0 / 0.0, `_div`, `_max`, `_min`, `_nz`), so its results are the
interpreter's, bit for bit; the source is made once per program.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

from rulebot.graph.programs import HELPERS, OPS

_ARITHMETIC = {"+": "+", "-": "-", "*": "*"}
_COMPARE = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "==", "!=": "!="}


def interpret(
    code: np.ndarray,
    consts: np.ndarray,
    inputs: np.ndarray,
    states: np.ndarray,
    out: np.ndarray,
    empty: float,
    results: np.ndarray,
    operands: np.ndarray,
) -> None:
    """`programs._interpret` with the same arguments and results, as generated Python."""
    loop = _loop(tuple(tuple(int(x) for x in row) for row in code.tolist()))
    n = out.shape[0]
    values = loop(consts.tolist(), inputs.tolist(), states.tolist(), n, float(empty))
    out[:] = values


@cache
def _loop(rows: tuple[tuple[int, ...], ...]) -> Callable[..., list[float]]:
    source = _source(rows)
    namespace: dict[str, Any] = dict(HELPERS)
    exec(compile(source, "<rulebot program loop>", "exec"), namespace)
    return namespace["loop"]  # type: ignore[no-any-return]


def _source(rows: tuple[tuple[int, ...], ...]) -> str:
    """`loop(c, ins, st, n, empty)`: every bar's result, as the interpreter computes it."""
    before: list[str] = []
    inside: list[str] = []
    bound: set[str] = set()

    def bound_name(prefix: str, source: str, where: int) -> str:
        """`source[where]` bound once, before the loop, to a local name."""
        name = f"{prefix}{where}"
        if name not in bound:
            bound.add(name)
            before.append(f"    {name} = {source}[{where}]")
        return name

    def operand(kind: int, where: int) -> str:
        if kind == 0:
            return bound_name("c", "c", where)
        if kind == 1:
            return f"{bound_name('in', 'ins', where)}[i]"
        if kind == 2:
            return f"{bound_name('st', 'st', where)}[i]"
        if kind == 3:
            return f"r{where}"
        if kind == 4:
            return f"(out[i - {where}] if i >= {where} else empty)"
        return "0.0"

    for j, row in enumerate(rows):
        a, b, c = (operand(row[1 + 2 * s], row[2 + 2 * s]) for s in range(3))
        inside.append(f"        r{j} = {_expression(OPS[row[0]], a, b, c)}")
    last = f"r{len(rows) - 1}" if rows else "0.0"
    return "\n".join(
        [
            "def loop(c, ins, st, n, empty):",
            *before,
            "    out = [0.0] * n",
            "    for i in range(n):",
            *inside,
            f"        out[i] = {last}",
            "    return out",
            "",
        ]
    )


def _expression(op: str, a: str, b: str, c: str) -> str:
    if op in _ARITHMETIC:
        return f"{a} {_ARITHMETIC[op]} {b}"
    if op in _COMPARE:
        return f"(1.0 if {a} {_COMPARE[op]} {b} else 0.0)"
    return {
        "copy": a,
        "neg": f"-{a}",
        "not": f"(0.0 if {a} != 0.0 else 1.0)",
        "/": f"_div({a}, {b})",
        "and": f"(1.0 if ({a} != 0.0 and {b} != 0.0) else 0.0)",
        "or": f"(1.0 if ({a} != 0.0 or {b} != 0.0) else 0.0)",
        "abs": f"abs({a})",
        "max": f"_max({a}, {b})",
        "min": f"_min({a}, {b})",
        "nz": f"_nz({a}, {b})",
        "na": f"(1.0 if {a} != {a} else 0.0)",
        "choose": f"({b} if {a} != 0.0 else {c})",
    }[op]

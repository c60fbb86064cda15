"""Programs (recurrences and position rules) as Python code: one source, two runners.

A Program's instructions become the body of a generated function. The vectorised evaluator
runs it in a loop over all bars, compiled by numba when numba is installed; the streaming
evaluator runs the same body one bar at a time. Constants are passed in an array rather than
written into the code, so every param setting of a strategy shares one compiled function.
Scalar helpers mirror numpy's float semantics (`x / 0` is ±inf, `0 / 0` and anything with na
is na), which is what makes the two runners agree bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import numpy as np

from rulebot.graph.plan import Instr, Program

NAN = math.nan


def _div(a: float, b: float) -> float:
    if b == 0.0:
        if a != a or a == 0.0:
            return NAN
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _max(a: float, b: float) -> float:
    if a != a or b != b:
        return NAN
    return a if a >= b else b


def _min(a: float, b: float) -> float:
    if a != a or b != b:
        return NAN
    return a if a <= b else b


def _nz(a: float, b: float) -> float:
    return b if a != a else a


HELPERS: dict[str, Callable[..., float]] = {"_div": _div, "_max": _max, "_min": _min, "_nz": _nz}
STATE_NAMES = ("bars_in_trade", "entry_price", "position")

_BINARY = {"+": "+", "-": "-", "*": "*", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "=="}
_BINARY |= {"!=": "!=", "and": "and", "or": "or"}


def constants(program: Program) -> np.ndarray:
    """The constant operands of a program, in the order the generated code reads them."""
    values = [
        float(value)
        for instr in program.code
        for kind, value in instr.operands
        if kind == "const" and not isinstance(value, bool)
    ]
    return np.array(values, dtype=np.float64)


def body(
    program: Program,
    self_read: Callable[[int], str],
    input_read: Callable[[int], str],
    state_read: Callable[[str], str],
) -> list[str]:
    """The program's instructions as Python statements assigning r0, r1, ...; the last is the
    result. `*_read` say how to read an operand in the surrounding function."""
    lines: list[str] = []
    const_index = 0

    def operand(kind: str, value: Any) -> str:
        nonlocal const_index
        if kind == "const" and isinstance(value, bool):
            return repr(value)
        if kind == "const":
            const_index += 1
            return f"c[{const_index - 1}]"
        if kind == "in":
            return input_read(int(value))
        if kind == "self":
            return self_read(int(value))
        if kind == "state":
            return state_read(str(value))
        return f"r{value}"

    for index, instr in enumerate(program.code):
        args = [operand(kind, value) for kind, value in instr.operands]
        lines.append(f"r{index} = {_expression(instr, args)}")
    return lines


def _expression(instr: Instr, args: Sequence[str]) -> str:
    op = instr.op
    if op in _BINARY:
        return f"({args[0]} {_BINARY[op]} {args[1]})"
    return {
        "neg": lambda: f"(-{args[0]})",
        "not": lambda: f"(not {args[0]})",
        "/": lambda: f"_div({args[0]}, {args[1]})",
        "max": lambda: f"_max({args[0]}, {args[1]})",
        "min": lambda: f"_min({args[0]}, {args[1]})",
        "nz": lambda: f"_nz({args[0]}, {args[1]})",
        "na": lambda: f"({args[0]} != {args[0]})",
        "abs": lambda: f"abs({args[0]})",
        "choose": lambda: f"({args[1]} if {args[0]} else {args[2]})",
        "copy": lambda: f"{args[0]}",
    }[op]()


def _empty(program: Program) -> str:
    return "False" if program.type == "bool" else "NAN"


def loop_source(program: Program) -> str:
    """`run(n, out, c, s_bars_in_trade, s_entry_price, s_position, in0, in1, ...)`: fills
    `out[0:n]`, reading state columns per bar."""
    empty = _empty(program)
    inputs = ", ".join(f"in{k}" for k in range(len(program.inputs)))
    states = ", ".join(f"s_{name}" for name in STATE_NAMES)
    lines = body(
        program,
        self_read=lambda lag: f"(out[i - {lag}] if i >= {lag} else {empty})",
        input_read=lambda k: f"in{k}[i]",
        state_read=lambda name: f"s_{name}[i]",
    )
    last = len(program.code) - 1
    code = "\n".join(f"        {line}" for line in lines)
    signature = ", ".join(p for p in ("n, out, c", states, inputs) if p)
    return f"def run({signature}):\n    for i in range(n):\n{code}\n        out[i] = r{last}\n"


def step_source(program: Program) -> str:
    """`step(ins, hist, state, c)`: one bar. `hist` holds past results, most recent last."""
    empty = _empty(program)
    lines = body(
        program,
        self_read=lambda lag: f"(hist[-{lag}] if len(hist) >= {lag} else {empty})",
        input_read=lambda k: f"ins[{k}]",
        state_read=lambda name: f"state[{name!r}]",
    )
    code = "\n".join(f"    {line}" for line in lines)
    return f"def step(ins, hist, state, c):\n{code}\n    return r{len(program.code) - 1}\n"


@cache
def _compiled(source: str, name: str, jit: bool) -> Callable[..., Any]:
    namespace: dict[str, Any] = {"NAN": NAN, "abs": abs}
    if jit:
        import numba

        for helper, function in HELPERS.items():
            namespace[helper] = numba.njit(cache=False)(function)
    else:
        namespace.update(HELPERS)
    exec(compile(source, f"<rulebot program {name}>", "exec"), namespace)
    function = namespace[name]
    if jit:
        import numba

        return numba.njit(cache=False)(function)
    return function


def numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def run_loop(
    program: Program,
    inputs: Sequence[np.ndarray],
    n: int,
    state: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """The program over `n` bars at once (numba-compiled when available)."""
    out = np.zeros(n, dtype=np.bool_ if program.type == "bool" else np.float64)
    columns = [np.ascontiguousarray(np.broadcast_to(x, (n,)), dtype=_dtype(x)) for x in inputs]
    flat = _flat_state(n)
    states = [np.ascontiguousarray((state or flat).get(name, flat[name])) for name in STATE_NAMES]
    runner = _compiled(loop_source(program), "run", numba_available())
    runner(n, out, constants(program), *states, *columns)
    return out


def stepper(program: Program) -> Callable[..., Any]:
    """The program for one bar at a time (plain Python: a numba call costs more than it saves)."""
    return _compiled(step_source(program), "step", False)


def _dtype(x: np.ndarray) -> type:
    return np.bool_ if np.asarray(x).dtype == np.bool_ else np.float64


def _flat_state(n: int) -> dict[str, np.ndarray]:
    """Position state as if flat on every bar (for evaluating without a fill model)."""
    return {
        "bars_in_trade": np.zeros(n),
        "entry_price": np.full(n, NAN),
        "position": np.zeros(n),
    }

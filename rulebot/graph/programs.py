"""Programs (recurrences and position rules) as Python code: one source, two runners.

The vectorised evaluator runs a Program over all bars with one fixed interpreter of encoded
instructions (compiled once by numba and cached on disk, so no strategy compiles code of its
own); the streaming evaluator runs it as a generated Python function, one bar at a time. Both
read the same instructions with the same float rules.
Scalar helpers mirror numpy's float semantics (`x / 0` is ±inf, `0 / 0` and anything with na
is na), which is what makes the two runners agree bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import numpy as np

from rulebot import compiled
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
def _compiled(source: str, name: str) -> Callable[..., Any]:
    namespace: dict[str, Any] = {"NAN": NAN, "abs": abs, **HELPERS}
    exec(compile(source, f"<rulebot program {name}>", "exec"), namespace)
    return namespace[name]


# ---- the whole-column runner: a fixed interpreter of encoded programs ---------------------------
# One compiled function serves every program (numba caches it on disk), so no strategy pays a
# compilation of its own. Rows are `(op, kind, value) x 3`; booleans are 1.0 / 0.0.
OPS = (
    "copy", "neg", "not", "+", "-", "*", "/", "<", "<=", ">", ">=", "==", "!=", "and", "or",
    "abs", "max", "min", "nz", "na", "choose",
)  # fmt: skip
KINDS = {"const": 0, "in": 1, "state": 2, "r": 3, "self": 4}
NO_OPERAND = -1


def encode(
    program: Program, input_offset: int = 0, const_offset: int = 0
) -> tuple[list[list[int]], list[float]]:
    """The program as interpreter rows, and its constants (indices start at the offsets)."""
    rows: list[list[int]] = []
    consts: list[float] = []
    for instr in program.code:
        row = [OPS.index(instr.op)]
        for kind, value in instr.operands:
            if kind == "const":
                consts.append(float(value))
                where = const_offset + len(consts) - 1
            elif kind == "in":
                where = input_offset + int(value)
            elif kind == "state":
                where = STATE_NAMES.index(value)
            else:
                where = int(value)
            row += [KINDS[kind], where]
        rows.append(row + [NO_OPERAND, NO_OPERAND] * ((7 - len(row)) // 2))
    return rows, consts


def _interpret(
    code: np.ndarray,
    consts: np.ndarray,
    inputs: np.ndarray,
    states: np.ndarray,
    out: np.ndarray,
    empty: float,
    results: np.ndarray,
    operands: np.ndarray,
) -> None:
    """Run encoded code over every bar; `out[i]` is bar i's result (its own past for `self`)."""
    for i in range(out.shape[0]):
        r = 0.0
        for j in range(code.shape[0]):
            row = code[j]
            for slot in range(3):
                kind = row[1 + 2 * slot]
                where = row[2 + 2 * slot]
                if kind == 0:
                    operands[slot] = consts[where]
                elif kind == 1:
                    operands[slot] = inputs[where, i]
                elif kind == 2:
                    operands[slot] = states[where, i]
                elif kind == 3:
                    operands[slot] = results[where]
                elif kind == 4:
                    operands[slot] = out[i - where] if i >= where else empty
                else:
                    operands[slot] = 0.0
            a = operands[0]
            b = operands[1]
            op = row[0]
            if op == 0:
                r = a
            elif op == 1:
                r = -a
            elif op == 2:
                r = 0.0 if a != 0.0 else 1.0
            elif op == 3:
                r = a + b
            elif op == 4:
                r = a - b
            elif op == 5:
                r = a * b
            elif op == 6:
                if b == 0.0:
                    if a != a or a == 0.0:
                        r = math.nan
                    else:
                        r = math.copysign(math.inf, a) * math.copysign(1.0, b)
                else:
                    r = a / b
            elif op == 7:
                r = 1.0 if a < b else 0.0
            elif op == 8:
                r = 1.0 if a <= b else 0.0
            elif op == 9:
                r = 1.0 if a > b else 0.0
            elif op == 10:
                r = 1.0 if a >= b else 0.0
            elif op == 11:
                r = 1.0 if a == b else 0.0
            elif op == 12:
                r = 1.0 if a != b else 0.0
            elif op == 13:
                r = 1.0 if (a != 0.0 and b != 0.0) else 0.0
            elif op == 14:
                r = 1.0 if (a != 0.0 or b != 0.0) else 0.0
            elif op == 15:
                r = abs(a)
            elif op == 16:
                r = math.nan if (a != a or b != b) else (a if a >= b else b)
            elif op == 17:
                r = math.nan if (a != a or b != b) else (a if a <= b else b)
            elif op == 18:
                r = b if a != a else a
            elif op == 19:
                r = 1.0 if a != a else 0.0
            else:
                r = b if a != 0.0 else operands[2]
            results[j] = r
        out[i] = r


def numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


# measured: the interpreter's plain twin (`program_loop`) takes ~0.05 µs an instruction a bar
# (its own code as plain Python took ~4 µs); compiling it ~1.3 s (see `compiled`)
_PLAIN_SECONDS_PER_STEP, _COMPILE_SECONDS = 1e-7, 1.3


@cache
def _interpreter() -> Callable[..., None]:
    """The interpreter compiled by numba, whose plain twin (a cold cache's first runs) is the
    generated-Python loop of `program_loop`; that loop alone without numba."""
    from rulebot.graph.program_loop import interpret

    if numba_available():
        import numba

        jitted = numba.njit(cache=True)(_interpret)
        compiled.use_plain(jitted, interpret)
        return jitted
    return interpret


def run_loop(
    program: Program,
    inputs: Sequence[np.ndarray],
    n: int,
    state: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """The program over `n` bars at once (the interpreter, compiled by numba when available)."""
    rows, consts = encode(program)
    columns = np.zeros((max(len(inputs), 1), n))
    for k, column in enumerate(inputs):
        columns[k] = np.broadcast_to(np.asarray(column, dtype=np.float64), (n,))
    flat = _flat_state(n)
    states = np.stack(
        [
            np.asarray((state or flat).get(name, flat[name]), dtype=np.float64)
            for name in STATE_NAMES
        ]
    )
    out = np.zeros(n)
    empty = 0.0 if program.type == "bool" else math.nan
    compiled.call(
        _interpreter(),
        n * len(rows) * _PLAIN_SECONDS_PER_STEP,
        _COMPILE_SECONDS,
        np.array(rows, dtype=np.int64),
        np.array([*consts, 0.0], dtype=np.float64),
        columns,
        states,
        out,
        empty,
        np.empty(len(rows)),
        np.empty(3),
    )
    return out != 0.0 if program.type == "bool" else out


def stepper(program: Program) -> Callable[..., Any]:
    """The program for one bar at a time (plain Python: a numba call costs more than it saves)."""
    return _compiled(step_source(program), "step")


def _dtype(x: np.ndarray) -> type:
    return np.bool_ if np.asarray(x).dtype == np.bool_ else np.float64


def _flat_state(n: int) -> dict[str, np.ndarray]:
    """Position state as if flat on every bar (for evaluating without a fill model)."""
    return {
        "bars_in_trade": np.zeros(n),
        "entry_price": np.full(n, NAN),
        "position": np.zeros(n),
    }

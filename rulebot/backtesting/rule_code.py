"""Position rules as register code: the encoding the fill loop interprets at each close.

A signal that reads the position (`bars_in_trade >= 100`) is straight-line code (built by
`rulebot.backtesting.position_rules`); here is its shape, the op and operand codes, and how it is
laid out on registers so the compiled loop reads every operand with one index.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - exercised by loading fills.py with numba hidden
    numba = None

_Function = TypeVar("_Function")

# Where the fill loop's account state array keeps the side held, the entry price and the entry
# bar (fills.py asserts it lays its state out the same way).
_SIDE, _ENTRY_PRICE, _ENTRY_INDEX = 0, 2, 3
ACCOUNT_STATE = (_SIDE, _ENTRY_PRICE, _ENTRY_INDEX)


def _compiled(function: _Function) -> _Function:
    """numba's `njit(cache=True)` without its runtime when installed (see fills.py), else the
    plain function."""
    return numba.njit(cache=True, _nrt=False)(function) if numba is not None else function


# A rule is straight-line code (see rulebot.backtesting.position_rules). Instructions are rows of
# `(op, kind1, value1, kind2, value2, kind3, value3)`; operand kinds below. Booleans are 1.0/0.0.
_K_CONST, _K_INPUT, _K_STATE, _K_RESULT = 0, 1, 2, 3
_OP_COPY, _OP_NEG, _OP_NOT, _OP_ADD, _OP_SUB, _OP_MUL, _OP_DIV = 0, 1, 2, 3, 4, 5, 6
_OP_LT, _OP_LE, _OP_GT, _OP_GE, _OP_EQ, _OP_NE, _OP_AND, _OP_OR = 7, 8, 9, 10, 11, 12, 13, 14
_OP_ABS, _OP_MAX, _OP_MIN, _OP_NZ, _OP_NA, _OP_CHOOSE = 15, 16, 17, 18, 19, 20
# The loop runs the code on registers: 0 holds 0.0 (an operand a row does not use), then the
# position state (bars_in_trade, entry_price, position), the constants, each input column's value
# at this bar and each instruction's result (see `registers`).
_R_ZERO, _R_STATE, _R_CONSTS = 0, 1, 4
RULE_TARGETS = (
    "entry_long",
    "exit_long",
    "entry_short",
    "exit_short",
    "size_value",
    "stop_value",
    "take_value",
    "trail_value",
)


@dataclass(frozen=True)
class PositionRules:
    """Signals that read the position, as code the fill loop runs at each close (built by
    `rulebot.backtesting.position_rules`): `table` rows are (first instruction, count, target index
    in RULE_TARGETS); `code` rows are (op, kind, value) x 3; `inputs` are precomputed columns."""

    table: np.ndarray
    code: np.ndarray
    consts: np.ndarray
    inputs: np.ndarray

    @classmethod
    def none(cls, n: int) -> PositionRules:
        return cls(
            np.zeros((0, 3), dtype=np.int64),
            np.zeros((0, 7), dtype=np.int64),
            np.zeros(0),
            np.zeros((0, n)),
        )


def registers(rules: PositionRules) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rules as register code for the loop: a table of (first instruction, count, target,
    first and end input column, the register of input column 0), the instructions as
    (op, register of each operand, register of the result), the inputs, and the registers
    with the zero and the constants in place."""
    consts = len(rules.consts)
    inputs = len(rules.inputs)
    input_base = _R_CONSTS + consts
    result_base = input_base + inputs
    registers = np.zeros(result_base + len(rules.code))
    registers[_R_CONSTS:input_base] = rules.consts
    table = np.zeros((len(rules.table), 6), dtype=np.int64)
    code = np.zeros((len(rules.code), 5), dtype=np.int64)
    for k, (first, count, target) in enumerate(rules.table):
        rows = rules.code[first : first + count]
        read = rows[:, 1:7:2] == _K_INPUT
        columns = rows[:, 2:7:2][read]
        low, high = (int(columns.min()), int(columns.max()) + 1) if len(columns) else (0, 0)
        table[k] = (first, count, target, low, high, input_base)
        # where each kind of operand starts among the registers (a result: in this rule's rows)
        base = {_K_CONST: _R_CONSTS, _K_INPUT: input_base, _K_STATE: _R_STATE}
        base[_K_RESULT] = result_base + first
        for row, instruction in enumerate(rows, start=first):
            code[row, 0] = instruction[0]
            for slot in range(3):
                kind, where = instruction[1 + 2 * slot], instruction[2 + 2 * slot]
                code[row, 1 + slot] = base[kind] + where if kind in base else _R_ZERO
            code[row, 4] = result_base + row
    return table, code, np.ascontiguousarray(rules.inputs, dtype=np.float64), registers


@_compiled
def apply_rules(
    bar: int,
    state: np.ndarray,
    table: np.ndarray,
    code: np.ndarray,
    inputs: np.ndarray,
    registers: np.ndarray,
    flags: np.ndarray,
    values: np.ndarray,
) -> None:
    """Write this bar's position-reading signals, from the position held at this close, with
    numpy's float semantics (x/0 is ±inf, NaN compares false). The code runs on registers
    (`registers`): every operand is one register, so reading it takes no test of its kind."""
    side = state[_SIDE]
    registers[_R_STATE] = bar - state[_ENTRY_INDEX] if side != 0.0 else 0.0  # bars_in_trade
    registers[_R_STATE + 1] = state[_ENTRY_PRICE] if side != 0.0 else np.nan  # entry_price
    registers[_R_STATE + 2] = 1.0 if side > 0.0 else (-1.0 if side < 0.0 else 0.0)  # position
    for k in range(table.shape[0]):
        target = table[k, 2]
        if (target == 1 and not side > 0.0) or (target == 3 and not side < 0.0):
            continue  # an exit for the side not held: `decide` does not read it at this close
        for column in range(table[k, 3], table[k, 4]):  # this rule's input columns, at this bar
            registers[table[k, 5] + column] = inputs[column, bar]
        r = 0.0
        for row in range(table[k, 0], table[k, 0] + table[k, 1]):
            a = registers[code[row, 1]]
            b = registers[code[row, 2]]
            op = code[row, 0]
            # ops in groups: arithmetic, then comparisons and logic, then functions
            if op <= _OP_DIV:
                if op == _OP_COPY:
                    r = a
                elif op == _OP_NEG:
                    r = -a
                elif op == _OP_NOT:
                    r = 0.0 if a != 0.0 else 1.0
                elif op == _OP_ADD:
                    r = a + b
                elif op == _OP_SUB:
                    r = a - b
                elif op == _OP_MUL:
                    r = a * b
                elif b == 0.0:  # _OP_DIV
                    if a != a or a == 0.0:
                        r = np.nan
                    else:
                        r = math.copysign(math.inf, a) * math.copysign(1.0, b)
                else:
                    r = a / b
            elif op <= _OP_OR:
                if op == _OP_LT:
                    r = 1.0 if a < b else 0.0
                elif op == _OP_LE:
                    r = 1.0 if a <= b else 0.0
                elif op == _OP_GT:
                    r = 1.0 if a > b else 0.0
                elif op == _OP_GE:
                    r = 1.0 if a >= b else 0.0
                elif op == _OP_EQ:
                    r = 1.0 if a == b else 0.0
                elif op == _OP_NE:
                    r = 1.0 if a != b else 0.0
                elif op == _OP_AND:
                    r = 1.0 if (a != 0.0 and b != 0.0) else 0.0
                else:  # _OP_OR
                    r = 1.0 if (a != 0.0 or b != 0.0) else 0.0
            elif op == _OP_ABS:
                r = abs(a)
            elif op == _OP_MAX:
                r = np.nan if (a != a or b != b) else (a if a >= b else b)
            elif op == _OP_MIN:
                r = np.nan if (a != a or b != b) else (a if a <= b else b)
            elif op == _OP_NZ:
                r = b if a != a else a
            elif op == _OP_NA:
                r = 1.0 if a != a else 0.0
            else:  # _OP_CHOOSE
                r = b if a != 0.0 else registers[code[row, 3]]
            registers[code[row, 4]] = r
        if target < 4:
            flags[target, bar] = r != 0.0
        else:
            values[target - 4, bar] = r

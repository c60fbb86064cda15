"""The generated-Python runner of encoded programs gives the interpreter's results, bit for bit."""

from __future__ import annotations

import itertools

import numpy as np

from rulebot.graph import program_loop, programs

# values that find every float rule: na, zeros of both signs, infinities, ordinary numbers
SPECIAL = np.array([np.nan, 0.0, -0.0, 1.0, -2.5, np.inf, -np.inf, 3.0, 0.5])


def run_both(rows: list[list[int]], consts: list[float], n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(len(rows) * 7919 + n)
    inputs = np.stack([rng.choice(SPECIAL, n), rng.choice(SPECIAL, n), rng.normal(size=n)])
    states = np.stack([rng.choice(SPECIAL, n) for _ in programs.STATE_NAMES])
    code = np.array(rows, dtype=np.int64)
    constants = np.array([*consts, 0.0])
    results = []
    for run in (programs._interpret, program_loop.interpret):
        out = np.zeros(n)
        with np.errstate(all="ignore"):
            run(code, constants, inputs, states, out, np.nan, np.empty(len(rows)), np.empty(3))
        results.append(out)
    return results[0], results[1]


def test_every_op_on_every_kind_of_operand_gives_the_interpreters_numbers() -> None:
    operands = [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (2, 0), (2, 2), (3, 0), (4, 1), (4, 3)]
    consts = [0.0, -1.5]
    for op in range(len(programs.OPS)):
        for first, second in itertools.product(operands, repeat=2):
            third = operands[(op + first[1]) % len(operands)]
            rows = [
                [0, 1, 2, -1, -1, -1, -1],  # r0 = an input, so that results are read too
                [op, *first, *second, *third],
            ]
            expected, got = run_both(rows, consts, 64)
            np.testing.assert_array_equal(got, expected, err_msg=f"{programs.OPS[op]} {rows}")


def test_a_recurrence_reads_its_own_past() -> None:
    """`self` operands read earlier results (`empty` before there are enough)."""
    add = programs.OPS.index("+")
    choose = programs.OPS.index("choose")
    rows = [
        [add, 4, 1, 1, 0, -1, -1],  # r0 = out[i-1] + input 0
        [programs.OPS.index("na"), 3, 0, -1, -1, -1, -1],  # r1 = na(r0)
        [choose, 3, 1, 1, 2, 3, 0],  # r2 = input 2 if r1 else r0
    ]
    expected, got = run_both(rows, [], 500)
    np.testing.assert_array_equal(got, expected)

"""Graph programs that read the position, encoded for the fill loop.

A signal such as `exit long when z >= 0 or bars_in_trade >= 100` depends on fills that happen
during the backtest, so its program runs inside the fill loop at each close, reading the columns
computed beforehand (here `z >= 0`) and the position held at that close. The encoding is a small
table of instructions the loop interprets with the same float semantics as both evaluators.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from rulebot.backtesting.fills import RULE_TARGETS, PositionRules
from rulebot.graph.plan import Graph, Program
from rulebot.graph.programs import STATE_NAMES

# graph output name → the signal column the fill loop reads
OUTPUT_TARGETS = {
    "entry.long": "entry_long",
    "exit.long": "exit_long",
    "entry.short": "entry_short",
    "exit.short": "exit_short",
    "size": "size_value",
    "stop_loss": "stop_value",
    "take_profit": "take_value",
    "trailing_stop": "trail_value",
}
_OPS = (
    "copy", "neg", "not", "+", "-", "*", "/", "<", "<=", ">", ">=", "==", "!=", "and", "or",
    "abs", "max", "min", "nz", "na", "choose",
)  # fmt: skip
_KINDS = {"const": 0, "in": 1, "state": 2, "r": 3}


def position_rules(graph: Graph, values: Mapping[int, np.ndarray], n: int) -> PositionRules:
    """The position-reading outputs of `graph` as fill-loop code, with their input columns."""
    table: list[tuple[int, int, int]] = []
    code: list[list[int]] = []
    consts: list[float] = []
    inputs: list[np.ndarray] = []
    for name, target in OUTPUT_TARGETS.items():
        node_id = graph.outputs.get(name)
        if node_id is None:
            continue
        node = graph.nodes[node_id]
        if node.op != "program" or not node.value.reads_state:
            continue
        program: Program = node.value
        if program.recurrent:  # the checker refuses these (E318)
            raise ValueError(f"{name} is a recurrence that reads the position")
        offset = len(inputs)
        for column in node.args:
            inputs.append(np.broadcast_to(np.asarray(values[column], dtype=np.float64), (n,)))
        first = len(code)
        for instr in program.code:
            row = [_OPS.index(instr.op)]
            for kind, value in instr.operands:
                if kind == "const":
                    consts.append(float(value))
                    row += [_KINDS[kind], len(consts) - 1]
                elif kind == "in":
                    row += [_KINDS[kind], offset + int(value)]
                elif kind == "state":
                    row += [_KINDS[kind], STATE_NAMES.index(value)]
                else:
                    row += [_KINDS[kind], int(value)]
            row += [-1, -1] * ((7 - len(row)) // 2)
            code.append(row)
        table.append((first, len(program.code), RULE_TARGETS.index(target)))
    if not table:
        return PositionRules.none(n)
    return PositionRules(
        np.array(table, dtype=np.int64),
        np.array(code, dtype=np.int64),
        np.array(consts, dtype=np.float64),
        np.ascontiguousarray(np.stack(inputs)) if inputs else np.zeros((0, n)),
    )

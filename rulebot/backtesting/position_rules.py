"""Graph programs that read the position, encoded for the fill loop.

A signal such as `exit long when z >= 0 or bars_in_trade >= 100` depends on fills that happen
during the backtest, so its program runs inside the fill loop at each close, reading the columns
computed beforehand (here `z >= 0`) and the position held at that close. The instructions are
the graph's own encoding (`rulebot.graph.programs.encode`), interpreted by the loop with the same
float semantics as both evaluators.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from rulebot.backtesting.rule_code import RULE_TARGETS, PositionRules
from rulebot.graph.plan import Graph, Program
from rulebot.graph.programs import encode

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


def position_rules(
    graph: Graph,
    values: Mapping[int, np.ndarray],
    n: int,
    stack: Callable[[Sequence[int]], np.ndarray] | None = None,
) -> PositionRules:
    """The position-reading outputs of `graph` as fill-loop code, with their input columns.
    `stack(node_ids)` gives those nodes' columns as one (k, n) float64 array that nothing will
    write to (a search passes one that keeps them); by default it is built here."""
    table: list[tuple[int, int, int]] = []
    code: list[list[int]] = []
    consts: list[float] = []
    inputs: list[int] = []
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
        inputs += node.args
        rows, constants = encode(program, input_offset=offset, const_offset=len(consts))
        first = len(code)
        code += rows
        consts += constants
        table.append((first, len(rows), RULE_TARGETS.index(target)))
    if not table:
        return PositionRules.none(n)
    return PositionRules(
        np.array(table, dtype=np.int64),
        np.array(code, dtype=np.int64),
        np.array(consts, dtype=np.float64),
        (stack or _stacked(values, n))(inputs) if inputs else np.zeros((0, n)),
    )


def _stacked(values: Mapping[int, np.ndarray], n: int) -> Callable[[Sequence[int]], np.ndarray]:
    def stack(node_ids: Sequence[int]) -> np.ndarray:
        columns = [np.broadcast_to(np.asarray(values[i], dtype=np.float64), (n,)) for i in node_ids]
        return np.ascontiguousarray(np.stack(columns))

    return stack

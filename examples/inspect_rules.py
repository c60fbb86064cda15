"""Compile the shipped rules through the Python API and show what the checker learned.

    python examples/inspect_rules.py [RULE_FILE_OR_DIR ...]

For each strategy: its markets and bars, its params with their search ranges, its lets (marking
recurrences), and how many bars of history it needs before it may trade.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rulebot import compile_file
from rulebot.lint import discover

ROOT = Path(__file__).resolve().parents[1]


def describe(path: Path) -> str:
    compiled = compile_file(path)
    if compiled.strategy is None:
        problems = "; ".join(f"{d.code} {d.message}" for d in compiled.diagnostics if d.is_error)
        return f"{path.name}: does not compile ({problems})"
    strategy = compiled.strategy
    lines = [
        f"{strategy.name} ({path.name}): {', '.join(strategy.markets)} "
        f"on {strategy.timeframe} bars, warm-up {strategy.warmup_bars} bars, "
        f"sizing {strategy.sizing.mode}",
    ]
    for param in strategy.params.values():
        values = param.search_values()
        lines.append(f"  param {param.name} = {param.default}  (search: {len(values)} values)")
    for let in strategy.lets.values():
        tag = "  [recurrence]" if let.recurrent else ""
        lines.append(f"  let {let.name}: warm after {let.value.info.warmup} bars{tag}")
    lines.append("  reads bars: " + ", ".join(f"{m}@{tf}" for m, tf in sorted(strategy.feeds)))
    return "\n".join(lines)


def main(arguments: list[str]) -> None:
    for path in discover(arguments or [ROOT / "rules"]):
        print(describe(path))


if __name__ == "__main__":
    main(sys.argv[1:])

"""How fast rule files compile: parse + check of each shipped rule, of a generated 500-line rule,
and `rulebot lint` of a folder of 100 generated rules (in-process and as one real process).

Every figure is set beside a baseline measured in the same run on the same text: Lark parsing
alone (no AST building, no checking). "check overhead" is total / parse-only.

    .venv/bin/python bench/compile.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from unittest import mock

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from timing import median_time  # noqa: E402

from rulebot.lang import yaml_rules  # noqa: E402
from rulebot.lang.load import compile_text  # noqa: E402
from rulebot.lang.parse import parser  # noqa: E402
from rulebot.lint import lint, render_text  # noqa: E402

AIM_PER_RULE = 0.005  # seconds, per shipped rule
AIM_FOLDER = 1.0  # seconds, for 100 files
FOLDER_FILES = 100


def lark_parts(text: str, name: str) -> list[tuple[str, str]]:
    """The (text, start rule) pairs Lark parses to compile this file: the whole text for a
    `.rule` file; for a YAML rule, each value, padded to its place, as the YAML reader sends it."""
    if not name.endswith((".yaml", ".yml")):
        return [(text, "start")]
    parts: list[tuple[str, str]] = []
    real = yaml_rules.parse_fragment

    def record(fragment: str, start: str, *args: object, **kwargs: object) -> object:
        parts.append((fragment, start))
        return real(fragment, start, *args, **kwargs)  # type: ignore[arg-type]

    with mock.patch.object(yaml_rules, "parse_fragment", record):
        compile_text(text, name)
    return parts


def parse_only(parts: list[tuple[str, str]]) -> Callable[[], None]:
    lark = parser()

    def work() -> None:
        for text, start in parts:
            lark.parse(text, start=start)

    return work


# ---- generated rules ---------------------------------------------------------------------------


def generated_rule(lines: int = 500, name: str = "generated", first_block: int = 0) -> str:
    """A realistic large rule: params, indicator lets, signal lets built from them, entries and
    exits over every signal, sizing, protections and a risk block; it lints clean."""
    count = max(1, round((lines - 21) / 27))  # 27 lines a block, 21 around them
    blocks = range(first_block, first_block + count)
    out = [
        f"# {name}: a generated multi-signal strategy",
        f"strategy {name}",
        "market ETH",
        "timeframe 5m",
        "",
    ]
    for b in blocks:
        out += [
            f"param fast_{b} = {8 + b % 5} in 5..20 step 1",
            f"param slow_{b} = {30 + b % 7} in 21..60 step 3",
            f"param width_{b} = 2.0 in 1.0..3.0 step 0.5",
        ]
    longs, shorts = [], []
    for b in blocks:
        out += [
            "",
            f"# block {b}: trend, momentum and volatility on fast_{b}/slow_{b}",
            f"let fast_ma_{b}  = ema(close, fast_{b})",
            f"let slow_ma_{b}  = sma(close, slow_{b})",
            f"let trend_{b}    = sma(close, slow_{b})@1h",
            f"let upper_{b}    = bbands(close, slow_{b}, width_{b}, width_{b}).upper",
            f"let lower_{b}    = bbands(close, slow_{b}, width_{b}, width_{b}).lower",
            f"let strength_{b} = rsi(close, fast_{b})",
            f"let range_{b}    = atr(fast_{b})",
            f"let hist_{b}     = macd(close, fast_{b}, slow_{b}, 9).hist",
            f"let stretch_{b}  = zscore(close, slow_{b})",
            f"let moved_{b}    = (close - close[{1 + b % 10}]) / range_{b}",
            f"let volume_up_{b} = volume > 1.5 * sma(volume, slow_{b})",
            f"let smooth_{b}   = if range_{b} > nz(range_{b}[1]) then fast_ma_{b}",
            f"                   else (fast_ma_{b} + slow_ma_{b}) / 2",
            f"let up_{b}       = crossover(fast_ma_{b}, slow_ma_{b}) and close > trend_{b}",
            f"                   and strength_{b} < 70 and hist_{b} > 0",
            f"let down_{b}     = crossunder(fast_ma_{b}, slow_ma_{b}) and close < trend_{b}",
            f"                   and strength_{b} > 30 and hist_{b} < 0",
            f"let breakout_{b} = close > upper_{b} and volume_up_{b} and moved_{b} > 1",
            f"let breakdown_{b} = close < lower_{b} and volume_up_{b} and moved_{b} < -1",
            f"let calm_{b}     = abs(stretch_{b}) < 0.5 or close < smooth_{b} - 3 * range_{b}",
        ]
        longs.append(f"up_{b} or breakout_{b}")
        shorts.append(f"down_{b} or breakdown_{b}")
    calm = " or ".join(f"calm_{b}" for b in blocks)
    out += ["", "entry long  when " + "\n              or ".join(longs)]
    out += ["entry short when " + "\n              or ".join(shorts)]
    out += [f"exit  long  when {calm}", f"exit  short when {calm}", ""]
    out += [
        "size 2% of equity",
        "stop_loss 2 * atr(14)",
        "take_profit 6%",
        "trailing_stop 3 * atr(14)",
        "",
        "risk {",
        "  max_position    2 ETH",
        "  max_daily_loss  3%",
        "  max_drawdown    12%",
        "  cooldown        3 bars",
        "  max_open_orders 6",
        "}",
    ]
    return "\n".join(out) + "\n"


def small_rule(index: int) -> str:
    """One of the 100 folder files: a few dozen lines, like the shipped rules."""
    return generated_rule(lines=48, name=f"strategy_{index:03d}", first_block=index)


# ---- the benchmark -----------------------------------------------------------------------------


def row(
    table: Table, what: str, total: float, baseline: float, aim: float | None, extra: str = ""
) -> None:
    status = "" if aim is None else ("[green]met[/]" if total < aim else "[red]MISSED[/]")
    table.add_row(
        what,
        f"{total * 1000:,.2f} ms",
        f"{baseline * 1000:,.2f} ms",
        f"{total / baseline:.1f}x" if baseline else "-",
        f"< {aim * 1000:,.0f} ms" if aim is not None else "",
        status,
        extra,
    )


def main() -> None:
    console = Console(width=140)
    parser()  # warm: build the grammar once, as every real run does first
    compile_text((REPO / "rules" / "mean_reversion.rule").read_text(encoding="utf-8"))

    table = Table(title="rulebot compile benchmark (median wall time)")
    for column in ("workload", "parse + check", "parse only", "check overhead", "aim", "", "notes"):
        table.add_column(column, justify="left" if column in ("workload", "notes") else "right")

    for path in sorted((REPO / "rules").iterdir()):
        if path.suffix not in (".rule", ".yaml"):
            continue
        text = path.read_text(encoding="utf-8")
        assert compile_text(text, path.name).ok, path
        lines = text.count("\n") + 1
        total = median_time(lambda t=text, n=path.name: compile_text(t, n), 300)
        baseline = median_time(parse_only(lark_parts(text, path.name)), 300)
        row(table, f"rules/{path.name}", total, baseline, AIM_PER_RULE, f"{lines} lines")

    big = generated_rule(500)
    compiled = compile_text(big, "generated.rule")
    assert compiled.ok and not compiled.diagnostics, compiled.diagnostics[:3]
    lines = big.count("\n")
    total = median_time(lambda: compile_text(big, "generated.rule"), 30)
    baseline = median_time(parse_only([(big, "start")]), 30)
    rate = f"{lines / total:,.0f} lines/s"
    row(table, f"generated {lines}-line rule", total, baseline, None, rate)

    with tempfile.TemporaryDirectory() as folder:
        texts = [small_rule(i) for i in range(FOLDER_FILES)]
        for i, text in enumerate(texts):
            (Path(folder) / f"strategy_{i:03d}.rule").write_text(text, encoding="utf-8")
        reports = lint([folder])
        assert len(reports) == FOLDER_FILES and not any(r.diagnostics for r in reports)
        lines = sum(t.count("\n") for t in texts)
        parts = [(t, "start") for t in texts]
        baseline = median_time(parse_only(parts), 7)
        total = median_time(lambda: render_text(lint([folder])), 7)
        row(table, f"lint {FOLDER_FILES} files, in-process", total, baseline, AIM_FOLDER)
        command = [sys.executable, "-m", "rulebot", "lint", folder]
        status = subprocess.run(command, cwd=REPO, capture_output=True, check=False).returncode
        assert status == 0
        process = median_time(lambda: subprocess.run(command, cwd=REPO, capture_output=True), 5)
        row(
            table,
            f"`rulebot lint` {FOLDER_FILES} files, subprocess",
            process,
            baseline,
            AIM_FOLDER,
            f"{lines:,} lines, incl. interpreter start",
        )

    version = [sys.executable, "-m", "rulebot", "--version"]
    startup = median_time(lambda: subprocess.run(version, cwd=REPO, capture_output=True), 5)
    console.print(table)
    console.print(f"start-up alone (`python -m rulebot --version`): {startup * 1000:.0f} ms")
    console.print(
        "check overhead = total / parse-only (Lark parsing of the same text, no AST, no check). "
        f"Aims: under {AIM_PER_RULE * 1000:.0f} ms per shipped rule, "
        f"under {AIM_FOLDER:.0f} s for {FOLDER_FILES} files."
    )


if __name__ == "__main__":
    main()

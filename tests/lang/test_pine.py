"""Pine Script habits: each gets E110, and the rulebot spelling its help offers is right.

The lint output for each habit is in the corpus (cases/pine_*.rule, cases/pine_*.yaml). Here,
generated Pine-flavoured files check the property that makes the help trustworthy: put every
suggested spelling back in place of what it flags (`...` filled with the trader's condition)
and the file compiles with no error at all, so the help never names a function rulebot lacks or
an argument list it refuses.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rulebot.cli import app
from rulebot.lang.diagnostics import Diagnostic, Span
from rulebot.lang.load import compile_text
from rulebot.lang.parse import parse_rule_text
from rulebot.lang.pine import PLACEHOLDER
from rulebot.lang.pine_spelling import PINE_TIMEFRAMES

HEADER = "strategy pine\nmarket ETH\ntimeframe 1m\n"
FOOTER = "size 2% of equity\nstop_loss 2%\n"

STRUCTURE = ("E206", "E207")
"""A statement missing or given twice."""

lengths = st.integers(min_value=2, max_value=60).map(str)
sources = st.sampled_from(["close", "open", "hl2", "hlc3", "ohlc4", "close[1]"])
symbols = st.sampled_from(['"ETH"', '"BINANCE:ETHUSDT"', "syminfo.tickerid", "'ETHUSD'"])
timeframes = st.sampled_from([f'"{tf}"' for tf in PINE_TIMEFRAMES] + ["timeframe.period"])


@st.composite
def numbers(draw: st.DrawFn, depth: int = 0) -> str:
    """A Pine expression for a number."""
    inner = draw(numbers(depth + 1)) if depth < 2 and draw(st.booleans()) else draw(sources)
    choice = draw(st.integers(0, 9 if depth else 8))
    length = draw(lengths)
    if choice == 0:
        return f"ta.sma({inner}, {length})"
    if choice == 1:
        return f"ta.ema({inner}, {length})"
    if choice == 2:
        return f"ta.rsi({inner}, {length})"
    if choice == 3:
        return f"ta.atr({length})"
    if choice == 4:
        return f"math.abs({inner} - open)"
    if choice == 5:
        return f"request.security({draw(symbols)}, {draw(timeframes)}, {inner})"
    if choice == 6:
        return f"ta.highest({length})"
    if choice == 7:
        return f"ta.stdev({inner}, {length})"
    if choice == 8:
        return f"ta.cci({draw(sources)}, {length})"
    return inner


@st.composite
def conditions(draw: st.DrawFn) -> str:
    """A Pine expression for a condition."""
    a, b = draw(numbers()), draw(numbers())
    kind = draw(st.sampled_from(["ta.crossover", "ta.crossunder", ">", "<"]))
    return f"{kind}({a}, {b})" if kind.startswith("ta.") else f"{a} {kind} {b}"


@st.composite
def pine_lines(draw: st.DrawFn, index: int) -> str:
    """One Pine habit, as a trader would type it; it defines `v{index}` where it can."""
    name = f"v{index}"
    kind = draw(st.integers(0, 10))
    if kind == 0:
        return f"{name} = {draw(numbers())}"
    if kind == 1:
        return f"let {name} = {draw(numbers())}"
    if kind == 2:
        return f"var float {name} = {draw(numbers())}"
    if kind == 3:
        return f'{name} = input.int({draw(lengths)}, "Length", minval=1, maxval=100)'
    if kind == 4:
        return f"buy when {draw(conditions())}"
    if kind == 5:
        return f"entry short when {draw(conditions())}"
    if kind == 6:
        side = draw(st.sampled_from(["long", "short"]))
        return f'if {draw(conditions())}\n    strategy.entry("{name}", strategy.{side})'
    if kind == 7:
        return 'strategy.exit("x", stop=strategy.position_avg_price * 0.97)'
    if kind == 8:
        return f"// note {index}: {draw(st.text('abc ;:()', max_size=10))}"
    if kind == 10:
        side = draw(st.sampled_from(["long", "short"]))
        order = draw(st.sampled_from(["limit", "stop"]))
        return (
            f"if {draw(conditions())}\n"
            f'    strategy.entry("{name}", strategy.{side}, {order}={draw(numbers())})'
        )
    return f"strategy.close_all(when = {draw(conditions())})"


@st.composite
def pine_files(draw: st.DrawFn) -> str:
    count = draw(st.integers(1, 6))
    lines = [draw(pine_lines(index)) for index in range(count)]
    return HEADER + "\n".join(lines) + "\n" + FOOTER


def _offset(text: str, line: int, col: int) -> int:
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    return starts[line - 1] + col - 1


def _apply(text: str, diagnostics: list[Diagnostic]) -> str:
    """`text` with every fix in place, the last first so earlier offsets hold."""
    edits = []
    for diagnostic in diagnostics:
        assert diagnostic.fix is not None, diagnostic
        span: Span = diagnostic.fix.span
        start = _offset(text, span.line, span.col)
        end = _offset(text, span.end_line, span.end_col)
        edits.append((start, end, diagnostic.fix.text.replace(PLACEHOLDER, "close > open")))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


@settings(max_examples=150, deadline=None, derandomize=True)
@given(pine_files())
def test_every_suggested_spelling_compiles_in_place(text: str) -> None:
    parsed = parse_rule_text(text)
    assert parsed.diagnostics, text
    assert all(d.code == "E110" for d in parsed.diagnostics), parsed.diagnostics
    fixed = _apply(text, parsed.diagnostics)
    # A generated file may lack an entry or hold one twice: that is its shape, not a spelling.
    errors = [d for d in compile_text(fixed).diagnostics if d.is_error and d.code not in STRUCTURE]
    assert errors == [], fixed


def test_help_quotes_the_fix_with_the_arguments_carried_over() -> None:
    text = HEADER + 'let htf = request.security("BINANCE:BTCUSDT", "240", ta.sma(close, 50))\n'
    [diagnostic] = parse_rule_text(text).diagnostics
    assert diagnostic.fix is not None
    assert diagnostic.fix.text == "sma(close, 50)@BTC@4h"
    assert diagnostic.help == "write `sma(close, 50)@BTC@4h`"
    assert (diagnostic.span.line, diagnostic.span.col) == (4, 11)


def test_a_pine_function_rulebot_lacks_is_not_given_a_spelling() -> None:
    [diagnostic] = parse_rule_text(HEADER + "let b = ta.barssince(close > open)\n").diagnostics
    assert diagnostic.code == "E110"
    assert diagnostic.fix is None
    assert "no such function" in diagnostic.message


def test_names_a_pine_line_defines_are_not_reported_as_unknown() -> None:
    text = HEADER + "fast = ta.ema(close, 12)\nvar slow = 0\nentry long when fast > slow\n"
    diagnostics = compile_text(text + FOOTER).diagnostics
    assert [d.code for d in diagnostics if d.is_error] == ["E110", "E110"]


PINE_SCRAPS = [
    "ta.sma(",
    "ta.",
    "math.abs(",
    "request.security(",
    "strategy.entry(",
    "strategy.exit(",
    "strategy.",
    "input.int(",
    "var ",
    ":=",
    "//",
    "if ",
    "buy when ",
    '"60"',
    "'BTC'",
    "?",
    ":",
    "(",
    ")",
    ",",
    "=",
    "\n",
    "\n    ",
    "close",
    "20",
    "strategy.long",
    "when=",
    "stop=",
    "let x",
    "strategy(",
    "syminfo.tickerid",
    "hl2",
    " and ",
    "[1]",
]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(PINE_SCRAPS), max_size=30))
def test_broken_pine_gives_diagnostics_never_an_exception(scraps: list[str]) -> None:
    text = HEADER + "".join(scraps) + "\n" + FOOTER
    diagnostics = compile_text(text).diagnostics
    lines = text.count("\n") + 1
    assert all(1 <= d.span.line <= d.span.end_line <= lines for d in diagnostics), diagnostics
    for diagnostic in diagnostics:
        if diagnostic.fix is not None:
            assert diagnostic.help is not None and diagnostic.fix.text in diagnostic.help


def test_lint_reports_each_pine_line_of_a_pasted_script(tmp_path: Path) -> None:
    script = (Path(__file__).parent / "cases" / "pine_whole_script.rule").read_text()
    path = tmp_path / "pasted.rule"
    path.write_text(script, encoding="utf-8")
    result = CliRunner().invoke(app, ["lint", "--format", "json", str(path)])
    assert result.exit_code == 1, result.output
    found = json.loads(result.stdout)
    pine_lines = [
        number
        for number, line in enumerate(script.splitlines(), 1)
        if line.strip() and not line.startswith((" ", "market", "timeframe", "size"))
    ]
    assert sorted({d["line"] for d in found if d["code"] == "E110"}) == pine_lines
    assert {d["code"] for d in found} == {"E110"}


def test_every_pine_use_in_one_statement_is_reported() -> None:
    line = "entry long when strategy.position_size == 0 and ta.rsi(close, 14) < syminfo.mintick\n"
    diagnostics = parse_rule_text(HEADER + line).diagnostics
    assert [(d.span.col, d.fix.text if d.fix else None) for d in diagnostics] == [
        (17, "position"),
        (49, "rsi(close, 14)"),
        (69, None),
    ]

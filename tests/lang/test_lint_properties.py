"""Properties of `rulebot lint` over generated input: it never raises, whatever it is given.

Random text and bytes, and the shipped rules with random damage (spans deleted, duplicated or
swapped; tokens of the language dropped in anywhere), must give diagnostics, never an exception,
and every diagnostic must point inside the file. The examples are derandomized so CI is stable;
set RULEBOT_FUZZ_EXAMPLES=5000 to search longer with fresh random examples.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rulebot.cli import app
from rulebot.config import check_config
from rulebot.graph.registry import registry
from rulebot.lang.diagnostics import Diagnostic, Source, as_json, render
from rulebot.lang.load import compile_text
from rulebot.lang.parse import STATEMENT_KEYWORDS

REPO = Path(__file__).resolve().parents[2]
SHIPPED = {
    path.name: path.read_text(encoding="utf-8")
    for path in sorted([*(REPO / "rules").iterdir(), REPO / "rulebot.yaml"])
    if path.suffix in (".rule", ".yaml")
}

_FUZZ = os.environ.get("RULEBOT_FUZZ_EXAMPLES")


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=int(_FUZZ) if _FUZZ else examples,
        deadline=None,
        derandomize=_FUZZ is None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# Text: any character a file can hold (every category but lone surrogates), controls included.
any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=400)
TOKENS = [
    *"()[]{},;=<>%.@:#-+*/?!&|\"'\n\t ",
    "-1]",
    "[1]",
    "[-1]",
    "@1m",
    "@4h",
    "@BTC",
    "@eth",
    "%",
    "..",
    "==",
    "!=",
    ">=",
    "and",
    "or",
    "not",
    "if",
    "then",
    "else",
    ".upper",
    ".hist",
    ".x",
    *STATEMENT_KEYWORDS,
    "long",
    "short",
    "when",
    "size",
    "risk",
    "of",
    "equity",
    "stop_loss",
    "take_profit",
    "trailing_stop",
    "leg",
    "weight",
    "enabled",
    "limit",
    "stop",
    "post_only",
    "for",
    "3 bars",
    "50%",
    "in",
    "step",
    "at",
    "true",
    "false",
    "na",
    "close",
    "bars_in_trade",
    "sma(",
    "ema(close, 0)",
    "macd(close, 1, 2, 3)",
    "bbands(close)",
    "rsi(close, -1)",
    "max(1, 2)",
    "nz(",
    "0",
    "1",
    "-1",
    "0.5",
    "1e309",
    "1e-309",
    "99999999999999999999999",
    "5m",
    "7m",
    "0m",
    "ETH",
    "USDC",
    "bars",
    "- ",
    ": ",
    "  ",
    "&a ",
    "*a",
    "!!binary ",
    "!!python/object ",
    "---\n",
    "|\n",
    ">\n",
    "\r",
    "\x0c",
    "\x00",
    "\u2028",
    "\ufeff",
    "é",
]


NUMBERS = [
    "0",
    "1",
    "2",
    "3",
    "14",
    "0.5",
    "-1",
    "1e308",
    "1e309",
    "1e-309",
    "99999999999999999999",
]
FUNCTIONS = sorted(registry())
OUTPUTS = sorted({name for spec in registry().values() for name in spec.output_names()})
leaves = st.one_of(
    st.sampled_from(NUMBERS),
    st.integers(0, 400).map(str),
    st.sampled_from(["close", "open", "high", "volume", "bars_in_trade", "p", "q", "na", "true"]),
)


def _compound(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    call_args = st.lists(
        st.one_of(
            inner,
            st.tuples(st.sampled_from(["timeperiod", "matype", "x"]), inner).map(
                lambda kv: f"{kv[0]}={kv[1]}"
            ),
        ),
        max_size=4,
    )
    return st.one_of(
        st.tuples(st.integers(0, len(FUNCTIONS) - 1).map(FUNCTIONS.__getitem__), call_args).map(
            lambda c: f"{c[0]}({', '.join(c[1])})"
        ),
        st.tuples(
            inner, st.sampled_from(["+", "-", "*", "/", "<", ">=", "==", "and", "or"]), inner
        ).map(" ".join),
        st.tuples(st.sampled_from(["-", "not ", "("]), inner).map(
            lambda u: f"({u[1]})" if u[0] == "(" else u[0] + u[1]
        ),
        st.tuples(
            inner, st.sampled_from(["%", ".upper", ".hist", "@BTC", "@1h", "@1m", "@eth"])
        ).map("".join),
        st.tuples(inner, st.integers(0, len(OUTPUTS) - 1).map(OUTPUTS.__getitem__)).map(
            lambda o: f"{o[0]}.{o[1]}"
        ),
        st.tuples(inner, inner).map(lambda lb: f"{lb[0]}[{lb[1]}]"),
        st.tuples(inner, inner, inner).map(lambda c: f"if {c[0]} then {c[1]} else {c[2]}"),
    )


expressions = st.recursive(leaves, _compound, max_leaves=12)


@st.composite
def well_formed_rules(draw: st.DrawFn) -> str:
    """Rules that parse, with random expressions in every place an expression may stand."""
    e = lambda: draw(expressions)  # noqa: E731
    n = lambda: draw(st.sampled_from(NUMBERS))  # noqa: E731
    unit = draw(st.sampled_from(["", "% of equity", " of equity", " ETH", " USDC", " bars"]))
    return (
        f"strategy fuzz\nmarket ETH\ntimeframe 5m\n"
        f"param p = {n()} in {n()}..{n()} step {n()}\n"
        f"let q = {e()}\n"
        f"entry long when {e()}\n"
        f"exit long when {e()}\n"
        f"size {e()}{unit}\n"
        f"stop_loss {e()}\n"
        f"take_profit at {e()}\n"
        f"risk {{ max_drawdown {e()}%; cooldown {e()} bars; max_open_orders {e()} }}\n"
        f"pyramiding {e()}\n"
        f"entry short {draw(st.sampled_from(['limit', 'stop', 'limt']))} at {e()}"
        f"{draw(st.sampled_from(['', ' post_only']))} for {e()} bars when {e()}\n"
        f"exit short {e()} when {e()}\n"
        f"take_profit {e()} at {e()}\n"
    )


@st.composite
def damaged(draw: st.DrawFn) -> tuple[str, str]:
    """A shipped rule or config, with a few random edits."""
    name = draw(st.sampled_from(sorted(SHIPPED)))
    text = SHIPPED[name]
    for _ in range(draw(st.integers(1, 4))):
        size = len(text)
        start = draw(st.integers(0, size))
        end = draw(st.integers(start, min(size, start + 40)))
        edit = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "insert"]))
        if edit == "delete":
            text = text[:start] + text[end:]
        elif edit == "duplicate":
            text = text[:end] + text[start:end] + text[end:]
        elif edit == "swap":
            other = draw(st.integers(end, size))
            other_end = draw(st.integers(other, min(size, other + 40)))
            text = (
                text[:start]
                + text[other:other_end]
                + text[end:other]
                + text[start:end]
                + text[other_end:]
            )
        else:
            tokens = draw(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=4))
            text = text[:start] + " ".join(tokens) + text[start:]
    return name, text


def diagnostics_of(name: str, text: str) -> tuple[Source, list[Diagnostic]]:
    source = Source(name, text)
    if name == "rulebot.yaml":
        _, diagnostics = check_config(source)
    else:
        diagnostics = compile_text(text, name).diagnostics
    return source, diagnostics


def assert_located_inside(source: Source, diagnostics: list[Diagnostic]) -> None:
    lines = len(source.text.splitlines())
    for d in diagnostics:
        span = d.span
        where = f"{d.code} {d.message} at {span}"
        assert 1 <= span.line <= lines + 1, where
        assert 1 <= span.col <= len(source.line(span.line)) + 1, where
        assert (span.end_line, span.end_col) >= (span.line, span.col), where
        assert d.message and d.code[:1] in "EW", where
        render(d, source, source.path)  # the text form prints, whatever the span
        as_json(d, source.path)


def lint_files(*paths: Path) -> int:
    result = CliRunner().invoke(app, ["lint", *map(str, paths)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "internal error" not in output, output
    return result.exit_code


@fuzz_settings(150)
@given(text=any_text)
def test_random_text_in_rule_and_yaml_files_never_raises(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        rule = Path(folder) / "random.rule"
        yaml = Path(folder) / "random.yaml"
        config = Path(folder) / "rulebot.yaml"
        for path in (rule, yaml, config):
            path.write_text(text, encoding="utf-8", newline="")
        assert lint_files(rule, yaml, config) in {0, 1, 2}
        assert lint_files(Path(folder)) in {0, 1, 2}


@fuzz_settings(60)
@given(data=st.binary(max_size=600))
def test_random_bytes_never_raise(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        rule = Path(folder) / "random.rule"
        yaml = Path(folder) / "random.yaml"
        for path in (rule, yaml):
            path.write_bytes(data)
        assert lint_files(rule, yaml) in {0, 1}


@fuzz_settings(400)
@given(case=damaged())
def test_damaged_shipped_rules_give_diagnostics_inside_the_file(case: tuple[str, str]) -> None:
    name, text = case
    source, diagnostics = diagnostics_of(name, text)
    assert_located_inside(source, diagnostics)


@fuzz_settings(300)
@given(text=any_text, yaml_form=st.booleans())
def test_compile_text_never_raises(text: str, yaml_form: bool) -> None:
    name = "random.yaml" if yaml_form else "random.rule"
    compiled = compile_text(text, name)
    assert_located_inside(Source(name, text), compiled.diagnostics)
    if compiled.strategy is not None:
        assert compiled.ok


@fuzz_settings(300)
@given(text=well_formed_rules())
def test_well_formed_rules_with_random_expressions_never_raise(text: str) -> None:
    """Numbers at the edges (1e309, 1e-309, huge integers), every function, every operator:
    the checker must turn all of them into diagnostics."""
    assert_located_inside(Source("fuzz.rule", text), compile_text(text, "fuzz.rule").diagnostics)


@fuzz_settings(200)
@given(
    words=st.lists(st.sampled_from(TOKENS), max_size=60),
    yaml_form=st.booleans(),
)
def test_token_soup_never_raises(words: list[str], yaml_form: bool) -> None:
    """Sequences of the language's own tokens reach much deeper into the parser than noise."""
    text = " ".join(words)
    name = "soup.yaml" if yaml_form else "soup.rule"
    assert_located_inside(Source(name, text), compile_text(text, name).diagnostics)

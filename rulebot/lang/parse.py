"""Rule text → AST, with every syntax error turned into a located, friendly diagnostic.

The grammar (grammar/rulebot.lark) is loaded once and parsed with Lark's LALR parser, building the
AST inline. After a syntax error the statement that holds it is blanked out (positions kept) and
the file is parsed again, so one run reports every broken statement, not only the first.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from lark import Lark, Token
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from rulebot.lang import ast, pine
from rulebot.lang.build import AstBuilder
from rulebot.lang.diagnostics import Diagnostic, Span
from rulebot.lang.suggest import did_you_mean

StartRule = Literal["start", "expr", "param_spec", "size_spec", "exit_level", "amount"]
START_RULES: tuple[StartRule, ...] = (
    "start",
    "expr",
    "param_spec",
    "size_spec",
    "exit_level",
    "amount",
)
MAX_SYNTAX_ERRORS = 50
MAX_RECOVERY_CHARS = 1024 * 1024
"""Each recovery parses the file again: a huge file stops early instead of taking minutes."""

STATEMENT_KEYWORDS = (
    "strategy",
    "market",
    "markets",
    "timeframe",
    "param",
    "let",
    "entry",
    "exit",
    "size",
    "stop_loss",
    "take_profit",
    "trailing_stop",
    "pyramiding",
    "leg",
    "risk",
    "enabled",
)
_LINE_START = re.compile(
    r"^(?:[ \t]*(?:" + "|".join(STATEMENT_KEYWORDS) + r")(?![A-Za-z0-9_])|[A-Za-z_])", re.MULTILINE
)
_OPERATORS = {
    "PLUS",
    "MINUS",
    "STAR",
    "SLASH",
    "PERCENT",
    "COMPARE",
    "DOT",
    "LSQB",
    "AT",
    "AND",
    "OR",
}
_DEFINITION = re.compile(r"\b(?:let|param)\s+([A-Za-z_][A-Za-z0-9_]*)")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_COMMENT = re.compile(r"#[^\n]*")
PROTECTION_KEYWORDS = ("stop_loss", "take_profit", "trailing_stop")
_WHOLE_EXITS = ("stop_loss", "trailing_stop")

_TOKEN_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "DURATION": "a timeframe such as `5m` or `1h`",
    "COMPARE": "a comparison",
    "$END": "the end of the file",
}
_CHARACTER_HELP = {
    "&": "write `and` to combine conditions",
    "|": "write `or` to combine conditions",
    "!": "write `not` to negate a condition, and `!=` to compare",
    "?": "write `if condition then a else b`",
    '"': "the rule language has no strings; names are written bare, e.g. `market ETH`",
    "'": "the rule language has no strings; names are written bare, e.g. `market ETH`",
    ":": "this is a `.rule` file; the `key: value` form belongs in a `.yaml` rule file",
}


@dataclass(frozen=True, slots=True)
class ParseResult:
    tree: ast.RuleFile | None
    diagnostics: list[Diagnostic]
    skipped_names: frozenset[str]
    """Names defined by statements dropped for syntax errors (their uses are not reported), and
    the heads of those statements (`entry long`, `stop_loss`): the checker does not call them
    missing."""


@cache
def grammar_text() -> str:
    """The language's grammar: packaged beside this module, or in the source tree's grammar/."""
    packaged = resources.files("rulebot.lang").joinpath("rulebot.lark")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    tree_copy = Path(__file__).resolve().parents[2] / "grammar" / "rulebot.lark"
    return tree_copy.read_text(encoding="utf-8")


@cache
def parser() -> Lark:
    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="basic",
        start=list(START_RULES),
        propagate_positions=True,
        maybe_placeholders=True,
        cache=_cache_file() or False,
    )


def _cache_file() -> str | None:
    """Where Lark keeps its analysis of this grammar between runs (it halves start-up): the
    user's own cache folder, never a shared temporary one. None if that folder is not usable."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "rulebot")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        if not os.access(folder, os.W_OK) or os.stat(folder).st_uid != os.getuid():
            return None
    except OSError:
        return None
    digest = hashlib.sha256(grammar_text().encode("utf-8")).hexdigest()[:16]
    return os.path.join(folder, f"grammar-{digest}.lark")


def _parse(text: str, start: StartRule) -> object:
    try:
        return AstBuilder().transform(parser().parse(text, start=start))
    except VisitError as error:  # the builder handles every rule; surface a bug as itself
        raise error.orig_exc from None


def parse_rule_text(text: str) -> ParseResult:
    """Parse a whole `.rule` file, recovering after each broken statement."""
    diagnostics: list[Diagnostic] = []
    skipped: set[str] = set()
    parsed = 0
    original = text
    while True:
        try:
            parsed += len(text)
            tree = _parse(text, "start")
            assert isinstance(tree, ast.RuleFile)
            return ParseResult(tree, diagnostics, frozenset(skipped))
        except UnexpectedInput as error:
            habit = pine.recognise(error, text, _parses, original=original)
            if habit is None:
                diagnostics.append(syntax_diagnostic(error, text))
                blanked, names = _blank_statement(text, error)
            else:
                diagnostics += habit.diagnostics
                blanked, names = _blank_habit(text, error, habit)
            skipped |= names
            if (
                blanked == text
                or len(diagnostics) >= MAX_SYNTAX_ERRORS
                or parsed + len(blanked) > MAX_RECOVERY_CHARS
            ):
                return ParseResult(None, diagnostics, frozenset(skipped))
            text = blanked


def parse_fragment(
    text: str, start: StartRule, keyword: str | None = None
) -> tuple[object | None, list[Diagnostic]]:
    """Parse one YAML value with the given start rule. `text` is padded to its place in the file;
    `keyword` is the YAML key it is the value of (e.g. `stop_loss`), for the hints."""
    try:
        return _parse(text, start), []
    except UnexpectedInput as error:
        habit = pine.recognise(error, text, _parses, statements=False)
        if habit is not None:
            return None, habit.diagnostics[:1]
        diagnostic = syntax_diagnostic(error, text, keyword)
        message = diagnostic.message.replace("the end of the file", "the end of the value")
        return None, [replace(diagnostic, message=message)]


def _parses(text: str, start: str) -> bool:
    """True if `text` parses with the given start rule (used to vet a suggested spelling)."""
    try:
        parser().parse(text, start=start)
    except UnexpectedInput:
        return False
    return True


def _acceptable(error: UnexpectedToken) -> set[str]:
    """The tokens the parser would truly accept here (LALR's `expected` can be too wide)."""
    try:
        accepted = set(error.interactive_parser.accepts())
    except Exception:  # the interactive parser is a best effort; fall back to Lark's own set
        accepted = set()
    return accepted or set(error.expected)


def syntax_diagnostic(
    error: UnexpectedInput, source_text: str = "", keyword: str | None = None
) -> Diagnostic:
    """A Lark error, in words a trader understands, with a hint where one is known."""
    if isinstance(error, UnexpectedCharacters):
        char = error.char
        shown = repr(char)[1:-1] if not char.isprintable() else char
        return Diagnostic(
            "E102",
            f"unexpected character `{shown}`",
            Span.point(error.line, error.column),
            help=_CHARACTER_HELP.get(char),
            label="not part of the language",
        )
    if isinstance(error, UnexpectedToken):
        return _unexpected_token(error, _acceptable(error), source_text, keyword)
    if isinstance(error, UnexpectedEOF):
        return Diagnostic(
            "E103",
            f"unexpected end of input; expected {_describe(set(error.expected))}",
            Span.point(max(error.line, 1), max(error.column, 1)),
        )
    return Diagnostic("E101", str(error).splitlines()[0], Span.point(1, 1))


def _unexpected_token(
    error: UnexpectedToken, expected: set[str], text: str, keyword: str | None = None
) -> Diagnostic:
    token = error.token
    if "$END" in expected and (keyword or _line_keyword(text, token)) in _WHOLE_EXITS:
        expected = expected - {"AT"}  # `at` after a value gives a share, which these never take
    if token.type == "$END":
        brace = _COMMENT.sub(lambda m: " " * len(m.group()), text).rfind("{")
        if "RBRACE" in expected and brace >= 0:
            return Diagnostic(
                "E103",
                "the `risk {` block is never closed",
                _point_at(text, brace),
                help="add a `}` after its last limit",
                label="opened here",
            )
        end = _last_character(text, len(text))
        return Diagnostic(
            "E103",
            f"unexpected end of input; expected {_describe(expected)}",
            _point_at(text, end) if end >= 0 else Span.point(max(error.line, 1), 1),
            help=_end_help(expected),
        )
    span = Span(token.line, token.column, token.end_line, token.end_column)
    if _opens_statement(token, text) and token.start_pos:
        # The statement before this one stopped short: point at where it ends.
        end = _last_character(text, token.start_pos)
        return Diagnostic(
            "E103",
            f"this statement is incomplete: expected {_describe(expected)} before `{token}`",
            _point_at(text, end) if end >= 0 else Span.point(1, 1),
            help=_end_help(expected),
        )
    keywords = sorted(_keyword(name) for name in expected if _keyword(name))
    keywords = [k for k in keywords if k and k[0].isalpha()]
    if token.type == "NAME" and keywords:
        guess = did_you_mean(str(token), keywords)
        starts_line = (
            token.start_pos is not None
            and not text[text.rfind("\n", 0, token.start_pos) + 1 : token.start_pos].strip()
        )
        if guess or ("NAME" not in expected and starts_line):
            return Diagnostic(
                "E104",
                f"unknown keyword `{token}`",
                span,
                help=f"did you mean `{guess}`?" if guess else f"expected {_describe(expected)}",
                label="not a keyword here",
            )
    shown = str(token)
    help_text = None
    if shown == "=" and "COMPARE" in expected:
        help_text = "to compare two values write `==`"
    elif shown == "=":
        fixed = _without_token(text, token)
        help_text = f"leave out the `=`: `{f'{keyword}: {fixed}' if keyword else fixed}`"
    elif token.type == "NAME" and (keyword or _line_keyword(text, token)) in PROTECTION_KEYWORDS:
        written = f"{keyword}:" if keyword else _line_keyword(text, token)
        help_text = (
            f"`{written}` takes a percentage (`{written} 2%`) or a price distance "
            f"(`{written} 2 * atr(14)`), with no unit"
        )
        if shown == "bars":
            help_text += "; to leave after some bars write `exit long when bars_in_trade >= 20`"
    elif "NAME" in expected and _keyword(token.type) == shown and shown[:1].isalpha():
        help_text = f"`{shown}` is a word of the language; choose another name"
    elif token.type == "COMPARE" and ("AND" in expected or "OR" in expected):
        help_text = "comparisons do not chain: write `a < b and b < c`"
    elif token.type == "NUMBER" and "DURATION" in expected:
        help_text = "a timeframe has a unit: `1m`, `5m`, `15m`, `1h`, `4h`, `1d`"
    return Diagnostic(
        "E101",
        f"unexpected `{shown}`; expected {_describe(expected)}",
        span,
        help=help_text,
    )


def _last_character(text: str, before: int) -> int:
    """The offset of the last character before `before` that is not blank or a comment, or -1."""
    code = _COMMENT.sub(lambda m: " " * len(m.group()), text[:before])
    return len(code.rstrip()) - 1


def _point_at(text: str, offset: int) -> Span:
    line_start = text.rfind("\n", 0, offset) + 1
    return Span.point(text.count("\n", 0, offset) + 1, offset - line_start + 1)


def _without_token(text: str, token: Token) -> str:
    """The line that holds `token`, with the token taken out and the spacing tidied."""
    start = token.start_pos or 0
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", start)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    offset = start - line_start
    kept = line[:offset] + line[offset + len(str(token)) :]
    return " ".join(_COMMENT.sub("", kept).split())


def _line_keyword(text: str, token: Token) -> str | None:
    """The first word of the line that holds `token`, e.g. `stop_loss`."""
    if token.start_pos is None:
        return None
    line_start = text.rfind("\n", 0, token.start_pos) + 1
    word = _WORD.match(text[line_start : token.start_pos].lstrip())
    return word.group() if word else None


def _opens_statement(token: Token, text: str) -> bool:
    """True if `token` is a statement keyword with nothing but indentation before it."""
    if str(token) not in STATEMENT_KEYWORDS or token.start_pos is None:
        return False
    line_start = text.rfind("\n", 0, token.start_pos) + 1
    return not text[line_start : token.start_pos].strip()


def _keyword(terminal: str) -> str | None:
    """The literal text of a keyword terminal (e.g. `ENTRY` → `entry`), else None."""
    try:
        definition = parser().get_terminal(terminal)
    except KeyError:
        return None
    pattern = definition.pattern
    if pattern.type == "str":
        return pattern.value
    return None


def _describe(expected: set[str]) -> str:
    """A short English list of what the parser would have accepted."""
    words: list[str] = []
    if {"ENTRY", "LET", "STRATEGY"} <= expected:
        words.append("a statement (`strategy`, `market`, `let`, `entry`, `exit`, `size`, ...)")
        expected = {e for e in expected if (_keyword(e) or "") not in STATEMENT_KEYWORDS}
    if len(expected & _OPERATORS) >= 3:
        words.append("an operator")
        expected -= _OPERATORS
    if {"NAME", "NUMBER", "LPAR"} <= expected:
        words.append("an expression")
        expected -= {"NAME", "NUMBER", "LPAR", "MINUS", "TRUE", "FALSE", "NA", "IF", "NOT"}
    for name in sorted(expected):
        literal = _keyword(name)
        if literal is not None:
            words.append(f"`{literal}`")
        elif name in _TOKEN_WORDS:
            words.append(_TOKEN_WORDS[name])
    words = list(dict.fromkeys(words))
    if not words:
        return "something else"
    if len(words) > 8:
        words = [*words[:8], "..."]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _end_help(expected: set[str]) -> str | None:
    if "RPAR" in expected:
        return "a `(` is never closed"
    if "RSQB" in expected:
        return "a `[` is never closed"
    if "RBRACE" in expected:
        return "the `risk {` block is never closed with `}`"
    return None


def _blank_statement(text: str, error: UnexpectedInput) -> tuple[str, set[str]]:
    """Blank the statement that holds the error, keeping every position of the rest.

    Statements start on lines that begin with a statement keyword (or, for a misspelled keyword,
    with a name in column 1). When the parser stops at the keyword that opens the next statement,
    the broken statement is the one before it.
    """
    error_line = getattr(error, "line", 1)
    error_line = error_line if isinstance(error_line, int) and error_line > 0 else 1
    lines = text.split("\n")
    starts = [number for number, line in enumerate(lines, 1) if _LINE_START.match(line)]
    token = getattr(error, "token", None)
    at_next_statement = isinstance(token, Token) and _opens_statement(token, text)
    if at_next_statement and any(s < error_line for s in starts):
        first = max(s for s in starts if s < error_line)
        after = error_line
    else:
        first = max((s for s in starts if s <= error_line), default=error_line)
        after = min((s for s in starts if s > error_line), default=len(lines) + 1)
    names: set[str] = set()
    head = _statement_head(lines[first - 1]) if first <= len(lines) else None
    if head is not None:
        names.add(head)
    for number in range(first, min(after, len(lines) + 1)):
        if number != error_line and lines[number - 1].lstrip().startswith("//"):
            continue  # a Pine comment line of its own: reported when the parse reaches it
        names.update(_DEFINITION.findall(lines[number - 1]))
        lines[number - 1] = " " * len(lines[number - 1])
    return "\n".join(lines), names


def _blank_habit(text: str, error: UnexpectedInput, habit: pine.PineHabit) -> tuple[str, set[str]]:
    """Blank the lines of a Pine habit (or, inside an expression, its statement); the names it
    defined and the statements its fix stands for count as written."""
    if habit.blank is None:
        blanked, names = _blank_statement(text, error)
    else:
        start, end = habit.blank
        gap = "".join(ch if ch == "\n" else " " for ch in text[start:end])
        blanked = text[:start] + gap + text[end:]
        names = set(_DEFINITION.findall(text[start:end]))
    names |= habit.defines
    for diagnostic in habit.diagnostics:
        if diagnostic.fix is None or habit.blank is None:
            continue
        for statement in re.split(r"[;\n]", diagnostic.fix.text):
            names.update(_DEFINITION.findall(statement))
            head = _statement_head(statement.strip())
            if head is not None:
                names.add(head)
    return blanked, names


def _statement_head(line: str) -> str | None:
    """What a dropped statement was, e.g. `entry long` or `stop_loss` (a misspelled keyword
    counts as the keyword it most resembles)."""
    words = _WORD.findall(line)
    if not words:
        return None
    keyword = words[0] if words[0] in STATEMENT_KEYWORDS else None
    keyword = keyword or did_you_mean(words[0], STATEMENT_KEYWORDS)
    if keyword in ("entry", "exit") and len(words) > 1 and words[1] in ("long", "short"):
        return f"{keyword} {words[1]}"
    return keyword

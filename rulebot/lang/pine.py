"""Pine Script habits at a syntax error: a located E110 whose help gives rulebot's spelling.

Traders come from TradingView with Pine in their fingers: `// comments`, `ta.sma(close, 20)`,
`length = input.int(20)`, `if up` + `strategy.entry("L", strategy.long)`. Where the parser stops
on such a line, this module names the habit, points at it and offers the rulebot text for it (the
`fix`, which the help quotes), with the user's own arguments carried over. A fix is only offered
if it parses; it may hold `...` where the user's own condition goes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from rulebot.lang import pine_spelling as spell
from rulebot.lang.diagnostics import Diagnostic, Fix, Span

CODE = "E110"
LABEL = "Pine Script"
PLACEHOLDER = "..."
"""Stands in a fix for the condition only the user knows (`entry long when ...`)."""

Parses = Callable[[str, str], bool]
"""True if a text parses with the given start rule (`start` for statements, `expr`)."""

_KEYWORDS = frozenset(
    {
        *("strategy", "market", "markets", "timeframe", "param", "let", "entry", "exit"),
        *("size", "stop_loss", "take_profit", "trailing_stop", "leg", "risk", "enabled"),
        *("if", "var", "varip"),
    }
)
_TYPE = r"(?:(?:int|float|bool|string|series|simple|const)\s+)*"
_INPUT = re.compile(
    rf"(?:let\s+)?{_TYPE}(?P<name>[A-Za-z_]\w*)\s*=\s*(?P<call>input(?:\.(?P<kind>\w+))?)\s*\("
)
_VAR = re.compile(rf"(?P<var>varip|var)\s+{_TYPE}(?P<name>[A-Za-z_]\w*)\s*:?=\s*(?P<value>.*)")
_REASSIGN = re.compile(r"(?P<let>let\s+)?(?P<name>[A-Za-z_]\w*)\s*:=\s*(?P<value>.*)")
_DECLARE = re.compile(rf"{_TYPE}(?P<name>[A-Za-z_]\w*)\s*=(?!=)\s*(?P<value>.*)")
_DECLARATION = re.compile(r"(?P<kind>strategy|indicator|study)\s*\(")
_BUY_SELL = re.compile(r"(?P<word>buy|sell)(?=\s+when\b)")
_IF = re.compile(r"if\s+(?P<condition>.+)")
_STRATEGY_CALL = re.compile(r"strategy\.(?P<name>\w+)\s*\(")
_ENTRY_SIDES = re.compile(
    r"strategy\.(?:entry|order)\s*\(\s*[\"'](?P<id>[^\"']*)[\"']\s*,\s*"
    r"(?:direction\s*=\s*)?strategy\.(?P<side>long|short)"
)
_NAMESPACED_BEFORE = re.compile(r"(?<![\w.])(?P<namespace>[A-Za-z_]\w*)\.(?P<name>\w+)\s*$")
_NAMESPACED_AT = re.compile(r"(?P<namespace>[A-Za-z_]\w*)\.(?P<name>\w+)")
_LATER_USE = re.compile(r"(?<![\w.])(?P<namespace>[A-Za-z_]\w*)\.(?P<name>\w+)(?P<call>\s*\()?")
_DIRECTIONS = {"strategy.long": "long", "strategy.short": "short", "true": "long"}
_FUNCTIONS_DOC = "docs/functions.md lists the functions a rule may call"


@dataclass(frozen=True, slots=True)
class PineHabit:
    """A Pine habit found at a syntax error: its diagnostic, the text to blank so the parse can
    go on (offsets; None: the statement that holds it), and the names its lines defined."""

    diagnostics: list[Diagnostic]
    blank: tuple[int, int] | None
    defines: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class _Found:
    message: str
    start: int
    end: int
    fix: str | None
    help: str
    defines: frozenset[str] = frozenset()
    blank_end: int | None = None


def recognise(
    error: UnexpectedInput,
    text: str,
    parses: Parses,
    statements: bool = True,
    original: str | None = None,
) -> PineHabit | None:
    """The Pine habit the parser stopped at, if it is one. `statements` is False for a YAML
    value (only expressions are looked at there); `original` is the file before recovery
    blanked anything (it tells which side a Pine order id was opened on)."""
    offset = _error_offset(error)
    if offset is None:
        return None
    found = _comment(text, offset)
    whole_lines = found is None and statements
    if whole_lines:
        sides = {m.group("id"): m.group("side") for m in _ENTRY_SIDES.finditer(original or text)}
        found = _line_habit(text, offset, sides)
    if found is None:
        whole_lines = False
        found = _namespaced(text, offset)
    if found is None:
        return None
    diagnostic = _diagnostic(text, found, whole_lines, parses)
    if not whole_lines and found.fix != "#":
        later = [_diagnostic(text, use, False, parses) for use in _later_calls(text, found.end)]
        return PineHabit([diagnostic, *later], None, found.defines)
    blank_start = found.start if found.fix == "#" else _line_start(text, found.start)
    blank_end = found.blank_end if found.blank_end is not None else _line_end(text, found.end)
    if text[found.end : blank_end].strip().startswith("//"):
        blank_end = found.end  # the Pine comment after it is reported on its own
    return PineHabit([diagnostic], (blank_start, blank_end), found.defines)


def _diagnostic(text: str, found: _Found, whole_lines: bool, parses: Parses) -> Diagnostic:
    """The E110 for a habit; its fix only if the fix parses where it goes."""
    fix = found.fix
    if fix is not None and not _fix_parses(text, found, fix, whole_lines, parses):
        fix = None
    span = _span(text, found.start, found.end)
    return Diagnostic(
        CODE,
        found.message,
        span,
        help=_help(fix, found.help) or None,
        label=LABEL,
        fix=Fix(span, fix) if fix is not None else None,
    )


def _help(fix: str | None, more: str) -> str:
    """`write <fix>` and what else the habit needs said, or only that if there is no fix."""
    if fix is None:
        return more
    return f"write `{fix}`" + (f" {more}" if more else "")


def _fix_parses(text: str, found: _Found, fix: str, whole_lines: bool, parses: Parses) -> bool:
    """True if the fix parses where it goes: its lines as statements (`...` filled with a
    condition), or alone as an expression."""
    if not whole_lines:
        return parses(fix, "start" if fix == "#" else "expr")
    start, end = _line_start(text, found.start), _line_end(text, found.end)
    tail = text[found.end : end].replace("//", "#", 1)
    fixed = text[start : found.start] + fix + tail
    return parses(fixed.replace(PLACEHOLDER, "true"), "start")


def _error_offset(error: UnexpectedInput) -> int | None:
    if isinstance(error, UnexpectedToken) and isinstance(error.token, Token):
        return error.token.start_pos
    if isinstance(error, UnexpectedCharacters):
        return error.pos_in_stream
    return None


def _comment(text: str, offset: int) -> _Found | None:
    """`// note` (or `close // note`, where the first `/` was read as a division)."""
    if text.startswith("//", offset):
        start = offset
    elif offset > 0 and text.startswith("//", offset - 1):
        start = offset - 1
    else:
        return None
    return _Found(
        "`//` starts a comment in Pine Script; rulebot's comments start with `#`",
        start,
        start + 2,
        "#",
        "in place of `//`",
    )


def _line_habit(text: str, offset: int, sides: dict[str, str]) -> _Found | None:
    """A Pine statement on the error's line: a declaration, `var`, `input`, `:=`, `if`, ..."""
    start = _line_start(text, offset)
    end = _line_end(text, offset)
    line = text[start:end]
    indent = len(line) - len(line.lstrip())
    code = _code(line[indent:])
    at = start + indent
    first = re.match(r"\w*", code).group() if code else ""  # type: ignore[union-attr]
    if not code:
        return None
    if offset > at and not (first == "strategy" or (first == "let" and ":=" in code)):
        # The line began as rulebot (`max_position = 5` in a `risk` block): not a Pine line.
        return None
    if match := _DECLARATION.match(code):
        return _declaration(text, at, match)
    if (match := _IF.fullmatch(code)) and " then " not in f" {code} ":
        return _if_block(text, at, indent, match.group("condition"), sides)
    if match := _STRATEGY_CALL.match(code):
        paren = at + match.end() - 1
        return _strategy_call(text, at, paren, match.group("name"), PLACEHOLDER, sides)
    if match := _BUY_SELL.match(code):
        side = "long" if match.group("word") == "buy" else "short"
        condition = spell.expression(code[match.end() :].strip().removeprefix("when"))
        return _Found(
            f"`{match.group('word')}` is not a statement; rulebot opens a position with "
            f"`entry {side}`",
            at,
            at + len(code),
            f"entry {side} when {condition}" if condition else None,
            "" if condition else f"write `entry {side} when` and the condition",
        )
    if match := _INPUT.match(code):
        return _input(text, at, match)
    if match := _VAR.fullmatch(code):
        name = match.group("name")
        return _Found(
            f"`{match.group('var')}` is Pine Script; a rulebot `let` keeps its own past, "
            f"read as `{name}[1]`",
            at,
            at + len(code),
            fix := _let(name, match.group("value")),
            "" if fix else f"write `let {name} = ...`; {spell.why_not(match.group('value'))}",
            frozenset({name}),
        )
    if match := _REASSIGN.fullmatch(code):
        name = match.group("name")
        fix = _let(name, match.group("value")) if match.group("let") else None
        return _Found(
            "`:=` reassigns in Pine Script; a rulebot `let` is defined once, with `=`",
            at,
            at + len(code),
            fix,
            f"(a `let` reads its own past as `{name}[1]`)"
            if fix
            else f"write the new value as one `let` that reads the old one as `{name}[1]`: "
            f"`let {name} = if ... then ... else {name}[1]`",
        )
    if first not in _KEYWORDS and (match := _DECLARE.fullmatch(code)):
        name = match.group("name")
        if name in _KEYWORDS:
            return None
        fix = _let(name, match.group("value"))
        return _Found(
            f"`{name} = ...` is Pine Script's definition; a rulebot definition starts with `let`",
            at,
            at + len(code),
            fix,
            "" if fix else f"write `let {name} = ...`; {spell.why_not(match.group('value'))}",
            frozenset({name}),
        )
    return None


def _let(name: str, value: str) -> str | None:
    spelled = spell.expression(value)
    return f"let {name} = {spelled}" if spelled else None


def _declaration(text: str, at: int, match: re.Match[str]) -> _Found | None:
    """`strategy("My Bot", overlay=true)` → `strategy my_bot` (and Pine's `pyramiding=3` →
    `pyramiding 3`)."""
    parsed = spell.call_arguments(text, at + match.end() - 1)
    if parsed is None:
        return None
    positional, keywords = spell.split_keywords(parsed[0])
    title = keywords.get("title") or (positional[0] if positional else "")
    name = re.sub(r"\W+", "_", title.strip("\"'")).strip("_").lower()
    name = name if re.fullmatch(r"[a-z_]\w*", name) else "my_strategy"
    pyramiding = keywords.get("pyramiding", "").strip()
    stack = f"; pyramiding {pyramiding}" if re.fullmatch(r"[1-9]\d*", pyramiding) else ""
    return _Found(
        f"`{match.group('kind')}(...)` is Pine Script's declaration; a rule file names its "
        "strategy with `strategy NAME`",
        at,
        parsed[1],
        f"strategy {name}{stack}",
        "",
        blank_end=_line_end(text, parsed[1]),
    )


def _input(text: str, at: int, match: re.Match[str]) -> _Found:
    """`length = input.int(20, minval=10, maxval=50)` → `param length = 20 in 10..50`."""
    name = match.group("name")
    call = match.group("call")
    parsed = spell.call_arguments(text, at + match.end() - 1)
    end = parsed[1] if parsed else _line_end(text, at)
    message = f"`{call}` is Pine Script; a setting is a `param`"
    if parsed is None:
        return _Found(message, at, end, None, f"write `param {name} = 20`", frozenset({name}))
    positional, keywords = spell.split_keywords(parsed[0])
    default = keywords.get("defval") or (positional[0] if positional else "")
    fix: str | None = None
    if match.group("kind") == "source" or default in ("open", "high", "low", "close", "volume"):
        spelled = spell.expression(default)
        fix = f"let {name} = {spelled}" if spelled else None
    elif re.fullmatch(r"-?\d+(\.\d+)?|true|false", default):
        fix = f"param {name} = {default}"
        low, high, step = keywords.get("minval"), keywords.get("maxval"), keywords.get("step")
        if low and high:
            fix += f" in {low}..{high}" + (f" step {step}" if step else "")
    help_text = "" if fix else "rulebot has no text settings: a `param` is a number or true/false"
    return _Found(message, at, end, fix, help_text, frozenset({name}))


def _if_block(text: str, at: int, indent: int, condition: str, sides: dict[str, str]) -> _Found:
    """`if up` over an indented `strategy.entry(...)`: the condition goes into the statement."""
    body_end = _line_end(text, at)
    calls: list[tuple[int, int, str]] = []
    position = body_end + 1
    while position < len(text):
        end = _line_end(text, position)
        line = text[position:end]
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        if line.strip():
            body_end = end
            match = _STRATEGY_CALL.match(line.lstrip())
            if match is None:
                calls = []
                break
            call_at = position + len(line) - len(line.lstrip())
            calls.append((call_at, call_at + match.end() - 1, match.group("name")))
        position = end + 1
    spelled_condition = spell.expression(_code(condition))
    statements: list[str] = []
    for call_at, paren, name in calls:
        found = _strategy_call(text, call_at, paren, name, spelled_condition or PLACEHOLDER, sides)
        if found is None or found.fix is None:
            statements = []
            break
        body_end = max(body_end, _line_end(text, found.end))
        statements.append(found.fix)
    message = "`if` blocks are Pine Script; a rulebot statement carries its own condition"
    if not statements or spelled_condition is None:
        return _Found(
            message,
            at,
            _line_end(text, at),
            None,
            f"write the condition into the statement: `entry long when {condition.strip()}`",
            blank_end=body_end,
        )
    return _Found(
        message,
        at,
        body_end,
        ("\n" + " " * indent).join(statements) if len(statements) > 1 else statements[0],
        "",
        blank_end=body_end,
    )


def _strategy_call(
    text: str, at: int, paren: int, name: str, condition: str, sides: dict[str, str]
) -> _Found | None:
    """`strategy.entry/close/close_all/exit(...)` as rulebot statements."""
    parsed = spell.call_arguments(text, paren)
    if parsed is None:
        return None
    positional, keywords = spell.split_keywords(parsed[0])
    if "when" in keywords:
        condition = spell.expression(keywords["when"]) or condition
    pine = f"strategy.{name}"
    fix: str | None = None
    help_text = ""
    if name in ("entry", "order"):
        message = f"`{pine}` is Pine Script; rulebot opens a position with an `entry` statement"
        direction = keywords.get("direction") or (positional[1] if len(positional) > 1 else "")
        side = _DIRECTIONS.get(direction)
        order, problem = _resting_order(keywords)
        fix = f"entry {side}{order} when {condition}" if side and problem is None else None
        help_text = problem or (
            "" if side else f"write `entry long{order} when ...` or `entry short{order} when ...`"
        )
    elif name in ("close", "close_all"):
        message = f"`{pine}` is Pine Script; rulebot closes a position with an `exit` statement"
        entry_id = positional[0].strip("\"'") if positional else ""
        if name == "close_all":
            fix = f"exit long when {condition}; exit short when {condition}"
        elif entry_id in sides:
            fix = f"exit {sides[entry_id]} when {condition}"
        else:
            help_text = "write `exit long when ...` or `exit short when ...`"
    elif name == "exit":
        message = (
            f"`{pine}` is Pine Script; rulebot's protective exits are `stop_loss`, "
            "`take_profit` and `trailing_stop`"
        )
        levels = [
            f"{statement} at {spelled}"
            for key, statement in (("stop", "stop_loss"), ("limit", "take_profit"))
            if key in keywords and (spelled := spell.expression(keywords[key]))
        ]
        fix = "; ".join(levels) or None
        help_text = (
            "(rulebot applies them to every position)"
            if fix
            else "write a percentage or a price distance: `stop_loss 2%`, "
            "`take_profit 3 * atr(14)`, `trailing_stop 1.5%`"
        )
    else:
        message = f"`{pine}` is Pine Script; rulebot places and cancels its orders itself"
        help_text = "state when to enter and exit: `entry long when ...`, `exit long when ...`"
    return _Found(message, at, parsed[1], fix, help_text)


def _resting_order(keywords: dict[str, str]) -> tuple[str, str | None]:
    """Pine's `limit=x` / `stop=x` on an entry as rulebot's ` limit at x` / ` stop at x` (empty
    for a market entry), or why there is no such spelling."""
    kinds = [kind for kind in ("limit", "stop") if kind in keywords]
    if len(kinds) > 1:
        return "", "rulebot has no stop-limit entry: rest a `limit at` or a `stop at` order"
    if not kinds:
        return "", None
    level = spell.expression(keywords[kinds[0]])
    if level is None:
        return "", f"rest the entry at a price: `entry long {kinds[0]} at PRICE when ...`"
    return f" {kinds[0]} at {level}", None


def _namespaced(text: str, offset: int) -> _Found | None:
    """`ta.sma(` (the parser stops at the `(`) or `strategy.position_size` (at `strategy`)."""
    match = _NAMESPACED_BEFORE.search(text, _line_start(text, offset), offset)
    if match and text.startswith("(", offset):
        start, paren = match.start(), offset
    elif (match := _NAMESPACED_AT.match(text, offset)) is not None:
        start, paren = match.start(), -1
        after = text[match.end() :].lstrip()
        if after.startswith("("):
            paren = len(text) - len(after)
    else:
        return None
    return _namespaced_use(text, match, start, paren)


def _later_calls(text: str, after: int) -> list[_Found]:
    """Pine calls and values later on the same line as the first one found (`ta.crossover(a, b) and
    ta.rsi(close, 14) < 30`): each is reported, since the statement is dropped as a whole."""
    found: list[_Found] = []
    position, end = after, _line_end(text, after)
    while (match := _LATER_USE.search(text, position, end)) is not None:
        position = match.end()
        if match.group("namespace") not in spell.NAMESPACES:
            continue
        paren = match.end() - 1 if match.group("call") else -1
        use = _namespaced_use(text, match, match.start(), paren)
        if use is not None:
            found.append(use)
            position = max(position, use.end)
    return found


def _namespaced_use(text: str, match: re.Match[str], start: int, paren: int) -> _Found | None:
    """A use of Pine's `namespace.name` (a call if `paren` >= 0) in rulebot's spelling."""
    namespace, name = match.group("namespace"), match.group("name")
    if namespace not in spell.NAMESPACES:
        return None
    pine = f"{namespace}.{name}"
    if paren < 0:
        end = match.end()
        fix = spell.expression(pine)
        return _Found(
            f"`{pine}` is Pine Script" + (f"; rulebot calls it `{fix}`" if fix else ""),
            start,
            end,
            fix,
            "" if fix else "rulebot has no such value",
        )
    parsed = spell.call_arguments(text, paren)
    if parsed is None:
        return None
    spelled = spell.call(namespace, name, parsed[0])
    if namespace == "request":
        message = f"`{pine}` is Pine Script; rulebot reads another market or timeframe with `@`"
        help_text = (
            ""
            if spelled.text
            else "write `close@BTC` for another market, `close@1h` for a higher timeframe, "
            "or both: `close@BTC@1h` (timeframes: 1m, 5m, 15m, 30m, 1h, 4h, 12h, 1d, 1w)"
        )
    elif spelled.name:
        message = f"`{pine}` is Pine Script; rulebot calls it `{spelled.name}`"
        help_text = spelled.note or (
            "" if spelled.text else f"its arguments differ from Pine's: {_FUNCTIONS_DOC}"
        )
    else:
        message = f"`{pine}` is Pine Script, and rulebot has no such function"
        help_text = _FUNCTIONS_DOC
    return _Found(message, start, parsed[1], spelled.text, help_text)


def _code(line: str) -> str:
    """A line without its trailing `//` or `#` comment and spacing."""
    return re.split(r"//|#", line, maxsplit=1)[0].strip()


def _line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def _line_end(text: str, offset: int) -> int:
    end = text.find("\n", offset)
    return len(text) if end < 0 else end


def _span(text: str, start: int, end: int) -> Span:
    line = text.count("\n", 0, start) + 1
    col = start - _line_start(text, start) + 1
    end_line = text.count("\n", 0, end) + 1
    end_col = end - _line_start(text, end) + 1
    if end <= start:
        return Span.point(line, col)
    return Span(line, col, end_line, end_col)

"""Pine Script expressions rewritten in rulebot's spelling, for the help of a Pine diagnostic.

Traders arrive writing `ta.sma(close, 20)` or `request.security("BTC", "60", close)`. This module
turns such text into rulebot's (`sma(close, 20)`, `close@BTC@1h`), carrying the user's own
arguments over. It only ever names functions the registry has; where a Pine call has no faithful
rulebot spelling it says so (None) rather than guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rulebot.graph.registry import registry
from rulebot.lang.suggest import PINE_PRICE_AVERAGES

NAMESPACES = ("ta", "math", "request", "strategy", "syminfo", "timeframe", "input", "str")

_TA_RENAMES = {"stdev": "stddev", "cum": "cumsum", "tr": "trange", "variance": "var"}
_TA_ARGUMENTS_DIFFER = {"supertrend", "sar", "bb", "bbw", "kc", "kcw", "stoch", "linreg", "dmi"}
"""Pine functions whose rulebot namesake takes other arguments or gives other outputs."""
_MATH = {
    "abs": "abs",
    "max": "max",
    "min": "min",
    "sqrt": "sqrt",
    "log": "ln",
    "log10": "log10",
    "exp": "exp",
    "floor": "floor",
    "ceil": "ceil",
    "sum": "sum",
}
_VALUES = {
    "strategy.position_size": "position",
    "strategy.position_avg_price": "entry_price",
    "ta.tr": "trange()",
}
PINE_TIMEFRAMES = {
    "1": "1m",
    "5": "5m",
    "15": "15m",
    "30": "30m",
    "60": "1h",
    "240": "4h",
    "720": "12h",
    "D": "1d",
    "1D": "1d",
    "W": "1w",
    "1W": "1w",
}
"""Pine's timeframe strings for the candles Lighter has (see timeframes.py)."""
_QUOTE_SUFFIXES = ("USDT.P", "USDT", "USDC", "USD", "PERP", ".P")

_NAMESPACED = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\.([A-Za-z_]\w*)")
_UNSUPPORTED = re.compile(r"""["'?]|:=|=>""")
_SIMPLE_OPERAND = re.compile(r"[A-Za-z_]\w*(\([^()]*\))?|[0-9.]+")
_KEYWORD_ARGUMENT = re.compile(r"([A-Za-z_]\w*)\s*=(?!=)\s*(.*)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Spelling:
    """How a Pine call reads in rulebot: the full text if it can be written, else the name of
    the rulebot function it corresponds to (None if rulebot has none)."""

    text: str | None
    name: str | None
    note: str = ""
    """What the trader should know about the difference, if anything."""


def call_arguments(text: str, open_paren: int) -> tuple[list[str], int] | None:
    """The top-level arguments of the call whose `(` is at `open_paren`, and the offset just
    past its `)`; None if the parentheses never close."""
    depth = 0
    quote = ""
    start = open_paren + 1
    arguments: list[str] = []
    for index in range(open_paren, len(text)):
        char = text[index]
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
            if depth == 0:
                last = text[start:index].strip()
                if last or arguments:
                    arguments.append(last)
                return arguments, index + 1
        elif char == "," and depth == 1:
            arguments.append(text[start:index].strip())
            start = index + 1
    return None


def split_keywords(arguments: list[str]) -> tuple[list[str], dict[str, str]]:
    """Positional arguments, and keyword arguments by name (`minval=10`)."""
    positional: list[str] = []
    keywords: dict[str, str] = {}
    for argument in arguments:
        match = _KEYWORD_ARGUMENT.fullmatch(argument)
        if match:
            keywords[match.group(1)] = match.group(2).strip()
        else:
            positional.append(argument)
    return positional, keywords


def expression(text: str) -> str | None:
    """A Pine expression in rulebot's spelling, or None if part of it has no faithful one."""
    out: list[str] = []
    position = 0
    while True:
        match = _NAMESPACED.search(text, position)
        if match is None:
            break
        namespace, name = match.groups()
        if namespace not in NAMESPACES:
            out.append(text[position : match.end()])
            position = match.end()
            continue
        out.append(text[position : match.start()])
        after = len(text[match.end() :]) - len(text[match.end() :].lstrip())
        if text[match.end() + after : match.end() + after + 1] == "(":
            parsed = call_arguments(text, match.end() + after)
            if parsed is None:
                return None
            spelled = call(namespace, name, parsed[0]).text
            position = parsed[1]
        else:
            spelled = _VALUES.get(f"{namespace}.{name}")
            position = match.end()
        if spelled is None:
            return None
        out.append(spelled)
    out.append(text[position:])
    # What is left is Pine's own operators and names; strings have no spelling here.
    spelled_text = _conditional("".join(out))
    if spelled_text is None or _UNSUPPORTED.search(spelled_text):
        return None
    for word, average in PINE_PRICE_AVERAGES.items():
        spelled_text = re.sub(rf"(?<![\w.@]){word}(?!\w)", f"({average})", spelled_text)
    return spelled_text.strip()


def _conditional(text: str) -> str | None:
    """Pine's `c ? a : b` (one, not nested) as `if c then a else b`."""
    if text.count("?") == 0:
        return text if ":" not in text.replace(":=", "") else None
    if text.count("?") > 1 or text.count(":") != 1 or text.index(":") < text.index("?"):
        return None
    condition, rest = text.split("?")
    then, otherwise = rest.split(":")
    return f"if {condition.strip()} then {then.strip()} else {otherwise.strip()}"


def why_not(text: str) -> str:
    """Why a Pine expression has no rulebot spelling here, in a few words."""
    for match in _NAMESPACED.finditer(text):
        namespace, name = match.groups()
        if namespace not in NAMESPACES or expression(match.group()) is not None:
            continue
        after = text[match.end() :].lstrip()
        arguments = call_arguments(after, 0) if after.startswith("(") else None
        if arguments is not None and call(namespace, name, arguments[0]).text is not None:
            continue
        spelled = call(namespace, name, arguments[0] if arguments else [])
        if spelled.name:
            return spelled.note or (
                f"`{match.group()}` is rulebot's `{spelled.name}`, whose arguments differ "
                "from Pine's"
            )
        return f"rulebot has no `{match.group()}`; docs/functions.md lists its functions"
    if re.search(r"[\"']", text):
        return "rulebot has no strings"
    if "?" in text:
        return "Pine's `c ? a : b` is `if c then a else b`"
    return "rulebot has no spelling for part of this"


def call(namespace: str, name: str, arguments: list[str]) -> Spelling:
    """A Pine call `namespace.name(arguments)` in rulebot's spelling."""
    if namespace == "request" and name == "security":
        return Spelling(security(arguments), None)
    if namespace == "math":
        target = _MATH.get(name)
    elif namespace == "ta":
        target = _TA_RENAMES.get(name, name)
        target = target if target in registry() else None
    else:
        target = None
    if target is None:
        return Spelling(None, None)
    positional, keywords = split_keywords(arguments)
    spec = registry()[target]
    if spec.multi_output:
        outputs = ", ".join(f"`.{o}`" for o in spec.output_names())
        return Spelling(None, target, f"`{target}` has several outputs, read by name: {outputs}")
    if keywords or name in _TA_ARGUMENTS_DIFFER:
        return Spelling(None, target)
    if target in ("highest", "lowest") and len(positional) == 1:
        positional = ["high" if target == "highest" else "low", *positional]
    note = ""
    if spec.implicit_inputs and len(positional) > len(spec.params):
        # Pine passes a source first (`ta.cci(close, 20)`); rulebot reads the bar's prices.
        positional = positional[len(positional) - len(spec.params) :]
        columns = [i.column for i in spec.inputs if i.column]
        note = f"(`{target}` reads the bar's {', '.join(columns[:-1])} and {columns[-1]} itself)"
    limit = len(spec.inputs) + len(spec.params)
    if len(positional) > limit and not spec.variadic:
        return Spelling(None, target)
    spelled = [expression(argument) for argument in positional]
    if any(argument is None for argument in spelled):
        return Spelling(None, target)
    text = f"{target}({', '.join(a for a in spelled if a is not None)})"
    return Spelling(text, target, note)


def security(arguments: list[str]) -> str | None:
    """`request.security(symbol, timeframe, expression)` as `expression@MARKET@TIMEFRAME`."""
    positional, _ = split_keywords(arguments)
    if len(positional) < 3:
        return None
    market = _market(positional[0])
    timeframe = _timeframe(positional[1])
    value = expression(positional[2])
    if market is None or timeframe is None or value is None:
        return None
    if not _SIMPLE_OPERAND.fullmatch(value):
        value = f"({value})"
    return value + "".join(f"@{part}" for part in (market, timeframe) if part)


def _market(symbol: str) -> str | None:
    """`"BINANCE:BTCUSDT"` → `BTC`; the chart's own symbol → "" (no `@` needed)."""
    if symbol in ("syminfo.tickerid", "syminfo.ticker"):
        return ""
    if len(symbol) < 3 or symbol[0] not in "\"'" or symbol[-1] != symbol[0]:
        return None
    name = symbol[1:-1].rsplit(":", 1)[-1].upper()
    for suffix in _QUOTE_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return name if re.fullmatch(r"[A-Z][A-Z0-9]*", name) else None


def _timeframe(text: str) -> str | None:
    """Pine's `"60"` → `1h`; the chart's own timeframe → "" (no `@` needed)."""
    if text == "timeframe.period":
        return ""
    if len(text) < 3 or text[0] not in "\"'" or text[-1] != text[0]:
        return None
    return PINE_TIMEFRAMES.get(text[1:-1])

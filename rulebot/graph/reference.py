"""The function reference (docs/functions.md), generated from the registry so it cannot drift.

Regenerate with `python -m rulebot.graph.reference > docs/functions.md`; a test fails when the
file and the registry disagree.
"""

from __future__ import annotations

from itertools import groupby

import talib

from rulebot.graph.registry import BAR_SERIES, PERP_SERIES, FunctionSpec, registry

SERIES = {
    "open": "the bar's first trade price",
    "high": "the bar's highest trade price",
    "low": "the bar's lowest trade price",
    "close": "the bar's last trade price",
    "volume": "the base amount traded in the bar",
    "hour": "the hour of the bar's open, UTC: 0 to 23",
    "minute": "the minute of the bar's open, UTC: 0 to 59",
    "dayofweek": "the day of the bar's open, UTC: 0 = Monday … 6 = Sunday (as Python counts)",
    "funding": "the perpetual's funding rate of the latest funding known at the bar's close, a "
    "fraction per interval (`funding > 0.01%`); from `--funding` files in backtests, the market "
    "stats stream live",
    "mark": "the perpetual's mark price at the bar's close (live only)",
    "open_interest": "the perpetual's open interest at the bar's close (live only)",
}
"""What each built-in series of a bar is, for the reference."""


def signature(spec: FunctionSpec) -> str:
    """How a rule calls it, e.g. `bbands(real, timeperiod=20, nbdevup=2.0, ...)`."""
    parts = ["a, b, ..."] if spec.variadic else [i.name for i in spec.inputs if i.column is None]
    if spec.required_inputs is not None and not spec.variadic:
        parts = [p if n < spec.required_inputs else f"{p}?" for n, p in enumerate(parts)]
    parts += [f"{p.name}={p.default!r}" for p in spec.params]
    return f"{spec.name}({', '.join(parts)})"


def functions_markdown() -> str:
    table = registry()
    lines = [
        "# Functions",
        "",
        "Every function a rule may call, generated from rulebot's function registry "
        f"(TA-Lib {talib.__version__} plus rulebot's own). Regenerate with "
        "`python -m rulebot.graph.reference > docs/functions.md`.",
        "",
        "- Series inputs come first (`sma(close, 20)`); parameters follow by position or by name "
        "(`bbands(close, 20, nbdevup=2.5)`).",
        "- *Reads* lists the bar's own prices a function takes implicitly; pass them explicitly "
        "to use other bars: `atr(high@BTC, low@BTC, close@BTC, 14)`.",
        "- Any series is an input, the perpetual's own too: `sma(funding, 24)`, `ema(mark, 10)`, "
        "`change(open_interest, 24)`. An average, extreme, sum or change of the funding rate "
        "(`sma`, `ema`, `wma`, `dema`, `tema`, `trima`, `kama`, `t3`, `highest`, `lowest`, "
        "`midpoint`, `sum`, `stddev`, `change`) is a rate too, compared with percentages.",
        "- Multi-output functions are read by output: `bbands(close).upper`, `macd(close).signal`.",
        "- `max`/`min` compare values bar by bar; TA-Lib's rolling MAX/MIN are `highest`/`lowest`.",
        "- *Live* says whether the streaming evaluator computes it bar by bar; the others can be "
        "backtested, and `rulebot lint --live` refuses them (some settings, such as a MAMA "
        "moving-average type, are refused even where the function runs live).",
        "",
        "## Built-in series",
        "",
        "Names, not calls: each is a series on the strategy's bars (`close`), another market's "
        "(`close@BTC`) or a higher timeframe's (`hour@4h`: the open of its last closed bar). "
        "All run live.",
        "",
        "| series | what it is |",
        "|---|---|",
        *(f"| `{name}` | {SERIES[name]} |" for name in (*BAR_SERIES, *PERP_SERIES)),
        "",
        "A backtest whose data lacks a perpetual series the rule reads stops with an error at "
        "the read, unless every read is inside `nz(...)` or `na(...)` (`nz(funding) <= 0.01%`): "
        "the rule has then said what a missing value means, and the series is na on every bar.",
        "",
        "A resting entry's level is any price-like expression: "
        "`entry long limit at bbands(close, 20).lower post_only for 3 bars when ...` "
        "(docs/language.md, Resting entries).",
        "",
    ]
    ordered = sorted(table.values(), key=lambda s: (s.group != "rulebot", s.group, s.name))
    for group, specs in groupby(ordered, key=lambda s: s.group):
        lines += [f"## {group}", ""]
        lines += [
            "| function | reads | outputs | live | what it is |",
            "|---|---|---|---|---|",
        ]
        for spec in specs:
            reads = ", ".join(i.name for i in spec.inputs if i.column) or ""
            outputs = ", ".join(f".{n}" for n in spec.output_names()) if spec.multi_output else ""
            kind = " (true/false)" if spec.result == "bool" else ""
            talib_note = (
                f" (TA-Lib {spec.talib_name})"
                if spec.talib_name and spec.talib_name.lower() != spec.name
                else ""
            )
            live = "yes" if spec.streaming else "backtest only"
            lines.append(
                f"| `{signature(spec)}` | {reads} | {outputs} | {live} "
                f"| {spec.summary}{kind}{talib_note} |"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(functions_markdown(), end="")

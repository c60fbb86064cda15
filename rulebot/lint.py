"""`rulebot lint`: find rule files and configs, check each, and print what was found.

Rule files are `.rule` files and `.yaml`/`.yml` files; a file named `rulebot.yaml` is the bot's
config and is checked as one. Nothing here raises on bad input: every problem is a diagnostic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rulebot.data.candles import DataError
from rulebot.lang.diagnostics import Diagnostic, Severity, Source, Span, as_json, render
from rulebot.lang.load import RULE_SUFFIXES, compile_file, read_source
from rulebot.perp_lint import perp_data_warnings
from rulebot.price_scale import PriceData, distance_warnings, read_price_data

CONFIG_NAMES = ("rulebot.yaml", "rulebot.yml")


class UsageError(Exception):
    """A path on the command line that is not there: the user's call is wrong, not a file."""


@dataclass(slots=True)
class FileReport:
    path: str
    source: Source | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    markets: frozenset[str] = frozenset()
    """Rule files: every market the strategy reads. Config files: the markets it allows."""
    is_config: bool = False

    @property
    def errors(self) -> int:
        return sum(d.is_error for d in self.diagnostics)

    @property
    def warnings(self) -> int:
        return sum(not d.is_error for d in self.diagnostics)


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """The files to lint: files as named, folders searched recursively for rule files."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        try:
            is_dir = path.is_dir()
            named = is_dir or path.exists() or path.is_symlink()
        except (OSError, ValueError) as error:  # a name the OS refuses: too long, a NUL, ...
            reason = getattr(error, "strerror", None) or error
            raise UsageError(f"cannot use {_shown(raw)}: {reason}") from None
        if not named:
            raise UsageError(f"no such file or folder: {_shown(raw)}")
        if not is_dir:
            found.append(path)
            continue
        inside = sorted(
            p
            for p in path.rglob("*")
            if p.suffix in RULE_SUFFIXES
            and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if not inside:
            suffixes = ", ".join(RULE_SUFFIXES)
            raise UsageError(f"no rule files ({suffixes}) in folder: {_shown(raw)}")
        found += inside
    return list(dict.fromkeys(found))


def _shown(raw: str | Path) -> str:
    """A path as typed, shortened if it is absurdly long."""
    text = str(raw)
    return text if len(text) <= 200 else text[:100] + "..." + text[-20:]


def lint_file(path: Path, live: bool = False, prices: PriceData | None = None) -> FileReport:
    """One file's report; rules' price distances are measured against `prices` (the shipped
    data when not given: see `rulebot.price_scale`)."""
    if path.name in CONFIG_NAMES:
        source, problem = read_source(path)
        if source is None:
            return FileReport(str(path), None, [problem] if problem else [])
        from rulebot.config import check_config, redact_secrets  # pydantic: only when needed

        config, diagnostics = check_config(source)
        allowed = frozenset(m.symbol for m in config.markets) if config else frozenset()
        if config is not None and config.network.name == "sim" and config.network.url is None:
            diagnostics += _not_on_the_sim(source, sorted(allowed))
        return FileReport(str(path), redact_secrets(source), diagnostics, allowed, is_config=True)
    compiled = compile_file(path, live=live)
    markets = frozenset(m for m, _ in compiled.strategy.feeds) if compiled.strategy else frozenset()
    diagnostics = compiled.diagnostics
    if compiled.strategy is not None and compiled.source is not None:
        found = distance_warnings(compiled.strategy, compiled.source, prices or PriceData())
        found += perp_data_warnings(compiled.strategy, prices or PriceData())
        diagnostics = [*diagnostics, *found]
    return FileReport(str(path), compiled.source, diagnostics, markets)


def lint(
    paths: Sequence[str | Path], live: bool = False, data: Sequence[str] = ()
) -> list[FileReport]:
    """Every file's report; `live` checks rules for live trading (see `compile_file`); `data`
    holds `FILE` or `MARKET=FILE` candle files whose prices rules are measured against."""
    try:
        prices = read_price_data(data)
    except DataError as error:
        raise UsageError(f"cannot read --data: {error}") from None
    reports = [lint_file(path, live, prices) for path in discover(paths)]
    _check_markets_against_config(reports)
    return reports


def _check_markets_against_config(reports: list[FileReport]) -> None:
    """When rules are linted with a clean rulebot.yaml, a rule reading a market the config does
    not list is flagged: the bot would refuse to run it."""
    configs = [r for r in reports if r.is_config and r.markets and not r.errors]
    if len(configs) != 1:
        return
    allowed = configs[0].markets
    for report in reports:
        if report.is_config or report.source is None:
            continue
        for symbol in sorted(report.markets - allowed):
            report.diagnostics.append(
                Diagnostic(
                    "W507",
                    f"market `{symbol}` is not in the markets of {configs[0].path}",
                    _first_mention(report.source, symbol),
                    Severity.WARNING,
                    f"the bot will not run this strategy; add {symbol} under `markets:` there",
                )
            )


def _not_on_the_sim(source: Source, symbols: Sequence[str]) -> list[Diagnostic]:
    """The markets rulebot.yaml lists that the sim the bot starts itself does not have: what
    `rulebot check` warns of too, since it asks that sim."""
    from rulebot.venues.sim.markets import shipped_symbols

    known = shipped_symbols()
    folded = {symbol.casefold() for symbol in known}
    return [
        Diagnostic(
            "W509",
            f"market `{symbol}` is not one of the sim's markets ({', '.join(sorted(known))})",
            _first_mention(source, symbol),
            Severity.WARNING,
            "no strategy can trade it on the sim rulebot starts; remove it, or give "
            "`network.url` of a sim started with its data (`rulebot sim --data`)",
        )
        for symbol in symbols
        if symbol.casefold() not in folded
    ]


def _first_mention(source: Source, symbol: str) -> Span:
    """Where a rule first names `symbol` outside a comment (1:1 if it cannot be found)."""
    pattern = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(symbol)}(?![A-Za-z0-9_])")
    for number, line in enumerate(source.text.split("\n"), start=1):
        match = pattern.search(line.split("#", 1)[0])
        if match:
            return Span(number, match.start() + 1, number, match.end() + 1)
    return Span.point(1, 1)


def render_text(reports: Sequence[FileReport]) -> str:
    blocks = [render(d, r.source, r.path) for r in reports for d in r.diagnostics]
    errors = sum(r.errors for r in reports)
    warnings = sum(r.warnings for r in reports)
    files = len(reports)
    summary = (
        f"{_count(errors, 'error')}, {_count(warnings, 'warning')} in {_count(files, 'file')}"
        if errors or warnings
        else f"{_count(files, 'file')} checked: no problems"
    )
    return "\n\n".join([*blocks, summary]) + "\n"


def render_json(reports: Sequence[FileReport]) -> str:
    return json.dumps([as_json(d, r.path) for r in reports for d in r.diagnostics], indent=2) + "\n"


def exit_code(reports: Sequence[FileReport]) -> int:
    return 1 if any(r.errors for r in reports) else 0


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


__all__ = ["FileReport", "Span", "UsageError", "discover", "lint", "render_json", "render_text"]

"""`rulebot lint`: find rule files and configs, check each, and print what was found.

Rule files are `.rule` files and `.yaml`/`.yml` files; a file named `rulebot.yaml` is the bot's
config and is checked as one. Nothing here raises on bad input: every problem is a diagnostic.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rulebot.lang.diagnostics import Diagnostic, Source, Span, as_json, render
from rulebot.lang.load import RULE_SUFFIXES, compile_file, read_source

CONFIG_NAMES = ("rulebot.yaml", "rulebot.yml")


class UsageError(Exception):
    """A path on the command line that is not there: the user's call is wrong, not a file."""


@dataclass(slots=True)
class FileReport:
    path: str
    source: Source | None
    diagnostics: list[Diagnostic] = field(default_factory=list)

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


def lint_file(path: Path) -> FileReport:
    if path.name in CONFIG_NAMES:
        source, problem = read_source(path)
        if source is None:
            return FileReport(str(path), None, [problem] if problem else [])
        from rulebot.config import check_config, redact_secrets  # pydantic: only when needed

        _, diagnostics = check_config(source)
        return FileReport(str(path), redact_secrets(source), diagnostics)
    compiled = compile_file(path)
    return FileReport(str(path), compiled.source, compiled.diagnostics)


def lint(paths: Sequence[str | Path]) -> list[FileReport]:
    return [lint_file(path) for path in discover(paths)]


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

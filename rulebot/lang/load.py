"""Rule files in, checked strategies and diagnostics out: the compiler front end's one door.

Reading is defensive: whatever the bytes (binary, wrong encoding, huge, deeply nested), the result
is a list of located diagnostics, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rulebot.lang import ir
from rulebot.lang.check import check_rule
from rulebot.lang.diagnostics import Diagnostic, Source, Span
from rulebot.lang.parse import parse_rule_text
from rulebot.lang.yaml_rules import parse_yaml_rule

MAX_RULE_BYTES = 1024 * 1024
YAML_SUFFIXES = (".yaml", ".yml")
RULE_SUFFIXES = (".rule", *YAML_SUFFIXES)


@dataclass(frozen=True, slots=True)
class Compiled:
    """One rule file, compiled: the strategy (None if it has errors) and every diagnostic."""

    path: str
    source: Source | None
    strategy: ir.Strategy | None
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


def compile_file(path: str | Path) -> Compiled:
    """Read, parse and check the rule file at `path`."""
    shown = str(path)
    source, problem = read_source(path)
    if source is None:
        return Compiled(shown, None, None, [problem] if problem else [])
    return compile_source(source)


def compile_text(text: str, path: str = "<rule>") -> Compiled:
    """Parse and check rule text; a `path` ending in .yaml/.yml selects the YAML form."""
    return compile_source(Source(path, text))


def compile_source(source: Source) -> Compiled:
    try:
        if source.path.endswith(YAML_SUFFIXES):
            tree, diagnostics, skipped = parse_yaml_rule(source)
        else:
            parsed = parse_rule_text(source.text)
            tree, diagnostics, skipped = parsed.tree, list(parsed.diagnostics), parsed.skipped_names
        strategy = None
        if tree is not None:
            result = check_rule(tree, source.path, skipped)
            diagnostics += result.diagnostics
            strategy = result.strategy if not diagnostics or result.strategy else None
            if any(d.is_error for d in diagnostics):
                strategy = None
    except RecursionError:
        diagnostics = [
            Diagnostic(
                "E109",
                "an expression is nested too deeply to check",
                Span.point(1, 1),
                help="split it into several `let` definitions",
            )
        ]
        strategy = None
    diagnostics.sort(key=lambda d: (d.span.line, d.span.col, d.code))
    return Compiled(source.path, source, strategy, diagnostics)


def read_source(path: str | Path) -> tuple[Source | None, Diagnostic | None]:
    """The decoded text of a file, or a diagnostic saying why it cannot be read as text."""
    shown = str(path)
    start = Span.point(1, 1)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_RULE_BYTES + 1)
    except IsADirectoryError:
        return None, Diagnostic("E105", "this is a folder, not a file", start)
    except FileNotFoundError:
        return None, Diagnostic("E105", "no such file", start)
    except PermissionError:
        return None, Diagnostic("E105", "permission denied: the file cannot be read", start)
    except OSError as error:
        return None, Diagnostic("E105", f"cannot read the file: {error.strerror or error}", start)
    if len(data) > MAX_RULE_BYTES:
        return None, Diagnostic(
            "E108",
            f"the file is larger than {MAX_RULE_BYTES // 1024} KiB; a rule file is text of a few "
            "hundred lines",
            start,
        )
    if b"\x00" in data:
        return None, Diagnostic("E105", "this is a binary file, not a rule file", start)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        before = data[: error.start]
        line = before.count(b"\n") + 1
        col = len(before) - (before.rfind(b"\n") + 1) + 1
        return None, Diagnostic(
            "E105",
            f"the file is not UTF-8 text (byte 0x{data[error.start]:02x})",
            Span.point(line, col),
            help="save the file as UTF-8",
        )
    return Source(shown, text), None

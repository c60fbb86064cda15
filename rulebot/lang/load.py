"""Rule files in, checked strategies and diagnostics out: the compiler front end's one door.

Reading is defensive: whatever the bytes (binary, wrong encoding, huge, deeply nested), the result
is a list of located diagnostics, never an exception.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass, replace
from functools import cache
from pathlib import Path

from rulebot.lang import ast, ir
from rulebot.lang.check import check_rule
from rulebot.lang.diagnostics import Diagnostic, Source, Span
from rulebot.lang.parse import parse_rule_text
from rulebot.lang.stack import bounded_recursion
from rulebot.lang.yaml_rules import parse_yaml_rule

MAX_RULE_BYTES = 1024 * 1024
MAX_NESTING = 200
"""Deepest expression checked: far beyond a hand-written rule, well within Python's stack."""
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


def compile_file(path: str | Path, live: bool = False) -> Compiled:
    """Read, parse and check the rule file at `path` (for live trading if `live`)."""
    shown = str(path)
    source, problem = read_source(path)
    if source is None:
        return Compiled(shown, None, None, [problem] if problem else [])
    return compile_source(source, live)


def compile_text(text: str, path: str = "<rule>", live: bool = False) -> Compiled:
    """Parse and check rule text; a `path` ending in .yaml/.yml selects the YAML form."""
    return compile_source(Source(path, text), live)


def compile_source(
    source: Source,
    live: bool = False,
    overrides: Mapping[str, tuple[float | bool, ...]] | None = None,
) -> Compiled:
    """Parse and check `source`; `overrides` give params the values a backtest or a search
    will use instead of the declared ones (see `check_rule`)."""
    with bounded_recursion():
        return _compile(source, live, overrides)


def _compile(
    source: Source, live: bool, overrides: Mapping[str, tuple[float | bool, ...]] | None = None
) -> Compiled:
    diagnostics: list[Diagnostic] = []
    try:
        if source.path.endswith(YAML_SUFFIXES):
            tree, diagnostics, skipped = parse_yaml_rule(source)
        else:
            parsed = parse_rule_text(source.text)
            tree, diagnostics, skipped = parsed.tree, list(parsed.diagnostics), parsed.skipped_names
        strategy = None
        if tree is not None:
            tree, too_deep, dropped = _drop_deep_statements(tree)
            diagnostics += too_deep
            result = check_rule(tree, source.path, skipped | dropped, live, overrides)
            diagnostics += result.diagnostics
            strategy = result.strategy if not diagnostics or result.strategy else None
            if strategy is not None:
                strategy = replace(strategy, source=source)
            if any(d.is_error for d in diagnostics):
                strategy = None
    except RecursionError:  # lets that read lets, each deep: the sum of depths is too much
        diagnostics = [*diagnostics, _too_deep(Span.point(1, 1))]
        strategy = None
    diagnostics.sort(key=lambda d: (d.span.line, d.span.col, d.code))
    return Compiled(source.path, source, strategy, diagnostics)


def _drop_deep_statements(
    tree: ast.RuleFile,
) -> tuple[ast.RuleFile, list[Diagnostic], frozenset[str]]:
    """Statements nested deeper than MAX_NESTING are reported and left out of the check, with
    what they define (so their uses are not reported again), like statements with syntax errors."""
    kept: list[ast.Statement] = []
    diagnostics: list[Diagnostic] = []
    dropped: set[str] = set()
    for statement in tree.statements:
        span = statement.span
        short = span.end_line == span.line and span.end_col - span.col <= MAX_NESTING // 2
        if short or _nesting(statement) <= MAX_NESTING:  # each level takes a character or more
            kept.append(statement)
            continue
        diagnostics.append(_too_deep(Span.point(statement.span.line, statement.span.col)))
        dropped.add(_statement_head(statement))
        if isinstance(statement, ast.LetDecl):
            dropped.add(statement.name)
    if not diagnostics:
        return tree, [], frozenset()
    return replace(tree, statements=tuple(kept)), diagnostics, frozenset(dropped)


def _nesting(node: object) -> int:
    """How deeply the syntax nodes under `node` nest, counted without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(node, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, tuple):
            stack.extend((child, depth) for child in item)
            continue
        names = _child_fields(type(item))
        if names is not None:
            deepest = max(deepest, depth)
            stack.extend((getattr(item, name), depth + 1) for name in names)
    return deepest


@cache
def _child_fields(kind: type) -> tuple[str, ...] | None:
    """The fields of a syntax node class that may hold other nodes; None for anything else."""
    if not is_dataclass(kind) or kind is Span:
        return None
    return tuple(f.name for f in fields(kind) if "span" not in f.name)


def _statement_head(statement: ast.Statement) -> str:
    """What a dropped statement was, as the checker's skipped names say it: `entry long`."""
    if isinstance(statement, ast.SignalDecl):
        return f"{statement.kind} {statement.side}"
    if isinstance(statement, ast.ProtectDecl):
        return statement.kind
    names = {
        ast.LetDecl: "let",
        ast.SizeDecl: "size",
        ast.LegDecl: "leg",
        ast.RiskDecl: "risk",
        ast.PyramidingDecl: "pyramiding",
    }
    return names.get(type(statement), "")


def _too_deep(span: Span) -> Diagnostic:
    return Diagnostic(
        "E109",
        "an expression is nested too deeply to check",
        span,
        help=f"split it into several `let` definitions (at most {MAX_NESTING} levels each)",
    )


def read_source(path: str | Path) -> tuple[Source | None, Diagnostic | None]:
    """The decoded text of a file, or a diagnostic saying why it cannot be read as text."""
    shown = str(path)
    start = Span.point(1, 1)
    try:
        data = _read_regular_file(path)
    except IsADirectoryError:
        return None, Diagnostic("E105", "this is a folder, not a file", start)
    except _NotRegular as error:
        return None, Diagnostic("E105", f"this is not a regular file but {error}", start)
    except FileNotFoundError:
        if os.path.islink(path):
            target = os.readlink(path)
            message = f"this is a broken symbolic link: `{target}` does not exist"
            return None, Diagnostic("E105", message, start)
        return None, Diagnostic("E105", "no such file", start)
    except PermissionError:
        return None, Diagnostic("E105", "permission denied: the file cannot be read", start)
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or error
        return None, Diagnostic("E105", f"cannot read the file: {reason}", start)
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
        decoded = error.object  # without the byte order mark, if there was one
        before = decoded[: error.start]
        line_start = before.rfind(b"\n") + 1
        col = len(before[line_start:].decode("utf-8", "replace")) + 1
        return None, Diagnostic(
            "E105",
            f"the file is not UTF-8 text (byte 0x{decoded[error.start]:02x})",
            Span.point(before.count(b"\n") + 1, col),
            help="save the file as UTF-8",
        )
    return Source(shown, text), None


class _NotRegular(OSError):
    """A path that is neither a file nor a folder: a FIFO, a device, a socket."""


def _read_regular_file(path: str | Path) -> bytes:
    """Up to MAX_RULE_BYTES + 1 bytes of a regular file. Opening does not block, so a FIFO with
    no writer is refused instead of waiting forever."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(path)
        if not stat.S_ISREG(mode):
            raise _NotRegular(_file_kind(mode))
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(MAX_RULE_BYTES + 1)
    finally:
        os.close(fd)


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"

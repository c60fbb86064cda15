"""Diagnostics: located findings about a rule or config file, and how they print.

A diagnostic has a span in a source file, a severity, a stable code, a message and an optional
help line. The text form follows the `path:line:col: severity[CODE]: message` convention editors
parse, then the source line with a caret under the span; the JSON form is one flat object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

_YAML_LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Span:
    """A 1-based region of a source file; `end_col` is exclusive, like Lark's metadata."""

    line: int
    col: int
    end_line: int
    end_col: int

    @classmethod
    def point(cls, line: int, col: int, width: int = 1) -> Span:
        return cls(line, col, line, col + max(width, 1))

    def to(self, other: Span) -> Span:
        """The span from the start of this one to the end of `other`."""
        return Span(self.line, self.col, other.end_line, other.end_col)


@dataclass(frozen=True, slots=True)
class Fix:
    """Text that, put in place of `span`, is what the help suggests (`...` marks where the
    user's own condition goes)."""

    span: Span
    text: str


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    message: str
    span: Span
    severity: Severity = Severity.ERROR
    help: str | None = None
    label: str | None = None
    fix: Fix | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


@dataclass(slots=True)
class Source:
    """A file's path as the user named it and its decoded text."""

    path: str
    text: str
    _lines: list[str] | None = field(default=None, repr=False)

    def line(self, number: int) -> str:
        """Line `number` as the parser counts lines: the rule language breaks lines at `\\n`
        only (a form feed is blank space), YAML also at `\\r`, NEL and the Unicode separators."""
        if self._lines is None:
            if self.path.endswith((".yaml", ".yml")):
                self._lines = _YAML_LINE_BREAK.split(self.text)
            else:
                self._lines = [line.removesuffix("\r") for line in self.text.split("\n")]
        if 1 <= number <= len(self._lines):
            return self._lines[number - 1]
        return ""


def render(diagnostic: Diagnostic, source: Source | None, path: str) -> str:
    """The human form: header, the source line with a caret under the span, then help."""
    span = diagnostic.span
    header = (
        f"{path}:{span.line}:{span.col}: "
        f"{diagnostic.severity.value}[{diagnostic.code}]: {diagnostic.message}"
    )
    text = source.line(span.line) if source is not None else ""
    if not text.strip():
        lines = [header]
        if diagnostic.help:
            lines.append(f"  = help: {diagnostic.help}")
        return "\n".join(lines)
    gutter = " " * len(str(span.line))
    shown = _printable(text)
    start = min(max(span.col, 1), len(shown) + 1)
    end = span.end_col if span.end_line == span.line else len(shown) + 1
    width = max(min(end, len(shown) + 1) - start, 1)
    caret = " " * (start - 1) + "^" * width
    if diagnostic.label:
        caret += f" {diagnostic.label}"
    lines = [header, f"{gutter} |", f"{span.line} | {shown}", f"{gutter} | {caret}"]
    if diagnostic.help:
        lines.append(f"{gutter} = help: {diagnostic.help}")
    return "\n".join(lines)


def as_json(diagnostic: Diagnostic, path: str) -> dict[str, Any]:
    """The machine form: one flat object with stable keys."""
    span = diagnostic.span
    return {
        "path": path,
        "line": span.line,
        "col": span.col,
        "end_line": span.end_line,
        "end_col": span.end_col,
        "severity": diagnostic.severity.value,
        "code": diagnostic.code,
        "message": diagnostic.message,
        "help": diagnostic.help,
    }


def _printable(text: str) -> str:
    """Tabs become one space (so carets line up) and control characters become `?`."""
    return "".join(
        " " if ch == "\t" else ("?" if (ord(ch) < 32 or ord(ch) == 127) else ch) for ch in text
    )

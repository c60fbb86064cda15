"""A corpus of broken rule files, each with the diagnostics `rulebot lint` prints for it.

Every file in `cases/` holds one kind of mistake a trader makes (a few hold several, to show
that every error in a file is reported). The snapshot is the exact lint output, read by a human
when it changes: the caret under the right thing, a plain message, a useful help line. Files
named `warning_*` are legal but suspect; every other case must keep at least one error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rulebot.lint import lint_file, render_text

CASES = Path(__file__).parent / "cases"
CASE_FILES = sorted(p for p in CASES.iterdir() if p.suffix in (".rule", ".yaml"))


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.name)
def test_case_diagnostics(path: Path, snapshot) -> None:
    report = lint_file(path)
    report.path = path.relative_to(CASES).as_posix()
    assert report.diagnostics, f"{path.name} lints clean; it should show its mistake"
    if not path.name.startswith("warning_"):
        assert report.errors, f"{path.name} has only warnings; it should have an error"
    assert render_text([report]) == snapshot


def test_corpus_is_broad() -> None:
    assert len(CASE_FILES) >= 45
    assert sum(p.suffix == ".yaml" for p in CASE_FILES) >= 12

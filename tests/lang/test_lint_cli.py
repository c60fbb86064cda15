"""`rulebot lint` end to end: real files in a temp folder, the real command, every kind of input.

No input may produce a traceback: arbitrary bytes, binary files, empty files, huge files, deep
nesting, unknown encodings, unreadable paths. Each gets a located diagnostic or a one-line error,
and the exit code scripts rely on: 0 clean (warnings allowed), 1 errors found, 2 usage errors.

Most cases run in-process through typer's CliRunner (fast); a handful run `python -m rulebot` as
a real subprocess, for what only a real process shows: the interpreter's own streams and
encodings, the default paths, and a FIFO that must not block the command.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rulebot.cli import app
from rulebot.lang.load import MAX_RULE_BYTES, compile_file

REPO = Path(__file__).resolve().parents[2]
JSON_KEYS = {"path", "line", "col", "end_line", "end_col", "severity", "code", "message", "help"}

CLEAN_RULE = """\
strategy trend
market ETH
timeframe 5m
param lookback = 20 in 10..50 step 10
let mid = sma(close, lookback)
entry long when close > mid
exit  long when close < mid
size 2% of equity
stop_loss 2%
"""
HEAD = "strategy deep\nmarket ETH\ntimeframe 5m\nsize 1% of equity\nstop_loss 2%\n"


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _assert_no_traceback(run: Run) -> Run:
    assert "Traceback" not in run.stdout and "Traceback" not in run.stderr, run.output
    assert "internal error" not in run.output, run.output
    return run


def lint(*args: str | Path, cwd: Path | None = None) -> Run:
    """`rulebot lint ARGS` in-process; an exception escaping the command fails the test."""
    previous = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, ["lint", *map(str, args)])
    finally:
        os.chdir(previous)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return _assert_no_traceback(Run(result.exit_code, result.stdout, result.stderr))


def lint_process(*args: str | Path, cwd: Path = REPO, env: dict[str, str] | None = None) -> Run:
    """`python -m rulebot lint ARGS` as a real process, with a timeout so a hang fails."""
    completed = subprocess.run(
        [sys.executable, "-m", "rulebot", "lint", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
    )
    stdout = completed.stdout.decode("utf-8", "replace")
    stderr = completed.stderr.decode("utf-8", "replace")
    return _assert_no_traceback(Run(completed.returncode, stdout, stderr))


def lint_json(*args: str | Path) -> tuple[int, list[dict[str, object]]]:
    run = lint("--format", "json", *args)
    found = json.loads(run.stdout)
    assert isinstance(found, list)
    for item in found:
        assert set(item) == JSON_KEYS, item
    return run.code, found


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


# ---- the shipped files, and the real process ---------------------------------------------------


def shipped_lint_is_clean(stdout: str) -> bool:
    """The shipped files lint clean, but for a market of rulebot.yaml the sim does not have
    (W509), which `rulebot check` warns of too: none once the sim has every one of them."""
    from rulebot.config import load_config
    from rulebot.venues.sim.markets import shipped_symbols

    listed = [m.symbol for m in load_config(REPO / "rulebot.yaml", read_key=False).markets]
    lacking = [symbol for symbol in listed if symbol not in shipped_symbols()]
    if not lacking:
        return "6 files checked: no problems" in stdout
    flagged = [line for line in stdout.splitlines() if "warning[" in line or "error[" in line]
    return len(flagged) == len(lacking) and all("warning[W509]" in line for line in flagged)


def test_shipped_rules_and_config_lint_clean_as_a_real_process() -> None:
    run = lint_process("rules", "rulebot.yaml")
    assert run.code == 0, run.output
    assert shipped_lint_is_clean(run.stdout), run.stdout


def test_default_paths_are_rules_and_rulebot_yaml(tmp_path: Path) -> None:
    run = lint(cwd=REPO)
    assert run.code == 0, run.output
    assert shipped_lint_is_clean(run.stdout), run.stdout
    empty = lint(cwd=tmp_path)
    assert empty.code == 2
    assert "nothing to check" in one_line(empty.stderr)


def test_missing_path_is_a_usage_error_as_a_real_process(tmp_path: Path) -> None:
    run = lint_process(tmp_path / "no_such.rule")
    assert run.code == 2
    assert run.stdout == ""
    assert one_line(run.stderr).startswith("rulebot lint: no such file or folder:")


def test_random_bytes_and_binary_files_as_a_real_process(tmp_path: Path) -> None:
    noise = random.Random(7).randbytes(64 * 1024)
    write(tmp_path, "noise.rule", noise.replace(b"\x00", b""))
    write(tmp_path, "binary.yaml", b"strategy: x\n\x00\x01\x02\xff" * 100)
    run = lint_process(tmp_path)
    assert run.code == 1
    assert "binary.yaml:1:1: error[E105]: this is a binary file, not a rule file" in run.stdout
    assert "noise.rule" in run.stdout and "is not UTF-8 text" in run.stdout


def test_fifo_is_reported_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.rule"
    os.mkfifo(fifo)
    run = lint_process(fifo)  # nothing writes to the FIFO: reading it would block forever
    assert run.code == 1
    assert "pipe.rule:1:1: error[E105]: this is not a regular file" in run.stdout


def test_unencodable_output_never_crashes_the_process(tmp_path: Path) -> None:
    """A file name that is not UTF-8, and a source line with `é`, on an ASCII-only terminal."""
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / os.fsdecode(b"caf\xe9.rule")).write_bytes(b"strategy caf\xc3\xa9\n")
    run = lint_process(folder, env={"PYTHONIOENCODING": "ascii"})
    assert run.code == 1
    assert "error[E102]: unexpected character" in run.stdout
    assert "caf\\udce9.rule" in run.stdout  # the undecodable byte, shown escaped


# ---- folders -----------------------------------------------------------------------------------


def test_folder_recurses_over_rule_files_only(tmp_path: Path) -> None:
    write(tmp_path, "a.rule", CLEAN_RULE)
    write(tmp_path, "sub/deeper/b.rule", CLEAN_RULE)
    write(tmp_path, "sub/c.yaml", (REPO / "rules" / "momentum.yaml").read_text())
    write(tmp_path, "sub/d.yml", (REPO / "rules" / "momentum.yaml").read_text())
    write(tmp_path, "notes.txt", "not a rule \x00")
    write(tmp_path, "README.md", "# rules")
    write(tmp_path, ".hidden/broken.rule", "this is broken")
    write(tmp_path, "sub/.cache/broken.yaml", "- broken")
    (tmp_path / "folder.rule").mkdir()  # a folder named like a rule file is not read as one

    run = lint(tmp_path)
    assert run.code == 0, run.output
    assert "4 files checked: no problems" in run.stdout

    code, found = lint_json(tmp_path)
    assert (code, found) == (0, [])


def test_rules_folder_with_a_bad_config_checks_it_as_config(tmp_path: Path) -> None:
    write(tmp_path, "a.rule", CLEAN_RULE)
    write(tmp_path, "rulebot.yaml", "network:\n  name: sim\nmarkts: [ETH]\n")
    run = lint(tmp_path)
    assert run.code == 1
    assert "rulebot.yaml:3:1: error[E601]: unknown key `markts`" in run.stdout
    assert "did you mean `markets`?" in run.stdout


def test_rule_markets_are_checked_against_the_config_linted_with_them(tmp_path: Path) -> None:
    write(tmp_path, "arbitrage.rule", (REPO / "rules" / "arbitrage.rule").read_text())
    write(tmp_path, "rulebot.yaml", "markets: [ETH, BTC]\n")
    run = lint(tmp_path)
    assert run.code == 0  # a warning: the rule itself is sound
    warning = "arbitrage.rule:11:14: warning[W507]: market `LTC` is not in the markets of"
    assert warning in run.stdout
    write(tmp_path, "rulebot.yaml", "markets: [ETH, BTC, LTC]\n")
    assert "W507" not in lint(tmp_path).stdout
    assert "W507" not in lint(tmp_path / "arbitrage.rule").stdout  # no config, no cross-check


def test_folder_without_rule_files_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    write(tmp_path, "texts/notes.txt", "hello")
    for folder in ("empty", "texts"):
        run = lint(tmp_path / folder)
        assert run.code == 2
        assert "no rule files" in one_line(run.stderr)


def test_folder_named_where_a_file_is_expected(tmp_path: Path) -> None:
    folder = tmp_path / "strategy.rule"
    folder.mkdir()
    run = lint(folder)
    assert run.code == 2
    assert "no rule files" in one_line(run.stderr)
    compiled = compile_file(folder)  # the library, asked to read a folder as a file
    assert [(d.code, d.message) for d in compiled.diagnostics] == [
        ("E105", "this is a folder, not a file")
    ]


def test_config_named_rulebot_yaml_is_checked_as_config_when_named(tmp_path: Path) -> None:
    path = write(tmp_path, "rulebot.yaml", "dry_run: maybe\n")
    run = lint(path)
    assert run.code == 1
    assert "rulebot.yaml:1:10: error[E602]" in run.stdout


# ---- exit codes and formats --------------------------------------------------------------------


def test_errors_exit_1_and_warnings_alone_exit_0(tmp_path: Path) -> None:
    clean = write(tmp_path, "clean.rule", CLEAN_RULE)
    warned = write(tmp_path, "warned.rule", CLEAN_RULE.replace("stop_loss 2%\n", ""))
    broken = write(tmp_path, "broken.rule", CLEAN_RULE.replace("sma(", "smaa("))

    assert lint(clean).code == 0
    run = lint(warned)
    assert run.code == 0
    assert "warning[W503]: strategy `trend` has no stop loss" in run.stdout
    run = lint(broken)
    assert run.code == 1
    assert "broken.rule:5:11: error[E201]: unknown function `smaa`" in run.stdout
    assert lint(clean, warned, broken).code == 1


def test_json_has_the_documented_keys_and_positions(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.rule", CLEAN_RULE.replace("sma(", "smaa("))
    code, found = lint_json(path)
    assert code == 1
    assert found == [
        {
            "path": str(path),
            "line": 5,
            "col": 11,
            "end_line": 5,
            "end_col": 15,
            "severity": "error",
            "code": "E201",
            "message": "unknown function `smaa`",
            "help": "did you mean `sma`?",
        }
    ]


def test_every_error_in_a_file_is_reported(tmp_path: Path) -> None:
    text = (
        "strategy several\n"  # 1
        "market ETH\n"  # 2
        "timeframe 5m\n"  # 3
        "let a = close +\n"  # 4: incomplete
        "let b = smaa(close, 20)\n"  # 5: unknown function
        "entry long when close > close[-1]\n"  # 6: looks into the future
        "exit long when close && open\n"  # 7: `&&`
        "size 2% of equity\n"  # 8
        "stop_loss 2%\n"
    )
    code, found = lint_json(write(tmp_path, "several.rule", text))
    assert code == 1
    located = {(d["code"], d["line"]) for d in found}
    assert {("E103", 4), ("E201", 5), ("E310", 6), ("E102", 7)} <= located, found


def test_invalid_format_is_a_usage_error(tmp_path: Path) -> None:
    run = lint("--format", "xml", write(tmp_path, "a.rule", CLEAN_RULE))
    assert run.code == 2
    assert "xml" in run.stderr


# ---- bytes, encodings, sizes -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["empty.rule", "empty.yaml"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    run = lint(write(tmp_path, name, b""))
    assert run.code == 1
    if name.endswith(".rule"):
        assert f"{name}:1:1: error[E206]: the rule has no `strategy`" in run.stdout
    else:
        assert f"{name}:1:1: error[E107]: the file is empty" in run.stdout


def test_whitespace_and_comments_only(tmp_path: Path) -> None:
    run = lint(write(tmp_path, "blank.rule", "\n\n   \t\n# nothing here\n"))
    assert run.code == 1
    assert "error[E206]: the rule has no `strategy`" in run.stdout


def test_binary_file_with_nul_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, "image.rule", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    code, found = lint_json(path)
    assert code == 1
    assert [(d["code"], d["line"], d["col"]) for d in found] == [("E105", 1, 1)]
    assert found[0]["message"] == "this is a binary file, not a rule file"


@pytest.mark.parametrize("seed", range(3))
def test_random_bytes(tmp_path: Path, seed: int) -> None:
    noise = random.Random(seed).randbytes(2048)
    for name, data in (("raw.rule", noise), ("text.yaml", noise.replace(b"\x00", b" "))):
        run = lint(write(tmp_path, name, data))
        assert run.code == 1
        assert "error[E105]" in run.stdout


def test_invalid_utf8_is_located_at_the_bad_byte(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.rule", b"strategy x\nmarket ETH\n# caf\xc3\xa9 \xff here\n")
    code, found = lint_json(path)
    assert code == 1
    # line 3, column 8 in characters: `# café ` is seven characters before the bad byte
    assert [(d["code"], d["line"], d["col"]) for d in found] == [("E105", 3, 8)]
    assert found[0]["message"] == "the file is not UTF-8 text (byte 0xff)"


def test_invalid_utf8_after_a_byte_order_mark(tmp_path: Path) -> None:
    path = write(tmp_path, "bom_bad.rule", b"\xef\xbb\xbfstrategy x\nlet \xfe = 1\n")
    code, found = lint_json(path)
    assert code == 1
    assert [(d["code"], d["line"], d["col"], d["message"]) for d in found] == [
        ("E105", 2, 5, "the file is not UTF-8 text (byte 0xfe)")
    ]


def test_latin1_file(tmp_path: Path) -> None:
    path = write(tmp_path, "latin.rule", CLEAN_RULE.replace("trend", "tendência").encode("latin-1"))
    run = lint(path)
    assert run.code == 1
    assert "latin.rule:1:14: error[E105]: the file is not UTF-8 text (byte 0xea)" in run.stdout
    assert "help: save the file as UTF-8" in run.stdout


@pytest.mark.parametrize("shipped", ["mean_reversion.rule", "momentum.yaml"])
def test_utf8_bom_file_lints_clean(tmp_path: Path, shipped: str) -> None:
    path = write(tmp_path, shipped, b"\xef\xbb\xbf" + (REPO / "rules" / shipped).read_bytes())
    run = lint(path)
    assert run.code == 0, run.output
    assert "1 file checked: no problems" in run.stdout


def test_utf16_file(tmp_path: Path) -> None:
    run = lint(write(tmp_path, "wide.rule", CLEAN_RULE.encode("utf-16")))
    assert run.code == 1
    assert "error[E105]" in run.stdout


def test_file_over_one_mib(tmp_path: Path) -> None:
    comment = "# " + "x" * 98 + "\n"
    huge = CLEAN_RULE + comment * (MAX_RULE_BYTES // len(comment) + 1)
    for name in ("huge.rule", "huge.yaml", "rulebot.yaml"):
        run = lint(write(tmp_path / name.replace(".", "_"), name, huge))
        assert run.code == 1
        assert f"{name}:1:1: error[E108]: the file is larger than 1024 KiB" in run.stdout


def test_control_characters_keep_carets_on_the_right_line(tmp_path: Path) -> None:
    """Form feeds and vertical tabs are whitespace to the parser, not line breaks."""
    text = CLEAN_RULE.replace("market ETH", "market ETH \f\v\x1c").replace("sma(", "smaa(")
    run = lint(write(tmp_path, "ff.rule", text))
    assert run.code == 1
    assert "ff.rule:5:11: error[E201]" in run.stdout
    assert "5 | let mid = smaa(close, lookback)" in run.stdout


# ---- numbers at the edges ----------------------------------------------------------------------


def test_numbers_beyond_the_float_range(tmp_path: Path) -> None:
    text = (
        HEAD
        + "let a = sma(close, 1e309)\n"  # 6: overflows to infinity
        + "let b = close[1e308 * 10 - 1e308 * 10]\n"  # 7: infinity minus infinity
        + "param huge = 1 in 0..1e309\n"  # 8
        + "param many = 5 in 0..100000000000000000000 step 1\n"  # 9: 1e20 search values
        + "entry long when a > b and huge > 0 and many > 0\n"
        + "risk { cooldown 1e309 bars }\n"  # 11
    )
    code, found = lint_json(write(tmp_path, "numbers.rule", text))
    assert code == 1
    assert {(d["code"], d["line"]) for d in found} >= {
        ("E406", 6),
        ("E311", 7),
        ("E406", 8),
        ("E406", 9),
        ("E406", 11),
    }, found
    assert "`1e309` is too large a number" in {d["message"] for d in found}


def test_a_let_is_not_a_constant_setting(tmp_path: Path) -> None:
    text = HEAD + "let n = 20\nentry long when close > sma(close, n) and close[n] > 0\n"
    text += "risk { max_open_orders n }\n"
    code, found = lint_json(write(tmp_path, "let_setting.rule", text))
    assert code == 1
    assert [(d["code"], d["line"], d["col"]) for d in found] == [
        ("E403", 7, 36),
        ("E311", 7, 49),
        ("E403", 8, 24),
    ], found


# ---- deep nesting ------------------------------------------------------------------------------


def test_five_thousand_nested_parentheses(tmp_path: Path) -> None:
    expr = "(" * 5000 + "close" + ")" * 5000
    run = lint(write(tmp_path, "parens.rule", HEAD + f"entry long when {expr} > open\n"))
    assert run.code == 0, run.output
    unclosed = lint(write(tmp_path, "unclosed.rule", HEAD + f"entry long when {expr[:-1]}\n"))
    assert unclosed.code == 1
    assert "error[E103]: unexpected end of input" in unclosed.stdout
    assert "a `(` is never closed" in unclosed.stdout


@pytest.mark.parametrize(
    ("name", "statement"),
    [
        ("sum.rule", "let total = " + " + ".join(["close"] * 20_000) + "\n"),
        ("ifs.rule", "let total = " + "if close > open then 1 else " * 3000 + "0\n"),
        ("nots.rule", "let total = " + "not " * 5000 + "true\n"),
        ("lags.rule", "let total = close" + "[1]" * 5000 + "\n"),
    ],
)
def test_deep_expressions_are_located(tmp_path: Path, name: str, statement: str) -> None:
    text = HEAD + statement + "entry long when total\nlet typo = smaa(close, 2)\n"
    code, found = lint_json(write(tmp_path, name, text))
    assert code == 1
    deep = [d for d in found if d["code"] == "E109"]
    assert len(deep) == 1 and deep[0]["line"] == 6, found
    assert deep[0]["message"] == "an expression is nested too deeply to check"
    # the rest of the file is still checked, and the dropped `total` is not an unknown name
    assert [(d["code"], d["line"]) for d in found if d["code"] != "E109"] == [("E201", 8)]


def test_long_chain_of_lets(tmp_path: Path) -> None:
    lets = "".join(f"let a{i} = a{i + 1} + 1\n" for i in range(3000))
    text = HEAD + lets + "let a3000 = close\nentry long when a0 > 0\n"
    code, found = lint_json(write(tmp_path, "chain.rule", text))
    assert code == 1
    assert [d["code"] for d in found] == ["E109"]


def test_deep_expression_in_yaml(tmp_path: Path) -> None:
    text = (
        "strategy: deep\nmarket: ETH\ntimeframe: 5m\nsize: 1% of equity\n"
        "entry:\n  long: " + " + ".join(["close"] * 20_000) + " > 0\n"
    )
    code, found = lint_json(write(tmp_path, "deep.yaml", text))
    assert code == 1
    assert ("E109", 6) in {(d["code"], d["line"]) for d in found}, found


def test_deeply_nested_yaml(tmp_path: Path) -> None:
    for name in ("nested.yaml", "rulebot.yaml"):
        run = lint(write(tmp_path / name, name, "a: " + "[" * 5000 + "]" * 5000 + "\n"))
        assert run.code == 1
        assert "error[E106]" in run.stdout or "error[E602]" in run.stdout


def test_many_syntax_errors_stop_at_a_limit(tmp_path: Path) -> None:
    code, found = lint_json(write(tmp_path, "errors.rule", "entry long when = =\n" * 500))
    assert code == 1
    assert 1 < len(found) <= 60


def test_large_file_with_many_syntax_errors_stops_early(tmp_path: Path) -> None:
    """Recovery parses the file again after each error: a large file stops after a few
    (a file of a few hundred lines still gets every error reported)."""
    lets = "".join(f"let a{i} = close + {i}\n" for i in range(12_000))
    text = HEAD + "entry long when a0 > 0\n" + lets + "let = = \n" * 100
    code, found = lint_json(write(tmp_path, "large.rule", text))
    assert code == 1
    assert 1 <= len(found) < 10, len(found)
    assert all(d["code"] == "E101" and d["line"] > 12_000 for d in found)


# ---- paths that are not plain files ------------------------------------------------------------


def test_broken_symlink(tmp_path: Path) -> None:
    link = tmp_path / "gone.rule"
    link.symlink_to(tmp_path / "deleted.rule")
    run = lint(link)
    assert run.code == 1
    assert "gone.rule:1:1: error[E105]: this is a broken symbolic link" in run.stdout
    folder_run = lint(tmp_path)  # inside a folder a dangling link is not a rule file
    assert folder_run.code == 2


def test_symlink_loop(tmp_path: Path) -> None:
    loop = tmp_path / "loop.rule"
    loop.symlink_to(loop)
    run = lint(loop)
    assert run.code == 1
    assert "loop.rule:1:1: error[E105]: cannot read the file" in run.stdout


def test_unreadable_file_reported_by_the_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file the OS refuses to open (root can read any file, so the refusal is arranged)."""
    path = write(tmp_path, "secret.rule", CLEAN_RULE)
    real_open = os.open

    def refuse(file: object, *args: object, **kwargs: object) -> int:
        if Path(os.fsdecode(file)) == path:  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refuse)
    run = lint(path)
    assert run.code == 1
    assert "secret.rule:1:1: error[E105]: permission denied: the file cannot be read" in run.stdout


def test_device_file(tmp_path: Path) -> None:
    run = lint("/dev/zero")
    assert run.code == 1
    assert "/dev/zero:1:1: error[E105]: this is not a regular file" in run.stdout


def test_path_too_long_for_the_os(tmp_path: Path) -> None:
    run = lint(tmp_path / ("x" * 5000 + ".rule"))
    assert run.code == 2
    assert one_line(run.stderr).startswith("rulebot lint: ")


def test_path_with_a_nul_character(tmp_path: Path) -> None:
    run = lint(f"{tmp_path}/bad\x00name.rule")
    assert run.code == 2
    assert one_line(run.stderr).startswith("rulebot lint: ")


def test_live_checking_refuses_indicators_without_a_streaming_version(tmp_path: Path) -> None:
    rule = write(
        tmp_path,
        "cycle.rule",
        CLEAN_RULE.replace("entry long when", "entry long when ht_dcperiod(close) > 10 and"),
    )
    backtest_only = lint(rule)
    assert backtest_only.code == 0 and "warning[W508]" in backtest_only.stdout
    live = lint("--live", rule)
    assert live.code == 1 and "error[E410]" in live.stdout
    assert lint("--live", REPO / "rules").code == 0  # the shipped rules all run live

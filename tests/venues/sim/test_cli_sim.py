"""`rulebot sim` as a user runs it: it prints where it serves and what, serves Lighter's API with
the accounts, data and faults it was given, stops cleanly on Ctrl+C, and refuses bad input in one
line without a traceback."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rulebot.cli import app
from rulebot.data import shipped_candles
from rulebot.venues.sim.settings import DEFAULT_COLLATERAL, SettingsError, parse_accounts

ROOT = Path(__file__).resolve().parents[3]
WAIT_S = 30  # a bound on a hang (the child imports numpy, TA-Lib, lighter), not a timing claim


def write_candles(path: Path, rows: int = 40) -> None:
    bars = shipped_candles("xrp_usdt_perp_5m")
    lines = ["timestamp,open,high,low,close,volume"]
    for i in range(rows):
        values = (bars.open[i], bars.high[i], bars.low[i], bars.close[i], bars.volume[i])
        lines.append(",".join([str(bars.timestamp[i]), *(repr(float(v)) for v in values)]))
    path.write_text("\n".join(lines) + "\n")


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=WAIT_S) as response:
        return json.loads(response.read())


def test_rulebot_sim_serves_until_interrupted(tmp_path: Path) -> None:
    data = tmp_path / "sol_5m.csv"
    write_candles(data)
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text("accounts:\n  - index: 7\n    collateral: 2500.5\n    api_keys: [3]\n")
    command = [
        sys.executable, "-m", "rulebot", "sim", "--port", "0", "--speed", "0",
        "--data", str(data), "--accounts", str(accounts),
        "--rate-limit", "1", "--retry-after", "2", "--fault-path", "/api/v1/orderBooks",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    child = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in child.stdout or ()])
    reader.start()
    try:
        try:
            announced = [lines.get(timeout=WAIT_S) for _ in range(3)]
        except queue.Empty:
            child.kill()
            raise AssertionError(child.stderr.read() if child.stderr else "no output") from None
        url = re.search(r"on (http://127\.0\.0\.1:\d+)", announced[0])
        assert url, announced
        assert "market 0: SOL" in announced[1]
        assert "accounts: 7" in announced[2] and "paused" in announced[2]
        base = url.group(1)

        with pytest.raises(urllib.error.HTTPError) as limited:
            urllib.request.urlopen(f"{base}/api/v1/orderBooks", timeout=WAIT_S)
        assert limited.value.code == 429 and limited.value.headers["Retry-After"] == "2"
        books = get_json(f"{base}/api/v1/orderBooks")
        assert [book["symbol"] for book in books["order_books"]] == ["SOL"]
        account = get_json(f"{base}/api/v1/account?by=index&value=7")["accounts"][0]
        assert Decimal(account["collateral"]) == Decimal("2500.5")

        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=WAIT_S) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        reader.join()
    rest = []
    while not lines.empty():
        rest.append(lines.get())
    assert "rulebot sim: stopped" in "".join(rest)
    assert "Traceback" not in (child.stderr.read() if child.stderr else "")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["sim", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_a_missing_or_broken_candle_file_is_one_clear_line(tmp_path: Path) -> None:
    code, output = run("--data", str(tmp_path / "nope.csv"))
    assert code == 2 and "rulebot sim:" in output and "nope.csv" in output
    broken = tmp_path / "eth_1m.csv"
    broken.write_text("timestamp,open,high,low,close,volume\n1,2,3\n")
    code, output = run("--data", f"ETH={broken}")
    assert code == 2 and "eth_1m.csv:2: 3 fields" in output


def test_a_busy_port_is_one_clear_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, output = run("--port", str(port), "--speed", "0")
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in output


def test_bad_settings_are_refused_before_starting(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text("accounts:\n  - index: 1\n    collateral: lots\n")
    code, output = run("--accounts", str(accounts))
    assert code == 2 and "accounts[0].collateral" in output
    code, output = run("--accounts", str(tmp_path / "missing.yaml"))
    assert code == 2 and "no such file" in output
    code, output = run("--speed", "-1")
    assert code == 2 and "speed" in output
    code, output = run("--rate-limit", "-3")
    assert code == 2 and "rate_limit" in output
    code, output = run("--tier", "gold")
    assert code == 2 and "unknown account tier 'gold'" in output


def test_accounts_files_say_collateral_and_keys() -> None:
    text = """
accounts:
  - index: 1
  - index: 2
    collateral: "1_000.25 USDC"
    l1_address: "0xAbC"
    api_keys: [3, 4]
  - index: 3
    collateral: 0.1
    api_keys: {5: "0xfeed"}
"""
    parsed = parse_accounts(text)
    first, second, third = parsed.accounts
    assert (first.index, first.collateral, first.api_key_indexes) == (1, DEFAULT_COLLATERAL, None)
    assert (second.collateral, second.api_key_indexes) == (Decimal("1000.25"), frozenset({3, 4}))
    assert second.l1_address == "0xAbC"
    assert third.collateral == Decimal("0.1")  # the YAML text, not a binary float
    assert parsed.api_public_keys == {(3, 5): "0xfeed"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("accounts: []", "accounts"),
        ("accounts:\n  - index: 0", "accounts[0].index"),
        ("accounts:\n  - index: 1\n  - index: 1", "given twice"),
        ("accounts:\n  - index: 1\n    api_keys: [300]", "key index 300"),
        ("accounts:\n  - index: 1\n    api_keys: some", "api_keys"),
        ("accounts:\n  - index: 1\n    colateral: 5", "colateral"),
        ("accounts: [", "accounts.yaml:"),
    ],
)
def test_bad_accounts_files_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(SettingsError) as refused:
        parse_accounts(text, "accounts.yaml")
    assert message in str(refused.value)

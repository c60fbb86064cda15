"""What an operator does around a running bot, through the real `rulebot` commands in their own
processes: flatten it and ask its status with the token it keeps beside its journal, read its
JSON log, start a second bot in the same folder, flatten a separate sim with no key, and give
`rulebot run` what it cannot use. The rule is written here: one small strategy on ETH."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from rulebot.venues.sim.records import TX_CREATE_ORDER
from rulebot.venues.sim.serving import SimThread
from rulebot.venues.sim.settings import SimSettings
from rulebot.venues.sim.simulation import Simulation
from tests.e2e.test_secrets_in_output import fills_in, free_port

ROOT = Path(__file__).resolve().parents[2]
RULE = """strategy tiny
market ETH
timeframe 5m

entry long when close > ema(close, 3)
exit  long when close < ema(close, 3)
size 2% of equity
stop_loss 2%
"""
ROOMY = {"max_position_notional": "1000000 USDC", "max_leverage": 50}
WAIT_S = 90.0


def environment() -> dict[str, str]:
    """This machine's environment with no API key and no status token in it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("RULEBOT_API_PRIVATE_KEY", "RULEBOT_STATUS_TOKEN"):
        env.pop(name, None)
    return env


def folder_with(tmp_path: Path, **settings: Any) -> Path:
    """A bot's folder: rules/tiny.rule and a rulebot.yaml of `settings`."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "tiny.rule").write_text(RULE)
    base = {"markets": ["ETH"], "risk": ROOMY, "runtime": {"journal": "state.sqlite"}}
    (tmp_path / "rulebot.yaml").write_text(yaml.safe_dump({**base, **settings}))
    return tmp_path


def rulebot(folder: Path, *args: str, timeout: float = WAIT_S) -> subprocess.CompletedProcess[str]:
    """`rulebot ARGS` run to its end in `folder`."""
    command = [sys.executable, "-m", "rulebot", *args]
    return subprocess.run(
        command, cwd=folder, env=environment(), capture_output=True, text=True, timeout=timeout
    )


def start_bot(folder: Path, *args: str) -> subprocess.Popen[bytes]:
    out, err = (folder / "stdout.txt").open("wb"), (folder / "stderr.txt").open("wb")
    command = [sys.executable, "-m", "rulebot", "run", "rules", "-c", "rulebot.yaml", *args]
    return subprocess.Popen(command, cwd=folder, env=environment(), stdout=out, stderr=err)


def stop_bot(bot: subprocess.Popen[bytes]) -> None:
    if bot.poll() is None:
        bot.send_signal(signal.SIGTERM)
    bot.wait(timeout=WAIT_S)


def wait_for(what: str, condition: Callable[[], bool], bot: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert bot.poll() is None, f"the bot stopped before {what}"
        assert time.monotonic() < deadline, f"no {what} within {WAIT_S:.0f} s"
        time.sleep(0.05)


def post(url: str, headers: dict[str, str], data: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_operating_a_bot_that_runs_its_own_sim(tmp_path: Path) -> None:
    """`run --live` on the sim rulebot starts inside the bot, with no API key anywhere."""
    port = free_port()
    folder = folder_with(
        tmp_path,
        network={"name": "sim", "sim_speed": 6000},
        runtime={"journal": "state.sqlite", "status_port": port},
    )
    (folder / "rules" / "other.rule").write_text(RULE.replace("tiny", "other"))
    token_file, logs = folder / "state.sqlite.token", folder / "logs"
    bot = start_bot(folder, "--live", "--log-file", "logs/rulebot.log")
    err = folder / "stderr.txt"
    try:
        wait_for("the token file", token_file.exists, bot)
        token = token_file.read_text().strip()
        assert len(token) >= 32 and token_file.stat().st_mode & 0o077 == 0
        wait_for("a fill", lambda: fills_in(folder / "state.sqlite") >= 1, bot)

        url = f"http://127.0.0.1:{port}/api/flatten"
        csrf = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
        assert post(url, csrf, b"x=1") == 403  # a web page's form post
        assert post(url, {}) == 401  # no token
        assert post(url, {"Authorization": "Bearer wrong"}) == 401

        rule = folder / "rules" / "tiny.rule"
        rule.write_text(RULE.replace("ema(close, 3)", "emaa(close, 3)", 1))
        wait_for("a failed reload", lambda: b"not reloaded" in err.read_bytes(), bot)
        (folder / "rules" / "other.rule").unlink()
        wait_for("the deleted rule", lambda: b"rule deleted" in err.read_bytes(), bot)

        status = rulebot(folder, "status", "--json")
        assert status.returncode == 0, status.stdout + status.stderr
        assert json.loads(status.stdout)["network"] == "sim"
        flattened = rulebot(folder, "flatten")
        assert flattened.returncode == 0, flattened.stdout + flattened.stderr
        assert "ETH: every order cancelled" in flattened.stdout
    finally:
        stop_bot(bot)
    assert bot.returncode == 0, err.read_text()[-3000:]
    assert not token_file.exists()  # removed at the clean stop

    shown = (folder / "stdout.txt").read_text()
    assert f"status token (for `rulebot flatten` and `rulebot status`): in {token_file.name}" in (
        shown
    )
    outputs = {
        "stdout": shown,
        "stderr": err.read_text(),
        "status": status.stdout + status.stderr,
        "flatten": flattened.stdout + flattened.stderr,
    }
    for path in logs.iterdir():
        outputs[path.name] = path.read_text()
    for name, text in outputs.items():
        assert token not in text, f"the status token is in {name}"

    records = [json.loads(line) for line in (logs / "rulebot.log").read_text().splitlines()]
    failed = [r for r in records if "tiny.rule: not reloaded" in r["message"]]
    deleted = [r for r in records if "other: rule deleted" in r["message"]]
    assert len(failed) == 1 and failed[0]["level"] == "WARNING"
    assert len(deleted) == 1 and deleted[0]["level"] == "WARNING"

    gone = rulebot(folder, "flatten")  # no bot now, and its sim stopped with it
    assert gone.returncode == 0
    assert "nothing to flatten" in gone.stdout and "Traceback" not in gone.stdout + gone.stderr


def test_a_second_bot_in_the_same_folder_deletes_nothing(tmp_path: Path) -> None:
    runtime = {"journal": "state.sqlite", "status_port": 0}
    folder = folder_with(tmp_path, network={"name": "sim", "sim_speed": 6000}, runtime=runtime)
    journal = folder / "state.dry-run.sqlite"
    bot = start_bot(folder, "--dry-run")
    try:
        wait_for("a paper fill", lambda: fills_in(journal) >= 2, bot)
        before = fills_in(journal)
        second = rulebot(folder, "run", "rules", "-c", "rulebot.yaml", "--dry-run")
        assert second.returncode == 1
        assert "already open for writing" in second.stdout
        assert "Traceback" not in second.stdout + second.stderr
        assert journal.is_file() and fills_in(journal) >= before
        wait_for("the first bot's next fill", lambda: fills_in(journal) > before, bot)
    finally:
        stop_bot(bot)
    assert bot.returncode == 0


def test_flatten_on_a_separate_sim_needs_no_key(tmp_path: Path) -> None:
    with SimThread(SimSettings(speed=0)) as sim:
        folder = folder_with(tmp_path, network={"name": "sim", "url": sim.url})
        done = rulebot(folder, "flatten", "--port", str(free_port()))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "flattening through the venue directly" in done.stdout
    assert "ETH: every order cancelled" in done.stdout and "FAILED" not in done.stdout


def test_flatten_never_calls_a_close_the_venue_does_not_show_done(tmp_path: Path) -> None:
    thread = SimThread(SimSettings(speed=0))
    with thread as sim:
        held = thread.call(hold_eth)
        thread.call(lambda s: s.faults.server_error(1_000, path="/api/v1/accountOrders"))
        folder = folder_with(tmp_path, network={"name": "sim", "url": sim.url})
        done = rulebot(folder, "flatten", "--port", str(free_port()))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"ETH: close of {held} sent, but the venue does not show it yet" in done.stdout
    assert "closed" not in done.stdout and "Traceback" not in done.stdout + done.stderr


def hold_eth(simulation: Simulation) -> Decimal:
    """Give account 1 a long ETH position, bought at market by a key of its own; its size."""
    exchange = simulation.exchange
    market = exchange.market(0)
    _, asks = exchange.depth(0, 1)
    notional = market.min_quote_amount * 2 / market.price_value(asks[0].price)
    size = max(market.min_base_amount, int(notional.scaleb(market.size_decimals)) + 1)
    exchange.apply(
        TX_CREATE_ORDER,
        {
            "AccountIndex": 1, "ApiKeyIndex": 200, "Nonce": exchange.next_nonce(1, 200),
            "ExpiredAt": int(time.time() * 1000) + 60_000, "MarketIndex": 0,
            "ClientOrderIndex": 1, "BaseAmount": size, "Price": asks[0].price * 2, "IsAsk": 0,
            "Type": 1, "TimeInForce": 0, "ReduceOnly": 0, "TriggerPrice": 0, "OrderExpiry": 0,
        },
    )  # fmt: skip
    assert exchange.account(1).positions[0].size == size
    return market.size_value(size)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["empty"], "no rule files (.rule, .yaml, .yml) in folder: empty"),
        (["missing"], "no such file or folder: missing"),
        (["rules", "--log-file", "logs"], "cannot write the log file logs: is a directory"),
        (["rules", "--status-port", "70000"], "--status-port 70000 is not a port"),
    ],
)
def test_run_says_in_one_line_what_it_cannot_use(
    tmp_path: Path, args: list[str], says: str
) -> None:
    folder = folder_with(tmp_path, network={"name": "sim", "sim_speed": 1})
    (folder / "empty").mkdir()
    (folder / "logs").mkdir()
    done = rulebot(folder, "run", *args, "--stop-after", "5")
    assert done.returncode == 2
    output = (done.stdout + done.stderr).strip()
    assert output.startswith(f"rulebot run: {says}") and "\n" not in output  # one line

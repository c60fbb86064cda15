"""The API private key never reaches any output of a run: the real `rulebot run` in its own
process, signing with a real key on the sim, logging at DEBUG to a rotating file, hot-reloading a
broken rule whose broken line holds the key itself. Then every output is searched for the key, in
any case, with or without `0x`: stdout, stderr, the log file and its rotations, the journal and its
WAL, `rulebot status --json`, `rulebot report --format json`."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from subprocess import PIPE

import lighter
import yaml

from rulebot.logs import REDACTED
from rulebot.venues.sim.serving import SimThread
from rulebot.venues.sim.settings import SimSettings

ROOT = Path(__file__).resolve().parents[2]
API_KEY_INDEX = 4


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fills_in(journal: Path) -> int:
    if not journal.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
            return int(db.execute("select count(*) from fills").fetchone()[0])
    except sqlite3.Error:
        return 0


def wait_for(what: str, condition: Callable[[], bool], bot: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert bot.poll() is None, f"the bot stopped before {what}"
        assert time.monotonic() < deadline, f"no {what} within 60 s"
        time.sleep(0.05)


def rulebot(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start `rulebot ARGS` in its own process; `finish` waits for it."""
    command = [sys.executable, "-m", "rulebot", *args]
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=PIPE, stderr=PIPE)


def finish(started: subprocess.Popen[bytes]) -> subprocess.CompletedProcess[bytes]:
    stdout, stderr = started.communicate(timeout=60)
    return subprocess.CompletedProcess(started.args, started.returncode, stdout, stderr)


def test_the_key_reaches_no_output_of_a_run(tmp_path: Path) -> None:
    key, public_key, error = lighter.signer_client.create_api_key()
    assert error is None and key.startswith("0x")
    bare = key.removeprefix("0x").lower().encode()
    rules = tmp_path / "rules"
    rules.mkdir()
    rule = rules / "ut_bot.rule"
    rule.write_bytes((ROOT / "rules" / "ut_bot.rule").read_bytes())
    journal, logs, port = tmp_path / "state.sqlite", tmp_path / "logs", free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RULEBOT_API_PRIVATE_KEY": key}

    sim = SimThread(SimSettings(speed=6000))
    running = sim.start()
    try:
        sim.call(lambda s: s.register_api_key(1, API_KEY_INDEX, public_key))
        settings = {
            "network": {"name": "sim", "url": running.url},
            "account": {"index": 1, "api_key_index": API_KEY_INDEX},
            "markets": ["BTC"],
            "dry_run": False,
            "risk": {"max_position_notional": "1000000 USDC", "max_leverage": 50},
            "runtime": {"status_port": port, "journal": journal.name},
            "logging": {"max_bytes": 20_000, "backups": 3},
        }
        (tmp_path / "rulebot.yaml").write_text(yaml.safe_dump(settings))
        out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            bot = subprocess.Popen(
                [sys.executable, "-m", "rulebot", "run", "rules", "-c", "rulebot.yaml",
                 "--log-level", "DEBUG", "--log-file", str(logs / "rulebot.log")],
                cwd=tmp_path, env=env, stdout=stdout, stderr=stderr,
            )  # fmt: skip
            try:
                wait_for("a fill", lambda: fills_in(journal) >= 1, bot)
                text = rule.read_text()
                rule.write_text(text.replace("\nentry long", f"\nlet leaked = {key} +\nentry long"))
                wait_for("a failed reload", lambda: b"not reloaded" in err.read_bytes(), bot)
                asked = (  # both at once, while the bot runs
                    rulebot("status", "--json", "--port", str(port), cwd=tmp_path, env=env),
                    rulebot("report", "-f", "json", "-c", "rulebot.yaml", cwd=tmp_path, env=env),
                )
                status, report = (finish(started) for started in asked)
            finally:
                bot.send_signal(signal.SIGTERM)
                bot.wait(timeout=60)
    finally:
        sim.stop()

    assert bot.returncode == 0, err.read_text()[-3000:]
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["network"] == "sim"
    assert report.returncode == 0, report.stderr
    assert [row["strategy"] for row in json.loads(report.stdout)["strategies"]] == ["ut_bot"]
    rotated = sorted(p.name for p in logs.iterdir())
    assert rotated[:2] == ["rulebot.log", "rulebot.log.1"]  # the rotations are searched too
    shown = err.read_bytes()  # the console's log lines
    assert REDACTED.encode() in shown  # the broken line was shown, without the key

    outputs = {
        "stdout": out.read_bytes(),
        "stderr": shown,
        "rulebot status --json": status.stdout + status.stderr,
        "rulebot report --format json": report.stdout + report.stderr,
    }
    for path in [*logs.iterdir(), *tmp_path.glob("state.sqlite*")]:
        outputs[path.name] = path.read_bytes()
    assert {"state.sqlite", "rulebot.log", "rulebot.log.1"} <= set(outputs)
    for name, data in outputs.items():
        assert bare not in data.lower(), f"the key is in {name}"

"""Logging: readable console lines, JSON lines in a rotating file, and secrets scrubbed from every
message, argument, traceback and warning, whichever logger (ours or the SDK's) wrote them."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import lighter
import pytest
from pydantic import SecretStr

from rulebot.config import Config, LoggingSettings
from rulebot.logs import (
    REDACTED,
    Redactor,
    config_secrets,
    redacting,
    setup_logging,
)

ROOT = Path(__file__).resolve().parents[1]


def new_key() -> str:
    private_key, _public_key, error = lighter.signer_client.create_api_key()
    assert error is None and private_key.startswith("0x")
    return private_key


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root logger and the error hooks back as they were, closing what the test opened."""
    root, ours = logging.getLogger(), logging.getLogger("rulebot")
    handlers, level = list(root.handlers), root.level
    our_level, propagate = ours.level, ours.propagate
    hooks = sys.excepthook, threading.excepthook
    yield
    ours.setLevel(our_level)
    ours.propagate = propagate
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    sys.excepthook, threading.excepthook = hooks
    logging.captureWarnings(False)


def every_form(key: str) -> list[str]:
    bare = key.removeprefix("0x")
    return [key, bare, bare.upper(), "0x" + bare.upper(), "0X" + bare]


def test_the_redactor_catches_a_hex_key_in_any_case_with_or_without_0x() -> None:
    key = new_key()
    redact = Redactor([key])
    for form in every_form(key):
        text = f"signing with {form}, then {form[:10]}"
        scrubbed = redact(text)
        assert scrubbed == f"signing with {REDACTED}, then {form[:10]}"
    assert key.removeprefix("0x").lower() not in repr(redact).lower()


def test_the_redactor_catches_other_secrets_as_written_and_ignores_tiny_ones() -> None:
    redact = Redactor(["s3cret-p@ss w0rd", "ab", "  "])
    assert redact("login s3cret-p@ss w0rd ok") == f"login {REDACTED} ok"
    assert redact("a cab and a crab") == "a cab and a crab"  # "ab" is too short to be a secret
    assert not Redactor([])


def test_config_secrets_finds_every_secret_in_the_config_and_the_environment() -> None:
    key = new_key()
    config = Config.model_validate({}).model_copy(update={"private_key": SecretStr(key)})
    env = {"RULEBOT_STATUS_TOKEN": "status-token-123", "HOME": "/nowhere"}
    assert config_secrets(config, env) == [key, "status-token-123"]
    assert config_secrets(Config.model_validate({}), {}) == []


def test_config_secrets_reads_the_variables_the_notification_settings_name() -> None:
    email = {"host": "mail.example.com", "from": "bot@example.com", "to": ["me@example.com"]}
    email |= {"username": "bot", "password_env": "MY_SMTP_PASSWORD"}
    webhooks = [{"format": "slack"}, {"format": "telegram", "chat_id": "42"}]
    config = Config.model_validate({"notifications": {"email": email, "webhooks": webhooks}})
    slack = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    env = {
        "MY_SMTP_PASSWORD": "correct horse",
        "RULEBOT_SLACK_WEBHOOK_URL": slack,
        "RULEBOT_TELEGRAM_BOT_TOKEN": "123456:telegram-token",
        "RULEBOT_SMTP_PASSWORD": "not named by this config",
    }
    found = config_secrets(config, env)
    assert {"correct horse", slack, "services/T000/B000/XXXXSECRET"} <= set(found)
    assert "123456:telegram-token" in found
    assert "not named by this config" not in found


def test_no_handler_writes_the_key_in_any_form(tmp_path: Path, restore_logging: None) -> None:
    key = new_key()
    console = io.StringIO()
    log_file = tmp_path / "logs" / "rulebot.log"
    setup_logging(LoggingSettings(level="DEBUG"), file=log_file, secrets=[key], console=console)
    log = logging.getLogger("rulebot.test")
    for form in every_form(key):
        log.info("the key is %s", form)
        log.debug("in a dict: %r", {"private_key": form})
        logging.debug(f"Create Order TxInfo: {form}")  # how lighter-sdk logs: the root logger
    try:
        raise ValueError(f"bad key {key}")
    except ValueError:
        log.exception("signing failed")
    log.warning("a stack", stack_info=True, extra={"note": key})
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn(f"deprecated key {key}", UserWarning, stacklevel=1)

    outputs = {"console": console.getvalue(), "file": log_file.read_text()}
    for name, text in outputs.items():
        assert key.removeprefix("0x").lower() not in text.lower(), name
        assert text.count(REDACTED) >= 3 * len(every_form(key)) + 2, name
        assert "ValueError: bad key <redacted>" in text, name
    lines = [json.loads(line) for line in outputs["file"].splitlines()]
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    assert lines[0]["message"] == f"the key is {REDACTED}"
    assert lines[0]["logger"] == "rulebot.test" and lines[0]["time"].endswith("+00:00")
    failure = next(line for line in lines if line["message"] == "signing failed")
    assert failure["level"] == "ERROR" and "Traceback" in failure["exception"]
    assert any(line["logger"] == "py.warnings" for line in lines)


def test_the_console_is_readable_lines_and_the_level_comes_from_the_settings(
    tmp_path: Path, restore_logging: None
) -> None:
    console = io.StringIO()
    setup_logging(LoggingSettings(level="WARNING"), console=console)
    log = logging.getLogger("rulebot.engine")
    log.info("quiet")
    log.warning("ut_bot ETH: order refused")
    logging.getLogger("aiohttp.access").info("GET /api/status")
    assert "quiet" not in console.getvalue()
    (line,) = console.getvalue().splitlines()
    assert line.endswith("WARNING ut_bot ETH: order refused")
    assert line[2] == ":" and line[5] == ":"  # HH:MM:SS first

    setup_logging(LoggingSettings(level="WARNING"), level="INFO", console=console)
    log.info("now shown")
    logging.getLogger("aiohttp.access").info("GET /api/status")  # other libraries: WARNING up
    assert console.getvalue().splitlines()[-1].endswith("INFO    now shown")
    setup_logging(LoggingSettings(level="WARNING"), level="DEBUG", console=console)
    logging.getLogger("aiohttp.access").debug("GET /api/status")  # and everything at DEBUG
    assert console.getvalue().splitlines()[-1].endswith("DEBUG   GET /api/status")


def test_at_debug_the_decisions_show_and_frames_and_file_events_do_not(
    tmp_path: Path, restore_logging: None
) -> None:
    console = io.StringIO()
    setup_logging(LoggingSettings(level="DEBUG"), console=console)
    logging.getLogger("websockets.client").debug('< TEXT \'{"type":"ping"}\' [15 bytes]')
    logging.getLogger("watchfiles.main").debug("rust notify timeout, continuing")
    logging.getLogger("rulebot.decisions").debug("ut_bot bar 2022-01-01 00:00 UTC => ...")
    logging.getLogger("websockets.client").info("connection closed")
    lines = console.getvalue().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        "DEBUG   ut_bot bar 2022-01-01 00:00 UTC => ...",
        "INFO    connection closed",
    ]
    setup_logging(LoggingSettings(level="DEBUG", quiet_libraries=False), console=console)
    logging.getLogger("websockets.client").debug("< TEXT frame")  # asked for: shown
    assert console.getvalue().splitlines()[-1].endswith("DEBUG   < TEXT frame")
    setup_logging(LoggingSettings(level="INFO"), console=console)
    assert logging.getLogger("websockets").level == logging.NOTSET  # nothing left behind


def test_the_file_rotates_at_max_bytes_and_keeps_backups_old_files(
    tmp_path: Path, restore_logging: None
) -> None:
    log_file = tmp_path / "rulebot.log"
    settings = LoggingSettings(file=str(log_file), max_bytes=2_000, backups=2)
    setup_logging(settings, console=io.StringIO())
    log = logging.getLogger("rulebot.test")
    for n in range(200):
        log.info("line %d %s", n, "x" * 40)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["rulebot.log", "rulebot.log.1", "rulebot.log.2"]
    for path in tmp_path.iterdir():
        assert path.stat().st_size <= 2_000
        for line in path.read_text().splitlines():
            json.loads(line)
    newest = json.loads(log_file.read_text().splitlines()[-1])
    assert newest["message"].startswith("line 199 ")


def test_with_no_backups_a_full_file_starts_over(tmp_path: Path, restore_logging: None) -> None:
    log_file = tmp_path / "rulebot.log"
    setup_logging(
        LoggingSettings(file=str(log_file), max_bytes=1_000, backups=0), console=io.StringIO()
    )
    log = logging.getLogger("rulebot.test")
    for n in range(100):
        log.info("line %d %s", n, "y" * 40)
    assert [p.name for p in tmp_path.iterdir()] == ["rulebot.log"]
    assert log_file.stat().st_size <= 1_000
    assert "line 99 " in log_file.read_text()


def test_plain_lines_in_the_file_when_json_is_off(tmp_path: Path, restore_logging: None) -> None:
    log_file = tmp_path / "rulebot.log"
    settings = LoggingSettings.model_validate({"file": str(log_file), "json": False})
    setup_logging(settings, console=io.StringIO(), secrets=["hunter2-password"])
    logging.getLogger("rulebot.run").info("smtp login with hunter2-password")
    (line,) = log_file.read_text().splitlines()
    assert line.endswith(f"INFO    rulebot.run: smtp login with {REDACTED}")


def test_setting_up_again_replaces_only_its_own_handlers(restore_logging: None) -> None:
    root = logging.getLogger()
    other = logging.StreamHandler(io.StringIO())
    root.addHandler(other)
    before = len(root.handlers)
    first, second = io.StringIO(), io.StringIO()
    setup_logging(console=first)
    setup_logging(console=second)
    assert len(root.handlers) == before + 1 and other in root.handlers
    logging.getLogger("rulebot").warning("once")
    assert first.getvalue() == "" and "once" in second.getvalue()


def test_what_a_command_prints_is_scrubbed_too() -> None:
    key = new_key()
    lines: list[str] = []
    say = redacting(lines.append, Redactor([key]))
    say(f"rules/x.rule:3:5: error: unknown name `{key.upper()}`")
    assert lines == [f"rules/x.rule:3:5: error: unknown name `{REDACTED}`"]


def test_an_uncaught_error_is_logged_scrubbed_not_printed_raw(tmp_path: Path) -> None:
    key = new_key()
    program = (
        "import sys\n"
        "from rulebot.logs import setup_logging\n"
        "setup_logging(secrets=[sys.argv[1]])\n"
        "raise RuntimeError('cannot sign with ' + sys.argv[1])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, key],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert done.returncode == 1
    assert key.removeprefix("0x") not in done.stderr + done.stdout
    assert "rulebot stopped on an unexpected error" in done.stderr
    assert f"RuntimeError: cannot sign with {REDACTED}" in done.stderr

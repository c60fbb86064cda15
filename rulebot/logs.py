"""Logging for `rulebot run`: readable lines on the console, JSON lines in a rotating file, and
every secret the config holds scrubbed from both before anything is written.

`setup_logging(settings, secrets=...)` installs the handlers on the root logger, so the SDK's own
records (lighter-sdk logs signed transactions at DEBUG through the root logger) pass the same
scrubbing. `Redactor` replaces each secret wherever it appears in a record (message, arguments,
traceback, stack): a hex key in any case, with or without `0x`. `config_secrets(config)` lists
every secret a `Config` holds, so a secret added to the config later is scrubbed too.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

from pydantic import BaseModel, SecretBytes, SecretStr

from rulebot.config import PRIVATE_KEY_ENV, LoggingSettings

REDACTED: Final = "<redacted>"
"""What a secret is replaced with."""
MIN_SECRET_CHARS: Final = 4
"""Shorter values are not scrubbed: replacing every `abc` in every line would garble the logs
and hide nothing (a secret that short would not be one)."""
SECRET_ENV: Final = (PRIVATE_KEY_ENV, "RULEBOT_STATUS_TOKEN")
"""Environment variables whose values are always secrets, whether or not the config has them."""
CONSOLE_FORMAT: Final = "%(asctime)s %(levelname)-7s %(message)s"
FILE_FORMAT: Final = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

_HEX: Final = re.compile(r"(?:0[xX])?([0-9a-fA-F]+)")
_OURS: Final = "_rulebot_handler"  # marks the handlers setup_logging installed


class Redactor:
    """Replaces each of a set of secrets with `<redacted>` in any text.

    A hex secret (an API private key) matches in upper or lower case, with or without `0x`, so
    `0xABC...`, `abc...` and `0xabc...` are all caught; any other secret matches as written.
    """

    def __init__(self, secrets: Iterable[str], replacement: str = REDACTED) -> None:
        self.replacement = replacement
        patterns = []
        for secret in sorted({s.strip() for s in secrets}, key=len, reverse=True):
            if len(secret) < MIN_SECRET_CHARS:
                continue
            hex_match = _HEX.fullmatch(secret)
            if hex_match and len(hex_match.group(1)) >= MIN_SECRET_CHARS:
                patterns.append(f"(?:0[xX])?(?i:{hex_match.group(1)})")
            else:
                patterns.append(re.escape(secret))
        self._pattern = re.compile("|".join(patterns)) if patterns else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __call__(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(self.replacement, text)

    def __repr__(self) -> str:
        return f"Redactor({'on' if self else 'off'})"  # never the secrets themselves


class RedactingFilter(logging.Filter):
    """Scrubs secrets from a record before any handler formats it: the message with its
    arguments merged in, the traceback and the stack. Never drops a record."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_rulebot_redacted", False) or not self.redact:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: show its parts rather than lose the record
            message = f"{record.msg!r} % {record.args!r}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        record._rulebot_redacted = True
        return True


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: `time` (ISO 8601 UTC, milliseconds), `level`, `logger`,
    `message`, and `exception` (the traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False)


class LogFileHandler(RotatingFileHandler):
    """A rotating file that keeps `backups` old files; with no backups, a full file starts over
    (the standard handler would instead grow without limit)."""

    def doRollover(self) -> None:
        if self.backupCount > 0:
            super().doRollover()
            return
        if self.stream:
            self.stream.close()
        self.stream = self._open_truncated()

    def _open_truncated(self) -> IO[str]:
        return open(self.baseFilename, "w", encoding=self.encoding, errors=self.errors)


def config_secrets(config: object, env: Mapping[str, str] | None = None) -> list[str]:
    """Every secret `config` holds or points to: each `SecretStr`/`SecretBytes`, however deep;
    the values of the environment variables its settings name for secrets (fields ending in
    `_env`, such as the SMTP password's, and a webhook's `url_variable`); and the values of the
    secret variables in `SECRET_ENV`. A secret URL also yields its path, which holds its token."""
    values: list[str] = []
    names: list[str] = list(SECRET_ENV)
    _collect(config, values, names, depth=0)
    environment = os.environ if env is None else env
    values += [environment[name] for name in dict.fromkeys(names) if environment.get(name)]
    found: list[str] = []
    for value in values:
        found.append(value.strip())
        if "://" in value:  # a webhook URL is shown without its host too
            found.append(value.strip().split("://", 1)[1].partition("/")[2])
    return [s for s in dict.fromkeys(found) if len(s) >= MIN_SECRET_CHARS]


def _collect(value: object, found: list[str], names: list[str], depth: int) -> None:
    if depth > 20:
        return
    if isinstance(value, SecretStr):
        found.append(value.get_secret_value())
    elif isinstance(value, SecretBytes):
        found.append(value.get_secret_value().decode("utf-8", "replace"))
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            item = getattr(value, name, None)
            if name.endswith("_env") and isinstance(item, str):
                names.append(item)
            else:
                _collect(item, found, names, depth + 1)
        variable = getattr(value, "url_variable", None)
        if isinstance(variable, str):
            names.append(variable)
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, found, names, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _collect(item, found, names, depth + 1)


CHATTY_LIBRARIES = ("websockets", "watchfiles")
"""Loggers that, at DEBUG, log every websocket frame and every file-system event."""


def setup_logging(
    settings: LoggingSettings | None = None,
    *,
    level: str | None = None,
    file: str | os.PathLike[str] | None = None,
    secrets: Iterable[str] = (),
    console: IO[str] | None = None,
) -> Redactor:
    """Log to the console (stderr unless `console` is given) and, when a file is set, to that
    file (JSON lines unless `settings.json_lines` is off), rotating at `settings.max_bytes` and
    keeping `settings.backups` old files. `level` and `file` override the settings (command-line
    flags). Every handler scrubs `secrets`. Calling it again replaces what it installed before
    and leaves other handlers (a test runner's) alone. Returns the redactor, for other outputs.
    """
    settings = settings or LoggingSettings()
    chosen_level = (level or settings.level).upper()
    numeric = logging.getLevelNamesMapping()[chosen_level]
    chosen_file = file if file is not None else settings.file
    redact = Redactor(secrets)
    scrub = RedactingFilter(redact)

    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(handler)
        handler.close()
    rulebot_logger = logging.getLogger("rulebot")
    for handler in list(rulebot_logger.handlers):  # from an older setup: one place for all
        rulebot_logger.removeHandler(handler)
    rulebot_logger.propagate = True
    rulebot_logger.setLevel(chosen_level)

    to_console = logging.StreamHandler(console or sys.stderr)
    to_console.setFormatter(logging.Formatter(CONSOLE_FORMAT, "%H:%M:%S"))
    handlers: list[logging.Handler] = [to_console]
    if chosen_file:
        path = Path(chosen_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        to_file = LogFileHandler(
            path, maxBytes=settings.max_bytes, backupCount=settings.backups, encoding="utf-8"
        )
        to_file.setFormatter(
            JsonLinesFormatter() if settings.json_lines else logging.Formatter(FILE_FORMAT)
        )
        handlers.append(to_file)
    for handler in handlers:
        handler.addFilter(scrub)
        setattr(handler, _OURS, True)
        root.addHandler(handler)
    # other libraries (aiohttp's access log, websockets, watchfiles) speak at WARNING and up,
    # and at everything when the level is DEBUG but for the chattiest (every websocket frame,
    # every file event), which stay at INFO unless `quiet_libraries` is off
    root.setLevel(chosen_level if chosen_level == "DEBUG" else max(logging.WARNING, numeric))
    quiet = chosen_level == "DEBUG" and settings.quiet_libraries
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.INFO if quiet else logging.NOTSET)
    logging.captureWarnings(True)
    _log_uncaught_errors()
    return redact


def redacting(say: Callable[[str], None], redact: Redactor) -> Callable[[str], None]:
    """`say` with secrets scrubbed from every line: for what a command prints, not logs."""

    def scrubbed(line: str) -> None:
        say(redact(line))

    return scrubbed


def _log_uncaught_errors() -> None:
    """Send an error nothing caught through the logging handlers (and so through the scrubbing)
    instead of Python's plain traceback on stderr."""
    if getattr(sys.excepthook, _OURS, False):
        return

    def hook(
        kind: type[BaseException], error: BaseException, traceback: TracebackType | None
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, error, traceback)
            return
        logging.getLogger("rulebot").critical(
            "rulebot stopped on an unexpected error", exc_info=(kind, error, traceback)
        )

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or issubclass(args.exc_type, SystemExit):
            return
        name = args.thread.name if args.thread else "a thread"
        logging.getLogger("rulebot").error(
            "unexpected error in %s",
            name,
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )

    setattr(hook, _OURS, True)
    sys.excepthook = hook
    threading.excepthook = thread_hook


__all__ = [
    "REDACTED",
    "JsonLinesFormatter",
    "LogFileHandler",
    "RedactingFilter",
    "Redactor",
    "config_secrets",
    "redacting",
    "setup_logging",
]

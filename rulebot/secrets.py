"""The API private key: read from the environment or from a private key file, and written there.

The key comes from `RULEBOT_API_PRIVATE_KEY` when it is set, else from the `.env`-style key file
rulebot.yaml names (`account.key_file`, e.g. `RULEBOT_API_PRIVATE_KEY=0x...`). A key file that
other users could read is refused, with the command that fixes it: a key anyone on the machine
can copy can empty the account. Nothing here puts a key in a message, a log or a repr.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pydantic import SecretStr

PRIVATE_KEY_ENV: Final = "RULEBOT_API_PRIVATE_KEY"
DEFAULT_KEY_FILE: Final = "rulebot.env"
"""Where `rulebot init` stores the key, beside rulebot.yaml."""
KEY_HEX_DIGITS: Final = 80  # a Lighter API private key is 40 bytes
WALLET_KEY_HEX_DIGITS: Final = 64  # an Ethereum wallet key: never what rulebot should be given
_MAX_KEY_FILE_BYTES: Final = 64 * 1024
_ASSIGNMENT: Final = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)")
_HEX: Final = re.compile(r"[0-9a-fA-F]+")


class SecretsError(Exception):
    """The key cannot be used: `str()` says why, `fix` says what to do. Neither holds the key."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


@dataclass(frozen=True, slots=True)
class KeySource:
    """The key found (or None) and where it came from, in words (`RULEBOT_API_PRIVATE_KEY`,
    `key file rulebot.env`), for messages that must say where without saying what."""

    key: SecretStr | None
    origin: str | None

    def __repr__(self) -> str:
        return f"KeySource(key={'set' if self.key else None}, origin={self.origin!r})"


def find_private_key(env: Mapping[str, str], key_file: str | Path | None) -> KeySource:
    """The key from `env` if set there, else from `key_file` if one is named, else none.

    Raises SecretsError when the named key file is missing, open to other users, or holds no key.
    """
    value = env.get(PRIVATE_KEY_ENV, "").strip()
    if value:
        return KeySource(SecretStr(value), PRIVATE_KEY_ENV)
    if key_file is None:
        return KeySource(None, None)
    return KeySource(read_key_file(key_file), f"key file {key_file}")


def key_file_of(named: str | None, config_path: str | Path) -> Path | None:
    """The key file rulebot.yaml names (`account.key_file`), found from the folder rulebot.yaml
    is in."""
    return None if named is None else Path(config_path).parent / Path(named).expanduser()


def read_key_file(path: str | Path) -> SecretStr:
    """The key in a private `.env`-style file (or a file holding the bare key alone)."""
    shown = str(path)
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise SecretsError(
            f"key file {shown} does not exist",
            "run `rulebot init` to store the key, or fix `account.key_file` in rulebot.yaml",
        ) from None
    except OSError as error:
        reason = (error.strerror or type(error).__name__).lower()
        raise SecretsError(
            f"cannot read key file {shown}: {reason}", f"make {shown} readable by you"
        ) from None
    refusal = _exposure(os.fstat(descriptor), shown)  # the file opened, not a swapped one
    if refusal is not None:
        os.close(descriptor)
        raise refusal
    with os.fdopen(descriptor, "rb") as file:
        data = file.read(_MAX_KEY_FILE_BYTES + 1)
    if len(data) > _MAX_KEY_FILE_BYTES:
        raise SecretsError(f"key file {shown} is far too big to be a key file", _FILE_FORMAT)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SecretsError(f"key file {shown} is not UTF-8 text", _FILE_FORMAT) from None
    key = _key_in(text)
    if key is None:
        raise SecretsError(f"key file {shown} holds no {PRIVATE_KEY_ENV}=... line", _FILE_FORMAT)
    return SecretStr(key)


_FILE_FORMAT: Final = f"write the key as one line `{PRIVATE_KEY_ENV}=<key>` (rulebot init does)"


def key_file_problem(path: str | Path) -> SecretsError | None:
    """Why the file at `path` is not private enough to hold a key, or None when it is."""
    try:
        status = os.stat(path)
    except OSError:
        return None  # reading it will say what is wrong
    return _exposure(status, str(path))


def _exposure(status: os.stat_result, shown: str) -> SecretsError | None:
    if not stat.S_ISREG(status.st_mode):
        return SecretsError(f"key file {shown} is not a regular file", _FILE_FORMAT)
    if os.name != "posix":
        return None  # Windows has no mode bits: its ACLs are the user profile's to keep
    mode = stat.S_IMODE(status.st_mode)
    if mode & 0o077:
        return SecretsError(
            f"key file {shown} is open to other users (mode {mode:04o}): "
            "anyone who can read it can trade and withdraw with the key",
            f"chmod 600 {shown}",
        )
    uid = os.geteuid()
    if uid != 0 and status.st_uid != uid:
        return SecretsError(
            f"key file {shown} belongs to another user (uid {status.st_uid})",
            f"copy the key into a file of your own (rulebot init), or chown it to uid {uid}",
        )
    return None


def _key_in(text: str) -> str | None:
    """The key in a key file's text: the `RULEBOT_API_PRIVATE_KEY=` line, else a lone value."""
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    for line in lines:
        match = _ASSIGNMENT.fullmatch(line)
        if match and match.group(1) == PRIVATE_KEY_ENV:
            return _unquoted(match.group(2)) or None
    if len(lines) == 1 and _ASSIGNMENT.fullmatch(lines[0]) is None:
        return _unquoted(lines[0]) or None
    return None


def _unquoted(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1].strip()
    return value.split(" #", 1)[0].strip()  # an unquoted value may end in a comment


def key_format_problem(key: SecretStr | str) -> str | None:
    """What is wrong with the key's shape (never quoting it), or None when it looks right."""
    text = key.get_secret_value() if isinstance(key, SecretStr) else key
    digits = text.strip()
    if digits[:2].lower() == "0x":
        digits = digits[2:]
    if not digits:
        return "the API private key is empty"
    if _HEX.fullmatch(digits) is None:
        return (
            "the API private key is not hexadecimal: a Lighter API private key is "
            f"{KEY_HEX_DIGITS} hex digits (0-9, a-f), optionally after 0x"
        )
    if len(digits) == WALLET_KEY_HEX_DIGITS:
        return (
            f"the key has {WALLET_KEY_HEX_DIGITS} hex digits, the length of an Ethereum wallet "
            f"key, not a Lighter API key ({KEY_HEX_DIGITS}): never give rulebot your wallet key"
        )
    if len(digits) != KEY_HEX_DIGITS:
        return (
            f"the API private key has {len(digits)} hex digits; a Lighter API private key has "
            f"{KEY_HEX_DIGITS} (40 bytes)"
        )
    return None


def write_key_file(path: str | Path, key: SecretStr) -> None:
    """Store `key` at `path` as `RULEBOT_API_PRIVATE_KEY=...`, readable by its owner only (0600)."""
    write_private(
        path,
        "# rulebot's Lighter API private key. Only you may read this file (chmod 600);\n"
        "# never commit it, copy it into rulebot.yaml or paste it in a chat.\n"
        f"{PRIVATE_KEY_ENV}={key.get_secret_value().strip()}\n",
    )


def write_private(path: str | Path, text: str) -> None:
    """Write `text` to `path`, readable by its owner only (0600).

    The file is written beside its final name and renamed into place, so a reader never sees
    half of it and the secret is never, even briefly, in a file with looser permissions.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            if hasattr(os, "fchmod"):
                os.fchmod(file.fileno(), 0o600)  # whatever the umask said
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


__all__ = [
    "DEFAULT_KEY_FILE",
    "PRIVATE_KEY_ENV",
    "KeySource",
    "SecretsError",
    "find_private_key",
    "key_file_of",
    "key_file_problem",
    "key_format_problem",
    "read_key_file",
    "write_key_file",
    "write_private",
]

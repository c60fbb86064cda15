"""What every notification channel is: a label safe to log, the kinds it wants, a send.

A send that fails raises `SendError`, whose text has already been cleaned of every secret
(a URL with a token in it shows up in aiohttp's errors, for one), and which says whether trying
again could help.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from pydantic import SecretStr

from rulebot import logs
from rulebot.notify.message import Message

_HIDDEN = "***"
_SHORTEST = 6  # shorter "secrets" would mask ordinary words


class Redactor:
    """Replaces each secret it knows (and the parts of a secret URL) with `***`. A hex secret
    (the API private key) matches in any case, with or without `0x`, as in the logs."""

    def __init__(self, secrets: Iterable[SecretStr | str | None] = ()) -> None:
        self._secrets: set[str] = set()
        self._matcher: logs.Redactor | None = None
        for secret in secrets:
            self.add(secret)

    def add(self, secret: SecretStr | str | None) -> None:
        value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        if not value:
            return
        value = value.strip()
        parts = {value, value.removeprefix("0x")}
        if "://" in value:  # a URL: its path and query may be shown without the host
            rest = value.split("://", 1)[1]
            path = rest.partition("/")[2]
            parts |= {path, path.partition("?")[0], path.partition("?")[2]}
        self._secrets |= {p for p in parts if len(p) >= _SHORTEST}
        self._matcher = None

    def __call__(self, text: str) -> str:
        if self._matcher is None:
            self._matcher = logs.Redactor(self._secrets, replacement=_HIDDEN)
        return self._matcher(text)


class SendError(Exception):
    """A message was not delivered. `retryable`: the same send may work later (a timeout, a
    5xx, a rate limit); `retry_after`: the server said how many seconds to wait."""

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retryable = retryable
        self.retry_after = retry_after


class Channel(Protocol):
    """Somewhere messages go: an email address, a chat, a webhook."""

    label: str
    """Names the channel in logs; never holds a secret."""
    events: frozenset[str]

    async def open(self) -> None: ...

    async def send(self, message: Message) -> None:
        """Deliver `message` or raise SendError (with the reason already redacted)."""
        ...

    async def close(self) -> None: ...


__all__ = ["Channel", "Redactor", "SendError"]

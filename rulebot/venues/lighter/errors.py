"""What can go wrong talking to Lighter, as exceptions a trader's code can catch by meaning.

`classify` turns what the SDK raises (its `ApiException`s, aiohttp's connection errors, timeouts)
into one of these, so the retry loop decides on kinds (`Retryable`), never on status numbers.
Messages are built here from the venue's code and message only: never from request headers or
bodies, which is how no API key or auth token can leak into an error.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import aiohttp
from lighter.exceptions import ApiException

from rulebot.venues.lighter.retry import parse_retry_after

INVALID_NONCE_TEXT = "invalid nonce"
"""How Lighter (and the SDK's own nonce manager) recognises a nonce error: by this text."""


class VenueError(Exception):
    """Anything the venue or the way to it refused or failed to do."""


class OrderRejected(VenueError):
    """The venue (or our own check before sending) refused an order, and why.

    `code` is the venue's error code (None when our own check refused it before sending),
    `message` the venue's words, `market` the symbol when known.
    """

    def __init__(self, message: str, *, code: int | None = None, market: str | None = None):
        prefix = f"{market}: " if market else ""
        suffix = f" (code {code})" if code is not None else ""
        super().__init__(f"{prefix}{message}{suffix}")
        self.code = code
        self.message = message
        self.market = market


class UnknownMarket(OrderRejected):
    """A symbol or id that names no market on this venue; says the closest one if any."""

    def __init__(self, name: str, suggestion: str | None = None, known: str | None = None):
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        listed = f" ({known})" if known else ""
        super().__init__(f"unknown market {name!r}{listed}{hint}")
        self.name = name
        self.suggestion = suggestion


class OrderNotFound(VenueError):
    """No order with that index or client order index on this account."""


class InvalidNonce(VenueError):
    """The venue refused a transaction's nonce (reused, skipped, or another sender on the key)."""


class BadAnswer(VenueError):
    """An answer the adapter cannot read: a field it needs is missing, or is not the kind of
    value the venue's API says (a price that is not a number). Not retried: asking again gives
    the same answer."""


class Retryable(VenueError):
    """A failure worth trying again after a pause.

    `ambiguous` is True when the request may have reached the venue and been applied (a 5xx, a
    timeout, a dropped connection), so a retry must re-send the very same signed transaction.
    `retry_after` is the venue's Retry-After in seconds, when it gave one.
    """

    def __init__(self, message: str, *, ambiguous: bool, retry_after: float | None = None):
        super().__init__(message)
        self.ambiguous = ambiguous
        self.retry_after = retry_after


class RateLimited(Retryable):
    """HTTP 429: the venue did not process the request; wait `retry_after` if given."""

    def __init__(self, retry_after: float | None):
        wait = f"; retry after {retry_after:g} s" if retry_after is not None else ""
        super().__init__(
            f"rate limited by the venue{wait}", ambiguous=False, retry_after=retry_after
        )


class VenueUnavailable(Retryable):
    """A 5xx, a timeout or a connection error: the request may or may not have been applied."""


@dataclass(frozen=True, slots=True)
class VenueAnswer:
    """The code and message of a non-2xx answer, read from its body when it has them."""

    status: int
    code: int | None
    message: str


def answer_of(error: ApiException) -> VenueAnswer:
    """The status, Lighter's error code and message of an SDK `ApiException`."""
    status = int(error.status or 0)
    data = error.data
    code = getattr(data, "code", None)
    message = getattr(data, "message", None)
    if (code is None or message is None) and error.body:
        try:
            parsed = json.loads(error.body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            code = code if code is not None else parsed.get("code")
            message = message if message is not None else parsed.get("message")
    if not isinstance(code, int) or isinstance(code, bool):
        code = None
    if not isinstance(message, str) or not message:
        message = str(error.reason or f"HTTP {status}")
    return VenueAnswer(status=status, code=code, message=message)


def retry_after_of(error: ApiException) -> str | None:
    """The raw Retry-After header of an answer, if it had one."""
    headers = error.headers
    if headers is None:
        return None
    value = headers.get("Retry-After")
    return value if isinstance(value, str) else None


def is_invalid_nonce(message: str) -> bool:
    return INVALID_NONCE_TEXT in message.lower()


def classify(error: BaseException, *, market: str | None = None) -> VenueError | None:
    """The `VenueError` that `error` (raised by an SDK call) means; None for anything else,
    which the caller re-raises as the bug it is."""
    if isinstance(error, VenueError):
        return error
    if isinstance(error, ApiException):
        answer = answer_of(error)
        if answer.status == 429:
            raw = retry_after_of(error)
            return RateLimited(parse_retry_after(raw))
        if answer.status >= 500 or answer.status == 0:
            return VenueUnavailable(
                f"venue error HTTP {answer.status}: {answer.message}", ambiguous=True
            )
        if is_invalid_nonce(answer.message):
            return InvalidNonce(answer.message)
        return OrderRejected(answer.message, code=answer.code, market=market)
    if isinstance(error, TimeoutError | asyncio.TimeoutError):
        return VenueUnavailable("the venue did not answer in time", ambiguous=True)
    if isinstance(error, aiohttp.ClientConnectorError):
        # refused before any byte was sent: nothing can have been applied
        return VenueUnavailable(f"cannot reach the venue: {error.os_error}", ambiguous=False)
    if isinstance(error, aiohttp.ClientError | ConnectionError):
        return VenueUnavailable(f"connection to the venue failed: {error}", ambiguous=True)
    return None

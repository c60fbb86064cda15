"""Run one venue request with retries: the SDK's errors classified, backoff slept, Retry-After
honoured, and every attempt paid for from the process's rate budget. Reads are safe to repeat,
so every retryable failure is simply tried again; a 429 is waited out for up to the venue's
rolling minute (`RateLimiter.refused`), other failures as the retry policy says."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from rulebot.venues.lighter.errors import RateLimited, Retryable, VenueError, classify
from rulebot.venues.lighter.limiter import RateLimiter
from rulebot.venues.lighter.retry import RetryPolicy

T = TypeVar("T")
log = logging.getLogger(__name__)


def venue_error(error: BaseException, market: str | None = None) -> VenueError:
    """`error` as a `VenueError`, or `error` itself re-raised when it is not about the venue."""
    classified = classify(error, market=market)
    if classified is None:
        raise error
    return classified


async def with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    rng: random.Random,
    *,
    what: str,
    market: str | None = None,
    limiter: RateLimiter | None = None,
    endpoint: str | None = None,
) -> T:
    """`call()`'s result, retrying rate limits, 5xx, timeouts and dropped connections. Each
    attempt waits for `limiter` (as a request to `endpoint`, by default `what`)."""
    retry = 0
    limited = 0.0  # seconds held for 429s so far
    while True:
        try:
            if limiter is None:
                return await call()
            async with limiter.request(endpoint or what):
                return await call()
        except Exception as raised:
            error = venue_error(raised, market)
            if not isinstance(error, Retryable):
                raise error from None
            if isinstance(error, RateLimited) and limiter is not None:
                pause = limiter.refused(limited, error.retry_after, rng.random())
                if pause is None:
                    raise error from raised
                limited += pause
                log.info("%s: %s; holding requests %.2f s", what, error, pause)
                continue  # the limiter holds the retry (and every other request) that long
            retry += 1
            pause = policy.delay(retry, rng.random(), error.retry_after)
            if pause is None:
                raise error from raised
            log.info("%s: %s; retry %d in %.2f s", what, error, retry, pause)
            await asyncio.sleep(pause)

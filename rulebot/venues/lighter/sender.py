"""Send one signed transaction so that it lands once: never twice, and not lost unnoticed.

The rules, per API key and under its lock (so transactions reach the venue in nonce order):

- Sign with the key's next nonce and send.
- 429: the venue did not process it; hold every request for as long as the limiter says (the
  venue's Retry-After, or a backoff, up to its rolling minute) and re-send the SAME signed
  transaction.
- 5xx, timeout, dropped connection: it may have been applied. Re-send the SAME signed
  transaction: its nonce makes a second copy harmless, because the venue refuses a spent nonce.
- "invalid nonce": if an earlier copy may have been applied, ask the venue whether it was
  (`landed`, e.g. "is there an order with this client order index?"); if so, done. Otherwise
  the nonce was stale (another sender on the key, a restart): fetch `/nextNonce`, sign again.
- Any other refusal: if an earlier copy may have been applied and it did land, done; otherwise
  the refusal reaches the caller. The nonce count is refetched before the next transaction.

Every attempt is paid for from the process's rate budget (`limiter.RateLimiter`), the first one
before queueing for the key's lock, so an urgent cancel does not wait behind entries that are
themselves waiting for room in the window.

When retries run out after an ambiguous failure and the venue still shows nothing, the error
says so (`Retryable.ambiguous`), so the caller checks before sending that order again.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from lighter.api.transaction_api import TransactionApi
from lighter.models.resp_send_tx import RespSendTx

from rulebot.venues.lighter.calls import venue_error, with_retries
from rulebot.venues.lighter.convert import next_nonce_answer
from rulebot.venues.lighter.errors import (
    InvalidNonce,
    OrderRejected,
    RateLimited,
    Retryable,
    VenueError,
    VenueUnavailable,
    is_invalid_nonce,
)
from rulebot.venues.lighter.limiter import RateLimiter, Spend
from rulebot.venues.lighter.nonces import NonceKeeper
from rulebot.venues.lighter.retry import RetryPolicy

CODE_OK: Final = 200
MAX_NONCE_RESYNCS: Final = 3
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Signed:
    """A transaction signed by the SDK's signer, ready to send (and to re-send as is)."""

    tx_type: int
    tx_info: str
    tx_hash: str


@dataclass(frozen=True, slots=True)
class Sent:
    """The venue took the transaction; `recovered` when found applied after a lost answer."""

    tx_hash: str
    nonce: int
    recovered: bool = False


Sign = Callable[[int], Signed]
Landed = Callable[[], Awaitable[bool]]


class TxSender:
    """Sends signed transactions for one account and API key."""

    def __init__(
        self,
        tx_api: TransactionApi,
        *,
        account_index: int,
        api_key_index: int,
        policy: RetryPolicy,
        rng: random.Random,
        request_timeout: float,
        settle_timeout: float = 2.0,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._tx_api = tx_api
        self._limiter = limiter or RateLimiter()
        self._account_index = account_index
        self._key = api_key_index
        self._policy = policy
        self._rng = rng
        self._timeout = request_timeout
        self._settle_timeout = settle_timeout
        self.nonces = NonceKeeper(self._fetch_nonce)

    async def _fetch_nonce(self, api_key_index: int) -> int:
        answer = await with_retries(
            lambda: self._tx_api.next_nonce(
                account_index=self._account_index,
                api_key_index=api_key_index,
                _request_timeout=self._timeout,
            ),
            self._policy,
            self._rng,
            what="nextNonce",
            limiter=self._limiter,
        )
        return next_nonce_answer(answer)

    async def send(self, sign: Sign, landed: Landed, *, what: str, market: str | None) -> Sent:
        """Sign with the next nonce and send until the venue takes it once (see module doc)."""
        spent = await self._limiter.acquire("sendTx")
        try:
            async with self.nonces.lock(self._key):
                return await self._send_locked(sign, landed, spent, what=what, market=market)
        finally:
            self._limiter.settle(spent)

    async def _send_locked(
        self, sign: Sign, landed: Landed, spent: Spend, *, what: str, market: str | None
    ) -> Sent:
        nonce = await self.nonces.next(self._key)
        signed = sign(nonce)
        maybe_applied = False
        retries = resyncs = 0
        limited = 0.0  # seconds held for 429s so far
        paid = True  # `send` paid for the first attempt
        while True:
            if not paid:
                spent = await self._limiter.acquire("sendTx")
            paid = False
            try:
                error, tx_hash = await self._send_once(signed, market)
            finally:
                self._limiter.settle(spent)
            if error is None:
                self.nonces.spent(self._key, nonce)
                return Sent(tx_hash or signed.tx_hash, nonce)
            if isinstance(error, Retryable):
                maybe_applied = maybe_applied or error.ambiguous
                retries += 1
                if isinstance(error, RateLimited):
                    pause = self._limiter.refused(limited, error.retry_after, self._rng.random())
                    if pause is not None:
                        limited += pause
                        log.info("%s: %s; re-sending nonce %d in %.2f s", what, error, nonce, pause)
                        continue  # the limiter holds the re-send (and every request) that long
                else:
                    pause = self._policy.delay(retries, self._rng.random(), error.retry_after)
                    if pause is not None:
                        log.info("%s: %s; re-sending nonce %d in %.2f s", what, error, nonce, pause)
                        await asyncio.sleep(pause)
                        continue
                self.nonces.forget(self._key)
                if maybe_applied and await self._settled(landed):
                    return Sent(signed.tx_hash, nonce, recovered=True)
                raise VenueUnavailable(
                    f"{what}: gave up after {retries} tries ({error})"
                    + ("; the venue may still apply it" if maybe_applied else ""),
                    ambiguous=maybe_applied,
                    retry_after=error.retry_after,
                ) from None
            self.nonces.forget(self._key)
            if maybe_applied and await self._settled(landed):
                log.info("%s: answer lost but the venue has it (nonce %d)", what, nonce)
                return Sent(signed.tx_hash, nonce, recovered=True)
            if isinstance(error, InvalidNonce) and resyncs < MAX_NONCE_RESYNCS:
                resyncs += 1
                nonce = await self.nonces.next(self._key)
                log.info("%s: stale nonce; signing again with %d", what, nonce)
                signed = sign(nonce)
                maybe_applied = False
                continue
            raise error

    async def _send_once(
        self, signed: Signed, market: str | None
    ) -> tuple[VenueError | None, str | None]:
        """(None, the venue's tx hash) when the venue took the transaction, else (what went
        wrong, None)."""
        try:
            answer: RespSendTx = await self._tx_api.send_tx(
                tx_type=signed.tx_type, tx_info=signed.tx_info, _request_timeout=self._timeout
            )
        except Exception as raised:
            return venue_error(raised, market), None
        if answer.code == CODE_OK:
            return None, answer.tx_hash
        message = answer.message or f"code {answer.code}"
        if is_invalid_nonce(message):
            return InvalidNonce(message), None
        return OrderRejected(message, code=answer.code, market=market), None

    async def _settled(self, landed: Landed) -> bool:
        """Whether the venue shows the transaction applied, asking a few times over the settle
        timeout (a real venue applies a transaction a little after taking it)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settle_timeout
        pause = 0.05
        while True:
            if await landed():
                return True
            if loop.time() + pause > deadline:
                return False
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)

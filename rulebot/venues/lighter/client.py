"""`LighterVenue`: trade and read one Lighter account through the real lighter-sdk.

Every transaction is signed by the SDK's `SignerClient` and sent by `sender.TxSender` (explicit
nonces, retries, no duplicates); every read goes through the SDK's API classes with retries
(`calls.with_retries`). Callers speak human Decimals and market symbols; `units.MarketInfo`
converts to the venue's integers, rounding toward safety. Results are our own frozen records.

    async with LighterVenue("sim", url=url, account_index=1, private_key=key) as venue:
        ack = await venue.place_order(OrderRequest("ETH", "buy", Decimal("0.05"), price=3500))
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from decimal import Decimal
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Final, TypeVar

import lighter
from lighter.nonce_manager import NonceManagerType
from lighter.signer_client import SignerClient
from pydantic import SecretStr

from rulebot.config import (
    BASE_URLS,
    CHAIN_IDS,
    DEFAULT_API_KEY_INDEX,
    api_key_index_problem,
)
from rulebot.lang.suggest import did_you_mean
from rulebot.venues.lighter import convert, paging
from rulebot.venues.lighter.calls import with_retries
from rulebot.venues.lighter.errors import (
    OrderNotFound,
    OrderRejected,
    Retryable,
    VenueError,
)
from rulebot.venues.lighter.limiter import (
    WINDOW_S,
    Priority,
    QueueClock,
    RateBudget,
    RateLimiter,
    Tier,
    at_priority,
    queue_clock,
    shared_limiter,
)
from rulebot.venues.lighter.markets import MarketDirectory, markets_answer
from rulebot.venues.lighter.records import (
    AccountState,
    Candle,
    Funding,
    Order,
    OrderAck,
    OrderBookSnapshot,
    OrderRequest,
    Trade,
    TxAck,
)
from rulebot.venues.lighter.retry import RetryPolicy
from rulebot.venues.lighter.sender import Sent, Signed, TxSender
from rulebot.venues.units import MarketInfo, Side

if TYPE_CHECKING:
    from rulebot.config import Config

T = TypeVar("T")

NETWORKS: Final = ("sim", "testnet", "mainnet")
ORDER_TYPES: Final = {
    "limit": SignerClient.ORDER_TYPE_LIMIT,
    "market": SignerClient.ORDER_TYPE_MARKET,
    "stop_loss": SignerClient.ORDER_TYPE_STOP_LOSS,
    "stop_loss_limit": SignerClient.ORDER_TYPE_STOP_LOSS_LIMIT,
    "take_profit": SignerClient.ORDER_TYPE_TAKE_PROFIT,
    "take_profit_limit": SignerClient.ORDER_TYPE_TAKE_PROFIT_LIMIT,
}
TIME_IN_FORCE: Final = {
    "ioc": SignerClient.ORDER_TIME_IN_FORCE_IMMEDIATE_OR_CANCEL,
    "gtt": SignerClient.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME,
    "post_only": SignerClient.ORDER_TIME_IN_FORCE_POST_ONLY,
}
CANDLES_PER_CALL: Final = 500
FUNDINGS_PER_CALL: Final = 750
AUTH_LIFETIME_S: Final = 10 * 60
AUTH_MARGIN_S: Final = 60
MAX_CLIENT_ORDER_INDEX: Final = 2**48 - 1
_HEX_KEY: Final = re.compile(r"(?:0x)?[0-9a-fA-F]{64,}")
CANCELLED_ON_ARRIVAL: Final = {
    "canceled-post-only": "the post-only order would have crossed the book",
    "canceled-reduce-only": "the reduce-only order has no position to reduce",
    "canceled-position-not-allowed": "the venue does not allow that position on this market",
    "canceled-margin-not-allowed": "not enough margin for the order",
    "canceled-too-much-slippage": "no liquidity within the order's price limit",
    "canceled-not-enough-liquidity": "not enough liquidity to fill the order",
    "canceled-self-trade": "the order would have traded with the account's own order",
    "canceled-expired": "the order's expiry passed",
    "canceled-oco": "the other order of its one-cancels-the-other pair went first",
    "canceled-child": "the order it was attached to was cancelled",
    "canceled-liquidation": "the account is being liquidated",
    "canceled-invalid-balance": "the account's balance cannot back the order",
}
"""Every `canceled-…` status of lighter-sdk's `Order` (its `status` enum): an order the venue
took and cancelled on arrival, and what that means to a trader. A plain `canceled` is a cancel
someone asked for. An unlisted `canceled-…` (a status newer than this list) is still a refusal."""
UNKNOWN: Final = "unknown"
"""An order's status when it was sent but not seen at the venue within the settle time: not a
success, not a refusal; look it up by client order index (`find_order`) before trusting it."""
CLIENT_ORDER_INDEXES_PER_CALL: Final = 20


def cancelled_on_arrival(status: str) -> str | None:
    """What a `canceled-…` status means to a trader; None for any other status."""
    if not status.startswith("canceled-"):
        return None
    return CANCELLED_ON_ARRIVAL.get(status, "the venue cancelled the order on arrival")


PROTECTIVE_KINDS: Final = frozenset(
    {"stop_loss", "stop_loss_limit", "take_profit", "take_profit_limit"}
)


def order_priority(_venue: object, request: OrderRequest, *_: object, **__: object) -> Priority:
    """How urgent an order's requests are: stops and take-profits protect, a reduce-only order
    exits, anything else enters."""
    if request.kind in PROTECTIVE_KINDS:
        return Priority.PROTECT
    return Priority.EXIT if request.reduce_only else Priority.ENTRY


def resolve_url(network: str, url: str | None) -> str:
    """The base URL for a network name, or the explicit `url` (which `sim` requires)."""
    if network not in NETWORKS:
        hint = did_you_mean(network, NETWORKS)
        raise ValueError(
            f"unknown network {network!r}"
            + (f"; did you mean {hint!r}?" if hint else "")
            + f" (one of {', '.join(NETWORKS)})"
        )
    if url is not None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"the venue URL must start with http:// or https://, not {url!r}")
        return url.rstrip("/")
    if network == "sim":
        raise ValueError("network `sim` needs the URL of the running sim (e.g. from serve_sim)")
    return BASE_URLS[network]


def _bot_key_index(index: object) -> int:
    """`index` if a bot may sign with it (2 to 254), else a VenueError saying why."""
    if isinstance(index, bool) or not isinstance(index, int):
        raise VenueError(f"the API key index must be a whole number, not {index!r}")
    problem = api_key_index_problem(index)
    if problem is not None:
        rule, fix = problem
        raise VenueError(f"the API key index {rule}, not {index}: {fix}")
    return index


def _chain_id(network: str, chain_id: object) -> int:
    """The chain to sign for: `chain_id` when given, else the network's own."""
    if chain_id is None:
        return CHAIN_IDS[network]
    if isinstance(chain_id, bool) or not isinstance(chain_id, int) or not 0 < chain_id < 2**31:
        highest = 2**31 - 1  # the signer takes a 32-bit int
        raise VenueError(
            f"the chain id must be a whole number from 1 to {highest}, not {chain_id!r}"
        )
    return chain_id


class LighterVenue:
    """One Lighter account on one network, signing with one API key (2 to 254) for the
    network's chain (`chain_id` overrides it, e.g. behind a proxy to another network).

    The private key is held as a `SecretStr`: it appears in no repr, log or error. Every
    request spends from the process's one rate budget for this venue (`limiter`): the account's
    `tier` (`standard` or `premium`; by default standard on Lighter, none on a sim, which has no
    limits unless started with them) over a window of `rate_window_s` (the venue's minute).
    """

    def __init__(
        self,
        network: str = "sim",
        *,
        url: str | None = None,
        account_index: int = 1,
        api_key_index: int = DEFAULT_API_KEY_INDEX,
        private_key: SecretStr | str,
        chain_id: int | None = None,
        retry: RetryPolicy | None = None,
        request_timeout: float = 10.0,
        settle_timeout: float = 2.0,
        rng: random.Random | None = None,
        tier: Tier | None = None,
        rate_window_s: float = WINDOW_S,
    ) -> None:
        self.network = network
        self.url = resolve_url(network, url)
        self.account_index = account_index
        self.api_key_index = _bot_key_index(api_key_index)
        self.chain_id = _chain_id(network, chain_id)
        self._private_key = (
            private_key if isinstance(private_key, SecretStr) else SecretStr(private_key)
        )
        self._retry = retry or RetryPolicy()
        self._timeout = float(request_timeout)
        self._settle_timeout = settle_timeout
        self._rng = rng or random.Random()
        self._signer: SignerClient | None = None
        self._sender: TxSender | None = None
        self._markets: MarketDirectory | None = None
        self._auth: tuple[str, float] | None = None
        self._last_client_order_index = 0
        self._in_doubt: set[int] = set()
        if tier is None and network != "sim":
            tier = "standard"
        budget = RateBudget(tier, rate_window_s) if tier is not None else None
        self.limiter: RateLimiter = shared_limiter(self.url, budget, rate_window_s)

    @classmethod
    def from_config(
        cls, config: Config, *, url: str | None = None, **options: object
    ) -> LighterVenue:
        """A venue for rulebot.yaml's network and account; `url` for a sim rulebot started."""
        if config.private_key is None:
            raise VenueError("no API private key: set RULEBOT_API_PRIVATE_KEY")
        return cls(
            config.network.name,
            url=url or config.network.base_url,
            account_index=config.account.index,
            api_key_index=config.account.api_key_index,
            private_key=config.private_key,
            chain_id=config.network.signing_chain_id,
            tier=config.account.tier,
            rate_window_s=config.account.rate_window_s,
            **options,  # type: ignore[arg-type]
        )

    def __repr__(self) -> str:
        return (
            f"LighterVenue(network={self.network!r}, url={self.url!r}, "
            f"account_index={self.account_index}, api_key_index={self.api_key_index}, "
            f"chain_id={self.chain_id})"
        )

    # --- lifecycle ----------------------------------------------------------------------------

    async def connect(self) -> LighterVenue:
        """Open the HTTP session and load the markets."""
        if self._signer is not None:
            return self
        refused = VenueError(
            f"the signer refused the API private key for key index {self.api_key_index}: "
            "it must be the hex private key Lighter gave for that index"
        )
        if not _HEX_KEY.fullmatch(self._private_key.get_secret_value().strip()):
            raise refused from None  # checked first: a refused key leaks the SDK's session
        try:
            signer = SignerClient(
                self.url,
                self.account_index,
                {self.api_key_index: self._private_key.get_secret_value()},
                nonce_management_type=NonceManagerType.NONE,
                chain_id=self.chain_id,  # the SDK would guess it from the URL
            )
        except Exception:
            raise refused from None
        self._signer = signer
        client = signer.api_client
        self._orders_api = lighter.OrderApi(client)
        self._account_api = lighter.AccountApi(client)
        self._candles_api = lighter.CandlestickApi(client)
        self._sender = TxSender(
            signer.tx_api,
            account_index=self.account_index,
            api_key_index=self.api_key_index,
            policy=self._retry,
            rng=self._rng,
            request_timeout=self._timeout,
            settle_timeout=self._settle_timeout,
            limiter=self.limiter,
        )
        try:
            await self.markets(refresh=True)
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        signer, self._signer, self._sender = self._signer, None, None
        if signer is not None:
            await signer.close()

    async def __aenter__(self) -> LighterVenue:
        return await self.connect()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # --- plumbing -----------------------------------------------------------------------------

    @property
    def signer(self) -> SignerClient:
        if self._signer is None:
            raise VenueError("the venue is not connected: use `async with` or await connect()")
        return self._signer

    @property
    def sender(self) -> TxSender:
        if self._sender is None:
            raise VenueError("the venue is not connected: use `async with` or await connect()")
        return self._sender

    async def _read(
        self, call: Callable[[], Awaitable[T]], what: str, market: str | None = None
    ) -> T:
        self.signer  # noqa: B018 - fail early and clearly when not connected
        with convert.reading(what):
            return await with_retries(
                call, self._retry, self._rng, what=what, market=market, limiter=self.limiter
            )

    def _auth_token(self) -> str:
        """A read-only auth token for the account endpoints, renewed before it expires."""
        now = time.time()
        if self._auth is None or self._auth[1] - AUTH_MARGIN_S < now:
            token, error = self.signer.create_auth_token_with_expiry(
                AUTH_LIFETIME_S, timestamp=int(now), api_key_index=self.api_key_index
            )
            if error is not None or token is None:
                raise VenueError(f"cannot make an auth token: {error}")
            self._auth = (token, now + AUTH_LIFETIME_S)
        return self._auth[0]

    def _signed(self, result: tuple[object, object, object, object], market: str | None) -> Signed:
        tx_type, tx_info, tx_hash, error = result
        if error is not None:
            raise OrderRejected(f"the signer refused the transaction: {error}", market=market)
        assert isinstance(tx_type, int) and isinstance(tx_info, str)
        return Signed(tx_type, tx_info, str(tx_hash or ""))

    # --- markets ------------------------------------------------------------------------------

    async def markets(self, refresh: bool = False) -> tuple[MarketInfo, ...]:
        """Every perpetual market the venue lists, by id."""
        if self._markets is None or refresh:
            details = await self._read(
                lambda: self._orders_api.order_book_details(_request_timeout=self._timeout),
                "orderBookDetails",
            )
            self._markets = MarketDirectory(markets_answer(details))
        return tuple(self._markets)

    async def market(self, key: str | int) -> MarketInfo:
        """The market a symbol (`"ETH"`) or id (`0`, `"0"`) names; `UnknownMarket` otherwise."""
        if self._markets is None:
            await self.markets()
        assert self._markets is not None
        return self._markets.resolve(key)

    # --- orders -------------------------------------------------------------------------------

    def new_client_order_index(self) -> int:
        """A fresh client order index: the clock's millisecond, or one past the last when the
        clock has not moved on, so indexes stay unique across restarts and within a burst."""
        index = max(int(time.time() * 1000), self._last_client_order_index + 1)
        if index > MAX_CLIENT_ORDER_INDEX:
            index = 1
        self._last_client_order_index = index
        return index

    @at_priority(order_priority)
    async def place_order(self, request: OrderRequest, *, confirm: bool = True) -> OrderAck:
        """Send an order once. `OrderRejected` says why the venue (or our checks) refused it.

        The venue answers a well-formed order with 200 and decides later, so every order (any
        kind, any time in force) is looked up by its client order index once sent: the ack
        carries its index, status and fill, and an order the venue took but cancelled on
        arrival without a fill (any `canceled-…` status: see `CANCELLED_ON_ARRIVAL`) raises
        `OrderRejected`. An order not seen within the settle time comes back with status
        `"unknown"` (`UNKNOWN`): its fate is still to be found with `find_order`. Pass
        `confirm=False` to skip the look-up (the ack's status is then None).
        """
        market = await self.market(request.market)
        side = request.side
        size = market.size_units(request.size)
        trigger = (
            market.trigger_units(request.trigger_price, side)
            if request.trigger_price is not None
            else SignerClient.NIL_TRIGGER_PRICE
        )
        price = await self._order_price(market, request, trigger)
        market.check_minimums(size, price)
        index = request.client_order_index or self.new_client_order_index()
        tif = request.effective_time_in_force
        expiry = self._expiry(request, tif)

        def ack(sent: Sent) -> OrderAck:
            return OrderAck(
                client_order_index=index,
                market=market.symbol,
                side=side,
                kind=request.kind,
                size=market.size_value(size),
                price=market.price_value(price),
                trigger_price=market.price_value(trigger) if request.trigger_price else None,
                tx_hash=sent.tx_hash,
                nonce=sent.nonce,
                recovered=sent.recovered,
            )

        if index in self._in_doubt and await self.find_order(market.symbol, index):
            self._in_doubt.discard(index)
            sent = Sent("", -1, recovered=True)
            return await self._confirm(market, ack(sent)) if confirm else ack(sent)

        def sign(nonce: int) -> Signed:
            return self._signed(
                self.signer.sign_create_order(
                    market.market_id,
                    index,
                    size,
                    price,
                    side == "sell",
                    ORDER_TYPES[request.kind],
                    TIME_IN_FORCE[tif],
                    request.reduce_only,
                    trigger,
                    expiry,
                    nonce=nonce,
                    api_key_index=self.api_key_index,
                ),
                market.symbol,
            )

        async def landed() -> bool:
            return await self.find_order(market.symbol, index) is not None

        try:
            sent = await self.sender.send(
                sign, landed, what=f"create order {index}", market=market.symbol
            )
        except Retryable as error:
            if error.ambiguous:
                self._in_doubt.add(index)
            raise
        self._in_doubt.discard(index)
        return await self._confirm(market, ack(sent)) if confirm else ack(sent)

    async def _confirm(self, market: MarketInfo, ack: OrderAck) -> OrderAck:
        """The ack with what became of the order; `OrderRejected` if cancelled on arrival; status
        `"unknown"` if the venue did not show it within the settle time. A look-up still
        unanswered then, or one that failed, counts as not seen: the order was sent, so an
        error here would wrongly say it was not. Time the look-ups spend waiting for room in
        the rate budget is not settle time: the venue was not asked while it passed."""
        loop_time = asyncio.get_running_loop().time
        with queue_clock() as queued:
            deadline = loop_time() + self._settle_timeout
            pause = 0.02
            while True:
                found = await self._look_up(market, ack.client_order_index, deadline, queued)
                if found is not None:
                    break
                if loop_time() + pause > deadline + queued():
                    return replace(ack, status=UNKNOWN)  # sent, fate not known: not a success
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.5)
        reason = cancelled_on_arrival(found.status)
        if reason is not None and found.filled == 0:
            raise OrderRejected(f"{reason} ({found.status})", market=market.symbol)
        return replace(ack, order_index=found.order_index, status=found.status, filled=found.filled)

    async def _look_up(
        self, market: MarketInfo, client_order_index: int, deadline: float, queued: QueueClock
    ) -> Order | None:
        """`find_order`, given up (as None) once the deadline, moved on by the time spent
        waiting for the rate budget, has passed; a failed look-up is None too."""
        loop_time = asyncio.get_running_loop().time
        task = asyncio.ensure_future(self.find_order(market.symbol, client_order_index))
        try:
            while True:
                left = deadline + queued() - loop_time()
                if left <= 0:
                    return None
                done, _ = await asyncio.wait({task}, timeout=left)
                if done:
                    return task.result()
        except VenueError:
            return None
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, VenueError):
                    await task

    def _expiry(self, request: OrderRequest, tif: str) -> int:
        if request.expiry_ms is not None:
            return request.expiry_ms
        if request.kind in ("limit", "market") and tif == "ioc":
            return SignerClient.DEFAULT_IOC_EXPIRY
        return SignerClient.DEFAULT_28_DAY_ORDER_EXPIRY

    async def _order_price(self, market: MarketInfo, request: OrderRequest, trigger: int) -> int:
        """The order's price in units: given, or the worst acceptable one for market kinds —
        the best opposite price (or the trigger) moved by `max_slippage` against the order."""
        side: Side = request.side
        if request.price is not None:
            return market.price_units(request.price, side)
        if request.kind == "market":
            book = await self.order_book(market.symbol, depth=1)
            best = book.best_ask if side == "buy" else book.best_bid
            if best is None:
                opposite = "asks" if side == "buy" else "bids"
                raise OrderRejected(f"no {opposite} to trade with", market=market.symbol)
        else:
            best = market.price_value(trigger)
        return market.worst_price_units(best, side, request.max_slippage)

    @at_priority(lambda *_, urgency=Priority.PROTECT, **__: urgency)
    async def modify_order(
        self,
        market: str | int,
        order_index: int,
        *,
        size: Decimal | int | str,
        price: Decimal | int | str,
        trigger_price: Decimal | int | str | None = None,
        urgency: Priority = Priority.PROTECT,
        version: int | None = None,
    ) -> TxAck:
        """Change an open order's size and price (and trigger), rounded for its side. Its
        requests go at `urgency`: a stop's by default (it most often moves a stop); a resting
        entry's moves go at `Priority.ENTRY`.

        The modify names the order's version as it was read here (`Order.version`), or
        `version` when the caller worked its sizes out from an earlier read: the venue refuses
        it (`OrderRejected`) if the order changed in between, a fill or another modify, rather
        than apply sizes worked out from a picture that is gone."""
        info = await self.market(market)
        current = await self._active_order(info, order_index)
        size_units = info.size_units(size)
        price_units = info.price_units(price, current.side)
        trigger = (
            info.trigger_units(trigger_price, current.side)
            if trigger_price is not None
            else SignerClient.NIL_TRIGGER_PRICE
        )
        info.check_minimums(size_units, price_units)

        def sign(nonce: int) -> Signed:
            return self._signed(
                self.signer.sign_modify_order(
                    info.market_id,
                    order_index,
                    size_units,
                    price_units,
                    trigger,
                    order_version=current.version if version is None else version,
                    nonce=nonce,
                    api_key_index=self.api_key_index,
                ),
                info.symbol,
            )

        async def landed() -> bool:
            now = await self._find_active(info, order_index)
            return now is None or (
                now.price == info.price_value(price_units)
                and now.remaining == info.size_value(size_units) - now.filled
            )

        sent = await self.sender.send(
            sign, landed, what=f"modify order {order_index}", market=info.symbol
        )
        return TxAck(sent.tx_hash, sent.nonce, sent.recovered)

    @at_priority(Priority.PROTECT)
    async def cancel_order(self, market: str | int, order_index: int) -> TxAck:
        """Cancel one order by the venue's order index."""
        info = await self.market(market)

        def sign(nonce: int) -> Signed:
            return self._signed(
                self.signer.sign_cancel_order(
                    info.market_id, order_index, nonce=nonce, api_key_index=self.api_key_index
                ),
                info.symbol,
            )

        async def landed() -> bool:
            return await self._find_active(info, order_index) is None

        sent = await self.sender.send(
            sign, landed, what=f"cancel order {order_index}", market=info.symbol
        )
        return TxAck(sent.tx_hash, sent.nonce, sent.recovered)

    @at_priority(Priority.PROTECT)
    async def cancel_all(self, market: str | int | None = None) -> TxAck:
        """Cancel every open order of the account, or of one market."""
        info = await self.market(market) if market is not None else None
        market_index = info.market_id if info is not None else SignerClient.NIL_MARKET_INDEX

        def sign(nonce: int) -> Signed:
            return self._signed(
                self.signer.sign_cancel_all_orders(
                    SignerClient.CANCEL_ALL_TIF_IMMEDIATE,
                    0,
                    market_index,
                    nonce=nonce,
                    api_key_index=self.api_key_index,
                ),
                info.symbol if info else None,
            )

        async def landed() -> bool:
            return not await self.open_orders(info.symbol if info else None)

        sent = await self.sender.send(
            sign, landed, what="cancel all orders", market=info.symbol if info else None
        )
        return TxAck(sent.tx_hash, sent.nonce, sent.recovered)

    # --- the account's orders -----------------------------------------------------------------

    async def open_orders(self, market: str | int | None = None) -> list[Order]:
        """The account's active orders (resting, or waiting for a trigger), in one market or
        in all of them."""
        return await self._active_orders(await self.market(market) if market is not None else None)

    async def order_history(self, market: str | int | None = None, limit: int = 100) -> list[Order]:
        """The account's latest inactive orders (filled, canceled, expired), newest first."""
        info = await self.market(market) if market is not None else None
        answer = await self._read(
            lambda: self._orders_api.account_inactive_orders(
                authorization=self._auth_token(),
                account_index=self.account_index,
                limit=limit,
                market_id=info.market_id if info else None,
                _request_timeout=self._timeout,
            ),
            "accountInactiveOrders",
        )
        return convert.orders_answer(answer, self._symbol)

    async def find_order(self, market: str | int, client_order_index: int) -> Order | None:
        """The order placed with `client_order_index` on `market`, active or not; None if the
        venue has none (one `accountOrders` call)."""
        info = await self.market(market)
        found = (await self.find_orders([client_order_index])).get(client_order_index)
        return found if found is not None and found.market == info.symbol else None

    async def find_orders(self, client_order_indexes: Iterable[int]) -> dict[int, Order]:
        """The account's orders by client order index, active or not, on any market: one
        `accountOrders` call per 20 indexes. The venue keeps every active order and the inactive
        ones of the last day (its latest 1,000); an index it does not know is left out."""
        await self.markets()
        wanted = sorted(set(client_order_indexes))
        found: dict[int, Order] = {}
        for start in range(0, len(wanted), CLIENT_ORDER_INDEXES_PER_CALL):
            chunk = ",".join(map(str, wanted[start : start + CLIENT_ORDER_INDEXES_PER_CALL]))
            answer = await self._read(
                partial(
                    self._orders_api.account_orders,
                    self._auth_token(),
                    chunk,
                    account_index=self.account_index,
                    _request_timeout=self._timeout,
                ),
                "accountOrders",
            )
            for order in convert.orders_answer(answer, self._symbol):
                if order.client_order_index in wanted:
                    found[order.client_order_index] = order
        return found

    async def _active_orders(self, info: MarketInfo | None) -> list[Order]:
        answer = await self._read(
            lambda: self._orders_api.account_active_orders(
                authorization=self._auth_token(),
                account_index=self.account_index,
                market_id=info.market_id if info is not None else None,
                _request_timeout=self._timeout,
            ),
            "accountActiveOrders",
            info.symbol if info is not None else None,
        )
        return convert.orders_answer(answer, self._symbol)

    async def _find_active(self, info: MarketInfo, order_index: int) -> Order | None:
        return next(
            (o for o in await self._active_orders(info) if o.order_index == order_index), None
        )

    async def _active_order(self, info: MarketInfo, order_index: int) -> Order:
        found = await self._find_active(info, order_index)
        if found is None:
            raise OrderNotFound(f"{info.symbol}: no open order with index {order_index}")
        return found

    def _symbol(self, market_id: int) -> str:
        assert self._markets is not None
        try:
            return self._markets.resolve(market_id).symbol
        except VenueError:
            return str(market_id)

    # --- the account --------------------------------------------------------------------------

    async def account(self) -> AccountState:
        """Collateral, equity, available balance and open positions."""
        answer = await self._read(
            lambda: self._account_api.account(
                by="index", value=str(self.account_index), _request_timeout=self._timeout
            ),
            "account",
        )
        return convert.account_answer(answer, self.account_index)

    # --- market data --------------------------------------------------------------------------

    async def order_book(self, market: str | int, depth: int = 50) -> OrderBookSnapshot:
        """The book's price levels now, up to `depth` resting orders a side (at most 250)."""
        info = await self.market(market)
        answer = await self._read(
            lambda: self._orders_api.order_book_orders(
                info.market_id, min(max(depth, 1), 250), _request_timeout=self._timeout
            ),
            "orderBookOrders",
            info.symbol,
        )
        return convert.order_book_answer(info.symbol, answer)

    async def recent_trades(self, market: str | int, limit: int = 100) -> list[Trade]:
        """The market's latest trades (at most 100), newest first (whatever order the venue
        sent them in); none when the venue sends `trades` as null or leaves it out."""
        info = await self.market(market)
        answer = await self._read(
            lambda: self._orders_api.recent_trades(
                info.market_id, min(max(limit, 1), 100), _request_timeout=self._timeout
            ),
            "recentTrades",
            info.symbol,
        )
        return convert.trades_answer(answer, lambda _market_id: info.symbol)

    async def account_trades(self, limit: int = 100) -> list[Trade]:
        """The account's own latest trades on every market (at most 100), newest first: how a
        restarted bot finds the fills it missed while it was down."""
        await self.markets()
        answer = await self._read(
            lambda: self._orders_api.trades(
                "timestamp",
                min(max(limit, 1), 100),
                authorization=self._auth_token(),
                account_index=self.account_index,
                sort_dir="desc",
                _request_timeout=self._timeout,
            ),
            "trades",
            None,
        )
        return convert.trades_answer(answer, self._symbol)

    async def candles(
        self, market: str | int, resolution: str, start_ms: int, end_ms: int
    ) -> list[Candle]:
        """Every candle of `resolution` (`1m`, `5m`, `1h`, ...) with open time in
        [start_ms, end_ms], oldest first, fetched in pages of the venue's 500."""
        info = await self.market(market)

        async def fetch(lo: int, hi: int) -> list[Candle]:
            answer = await self._read(
                partial(
                    self._candles_api.candles,
                    info.market_id,
                    resolution,
                    lo,
                    hi,
                    CANDLES_PER_CALL,
                    _request_timeout=self._timeout,
                ),
                "candles",
                info.symbol,
            )
            return convert.candles_answer(answer)  # `"c": null` for a window without bars

        return await paging.collect(fetch, lambda c: c.time_ms, start_ms, end_ms, CANDLES_PER_CALL)

    async def fundings(
        self, market: str | int, start_ms: int, end_ms: int, resolution: str = "1h"
    ) -> list[Funding]:
        """The market's funding payments in [start_ms, end_ms], oldest first."""
        info = await self.market(market)

        async def fetch(lo: int, hi: int) -> list[Funding]:
            answer = await self._read(
                partial(
                    self._candles_api.fundings,
                    info.market_id,
                    resolution,
                    lo,
                    hi,
                    FUNDINGS_PER_CALL,
                    _request_timeout=self._timeout,
                ),
                "fundings",
                info.symbol,
            )
            return convert.fundings_answer(answer)

        return await paging.collect(fetch, lambda f: f.time_ms, start_ms, end_ms, FUNDINGS_PER_CALL)

"""Fault injection: the failures a real exchange has, on demand, so clients can be tested on them.

A fault is armed at start (`FaultSettings`, from `rulebot sim` flags) or while running (the
`/admin/faults/...` endpoints, which are not part of Lighter's API), and is spent as requests
arrive:

- `rate_limit`: the next N requests answer HTTP 429 with `Retry-After` and Lighter's body
  `{"code": 23000, "message": "Too Many Requests!"}`.
- `server_error`: the next N requests answer 5xx. With `after_apply` the request is handled
  first (a sendTx lands, its nonce is spent) and only the answer is lost: the hard case for a
  client's idempotency.
- `delay`: responses wait X ms (the next N, or all until cleared; clearing also releases the
  requests being held).
- `reject_orders`: the next N created orders are refused with HTTP 400 and an error code, before
  they reach the exchange (the nonce is not spent).
- `drop_ws`: close every WebSocket connection now, or every N seconds.
- the stream's own (`StreamFaults`, `/admin/faults/stream/...`): `lose-book-delta` (the next N
  order book updates are not sent, though the book moved on: the next one breaks the nonce
  chain), `refuse-subscriptions` (the next N subscriptions are answered with an error frame),
  `liquidations` (the next N prints go out under `liquidation_trades`), `flat-account-lists`
  (account updates carry `trades` and `positions` as flat lists, not keyed by market) and
  `frame` (send any text to every connection, e.g. a frame the client cannot read).

Rules without a path apply to the REST API, not to the WebSocket handshake; give
`path="/stream"` to refuse the handshake itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from aiohttp import web

TOO_MANY_REQUESTS = {"code": 23000, "message": "Too Many Requests!"}
INTERNAL_ERROR = {"code": 29500, "message": "internal server error"}
DEFAULT_REJECTION = (21506, "too many pending txs. Please try again later")
STREAM_PATH = "/stream"
ADMIN_PREFIX = "/admin"

Kind = Literal["rate_limit", "server_error", "delay"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class FaultSettings:
    """Faults armed when the sim starts (the `rulebot sim` flags)."""

    drop_ws_every_s: float | None = None
    rate_limit: int = 0
    retry_after_s: int = 1
    server_errors: int = 0
    server_errors_after_apply: bool = False
    """The server errors answer after handling the request (a sendTx lands unseen)."""
    delay_ms: int = 0
    reject_orders: int = 0
    path: str | None = None
    """Limits `rate_limit` and `server_errors` to one path, e.g. `/api/v1/sendTx`."""

    def __post_init__(self) -> None:
        for name in ("rate_limit", "retry_after_s", "server_errors", "delay_ms", "reject_orders"):
            if getattr(self, name) < 0:
                raise ValueError(f"fault {name} must be 0 or more")
        if self.drop_ws_every_s is not None and self.drop_ws_every_s <= 0:
            raise ValueError("fault drop_ws_every_s must be more than 0")


@dataclass
class _Rule:
    kind: Kind
    remaining: int | None  # None: until cleared
    path: str | None
    retry_after_s: int = 1
    status: int = 500
    after_apply: bool = False
    delay_ms: int = 0

    def matches(self, path: str) -> bool:
        if self.path is not None:
            return path == self.path
        return path != STREAM_PATH

    def spend(self) -> None:
        if self.remaining is not None:
            self.remaining -= 1


@dataclass(frozen=True)
class Outcome:
    """What the faults decided for one request."""

    delay_ms: int = 0
    status: int | None = None  # 429 or 5xx; None: answer normally
    retry_after_s: int = 0
    after_apply: bool = False


@dataclass
class _Rejections:
    remaining: int
    code: int
    message: str


class Faults:
    """The live fault state of one sim. Not thread-safe: use it from the sim's event loop."""

    def __init__(self, settings: FaultSettings | None = None) -> None:
        self._rules: list[_Rule] = []
        self._rejections = _Rejections(0, *DEFAULT_REJECTION)
        self._drop_every_s: float | None = None
        self._droppers: list[Callable[[], int]] = []
        self.stream = StreamFaults()
        self._changed = asyncio.Event()
        self._release = asyncio.Event()
        self.counts: dict[str, int] = {
            "rate_limited": 0,
            "server_errors": 0,
            "delayed": 0,
            "orders_rejected": 0,
            "ws_drops": 0,
        }
        settings = settings or FaultSettings()
        if settings.rate_limit:
            self.rate_limit(
                settings.rate_limit, path=settings.path, retry_after_s=settings.retry_after_s
            )
        if settings.server_errors:
            self.server_error(
                settings.server_errors,
                path=settings.path,
                after_apply=settings.server_errors_after_apply,
            )
        if settings.delay_ms:
            self.delay(settings.delay_ms)
        if settings.reject_orders:
            self.reject_orders(settings.reject_orders)
        self._drop_every_s = settings.drop_ws_every_s

    # --- arming ---------------------------------------------------------------------------

    def rate_limit(self, count: int, *, path: str | None = None, retry_after_s: int = 1) -> None:
        """Answer the next `count` requests (to `path`, if given) with 429 + Retry-After."""
        self._rules.append(_Rule("rate_limit", _count(count), path, retry_after_s=retry_after_s))

    def server_error(
        self,
        count: int,
        *,
        path: str | None = None,
        status: int = 500,
        after_apply: bool = False,
    ) -> None:
        """Answer the next `count` requests with `status` (5xx), before or after handling them."""
        if not 500 <= status <= 599:
            raise ValueError(f"a server error status is 500..599, not {status}")
        self._rules.append(
            _Rule("server_error", _count(count), path, status=status, after_apply=after_apply)
        )

    def delay(self, ms: int, *, count: int | None = None, path: str | None = None) -> None:
        """Delay the next `count` responses (all, if None) by `ms` milliseconds."""
        if ms < 0:
            raise ValueError("a delay is 0 ms or more")
        self._rules.append(
            _Rule("delay", None if count is None else _count(count), path, delay_ms=ms)
        )

    def reject_orders(
        self, count: int, *, code: int = DEFAULT_REJECTION[0], message: str = DEFAULT_REJECTION[1]
    ) -> None:
        """Refuse the next `count` created orders with HTTP 400 and `{code, message}`."""
        self._rejections = _Rejections(_count(count), code, message)

    def drop_ws(self, every_s: float | None = None) -> int:
        """Close every WebSocket connection now; with `every_s`, again every so many seconds
        (`drop_ws_every(None)` stops that). Returns how many connections were closed."""
        if every_s is not None:
            self.drop_ws_every(every_s)
        return self._drop_now()

    def drop_ws_every(self, every_s: float | None) -> None:
        """Close every WebSocket connection every `every_s` seconds; None stops."""
        if every_s is not None and every_s <= 0:
            raise ValueError("drop_ws every_s must be more than 0")
        self._drop_every_s = every_s
        self._changed.set()

    def clear(self) -> None:
        """Disarm every fault and release the requests a delay is holding (the counts of what
        already happened stay)."""
        self._release.set()
        self._release = asyncio.Event()
        self._rules.clear()
        self._rejections = _Rejections(0, *DEFAULT_REJECTION)
        self.drop_ws_every(None)
        self.stream.clear()

    # --- spending -------------------------------------------------------------------------

    def on_request(self, path: str) -> Outcome:
        """Spend the faults that apply to one request to `path`."""
        self._rules = [rule for rule in self._rules if rule.remaining != 0]
        delay_ms = 0
        for rule in self._rules:
            if rule.kind == "delay" and rule.matches(path):
                delay_ms = max(delay_ms, rule.delay_ms)
                rule.spend()
        if delay_ms:
            self.counts["delayed"] += 1
        for rule in self._rules:
            if rule.kind == "delay" or rule.remaining == 0 or not rule.matches(path):
                continue
            rule.spend()
            if rule.kind == "rate_limit":
                self.counts["rate_limited"] += 1
                return Outcome(delay_ms, 429, retry_after_s=rule.retry_after_s)
            self.counts["server_errors"] += 1
            return Outcome(delay_ms, rule.status, after_apply=rule.after_apply)
        return Outcome(delay_ms)

    async def hold(self, ms: int) -> None:
        """Wait `ms` milliseconds, or until the faults are cleared."""
        release = self._release
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(release.wait(), timeout=ms / 1000)

    def take_order_rejection(self) -> tuple[int, str] | None:
        """If an order rejection is armed, spend one and return its (code, message)."""
        if self._rejections.remaining <= 0:
            return None
        self._rejections.remaining -= 1
        self.counts["orders_rejected"] += 1
        return self._rejections.code, self._rejections.message

    # --- WebSocket drops ------------------------------------------------------------------

    def on_drop_ws(self, dropper: Callable[[], int]) -> None:
        """Register what closes the WebSocket connections (returns how many it closed)."""
        self._droppers.append(dropper)

    def _drop_now(self) -> int:
        self.counts["ws_drops"] += 1
        return sum(dropper() for dropper in self._droppers)

    async def run(self) -> None:
        """Drop the WebSocket connections every `drop_ws_every_s`, for as long as it is set."""
        while True:
            self._changed.clear()
            every = self._drop_every_s
            if every is None:
                await self._changed.wait()
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=every)
                continue  # the interval changed: start counting again
            self._drop_now()

    # --- reporting ------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """What is armed and what has happened, as JSON."""
        return {
            "armed": [asdict(rule) for rule in self._rules if rule.remaining != 0],
            "reject_orders": asdict(self._rejections),
            "drop_ws_every_s": self._drop_every_s,
            "stream": self.stream.snapshot(),
            "counts": dict(self.counts),
        }


@dataclass
class StreamFaults:
    """Faults of the WebSocket stream's content, spent by the sim's `Stream` as it sends."""

    lose_book_deltas: int = 0
    lose_market: int | None = None  # None: any market's
    refuse_subscriptions: int = 0
    liquidation_prints: int = 0
    flat_account_lists: bool = False
    lost_deltas: int = 0  # what happened
    refused: int = 0
    sender: Callable[[str], int] | None = None  # sends a raw frame to every connection

    def clear(self) -> None:
        self.lose_book_deltas = self.refuse_subscriptions = self.liquidation_prints = 0
        self.lose_market = None
        self.flat_account_lists = False

    def lose_book_delta(self, market_id: int) -> bool:
        """Spend one lost delta on `market_id`'s next update, if armed."""
        if self.lose_book_deltas <= 0 or self.lose_market not in (None, market_id):
            return False
        self.lose_book_deltas -= 1
        self.lost_deltas += 1
        return True

    def refuse_subscription(self) -> bool:
        if self.refuse_subscriptions <= 0:
            return False
        self.refuse_subscriptions -= 1
        self.refused += 1
        return True

    def liquidation_print(self) -> bool:
        if self.liquidation_prints <= 0:
            return False
        self.liquidation_prints -= 1
        return True

    def send_frame(self, text: str) -> int:
        """Send `text` as it is to every WebSocket connection; returns how many."""
        return 0 if self.sender is None else self.sender(text)

    def snapshot(self) -> dict[str, Any]:
        return {
            "lose_book_deltas": self.lose_book_deltas,
            "lose_market": self.lose_market,
            "refuse_subscriptions": self.refuse_subscriptions,
            "liquidation_prints": self.liquidation_prints,
            "flat_account_lists": self.flat_account_lists,
            "lost_deltas": self.lost_deltas,
            "refused_subscriptions": self.refused,
        }


def _count(count: int) -> int:
    if count < 0:
        raise ValueError("a fault count is 0 or more")
    return count


# --- HTTP: the middleware that applies faults and the admin endpoints that arm them ----------


def fault_middleware(faults: Faults) -> Callable[[web.Request, Handler], Awaitable[Any]]:
    """aiohttp middleware applying `faults` to every request except `/admin/...`."""

    @web.middleware
    async def apply_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX):
            return await handler(request)
        outcome = faults.on_request(request.path)
        if outcome.delay_ms:
            if request.can_read_body:  # it has arrived: a client that gives up cannot take it back
                await request.read()
            await faults.hold(outcome.delay_ms)
        if outcome.status == 429:
            return web.json_response(
                TOO_MANY_REQUESTS,
                status=429,
                headers={"Retry-After": str(outcome.retry_after_s)},
            )
        if outcome.status is not None and not outcome.after_apply:
            return web.json_response(INTERNAL_ERROR, status=outcome.status)
        response = await handler(request)
        if outcome.status is not None:
            return web.json_response(INTERNAL_ERROR, status=outcome.status)
        return response

    return apply_faults


def fault_routes(faults: Faults) -> list[web.RouteDef]:
    """`/admin/faults...`: arm, clear and inspect faults with small JSON bodies."""

    async def show(request: web.Request) -> web.Response:
        return web.json_response(faults.snapshot())

    async def clear(request: web.Request) -> web.Response:
        faults.clear()
        return web.json_response(faults.snapshot())

    async def rate_limit(request: web.Request) -> web.Response:
        body = await _body(request)
        faults.rate_limit(
            _int(body, "count", 1),
            path=_path(body),
            retry_after_s=_int(body, "retry_after_s", 1),
        )
        return web.json_response(faults.snapshot())

    async def server_error(request: web.Request) -> web.Response:
        body = await _body(request)
        faults.server_error(
            _int(body, "count", 1),
            path=_path(body),
            status=_int(body, "status", 500),
            after_apply=bool(body.get("after_apply", False)),
        )
        return web.json_response(faults.snapshot())

    async def delay(request: web.Request) -> web.Response:
        body = await _body(request)
        count = body.get("count")
        faults.delay(
            _int(body, "ms", 0),
            count=None if count is None else _int(body, "count", 0),
            path=_path(body),
        )
        return web.json_response(faults.snapshot())

    async def reject_orders(request: web.Request) -> web.Response:
        body = await _body(request)
        faults.reject_orders(
            _int(body, "count", 1),
            code=_int(body, "code", DEFAULT_REJECTION[0]),
            message=str(body.get("message", DEFAULT_REJECTION[1])),
        )
        return web.json_response(faults.snapshot())

    async def drop_ws(request: web.Request) -> web.Response:
        body = await _body(request)
        every = body.get("every_s")
        if "every_s" in body and every is None:
            faults.drop_ws_every(None)
            return web.json_response({"dropped": 0, **faults.snapshot()})
        dropped = faults.drop_ws(None if every is None else _positive(every, "every_s"))
        return web.json_response({"dropped": dropped, **faults.snapshot()})

    async def lose_book_delta(request: web.Request) -> web.Response:
        body = await _body(request)
        market = body.get("market")
        faults.stream.lose_book_deltas = _count(_int(body, "count", 1))
        faults.stream.lose_market = None if market is None else _int(body, "market", 0)
        return web.json_response(faults.snapshot())

    async def refuse_subscriptions(request: web.Request) -> web.Response:
        faults.stream.refuse_subscriptions = _count(_int(await _body(request), "count", 1))
        return web.json_response(faults.snapshot())

    async def liquidations(request: web.Request) -> web.Response:
        faults.stream.liquidation_prints = _count(_int(await _body(request), "count", 1))
        return web.json_response(faults.snapshot())

    async def flat_account_lists(request: web.Request) -> web.Response:
        on = (await _body(request)).get("on", True)
        if not isinstance(on, bool):
            raise ValueError("on must be true or false")
        faults.stream.flat_account_lists = on
        return web.json_response(faults.snapshot())

    async def frame(request: web.Request) -> web.Response:
        text = (await _body(request)).get("text")
        if not isinstance(text, str):
            raise ValueError("text must be the frame to send, as a string")
        return web.json_response({"sent": faults.stream.send_frame(text)})

    return [
        web.post("/admin/faults/stream/lose-book-delta", lose_book_delta),
        web.post("/admin/faults/stream/refuse-subscriptions", refuse_subscriptions),
        web.post("/admin/faults/stream/liquidations", liquidations),
        web.post("/admin/faults/stream/flat-account-lists", flat_account_lists),
        web.post("/admin/faults/stream/frame", frame),
        web.get("/admin/faults", show),
        web.delete("/admin/faults", clear),
        web.post("/admin/faults/rate-limit", rate_limit),
        web.post("/admin/faults/server-error", server_error),
        web.post("/admin/faults/delay", delay),
        web.post("/admin/faults/reject-orders", reject_orders),
        web.post("/admin/faults/drop-ws", drop_ws),
    ]


@web.middleware
async def admin_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bad admin input is a 400 with the reason, not a 500."""
    try:
        return await handler(request)
    except ValueError as error:
        if not request.path.startswith(ADMIN_PREFIX):
            raise
        return web.json_response({"code": 20001, "message": f"invalid param: {error}"}, status=400)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise ValueError("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def _int(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number")
    return value


def _positive(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{name} must be a number more than 0")
    return float(value)


def _path(body: dict[str, Any]) -> str | None:
    path = body.get("path")
    if path is not None and (not isinstance(path, str) or not path.startswith("/")):
        raise ValueError("path must start with /")
    return path

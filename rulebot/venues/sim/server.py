"""The sim's HTTP face: the part of Lighter's REST API that lighter-sdk calls, plus `/admin`.

Every answer deserialises into the lighter-sdk 1.1.8 model its API class expects (see `wire`).
Refusals use Lighter's shape, HTTP 400 with `{"code": ..., "message": ...}`, which the SDK raises
as `BadRequestException`: a refused transaction carries the exchange's code (21104 "invalid
nonce", 21739 "not enough margin to create the order", ...), a bad query parameter 20001
"invalid param", an unknown account 21100 "account not found".

The private endpoints (`accountActiveOrders`, `accountInactiveOrders`, `accountOrders`, `pnl`,
and `trades` for one account) need the token of `SignerClient.create_auth_token_with_expiry` in the
`Authorization` header (or an `auth` query parameter): its expiry, account and API key index are
checked, its signature is not.

`/admin/...` is the sim's own (never Lighter's): faults (see `faults`), `POST /admin/advance`,
`POST /admin/speed`, `GET /admin/transactions`, `GET /admin/state`, `POST /admin/api-keys`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from rulebot.venues.sim import wire
from rulebot.venues.sim.faults import admin_errors, fault_middleware, fault_routes
from rulebot.venues.sim.ratelimits import rate_limit_middleware
from rulebot.venues.sim.records import TxRejected
from rulebot.venues.sim.stream import Stream

if TYPE_CHECKING:
    from rulebot.venues.sim.simulation import Simulation

Json = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ALL_MARKETS = 255
ALL_API_KEYS = 255
INVALID_PARAM = 20001
ACCOUNT_NOT_FOUND = (21100, "account not found")
INVALID_MARKET = (21602, "invalid market index")
INVALID_TX_INFO = (21501, "invalid tx info")
CLIENT_ORDER_INDEXES_PER_CALL = 20
STREAM_KEY = web.AppKey("stream", Stream)


class ApiError(Exception):
    """An answer of HTTP 400 with Lighter's `{"code", "message"}`."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def bad_param(what: str) -> ApiError:
    return ApiError(INVALID_PARAM, f"invalid param: {what}")


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn refusals into Lighter's error answers."""
    try:
        return await handler(request)
    except ApiError as error:
        return _error(error.code, error.message)
    except TxRejected as error:
        return _error(error.code, str(error))


def _error(code: int, message: str) -> web.Response:
    return web.json_response(wire.result_code(code, message), status=400)


def _ok(body: Json) -> web.Response:
    return web.json_response(body, dumps=_dumps)


def _dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"))


# --- query parameters ----------------------------------------------------------------------


def _int(request: web.Request, name: str, default: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        if default is None:
            raise bad_param(f"{name} is required")
        return default
    try:
        return int(raw)
    except ValueError:
        raise bad_param(f"{name} must be a whole number, not {raw!r}") from None


def _str(request: web.Request, name: str, default: str | None = None) -> str:
    raw = request.query.get(name)
    if raw is None:
        if default is None:
            raise bad_param(f"{name} is required")
        return default
    return raw


def _client_order_indexes(raw: str) -> list[int]:
    """`client_order_indexes`: comma-separated whole numbers, 1 to 20 of them."""
    parts = [part.strip() for part in raw.split(",")]
    if not raw.strip() or len(parts) > CLIENT_ORDER_INDEXES_PER_CALL:
        raise bad_param(
            f"client_order_indexes must list 1..{CLIENT_ORDER_INDEXES_PER_CALL} indexes"
        )
    try:
        return [int(part) for part in parts]
    except ValueError:
        raise bad_param(f"client_order_indexes must be whole numbers, not {raw!r}") from None


def _limit(request: web.Request, top: int, default: int | None = None) -> int:
    limit = _int(request, "limit", default)
    if not 1 <= limit <= top:
        raise bad_param(f"limit must be 1..{top}, not {limit}")
    return limit


# --- the Lighter API -------------------------------------------------------------------------


class LighterApi:
    """The REST endpoints, each answering in its lighter-sdk model."""

    def __init__(self, simulation: Simulation) -> None:
        self.sim = simulation

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/", self.status),
            web.get("/info", self.info),
            web.get("/api/v1/orderBooks", self.order_books),
            web.get("/api/v1/orderBookDetails", self.order_book_details),
            web.get("/api/v1/orderBookOrders", self.order_book_orders),
            web.get("/api/v1/recentTrades", self.recent_trades),
            web.get("/api/v1/trades", self.trades),
            web.get("/api/v1/candles", self.candles),
            web.get("/api/v1/fundings", self.fundings),
            web.get("/api/v1/funding-rates", self.funding_rates),
            web.get("/api/v1/account", self.account),
            web.get("/api/v1/accountsByL1Address", self.accounts_by_l1_address),
            web.get("/api/v1/apikeys", self.api_keys),
            web.get("/api/v1/accountActiveOrders", self.active_orders),
            web.get("/api/v1/accountInactiveOrders", self.inactive_orders),
            web.get("/api/v1/accountOrders", self.orders_by_client_index),
            web.get("/api/v1/pnl", self.pnl),
            web.get("/api/v1/nextNonce", self.next_nonce),
            web.post("/api/v1/sendTx", self.send_tx),
            web.post("/api/v1/sendTxBatch", self.send_tx_batch),
        ]

    # status

    async def status(self, request: web.Request) -> web.Response:
        return _ok(wire.status(self.sim.wall_ms()))

    async def info(self, request: web.Request) -> web.Response:
        return _ok(wire.info())

    # markets

    def _market_ids(self, request: web.Request) -> list[int]:
        market_id = _int(request, "market_id", ALL_MARKETS)
        if request.query.get("filter", "all") == "spot":
            return []
        if market_id == ALL_MARKETS:
            return [market.market_id for market in self.sim.exchange.markets()]
        self._need_market(market_id)
        return [market_id]

    def _need_market(self, market_id: int) -> None:
        if not self.sim.has_market(market_id):
            raise ApiError(INVALID_MARKET[0], f"{INVALID_MARKET[1]}: {market_id}")

    async def order_books(self, request: web.Request) -> web.Response:
        books = [
            wire.order_book(self.sim.exchange.market(market_id), self.sim.market_stats(market_id))
            for market_id in self._market_ids(request)
        ]
        return _ok({"code": wire.OK, "order_books": books})

    async def order_book_details(self, request: web.Request) -> web.Response:
        details = [
            wire.order_book_detail(
                self.sim.exchange.market(market_id), self.sim.market_stats(market_id)
            )
            for market_id in self._market_ids(request)
        ]
        return _ok({"code": wire.OK, "order_book_details": details, "spot_order_book_details": []})

    async def order_book_orders(self, request: web.Request) -> web.Response:
        market_id = _int(request, "market_id")
        limit = _limit(request, 250)
        self._need_market(market_id)
        market = self.sim.exchange.market(market_id)
        asks, bids = self.sim.book_orders(market_id, limit)
        return _ok(
            {
                "code": wire.OK,
                "total_asks": len(asks),
                "asks": wire.null_if_empty([wire.simple_order(order, market) for order in asks]),
                "total_bids": len(bids),
                "bids": wire.null_if_empty([wire.simple_order(order, market) for order in bids]),
            }
        )

    async def recent_trades(self, request: web.Request) -> web.Response:
        market_id = _int(request, "market_id")
        limit = _limit(request, 100)
        self._need_market(market_id)
        trades = self.sim.exchange.recent_trades(market_id, limit)
        shaped = [self.sim.trade_json(t) for t in trades]
        return _ok(wire.results("trades", shaped, paged=True, omit_when_empty=True))

    async def trades(self, request: web.Request) -> web.Response:
        limit = _limit(request, 100)
        _str(request, "sort_by")
        market_id = _int(request, "market_id", ALL_MARKETS)
        account_index = _int(request, "account_index", -1)
        if market_id != ALL_MARKETS:
            self._need_market(market_id)
        if account_index >= 0:
            self._authorize(request, account_index)
            trades = self.sim.exchange.account_trades(account_index, limit)
            if market_id != ALL_MARKETS:
                trades = [t for t in trades if t.market_id == market_id]
        elif market_id != ALL_MARKETS:
            trades = self.sim.exchange.recent_trades(market_id, limit)
        else:
            trades = [
                trade
                for market in self.sim.exchange.markets()
                for trade in self.sim.exchange.recent_trades(market.market_id, limit)
            ]
        ascending = request.query.get("sort_dir", "desc") == "asc"
        trades = sorted(trades, key=lambda t: t.trade_id, reverse=not ascending)[:limit]
        shaped = [self.sim.trade_json(t) for t in trades]
        return _ok(wire.results("trades", shaped, paged=True))

    async def candles(self, request: web.Request) -> web.Response:
        market_id, resolution, start, end, count_back = self._series(request)
        bars = self.sim.candles(market_id, resolution, start, end, count_back)
        return _ok(wire.results("c", bars, r=resolution))

    async def fundings(self, request: web.Request) -> web.Response:
        market_id, resolution, start, end, count_back = self._series(request)
        rows = self.sim.fundings(market_id, resolution, start, end, count_back)
        return _ok(wire.results("fundings", rows, resolution=resolution))

    def _series(self, request: web.Request) -> tuple[int, str, int, int, int]:
        """A time-series query's market (which must exist), resolution, window and count."""
        query = (
            _int(request, "market_id"),
            _str(request, "resolution"),
            _int(request, "start_timestamp"),
            _int(request, "end_timestamp"),
            _int(request, "count_back"),
        )
        self._need_market(query[0])
        return query

    async def funding_rates(self, request: web.Request) -> web.Response:
        return _ok({"code": wire.OK, "funding_rates": self.sim.funding_rates()})

    # accounts

    def _need_account(self, account_index: int) -> None:
        if not self.sim.has_account(account_index):
            raise ApiError(*ACCOUNT_NOT_FOUND)

    def _authorize(self, request: web.Request, account_index: int) -> None:
        token = request.headers.get("Authorization") or request.query.get("auth")
        self._need_account(account_index)
        problem = self.sim.auth_problem(token, account_index)
        if problem is not None:
            raise bad_param(f"auth: {problem}")

    def _account_by(self, request: web.Request) -> int:
        by = _str(request, "by")
        value = _str(request, "value")
        if by == "index":
            try:
                index = int(value)
            except ValueError:
                raise bad_param(f"value must be an account index, not {value!r}") from None
            self._need_account(index)
            return index
        if by == "l1_address":
            found = self.sim.accounts_of(value)
            if not found:
                raise ApiError(*ACCOUNT_NOT_FOUND)
            return found[0]
        raise bad_param(f"by must be index or l1_address, not {by!r}")

    async def account(self, request: web.Request) -> web.Response:
        index = self._account_by(request)
        return _ok(
            {
                "code": wire.OK,
                "total": 1,
                "accounts": [self.sim.detailed_account_json(index)],
                "next_cursor": "",
            }
        )

    async def accounts_by_l1_address(self, request: web.Request) -> web.Response:
        address = _str(request, "l1_address")
        found = self.sim.accounts_of(address)
        if not found:
            raise ApiError(*ACCOUNT_NOT_FOUND)
        return _ok(
            {
                "code": wire.OK,
                "l1_address": address,
                "sub_accounts": [self.sim.account_json(index) for index in found],
            }
        )

    async def api_keys(self, request: web.Request) -> web.Response:
        account_index = _int(request, "account_index")
        key_index = _int(request, "api_key_index", ALL_API_KEYS)
        self._need_account(account_index)
        keys = self.sim.api_keys_json(
            account_index, None if key_index == ALL_API_KEYS else key_index
        )
        return _ok({"code": wire.OK, "api_keys": keys})

    async def active_orders(self, request: web.Request) -> web.Response:
        account_index = _int(request, "account_index")
        market_id = _int(request, "market_id", ALL_MARKETS)
        self._authorize(request, account_index)
        market = None if market_id == ALL_MARKETS else market_id
        orders = self.sim.exchange.active_orders(account_index, market)
        shaped = [self.sim.order_json(o) for o in orders]
        return _ok({"code": wire.OK, "next_cursor": "", "orders": shaped})

    async def inactive_orders(self, request: web.Request) -> web.Response:
        account_index = _int(request, "account_index")
        limit = _limit(request, 100)
        market_id = _int(request, "market_id", ALL_MARKETS)
        self._authorize(request, account_index)
        market = None if market_id == ALL_MARKETS else market_id
        orders = self.sim.exchange.inactive_orders(account_index, market, limit)
        ask_filter = _int(request, "ask_filter", -1)
        if ask_filter in (0, 1):
            orders = [o for o in orders if o.is_ask == bool(ask_filter)]
        shaped = [self.sim.order_json(o) for o in orders]
        return _ok({"code": wire.OK, "next_cursor": "", "orders": shaped})

    async def orders_by_client_index(self, request: web.Request) -> web.Response:
        """`accountOrders`: the account's orders, active or inactive, by client order index (at
        most 20 a call); the account is the token's unless `account_index` names it. None
        found: `orders` is null, as the venue sends an empty list."""
        token = request.headers.get("Authorization") or request.query.get("auth")
        account_index = _int(request, "account_index", -1)
        if account_index < 0:
            found = self.sim.token_account(token)
            if found is None:
                raise bad_param("auth: an auth token is required")
            account_index = found
        indexes = _client_order_indexes(_str(request, "client_order_indexes"))
        self._authorize(request, account_index)
        orders = self.sim.exchange.orders_by_client_index(account_index, indexes)
        return _ok({"code": wire.OK, "orders": [self.sim.order_json(o) for o in orders] or None})

    async def pnl(self, request: web.Request) -> web.Response:
        index = self._account_by(request)
        resolution = _str(request, "resolution")
        start = _int(request, "start_timestamp")
        end = _int(request, "end_timestamp")
        _int(request, "count_back")
        self._authorize(request, index)
        entries = self.sim.pnl_json(index, start, end)
        return _ok({"code": wire.OK, "resolution": resolution, "pnl": entries})

    # transactions

    async def next_nonce(self, request: web.Request) -> web.Response:
        account_index = _int(request, "account_index")
        key_index = _int(request, "api_key_index")
        self._need_account(account_index)
        nonce = self.sim.next_nonce(account_index, key_index)
        return _ok({"code": wire.OK, "nonce": nonce})

    async def send_tx(self, request: web.Request) -> web.Response:
        form = await request.post()
        try:
            tx_type = int(str(form["tx_type"]))
            tx_info = str(form["tx_info"])
        except (KeyError, ValueError):
            raise ApiError(*INVALID_TX_INFO) from None
        applied = self.sim.send_tx(tx_type, tx_info)
        return _ok(
            {
                "code": wire.OK,
                "message": '{"ratelimit": "didn\'t use volume quota"}',
                "tx_hash": applied.tx_hash,
                "predicted_execution_time_ms": self.sim.wall_ms(),
                "volume_quota_remaining": self.sim.VOLUME_QUOTA,
            }
        )

    async def send_tx_batch(self, request: web.Request) -> web.Response:
        form = await request.post()
        try:
            tx_types = json.loads(str(form["tx_types"]))
            tx_infos = json.loads(str(form["tx_infos"]))
        except (KeyError, ValueError):
            raise ApiError(*INVALID_TX_INFO) from None
        if not isinstance(tx_types, list) or not isinstance(tx_infos, list):
            raise ApiError(*INVALID_TX_INFO)
        if not all(isinstance(t, int) for t in tx_types) or not all(
            isinstance(i, str) for i in tx_infos
        ):
            raise ApiError(*INVALID_TX_INFO)
        applied = self.sim.send_tx_batch(tx_types, tx_infos)
        return _ok(
            {
                "code": wire.OK,
                "message": '{"ratelimit": "didn\'t use volume quota"}',
                "tx_hash": [one.tx_hash for one in applied],
                "predicted_execution_time_ms": self.sim.wall_ms(),
                "volume_quota_remaining": self.sim.VOLUME_QUOTA,
            }
        )


# --- /admin ----------------------------------------------------------------------------------


def admin_routes(simulation: Simulation, stream: Stream) -> list[web.RouteDef]:
    """The sim's own endpoints for tests and operators (faults are in `faults`)."""

    async def advance(request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {"steps": 1}
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        counts = {name: body.get(name, 0) for name in ("steps", "bars", "ms")}
        for name, value in counts.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number, 0 or more")
        if not any(counts.values()):
            raise ValueError("give steps, bars or ms (1 or more)")
        simulation.advance(counts["steps"], bars=counts["bars"], ms=counts["ms"])
        return web.json_response(simulation.state(), dumps=_dumps)

    async def speed(request: web.Request) -> web.Response:
        body = await request.json()
        value = body.get("speed") if isinstance(body, dict) else None
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError("speed must be a number, 0 (paused) or more")
        simulation.set_speed(float(value))
        return web.json_response(simulation.state(), dumps=_dumps)

    async def transactions(request: web.Request) -> web.Response:
        everything = request.query.get("all", "") in ("1", "true")
        return web.json_response(
            {"transactions": simulation.transaction_log(include_refused=everything)},
            dumps=_dumps,
        )

    async def state(request: web.Request) -> web.Response:
        return web.json_response(
            {**simulation.state(), "ws_connections": stream.connections}, dumps=_dumps
        )

    async def api_keys(request: web.Request) -> web.Response:
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        account_index, key_index, public_key = (
            body.get("account_index"),
            body.get("api_key_index"),
            body.get("public_key"),
        )
        if not isinstance(account_index, int) or not isinstance(key_index, int):
            raise ValueError("account_index and api_key_index must be whole numbers")
        if not isinstance(public_key, str) or not public_key:
            raise ValueError("public_key must be the key's hex string")
        simulation.register_api_key(account_index, key_index, public_key)
        return web.json_response({"registered": True})

    async def reset_account(request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        index = body.get("account_index", 1) if isinstance(body, dict) else None
        if isinstance(index, bool) or not isinstance(index, int):
            raise ValueError("account_index must be a whole number")
        simulation.reset_account(index)
        return web.json_response(simulation.state(), dumps=_dumps)

    return [
        web.post("/admin/advance", advance),
        web.post("/admin/reset-account", reset_account),
        web.post("/admin/speed", speed),
        web.get("/admin/transactions", transactions),
        web.get("/admin/state", state),
        web.post("/admin/api-keys", api_keys),
    ]


def create_app(simulation: Simulation) -> web.Application:
    """The aiohttp application of one sim: the API, `/stream`, the faults and `/admin`."""
    app = web.Application(
        middlewares=[
            admin_errors,
            fault_middleware(simulation.faults),
            rate_limit_middleware(simulation.rate_limits, time.monotonic),
            api_errors,
        ]
    )
    stream = Stream(simulation)
    app[STREAM_KEY] = stream
    app.add_routes(LighterApi(simulation).routes())
    app.add_routes([web.get("/stream", stream.handle)])
    app.add_routes(fault_routes(simulation.faults))
    app.add_routes(admin_routes(simulation, stream))

    async def start_stream(app: web.Application) -> None:
        stream.start()

    async def stop_stream(app: web.Application) -> None:
        await stream.close()

    app.on_startup.append(start_stream)
    app.on_shutdown.append(stop_stream)
    return app

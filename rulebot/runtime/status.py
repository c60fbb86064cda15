"""The running bot's local HTTP API: what `rulebot status` and a dashboard read.

`/api/status` is everything at once; `/api/account/balance`, `/api/positions`, `/api/orders`,
`/api/risk` and `/api/strategies` are its parts. Given the journal, it also serves the dashboard's
readings: `/api/equity?since=MS` (the equity curve and its drawdown), `/api/fills?limit=N` and
`/api/risk/events?limit=N` (newest first). `/` is the dashboard page and `/static/<file>` its
files. Nothing it serves contains a secret.

Any web page the operator opens can send requests to loopback, so the guard does not trust the
address alone:
- every request must name the server in its Host header (the bound address or a loopback name,
  with the port): a DNS-rebinding page, whose Host is its own name, gets nothing (421);
- a request from a browser page of another origin (its `Origin` header) is refused (403);
- a state-changing request (`POST /api/flatten`) needs `Authorization: Bearer <token>` always,
  and a body of `application/json` or none (a page's `text/plain` form post is refused, 415).
The token is the one given, or one generated at start and written (0600) to `token_file` for
`rulebot flatten` and `rulebot status`, and removed at stop. Reads need the token too when one was
given, and the server refuses to bind beyond loopback without one (the page and its files hold no
data and load without it: the page asks for the token and sends it on each of its own requests).
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import os
import secrets
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from rulebot.runtime.dashboard import STATIC_DIR
from rulebot.runtime.dashboard.feed import MAX_RECENT, DashboardFeed
from rulebot.secrets import write_private

if TYPE_CHECKING:
    from rulebot.runtime.journal import Journal

DEFAULT_PORT = 8000
TOKEN_ENV = "RULEBOT_STATUS_TOKEN"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
WILDCARDS = ("", "0.0.0.0", "::")  # bound to every address: the token guards every route
POST_BODY_TYPES = ("", "application/json")
PARTS = {
    "/api/account/balance": "account",
    "/api/positions": "positions",
    "/api/orders": "orders",
    "/api/risk": "risk",
    "/api/strategies": "strategies",
}
PAGE_ROUTES = ("dashboard", "dashboard-file")  # no data in them: served without the token
FILE_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
RECENT_ROWS = 50  # fills and risk events when `limit` is not given
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'"
    ),
}


class StatusError(Exception):
    """The status server cannot start as configured."""


def token_file_for(journal: str | os.PathLike[str]) -> Path:
    """Where a bot writing `journal` keeps its generated status token: beside it, 0600."""
    path = Path(journal)
    return path.with_name(path.name + ".token")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def dumps(value: object) -> str:
    """JSON with Decimals as exact strings."""
    return json.dumps(value, default=_default, indent=2)


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


class StatusServer:
    """Serves `status()` (a JSON-ready mapping) over HTTP while the bot runs."""

    def __init__(
        self,
        status: Callable[[], Mapping[str, Any]],
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        token: str | None = None,
        flatten: Callable[[str | None], Awaitable[list[str]]] | None = None,
        journal: Journal | None = None,
        token_file: Path | None = None,
    ) -> None:
        if not is_loopback(host) and not token:
            raise StatusError(
                f"the status API on {host} would be reachable from other machines: "
                f"set a token in the environment ({TOKEN_ENV}=<a long random string>)"
            )
        self.status = status
        self.host = host
        self.port = port
        self.reads_need_token = bool(token)
        self.token = token or secrets.token_urlsafe(32)
        self.token_file = None if token else token_file
        self.hosts: frozenset[str] = frozenset()  # the Host headers that name this server
        self.flatten = flatten
        self.feed = DashboardFeed(journal) if journal is not None else None
        self.runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/api/status", self._all)
        for path, key in PARTS.items():
            app.router.add_get(path, self._part(key))
        if self.flatten is not None:
            app.router.add_post("/api/flatten", self._flatten)
        if self.feed is not None:
            app.router.add_get("/api/equity", self._equity)
            app.router.add_get("/api/fills", self._fills)
            app.router.add_get("/api/risk/events", self._risk_events)
        app.router.add_get("/", self._page, name="dashboard")
        app.router.add_get("/static/{name}", self._file, name="dashboard-file")
        return app

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        """One of the page's files, by its name alone (no folders: nothing else is reachable)."""
        path = (STATIC_DIR / request.match_info["name"]).resolve()
        if path.parent != STATIC_DIR.resolve() or not path.is_file() or path.name[0] == ".":
            raise web.HTTPNotFound()
        kind = FILE_TYPES.get(path.suffix, "text/plain")
        headers = {**PAGE_HEADERS, "Content-Type": f"{kind}; charset=utf-8"}
        return web.FileResponse(path, headers=headers)

    async def _equity(self, request: web.Request) -> web.Response:
        assert self.feed is not None
        since = _query_int(request, "since", 0, 0, None)
        return _json(self.feed.equity(since))

    async def _fills(self, request: web.Request) -> web.Response:
        assert self.feed is not None
        return _json(self.feed.fills(_query_int(request, "limit", RECENT_ROWS, 1, MAX_RECENT)))

    async def _risk_events(self, request: web.Request) -> web.Response:
        assert self.feed is not None
        limit = _query_int(request, "limit", RECENT_ROWS, 1, MAX_RECENT)
        return _json(self.feed.risk_events(limit))

    async def _flatten(self, request: web.Request) -> web.Response:
        assert self.flatten is not None
        market = request.query.get("market") or None
        return web.Response(
            text=dumps({"results": await self.flatten(market)}), content_type="application/json"
        )

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        refusal = self._refusal(request)
        if refusal is not None:
            status, message = refusal
            return web.json_response({"error": message}, status=status)
        return await handler(request)

    def _refusal(self, request: web.Request) -> tuple[int, str] | None:
        """Why `request` is refused (HTTP status, message), or None to serve it."""
        host = request.headers.get("Host", "").lower()
        if self.hosts and host not in self.hosts:
            return 421, "this server answers only to its own address (the Host header)"
        origin = request.headers.get("Origin")
        if origin is not None and origin.lower() != f"http://{host}":
            return 403, "requests from other web pages are refused (the Origin header)"
        writes = request.method not in ("GET", "HEAD", "OPTIONS")
        if writes and request.body_exists and request.content_type not in POST_BODY_TYPES:
            return 415, "a request body must be application/json"
        resource = request.match_info.route.resource
        page = resource is not None and resource.name in PAGE_ROUTES
        if (writes or (self.reads_need_token and not page)) and not self._carries_token(request):
            return 401, "a valid bearer token is required"
        return None

    def _carries_token(self, request: web.Request) -> bool:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode())

    async def _all(self, request: web.Request) -> web.Response:
        return web.Response(text=dumps(self.status()), content_type="application/json")

    def _part(self, key: str) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.Response:
            return web.Response(text=dumps(self.status().get(key)), content_type="application/json")

        return handler

    async def start(self) -> int:
        """Start serving; returns the port (useful when asked for port 0 in tests)."""
        self.runner = web.AppRunner(self.app(), access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, self.port)
        try:
            await site.start()
        except OSError as error:
            await self.runner.cleanup()
            self.runner = None
            raise StatusError(
                f"cannot serve the status API on {self.host}:{self.port}: {error.strerror}; "
                "pick another with --status-port, or 0 to turn it off"
            ) from None
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.port
        self.hosts = _names(self.host, self.port)
        if self.token_file is not None:
            try:
                write_private(self.token_file, self.token + "\n")
            except OSError as error:
                await self.stop()
                raise StatusError(
                    f"cannot write the status token to {self.token_file}: {error.strerror}"
                ) from None
        return self.port

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
        if self.token_file is not None:
            with contextlib.suppress(OSError):
                if self.token_file.read_text().strip() == self.token:  # not another bot's
                    self.token_file.unlink()


def _names(host: str, port: int) -> frozenset[str]:
    """The Host headers a request to this server may carry; empty (any) when bound to every
    address, where no name can be listed and the token guards every route instead."""
    if host in WILDCARDS:
        return frozenset()
    shown = f"[{host}]" if ":" in host else host
    names = {shown.lower(), *LOOPBACK_NAMES}
    return frozenset(f"{name}:{port}" for name in names) | (
        frozenset(names) if port == 80 else frozenset()
    )


def read_token(path: Path) -> str | None:
    """The token a running bot wrote to `path`, or None when there is none."""
    try:
        return path.read_text().strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def _json(value: object) -> web.Response:
    return web.Response(text=dumps(value), content_type="application/json")


def _query_int(request: web.Request, name: str, default: int, low: int, high: int | None) -> int:
    """The integer query parameter `name`, clamped to [low, high]; 400 if it is not one."""
    given = request.query.get(name)
    if given is None or given == "":
        return default
    try:
        value = int(given)
    except ValueError:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"`{name}` must be a whole number, not {given!r}"}),
            content_type="application/json",
        ) from None
    value = max(low, value)
    return value if high is None else min(high, value)

"""The venue's rate limits, as the sim enforces them when started with an account tier.

Lighter counts the requests to `/api/v1/...` over a rolling minute. Standard accounts may send
60, and no more to one endpoint than 24,000 divided by its weight (40 `trades` a minute);
premium accounts may spend 24,000 weight. Weights are the API reference's (`sendTx`,
`sendTxBatch`, `nextNonce` 6, `accountInactiveOrders` 100, `trades` and `recentTrades` 600,
every other endpoint 300). Past the limit the answer is HTTP 429 with the venue's body
`{"code": 23000, "message": "Too Many Requests!"}` and no Retry-After, and the refused request is
not counted. The sim counts per client address (the venue counts per IP and per L1 address).

Off unless a tier is set (`SimSettings.rate_limit_tier`, `rulebot sim --tier`). The window is 60
seconds; tests may shorten it (`rate_window_s`, `--rate-window`), and set the bot's
`account.rate_window_s` to the same, so both run the same code in seconds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from rulebot.venues.sim.faults import TOO_MANY_REQUESTS

API_PREFIX: Final = "/api/v1/"
TIERS: Final = ("standard", "premium")
CAPACITY: Final = 24_000
STANDARD_REQUESTS: Final = 60
OTHER_WEIGHT: Final = 300
WEIGHTS: Final[dict[str, int]] = {
    "sendTx": 6,
    "sendTxBatch": 6,
    "nextNonce": 6,
    "publicPools": 50,
    "txFromL1TxHash": 50,
    "accountInactiveOrders": 100,
    "apikeys": 150,
    "transferFeeInfo": 500,
    "trades": 600,
    "recentTrades": 600,
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class _Client:
    """One client's requests within the window: (time, endpoint, weight)."""

    seen: deque[tuple[float, str, int]] = field(default_factory=deque)


class RateLimits:
    """The rate limits of one sim: which tier, over what window, and what they refused."""

    def __init__(self, tier: str | None, window_s: float = 60.0) -> None:
        if tier is not None and tier not in TIERS:
            raise ValueError(f"unknown account tier {tier!r} (one of {', '.join(TIERS)})")
        if not window_s > 0:
            raise ValueError("the rate window must be more than 0 seconds")
        self.tier = tier
        self.window_s = window_s
        self.refused = 0
        self.counted = 0
        self.weight = 0
        self._clients: dict[str, _Client] = {}

    def allow(self, client: str, endpoint: str, now: float) -> bool:
        """Whether a request to `endpoint` from `client` at `now` (seconds) is within the
        limits; counted when it is."""
        if self.tier is None:
            return True
        seen = self._clients.setdefault(client, _Client()).seen
        while seen and seen[0][0] + self.window_s <= now:
            seen.popleft()
        weight = WEIGHTS.get(endpoint, OTHER_WEIGHT)
        if self.tier == "standard":
            same = sum(1 for _, name, _ in seen if name == endpoint)
            allowed = len(seen) < STANDARD_REQUESTS and same < CAPACITY // weight
        else:
            allowed = sum(w for _, _, w in seen) + weight <= CAPACITY
        if not allowed:
            self.refused += 1
            return False
        seen.append((now, endpoint, weight))
        self.counted += 1
        self.weight += weight
        return True

    def snapshot(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "window_s": self.window_s,
            "counted": self.counted,
            "weight": self.weight,
            "refused": self.refused,
        }


def rate_limit_middleware(
    limits: RateLimits, clock: Callable[[], float]
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """aiohttp middleware answering 429 to `/api/v1/...` requests past the tier's limits."""

    @web.middleware
    async def limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if limits.tier is not None and path.startswith(API_PREFIX):
            endpoint = path.removeprefix(API_PREFIX)
            if not limits.allow(request.remote or "", endpoint, clock()):
                return web.json_response(TOO_MANY_REQUESTS, status=429)
        return await handler(request)

    return limit

"""One rate budget for every request the process sends to the venue, spent in order of urgency.

Lighter counts requests over a rolling minute (per IP and per L1 address). A premium account
may spend 24,000 weight a minute, each endpoint weighing what the API reference says (`sendTx`
and `nextNonce` 6, `accountInactiveOrders` 100, `trades` and `recentTrades` 600, the rest 300).
A standard account may send 60 requests a minute, and never more of one endpoint than 24,000
divided by its weight (40 `trades` a minute). Both are one rule here: every request costs its
weight out of 24,000, and on a standard account at least 400 (24,000 / 60).

Every request waits here until the last window has room for it. When several wait, the most
urgent goes first: cancels and protective orders, then exits, then entries, then data. The
urgency is a context variable (`priority`, `at_priority`) that the venue's order methods set, so
the reads an order makes (the book, its confirmation) go at the order's urgency. Entries may fill
only 90% of the window and data 80%, so a stop or an exit finds room even in a burst.

A 429 means the venue counted more than we did (another program on the account, or our model
is off): every request then waits as the venue asks (`Retry-After`), or backs off, for at most
one window in all, since waiting longer than the venue's minute cannot help.

The arithmetic (`RateBudget`, `Window`) is pure and takes the time as an argument; the
`RateLimiter` adds the clock and the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final, Literal, ParamSpec, TypeVar, get_args

P = ParamSpec("P")
T = TypeVar("T")

Tier = Literal["standard", "premium"]
TIERS: Final[tuple[str, ...]] = get_args(Tier)
WINDOW_S: Final = 60.0
"""The venue's rolling window. Tests against a sim may shorten it (the sim's and the bot's
together), so the same code runs in seconds rather than minutes."""
CAPACITY: Final = 24_000
"""Weight a premium account may spend a window; a standard one, 60 requests of 400."""
STANDARD_FLOOR: Final = CAPACITY // 60
DEFAULT_WEIGHT: Final = 300
WEIGHTS: Final[dict[str, int]] = {
    "sendTx": 6,
    "sendTxBatch": 6,
    "nextNonce": 6,
    "publicPools": 50,
    "txFromL1TxHash": 50,
    "accountInactiveOrders": 100,
    "deposit/latest": 100,
    "apikeys": 150,
    "transferFeeInfo": 500,
    "trades": 600,
    "recentTrades": 600,
    "changeAccountTier": 3000,
}
"""Endpoint weights from Lighter's API reference; every endpoint not listed weighs 300."""


class Priority(IntEnum):
    """How urgent a request is; lower goes first."""

    PROTECT = 0
    """Cancels, stops and take-profits: what limits a loss."""
    EXIT = 1
    ENTRY = 2
    DATA = 3


SHARE_PERCENT: Final[dict[Priority, int]] = {
    Priority.PROTECT: 100,
    Priority.EXIT: 100,
    Priority.ENTRY: 90,
    Priority.DATA: 80,
}
"""How much of the window each urgency may fill: the rest is kept for the more urgent."""

_PRIORITY: ContextVar[Priority] = ContextVar("venue_priority", default=Priority.DATA)


def current_priority() -> Priority:
    """The urgency of the requests made here (data, unless a caller said otherwise)."""
    return _PRIORITY.get()


@contextlib.contextmanager
def priority(level: Priority) -> Iterator[None]:
    """Make the requests inside at least as urgent as `level` (a more urgent caller wins)."""
    token = _PRIORITY.set(min(level, _PRIORITY.get()))
    try:
        yield
    finally:
        _PRIORITY.reset(token)


def at_priority(
    level: Priority | Callable[..., Priority],
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Run an async method's requests at `level`, or at what `level(*args, **kwargs)` says for
    that call (e.g. from the order it sends); nested reads inherit it."""

    def decorate(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(method)
        async def run(*args: P.args, **kwargs: P.kwargs) -> T:
            own = level(*args, **kwargs) if callable(level) else level
            with priority(own):
                return await method(*args, **kwargs)

        return run

    return decorate


class QueueClock:
    """The seconds the requests of one context have spent waiting here for room, the wait in
    progress included: a caller that gives the venue a time to answer (an order's settle time)
    leaves these out, since the venue was not asked while they passed."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._total = 0.0
        self._waiting: dict[int, float] = {}  # ticket number -> when it started waiting

    def __call__(self) -> float:
        now = self._clock()
        return self._total + sum(now - since for since in self._waiting.values())

    def _start(self, number: int) -> None:
        self._waiting[number] = self._clock()

    def _stop(self, number: int) -> None:
        since = self._waiting.pop(number, None)
        if since is not None:
            self._total += self._clock() - since


_QUEUE_CLOCK: ContextVar[QueueClock | None] = ContextVar("venue_queue_clock", default=None)


@contextlib.contextmanager
def queue_clock() -> Iterator[QueueClock]:
    """Time what the requests made inside (and the tasks started there) wait for room."""
    clock = QueueClock()
    token = _QUEUE_CLOCK.set(clock)
    try:
        yield clock
    finally:
        _QUEUE_CLOCK.reset(token)


def weight(endpoint: str) -> int:
    """The venue's weight of one request to `endpoint`."""
    return WEIGHTS.get(endpoint, DEFAULT_WEIGHT)


@dataclass(frozen=True, slots=True)
class RateBudget:
    """What one account tier may spend in one window."""

    tier: Tier = "standard"
    window_s: float = WINDOW_S

    def __post_init__(self) -> None:
        if self.tier not in TIERS:
            raise ValueError(f"unknown account tier {self.tier!r} (one of {', '.join(TIERS)})")
        if not self.window_s > 0:
            raise ValueError("the rate window must be more than 0 seconds")

    def cost(self, endpoint: str) -> int:
        """What a request to `endpoint` spends of the window's `CAPACITY`."""
        spent = weight(endpoint)
        return max(spent, STANDARD_FLOOR) if self.tier == "standard" else spent

    def ceiling(self, level: Priority) -> int:
        """How full the window may be after a request of urgency `level`."""
        return CAPACITY * SHARE_PERCENT[level] // 100

    def per_window(self, costs: Counter[str] | dict[str, int]) -> float:
        """How many times a sequence of requests (endpoint -> count) fits in one window."""
        spent = sum(self.cost(endpoint) * count for endpoint, count in costs.items())
        return CAPACITY / spent if spent else float("inf")


Spend = list[float]
"""One request in a window: [the time it counts from, its cost]."""


@dataclass(slots=True)
class Window:
    """What was spent over the last `length_s` seconds.

    A request counts from when it is let go, and once answered (`settle`) until `length_s` after
    its answer: the venue counts it from when it arrives, some time after it left, so counting it
    from its departure alone would let the next one go a little too soon.
    """

    length_s: float
    _spent: list[Spend] = field(default_factory=list)

    def used(self, now: float) -> int:
        self._expire(now)
        return int(sum(cost for _, cost in self._spent))

    def spend(self, now: float, cost: int) -> Spend:
        """Count `cost` from `now`; the answer's time is given to `settle` later."""
        self._expire(now)
        spent = [now, float(cost)]
        self._spent.append(spent)
        return spent

    def settle(self, spent: Spend, now: float) -> None:
        """The request's answer came at `now`: it counts until `now + length_s` (again, if it
        was in flight longer than a window)."""
        if not any(one is spent for one in self._spent):
            self._spent.append(spent)
        spent[0] = max(spent[0], now)

    def wait(self, now: float, cost: int, ceiling: int) -> float:
        """Seconds from `now` until `cost` more fits under `ceiling` (0: it fits now). A cost
        above the ceiling goes alone, once the window is empty."""
        self._expire(now)
        room = max(ceiling - cost, 0)
        used = sum(spent for _, spent in self._spent)
        if used <= room:
            return 0.0
        until = now
        for when, spent in sorted(self._spent):
            used, until = used - spent, when + self.length_s
            if used <= room:
                break
        return until - now

    def _expire(self, now: float) -> None:
        self._spent = [s for s in self._spent if s[0] + self.length_s > now]


@dataclass(order=True, slots=True)
class _Ticket:
    level: Priority
    number: int
    cost: int = field(compare=False)
    endpoint: str = field(compare=False)


class RateLimiter:
    """Holds each request until the window has room, the most urgent first.

    With no budget (a sim started without rate limits) nothing waits but after a 429. Counts
    what was sent (`sent`, by endpoint) and how often the venue refused (`refusals`).
    """

    def __init__(
        self,
        budget: RateBudget | None = None,
        *,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.budget = budget
        self._window = Window(budget.window_s if budget is not None else window_s)
        self._clock = clock
        self._queue: list[_Ticket] = []
        self._numbers = itertools.count()
        self._hold_until = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed = asyncio.Event()
        self.sent: Counter[str] = Counter()
        self.refusals = 0
        self.waits = 0

    @property
    def window_s(self) -> float:
        return self._window.length_s

    def configure(self, budget: RateBudget | None, window_s: float = WINDOW_S) -> None:
        """Change the tier or the window (what was spent stays counted)."""
        self.budget = budget
        self._window.length_s = budget.window_s if budget is not None else window_s

    def weight_sent(self) -> int:
        """The venue's weight of every request sent so far."""
        return sum(weight(endpoint) * count for endpoint, count in self.sent.items())

    def has_room(self, endpoints: Iterable[str], level: Priority) -> bool:
        """Whether requests to `endpoints`, at urgency `level`, would all go now without
        waiting (no 429 hold, nobody queued ahead, the window's share for `level` not full):
        for work that may as well wait for the next bar, such as moving a resting entry."""
        now = self._clock()
        if self._hold_until > now or any(t.level <= level for t in self._queue):
            return False
        if self.budget is None:
            return True
        cost = sum(self.budget.cost(endpoint) for endpoint in endpoints)
        return self._window.wait(now, cost, self.budget.ceiling(level)) == 0.0

    def reset_counts(self) -> None:
        self.sent.clear()
        self.refusals = self.waits = 0

    async def acquire(self, endpoint: str) -> Spend:
        """Wait until one request to `endpoint` may go, at the context's urgency, and spend it;
        give what this returns to `settle` once the answer came."""
        self._bind()
        level = current_priority()
        cost = self.budget.cost(endpoint) if self.budget is not None else 0
        ticket = _Ticket(level, next(self._numbers), cost, endpoint)
        heapq.heappush(self._queue, ticket)
        self._wake()
        waited = False
        stopwatch = _QUEUE_CLOCK.get()
        if stopwatch is not None:
            stopwatch._start(ticket.number)
        try:
            while True:
                pause = self._pause(ticket)
                if pause == 0:
                    heapq.heappop(self._queue)
                    spent = self._window.spend(self._clock(), cost)
                    self.sent[endpoint] += 1
                    self.waits += waited
                    self._wake()
                    return spent
                waited = True
                changed = self._changed
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), pause)
        except BaseException:
            if ticket in self._queue:
                self._queue.remove(ticket)
                heapq.heapify(self._queue)
                self._wake()
            raise
        finally:
            if stopwatch is not None:
                stopwatch._stop(ticket.number)

    def settle(self, spent: Spend) -> None:
        """The answer to the request `spent` came (or it failed): count it from now."""
        self._window.settle(spent, self._clock())
        self._wake()

    @contextlib.asynccontextmanager
    async def request(self, endpoint: str) -> AsyncIterator[None]:
        """Hold one request to `endpoint` from its turn until its answer."""
        spent = await self.acquire(endpoint)
        try:
            yield
        finally:
            self.settle(spent)

    def refused(self, waited: float, retry_after: float | None, draw: float) -> float | None:
        """After a 429: how long to hold every request (the one refused too), or None to give
        up. `waited` is how long this request has been held for 429s already; `draw` in [0, 1)
        spreads the backoff. Never more than one window in all."""
        self.refusals += 1
        window = self.window_s
        left = window - waited
        if left <= 0 or (retry_after is not None and retry_after >= window):
            return None
        backoff = max(window / 30, waited) * (0.75 + 0.5 * draw)
        if retry_after is not None:
            if retry_after > left:
                return None
            backoff = max(backoff, retry_after)
        pause = min(left, backoff)
        self._hold_until = max(self._hold_until, self._clock() + pause)
        self._wake()
        return pause

    def _pause(self, ticket: _Ticket) -> float | None:
        """0 when `ticket` may go now; seconds to sleep before looking again; None to wait for
        the queue to move."""
        if self._queue[0] is not ticket:
            return None
        now = self._clock()
        hold = max(self._hold_until - now, 0.0)
        if self.budget is None:
            return hold
        room = self._window.wait(now, ticket.cost, self.budget.ceiling(ticket.level))
        return max(hold, room)

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _bind(self) -> None:
        """Waiters belong to one event loop; a limiter outliving its loop starts a new queue."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._queue = []
            self._changed = asyncio.Event()


_SHARED: dict[str, RateLimiter] = {}


def shared_limiter(url: str, budget: RateBudget | None, window_s: float = WINDOW_S) -> RateLimiter:
    """The process's one limiter for the venue at `url`, set to `budget` (every client of the
    same venue in this process spends from the same window)."""
    limiter = _SHARED.get(url)
    if limiter is None:
        limiter = _SHARED[url] = RateLimiter(budget, window_s=window_s)
    else:
        limiter.configure(budget, window_s)
    return limiter

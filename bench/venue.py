"""How fast an order gets to the venue: create-order round trips through `LighterVenue` against
`rulebot sim` running as its own process on loopback (paused, so the book does not move).

Figures, each beside a baseline measured in the same run:
- the adapter's create-order round trip (median, p99) against lighter-sdk's own
  `SignerClient.create_order` on the same sim (the SDK's nonce manager, no retries, no rounding):
  the ratio is what the adapter's checks and bookkeeping cost;
- orders per second sustained, one after another (Lighter orders nonces per API key, so one key
  sends one at a time);
- the share of a round trip spent signing (`sign_create_order` alone, timed in a loop);
- the rate budget: requests and weight each order kind spends (market, post-only, modify,
  cancel, a protective stop + take-profit pair, a market order whose answer was lost), as the
  adapter's limiter counts them and as a sim enforcing premium limits counts them on arrival,
  beside lighter-sdk's bare `create_order` (one `sendTx`, unconfirmed) as the baseline; and how
  many such orders a minute each account tier sustains.

    .venv/bin/python bench/venue.py [--orders 300] [--repeats 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from decimal import Decimal
from functools import partial
from pathlib import Path

import aiohttp
import lighter
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rulebot.venues.lighter.client import LighterVenue  # noqa: E402
from rulebot.venues.lighter.limiter import CAPACITY, RateBudget, weight  # noqa: E402
from rulebot.venues.lighter.records import OrderRequest  # noqa: E402

BUDGET_WINDOW_S = 1.0
"""The budget sim's window (premium limits), so a run of orders never waits a whole minute;
orders a minute below are worked out for the venue's real 60 s window."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sim(port: int, *options: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "rulebot", "sim", "--port", str(port), "--speed", "0"]
    command += options
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=os.environ.copy()
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.05)
    process.kill()
    raise SystemExit("the sim did not start")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def adapter_round_trips(url: str, key: str, orders: int) -> tuple[list[float], float]:
    async with LighterVenue("sim", url=url, account_index=1, api_key_index=2, private_key=key) as v:
        market = await v.market("ETH")
        book = await v.order_book("ETH")
        assert book.best_bid is not None
        price = (book.best_bid * Decimal("0.5")).quantize(market.price_step)
        size = max(market.min_base_amount, (Decimal(20) / price).quantize(market.size_step)) * 2
        times: list[float] = []
        start = time.perf_counter()
        for _ in range(orders):
            began = time.perf_counter()
            await v.place_order(OrderRequest("ETH", "buy", size, "limit", price=price))
            times.append(time.perf_counter() - began)
        elapsed = time.perf_counter() - start
        await v.cancel_all("ETH")
        return times, orders / elapsed


def sdk_size(detail: lighter.OrderBookDetail, price_units: int) -> int:
    """Twice the smallest size (in units) the market takes at `price_units`: its minimum size,
    or what its minimum notional needs at that price, whichever is more."""
    price = Decimal(price_units).scaleb(-detail.price_decimals)
    by_notional = Decimal(detail.min_quote_amount) / price
    least = max(Decimal(detail.min_base_amount), by_notional).scaleb(detail.size_decimals)
    return int(least.to_integral_value(rounding="ROUND_CEILING")) * 2


async def sdk_round_trips(url: str, key: str, orders: int) -> tuple[list[float], list[float]]:
    client = lighter.SignerClient(url, 1, {3: key})
    try:
        api = lighter.OrderApi(client.api_client)
        details = await api.order_book_details(market_id=0)
        detail = details.order_book_details[0]
        best = await api.order_book_orders(market_id=0, limit=1)
        bid = Decimal(best.bids[0].price)
        price = int(bid * Decimal("0.5") * 10**detail.price_decimals)
        size = sdk_size(detail, price)
        times: list[float] = []
        for index in range(orders):
            began = time.perf_counter()
            _, _, error = await client.create_order(
                0,
                10_000 + index,
                size,
                price,
                False,
                client.ORDER_TYPE_LIMIT,
                client.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME,
            )
            times.append(time.perf_counter() - began)
            assert error is None, error
        signing: list[float] = []
        for index in range(orders):
            began = time.perf_counter()
            client.sign_create_order(
                0, 50_000 + index, size, price, 0, 0, 1, False, 0, -1, nonce=index, api_key_index=3
            )
            signing.append(time.perf_counter() - began)
        await client.cancel_all_orders(client.CANCEL_ALL_TIF_IMMEDIATE, 0)
        return times, signing
    finally:
        await client.close()


# --- the rate budget ---------------------------------------------------------------------------


class Spent:
    """Requests and weight of one order kind, per order: the limiter's count and the sim's."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.venue_requests = 0
        self.venue_weight = 0
        self.orders = 0

    def per_order(self) -> Counter[str]:
        return Counter({name: count / self.orders for name, count in self.requests.items()})


async def sim_counts(url: str) -> tuple[int, int]:
    """The (requests, weight) the sim has counted against its rate limits so far."""
    async with aiohttp.ClientSession() as http, http.get(f"{url}/admin/state") as response:
        limits = (await response.json())["rate_limits"]
    return limits["counted"], limits["weight"]


async def admin_post(url: str, path: str, body: dict[str, object]) -> None:
    async with aiohttp.ClientSession() as http, http.post(f"{url}{path}", json=body) as response:
        assert response.status == 200, await response.text()


async def budget_per_kind(url: str, key: str, repeats: int) -> dict[str, Spent]:
    """Each order kind placed `repeats` times on a sim enforcing premium limits, counted."""
    spent: dict[str, Spent] = {}
    async with LighterVenue(
        "sim",
        url=url,
        account_index=1,
        api_key_index=2,
        private_key=key,
        tier="premium",
        rate_window_s=BUDGET_WINDOW_S,
    ) as venue:
        market = await venue.market("ETH")
        book = await venue.order_book("ETH")
        assert book.best_bid is not None and book.best_ask is not None
        low = (book.best_bid * Decimal("0.5")).quantize(market.price_step)
        size = max(market.min_base_amount, (Decimal(20) / low).quantize(market.size_step)) * 2

        async def count(kind: str, action: Callable[[], Awaitable[object]]) -> object:
            before = await sim_counts(url)
            venue.limiter.reset_counts()
            result = await action()
            after = await sim_counts(url)
            one = spent.setdefault(kind, Spent())
            one.requests += venue.limiter.sent
            one.venue_requests += after[0] - before[0]
            one.venue_weight += after[1] - before[1]
            one.orders += 1
            return result

        def market_order(side: str, reduce_only: bool = False) -> OrderRequest:
            return OrderRequest("ETH", side, size, "market", reduce_only=reduce_only)  # type: ignore[arg-type]

        await venue.place_order(OrderRequest("ETH", "buy", size, "limit", price=low))  # a nonce
        await venue.cancel_all("ETH")
        stop = (book.best_bid * Decimal("0.8")).quantize(market.price_step)
        target = (book.best_ask * Decimal("1.2")).quantize(market.price_step)
        posted = OrderRequest("ETH", "buy", size, "limit", price=low, time_in_force="post_only")
        lower = low - market.price_step

        async def pair() -> None:
            for kind, trigger in (("stop_loss", stop), ("take_profit", target)):
                await venue.place_order(
                    OrderRequest("ETH", "sell", size, kind, trigger_price=trigger, reduce_only=True)
                )

        for _ in range(repeats):
            await count("market", partial(venue.place_order, market_order("buy")))
            await count("protective pair", pair)
            await venue.cancel_all("ETH")
            await venue.place_order(market_order("sell", reduce_only=True))
            ack = await count("post-only", partial(venue.place_order, posted))
            index = ack.order_index  # type: ignore[attr-defined]
            assert index is not None
            moved = partial(venue.modify_order, "ETH", index, size=size, price=lower)
            await count("modify", moved)
            await count("cancel", partial(venue.cancel_order, "ETH", index))
            await admin_post(
                url,
                "/admin/faults/server-error",
                {"count": 1, "path": "/api/v1/sendTx", "after_apply": True},
            )
            await count("market, answer lost", partial(venue.place_order, market_order("buy")))
            await venue.place_order(market_order("sell", reduce_only=True))
    return spent


async def sdk_budget(url: str, key: str, repeats: int) -> Spent:
    """lighter-sdk's own `create_order` (its nonce manager, no confirmation), counted by the
    sim: the least an order can cost."""
    client = lighter.SignerClient(url, 1, {4: key})
    spent = Spent()
    try:
        api = lighter.OrderApi(client.api_client)
        detail = (await api.order_book_details(market_id=0)).order_book_details[0]
        best = await api.order_book_orders(market_id=0, limit=1)
        price = int(Decimal(best.bids[0].price) * Decimal("0.5") * 10**detail.price_decimals)
        size = sdk_size(detail, price)
        await client.create_order(0, 90_000, size, price, False, 0, 1)  # its nonce manager warm
        for index in range(repeats):
            before = await sim_counts(url)
            _, _, error = await client.create_order(0, 90_001 + index, size, price, False, 0, 1)
            assert error is None, error
            after = await sim_counts(url)
            spent.venue_requests += after[0] - before[0]
            spent.venue_weight += after[1] - before[1]
            spent.orders += 1
        spent.requests = Counter({"sendTx": spent.venue_requests})
        await client.cancel_all_orders(client.CANCEL_ALL_TIF_IMMEDIATE, 0)
    finally:
        await client.close()
    return spent


def budget_table(spent: dict[str, Spent], sdk: Spent) -> Table:
    table = Table(title="rate budget per order (rulebot sim with premium limits)")
    for column in ("order kind", "requests", "weight", "sim counted", "standard/min",
                   "premium/min", "weight vs sdk", "requests per order"):  # fmt: skip
        table.add_column(column, justify="left" if column == "order kind" else "right")
    standard, premium = RateBudget("standard"), RateBudget("premium")
    sdk_weight = sdk.venue_weight / sdk.orders
    rows = {**spent, "lighter-sdk create_order": sdk}
    for kind, one in rows.items():
        per = one.per_order()
        requests = sum(per.values())
        weighed = sum(weight(name) * count for name, count in per.items())
        by_sim = f"{one.venue_requests / one.orders:.1f} / {one.venue_weight / one.orders:,.0f}"
        table.add_row(
            kind,
            f"{requests:.1f}",
            f"{weighed:,.0f}",
            by_sim,
            f"{standard.per_window(per):.1f}",
            f"{premium.per_window(per):.1f}",
            f"{weighed / sdk_weight:.0f}x",
            " + ".join(f"{count:g} {name}" for name, count in sorted(per.items())),
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=10, help="orders of each kind counted")
    args = parser.parse_args()
    port = free_port()
    process = start_sim(port)
    url = f"http://127.0.0.1:{port}"
    key = lighter.signer_client.create_api_key()[0]
    try:
        sdk, signing = asyncio.run(sdk_round_trips(url, key, args.orders))
        adapter, rate = asyncio.run(adapter_round_trips(url, key, args.orders))
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
    port = free_port()
    window = ("--tier", "premium", "--rate-window", str(BUDGET_WINDOW_S))
    process = start_sim(port, *window)
    url = f"http://127.0.0.1:{port}"
    try:
        sdk_spent = asyncio.run(sdk_budget(url, key, args.repeats))
        spent = asyncio.run(budget_per_kind(url, key, args.repeats))
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)

    ms = 1000.0
    table = Table(title=f"create-order round trips against rulebot sim ({args.orders} orders)")
    for column in ("path", "median", "p99", "orders/s", "vs lighter-sdk"):
        table.add_column(column, justify="right" if column != "path" else "left")
    sdk_median, adapter_median = statistics.median(sdk), statistics.median(adapter)
    table.add_row(
        "LighterVenue.place_order",
        f"{adapter_median * ms:.2f} ms",
        f"{percentile(adapter, 0.99) * ms:.2f} ms",
        f"{rate:,.0f}",
        f"{adapter_median / sdk_median:.2f}x",
    )
    table.add_row(
        "SignerClient.create_order",
        f"{sdk_median * ms:.2f} ms",
        f"{percentile(sdk, 0.99) * ms:.2f} ms",
        f"{1 / statistics.mean(sdk):,.0f}",
        "1.00x",
    )
    sign = statistics.median(signing)
    table.add_row("sign_create_order alone", f"{sign * ms:.3f} ms", "", "", "")
    console = Console(width=160)
    console.print(table)
    console.print(
        f"signing is {sign / adapter_median:.1%} of the adapter's round trip "
        f"({sign / sdk_median:.1%} of the SDK's). The sim runs in its own process on loopback; "
        "the adapter reads the market once, then signs with an explicit nonce and sends."
    )
    console.print(budget_table(spent, sdk_spent))
    console.print(
        f"Orders a minute: how many of one kind fit in the venue's rolling minute on its own "
        f"({CAPACITY:,} weight; a standard request costs at least {CAPACITY // 60}); entries "
        "may fill 90% of it, so a burst of entries gets 0.9 of that figure. "
        "`requests`/`weight` as the adapter's limiter counted them, `sim counted` as the sim "
        "did on arrival; the baseline sends one sendTx and never learns the order's fate."
    )


if __name__ == "__main__":
    main()

"""The paper venue on live data from the real sim, read through the real lighter-sdk.

Every test drives a paused sim (its replay moved one path point at a time), reads its books and
trades through `LighterVenue`, feeds the trades to the paper venue as the runtime does, and ends
by checking that the sim received no transaction at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import pytest

from rulebot.venues.lighter.errors import OrderNotFound, OrderRejected
from rulebot.venues.lighter.events import TradesPrinted
from rulebot.venues.lighter.records import OrderBookSnapshot, OrderRequest, Trade
from rulebot.venues.lighter.stream import MarketStream
from rulebot.venues.paper import PaperVenue, market_data_venue
from rulebot.venues.paper_book import MARKET_ACCOUNT, UNLIMITED, LastTrade, Liquidity
from rulebot.venues.sim.serving import RunningSim, serve_sim
from rulebot.venues.sim.settings import SimSettings

ACCOUNT = 7  # the paper account's index: the sim has no such account
COLLATERAL = Decimal(1_000_000)
SIZE = Decimal(200)  # ETH trades in steps of 0.0001; its minimum notional takes about 110
MAX_STEPS = 200  # replay points to wait for a price the shipped candles reach much sooner


@pytest.fixture
async def market_sim() -> AsyncIterator[RunningSim]:
    async with serve_sim(SimSettings(speed=0)) as running:
        yield running


@pytest.fixture
async def paper(market_sim: RunningSim) -> AsyncIterator[PaperVenue]:
    data = market_data_venue("sim", url=market_sim.url)
    async with PaperVenue(data, collateral=COLLATERAL, account_index=ACCOUNT) as venue:
        yield venue


def assert_nothing_sent(sim: RunningSim, paper: PaperVenue) -> None:
    assert sim.simulation.transaction_log(include_refused=True) == []
    assert sim.simulation.state()["transactions"] == 0
    assert paper.transactions_sent == 0


async def step(sim: RunningSim, paper: PaperVenue, fed: list[Trade]) -> list[Trade]:
    """Move the replay one point and feed the paper venue the market's new trades (read from
    the sim over REST); returns them, and appends them to `fed`."""
    sim.simulation.advance(1)
    last = fed[-1].trade_id if fed else -1
    new = sorted(
        (t for t in await paper.recent_trades("ETH", 100) if t.trade_id > last),
        key=lambda t: t.trade_id,
    )
    await paper.on_market_trades("ETH", new)
    fed.extend(new)
    return new


async def last_price(paper: PaperVenue) -> Decimal:
    (latest,) = await paper.recent_trades("ETH", 1)
    return latest.price


async def printed_so_far(paper: PaperVenue) -> list[Trade]:
    """The market's trades until now: history, which fills or triggers nothing placed after."""
    return sorted(await paper.recent_trades("ETH", 100), key=lambda t: t.trade_id)


async def buy_at_market(paper: PaperVenue, size: Decimal = SIZE) -> list[Trade]:
    ack = await paper.place_order(OrderRequest("ETH", "buy", size, kind="market"))
    assert ack.status == "filled"
    return paper.take_fills()


def quote(trades: list[Trade]) -> Decimal:
    return sum((t.price * t.size for t in trades), Decimal(0))


async def test_a_market_order_walks_the_books_levels_and_pays_the_taker_fee(market_sim, paper):
    info = await paper.market("ETH")
    book = await paper.order_book("ETH", 250)
    first, second = book.asks[0], book.asks[1]
    size = first.size + 1000

    ack = await paper.place_order(OrderRequest("ETH", "buy", size, kind="market"))

    assert (ack.status, ack.filled, ack.tx_hash, ack.nonce) == ("filled", size, "", -1)
    assert ack.price == (first.price * Decimal("1.01")).quantize(info.price_step, "ROUND_FLOOR")
    fills = paper.take_fills()
    assert [(f.price, f.size) for f in fills] == [(first.price, first.size), (second.price, 1000)]
    for fill in fills:
        assert (fill.buyer_account, fill.seller_account) == (ACCOUNT, MARKET_ACCOUNT)
        assert fill.buy_client_order_index == ack.client_order_index
        assert fill.buy_order_index == ack.order_index
        assert fill.taker_side == "buy"
    fees = quote(fills) * info.taker_fee
    account = await paper.account()
    assert account.collateral == COLLATERAL - fees
    (position,) = account.positions
    assert position.size == size
    with localcontext() as exact:
        exact.prec = 100
        entry = (quote(fills) / size).quantize(Decimal("1e-12"), ROUND_HALF_EVEN)
    assert position.entry_price == entry
    # marked at the last price, which is our own last fill
    assert account.equity == COLLATERAL - fees + size * second.price - quote(fills)
    assert paper.take_fills() == []
    assert_nothing_sent(market_sim, paper)


async def test_a_market_order_stops_at_its_worst_price(market_sim, paper):
    book = await paper.order_book("ETH", 250)
    first = book.asks[0]
    request = OrderRequest("ETH", "buy", first.size + 1000, kind="market", max_slippage=Decimal(0))
    ack = await paper.place_order(request)
    assert (ack.status, ack.filled) == ("canceled-too-much-slippage", first.size)
    assert [(f.price, f.size) for f in paper.take_fills()] == [(first.price, first.size)]
    assert_nothing_sent(market_sim, paper)


async def test_a_limit_order_rests_then_fills_on_later_trades_at_or_through_it(market_sim, paper):
    info = await paper.market("ETH")
    limit = await last_price(paper)
    ack = await paper.place_order(OrderRequest("ETH", "buy", SIZE, price=limit))
    assert (ack.status, ack.filled) == ("open", 0)
    assert paper.take_fills() == []
    (resting,) = await paper.open_orders("ETH")
    assert (resting.price, resting.remaining, resting.time_in_force) == (
        limit,
        SIZE,
        "good-till-time",
    )

    fed = await printed_so_far(paper)
    expected: list[tuple[Decimal, Decimal]] = []
    remaining = SIZE
    for _ in range(MAX_STEPS):
        new = await step(market_sim, paper, fed)
        for trade in new:
            if trade.price <= limit and remaining:
                take = min(remaining, trade.size)  # a fill never exceeds what traded
                expected.append((limit, take))
                remaining -= take
        await paper.on_market_trades("ETH", new)  # given twice: counted once
        if remaining == 0:
            break
    assert remaining == 0, "the replay never traded at or below the limit"
    assert len(expected) > 1  # the prints are smaller than the order: it filled in parts

    fills = paper.take_fills()
    assert [(f.price, f.size) for f in fills] == expected
    assert all(f.taker_side == "sell" and f.buyer_account == ACCOUNT for f in fills)
    assert all(f.buy_client_order_index == ack.client_order_index for f in fills)
    order = await paper.find_order("ETH", ack.client_order_index)
    assert order is not None
    assert (order.status, order.filled, order.filled_quote) == ("filled", SIZE, limit * SIZE)
    account = await paper.account()
    assert account.collateral == COLLATERAL - limit * SIZE * info.maker_fee
    assert account.positions[0].entry_price == limit
    assert await paper.open_orders() == []
    assert [o.client_order_index for o in await paper.order_history()] == [ack.client_order_index]
    assert_nothing_sent(market_sim, paper)


async def test_the_fills_come_from_the_markets_stream_as_the_runtime_feeds_them(market_sim, paper):
    limit = await last_price(paper)
    ack = await paper.place_order(OrderRequest("ETH", "buy", SIZE, price=limit))
    async with MarketStream(paper, trades=["ETH"]) as stream:
        await asyncio.wait_for(stream.connected.wait(), 5)
        filled = Decimal(0)
        for _ in range(MAX_STEPS):
            market_sim.simulation.advance(1)
            event = await stream.next_event(timeout=5)
            while not isinstance(event, TradesPrinted):
                event = await stream.next_event(timeout=5)
            await paper.on_market_trades(event.market, event.trades)
            filled += sum((f.size for f in paper.take_fills()), Decimal(0))
            if filled == SIZE:
                break
    assert filled == SIZE
    order = await paper.find_order("ETH", ack.client_order_index)
    assert order is not None and order.status == "filled"
    assert_nothing_sent(market_sim, paper)


async def test_a_crossing_limit_order_takes_at_once_and_a_post_only_one_is_cancelled(
    market_sim, paper
):
    info = await paper.market("ETH")
    best_ask = (await paper.order_book("ETH")).best_ask
    assert best_ask is not None

    with pytest.raises(OrderRejected, match="post-only"):
        await paper.place_order(
            OrderRequest("ETH", "buy", SIZE, price=best_ask, time_in_force="post_only")
        )
    assert paper.take_fills() == []
    (cancelled,) = await paper.order_history()
    assert cancelled.status == "canceled-post-only"

    ioc = await paper.place_order(
        OrderRequest("ETH", "buy", SIZE, price=best_ask - info.price_step, time_in_force="ioc")
    )
    assert (ioc.status, ioc.filled) == ("canceled", 0)

    ack = await paper.place_order(OrderRequest("ETH", "buy", SIZE, price=best_ask))
    assert (ack.status, ack.filled) == ("filled", SIZE)
    (fill,) = paper.take_fills()
    assert (fill.price, fill.size, fill.taker_side) == (best_ask, SIZE, "buy")
    account = await paper.account()
    assert account.collateral == COLLATERAL - best_ask * SIZE * info.taker_fee
    assert_nothing_sent(market_sim, paper)


@pytest.mark.parametrize(
    ("opening", "kind", "rises"),
    [
        ("buy", "stop_loss", False),  # a sell stop fires at or below its trigger
        ("buy", "take_profit", True),  # a sell target at or above
        ("sell", "stop_loss", True),  # a buy stop at or above
        ("sell", "take_profit", False),  # a buy target at or below
    ],
)
async def test_stops_and_targets_fire_on_a_later_trade_and_fill_at_the_book(
    market_sim, paper, opening, kind, rises
):
    info = await paper.market("ETH")
    await paper.place_order(OrderRequest("ETH", opening, SIZE, kind="market"))
    (entry,) = paper.take_fills()
    closing = "sell" if opening == "buy" else "buy"
    start = await last_price(paper)
    move = Decimal("1.001") if rises else Decimal("0.999")  # a few replay points away
    trigger = (start * move).quantize(info.price_step)
    ack = await paper.place_order(
        OrderRequest("ETH", closing, SIZE, kind=kind, trigger_price=trigger, reduce_only=True)
    )
    assert ack.status == "pending"

    fed = await printed_so_far(paper)
    waited = 0
    for _ in range(MAX_STEPS):
        new = await step(market_sim, paper, fed)
        fires = [t for t in new if (t.price >= trigger if rises else t.price <= trigger)]
        fills = paper.take_fills()
        if not fires:
            assert fills == []
            (waiting,) = await paper.open_orders("ETH")
            assert waiting.status == "pending"
            waited += 1
            continue
        book = await paper.order_book("ETH")  # the paused sim's book, as the stop met it
        best = book.best_bid if closing == "sell" else book.best_ask
        assert [(f.price, f.size, f.taker_side) for f in fills] == [(best, SIZE, closing)]
        break
    else:
        pytest.fail("the replay never reached the trigger")
    assert waited > 0  # the trades before did not reach it

    order = await paper.find_order("ETH", ack.client_order_index)
    assert order is not None
    assert (order.status, order.kind, order.trigger_price) == (
        "filled",
        kind.replace("_", "-"),
        trigger,
    )
    account = await paper.account()
    assert account.positions == ()
    gross = (best - entry.price) * SIZE if opening == "buy" else (entry.price - best) * SIZE
    fees = (entry.price + best) * SIZE * info.taker_fee
    assert account.collateral == account.equity == COLLATERAL + gross - fees
    assert_nothing_sent(market_sim, paper)


async def test_a_stop_already_through_its_trigger_fires_at_once(market_sim, paper):
    info = await paper.market("ETH")
    await buy_at_market(paper)
    trigger = await last_price(paper) + 10 * info.price_step  # a sell stop above the price
    ack = await paper.place_order(
        OrderRequest("ETH", "sell", SIZE, kind="stop_loss", trigger_price=trigger)
    )
    assert (ack.status, ack.filled) == ("filled", SIZE)
    (fill,) = paper.take_fills()
    assert fill.price == (await paper.order_book("ETH")).best_bid
    assert_nothing_sent(market_sim, paper)


async def test_reduce_only_orders_never_add_to_the_position(market_sim, paper):
    with pytest.raises(OrderRejected, match="no position to reduce"):
        await paper.place_order(OrderRequest("ETH", "sell", SIZE, kind="market", reduce_only=True))
    refused = await paper.place_order(
        OrderRequest("ETH", "sell", SIZE, kind="market", reduce_only=True), confirm=False
    )
    assert (refused.status, refused.filled) == ("canceled-reduce-only", 0)
    assert paper.take_fills() == []

    await buy_at_market(paper)
    cut = await paper.place_order(
        OrderRequest("ETH", "sell", 3 * SIZE, kind="market", reduce_only=True)
    )
    assert (cut.status, cut.filled) == ("filled", SIZE)
    assert [f.size for f in paper.take_fills()] == [SIZE]
    assert (await paper.account()).positions == ()

    await buy_at_market(paper)
    stop = await paper.place_order(
        OrderRequest(
            "ETH",
            "sell",
            SIZE,
            kind="stop_loss",
            trigger_price=await last_price(paper) * Decimal("0.9"),
            reduce_only=True,
        )
    )
    await paper.place_order(OrderRequest("ETH", "sell", SIZE, kind="market"))
    order = await paper.find_order("ETH", stop.client_order_index)
    assert order is not None and order.status == "canceled-reduce-only"
    assert await paper.open_orders() == []
    assert_nothing_sent(market_sim, paper)


async def test_equity_is_exact_through_adding_reducing_and_flipping(market_sim, paper):
    info = await paper.market("ETH")
    fills = await buy_at_market(paper)
    fills += await buy_at_market(paper, 2 * SIZE)
    held, cost = 3 * SIZE, quote(fills)
    fees = cost * info.taker_fee

    fed = await printed_so_far(paper)
    for _ in range(3):
        await step(market_sim, paper, fed)
    mark = fed[-1].price
    account = await paper.account()
    (position,) = account.positions
    assert (position.size, position.entry_price) == (held, cost / held)
    assert position.unrealized_pnl == held * mark - cost
    assert account.equity == COLLATERAL - fees + held * mark - cost

    ack = await paper.place_order(OrderRequest("ETH", "sell", 5 * SIZE, kind="market"))
    sold = paper.take_fills()
    assert ack.status == "filled" and sum(f.size for f in sold) == 5 * SIZE
    (exit_price,) = {f.price for f in sold}
    fees += quote(sold) * info.taker_fee
    realized = held * exit_price - cost  # the whole long closed, then 2 * SIZE short opened
    account = await paper.account()
    (position,) = account.positions
    assert (position.size, position.entry_price) == (-2 * SIZE, exit_price)
    assert position.realized_pnl == realized
    assert account.collateral == COLLATERAL + realized - fees
    assert account.equity == account.collateral  # marked at our own last fill
    assert_nothing_sent(market_sim, paper)


async def test_modify_cancel_and_cancel_all(market_sim, paper):
    info = await paper.market("ETH")
    low = (await last_price(paper)) * Decimal("0.9")
    first = await paper.place_order(OrderRequest("ETH", "buy", SIZE, price=low))
    second = await paper.place_order(OrderRequest("ETH", "buy", SIZE, price=low))
    third = await paper.place_order(OrderRequest("ETH", "buy", SIZE, price=low))
    assert len(await paper.open_orders("ETH")) == 3

    with pytest.raises(OrderRejected) as duplicate:
        await paper.place_order(
            OrderRequest("ETH", "buy", SIZE, price=low, client_order_index=first.client_order_index)
        )
    assert duplicate.value.code == 21728

    assert first.order_index is not None
    best_ask = (await paper.order_book("ETH")).best_ask
    assert best_ask is not None
    await paper.modify_order("ETH", first.order_index, size=2 * SIZE, price=best_ask)
    (fill,) = paper.take_fills()
    assert (fill.price, fill.size, fill.taker_side) == (best_ask, 2 * SIZE, "buy")

    assert second.order_index is not None
    await paper.cancel_order("ETH", second.order_index)
    with pytest.raises(OrderRejected) as inactive:
        await paper.cancel_order("ETH", second.order_index)
    assert inactive.value.code == 21600
    with pytest.raises(OrderNotFound):
        await paper.modify_order("ETH", second.order_index, size=SIZE, price=low)

    await paper.cancel_all("ETH")
    assert await paper.open_orders() == []
    history = await paper.order_history("ETH")
    assert [(o.client_order_index, o.status) for o in history] == [
        (third.client_order_index, "canceled"),
        (second.client_order_index, "canceled"),
        (first.client_order_index, "filled"),
    ]
    account = await paper.account()
    assert account.positions[0].size == 2 * SIZE
    assert account.collateral == COLLATERAL - best_ask * 2 * SIZE * info.taker_fee
    assert await paper.find_order("ETH", 12345) is None
    found = await paper.find_orders([first.client_order_index, third.client_order_index, 12345])
    assert {i: o.status for i, o in found.items()} == {
        first.client_order_index: "filled",
        third.client_order_index: "canceled",
    }  # as the Lighter venue's look-up by client order index
    assert_nothing_sent(market_sim, paper)


async def test_orders_are_checked_and_rounded_as_the_lighter_venue_does(market_sim, paper):
    info = await paper.market("ETH")
    with pytest.raises(OrderRejected, match="below the market's minimum"):
        below = info.min_base_amount - info.size_step
        await paper.place_order(OrderRequest("ETH", "buy", below, price=1))
    with pytest.raises(OrderRejected, match="unknown market"):
        await paper.place_order(OrderRequest("ETHH", "buy", SIZE, kind="market"))
    price = await last_price(paper)
    fine = price * Decimal("0.9") + info.price_step / 3  # between two steps
    size = SIZE + info.size_step * Decimal("0.9")  # between two steps too
    buy = await paper.place_order(OrderRequest("ETH", "buy", size, price=fine))
    assert (buy.size, buy.price) == (SIZE, fine - info.price_step / 3)  # down, and down
    fine = price * Decimal("1.1") + info.price_step / 3
    sell = await paper.place_order(OrderRequest("ETH", "sell", SIZE, price=fine))
    assert sell.price == fine - info.price_step / 3 + info.price_step  # a sell's goes up
    assert_nothing_sent(market_sim, paper)


async def test_reads_pass_through_and_the_repr_shows_no_key(market_sim, paper):
    data = paper.data
    assert await paper.markets() == await data.markets()
    assert await paper.recent_trades("ETH", 5) == await data.recent_trades("ETH", 5)
    (latest,) = await paper.recent_trades("ETH", 1)
    start = latest.time_ms - 60 * 60_000
    candles = await paper.candles("ETH", "5m", start, latest.time_ms)
    assert candles and candles == await data.candles("ETH", "5m", start, latest.time_ms)
    secret = data._private_key.get_secret_value()
    shown = repr(paper)
    assert secret not in shown and "transactions_sent=0" in shown and "PaperVenue(" in shown
    assert_nothing_sent(market_sim, paper)


async def test_with_no_opposite_level_a_market_order_trades_at_the_last_price(paper):
    info = await paper.market("ETH")
    empty = OrderBookSnapshot("ETH", bids=(), asks=())
    last = LastTrade(trade_id=9, price=Decimal("0.0947990"), time_ms=0)
    liquidity = Liquidity.facing(empty, "buy", info, last)
    assert liquidity.best(market_like=True) == (947990, UNLIMITED)
    assert liquidity.best(market_like=False) is None  # a limit order rests instead
    assert Liquidity.facing(empty, "sell", info, None).best(market_like=True) is None


def test_collateral_is_a_non_negative_amount():
    data = market_data_venue("sim", url="http://127.0.0.1:9")
    with pytest.raises(ValueError, match="0 or more"):
        PaperVenue(data, collateral=-1)
    with pytest.raises(ValueError, match="not a number"):
        PaperVenue(data, collateral="lots")
    assert PaperVenue(data, collateral="2500.50").account_index == 0


async def test_a_stop_entry_from_flat_fires_on_a_later_trade_and_opens_a_position(
    market_sim, paper
):
    """A resting stop entry (`entry long stop at ...`): a buy stop that is not reduce-only,
    placed with no position, waits for a trade at or above its trigger, then buys at the book."""
    info = await paper.market("ETH")
    trigger = info.entry_level(await last_price(paper) * Decimal("1.001"), "buy", "stop")
    ack = await paper.place_order(
        OrderRequest("ETH", "buy", SIZE, kind="stop_loss", trigger_price=trigger)
    )
    assert ack.status == "pending" and (await paper.account()).positions == ()
    fed = await printed_so_far(paper)
    for _ in range(MAX_STEPS):
        new = await step(market_sim, paper, fed)
        fills = paper.take_fills()
        if not any(t.price >= trigger for t in new):
            assert fills == []
            continue
        book = await paper.order_book("ETH")
        assert [(f.price, f.size, f.taker_side) for f in fills] == [(book.best_ask, SIZE, "buy")]
        break
    else:
        pytest.fail("the replay never reached the trigger")
    (position,) = (await paper.account()).positions
    assert position.size == SIZE  # it opened a long: not cut as a reduce-only order would be
    assert_nothing_sent(market_sim, paper)

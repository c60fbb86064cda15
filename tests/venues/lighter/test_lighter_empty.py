"""Empty results through the adapter, against the sim that answers them as the venue does: a list
with nothing in it comes as `null` (or no key), and the adapter reads it as empty, never as a
crash. Each test first checks the sim's raw answer really is the venue's empty shape."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from rulebot.venues.lighter.errors import OrderRejected
from rulebot.venues.lighter.records import OrderRequest
from rulebot.venues.sim.records import AccountSettings
from rulebot.venues.sim.serving import RunningSim
from tests.venues.conftest import MakeSigner, MakeSim
from tests.venues.lighter.conftest import API_KEY, MakeVenue

BTC = 1
DAY_MS = 86_400_000
SHIPPED_XRP = Path(__file__).parents[3] / "rulebot" / "data" / "candles" / "xrp_usdt_perp_5m.csv"


async def raw(sim: RunningSim, path: str, token: str | None = None) -> dict[str, Any]:
    """The sim's answer to `GET /api/v1/{path}`, as JSON."""
    headers = {"Authorization": token} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{sim.url}/api/v1/{path}", headers=headers) as response,
    ):
        assert response.status == 200, await response.text()
        body = await response.json()
    assert isinstance(body, dict)
    return body


async def test_a_window_without_candles_or_fundings_is_empty(
    sim: RunningSim, make_venue: MakeVenue
) -> None:
    venue = await make_venue(sim)
    first = sim.simulation.replay.start_ms - 400 * DAY_MS  # long before the replayed history
    window = f"market_id={BTC}&start_timestamp={first}&end_timestamp={first + DAY_MS}"
    candles = await raw(sim, f"candles?{window}&resolution=5m&count_back=10")
    fundings = await raw(sim, f"fundings?{window}&resolution=1h&count_back=10")
    assert (candles["c"], fundings["fundings"]) == (None, None)

    assert await venue.candles("BTC", "5m", first, first + DAY_MS) == []
    assert await venue.fundings("BTC", first, first + DAY_MS) == []
    now = sim.simulation.now_ms()
    assert await venue.candles("BTC", "5m", now - DAY_MS, now)  # the same calls, with bars


async def test_a_bar_without_trades_has_volume_zero(
    make_sim: MakeSim, make_venue: MakeVenue, tmp_path: Path
) -> None:
    """XRP's shipped candles with no volume at all: the sim leaves `v` and `V` out of every bar,
    as the venue does for a minute without trades, and the adapter reads them as 0."""
    rows = SHIPPED_XRP.read_text(encoding="utf-8").splitlines()
    quiet = tmp_path / "xrp_quiet.csv"
    quiet.write_text(
        "\n".join([rows[0], *(row.rsplit(",", 1)[0] + ",0" for row in rows[1:])]) + "\n"
    )
    sim = await make_sim(data=(f"XRP={quiet}",))
    venue = await make_venue(sim)
    now = sim.simulation.now_ms()
    answer = await raw(
        sim,
        f"candles?market_id=0&resolution=5m&start_timestamp={now - DAY_MS}"
        f"&end_timestamp={now}&count_back=10",
    )
    assert answer["c"] and all(not {"v", "V"} & bar.keys() for bar in answer["c"])
    candles = await venue.candles("XRP", "5m", now - DAY_MS, now)
    assert len(candles) > 10
    assert {(c.volume, c.quote_volume) for c in candles} == {(Decimal(0), Decimal(0))}
    assert all(c.low <= c.close <= c.high for c in candles)


async def test_an_account_without_trades_has_none(
    sim: RunningSim, make_venue: MakeVenue, make_signer: MakeSigner
) -> None:
    venue = await make_venue(sim)
    token, error = make_signer(sim, 1, API_KEY).create_auth_token_with_expiry(api_key_index=API_KEY)
    assert error is None and token
    answer = await raw(sim, "trades?account_index=1&limit=10&sort_by=timestamp", token)
    assert answer["trades"] is None
    assert await venue.account_trades() == []

    await venue.place_order(OrderRequest("BTC", "buy", Decimal("0.001"), "market"))
    (fill,) = await venue.account_trades()
    assert fill.buyer_account == 1


async def test_recent_trades_come_newest_first(sim: RunningSim, make_venue: MakeVenue) -> None:
    venue = await make_venue(sim)
    sim.simulation.advance(bars=3)
    await venue.place_order(OrderRequest("BTC", "sell", Decimal("0.001"), "market"))
    trades = await venue.recent_trades("BTC")
    assert len(trades) > 1
    assert [t.trade_id for t in trades] == sorted((t.trade_id for t in trades), reverse=True)
    assert trades[0].seller_account == 1  # ours was the last


@pytest.fixture
async def deep_pockets(make_sim: MakeSim) -> RunningSim:
    """A sim whose account 1 can take a whole side of the market maker's ladder."""
    return await make_sim(accounts=(AccountSettings(1, collateral=Decimal(10**9)),))


async def test_a_book_side_with_nothing_left_is_empty(
    deep_pockets: RunningSim, make_venue: MakeVenue
) -> None:
    sim = deep_pockets
    venue = await make_venue(sim)
    book = await venue.order_book("BTC", depth=250)
    everything = sum((level.size for level in book.asks), Decimal(0))
    taken = await venue.place_order(
        OrderRequest("BTC", "buy", everything, "market", max_slippage=Decimal("0.2"))
    )
    assert taken.filled == everything

    answer = await raw(sim, f"orderBookOrders?market_id={BTC}&limit=5")
    assert (answer["asks"], answer["total_asks"]) == (None, 0)
    assert answer["bids"]
    after = await venue.order_book("BTC")
    assert after.asks == () and after.best_ask is None
    assert after.best_bid == book.best_bid
    with pytest.raises(OrderRejected, match="no asks to trade with"):
        await venue.place_order(OrderRequest("BTC", "buy", Decimal("0.001"), "market"))

"""The sim's REST answers have the keys and kinds of value of the venue's own (`captures/http_*`),
empty ones included: a list with nothing in it is `null` or left out, as the venue sends it.

Each capture is paired with the sim's answer to the same endpoint over real HTTP. Every key the
venue sent must be in the sim's answer with the same kind of value (null, bool, whole number,
string, list, object; any number where the SDK's model takes a float), at every depth; a key the
sim sends that the capture lacks must be a field of the SDK's model (a newer field the capture
predates), never one of the sim's own. The only key the sim may leave out is one the venue leaves
out when it is zero (`wire.OMITTED_WHEN_ZERO`: the sim's replayed bars carry no trade id).
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import lighter
from pydantic import BaseModel

from rulebot.venues.lighter.client import LighterVenue
from rulebot.venues.lighter.records import OrderRequest
from rulebot.venues.sim import wire
from rulebot.venues.sim.serving import RunningSim
from tests.venues.conftest import MakeSigner

CAPTURES = Path(__file__).parent / "captures"
BTC = 1
XRP = 5  # a shipped market with funding
ACCOUNT, API_KEY = 1, 3  # the account trades BTC only: none on XRP
DAY_MS = 86_400_000

NO_SIM_ENDPOINT = {
    "http_order_book_depth": "price levels with offset and nonce: no REST model of the SDK's",
    "http_order_book_depth_null": "the same shape, empty",
    "http_recent_trades_missing": "every sim market has printed a trade by the time it serves",
}
"""Captures no sim endpoint answers, and why (the stream's books take the depth shape)."""


@dataclass(frozen=True)
class Pair:
    """A capture and the sim's request for the same endpoint's answer."""

    capture: str
    path: str
    model: type[BaseModel]
    private: bool = False


def pairs(now: int) -> list[Pair]:
    """Every capture a sim endpoint answers: the full ones and the empty ones."""
    series = f"resolution=5m&start_timestamp={now - DAY_MS}&end_timestamp={now}&count_back=5"
    before = "start_timestamp=1000&end_timestamp=2000&count_back=5"  # long before the replay
    account = f"account_index={ACCOUNT}"
    book = f"market_id={BTC}&limit=3"
    funding = f"start_timestamp={now - 30 * DAY_MS}&end_timestamp={now}&count_back=5"
    return [
        Pair("http_order_book_details", "orderBookDetails", lighter.OrderBookDetails),
        Pair("http_order_books", "orderBooks", lighter.OrderBooks),
        Pair("http_order_book_orders", f"orderBookOrders?{book}", lighter.OrderBookOrders),
        Pair("http_recent_trades", f"recentTrades?{book}", lighter.Trades),
        Pair("http_recent_trades_unordered", f"trades?{book}&sort_by=id", lighter.Trades),
        Pair(
            "http_recent_trades_null",
            f"trades?{account}&market_id={XRP}&limit=3&sort_by=id",
            lighter.Trades,
            True,
        ),
        Pair("http_candles", f"candles?market_id={BTC}&{series}", lighter.Candles),
        Pair(
            "http_candles_null", f"candles?market_id={BTC}&resolution=5m&{before}", lighter.Candles
        ),
        Pair(
            "http_fundings", f"fundings?market_id={XRP}&resolution=1h&{funding}", lighter.Fundings
        ),
        Pair("http_account", f"account?by=index&value={ACCOUNT}", lighter.DetailedAccounts),
        Pair("http_next_nonce", f"nextNonce?{account}&api_key_index={API_KEY}", lighter.NextNonce),
        Pair("http_orders", f"accountActiveOrders?{account}&market_id={BTC}", lighter.Orders, True),
    ]


# --- comparing shapes ------------------------------------------------------------------------


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The SDK models an annotation (`List[Candle]`, `Optional[MarketConfig]`) holds."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in models_in(arg)]


def takes_float(annotation: Any) -> bool:
    if annotation is float:
        return True
    return any(takes_float(arg) for arg in typing.get_args(annotation))


def fields_of(model: type[BaseModel] | None) -> dict[str, Any]:
    """A model's fields by their JSON name (its alias, as `V` of `Candle`)."""
    if model is None:
        return {}
    return {(f.alias or name): f.annotation for name, f in model.model_fields.items()}


def kind(value: Any, annotation: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        if takes_float(annotation):
            return "number"
        return "whole number" if isinstance(value, int) else "fraction"
    return {str: "string", list: "list", dict: "object"}[type(value)]


def differences(venue: Any, sim: Any, annotation: Any, where: str) -> list[str]:
    """How the sim's value differs in shape from the venue's, at `where` and below."""
    venue_kind, sim_kind = kind(venue, annotation), kind(sim, annotation)
    if venue_kind != sim_kind:
        return [f"{where}: the venue sends {venue_kind}, the sim {sim_kind}"]
    inner = models_in(annotation)
    model = inner[0] if inner else None
    if isinstance(venue, list):
        if venue and not sim:
            return [f"{where}: the sim's list is empty, so its items cannot be compared"]
        return differences(venue[0], sim[0], annotation, f"{where}[0]") if venue else []
    if not isinstance(venue, dict):
        return []
    fields = fields_of(model)
    found = []
    for key, value in venue.items():
        if key not in sim:
            if not (model is lighter.Candle and key in wire.OMITTED_WHEN_ZERO):
                found.append(f"{where}.{key}: the sim leaves it out")
            continue
        found += differences(value, sim[key], fields.get(key), f"{where}.{key}")
    for key in sim.keys() - venue.keys():
        if key not in fields:
            found.append(f"{where}.{key}: the sim sends it, the venue and the SDK know no such key")
    return found


def capture(name: str) -> dict[str, Any]:
    body = json.loads((CAPTURES / f"{name}.json").read_text(encoding="utf-8"))
    assert isinstance(body, dict)
    return body


# --- the test --------------------------------------------------------------------------------


async def test_the_sims_answers_have_the_captures_shapes(
    sim: RunningSim, venue: LighterVenue, make_signer: MakeSigner
) -> None:
    await venue.place_order(  # a resting order, far below the market, for the orders endpoints
        OrderRequest("BTC", "buy", Decimal("0.001"), "limit", price=Decimal(10_000))
    )
    await venue.place_order(OrderRequest("BTC", "buy", Decimal("0.001"), "market"))  # a position
    signer = make_signer(sim, ACCOUNT, API_KEY)
    token, error = signer.create_auth_token_with_expiry(api_key_index=API_KEY)
    assert error is None and token

    now = sim.simulation.now_ms()
    paired = pairs(now)
    names = sorted(path.stem for path in CAPTURES.glob("http_*.json"))
    assert sorted([p.capture for p in paired] + list(NO_SIM_ENDPOINT)) == names

    found: list[str] = []
    async with aiohttp.ClientSession() as session:
        for pair in paired:
            headers = {"Authorization": token} if pair.private else {}
            async with session.get(f"{sim.url}/api/v1/{pair.path}", headers=headers) as response:
                assert response.status == 200, (pair.path, await response.text())
                answer = await response.json()
            found += differences(capture(pair.capture), answer, pair.model, pair.capture)
    assert found == [], "\n".join(found)


def test_shapes_differ_when_a_kind_or_key_does() -> None:
    """The comparison itself: a list sent as [] instead of null, a string price sent as a
    number, a key the sim invents or leaves out, are each found."""
    venue = capture("http_candles_null")
    assert differences(venue, {**venue, "c": []}, lighter.Candles, "c") == [
        "c.c: the venue sends null, the sim list"
    ]
    trades = capture("http_recent_trades")
    trade = trades["trades"][0]
    priced = {**trades, "trades": [{**trade, "price": 2361.31}]}
    assert differences(trades, priced, lighter.Trades, "t") == [
        "t.trades[0].price: the venue sends string, the sim fraction"
    ]
    invented = {**trades, "trades": [{**trade, "sim_only": 1}]}
    assert differences(trades, invented, lighter.Trades, "t") == [
        "t.trades[0].sim_only: the sim sends it, the venue and the SDK know no such key"
    ]
    bars = capture("http_candles")
    no_close = {**bars, "c": [{k: v for k, v in bars["c"][0].items() if k != "c"}]}
    assert differences(bars, no_close, lighter.Candles, "b") == ["b.c[0].c: the sim leaves it out"]
    no_volume = {**bars, "c": [{k: v for k, v in bars["c"][0].items() if k != "v"}]}
    assert differences(bars, no_volume, lighter.Candles, "b") == []  # zero volumes are left out

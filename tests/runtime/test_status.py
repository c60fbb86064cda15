"""The status API's guard and `rulebot status`'s rendering."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from decimal import Decimal
from typing import Any

import pytest

from rulebot.runtime.commands import render_status
from rulebot.runtime.status import StatusError, StatusServer

STATUS: dict[str, Any] = {
    "running": True,
    "uptime_s": 3723.4,
    "network": "testnet",
    "dry_run": False,
    "entries": "on",
    "account": {
        "equity": "10234.5",
        "collateral": "10000",
        "daily_pnl": "-120.25",
        "drawdown": "0.0312",
    },
    "strategies": [
        {"name": "ut_bot", "market": "ETH", "timeframe": "5m", "bars": 1440, "warm": True},
        {"name": "mean_reversion", "market": "ETH", "timeframe": "5m", "bars": 1440},
    ],
    "positions": [
        {"strategy": "ut_bot", "market": "ETH", "size": "0.42", "entry_price": "3512.37",
         "realized_pnl": "51.20"},
    ],
    "orders": [
        {"strategy": "ut_bot", "market": "ETH", "side": "sell", "kind": "stop_loss",
         "size": "0.42", "trigger_price": "3336.75", "client_order_index": 7, "state": "open"},
    ],
    "risk_events": [{"message": "max_daily_loss (account): down 120.25 USDC today, limit ..."}],
}  # fmt: skip


def test_rulebot_status_prints_what_a_trader_asks(snapshot: Any) -> None:
    assert render_status(STATUS) == snapshot


def test_rulebot_status_shows_what_the_account_holds_that_no_strategy_does() -> None:
    shown = render_status({**STATUS, "unmanaged": [{"market": "ETH", "size": "0.3"}]})
    assert "unmanaged (not a strategy's; the bot never exits it): ETH 0.3" in shown
    assert "unmanaged" not in render_status(STATUS)


def test_the_status_api_needs_a_token_off_loopback() -> None:
    with pytest.raises(StatusError, match="token") as refused:
        StatusServer(lambda: {}, host="0.0.0.0", port=0)
    # it names what works: the environment variable (rulebot.yaml has no key for the token)
    assert "RULEBOT_STATUS_TOKEN=" in str(refused.value)
    assert "status_token" not in str(refused.value)
    StatusServer(lambda: {}, host="0.0.0.0", port=0, token="t")  # with one: fine


async def test_with_a_token_every_request_must_carry_it() -> None:
    import asyncio

    server = StatusServer(lambda: {"equity": Decimal("1.50")}, port=0, token="s3cret")
    port = await server.start()
    url = f"http://127.0.0.1:{port}/api/status"

    def fetch(headers: dict[str, str]) -> Any:
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read())

    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            await asyncio.to_thread(fetch, {})
        assert refused.value.code == 401
        wrong = {"Authorization": "Bearer nope"}
        with pytest.raises(urllib.error.HTTPError):
            await asyncio.to_thread(fetch, wrong)
        right = {"Authorization": "Bearer s3cret"}
        assert await asyncio.to_thread(fetch, right) == {"equity": "1.50"}  # exact, as a string
    finally:
        await server.stop()


def test_rulebot_status_says_how_the_market_stream_is_doing() -> None:
    stream = {
        "connected": True,
        "last_frame_age_s": 0.42,
        "reconnects": 2,
        "resyncs": 2,
        "book_rebuilds": 1,
        "frames_skipped": 3,
        "restarts": 0,
    }
    shown = render_status({**STATUS, "stream": stream})
    assert (
        "stream: connected, last frame 0.4 s ago; reconnects 2, resyncs 2, book rebuilds 1, "
        "skipped frames 3, restarts 0"
    ) in shown
    lost = render_status({**STATUS, "stream": {**stream, "connected": False}})
    assert "stream: DISCONNECTED, reconnecting, last frame 0.4 s ago" in lost
    assert "stream:" not in render_status(STATUS)  # a status from before the stream started

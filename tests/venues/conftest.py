"""Fixtures that run the real sim exchange on a free loopback port, and real lighter-sdk clients
bound to it.

- `make_sim(**settings)`: start a sim with `SimSettings(**settings)` (paused, `speed=0`, and
  account 1 with `TRADER_COLLATERAL`, unless given) and return its `RunningSim` (`.url`,
  `.ws_url`, `.simulation`); stopped after the test.
- `sim`: one paused sim with the shipped markets and account 1 with 100,000 USDC accepting any
  API key: ten times the default account, so that a test can take a whole level of the market
  maker's ladder (250,000 USDC at 10x).
- `make_signer(sim, account_index=1, api_key_index=3)`: a `lighter.SignerClient` on `sim` with a
  freshly generated API key whose public key the sim knows (so `check_client` passes); closed
  after the test.
- `signer`: `make_signer(sim)`.
- `api_client`: a `lighter.ApiClient` on `sim`, for the SDK's API classes.

A paused sim moves only when told: `sim.simulation.advance(n)` plays the replay's next n price
points (four make a bar), `advance(bars=n)` moves it n bars on (or `POST /admin/advance`).
The SDK's `check_client` blocks on an HTTP call, so run it off the event loop that serves the
sim: `await asyncio.to_thread(client.check_client)`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import lighter
import pytest

from rulebot.venues.sim.records import AccountSettings
from rulebot.venues.sim.serving import RunningSim, serve_sim
from rulebot.venues.sim.settings import SimSettings

MakeSim = Callable[..., Awaitable[RunningSim]]
MakeSigner = Callable[..., lighter.SignerClient]
TRADER_COLLATERAL = Decimal(100_000)


@pytest.fixture
async def make_sim() -> AsyncIterator[MakeSim]:
    async with contextlib.AsyncExitStack() as stack:

        async def start(**settings: Any) -> RunningSim:
            settings.setdefault("speed", 0)
            settings.setdefault("accounts", (AccountSettings(1, collateral=TRADER_COLLATERAL),))
            return await stack.enter_async_context(serve_sim(SimSettings(**settings)))

        yield start


@pytest.fixture
async def sim(make_sim: MakeSim) -> RunningSim:
    return await make_sim()


@pytest.fixture
async def make_signer() -> AsyncIterator[MakeSigner]:
    clients: list[lighter.SignerClient] = []

    def create(
        running: RunningSim, account_index: int = 1, api_key_index: int = 3
    ) -> lighter.SignerClient:
        private_key, public_key, error = lighter.signer_client.create_api_key()
        assert error is None, error
        running.simulation.register_api_key(account_index, api_key_index, public_key)
        client = lighter.SignerClient(running.url, account_index, {api_key_index: private_key})
        clients.append(client)
        return client

    yield create
    for client in clients:
        await client.close()


@pytest.fixture
async def signer(sim: RunningSim, make_signer: MakeSigner) -> lighter.SignerClient:
    return make_signer(sim)  # in the test's event loop: the SDK's HTTP client binds to it


@pytest.fixture
async def api_client(sim: RunningSim) -> AsyncIterator[lighter.ApiClient]:
    client = lighter.ApiClient(lighter.Configuration(host=sim.url))
    yield client
    await client.close()

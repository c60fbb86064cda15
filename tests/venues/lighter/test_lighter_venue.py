"""Configuring the venue: networks and URLs, and the private key kept out of every repr, log
and error."""

from __future__ import annotations

import logging
import socket
from decimal import Decimal

import pytest
from pydantic import SecretStr

from rulebot.config import BASE_URLS, Config
from rulebot.venues.lighter.client import LighterVenue, resolve_url
from rulebot.venues.lighter.errors import VenueError, VenueUnavailable
from rulebot.venues.lighter.records import OrderRequest
from rulebot.venues.lighter.retry import RetryPolicy
from rulebot.venues.sim.serving import RunningSim
from tests.venues.lighter.conftest import MakeVenue, new_private_key


def test_networks_resolve_to_their_base_urls() -> None:
    assert resolve_url("mainnet", None) == BASE_URLS["mainnet"]
    assert resolve_url("testnet", None) == BASE_URLS["testnet"]
    assert resolve_url("sim", "http://127.0.0.1:8787/") == "http://127.0.0.1:8787"


def test_sim_needs_a_url_and_unknown_networks_get_a_suggestion() -> None:
    with pytest.raises(ValueError, match="network `sim` needs the URL"):
        resolve_url("sim", None)
    with pytest.raises(ValueError, match=r"unknown network 'mainnnet'; did you mean 'mainnet'\?"):
        resolve_url("mainnnet", None)
    with pytest.raises(ValueError, match="must start with http"):
        resolve_url("sim", "127.0.0.1:8787")


def test_from_config_takes_network_account_and_key() -> None:
    key = new_private_key()
    config = Config().model_copy(update={"private_key": SecretStr(key)})
    venue = LighterVenue.from_config(config, url="http://127.0.0.1:1")
    assert (venue.network, venue.url) == ("sim", "http://127.0.0.1:1")
    assert (venue.account_index, venue.api_key_index) == (
        config.account.index,
        config.account.api_key_index,
    )
    with pytest.raises(VenueError, match="RULEBOT_API_PRIVATE_KEY"):
        LighterVenue.from_config(Config(), url="http://127.0.0.1:1")


async def test_the_private_key_appears_in_no_repr_log_or_error(
    make_venue: MakeVenue, sim: RunningSim, caplog: pytest.LogCaptureFixture
) -> None:
    key = new_private_key()
    caplog.set_level(logging.DEBUG)
    venue = await make_venue(sim, private_key=key)
    await venue.place_order(OrderRequest("ETH", "buy", Decimal(200), kind="market"))
    sim.simulation.faults.server_error(1, path="/api/v1/sendTx", after_apply=True)
    await venue.place_order(OrderRequest("ETH", "sell", Decimal(200), kind="market"))
    shown = [repr(venue), str(venue), repr(vars(venue)), caplog.text]
    assert all(key not in text and key[:16] not in text for text in shown)
    assert "LighterVenue(network='sim'" in repr(venue)

    bad = "zz" + key[2:]
    with pytest.raises(VenueError) as caught:
        await make_venue(sim, private_key=bad)
    assert bad not in str(caught.value) and bad[2:18] not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


async def test_an_unreachable_venue_is_reported_after_retries(make_venue: MakeVenue) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]  # free, and nothing listens there once closed
    venue = LighterVenue(
        "sim",
        url=f"http://127.0.0.1:{port}",
        private_key=new_private_key(),
        retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02),
    )
    with pytest.raises(VenueUnavailable, match="cannot reach the venue"):
        await venue.connect()
    await venue.close()

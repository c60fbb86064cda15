"""The venue's rules for keys, chains and amounts, through the real SDK on the sim: the bot signs
with an API key of its own (2 to 254), for the network's chain whatever the URL (or the chain
rulebot.yaml names), and never sends an amount beyond the venue's cap."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import SecretStr

from rulebot.checks import open_venue
from rulebot.config import Config, Network
from rulebot.runtime.venue import account_venue
from rulebot.venues.lighter.client import LighterVenue
from rulebot.venues.lighter.errors import OrderRejected, VenueError
from rulebot.venues.lighter.records import OrderRequest
from rulebot.venues.sim.serving import RunningSim
from tests.venues.lighter.conftest import ACCOUNT, API_KEY, QUICK, accepted_orders, new_private_key

MAINNET, TESTNET = 304, 300


@pytest.mark.parametrize(
    ("network", "chain_id", "signed_for"),
    [
        ("testnet", None, TESTNET),
        ("mainnet", None, MAINNET),
        ("sim", None, TESTNET),
        ("mainnet", TESTNET, TESTNET),  # rulebot.yaml's `network.chain_id`, for a proxy
    ],
)
async def test_the_signer_signs_for_the_networks_chain_not_the_urls(
    sim: RunningSim, network: str, chain_id: int | None, signed_for: int
) -> None:
    """The sim's loopback URL stands for a proxy: it names no network, so the SDK, left to guess
    from it, would sign for mainnet."""
    venue = LighterVenue(
        network,
        url=sim.url,
        account_index=ACCOUNT,
        api_key_index=API_KEY,
        private_key=new_private_key(),
        chain_id=chain_id,
        retry=QUICK,
    )
    async with venue:
        assert venue.signer.chain_id == venue.chain_id == signed_for
        ack = await venue.place_order(OrderRequest("BTC", "buy", Decimal("0.001"), kind="market"))
    assert len(accepted_orders(sim, ack.client_order_index)) == 1
    assert f"chain_id={signed_for}" in repr(venue)


async def test_every_way_rulebot_opens_the_venue_signs_for_the_configs_chain(
    sim: RunningSim,
) -> None:
    key = SecretStr(new_private_key())
    proxied = Config(network=Network(name="testnet", url=sim.url)).model_copy(
        update={"private_key": key}
    )
    overridden = Config(network=Network(name="testnet", url=sim.url, chain_id=MAINNET))
    overridden = overridden.model_copy(update={"private_key": key})
    for config, signed_for in ((proxied, TESTNET), (overridden, MAINNET)):
        async with LighterVenue.from_config(config, retry=QUICK) as venue:
            assert venue.signer.chain_id == signed_for
        async with account_venue(config, sim.url) as venue:  # `rulebot run` and `flatten`
            assert venue.signer.chain_id == signed_for
            assert venue.api_key_index == config.account.api_key_index == 2
    network = overridden.network
    async with open_venue(network.name, sim.url, chain_id=network.signing_chain_id) as opened:
        assert opened[0].signer.chain_id == MAINNET  # `rulebot check`


@pytest.mark.parametrize(
    ("index", "why"),
    [
        (0, "0 and 1 are the keys of Lighter's desktop and mobile apps"),
        (1, "0 and 1 are the keys of Lighter's desktop and mobile apps"),
        (255, "255 means no key"),
        (256, "Lighter's API key indexes run from 0 to 255"),
    ],
)
def test_an_api_key_index_the_bot_may_not_sign_with_is_refused(index: int, why: str) -> None:
    with pytest.raises(VenueError) as caught:
        LighterVenue("sim", url="http://127.0.0.1:1", api_key_index=index, private_key="00")
    assert str(caught.value).startswith(
        f"the API key index must be from 2 to 254, not {index}: {why}"
    )


def test_the_venue_signs_with_key_index_2_unless_told_and_refuses_odd_values() -> None:
    venue = LighterVenue("testnet", private_key=new_private_key())
    assert (venue.api_key_index, venue.chain_id) == (2, TESTNET)
    with pytest.raises(VenueError, match="must be a whole number, not True"):
        LighterVenue("sim", url="http://127.0.0.1:1", api_key_index=True, private_key="00")  # type: ignore[arg-type]
    with pytest.raises(VenueError, match="chain id must be a whole number from 1 to 2147483647"):
        LighterVenue("mainnet", private_key="00", chain_id=0)


async def test_an_order_beyond_the_amount_cap_is_refused_before_anything_is_signed(
    sim: RunningSim, venue: LighterVenue
) -> None:
    cap = Decimal(2**48 - 1).scaleb(-5)  # BTC sizes have 5 decimals
    nonce = sim.simulation.next_nonce(ACCOUNT, API_KEY)
    for size in (cap + Decimal("0.00001"), Decimal("1e15")):
        with pytest.raises(OrderRejected) as caught:
            await venue.place_order(OrderRequest("BTC", "buy", size, price=Decimal(40_000)))
        assert str(caught.value) == (
            f"BTC: size {size:f} is above the largest the venue accepts "
            f"({cap}: 2^48 - 1 size units)"
        )
    assert accepted_orders(sim) == []
    assert sim.simulation.next_nonce(ACCOUNT, API_KEY) == nonce  # no transaction was sent

"""The venue a bot trades on, picked from rulebot.yaml: the account on Lighter or on a sim (one
started here when the network is `sim` with no address), or a paper account for dry runs.

`rulebot run`, the engine started from Python and `rulebot flatten` all open it here, so they
agree on when a key is needed: never on the sim (it checks no signature) nor in a dry run (it
signs nothing), always elsewhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from rulebot.config import PRIVATE_KEY_ENV, Config
from rulebot.venues.lighter.errors import VenueError

if TYPE_CHECKING:
    from rulebot.venues.lighter.client import LighterVenue


def signing_key(config: Config, *, paper: bool = False) -> SecretStr:
    """The key that signs: the account's, else (on the sim, or for `paper` fills that sign
    nothing) a throwaway one. Raises VenueError when a real venue needs the account's."""
    if config.private_key is not None:
        return config.private_key
    if config.network.name == "sim" or paper:
        from lighter.signer_client import create_api_key

        return SecretStr(create_api_key()[0])
    raise VenueError(
        f"no API private key for {config.network.name}: set {PRIVATE_KEY_ENV} (or run with "
        "--dry-run)"
    )


def account_venue(config: Config, url: str, *, paper: bool = False) -> LighterVenue:
    """rulebot.yaml's account on the venue at `url` (not yet connected)."""
    from rulebot.venues.lighter.client import LighterVenue

    return LighterVenue(
        config.network.name,
        url=url,
        account_index=config.account.index,
        api_key_index=config.account.api_key_index,
        private_key=signing_key(config, paper=paper),
        chain_id=config.network.signing_chain_id,
        tier=config.account.tier,
        rate_window_s=config.account.rate_window_s,
    )


@contextlib.asynccontextmanager
async def venue_for(
    config: Config, sim_settings: Mapping[str, Any] | None = None
) -> AsyncIterator[tuple[Any, str, Any]]:
    """The venue to trade on (and its URL, and the in-process sim if one was started)."""
    sim = None
    url = config.network.base_url
    async with contextlib.AsyncExitStack() as stack:
        if config.network.name == "sim" and url is None:
            from rulebot.venues.sim.serving import serve_sim
            from rulebot.venues.sim.settings import SimSettings

            limits = {  # a tier set for the sim: it enforces the limits the bot keeps
                "rate_limit_tier": config.account.tier,
                "rate_window_s": config.account.rate_window_s,
            }
            settings = SimSettings(
                speed=config.network.sim_speed, **(limits | dict(sim_settings or {}))
            )
            sim = await stack.enter_async_context(serve_sim(settings, host="127.0.0.1", port=0))
            url = sim.url
        assert url is not None
        venue: Any = account_venue(config, url, paper=config.dry_run)
        await stack.enter_async_context(venue)
        if config.dry_run:
            from rulebot.venues.paper import PaperVenue

            account = await _collateral(venue, config)
            venue = PaperVenue(venue, collateral=account, account_index=config.account.index)
        yield venue, url, sim


async def _collateral(venue: Any, config: Config) -> Decimal:
    """A dry run starts from the account's real collateral when it can read it, else from the
    backtest's initial equity."""
    try:
        return (await venue.account()).collateral
    except Exception:  # no account on this network: simulate one
        return config.backtest.initial_equity


__all__ = ["account_venue", "signing_key", "venue_for"]

"""What `rulebot run`, `rulebot status` and `rulebot flatten` do; `rulebot.cli` only parses flags.

Every failure a user can cause (a wrong config, no key, a busy port, a venue that does not answer)
becomes one clear message and an exit code, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from rulebot.config import Config, ConfigError, load_config
from rulebot.logs import config_secrets, redacting, setup_logging

log = logging.getLogger("rulebot")


def read_config(path: str | None, env: Any = None) -> Config:
    """rulebot.yaml from `path`, else ./rulebot.yaml if there is one, else the defaults."""
    import os

    env = os.environ if env is None else env
    if path is not None:
        return load_config(path, env)
    if Path("rulebot.yaml").exists():
        return load_config("rulebot.yaml", env)
    return Config.model_validate({}).model_copy(update={"private_key": _env_key(env)})


def _env_key(env: Any) -> Any:
    from pydantic import SecretStr

    from rulebot.config import PRIVATE_KEY_ENV

    value = env.get(PRIVATE_KEY_ENV)
    return SecretStr(value) if value else None


def run_command(
    paths: Sequence[str],
    *,
    config_path: str | None,
    strategy: str | None,
    market: str | None,
    network: str | None,
    dry_run: bool | None,
    log_level: str | None,
    log_file: str | None,
    status_port: int | None,
    journal: str | None,
    confirmed: bool,
    stop_after: float | None,
    say: Callable[[str], None] = print,
) -> int:
    from rulebot.runtime.app import RunError, RunOptions, run_bot
    from rulebot.runtime.journal import JournalError
    from rulebot.runtime.status import StatusError
    from rulebot.venues.lighter.errors import VenueError

    try:
        config = read_config(config_path)
    except ConfigError as error:
        say(str(error))
        return 1
    redact = setup_logging(
        config.logging, level=log_level, file=log_file, secrets=config_secrets(config)
    )
    say = redacting(say, redact)  # what the bot prints is scrubbed like what it logs
    updates: dict[str, Any] = {}
    if network is not None:
        updates["network"] = config.network.model_copy(update={"name": network, "url": None})
    if dry_run is not None:
        updates["dry_run"] = dry_run
    if updates:
        config = config.model_copy(update=updates)
    if config.network.name == "mainnet" and not config.dry_run and not confirmed:
        confirmed = _confirm_mainnet()
    options = RunOptions(
        paths=[Path(p) for p in paths],
        config_path=Path(config_path) if config_path else _default_config(),
        strategy=strategy,
        market=market,
        status_port=status_port,
        journal=Path(journal) if journal else None,
        confirmed=confirmed,
        stop_after_s=stop_after,
        say=say,
    )
    try:
        return asyncio.run(run_bot(config, options))
    except (RunError, JournalError, StatusError, VenueError) as error:
        say(f"rulebot run: {error}")
        return 1
    except KeyboardInterrupt:
        return 0


def _default_config() -> Path | None:
    path = Path("rulebot.yaml")
    return path if path.exists() else None


def _confirm_mainnet() -> bool:
    if not sys.stdin.isatty():
        return False
    answer = input("This trades REAL MONEY on Lighter mainnet. Type 'yes' to go on: ")
    return answer.strip().lower() == "yes"


def status_command(port: int, host: str, token: str | None, as_json: bool) -> int:
    """Ask the running bot's status API and print what it says."""
    request = urllib.request.Request(f"http://{host}:{port}/api/status")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            status = json.loads(answer.read())
    except urllib.error.HTTPError as error:
        print(f"rulebot status: the bot answered {error.code}: {error.reason}")
        return 1
    except (urllib.error.URLError, OSError):
        print(f"rulebot status: no bot is answering on {host}:{port} (is `rulebot run` running?)")
        return 1
    if as_json:
        print(json.dumps(status, indent=2))
        return 0
    print(render_status(status))
    return 0


def render_status(status: dict[str, Any]) -> str:
    """The status as a person reads it."""
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    out = StringIO()
    console = Console(file=out, width=110)
    mode = "dry run" if status.get("dry_run") else "live"
    account = status.get("account", {})
    drawdown = account.get("drawdown")
    shown = f"{float(drawdown):.2%}" if drawdown is not None else "?"
    daily = account.get("daily_pnl")
    console.print(
        f"running on {status.get('network')} ({mode}), up {float(status.get('uptime_s', 0)):.0f} s,"
        f" entries {status.get('entries', 'on')}; equity {_money(account.get('equity'))} USDC,"
        f" today {_money(daily)} USDC, drawdown {shown}"
    )
    table = Table("strategy", "market", "tf", "bars", "position", "entry", "realised PnL")
    positions = {(p["strategy"], p["market"]): p for p in status.get("positions", [])}
    for s in status.get("strategies", []):
        p = positions.get((s["name"], s["market"]), {})
        table.add_row(
            s["name"],
            s["market"],
            s["timeframe"],
            str(s["bars"]),
            str(p.get("size", 0)),
            str(p.get("entry_price", "")),
            str(p.get("realized_pnl", "")),
        )
    console.print(table)
    for u in status.get("unmanaged", []):
        console.print(
            f"unmanaged (not a strategy's; the bot never exits it): {u['market']} {u['size']}"
        )
    orders = status.get("orders", [])
    console.print(f"open orders: {len(orders)}")
    for o in orders:
        console.print(
            f"  {o['strategy']} {o['market']} {o['side']} {o['kind']} {o['size']}"
            + (f" @ {o['trigger_price']}" if o.get("trigger_price") else "")
        )
    events = status.get("risk_events", [])
    console.print(f"risk events: {len(events)}")
    for e in events[-5:]:
        console.print(f"  {e.get('message', e)}")
    return out.getvalue().rstrip()


def _money(value: object) -> str:
    if value is None:
        return "?"
    return f"{Decimal(str(value)):,.2f}"


def flatten_command(
    config_path: str | None, market: str | None, network: str | None, port: int, host: str
) -> int:
    """Cancel every order and close every position (of one market, or all), saying each result.
    A running bot is asked to do it (so it knows, and stops entering); with none, rulebot
    talks to the venue itself."""
    try:
        config = read_config(config_path)
    except ConfigError as error:
        print(str(error))
        return 1
    import os

    from rulebot.runtime.app import STATUS_TOKEN_ENV

    url = f"http://{host}:{port}/api/flatten" + (f"?market={market}" if market else "")
    request = urllib.request.Request(url, method="POST", data=b"")
    token = os.environ.get(STATUS_TOKEN_ENV)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            results = json.loads(answer.read())["results"]
        for line in results:
            print(line)
        return 1 if any("FAILED" in line for line in results) else 0
    except urllib.error.HTTPError as error:
        print(f"rulebot flatten: the bot answered {error.code}: {error.reason}")
        return 1
    except (urllib.error.URLError, OSError):
        print(f"no bot answering on {host}:{port}: flattening through the venue directly")
    if network is not None:
        config = config.model_copy(
            update={"network": config.network.model_copy(update={"name": network, "url": None})}
        )
    return asyncio.run(_flatten(config, market))


async def _flatten(config: Config, market: str | None) -> int:
    from rulebot.venues.lighter.client import LighterVenue
    from rulebot.venues.lighter.errors import VenueError
    from rulebot.venues.lighter.records import OrderRequest

    if config.network.base_url is None:
        print("rulebot flatten: the sim runs inside `rulebot run`; give its address (network.url)")
        return 1
    if config.private_key is None:
        print("rulebot flatten: no API private key: set RULEBOT_API_PRIVATE_KEY")
        return 1
    failures = 0
    try:
        async with LighterVenue.from_config(config) as venue:
            markets = [market] if market else [m.symbol for m in await venue.markets()]
            for symbol in markets:
                try:
                    await venue.cancel_all(symbol)
                    print(f"{symbol}: every order cancelled")
                except VenueError as error:
                    failures += 1
                    print(f"{symbol}: cancel all FAILED: {error}")
            account = await venue.account()
            for position in account.positions:
                if position.size == 0 or (market and position.market != market):
                    continue
                side = "sell" if position.size > 0 else "buy"
                size = abs(position.size)
                try:
                    await venue.place_order(
                        OrderRequest(position.market, side, size, "market", reduce_only=True)
                    )
                    print(f"{position.market}: closed {position.size} with a {side} at market")
                except VenueError as error:
                    failures += 1
                    print(f"{position.market}: close of {position.size} FAILED: {error}")
    except VenueError as error:
        print(f"rulebot flatten: {error}")
        return 1
    return 1 if failures else 0


__all__ = ["flatten_command", "render_status", "run_command", "status_command"]

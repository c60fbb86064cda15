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

USAGE = 2  # the exit code of a command given something it cannot use
MAX_PORT = 65535


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
    from rulebot.lint import UsageError, discover
    from rulebot.runtime.app import RunError, RunOptions, run_bot
    from rulebot.runtime.journal import JournalError
    from rulebot.runtime.status import StatusError
    from rulebot.venues.lighter.errors import VenueError

    if status_port is not None and not 0 <= status_port <= MAX_PORT:
        say(f"rulebot run: --status-port {status_port} is not a port: give 1 to {MAX_PORT}, or 0")
        return USAGE
    try:
        discover(paths)
    except UsageError as error:  # nothing to run: a wrong folder, or one with no rule in it
        say(f"rulebot run: {error}")
        return USAGE
    try:
        config = read_config(config_path)
    except ConfigError as error:
        say(str(error))
        return 1
    try:
        redact = setup_logging(
            config.logging, level=log_level, file=log_file, secrets=config_secrets(config)
        )
    except OSError as error:
        shown = log_file if log_file is not None else config.logging.file
        reason = (error.strerror or type(error).__name__).lower()
        say(f"rulebot run: cannot write the log file {shown}: {reason}")
        return USAGE
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


def status_command(
    config_path: str | None, port: int | None, host: str | None, as_json: bool
) -> int:
    """Ask the running bot's status API and print what it says."""
    try:
        status = ask_status(config_path, host, port)
    except StatusUnavailable as problem:
        print(f"{problem}" if problem.config else f"rulebot status: {problem}")
        return 1
    if as_json:
        print(json.dumps(status, indent=2))
        return 0
    print(render_status(status))
    return 0


class StatusUnavailable(Exception):
    """The running bot's status could not be read; `config` when rulebot.yaml is the reason."""

    def __init__(self, message: str, config: bool = False) -> None:
        super().__init__(message)
        self.config = config


def ask_status(config_path: str | None, host: str | None, port: int | None) -> dict[str, Any]:
    """The running bot's status (`/api/status`), asked with its token as rulebot.yaml says."""
    try:
        config = read_config(config_path)
    except ConfigError as error:
        raise StatusUnavailable(str(error), config=True) from None
    request, where = _bot_request(config, host, port, "/api/status")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as error:
        raise StatusUnavailable(f"the bot answered {error.code}: {_refusal(error)}") from None
    except (urllib.error.URLError, OSError):
        raise StatusUnavailable(
            f"no bot is answering on {where} (is `rulebot run` running?)"
        ) from None


def _bot_request(
    config: Config, host: str | None, port: int | None, path: str, *, post: bool = False
) -> tuple[urllib.request.Request, str]:
    """A request for `path` of the running bot's status API, carrying its token, and the
    address it goes to: as given, else as rulebot.yaml says (a bot bound to every address is
    asked on loopback)."""
    host = host or config.runtime.status_host
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    where = f"{host}:{config.runtime.status_port if port is None else port}"
    headers = {"Content-Type": "application/json"} if post else {}
    token = status_token(config)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    method, body = ("POST", b"") if post else ("GET", None)
    request = urllib.request.Request(f"http://{where}{path}", body, headers, method=method)
    return request, where


def status_token(config: Config) -> str | None:
    """The token for the bot's status API: RULEBOT_STATUS_TOKEN if set, else the one the bot
    wrote beside its journal (the live one's or the dry run's, whichever started last)."""
    import os

    from rulebot.runtime.journal import dry_run_journal
    from rulebot.runtime.status import TOKEN_ENV, read_token, token_file_for

    given = os.environ.get(TOKEN_ENV)
    if given:
        return given
    journal = Path(config.runtime.journal)
    found = []
    for path in (token_file_for(journal), token_file_for(dry_run_journal(journal))):
        try:
            found.append((path.stat().st_mtime, path))
        except OSError:
            continue
    return read_token(max(found)[1]) if found else None


def _refusal(error: urllib.error.HTTPError) -> str:
    """The status API's own words for a refusal, else the HTTP reason."""
    try:
        return str(json.loads(error.read())["error"])
    except (ValueError, KeyError, TypeError, OSError):
        return str(error.reason)


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
    stream = status.get("stream")
    if stream:
        console.print(_stream_line(stream), soft_wrap=True)
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


def _stream_line(stream: dict[str, Any]) -> str:
    """The market stream's health in one line: connected or not, how long since its last
    frame, and what it has had to recover from."""
    age = stream.get("last_frame_age_s")
    heard = "nothing received yet" if age is None else f"last frame {float(age):.1f} s ago"
    state = "connected" if stream.get("connected") else "DISCONNECTED, reconnecting"
    counts = ", ".join(
        f"{label} {stream.get(key, 0)}"
        for key, label in (
            ("reconnects", "reconnects"),
            ("resyncs", "resyncs"),
            ("book_rebuilds", "book rebuilds"),
            ("frames_skipped", "skipped frames"),
            ("restarts", "restarts"),
        )
    )
    return f"stream: {state}, {heard}; {counts}"


def _money(value: object) -> str:
    if value is None:
        return "?"
    return f"{Decimal(str(value)):,.2f}"


def flatten_command(
    config_path: str | None,
    market: str | None,
    network: str | None,
    port: int | None,
    host: str | None,
) -> int:
    """Cancel every order and close every position (of one market, or all), saying each result.
    A running bot is asked to do it (so it knows, and stops entering); with none, rulebot
    talks to the venue itself."""
    try:
        config = read_config(config_path)
    except ConfigError as error:
        print(str(error))
        return 1
    path = "/api/flatten" + (f"?market={market}" if market else "")
    request, where = _bot_request(config, host, port, path, post=True)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            results = json.loads(answer.read())["results"]
        for line in results:
            print(line)
        return 1 if any("FAILED" in line for line in results) else 0
    except urllib.error.HTTPError as error:
        print(f"rulebot flatten: the bot answered {error.code}: {_refusal(error)}")
        return 1
    except (urllib.error.URLError, OSError):
        pass
    if network is not None:
        config = config.model_copy(
            update={"network": config.network.model_copy(update={"name": network, "url": None})}
        )
    if config.network.base_url is None:
        print(
            f"rulebot flatten: no bot answering on {where}, and the sim rulebot.yaml names "
            "runs inside `rulebot run`: it stopped with its bot, so there is nothing to flatten"
        )
        return 0
    print(f"no bot answering on {where}: flattening through the venue directly")
    return asyncio.run(_flatten(config, market))


async def _flatten(config: Config, market: str | None) -> int:
    from rulebot.runtime.venue import account_venue
    from rulebot.venues.lighter.client import UNKNOWN
    from rulebot.venues.lighter.errors import VenueError
    from rulebot.venues.lighter.records import OrderRequest

    assert config.network.base_url is not None
    failures = 0
    try:
        async with account_venue(config, config.network.base_url) as venue:
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
                    ack = await venue.place_order(
                        OrderRequest(position.market, side, size, "market", reduce_only=True)
                    )
                    if ack.status == UNKNOWN:  # sent, not seen: never reported as done
                        failures += 1
                        print(
                            f"{position.market}: close of {position.size} sent, but the venue "
                            "does not show it yet: check the position before trying again"
                        )
                        continue
                    print(f"{position.market}: closed {position.size} with a {side} at market")
                except VenueError as error:
                    failures += 1
                    print(f"{position.market}: close of {position.size} FAILED: {error}")
    except VenueError as error:
        print(f"rulebot flatten: {error}")
        return 1
    return 1 if failures else 0


__all__ = [
    "flatten_command",
    "render_status",
    "run_command",
    "status_command",
    "status_token",
]

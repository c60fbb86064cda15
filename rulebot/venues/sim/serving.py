"""Serving a sim: in-process on a loopback port (`serve_sim`), on a thread of its own for
synchronous callers (`SimThread`), or as `rulebot sim` until Ctrl+C (`run_command`).

It sits above the sim's parts: it builds a `Simulation` and the aiohttp app of `server` around
it, so neither of those needs to know how it is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from rulebot.data.shipped import SHIPPED_QUOTES
from rulebot.venues.sim.faults import FaultSettings
from rulebot.venues.sim.server import create_app
from rulebot.venues.sim.settings import SettingsError, SimSettings, load_accounts
from rulebot.venues.sim.simulation import (
    SHUTDOWN_TIMEOUT_S,
    SimStartError,
    Simulation,
    load_markets,
)

T = TypeVar("T")


@dataclass(frozen=True)
class RunningSim:
    """A sim serving on `url` (HTTP) and `ws_url` (the stream)."""

    host: str
    port: int
    simulation: Simulation

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/stream"


@contextlib.asynccontextmanager
async def serve_sim(
    settings: SimSettings | None = None, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningSim]:
    """Serve a new sim on `host:port` (0: a free port) for the duration of the block."""
    simulation = Simulation(settings)
    runner = web.AppRunner(
        create_app(simulation),
        handle_signals=False,
        access_log=None,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        reason = error.strerror or str(error)
        raise SimStartError(f"cannot listen on {host}:{port}: {reason}") from None
    bound = runner.addresses[0][1] if runner.addresses else port
    task = asyncio.create_task(simulation.run())
    try:
        yield RunningSim(host, bound, simulation)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await runner.cleanup()


class SimThread:
    """A sim on a background thread with its own event loop, for synchronous callers:

        with SimThread(settings) as sim:
            requests.get(sim.url + "/api/v1/orderBooks")

    `call(fn)` runs `fn(simulation)` on the sim's loop and returns its result.
    """

    def __init__(
        self, settings: SimSettings | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self._settings, self._host, self._port = settings, host, port
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._running: RunningSim | None = None
        self._error: BaseException | None = None

    def start(self) -> RunningSim:
        self._thread = threading.Thread(target=self._main, name="rulebot-sim", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        assert self._running is not None
        return self._running

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join()

    def call(self, fn: Callable[[Simulation], T]) -> T:
        """Run `fn(simulation)` on the sim's own loop (the only safe place) and return it."""
        assert self._loop is not None and self._running is not None
        simulation = self._running.simulation

        async def run() -> T:
            return fn(simulation)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result()

    def __enter__(self) -> RunningSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _main(self) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with serve_sim(self._settings, self._host, self._port) as running:
                self._running = running
                self._ready.set()
                await self._stop.wait()

        try:
            asyncio.run(serve())
        except BaseException as error:  # reported to the starting thread
            self._error = error
        finally:
            self._ready.set()


def run_until_stopped(
    settings: SimSettings,
    host: str,
    port: int,
    announce: Callable[[str], None],
) -> None:
    """Serve a sim until SIGINT or SIGTERM (`rulebot sim`); `announce` prints a line."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        async with serve_sim(settings, host, port) as sim:
            announce(f"rulebot sim: serving Lighter's API on {sim.url} (stream {sim.ws_url})")
            quotes = {} if settings.data else SHIPPED_QUOTES
            for market in sim.simulation.exchange.markets():
                quote = quotes.get(market.symbol)
                announce(
                    f"  market {market.market_id}: {market.symbol}  "
                    f"(size_decimals {market.size_decimals}, "
                    f"price_decimals {market.price_decimals})"
                    + (f"  prices in {quote}" if quote else "")
                )
            accounts = ", ".join(str(a.index) for a in sim.simulation.exchange.accounts())
            speed = sim.simulation.replay.speed
            pace = "paused" if speed == 0 else f"{speed:g}x real time"
            announce(f"  accounts: {accounts}; replay {pace}; Ctrl+C stops")
            await stop.wait()
        announce("rulebot sim: stopped")

    asyncio.run(main())


def run_command(
    *,
    host: str,
    port: int,
    data: Sequence[str],
    speed: float,
    accounts_file: str | None,
    faults: dict[str, Any],
    echo: Callable[[str], None],
    echo_error: Callable[[str], None],
    rate_limits: dict[str, Any] | None = None,
) -> int:
    """`rulebot sim`: build the settings, serve until Ctrl+C; the exit code (0 clean, 1 could
    not start, 2 bad settings). Problems are one line, never a traceback."""
    try:
        fault_settings = FaultSettings(**faults)
        extra: dict[str, Any] = {}
        if accounts_file is not None:
            loaded = load_accounts(accounts_file)
            extra = {"accounts": loaded.accounts, "api_public_keys": loaded.api_public_keys}
        extra |= rate_limits or {}
        settings = SimSettings(data=tuple(data), speed=speed, faults=fault_settings, **extra)
        load_markets(settings.data)  # a bad candle file is the user's to fix: exit 2
    except (SettingsError, SimStartError, ValueError) as error:
        echo_error(f"rulebot sim: {error}")
        return 2
    try:
        run_until_stopped(settings, host, port, echo)
    except SimStartError as error:
        echo_error(f"rulebot sim: {error}")
        return 1
    return 0

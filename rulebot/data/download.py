"""`rulebot data download`: a market's closed candles and its funding, fetched from a Lighter
venue through lighter-sdk, into CSV files that `load_candles`, `load_funding` and
`rulebot backtest` read; an interrupted download resumes where it stopped.

Files (`candle_file`, `funding_file`): `DIR/eth_5m.csv` with `timestamp,open,high,low,close,volume`
(bar opens in ms UTC, numbers as the venue gives them) and `DIR/eth_funding.csv` with
`timestamp,rate` (each payment's funding time, on the hour, and the rate as a fraction per
interval, positive when longs pay).

How a file stays right: rows are appended one fetched chunk at a time, each chunk written whole,
flushed and fsynced, so a stop at any moment leaves complete rows in time order. A second run
reads the file first: a header that is not ours, rows `load_candles` refuses or bars of another
timeframe are an error and the file is left as it is. Otherwise the run asks the venue again
for the file's last row and goes on after it; a row that differs from the venue's (another
market, another venue, a sim started anew) is an error too, so a file never mixes two series.
A window reaching further back than the file is fetched and put in front of it atomically.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from pathlib import Path
from typing import Final

import lighter
from lighter.signer_client import create_api_key
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from rulebot.data.candles import (
    CANDLE_COLUMNS,
    DAY_MS,
    FUNDING_COLUMNS,
    DataError,
    load_candles,
    load_funding,
)
from rulebot.data.funding_time import funding_time
from rulebot.lang.suggest import did_you_mean
from rulebot.venues.lighter.calls import with_retries
from rulebot.venues.lighter.client import NETWORKS, LighterVenue
from rulebot.venues.lighter.convert import candles_answer
from rulebot.venues.lighter.errors import OrderRejected, UnknownMarket, VenueError
from rulebot.venues.lighter.retry import RetryPolicy

MINUTE_MS: Final = 60_000
HOUR_MS: Final = 60 * MINUTE_MS
TIMEFRAMES: Final[dict[str, int]] = {
    "1m": MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": HOUR_MS,
    "4h": 4 * HOUR_MS,
    "12h": 12 * HOUR_MS,
    "1d": DAY_MS,
    "1w": 7 * DAY_MS,
}
"""The candle resolutions Lighter serves, and each one's length."""

CANDLES_PER_CHUNK: Final = 500
"""Bars per fetched chunk: one venue request (Lighter answers at most 500 candles a call)."""
FUNDINGS_PER_CHUNK: Final = 750
"""Hours of funding per fetched chunk (Lighter answers at most 750 fundings a call)."""
FUNDING_RESOLUTION: Final = "1h"
SETTLE_MS: Final = 5_000
"""A bar counts as closed this long after its close, so that late trades are in it."""
PERCENT: Final = Decimal(100)

Row = tuple[int, tuple[Decimal, ...]]
"""A row of a file: its timestamp (ms UTC) and its other columns."""
ProgressReport = Callable[[str, int, int], None]
"""Called with (what, done, total) as chunks arrive: e.g. ("ETH 5m", 1000, 8640)."""


class DownloadError(Exception):
    """Why a download cannot go on, in words a trader can act on (no traceback)."""


class UsageError(DownloadError):
    """A flag that is wrong before any venue is asked (exit code 2)."""


# --- what to fetch ---------------------------------------------------------------------------


def timeframe_ms(timeframe: str) -> int:
    """The length of a Lighter candle resolution; `UsageError` with a did-you-mean otherwise."""
    found = TIMEFRAMES.get(timeframe.strip())
    if found is None:
        guess = did_you_mean(timeframe.strip(), TIMEFRAMES)
        hint = f" (did you mean {guess}?)" if guess else ""
        raise UsageError(
            f"Lighter has no {timeframe!r} candles{hint}: one of {', '.join(TIMEFRAMES)}"
        )
    return found


def candle_file(out_dir: str | os.PathLike[str], market: str, timeframe: str) -> Path:
    """Where a market's candles go: `DIR/eth_5m.csv`."""
    return Path(out_dir) / f"{_file_stem(market)}_{timeframe}.csv"


def funding_file(out_dir: str | os.PathLike[str], market: str) -> Path:
    """Where a market's funding rates go: `DIR/eth_funding.csv`."""
    return Path(out_dir) / f"{_file_stem(market)}_funding.csv"


def _file_stem(market: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", market.lower()).strip("-") or "market"


@dataclass(frozen=True, slots=True)
class Window:
    """The bars to have: opens from `first_ms` to `last_ms` (both in), `step_ms` apart, all
    closed when the download started; funding from `first_ms` up to the last bar's close."""

    first_ms: int
    last_ms: int
    step_ms: int

    @property
    def bars(self) -> int:
        return _slots(self.first_ms, self.last_ms, self.step_ms)

    @property
    def funding_end_ms(self) -> int:
        return self.last_ms + self.step_ms - 1


def window(newest_closed_ms: int, step_ms: int, days: float) -> Window:
    """The last `days` of bars, ending with the bar that opened at `newest_closed_ms`."""
    count = max(1, round(days * DAY_MS / step_ms))
    return Window(newest_closed_ms - (count - 1) * step_ms, newest_closed_ms, step_ms)


def _slots(first_ms: int, last_ms: int, step_ms: int) -> int:
    return 0 if last_ms < first_ms else (last_ms - first_ms) // step_ms + 1


# --- the files -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Held:
    """What a file already holds: its first and last rows and how many rows."""

    first: Row
    last: Row
    rows: int


class SeriesFile:
    """One CSV file of a series, grown only by whole, fsynced chunks of rows in time order."""

    def __init__(
        self,
        path: Path,
        columns: tuple[str, ...],
        load: Callable[[Path], object],
        step_ms: int | None,
        what: str,
    ) -> None:
        self.path = path
        self.columns = columns
        self.header = ",".join(columns)
        self._load = load
        self._step_ms = step_ms  # bars must be whole steps apart; None: any spacing
        self.what = what

    def held(self) -> _Held | None:
        """The rows already in the file (None: no file, or a header alone), after checking that
        the file is one this command can go on with. An incomplete last line, which only an
        interrupted write leaves, is cut off first."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise DownloadError(f"{self.path} is a folder, not a data file") from None
        except OSError as error:
            raise DownloadError(f"{self.path}: cannot read: {error.strerror or error}") from None
        header, _, _ = data.partition(b"\n")
        if header.decode("utf-8", "replace").strip() != self.header:
            shown = header[:80].decode("utf-8", "replace").strip()
            raise DownloadError(
                f"{self.path}: the header is `{shown}`, not `{self.header}`: this is not "
                f"a {self.what} file of `rulebot data download`, so it is left as it is; "
                "move it away or give another --out"
            )
        if not data.endswith(b"\n"):
            data = self._cut_incomplete_line(data)
        lines = data.decode("utf-8", "replace").splitlines()
        body = [line for line in lines[1:] if line.strip()]
        if not body:
            return None
        try:
            loaded = self._load(self.path)
        except DataError as error:
            raise DownloadError(
                f"{error}\n{self.path} cannot be continued as it is: fix it, or move it away "
                "to download anew"
            ) from None
        timestamps = loaded.timestamp  # type: ignore[attr-defined]
        if self._step_ms is not None and len(timestamps) > 1:
            steps = {int(s) for s in set(timestamps[1:] - timestamps[:-1])}
            if min(steps) != self._step_ms or any(s % self._step_ms for s in steps):
                raise DownloadError(
                    f"{self.path}: its bars are {_duration(min(steps))} apart, not "
                    f"{_duration(self._step_ms)}: it holds another timeframe; move it away "
                    "or give another --out"
                )
        first = self._row(body[0], int(timestamps[0]))
        last = self._row(body[-1], int(timestamps[-1]))
        return _Held(first, last, len(timestamps))

    def _cut_incomplete_line(self, data: bytes) -> bytes:
        keep = data.rfind(b"\n") + 1
        with open(self.path, "r+b") as file:
            file.truncate(keep)
            file.flush()
            os.fsync(file.fileno())
        return data[:keep]

    def _row(self, line: str, timestamp: int) -> Row:
        """A row as written here: the timestamp in whole ms (as the loader read it), then
        numbers. Seconds or ISO dates load too, but rows in ms after them would not."""
        stamp, *cells = line.split(",")
        try:
            values = tuple(Decimal(cell.strip()) for cell in cells)
            written_here = int(stamp.strip()) == timestamp
        except (InvalidOperation, ValueError):
            written_here = False
        if not written_here:
            raise DownloadError(
                f"{self.path}: `{line[:80]}` is not a row as this command writes them "
                "(timestamps in ms, then numbers); move the file away or give another --out"
            )
        return timestamp, values

    def append(self, rows: list[Row]) -> None:
        """Add rows at the end, creating the file with its header if need be; durable on
        return."""
        if not rows:
            return
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        text = (self.header + "\n" if fresh else "") + "".join(map(_line, rows))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8", newline="\n") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        if fresh:
            _sync_folder(self.path.parent)

    def prepend(self, rows: list[Row]) -> None:
        """Put rows before the file's own, all at once: a copy is written and swapped in."""
        if not rows:
            return
        body = self.path.read_bytes().partition(b"\n")[2]
        partial = self.path.with_name(f".{self.path.name}.partial")
        try:
            with open(partial, "wb") as file:
                file.write((self.header + "\n" + "".join(map(_line, rows))).encode())
                file.write(body)
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
        _sync_folder(self.path.parent)


def _line(row: Row) -> str:
    timestamp, values = row
    return f"{timestamp}," + ",".join(format(value, "f") for value in values) + "\n"


def _sync_folder(folder: Path) -> None:
    """Make a file's creation or renaming durable (POSIX; a no-op where folders cannot open)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def last_saved(path: str | os.PathLike[str]) -> int | None:
    """The timestamp of a file's last complete row, or None: to say where a download stopped."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    lines = data[: data.rfind(b"\n")].splitlines()
    if len(lines) < 2:
        return None
    try:
        return int(lines[-1].split(b",", 1)[0])
    except ValueError:
        return None


# --- fetching --------------------------------------------------------------------------------

Fetch = Callable[[int, int], Awaitable[list[Row]]]
"""Rows stamped in [first_ms, last_ms], oldest first."""


@dataclass(frozen=True, slots=True)
class SeriesResult:
    """One file after a download: `added` rows this run, `rows` in all, first and last stamps."""

    path: Path
    added: int
    rows: int
    first_ms: int | None
    last_ms: int | None


async def fill(
    target: SeriesFile,
    fetch: Fetch,
    first_ms: int,
    last_ms: int,
    *,
    chunk_ms: int,
    step_ms: int,
    progress: ProgressReport | None = None,
) -> SeriesResult:
    """Make `target` hold every row the venue has in [first_ms, last_ms] (keeping what it held
    outside it), fetching `chunk_ms` at a time and saving each chunk before the next.

    Progress counts `step_ms` slots of the window covered so far, so it ends at its total
    even where the venue has gaps."""
    held = target.held()
    total = _slots(first_ms, last_ms, step_ms)

    def covered(lo: int, hi: int) -> int:
        return _slots(max(lo, first_ms), min(hi, last_ms), step_ms)

    done = covered(held.first[0], held.last[0]) if held is not None else 0
    if progress is not None:
        progress(target.what, done, total)
    rows = held.rows if held is not None else 0
    first = held.first[0] if held is not None else None
    last = held.last[0] if held is not None else None
    earlier: list[Row] = []
    if held is not None and first_ms < held.first[0]:
        for lo, hi in _chunks(first_ms, held.first[0], chunk_ms):
            fetched = await fetch(lo, hi)
            if hi == held.first[0]:
                _check_same(target, held.first, fetched, "first")
            earlier += [row for row in fetched if row[0] < held.first[0]]
            done += covered(lo, min(hi, held.first[0] - 1))
            if progress is not None:
                progress(target.what, done, total)
        _check_order(target, earlier)
        target.prepend(earlier)
        if earlier:
            first = earlier[0][0]
    added = len(earlier)
    resume_at = held.last[0] + 1 if held is not None else first_ms
    for lo, hi in _chunks(held.last[0] if held is not None else first_ms, last_ms, chunk_ms):
        fetched = await fetch(lo, hi)
        if held is not None and lo == held.last[0]:
            _check_same(target, held.last, fetched, "last")
        fresh = [row for row in fetched if last is None or row[0] > last]
        _check_order(target, fresh)
        target.append(fresh)
        if fresh:
            first = fresh[0][0] if first is None else first
            last = fresh[-1][0]
            added += len(fresh)
        done += covered(max(lo, resume_at), hi)
        if progress is not None:
            progress(target.what, done, total)
    return SeriesResult(target.path, added, rows + added, first, last)


def _chunks(first_ms: int, last_ms: int, chunk_ms: int) -> Iterator[tuple[int, int]]:
    lo = first_ms
    while lo <= last_ms:
        hi = min(lo + chunk_ms - 1, last_ms)
        yield lo, hi
        lo = hi + 1


def _check_same(target: SeriesFile, held: Row, rows: list[Row], which: str) -> None:
    """The venue's row at a held row's time must be that row: else the file is another
    series (another market or venue, or a sim started anew), and continuing would mix them."""
    venue = next((row for row in rows if row[0] == held[0]), None)
    if venue == held:
        return
    when = _when(held[0])
    said = "has nothing there" if venue is None else f"has `{_line(venue).strip()}`"
    raise DownloadError(
        f"{target.path}: its {which} row ({when}) is `{_line(held).strip()}` but the venue "
        f"{said}: the file holds another market's or venue's data (a sim started anew replays "
        "from a new start), so it is left as it is; move it away or give another --out"
    )


def _check_order(target: SeriesFile, rows: list[Row]) -> None:
    stamps = [row[0] for row in rows]
    if any(b <= a for a, b in pairwise(stamps)):
        raise DownloadError(f"the venue sent {target.what} rows out of order or twice")


def candle_rows(venue: LighterVenue, market: str, timeframe: str, closed_by_ms: int) -> Fetch:
    """Fetch closed candles (opened at or before `closed_by_ms`) as rows."""

    async def fetch(first_ms: int, last_ms: int) -> list[Row]:
        hi = min(last_ms, closed_by_ms)
        if hi < first_ms:
            return []
        try:  # Lighter wants end > start: ask a millisecond more than one instant
            bars = await venue.candles(market, timeframe, first_ms, max(hi, first_ms + 1))
        except UnknownMarket:
            raise
        except OrderRejected as refused:
            raise DownloadError(
                f"the venue refused {market} {timeframe} candles: {refused.message}"
            ) from None
        return [
            (bar.time_ms, (bar.open, bar.high, bar.low, bar.close, bar.volume))
            for bar in bars
            if first_ms <= bar.time_ms <= hi
        ]

    return fetch


def funding_rows(venue: LighterVenue, market: str) -> Fetch:
    """Fetch funding payments as rows of (funding time, rate as a fraction, + when longs paid).

    Lighter gives `rate` unsigned, in percent per interval, and `direction`, the side that paid.
    A payment's row is stamped with its funding time, the venue's stamp rounded to the hour
    (`funding_time`), as a backtest reads it: the query reaches half an hour either side of the
    window, and rows are kept by their funding time.
    """

    async def fetch(first_ms: int, last_ms: int) -> list[Row]:
        payments = await venue.fundings(
            market, max(first_ms - HOUR_MS // 2, 0), last_ms + HOUR_MS // 2, FUNDING_RESOLUTION
        )
        rows: list[Row] = []
        for paid in payments:
            due = funding_time(paid.time_ms, HOUR_MS)
            if not first_ms <= due <= last_ms:
                continue
            if paid.direction not in ("long", "short"):
                raise DownloadError(
                    f"the venue sent a funding payment paid by {paid.direction!r}, "
                    "neither long nor short"
                )
            fraction = abs(paid.rate).scaleb(-2)
            rows.append((due, (fraction if paid.direction == "long" else -fraction,)))
        return rows

    return fetch


async def venue_time_ms(venue: LighterVenue) -> int:
    """The venue's clock (its status answer), in ms."""
    api = lighter.RootApi(venue.signer.api_client)
    status = await with_retries(
        lambda: api.status(_request_timeout=10.0),
        RetryPolicy(),
        random.Random(),
        what="status",
        limiter=venue.limiter,
    )
    stamp = int(status.timestamp)
    return stamp * 1000 if stamp < 10**11 else stamp


async def newest_closed_candle(
    venue: LighterVenue, market: str, timeframe: str, now_ms: int
) -> int | None:
    """The open time of the market's newest candle that had closed at `now_ms` (less
    `SETTLE_MS`), or None when the venue has none."""
    info = await venue.market(market)
    step = timeframe_ms(timeframe)
    api = lighter.CandlestickApi(venue.signer.api_client)

    async def newest() -> lighter.Candles:
        return await api.candles(
            info.market_id, timeframe, 0, now_ms + step, 2, _request_timeout=10.0
        )

    try:
        answer = await with_retries(
            newest,
            RetryPolicy(),
            random.Random(),
            what="candles",
            market=info.symbol,
            limiter=venue.limiter,
        )
    except OrderRejected as refused:
        if isinstance(refused, UnknownMarket):
            raise
        raise DownloadError(
            f"the venue does not serve {timeframe} candles for {info.symbol}: {refused.message}"
        ) from None
    opened = [c.time_ms for c in candles_answer(answer)]  # `"c": null` when it has none
    closed = [t for t in opened if t + step <= now_ms - SETTLE_MS]
    return max(closed) if closed else None


# --- one download ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """What a download left on disk: the candle file, and the funding file (None when funding
    was not asked for, or the venue has none for the market)."""

    market: str
    timeframe: str
    window: Window
    candles: SeriesResult
    funding: SeriesResult | None


async def download(
    venue: LighterVenue,
    market: str,
    timeframe: str,
    days: float,
    out_dir: str | os.PathLike[str],
    *,
    funding: bool = True,
    progress: ProgressReport | None = None,
    on_files: Callable[[Path, Path | None], None] | None = None,
) -> DownloadResult:
    """Download (or continue downloading) the last `days` of `market`'s closed `timeframe`
    candles, and its funding, into `out_dir`. `venue` must be connected.

    Raises `UsageError` for a bad timeframe or day count, `DownloadError` for a file that cannot
    be continued or a resolution the venue does not serve, and the venue's `VenueError`s
    (`UnknownMarket`, `VenueUnavailable`, ...) as they are.
    """
    step = timeframe_ms(timeframe)
    if not (math.isfinite(days) and days > 0):
        raise UsageError(f"--days must be a number of days above 0, not {days:g}")
    info = await venue.market(market)
    symbol = info.symbol
    candles = SeriesFile(
        candle_file(out_dir, symbol, timeframe),
        CANDLE_COLUMNS,
        load_candles,
        step,
        f"{symbol} {timeframe}",
    )
    rates = SeriesFile(
        funding_file(out_dir, symbol), FUNDING_COLUMNS, load_funding, None, f"{symbol} funding"
    )
    if on_files is not None:
        on_files(candles.path, rates.path if funding else None)
    candles.held()  # a file we cannot continue is said before anything is fetched
    if funding:
        rates.held()
    now = await venue_time_ms(venue)
    newest = await newest_closed_candle(venue, symbol, timeframe, now)
    if newest is None:
        raise DownloadError(f"the venue has no closed {timeframe} candles for {symbol}")
    span = window(newest, step, days)
    bars = await fill(
        candles,
        candle_rows(venue, symbol, timeframe, span.last_ms),
        span.first_ms,
        span.last_ms,
        chunk_ms=CANDLES_PER_CHUNK * step,
        step_ms=step,
        progress=progress,
    )
    paid = None
    if funding:
        paid = await fill(
            rates,
            funding_rows(venue, symbol),
            span.first_ms,
            span.funding_end_ms,
            chunk_ms=FUNDINGS_PER_CHUNK * HOUR_MS,
            step_ms=HOUR_MS,
            progress=progress,
        )
        if paid.rows == 0:
            paid = None
    return DownloadResult(symbol, timeframe, span, bars, paid)


def read_only_venue(
    network: str, url: str | None, *, retry: RetryPolicy | None = None
) -> LighterVenue:
    """A venue for public reads. Reading candles and funding needs no API key, so none of the
    user's is loaded: the SDK's signer gets a key made up for this run, which signs nothing."""
    private_key, _public_key, error = create_api_key()
    if error or not private_key:
        raise DownloadError(f"the SDK's signer could not start: {error}")
    return LighterVenue(network, url=url, private_key=private_key, retry=retry)


# --- the command -----------------------------------------------------------------------------

EXIT_INTERRUPTED: Final = 130
EXIT_USAGE: Final = 2


def run_download(
    *,
    market: str,
    timeframe: str,
    days: float,
    out_dir: str,
    network: str | None,
    url: str | None,
    config: str | None,
    funding: bool,
) -> int:
    """`rulebot data download`: the download with a progress bar, and its outcome in words.
    Returns the exit code: 0 done, 1 failed, 2 bad flags, 130 interrupted (resumable)."""
    errors = Console(stderr=True, soft_wrap=True)
    out = Console(highlight=False, soft_wrap=True)
    files: list[Path] = []

    def say_error(message: str) -> None:
        errors.print(f"rulebot data download: {message}", markup=False, highlight=False)

    def remember(candles: Path, rates: Path | None) -> None:
        files.extend(path for path in (candles, rates) if path is not None)

    try:
        timeframe_ms(timeframe)
        if not (math.isfinite(days) and days > 0):
            raise UsageError(f"--days must be a number of days above 0, not {days:g}")
        chosen, address = _venue_address(network, url, config)
        result = asyncio.run(
            _download_from(
                chosen, address, market, timeframe, days, out_dir, funding, errors, remember
            )
        )
    except KeyboardInterrupt:
        say_error("interrupted; " + _saved_so_far(files))
        errors.print(
            "run the same command again to go on from there", markup=False, highlight=False
        )
        return EXIT_INTERRUPTED
    except UsageError as problem:
        say_error(str(problem))
        return EXIT_USAGE
    except (DownloadError, VenueError) as problem:
        say_error(str(problem))
        return 1
    except OSError as problem:
        say_error(f"{problem.filename or ''}: {problem.strerror or problem}".lstrip(": "))
        return 1
    _summarise(out, result, funding)
    return 0


def _venue_address(
    network: str | None, url: str | None, config_path: str | None
) -> tuple[str, str | None]:
    """(network, URL or None) from the flags, else rulebot.yaml; None for `sim` means start
    one here."""
    from rulebot.config import ConfigError, load_config

    path = config_path or ("rulebot.yaml" if Path("rulebot.yaml").is_file() else None)
    configured_name, configured_url = "sim", None
    if path is not None:
        try:
            settings = load_config(path, read_key=False)  # reads need no key: none is loaded
        except ConfigError as error:
            raise UsageError(str(error)) from None
        configured_name, configured_url = settings.network.name, settings.network.url
    name = network or configured_name
    if name not in NETWORKS:
        guess = did_you_mean(name, NETWORKS)
        hint = f" (did you mean {guess}?)" if guess else ""
        raise UsageError(f"unknown network {name!r}{hint}: one of {', '.join(NETWORKS)}")
    address = url or (configured_url if name == configured_name else None)
    if address is not None and not address.startswith(("http://", "https://")):
        raise UsageError(f"--url must start with http:// or https://, not {address!r}")
    return name, address


async def _download_from(
    network: str,
    url: str | None,
    market: str,
    timeframe: str,
    days: float,
    out_dir: str,
    funding: bool,
    console: Console,
    on_files: Callable[[Path, Path | None], None],
) -> DownloadResult:
    """Connect (starting an in-process sim for `sim` without a URL) and download with a bar."""
    from rulebot.venues.sim.serving import serve_sim
    from rulebot.venues.sim.simulation import SimStartError

    async with contextlib.AsyncExitStack() as stack:
        if network == "sim" and url is None:
            try:
                running = await stack.enter_async_context(serve_sim())
            except SimStartError as error:
                raise DownloadError(f"cannot start the sim: {error}") from None
            url = running.url
        venue = read_only_venue(network, url)
        try:
            await stack.enter_async_context(venue)
        except VenueError as error:
            raise DownloadError(f"{venue.url}: {error}") from None
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, transient=True) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(what: str, done: int, total: int) -> None:
                if what not in tasks:
                    unit = "hours" if what.endswith("funding") else "bars"
                    tasks[what] = bar.add_task(f"{what} {unit}", total=total)
                bar.update(tasks[what], completed=done, total=total)

            return await download(
                venue,
                market,
                timeframe,
                days,
                out_dir,
                funding=funding,
                progress=progress,
                on_files=on_files,
            )


def _saved_so_far(files: list[Path]) -> str:
    if not files:
        return "nothing was written"
    said = []
    for path in files:
        last = last_saved(path)
        if last is not None:
            said.append(f"{path} holds rows up to {_when(last)}")
    return "; ".join(said) if said else "nothing was written"


def _summarise(out: Console, result: DownloadResult, funding_asked: bool) -> None:
    bars = result.candles
    expected = result.window.bars
    span = f"{_when(bars.first_ms)} → {_when(bars.last_ms)}" if bars.first_ms else ""
    out.print(
        f"{result.market} {result.timeframe}: {bars.rows} bars in {bars.path} "
        f"({bars.added} new), {span}",
        markup=False,
    )
    in_window = bars.rows if bars.first_ms is None else None
    if bars.first_ms is not None and bars.first_ms > result.window.first_ms:
        in_window = _slots(bars.first_ms, result.window.last_ms, result.window.step_ms)
        out.print(
            f"note: the venue's {result.timeframe} history for {result.market} starts at "
            f"{_when(bars.first_ms)}: {in_window} of the {expected} bars asked for",
            markup=False,
        )
    paid = result.funding
    if paid is not None:
        out.print(
            f"{result.market} funding: {paid.rows} rates in {paid.path} ({paid.added} new)",
            markup=False,
        )
    elif funding_asked:
        out.print(f"note: {result.market} paid no funding in the window: no funding file")
    funding = f" --funding {paid.path}" if paid is not None else ""
    out.print(f"backtest on it: rulebot backtest RULES --data {bars.path}{funding}", markup=False)


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _duration(ms: int) -> str:
    for unit, size in (("d", DAY_MS), ("h", HOUR_MS), ("m", MINUTE_MS), ("s", 1000)):
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms} ms"

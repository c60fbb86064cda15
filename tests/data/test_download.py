"""`rulebot data download` against the real sim on a loopback port, through the real lighter-sdk:
the files hold exactly the replayed shipped data, load and backtest, resume after an interruption
(a real Ctrl+C included) to the very bytes of an uninterrupted download, and every failure a user
can meet ends in one clear message."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rulebot import backtest
from rulebot.cli import app
from rulebot.data.candles import (
    CANDLE_COLUMNS,
    Candles,
    load_candles,
    load_funding,
    shipped_candles,
    shipped_funding,
)
from rulebot.data.download import DownloadResult, download, read_only_venue
from rulebot.venues.sim.serving import SimThread, serve_sim
from rulebot.venues.sim.settings import SimSettings
from rulebot.venues.units import MarketInfo

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "rulebot" / "data" / "candles"
HOUR_MS = 3_600_000
FIVE_MINUTES = 300_000
DAYS = 3
BARS = DAYS * 24 * 12
PAUSE_S = 0.02
PATIENCE_S = 60.0


@dataclass(frozen=True)
class Loopback:
    """The module's sim: its thread (faults are armed on its own loop) and its address."""

    thread: SimThread
    url: str


@pytest.fixture(scope="module")
def sim() -> Iterator[Loopback]:
    """One paused sim (the shipped markets) on a thread of its own for the whole module: paused,
    its newest closed bar, and so every download's window, stay put; downloads only read."""
    thread = SimThread(SimSettings(speed=0))
    running = thread.start()
    try:
        yield Loopback(thread, running.url)
    finally:
        thread.stop()


async def fetch(url: str, market: str, days: float, out: Path, **options: object) -> DownloadResult:
    async with read_only_venue("sim", url) as venue:
        return await download(venue, market, "5m", days, out, **options)  # type: ignore[arg-type]


async def market_info(url: str, market: str) -> MarketInfo:
    async with read_only_venue("sim", url) as venue:
        return await venue.market(market)


def units(path: Path, info: MarketInfo) -> np.ndarray:
    """A candle file's rows in venue units (prices x 10^price_decimals, volume x
    10^size_decimals), read exactly from the text; each must be a whole number."""
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(CANDLE_COLUMNS)
    scales = [0] + [info.price_decimals] * 4 + [info.size_decimals]
    rows = []
    for line in lines[1:]:
        values = [
            Decimal(cell).scaleb(scale) for cell, scale in zip(line.split(","), scales, strict=True)
        ]
        assert all(value == value.to_integral_value() for value in values), line
        rows.append([int(value) for value in values])
    return np.array(rows, dtype=np.int64)


def shipped_units(candles: Candles, info: MarketInfo) -> np.ndarray:
    """The shipped bars as the sim replays them: rounded once to the market's units."""
    columns = [np.asarray(candles.timestamp, dtype=np.int64)]
    for name in CANDLE_COLUMNS[1:]:
        decimals = info.size_decimals if name == "volume" else info.price_decimals
        scaled = np.asarray(getattr(candles, name), dtype=np.float64) * 10.0**decimals
        columns.append(np.rint(scaled).astype(np.int64))
    return np.column_stack(columns)


def replayed_from(got: np.ndarray, shipped: np.ndarray) -> int:
    """Where in the shipped bars the downloaded ones start: the one offset at which every
    downloaded bar's OHLCV is the shipped bar's."""
    n = len(got)
    starts = np.flatnonzero((shipped[: len(shipped) - n + 1, 1:] == got[0, 1:]).all(axis=1))
    found = [int(k) for k in starts if np.array_equal(shipped[k : k + n, 1:], got[:, 1:])]
    assert len(found) == 1, f"the download matches the shipped bars at {found}"
    return found[0]


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["data", "download", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    output = result.output
    assert "Traceback" not in output
    return result.exit_code, output


# --- what a download holds ------------------------------------------------------------------


async def test_the_candles_are_the_replayed_shipped_data_and_backtest(
    sim: Loopback, tmp_path: Path
) -> None:
    result = await fetch(sim.url, "eth", DAYS, tmp_path)
    info = await market_info(sim.url, "ETH")
    assert result.candles.path == tmp_path / "eth_5m.csv"
    assert (result.candles.added, result.candles.rows, result.window.bars) == (BARS, BARS, BARS)

    got = units(result.candles.path, info)
    shipped = shipped_units(shipped_candles("eth_btc_5m"), info)
    start = replayed_from(got, shipped)
    shift = got[:, 0] - shipped[start : start + BARS, 0]
    assert len(set(shift.tolist())) == 1  # the same spacing, every gap where the data has it
    assert set(np.diff(got[:, 0]).tolist()) == {FIVE_MINUTES}

    candles = load_candles(result.candles.path)
    assert len(candles) == BARS and candles.timeframe_ms == FIVE_MINUTES
    run = backtest(ROOT / "rules" / "mean_reversion.rule", candles)
    assert len(run.equity) == BARS  # every bar of the file backtested
    assert run.metrics.end == datetime.fromtimestamp(candles.timestamp[-1] / 1000, UTC)


async def test_funding_is_the_replayed_funding_as_signed_fractions(tmp_path: Path) -> None:
    """XRP's shipped rates, negative ones among them, restamped every 8 hours from the candles'
    first bar so that the sim's history holds a dozen of them: each arrives as the fraction
    it is in the file, negative when shorts paid, at its funding time (the replay shifts 5m
    data by whole 5 minutes, so the sim pays them off the hour: each is written at the nearest
    hour, as Lighter funds)."""
    candles_file = SHIPPED / "xrp_usdt_perp_5m.csv"
    candles = shipped_candles("xrp_usdt_perp_5m")
    rates = shipped_funding("xrp_usdt_perp_funding_8h").rate
    first_negative = int(np.flatnonzero(rates < 0)[0])
    chosen = rates[first_negative - 4 : first_negative + 16]
    stamps = int(candles.timestamp[0]) + 8 * HOUR_MS * np.arange(len(chosen))
    funding_file = tmp_path / "xrp_funding_8h.csv"
    funding_file.write_text(
        "timestamp,rate\n"
        + "".join(f"{t},{float(r)!r}\n" for t, r in zip(stamps, chosen, strict=True))
    )
    settings = SimSettings(data=(f"XRP={candles_file},{funding_file}",), speed=0)
    async with serve_sim(settings) as sim:
        result = await fetch(sim.url, "XRP", DAYS, tmp_path / "out")
        info = await market_info(sim.url, "XRP")
    assert result.funding is not None
    assert result.funding.path == tmp_path / "out" / "xrp_funding.csv"

    got = units(result.candles.path, info)
    shipped = shipped_units(candles, info)
    shift = int(got[0, 0] - shipped[replayed_from(got, shipped), 0])
    moved = (stamps + shift + HOUR_MS // 2) // HOUR_MS * HOUR_MS
    inside = (moved >= result.window.first_ms) & (moved <= result.window.funding_end_ms)
    assert (chosen[inside] < 0).any() and (chosen[inside] > 0).any()

    funding = load_funding(result.funding.path)
    assert funding.timestamp.tolist() == moved[inside].tolist()
    assert funding.rate.tolist() == chosen[inside].tolist()


async def test_funding_rows_are_stamped_with_their_funding_time(tmp_path: Path) -> None:
    """Payments the venue stamps late (or a little early) are written at the hour they settle,
    the time a backtest charges them at: XRP's hourly candles (so the replay's shift is whole
    hours) with its shipped rates restamped every 8 hours, up to 2.5 s off the hour."""
    candles_file = SHIPPED / "xrp_usdt_perp_1h.csv"
    candles = shipped_candles("xrp_usdt_perp_1h")
    rates = shipped_funding("xrp_usdt_perp_funding_8h").rate[:12]
    hours = int(candles.timestamp[0]) + 8 * HOUR_MS * np.arange(len(rates))
    off = np.resize(np.array([17, 1_017, 2_499, -1_500]), len(rates))
    funding_file = tmp_path / "xrp_funding_8h.csv"
    funding_file.write_text(
        "timestamp,rate\n"
        + "".join(f"{t},{float(r)!r}\n" for t, r in zip(hours + off, rates, strict=True))
    )
    settings = SimSettings(data=(f"XRP={candles_file},{funding_file}",), speed=0)
    async with serve_sim(settings) as sim:
        async with read_only_venue("sim", sim.url) as venue:
            result = await download(venue, "XRP", "1h", 2, tmp_path / "out")
        info = await market_info(sim.url, "XRP")
    assert result.funding is not None

    got = units(result.candles.path, info)
    shipped = shipped_units(candles, info)
    shift = int(got[0, 0] - shipped[replayed_from(got, shipped), 0])
    assert shift % HOUR_MS == 0
    settled = hours + shift
    inside = (settled >= result.window.first_ms) & (settled <= result.window.funding_end_ms)
    assert inside.sum() >= 4

    funding = load_funding(result.funding.path)
    assert funding.timestamp.tolist() == settled[inside].tolist()
    assert funding.rate.tolist() == rates[inside].tolist()


async def test_no_funding_file_without_funding(sim: Loopback, tmp_path: Path) -> None:
    result = await fetch(sim.url, "XRP", 1, tmp_path, funding=False)
    assert result.funding is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["xrp_5m.csv"]


# --- resuming -------------------------------------------------------------------------------


async def test_a_longer_window_and_a_cut_file_resume_to_the_uninterrupted_bytes(
    sim: Loopback, tmp_path: Path
) -> None:
    whole, grown = tmp_path / "whole", tmp_path / "grown"
    reference = await fetch(sim.url, "XRP", DAYS, whole)

    first = await fetch(sim.url, "XRP", 1, grown)
    assert first.candles.rows == BARS // DAYS
    longer = await fetch(sim.url, "XRP", DAYS, grown)  # earlier bars go in front
    assert longer.candles.added == BARS - BARS // DAYS
    for name in ("xrp_5m.csv", "xrp_funding.csv"):
        assert (grown / name).read_bytes() == (whole / name).read_bytes()

    candles = grown / "xrp_5m.csv"
    lines = candles.read_bytes().splitlines(keepends=True)
    candles.write_bytes(b"".join(lines[:301]) + lines[301][:17])  # a write cut mid-line
    again = await fetch(sim.url, "XRP", DAYS, grown)
    assert (again.candles.added, again.candles.rows) == (BARS - 300, BARS)
    assert again.funding is not None and again.funding.added == 0
    assert candles.read_bytes() == (whole / "xrp_5m.csv").read_bytes()
    assert reference.candles.rows == BARS

    unchanged = await fetch(sim.url, "XRP", DAYS, grown)  # nothing new: nothing written
    assert (unchanged.candles.added, unchanged.candles.rows) == (0, BARS)
    assert candles.read_bytes() == (whole / "xrp_5m.csv").read_bytes()


def test_ctrl_c_leaves_a_consistent_file_and_the_same_command_resumes(
    sim: Loopback, tmp_path: Path
) -> None:
    out, whole = tmp_path / "out", tmp_path / "whole"
    file = out / "eth_5m.csv"
    command = [
        sys.executable,
        "-m",
        "rulebot",
        "data",
        "download",
        "--market",
        "ETH",
        "--days",
        str(DAYS),
        "--network",
        "sim",
        "--url",
        sim.url,
        "--out",
        str(out),
        "--no-funding",
    ]
    # candles answer slowly, so that the Ctrl+C lands between two chunks
    sim.thread.call(lambda simulation: simulation.faults.delay(500, path="/api/v1/candles"))
    try:
        process = subprocess.Popen(
            command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + PATIENCE_S
        while len(rows_of(file)) < 2 and process.poll() is None:
            assert time.monotonic() < deadline, "the download wrote nothing"
            time.sleep(PAUSE_S)
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=PATIENCE_S)
    finally:
        sim.thread.call(lambda simulation: simulation.faults.clear())
    assert process.returncode == 130, errors
    assert "interrupted" in errors and "run the same command again" in errors
    assert "Traceback" not in errors
    partial = load_candles(file)  # whole rows, in order, nothing repeated
    assert 0 < len(partial) < BARS

    code, output = run_cli(*command[5:])  # the same command again, in this process
    assert code == 0, output
    assert f"{BARS} bars in {file} ({BARS - len(partial)} new)" in output
    asyncio.run(fetch(sim.url, "ETH", DAYS, whole, funding=False))
    assert file.read_bytes() == (whole / "eth_5m.csv").read_bytes()


def rows_of(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


# --- failures, each one clear ---------------------------------------------------------------


def test_the_command_downloads_and_says_where(sim: Loopback, tmp_path: Path) -> None:
    code, output = run_cli(
        "-m", "XRP", "--days", "1", "--network", "sim", "--url", sim.url, "-o", str(tmp_path)
    )
    assert code == 0, output
    assert f"{BARS // DAYS} bars in {tmp_path / 'xrp_5m.csv'}" in output
    assert f"--data {tmp_path / 'xrp_5m.csv'} --funding {tmp_path / 'xrp_funding.csv'}" in output

    code, output = run_cli(
        "-m", "LTC", "--days", "1", "--network", "sim", "--url", sim.url, "-o", str(tmp_path)
    )
    assert code == 0, output
    assert "LTC paid no funding in the window: no funding file" in output
    assert not (tmp_path / "ltc_funding.csv").exists()


def test_an_unknown_market_gets_a_did_you_mean(sim: Loopback, tmp_path: Path) -> None:
    code, output = run_cli("-m", "ETHH", "--network", "sim", "--url", sim.url, "-o", str(tmp_path))
    assert code == 1
    assert "unknown market 'ETHH'" in output and "did you mean 'ETH'" in output
    assert not tmp_path.joinpath("ethh_5m.csv").exists()


def test_a_resolution_the_venue_does_not_serve(sim: Loopback, tmp_path: Path) -> None:
    code, output = run_cli(
        "-m", "ETH", "-t", "1m", "--network", "sim", "--url", sim.url, "-o", str(tmp_path)
    )
    assert code == 1
    assert "does not serve 1m candles for ETH" in output
    assert list(tmp_path.iterdir()) == []


def test_a_timeframe_lighter_does_not_have_is_a_usage_error(tmp_path: Path) -> None:
    code, output = run_cli("-m", "ETH", "-t", "2m", "-o", str(tmp_path))
    assert code == 2
    assert "Lighter has no '2m' candles" in output and "1m, 5m, 15m" in output


def test_a_venue_that_does_not_answer(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    code, output = run_cli("-m", "ETH", "--network", "sim", "--url", url, "-o", str(tmp_path))
    assert code == 1
    assert f"{url}: cannot reach the venue" in output


HEADER = ",".join(CANDLE_COLUMNS)
LONG_AGO = 1_500_000_000_000  # 2017-07-14, a 5m boundary, long before the sim's bars


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("time,o,h,l,c,v\n1,1,1,1,1,1\n", "the header is `time,o,h,l,c,v`"),
        (
            f"{HEADER}\n{LONG_AGO},1,1,1,1,1\n{LONG_AGO + 900_000},1,1,1,1,1\n",
            "its bars are 15m apart, not 5m",
        ),
        (
            f"{HEADER}\n{LONG_AGO},1,1,1,1,1\n{LONG_AGO + 300_000},1,2,1,1,1\n",
            "the venue has nothing there",
        ),
        (f"{HEADER}\n{LONG_AGO},1,1,1,1,1\n{LONG_AGO},1,1,1,1,1\n", "repeats line 2"),
        (
            f"{HEADER}\n{LONG_AGO // 1000},1,1,1,1,1\n{LONG_AGO // 1000 + 300},1,1,1,1,1\n",
            "is not a row as this command writes them",
        ),
    ],
    ids=["foreign header", "another timeframe", "another series", "repeated row", "seconds"],
)
def test_a_file_that_cannot_be_continued_is_left_alone(
    sim: Loopback, tmp_path: Path, text: str, said: str
) -> None:
    file = tmp_path / "eth_5m.csv"
    file.write_text(text)
    code, output = run_cli("-m", "ETH", "--network", "sim", "--url", sim.url, "-o", str(tmp_path))
    assert code == 1
    assert said in output and str(file) in output
    assert file.read_text() == text


def test_days_must_be_positive(tmp_path: Path) -> None:
    code, output = run_cli("-m", "ETH", "--days", "0", "-o", str(tmp_path))
    assert code == 2
    assert "--days must be a number of days above 0" in output


def test_an_unknown_network_gets_a_did_you_mean(tmp_path: Path) -> None:
    code, output = run_cli("-m", "ETH", "--network", "mainet", "-o", str(tmp_path))
    assert code == 2
    assert "unknown network 'mainet' (did you mean mainnet?)" in output

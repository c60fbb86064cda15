"""Candle and funding files in: the shipped data loads, every bad row is named by its line, and
gaps, alignment and the Parquet extra behave as documented."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from rulebot.data import (
    Candles,
    DataError,
    DataProblem,
    FundingRates,
    align,
    find_gaps,
    load_candles,
    load_funding,
    shipped_candles,
    shipped_files,
    shipped_funding,
)
from rulebot.data.candles import DAY_MS, SHOWN_PROBLEMS, closed_days, missing_open_bars

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = resources.files("rulebot.data") / "candles"
FUNDING_FILE = "xrp_usdt_perp_funding_8h.csv"
CANDLE_FILES = [name for name in shipped_files() if name != FUNDING_FILE]
FIVE_MINUTES = 300_000

HEADER = "timestamp,open,high,low,close,volume"
GOOD = [
    "1515560100000,1.0,1.2,0.9,1.1,10",
    "1515560400000,1.1,1.3,1.0,1.2,12",
    "1515560700000,1.2,1.25,1.1,1.15,8",
]


def write(tmp_path: Path, *rows: str, header: str = HEADER, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def problems_of(path: Path, loader=load_candles) -> list[DataProblem]:
    with pytest.raises(DataError) as caught:
        loader(path)
    return caught.value.problems


def message_of(path: Path, loader=load_candles) -> str:
    with pytest.raises(DataError) as caught:
        loader(path)
    return str(caught.value)


def shipped_rows() -> dict[str, int]:
    """The bar counts SOURCES.md's table states, by file."""
    table = {}
    for line in (SHIPPED / "SOURCES.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 5 and cells[0].endswith(".csv"):
            table[cells[0]] = int(cells[2].replace(",", ""))
    return table


# --- the shipped files ----------------------------------------------------------------------


def test_every_csv_from_shared_data_is_shipped_and_described() -> None:
    assert len(shipped_files()) == 12
    assert set(shipped_rows()) == set(shipped_files())


@pytest.mark.parametrize("name", CANDLE_FILES)
def test_shipped_candles_load_whole_and_match_the_stated_bar_count(name: str) -> None:
    bars = shipped_candles(name)
    assert len(bars) == shipped_rows()[name]
    assert bars.timestamp.dtype == np.int64 and bars.close.dtype == np.float64
    assert np.all(np.diff(bars.timestamp) > 0)
    assert np.all(bars.high >= np.maximum(bars.open, bars.close))
    assert np.all(bars.low <= np.minimum(bars.open, bars.close))
    # the same file by path gives the same bars
    same = load_candles(Path(bars.source))
    assert np.array_equal(same.timestamp, bars.timestamp)
    assert np.array_equal(same.volume, bars.volume)


@pytest.mark.parametrize(
    ("name", "timeframe_ms"),
    [
        ("eth_btc_5m", FIVE_MINUTES),
        ("unittest_btc_1m", 60_000),
        ("xrp_usdt_perp_1h", 3_600_000),
        ("goog_1d", 86_400_000),
    ],
)
def test_timeframe_is_the_modal_bar_spacing(name: str, timeframe_ms: int) -> None:
    assert shipped_candles(name).timeframe_ms == timeframe_ms


def test_shipped_funding_loads_with_load_funding() -> None:
    with resources.as_file(SHIPPED / FUNDING_FILE) as path:
        rates = load_funding(path)
    assert len(rates) == shipped_rows()[FUNDING_FILE] == 91
    assert rates.interval_ms == 8 * 3_600_000  # despite the ms of jitter in the stamps
    assert rates.timestamp[0] == 1637193600017
    assert rates.rate.min() < 0 < rates.rate.max() < 0.01
    assert np.array_equal(shipped_funding().rate, rates.rate)


def test_a_candle_loader_pointed_at_funding_rates_says_which_loader_to_use() -> None:
    with pytest.raises(DataError, match="load it with load_funding"):
        shipped_candles(FUNDING_FILE)


def test_unknown_shipped_name_suggests_the_closest() -> None:
    with pytest.raises(DataError, match=r"did you mean `eth_btc_5m`\?"):
        shipped_candles("eth_btc_5")


# --- validation: each rule, with its line number --------------------------------------------


@pytest.mark.parametrize(
    ("rows", "line", "expected"),
    [
        ([GOOD[0], GOOD[2], GOOD[1]], 4, "is earlier than line 3's"),
        ([GOOD[0], GOOD[1], "1515560400000,1.2,1.3,1.1,1.2,5"], 4, "repeats line 3"),
        ([GOOD[0], "1515560400000,nan,1.3,1.0,1.2,12", GOOD[2]], 3, "open is NaN"),
        ([GOOD[0], "1515560400000,1.1,1.3,1.0,inf,12", GOOD[2]], 3, "close is infinite"),
        ([GOOD[0], "1515560400000,1.1,,1.0,1.2,12", GOOD[2]], 3, "high is empty"),
        ([GOOD[0], "1515560400000,1.1,1.3,abc,1.2,12", GOOD[2]], 3, "low `abc` is not a number"),
        ([GOOD[0], GOOD[1], "1515560700000,1.2,1.25,1.1,1.15,"], 4, "volume is empty"),
        (
            [GOOD[0], "1515560400000,1.1,1.15,1.0,1.2,12", GOOD[2]],
            3,
            "high 1.15 is below close 1.2",
        ),
        ([GOOD[0], "1515560400000,1.25,1.2,1.0,1.1,12", GOOD[2]], 3, "high 1.2 is below open 1.25"),
        ([GOOD[0], "1515560400000,1.1,1.3,1.15,1.2,12", GOOD[2]], 3, "low 1.15 is above open 1.1"),
        ([GOOD[0], "1515560400000,1.1,1.0,1.3,1.2,12", GOOD[2]], 3, "low 1.3 is above high 1.0"),
        ([GOOD[0], "1515560400000,-1,1.3,-2,1.2,12", GOOD[2]], 3, "open -1.0 is not positive"),
        ([GOOD[0], "1515560400000,0,0,0,0,12", GOOD[2]], 3, "close 0.0 is not positive"),
        ([GOOD[0], "1515560400000,1.1,1.3,1.0,1.2,-5", GOOD[2]], 3, "volume -5.0 is negative"),
        ([GOOD[0], "1515560400000,1.1,1.3", GOOD[2]], 3, "3 fields where the header has 6"),
        ([GOOD[0], "", GOOD[1]], 3, "empty line"),
        ([GOOD[0], GOOD[1], "1515560700000.5,1,1,1,1,1"], 4, "not a whole number of millis"),
        ([GOOD[0], GOOD[1], "1515560700000000,1,1,1,1,1"], 4, "microseconds or nanoseconds"),
    ],
)
def test_each_rule_reports_the_file_line(
    tmp_path: Path, rows: list[str], line: int, expected: str
) -> None:
    problems = problems_of(write(tmp_path, *rows))
    assert [problem.line for problem in problems] == [line]
    assert expected in problems[0].message


def test_every_bad_row_is_reported_not_just_the_first(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        GOOD[0],
        "1515560400000,1.1,1.0,0.9,1.05,1",  # high below open
        GOOD[2],
        "1515561000000,x,1,1,1,1",  # open not a number
        "1515561300000,1,1,1,1,-1",  # negative volume
    )
    problems = problems_of(path)
    assert [(p.line, p.message.split()[0]) for p in problems] == [
        (3, "high"),
        (5, "open"),
        (6, "volume"),
    ]
    text = message_of(path)
    assert text.splitlines()[0] == f"{path}: 3 problems, nothing loaded"
    assert f"{path}:3: high 1.0 is below open 1.1" in text
    assert f"{path}:5: open `x` is not a number" in text
    assert "Traceback" not in text


def test_all_faults_of_one_row_are_named_on_its_line(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, GOOD[0], "1515560100000,abc,1,,1,-1"))
    assert len(problems) == 1
    assert problems[0].line == 3
    for part in ("repeats line 2", "open `abc`", "low is empty", "volume -1.0 is negative"):
        assert part in problems[0].message


def test_the_message_lists_twenty_problems_then_how_many_more(tmp_path: Path) -> None:
    bad = [f"{1515560100000 + i * FIVE_MINUTES},1,1,1,1,-1" for i in range(25)]
    path = write(tmp_path, *bad)
    problems = problems_of(path)
    assert [p.line for p in problems] == list(range(2, 27))
    lines = message_of(path).splitlines()
    assert len(lines) == 1 + SHOWN_PROBLEMS + 1
    assert lines[SHOWN_PROBLEMS] == f"{path}:21: volume -1.0 is negative"
    assert lines[-1] == "... and 5 more"


def test_nothing_is_dropped_a_bad_row_fails_the_whole_file(tmp_path: Path) -> None:
    with pytest.raises(DataError):
        load_candles(write(tmp_path, *GOOD, "1515561000000,1,1,1,1,nan"))


# --- files that are not candle data ---------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the file is empty"),
        (b"\n \n", "the file is empty"),
        ((HEADER + "\n").encode(), "no bars: the file has a header but no rows"),
        (bytes(range(256)) * 4, "a binary file, not CSV"),
        (gzip.compress((HEADER + "\n" + GOOD[0]).encode(), mtime=0), "gzip-compressed"),
        ((HEADER.replace(",", ";") + "\n").encode(), "separated by semicolons"),
        ((GOOD[0] + "\n" + GOOD[1]).encode(), "the first line holds data, not the header"),
    ],
)
def test_a_file_that_is_not_candles_says_what_it_is(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "bars.csv"
    path.write_bytes(content)
    text = message_of(path)
    assert text.startswith(f"{path}")
    assert expected in text
    assert "\n" not in text and "Traceback" not in text


def test_text_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_bytes(f"{HEADER}\n{GOOD[0]}\n".encode() + b"1515560400000,1.1,1.3,1.0,1.2,\xe912\n")
    assert [p.line for p in problems_of(path)] == [3]


def test_missing_columns_are_named_with_a_did_you_mean(tmp_path: Path) -> None:
    path = write(tmp_path, "1,2,3,4,5,6", header="time,open,high,low,close,vol")
    problems = problems_of(path)
    assert [p.line for p in problems] == [1]
    message = problems[0].message
    assert "missing columns `timestamp` (did you mean `time`?)" in message
    assert "`volume` (did you mean `vol`?)" in message
    assert "`open`" not in message.split(":")[0]


def test_header_case_order_and_extra_columns_do_not_matter(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "10,1515560100000,1.0,1.2,0.9,1.1,7",
        header="Volume,Timestamp,Open,High,Low,Close,trades",
    )
    bars = load_candles(path)
    assert bars.timestamp.tolist() == [1515560100000]
    assert bars.volume.tolist() == [10.0]
    assert bars.close.tolist() == [1.1]


def test_missing_file_and_folder(tmp_path: Path) -> None:
    write(tmp_path, *GOOD, name="eth_5m.csv")
    assert "did you mean" in message_of(tmp_path / "eth_5n.csv")
    assert message_of(tmp_path / "nothing.csv") == f"{tmp_path / 'nothing.csv'}: no such file"
    assert "is a folder" in message_of(tmp_path)


# --- what loads -----------------------------------------------------------------------------


def test_one_bar_loads_without_a_timeframe(tmp_path: Path) -> None:
    bars = load_candles(write(tmp_path, GOOD[0]))
    assert len(bars) == 1
    assert bars.timeframe_ms is None
    assert find_gaps(bars) == []


def test_seconds_timestamps_are_read_as_seconds(tmp_path: Path) -> None:
    rows = [row.replace("000,", ",", 1) for row in GOOD]  # 1515560100000 -> 1515560100
    assert rows[0].startswith("1515560100,")
    bars = load_candles(write(tmp_path, *rows))
    assert bars.timestamp.tolist() == [1515560100000, 1515560400000, 1515560700000]
    assert bars.timeframe_ms == FIVE_MINUTES


def test_iso_timestamps_in_utc_with_or_without_an_offset(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "2018-01-10T04:55:00Z,1.0,1.2,0.9,1.1,10",
        "2018-01-10 05:00:00,1.1,1.3,1.0,1.2,12",  # no offset: UTC
        "2018-01-10T06:05:00+01:00,1.2,1.25,1.1,1.15,8",
    )
    assert load_candles(path).timestamp.tolist() == [1515560100000, 1515560400000, 1515560700000]


def test_an_iso_column_with_a_bad_stamp_names_it(tmp_path: Path) -> None:
    path = write(tmp_path, "2018-01-10T04:55:00Z,1.0,1.2,0.9,1.1,10", "yesterday,1,1,1,1,1")
    problems = problems_of(path)
    assert problems == [
        DataProblem(3, "timestamp `yesterday` is neither a number nor an ISO-8601 date-time")
    ]


def test_crlf_bom_quotes_and_trailing_blank_lines_read_as_plain_csv(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    rows = [HEADER, GOOD[0], '"1515560400000","1.1","1.3","1.0","1.2","12"', GOOD[2], "", ""]
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(rows).encode())
    bars = load_candles(path)
    assert bars.timestamp.tolist() == [1515560100000, 1515560400000, 1515560700000]
    assert bars.high.tolist() == [1.2, 1.3, 1.25]


# --- the series -----------------------------------------------------------------------------


def test_slice_between_and_last_days() -> None:
    bars = shipped_candles("eth_btc_5m")
    first = int(bars.timestamp[0])
    part = bars.slice(10, 20)
    assert len(part) == 10 and part.timestamp[0] == bars.timestamp[10]
    assert part.timeframe_ms == FIVE_MINUTES and part.source == bars.source
    window = bars.between(first + FIVE_MINUTES, first + 4 * FIVE_MINUTES)  # [start, end)
    assert window.timestamp.tolist() == [first + k * FIVE_MINUTES for k in (1, 2, 3)]
    day = bars.last_days(1)
    assert len(day) == 288
    assert day.timestamp[-1] == bars.timestamp[-1]
    assert len(bars.last_days(0)) == 0


def test_candles_are_read_only_and_print_briefly() -> None:
    bars = shipped_candles("eth_btc_5m")
    with pytest.raises(ValueError, match="read-only"):
        bars.close[0] = 1.0
    assert "5760 bars every 5m, 2018-01-10 04:55 UTC → 2018-01-30 04:50 UTC" in repr(bars)


def test_candles_built_by_hand_check_lengths_and_find_their_timeframe() -> None:
    bars = Candles(np.array([0, 60_000, 120_000]), *([np.ones(3)] * 5), source="hand")
    assert bars.timeframe_ms == 60_000
    with pytest.raises(ValueError, match="differ in length"):
        Candles(np.array([0, 60_000]), *([np.ones(3)] * 5))


# --- gaps and alignment ---------------------------------------------------------------------


def test_gaps_are_found_by_the_modal_spacing() -> None:
    minutes = np.array([0, 1, 2, 5, 6, 7, 9]) * 60_000
    bars = Candles(minutes, *([np.ones(7)] * 5))
    assert find_gaps(bars) == [(3, 2), (6, 1)]


def test_gaps_in_the_shipped_xmr_file() -> None:
    xmr = shipped_candles("xmr_btc_5m")
    gaps = find_gaps(xmr)
    assert [missing for _, missing in gaps] == [1, 1]
    missing_at = [int(xmr.timestamp[index]) - FIVE_MINUTES for index, _ in gaps]
    assert missing_at == [1517064000000, 1517093400000]
    assert find_gaps(shipped_candles("eth_btc_5m")) == []


def test_align_the_four_btc_5m_markets() -> None:
    series = {name: shipped_candles(f"{name}_btc_5m") for name in ("eth", "ltc", "etc", "xmr")}
    aligned = align(series)
    assert list(aligned) == ["eth", "ltc", "etc", "xmr"]
    assert {name: len(bars) for name, bars in aligned.items()} == dict.fromkeys(series, 5757)
    assert aligned.bars_lost == {"eth": 3, "ltc": 3, "etc": 2, "xmr": 1}
    stamps = aligned["eth"].timestamp
    for bars in aligned.values():
        assert np.array_equal(bars.timestamp, stamps)
    # each market keeps its own prices at those moments
    eth = series["eth"]
    at = np.searchsorted(eth.timestamp, stamps)
    assert np.array_equal(aligned["eth"].close, eth.close[at])
    assert 1517287800000 not in stamps  # etc has no last bar
    assert "etc: 5757 bars kept, 2 dropped" in aligned.report()


def test_align_refuses_mixed_timeframes() -> None:
    with pytest.raises(ValueError, match="different timeframes"):
        align({"eth": shipped_candles("eth_btc_5m"), "xrp": shipped_candles("xrp_usdt_perp_1h")})


# --- funding rates --------------------------------------------------------------------------


def test_funding_rows_are_validated_like_candles(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "1637193600017,0.0001",
        "1637222400007,",
        "1637193600017,0.0002",
        "1637280000000,5",
        header="timestamp,rate",
    )
    problems = problems_of(path, load_funding)
    assert [p.line for p in problems] == [3, 4, 5]
    assert problems[0].message == "rate is empty"
    assert "repeats line 2" in problems[1].message
    assert "rates are fractions" in problems[2].message


def test_funding_interval_ignores_the_exchanges_millisecond_jitter() -> None:
    stamps = np.array([0, 28_800_017, 57_600_003, 86_400_020])
    assert FundingRates(stamps, np.zeros(4)).interval_ms == 8 * 3_600_000


def test_funding_loader_pointed_at_candles_says_which_loader_to_use(tmp_path: Path) -> None:
    assert "load it with load_candles" in message_of(write(tmp_path, *GOOD), load_funding)


# --- Parquet --------------------------------------------------------------------------------


def test_parquet_round_trip(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    eth = shipped_candles("eth_btc_5m")
    columns = {name: getattr(eth, name) for name in ("open", "high", "low", "close", "volume")}
    for stamps in (pa.array(eth.timestamp), pa.array(eth.timestamp, pa.timestamp("ms", "UTC"))):
        path = tmp_path / "eth.parquet"
        pq.write_table(pa.table({"timestamp": stamps, **columns}), path)
        bars = load_candles(path)
        assert np.array_equal(bars.timestamp, eth.timestamp)
        for name in columns:
            assert np.array_equal(getattr(bars, name), getattr(eth, name))
        assert bars.timeframe_ms == FIVE_MINUTES


def test_parquet_problems_name_the_row(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "bad.parquet"
    table = {
        "timestamp": pa.array([1515560100000, 1515560400000, 1515560700000]),
        "open": pa.array([1.0, None, 1.2]),
        "high": [1.2, 1.3, 1.0],
        "low": [0.9, 1.0, 1.1],
        "close": [1.1, 1.2, 1.15],
        "volume": [10.0, 12.0, 8.0],
    }
    pq.write_table(pa.table(table), path)
    problems = problems_of(path)
    assert [p.line for p in problems] == [2, 3]
    assert problems[0].message == "open is empty (null)"
    text = message_of(path)
    assert f"{path}: row 3: high 1.0 is below open 1.2" in text


def test_missing_pyarrow_tells_the_user_which_extra_to_install(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "eth.parquet"
    pq.write_table(pa.table({"timestamp": [1515560100000], "open": [1.0]}), path)
    blocked = (
        "import sys\n"
        "class NoPyarrow:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'pyarrow':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, NoPyarrow())\n"
        "from rulebot.data import DataError, load_candles\n"
        "try:\n"
        "    load_candles(sys.argv[1])\n"
        "except DataError as error:\n"
        "    print(error)\n"
        "    sys.exit(3)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-c", blocked, str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert run.returncode == 3, run.stderr
    assert re.fullmatch(
        rf"{re.escape(str(path))}: reading Parquet files needs pyarrow.*"
        r"pip install 'rulebot\[parquet\]'\n",
        run.stdout,
    )


def test_iso_timestamps_match_the_shipped_ms(tmp_path: Path) -> None:
    eth = shipped_candles("eth_btc_5m").slice(0, 50)
    rows = [
        datetime.fromtimestamp(int(ms) / 1000, UTC).isoformat() + f",{o!r},{h!r},{lo!r},{c!r},{v!r}"
        for ms, o, h, lo, c, v in zip(
            eth.timestamp,
            eth.open.tolist(),
            eth.high.tolist(),
            eth.low.tolist(),
            eth.close.tolist(),
            eth.volume.tolist(),
            strict=True,
        )
    ]
    bars = load_candles(write(tmp_path, *rows))
    assert np.array_equal(bars.timestamp, eth.timestamp)
    assert np.array_equal(bars.close, eth.close)


def test_a_market_closed_at_weekends_misses_only_the_weekdays_it_lacks() -> None:
    goog = shipped_candles("goog_1d")
    assert closed_days(goog) == {5, 6}  # no bar on a Saturday or a Sunday
    days = {datetime.fromtimestamp(t / 1000, UTC).date() for t in goog.timestamp.tolist()}
    first, last = min(days), max(days)
    weekdays = (first + timedelta(n) for n in range((last - first).days + 1))
    holidays = sum(1 for day in weekdays if day.weekday() < 5 and day not in days)
    assert sum(count for _, count in find_gaps(goog)) > holidays  # weekends counted as gaps
    assert missing_open_bars(goog) == holidays


def test_a_market_open_every_day_misses_every_bar_it_lacks() -> None:
    start = 1_700_000_000_000 - 1_700_000_000_000 % DAY_MS
    stamps = [start + day * DAY_MS for day in range(30) if day not in (9, 10, 20)]
    bars = Candles(np.array(stamps), *([np.ones(len(stamps))] * 5), timeframe_ms=DAY_MS)
    assert closed_days(bars) == frozenset()
    assert missing_open_bars(bars) == 3

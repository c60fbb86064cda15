"""Candle and funding-rate files in: load, validate, align, and the files rulebot ships.

A loader returns a complete, validated series or raises `DataError` naming every bad row by its
line; it never drops or repairs a row, because a backtest on silently patched data misleads.
Gaps (missing bars) are not errors: markets close and exchanges go down; `find_gaps` reports them.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import reduce
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from rulebot.lang.suggest import did_you_mean

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

CANDLE_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
FUNDING_COLUMNS = ("timestamp", "rate")
PARQUET_SUFFIXES = (".parquet", ".pq")
SHOWN_PROBLEMS = 20
"""How many problems `str(DataError)` lists before `... and N more`."""

DAY_MS = 86_400_000
SECONDS_BELOW = 1e11
"""Numeric timestamps are read as seconds when every one is below this (1e11 ms is March 1973,
1e11 s is the year 5138), and as milliseconds otherwise."""
MS_BELOW = 1e14
"""Millisecond timestamps at or above this (the year 5138) are microseconds or nanoseconds."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


# --- errors ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DataProblem:
    """One thing wrong with a data file. `line` is the CSV file line (the header is line 1) or the
    Parquet row (the first row is 1); None when the problem is the file as a whole."""

    line: int | None
    message: str


class DataError(Exception):
    """A data file that cannot be loaded, with every problem found in it.

    `str()` is the message to show a user: one `path:line: problem` line each, the first
    `SHOWN_PROBLEMS` of them, then `... and N more`. `unit` is "line" for CSV, "row" for Parquet.
    """

    def __init__(
        self, path: str | os.PathLike[str], problems: Sequence[DataProblem], *, unit: str = "line"
    ) -> None:
        self.path = str(path)
        self.problems = list(problems)
        self.unit = unit
        super().__init__(self.path, self.problems)

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return self._locate(self.problems[0])
        count = len(self.problems)
        lines = [f"{self.path}: {count} problem{'s' if count != 1 else ''}, nothing loaded"]
        lines += [self._locate(problem) for problem in self.problems[:SHOWN_PROBLEMS]]
        if count > SHOWN_PROBLEMS:
            lines.append(f"... and {count - SHOWN_PROBLEMS} more")
        return "\n".join(lines)

    def _locate(self, problem: DataProblem) -> str:
        if problem.line is None:
            return f"{self.path}: {problem.message}"
        if self.unit == "line":
            return f"{self.path}:{problem.line}: {problem.message}"
        return f"{self.path}: {self.unit} {problem.line}: {problem.message}"


# --- the series -----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Candles:
    """One market's bars: `timestamp` is each bar's open in ms UTC, ascending and unique.

    The arrays are read-only. `timeframe_ms` is the modal bar spacing (computed when not given;
    None for fewer than two bars). `source` is the file the bars came from, or a name.
    """

    timestamp: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    source: str = ""
    timeframe_ms: int | None = None

    def __post_init__(self) -> None:
        _freeze_arrays(self, CANDLE_COLUMNS)
        if self.timeframe_ms is None:
            object.__setattr__(self, "timeframe_ms", _modal_spacing(self.timestamp))

    def __len__(self) -> int:
        return len(self.timestamp)

    def __repr__(self) -> str:
        return f"Candles({self.source!r}, {_describe(self.timestamp, self.timeframe_ms, 'bars')})"

    def slice(self, start: int | None = None, end: int | None = None) -> Candles:
        """Bars `start` up to `end` (exclusive) by position, as in `bars[start:end]`."""
        return self._take(slice(start, end))

    def between(self, start_ms: int | None = None, end_ms: int | None = None) -> Candles:
        """Bars opening at or after `start_ms` and before `end_ms` (ms UTC; None = unbounded)."""
        return self._take(_window(self.timestamp, start_ms, end_ms))

    def last_days(self, n: float) -> Candles:
        """The bars of the last `n` days (24 h each) of the series, up to the last bar's close."""
        if n < 0:
            raise ValueError(f"last_days needs a number of days >= 0, not {n}")
        if not len(self):
            return self
        end = int(self.timestamp[-1]) + (self.timeframe_ms or 0)
        return self.between(end - round(n * DAY_MS), None)

    def _take(self, index: slice | IntArray) -> Candles:
        return Candles(
            *(getattr(self, name)[index] for name in CANDLE_COLUMNS),
            source=self.source,
            timeframe_ms=self.timeframe_ms,
        )


@dataclass(frozen=True, eq=False)
class FundingRates:
    """A perpetual's funding rates: `rate` is the fraction paid per interval (0.0001 = 0.01%),
    longs paying shorts when positive, at `timestamp` (ms UTC). `interval_ms` is the modal spacing
    in whole seconds, since exchanges stamp funding a few ms late."""

    timestamp: IntArray
    rate: FloatArray
    source: str = ""
    interval_ms: int | None = None

    def __post_init__(self) -> None:
        _freeze_arrays(self, FUNDING_COLUMNS)
        if self.interval_ms is None:
            object.__setattr__(self, "interval_ms", _modal_spacing(self.timestamp, 1000))

    def __len__(self) -> int:
        return len(self.timestamp)

    def __repr__(self) -> str:
        described = _describe(self.timestamp, self.interval_ms, "rates")
        return f"FundingRates({self.source!r}, {described})"

    def between(self, start_ms: int | None = None, end_ms: int | None = None) -> FundingRates:
        """Rates stamped at or after `start_ms` and before `end_ms` (ms UTC; None = unbounded)."""
        index = _window(self.timestamp, start_ms, end_ms)
        return FundingRates(
            self.timestamp[index], self.rate[index], self.source, interval_ms=self.interval_ms
        )


def _freeze_arrays(series: object, names: tuple[str, ...]) -> None:
    """Coerce a frozen dataclass's columns to 1-D int64/float64 read-only views of equal length."""
    lengths = set()
    for name in names:
        dtype = np.int64 if name == "timestamp" else np.float64
        array = np.asarray(getattr(series, name), dtype=dtype).view()
        if array.ndim != 1:
            raise ValueError(f"`{name}` must be one-dimensional, not {array.ndim}-dimensional")
        array.flags.writeable = False
        object.__setattr__(series, name, array)
        lengths.add(len(array))
    if len(lengths) > 1:
        sizes = ", ".join(f"{name}={len(getattr(series, name))}" for name in names)
        raise ValueError(f"columns differ in length: {sizes}")


def _window(timestamp: IntArray, start_ms: int | None, end_ms: int | None) -> slice:
    lo = 0 if start_ms is None else int(np.searchsorted(timestamp, start_ms, "left"))
    hi = len(timestamp) if end_ms is None else int(np.searchsorted(timestamp, end_ms, "left"))
    return slice(lo, max(lo, hi))


def _modal_spacing(timestamp: IntArray, resolution: int = 1) -> int | None:
    """The most common gap between neighbouring timestamps, rounded to `resolution` ms; the
    smallest such gap on a tie. None for fewer than two timestamps."""
    if len(timestamp) < 2:
        return None
    steps = np.diff(timestamp)
    if resolution > 1:
        steps = np.rint(steps / resolution).astype(np.int64) * resolution
    values, counts = np.unique(steps, return_counts=True)
    return int(values[np.argmax(counts)])


def _num(value: float) -> str:
    """A number as Python prints a float: exact, and without numpy's `np.float64(...)`."""
    return repr(float(value))


def _duration(ms: int) -> str:
    for unit, size in (("d", DAY_MS), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _when(ms: int) -> str:
    """A timestamp as a UTC date-time a person can read, e.g. `2018-01-10 05:35 UTC`."""
    try:
        moment = _EPOCH + int(ms) * _ONE_MS
    except OverflowError:
        return f"{ms} ms"
    text = moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return text.removesuffix(".000").removesuffix(":00") + " UTC"


def _describe(timestamp: IntArray, spacing: int | None, what: str) -> str:
    if not len(timestamp):
        return f"0 {what}"
    every = f" every {_duration(spacing)}" if spacing else ""
    span = f"{_when(timestamp[0])} → {_when(timestamp[-1])}"
    return f"{len(timestamp)} {what}{every}, {span}"


# --- loading --------------------------------------------------------------------------------


def load_candles(path: str | os.PathLike[str]) -> Candles:
    """Candles from a CSV or Parquet file with the columns `timestamp,open,high,low,close,volume`.

    Timestamps are bar opens in UTC: integer milliseconds, or seconds when every value is below
    1e11, or ISO-8601 date-times (read as UTC when they carry no offset). Files ending in
    `.parquet`/`.pq` (or starting with Parquet's magic bytes) need pyarrow, the `parquet` extra.
    Raises `DataError` listing every problem: unreadable file, bad header, a row out of order or
    repeated, a missing or non-numeric value, a price <= 0, high below open/close, low above them,
    negative volume. Column names are matched without regard to case; extra columns are ignored.
    """
    table = _read(Path(path), CANDLE_COLUMNS)
    return _candles(table)


def load_funding(path: str | os.PathLike[str]) -> FundingRates:
    """Funding rates from a CSV or Parquet file with the columns `timestamp,rate`.

    `rate` is the fraction paid per funding interval; timestamps are read as in `load_candles`.
    Raises `DataError` for rows out of order or repeated, missing or non-numeric rates, and rates
    of 100% or more per interval (a percentage written where a fraction belongs).
    """
    table = _read(Path(path), FUNDING_COLUMNS)
    return _funding(table)


def _candles(table: _Table) -> Candles:
    _check_order(table)
    _check_bars(table)
    table.raise_problems()
    return Candles(
        table.timestamp, *(table.values[name] for name in CANDLE_COLUMNS[1:]), source=table.source
    )


def _funding(table: _Table) -> FundingRates:
    _check_order(table)
    rate = table.values["rate"]
    for i in np.flatnonzero(np.isfinite(rate) & (np.abs(rate) >= 1)):
        table.flag(
            i,
            f"rate {_num(rate[i])} is {rate[i]:.0%} per interval: rates are fractions "
            "(0.0001 = 0.01%), not percentages",
        )
    table.raise_problems()
    return FundingRates(table.timestamp, rate, table.source)


@dataclass
class _Table:
    """A file's columns as numbers before validation, and what was wrong with which rows."""

    source: str
    unit: str  # "line" (CSV) or "row" (Parquet): what `lines` counts
    lines: IntArray
    timestamp: IntArray = field(init=False)
    timestamp_ok: BoolArray = field(init=False)
    values: dict[str, FloatArray] = field(default_factory=dict)
    unreadable: BoolArray = field(init=False)  # rows whose fields could not be split out
    notes: dict[int, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        size = len(self.lines)
        self.timestamp = np.zeros(size, np.int64)
        self.timestamp_ok = np.zeros(size, np.bool_)
        self.unreadable = np.zeros(size, np.bool_)

    def flag(self, row: int | np.integer[Any], message: str) -> None:
        self.notes.setdefault(int(row), []).append(message)

    def raise_problems(self) -> None:
        if self.notes:
            problems = [
                DataProblem(int(self.lines[row]), "; ".join(self.notes[row]))
                for row in sorted(self.notes)
            ]
            raise DataError(self.source, problems, unit=self.unit)


def _fail(source: str, message: str, line: int | None = None) -> DataError:
    return DataError(source, [DataProblem(line, message)])


def _read(path: Path, columns: tuple[str, ...]) -> _Table:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise _fail(str(path), _no_such_file(path)) from None
    except IsADirectoryError:
        raise _fail(str(path), "is a folder, not a data file") from None
    except PermissionError:
        raise _fail(str(path), "cannot be read: permission denied") from None
    except OSError as error:
        raise _fail(str(path), f"cannot be read: {error.strerror or error}") from None
    return _parse(data, str(path), columns, parquet=path.suffix.lower() in PARQUET_SUFFIXES)


def _no_such_file(path: Path) -> str:
    message = "no such file"
    if path.parent.is_dir():
        siblings = [entry.name for entry in path.parent.iterdir() if entry.is_file()]
        guess = did_you_mean(path.name, siblings)
        if guess:
            message += f" (did you mean `{path.parent / guess}`?)"
    return message


def _parse(data: bytes, source: str, columns: tuple[str, ...], *, parquet: bool) -> _Table:
    if not data.strip():
        raise _fail(source, f"the file is empty: expected the header `{','.join(columns)}`")
    if parquet or data[:4] == b"PAR1":
        return _parquet_table(data, source, columns)
    return _csv_table(data, source, columns)


# --- CSV ------------------------------------------------------------------------------------


def _csv_table(data: bytes, source: str, columns: tuple[str, ...]) -> _Table:
    text = _decode(data, source, columns)
    lines = text.split("\n")
    if "\r" in text:
        lines = [line.removesuffix("\r") for line in lines]
    while lines and not lines[-1].strip():  # trailing blank lines hold no rows
        lines.pop()
    header = _split(lines[0])
    positions = _csv_header(header, lines[0], source, columns)
    body = lines[1:]
    if not body:
        raise _fail(source, "no bars: the file has a header but no rows")
    rows = list(csv.reader(body)) if '"' in text else [line.split(",") for line in body]
    width = len(header)
    table = _Table(source, "line", np.arange(2, len(body) + 2, dtype=np.int64))
    blank = [""] * width
    for i, row in enumerate(rows):
        if len(row) != width:
            if not body[i].strip():
                table.flag(i, "empty line: every line after the header must be a row")
            else:
                table.flag(i, f"{len(row)} fields where the header has {width}")
            table.unreadable[i] = True
            rows[i] = blank
    cells = {name: [row[positions[name]] for row in rows] for name in columns}
    _timestamps(cells["timestamp"], table)
    for name in columns[1:]:
        table.values[name] = _numbers(name, cells[name], table)
    return table


def _split(line: str) -> list[str]:
    return next(csv.reader([line])) if '"' in line else line.split(",")


def _decode(data: bytes, source: str, columns: tuple[str, ...]) -> str:
    """The file as text, or a DataError saying what kind of file it is instead."""
    expected = f"expected CSV text with the header `{','.join(columns)}`"
    if data.startswith(b"\x1f\x8b"):
        raise _fail(source, f"a gzip-compressed file: decompress it first ({expected})")
    if data.startswith(b"PK\x03\x04"):
        raise _fail(source, f"a zip archive: extract the CSV from it first ({expected})")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _fail(source, "UTF-16 text: save the file as UTF-8")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise _fail(source, f"a binary file, not CSV (byte 0x00 at offset {nul}): {expected}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        byte = data[error.start]
        raise _fail(
            source, f"not UTF-8 text (byte 0x{byte:02x}): save the file as UTF-8", line
        ) from None


def _csv_header(
    header: list[str], line: str, source: str, columns: tuple[str, ...]
) -> dict[str, int]:
    expected = ",".join(columns)
    first = header[0].strip()
    if _is_number(first) or _is_date(first):
        raise _fail(source, f"the first line holds data, not the header `{expected}`: add it", 1)
    if len(header) == 1:
        for separator, name in ((";", "semicolons"), ("\t", "tabs")):
            if separator in line:
                raise _fail(source, f"the header is separated by {name}; use commas", 1)
    positions, errors = _match_columns(header, columns)
    if errors:
        raise DataError(source, [DataProblem(1, message) for message in errors])
    return positions


def _match_columns(
    names: Sequence[str], columns: tuple[str, ...]
) -> tuple[dict[str, int], list[str]]:
    """Where each wanted column is among `names` (ignoring case and spaces), or what is wrong."""
    normal = [name.strip().lower() for name in names]
    positions: dict[str, int] = {}
    errors: list[str] = []
    for i, name in enumerate(normal):
        if name in columns:
            if name in positions:
                errors.append(f"column `{name}` appears twice")
            positions.setdefault(name, i)
    missing = [name for name in columns if name not in positions]
    if missing:
        others = [names[i].strip() for i, name in enumerate(normal) if name not in columns]
        wanted = []
        for name in missing:
            guess = did_you_mean(name, others)
            wanted.append(f"`{name}`" + (f" (did you mean `{guess}`?)" if guess else ""))
        plural = "s" if len(missing) > 1 else ""
        message = (
            f"missing column{plural} {', '.join(wanted)}: expected `{','.join(columns)}`, "
            f"found `{','.join(name.strip() for name in names)}`"
        )
        if columns == CANDLE_COLUMNS and {"timestamp", "rate"} <= set(normal):
            message += "; this looks like funding rates: load it with load_funding"
        if columns == FUNDING_COLUMNS and {"open", "close"} <= set(normal):
            message += "; this looks like candles: load it with load_candles"
        errors.append(message)
    return positions, errors


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_date(text: str) -> bool:
    try:
        datetime.fromisoformat(text.strip())
    except ValueError:
        return False
    return True


def _numbers(name: str, cells: list[str], table: _Table) -> FloatArray:
    """A column of text as float64, flagging each cell that is empty, not a number or not finite."""
    try:
        return _finite(name, np.array(list(map(float, cells)), dtype=np.float64), table)
    except ValueError:
        pass
    values = np.full(len(cells), np.nan)
    failed = np.zeros(len(cells), np.bool_)
    for i, cell in enumerate(cells):
        try:
            values[i] = float(cell)
        except ValueError:
            failed[i] = True
            if not table.unreadable[i]:
                text = cell.strip()
                table.flag(i, f"{name} `{text}` is not a number" if text else f"{name} is empty")
    return _finite(name, values, table, skip=failed)


def _finite(
    name: str, values: FloatArray, table: _Table, skip: BoolArray | None = None
) -> FloatArray:
    bad = ~np.isfinite(values)
    if skip is not None:
        bad &= ~skip
    for i in np.flatnonzero(bad):
        table.flag(i, f"{name} is {'NaN' if np.isnan(values[i]) else 'infinite'}")
    return values


def _timestamps(cells: list[str], table: _Table) -> None:
    """Fill `table.timestamp` from text: numbers (ms, or s) if the first row's is one, else ISO."""
    first = next((cell for i, cell in enumerate(cells) if not table.unreadable[i]), "")
    if _is_number(first):
        _numeric_timestamps(_numbers("timestamp", cells, table), table)
        return
    for i, cell in enumerate(cells):
        if table.unreadable[i]:
            continue
        text = cell.strip()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            message = f"timestamp `{text}` is neither a number nor an ISO-8601 date-time"
            table.flag(i, message if text else "timestamp is empty")
            continue
        if moment.microsecond % 1000:
            table.flag(i, f"timestamp `{text}` is not a whole number of milliseconds")
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        table.timestamp[i] = (moment - _EPOCH) // _ONE_MS
        table.timestamp_ok[i] = True


def _numeric_timestamps(values: FloatArray, table: _Table) -> None:
    """Fill `table.timestamp` from numbers: seconds when all are below 1e11, else milliseconds."""
    ok = np.isfinite(values)
    seconds = bool(ok.any()) and bool(np.all(np.abs(values[ok]) < SECONDS_BELOW))
    scaled = values * 1000 if seconds else values
    whole = np.where(ok, np.rint(scaled), 0.0)
    for i in np.flatnonzero(ok & (np.abs(scaled - whole) > 1e-3)):
        table.flag(i, f"timestamp {_num(values[i])} is not a whole number of milliseconds")
        ok[i] = False
    for i in np.flatnonzero(ok & (np.abs(whole) >= MS_BELOW)):
        table.flag(
            i,
            f"timestamp {values[i]:.0f} is past the year 5000 in milliseconds: microseconds "
            "or nanoseconds? timestamps must be milliseconds (or seconds)",
        )
        ok[i] = False
    table.timestamp = np.where(ok, whole, 0).astype(np.int64)
    table.timestamp_ok = ok


# --- Parquet --------------------------------------------------------------------------------


def _parquet_table(data: bytes, source: str, columns: tuple[str, ...]) -> _Table:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise _fail(
            source,
            "reading Parquet files needs pyarrow, an optional extra: "
            "pip install 'rulebot[parquet]'",
        ) from None
    try:
        arrow = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, ValueError, OSError) as error:
        raise _fail(source, f"not a readable Parquet file: {error}") from None
    positions, errors = _match_columns(arrow.column_names, columns)
    if errors:
        raise DataError(source, [DataProblem(None, message) for message in errors], unit="row")
    if arrow.num_rows == 0:
        raise _fail(source, "no bars: the file has the columns but no rows")
    table = _Table(source, "row", np.arange(1, arrow.num_rows + 1, dtype=np.int64))
    wrong_types = []
    for name in columns:
        column = arrow.column(positions[name])
        kind = column.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            cells = ["" if cell is None else cell for cell in column.to_pylist()]
            if name == "timestamp":
                _timestamps(cells, table)
            else:
                table.values[name] = _numbers(name, cells, table)
            continue
        stamped = pa.types.is_timestamp(kind) or pa.types.is_date(kind)
        if name == "timestamp" and stamped:
            unit = pa.timestamp("ms", tz=getattr(kind, "tz", None))
            try:
                column = column.cast(unit).cast(pa.int64())
            except pa.ArrowException as error:
                wrong_types.append(f"column `timestamp` cannot be read as milliseconds: {error}")
                continue
        elif not (
            pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
        ):
            wrong_types.append(f"column `{name}` holds {kind}, not numbers")
            continue
        null = column.is_null().to_numpy(zero_copy_only=False)
        for i in np.flatnonzero(null):
            table.flag(i, f"{name} is empty (null)")
        values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        values = _finite(name, values, table, skip=null)
        if name != "timestamp":
            table.values[name] = values
        elif stamped:  # already milliseconds: no seconds guess
            table.timestamp = column.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
            table.timestamp_ok = ~null
        else:
            _numeric_timestamps(values, table)
    if wrong_types:
        raise DataError(source, [DataProblem(None, message) for message in wrong_types])
    return table


# --- checks ---------------------------------------------------------------------------------


def _check_order(table: _Table) -> None:
    """Flag repeated timestamps and rows earlier than the row before them."""
    rows = np.flatnonzero(table.timestamp_ok)
    stamps = table.timestamp[rows]
    order = np.argsort(stamps, kind="stable")
    ordered = stamps[order]
    for k in np.flatnonzero(ordered[1:] == ordered[:-1]) + 1:
        first = rows[order[np.searchsorted(ordered, ordered[k], "left")]]
        row = rows[order[k]]
        table.flag(row, f"timestamp {_when(ordered[k])} repeats {table.unit} {table.lines[first]}")
    for k in np.flatnonzero(stamps[1:] < stamps[:-1]) + 1:
        table.flag(
            rows[k],
            f"timestamp {_when(stamps[k])} is earlier than {table.unit} "
            f"{table.lines[rows[k - 1]]}'s {_when(stamps[k - 1])}: rows must be in time order",
        )


def _check_bars(table: _Table) -> None:
    """Flag prices <= 0, negative volume, and highs and lows that do not bound the bar. Values
    already flagged as missing or not finite are left out, so each fault is reported once."""
    values = table.values
    for name in ("open", "high", "low", "close"):
        price = values[name]
        for i in np.flatnonzero(np.isfinite(price) & (price <= 0)):
            table.flag(i, f"{name} {_num(price[i])} is not positive")
    volume = values["volume"]
    for i in np.flatnonzero(np.isfinite(volume) & (volume < 0)):
        table.flag(i, f"volume {_num(volume[i])} is negative")
    open_, high, low, close = values["open"], values["high"], values["low"], values["close"]
    finite = np.isfinite(open_) & np.isfinite(high) & np.isfinite(low) & np.isfinite(close)
    top = np.maximum(open_, close)
    bottom = np.minimum(open_, close)
    for i in np.flatnonzero(finite & (high < top)):
        name = "open" if open_[i] >= close[i] else "close"
        table.flag(i, f"high {_num(high[i])} is below {name} {_num(top[i])}")
    for i in np.flatnonzero(finite & (low > bottom)):
        name = "open" if open_[i] <= close[i] else "close"
        table.flag(i, f"low {_num(low[i])} is above {name} {_num(bottom[i])}")
    for i in np.flatnonzero(finite & (low > high)):
        table.flag(i, f"low {_num(low[i])} is above high {_num(high[i])}")


# --- gaps and alignment ---------------------------------------------------------------------


def find_gaps(candles: Candles) -> list[tuple[int, int]]:
    """Where whole bars are missing, by the modal spacing: `(index, missing_bars)` with `index`
    the first bar after the gap. A market that closes (weekends, holidays) has gaps too."""
    step = candles.timeframe_ms
    if not step or len(candles) < 2:
        return []
    missing = np.diff(candles.timestamp) // step - 1
    return [(int(i) + 1, int(missing[i])) for i in np.flatnonzero(missing > 0)]


def closed_days(candles: Candles) -> frozenset[int]:
    """The weekdays (Monday 0 .. Sunday 6, UTC) on which the market never opens a bar: Saturday
    and Sunday for stocks, Saturday for currencies. Only for data of at least two weeks, so a
    short file is not taken for a closing market."""
    if len(candles) < 2:
        return frozenset()
    stamps = np.asarray(candles.timestamp, dtype=np.int64)
    if stamps[-1] - stamps[0] < 14 * DAY_MS:
        return frozenset()
    opens = np.bincount((stamps // DAY_MS + 3) % 7, minlength=7)  # 1970-01-01 was a Thursday
    return frozenset(day for day in (5, 6) if not opens[day])


def missing_open_bars(candles: Candles) -> int:
    """Bars missing from the data, by the modal spacing, on days its market opens: the gaps of
    `find_gaps` less the bars a weekend close accounts for."""
    gaps = find_gaps(candles)
    if not gaps:
        return 0
    closed = closed_days(candles)
    step = candles.timeframe_ms
    stamps = np.asarray(candles.timestamp, dtype=np.int64)
    total = 0
    for index, count in gaps:
        if not closed:
            total += count
            continue
        expected = stamps[index - 1] + step * np.arange(1, count + 1, dtype=np.int64)
        weekdays = (expected // DAY_MS + 3) % 7
        total += int(np.count_nonzero(~np.isin(weekdays, list(closed))))
    return total


class Aligned(dict[str, Candles]):
    """`align`'s result: each market's bars on the timestamps all of them have, by name, and
    `bars_lost[name]`, how many bars that market had that others lacked."""

    def __init__(self, candles: Mapping[str, Candles], bars_lost: Mapping[str, int]) -> None:
        super().__init__(candles)
        self.bars_lost = dict(bars_lost)

    def report(self) -> str:
        """One line per market: bars kept and bars dropped."""
        return "\n".join(
            f"{name}: {len(bars)} bars kept, {self.bars_lost[name]} dropped"
            for name, bars in self.items()
        )


def align(series: Mapping[str, Candles]) -> Aligned:
    """The bars of several markets on their common timestamps (an inner join), so that bar `i`
    is the same moment in every market; `.bars_lost` says how many bars each market lost.
    Raises ValueError for markets of different timeframes: resample them first."""
    timeframes = {bars.timeframe_ms for bars in series.values() if bars.timeframe_ms}
    if len(timeframes) > 1:
        found = ", ".join(
            f"{name} {_duration(bars.timeframe_ms)}"
            for name, bars in series.items()
            if bars.timeframe_ms
        )
        raise ValueError(f"cannot align bars of different timeframes ({found}): resample first")
    if not series:
        return Aligned({}, {})
    common = reduce(np.intersect1d, (bars.timestamp for bars in series.values()))
    aligned = {
        name: bars._take(np.searchsorted(bars.timestamp, common)) for name, bars in series.items()
    }
    return Aligned(aligned, {name: len(bars) - len(common) for name, bars in series.items()})


# --- shipped data ---------------------------------------------------------------------------


def shipped_files() -> list[str]:
    """The names of the real-data CSV files shipped in `rulebot/data/candles` (see SOURCES.md)."""
    folder = resources.files("rulebot.data") / "candles"
    return sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".csv"))


def shipped_candles(name: str) -> Candles:
    """A shipped candle file by name, with or without `.csv`: `shipped_candles("eth_btc_5m")`."""
    return _candles(_shipped(name, CANDLE_COLUMNS))


def shipped_funding(name: str = "xrp_usdt_perp_funding_8h") -> FundingRates:
    """A shipped funding-rate file by name (there is one: the default)."""
    return _funding(_shipped(name, FUNDING_COLUMNS))


def _shipped(name: str, columns: tuple[str, ...]) -> _Table:
    file = name if name.endswith(".csv") else f"{name}.csv"
    names = shipped_files()
    if file not in names:
        guess = did_you_mean(file, names)
        hint = f" (did you mean `{guess.removesuffix('.csv')}`?)" if guess else ""
        listed = ", ".join(entry.removesuffix(".csv") for entry in names)
        raise _fail(name, f"no such shipped file{hint}; shipped: {listed}")
    entry = resources.files("rulebot.data") / "candles" / file
    return _parse(entry.read_bytes(), str(entry), columns, parquet=False)

"""The runtime's journal: orders, fills, positions, equity, risk events and strategy state in one
SQLite file, written as they happen so that a crash or `kill -9` loses nothing acknowledged.

Durability: WAL with `synchronous=FULL`. A write returns only after its transaction is committed
and the WAL is fsynced, so an acknowledged write survives the process being killed and also the
machine losing power. (`NORMAL` already survives `kill -9`, but may drop the last commits on power
loss; that could hand out a client order index twice, and the journal is the record of money.)
The price is one fsync per commit, about 0.2 ms on an SSD; `batch()` shares one among many writes.

One process writes (an advisory lock on `<path>.lock` refuses a second writer); any number of
others may read with `Journal.open(path, readonly=True)` while it runs. Money is stored as exact
decimal TEXT and read back as `Decimal`; times are integer milliseconds (UTC).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Final, cast

from rulebot.runtime.messages import (
    Difference,
    EquitySnapshot,
    Fill,
    OrderRecord,
    RiskEvent,
    StrategyPosition,
)

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no single-writer lock
    fcntl = None  # type: ignore[assignment]

APPLICATION_ID: Final = 0x52424A4C  # "RBJL" in the SQLite header: this file is a rulebot journal
OPEN_STATES: Final = ("new", "sent", "unknown", "open")
MIN_CLIENT_ORDER_INDEX: Final = 1  # lighter's signer: 0 means "none", below that is refused
MAX_CLIENT_ORDER_INDEX: Final = (1 << 48) - 1  # lighter's signer refuses anything larger
CLIENT_ORDER_INDEX_BLOCK: Final = 64  # reserved per write; a crash skips at most this many
BUSY_TIMEOUT_MS: Final = 5_000

_RESERVED_KEY: Final = "journal.client_order_index_reserved"  # set_meta cannot touch it
_Row = tuple[Any, ...]

# Each migration is the statements that take the schema from version i to i + 1. Append only:
# a released migration is never edited, since journals already written ran it.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            started_ms INTEGER NOT NULL,
            stopped_ms INTEGER,
            network TEXT NOT NULL,
            dry_run INTEGER NOT NULL,
            stop_reason TEXT NOT NULL DEFAULT ''
        )""",
        """CREATE TABLE orders (
            client_order_index INTEGER PRIMARY KEY,
            strategy TEXT NOT NULL,
            market TEXT NOT NULL,
            side TEXT NOT NULL,
            kind TEXT NOT NULL,
            size TEXT NOT NULL,
            price TEXT,
            trigger_price TEXT,
            reduce_only INTEGER NOT NULL,
            state TEXT NOT NULL,
            venue_order_index INTEGER,
            filled TEXT NOT NULL,
            reason TEXT NOT NULL,
            created_ms INTEGER NOT NULL,
            updated_ms INTEGER NOT NULL
        )""",
        """CREATE INDEX orders_open ON orders (strategy, market)
            WHERE state IN ('new', 'sent', 'open')""",
        """CREATE TABLE fills (
            trade_id INTEGER NOT NULL,
            client_order_index INTEGER NOT NULL,
            strategy TEXT NOT NULL,
            market TEXT NOT NULL,
            side TEXT NOT NULL,
            size TEXT NOT NULL,
            price TEXT NOT NULL,
            fee TEXT NOT NULL,
            time_ms INTEGER NOT NULL,
            PRIMARY KEY (trade_id, client_order_index)
        )""",
        """CREATE INDEX fills_time ON fills (time_ms)""",
        """CREATE TABLE positions (
            strategy TEXT NOT NULL,
            market TEXT NOT NULL,
            size TEXT NOT NULL,
            entry_price TEXT NOT NULL,
            entry_time_ms INTEGER NOT NULL,
            realized_pnl TEXT NOT NULL,
            fees TEXT NOT NULL,
            funding TEXT NOT NULL,
            PRIMARY KEY (strategy, market)
        )""",
        """CREATE TABLE equity (
            time_ms INTEGER PRIMARY KEY,
            equity TEXT NOT NULL,
            collateral TEXT NOT NULL,
            unrealized_pnl TEXT NOT NULL
        )""",
        """CREATE TABLE risk_events (
            id INTEGER PRIMARY KEY,
            time_ms INTEGER NOT NULL,
            scope TEXT NOT NULL,
            limit_name TEXT NOT NULL,
            state TEXT NOT NULL,
            value TEXT NOT NULL,
            threshold TEXT NOT NULL,
            message TEXT NOT NULL
        )""",
        """CREATE INDEX risk_events_time ON risk_events (time_ms)""",
        """CREATE TABLE strategy_state (
            name TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            updated_ms INTEGER NOT NULL
        )""",
    ),
    (
        """CREATE TABLE differences (
            id INTEGER PRIMARY KEY,
            time_ms INTEGER NOT NULL,
            kind TEXT NOT NULL,
            market TEXT NOT NULL,
            strategy TEXT NOT NULL,
            before TEXT NOT NULL,
            after TEXT NOT NULL,
            client_order_index INTEGER NOT NULL,
            message TEXT NOT NULL
        )""",
        """CREATE INDEX differences_time ON differences (time_ms)""",
    ),
    (  # an order of unknown fate is open until the venue says otherwise: index it as one
        """DROP INDEX orders_open""",
        """CREATE INDEX orders_open ON orders (strategy, market)
            WHERE state IN ('new', 'sent', 'unknown', 'open')""",
    ),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)


class JournalError(Exception):
    """The journal cannot be opened or written; the message is meant for the user as it is."""


@dataclass(frozen=True, slots=True)
class Run:
    """One `rulebot run` from start to stop; `stopped_ms` is None while it runs or if it died."""

    id: int
    started_ms: int
    stopped_ms: int | None
    network: str
    dry_run: bool
    stop_reason: str


def dry_run_journal(path: Path) -> Path:
    """Where a dry run keeps its paper fills: beside the live journal, never in it (see
    docs/running.md). `rulebot run` writes it and `rulebot report` reads it."""
    return path.with_name(path.stem + ".dry-run" + path.suffix)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Journal:
    """The runtime's state on disk. Open with `Journal.open(path)`; every write is its own
    committed transaction unless inside `with journal.batch():`, which commits them together."""

    def __init__(
        self, connection: sqlite3.Connection, path: Path, readonly: bool, lock: IO[bytes] | None
    ) -> None:
        self._db = connection
        self._path = path
        self._readonly = readonly
        self._lock = lock
        self._in_batch = False
        self._next_index = 0  # next client order index to hand out, once a block is reserved
        self._reserved_index = -1  # last index of the reserved block

    # --- opening and closing ------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        readonly: bool = False,
        fresh: bool = False,
        durable: bool = True,
    ) -> Journal:
        """The journal at `path`, created (with its folder) if missing unless `readonly`;
        `fresh` starts it anew (a dry run's), deleting the old one only once its lock is held.
        `durable=False` skips the fsyncs (`synchronous=OFF`): for a replay over history, which
        holds no money and is simply run again if the machine loses power.

        Raises JournalError if the file is not a rulebot journal, was written by a newer
        rulebot, or (for writing) another process has it open for writing.
        """
        path = Path(path)
        if path.is_dir():
            raise JournalError(f"{path}: a folder, not a journal file")
        if readonly:
            if not path.is_file():
                raise JournalError(f"{path}: no journal here (has `rulebot run` been started?)")
            return cls._connect(path, readonly=True, lock=None)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise JournalError(f"{path}: cannot create its folder: {error.strerror}") from error
        lock = _lock_writer(path)
        try:
            if fresh:
                for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                    stale.unlink(missing_ok=True)
            return cls._connect(path, readonly=False, lock=lock, durable=durable)
        except BaseException:
            lock.close()
            raise

    @classmethod
    def _connect(
        cls, path: Path, *, readonly: bool, lock: IO[bytes] | None, durable: bool = True
    ) -> Journal:
        try:
            if readonly:
                uri = path.resolve().as_uri() + "?mode=ro"
                db = sqlite3.connect(uri, uri=True, isolation_level=None)
            else:
                db = sqlite3.connect(path, isolation_level=None)
        except sqlite3.Error as error:
            raise JournalError(f"{path}: cannot open the journal: {error}") from error
        journal = cls(db, path, readonly, lock)
        try:
            with journal._guard():
                db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                journal._check_identity()
                if readonly:
                    db.execute("PRAGMA query_only = 1")
                else:
                    mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                    if mode != "wal":
                        raise JournalError(f"{path}: this file system cannot hold a WAL journal")
                    db.execute(f"PRAGMA synchronous = {'FULL' if durable else 'OFF'}")
                    journal._migrate()
        except BaseException:
            db.close()
            raise
        return journal

    def close(self) -> None:
        """Close the file (a clean close also folds the WAL into it). Safe to call twice."""
        self._db.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Journal({str(self._path)!r}, readonly={self._readonly})"

    @property
    def path(self) -> Path:
        return self._path

    @property
    def readonly(self) -> bool:
        return self._readonly

    # --- schema -------------------------------------------------------------------------------

    def _check_identity(self) -> None:
        """Refuse a file that is some other program's database, or a newer rulebot's journal."""
        app_id = self._db.execute("PRAGMA application_id").fetchone()[0]
        tables = self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id != APPLICATION_ID:
            if tables or app_id or self._readonly:
                raise JournalError(f"{self._path}: not a rulebot journal")
            return  # an empty database: _migrate makes it a journal
        version = self._schema_version()
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"{self._path}: written by a newer rulebot (journal schema {version}, this "
                f"rulebot knows up to {SCHEMA_VERSION}); upgrade rulebot to open it"
            )
        if self._readonly and version < SCHEMA_VERSION:
            raise JournalError(
                f"{self._path}: written by an older rulebot (journal schema {version}); "
                "start `rulebot run` once to upgrade it"
            )

    def _schema_version(self) -> int:
        try:
            row = self._db.execute("SELECT max(version) FROM schema_version").fetchone()
        except sqlite3.OperationalError:
            return 0
        return int(row[0] or 0)

    def _migrate(self) -> None:
        """Bring the schema up to SCHEMA_VERSION, one migration per transaction."""
        while (version := self._schema_version()) < SCHEMA_VERSION:
            with self._transaction():
                if self._schema_version() != version:
                    continue  # another process migrated meanwhile
                if version == 0:
                    self._db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    self._db.execute(
                        "CREATE TABLE IF NOT EXISTS schema_version"
                        " (version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)"
                    )
                for statement in MIGRATIONS[version]:
                    self._db.execute(statement)
                self._db.execute(
                    "INSERT INTO schema_version (version, applied_ms) VALUES (?, ?)",
                    (version + 1, now_ms()),
                )

    # --- transactions -------------------------------------------------------------------------

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn SQLite's errors into JournalError with the file's name."""
        try:
            yield
        except sqlite3.Error as error:
            message = str(error)
            if "not a database" in message:
                raise JournalError(f"{self._path}: not a rulebot journal") from error
            raise JournalError(f"{self._path}: {message}") from error

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Commit every write inside the block in one transaction: all of them or none.

        On a read-only journal it is a read transaction: every read sees the same moment.
        Nested batches join the outer one.
        """
        if self._in_batch:
            yield
            return
        with self._guard():
            self._db.execute("BEGIN" if self._readonly else "BEGIN IMMEDIATE")
        self._in_batch = True
        try:
            yield
        except BaseException:
            self._in_batch = False
            with suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise
        self._in_batch = False
        try:
            with self._guard():
                self._db.execute("COMMIT")
        except BaseException:
            with suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self.batch(), self._guard():
            yield

    def _write(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        if self._readonly:
            raise JournalError(f"{self._path}: opened read-only")
        with self._transaction():
            return self._db.execute(sql, parameters)

    def _read(self, sql: str, parameters: Sequence[Any] = ()) -> list[_Row]:
        with self._guard():
            return self._db.execute(sql, parameters).fetchall()

    # --- runs and meta ------------------------------------------------------------------------

    def start_run(self, network: str, dry_run: bool, started_ms: int | None = None) -> int:
        """Record that a run starts; returns its id for `end_run`."""
        cursor = self._write(
            "INSERT INTO runs (started_ms, network, dry_run) VALUES (?, ?, ?)",
            (now_ms() if started_ms is None else started_ms, network, int(dry_run)),
        )
        return cast(int, cursor.lastrowid)

    def end_run(self, run_id: int, reason: str = "", stopped_ms: int | None = None) -> None:
        """Record that run `run_id` stopped cleanly, and why."""
        self._write(
            "UPDATE runs SET stopped_ms = ?, stop_reason = ? WHERE id = ?",
            (now_ms() if stopped_ms is None else stopped_ms, reason, run_id),
        )

    def runs(self) -> list[Run]:
        """Every run, oldest first; the last one with `stopped_ms` None died or still runs."""
        rows = self._read(
            "SELECT id, started_ms, stopped_ms, network, dry_run, stop_reason FROM runs ORDER BY id"
        )
        return [Run(r[0], r[1], r[2], r[3], bool(r[4]), r[5]) for r in rows]

    def set_meta(self, key: str, value: str) -> None:
        """Store a named value (e.g. the day's start equity); keys `journal.*` are the journal's."""
        if key.startswith("journal."):
            raise JournalError(f"meta key {key!r}: keys starting with `journal.` are reserved")
        self._write(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def meta(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    # --- client order indexes -----------------------------------------------------------------

    def next_client_order_index(self) -> int:
        """A client order index never handed out before by this journal, even across crashes.

        Indexes are reserved in blocks whose end is committed before any of them is returned, so
        a crash skips the rest of a block and never reuses one. Not allowed inside `batch()`: a
        rolled-back batch would un-reserve an index that may already be in use.
        """
        if self._in_batch:
            raise JournalError("next_client_order_index() cannot run inside batch()")
        if self._next_index > self._reserved_index:
            self._reserve_indexes()
        index = self._next_index
        self._next_index += 1
        return index

    def _reserve_indexes(self) -> None:
        if self._readonly:
            raise JournalError(f"{self._path}: opened read-only")
        with self._transaction():
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (_RESERVED_KEY,))
            found = row.fetchone()
            reserved = int(found[0]) if found else 0
            highest = self._db.execute("SELECT max(client_order_index) FROM orders").fetchone()[0]
            first = max(reserved, highest or 0, MIN_CLIENT_ORDER_INDEX - 1) + 1
            last = min(first + CLIENT_ORDER_INDEX_BLOCK - 1, MAX_CLIENT_ORDER_INDEX)
            if first > last:
                raise JournalError(f"{self._path}: every client order index has been used")
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_RESERVED_KEY, str(last)),
            )
        self._next_index, self._reserved_index = first, last

    # --- orders and fills ---------------------------------------------------------------------

    def record_order(self, order: OrderRecord) -> None:
        """Insert or update the order with this client order index.

        Raises JournalError if the index already belongs to another strategy, market or side:
        that would be an index used twice, and the venue would take the second for the first.
        """
        cursor = self._write(
            """INSERT INTO orders (client_order_index, strategy, market, side, kind, size, price,
                trigger_price, reduce_only, state, venue_order_index, filled, reason, created_ms,
                updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (client_order_index) DO UPDATE SET kind = excluded.kind,
                size = excluded.size, price = excluded.price,
                trigger_price = excluded.trigger_price, reduce_only = excluded.reduce_only,
                state = excluded.state, venue_order_index = excluded.venue_order_index,
                filled = excluded.filled, reason = excluded.reason,
                created_ms = excluded.created_ms, updated_ms = excluded.updated_ms
            WHERE strategy = excluded.strategy AND market = excluded.market
                AND side = excluded.side""",
            (
                order.client_order_index,
                order.strategy,
                order.market,
                order.side,
                order.kind,
                _money(order.size),
                _optional_money(order.price),
                _optional_money(order.trigger_price),
                int(order.reduce_only),
                order.state,
                order.venue_order_index,
                _money(order.filled),
                order.reason,
                order.created_ms,
                order.updated_ms,
            ),
        )
        if cursor.rowcount == 0:
            raise JournalError(
                f"client order index {order.client_order_index} already belongs to another order"
            )

    def order(self, client_order_index: int) -> OrderRecord | None:
        rows = self._read(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_order_index = ?",
            (client_order_index,),
        )
        return _order(rows[0]) if rows else None

    def open_orders(
        self, strategy: str | None = None, market: str | None = None
    ) -> list[OrderRecord]:
        """Orders still new, sent, unknown or open, oldest index first, optionally of one
        strategy/market."""
        where, parameters = _filters(strategy=strategy, market=market)
        rows = self._read(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE state IN {OPEN_STATES!r}{where}"
            " ORDER BY client_order_index",
            parameters,
        )
        return [_order(row) for row in rows]

    def record_fill(self, fill: Fill) -> bool:
        """Record a fill; False (and nothing written) if this trade of this order is known."""
        cursor = self._write(
            """INSERT INTO fills (trade_id, client_order_index, strategy, market, side, size,
                price, fee, time_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (trade_id, client_order_index) DO NOTHING""",
            (
                fill.trade_id,
                fill.client_order_index,
                fill.strategy,
                fill.market,
                fill.side,
                _money(fill.size),
                _money(fill.price),
                _money(fill.fee),
                fill.time_ms,
            ),
        )
        return cursor.rowcount == 1

    def fills(self, since_ms: int | None = None, strategy: str | None = None) -> list[Fill]:
        """Fills at or after `since_ms`, in time order, optionally of one strategy."""
        where, parameters = _filters(strategy=strategy, since_ms=since_ms)
        rows = self._read(
            "SELECT trade_id, client_order_index, strategy, market, side, size, price, fee,"
            f" time_ms FROM fills WHERE 1{where} ORDER BY time_ms, trade_id, client_order_index",
            parameters,
        )
        return [
            Fill(r[0], r[1], r[2], r[3], r[4], Decimal(r[5]), Decimal(r[6]), Decimal(r[7]), r[8])
            for r in rows
        ]

    # --- positions, equity, risk --------------------------------------------------------------

    def save_position(self, position: StrategyPosition) -> None:
        """Store a strategy's position on a market, replacing the one stored before."""
        self._write(
            """INSERT OR REPLACE INTO positions (strategy, market, size, entry_price,
                entry_time_ms, realized_pnl, fees, funding) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                position.strategy,
                position.market,
                _money(position.size),
                _money(position.entry_price),
                position.entry_time_ms,
                _money(position.realized_pnl),
                _money(position.fees),
                _money(position.funding),
            ),
        )

    def positions(self) -> list[StrategyPosition]:
        """Every stored position (flat ones too: they carry realised PnL), by strategy, market."""
        rows = self._read(
            "SELECT strategy, market, size, entry_price, entry_time_ms, realized_pnl, fees,"
            " funding FROM positions ORDER BY strategy, market"
        )
        return [
            StrategyPosition(
                r[0],
                r[1],
                Decimal(r[2]),
                Decimal(r[3]),
                r[4],
                Decimal(r[5]),
                Decimal(r[6]),
                Decimal(r[7]),
            )
            for r in rows
        ]

    def record_equity(self, snapshot: EquitySnapshot) -> None:
        """Store an equity snapshot; a second one at the same millisecond replaces the first."""
        self._write(
            "INSERT OR REPLACE INTO equity (time_ms, equity, collateral, unrealized_pnl)"
            " VALUES (?, ?, ?, ?)",
            (
                snapshot.time_ms,
                _money(snapshot.equity),
                _money(snapshot.collateral),
                _money(snapshot.unrealized_pnl),
            ),
        )

    def equity_since(self, since_ms: int) -> list[EquitySnapshot]:
        """Equity snapshots at or after `since_ms`, in time order."""
        rows = self._read(
            "SELECT time_ms, equity, collateral, unrealized_pnl FROM equity WHERE time_ms >= ?"
            " ORDER BY time_ms",
            (since_ms,),
        )
        return [EquitySnapshot(r[0], Decimal(r[1]), Decimal(r[2]), Decimal(r[3])) for r in rows]

    def record_risk_event(self, event: RiskEvent) -> None:
        self._write(
            "INSERT INTO risk_events (time_ms, scope, limit_name, state, value, threshold,"
            " message) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                event.time_ms,
                event.scope,
                event.limit,
                event.state,
                _money(event.value),
                _money(event.threshold),
                event.message,
            ),
        )

    def risk_events(self, since_ms: int | None = None) -> list[RiskEvent]:
        """Risk events at or after `since_ms`, in the order they happened."""
        where, parameters = _filters(since_ms=since_ms)
        rows = self._read(
            "SELECT time_ms, scope, limit_name, state, value, threshold, message FROM risk_events"
            f" WHERE 1{where} ORDER BY time_ms, id",
            parameters,
        )
        return [RiskEvent(r[0], r[1], r[2], r[3], Decimal(r[4]), Decimal(r[5]), r[6]) for r in rows]

    def record_difference(self, difference: Difference) -> None:
        """Store a difference the reconciler found between the journal and the venue."""
        self._write(
            "INSERT INTO differences (time_ms, kind, market, strategy, before, after,"
            " client_order_index, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                difference.time_ms,
                difference.kind,
                difference.market,
                difference.strategy,
                _money(difference.before),
                _money(difference.after),
                difference.client_order_index,
                difference.message,
            ),
        )

    def differences(self, since_ms: int | None = None) -> list[Difference]:
        """The differences with the venue found at or after `since_ms`, in order."""
        where, parameters = _filters(since_ms=since_ms)
        rows = self._read(
            "SELECT time_ms, kind, market, strategy, before, after, message, client_order_index"
            f" FROM differences WHERE 1{where} ORDER BY time_ms, id",
            parameters,
        )
        return [
            Difference(r[0], r[1], r[2], r[3], Decimal(r[4]), Decimal(r[5]), r[6], r[7])
            for r in rows
        ]

    # --- strategy state -----------------------------------------------------------------------

    def save_strategy_state(
        self, name: str, state: dict[str, Any], updated_ms: int | None = None
    ) -> None:
        """Store what a strategy must remember across restarts, as JSON (tuples come back as
        lists; Decimals are refused: store them as strings)."""
        try:
            blob = json.dumps(state, separators=(",", ":"))
        except (TypeError, ValueError) as error:
            raise JournalError(f"strategy {name!r}: state is not JSON: {error}") from error
        self._write(
            "INSERT OR REPLACE INTO strategy_state (name, state, updated_ms) VALUES (?, ?, ?)",
            (name, blob, now_ms() if updated_ms is None else updated_ms),
        )

    def strategy_state(self, name: str) -> dict[str, Any] | None:
        rows = self._read("SELECT state FROM strategy_state WHERE name = ?", (name,))
        return cast(dict[str, Any], json.loads(rows[0][0])) if rows else None


# --- rows and values ----------------------------------------------------------------------------

_ORDER_COLUMNS: Final = (
    "client_order_index, strategy, market, side, kind, size, price, trigger_price, reduce_only,"
    " state, created_ms, updated_ms, venue_order_index, filled, reason"
)


def _order(r: _Row) -> OrderRecord:
    return OrderRecord(
        client_order_index=r[0],
        strategy=r[1],
        market=r[2],
        side=r[3],
        kind=r[4],
        size=Decimal(r[5]),
        price=None if r[6] is None else Decimal(r[6]),
        trigger_price=None if r[7] is None else Decimal(r[7]),
        reduce_only=bool(r[8]),
        state=r[9],
        created_ms=r[10],
        updated_ms=r[11],
        venue_order_index=r[12],
        filled=Decimal(r[13]),
        reason=r[14],
    )


def _filters(
    strategy: str | None = None, market: str | None = None, since_ms: int | None = None
) -> tuple[str, list[Any]]:
    """The `AND ...` terms of a WHERE clause for the filters given, and their parameters."""
    terms = {"strategy = ?": strategy, "market = ?": market, "time_ms >= ?": since_ms}
    given = {term: value for term, value in terms.items() if value is not None}
    return "".join(f" AND {term}" for term in given), list(given.values())


def _money(value: Decimal) -> str:
    """`value` as exact decimal text; floats and non-finite values are bugs, refused here."""
    if not isinstance(value, Decimal):
        raise TypeError(f"money must be a Decimal, not {type(value).__name__}: {value!r}")
    if not value.is_finite():
        raise ValueError(f"money must be finite, not {value}")
    return str(value)


def _optional_money(value: Decimal | None) -> str | None:
    return None if value is None else _money(value)


def _lock_writer(path: Path) -> IO[bytes]:
    """Hold `<path>.lock` for as long as the journal is open for writing; the kernel lets go of
    it when the process dies, even by `kill -9`."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        lock = open(lock_path, "ab")  # noqa: SIM115 - held until close()
    except OSError as error:
        raise JournalError(f"{path}: cannot open the journal: {error.strerror}") from error
    if fcntl is not None:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            lock.close()
            raise JournalError(
                f"{path}: already open for writing (by another `rulebot run`?)"
                " (open it read-only to look at it)"
            ) from error
    return lock

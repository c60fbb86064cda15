"""Lighter's stream frames read into events: the books, trades and account they carry.

`FrameHandler.receive(text)` takes one frame as it came off the socket, updates the local books
and what was seen, hands the events it makes to `emit`, and says what the frame was
(`Received`). It never raises on a frame: one it cannot read (not JSON, a list or number where
an object belongs, a price that is no number, a trade without an id) is skipped and counted in
`frames_skipped`. Frames of channels not subscribed to are ignored. The shapes it takes:

- `order_book`: levels as `{"price", "size"}`, `null` sides as empty; the nonce chain decides
  whether an update continues the book (see `book.py`); a break is counted in `book_rebuilds`
  and returned as `Received.rebuild` so the stream asks for a fresh snapshot, and the market's
  updates are ignored until it comes.
- `trade`: `trades` and `liquidation_trades` alike are trades (a liquidation is a print too).
- `market_stats`: `funding_rate` (the last funding's, in percent and signed as Lighter sends it:
  `"0.0100"` is a fraction of 0.0001), `mark_price` and `open_interest`, as one
  `MarketStatsChanged`.
- `account_all`: `trades` and `positions` keyed by market (`{"0": [...]}`) or as flat lists.

While the stream resyncs after a reconnect, trades are held (`hold`) and released merged with
REST's recent trades (`release`), so none is lost and none yielded twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal

from lighter.models.account_position import AccountPosition

from rulebot.venues.lighter import convert
from rulebot.venues.lighter.book import Continuity, Level, LocalBook
from rulebot.venues.lighter.errors import VenueError
from rulebot.venues.lighter.events import (
    AccountChanged,
    BookChanged,
    MarketStatsChanged,
    StreamEvent,
    TradesPrinted,
)
from rulebot.venues.lighter.records import OrderBookSnapshot, Position, Trade
from rulebot.venues.units import MarketInfo

log = logging.getLogger(__name__)

Kind = Literal["ping", "subscribed", "error", "read", "ignored", "skipped"]
READ_ERRORS: Final = (KeyError, TypeError, ValueError, ArithmeticError, AttributeError)
"""What reading a malformed frame's values raises (pydantic's errors are ValueErrors)."""


class FrameUnreadable(VenueError):
    """A stream frame whose shape or values cannot be read."""


@dataclass(frozen=True, slots=True)
class Received:
    """What one frame was: a `ping` to answer, the answer to a subscription (`subscribed`), the
    venue's `error`, data `read`, a frame `ignored` (a channel not subscribed to) or `skipped`
    (unreadable, with the reason in `detail`). `subscription` is True for the answer to a
    subscription, read or not; `rebuild` names a market whose book lost a delta and needs a
    fresh snapshot."""

    kind: Kind
    channel: str = ""
    detail: str = ""
    rebuild: int | None = None
    subscription: bool = False


class FrameHandler:
    """The stream's state between frames: local books, the last trade seen, held trades."""

    def __init__(
        self,
        markets: Mapping[int, MarketInfo],
        *,
        books: Iterable[int] = (),
        trades: Iterable[int] = (),
        stats: Iterable[int] = (),
        account: int | None = None,
        emit: Callable[[StreamEvent], None],
    ) -> None:
        self._markets = dict(markets)
        self.book_ids = frozenset(books)
        self.trade_ids = frozenset(trades)
        self.stats_ids = frozenset(stats)
        self.account = account
        self._emit = emit
        self._books: dict[int, LocalBook] = {}
        self._rebuilding: set[int] = set()  # books waiting for a fresh snapshot
        self._last_trade: dict[int, int] = {}
        self._last_account_trade = -1
        self._account_seen = False
        self._held: dict[int, dict[int, Trade]] | None = None
        self.frames_skipped = 0
        self.book_rebuilds = 0

    # --- one frame ----------------------------------------------------------------------------

    def receive(self, text: str | bytes) -> Received:
        """Read one frame; unreadable ones are skipped and counted, never raised."""
        try:
            kind, channel, message = _envelope(text)
        except FrameUnreadable as error:
            return self._skip(error, "", subscription=False)
        try:
            return self._receive(kind, channel, message)
        except FrameUnreadable as error:
            subscription = kind.startswith("subscribed/")
            name, _, ident = channel.partition(":")
            if subscription and name == "order_book" and ident.isdigit():
                # no snapshot to build on: the next update asks for another
                self._books.pop(int(ident), None)
                self._rebuilding.discard(int(ident))
            return self._skip(error, channel, subscription=subscription)

    def _skip(self, error: FrameUnreadable, channel: str, *, subscription: bool) -> Received:
        self.frames_skipped += 1
        log.warning("skipped a stream frame%s: %s", f" of {channel}" if channel else "", error)
        return Received("skipped", channel, detail=str(error), subscription=subscription)

    def _receive(self, kind: str, channel: str, message: dict[str, Any]) -> Received:
        if kind == "ping":
            return Received("ping")
        if kind == "error":
            return Received("error", channel, detail=_error_text(message.get("error")))
        name, _, ident = channel.partition(":")
        data = kind.startswith(("subscribed/", "update/"))  # not `unsubscribed`, `connected`
        if not data or not self._subscribed(name, ident):
            return Received("ignored", channel)
        rebuild: int | None = None
        if name == "order_book":
            rebuild = self._on_book(int(ident), kind, message)
        elif name == "trade":
            market_id = int(ident)
            self._trades(market_id, self._read_trades(message, self._symbol(market_id)))
        elif name == "market_stats":
            self._emit(_market_stats(message.get("market_stats"), self._symbol(int(ident))))
        else:
            self._on_account(message)
        subscription = kind.startswith("subscribed/")
        answer: Kind = "subscribed" if subscription else "read"
        return Received(answer, channel, rebuild=rebuild, subscription=subscription)

    def _subscribed(self, name: str, ident: str) -> bool:
        if not ident.isdigit():
            return False
        if name == "order_book":
            return int(ident) in self.book_ids and int(ident) in self._markets
        if name == "trade":
            return int(ident) in self.trade_ids and int(ident) in self._markets
        if name == "market_stats":
            return int(ident) in self.stats_ids and int(ident) in self._markets
        return name == "account_all" and self.account is not None and int(ident) == self.account

    # --- books --------------------------------------------------------------------------------

    def _on_book(self, market_id: int, kind: str, message: dict[str, Any]) -> int | None:
        body = message.get("order_book")
        if not isinstance(body, dict):
            raise FrameUnreadable("an order book frame without its `order_book` object")
        bids, asks = _levels(body.get("bids"), "bids"), _levels(body.get("asks"), "asks")
        offset = _whole(body.get("offset", message.get("offset")), "offset")
        nonce = _whole_or_none(body.get("nonce"), "nonce")
        begin = _whole_or_none(body.get("begin_nonce"), "begin_nonce")
        local = self._books.setdefault(market_id, LocalBook(self._symbol(market_id)))
        full = kind.startswith("subscribed/")
        if full:
            local.reset(bids, asks, offset, nonce)
            self._rebuilding.discard(market_id)
        elif market_id in self._rebuilding:
            return None  # waiting for the fresh snapshot
        else:
            verdict = local.apply(bids, asks, offset, begin_nonce=begin, nonce=nonce)
            if verdict is Continuity.STALE:
                return None
            if verdict is Continuity.BROKEN:
                self.book_rebuilds += 1
                self._rebuilding.add(market_id)
                log.warning(
                    "%s book: a delta was lost (begin_nonce %s after nonce %s, offset %s after "
                    "%s); rebuilding it from a fresh snapshot",
                    local.market,
                    begin,
                    local.nonce,
                    offset,
                    local.offset,
                )
                return market_id
        self._emit(BookChanged(local.market, local.snapshot(), full))
        return None

    def book(self, market: str | int) -> OrderBookSnapshot | None:
        for market_id, local in self._books.items():
            if market in (market_id, str(market_id), local.market):
                return local.snapshot()
        return None

    # --- trades -------------------------------------------------------------------------------

    def _read_trades(self, message: dict[str, Any], symbol: str) -> list[Trade]:
        rows = [
            *_rows(message.get("trades"), "trades"),
            *_rows(message.get("liquidation_trades"), "liquidation_trades"),
        ]
        return [_trade(raw, symbol) for raw in rows]

    def _trades(self, market_id: int, trades: Iterable[Trade]) -> int:
        """Yield the trades not seen yet, oldest first (or hold them while resyncing); returns
        how many were yielded."""
        trades = list(trades)
        if self._held is not None:
            self._held.setdefault(market_id, {}).update((t.trade_id, t) for t in trades)
            return 0
        if market_id not in self._last_trade:
            # the first snapshot is history, not news: remember where it ends
            self._last_trade[market_id] = max((t.trade_id for t in trades), default=-1)
            return 0
        last = self._last_trade[market_id]
        fresh = sorted((t for t in trades if t.trade_id > last), key=lambda t: t.trade_id)
        if not fresh:
            return 0
        self._last_trade[market_id] = fresh[-1].trade_id
        self._emit(TradesPrinted(self._symbol(market_id), tuple(fresh)))
        return len(fresh)

    @property
    def holding(self) -> bool:
        return self._held is not None

    def hold(self) -> None:
        """Hold trades from now until `release` (those already held stay held)."""
        if self._held is None:
            self._held = {}

    def release(self, recent: Mapping[int, Sequence[Trade]], page: int) -> tuple[int, bool]:
        """Yield the held trades merged with `recent` ones (REST's, per market), those newer
        than the last seen, in order; returns how many, and False when more may have printed
        than one `page` of recent trades holds."""
        held, self._held = self._held or {}, None
        missed, complete = 0, True
        for market_id in sorted(self.trade_ids):
            got = recent.get(market_id, ())
            last = self._last_trade.get(market_id, -1)
            if len(got) >= page and min(t.trade_id for t in got) > last:
                complete = False
            merged = {t.trade_id: t for t in got} | held.get(market_id, {})
            missed += self._trades(market_id, merged.values())
        return missed, complete

    # --- the account --------------------------------------------------------------------------

    def _on_account(self, message: dict[str, Any]) -> None:
        positions = [p for p in map(_position, _entries(message.get("positions"))) if p.size]
        trades = [
            _trade(raw, self._symbol(_market_of(raw, market)))
            for market, raw in _keyed_rows(message.get("trades"))
        ]
        fresh = sorted(
            (t for t in trades if t.trade_id > self._last_account_trade), key=lambda t: t.trade_id
        )
        if fresh:
            self._last_account_trade = fresh[-1].trade_id
        if not self._account_seen:  # the first snapshot's trades are history, not news
            self._account_seen = True
            fresh = []
        self._emit(AccountChanged(tuple(positions), tuple(fresh)))

    def _symbol(self, market_id: int) -> str:
        info = self._markets.get(market_id)
        return info.symbol if info is not None else str(market_id)


# --- reading values ---------------------------------------------------------------------------


def _envelope(text: str | bytes) -> tuple[str, str, dict[str, Any]]:
    """A frame's `type`, `channel` and whole object."""
    try:
        message = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise FrameUnreadable("not JSON") from None
    if not isinstance(message, dict):
        raise FrameUnreadable(f"a JSON {type(message).__name__}, not an object")
    kind = message.get("type")
    channel = message.get("channel", "")
    if not isinstance(kind, str) or not isinstance(channel, str):
        raise FrameUnreadable("no `type`, or a `channel` that is not text")
    return kind, channel, message


def _error_text(error: object) -> str:
    if isinstance(error, dict):
        return f"{error.get('message', '')} (code {error.get('code')})"
    return str(error)


def _whole(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise FrameUnreadable(f"`{name}` is not a whole number: {value!r}")
    try:
        return int(value)
    except ValueError:
        raise FrameUnreadable(f"`{name}` is not a whole number: {value!r}") from None


def _whole_or_none(value: object, name: str) -> int | None:
    return None if value is None else _whole(value, name)


def _decimal(value: object, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FrameUnreadable(f"`{name}` is not a number: {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise FrameUnreadable(f"`{name}` is not a number: {value!r}") from None
    if not number.is_finite():
        raise FrameUnreadable(f"`{name}` is not a number: {value!r}")
    return number


def _market_stats(raw: object, symbol: str) -> MarketStatsChanged:
    if not isinstance(raw, dict):
        raise FrameUnreadable(f"`market_stats` is not an object: {raw!r}")
    return MarketStatsChanged(
        symbol,
        funding_rate=_decimal(raw.get("funding_rate"), "funding_rate") / 100,
        mark_price=_decimal(raw.get("mark_price"), "mark_price"),
        open_interest=_decimal(raw.get("open_interest"), "open_interest"),
    )


def _levels(raw: object, side: str) -> list[Level]:
    """A side of a book: a list of `{"price", "size"}`; null is empty."""
    levels = []
    for level in _rows(raw, side):
        if not isinstance(level, dict):
            raise FrameUnreadable(f"a level of `{side}` is not an object: {level!r}")
        levels.append((_decimal(level.get("price"), "price"), _decimal(level.get("size"), "size")))
    return levels


def _rows(raw: object, name: str) -> list[Any]:
    """A list the venue may send as null (or leave out) when empty."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise FrameUnreadable(f"`{name}` is not a list: {type(raw).__name__}")
    return raw


def _entries(raw: object) -> list[Any]:
    """`positions`: keyed by market (`{"0": {...}}`), a flat list, or null."""
    if isinstance(raw, dict):
        return list(raw.values())
    return _rows(raw, "positions")


def _keyed_rows(raw: object) -> Iterator[tuple[str | None, Any]]:
    """`trades`: keyed by market (`{"0": [...]}`), a flat list, or null; each row with the
    market it was keyed by (None in a flat list, where the row names its own)."""
    if isinstance(raw, dict):
        for market, rows in raw.items():
            for row in _rows(rows, f"trades[{market}]"):
                yield str(market), row
        return
    for row in _rows(raw, "trades"):
        yield None, row


def _market_of(raw: object, keyed: str | None) -> int:
    if isinstance(raw, dict) and "market_id" in raw:
        return _whole(raw["market_id"], "market_id")
    if keyed is None:
        raise FrameUnreadable("a trade in a flat list without its `market_id`")
    return _whole(keyed, "trades' market key")


def _trade(raw: object, symbol: str) -> Trade:
    if not isinstance(raw, dict):
        raise FrameUnreadable(f"a trade is not an object: {raw!r}")
    _whole(raw.get("trade_id"), "trade_id")  # no id: it could not be told from another
    _decimal(raw.get("price"), "price")
    _decimal(raw.get("size"), "size")
    try:
        return convert.trade_json(raw, symbol)
    except READ_ERRORS as error:
        raise FrameUnreadable(f"a trade that cannot be read: {error}") from None


def _position(raw: object) -> Position:
    if not isinstance(raw, dict):
        raise FrameUnreadable(f"a position is not an object: {raw!r}")
    try:
        model = AccountPosition.from_dict(raw)
    except READ_ERRORS as error:
        raise FrameUnreadable(f"a position that cannot be read: {error}") from None
    if model is None or not model.symbol or model.sign is None or model.position is None:
        raise FrameUnreadable("a position without its `symbol`, `sign` or `position`")
    try:
        return convert.position(model)
    except READ_ERRORS as error:
        raise FrameUnreadable(f"a position that cannot be read: {error}") from None

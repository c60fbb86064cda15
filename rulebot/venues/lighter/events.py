"""What `MarketStream` yields: typed events in human units, in the order they happened."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from rulebot.venues.lighter.records import AccountState, OrderBookSnapshot, Position, Trade


@dataclass(frozen=True, slots=True)
class BookChanged:
    """A market's book after a snapshot (`full`) or an update: the whole local book."""

    market: str
    book: OrderBookSnapshot
    full: bool


@dataclass(frozen=True, slots=True)
class TradesPrinted:
    """New trades on a market, oldest first, each seen once (stream and REST gap fill alike)."""

    market: str
    trades: tuple[Trade, ...]


@dataclass(frozen=True, slots=True)
class MarketStatsChanged:
    """A perpetual's figures as the venue last published them: the funding rate of the last
    funding (a fraction per interval, positive when longs pay), the mark price and the open
    interest (in base units)."""

    market: str
    funding_rate: Decimal
    mark_price: Decimal
    open_interest: Decimal


@dataclass(frozen=True, slots=True)
class AccountChanged:
    """The account's positions as the stream last sent them, and its new trades."""

    positions: tuple[Position, ...]
    trades: tuple[Trade, ...]


@dataclass(frozen=True, slots=True)
class AccountResynced:
    """The account as read from REST after a reconnect: what the stream may have missed."""

    account: AccountState


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The connection dropped; the stream is reconnecting (`attempt` counts from 1)."""

    reason: str
    attempt: int


@dataclass(frozen=True, slots=True)
class Resynced:
    """Back after a drop: resubscribed, books re-snapshotted, the trades printed meanwhile
    (`missed_trades` of them) yielded and the account refilled from REST. `complete` is False
    when more trades may have printed than REST's one page of recent trades holds: a consumer
    building bars should then refill them from candles."""

    reconnects: int
    missed_trades: int
    complete: bool = True


@dataclass(frozen=True, slots=True)
class StreamHealth:
    """How the stream is doing, for `rulebot status`: whether it is connected, how long since
    the venue last sent anything (`None`: nothing yet), and what it has had to recover from."""

    connected: bool
    last_frame_age_s: float | None
    reconnects: int
    resyncs: int
    book_rebuilds: int
    frames_skipped: int
    restarts: int

    def as_json(self) -> dict[str, object]:
        return {
            "connected": self.connected,
            "last_frame_age_s": (
                None if self.last_frame_age_s is None else round(self.last_frame_age_s, 3)
            ),
            "reconnects": self.reconnects,
            "resyncs": self.resyncs,
            "book_rebuilds": self.book_rebuilds,
            "frames_skipped": self.frames_skipped,
            "restarts": self.restarts,
        }


StreamEvent = (
    BookChanged
    | TradesPrinted
    | MarketStatsChanged
    | AccountChanged
    | AccountResynced
    | Disconnected
    | Resynced
)

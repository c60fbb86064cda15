"""A local copy of one market's order book, kept from a snapshot plus level updates.

Lighter's stream sends the whole book on subscribe, then the levels that changed (absolute
sizes; size 0 removes a level). Offsets are not contiguous, so they only order frames: what
says that no update was lost is the nonce chain. An update continues the book only when its
`begin_nonce` equals the `nonce` of the last frame applied; a frame without `begin_nonce` (older
venues) continues it only with the very next offset. Anything else is a break: a delta was
lost, the book is wrong, and it must be rebuilt from a fresh snapshot (`apply` says so; the
stream resubscribes). An update at or below the book's offset is stale and ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from enum import Enum

from rulebot.venues.lighter.records import BookLevel, OrderBookSnapshot

Level = tuple[Decimal, Decimal]  # (price, size)


class Continuity(Enum):
    """What an update did to the book."""

    APPLIED = "applied"
    STALE = "stale"  # older than the book: ignored
    BROKEN = "broken"  # a delta was lost before it: the book needs a fresh snapshot


class LocalBook:
    """One market's price levels; `snapshot()` gives them best first."""

    def __init__(self, market: str) -> None:
        self.market = market
        self.offset = -1  # -1: no snapshot yet
        self.nonce: int | None = None
        self._bids: dict[Decimal, Decimal] = {}
        self._asks: dict[Decimal, Decimal] = {}

    def reset(
        self, bids: Iterable[Level], asks: Iterable[Level], offset: int, nonce: int | None = None
    ) -> None:
        """Replace everything with a full snapshot; its `nonce` starts the chain."""
        self._bids = {p: s for p, s in bids if s > 0}
        self._asks = {p: s for p, s in asks if s > 0}
        self.offset = offset
        self.nonce = nonce

    def continues(self, offset: int, begin_nonce: int | None) -> Continuity:
        """Whether an update numbered `offset`, starting at `begin_nonce`, continues the book."""
        if self.offset < 0:
            return Continuity.BROKEN  # nothing to continue: it needs a snapshot
        if offset <= self.offset:
            return Continuity.STALE
        if begin_nonce is not None and self.nonce is not None:
            return Continuity.APPLIED if begin_nonce == self.nonce else Continuity.BROKEN
        if begin_nonce is not None:  # a snapshot without a nonce: the chain starts here
            return Continuity.APPLIED
        return Continuity.APPLIED if offset == self.offset + 1 else Continuity.BROKEN

    def apply(
        self,
        bids: Iterable[Level],
        asks: Iterable[Level],
        offset: int,
        *,
        begin_nonce: int | None = None,
        nonce: int | None = None,
    ) -> Continuity:
        """Apply changed levels if the update continues the book; nothing changes otherwise."""
        verdict = self.continues(offset, begin_nonce)
        if verdict is not Continuity.APPLIED:
            return verdict
        for side, changes in ((self._bids, bids), (self._asks, asks)):
            for price, size in changes:
                if size > 0:
                    side[price] = size
                else:
                    side.pop(price, None)
        self.offset = offset
        self.nonce = nonce
        return Continuity.APPLIED

    def snapshot(self) -> OrderBookSnapshot:
        return OrderBookSnapshot(
            market=self.market,
            bids=tuple(BookLevel(p, self._bids[p]) for p in sorted(self._bids, reverse=True)),
            asks=tuple(BookLevel(p, self._asks[p]) for p in sorted(self._asks)),
        )

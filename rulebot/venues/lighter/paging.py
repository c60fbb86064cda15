"""Everything in a time window from an endpoint that answers at most one page per call.

Lighter's candles (500 a call) and fundings (750) do not say which end of a crowded window a
page comes from, so a full page leaves two windows to ask about: before its first item and after
its last. The one that holds nothing answers empty (the venue's `"c": null`, which `convert` reads
as no items) and is done; the other is paged the same way. That costs one extra call per page and
assumes nothing about the venue's order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

Fetch = Callable[[int, int], Awaitable[list[T]]]


async def collect(
    fetch: Fetch[T], time_of: Callable[[T], int], start_ms: int, end_ms: int, page_size: int
) -> list[T]:
    """Every item with its time in [start_ms, end_ms], oldest first, each once.

    `fetch(lo, hi)` asks for the items in [lo, hi] (always `hi > lo`: Lighter refuses an empty
    span) and may answer items outside it, which are dropped.
    """
    found: dict[int, T] = {}
    windows = [(start_ms, end_ms)] if end_ms >= start_ms else []
    while windows:
        lo, hi = windows.pop()
        answer = await fetch(lo, max(hi, lo + 1))
        page = [item for item in answer if lo <= time_of(item) <= hi]
        if hi == lo and not page and len(answer) >= page_size:
            # a one-millisecond window was asked as [lo, lo + 1] and a full page of lo + 1 hid
            # lo: ask the span from the other side, [lo - 1, lo]
            answer = await fetch(lo - 1, lo)
            page = [item for item in answer if lo <= time_of(item) <= hi]
        fresh = [item for item in page if time_of(item) not in found]
        found.update((time_of(item), item) for item in page)
        if len(answer) < page_size or not fresh:
            continue
        first, last = min(map(time_of, page)), max(map(time_of, page))
        if first > lo:
            windows.append((lo, first - 1))
        if last < hi:
            windows.append((last + 1, hi))
    return [found[t] for t in sorted(found)]

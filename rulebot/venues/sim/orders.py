"""Where the sim finds orders: the active ones by exchange index, by an account's client order
index and by account; each account's recent inactive ones; and when resting orders expire."""

from __future__ import annotations

import heapq
import itertools
from collections import deque

from rulebot.venues.sim.records import FIRST_ORDER_INDEX, SimOrder

EXPIRY_SLACK = 1000  # expiries of orders gone early kept before the expiry heap is pruned


class OrderRegistry:
    """Indexes of the exchange's orders. An order is active from `register` to `unregister`;
    `remember` keeps the last `history` inactive orders of each account."""

    def __init__(self, history: int) -> None:
        self._history = history
        self._active: dict[int, SimOrder] = {}
        self._by_client: dict[tuple[int, int], SimOrder] = {}
        self._by_account: dict[int, dict[int, SimOrder]] = {}
        self._inactive: dict[int, deque[SimOrder]] = {}
        self._inactive_by_client: dict[tuple[int, int], SimOrder] = {}
        self._expiries: list[tuple[int, int]] = []  # (expiry ms, order index), a heap

    def register(self, order: SimOrder) -> None:
        if order.order_index in self._active:
            return
        self._active[order.order_index] = order
        if order.client_order_index:
            self._by_client[(order.account_index, order.client_order_index)] = order
        self._by_account.setdefault(order.account_index, {})[order.order_index] = order
        if order.order_expiry_ms:
            heapq.heappush(self._expiries, (order.order_expiry_ms, order.order_index))
            if len(self._expiries) > 2 * len(self._active) + EXPIRY_SLACK:
                self._expiries = [e for e in self._expiries if e[1] in self._active]
                heapq.heapify(self._expiries)

    def unregister(self, order: SimOrder) -> None:
        self._active.pop(order.order_index, None)
        if order.client_order_index:
            key = (order.account_index, order.client_order_index)
            if self._by_client.get(key) is order:
                del self._by_client[key]
        self._by_account.get(order.account_index, {}).pop(order.order_index, None)

    def remember(self, order: SimOrder) -> None:
        """Keep an order that has become inactive in its account's history."""
        history = self._inactive.setdefault(order.account_index, deque(maxlen=self._history))
        if len(history) == history.maxlen:
            self._forget_client(history[0])
        history.append(order)
        if order.client_order_index:
            self._inactive_by_client[(order.account_index, order.client_order_index)] = order

    def _forget_client(self, order: SimOrder) -> None:
        key = (order.account_index, order.client_order_index)
        if self._inactive_by_client.get(key) is order:
            del self._inactive_by_client[key]

    def forget(self, account_index: int) -> None:
        """Drop the account's inactive history (an account that lost its state)."""
        for order in self._inactive.pop(account_index, ()):
            self._forget_client(order)

    def get(self, order_index: int) -> SimOrder | None:
        return self._active.get(order_index)

    def is_active(self, order_index: int) -> bool:
        return order_index in self._active

    def client_order_taken(self, account_index: int, client_order_index: int) -> bool:
        return (account_index, client_order_index) in self._by_client

    def find(self, account_index: int, index: int) -> SimOrder | None:
        """An active order of the account by exchange index or by client order index (the two
        ranges never overlap)."""
        if index < FIRST_ORDER_INDEX:
            return self._by_client.get((account_index, index))
        order = self._active.get(index)
        return order if order is not None and order.account_index == account_index else None

    def by_client_index(self, account_index: int, client_order_index: int) -> SimOrder | None:
        """The account's order placed with `client_order_index`: the active one, else the
        latest inactive one still in its history."""
        key = (account_index, client_order_index)
        return self._by_client.get(key) or self._inactive_by_client.get(key)

    def of_account(self, account_index: int) -> list[SimOrder]:
        return list(self._by_account.get(account_index, {}).values())

    def inactive(self, account_index: int, market_id: int | None, limit: int) -> list[SimOrder]:
        """The account's inactive orders, newest first."""
        history = self._inactive.get(account_index, ())
        found = (o for o in reversed(history) if market_id is None or o.market_id == market_id)
        return list(itertools.islice(found, limit))

    def expired(self, now_ms: int) -> list[SimOrder]:
        """Active orders whose expiry is `now_ms` or earlier, soonest first."""
        due = []
        while self._expiries and self._expiries[0][0] <= now_ms:
            expiry, index = heapq.heappop(self._expiries)
            order = self._active.get(index)
            if order is not None and order.order_expiry_ms == expiry:
                due.append(order)
        return due

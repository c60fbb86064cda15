"""Decode a signed transaction's `tx_info` (the JSON lighter-sdk's signer produces) into typed
requests, refusing with Lighter's errors what is malformed or out of the protocol's ranges.

Only the fields' shapes and ranges are checked here; whether the account, market or order
exists, and whether the order fits the market and the margin, is the exchange's business.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rulebot.venues.sim import errors
from rulebot.venues.sim.errors import rejected
from rulebot.venues.sim.records import (
    CANCEL_ALL_ABORT,
    CANCEL_ALL_IMMEDIATE,
    CANCEL_ALL_SCHEDULED,
    GOOD_TILL_TIME,
    IMMEDIATE_OR_CANCEL,
    LIMIT,
    MAX_CLIENT_ORDER_INDEX,
    ONE_CANCELS_THE_OTHER,
    ONE_TRIGGERS_A_ONE_CANCELS_THE_OTHER,
    ONE_TRIGGERS_THE_OTHER,
    POST_ONLY,
    TRIGGER_TYPES,
    TWAP,
)

MAX_BASE_AMOUNT = (1 << 48) - 1
MAX_PRICE = (1 << 32) - 1
MAX_MARKET_INDEX = 254
MAX_API_KEY_INDEX = 254
ATTRIBUTE_CANCEL_ALL_MARKET = "5"
ATTRIBUTE_ORDER_VERSION = "8"
"""`L2TxAttributes` key of the order version a modify names (lighter-sdk's `order_version`;
absent when the signer is given `NIL_ORDER_VERSION`, 0: no check)."""
MAX_ORDER_VERSION = (1 << 48) - 1
NIL_MARKET_INDEX = 255
GROUP_SIZES = {ONE_TRIGGERS_THE_OTHER: 2, ONE_CANCELS_THE_OTHER: 2}
GROUP_SIZES[ONE_TRIGGERS_A_ONE_CANCELS_THE_OTHER] = 3

TxInfo = Mapping[str, object]


@dataclass(frozen=True)
class Sender:
    """Who signed a transaction, with which key and nonce, and until when it may execute."""

    account_index: int
    api_key_index: int
    nonce: int
    expired_at_ms: int


@dataclass(frozen=True)
class OrderRequest:
    market_index: int
    client_order_index: int
    base_amount: int
    price: int
    is_ask: bool
    order_type: int
    time_in_force: int
    reduce_only: bool
    trigger_price: int
    order_expiry_ms: int


@dataclass(frozen=True)
class CancelRequest:
    market_index: int
    index: int  # an exchange order index, or a client order index (they never overlap)


@dataclass(frozen=True)
class ModifyRequest:
    market_index: int
    index: int
    base_amount: int
    price: int
    trigger_price: int
    order_version: int | None = None  # the version the sender saw; None: any


@dataclass(frozen=True)
class CancelAllRequest:
    time_in_force: int
    time_ms: int
    market_index: int | None  # None: every market


@dataclass(frozen=True)
class GroupRequest:
    grouping_type: int
    orders: tuple[OrderRequest, ...]


def field(info: TxInfo, name: str) -> int:
    """An integer field of `info`, or `invalid tx info` when it is missing or not an integer."""
    value = info.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise rejected(errors.INVALID_TX_INFO, f"`{name}` must be an integer, not {value!r}")
    return value


def sender(info: TxInfo) -> Sender:
    return Sender(
        account_index=field(info, "AccountIndex"),
        api_key_index=field(info, "ApiKeyIndex"),
        nonce=field(info, "Nonce"),
        expired_at_ms=field(info, "ExpiredAt"),
    )


def order_request(info: TxInfo, *, child: bool = False) -> OrderRequest:
    """A create-order request; `child` allows the zero size of a grouped order's attached
    stop or target (sized to its parent's fill)."""
    request = OrderRequest(
        market_index=field(info, "MarketIndex"),
        client_order_index=field(info, "ClientOrderIndex"),
        base_amount=field(info, "BaseAmount"),
        price=field(info, "Price"),
        is_ask=_flag(info, "IsAsk", errors.INVALID_IS_ASK),
        order_type=field(info, "Type"),
        time_in_force=field(info, "TimeInForce"),
        reduce_only=_flag(info, "ReduceOnly", errors.INVALID_TX_INFO),
        trigger_price=field(info, "TriggerPrice"),
        order_expiry_ms=field(info, "OrderExpiry"),
    )
    _check_market_index(request.market_index)
    if not 0 <= request.client_order_index <= MAX_CLIENT_ORDER_INDEX:
        raise rejected(errors.INVALID_CLIENT_ORDER_INDEX, f"{request.client_order_index}")
    lowest = 0 if child else 1
    if not lowest <= request.base_amount <= MAX_BASE_AMOUNT:
        raise rejected(errors.INVALID_BASE_AMOUNT, f"BaseAmount {request.base_amount}")
    _check_price(request.price)
    if request.order_type == TWAP:
        raise rejected(errors.UNSUPPORTED_ORDER_TYPE, "the sim does not run TWAP orders")
    if not 0 <= request.order_type <= TWAP:
        raise rejected(errors.INVALID_ORDER_TYPE, f"Type {request.order_type}")
    if request.time_in_force not in (IMMEDIATE_OR_CANCEL, GOOD_TILL_TIME, POST_ONLY):
        raise rejected(errors.INVALID_TIME_IN_FORCE, f"TimeInForce {request.time_in_force}")
    _check_trigger(request.order_type, request.trigger_price)
    if request.order_expiry_ms < 0:
        raise rejected(errors.INVALID_ORDER_EXPIRY, f"OrderExpiry {request.order_expiry_ms}")
    return request


def cancel_request(info: TxInfo) -> CancelRequest:
    request = CancelRequest(field(info, "MarketIndex"), field(info, "Index"))
    _check_market_index(request.market_index)
    return request


def modify_request(info: TxInfo) -> ModifyRequest:
    request = ModifyRequest(
        market_index=field(info, "MarketIndex"),
        index=field(info, "Index"),
        base_amount=field(info, "BaseAmount"),
        price=field(info, "Price"),
        trigger_price=field(info, "TriggerPrice"),
        order_version=_order_version(info),
    )
    _check_market_index(request.market_index)
    if not 0 <= request.base_amount <= MAX_BASE_AMOUNT:
        raise rejected(errors.INVALID_BASE_AMOUNT, f"BaseAmount {request.base_amount}")
    _check_price(request.price)
    if not 0 <= request.trigger_price <= MAX_PRICE:
        raise rejected(errors.INVALID_TRIGGER_PRICE, f"TriggerPrice {request.trigger_price}")
    return request


def cancel_all_request(info: TxInfo) -> CancelAllRequest:
    time_in_force = field(info, "TimeInForce")
    time_ms = field(info, "Time")
    market_index = _cancel_all_market(info)
    if time_in_force in (CANCEL_ALL_IMMEDIATE, CANCEL_ALL_ABORT):
        if time_ms != 0:
            raise rejected(errors.INVALID_CANCEL_ALL_TIME, f"Time must be 0, not {time_ms}")
    elif time_in_force == CANCEL_ALL_SCHEDULED:
        if time_ms < 1:
            raise rejected(errors.INVALID_CANCEL_ALL_TIME, f"Time {time_ms}")
        if market_index is not None:
            raise rejected(errors.INVALID_TX_INFO, "a scheduled cancel-all covers every market")
    else:
        raise rejected(errors.INVALID_CANCEL_ALL_TIME_IN_FORCE, f"TimeInForce {time_in_force}")
    return CancelAllRequest(time_in_force, time_ms, market_index)


def group_request(info: TxInfo) -> GroupRequest:
    """Grouped orders: OTO (an order and a stop or target attached to its fill), OCO (two orders,
    the first to trigger or fill cancels the other), OTOCO (an order with an OCO pair attached)."""
    grouping_type = field(info, "GroupingType")
    if grouping_type not in GROUP_SIZES:
        raise rejected(errors.INVALID_GROUPING_TYPE, f"GroupingType {grouping_type}")
    raw = info.get("Orders")
    if not isinstance(raw, list) or len(raw) != GROUP_SIZES[grouping_type]:
        count = len(raw) if isinstance(raw, list) else raw
        detail = f"{count} orders for GroupingType {grouping_type}"
        raise rejected(errors.INVALID_GROUP_SIZE, detail)
    if not all(isinstance(item, Mapping) for item in raw):
        raise rejected(errors.INVALID_TX_INFO, "each of `Orders` must be an object")
    attached = grouping_type != ONE_CANCELS_THE_OTHER
    orders = tuple(
        order_request(item, child=attached and position > 0) for position, item in enumerate(raw)
    )
    _check_group(grouping_type, orders)
    return GroupRequest(grouping_type, orders)


def _check_group(grouping_type: int, orders: tuple[OrderRequest, ...]) -> None:
    if len({order.market_index for order in orders}) != 1:
        raise rejected(errors.INVALID_ORDER_INFO, "grouped orders must share one market")
    if grouping_type == ONE_CANCELS_THE_OTHER:
        if any(order.order_type not in TRIGGER_TYPES | {LIMIT} for order in orders):
            raise rejected(errors.INVALID_ORDER_INFO, "OCO legs are limit, stop or target orders")
        _check_one_expiry(orders)
        return
    parent, *children = orders
    if parent.order_type in TRIGGER_TYPES:
        raise rejected(errors.INVALID_ORDER_INFO, "the first order of a group is a limit/market")
    for child in children:
        if child.order_type not in TRIGGER_TYPES:
            raise rejected(errors.INVALID_ORDER_INFO, "attached orders are stops or targets")
        if child.base_amount != 0:
            raise rejected(errors.INVALID_ORDER_INFO, "attached orders are sized by their parent")
        if child.is_ask == parent.is_ask:
            raise rejected(errors.INVALID_ORDER_INFO, "attached orders close the parent's side")
    _check_one_expiry(children if parent.order_expiry_ms == 0 else orders)


def _check_one_expiry(orders: Sequence[OrderRequest]) -> None:
    """The venue's rule for a group: OCO legs, and a parent's attached orders, expire together,
    as does a parent that expires at all (an IOC parent has none)."""
    expiries = sorted({order.order_expiry_ms for order in orders})
    if len(expiries) > 1:
        detail = "grouped orders must share one OrderExpiry, not " + ", ".join(map(str, expiries))
        raise rejected(errors.INVALID_ORDER_EXPIRY, detail)


def _flag(info: TxInfo, name: str, error: errors.ErrorCode) -> bool:
    value = field(info, name)
    if value not in (0, 1):
        raise rejected(error, f"`{name}` must be 0 or 1, not {value}")
    return value == 1


def _check_market_index(market_index: int) -> None:
    if not 0 <= market_index <= MAX_MARKET_INDEX:
        raise rejected(errors.INVALID_MARKET_INDEX, f"MarketIndex {market_index}")


def _check_price(price: int) -> None:
    if not 1 <= price <= MAX_PRICE:
        raise rejected(errors.INVALID_PRICE, f"Price {price}")


def _check_trigger(order_type: int, trigger_price: int) -> None:
    lowest = 1 if order_type in TRIGGER_TYPES else 0
    if not lowest <= trigger_price <= MAX_PRICE:
        raise rejected(errors.INVALID_TRIGGER_PRICE, f"TriggerPrice {trigger_price}")


def _order_version(info: TxInfo) -> int | None:
    """The order version a modify names in its attributes, or None when it names none."""
    attributes = info.get("L2TxAttributes")
    if not isinstance(attributes, Mapping):
        return None
    version = attributes.get(ATTRIBUTE_ORDER_VERSION)
    if version is None or version == 0:
        return None
    if isinstance(version, bool) or not isinstance(version, int):
        raise rejected(errors.INVALID_TX_INFO, f"order version {version!r}")
    if not 0 < version <= MAX_ORDER_VERSION:
        raise rejected(errors.INVALID_TX_INFO, f"order version {version} is out of range")
    return version


def _cancel_all_market(info: TxInfo) -> int | None:
    attributes = info.get("L2TxAttributes")
    if not isinstance(attributes, Mapping):
        return None
    market = attributes.get(ATTRIBUTE_CANCEL_ALL_MARKET)
    if market is None or market == NIL_MARKET_INDEX:
        return None
    if isinstance(market, bool) or not isinstance(market, int):
        raise rejected(errors.INVALID_TX_INFO, f"cancel-all market {market!r}")
    _check_market_index(market)
    return market

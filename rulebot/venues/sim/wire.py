"""The JSON the sim answers with, in the shapes of lighter-sdk's models.

Pure functions from the engine's objects (integers in venue units, `Decimal` USDC) to the dicts
that `lighter.models.*.from_dict` reads: every required field of each model is filled. Amounts
are decimal strings as the real API sends them: sizes with the market's `size_decimals`, prices
with its `price_decimals`, USDC with at least 6 places (more when an amount is finer, so that
nothing is rounded away). Fee rates are fractions of notional (`"0.00028"`); funding rates are
in percent per interval, as Lighter's. Times are milliseconds UTC, except where Lighter's are in
seconds: the status endpoint's and the fundings' `timestamp`.

Empty is null, as on the venue: a list of results with nothing in it is sent as `null` (`"c":
null` for a window without candles, `"fundings": null`, an empty book side), or left out
(`recentTrades` without trades), and a candle leaves out its zero values (`v`, `V`, `i`). See
`results`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rulebot.venues.sim.records import (
    BookLevel,
    SimAccount,
    SimMarket,
    SimOrder,
    SimPosition,
    SimTrade,
)

Json = dict[str, Any]

OK = 200
QUOTE_DECIMALS = 6
NETWORK_ID = 1
CONTRACT_ADDRESS = "0x0000000000000000000000000000000000000000"
ORDER_QUOTE_LIMIT = "281474976.710655"  # what the real API reports for "no limit"
INSURANCE_FUND_ACCOUNT = 281474976710655
LIQUIDATION_FEE = "1.0000"
USDC_ASSET_ID = 3  # as the venue numbers it

ORDER_TYPES = {
    0: "limit",
    1: "market",
    2: "stop-loss",
    3: "stop-loss-limit",
    4: "take-profit",
    5: "take-profit-limit",
    6: "twap",
}
TIME_IN_FORCE = {0: "immediate-or-cancel", 1: "good-till-time", 2: "post-only"}
OMITTED_WHEN_ZERO = frozenset({"v", "V", "i"})
"""The candle fields the venue leaves out when they are zero."""
TRIGGER_STATUSES = frozenset({"na", "ready", "mark-price", "twap", "parent-order"})
"""The trigger statuses lighter-sdk's `Order` knows; a fired trigger is reported as `na`."""


# --- numbers ---------------------------------------------------------------------------------


def scaled(value: int, decimals: int) -> str:
    """An integer in venue units as its decimal string: `scaled(351237, 2) == "3512.37"`."""
    return f"{Decimal(value).scaleb(-decimals):.{decimals}f}"


def at_least(value: Decimal, places: int) -> str:
    """`value` with at least `places` decimals, more if it has them (never rounded)."""
    exponent = value.as_tuple().exponent
    shown = max(places, -exponent) if isinstance(exponent, int) else places
    return f"{value:.{shown}f}"


def usdc(amount: Decimal) -> str:
    """An amount of USDC: `usdc(Decimal(100000)) == "100000.000000"`."""
    return at_least(amount, QUOTE_DECIMALS)


def fee_rate(rate: Decimal) -> str:
    """A fee (a fraction of notional) in percent, as Lighter sends it, at least 4 decimals:
    0.00028 -> `"0.0280"`, 0 -> `"0.0000"`."""
    return at_least((rate * 100).normalize(), 4)


def margin_percent(fraction: int) -> str:
    """A margin fraction in 1/10,000 units as a percentage string: 1000 -> `"10.00"`."""
    return f"{Decimal(fraction).scaleb(-2):.2f}"


def null_if_empty(items: Sequence[Json]) -> list[Json] | None:
    """A list of results as the venue sends it: `null` when there is none."""
    return list(items) or None


def results(
    key: str,
    items: Sequence[Json],
    *,
    paged: bool = False,
    omit_when_empty: bool = False,
    **fields: Any,
) -> Json:
    """A successful answer listing `items` under `key`, in the venue's shapes: the list when
    there is something; else `"message": null` (and `"next_cursor": null` when `paged`) with
    `key` null, or left out when `omit_when_empty` (as the venue's `recentTrades` does).
    `fields` come before the list (`r="5m"`)."""
    if items:
        return {"code": OK, **fields, key: list(items)}
    empty: Json = {"code": OK, "message": None, **fields}
    if paged:
        empty["next_cursor"] = None
    if not omit_when_empty:
        empty[key] = None
    return empty


def result_code(code: int = OK, message: str | None = None) -> Json:
    """`ResultCode`: the body of every error answer."""
    body: Json = {"code": code}
    if message is not None:
        body["message"] = message
    return body


# --- status ----------------------------------------------------------------------------------


def status(now_ms: int) -> Json:
    """`Status` for `GET /`."""
    return {"status": OK, "network_id": NETWORK_ID, "timestamp": now_ms // 1000}


def info() -> Json:
    """`ZkLighterInfo` for `GET /info`."""
    return {"contract_address": CONTRACT_ADDRESS}


# --- markets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarketStats:
    """A market's figures for the last 24 hours of sim time, from the replayed candles."""

    last_trade_price: int = 0
    mark_price: int = 0
    index_price: int = 0
    daily_trades_count: int = 0
    daily_base_volume: Decimal = Decimal(0)
    daily_quote_volume: Decimal = Decimal(0)
    daily_low: int = 0
    daily_high: int = 0
    daily_change_percent: float = 0.0
    open_interest: int = 0  # size units, one side
    funding_rate: Decimal | None = None  # the last funding's rate, a fraction (None: none yet)
    funding_time_ms: int = 0  # when that funding was paid (0: none yet)


def _market_common(market: SimMarket) -> Json:
    return {
        "symbol": market.symbol,
        "market_id": market.market_id,
        "market_type": "perp",
        "base_asset_id": 0,
        "quote_asset_id": 0,
        "status": "active",
        "taker_fee": fee_rate(market.taker_fee),
        "maker_fee": fee_rate(market.maker_fee),
        "liquidation_fee": LIQUIDATION_FEE,
        "min_base_amount": scaled(market.min_base_amount, market.size_decimals),
        "min_quote_amount": usdc(market.min_quote_amount),
        "supported_size_decimals": market.size_decimals,
        "supported_price_decimals": market.price_decimals,
        "supported_quote_decimals": QUOTE_DECIMALS,
        "order_quote_limit": ORDER_QUOTE_LIMIT,
        "is_maker_fee_enabled": market.maker_fee != 0,
        "is_taker_fee_enabled": market.taker_fee != 0,
        "created_at": "0",
        "multiplier": "1",
        "start_timestamp": 0,
        "end_timestamp": 0,
        "settlement_type": 0,
        "settlement_price": 0,
        "settlement_cap": 0,
        "outcome": 0,
        "default_price": 0,
        "operator_account_index": 0,
        "is_frozen": False,
    }


def order_book(market: SimMarket, stats: MarketStats) -> Json:
    """`OrderBook`, one entry of `GET /api/v1/orderBooks`."""
    return {
        **_market_common(market),
        "open_interest": scaled(stats.open_interest, market.size_decimals),
    }


def order_book_detail(market: SimMarket, stats: MarketStats) -> Json:
    """`PerpsOrderBookDetail`, one entry of `GET /api/v1/orderBookDetails`."""
    price = market.price_decimals
    return {
        **_market_common(market),
        "size_decimals": market.size_decimals,
        "price_decimals": market.price_decimals,
        "quote_multiplier": 1,
        "default_initial_margin_fraction": market.initial_margin_fraction,
        "min_initial_margin_fraction": market.initial_margin_fraction,
        "maintenance_margin_fraction": market.maintenance_margin_fraction,
        "closeout_margin_fraction": market.maintenance_margin_fraction * 2 // 3,
        "last_trade_price": _float(stats.last_trade_price, price),
        "daily_trades_count": stats.daily_trades_count,
        "daily_base_token_volume": float(stats.daily_base_volume),
        "daily_quote_token_volume": float(stats.daily_quote_volume),
        "daily_price_low": _float(stats.daily_low, price),
        "daily_price_high": _float(stats.daily_high, price),
        "daily_price_change": float(stats.daily_change_percent),
        "open_interest": _float(stats.open_interest, market.size_decimals),
        "daily_chart": {},
        "market_config": {
            "market_margin_mode": 0,
            "insurance_fund_account_index": INSURANCE_FUND_ACCOUNT,
            "liquidation_mode": 0,
            "force_reduce_only": False,
            "funding_fee_discounts_enabled": False,
            "trading_hours": "",
            "hidden": False,
            "rfq_enabled": False,
        },
        "strategy_index": 0,
        "funding_clamp_small": "0.0500",
        "funding_clamp_big": "4.0000",
        "base_interest_rate": "0.0100",
        "mark_price": scaled(stats.mark_price, price),
        "index_price": scaled(stats.index_price, price),
        "market_flags": 0,
        "funding_premium_multiplier": 0,
    }


def market_stats(market: SimMarket, stats: MarketStats) -> Json:
    """The `market_stats` object of the stream's `market_stats/{market}` channel. Rates are in
    percent, as Lighter sends them (`"0.0100"` is 0.01%, a fraction of 0.0001), signed: positive
    when longs pay shorts."""
    price = market.price_decimals
    rate = stats.funding_rate if stats.funding_rate is not None else Decimal(0)
    percent = at_least(rate * 100, 4)
    return {
        "symbol": market.symbol,
        "market_id": market.market_id,
        "index_price": scaled(stats.index_price, price),
        "mark_price": scaled(stats.mark_price, price),
        "mid_price": scaled(stats.mark_price, price),
        "open_interest": scaled(stats.open_interest, market.size_decimals),
        "open_interest_limit": "0",
        "funding_clamp_small": "0.0500",
        "funding_clamp_big": "4.0000",
        "last_trade_price": scaled(stats.last_trade_price, price),
        "current_funding_rate": percent,
        "funding_rate": percent,
        "funding_timestamp": stats.funding_time_ms,
        "daily_base_token_volume": float(stats.daily_base_volume),
        "daily_quote_token_volume": float(stats.daily_quote_volume),
        "daily_price_low": _float(stats.daily_low, price),
        "daily_price_high": _float(stats.daily_high, price),
        "daily_price_change": float(stats.daily_change_percent),
    }


def _float(value: int, decimals: int) -> float:
    """For the few fields the real API sends as JSON numbers (daily statistics)."""
    return float(Decimal(value).scaleb(-decimals))


# --- order book ------------------------------------------------------------------------------


def book_levels(levels: Iterable[BookLevel], market: SimMarket) -> list[Json]:
    """Price levels as the WebSocket sends them: `[{"price": "3512.37", "size": "1.2500"}]`."""
    return [
        {
            "price": scaled(level.price, market.price_decimals),
            "size": scaled(level.size, market.size_decimals),
        }
        for level in levels
    ]


def simple_order(order: SimOrder, market: SimMarket) -> Json:
    """`SimpleOrder`, a resting order in `GET /api/v1/orderBookOrders`."""
    return {
        "order_index": order.order_index,
        "order_id": str(order.order_index),
        "owner_account_index": order.account_index,
        "initial_base_amount": scaled(order.initial_base_amount, market.size_decimals),
        "remaining_base_amount": scaled(order.remaining_base_amount, market.size_decimals),
        "price": scaled(order.price, market.price_decimals),
        "order_expiry": order.order_expiry_ms,
        "transaction_time": order.updated_ms,
    }


def order(order: SimOrder, market: SimMarket) -> Json:
    """`Order`: an account's order as the active/inactive orders endpoints and stream send it."""
    size, price = market.size_decimals, market.price_decimals
    children = [*order.to_trigger, 0, 0]
    trigger_status = order.trigger_status if order.trigger_status in TRIGGER_STATUSES else "na"
    return {
        "order_index": order.order_index,
        "client_order_index": order.client_order_index,
        "order_id": str(order.order_index),
        "client_order_id": str(order.client_order_index),
        "market_index": order.market_id,
        "owner_account_index": order.account_index,
        "initial_base_amount": scaled(order.initial_base_amount, size),
        "price": scaled(order.price, price),
        "nonce": order.nonce,
        "remaining_base_amount": scaled(order.remaining_base_amount, size),
        "is_ask": order.is_ask,
        "base_size": order.initial_base_amount,
        "base_price": order.price,
        "filled_base_amount": scaled(order.filled_base_amount, size),
        "filled_quote_amount": usdc(order.filled_quote_amount),
        "side": "sell" if order.is_ask else "buy",
        "type": ORDER_TYPES.get(order.order_type, "limit"),
        "time_in_force": TIME_IN_FORCE.get(order.time_in_force, "Unknown"),
        "reduce_only": order.reduce_only,
        "trigger_price": scaled(order.trigger_price, price),
        "order_expiry": order.order_expiry_ms,
        "status": order.status,
        "trigger_status": trigger_status,
        "trigger_time": order.triggered_ms,
        "parent_order_index": order.parent_order_index,
        "parent_order_id": str(order.parent_order_index),
        "to_trigger_order_id_0": str(children[0]),
        "to_trigger_order_id_1": str(children[1]),
        "to_cancel_order_id_0": str(order.to_cancel),
        "block_height": 0,
        "timestamp": order.created_ms,
        "created_at": order.created_ms,
        "updated_at": order.updated_ms,
        "transaction_time": order.updated_ms,
        "integrator_fee_collector_index": "0",
        "integrator_maker_fee": "0",
        "integrator_taker_fee": "0",
        "order_flags": 0,
        "order_version": order.version,
        "market_symbol": market.symbol,
        "market_kind": "perps",
    }


# --- trades ----------------------------------------------------------------------------------


def trade(trade: SimTrade, market: SimMarket, *, tx_hash: str = "") -> Json:
    """`Trade`: a fill, or a replay print (both sides the synthetic liquidity's account 0)."""
    taker = (
        trade.taker_order_index,
        trade.taker_account,
        trade.taker_client_order_index,
        trade.taker_realized_pnl,
    )
    maker = (
        trade.maker_order_index,
        trade.maker_account,
        trade.maker_client_order_index,
        trade.maker_realized_pnl,
    )
    ask, bid = (taker, maker) if trade.taker_is_ask else (maker, taker)
    ask_order, ask_account, ask_client, ask_pnl = ask
    bid_order, bid_account, bid_client, bid_pnl = bid
    body: Json = {
        "trade_id": trade.trade_id,
        "tx_hash": tx_hash,
        "type": "trade",
        "market_id": trade.market_id,
        "size": scaled(trade.size, market.size_decimals),
        "price": scaled(trade.price, market.price_decimals),
        "usd_amount": usdc(market.notional(trade.size, trade.price)),
        "ask_id": ask_order,
        "bid_id": bid_order,
        "ask_account_id": ask_account,
        "bid_account_id": bid_account,
        "is_maker_ask": not trade.taker_is_ask,
        "block_height": 0,
        "timestamp": trade.timestamp_ms,
        "taker_position_size_before": "",
        "taker_entry_quote_before": "",
        "taker_initial_margin_fraction_before": 0,
        "taker_position_sign_changed": False,
        "maker_position_size_before": "",
        "maker_entry_quote_before": "",
        "maker_initial_margin_fraction_before": 0,
        "maker_position_sign_changed": False,
        "transaction_time": trade.timestamp_ms,
        "bid_account_pnl": usdc(bid_pnl),
        "ask_account_pnl": usdc(ask_pnl),
        "ask_client_id": ask_client,
        "bid_client_id": bid_client,
        "ask_client_id_str": str(ask_client),
        "bid_client_id_str": str(bid_client),
        "ask_id_str": str(ask_order),
        "bid_id_str": str(bid_order),
        "trade_id_str": str(trade.trade_id),
        "integrator_maker_fee": 0,
        "integrator_maker_fee_collector_index": 0,
        "integrator_taker_fee": 0,
        "integrator_taker_fee_collector_index": 0,
        "taker_allocated_margin_usdc_before": 0,
        "taker_allocated_margin_usdc_after": 0,
        "maker_allocated_margin_usdc_before": 0,
        "maker_allocated_margin_usdc_after": 0,
        "bid_order_version": 0,
        "ask_order_version": 0,
        "market_symbol": market.symbol,
        "market_kind": "perps",
    }
    if market.taker_fee:  # the real API omits zero fees; the rate in millionths
        body["taker_fee"] = int(market.taker_fee * 1_000_000)
    if market.maker_fee:
        body["maker_fee"] = int(market.maker_fee * 1_000_000)
    return body


# --- accounts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PositionFigures:
    """What a position is worth now, computed by the exchange."""

    mark_price: int
    unrealized_pnl: Decimal
    open_order_count: int = 0
    pending_order_count: int = 0


def position(position: SimPosition, market: SimMarket, figures: PositionFigures) -> Json:
    """`AccountPosition` (REST) and the stream's Position. The entry price is the cost basis
    over the open size in whole base units, exact."""
    size = abs(position.size)
    entry = position.entry_quote / market.size_value(size) if size else Decimal(0)
    return {
        "market_id": market.market_id,
        "symbol": market.symbol,
        "initial_margin_fraction": margin_percent(market.initial_margin_fraction),
        "open_order_count": figures.open_order_count,
        "pending_order_count": figures.pending_order_count,
        "position_tied_order_count": 0,
        "sign": -1 if position.size < 0 else 1,
        "position": scaled(size, market.size_decimals),
        "avg_entry_price": at_least(entry, market.price_decimals),
        "position_value": usdc(market.notional(size, figures.mark_price)),
        "unrealized_pnl": usdc(figures.unrealized_pnl),
        "realized_pnl": usdc(position.realized_pnl),
        "liquidation_price": "0",
        "total_funding_paid_out": usdc(position.funding_paid),
        "margin_mode": 0,
        "allocated_margin": usdc(Decimal(0)),
        "total_discount": usdc(Decimal(0)),
        "margin_set_flag": 0,
    }


@dataclass(frozen=True)
class AccountFigures:
    """An account's totals now, computed by the exchange."""

    equity: Decimal
    available_balance: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    active_order_count: int = 0
    pending_order_count: int = 0


def account(sim_account: SimAccount, figures: AccountFigures, now_ms: int) -> Json:
    """`Account`: the short form in `GET /api/v1/accountsByL1Address`."""
    return {
        "code": OK,
        "account_type": 0,
        "account_trading_mode": 0,
        "index": sim_account.index,
        "l1_address": sim_account.l1_address,
        "cancel_all_time": 0,
        "total_order_count": figures.active_order_count,
        "total_isolated_order_count": 0,
        "pending_order_count": figures.pending_order_count,
        "available_balance": usdc(figures.available_balance),
        "status": 1,
        "collateral": usdc(sim_account.collateral),
        "transaction_time": now_ms,
    }


def detailed_account(
    sim_account: SimAccount, figures: AccountFigures, positions: Sequence[Json], now_ms: int
) -> Json:
    """`DetailedAccount`: one account in `GET /api/v1/account`."""
    return {
        **account(sim_account, figures, now_ms),
        "account_index": sim_account.index,
        "name": "",
        "description": "",
        "can_invite": False,
        "referral_points_percentage": "",
        "positions": list(positions),
        "assets": [usdc_asset(sim_account.collateral)],
        "total_asset_value": usdc(figures.equity),
        "cross_asset_value": usdc(figures.equity),
        "pool_info": {
            "status": 0,
            "operator_fee": "0",
            "min_operator_share_rate": "0",
            "total_shares": 0,
            "operator_shares": 0,
            "annual_percentage_yield": 0.0,
            "daily_returns": [],
            "share_prices": [],
            "sharpe_ratio": 0.0,
            "strategies": [],
        },
        "shares": [],
        "pending_unlocks": [],
        "approved_integrators": [],
        "created_at": 0,
        "can_rfq": False,
        "cross_initial_margin_requirement": usdc(figures.initial_margin),
        "cross_maintenance_margin_requirement": usdc(figures.maintenance_margin),
        "can_rfq_market_ids": None,  # the venue's empty list
        "metadata": {"color": ""},
        "agent_enabled": False,
    }


def usdc_asset(balance: Decimal) -> Json:
    """`AccountAsset`: the account's USDC, all of it the perpetuals' cross collateral."""
    return {
        "symbol": "USDC",
        "asset_id": USDC_ASSET_ID,
        "balance": usdc(balance),
        "locked_balance": usdc(Decimal(0)),
        "margin_mode": "disabled",
        "margin_balance": usdc(Decimal(0)),
        "multiplier": "1",
    }


def api_key(account_index: int, api_key_index: int, nonce: int, public_key: str) -> Json:
    """`ApiKey`, one entry of `GET /api/v1/apikeys`."""
    return {
        "account_index": account_index,
        "api_key_index": api_key_index,
        "nonce": nonce,
        "public_key": public_key,
        "transaction_time": 0,
    }


def pnl_entry(timestamp_s: int, trade_pnl: Decimal, volume: Decimal) -> Json:
    """`PnLEntry`: an account's trading PnL (realised + unrealised) up to one moment."""
    zero = 0.0
    return {
        "timestamp": timestamp_s,
        "trade_pnl": float(trade_pnl),
        "inflow": zero,
        "outflow": zero,
        "pool_pnl": zero,
        "pool_inflow": zero,
        "pool_outflow": zero,
        "pool_total_shares": zero,
        "spot_inflow": zero,
        "spot_outflow": zero,
        "staked_lit": zero,
        "staking_inflow": zero,
        "staking_outflow": zero,
        "staking_pnl": zero,
        "trade_spot_pnl": zero,
        "volume": float(volume),
    }


# --- candles and funding ---------------------------------------------------------------------


def candle(
    timestamp_ms: int,
    open_: Decimal,
    high: Decimal,
    low: Decimal,
    close: Decimal,
    volume: Decimal,
    quote_volume: Decimal,
    last_trade_id: int = 0,
) -> Json:
    """`Candle`: prices and volumes are JSON numbers in the real API (`v` base volume, `V`
    quote volume, `i` the last trade's id); the sim's are exact decimals of the market's units
    before that. Zero values are left out, as the venue does (a bar without trades has no `v`
    or `V`)."""
    bar: Json = {
        "t": timestamp_ms,
        "o": float(open_),
        "h": float(high),
        "l": float(low),
        "c": float(close),
        "v": float(volume),
        "V": float(quote_volume),
        "i": last_trade_id,
    }
    return {key: value for key, value in bar.items() if value or key not in OMITTED_WHEN_ZERO}


def funding(timestamp_ms: int, rate: Decimal, mark_price: Decimal) -> Json:
    """`Funding`: one funding payment of a market, as Lighter reports it: `rate` unsigned and in
    percent per interval, `direction` the side that paid (`long` when the signed rate is
    positive), `timestamp` in seconds; `value` is what one whole unit of base paid (rate x mark
    price, USDC)."""
    return {
        "timestamp": timestamp_ms // 1000,
        "value": at_least(abs(rate) * mark_price, QUOTE_DECIMALS),
        "rate": at_least(abs(rate) * 100, 4),
        "direction": "long" if rate >= 0 else "short",
    }


def funding_rate(market: SimMarket, rate: Decimal) -> Json:
    """`FundingRate`: a market's latest rate in `GET /api/v1/funding-rates`, signed, in percent
    per interval (positive: longs pay)."""
    return {
        "market_id": market.market_id,
        "exchange": "lighter",
        "symbol": market.symbol,
        "rate": float(rate * 100),
    }

"""One running sim: the exchange, the replay that moves its markets, the clocks and the faults.

`Simulation` owns them and answers what the HTTP and WebSocket layers ask, already shaped by
`wire`; it knows nothing of how it is served (`serving` does that: `serve_sim`, `SimThread`,
`rulebot sim`).

Two clocks: the wall clock checks what the signer stamped from it (a transaction's `ExpiredAt`,
order expiry, auth tokens); sim time, the replay's, runs at `speed` times the wall clock from the
first replayed candle (0 = paused: `advance` steps it) and stamps orders, trades and candles.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from rulebot.data.candles import DataError
from rulebot.venues.sim import errors, wire
from rulebot.venues.sim.errors import rejected
from rulebot.venues.sim.exchange import Exchange
from rulebot.venues.sim.faults import Faults
from rulebot.venues.sim.markets import MarketData, markets_from_files, shipped_markets
from rulebot.venues.sim.ratelimits import RateLimits
from rulebot.venues.sim.records import (
    MARKET_MAKER_ACCOUNT,
    TX_CREATE_GROUPED_ORDERS,
    TX_CREATE_ORDER,
    Applied,
    SimOrder,
    SimTrade,
    TxRejected,
)
from rulebot.venues.sim.replay import RESOLUTIONS, Replay, SimCandle
from rulebot.venues.sim.settings import SimSettings

log = logging.getLogger(__name__)


REPLAY_TICK_S = 0.05
SHUTDOWN_TIMEOUT_S = 1.0  # requests still running then (a delay fault's) are cancelled
AUTH_MAX_LIFETIME_S = 8 * 3600  # Lighter's limit for an API key's auth token
AUTH_CLOCK_SLACK_S = 60
DAY_MS = 86_400_000
TRADE_HASHES_KEPT = 100_000
ORDER_CREATING_TXS = frozenset({TX_CREATE_ORDER, TX_CREATE_GROUPED_ORDERS})
LENGTH_MISMATCH = (21513, "TxInfos and TxTypes should have the same length")
INVALID_TIMESTAMPS = (
    22400,
    "invalid timestamps: end_timestamp must be greater than start_timestamp",
)
INVALID_RESOLUTION = (22402, "invalid resolution: resolution unsupported")
MAX_CANDLES = 500
SECONDS_BELOW = 100_000_000_000
_HEX = re.compile(r"^(0x)?[0-9a-fA-F]+$")


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def _as_ms(timestamp: int) -> int:
    """A timestamp in ms, from seconds (below 1e11, before 1973 in ms) or ms."""
    return timestamp * 1000 if 0 < timestamp < SECONDS_BELOW else timestamp


def _bare_hex(key: str) -> str:
    return key[2:] if key.lower().startswith("0x") else key


class SimStartError(Exception):
    """The sim could not start (a busy port, a bad candle file), said in one line."""


def load_markets(data: Sequence[str]) -> list[MarketData]:
    """The markets of `data` (candle file specs), or the shipped ones if there is none."""
    try:
        return markets_from_files(data) if data else shipped_markets()
    except (DataError, ValueError) as error:
        raise SimStartError(str(error)) from None


@dataclass(frozen=True)
class TxRecord:
    """One transaction the sim received, accepted or refused."""

    seq: int
    received_ms: int  # wall clock
    tx_type: int
    tx_info: dict[str, Any]
    accepted: bool
    tx_hash: str = ""
    code: int = 200
    message: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "received_ms": self.received_ms,
            "tx_type": self.tx_type,
            "tx_info": self.tx_info,
            "accepted": self.accepted,
            "tx_hash": self.tx_hash,
            "code": self.code,
            "message": self.message,
        }


class Simulation:
    """The exchange, its replay, the faults, the API keys the sim knows and the log of every
    transaction. Use it from one event loop (the server's)."""

    VOLUME_QUOTA = 1000

    def __init__(
        self, settings: SimSettings | None = None, *, wall_ms: Callable[[], int] = wall_clock_ms
    ) -> None:
        self.settings = settings or SimSettings()
        self.wall_ms = wall_ms
        self._daily_stats: dict[int, tuple[int, wire.MarketStats]] = {}  # market -> (minute, ..)
        markets = load_markets(self.settings.data)
        self.exchange = Exchange([m.market for m in markets], self.settings.accounts, wall_ms)
        try:
            self.replay = Replay(
                self.exchange,
                {m.market.market_id: m.candles for m in markets},
                {m.market.market_id: m.funding for m in markets if m.funding is not None},
                speed=self.settings.speed,
                now_ms=wall_ms(),
            )
        except ValueError as error:
            raise SimStartError(str(error)) from None
        self.faults = Faults(self.settings.faults)
        self.rate_limits = RateLimits(self.settings.rate_limit_tier, self.settings.rate_window_s)
        self._public_keys = {
            key: _bare_hex(public) for key, public in self.settings.api_public_keys.items()
        }
        self._log: list[TxRecord] = []
        self._trade_hashes: OrderedDict[int, str] = OrderedDict()

    # --- clocks and the replay ------------------------------------------------------------

    def now_ms(self) -> int:
        """Sim time (ms UTC)."""
        return self.exchange.sim_time_ms()

    def advance(self, steps: int = 0, *, bars: int = 0, ms: int = 0) -> None:
        """Move the replay on (meant for a paused sim): `steps` price points (each one moves
        every market due at that moment; four make a bar), then sim time by `bars` bars of the
        coarsest market and by `ms` milliseconds, playing every point due by then."""
        if min(steps, bars, ms) < 0:
            raise ValueError("steps, bars and ms are 0 or more")
        if steps:
            self.replay.step(steps)
        coarsest = max(self.replay.timeframe_ms(m.market_id) for m in self.exchange.markets())
        span = bars * coarsest + ms
        if span:
            self.replay.advance_to(self.replay.time_ms + span)

    def set_speed(self, speed: float) -> None:
        """Replay at `speed` x the wall clock from now on (0 pauses)."""
        self.replay.set_speed(speed, self.wall_ms())

    async def run(self) -> None:
        """Advance the replay with the clock and drop WebSockets on schedule, until cancelled."""
        faults = asyncio.create_task(self.faults.run())
        failing = False
        try:
            while True:
                await asyncio.sleep(REPLAY_TICK_S)
                if self.replay.speed == 0:
                    continue
                try:
                    self.replay.advance_to(self.replay.sim_time_ms(self.wall_ms()))
                    failing = False
                except Exception:  # a bad step must not stop the exchange; say so once
                    if not failing:
                        log.exception("the sim replay failed to advance")
                    failing = True
        finally:
            faults.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await faults

    # --- lookups --------------------------------------------------------------------------

    def has_market(self, market_id: int) -> bool:
        return any(m.market_id == market_id for m in self.exchange.markets())

    def has_account(self, account_index: int) -> bool:
        if account_index == MARKET_MAKER_ACCOUNT:
            return False
        try:
            self.exchange.account(account_index)
        except KeyError:
            return False
        return True

    def reset_account(self, account_index: int) -> None:
        """Lose everything the exchange knew of a trader's account (orders, positions, trades;
        collateral back to its deposit), as a venue that lost its state would."""
        if not self.has_account(account_index):
            raise ValueError(f"no account {account_index}")
        self.exchange.reset_account(account_index)

    def accounts_of(self, l1_address: str) -> list[int]:
        """The accounts registered to an L1 address (case-insensitive), lowest index first."""
        wanted = l1_address.lower()
        return sorted(
            a.index
            for a in self.exchange.accounts()
            if a.l1_address and a.l1_address.lower() == wanted
        )

    def book_orders(self, market_id: int, limit: int) -> tuple[list[SimOrder], list[SimOrder]]:
        """Resting orders (asks, bids), best first."""
        bids, asks = self.exchange.book_orders(market_id, limit)
        return asks, bids

    # --- API keys and auth tokens ---------------------------------------------------------

    def register_api_key(self, account_index: int, api_key_index: int, public_key: str) -> None:
        """Tell the sim an API key's public key, so that `/apikeys` (and so the SDK's
        `check_client`) reports it (as Lighter does, without `0x`)."""
        if not self.has_account(account_index):
            raise ValueError(f"no account {account_index}")
        if not 0 <= api_key_index <= 254:
            raise ValueError(f"an API key index is 0..254, not {api_key_index}")
        self._public_keys[(account_index, api_key_index)] = _bare_hex(public_key)

    def key_accepted(self, account_index: int, api_key_index: int) -> bool:
        keys = self.exchange.account(account_index).api_key_indexes
        return 0 <= api_key_index <= 254 and (keys is None or api_key_index in keys)

    def api_keys_json(self, account_index: int, api_key_index: int | None) -> list[dict[str, Any]]:
        """`ApiKey`s of an account: the one asked for, or every key the sim knows of."""
        if api_key_index is not None:
            if not self.key_accepted(account_index, api_key_index):
                return []
            indexes = [api_key_index]
        else:
            keys = self.exchange.account(account_index).api_key_indexes
            known = {k for (a, k) in self._public_keys if a == account_index}
            indexes = sorted(known | set(keys or ()))
        return [
            wire.api_key(
                account_index,
                index,
                self.exchange.next_nonce(account_index, index),
                self._public_keys.get((account_index, index), ""),
            )
            for index in indexes
        ]

    def auth_problem(self, token: object, account_index: int) -> str | None:
        """Why `token` does not authorise reading `account_index`, or None if it does.

        Accepted: `{expiry_s}:{account}:{api_key}:{hex}` as `create_auth_token_with_expiry`
        makes it (expiry in the future and at most 8 hours away) and the read-only form
        `ro:{account}:{single|all}:{expiry_s}:{hex}`. The signature is not verified.
        """
        if not isinstance(token, str) or not token:
            return "an auth token is required"
        parts = token.split(":")
        now_s = self.wall_ms() // 1000
        try:
            if parts[0] == "ro" and len(parts) == 5:
                account, expiry, signature = int(parts[1]), int(parts[3]), parts[4]
                longest = None
            elif len(parts) == 4:
                expiry, account, key = int(parts[0]), int(parts[1]), int(parts[2])
                signature = parts[3]
                longest = AUTH_MAX_LIFETIME_S + AUTH_CLOCK_SLACK_S
                if not self.has_account(account) or not self.key_accepted(account, key):
                    return f"api key {key} is not a key of account {account}"
            else:
                return "malformed auth token"
        except ValueError:
            return "malformed auth token"
        if not _HEX.match(signature):
            return "malformed auth token"
        if account != account_index:
            return f"the token is for account {account}, not {account_index}"
        if expiry <= now_s:
            return "the auth token has expired"
        if longest is not None and expiry - now_s > longest:
            return "the auth token's expiry is more than 8 hours away"
        return None

    @staticmethod
    def token_account(token: object) -> int | None:
        """The account an auth token is for (either form), or None if it names none."""
        if not isinstance(token, str):
            return None
        parts = token.split(":")
        if len(parts) not in (4, 5):
            return None
        try:
            return int(parts[1])
        except ValueError:
            return None

    # --- transactions ---------------------------------------------------------------------

    def next_nonce(self, account_index: int, api_key_index: int) -> int:
        if not self.key_accepted(account_index, api_key_index):
            raise rejected(errors.API_KEY_NOT_FOUND, f"api key {api_key_index}")
        return self.exchange.next_nonce(account_index, api_key_index)

    def send_tx(self, tx_type: int, tx_info: str) -> Applied:
        """Apply one signed transaction (raises `TxRejected` if refused)."""
        info = self._decode(tx_type, tx_info)
        if tx_type in ORDER_CREATING_TXS:
            injected = self.faults.take_order_rejection()
            if injected is not None:
                refusal = TxRejected(*injected, "injected by the sim's reject-orders fault")
                self._record(tx_type, info, refusal)
                raise refusal
        try:
            applied = self.exchange.apply(tx_type, info)
        except TxRejected as refusal:
            self._record(tx_type, info, refusal)
            raise
        self._record(tx_type, info, applied)
        return applied

    def send_tx_batch(self, tx_types: Sequence[int], tx_infos: Sequence[str]) -> list[Applied]:
        """Apply a batch in order. If any is refused, the first refusal is raised (naming its
        place in the batch); the others have been applied, as their nonces allowed."""
        if len(tx_types) != len(tx_infos):
            raise TxRejected(*LENGTH_MISMATCH)
        infos = [self._decode(t, text) for t, text in zip(tx_types, tx_infos, strict=True)]
        creates = sum(1 for t in tx_types if t in ORDER_CREATING_TXS)
        if creates:
            injected = self.faults.take_order_rejection()
            if injected is not None:
                refusal = TxRejected(*injected, "injected by the sim's reject-orders fault")
                for tx_type, info in zip(tx_types, infos, strict=True):
                    self._record(tx_type, info, refusal)
                raise refusal
        outcomes = self.exchange.apply_batch(list(zip(tx_types, infos, strict=True)))
        applied: list[Applied] = []
        first_refusal: tuple[int, TxRejected] | None = None
        for position, (tx_type, info, outcome) in enumerate(
            zip(tx_types, infos, outcomes, strict=True)
        ):
            self._record(tx_type, info, outcome)
            if isinstance(outcome, TxRejected):
                if first_refusal is None:
                    first_refusal = (position, outcome)
            else:
                applied.append(outcome)
        if first_refusal is not None:
            position, refusal = first_refusal
            detail = f"batch tx {position + 1} of {len(tx_types)}"
            if refusal.detail:
                detail = f"{detail}: {refusal.detail}"
            raise TxRejected(refusal.code, refusal.message, detail)
        return applied

    def transaction_log(self, *, include_refused: bool = False) -> list[dict[str, Any]]:
        """Every accepted transaction (and the refused ones too, if asked), oldest first."""
        return [r.as_json() for r in self._log if include_refused or r.accepted]

    def _decode(self, tx_type: int, tx_info: str) -> dict[str, Any]:
        try:
            info = json.loads(tx_info)
        except ValueError:
            info = None
        if not isinstance(info, dict):
            refusal = rejected(errors.INVALID_TX_INFO, "tx_info is not a JSON object")
            self._record(tx_type, {"raw": tx_info[:200]}, refusal)
            raise refusal
        return info

    def _record(self, tx_type: int, info: dict[str, Any], outcome: Applied | TxRejected) -> None:
        seq = len(self._log) + 1
        if isinstance(outcome, TxRejected):
            record = TxRecord(
                seq, self.wall_ms(), tx_type, info, False, code=outcome.code, message=str(outcome)
            )
        else:
            record = TxRecord(seq, self.wall_ms(), tx_type, info, True, tx_hash=outcome.tx_hash)
            for trade in outcome.trades:
                self._trade_hashes[trade.trade_id] = outcome.tx_hash
            while len(self._trade_hashes) > TRADE_HASHES_KEPT:
                self._trade_hashes.popitem(last=False)
        self._log.append(record)

    # --- views, shaped by `wire` ----------------------------------------------------------

    def trade_json(self, trade: SimTrade) -> dict[str, Any]:
        market = self.exchange.market(trade.market_id)
        return wire.trade(trade, market, tx_hash=self._trade_hashes.get(trade.trade_id, ""))

    def order_json(self, order: SimOrder) -> dict[str, Any]:
        return wire.order(order, self.exchange.market(order.market_id))

    def positions_json(self, account_index: int) -> list[dict[str, Any]]:
        account = self.exchange.account(account_index)
        orders = self.exchange.active_orders(account_index, None)
        shaped = []
        for market_id, position in sorted(account.positions.items()):
            market = self.exchange.market(market_id)
            figures = wire.PositionFigures(
                mark_price=self.exchange.mark_price(market_id),
                unrealized_pnl=self.exchange.unrealized_pnl(account_index, market_id),
                open_order_count=sum(
                    1 for o in orders if o.market_id == market_id and o.status == "open"
                ),
                pending_order_count=sum(
                    1 for o in orders if o.market_id == market_id and o.status == "pending"
                ),
            )
            shaped.append(wire.position(position, market, figures))
        return shaped

    def _account_figures(self, account_index: int) -> wire.AccountFigures:
        account = self.exchange.account(account_index)
        maintenance = Decimal(0)
        for market_id, position in account.positions.items():
            market = self.exchange.market(market_id)
            mark = self.exchange.mark_price(market_id)
            maintenance += (
                market.notional(abs(position.size), mark)
                * market.maintenance_margin_fraction
                / 10_000
            )
        orders = self.exchange.active_orders(account_index, None)
        return wire.AccountFigures(
            equity=self.exchange.equity(account_index),
            available_balance=self.exchange.available_balance(account_index),
            initial_margin=self.exchange.initial_margin(account_index),
            maintenance_margin=maintenance,
            active_order_count=sum(1 for o in orders if o.status == "open"),
            pending_order_count=sum(1 for o in orders if o.status == "pending"),
        )

    def account_json(self, account_index: int) -> dict[str, Any]:
        """`Account` (the short form)."""
        account = self.exchange.account(account_index)
        return wire.account(account, self._account_figures(account_index), self.wall_ms())

    def detailed_account_json(self, account_index: int) -> dict[str, Any]:
        """`DetailedAccount`: collateral, balances, margin and every position."""
        account = self.exchange.account(account_index)
        return wire.detailed_account(
            account,
            self._account_figures(account_index),
            self.positions_json(account_index),
            self.wall_ms(),
        )

    def account_volumes(self, account_index: int) -> dict[str, Any]:
        """Trade counts and USDC volumes over the last day, week, month and ever (sim time)."""
        now = self.now_ms()
        windows = {"daily": DAY_MS, "weekly": 7 * DAY_MS, "monthly": 30 * DAY_MS, "total": None}
        counts = dict.fromkeys(windows, 0)
        volumes = dict.fromkeys(windows, Decimal(0))
        for trade in self.exchange.account_trades(account_index, 1_000_000):
            value = self.exchange.market(trade.market_id).notional(trade.size, trade.price)
            for name, span in windows.items():
                if span is None or trade.timestamp_ms > now - span:
                    counts[name] += 1
                    volumes[name] += value
        shaped: dict[str, Any] = {}
        for name in windows:
            shaped[f"{name}_trades_count"] = counts[name]
            shaped[f"{name}_volume"] = float(volumes[name])
        return shaped

    def pnl_json(self, account_index: int, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """`PnLEntry`s: the sim keeps no PnL history, so one entry for now (if in range) with
        the account's trading PnL so far (realised + unrealised) and its traded volume."""
        now = self.now_ms()
        if not start_ms <= now <= end_ms:
            return []
        account = self.exchange.account(account_index)
        pnl = sum(
            (
                p.realized_pnl + self.exchange.unrealized_pnl(account_index, market_id)
                for market_id, p in account.positions.items()
            ),
            Decimal(0),
        )
        volume = Decimal(self.account_volumes(account_index)["total_volume"])
        return [wire.pnl_entry(now // 1000, pnl, volume)]

    # --- market data (the replay's) -------------------------------------------------------

    def market_stats(self, market_id: int) -> wire.MarketStats:
        """The last 24 hours of sim time in a market: its candles, trades and positions."""
        now = self.now_ms()
        market = self.exchange.market(market_id)
        bars = self._base_candles(market_id, now - DAY_MS)
        forming = self.replay.forming_candle(market_id)
        if forming is not None:
            bars.append(forming)
        mark = self.exchange.mark_price(market_id)
        funding = self.replay.last_funding(market_id)
        recent = self.exchange.recent_trades(market_id, 1)
        last = recent[0].price if recent else mark
        first_open = bars[0].open if bars else mark
        change = (last - first_open) / first_open * 100 if first_open else 0.0
        trades = sum(
            1
            for t in self.exchange.recent_trades(market_id, 100_000)
            if t.timestamp_ms > now - DAY_MS
        )
        open_interest = sum(
            max(account.positions[market_id].size, 0)
            for account in self.exchange.accounts()
            if market_id in account.positions
        )
        return wire.MarketStats(
            last_trade_price=last,
            mark_price=mark,
            index_price=mark,
            daily_trades_count=trades,
            daily_base_volume=sum((market.size_value(b.volume) for b in bars), Decimal(0)),
            daily_quote_volume=sum((b.quote_volume for b in bars), Decimal(0)),
            daily_low=min((b.low for b in bars), default=mark),
            daily_high=max((b.high for b in bars), default=mark),
            daily_change_percent=float(change),
            open_interest=open_interest,
            funding_rate=funding.rate if funding is not None else None,
            funding_time_ms=funding.time_ms if funding is not None else 0,
        )

    def stream_stats(self, market_id: int) -> wire.MarketStats:
        """`market_stats` for the stream, sent at every trade: the mark, last price, open
        interest and funding as they are now; the daily figures (a scan of a day of candles
        and trades) recomputed once a sim minute."""
        minute = self.now_ms() // 60_000
        cached = self._daily_stats.get(market_id)
        if cached is None or cached[0] != minute:
            cached = (minute, self.market_stats(market_id))
            self._daily_stats[market_id] = cached
            return cached[1]
        mark = self.exchange.mark_price(market_id)
        recent = self.exchange.recent_trades(market_id, 1)
        funding = self.replay.last_funding(market_id)
        open_interest = sum(
            max(account.positions[market_id].size, 0)
            for account in self.exchange.accounts()
            if market_id in account.positions
        )
        return replace(
            cached[1],
            last_trade_price=recent[0].price if recent else mark,
            mark_price=mark,
            index_price=mark,
            open_interest=open_interest,
            funding_rate=funding.rate if funding is not None else None,
            funding_time_ms=funding.time_ms if funding is not None else 0,
        )

    def _base_candles(self, market_id: int, start_ms: int) -> list[SimCandle]:
        timeframe = self.replay.timeframe_ms(market_id)
        name = next((n for n, ms in RESOLUTIONS.items() if ms == timeframe), None)
        if name is None:
            return []
        return self.replay.candles(market_id, name, start_ms, None, None)

    def candles(
        self, market_id: int, resolution: str, start_ms: int, end_ms: int, count_back: int
    ) -> list[dict[str, Any]]:
        """`Candle`s that have closed, opening in [start_ms, end_ms], at most the last
        `count_back` (and 500) of them. Raises `TxRejected` with Lighter's candle errors."""
        if end_ms <= start_ms:
            raise TxRejected(*INVALID_TIMESTAMPS)
        try:
            bars = self.replay.candles(
                market_id, resolution, start_ms, end_ms, max(min(count_back, MAX_CANDLES), 0)
            )
        except ValueError as error:
            raise TxRejected(INVALID_RESOLUTION[0], INVALID_RESOLUTION[1], str(error)) from None
        market = self.exchange.market(market_id)
        return [
            wire.candle(
                bar.timestamp,
                market.price_value(bar.open),
                market.price_value(bar.high),
                market.price_value(bar.low),
                market.price_value(bar.close),
                market.size_value(bar.volume),
                bar.quote_volume,
            )
            for bar in bars
        ]

    def fundings(
        self, market_id: int, resolution: str, start_ms: int, end_ms: int, count_back: int
    ) -> list[dict[str, Any]]:
        """`Funding`s: the rates the replay applied (history included) in [start, end]. Lighter's
        fundings take seconds; times below 1e11 are read as seconds, others as milliseconds."""
        if resolution not in RESOLUTIONS:
            raise TxRejected(INVALID_RESOLUTION[0], INVALID_RESOLUTION[1], resolution)
        start_ms, end_ms = _as_ms(start_ms), _as_ms(end_ms)
        if end_ms <= start_ms:
            raise TxRejected(*INVALID_TIMESTAMPS)
        events = self.replay.fundings(market_id, start_ms, end_ms)
        events = events[max(len(events) - max(count_back, 0), 0) :]
        market = self.exchange.market(market_id)
        mark = market.price_value(self.exchange.mark_price(market_id))
        return [wire.funding(event.time_ms, event.rate, mark) for event in events]

    def funding_rate(self, market_id: int) -> Decimal:
        """The market's latest funding rate by now (0 when it has none)."""
        events = self.replay.fundings(market_id)
        return events[-1].rate if events else Decimal(0)

    def funding_rates(self) -> list[dict[str, Any]]:
        return [
            wire.funding_rate(market, self.funding_rate(market.market_id))
            for market in self.exchange.markets()
        ]

    # --- the whole picture ----------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """What `/admin/state` shows: clocks, markets, accounts, faults."""
        markets = []
        for market in self.exchange.markets():
            bids, asks = self.exchange.depth(market.market_id, 1)
            markets.append(
                {
                    "market_id": market.market_id,
                    "symbol": market.symbol,
                    "mark_price": self.exchange.mark_price(market.market_id),
                    "best_bid": bids[0].price if bids else None,
                    "best_ask": asks[0].price if asks else None,
                    "price_decimals": market.price_decimals,
                    "size_decimals": market.size_decimals,
                }
            )
        accounts = []
        for account in self.exchange.accounts():
            figures = self._account_figures(account.index)
            accounts.append(
                {
                    "index": account.index,
                    "collateral": wire.usdc(account.collateral),
                    "equity": wire.usdc(figures.equity),
                    "available_balance": wire.usdc(figures.available_balance),
                    "positions": {
                        str(market_id): position.size
                        for market_id, position in account.positions.items()
                        if position.size
                    },
                    "open_orders": figures.active_order_count,
                }
            )
        return {
            "now_ms": self.now_ms(),
            "wall_ms": self.wall_ms(),
            "speed": self.replay.speed,
            "markets": markets,
            "accounts": accounts,
            "transactions": sum(1 for r in self._log if r.accepted),
            "faults": self.faults.snapshot(),
            "rate_limits": self.rate_limits.snapshot(),
        }

"""The risk manager: whether an entry may go to the market, and how far each limit is.

Pure and deterministic: no I/O and no clock of its own. The runtime passes in times, equity and
each strategy's PnL (`on_equity`), bars and closed trades (`on_bar`, `on_trade_closed`) and a
`PortfolioView` with every check. Limits come from rulebot.yaml (`config.Risk`, scope `account`)
and from each rule's `risk { ... }` block (scope: the strategy's name).

The rules, in the order they are applied to an intent:

- **Exits always pass.** A `close` intent is allowed whatever any limit says.
- **A breach stops entries.** An entry is refused while a loss limit is breached (reaching it
  counts): `max_daily_loss` (the loss since the day's first equity snapshot, UTC), `max_drawdown`
  (account: equity below its highest; strategy: PnL below its best, as a share of the account's
  equity when that best was reached); during a strategy's `cooldown`; and when its orders would
  take `max_open_orders` past the limit. An entry counts as its protections (resting orders) and
  at least one order (itself, in flight): `max(1, len(protections))`; for an add to the position
  held (`pyramiding`) the strategy's resting orders count no more, as its protections take their
  place (so an add passes where the first entry did, as in a backtest).
- **A size limit reduces the entry to fit.** When the entry would take `max_order_notional`, the
  strategy's `max_position` or `max_leverage`, or the account's `max_position_notional` or
  `max_leverage` past the limit, its size is cut to the largest that fits them all, rounded down
  to the market's size step. When nothing fits (or the account is past a limit that this entry
  cannot bring back within it) it is refused. Reducing rather than refusing is what the
  backtester does with `max_position`, so live trades what the backtest traded; a reduced entry
  is reported (`RiskVerdict.reduced`, and a message saying which limit and by how much).

How positions are read: the account's position on a market is its strategies' positions netted,
as on the exchange; total notional is the sum over markets of |net| x mark, and leverage is total
notional / equity. A strategy's leverage is its own |position| x mark, summed over its markets, /
the account's equity; `max_position 20%` is a share of the account's equity, as in the backtest.
An entry against the strategy's own position is a reverse: its close goes first (a separate,
always-allowed intent), so the new position is the entry's size alone. Order notional is size x
the intent's reference price; positions are valued at the mark.

A breach clears with hysteresis, since equity includes unrealised PnL and a reading at the edge
of a limit would otherwise flap between breached and recovered with every tick: the metric must
be back within the limit by RECOVERY_MARGIN of it (a 3% daily loss limit: below 2.7%) at every
snapshot for RECOVERY_HOLD_MS. Until then entries stay stopped. A daily-loss breach also clears
when a new UTC day begins. `on_equity` reports each breach and each recovery once, as a
`RiskEvent`. The breach, the recovery and the day's reset are `rulebot.risk.decision`'s, the
code the backtest's fill loop runs at each close.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal, InvalidOperation, localcontext
from typing import Any, Final

from rulebot import config
from rulebot.lang import ir
from rulebot.risk.decision import (
    BREACH,
    DAY_MS,
    NEW_DAY,
    NOT_CALM,
    RECOVER,
    RECOVERY_HOLD_MS,
    RECOVERY_MARGIN,
    loss_transition,
    new_day,
    orders_allowed,
)
from rulebot.runtime.messages import Intent, RiskDecision, RiskEvent, StrategyPosition
from rulebot.runtime.risk_limits import (
    STRATEGY_LIMITS,
    _Bound,
    _caps,
    _largest_position,
    _position_bound,
    _validated,
)
from rulebot.runtime.risk_readings import (
    _count,
    _daily_loss,
    _day,
    _decimal,
    _drawdown,
    _event,
    _event_data,
    _event_from,
    _in_quote,
    _int,
    _label,
    _limit_text,
    _minus,
    _money,
    _number,
    _over,
    _pct,
    _plain,
    _ratio,
    _ratio_of,
    _Reading,
    _reading,
    _size,
    _text,
    _times,
)

ACCOUNT: Final = "account"
"""The scope of rulebot.yaml's limits in verdicts, events and the status."""
RECENT_EVENTS: Final = 50
STATE_VERSION: Final = 1
QUOTE: Final = config.QUOTE_CURRENCY

_ZERO: Final = Decimal(0)
_LOSS_LIMITS: Final = ("max_daily_loss", "max_drawdown")


# --- what goes in and what comes out --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PortfolioView:
    """The account at one moment, as risk needs it: equity, each strategy's signed position per
    market (base units), mark prices, resting orders, and each market's size step (a reduced
    entry rounds down to it; a market without one is not rounded)."""

    equity: Decimal
    positions: Mapping[tuple[str, str], Decimal] = field(default_factory=dict)
    """(strategy, market) -> signed size: + long, - short."""
    marks: Mapping[str, Decimal] = field(default_factory=dict)
    open_orders: Mapping[str, int] = field(default_factory=dict)
    """strategy -> its resting orders (protections, unfilled entries)."""
    other_open_orders: int = 0
    """Resting orders no strategy owns (placed by hand, or not attributed yet)."""
    size_steps: Mapping[str, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for market, mark in self.marks.items():
            if not mark > 0:
                raise ValueError(f"the mark price of {market} must be more than 0, not {mark}")
        for (strategy, market), size in self.positions.items():
            if size and market not in self.marks:
                raise ValueError(f"no mark price for {market}, where `{strategy}` holds {size}")

    @classmethod
    def from_positions(
        cls,
        equity: Decimal,
        positions: Iterable[StrategyPosition],
        marks: Mapping[str, Decimal],
        open_orders: Mapping[str, int] | None = None,
        other_open_orders: int = 0,
        size_steps: Mapping[str, Decimal] | None = None,
    ) -> PortfolioView:
        """The view of the runtime's own position records."""
        sizes: dict[tuple[str, str], Decimal] = {}
        for p in positions:
            sizes[(p.strategy, p.market)] = sizes.get((p.strategy, p.market), _ZERO) + p.size
        return cls(equity, sizes, marks, open_orders or {}, other_open_orders, size_steps or {})

    def position(self, strategy: str, market: str) -> Decimal:
        return self.positions.get((strategy, market), _ZERO)

    def net_position(self, market: str) -> Decimal:
        """The account's position on `market`: its strategies' positions, netted."""
        return sum((s for (_, m), s in self.positions.items() if m == market), _ZERO)

    def total_notional(self) -> Decimal:
        """The account's positions at the mark, summed over markets."""
        markets = {m for (_, m), s in self.positions.items() if s}
        return sum((abs(self.net_position(m)) * self.marks[m] for m in markets), _ZERO)

    def strategy_notional(self, strategy: str) -> Decimal:
        """A strategy's own positions at the mark, summed over its markets."""
        return sum((notional for _, notional in self.holdings(strategy)), _ZERO)

    def holdings(self, strategy: str) -> list[tuple[str, Decimal]]:
        """(market, notional at the mark) of each position `strategy` holds."""
        return [
            (m, abs(s) * self.marks[m])
            for (n, m), s in self.positions.items()
            if n == strategy and s
        ]

    @property
    def account_open_orders(self) -> int:
        return sum(self.open_orders.values()) + self.other_open_orders


@dataclass(frozen=True, slots=True)
class RiskVerdict(RiskDecision):
    """A `RiskDecision` that also says what size may go: the intent's, or less when a size limit
    was in the way (`reduced`; then `limit` and `message` say which and by how much)."""

    size: Decimal = _ZERO
    requested: Decimal = _ZERO
    scope: str | None = None

    @property
    def reduced(self) -> bool:
        return self.allowed and self.size < self.requested


# --- the manager ----------------------------------------------------------------------------


@dataclass(slots=True)
class _AccountState:
    day: int | None = None
    day_start_equity: Decimal | None = None
    peak_equity: Decimal | None = None
    equity: Decimal | None = None
    time_ms: int | None = None


@dataclass(slots=True)
class _StrategyState:
    pnl: Decimal | None = None
    day_start_pnl: Decimal | None = None
    peak_pnl: Decimal | None = None
    equity_at_peak: Decimal | None = None
    bar_index: int | None = None
    last_loss_bar: int | None = None


class RiskManager:
    """Account-wide and per-strategy limits over the runtime's intents (see the module's doc).

    >>> risk = RiskManager(config.Risk())
    >>> risk.add_strategy(strategy.name, strategy.limits)
    >>> events = risk.on_equity(time_ms, equity, {strategy.name: pnl})
    >>> verdict = risk.check(intent, view)  # allowed? at what size? if not, why
    """

    def __init__(self, account: config.Risk) -> None:
        self._account_limits = account
        self._limits: dict[str, dict[str, ir.Limit]] = {}
        self._states: dict[str, _StrategyState] = {}
        self._account = _AccountState()
        self._breached: set[tuple[str, str]] = set()
        self._calm_since: dict[tuple[str, str], int] = {}  # breached, but inside the margin since
        self._events: deque[RiskEvent] = deque(maxlen=RECENT_EVENTS)

    # -- strategies and limits --

    @property
    def account_limits(self) -> config.Risk:
        return self._account_limits

    @property
    def strategies(self) -> tuple[str, ...]:
        return tuple(self._limits)

    @property
    def recent_events(self) -> tuple[RiskEvent, ...]:
        return tuple(self._events)

    def strategy_limits(self, name: str) -> dict[str, ir.Limit]:
        return dict(self._limits[name])

    def add_strategy(self, name: str, limits: Mapping[str, ir.Limit]) -> None:
        """Check `name`'s intents against `limits` (its rule's `risk { ... }`) from now on. A
        strategy restored by `from_state` keeps its state: PnL peaks, day start, cooldown."""
        if name in self._limits:
            raise ValueError(f"strategy `{name}` is already added; replace its limits instead")
        if name == ACCOUNT:
            raise ValueError(f"`{ACCOUNT}` names rulebot.yaml's limits; rename the strategy")
        self._limits[name] = _validated(name, limits)
        self._states.setdefault(name, _StrategyState())

    def replace_strategy_limits(self, name: str, limits: Mapping[str, ir.Limit]) -> None:
        """New limits for a running strategy (hot reload). Its state is kept; the new limits
        apply from the next check, and the next `on_equity` reports any breach they change."""
        if name not in self._limits:
            raise KeyError(f"strategy `{name}` is not running")
        self._limits[name] = _validated(name, limits)

    def replace_account_limits(self, account: config.Risk) -> None:
        """New account-wide limits (rulebot.yaml reloaded); state is kept."""
        self._account_limits = account

    def remove_strategy(self, name: str) -> None:
        """Forget `name`'s limits, state and breaches (its rule was deleted)."""
        if name not in self._limits and name not in self._states:
            raise KeyError(f"strategy `{name}` is not running")
        self._limits.pop(name, None)
        self._states.pop(name, None)
        self._breached = {key for key in self._breached if key[0] != name}

    # -- what happened --

    def on_equity(
        self, time_ms: int, equity: Decimal, strategy_pnl: Mapping[str, Decimal]
    ) -> list[RiskEvent]:
        """Take an equity snapshot and each strategy's PnL (cumulative: realized + unrealized,
        net of fees and funding; a strategy left out keeps its last value), and return the
        breaches and recoveries it causes. A UTC day starts at its first snapshot."""
        account = self._account
        rolled = account.day is not None and new_day(account.day, time_ms)
        if account.day is None or rolled:
            account.day, account.day_start_equity = time_ms // DAY_MS, equity
        account.equity, account.time_ms = equity, time_ms
        if account.peak_equity is None or equity > account.peak_equity:
            account.peak_equity = equity
        for name, state in self._states.items():
            pnl = strategy_pnl.get(name, state.pnl)
            if pnl is None:
                continue
            state.pnl = pnl
            if rolled or state.day_start_pnl is None:
                state.day_start_pnl = pnl
            if state.peak_pnl is None or pnl > state.peak_pnl:
                state.peak_pnl, state.equity_at_peak = pnl, equity
        return self._transitions(time_ms, rolled)

    def on_bar(self, strategy: str, bar_index: int) -> None:
        """Bar `bar_index` of `strategy` closed; call it before checking that bar's intents.
        The index counts the strategy's bars and must survive a restart: the bar's open time
        divided by the timeframe is a good one."""
        state = self._states.get(strategy)
        if state is not None:
            state.bar_index = bar_index

    def on_trade_closed(self, strategy: str, pnl: Decimal, bar_index: int) -> None:
        """A trade of `strategy` closed with `pnl` during bar `bar_index` (the bar open when the
        closing fill came). A loss starts the cooldown: as in the backtest, entries decided on
        bars `bar_index .. bar_index + cooldown - 1` are refused."""
        state = self._states.get(strategy)
        if state is not None and pnl < 0:
            state.last_loss_bar = bar_index
            if state.bar_index is None or state.bar_index < bar_index:
                state.bar_index = bar_index

    # -- the decision --

    def check(self, intent: Intent, view: PortfolioView) -> RiskVerdict:
        """Whether `intent` may go to the market, and at what size."""
        if intent.action == "close":
            return RiskVerdict(True, size=intent.size, requested=intent.size)
        return self._gate(intent, view) or self._fit(intent, view)

    def entries_allowed(self, strategy: str | None = None) -> bool:
        """Whether no loss limit or cooldown of the account (and of `strategy`) stops entries."""
        if strategy is not None and strategy not in self._limits:
            return False
        readings = self._loss_readings(ACCOUNT)
        if strategy is not None:
            readings += self._loss_readings(strategy)
        return not any(self._stops_entries(r) for r in readings)

    def _stops_entries(self, reading: _Reading) -> bool:
        """Whether a loss reading stops entries: past its limit, or breached and not recovered."""
        return reading.breached or (reading.scope, reading.limit) in self._breached

    def _gate(self, intent: Intent, view: PortfolioView) -> RiskVerdict | None:
        """The refusal that does not depend on the entry's size, if any."""
        name = intent.strategy
        if name not in self._limits:
            return _refusal(intent, None, None, f"`{name}` is not running; only exits may trade")
        if not intent.size > 0 or not intent.reference_price > 0:
            text = "an entry needs a size and a reference price above 0, not "
            return _refusal(intent, None, None, f"{text}{intent.size} at {intent.reference_price}")
        for reading in [*self._loss_readings(ACCOUNT), *self._loss_readings(name)]:
            if self._stops_entries(reading):
                text = reading.text or ""
                if not reading.breached:
                    text += (
                        f"; not recovered yet: entries resume once it stays {_pct(RECOVERY_MARGIN)}"
                        f" of the limit inside it for {RECOVERY_HOLD_MS // 1000} s"
                    )
                return _refusal(intent, reading.scope, reading.limit, text)
        if not view.equity > 0:
            text = f"account equity is {_money(view.equity)}, so any position is over the limit"
            return _refusal(intent, ACCOUNT, "max_leverage", text)
        added = max(1, len(intent.protections))
        held = view.position(name, intent.market)
        adding = held != 0 and (held > 0) == (intent.action == "open_long")  # `pyramiding`
        if adding:  # its protections take the place of those resting
            added -= view.open_orders.get(name, 0)
        orders = [(ACCOUNT, view.account_open_orders, self._account_limits.max_open_orders)]
        if (own := self._limits[name].get("max_open_orders")) is not None:
            orders.append((name, view.open_orders.get(name, 0), int(own.value)))
        for scope, count, bound in orders:
            if not orders_allowed(count, added, bound):
                over = count + added - bound
                text = f"{_count(count, 'order')} open and this entry adds {added}, limit {bound}"
                if adding:
                    text = (f"{_count(count, 'order')} open, {count + added} once this add's "
                            f"protections replace its resting ones, limit {bound}")  # fmt: skip
                return _refusal(intent, scope, "max_open_orders", f"{text} ({over} over)")
        return None

    def _fit(self, intent: Intent, view: PortfolioView) -> RiskVerdict:
        """The entry at its size, or cut to the largest size that every size limit allows."""
        requested, market = intent.size, intent.market
        bounds = self._bounds(intent, view)
        broken = [b for b in bounds if not b.allows(requested)]
        if not broken:
            return RiskVerdict(True, size=requested, requested=requested)
        tightest = min(broken, key=_Bound.room)
        room = min(b.room() for b in bounds)
        fit = min(requested, room) if room > 0 else _ZERO
        step = view.size_steps.get(market)
        if step and fit > 0:
            with localcontext() as ctx:
                ctx.rounding = ROUND_FLOOR
                fit = (fit / step).to_integral_value() * step
        why = tightest.describe(requested)
        if not (fit > 0 and all(b.allows(fit) for b in bounds)):
            return _refusal(intent, tightest.scope, tightest.limit, why)
        message = (
            f"{_label(tightest.limit, tightest.scope)}: entry reduced from {_plain(requested)} to "
            f"{_size(fit, market)} to fit; at {_size(requested, market)} the {why}"
        )
        return RiskVerdict(True, tightest.limit, message, fit, requested, tightest.scope)

    def _bounds(self, intent: Intent, view: PortfolioView) -> list[_Bound]:
        """Every size limit on this entry, as `|start + side * size| * price <= cap`."""
        account = self._account_limits
        name, market, price = intent.strategy, intent.market, intent.reference_price
        equity = view.equity
        side = 1 if intent.action == "open_long" else -1
        mark = view.marks.get(market, price)
        own, net = view.position(name, market), view.net_position(market)
        reverse = own * side < 0  # the close goes first: the new position is this entry alone
        own_start, net_start = (_ZERO, net - own) if reverse else (own, net)
        other_total = view.total_notional() - abs(net) * mark
        other_own = view.strategy_notional(name) - abs(own) * mark

        def order(cap: Decimal) -> Callable[[Decimal], str]:
            return lambda s: (
                f"order is {_money(s * price)}, limit {_money(cap)}{_over(s * price, cap)}"
            )

        def total(s: Decimal) -> str:
            value = other_total + abs(net_start + side * s) * mark
            cap = account.max_position_notional
            return f"positions would total {_money(value)}, limit {_money(cap)}{_over(value, cap)}"

        def leverage(other: Decimal, start: Decimal, ratio: Decimal) -> Callable[[Decimal], str]:
            def describe(s: Decimal) -> str:
                value = other + abs(start + side * s) * mark
                return (
                    f"leverage would be {_ratio(value / equity)} ({_money(value)} on "
                    f"{_money(equity)} equity), limit {_ratio(ratio)}{_over(value, ratio * equity)}"
                )

            return describe

        cap, ratio = account.max_order_notional, account.max_leverage
        bounds = [
            _Bound("max_order_notional", ACCOUNT, _ZERO, side, price, cap, order(cap)),
            _Bound(
                "max_position_notional", ACCOUNT, net_start, side, mark,
                account.max_position_notional - other_total, total,
            ),
            _Bound(
                "max_leverage", ACCOUNT, net_start, side, mark, ratio * equity - other_total,
                leverage(other_total, net_start, ratio),
            ),
        ]  # fmt: skip
        for limit in self._limits[name].values():
            value = _decimal(limit.value)
            if limit.name == "max_order_notional":
                bounds.append(_Bound(limit.name, name, _ZERO, side, price, value, order(value)))
            elif limit.name == "max_leverage":
                cap, describe = value * equity - other_own, leverage(other_own, own_start, value)
                bounds.append(_Bound(limit.name, name, own_start, side, mark, cap, describe))
            elif limit.name == "max_position" and _caps(limit, market):
                bounds.append(_position_bound(limit, name, market, own_start, side, mark, equity))
        return bounds

    # -- readings and events --

    def _loss_readings(self, scope: str) -> list[_Reading]:
        """The account's or a strategy's loss limits and cooldown against their metrics now."""
        account = self._account
        if scope == ACCOUNT:
            if account.equity is None or account.day_start_equity is None:
                return []
            limits, start = self._account_limits, account.day_start_equity
            peak = account.equity if account.peak_equity is None else account.peak_equity
            loss = limits.max_daily_loss
            where = f" of {_money(start)} at the day's start" if loss.is_percent else ""
            down = start - account.equity
            text = f"equity {_money(account.equity)} is {{share}} below its peak of {_money(peak)}"
            return [
                _daily_loss(scope, "", str(loss), where, down, loss.in_quote(start)),
                _drawdown(scope, peak - account.equity, peak, limits.max_drawdown, text),
            ]
        limits_of, state = self._limits.get(scope, {}), self._states.get(scope)
        readings: list[_Reading] = []
        if state is None:
            return readings
        start = account.day_start_equity
        loss_limit = limits_of.get("max_daily_loss")
        if loss_limit is not None and state.pnl is not None and state.day_start_pnl is not None:
            value, down = _decimal(loss_limit.value), state.day_start_pnl - state.pnl
            if loss_limit.mode == "quote":
                written = config.quote_text(value)
                readings.append(_daily_loss(scope, "PnL ", written, "", down, value))
            elif start is not None:
                where = f" of the account's {_money(start)} at the day's start"
                written = config.percent_text(value)
                readings.append(_daily_loss(scope, "PnL ", written, where, down, value * start))
        drawdown = limits_of.get("max_drawdown")
        if drawdown is not None and state.pnl is not None and state.peak_pnl is not None:
            base = state.equity_at_peak or _ZERO
            below = state.peak_pnl - state.pnl
            text = (
                f"PnL {_money(state.pnl)} is {_money(below)} below its best of "
                f"{_money(state.peak_pnl)}: {{share}} of the account's {_money(base)} equity then"
            )
            readings.append(_drawdown(scope, below, base, _decimal(drawdown.value), text))
        cooldown = limits_of.get("cooldown")
        if cooldown is not None and state.last_loss_bar is not None:
            bars, lost = int(cooldown.value), state.last_loss_bar
            now = state.bar_index if state.bar_index is not None else lost
            left = max(0, lost + bars - now)
            when = "this bar" if now == lost else f"{_count(now - lost, 'bar')} ago"
            text = f"a losing trade closed {when}; entries wait {_count(bars, 'bar')} after a loss"
            readings.append(
                _Reading(
                    scope, "cooldown", _count(bars, "bar"), "bars", Decimal(bars), Decimal(left),
                    left > 0, f"{text} ({left} to go)",
                )
            )  # fmt: skip
        return readings

    def _transitions(self, time_ms: int, rolled: bool) -> list[RiskEvent]:
        """An event for every loss limit breached or recovered since the last snapshot. The
        cooldown is a rule's own pause after a loss: the status shows it, no event reports it."""
        events: list[RiskEvent] = []
        seen: set[tuple[str, str]] = set()
        for scope in (ACCOUNT, *self._limits):
            for reading in self._loss_readings(scope):
                if reading.limit not in _LOSS_LIMITS:
                    continue
                key = (scope, reading.limit)
                seen.add(key)
                label = _label(reading.limit, scope)
                if reading.value is None or reading.threshold is None:  # not measured yet
                    continue
                change, breached, calm = loss_transition(
                    key in self._breached,
                    self._calm_since.get(key, NOT_CALM),
                    time_ms,
                    reading.value,
                    reading.threshold,
                    reading.breached,
                    rolled and reading.limit == "max_daily_loss",
                    RECOVERY_MARGIN,
                    RECOVERY_HOLD_MS,
                )
                if breached:
                    self._breached.add(key)
                else:
                    self._breached.discard(key)
                if calm == NOT_CALM:
                    self._calm_since.pop(key, None)
                else:
                    self._calm_since[key] = calm
                if change == BREACH:
                    message = f"{label}: {reading.text}; new entries stop, exits still run"
                    events.append(_event(time_ms, reading, "breached", message))
                elif change == NEW_DAY:
                    message = f"{label}: a new UTC day began ({_day(time_ms)}); entries resume"
                    events.append(_event(time_ms, reading, "recovered", message))
                elif change == RECOVER:
                    message = f"{label}: back within the limit: {reading.text}; entries resume"
                    events.append(_event(time_ms, reading, "recovered", message))
        for scope, limit in sorted(self._breached - seen):
            self._breached.discard((scope, limit))
            self._calm_since.pop((scope, limit), None)
            message = f"{_label(limit, scope)}: the limit was removed; entries resume"
            events.append(RiskEvent(time_ms, scope, limit, "recovered", _ZERO, _ZERO, message))
        self._events.extend(events)
        return events

    # -- status --

    def get_risk_status(self, view: PortfolioView | None = None) -> dict[str, Any]:
        """Every limit with its value now, headroom and breached flag, and the recent events, as
        JSON-ready data (amounts as decimal strings). Positions, leverage and open orders need
        `view`; without it their values are null."""
        account = self._account
        strategies = {}
        for name in self._limits:
            state = self._states[name]
            strategies[name] = {
                "entries_allowed": self.entries_allowed(name),
                "pnl": _text(state.pnl),
                "day_start_pnl": _text(state.day_start_pnl),
                "peak_pnl": _text(state.peak_pnl),
                "bar_index": state.bar_index,
                "limits": self._status_limits(name, view),
            }
        return {
            "time_ms": account.time_ms,
            "day": None if account.day is None else _day(account.day * DAY_MS),
            "entries_allowed": self.entries_allowed(),
            "account": {
                "equity": _text(account.equity),
                "day_start_equity": _text(account.day_start_equity),
                "peak_equity": _text(account.peak_equity),
                "limits": self._status_limits(ACCOUNT, view),
            },
            "strategies": strategies,
            "events": [_event_data(e) for e in self._events],
        }

    def _status_limits(self, scope: str, view: PortfolioView | None) -> dict[str, Any]:
        readings = {r.limit: r for r in self._loss_readings(scope)}
        for reading in self._exposure_readings(scope, view):
            readings.setdefault(reading.limit, reading)
        return {
            limit: {
                "limit": r.written,
                "unit": r.unit,
                "threshold": _text(r.threshold),
                "value": _text(r.value),
                "headroom": _text(_minus(r.threshold, r.value)),
                "breached": self._stops_entries(r) if r.limit in _LOSS_LIMITS else r.breached,
                "text": r.text,
            }
            for limit, r in readings.items()
        }

    def _exposure_readings(self, scope: str, view: PortfolioView | None) -> list[_Reading]:
        """Every limit of `scope` measured on `view` (loss limits only as thresholds: their
        values come from `_loss_readings` once equity has been seen)."""
        equity = view.equity if view is not None else None
        if scope == ACCOUNT:
            a = self._account_limits
            total = view.total_notional() if view is not None else None
            orders = Decimal(view.account_open_orders) if view is not None else None
            start = self._account.day_start_equity
            loss = a.max_daily_loss
            return [
                _reading(scope, "max_daily_loss", str(loss), QUOTE, _in_quote(loss, start), None),
                _reading(scope, "max_drawdown", _pct(a.max_drawdown), "fraction", a.max_drawdown),
                _reading(
                    scope, "max_position_notional", config.quote_text(a.max_position_notional),
                    QUOTE, a.max_position_notional, total,
                ),
                _reading(
                    scope, "max_leverage", f"{_plain(a.max_leverage)}x", "x", a.max_leverage,
                    _ratio_of(total, equity),
                ),
                _reading(
                    scope, "max_order_notional", config.quote_text(a.max_order_notional), QUOTE,
                    a.max_order_notional,
                ),
                _reading(
                    scope, "max_open_orders", str(a.max_open_orders), "orders",
                    Decimal(a.max_open_orders), orders, at_counts=True,
                ),
            ]  # fmt: skip
        readings = []
        for limit in self._limits[scope].values():
            value, written = _decimal(limit.value), _limit_text(limit)
            if limit.name == "max_position":
                unit = "base" if limit.mode == "base" else QUOTE
                cap = _times(value, equity) if limit.mode == "percent" else value
                largest = None if view is None else _largest_position(view, scope, limit)
                readings.append(_reading(scope, limit.name, written, unit, cap, largest))
            elif limit.name == "max_leverage":
                notional = view.strategy_notional(scope) if view is not None else None
                lev = _ratio_of(notional, equity)
                readings.append(_reading(scope, limit.name, written, "x", value, lev))
            elif limit.name == "max_open_orders":
                count = Decimal(view.open_orders.get(scope, 0)) if view is not None else None
                readings.append(_reading(scope, limit.name, written, "orders", value, count, True))
            elif limit.name == "max_daily_loss":
                start = self._account.day_start_equity
                cap = value if limit.mode == "quote" else _times(value, start)
                readings.append(_reading(scope, limit.name, written, QUOTE, cap))
            elif limit.name == "max_drawdown":
                readings.append(_reading(scope, limit.name, written, "fraction", value))
            elif limit.name == "cooldown":
                readings.append(_reading(scope, limit.name, written, "bars", value, _ZERO))
            else:
                readings.append(_reading(scope, limit.name, written, QUOTE, value))
        return readings

    # -- state across restarts --

    def to_state(self) -> dict[str, Any]:
        """Everything `from_state` needs to carry on after a restart, as JSON-ready data."""
        a = self._account
        return {
            "version": STATE_VERSION,
            "account": {
                "day": a.day,
                "day_start_equity": _text(a.day_start_equity),
                "peak_equity": _text(a.peak_equity),
                "equity": _text(a.equity),
                "time_ms": a.time_ms,
            },
            "strategies": {
                name: {
                    "pnl": _text(s.pnl),
                    "day_start_pnl": _text(s.day_start_pnl),
                    "peak_pnl": _text(s.peak_pnl),
                    "equity_at_peak": _text(s.equity_at_peak),
                    "bar_index": s.bar_index,
                    "last_loss_bar": s.last_loss_bar,
                }
                for name, s in self._states.items()
            },
            "breached": [list(key) for key in sorted(self._breached)],
            "events": [_event_data(e) for e in self._events],
        }

    @classmethod
    def from_state(cls, account: config.Risk, state: Mapping[str, Any]) -> RiskManager:
        """A manager carrying on from `to_state()`'s data. Add the strategies again with
        `add_strategy`: each one found in the state keeps its peaks, day start and cooldown."""
        version = state.get("version") if isinstance(state, Mapping) else None
        if version != STATE_VERSION:
            raise ValueError(f"risk state version {version!r} is not {STATE_VERSION}")
        manager = cls(account)
        try:
            a = state["account"]
            manager._account = _AccountState(
                _int(a["day"]),
                _number(a["day_start_equity"]),
                _number(a["peak_equity"]),
                _number(a["equity"]),
                _int(a["time_ms"]),
            )
            for name, s in state["strategies"].items():
                manager._states[str(name)] = _StrategyState(
                    _number(s["pnl"]),
                    _number(s["day_start_pnl"]),
                    _number(s["peak_pnl"]),
                    _number(s["equity_at_peak"]),
                    _int(s["bar_index"]),
                    _int(s["last_loss_bar"]),
                )
            manager._breached = {(str(scope), str(limit)) for scope, limit in state["breached"]}
            manager._events.extend(_event_from(e) for e in state["events"])
        except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError) as error:
            raise ValueError(f"risk state is damaged: {type(error).__name__}: {error}") from None
        return manager


def _refusal(intent: Intent, scope: str | None, limit: str | None, text: str) -> RiskVerdict:
    message = f"{_label(limit, scope)}: {text}" if limit and scope else text
    return RiskVerdict(False, limit, message, _ZERO, intent.size, scope)


__all__ = ["ACCOUNT", "STRATEGY_LIMITS", "PortfolioView", "RiskManager", "RiskVerdict"]

"""Risk's readings: each limit against its value now, the events a breach or a recovery makes,
and the numbers in a trader's words. The risk manager's (`rulebot.runtime.risk`) own parts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final, Literal

from rulebot import config
from rulebot.lang import ir
from rulebot.risk.decision import daily_loss_breached, drawdown_breached
from rulebot.runtime.messages import RiskEvent

QUOTE: Final = config.QUOTE_CURRENCY
_ZERO: Final = Decimal(0)


@dataclass(frozen=True, slots=True)
class _Reading:
    """One limit against its value now (None: not known yet, or per order)."""

    scope: str
    limit: str
    written: str
    unit: str
    threshold: Decimal | None
    value: Decimal | None
    breached: bool = False
    text: str | None = None


# --- loss readings and events ---------------------------------------------------------------


def _daily_loss(
    scope: str, what: str, written: str, where: str, down: Decimal, cap: Decimal
) -> _Reading:
    moved = f"{what}down {_money(down)}" if down >= 0 else f"{what}up {_money(-down)}"
    limit = f"{written}{where} = {_money(cap)}" if where else _money(cap)
    breached = daily_loss_breached(down, cap)
    text = f"{moved} today, limit {limit}{_over_money(down, cap) if breached else ''}"
    return _Reading(scope, "max_daily_loss", written, QUOTE, cap, down, breached, text)


def _drawdown(scope: str, below: Decimal, base: Decimal, share: Decimal, text: str) -> _Reading:
    """`below` the peak as a share of `base`, the equity at the peak."""
    breached = drawdown_breached(below, base, share)
    if base > 0:
        drawdown = below / base
        over = _over_money(below, share * base) if breached else ""
        shown = _percent(drawdown)
    else:  # no equity to take a share of: any fall from the peak is too much
        drawdown, over, shown = Decimal(below > 0), "", "all"
    text = f"{text.format(share=shown)}, limit {_pct(share)}{over}"
    return _Reading(scope, "max_drawdown", _pct(share), "fraction", share, drawdown, breached, text)


def _event(
    time_ms: int, reading: _Reading, state: Literal["breached", "recovered"], message: str
) -> RiskEvent:
    value, threshold = reading.value or _ZERO, reading.threshold or _ZERO
    return RiskEvent(time_ms, reading.scope, reading.limit, state, value, threshold, message)


def _event_data(event: RiskEvent) -> dict[str, Any]:
    return {
        "time_ms": event.time_ms,
        "scope": event.scope,
        "limit": event.limit,
        "state": event.state,
        "value": _text(event.value),
        "threshold": _text(event.threshold),
        "message": event.message,
    }


def _event_from(data: Mapping[str, Any]) -> RiskEvent:
    state = data["state"]
    if state not in ("breached", "recovered"):
        raise ValueError(f"an event's state is {state!r}")
    value, threshold = _number(data["value"]), _number(data["threshold"])
    if value is None or threshold is None:
        raise ValueError("an event has no value or threshold")
    return RiskEvent(
        _int(data["time_ms"]) or 0,
        str(data["scope"]),
        str(data["limit"]),
        state,
        value,
        threshold,
        str(data["message"]),
    )


def _reading(
    scope: str,
    limit: str,
    written: str,
    unit: str,
    threshold: Decimal | None,
    value: Decimal | None = None,
    at_counts: bool = False,
) -> _Reading:
    """A limit measured now; `at_counts`: being at the limit is a breach (order counts)."""
    breached = (
        threshold is not None
        and value is not None
        and (value >= threshold if at_counts else value > threshold)
    )
    return _Reading(scope, limit, written, unit, threshold, value, breached)


# --- numbers, in a trader's words -----------------------------------------------------------


def _decimal(value: float) -> Decimal:
    """A limit's float as the decimal it was written as (0.2, not 0.2000000000000000111)."""
    return Decimal(repr(value))


def _text(value: Decimal | None) -> str | None:
    return None if value is None else f"{value.normalize():f}"


def _number(value: object) -> Decimal | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected a decimal string, found {type(value).__name__}")
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError(f"expected a finite amount, found {value}")
    return number


def _int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected a whole number, found {type(value).__name__}")
    return value


def _minus(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return None if a is None or b is None else a - b


def _times(share: Decimal, amount: Decimal | None) -> Decimal | None:
    return None if amount is None else share * amount


def _in_quote(loss: config.LossLimit, start: Decimal | None) -> Decimal | None:
    return None if start is None and loss.is_percent else loss.in_quote(start or _ZERO)


def _ratio_of(notional: Decimal | None, equity: Decimal | None) -> Decimal | None:
    if notional is None or equity is None or equity <= 0:
        return None
    return notional / equity


def _limit_text(limit: ir.Limit) -> str:
    """A rule's limit as it was written: `20%`, `300 USDC`, `0.5` (base), `5 bars`, `3x`."""
    value = _decimal(limit.value)
    if limit.mode == "percent":
        return _pct(value)
    if limit.mode == "quote":
        return config.quote_text(value)
    if limit.mode == "bars":
        return _count(int(value), "bar")
    if limit.mode == "ratio":
        return f"{_plain(value)}x"
    return _plain(value)


def _plain(number: Decimal) -> str:
    return f"{number.normalize():,f}"


def _money(amount: Decimal) -> str:
    """`6120` as `6,120.00 USDC`."""
    return f"{amount.quantize(Decimal('0.01'), ROUND_HALF_UP):,} {QUOTE}"


def _size(size: Decimal, market: str) -> str:
    return f"{_plain(size)} {market}"


def _pct(fraction: Decimal) -> str:
    """A limit's fraction as written: `0.2` as `20%`."""
    return config.percent_text(fraction)


def _percent(fraction: Decimal) -> str:
    """A measured fraction, to a tenth of a percent: `0.2134` as `21.3%`."""
    return f"{_plain((fraction * 100).quantize(Decimal('0.1'), ROUND_HALF_UP))}%"


def _ratio(ratio: Decimal) -> str:
    return f"{_plain(ratio.quantize(Decimal('0.01'), ROUND_HALF_UP))}x"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _over(value: Decimal, limit: Decimal) -> str:
    """` (22% over)` when `value` is past `limit`; nothing when within it."""
    if value <= limit:
        return ""
    if limit <= 0:
        return " (no room left)"
    over = (value / limit - 1) * 100
    shown = over.quantize(Decimal(1) if over >= 10 else Decimal("0.1"), ROUND_HALF_UP)
    return f" ({'<0.1' if shown == 0 else _plain(shown)}% over)"


def _over_money(value: Decimal, limit: Decimal) -> str:
    return " (at the limit)" if value <= limit else f" ({_money(value - limit)} over)"


def _label(limit: str | None, scope: str | None) -> str:
    return f"{limit} ({scope})"


def _day(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms // 1000, UTC).date().isoformat()

"""Streaming TA-Lib: each indicator takes one closed bar and returns what TA-Lib returns there.

The vectorised evaluator calls TA-Lib on whole arrays; live trading sees one closed bar at a
time, and the two must agree bar for bar. Every class here replays TA-Lib's own C recurrence
(TA-Lib C 0.8 under the `TA-Lib` Python package): the same seeding (the mean of the first
`period` values for an EMA, of the first `period` true ranges for ATR), the same warm-up (NaN
exactly where TA-Lib gives NaN) and the same floating-point operations in the same order,
including the steps TA-Lib computes with C's `fma()`. So the outputs are bit-identical to
TA-Lib's, not merely close; `tests/graph/test_incremental.py` holds every function to that on
real candles.

Cost per bar does not grow with history: the state is a few running sums and, for a windowed
function, a ring of its last `period` inputs or a monotonic deque of its extremes. Where TA-Lib
itself rescans the window (CCI's mean deviation every bar; VAR, STDDEV, BBANDS, WMA and
LINEARREG rebuilding their running sums every few dozen windows) this does too: O(period),
bounded, never O(history).

Leading NaNs: given arrays that start with NaNs, TA-Lib's Python wrapper starts at the first bar
where every input is a number. An indicator of an indicator (`sma(rsi(close, 14), 5)`) is fed
NaN through the inner warm-up, so `update` waits for that bar too and starts its own warm-up
there. After it, inputs are expected to be numbers (OHLCV always are, and so is any indicator
past its warm-up); a NaN later on just flows through the arithmetic, which need not match what
TA-Lib's array code makes of it.

`STREAMING` maps a TA-Lib function name to a factory taking TA-Lib's parameters by name (missing
ones take TA-Lib's defaults). A factory raises `Unsupported` for settings it cannot reproduce
exactly (a moving-average type without a streaming version here, an unstable period or a
compatibility mode set globally in TA-Lib), so the checker can refuse them for live use.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Protocol

import talib
from talib import abstract

NAN = math.nan
_NAN1 = (NAN,)


class Unsupported(ValueError):
    """These settings have no exact streaming version; the message says why."""


class Incremental(Protocol):
    def update(self, *inputs: float) -> tuple[float, ...]:
        """One closed bar's inputs, in TA-Lib's input order, to every output in TA-Lib's output
        order; NaN while warming up."""
        ...


# --- arithmetic as TA-Lib's C does it -----------------------------------------------------------

_SPLIT = 134217729.0  # 2**27 + 1: Veltkamp's splitter for a double


def _fma(a: float, b: float, c: float) -> float:
    """C's fma(): a*b + c rounded once. TA-Lib calls it for its EMA-style steps; Python 3.11
    has no math.fma, so the product is split exactly (Dekker) and the three parts are summed
    with a single rounding by math.fsum. Extreme magnitudes take the exact rational path."""
    p = a * b
    if 1e-250 < abs(p) < 1e250 and abs(a) < 1e250 and abs(b) < 1e250 and c - c == 0.0:
        t = _SPLIT * a
        a_hi = t - (t - a)
        a_lo = a - a_hi
        t = _SPLIT * b
        b_hi = t - (t - b)
        b_lo = b - b_hi
        return math.fsum((p, ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo, c))
    if a == 0.0 or b == 0.0 or not (math.isfinite(p) and math.isfinite(c)):
        return p + c
    return float(Fraction(a) * Fraction(b) + Fraction(c))


_EPSILON = 1e-14  # TA_EPSILON


def _is_zero(value: float) -> bool:
    """TA_IS_ZERO: within 1e-14 of zero."""
    return -_EPSILON < value < _EPSILON


def _is_zero_scaled(value: float, scale: float) -> bool:
    """TA_IS_ZERO_SCALED: zero within 1e-14 of the operands' own magnitude, so that a flat window
    reads as flat whatever the instrument's price level."""
    return abs(value) <= _EPSILON * scale


def _true_range(high: float, low: float, prev_close: float) -> float:
    """TA-Lib's true range: the greatest of high - low and the two distances to the last close."""
    greatest = high - low
    v = abs(prev_close - high)
    if v > greatest:
        greatest = v
    v = abs(prev_close - low)
    if v > greatest:
        greatest = v
    return greatest


# --- windows ------------------------------------------------------------------------------------


class _Ring:
    """The last `size` values, for O(1) look-back anywhere in the window."""

    __slots__ = ("_data", "_pos", "_size")

    def __init__(self, size: int) -> None:
        self._data = [0.0] * size
        self._size = size
        self._pos = 0

    def push(self, x: float) -> None:
        pos = self._pos
        self._data[pos] = x
        pos += 1
        self._pos = 0 if pos == self._size else pos

    def ago(self, k: int) -> float:
        """The value pushed `k` pushes before the newest (0: the newest); `k < size`."""
        return self._data[self._pos - 1 - k]


class _Extreme:
    """Rolling max (or min) of the last `period` values: a monotonic deque, amortised O(1) and
    at most `period` entries. `age` is how many bars ago the extreme was seen; on a tie the most
    recent bar counts, as in TA-Lib's AROON."""

    __slots__ = ("_highest", "_period", "_queue", "_t", "age")

    def __init__(self, period: int, highest: bool) -> None:
        self._period = period
        self._highest = highest
        self._queue: deque[tuple[int, float]] = deque()
        self._t = 0
        self.age = 0

    def push(self, x: float) -> float:
        queue = self._queue
        if self._highest:
            while queue and x >= queue[-1][1]:
                queue.pop()
        else:
            while queue and x <= queue[-1][1]:
                queue.pop()
        t = self._t
        queue.append((t, x))
        if queue[0][0] <= t - self._period:
            queue.popleft()
        self._t = t + 1
        seen, value = queue[0]
        self.age = t - seen
        return value


# --- moving averages: cores take one value and return NaN until warmed up ------------------------


class _Core(Protocol):
    lookback: int

    def step(self, x: float) -> float: ...


class _Copy:
    """Any moving average at period 1 (TA-Lib's convention for every type): the input itself."""

    __slots__ = ("lookback",)

    def __init__(self) -> None:
        self.lookback = 0

    def step(self, x: float) -> float:
        return x


class _SmaCore:
    """TA_SMA: a running sum, added to before and trimmed after each output."""

    __slots__ = ("_buf", "_divide", "_period", "_total", "lookback")

    def __init__(self, period: int, divide: bool = True) -> None:
        self._period = period
        self._divide = divide  # TA_SUM is the same running sum, undivided
        self._buf: deque[float] = deque(maxlen=period)
        self._total = 0.0
        self.lookback = period - 1

    def step(self, x: float) -> float:
        buf = self._buf
        buf.append(x)
        total = self._total + x
        if len(buf) < self._period:
            self._total = total
            return NAN
        self._total = total - buf[0]
        return total / self._period if self._divide else total


class _EmaCore:
    """TA_EMA: seeded with the mean of the first `period` values, then fma(x - prev, k, prev)."""

    __slots__ = ("_k", "_n", "_period", "_prev", "lookback")

    def __init__(self, period: int) -> None:
        self._period = period
        self._k = 2.0 / (period + 1)
        self._n = 0
        self._prev = 0.0
        self.lookback = period - 1

    @property
    def ready(self) -> bool:
        return self._n >= self._period

    def step(self, x: float) -> float:
        if self._n >= self._period:
            prev = self._prev = _fma(x - self._prev, self._k, self._prev)
            return prev
        self._prev += x
        self._n += 1
        if self._n < self._period:
            return NAN
        self._prev /= self._period
        return self._prev


class _WmaCore:
    """TA_WMA: running weighted and plain sums, rebuilt from the window every 8 windows."""

    __slots__ = ("_bars", "_buf", "_divider", "_period", "_sub", "_sum", "_trailing", "lookback")

    def __init__(self, period: int) -> None:
        self._period = period
        self._buf: deque[float] = deque(maxlen=period)
        self._divider = float(period) * (period + 1) / 2.0
        self._sum = self._sub = self._trailing = 0.0
        self._bars = 8 * period
        self.lookback = period - 1

    def step(self, x: float) -> float:
        buf = self._buf
        buf.append(x)
        period = self._period
        n = len(buf)
        if n < period:
            self._sub += x
            self._sum += x * n
            return NAN
        sub = self._sub + x
        sub -= self._trailing
        total = self._sum + x * period
        self._bars -= 1
        if self._bars <= 0:
            self._bars = 8 * period
            sub = total = 0.0
            for weight, v in enumerate(buf, 1):
                sub += v
                total += v * weight
        self._trailing = buf[0]
        self._sum = total - sub
        self._sub = sub
        return total / self._divider


class _TrimaCore:
    """TA_TRIMA: a triangular weighted sum, moved along by four adjustments per bar."""

    __slots__ = (
        "_add",
        "_factor",
        "_half",
        "_n",
        "_num",
        "_odd",
        "_period",
        "_ring",
        "_sub",
        "lookback",
    )

    def __init__(self, period: int) -> None:
        half = period >> 1
        self._period = period
        self._half = half
        self._odd = period % 2 == 1
        weights = float(half + 1) * (half + 1) if self._odd else float(half) * (half + 1)
        self._factor = 1.0 / weights
        self._ring = _Ring(period + 1)
        self._n = 0
        self._num = self._sub = self._add = 0.0
        self.lookback = period - 1

    def step(self, x: float) -> float:
        ring = self._ring
        ring.push(x)
        self._n += 1
        period = self._period
        if self._n < period:
            return NAN
        if self._n == period:  # the first window: both half-sums from scratch
            window = [ring.ago(k) for k in range(period - 1, -1, -1)]
            middle = (period - 1) // 2
            num = sub = add = 0.0
            for j in range(middle, -1, -1):
                sub += window[j]
                num += sub
            for j in range(middle + 1, period):
                add += window[j]
                num += add
        else:
            middle_value = ring.ago(self._half)
            num = self._num - self._sub
            sub = self._sub - ring.ago(period)
            sub += middle_value
            add = self._add
            if self._odd:
                num += add
                add -= middle_value
            else:
                add -= middle_value
                num += add
            add += x
            num += x
        self._num, self._sub, self._add = num, sub, add
        return num * self._factor


class _ChainedEma:
    """EMA(x), EMA(EMA(x)), ...: each EMA seeded with the mean of the first `period` values of
    the one before. `step` returns every stage, NaN where not yet seeded."""

    __slots__ = ("_stages",)

    def __init__(self, period: int, depth: int) -> None:
        self._stages = [_EmaCore(period) for _ in range(depth)]

    def step(self, x: float) -> list[float]:
        values = []
        for stage in self._stages:
            if x != x:
                values.append(NAN)
                continue
            x = stage.step(x)
            values.append(x)
        return values


class _DemaCore:
    """TA_DEMA: 2*EMA - EMA(EMA)."""

    __slots__ = ("_emas", "lookback")

    def __init__(self, period: int) -> None:
        self._emas = _ChainedEma(period, 2)
        self.lookback = 2 * (period - 1)

    def step(self, x: float) -> float:
        e1, e2 = self._emas.step(x)
        return (2.0 * e1) - e2


class _TemaCore:
    """TA_TEMA: 3*EMA - 3*EMA(EMA) + EMA(EMA(EMA))."""

    __slots__ = ("_emas", "lookback")

    def __init__(self, period: int) -> None:
        self._emas = _ChainedEma(period, 3)
        self.lookback = 3 * (period - 1)

    def step(self, x: float) -> float:
        e1, e2, e3 = self._emas.step(x)
        return e3 + ((3.0 * e1) - (3.0 * e2))


class _KamaCore:
    """TA_KAMA: an EMA whose factor follows the efficiency ratio, the window's net move over the
    path it took; the previous bar's value seeds it."""

    __slots__ = ("_buf", "_kama", "_path", "_period", "_started", "lookback")

    _SLOWEST = 2.0 / (30.0 + 1.0)
    _SPAN = 2.0 / (2.0 + 1.0) - _SLOWEST

    def __init__(self, period: int) -> None:
        self._period = period
        self._buf: deque[float] = deque(maxlen=period + 2)
        self._path = self._kama = 0.0
        self._started = False
        self.lookback = period

    def step(self, x: float) -> float:
        buf = self._buf
        buf.append(x)
        period = self._period
        if len(buf) <= period:
            return NAN
        if not self._started:
            self._started = True
            path = 0.0
            for j in range(period):
                path += abs(buf[j] - buf[j + 1])
            self._kama = buf[period - 1]
        else:
            path = self._path - abs(buf[0] - buf[1])
            path += abs(x - buf[-2])
        self._path = path
        move = x - buf[-1 - period]
        ratio = 1.0 if path <= abs(move) or _is_zero(path) else abs(move / path)
        factor = _fma(ratio, self._SPAN, self._SLOWEST)
        factor *= factor
        kama = self._kama = _fma(x - self._kama, factor, self._kama)
        return kama


class _T3Core:
    """TA_T3: Tillson's six chained EMAs, each seeded with the mean of the first `period` values
    of the one before, combined with weights from the volume factor."""

    __slots__ = ("_c", "_count", "_e", "_k", "_omk", "_period", "_sum", "lookback")

    def __init__(self, period: int, vfactor: float) -> None:
        self._period = period
        self._k = 2.0 / (period + 1.0)
        self._omk = 1.0 - self._k
        v2 = vfactor * vfactor
        c1 = -(v2 * vfactor)
        c2 = 3.0 * (v2 - c1)
        c3 = -6.0 * v2 - 3.0 * (vfactor - c1)
        c4 = _fma(3.0, v2, _fma(3.0, vfactor, 1.0) - c1)
        self._c = (c1, c2, c3, c4)
        self._e: list[float] = []
        self._sum = 0.0
        self._count = 0
        self.lookback = 6 * (period - 1)

    def step(self, x: float) -> float:
        e = self._e
        period = self._period
        if not e:
            self._sum += x
            self._count += 1
            if self._count < period:
                return NAN
            e.append(self._sum / period)
            self._sum, self._count = e[0], 0
        else:
            k, omk = self._k, self._omk
            value = x
            for j in range(len(e)):
                value = e[j] = _fma(omk, e[j], k * value)
            if len(e) < 6:
                self._sum += value
                self._count += 1
                if self._count < period - 1:
                    return NAN
                e.append(self._sum / period)
                self._sum, self._count = e[-1], 0
        if len(e) < 6:
            return NAN
        c1, c2, c3, c4 = self._c
        return _fma(c4, e[2], _fma(c3, e[3], _fma(c1, e[5], c2 * e[4])))


_MA_TYPES: dict[int, tuple[str, Callable[[int], _Core]]] = {
    0: ("SMA", _SmaCore),
    1: ("EMA", _EmaCore),
    2: ("WMA", _WmaCore),
    3: ("DEMA", _DemaCore),
    4: ("TEMA", _TemaCore),
    5: ("TRIMA", _TrimaCore),
    6: ("KAMA", _KamaCore),
    8: ("T3", lambda period: _T3Core(period, 0.7)),  # TA_MA's T3 uses the default volume factor
}


def _ma_core(period: int, matype: int) -> _Core:
    """TA_MA: the moving average of type `matype`, the input itself at period 1."""
    if matype not in _MA_TYPES:
        known = ", ".join(f"{k} ({name})" for k, (name, _) in _MA_TYPES.items())
        raise Unsupported(f"moving-average type {matype} has no streaming version; use {known}")
    return _Copy() if period == 1 else _MA_TYPES[matype][1](period)


class _VarCore:
    """TA_VAR: sums of deviations from a shift near the window (not raw sums of squares, which
    cancel), rebuilt by a fresh two-pass over the window when cancellation threatens, when a
    large value leaves, or every 32 windows."""

    __slots__ = ("_bars", "_buf", "_inv", "_period", "_shift", "_t1", "_t2", "lookback")

    def __init__(self, period: int) -> None:
        self._period = period
        self._inv = 1.0 / period
        self._buf: deque[float] = deque(maxlen=period)
        self._shift = self._t1 = self._t2 = 0.0
        self._bars = 32 * period
        self.lookback = period - 1

    def step(self, x: float) -> float:
        buf = self._buf
        if not buf:
            self._shift = x
        buf.append(x)
        shift = self._shift
        d = x - shift
        t1 = self._t1 + d
        t2 = self._t2 + d * d
        if len(buf) < self._period:
            self._t1, self._t2 = t1, t2
            return NAN
        inv = self._inv
        mean = t1 * inv
        variance = t2 * inv - mean * mean
        d = buf[0] - shift  # the oldest value leaves the sums for the next window
        t1 -= d
        d2 = d * d
        t2 -= d2
        self._bars -= 1
        if variance < 0.000001 * (t2 * inv) or d2 > 1000000.0 * t2 or self._bars <= 0:
            self._bars = 32 * self._period
            total = 0.0
            for v in buf:
                total += v
            shift = self._shift = total * inv
            t1 = t2 = 0.0
            for v in buf:
                d = v - shift
                t1 += d
                t2 += d * d
            mean = t1 * inv
            variance = t2 * inv - mean * mean
            if variance < 0.000000000001 * (t2 * inv):
                variance = 0.0
            d = buf[0] - shift
            t1 -= d
            t2 -= d * d
        self._t1, self._t2 = t1, t2
        return variance


# --- indicators: `update` takes one bar's inputs and returns every output -----------------------


class _Indicator:
    """Base of every indicator. TA-Lib starts at the first bar whose inputs are all numbers;
    until then `update` returns NaN (`_waiting` says whether this bar is still before it).
    `lookback` is the number of bars consumed before the first output, TA-Lib's lookback."""

    __slots__ = ("_idle", "_live", "lookback")
    outputs = 1

    def __init__(self, lookback: int) -> None:
        self._live = False
        self._idle = (NAN,) * self.outputs
        self.lookback = lookback

    def _waiting(self, bar: tuple[float, ...]) -> bool:
        for v in bar:
            if v != v:
                return True
        self._live = True
        return False


class _Single(_Indicator):
    """One input, one output, computed by a core recurrence (the moving averages, SUM)."""

    __slots__ = ("_core",)

    def __init__(self, core: _Core) -> None:
        super().__init__(core.lookback)
        self._core = core

    def update(self, *bar: float) -> tuple[float, ...]:
        if not self._live and self._waiting(bar):
            return self._idle
        return (self._core.step(bar[0]),)


class _Map(_Indicator):
    """A function of the bar alone: price transforms, math operators and transforms, BOP."""

    __slots__ = ("_fn",)

    def __init__(self, fn: Callable[..., float]) -> None:
        super().__init__(0)
        self._fn = fn

    def update(self, *bar: float) -> tuple[float, ...]:
        if not self._live and self._waiting(bar):
            return self._idle
        return (self._fn(*bar),)


class _Lagged(_Indicator):
    """MOM and the ROC family: today's value against the one `period` bars ago."""

    __slots__ = ("_buf", "_fn", "_period")

    def __init__(self, period: int, fn: Callable[[float, float], float]) -> None:
        super().__init__(period)
        self._period = period
        self._buf: deque[float] = deque(maxlen=period + 1)
        self._fn = fn

    def update(self, *bar: float) -> tuple[float, ...]:
        if not self._live and self._waiting(bar):
            return self._idle
        x = bar[0]
        buf = self._buf
        buf.append(x)
        if len(buf) <= self._period:
            return _NAN1
        return (self._fn(x, buf[0]),)


def _mom(x: float, old: float) -> float:
    return x - old


def _roc(x: float, old: float) -> float:
    return ((x / old) - 1.0) * 100.0 if old != 0.0 else 0.0


def _rocp(x: float, old: float) -> float:
    return (x - old) / old if old != 0.0 else 0.0


def _rocr(x: float, old: float) -> float:
    return x / old if old != 0.0 else 0.0


def _rocr100(x: float, old: float) -> float:
    return (x / old) * 100.0 if old != 0.0 else 0.0


class _Variance(_Indicator):
    """VAR, and STDDEV (its square root times `nbdev`; VAR ignores `nbdev`, as TA-Lib does)."""

    __slots__ = ("_core", "_nbdev", "_root")

    def __init__(self, period: int, nbdev: float, root: bool) -> None:
        super().__init__(period - 1)
        self._core = _VarCore(period)
        self._nbdev = nbdev
        self._root = root

    def update(self, *bar: float) -> tuple[float, ...]:
        if not self._live and self._waiting(bar):
            return self._idle
        v = self._core.step(bar[0])
        if not self._root or not v >= 0.0:
            return (v,)
        sd = math.sqrt(v)
        return (sd * self._nbdev if self._nbdev != 1.0 else sd,)


class _BBands(_Indicator):
    """BBANDS: the middle band is the moving average, the outer bands add and subtract `nbdev`
    population standard deviations of the input. TA-Lib starts the deviation where the moving
    average's first output is due, so a slow average (DEMA, TEMA, T3) starts it late."""

    __slots__ = ("_dn", "_ma", "_n", "_up", "_var", "_var_start")
    outputs = 3

    def __init__(self, period: int, up: float, dn: float, matype: int) -> None:
        ma = _ma_core(period, matype)
        super().__init__(max(ma.lookback, period - 1))
        self._ma = ma
        self._var = _VarCore(period)
        self._var_start = max(ma.lookback - (period - 1), 0)
        self._up, self._dn = up, dn
        self._n = 0

    def update(self, *bar: float) -> tuple[float, ...]:
        if not self._live and self._waiting(bar):
            return self._idle
        x = bar[0]
        middle = self._ma.step(x)
        n = self._n
        self._n = n + 1
        if n < self._var_start:
            return self._idle
        variance = self._var.step(x)
        if n < self.lookback:
            return self._idle
        sd = math.sqrt(variance) if variance != 0.0 else 0.0
        if self._up == self._dn:
            width = sd * self._up
            return (middle + width, middle, middle - width)
        return (_fma(sd, self._up, middle), middle, middle - sd * self._dn)


class _Rolling(_Indicator):
    """MAX, MIN, MINMAX (min, max) and MIDPOINT: the extremes of the last `period` values."""

    __slots__ = ("_hi", "_kind", "_lo", "_n")

    def __init__(self, period: int, kind: str) -> None:
        super().__init__(period - 1)
        if kind == "minmax":
            self._idle = (NAN, NAN)
        self._kind = kind
        self._hi = _Extreme(period, highest=True)
        self._lo = _Extreme(period, highest=False)
        self._n = 0

    def update(self, *bar: float) -> tuple[float, ...]:
        if not self._live and self._waiting(bar):
            return self._idle
        x = bar[0]
        kind = self._kind
        hi = self._hi.push(x) if kind != "min" else NAN
        lo = self._lo.push(x) if kind != "max" else NAN
        self._n += 1
        if self._n <= self.lookback:
            return self._idle
        if kind == "max":
            return (hi,)
        if kind == "min":
            return (lo,)
        if kind == "minmax":
            return (lo, hi)
        return ((hi + lo) / 2.0,)


class _HighLowWindow(_Indicator):
    """MIDPRICE and WILLR: the highest high and lowest low of the last `period` bars."""

    __slots__ = ("_hi", "_lo", "_n", "_willr")

    def __init__(self, period: int, willr: bool) -> None:
        super().__init__(period - 1)
        self._hi = _Extreme(period, highest=True)
        self._lo = _Extreme(period, highest=False)
        self._willr = willr
        self._n = 0

    def update(self, *bar: float) -> tuple[float, ...]:
        if not self._live and self._waiting(bar):
            return self._idle
        highest = self._hi.push(bar[0])
        lowest = self._lo.push(bar[1])
        self._n += 1
        if self._n <= self.lookback:
            return self._idle
        if not self._willr:
            return ((highest + lowest) / 2.0,)
        spread = highest - lowest
        if _is_zero_scaled(spread, abs(highest) + abs(lowest)):
            return (0.0,)
        r = ((highest - bar[2]) / spread) * (-100.0)
        return (0.0 if r > 0.0 else -100.0 if r < -100.0 else r,)  # a close outside its bar


class _Rsi(_Indicator):
    """RSI and CMO: Wilder averages of gains and losses, seeded with their means over the first
    `period` changes. RSI is 100 * gain / (gain + loss), CMO 100 * (gain - loss) / (gain + loss);
    0 when nothing moved. (TA-Lib spells the two steps differently; each is replayed as is.)"""

    __slots__ = ("_cmo", "_gain", "_inv", "_loss", "_n", "_period", "_prev")

    def __init__(self, period: int, cmo: bool = False) -> None:
        super().__init__(period)
        self._cmo = cmo
        self._period = period
        self._inv = 1.0 / period
        self._n = 0
        self._gain = self._loss = self._prev = 0.0

    def step(self, x: float) -> float:
        n = self._n
        self._n = n + 1
        if n == 0:
            self._prev = x
            return NAN
        d = x - self._prev
        self._prev = x
        period = self._period
        if self._cmo:  # a branch and divisions
            gain, loss = self._gain, self._loss
            if n > period:
                loss *= period - 1
                gain *= period - 1
            if d < 0.0:
                loss -= d
            else:
                gain += d
            if n < period:
                self._gain, self._loss = gain, loss
                return NAN
            self._gain, self._loss = gain / period, loss / period
        else:  # branch-free, and multiplications by 1/period
            gain_delta = d if d > 0.0 else 0.0
            if n <= period:
                self._gain += gain_delta
                self._loss += gain_delta - d
                if n < period:
                    return NAN
                self._loss *= self._inv
                self._gain *= self._inv
            else:
                loss = self._loss * (period - 1)
                gain = self._gain * (period - 1)
                gain += gain_delta
                loss += gain_delta - d
                self._loss = loss * self._inv
                self._gain = gain * self._inv
        total = self._gain + self._loss
        if not total > 0.0:
            return 0.0
        if self._cmo:
            return 100.0 * ((self._gain - self._loss) / total)
        return 100.0 * (self._gain / total)

    def update(self, *bar: float) -> tuple[float, ...]:
        if not self._live and self._waiting(bar):
            return self._idle
        return (self.step(bar[0]),)


class _Atr(_Indicator):
    """ATR, and NATR (ATR as a percentage of the close): Wilder's average of the true range,
    seeded with the mean of the first `period` true ranges (the first bar has none)."""

    __slots__ = ("_alpha", "_atr", "_beta", "_n", "_natr", "_period", "_prev_close")

    def __init__(self, period: int, natr: bool) -> None:
        super().__init__(period)
        self._period = period
        self._natr = natr
        self._beta = (period - 1) / period
        self._alpha = 1.0 - self._beta
        self._n = 0
        self._atr = self._prev_close = 0.0

    def update(self, *bar: float) -> tuple[float, ...]:
        if not self._live and self._waiting(bar):
            return self._idle
        high, low, close = bar
        n = self._n
        self._n = n + 1
        prev_close = self._prev_close
        self._prev_close = close
        if n == 0:
            return _NAN1
        tr = _true_range(high, low, prev_close)
        period = self._period
        if n <= period:
            self._atr += tr
            if n < period:
                return _NAN1
            self._atr /= period
        else:
            self._atr = _fma(self._beta, self._atr, self._alpha * tr)
        if not self._natr or period <= 1:  # NATR at period 1 is the raw true range
            return (self._atr,)
        return ((self._atr / close) * 100.0 if close != 0.0 else 0.0,)


class _TrueRange(_Indicator):
    """TRANGE: nothing on the first bar, which has no previous close."""

    __slots__ = ("_prev_close",)

    def __init__(self) -> None:
        super().__init__(1)
        self._prev_close = NAN

    def update(self, *bar: float) -> tuple[float, ...]:
        if not self._live and self._waiting(bar):
            return self._idle
        prev_close = self._prev_close
        self._prev_close = bar[2]
        if prev_close != prev_close:
            return _NAN1
        return (_true_range(bar[0], bar[1], prev_close),)


class _Directional(_Indicator):
    """PLUS_DM, MINUS_DM, PLUS_DI, MINUS_DI, DX and ADX: Wilder's directional movement.

    The one-bar movements and the true range are summed over the first `period - 1` bars, then
    smoothed with `x - x/period + today`. DI is 100 * DM / TR; DX is 100 * |DI- - DI+| /
    (DI- + DI+), holding its last value when undefined; ADX is Wilder's average of DX, seeded
    with the mean of the first `period` of them."""

    __slots__ = (
        "_adx",
        "_dx",
        "_kind",
        "_minus",
        "_n",
        "_period",
        "_plus",
        "_prev",
        "_sum_dx",
        "_tr",
    )

    def __init__(self, period: int, kind: str) -> None:
        if period <= 1:  # only the DM and DI have a period-1 form, and it is one bar's movement
            lookback = 1
        elif kind in ("plus_dm", "minus_dm"):
            lookback = period - 1
        elif kind == "adx":
            lookback = 2 * period - 1
        else:
            lookback = period
        super().__init__(lookback)
        self._kind = kind
        self._period = period
        self._n = 0
        self._plus = self._minus = self._tr = 0.0
        self._sum_dx = self._adx = self._dx = 0.0
        self._prev = (0.0, 0.0, 0.0)

    def update(self, *bar: float) -> tuple[float, ...]:
        if not self._live and self._waiting(bar):
            return self._idle
        high, low = bar[0], bar[1]
        close = bar[2] if len(bar) > 2 else 0.0  # the DM take no close
        prev_high, prev_low, prev_close = self._prev
        self._prev = (high, low, close)
        n = self._n
        self._n = n + 1
        if n == 0:
            return _NAN1
        diff_p = high - prev_high
        diff_m = prev_low - low
        kind = self._kind
        period = self._period
        if period <= 1:
            return (self._one_bar(diff_p, diff_m, high, low, prev_close),)
        plus1 = diff_p if diff_p > 0.0 and diff_p > diff_m else 0.0
        minus1 = diff_m if diff_m > 0.0 and diff_m > diff_p else 0.0
        tr = _true_range(high, low, prev_close)
        if n < period:
            self._plus += plus1
            self._minus += minus1
            self._tr += tr
            if n < self.lookback:
                return _NAN1
            return (self._plus if kind == "plus_dm" else self._minus,)  # only the DM are due
        self._plus = self._plus - self._plus / period + plus1
        self._minus = self._minus - self._minus / period + minus1
        self._tr = self._tr - self._tr / period + tr
        if kind == "plus_dm":
            return (self._plus,)
        if kind == "minus_dm":
            return (self._minus,)
        tr_sum = self._tr
        if kind == "plus_di":
            return (100.0 * (self._plus / tr_sum) if tr_sum > 0.0 else 0.0,)
        if kind == "minus_di":
            return (100.0 * (self._minus / tr_sum) if tr_sum > 0.0 else 0.0,)
        dx = NAN
        if tr_sum > 0.0:
            minus_di = 100.0 * (self._minus / tr_sum)
            plus_di = 100.0 * (self._plus / tr_sum)
            total = minus_di + plus_di
            if not _is_zero(total):
                dx = 100.0 * (abs(minus_di - plus_di) / total)
        if kind == "dx":
            if dx == dx:
                self._dx = dx
            elif n == period:
                self._dx = 0.0
            return (self._dx,)
        if n < 2 * period:  # ADX: the first `period` DX are averaged
            if dx == dx:
                self._sum_dx += dx
            if n < 2 * period - 1:
                return _NAN1
            self._adx = self._sum_dx / period
        elif dx == dx:
            self._adx = (self._adx * (period - 1) + dx) / period
        return (self._adx,)

    def _one_bar(self, diff_p: float, diff_m: float, high: float, low: float, pc: float) -> float:
        """Period 1: the one-bar movement (DM), or that movement over the true range (DI)."""
        kind = self._kind
        if kind in ("plus_dm", "minus_dm"):
            move, other = (diff_p, diff_m) if kind == "plus_dm" else (diff_m, diff_p)
            return (move if move > 0.0 else 0.0) if move > other else 0.0
        move, other = (diff_p, diff_m) if kind == "plus_di" else (diff_m, diff_p)
        if move > 0.0 and move > other:
            tr = _true_range(high, low, pc)
            return 0.0 if tr <= 0.0 else move / tr
        return 0.0


class _Adxr(_Indicator):
    """ADXR: the mean of today's ADX and the ADX `period - 1` bars ago."""

    __slots__ = ("_adx", "_buf")

    def __init__(self, period: int) -> None:
        self._adx = _Directional(period, "adx")
        super().__init__(self._adx.lookback + period - 1)
        self._buf: deque[float] = deque(maxlen=period)

    def update(self, *bar: float) -> tuple[float, ...]:
        if not self._live and self._waiting(bar):
            return self._idle
        (adx,) = self._adx.update(*bar)
        if adx != adx:
            return _NAN1
        buf = self._buf
        buf.append(adx)
        if len(buf) < self.lookback - self._adx.lookback + 1:
            return _NAN1
        return ((adx + buf[0]) / 2.0,)


class _Macd(_Indicator):
    """MACD (and MACDFIX): fast and slow EMAs whose seed windows end on the same bar (the fast
    one starts late), their difference, and an EMA of that difference as the signal line."""

    __slots__ = (
        "_fast",
        "_fast_k",
        "_fast_period",
        "_fast_sum",
        "_n",
        "_signal",
        "_signal_k",
        "_signal_n",
        "_signal_period",
        "_slow",
        "_slow_k",
        "_slow_period",
        "_slow_sum",
    )
    outputs = 3

    def __init__(self, fast: int, slow: int, signal: int) -> None:
        if slow < fast:
            fast, slow = slow, fast
        # MACDFIX passes 0, 0: TA-Lib's fixed 12/26 MACD with k of 0.15 and 0.075
        slow, slow_k = (26, 0.075) if slow == 0 else (slow, 2.0 / (slow + 1))
        fast, fast_k = (12, 0.15) if fast == 0 else (fast, 2.0 / (fast + 1))
        super().__init__(slow - 1 + signal - 1)
        self._slow_period, self._fast_period, self._signal_period = slow, fast, signal
        self._slow_k, self._fast_k = slow_k, fast_k
        self._signal_k = 2.0 / (signal + 1)
        self._n = self._signal_n = 0
        self._slow_sum = self._fast_sum = 0.0
        self._slow = self._fast = self._signal = 0.0

    def update(self, *bar: float) -> tuple[float, ...]:
        if not self._live and self._waiting(bar):
            return self._idle
        x = bar[0]
        n = self._n
        self._n = n + 1
        slow_period = self._slow_period
        if n < slow_period:
            self._slow_sum += x
            if n >= slow_period - self._fast_period:
                self._fast_sum += x
            if n < slow_period - 1:
                return self._idle
            self._slow = self._slow_sum / slow_period
            self._fast = self._fast_sum / self._fast_period
        else:
            self._fast = _fma(x - self._fast, self._fast_k, self._fast)
            self._slow = _fma(x - self._slow, self._slow_k, self._slow)
        macd = self._fast - self._slow
        signal_period = self._signal_period
        if self._signal_n < signal_period:
            self._signal += macd
            self._signal_n += 1
            if self._signal_n < signal_period:
                return self._idle
            self._signal /= signal_period
        elif signal_period == 1:
            self._signal = macd
        else:
            self._signal = _fma(macd - self._signal, self._signal_k, self._signal)
        return (macd, self._signal, macd - self._signal)


class _PriceOscillator(_Indicator):
    """APO and PPO: the fast moving average less the slow one, each seeded on its own; PPO as a
    percentage of the slow one."""

    __slots__ = ("_fast", "_percent", "_slow")

    def __init__(self, fast: int, slow: int, matype: int, percent: bool) -> None:
        if slow < fast:
            fast, slow = slow, fast
        self._fast = _ma_core(fast, matype)
        self._slow = _ma_core(slow, matype)
        super().__init__(self._slow.lookback)
        self._percent = percent

    def update(self, *bar: float) -> tuple[float, ...]:
        if not self._live and self._waiting(bar):
            return self._idle
        x = bar[0]
        fast = self._fast.step(x)
        slow = self._slow.step(x)
        if slow != slow:
            return _NAN1
        if not self._percent:
            return (fast - slow,)
        return (((fast - slow) / slow) * 100.0 if slow != 0.0 else 0.0,)


class _Trix(_Indicator):
    """TRIX: the one-bar rate of change, in percent, of a triple EMA."""

    __slots__ = ("_emas", "_prev")

    def __init__(self, period: int) -> None:
        super().__init__(3 * (period - 1) + 1)
        self._emas = _ChainedEma(period, 3)
        self._prev = NAN

    def update(self, *bar: float) -> tuple[float, ...]:
        if not self._live and self._waiting(bar):
            return self._idle
        e3 = self._emas.step(bar[0])[-1]
        prev = self._prev
        self._prev = e3
        if prev != prev:
            return _NAN1
        return (((e3 / prev) - 1.0) * 100.0 if prev != 0.0 else 0.0,)


class _Cci(_Indicator):
    """CCI: the typical price against its window mean, over 0.015 times the mean absolute
    deviation. The deviation needs the whole window every bar, as in TA-Lib: O(period)."""

    __slots__ = ("_buf", "_n", "_period")

    def __init__(self, period: int) -> None:
        super().__init__(period - 1)
        self._period = period
        self._buf = [0.0] * period
        self._n = 0

    def update(self, *bar: float) -> tuple[float, ...]:
        if not self._live and self._waiting(bar):
            return self._idle
        high, low, close = bar
        last = (high + low + close) / 3
        n = self._n
        period = self._period
        buf = self._buf
        buf[n % period] = last  # TA-Lib's circular buffer slot for slot: its sums run in slot order
        self._n = n + 1
        if n < period - 1:
            return _NAN1
        average = 0.0
        for v in buf:
            average += v
        average /= period
        deviation = 0.0
        for v in buf:
            deviation += abs(v - average)
        deviation /= period
        spread = last - average
        scale = abs(average)
        if _is_zero_scaled(spread, scale) or _is_zero_scaled(deviation, scale):
            return (0.0,)
        return (spread / (0.015 * deviation),)


class _LinearReg(_Indicator):
    """LINEARREG and its relatives: the least-squares line through the window, from running sums
    of y and of x*y (x counts bars back from today), rebuilt from the window every 32 windows and
    on the bar a value that outweighs the rest of the window leaves it.

    `kind` picks the output: "line" (today's point on the line), "slope", "angle" (in degrees),
    "intercept" (the line's value `period - 1` bars ago) or "tsf" (tomorrow's point)."""

    __slots__ = (
        "_bars",
        "_buf",
        "_divisor",
        "_kind",
        "_period",
        "_sum_abs",
        "_sum_x",
        "_sum_xy",
        "_sum_y",
    )

    def __init__(self, period: int, kind: str) -> None:
        super().__init__(period - 1)
        self._period = period
        self._kind = kind
        self._buf: deque[float] = deque(maxlen=period + 1)
        sum_x = float(period) * (period - 1) * 0.5
        sum_x_sqr = float(period) * (period - 1) * (2 * period - 1) / 6.0
        self._sum_x = sum_x
        self._divisor = sum_x * sum_x - period * sum_x_sqr
        self._sum_y = self._sum_xy = self._sum_abs = 0.0
        self._bars = 32 * period

    def _rebuild(self, window: list[float]) -> None:
        """The sums from scratch, oldest value first with the weight counting down."""
        sum_y = sum_xy = sum_abs = 0.0
        weight = float(self._period - 1)
        for v in window:
            sum_y += v
            sum_xy += weight * v
            sum_abs += abs(v)
            weight -= 1.0
        self._sum_y, self._sum_xy, self._sum_abs = sum_y, sum_xy, sum_abs

    def update(self, *bar: float) -> tuple[float, ...]:
        if not self._live and self._waiting(bar):
            return self._idle
        x = bar[0]
        buf = self._buf
        buf.append(x)
        period = self._period
        n = len(buf)
        if n < period:
            return _NAN1
        if n == period:
            self._rebuild(list(buf))
        else:
            trailing = buf[0]
            weighted = period * trailing
            self._sum_xy = self._sum_xy + self._sum_y - weighted
            self._sum_y = self._sum_y - trailing + x
            self._sum_abs = self._sum_abs - abs(trailing) + abs(x)
            self._bars -= 1
            if self._bars <= 0 or abs(weighted) > 100.0 * self._sum_abs:
                self._bars = 32 * period
                self._rebuild(list(buf)[1:])
        sum_x, sum_y = self._sum_x, self._sum_y
        m = (period * self._sum_xy - sum_x * sum_y) / self._divisor
        kind = self._kind
        if kind == "slope":
            return (m,)
        if kind == "angle":
            return (math.atan(m) * (180.0 / math.pi),)
        b = (sum_y - m * sum_x) / period
        if kind == "intercept":
            return (b,)
        return (_fma(m, float(period if kind == "tsf" else period - 1), b),)


class _Obv(_Indicator):
    """OBV: a running volume total, signed by the direction of the close; it starts at the first
    bar's volume."""

    __slots__ = ("_obv", "_prev")

    def __init__(self) -> None:
        super().__init__(0)
        self._obv = self._prev = NAN

    def update(self, *bar: float) -> tuple[float, ...]:
        if not self._live and self._waiting(bar):
            return self._idle
        real, volume = bar
        if self._obv != self._obv:
            self._obv = volume
        elif real > self._prev:
            self._obv += volume
        elif real < self._prev:
            self._obv -= volume
        self._prev = real
        return (self._obv,)


class _AccumulationDistribution(_Indicator):
    """AD, the accumulation/distribution line, and ADOSC: its fast EMA less its slow EMA, both
    seeded with the first AD value."""

    __slots__ = ("_ad", "_fast", "_fast_k", "_n", "_osc", "_slow", "_slow_k")

    def __init__(self, fast: int = 0, slow: int = 0, osc: bool = False) -> None:
        super().__init__(max(fast, slow) - 1 if osc else 0)
        self._osc = osc
        self._fast_k = 2.0 / (fast + 1) if osc else 0.0
        self._slow_k = 2.0 / (slow + 1) if osc else 0.0
        self._ad = self._fast = self._slow = 0.0
        self._n = 0

    def update(self, *bar: float) -> tuple[float, ...]:
        if not self._live and self._waiting(bar):
            return self._idle
        high, low, close, volume = bar
        spread = high - low
        if spread > 0.0:
            self._ad += (((close - low) - (high - close)) / spread) * volume
        ad = self._ad
        if not self._osc:
            return (ad,)
        n = self._n
        self._n = n + 1
        if n == 0:
            self._fast = self._slow = ad
        else:
            self._fast = _fma(1.0 - self._fast_k, self._fast, self._fast_k * ad)
            self._slow = _fma(1.0 - self._slow_k, self._slow, self._slow_k * ad)
        if n < self.lookback:
            return _NAN1
        return (self._fast - self._slow,)


class _Mfi(_Indicator):
    """MFI: RSI's idea on money flow (typical price times volume), summed over the window."""

    __slots__ = ("_n", "_neg", "_null_run", "_period", "_pos", "_prev", "_ring")

    def __init__(self, period: int) -> None:
        super().__init__(period)
        self._period = period
        self._ring: deque[tuple[float, float]] = deque(maxlen=period)
        self._pos = self._neg = self._prev = 0.0
        self._null_run = self._n = 0

    def update(self, *bar: float) -> tuple[float, ...]:
        if not self._live and self._waiting(bar):
            return self._idle
        high, low, close, volume = bar
        typical = (high + low + close) / 3.0
        n = self._n
        self._n = n + 1
        if n == 0:
            self._prev = typical
            return _NAN1
        ring = self._ring
        period = self._period
        if len(ring) == period:
            leaving_pos, leaving_neg = ring[0]
            self._pos -= leaving_pos
            self._neg -= leaving_neg
        move = typical - self._prev
        scale = abs(typical) + abs(self._prev)
        self._prev = typical
        flow = 0.0 if _is_zero_scaled(move, scale) else typical * volume
        pos = 0.0 if move < 0.0 else flow
        neg = flow if move < 0.0 else 0.0
        ring.append((pos, neg))
        self._pos += pos
        self._neg += neg
        # a whole window without money flow: the sums are exactly zero, whatever residue says
        self._null_run = self._null_run + 1 if flow == 0.0 else 0
        if self._null_run >= period:
            self._null_run = period
            self._pos = self._neg = 0.0
        if n < period:
            return _NAN1
        total = self._pos + self._neg
        clamped = 0.0 if self._pos < 0.0 else (total if self._pos > total else self._pos)
        return (0.0 if total <= 0.0 else 100.0 * (clamped / total),)


class _Aroon(_Indicator):
    """AROON (down, up) and AROONOSC (up - down): how recently the last `period + 1` bars made
    their high and their low, in percent of the period."""

    __slots__ = ("_factor", "_hi", "_lo", "_n", "_osc", "_period")

    def __init__(self, period: int, osc: bool) -> None:
        super().__init__(period)
        if not osc:
            self._idle = (NAN, NAN)
        self._osc = osc
        self._period = period
        self._factor = 100.0 / period
        self._hi = _Extreme(period + 1, highest=True)
        self._lo = _Extreme(period + 1, highest=False)
        self._n = 0

    def update(self, *bar: float) -> tuple[float, ...]:
        if not self._live and self._waiting(bar):
            return self._idle
        self._hi.push(bar[0])
        self._lo.push(bar[1])
        self._n += 1
        if self._n <= self._period:
            return self._idle
        period, factor = self._period, self._factor
        since_high, since_low = self._hi.age, self._lo.age
        if self._osc:
            return (factor * (since_low - since_high),)
        return (factor * (period - since_low), factor * (period - since_high))


class _FastK:
    """Stochastic %K: where the close sits in the high-low range of the last `period` bars, in
    percent; 0 for a flat window."""

    __slots__ = ("_hi", "_lo", "_n", "lookback")

    def __init__(self, period: int) -> None:
        self._hi = _Extreme(period, highest=True)
        self._lo = _Extreme(period, highest=False)
        self._n = 0
        self.lookback = period - 1

    def step(self, high: float, low: float, close: float) -> float:
        highest = self._hi.push(high)
        lowest = self._lo.push(low)
        self._n += 1
        if self._n <= self.lookback:
            return NAN
        if _is_zero_scaled(highest - lowest, abs(highest) + abs(lowest)):
            return 0.0
        return ((close - lowest) / (highest - lowest)) * 100.0


class _Stoch(_Indicator):
    """STOCH (slow %K, slow %D) and STOCHF (fast %K, fast %D): %K smoothed by moving averages,
    each started at the first value of the line it smooths."""

    __slots__ = ("_d", "_k", "_smooth_k")
    outputs = 2

    def __init__(self, fastk: int, k_ma: tuple[int, int] | None, d_ma: tuple[int, int]) -> None:
        self._k = _FastK(fastk)
        self._smooth_k = _ma_core(*k_ma) if k_ma else None
        self._d = _ma_core(*d_ma)
        k_lookback = self._smooth_k.lookback if self._smooth_k else 0
        super().__init__(fastk - 1 + k_lookback + self._d.lookback)

    def step(self, high: float, low: float, close: float) -> tuple[float, ...]:
        k = self._k.step(high, low, close)
        if k != k:
            return self._idle
        if self._smooth_k is not None:
            k = self._smooth_k.step(k)
            if k != k:
                return self._idle
        d = self._d.step(k)
        return self._idle if d != d else (k, d)

    def update(self, *bar: float) -> tuple[float, ...]:
        if not self._live and self._waiting(bar):
            return self._idle
        return self.step(*bar)


class _StochRsi(_Indicator):
    """STOCHRSI: STOCHF of the RSI, started at the RSI's first value."""

    __slots__ = ("_rsi", "_stoch")
    outputs = 2

    def __init__(self, period: int, fastk: int, fastd: int, matype: int) -> None:
        self._rsi = _Rsi(period)
        self._stoch = _Stoch(fastk, None, (fastd, matype))
        super().__init__(self._rsi.lookback + self._stoch.lookback)

    def update(self, *bar: float) -> tuple[float, ...]:
        if not self._live and self._waiting(bar):
            return self._idle
        r = self._rsi.step(bar[0])
        return self._idle if r != r else self._stoch.step(r, r, r)


# --- functions of one bar ------------------------------------------------------------------------


def _domain(fn: Callable[[float], float], at_zero: float = NAN) -> Callable[[float], float]:
    """`fn` answering as C's libm does where Python's math raises: NaN outside the domain
    (`at_zero` at zero, -inf for the logarithms) and infinity on overflow."""

    def safe(x: float) -> float:
        try:
            return fn(x)
        except ValueError:
            return at_zero if x == 0.0 else NAN
        except OverflowError:
            return math.inf if fn in (math.exp, math.cosh) else math.copysign(math.inf, x)

    safe.__name__ = fn.__name__
    return safe


def _integral(fn: Callable[[float], int]) -> Callable[[float], float]:
    """ceil or floor as a float, keeping NaN, the infinities and the sign of zero."""

    def rounded(x: float) -> float:
        if not math.isfinite(x):
            return x
        r = float(fn(x))
        return math.copysign(r, x) if r == 0.0 else r

    rounded.__name__ = fn.__name__
    return rounded


def _add(a: float, b: float) -> float:
    return a + b


def _sub(a: float, b: float) -> float:
    return a - b


def _mult(a: float, b: float) -> float:
    return a * b


def _div(a: float, b: float) -> float:
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0.0:
            return NAN
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _avgprice(open_: float, high: float, low: float, close: float) -> float:
    return (high + low + close + open_) / 4


def _medprice(high: float, low: float) -> float:
    return (high + low) / 2.0


def _typprice(high: float, low: float, close: float) -> float:
    return (high + low + close) / 3.0


def _wclprice(high: float, low: float, close: float) -> float:
    return (high + low + (close * 2.0)) / 4.0


def _bop(open_: float, high: float, low: float, close: float) -> float:
    spread = high - low
    return (close - open_) / spread if spread > 0.0 else 0.0


_ONE_BAR: dict[str, Callable[..., float]] = {
    "ACOS": _domain(math.acos),
    "ASIN": _domain(math.asin),
    "ATAN": math.atan,
    "CEIL": _integral(math.ceil),
    "COS": _domain(math.cos),
    "COSH": _domain(math.cosh),
    "EXP": _domain(math.exp),
    "FLOOR": _integral(math.floor),
    "LN": _domain(math.log, -math.inf),
    "LOG10": _domain(math.log10, -math.inf),
    "SIN": _domain(math.sin),
    "SINH": _domain(math.sinh),
    "SQRT": _domain(math.sqrt),
    "TAN": _domain(math.tan),
    "TANH": math.tanh,
    "ADD": _add,
    "SUB": _sub,
    "MULT": _mult,
    "DIV": _div,
    "AVGPRICE": _avgprice,
    "MEDPRICE": _medprice,
    "TYPPRICE": _typprice,
    "WCLPRICE": _wclprice,
    "BOP": _bop,
}


# --- the table -----------------------------------------------------------------------------------

_Builder = Callable[..., _Indicator]


def _settings(name: str, given: Mapping[str, float]) -> dict[str, float]:
    """TA-Lib's parameters for `name`: the given ones by name, TA-Lib's defaults for the rest."""
    defaults = dict(abstract.Function(name).info["parameters"])
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise Unsupported(f"{name} has no parameter {', '.join(unknown)}")
    values: dict[str, float] = {}
    for key, default in defaults.items():
        value = given.get(key, default)
        if isinstance(default, int):
            if float(value) != int(value):
                raise Unsupported(f"{name}'s {key} must be a whole number, not {value}")
            values[key] = int(value)
        else:
            values[key] = float(value)
    return values


def _talib_lookback(name: str, values: Mapping[str, float]) -> int:
    """TA-Lib's lookback for these settings, -1 if it rejects them. Asked afresh every time: a
    global unstable period changes it."""
    function = abstract.Function(name)
    try:
        function.set_parameters(**values)
        return int(function.lookback)
    except Exception:  # TA-Lib rejects out-of-range values in several ways; all mean invalid
        return -1


def _factory(name: str, build: _Builder) -> Callable[[Mapping[str, float]], Incremental]:
    """A factory that checks the settings against TA-Lib before building: TA-Lib must accept
    them, run in its default compatibility mode, and warm up for exactly as many bars as the
    recurrence here does (a global unstable period would change that)."""

    def make(params: Mapping[str, float]) -> Incremental:
        values = _settings(name, params)
        lookback = _talib_lookback(name, values)
        if lookback < 0:
            shown = ", ".join(f"{k}={v}" for k, v in values.items())
            raise Unsupported(f"TA-Lib rejects {name}({shown})")
        if talib.get_compatibility() != 0:
            raise Unsupported("TA-Lib is set to Metastock compatibility")
        indicator = build(**values)
        if indicator.lookback != lookback:
            raise Unsupported(
                f"TA-Lib warms {name} up over {lookback} bars here, not {indicator.lookback}: "
                "an unstable period is set"
            )
        return indicator

    make.__name__ = f"streaming_{name.lower()}"
    make.__doc__ = f"A streaming {name}: one bar's inputs in, {name}'s outputs out."
    return make


def _ma(timeperiod: int, matype: int) -> _Indicator:
    return _Single(_ma_core(timeperiod, matype))


def _ma_of_type(matype: int) -> _Builder:
    return lambda timeperiod: _ma(timeperiod, matype)


_BUILDERS: dict[str, _Builder] = {
    # overlap studies
    "SMA": _ma_of_type(0),
    "EMA": _ma_of_type(1),
    "WMA": _ma_of_type(2),
    "DEMA": _ma_of_type(3),
    "TEMA": _ma_of_type(4),
    "TRIMA": _ma_of_type(5),
    "KAMA": _ma_of_type(6),
    "T3": lambda timeperiod, vfactor: _Single(
        _T3Core(timeperiod, vfactor) if timeperiod > 1 else _Copy()
    ),
    "MA": _ma,
    "BBANDS": lambda timeperiod, nbdevup, nbdevdn, matype: _BBands(
        timeperiod, nbdevup, nbdevdn, matype
    ),
    "MIDPOINT": lambda timeperiod: _Rolling(timeperiod, "midpoint"),
    "MIDPRICE": lambda timeperiod: _HighLowWindow(timeperiod, willr=False),
    # momentum
    "ADX": lambda timeperiod: _Directional(timeperiod, "adx"),
    "ADXR": lambda timeperiod: _Adxr(timeperiod),
    "APO": lambda fastperiod, slowperiod, matype: _PriceOscillator(
        fastperiod, slowperiod, matype, percent=False
    ),
    "AROON": lambda timeperiod: _Aroon(timeperiod, osc=False),
    "AROONOSC": lambda timeperiod: _Aroon(timeperiod, osc=True),
    "CCI": lambda timeperiod: _Cci(timeperiod),
    "CMO": lambda timeperiod: _Rsi(timeperiod, cmo=True),
    "DX": lambda timeperiod: _Directional(timeperiod, "dx"),
    "MACD": lambda fastperiod, slowperiod, signalperiod: _Macd(
        fastperiod, slowperiod, signalperiod
    ),
    "MACDFIX": lambda signalperiod: _Macd(0, 0, signalperiod),
    "MFI": lambda timeperiod: _Mfi(timeperiod),
    "MINUS_DI": lambda timeperiod: _Directional(timeperiod, "minus_di"),
    "MINUS_DM": lambda timeperiod: _Directional(timeperiod, "minus_dm"),
    "MOM": lambda timeperiod: _Lagged(timeperiod, _mom),
    "PLUS_DI": lambda timeperiod: _Directional(timeperiod, "plus_di"),
    "PLUS_DM": lambda timeperiod: _Directional(timeperiod, "plus_dm"),
    "PPO": lambda fastperiod, slowperiod, matype: _PriceOscillator(
        fastperiod, slowperiod, matype, percent=True
    ),
    "ROC": lambda timeperiod: _Lagged(timeperiod, _roc),
    "ROCP": lambda timeperiod: _Lagged(timeperiod, _rocp),
    "ROCR": lambda timeperiod: _Lagged(timeperiod, _rocr),
    "ROCR100": lambda timeperiod: _Lagged(timeperiod, _rocr100),
    "RSI": lambda timeperiod: _Rsi(timeperiod),
    "STOCH": lambda fastk_period, slowk_period, slowk_matype, slowd_period, slowd_matype: _Stoch(
        fastk_period, (slowk_period, slowk_matype), (slowd_period, slowd_matype)
    ),
    "STOCHF": lambda fastk_period, fastd_period, fastd_matype: _Stoch(
        fastk_period, None, (fastd_period, fastd_matype)
    ),
    "STOCHRSI": lambda timeperiod, fastk_period, fastd_period, fastd_matype: _StochRsi(
        timeperiod, fastk_period, fastd_period, fastd_matype
    ),
    "TRIX": lambda timeperiod: _Trix(timeperiod),
    "WILLR": lambda timeperiod: _HighLowWindow(timeperiod, willr=True),
    # volatility
    "ATR": lambda timeperiod: _Atr(timeperiod, natr=False),
    "NATR": lambda timeperiod: _Atr(timeperiod, natr=True),
    "TRANGE": lambda: _TrueRange(),
    # statistics
    "LINEARREG": lambda timeperiod: _LinearReg(timeperiod, "line"),
    "LINEARREG_ANGLE": lambda timeperiod: _LinearReg(timeperiod, "angle"),
    "LINEARREG_INTERCEPT": lambda timeperiod: _LinearReg(timeperiod, "intercept"),
    "LINEARREG_SLOPE": lambda timeperiod: _LinearReg(timeperiod, "slope"),
    "STDDEV": lambda timeperiod, nbdev: _Variance(timeperiod, nbdev, root=True),
    "TSF": lambda timeperiod: _LinearReg(timeperiod, "tsf"),
    "VAR": lambda timeperiod, nbdev: _Variance(timeperiod, nbdev, root=False),
    # math operators over a window
    "MAX": lambda timeperiod: _Rolling(timeperiod, "max"),
    "MIN": lambda timeperiod: _Rolling(timeperiod, "min"),
    "MINMAX": lambda timeperiod: _Rolling(timeperiod, "minmax"),
    "SUM": lambda timeperiod: _Single(_SmaCore(timeperiod, divide=False)),
    # volume
    "AD": lambda: _AccumulationDistribution(),
    "ADOSC": lambda fastperiod, slowperiod: _AccumulationDistribution(
        fastperiod, slowperiod, osc=True
    ),
    "OBV": lambda: _Obv(),
    # price transforms, math operators and transforms, BOP: one bar at a time
    **{name: (lambda fn=fn: _Map(fn)) for name, fn in _ONE_BAR.items()},
}

STREAMING: dict[str, Callable[[Mapping[str, float]], Incremental]] = {
    name: _factory(name, build) for name, build in sorted(_BUILDERS.items())
}
"""TA-Lib function name → factory taking TA-Lib's parameters by name (missing ones default)."""

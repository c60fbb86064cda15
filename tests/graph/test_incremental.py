"""Streaming indicators agree with TA-Lib bar for bar: fed one bar at a time from bar 0, each
returns what TA-Lib returns on the whole arrays, at every bar of every real data set we have."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import talib
from talib import abstract

from rulebot.graph.incremental import STREAMING, Incremental, Unsupported
from rulebot.graph.registry import by_talib_name

FUNDING = "xrp_usdt_perp_funding_8h.csv"  # funding rates, not candles


def _data_dir() -> Path:
    shared = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    if shared.is_dir():
        return shared
    return Path(__file__).resolve().parents[2] / "rulebot" / "data" / "candles"


DATA = _data_dir()
DATASETS = sorted(p.name for p in DATA.glob("*.csv") if p.name != FUNDING)

# At least one non-default setting per function with parameters (the defaults are always run):
# short and long periods, period 1 where TA-Lib allows it, every moving-average type streamed,
# unequal band widths, MACD's swapped periods.
SETTINGS: dict[str, list[dict[str, float]]] = {
    "AD": [],
    "ADOSC": [{"fastperiod": 5, "slowperiod": 20}],
    "ADX": [{"timeperiod": 5}, {"timeperiod": 2}],
    "ADXR": [{"timeperiod": 5}],
    "APO": [
        {"fastperiod": 5, "slowperiod": 20, "matype": 0},
        {"fastperiod": 20, "slowperiod": 5, "matype": 2},
    ],
    "AROON": [{"timeperiod": 5}],
    "AROONOSC": [{"timeperiod": 5}],
    "ATR": [{"timeperiod": 5}, {"timeperiod": 1}],
    "BBANDS": [
        {"timeperiod": 5, "nbdevup": 2.5, "nbdevdn": 1.5},
        *({"timeperiod": 7, "nbdevup": 1.0, "nbdevdn": 3.0, "matype": m} for m in range(1, 6)),
        {"timeperiod": 9, "nbdevup": 1.5, "nbdevdn": 1.5, "matype": 4},
        {"timeperiod": 10, "matype": 6},
        {"timeperiod": 4, "matype": 8},
    ],
    "CCI": [{"timeperiod": 5}, {"timeperiod": 40}],
    "CMO": [{"timeperiod": 5}, {"timeperiod": 2}],
    "DEMA": [{"timeperiod": 5}, {"timeperiod": 1}],
    "DX": [{"timeperiod": 5}, {"timeperiod": 2}],
    "EMA": [{"timeperiod": 5}, {"timeperiod": 1}],
    "KAMA": [{"timeperiod": 10}, {"timeperiod": 2}, {"timeperiod": 1}],
    "LINEARREG": [{"timeperiod": 5}, {"timeperiod": 2}],
    "LINEARREG_ANGLE": [{"timeperiod": 5}, {"timeperiod": 30}],
    "LINEARREG_INTERCEPT": [{"timeperiod": 5}],
    "LINEARREG_SLOPE": [{"timeperiod": 5}],
    "MA": [
        *({"timeperiod": 10, "matype": m} for m in (0, 1, 2, 3, 4, 5, 6)),
        {"timeperiod": 4, "matype": 8},
        {"timeperiod": 1, "matype": 3},
    ],
    "MACD": [
        {"fastperiod": 5, "slowperiod": 35, "signalperiod": 5},
        {"fastperiod": 26, "slowperiod": 12, "signalperiod": 1},
    ],
    "MACDFIX": [{"signalperiod": 5}, {"signalperiod": 1}],
    "MAX": [{"timeperiod": 5}, {"timeperiod": 2}],
    "MFI": [{"timeperiod": 5}, {"timeperiod": 2}],
    "MIDPOINT": [{"timeperiod": 5}],
    "MIDPRICE": [{"timeperiod": 5}],
    "MIN": [{"timeperiod": 5}],
    "MINMAX": [{"timeperiod": 5}],
    "MINUS_DI": [{"timeperiod": 5}, {"timeperiod": 1}],
    "MINUS_DM": [{"timeperiod": 5}, {"timeperiod": 1}],
    "MOM": [{"timeperiod": 1}, {"timeperiod": 20}],
    "NATR": [{"timeperiod": 5}, {"timeperiod": 1}],
    "PLUS_DI": [{"timeperiod": 5}, {"timeperiod": 1}],
    "PLUS_DM": [{"timeperiod": 5}, {"timeperiod": 1}],
    "PPO": [
        {"fastperiod": 5, "slowperiod": 20, "matype": 0},
        {"fastperiod": 3, "slowperiod": 8, "matype": 3},
    ],
    "ROC": [{"timeperiod": 1}],
    "ROCP": [{"timeperiod": 20}],
    "ROCR": [{"timeperiod": 3}],
    "ROCR100": [{"timeperiod": 3}],
    "RSI": [{"timeperiod": 5}, {"timeperiod": 2}],
    "SMA": [{"timeperiod": 5}, {"timeperiod": 50}],
    "STDDEV": [{"timeperiod": 10, "nbdev": 2.5}, {"timeperiod": 2}],
    "STOCH": [
        {
            "fastk_period": 14,
            "slowk_period": 5,
            "slowk_matype": 1,
            "slowd_period": 4,
            "slowd_matype": 2,
        }
    ],
    "STOCHF": [
        {"fastk_period": 14, "fastd_period": 5, "fastd_matype": 1},
        {"fastk_period": 1, "fastd_period": 1},
    ],
    "STOCHRSI": [{"timeperiod": 7, "fastk_period": 3, "fastd_period": 3, "fastd_matype": 1}],
    "SUM": [{"timeperiod": 5}],
    "T3": [
        {"timeperiod": 3, "vfactor": 0.31},
        {"timeperiod": 10, "vfactor": 0.9},
        {"timeperiod": 1},
    ],
    "TEMA": [{"timeperiod": 5}, {"timeperiod": 1}],
    "TRIMA": [{"timeperiod": 5}, {"timeperiod": 10}, {"timeperiod": 1}],
    "TRIX": [{"timeperiod": 5}, {"timeperiod": 1}],
    "TSF": [{"timeperiod": 5}],
    "VAR": [{"timeperiod": 10, "nbdev": 2.0}, {"timeperiod": 1}],
    "WILLR": [{"timeperiod": 5}],
    "WMA": [{"timeperiod": 5}, {"timeperiod": 2}],
}

CASES = [
    pytest.param(name, params, id=f"{name}-{'-'.join(f'{k}={v}' for k, v in params.items())}")
    for name in STREAMING
    for params in [{}, *SETTINGS.get(name, [])]
]


@cache
def candles(name: str) -> dict[str, np.ndarray]:
    table = np.genfromtxt(DATA / name, delimiter=",", names=True)
    return {
        c: np.ascontiguousarray(table[c], dtype=np.float64)
        for c in ("open", "high", "low", "close", "volume")
    }


@cache
def input_columns(name: str) -> tuple[str, ...]:
    """The candle column for each input, in the registry's order: the bar's own prices for the
    implicit ones, TA-Lib's default column (close; high and low for two series) for the rest."""
    defaults = [
        column
        for value in abstract.Function(name).info["input_names"].values()
        for column in (value if isinstance(value, list | tuple) else [value])
    ]
    inputs = by_talib_name(name).inputs
    assert len(inputs) == len(defaults)
    return tuple(spec.column or default for spec, default in zip(inputs, defaults, strict=True))


def stream(indicator: Incremental, arrays: list[np.ndarray]) -> np.ndarray:
    """Every bar through `update`, one at a time: a (bars, outputs) array."""
    rows = zip(*(a.tolist() for a in arrays), strict=True)
    return np.array([indicator.update(*bar) for bar in rows])


def talib_outputs(name: str, arrays: list[np.ndarray], params: Mapping[str, float]) -> np.ndarray:
    result = getattr(talib, name)(*arrays, **params)
    return np.column_stack(result if isinstance(result, tuple) else [result])


def assert_same(got: np.ndarray, want: np.ndarray, label: str) -> None:
    """NaN at exactly TA-Lib's bars; elsewhere within 1e-9 relative, and in fact bit-identical
    (every recurrence replays TA-Lib's operations in TA-Lib's order). No absolute tolerance is
    needed anywhere, not even where values cross zero (MOM, MACD, APO): the values are equal."""
    assert got.shape == want.shape, label
    nan_got, nan_want = np.isnan(got), np.isnan(want)
    wrong = np.flatnonzero((nan_got != nan_want).any(axis=1))
    assert wrong.size == 0, f"{label}: NaN where TA-Lib has none or vice versa, bars {wrong[:5]}"
    ok = ~nan_want
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-9, atol=0, err_msg=label)
    differ = np.flatnonzero(got[ok] != want[ok])
    assert differ.size == 0, (
        f"{label}: within 1e-9 but not bit-identical at {differ.size} values; "
        "TA-Lib's arithmetic changed, replay the new order"
    )


def test_there_are_data_sets() -> None:
    assert len(DATASETS) >= 5, DATA


@pytest.mark.parametrize(("name", "params"), CASES)
def test_streaming_matches_talib_on_every_data_set(name: str, params: dict[str, float]) -> None:
    for dataset in DATASETS:
        bars = candles(dataset)
        arrays = [bars[c] for c in input_columns(name)]
        want = talib_outputs(name, arrays, params)
        got = stream(STREAMING[name](params), arrays)
        assert_same(got, want, f"{name}{params} on {dataset}")


def test_every_function_with_parameters_is_tried_off_its_defaults() -> None:
    for name in STREAMING:
        if abstract.Function(name).info["parameters"]:
            assert SETTINGS.get(name), f"{name} is only tested with its defaults"


@pytest.mark.parametrize(
    "name",
    sorted(n for n in STREAMING if abstract.Function(n).info["group"] in {"Math Transform"}),
)
def test_math_transforms_match_talib_at_the_edges_of_their_domains(name: str) -> None:
    values = np.array(
        [
            *(0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, -2.5, 1e-300, 709.0, 710.0, -745.0, 1e6, -1e6),
            *np.linspace(-4.0, 4.0, 57).tolist(),
        ]
    )
    got = np.array([STREAMING[name]({}).update(v) for v in values.tolist()])
    want = np.column_stack([getattr(talib, name)(values)])
    for i in range(len(values)):  # each value on its own: out of the domain is NaN, not a skip
        assert_same(got[i : i + 1], want[i : i + 1], f"{name}({values[i]!r})")


# --- an indicator of an indicator starts where its input does ------------------------------------


@pytest.mark.parametrize("dataset", DATASETS)
def test_sma_of_rsi_matches_talib_on_an_input_that_starts_with_nans(dataset: str) -> None:
    close = candles(dataset)["close"]
    rsi = talib.RSI(close, 14)
    assert np.isnan(rsi[:14]).all()
    want = talib.SMA(rsi, 5)
    fed = stream(STREAMING["SMA"]({"timeperiod": 5}), [rsi])
    assert_same(fed, want[:, None], f"sma(rsi) on {dataset}")

    rsi_stream, sma_stream = (
        STREAMING["RSI"]({"timeperiod": 14}),
        STREAMING["SMA"]({"timeperiod": 5}),
    )
    chained = np.array([sma_stream.update(*rsi_stream.update(c)) for c in close.tolist()])
    assert_same(chained, want[:, None], f"sma(rsi) streamed end to end on {dataset}")


@pytest.mark.parametrize(
    ("name", "params", "inner"),
    [
        ("EMA", {"timeperiod": 10}, "macd"),
        ("BBANDS", {"timeperiod": 20}, "rsi"),
        ("MACD", {}, "rsi"),
        ("RSI", {"timeperiod": 7}, "macd"),
        ("STDDEV", {"timeperiod": 10}, "atr"),
        ("LINEARREG_SLOPE", {"timeperiod": 8}, "macd"),
        ("MAX", {"timeperiod": 8}, "atr"),
        ("WMA", {"timeperiod": 8}, "rsi"),
        ("TEMA", {"timeperiod": 4}, "atr"),
        ("ADD", {}, "close, rsi"),
        ("OBV", {}, "rsi, volume"),
        ("ATR", {"timeperiod": 5}, "rsi x3"),
    ],
)
def test_indicators_of_indicators_start_at_the_first_bar_without_nans(
    name: str, params: dict[str, float], inner: str
) -> None:
    for dataset in DATASETS:
        bars = candles(dataset)
        close, volume = bars["close"], bars["volume"]
        rsi = talib.RSI(close, 14)
        macd = talib.MACD(close)[1]  # the signal line: NaN for its first 33 bars
        atr = talib.ATR(bars["high"], bars["low"], close, 14)
        arrays = {
            "macd": [macd],
            "rsi": [rsi],
            "atr": [atr],
            "close, rsi": [close, rsi],
            "rsi, volume": [rsi, volume],
            "rsi x3": [rsi, rsi, rsi],
        }[inner]
        assert_same(
            stream(STREAMING[name](params), arrays),
            talib_outputs(name, arrays, params),
            f"{name}({inner}) on {dataset}",
        )


# --- bounded state -------------------------------------------------------------------------------


def state_size(obj: object, seen: set[int] | None = None) -> int:
    """How many values the object holds in containers (rings, deques, lists), its parts' included.
    Numbers and fixed tuples count nothing: this measures what could grow with history."""
    seen = set() if seen is None else seen
    if id(obj) in seen or isinstance(obj, int | float | str | tuple) or callable(obj):
        return 0
    seen.add(id(obj))
    if isinstance(obj, deque | list | set):
        return len(obj) + sum(state_size(item, seen) for item in obj)
    if isinstance(obj, dict):
        return len(obj) + sum(state_size(item, seen) for item in obj.values())
    names = {slot for cls in type(obj).__mro__ for slot in getattr(cls, "__slots__", ())}
    parts = [getattr(obj, slot) for slot in names if hasattr(obj, slot)]
    parts += list(getattr(obj, "__dict__", {}).values())
    return sum(state_size(part, seen) for part in parts)


def random_walk_bars(n: int, seed: int = 7) -> list[tuple[float, float, float, float, float]]:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1.0 + rng.uniform(0.0, 0.005, n))
    low = np.minimum(open_, close) * (1.0 - rng.uniform(0.0, 0.005, n))
    volume = rng.uniform(1.0, 1000.0, n)
    return list(zip(*(a.tolist() for a in (open_, high, low, close, volume)), strict=True))


COLUMN = {"open": 0, "high": 1, "low": 2, "close": 3, "volume": 4}


def state_bound(params: Mapping[str, float]) -> int:
    """A window of every period, a few times over (rings, extremes, smoothing stages)."""
    return 4 * int(sum(v for v in params.values() if float(v).is_integer())) + 16


@pytest.mark.parametrize("name", sorted(STREAMING))
def test_state_stays_within_a_few_windows(name: str) -> None:
    defaults = dict(abstract.Function(name).info["parameters"])
    indicator = STREAMING[name]({})
    columns = [COLUMN[c] for c in input_columns(name)]
    bound = state_bound(defaults)
    for t, bar in enumerate(random_walk_bars(5_000)):
        indicator.update(*(bar[c] for c in columns))
        if t % 500 == 0:
            assert state_size(indicator) <= bound, (name, t)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("SMA", {"timeperiod": 20}),
        ("BBANDS", {"timeperiod": 20}),
        ("CCI", {"timeperiod": 20}),
        ("LINEARREG", {"timeperiod": 20}),
        ("STOCH", {}),
        ("TRIMA", {"timeperiod": 20}),
        ("T3", {"timeperiod": 5}),
        ("MFI", {"timeperiod": 14}),
    ],
)
def test_state_stays_bounded_over_100k_bars(name: str, params: dict[str, float]) -> None:
    indicator = STREAMING[name](params)
    columns = [COLUMN[c] for c in input_columns(name)]
    bound = state_bound({**abstract.Function(name).info["parameters"], **params})
    sizes = {}
    out: tuple[float, ...] = ()
    for t, bar in enumerate(random_walk_bars(100_000), 1):
        out = indicator.update(*(bar[c] for c in columns))
        if t % 10_000 == 0:
            sizes[t] = state_size(indicator)
    assert all(math.isfinite(v) for v in out)
    assert max(sizes.values()) <= bound, sizes


# --- settings that cannot stream exactly are refused, with a reason ------------------------------


@pytest.mark.parametrize(
    ("name", "params", "reason"),
    [
        ("BBANDS", {"matype": 7}, "moving-average type 7"),  # MAMA
        ("MA", {"timeperiod": 10, "matype": 9}, "moving-average type 9"),  # HMA
        ("APO", {"matype": 13}, "moving-average type 13"),  # RMA
        ("SMA", {"timeperiod": 0}, "TA-Lib rejects"),
        ("SMA", {"timeperiod": 2.5}, "whole number"),
        ("RSI", {"period": 14}, "no parameter period"),
    ],
)
def test_unsupported_settings_are_refused_with_a_reason(
    name: str, params: dict[str, float], reason: str
) -> None:
    with pytest.raises(Unsupported, match=reason):
        STREAMING[name](params)


def test_a_global_unstable_period_is_refused() -> None:
    talib.set_unstable_period("EMA", 10)
    try:
        with pytest.raises(Unsupported, match="unstable period"):
            STREAMING["EMA"]({"timeperiod": 20})
    finally:
        talib.set_unstable_period("EMA", 0)
    STREAMING["EMA"]({"timeperiod": 20})


def test_unsupported_is_a_value_error() -> None:
    assert issubclass(Unsupported, ValueError)

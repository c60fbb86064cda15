"""Bar timeframes: the resolutions Lighter serves candles at, and their lengths in seconds."""

from __future__ import annotations

TIMEFRAMES: dict[str, int] = {
    "1m": 60,
    "5m": 300,
    "15m": 900,
    "30m": 1_800,
    "1h": 3_600,
    "4h": 14_400,
    "12h": 43_200,
    "1d": 86_400,
    "1w": 604_800,
}


def timeframe_seconds(text: str) -> int | None:
    """Seconds in one bar of `text` (e.g. `5m` → 300), or None if Lighter has no such candles."""
    return TIMEFRAMES.get(text)

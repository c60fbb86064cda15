"""Market data in: candle and funding-rate files, validated, and the real history rulebot ships."""

from rulebot.data.candles import (
    Aligned,
    Candles,
    DataError,
    DataProblem,
    FundingRates,
    align,
    find_gaps,
    load_candles,
    load_funding,
    shipped_candles,
    shipped_files,
    shipped_funding,
)

__all__ = [
    "Aligned",
    "Candles",
    "DataError",
    "DataProblem",
    "FundingRates",
    "align",
    "find_gaps",
    "load_candles",
    "load_funding",
    "shipped_candles",
    "shipped_files",
    "shipped_funding",
]

"""Options `rulebot backtest` and `rulebot optimize` both take, declared once so that the two
commands read their data, funding and config the same way and say so in the same words."""

from __future__ import annotations

from typing import Annotated

import typer

Days = Annotated[float | None, typer.Option("--days", help="Trade the last N days of data.")]
Data = Annotated[
    list[str] | None,
    typer.Option(
        "--data",
        help="Candles (CSV or Parquet): FILE for the strategy's market, or MARKET=FILE. "
        "Default: the candles the project ships.",
    ),
]
Funding = Annotated[
    str | None, typer.Option("--funding", help="Funding rates (timestamp,rate) for perps.")
]
Config = Annotated[
    str | None, typer.Option("--config", "-c", help="rulebot.yaml (fees, equity, sizes).")
]

"""The fill settings a backtest runs with, from rulebot.yaml: one source for the CLI and the API.

`rulebot backtest`, `rulebot optimize`, `rulebot.backtest()` and `rulebot.optimize.optimize()`
all read them here, so the same rule in the same folder reads the same figures whichever way it
is run: the file named, else ./rulebot.yaml when the folder holds one, else rulebot.yaml's
defaults (the fees a premium Lighter account pays).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rulebot.backtesting.fills import FillSettings

if TYPE_CHECKING:
    from rulebot.config import Risk

CONFIG_NAME = "rulebot.yaml"


class SettingsError(Exception):
    """A rulebot.yaml that cannot be read, in one readable message."""


def fill_settings(config: str | Path | None = None) -> FillSettings:
    """Fill settings from `config`, or from ./rulebot.yaml if the folder holds one."""
    from rulebot.config import Config, ConfigError, load_config

    path = config or (CONFIG_NAME if Path(CONFIG_NAME).is_file() else None)
    try:
        loaded = load_config(path, read_key=False) if path else Config()
    except ConfigError as problem:
        raise SettingsError(str(problem)) from None
    settings = loaded.backtest
    fills = FillSettings(
        fill_at=settings.fill_at,
        taker_fee=float(settings.taker_fee),
        maker_fee=float(settings.maker_fee),
        slippage_bps=float(settings.slippage_bps),
        lot_size=10.0**-settings.size_decimals,
        initial_equity=float(settings.initial_equity),
        periods_per_year=(
            None if settings.periods_per_year is None else float(settings.periods_per_year)
        ),
        end_of_data=settings.end_of_data,
        limit_fill=settings.limit_fill,
    )
    return with_account_risk(fills, loaded.risk)


def with_account_risk(settings: FillSettings, risk: Risk) -> FillSettings:
    """rulebot.yaml's account-wide `risk:` on top of the fill settings, as the live risk manager
    applies it to a one-strategy account: the order and position notional caps, leverage as a
    share of equity (a backtest's entry comes flat), and the loss limits and order count."""
    return replace(
        settings,
        max_notional=min(
            settings.max_notional, float(risk.max_order_notional), float(risk.max_position_notional)
        ),
        max_equity_share=min(settings.max_equity_share, float(risk.max_leverage)),
        risk=settings.risk.with_account(risk),
    )


__all__ = ["CONFIG_NAME", "SettingsError", "fill_settings", "with_account_risk"]

"""The fill settings a backtest runs with, from rulebot.yaml: one source for the CLI and the API.

`rulebot backtest`, `rulebot optimize`, `rulebot.backtest()` and `rulebot.optimize.optimize()`
all read them here, so the same rule in the same folder reads the same figures whichever way it
is run: the file named, else ./rulebot.yaml when the folder holds one, else rulebot.yaml's
defaults (the fees a premium Lighter account pays).
"""

from __future__ import annotations

from pathlib import Path

from rulebot.backtesting.fills import FillSettings

CONFIG_NAME = "rulebot.yaml"


class SettingsError(Exception):
    """A rulebot.yaml that cannot be read, in one readable message."""


def fill_settings(config: str | Path | None = None) -> FillSettings:
    """Fill settings from `config`, or from ./rulebot.yaml if the folder holds one."""
    from rulebot.config import Config, ConfigError, load_config

    path = config or (CONFIG_NAME if Path(CONFIG_NAME).is_file() else None)
    try:
        settings = load_config(path, read_key=False).backtest if path else Config().backtest
    except ConfigError as problem:
        raise SettingsError(str(problem)) from None
    return FillSettings(
        fill_at=settings.fill_at,
        taker_fee=float(settings.taker_fee),
        maker_fee=float(settings.maker_fee),
        slippage_bps=float(settings.slippage_bps),
        lot_size=10.0**-settings.size_decimals,
        initial_equity=float(settings.initial_equity),
    )


__all__ = ["CONFIG_NAME", "SettingsError", "fill_settings"]

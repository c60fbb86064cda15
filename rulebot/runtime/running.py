"""A strategy as the engine runs it: its live twin (single market or spread), its file, the bars
waiting for the rest of its markets, and a reloaded version waiting for the next bar."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from rulebot.lang import ir
from rulebot.runtime.messages import Bar
from rulebot.runtime.spread import LiveSpread
from rulebot.runtime.strategy import LiveStrategy

Live = LiveStrategy | LiveSpread


@dataclass
class Running:
    """A strategy the engine runs, with what it needs per bar."""

    live: Live
    path: str = ""
    waiting: dict[int, dict[str, Bar]] = field(default_factory=dict)  # bar time -> bars so far
    replacement: Live | None = None  # a reloaded version, swapped in at the next bar
    stopped: bool = False


def live_for(strategy: ir.Strategy, params: Mapping[str, float | bool] | None) -> Live:
    """The live twin of a compiled strategy: a spread when it trades several markets."""
    if len(strategy.markets) > 1:
        return LiveSpread(strategy, dict(params or {}))
    return LiveStrategy(strategy, dict(params or {}))

"""`rulebot explain`: options in, a strategy's decisions at the bars asked for printed.

Every failure a user can cause (a broken rule, bad data, a bad time) ends in a readable message
and a non-zero exit, never a traceback, as `rulebot backtest` does.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from rulebot.backtesting.cli import (
    USAGE_ERROR,
    UsageError,
    chosen_strategies,
    given_data,
    settings_from,
    utc_ms,
)
from rulebot.backtesting.engine import BacktestError, load_rules
from rulebot.backtesting.report import ReportError
from rulebot.data.candles import DataError
from rulebot.explain.decisions import explain
from rulebot.explain.render import decision_from_dict, decision_text


def run_explain(
    rules: str,
    *,
    data: list[str],
    config: str | None,
    strategy: str,
    at: str | None,
    last: int,
    as_json: bool,
) -> int:
    errors = Console(stderr=True, soft_wrap=True)
    try:
        if last < 1:
            raise UsageError("--last must be 1 or more")
        at_ms = moment(at)
        settings = settings_from(config)
        strategies = chosen_strategies(rules, strategy)
        given = given_data(data)
        shown: list[str] = []
        found: list[dict[str, object]] = []
        for each in strategies:
            explained = explain(each, given, settings=settings)
            end = len(explained) - 1 if at_ms is None else explained.bar_at(at_ms)
            if at_ms is not None and at_ms < int(explained.timestamp[0]):
                raise UsageError(f"--at {at} is before the first bar of the {each.name} data")
            header = f"  {'/'.join(each.markets)} {each.timeframe}"
            for index in range(max(end - last + 1, 0), end + 1):
                decision = explained.decision(index)
                shown.append(decision_text(decision, header))
                found.append(decision.to_dict())
        print(json.dumps(found, indent=2) if as_json else "\n\n".join(shown))
    except UsageError as problem:
        errors.print(f"rulebot explain: {problem}", markup=False, highlight=False)
        return USAGE_ERROR
    except (BacktestError, DataError, ReportError, OSError) as problem:
        errors.print(f"rulebot explain: {problem}", markup=False, highlight=False)
        return 1
    return 0


def run_explain_live(
    port: int, *, config: str | None, host: str | None, strategy: str, as_json: bool
) -> int:
    """`rulebot explain --port P`: the last decision of each strategy of the bot running there,
    read from its status API."""
    from rulebot.runtime.commands import StatusUnavailable, ask_status

    errors = Console(stderr=True, soft_wrap=True)
    try:
        status = ask_status(config, host, port)
    except StatusUnavailable as problem:
        errors.print(f"rulebot explain: {problem}", markup=False, highlight=False)
        return 1
    wanted = _names(strategy)
    running = [s for s in status.get("strategies", []) if wanted is None or s["name"] in wanted]
    if not running:
        asked = "" if wanted is None else f" named {', '.join(sorted(wanted))}"
        errors.print(f"rulebot explain: the bot runs no strategy{asked}", markup=False)
        return 1
    found = {s["name"]: s.get("decision") for s in running}
    if as_json:
        print(json.dumps(found, indent=2))
        return 0
    shown = []
    for name, decision in found.items():
        if decision is None:
            shown.append(f"{name}: no bar has closed since it started")
        else:
            shown.append(decision_text(decision_from_dict(decision)))
    print("\n\n".join(shown))
    return 0


def _names(rule: str) -> set[str] | None:
    """The strategies `RULE` names with --port: `all` (None), a rule file or folder's, or one
    strategy's name."""
    if rule == "all":
        return None
    if Path(rule).exists():
        try:
            return {s.name for s in load_rules(rule, include_disabled=True)}
        except BacktestError:
            return {Path(rule).stem}
    return {rule}


def moment(text: str | None) -> int | None:
    """`--at`: an ISO date or time (UTC unless it says otherwise), as ms."""
    return utc_ms(text, "--at", "a time like 2022-01-31T12:30")

"""`rulebot check`: is this machine ready to run the bot? One line per check, pass or fail, and
what to do about each failure.

In order: rulebot.yaml, the rules (lint's diagnostics, for live trading), the API key (where it
comes from, its file's permissions, its format), the venue (it answers and lists its markets),
the account (it exists), the API key again (the venue holds its public key: the SDK's
`check_client`), the balance, and the markets of rulebot.yaml and of every rule. A check that
cannot run because an earlier one failed is skipped, and says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final

import typer
from pydantic import SecretStr

from rulebot.config import (
    DEFAULT_API_KEY_INDEX,
    Config,
    ConfigError,
    load_config,
    quote_text,
)
from rulebot.lint import FileReport, UsageError, lint, render_text
from rulebot.secrets import (
    SecretsError,
    find_private_key,
    key_file_of,
    key_file_problem,
    key_format_problem,
)
from rulebot.venues.lighter.retry import RetryPolicy

if TYPE_CHECKING:  # the SDK takes seconds to import: only when a check talks to the venue
    from rulebot.venues.lighter.client import LighterVenue
    from rulebot.venues.lighter.records import AccountState
    from rulebot.venues.units import MarketInfo

ACCOUNT_NOT_FOUND: Final = 21100
CHECK_RETRY: Final = RetryPolicy(attempts=2, base_delay=0.2, max_delay=1.0)
_LONG_HEX: Final = re.compile(r"(?:0x)?[0-9a-fA-F]{32,}")


class Status(StrEnum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True, slots=True)
class Check:
    """One check's verdict: `message` says what was found, `fix` what to do when it failed,
    `details` the diagnostics behind it (lint's text), if any."""

    name: str
    status: Status
    message: str
    fix: str | None = None
    details: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule file that compiled: its strategy's name and every market it reads."""

    path: str
    name: str
    markets: frozenset[str]
    enabled: bool


def render(checks: Sequence[Check]) -> str:
    """The report: one line per check, a `fix:` under each failure, diagnostics indented."""
    width = max((len(check.name) for check in checks), default=0)
    lines: list[str] = []
    for check in checks:
        lines.append(f"{check.status.value}  {check.name:<{width}}  {check.message}")
        if check.fix and check.status in (Status.FAIL, Status.WARN):
            lines.append(f"{'':6}{'':<{width}}  fix: {check.fix}")
        if check.details:
            lines += [f"{'':6}{line}".rstrip() for line in check.details.rstrip().splitlines()]
    counts = {status: sum(check.status is status for check in checks) for status in Status}
    verdict = "FAILED" if counts[Status.FAIL] else "ready"
    lines.append(
        f"{verdict}: {counts[Status.PASS]} passed, {counts[Status.FAIL]} failed, "
        f"{_count(counts[Status.WARN], 'warning')}, {counts[Status.SKIP]} skipped"
    )
    return "\n".join(lines) + "\n"


def exit_code(checks: Sequence[Check]) -> int:
    """0 when nothing failed (warnings and skips allowed), else 1."""
    return 1 if any(check.status is Status.FAIL for check in checks) else 0


async def run_checks(
    config_path: str | Path | None,
    rule_paths: Sequence[str | Path] = ("rules",),
    env: Mapping[str, str] = os.environ,
) -> list[Check]:
    """Every check, in order. `config_path` None means ./rulebot.yaml if there is one, else the
    defaults; the key comes from `env` or the key file rulebot.yaml names."""
    checks: list[Check] = []
    add = checks.append
    config, path = _check_config(config_path, add)
    rules = _check_rules(rule_paths, add)
    if config is None:
        for name in ("key", "venue", "account", "api key", "balance", "markets"):
            add(Check(name, Status.SKIP, "skipped: rulebot.yaml must load first"))
        return checks
    key = _check_key(config, path, env, add)
    await _check_venue(config, key, rules, add)
    return checks


# --- config and rules -------------------------------------------------------------------------


def _check_config(
    config_path: str | Path | None, add: Callable[[Check], None]
) -> tuple[Config | None, Path | None]:
    if config_path is None and not Path("rulebot.yaml").exists():
        add(
            Check(
                "config",
                Status.PASS,
                "no rulebot.yaml here: the defaults apply (network sim, dry run)",
            )
        )
        return Config(), None
    path = Path(config_path or "rulebot.yaml")
    try:
        config = load_config(path, read_key=False)
    except ConfigError as error:
        add(
            Check(
                "config",
                Status.FAIL,
                f"{path} has {_count(len(error.diagnostics), 'problem')}",
                fix="correct the lines shown (`rulebot lint` prints the same)",
                details=str(error),
            )
        )
        return None, path
    mode = "dry run" if config.dry_run else "LIVE"
    add(
        Check(
            "config",
            Status.PASS,
            f"{path} is valid: {config.network.name} (chain id "
            f"{config.network.signing_chain_id}), account {config.account.index}, "
            f"API key index {config.account.api_key_index}, {mode}",
        )
    )
    return config, path


def _check_rules(paths: Sequence[str | Path], add: Callable[[Check], None]) -> list[Rule]:
    shown = " ".join(str(path) for path in paths)
    try:
        reports = lint(paths, live=True)
    except UsageError as error:
        add(
            Check(
                "rules",
                Status.FAIL,
                str(error),
                fix="give the rule files or folder: rulebot check rules/my.rule",
            )
        )
        return []
    reports = [report for report in reports if not report.is_config]
    rules = [rule for report in reports if (rule := _rule_of(report)) is not None]
    errors = sum(report.errors for report in reports)
    warnings = sum(report.warnings for report in reports)
    noisy = [report for report in reports if report.diagnostics]
    details = render_text(noisy).rsplit("\n\n", 1)[0] if noisy else None
    if errors:
        broken = sum(1 for report in reports if report.errors)
        add(
            Check(
                "rules",
                Status.FAIL,
                f"{_count(broken, 'rule file')} of {len(reports)} in {shown} "
                f"{'has' if broken == 1 else 'have'} errors ({_count(errors, 'error')})",
                fix="correct the lines shown; the bot does not start a rule with errors",
                details=details,
            )
        )
        return rules
    names = ", ".join(rule.name for rule in rules) or "none"
    message = f"{_count(len(reports), 'rule file')} compile for live trading: {names}"
    if warnings:
        add(
            Check(
                "rules",
                Status.WARN,
                f"{message}; {_count(warnings, 'warning')}",
                fix="read the warnings shown",
                details=details,
            )
        )
    else:
        add(Check("rules", Status.PASS, message))
    return rules


def _rule_of(report: FileReport) -> Rule | None:
    if report.errors or report.source is None:
        return None
    from rulebot.lang.load import compile_file

    strategy = compile_file(report.path, live=True).strategy
    if strategy is None:
        return None
    markets = frozenset(market for market, _ in strategy.feeds) or frozenset(strategy.markets)
    return Rule(report.path, strategy.name, markets, strategy.enabled)


# --- the key ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Key:
    """The key to connect with, and whether it is the account's own (worth checking)."""

    key: SecretStr | None
    usable: bool


def _check_key(
    config: Config, path: Path | None, env: Mapping[str, str], add: Callable[[Check], None]
) -> _Key:
    key_file = key_file_of(config.account.key_file, path) if path is not None else None
    exposed = key_file_problem(key_file) if key_file is not None else None
    try:
        found = find_private_key(env, key_file)
    except SecretsError as error:
        add(Check("key", Status.FAIL, str(error), fix=error.fix))
        return _Key(None, usable=False)
    if exposed is not None:  # the environment's key wins, but the file still leaks one
        add(Check("key", Status.FAIL, str(exposed), fix=exposed.fix))
        return _Key(None, usable=False)
    network = config.network.name
    if found.key is None:
        if network == "sim":
            add(Check("key", Status.PASS, "no API key: none needed on the sim"))
        elif config.dry_run:
            add(
                Check(
                    "key",
                    Status.WARN,
                    f"no API key: enough for a dry run, but a live run on {network} needs one",
                    fix="run `rulebot init`, or set RULEBOT_API_PRIVATE_KEY",
                )
            )
        else:
            add(
                Check(
                    "key",
                    Status.FAIL,
                    f"no API private key, and rulebot.yaml trades live on {network}",
                    fix="run `rulebot init` to store it in a 0600 key file, "
                    "or set RULEBOT_API_PRIVATE_KEY",
                )
            )
        return _Key(None, usable=False)
    problem = key_format_problem(found.key)
    if problem is not None:
        index = config.account.api_key_index
        add(
            Check(
                "key",
                Status.FAIL,
                f"{problem} (from {found.origin})",
                fix=f"copy the private key Lighter showed when API key index {index} was "
                "created (never your wallet key)",
            )
        )
        return _Key(None, usable=False)
    add(Check("key", Status.PASS, f"API private key from {found.origin}: format ok"))
    return _Key(found.key, usable=True)


# --- the venue, the account, the markets -------------------------------------------------------


@contextlib.asynccontextmanager
async def open_venue(
    network: str,
    url: str | None,
    *,
    account_index: int = 1,
    api_key_index: int = DEFAULT_API_KEY_INDEX,
    key: SecretStr | None = None,
    request_timeout: float = 10.0,
    chain_id: int | None = None,
) -> AsyncIterator[tuple[LighterVenue, str, bool]]:
    """A connected venue, its URL, and whether it is a sim started here for the purpose (for
    `sim` without a URL, as `rulebot run` would). Without a key, a throwaway one signs: reads
    need no key of the account's."""
    from rulebot.venues.lighter.client import LighterVenue

    async with contextlib.AsyncExitStack() as stack:
        local = network == "sim" and url is None
        if local:
            from rulebot.venues.sim.serving import serve_sim
            from rulebot.venues.sim.settings import SimSettings

            running = await stack.enter_async_context(
                serve_sim(SimSettings(speed=0), host="127.0.0.1", port=0)
            )
            url = running.url
        if key is None:
            from lighter.signer_client import create_api_key

            key = SecretStr(create_api_key()[0])
        venue = LighterVenue(
            network,
            url=url,
            account_index=account_index,
            api_key_index=api_key_index,
            private_key=key,
            retry=CHECK_RETRY,
            request_timeout=request_timeout,
            chain_id=chain_id,
        )
        await stack.enter_async_context(venue)
        yield venue, venue.url, local


async def _check_venue(
    config: Config, key: _Key, rules: list[Rule], add: Callable[[Check], None]
) -> None:
    network, url = config.network.name, config.network.base_url
    account, key_index = config.account.index, config.account.api_key_index
    later = ("account", "api key", "balance", "markets")
    try:
        venue_context = open_venue(
            network,
            url,
            account_index=account,
            api_key_index=key_index,
            key=key.key,
            chain_id=config.network.signing_chain_id,
        )
        async with venue_context as (venue, url, local):
            markets = await venue.markets()
            where = f"the local sim (started here, {url})" if local else url
            symbols = ", ".join(market.symbol for market in markets)
            add(Check("venue", Status.PASS, f"{where} answers: {len(markets)} markets ({symbols})"))
            state = await _check_account(venue, account, add)
            if state is None:
                for name in later[1:3]:
                    add(Check(name, Status.SKIP, f"skipped: no account {account} to check"))
            else:
                await _check_api_key(venue, config, key, local, add)
                _check_balance(state, add)
            _check_markets(config, markets, rules, add)
    except Exception as error:  # whatever stopped the venue answering, said in one line
        add(_unreachable(network, url, error))
        for name in later:
            add(Check(name, Status.SKIP, "skipped: the venue did not answer"))


def _unreachable(network: str, url: str | None, error: Exception) -> Check:
    if network == "sim" and url is not None:
        fix = f"start it (`rulebot sim --port {_port(url)}`), or correct network.url"
    elif url is None:
        fix = "see the error; `rulebot sim` alone shows whether the local sim can start"
    else:
        fix = f"check this machine's connection to {url}, or correct network.url"
    return Check("venue", Status.FAIL, f"{url or 'the local sim'}: {_clean(str(error))}", fix=fix)


def _port(url: str) -> str:
    tail = url.rsplit(":", 1)[-1].split("/", 1)[0]
    return tail if tail.isdigit() else "8787"


async def _check_account(
    venue: LighterVenue, account: int, add: Callable[[Check], None]
) -> AccountState | None:
    from rulebot.venues.lighter.errors import VenueError

    try:
        state = await venue.account()
    except VenueError as error:
        code = getattr(error, "code", None)
        if code == ACCOUNT_NOT_FOUND or "no account" in str(error):
            message = f"the venue has no account {account}"
            fix = (
                "set account.index to your account's index (Lighter shows it; "
                "/api/v1/accountsByL1Address finds it from your wallet address)"
            )
        else:
            message = f"cannot read account {account}: {_clean(str(error))}"
            fix = "run `rulebot check` again; if it persists, the venue has a problem"
        add(Check("account", Status.FAIL, message, fix=fix))
        return None
    add(Check("account", Status.PASS, f"account {account} exists"))
    return state


async def _check_api_key(
    venue: LighterVenue, config: Config, key: _Key, local: bool, add: Callable[[Check], None]
) -> None:
    account, index = config.account.index, config.account.api_key_index
    if local:
        add(Check("api key", Status.SKIP, "skipped: the local sim checks no signature"))
        return
    if not key.usable:
        add(Check("api key", Status.SKIP, "skipped: no usable API private key (see `key`)"))
        return
    error = await asyncio.to_thread(venue.signer.check_client)  # blocks on its own HTTP call
    if error is None:
        message = f"API key index {index} of account {account} matches the private key"
        add(Check("api key", Status.PASS, message))
        return
    text = str(error)
    if "does not match" in text:
        message = (
            f"the private key does not match API key index {index} of account {account} "
            "(the venue holds another public key there)"
        )
        fix = (
            f"use the private key of API key index {index}, or set account.api_key_index to "
            "the index this key belongs to (`rulebot init` stores a new one)"
        )
    elif "no api key" in text.lower():
        if config.network.name == "sim":  # the sim checks no signature: any key signs there
            message = (
                f"skipped: the sim holds no public key at index {index} of account {account}, "
                "so it takes any key there (it checks no signature)"
            )
            add(Check("api key", Status.SKIP, message))
            return
        message = f"account {account} has no API key at index {index}"
        fix = "create an API key on Lighter and use its index and private key"
    else:
        message = f"could not check the key: {_clean(text)}"
        fix = "run `rulebot check` again; if it persists, check account.index and api_key_index"
    add(Check("api key", Status.FAIL, message, fix=fix))


def _check_balance(state: AccountState, add: Callable[[Check], None]) -> None:
    held = sum(1 for position in state.positions if position.size != 0)
    message = (
        f"equity {_money(state.equity)}, available {_money(state.available_balance)}, "
        f"{_count(held, 'open position')}"
    )
    if state.equity <= 0:
        add(
            Check(
                "balance",
                Status.FAIL,
                message,
                fix=f"deposit USDC into account {state.account_index} before trading live",
            )
        )
    elif state.available_balance <= 0:
        add(
            Check(
                "balance",
                Status.WARN,
                message,
                fix="no margin is free for new entries: close positions or deposit USDC",
            )
        )
    else:
        add(Check("balance", Status.PASS, message))


def _check_markets(
    config: Config,
    markets: Sequence[MarketInfo],
    rules: list[Rule],
    add: Callable[[Check], None],
) -> None:
    listed = {market.symbol for market in markets}
    allowed = [market.symbol for market in config.markets]
    missing = [symbol for symbol in allowed if _resolve(markets, symbol) is None]
    if missing:
        add(
            Check(
                "markets",
                Status.WARN,
                f"the config lists {', '.join(missing)}, which the venue does not",
                fix="remove them from `markets:`, or correct the symbols "
                f"(the venue lists {', '.join(sorted(listed))})",
            )
        )
    else:
        add(Check("markets", Status.PASS, f"the config's markets exist: {', '.join(allowed)}"))
    for rule in rules:
        add(_rule_markets(rule, markets, set(allowed)))


def _rule_markets(rule: Rule, markets: Sequence[MarketInfo], allowed: set[str]) -> Check:
    name = f"rule {rule.name}"
    unknown = []
    for symbol in sorted(rule.markets):
        if _resolve(markets, symbol) is None:
            hint = _suggestion(markets, symbol)
            unknown.append(symbol + (f" (did you mean {hint}?)" if hint else ""))
    if unknown:
        return Check(
            name,
            Status.FAIL,
            f"{rule.path} trades {', '.join(unknown)}: not on the venue",
            fix="correct the rule's `market`, or trade it on a venue that lists it",
        )
    outside = sorted(rule.markets - allowed)
    if outside and rule.enabled:
        return Check(
            name,
            Status.WARN,
            f"{rule.path} trades {', '.join(outside)}, which rulebot.yaml's markets do not list: "
            "the bot will not start it",
            fix=f"add {', '.join(outside)} under `markets:` in rulebot.yaml",
        )
    state = "" if rule.enabled else " (disabled)"
    return Check(name, Status.PASS, f"{', '.join(sorted(rule.markets))} on the venue{state}")


def _resolve(markets: Sequence[MarketInfo], symbol: str) -> MarketInfo | None:
    from rulebot.venues.lighter.errors import UnknownMarket
    from rulebot.venues.lighter.markets import MarketDirectory

    try:
        return MarketDirectory(markets).resolve(symbol)
    except UnknownMarket:
        return None


def _suggestion(markets: Sequence[MarketInfo], symbol: str) -> str | None:
    from rulebot.lang.suggest import did_you_mean

    return did_you_mean(symbol, [market.symbol for market in markets])


# --- words ----------------------------------------------------------------------------------


def _money(amount: Decimal) -> str:
    return quote_text(amount.quantize(Decimal("0.01")))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _clean(text: str) -> str:
    """An error's text, on one line, with any long hex (a key, public or not) masked."""
    one_line = " ".join(text.split())
    return _LONG_HEX.sub("<hex>", one_line)


def check_command(
    config_path: str | None,
    rule_paths: Sequence[str],
    say: Callable[[str], None] = print,
    env: Mapping[str, str] = os.environ,
) -> int:
    """`rulebot check`: print every check and the summary; return the exit code."""
    checks = asyncio.run(run_checks(config_path, rule_paths or ("rules",), env))
    say(render(checks).rstrip("\n"))
    return exit_code(checks)


def check_cli(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Rule files or folders. Default: rules/.", show_default=False),
    ] = None,
    config: Annotated[
        str | None,
        typer.Option("--config", "-c", help="rulebot.yaml (default: ./rulebot.yaml, if there)."),
    ] = None,
) -> None:
    """Check the bot is ready to run: config, rules, key, venue, account, balance, markets."""
    raise typer.Exit(check_command(config, paths or ["rules"], typer.echo))


__all__ = [
    "Check",
    "Status",
    "check_cli",
    "check_command",
    "exit_code",
    "open_venue",
    "render",
    "run_checks",
]

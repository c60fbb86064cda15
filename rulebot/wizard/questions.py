"""The questions of `rulebot init`, in order: each answer from a flag, a prompt or a default,
checked the way rulebot.yaml will read it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pydantic import SecretStr

from rulebot.config import (
    API_KEY_INDEXES,
    BASE_URLS,
    DEFAULT_API_KEY_INDEX,
    PRIVATE_KEY_ENV,
    Risk,
    api_key_index_problem,
    percent_text,
    quote_text,
)
from rulebot.lang.suggest import did_you_mean
from rulebot.secrets import (
    DEFAULT_KEY_FILE,
    SecretsError,
    key_format_problem,
    read_key_file,
)
from rulebot.wizard import answers
from rulebot.wizard.plan import NETWORKS, InitError, InitOptions, Plan, RiskAnswers, RuleChoice
from rulebot.wizard.prompts import Option, Prompts

if TYPE_CHECKING:  # the SDK takes seconds to import: only once markets are listed
    from rulebot.venues.units import MarketInfo

SAFE_RISK: Final = {  # mainnet starts small: raise the limits once the live record is good
    "max_position": "1000 USDC",
    "max_order": "250 USDC",
    "max_leverage": "2",
    "max_daily_loss": "2%",
    "max_drawdown": "10%",
}
_DEFAULT = Risk()
DEFAULT_RISK: Final = {
    "max_position": quote_text(_DEFAULT.max_position_notional),
    "max_order": quote_text(_DEFAULT.max_order_notional),
    "max_leverage": f"{_DEFAULT.max_leverage.normalize():f}",
    "max_daily_loss": str(_DEFAULT.max_daily_loss),
    "max_drawdown": percent_text(_DEFAULT.max_drawdown),
}


class Wizard:
    """One run of the questions, in order; each answer from a flag, a prompt or a default."""

    def __init__(
        self,
        options: InitOptions,
        prompts: Prompts | None,
        say: Callable[[str], None],
        env: Mapping[str, str],
        read_stdin: Callable[[], str] | None,
    ) -> None:
        self.options, self.prompts, self.say, self.env = options, prompts, say, env
        self.read_stdin = read_stdin
        self.notes: list[str] = []

    def plan(self) -> Plan:
        options = self.options
        if options.config_path.exists() and not options.force:
            raise InitError(
                f"{options.config_path} already exists: pass --force to replace it "
                "(or -c to write another file)"
            )
        network = self._network()
        local_sim = network == "sim" and options.url is None
        key_file, new_key = self._key(network)
        account, key_index = self._account(network, local_sim)
        markets = self._venue_markets(network)
        rules = self._rules(markets)
        chosen = self._strategies(rules)
        return Plan(
            network=network,
            url=options.url,
            account_index=account,
            api_key_index=key_index,
            key_file=key_file,
            new_key=new_key,
            strategies=chosen,
            rules_dir=options.rules_dir,
            every_rule=bool(chosen) and len(chosen) == len(rules),
            markets=self._markets(markets, chosen),
            risk=self._risk(network),
            dry_run=self._dry_run(),
            notes=self.notes,
        )

    # each question

    def _network(self) -> str:
        if self.options.network is not None:
            if self.options.network not in NETWORKS:
                raise InitError(f"--network is one of {', '.join(NETWORKS)}")
            return self.options.network
        if self.prompts is None:
            return "sim"
        options = [
            Option("sim", "sim      a local exchange replaying real candles: no key, no money"),
            Option("testnet", "testnet  Lighter's test exchange: play money, a real API key"),
            Option("mainnet", "mainnet  Lighter itself: REAL MONEY"),
        ]
        return self.prompts.select("Which network will the bot trade on?", options, "sim")

    def _key(self, network: str) -> tuple[Path | None, SecretStr | None]:
        """Where the key will come from: (key file for rulebot.yaml, a new key to store in it)."""
        options = self.options
        if options.key_stdin:
            return self._key_from_stdin()
        if options.key_file is not None:
            return self._named_key_file(Path(options.key_file))
        if network == "sim":
            return None, None
        default_file = options.config_path.parent / DEFAULT_KEY_FILE
        env_has_key = bool(self.env.get(PRIVATE_KEY_ENV, "").strip())
        if self.prompts is None:
            if not env_has_key:
                self.notes.append(
                    f"no API key given: set {PRIVATE_KEY_ENV} before `rulebot run --live`, "
                    f"or run `rulebot init --key-stdin` to store one in {default_file}"
                )
            return None, None
        choices = [
            Option("file", f"store it in {default_file}, a file only you can read (0600)"),
            Option(
                "env",
                f"read it from {PRIVATE_KEY_ENV}"
                + (" (set now)" if env_has_key else " (you set it before each run)"),
            ),
        ]
        default = "env" if env_has_key else "file"
        if default_file.exists():
            choices.insert(0, Option("existing", f"use the key already in {default_file}"))
            default = "existing"
        where = self.prompts.select(
            "Where should rulebot find the API private key?", choices, default
        )
        if where == "existing":
            return self._named_key_file(default_file)
        if where == "env":
            return None, None
        return Path(DEFAULT_KEY_FILE), self._ask_key()

    def _ask_key(self) -> SecretStr:
        assert self.prompts is not None
        answer = self.prompts.secret(
            "API private key (Lighter showed it when you created the API key; input is hidden):",
            key_format_problem,
        )
        return SecretStr(answer)

    def _key_from_stdin(self) -> tuple[Path | None, SecretStr | None]:
        options = self.options
        target = Path(options.key_file) if options.key_file else None
        shown = target or options.config_path.parent / DEFAULT_KEY_FILE
        if shown.exists() and not options.force:
            raise InitError(f"{shown} already exists: pass --force to replace the key in it")
        if self.read_stdin is None:
            raise InitError("--key-stdin: no standard input to read the key from")
        key = self.read_stdin().strip()
        problem = key_format_problem(key)
        if problem is not None:
            raise InitError(f"the key read from standard input: {problem}")
        return (self._relative(target) if target else Path(DEFAULT_KEY_FILE)), SecretStr(key)

    def _named_key_file(self, path: Path) -> tuple[Path | None, SecretStr | None]:
        if not path.exists():
            if self.prompts is None:
                raise InitError(
                    f"key file {path} does not exist: create it, or give the key with --key-stdin"
                )
            return self._relative(path), self._ask_key()
        try:
            key = read_key_file(path)
        except SecretsError as error:
            raise InitError(f"{error} (fix: {error.fix})") from None
        problem = key_format_problem(key)
        if problem is not None:
            raise InitError(f"key file {path}: {problem}")
        return self._relative(path), None

    def _relative(self, path: Path) -> Path:
        """`path` as rulebot.yaml should name it: relative to rulebot.yaml's folder if it can."""
        folder = self.options.config_path.parent.resolve()
        try:
            return Path(os.path.relpath(path.resolve(), folder))
        except ValueError:  # another drive (Windows)
            return path.resolve()

    def _account(self, network: str, local_sim: bool) -> tuple[int, int]:
        options = self.options
        if options.api_key_index is not None:
            problem = api_key_index_problem(options.api_key_index)
            if problem is not None:
                raise InitError(f"--api-key-index {problem[0]}: {problem[1]}")
        if local_sim:  # the sim rulebot starts has one trader account, 1, taking any key
            return options.account_index or 1, options.api_key_index or DEFAULT_API_KEY_INDEX
        account = options.account_index
        if account is None:
            if self.prompts is None:
                if network != "sim":
                    raise InitError(f"give --account-index: the index of your {network} account")
                account = 1
            else:
                answer = self.prompts.text(
                    "Account index (Lighter shows it with your account):",
                    "1" if network == "sim" else "",
                    answers.whole_number(1, 2**63 - 1),
                )
                account = int(answer)
        elif account < 1:
            raise InitError("--account-index is 1 or more")
        index = options.api_key_index
        if index is None:
            if self.prompts is None:
                if network != "sim":
                    raise InitError(
                        "give --api-key-index: the index of the bot's API key "
                        f"({API_KEY_INDEXES[0]}-{API_KEY_INDEXES[-1]})"
                    )
                index = DEFAULT_API_KEY_INDEX
            else:
                answer = self.prompts.text(
                    "API key index (2-254; 0 and 1 are the Lighter apps' own keys):",
                    str(DEFAULT_API_KEY_INDEX),
                    answers.api_key_index,
                )
                index = int(answer)
        return account, index

    def _venue_markets(self, network: str) -> list[MarketInfo]:
        from rulebot.checks import open_venue

        async def listed() -> list[MarketInfo]:
            async with open_venue(network, self.options.url) as (venue, _url, _local):
                return list(await venue.markets())

        where = self.options.url or BASE_URLS.get(network) or "the local sim"
        self.say(f"Reading the markets of {network} ({where}) ...")
        try:
            return asyncio.run(listed())
        except Exception as error:
            raise InitError(
                f"cannot list the markets of {network} at {where}: {error}; check the connection "
                "(or --url), then run rulebot init again"
            ) from None

    def _rules(self, markets: list[MarketInfo]) -> list[RuleChoice]:
        from rulebot.lang.load import compile_file
        from rulebot.lint import UsageError, discover

        try:
            paths = discover([self.options.rules_dir])
        except UsageError:
            return []
        listed = {market.symbol for market in markets}
        rules = []
        for path in paths:
            compiled = compile_file(path, live=True)
            strategy = compiled.strategy
            if strategy is None or not compiled.ok:
                rules.append(RuleChoice(path, path.stem, (), "has errors: see `rulebot lint`"))
                continue
            needs = tuple(sorted({market for market, _ in strategy.feeds}))
            absent = [market for market in needs if market not in listed]
            problem = None
            if absent:
                problem = f"trades {', '.join(absent)}, which the venue does not list"
            elif not strategy.enabled:
                problem = "disabled in its file (`enabled false`)"
            rules.append(RuleChoice(path, strategy.name, needs, problem))
        return rules

    def _strategies(self, rules: list[RuleChoice]) -> list[RuleChoice]:
        usable = [rule for rule in rules if rule.problem is None]
        asked = self.options.strategies
        if not rules:
            if asked not in (None, "all"):
                raise InitError(f"no rule files in {self.options.rules_dir}")
            self.notes.append(f"no rule files in {self.options.rules_dir}: add some, then run them")
            return []
        if asked is not None or self.prompts is None:
            if asked is None or asked.strip().lower() == "all":
                return usable
            return [_rule_named(name, rules) for name in answers.items(asked)]
        choices = [
            Option(
                rule.name,
                f"{rule.name:<16} {', '.join(rule.markets):<10} {rule.path}",
                checked=rule.problem is None,
                disabled=rule.problem,
            )
            for rule in rules
        ]

        def at_least_one(chosen: list[str]) -> str | None:
            return None if chosen else "choose at least one strategy (space to tick)"

        names = self.prompts.checkbox(
            "Which strategies should the bot run? (space ticks, enter accepts)",
            choices,
            at_least_one,
        )
        return [rule for rule in usable if rule.name in names]

    def _markets(self, markets: list[MarketInfo], chosen: list[RuleChoice]) -> list[str]:
        from rulebot.venues.lighter.errors import UnknownMarket
        from rulebot.venues.lighter.markets import MarketDirectory

        directory = MarketDirectory(markets)
        needed = {market for rule in chosen for market in rule.markets}

        def missing(symbols: Sequence[str]) -> str | None:
            if not symbols:
                return "choose at least one market"
            for rule in chosen:
                absent = [market for market in rule.markets if market not in symbols]
                if absent:
                    return f"{rule.name} trades {', '.join(absent)}: keep it in the list"
            return None

        def in_venue_order(symbols: set[str]) -> list[str]:
            return [market.symbol for market in directory if market.symbol in symbols]

        if self.options.markets is not None:
            picked = []
            for item in answers.items(self.options.markets):
                try:
                    picked.append(directory.resolve(item).symbol)
                except UnknownMarket as error:
                    raise InitError(f"--markets: {error}") from None
            problem = missing(picked)
            if problem is not None:
                raise InitError(f"--markets: {problem}")
            return list(dict.fromkeys(picked))
        if self.prompts is None:
            if not needed:
                raise InitError("give --markets: no strategy was chosen to take them from")
            return in_venue_order(needed)
        choices = [
            Option(
                market.symbol,
                f"{market.symbol:<10} market {market.market_id}",
                checked=market.symbol in needed,
            )
            for market in directory
        ]
        picked = self.prompts.checkbox(
            "Which markets may the bot trade? (the strategies' own are ticked)", choices, missing
        )
        return in_venue_order(set(picked))

    def _risk(self, network: str) -> RiskAnswers:
        defaults = SAFE_RISK if network == "mainnet" else DEFAULT_RISK
        position = self._limit(
            "size",
            "Largest position the bot may hold, all markets together (USDC):",
            defaults["max_position"],
            answers.quote_amount,
        )
        order_default = min(answers.quote_amount(defaults["max_order"]), position)
        order = self._limit(
            "max_order",
            "Largest single order (USDC):",
            quote_text(order_default),
            answers.quote_amount,
            lambda amount: (
                None
                if amount <= position
                else f"at most the largest position, {quote_text(position)}"
            ),
        )
        leverage = self._limit(
            "max_leverage",
            "Most leverage: total position / equity (e.g. 3):",
            defaults["max_leverage"],
            answers.leverage,
        )
        daily = self._limit(
            "max_daily_loss",
            "Daily loss that stops new entries (a share of equity like 5%, or 500 USDC):",
            defaults["max_daily_loss"],
            answers.loss_limit,
        )
        drawdown = self._limit(
            "max_drawdown",
            "Drawdown from the highest equity that stops new entries (e.g. 20%):",
            defaults["max_drawdown"],
            answers.percent,
        )
        return RiskAnswers(position, order, leverage, daily, drawdown)

    def _limit(
        self,
        flag: str,
        question: str,
        default: str,
        parse: Callable[[str], Any],
        also: Callable[[Any], str | None] | None = None,
    ) -> Any:
        def problem(text: str) -> str | None:
            try:
                value = parse(text)
            except ValueError as error:
                return str(error)
            return also(value) if also is not None else None

        given = getattr(self.options, flag)
        if given is None and self.prompts is not None:
            given = self.prompts.text(question, default, problem)
        text = default if given is None else given
        wrong = problem(text)
        if wrong is not None:
            raise InitError(f"--{flag.replace('_', '-')} {text!r}: {wrong}")
        return parse(text)

    def _dry_run(self) -> bool:
        if self.options.dry_run is not None:
            return self.options.dry_run
        if self.prompts is None:
            return True
        return self.prompts.confirm(
            "Start in dry run (live prices, simulated fills; `rulebot run --live` trades)?",
            default=True,
        )


def _rule_named(name: str, rules: list[RuleChoice]) -> RuleChoice:
    for rule in rules:
        if rule.name == name or rule.path.stem == name:
            if rule.problem is not None:
                raise InitError(f"--strategies: {rule.name} {rule.problem}")
            return rule
    hint = did_you_mean(name, [rule.name for rule in rules])
    known = ", ".join(rule.name for rule in rules)
    raise InitError(
        f"--strategies: no strategy {name!r}"
        + (f"; did you mean {hint!r}?" if hint else f" (there are: {known})")
    )

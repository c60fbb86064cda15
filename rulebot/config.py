"""rulebot.yaml: the typed settings of a bot, and located errors when the file is wrong.

The models say what a trader may set (network, account, markets, account-wide risk limits,
logging, dry-run) and what each value defaults to. `check_config` reads the YAML through
`rulebot.lang.yaml_source`, so every mistake becomes a diagnostic pointing at the key or value
that caused it; `load_config` adds the file read and the API private key from the environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from difflib import get_close_matches
from pathlib import Path
from typing import Annotated, Any, Final, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    PlainSerializer,
    SecretStr,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError, core_schema

from rulebot.data.shipped import STARTING_EQUITY
from rulebot.lang.diagnostics import Diagnostic, Source, Span, render
from rulebot.lang.yaml_source import compose, kind_name, node_span
from rulebot.notify.settings import Notifications
from rulebot.secrets import PRIVATE_KEY_ENV, SecretsError, find_private_key, key_file_of
from rulebot.section import Section

BASE_URLS: Final[dict[str, str]] = {
    "mainnet": "https://mainnet.zklighter.elliot.ai",
    "testnet": "https://testnet.zklighter.elliot.ai",
}
"""Where each real Lighter network lives; `sim` has none because rulebot starts it itself."""

CHAIN_IDS: Final[dict[str, int]] = {"mainnet": 304, "testnet": 300, "sim": 300}
"""The chain id each network's transactions are signed for. The venue refuses a transaction
signed for another chain (error 21120), so the id comes from the network's name, never from its
URL (a proxy's URL names no chain). The sim checks no signature; it signs as testnet does, so
nothing signed for it is valid on mainnet."""

API_KEY_INDEXES: Final = range(2, 255)
"""The API key indexes a bot may sign with: 0 and 1 are the keys of Lighter's own desktop and
mobile apps (sharing one would make the apps and the bot fight over its nonce), and 255 means
"no key"."""
DEFAULT_API_KEY_INDEX: Final = API_KEY_INDEXES[0]
_APPS_KEYS: Final = "0 and 1 are the keys of Lighter's desktop and mobile apps"
_MAKE_A_KEY: Final = (
    "create an API key of rulebot's own on Lighter (index 2 to 254) and use its index"
)

SECRET_KEYS: Final = frozenset({"private_key", "api_private_key"})
SECRET_HELP: Final = (
    "keys never go in rulebot.yaml: set RULEBOT_API_PRIVATE_KEY or use a 0600 key file"
)
QUOTE_CURRENCY: Final = "USDC"

_MAX_DEPTH: Final = 64  # far deeper than any real rulebot.yaml; bounds alias cycles too
_MAX_VALUES: Final = 10_000  # bounds alias bombs ("billion laughs")
_SHOWN_CHARS: Final = 40
_LOOKS_LIKE_KEY: Final = re.compile(r"(?:0x)?[0-9a-fA-F]{32,}")  # Lighter API keys are hex
_SECRET_VALUE: Final = re.compile(
    r"((?:private_key|api_private_key|password|token)[\"']?\s*:)([^\r\n]*)", re.IGNORECASE
)
_SECRET_URL: Final = re.compile(r"(https?://[^\s/]+/)(\S*(?:webhooks|services|/bot)\S*)")


# --- values a trader writes: 5%, 5000 USDC, 3x ----------------------------------------------

_PERCENT = re.compile(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*%\s*")
_QUOTE = re.compile(r"\s*([+-]?(?:[\d_]+(?:\.[\d_]*)?|\.[\d_]+))\s*([A-Za-z]+)?\s*")
_LEVERAGE = re.compile(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*[xX]?\s*")


def _number(value: object) -> Decimal | None:
    """A YAML number as a Decimal; None for anything else (booleans are not numbers here)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(str(value))
    return None


def _plain(number: Decimal) -> str:
    return f"{number.normalize():f}"


def percent_text(fraction: Decimal) -> str:
    """`Decimal("0.05")` as `5%`."""
    return f"{_plain(fraction * 100)}%"


def quote_text(amount: Decimal) -> str:
    """`Decimal("5000")` as `5000 USDC`."""
    return f"{_plain(amount)} {QUOTE_CURRENCY}"


def parse_percent(value: object) -> Decimal:
    """`"5%"` as the fraction 0.05; a bare number is refused because 5 and 0.05 both look right."""
    number = _number(value)
    if number is not None:
        if number.is_finite() and 0 < number < 1:
            shown = _plain(number)
            fix = f"{percent_text(number)} (or {shown}% if you meant {shown} percent)"
        else:
            fix = f"{_plain(number)}%" if number.is_finite() else "10%"
        raise PydanticCustomError(
            "percent", "must be a percentage like 10%", {"help": f"write it as {fix}"}
        )
    match = _PERCENT.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise PydanticCustomError("percent", "must be a percentage like 10%")
    fraction = Decimal(match.group(1)) / 100
    if not 0 < fraction <= 1:
        raise PydanticCustomError("percent", "must be more than 0% and at most 100%")
    return fraction


def parse_quote_amount(value: object) -> Decimal:
    """`"5000 USDC"` or a bare number as a Decimal amount of quote currency, more than zero."""
    number = _number(value)
    if number is None and isinstance(value, str):
        match = _QUOTE.fullmatch(value)
        currency = match.group(2) if match else None
        if match is not None and (currency is None or currency.upper() == QUOTE_CURRENCY):
            try:
                number = Decimal(match.group(1).replace("_", ""))
            except InvalidOperation:
                number = None
    if number is None or not number.is_finite():
        raise PydanticCustomError("quote_amount", "must be an amount like 5000 USDC")
    if number <= 0:
        raise PydanticCustomError("quote_amount", "must be more than 0 USDC")
    return number


def api_key_index_problem(index: int) -> tuple[str, str] | None:
    """What is wrong with signing with API key index `index`, and what to do; None if nothing."""
    if index in API_KEY_INDEXES:
        return None
    rule = f"must be from {API_KEY_INDEXES[0]} to {API_KEY_INDEXES[-1]}"
    if index in (0, 1):
        why = f"{_APPS_KEYS}: the apps and the bot would fight over its nonce"
    elif index == 255:
        why = "255 means no key"
    else:
        why = f"Lighter's API key indexes run from 0 to 255; {_APPS_KEYS}, 255 means no key"
    return rule, f"{why}; {_MAKE_A_KEY}"


def check_api_key_index(index: int) -> int:
    """`index` when a bot may sign with it (2 to 254); refused, saying why, otherwise."""
    problem = api_key_index_problem(index)
    if problem is not None:
        raise PydanticCustomError("api_key_index", problem[0], {"help": problem[1]})
    return index


def parse_leverage(value: object) -> Decimal:
    """`3` or `"3x"` as a Decimal multiple of equity, more than zero."""
    number = _number(value)
    if number is None and isinstance(value, str) and (match := _LEVERAGE.fullmatch(value)):
        number = Decimal(match.group(1))
    if number is None or not number.is_finite():
        raise PydanticCustomError("leverage", "must be a leverage like 3 or 3x")
    if number <= 0:
        raise PydanticCustomError("leverage", "must be more than 0")
    return number


Percent = Annotated[
    Decimal,
    BeforeValidator(parse_percent),
    PlainSerializer(percent_text, return_type=str, when_used="json"),
]
"""A share written `5%` in YAML and held as the fraction `Decimal("0.05")`."""

QuoteAmount = Annotated[
    Decimal,
    BeforeValidator(parse_quote_amount),
    PlainSerializer(quote_text, return_type=str, when_used="json"),
]
"""Money in the quote currency (USDC), written `5000 USDC` or `5000`; always a Decimal."""

Leverage = Annotated[Decimal, BeforeValidator(parse_leverage)]
"""Position notional as a multiple of equity, written `3` or `3x`."""


@dataclass(frozen=True, slots=True)
class LossLimit:
    """A loss limit as a share of equity (`5%`) or a fixed amount of quote (`500 USDC`)."""

    value: Decimal
    is_percent: bool

    def in_quote(self, equity: Decimal) -> Decimal:
        """The limit in quote currency for an account holding `equity`."""
        return self.value * equity if self.is_percent else self.value

    def __str__(self) -> str:
        return percent_text(self.value) if self.is_percent else quote_text(self.value)

    @classmethod
    def parse(cls, value: object) -> LossLimit:
        if isinstance(value, LossLimit):
            return value
        if isinstance(value, str) and "%" in value:
            return cls(parse_percent(value), is_percent=True)
        expected = "must be a percentage like 5% or an amount like 500 USDC"
        number = _number(value)
        if number is not None:  # 5 could mean 5% or 5 USDC: make the trader say which
            shown = _plain(number) if number.is_finite() else "5"
            fix = f"write it as {shown}% or {shown} {QUOTE_CURRENCY}"
            raise PydanticCustomError("loss_limit", expected, {"help": fix})
        try:
            return cls(parse_quote_amount(value), is_percent=False)
        except PydanticCustomError:
            raise PydanticCustomError("loss_limit", expected) from None

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.parse, serialization=core_schema.to_string_ser_schema()
        )


# --- the sections of rulebot.yaml -----------------------------------------------------------


class Network(Section):
    """Which Lighter exchange to talk to; `sim` is the local one rulebot runs itself."""

    name: Literal["sim", "testnet", "mainnet"] = "sim"
    url: str | None = None
    """Overrides the network's base URL; for `sim`, None starts it in-process on loopback."""

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, url: str | None) -> str | None:
        if url is None:
            return None
        if not url.startswith(("http://", "https://")):
            raise PydanticCustomError("url", "must be a URL starting with http:// or https://")
        return url.rstrip("/")

    sim_speed: Annotated[float, Field(gt=0, le=100_000)] = 60.0
    """How fast the local sim replays its candles: 60 = a 5-minute bar every 5 seconds."""
    chain_id: StrictInt | None = Field(None, ge=1, le=2**31 - 1)
    """The chain transactions are signed for; None means the network's own (`CHAIN_IDS`).
    Only a proxy to a network that is not the one named would need it."""

    @property
    def base_url(self) -> str | None:
        """The URL to use; None means start the local `sim` exchange on a free port."""
        return self.url or BASE_URLS.get(self.name)

    @property
    def signing_chain_id(self) -> int:
        """The chain id the signer signs for: `chain_id` if set, else the network's."""
        return self.chain_id if self.chain_id is not None else CHAIN_IDS[self.name]


class Account(Section):
    """The Lighter account the bot trades and which of its API keys signs orders."""

    tier: Literal["standard", "premium"] | None = None
    """The account's rate limits: standard (60 requests a rolling minute) or premium (24,000
    weight). Unset: standard on Lighter, none on the sim (which has none unless started with
    them); every request the bot sends waits its turn within them."""
    rate_window_s: float = Field(60.0, gt=0, le=3600)
    """The venue's rolling window: 60 seconds on Lighter. A test knob: tests shorten it together
    with a sim's (`rulebot sim --rate-window`) to meet the limits in seconds, not minutes."""
    index: StrictInt = Field(1, ge=0, le=2**63 - 1)
    api_key_index: StrictInt = DEFAULT_API_KEY_INDEX
    """The API key rulebot signs with: 2 to 254 (see `API_KEY_INDEXES`)."""
    key_file: Annotated[str, StringConstraints(min_length=1)] | None = None
    """A 0600 file holding `RULEBOT_API_PRIVATE_KEY=...`, relative to rulebot.yaml's folder;
    the environment variable wins when both are set (see `rulebot.secrets`)."""

    @field_validator("api_key_index")
    @classmethod
    def _bot_key_index(cls, index: int) -> int:
        return check_api_key_index(index)


class Market(Section):
    """A market the bot may trade; `id` is Lighter's market index, looked up when omitted."""

    symbol: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    id: StrictInt | None = Field(None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _symbol_alone(cls, value: object) -> object:
        """`- ETH` is shorthand for `- {symbol: ETH}`."""
        if isinstance(value, str):
            return {"symbol": value}
        if isinstance(value, dict | Market):
            return value
        raise PydanticCustomError(
            "market", "must be a market like ETH, or a mapping like {symbol: ETH, id: 0}"
        )


class Risk(Section):
    """Account-wide limits, on top of each rule file's own; a breach stops new entries."""

    max_position_notional: QuoteAmount = Decimal(20000)
    max_order_notional: QuoteAmount = Decimal(5000)
    max_leverage: Leverage = Decimal(3)
    max_daily_loss: LossLimit = LossLimit(Decimal("0.05"), is_percent=True)
    max_drawdown: Percent = Decimal("0.20")
    max_open_orders: StrictInt = Field(10, ge=1)


class Backtest(Section):
    """How a backtest fills orders. Fees are fractions of notional: Lighter's premium accounts
    pay about 0.028% taker and 0.004% maker (standard accounts pay none); the default assumes
    premium, so a backtest errs on the side of cost."""

    initial_equity: Annotated[Decimal, Field(gt=0)] = STARTING_EQUITY
    """What the sim's default account holds too, so both start from the same money."""
    fill_at: Literal["next_open", "close"] = "next_open"
    taker_fee: Annotated[Decimal, Field(ge=0, lt=1)] = Decimal("0.00028")
    maker_fee: Annotated[Decimal, Field(ge=0, lt=1)] = Decimal("0.00004")
    slippage_bps: Annotated[Decimal, Field(ge=0, lt=10000)] = Decimal(1)
    size_decimals: StrictInt = Field(4, ge=0, le=12)
    """Sizes round down to 10^-size_decimals base units, as on Lighter."""
    periods_per_year: Annotated[Decimal, Field(gt=0)] | None = None
    """Bars a year for annualised figures (CAGR, Sharpe, Sortino): 252 for daily stock bars.
    Unset, they come from the data's own calendar (bars present per year of time covered)."""
    end_of_data: Literal["close", "keep"] = "close"
    """A position still open after the last bar: closed at the last close, or kept open."""
    limit_fill: Literal["cross", "touch"] = "cross"
    """A resting limit entry fills when a bar trades through its level (`cross`), or already
    when it touches it (`touch`)."""


class LoggingSettings(Section):
    """Log level and the optional rotating log file (JSON lines by default, for machines)."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    file: str | None = None
    json_lines: StrictBool = Field(True, alias="json")
    max_bytes: StrictInt = Field(10_000_000, ge=0)
    """Rotate the file at this size; 0 never rotates."""
    backups: StrictInt = Field(5, ge=0)
    quiet_libraries: StrictBool = True
    """At DEBUG, keep the websocket frames and the file watcher's chatter at INFO, so the
    strategies' decisions are what DEBUG shows; false shows those too."""

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, level: object) -> object:
        return level.upper() if isinstance(level, str) else level


class Runtime(Section):
    """How `rulebot run` keeps its state, serves its status and behaves when it stops."""

    journal: str = "rulebot-state.sqlite"
    """The SQLite file orders, fills, positions and risk events are written to as they happen."""
    status_host: str = "127.0.0.1"
    status_port: StrictInt = Field(8000, ge=0, le=65535)
    """The local status API (`rulebot status`); 0 turns it off."""
    cancel_orders_on_exit: StrictBool = False
    """On Ctrl+C / SIGTERM: cancel resting orders (stops and targets included) before exiting."""
    on_rule_deleted: Literal["keep", "close"] = "keep"
    """A running rule's file deleted: keep its position (and warn), or close it."""
    reconcile_interval_s: float = Field(60.0, ge=0, le=86_400)
    """Compare positions and open orders with the venue's every so many seconds, and adopt the
    venue's (also done on start and after every reconnect); 0 turns the timer off."""


def _default_markets() -> list[Market]:
    return [Market(symbol="BTC"), Market(symbol="ETH"), Market(symbol="LTC")]


class Config(Section):
    """Everything in rulebot.yaml, with safe defaults: the local sim exchange, dry-run on."""

    network: Network = Field(default_factory=Network)
    account: Account = Field(default_factory=Account)
    markets: list[Market] = Field(default_factory=_default_markets, min_length=1)
    risk: Risk = Field(default_factory=Risk)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    backtest: Backtest = Field(default_factory=Backtest)
    runtime: Runtime = Field(default_factory=Runtime)
    notifications: Notifications = Field(default_factory=Notifications)
    dry_run: StrictBool = True
    private_key: SecretStr | None = Field(None, exclude=True)
    """The API private key, from RULEBOT_API_PRIVATE_KEY or `account.key_file`; never from the
    YAML itself."""

    @field_validator(
        "network", "account", "risk", "logging", "backtest", "runtime", "notifications",
        mode="before",
    )  # fmt: skip
    @classmethod
    def _empty_section_is_defaults(cls, value: object) -> object:
        """`risk:` with every line commented out means the defaults, not an error."""
        return {} if value is None else value

    @field_validator("markets", mode="before")
    @classmethod
    def _markets_is_list(cls, value: object) -> object:
        if not isinstance(value, list):
            raise PydanticCustomError("markets", "must be a list of markets like [ETH, BTC]")
        return value


# --- reading the file, with located errors ---------------------------------------------------


class ConfigError(Exception):
    """rulebot.yaml could not be loaded; carries the located diagnostics saying why."""

    def __init__(self, diagnostics: list[Diagnostic], source: Source) -> None:
        source = redact_secrets(source)  # the error prints source lines; never a key's
        super().__init__(diagnostics, source)
        self.diagnostics = list(diagnostics)
        self.source = source

    def __str__(self) -> str:
        return "\n".join(render(d, self.source, self.source.path) for d in self.diagnostics)


def redact_secrets(source: Source) -> Source:
    """`source` with key-like values masked, same length, so carets still line up.

    Render config diagnostics against this, not the raw text: a diagnostic about a private key
    pasted into rulebot.yaml would otherwise print the key's own line.
    """
    text = _SECRET_VALUE.sub(lambda m: m.group(1) + "*" * len(m.group(2)), source.text)
    text = _LOOKS_LIKE_KEY.sub(lambda m: "*" * len(m.group(0)), text)
    text = _SECRET_URL.sub(lambda m: m.group(1) + "*" * len(m.group(2)), text)  # webhook tokens
    return source if text == source.text else Source(source.path, text)


def load_config(
    path: str | Path, env: Mapping[str, str] = os.environ, *, read_key: bool = True
) -> Config:
    """The config in the file at `path`, with the API private key from `env` or the key file
    (`read_key=False`: no key at all, for work that needs none, such as a backtest).

    Raises ConfigError with located diagnostics when the file cannot be read or is wrong.
    """
    shown = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        reason = (error.strerror or type(error).__name__).lower()
        message = f"cannot read `{shown}`: {reason}"
        raise ConfigError(
            [Diagnostic("E105", message, Span.point(1, 1))], Source(shown, "")
        ) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        source = Source(shown, data.decode("utf-8", errors="replace"))
        before = data[: error.start]
        line = before.count(b"\n") + 1
        col = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", errors="replace")) + 1
        message = f"`{shown}` is not UTF-8 text (byte 0x{data[error.start]:02x})"
        diagnostic = Diagnostic("E105", message, Span.point(line, col), help="save it as UTF-8")
        raise ConfigError([diagnostic], source) from None
    source = Source(shown, text)
    config, diagnostics = check_config(source)
    if config is None:
        raise ConfigError(diagnostics, source)
    if not read_key:
        return config
    return config.model_copy(update={"private_key": _private_key(config, Path(path), env, source)})


def _private_key(
    config: Config, path: Path, env: Mapping[str, str], source: Source
) -> SecretStr | None:
    """The key from `env`, else from the key file rulebot.yaml names (beside it, if relative)."""
    try:
        return find_private_key(env, key_file_of(config.account.key_file, path)).key
    except SecretsError as error:
        lines = enumerate(source.text.splitlines(), 1)
        line = next((n for n, text in lines if text.lstrip().startswith("key_file:")), 1)
        diagnostic = Diagnostic("E604", str(error), Span.point(line, 1), help=error.fix)
        raise ConfigError([diagnostic], source) from None


def check_config(source: Source) -> tuple[Config | None, list[Diagnostic]]:
    """The config in `source`, or None and every diagnostic saying what is wrong. Never raises."""
    try:
        root, diagnostics = compose(source)
    except RecursionError:
        message = "YAML nested this deeply cannot be read"
        return None, [Diagnostic("E106", message, Span.point(1, 1))]
    if diagnostics:
        return None, diagnostics
    if root is None or _is_null(root):
        return Config(), []
    if not isinstance(root, yaml.MappingNode):
        message = f"rulebot.yaml must be a mapping of settings, found {_found(root)}"
        return None, [Diagnostic("E602", message, Span.point(1, 1), help="start with `network:`")]
    document = _Document()
    try:
        data = document.read(root, ())
    except _TooBig as too_big:
        return None, [too_big.diagnostic]
    try:
        config: Config | None = Config.model_validate(data)
    except ValidationError as error:
        config = None
        document.diagnostics += [document.diagnostic_for(e) for e in error.errors()]
    if document.diagnostics:
        return None, sorted(document.diagnostics, key=lambda d: (d.span.line, d.span.col))
    return config, []


Loc = tuple[str | int, ...]


class _TooBig(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@dataclass
class _Document:
    """Plain data from YAML nodes, remembering which node each path came from."""

    keys: dict[Loc, yaml.Node] = field(default_factory=dict)
    values: dict[Loc, yaml.Node] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    count: int = 0

    def read(self, node: yaml.Node, loc: Loc) -> object:
        self.count += 1
        if len(loc) > _MAX_DEPTH or self.count > _MAX_VALUES:
            if len(loc) > _MAX_DEPTH:
                message = f"YAML nested more than {_MAX_DEPTH} levels deep cannot be a rulebot.yaml"
            else:
                message = f"this YAML expands to more than {_MAX_VALUES} values; too big to check"
            raise _TooBig(Diagnostic("E602", message, node_span(node)))
        self.values[loc] = node
        if isinstance(node, yaml.MappingNode):
            return self._read_mapping(node, loc)
        if isinstance(node, yaml.SequenceNode):
            return [self.read(item, (*loc, i)) for i, item in enumerate(node.value)]
        return _scalar(node)

    def _read_mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, object]:
        data: dict[str, object] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                message = f"a key must be a plain name, found {_found(key)}"
                self.diagnostics.append(Diagnostic("E602", message, node_span(key)))
                continue
            name = key.value
            where = _path_text((*loc, name))
            if name in SECRET_KEYS:
                message = f"`{where}` does not belong in rulebot.yaml"
                self.diagnostics.append(
                    Diagnostic("E602", message, node_span(key), help=SECRET_HELP)
                )
                continue  # its value is never read, so it can reach no message
            if name in data:
                message = f"`{where}` is set twice"
                help_text = "remove one of them"
                self.diagnostics.append(Diagnostic("E603", message, node_span(key), help=help_text))
            self.keys[(*loc, name)] = key
            data[name] = self.read(value, (*loc, name))
        return data

    def diagnostic_for(self, error: ErrorDetails) -> Diagnostic:
        loc: Loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            return self._unknown_key(loc)
        if error["type"] == "missing":
            parent = loc[:-1]
            message = f"`{_path_text(parent) or 'rulebot.yaml'}` needs `{loc[-1]}`"
            return Diagnostic("E602", message, self._span(parent))
        message = f"`{_path_text(loc)}` {_expectation(error)}"
        node = self.values.get(loc)
        if node is not None:
            message += f", found {_found(node)}"
        help_text = (error.get("ctx") or {}).get("help")
        return Diagnostic("E602", message, self._span(loc), help=help_text)

    def _unknown_key(self, loc: Loc) -> Diagnostic:
        name, parent = str(loc[-1]), loc[:-1]
        where = f" in `{_path_text(parent)}`" if parent else ""
        known = _known_keys(parent)
        close = get_close_matches(name, known, n=1)
        if _LOOKS_LIKE_KEY.search(name):
            name, close = "that looks like a private key (not shown)", []
        if close:
            help_text = f"did you mean `{close[0]}`?"
        else:
            help_text = "known keys here: " + ", ".join(f"`{k}`" for k in known)
        key = self.keys.get(loc)
        span = node_span(key) if key is not None else self._span(parent)
        return Diagnostic("E601", f"unknown key `{name}`{where}", span, help=help_text)

    def _span(self, loc: Loc) -> Span:
        """The span of the value at `loc`, or of the nearest enclosing value that has one."""
        for end in range(len(loc), -1, -1):
            node = self.values.get(loc[:end])
            if node is not None:
                return node_span(node)
        return Span.point(1, 1)


def _scalar(node: yaml.ScalarNode) -> object:
    """A scalar as YAML means it, except that decimals stay exact (Decimal, never float)."""
    if node.tag == "tag:yaml.org,2002:float":
        try:
            number = Decimal(node.value.replace("_", ""))
        except InvalidOperation:
            number = None
        if number is not None and number.is_finite():
            return number
    try:
        return yaml.constructor.SafeConstructor().construct_object(node)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError):
        return node.value  # an odd explicit tag: the raw text, checked like any other


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _found(node: yaml.Node) -> str:
    """What the file holds, in words, cut short so a long value cannot flood the message."""
    if not isinstance(node, yaml.ScalarNode) or _is_null(node):
        return kind_name(node)
    if node.value == "":
        return "an empty string"
    if _LOOKS_LIKE_KEY.search(node.value):
        return "a value that looks like a key (not shown)"
    text = "".join("?" if not ch.isprintable() else ch for ch in node.value)
    if len(text) > _SHOWN_CHARS:
        text = text[: _SHOWN_CHARS - 3] + "..."
    return f"`{text}`"


def _path_text(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_WORDS: Final[dict[str, str]] = {
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "string_too_short": "must not be empty",
    "too_short": "must not be empty",
    "list_type": "must be a list",
    "dict_type": "must be a mapping of settings",
    "model_type": "must be a mapping of settings",
    "model_attributes_type": "must be a mapping of settings",
}


def _expectation(error: ErrorDetails) -> str:
    """What the value must be, in plain words (`must be a whole number`)."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _WORDS:
        return _WORDS[kind]
    if kind == "literal_error":
        return "must be one of " + str(ctx.get("expected", "")).replace("'", "`")
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "less_than_equal": ("at most", "le"),
        "greater_than": ("more than", "gt"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, name = bounds[kind]
        return f"must be {words} {ctx.get(name)}"
    message = error["msg"].removeprefix("Value error, ")
    return message if message.startswith("must ") else f"is not valid: {message}"


def _known_keys(loc: Loc) -> list[str]:
    """The keys the section at `loc` accepts, as written in YAML (secrets never suggested)."""
    model: type[BaseModel] | None = Config
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        fields = {f.alias or n: f for n, f in model.model_fields.items()}
        model = _model_in(fields[part].annotation) if part in fields else None
    if model is None:
        return []
    return [f.alias or n for n, f in model.model_fields.items() if n not in SECRET_KEYS]


def _model_in(annotation: object) -> type[BaseModel] | None:
    """The model a field holds, directly or inside `list[...]` / `X | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        model = _model_in(arg)
        if model is not None:
            return model
    return None


__all__ = [
    "API_KEY_INDEXES",
    "BASE_URLS",
    "CHAIN_IDS",
    "DEFAULT_API_KEY_INDEX",
    "PRIVATE_KEY_ENV",
    "Account",
    "Config",
    "ConfigError",
    "LoggingSettings",
    "LossLimit",
    "Market",
    "Network",
    "Percent",
    "QuoteAmount",
    "Risk",
    "api_key_index_problem",
    "check_api_key_index",
    "check_config",
    "load_config",
    "redact_secrets",
]

"""What a sim is started with: its candle files, replay speed, accounts and faults.

`SimSettings` is plain data with safe defaults (the shipped candles, speed 1, one account with
10,000 USDC, the equity a backtest starts from, that accepts any API key). `load_accounts`
reads the accounts from a YAML file:

    accounts:
      - index: 1
        collateral: 10000           # USDC
        l1_address: "0xabc..."       # optional
        api_keys: any                # any index 0..254 (the default)
      - index: 2
        collateral: 2500.50
        api_keys: [3, 4]             # only these indexes
      - index: 3
        api_keys: {3: "0x5f..."}     # these indexes, with the public keys /apikeys reports

Account 0 is the sim's own market maker (the synthetic liquidity), so trader accounts start at 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rulebot.data.shipped import STARTING_EQUITY
from rulebot.venues.sim.faults import FaultSettings
from rulebot.venues.sim.records import AccountSettings

DEFAULT_ACCOUNT_INDEX = 1
DEFAULT_COLLATERAL = STARTING_EQUITY  # a backtest starts from the same
MAX_API_KEY_INDEX = 254  # 255 means "all keys" in Lighter's API, never a key of its own


class SettingsError(ValueError):
    """Settings that cannot start a sim, said in one line a trader can act on."""


@dataclass(frozen=True)
class SimSettings:
    """Everything a sim is started with."""

    data: tuple[str, ...] = ()
    """Candle files, each `FILE`, `SYMBOL=FILE` or `SYMBOL=FILE,FUNDING_FILE` (see
    `markets.markets_from_files`); empty: the candles rulebot ships."""
    speed: float = 1.0
    accounts: tuple[AccountSettings, ...] = (AccountSettings(index=DEFAULT_ACCOUNT_INDEX),)
    api_public_keys: Mapping[tuple[int, int], str] = field(default_factory=dict)
    """(account index, API key index) -> public key, reported by /api/v1/apikeys."""
    faults: FaultSettings = field(default_factory=FaultSettings)
    ws_ping_interval_s: float = 30.0
    """How often the WebSocket sends `{"type":"ping"}`; a client that misses two (and has been
    silent a second at least) is dropped."""
    book_levels: int = 50
    """Price levels per side in order book snapshots and stream updates."""
    rate_limit_tier: str | None = None
    """Enforce the venue's rate limits of this account tier (`standard` or `premium`, see
    `ratelimits`); None: no limits."""
    rate_window_s: float = 60.0
    """The rate limits' rolling window: the venue's minute. A test knob, to meet them sooner."""

    def __post_init__(self) -> None:
        if self.speed < 0:
            raise SettingsError(f"speed must be 0 (paused) or more, not {self.speed}")
        if self.ws_ping_interval_s <= 0:
            raise SettingsError("ws_ping_interval_s must be more than 0")
        if self.book_levels < 1:
            raise SettingsError("book_levels must be 1 or more")
        if self.rate_limit_tier not in (None, "standard", "premium"):
            raise SettingsError(
                f"unknown account tier {self.rate_limit_tier!r} (one of standard, premium)"
            )
        if not self.rate_window_s > 0:
            raise SettingsError("rate_window_s must be more than 0")
        indexes = [account.index for account in self.accounts]
        if not indexes:
            raise SettingsError("the sim needs at least one account")
        if min(indexes) < 1:
            raise SettingsError("account 0 is the sim's market maker: trader accounts start at 1")
        duplicated = sorted({index for index in indexes if indexes.count(index) > 1})
        if duplicated:
            raise SettingsError(f"account index {duplicated[0]} is given twice")


# --- accounts file ----------------------------------------------------------------------------


class _AccountEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=1)  # 0 is the sim's market maker
    collateral: Decimal = DEFAULT_COLLATERAL
    l1_address: str = ""
    api_keys: str | list[int] | dict[int, str] = "any"

    @field_validator("index", mode="before")
    @classmethod
    def _whole_index(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be a whole number")
        return value

    @field_validator("collateral", mode="before")
    @classmethod
    def _exact_collateral(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("must be an amount of USDC")
        if isinstance(value, float):
            return Decimal(str(value))  # the YAML text, not the binary float
        if isinstance(value, str):
            try:
                return Decimal(value.replace("_", "").removesuffix("USDC").strip())
            except InvalidOperation:
                raise ValueError("must be an amount of USDC") from None
        return value

    @field_validator("collateral")
    @classmethod
    def _not_negative(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or value < 0:
            raise ValueError("must be 0 or more")
        return value

    @field_validator("api_keys")
    @classmethod
    def _key_indexes(cls, value: str | list[int] | dict[int, str]) -> object:
        if isinstance(value, str):
            if value != "any":
                raise ValueError("must be `any`, a list of key indexes or index: public key")
            return value
        for index in value:
            if not 0 <= index <= MAX_API_KEY_INDEX:
                raise ValueError(f"key index {index} is not in 0..{MAX_API_KEY_INDEX}")
        return value


class _AccountsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accounts: list[_AccountEntry] = Field(min_length=1)


@dataclass(frozen=True)
class Accounts:
    """The accounts of a YAML file and the public keys it names."""

    accounts: tuple[AccountSettings, ...]
    api_public_keys: Mapping[tuple[int, int], str]


def load_accounts(path: str | Path) -> Accounts:
    """Read an accounts YAML file (see the module docstring); `SettingsError` says what is
    wrong and where."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"{path}: cannot read: {error}") from None
    return parse_accounts(text, str(path))


def parse_accounts(text: str, source: str = "accounts") -> Accounts:
    """Accounts from YAML text; `source` names it in errors."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise SettingsError(f"{source}{where}: {problem}") from None
    try:
        parsed = _AccountsFile.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(
            f"[{part}]" if isinstance(part, int) else str(part) for part in first["loc"]
        ).replace(".[", "[")
        raise SettingsError(f"{source}: {where or 'file'}: {first['msg']}") from None
    accounts: list[AccountSettings] = []
    public_keys: dict[tuple[int, int], str] = {}
    seen: set[int] = set()
    for entry in parsed.accounts:
        if entry.index in seen:
            raise SettingsError(f"{source}: account index {entry.index} is given twice")
        seen.add(entry.index)
        keys: frozenset[int] | None = None
        if isinstance(entry.api_keys, list):
            keys = frozenset(entry.api_keys)
        elif isinstance(entry.api_keys, dict):
            keys = frozenset(entry.api_keys)
            public_keys.update({(entry.index, index): key for index, key in entry.api_keys.items()})
        accounts.append(
            AccountSettings(
                index=entry.index,
                collateral=entry.collateral,
                api_key_indexes=keys,
                l1_address=entry.l1_address,
            )
        )
    return Accounts(accounts=tuple(accounts), api_public_keys=public_keys)

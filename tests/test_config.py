"""rulebot.yaml: the shipped default loads clean, and every mistake is a located diagnostic."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.backtesting.fills import FillSettings
from rulebot.config import (
    BASE_URLS,
    PRIVATE_KEY_ENV,
    Config,
    ConfigError,
    Market,
    check_config,
    load_config,
)
from rulebot.lang.diagnostics import Diagnostic, Source, render
from rulebot.venues.sim.settings import SimSettings

SHIPPED = Path(__file__).resolve().parents[1] / "rulebot.yaml"
SECRET = "0x5eb1c0ffee5eb1c0ffee5eb1c0ffee5eb1c0ffee5eb1c0ffee5eb1c0ffee5eb1"


def write(tmp_path: Path, text: str, name: str = "rulebot.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(path: Path) -> list[Diagnostic]:
    with pytest.raises(ConfigError) as raised:
        load_config(path, env={})
    return raised.value.diagnostics


def everything_shown(error: ConfigError) -> str:
    """All text a user could see: the rendered error, and every field of every diagnostic."""
    fields = [f"{d.message} {d.help} {d.label}" for d in error.diagnostics]
    return "\n".join([str(error), repr(error), *fields])


def test_shipped_rulebot_yaml_loads_clean_with_safe_defaults() -> None:
    config, diagnostics = check_config(Source(str(SHIPPED), SHIPPED.read_text(encoding="utf-8")))

    assert diagnostics == []
    assert config is not None
    assert config.network.name == "sim" and config.network.base_url is None
    assert (config.account.index, config.account.api_key_index) == (1, 2)
    assert (config.network.chain_id, config.network.signing_chain_id) == (None, 300)
    assert [m.symbol for m in config.markets] == ["BTC", "ETH", "LTC"]
    assert config.dry_run is True
    assert config.risk.max_daily_loss.is_percent
    assert config.risk.max_daily_loss.value == Decimal("0.05")
    assert config.risk.max_drawdown == Decimal("0.20")
    assert config.risk.max_leverage == Decimal(3)
    assert config.risk.max_open_orders == 10
    assert config.risk.max_order_notional == Decimal(5000)
    assert config.risk.max_position_notional == Decimal(20000)
    assert config.logging.level == "INFO"
    assert config == Config()  # the shipped file spells out exactly the defaults


def test_a_backtest_starts_from_what_the_sim_account_holds() -> None:
    """One starting equity: the shipped backtest's and the default sim account's."""
    config = load_config(SHIPPED, env={})
    (account,) = SimSettings().accounts
    assert account.collateral == config.backtest.initial_equity == Decimal(10_000)
    assert FillSettings().initial_equity == float(config.backtest.initial_equity)


def test_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, ""), env={}) == Config()
    assert load_config(write(tmp_path, "# nothing set yet\n", "c.yaml"), env={}) == Config()


def test_empty_section_means_its_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "risk:\nnetwork:\n  name: testnet\n"), env={})

    assert config.risk == Config().risk
    assert config.network.base_url == BASE_URLS["testnet"]


def test_money_is_decimal_and_units_are_parsed(tmp_path: Path) -> None:
    text = (
        "risk:\n"
        "  max_daily_loss: 500 USDC\n"
        "  max_order_notional: 0.1\n"
        "  max_position_notional: 1_000.5 USDC\n"
        "  max_leverage: 2.5x\n"
        "  max_drawdown: 12.5%\n"
    )
    risk = load_config(write(tmp_path, text), env={}).risk

    assert not risk.max_daily_loss.is_percent
    assert risk.max_daily_loss.in_quote(Decimal(10_000)) == Decimal(500)
    assert risk.max_order_notional == Decimal("0.1")  # exact: no float on the way
    assert type(risk.max_order_notional) is Decimal
    assert risk.max_position_notional == Decimal("1000.5")
    assert risk.max_leverage == Decimal("2.5")
    assert risk.max_drawdown == Decimal("0.125")


def test_markets_accept_a_symbol_or_a_mapping(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "markets:\n  - ETH\n  - {symbol: BTC, id: 1}\n"), env={})

    assert config.markets == [Market(symbol="ETH"), Market(symbol="BTC", id=1)]


def test_network_url_overrides_the_base_url(tmp_path: Path) -> None:
    text = "network:\n  name: mainnet\n  url: http://127.0.0.1:8080/\n"
    network = load_config(write(tmp_path, text), env={}).network

    assert network.base_url == "http://127.0.0.1:8080"
    assert Config(network={"name": "mainnet"}).network.base_url == BASE_URLS["mainnet"]


def test_unknown_key_is_located_at_the_key_with_did_you_mean(tmp_path: Path) -> None:
    [diagnostic] = errors_of(write(tmp_path, "risk:\n  max_drawdon: 10%\n"))

    assert diagnostic.code == "E601"
    assert (diagnostic.span.line, diagnostic.span.col) == (2, 3)
    assert diagnostic.span.end_col == 3 + len("max_drawdon")
    assert "max_drawdon" in diagnostic.message
    assert diagnostic.help == "did you mean `max_drawdown`?"


def test_unknown_key_far_from_any_name_lists_the_known_keys(tmp_path: Path) -> None:
    [diagnostic] = errors_of(write(tmp_path, "dry_run: true\nzzz: 1\n"))

    assert diagnostic.code == "E601"
    assert (diagnostic.span.line, diagnostic.span.col) == (2, 1)
    assert diagnostic.help is not None and "`dry_run`" in diagnostic.help
    assert "private_key" not in diagnostic.help  # never suggest putting a key in the file


def test_wrong_types_are_located_at_the_value(tmp_path: Path) -> None:
    text = "account:\n  index: abc\nrisk:\n  max_drawdown: ten\n"
    index, drawdown = errors_of(write(tmp_path, text))

    assert index.code == "E602"
    assert (index.span.line, index.span.col, index.span.end_col) == (2, 10, 13)
    assert index.message == "`account.index` must be a whole number, found `abc`"
    assert drawdown.code == "E602"
    assert (drawdown.span.line, drawdown.span.col, drawdown.span.end_col) == (4, 17, 20)
    assert drawdown.message == "`risk.max_drawdown` must be a percentage like 10%, found `ten`"


def test_a_bare_number_is_not_a_percentage(tmp_path: Path) -> None:
    [diagnostic] = errors_of(write(tmp_path, "risk:\n  max_drawdown: 3\n"))

    assert diagnostic.code == "E602"
    assert (diagnostic.span.line, diagnostic.span.col) == (2, 17)
    assert diagnostic.help == "write it as 3%"


def test_every_error_is_reported_not_only_the_first(tmp_path: Path) -> None:
    text = (
        "network:\n"
        "  name: moon\n"  # 2: not a network
        "account:\n"
        "  api_key_index: 300\n"  # 4: out of range
        "markets: [ETH, {id: 2}]\n"  # 5: market without symbol
        "risk:\n"
        "  max_leverag: 3\n"  # 7: typo
        "logging:\n"
        "  level: verbose\n"  # 9: not a level
        "dry_run: maybe\n"  # 10: not a bool
    )
    diagnostics = errors_of(write(tmp_path, text))

    assert [(d.span.line, d.code) for d in diagnostics] == [
        (2, "E602"),
        (4, "E602"),
        (5, "E602"),
        (7, "E601"),
        (9, "E602"),
        (10, "E602"),
    ]
    assert "`sim`, `testnet` or `mainnet`" in diagnostics[0].message
    assert diagnostics[2].message == "`markets[1]` needs `symbol`"


@pytest.mark.parametrize(
    ("index", "why"),
    [
        (0, "0 and 1 are the keys of Lighter's desktop and mobile apps"),
        (1, "0 and 1 are the keys of Lighter's desktop and mobile apps"),
        (255, "255 means no key"),
        (300, "Lighter's API key indexes run from 0 to 255"),
        (-1, "Lighter's API key indexes run from 0 to 255"),
    ],
)
def test_an_api_key_index_the_bot_may_not_sign_with_is_refused_saying_why(
    tmp_path: Path, index: int, why: str
) -> None:
    [diagnostic] = errors_of(write(tmp_path, f"account:\n  api_key_index: {index}\n"))

    assert diagnostic.code == "E602"
    assert (diagnostic.span.line, diagnostic.span.col) == (2, 18)
    assert diagnostic.message == f"`account.api_key_index` must be from 2 to 254, found `{index}`"
    assert diagnostic.help is not None and diagnostic.help.startswith(why)
    assert "create an API key of rulebot's own on Lighter (index 2 to 254)" in diagnostic.help


@pytest.mark.parametrize("index", [2, 3, 254])
def test_api_key_indexes_2_to_254_load(tmp_path: Path, index: int) -> None:
    config = load_config(write(tmp_path, f"account:\n  api_key_index: {index}\n"), env={})
    assert config.account.api_key_index == index


@pytest.mark.parametrize(
    ("text", "chain_id"),
    [
        ("network:\n  name: mainnet\n", 304),
        ("network:\n  name: testnet\n", 300),
        ("network:\n  name: sim\n", 300),
        # a proxy's URL names no chain: the network's name says which, whatever the URL
        ("network:\n  name: mainnet\n  url: https://proxy.example\n", 304),
        ("network:\n  name: mainnet\n  url: https://proxy.example\n  chain_id: 300\n", 300),
    ],
)
def test_the_chain_id_is_the_networks_unless_set(tmp_path: Path, text: str, chain_id: int) -> None:
    assert load_config(write(tmp_path, text), env={}).network.signing_chain_id == chain_id


def test_a_chain_id_must_be_a_positive_whole_number(tmp_path: Path) -> None:
    diagnostics = errors_of(write(tmp_path, "network:\n  chain_id: 0\n"))
    assert [d.message for d in diagnostics] == ["`network.chain_id` must be at least 1, found `0`"]
    diagnostics = errors_of(write(tmp_path, "network:\n  chain_id: mainnet\n"))
    assert [d.message for d in diagnostics] == [
        "`network.chain_id` must be a whole number, found `mainnet`"
    ]


def test_private_key_in_yaml_is_refused_without_echoing_it(tmp_path: Path) -> None:
    text = (
        f"account:\n  index: 3\n  private_key: {SECRET}\n  extra:\n    api_private_key: {SECRET}\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, text), env={})

    refused = [d for d in raised.value.diagnostics if d.code == "E602"]
    assert [(d.span.line, d.span.col) for d in refused] == [(3, 3), (5, 5)]
    assert all(d.help and "RULEBOT_API_PRIVATE_KEY" in d.help for d in refused)
    assert SECRET not in everything_shown(raised.value)
    assert SECRET[2:20] not in everything_shown(raised.value)


@pytest.mark.parametrize("text", [f"account: {SECRET}\n", f"account:\n  {SECRET}: 1\n"])
def test_a_key_pasted_in_the_wrong_place_is_not_echoed(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, text), env={})

    assert raised.value.diagnostics[0].code in {"E601", "E602"}
    assert SECRET[2:20] not in everything_shown(raised.value)


def test_private_key_comes_from_the_environment_as_a_secret(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), env={PRIVATE_KEY_ENV: SECRET + "\n"})

    assert config.private_key is not None
    assert config.private_key.get_secret_value() == SECRET
    assert SECRET not in repr(config.private_key)
    assert SECRET not in repr(config) and SECRET not in str(config)
    assert SECRET not in config.model_dump_json()
    assert load_config(write(tmp_path, ""), env={}).private_key is None


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    [diagnostic] = errors_of(write(tmp_path, "network:\n  name: sim\n\tbad: 1\n"))

    assert diagnostic.code == "E106"
    assert (diagnostic.span.line, diagnostic.span.col) == (3, 1)
    assert diagnostic.message.startswith("YAML syntax error")


@pytest.mark.parametrize("text", ["- ETH\n- BTC\n", "just words\n", "42\n"])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    [diagnostic] = errors_of(write(tmp_path, text))

    assert diagnostic.code == "E602"
    assert (diagnostic.span.line, diagnostic.span.col) == (1, 1)
    assert "mapping" in diagnostic.message


def test_duplicate_key_is_reported(tmp_path: Path) -> None:
    [diagnostic] = errors_of(write(tmp_path, "dry_run: true\ndry_run: false\n"))

    assert diagnostic.code == "E603"
    assert (diagnostic.span.line, diagnostic.span.col) == (2, 1)


def test_missing_file_is_a_located_error_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "nope.yaml", env={})

    [diagnostic] = raised.value.diagnostics
    assert diagnostic.code == "E105"
    assert (diagnostic.span.line, diagnostic.span.col) == (1, 1)
    assert "no such file" in diagnostic.message
    assert "Traceback" not in str(raised.value) and "Errno" not in str(raised.value)


def test_a_directory_is_not_a_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path, env={})

    assert [d.code for d in raised.value.diagnostics] == ["E105"]


def test_non_utf8_file_is_located(tmp_path: Path) -> None:
    path = tmp_path / "rulebot.yaml"
    path.write_bytes(b"dry_run: true\nnetwork: \xff\xfe\n")
    [diagnostic] = errors_of(path)

    assert diagnostic.code == "E105"
    assert (diagnostic.span.line, diagnostic.span.col) == (2, 10)


@pytest.mark.parametrize(
    "text",
    [
        bytes(range(256)).decode("latin-1"),
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR".decode("utf-8", errors="replace"),
        "[" * 5000,
        "[" * 5000 + "]" * 5000,
        "a:\n" + "".join("  " * i + "b:\n" for i in range(1, 400)),
        "a: &x [*x]\n",
        "a: &a [1,1,1,1,1,1,1,1,1,1]\n"
        + "".join(
            f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n"
            for p, n in zip("abcd", "bcde", strict=True)
        ),
        "? [a, b]\n: 1\n",
        "network: !unknown_tag sim\naccount: {index: !!int abc}\n",
        "risk: {max_drawdown: .nan, max_leverage: .inf, max_order_notional: -.inf}\n",
    ],
)
def test_odd_input_gives_diagnostics_not_exceptions(text: str) -> None:
    config, diagnostics = check_config(Source("odd.yaml", text))

    assert config is None
    assert diagnostics and all(d.span.line >= 1 and d.span.col >= 1 for d in diagnostics)
    for diagnostic in diagnostics:
        render(diagnostic, Source("odd.yaml", text), "odd.yaml")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_decoded_as_text_never_raise(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace")
    config, diagnostics = check_config(Source("fuzz.yaml", text))

    assert (config is None) == bool(diagnostics)


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=20,
    )
)
def test_any_yaml_shape_never_raises(shape: object) -> None:
    import yaml

    text = yaml.safe_dump({"risk": shape, "markets": shape})
    config, diagnostics = check_config(Source("shape.yaml", text))

    assert (config is None) == bool(diagnostics)

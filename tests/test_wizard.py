"""`rulebot init`, end to end: flags for scripts and arrow-key prompts driven through
prompt_toolkit's pipe input, markets read from a real sim, the written rulebot.yaml loaded, linted
and checked, and the API key nowhere but its 0600 key file."""

from __future__ import annotations

import io
import re
import shutil
import stat
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import lighter
import pytest
from prompt_toolkit.data_structures import Size
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output.vt100 import Vt100_Output
from typer.testing import CliRunner

from rulebot.cli import app
from rulebot.config import LossLimit, check_config, load_config
from rulebot.lang.diagnostics import Source
from rulebot.lint import exit_code, lint
from rulebot.secrets import PRIVATE_KEY_ENV, read_key_file
from rulebot.venues.sim.serving import SimThread
from rulebot.venues.sim.settings import SimSettings
from rulebot.wizard import InitOptions, QuestionaryPrompts, answers, run_init
from tests.conftest import RULES

PRIVATE_KEY, PUBLIC_KEY, _ = lighter.signer_client.create_api_key()
HEX = PRIVATE_KEY.removeprefix("0x")
DOWN, ENTER, BACKSPACE, CTRL_C = "\x1b[B", "\r", "\x7f", "\x03"
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # the terminal's colours and cursor moves


@pytest.fixture
def bot_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh folder holding the shipped rules, as the current directory."""
    shutil.copytree(RULES, tmp_path / "rules")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(PRIVATE_KEY_ENV, raising=False)
    return tmp_path


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    """A running sim on a thread of its own that knows PRIVATE_KEY as account 1's API key 3."""
    with SimThread(SimSettings(speed=0, api_public_keys={(1, 3): PUBLIC_KEY})) as running:
        yield running.url


def init(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["init", *args], input=stdin)
    return result.exit_code, result.output


def test_flags_alone_write_a_config_that_loads_lints_and_checks(bot_folder: Path) -> None:
    code, output = init(
        "--yes",
        "--strategies", "ut_bot,momentum",
        "--size", "1000 USDC",
        "--max-daily-loss", "250 usdc",
        "--max-drawdown", "12.5%",
    )  # fmt: skip
    assert code == 0, output
    config = load_config("rulebot.yaml", env={})
    assert config.network.name == "sim" and config.network.url is None
    assert (config.account.index, config.account.api_key_index) == (1, 2)
    assert config.account.key_file is None and config.dry_run is True
    assert [m.symbol for m in config.markets] == ["BTC"]
    risk = config.risk
    assert risk.max_position_notional == Decimal(1000)
    assert risk.max_order_notional == Decimal(1000)  # never more than the largest position
    assert risk.max_leverage == Decimal(3)
    assert risk.max_daily_loss == LossLimit(Decimal(250), is_percent=False)
    assert risk.max_drawdown == Decimal("0.125")
    text = Path("rulebot.yaml").read_text()
    assert "# Run them with: rulebot run rules/ut_bot.rule rules/momentum.yaml" in text
    assert "max_position_notional: 1000 USDC" in text
    assert exit_code(lint(["rulebot.yaml", "rules/ut_bot.rule", "rules/momentum.yaml"])) == 0
    head, example = text.split("# notifications:\n")
    example, tail = example.split("\n\n", 1)
    uncommented = head + "notifications:\n" + re.sub("(?m)^# ", "", example) + "\n\n" + tail
    with_notices, problems = check_config(Source("rulebot.yaml", uncommented))
    assert problems == [] and with_notices is not None  # the commented example is valid as is
    assert "Before you go on, read this:" in output
    assert output.rstrip().endswith(
        "Next:\n  rulebot check\n  rulebot run rules/ut_bot.rule rules/momentum.yaml"
    )
    checked = CliRunner().invoke(app, ["check", "rules/ut_bot.rule", "rules/momentum.yaml"])
    assert checked.exit_code == 0, checked.output
    assert "FAIL" not in checked.output


def test_a_key_from_stdin_goes_to_a_0600_file_only_and_check_accepts_it(
    bot_folder: Path, sim_url: str
) -> None:
    code, output = init(
        "--network", "testnet", "--url", sim_url,
        "--key-stdin", "--account-index", "1", "--api-key-index", "3",
        "--strategies", "all", "--live", "--yes",
        stdin=PRIVATE_KEY + "\n",
    )  # fmt: skip
    assert code == 0, output
    key_file = bot_folder / "rulebot.env"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert read_key_file(key_file).get_secret_value() == PRIVATE_KEY
    text = Path("rulebot.yaml").read_text()
    assert "  key_file: rulebot.env\n" in text and "dry_run: false\n" in text
    assert "  # chain_id: 300   (testnet's own" in text  # signed for testnet, whatever the URL
    assert "Run them with: rulebot run rules/\n" in text
    assert "The API key is in rulebot.env, readable only by you" in output
    config = load_config("rulebot.yaml", env={})
    assert config.network.name == "testnet" and config.network.url == sim_url
    assert [m.symbol for m in config.markets] == ["ETH", "BTC", "LTC"]  # what the four rules trade
    assert config.private_key is not None and config.private_key.get_secret_value() == PRIVATE_KEY
    checked = CliRunner().invoke(app, ["check"])
    assert checked.exit_code == 0, checked.output
    assert "testnet (chain id 300), account 1, API key index 3, LIVE" in checked.output
    [api_key] = [line for line in checked.output.splitlines() if line.startswith("PASS  api key")]
    assert api_key.endswith("API key index 3 of account 1 matches the private key")
    for seen in (output, text, checked.output):
        assert HEX not in seen and HEX.upper() not in seen
    again, refused = init("--key-stdin", "--yes", stdin=PRIVATE_KEY + "\n")
    assert again == 1 and "rulebot.yaml already exists: pass --force" in refused


def test_mainnet_starts_small_and_a_config_elsewhere_keeps_its_key_beside_it(
    bot_folder: Path, sim_url: str
) -> None:
    code, output = init(
        "-c", "bot/rulebot.yaml", "--network", "mainnet", "--url", sim_url,
        "--key-stdin", "--account-index", "1", "--api-key-index", "3",
        "--strategies", "ut_bot", "--yes",
        stdin=PRIVATE_KEY + "\n",
    )  # fmt: skip
    assert code == 0, output
    assert "mainnet trades REAL MONEY" in output
    config = load_config("bot/rulebot.yaml", env={})
    risk = config.risk
    assert (risk.max_position_notional, risk.max_order_notional) == (Decimal(1000), Decimal(250))
    assert (risk.max_leverage, risk.max_drawdown) == (Decimal(2), Decimal("0.1"))
    assert risk.max_daily_loss == LossLimit(Decimal("0.02"), is_percent=True)
    assert config.account.key_file == "rulebot.env"  # beside the config, wherever it is
    assert read_key_file(bot_folder / "bot" / "rulebot.env").get_secret_value() == PRIVATE_KEY
    assert "  rulebot check -c bot/rulebot.yaml\n" in output
    assert output.rstrip().endswith("rulebot run rules/ut_bot.rule -c bot/rulebot.yaml")
    assert HEX not in output


def test_nothing_is_written_without_a_confirmation(bot_folder: Path) -> None:
    code, output = init("--strategies", "ut_bot")  # no terminal, no --yes
    assert code == 1
    assert "Before you go on, read this:" in output  # the warnings are shown all the same
    assert output.rstrip().endswith(
        "nothing to confirm the warnings with: read them, then pass --yes"
    )
    assert not (bot_folder / "rulebot.yaml").exists()


def test_an_existing_config_is_kept_unless_forced(bot_folder: Path) -> None:
    Path("rulebot.yaml").write_text("dry_run: true\n")
    code, output = init("--yes")
    assert code == 1
    assert "rulebot.yaml already exists: pass --force to replace it" in output
    assert Path("rulebot.yaml").read_text() == "dry_run: true\n"
    code, output = init("--yes", "--force", "--strategies", "ut_bot")
    assert code == 0, output
    assert load_config("rulebot.yaml", env={}).markets[0].symbol == "BTC"


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--strategies", "ut_bott"], "no strategy 'ut_bott'; did you mean 'ut_bot'?"),
        (["--markets", "BTC"], "--markets: "),
        (["--strategies", "arbitrage", "--markets", "ETH"], "arbitrage trades LTC: keep it"),
        (["--max-daily-loss", "5"], "write it as 5% or 5 USDC"),
        (["--size", "100", "--max-order", "500 USDC"], "at most the largest position, 100 USDC"),
        (["--max-drawdown", "150%"], "at most 100%"),
        (["--network", "testnet"], "give --account-index: the index of your testnet account"),
        (["--network", "moonnet"], "--network is one of sim, testnet, mainnet"),
        (
            ["--api-key-index", "0"],
            "--api-key-index must be from 2 to 254: 0 and 1 are the keys of Lighter's desktop "
            "and mobile apps",
        ),
        (
            ["--network", "testnet", "--account-index", "1", "--api-key-index", "1"],
            "--api-key-index must be from 2 to 254: 0 and 1 are the keys",
        ),
        (["--api-key-index", "255"], "--api-key-index must be from 2 to 254: 255 means no key"),
    ],
)
def test_a_wrong_flag_is_refused_and_nothing_written(
    bot_folder: Path, flags: list[str], expected: str
) -> None:
    code, output = init("--yes", *flags)
    assert code == 1
    assert expected in output
    assert not (bot_folder / "rulebot.yaml").exists()


def test_an_exposed_key_file_is_refused_with_the_fix(bot_folder: Path, sim_url: str) -> None:
    key_file = bot_folder / "mine.env"
    key_file.write_text(f"{PRIVATE_KEY_ENV}={PRIVATE_KEY}\n")
    key_file.chmod(0o644)
    flags = ["--network", "testnet", "--url", sim_url, "--key-file", "mine.env", "--yes"]
    flags += ["--account-index", "1", "--api-key-index", "3"]
    code, output = init(*flags)
    assert code == 1
    assert "open to other users (mode 0644)" in output and "fix: chmod 600 mine.env" in output
    assert HEX not in output and not Path("rulebot.yaml").exists()
    key_file.chmod(0o600)
    code, output = init(*flags)
    assert code == 0, output
    assert "  key_file: mine.env\n" in Path("rulebot.yaml").read_text()


def answer(keys: list[str], options: InitOptions, env: dict[str, str]) -> tuple[int, str]:
    """Run the wizard with its prompts reading `keys` from a pipe; what it printed, prompts too."""
    screen = io.StringIO()
    said: list[str] = []
    with create_pipe_input() as pipe:
        for key in keys:
            pipe.send_text(key)
        pipe.close()  # past the last answer a prompt reads end-of-file: a test never hangs
        output = Vt100_Output(screen, lambda: Size(rows=40, columns=120), term="xterm")
        code = run_init(options, QuestionaryPrompts(pipe, output), said.append, env=env)
    return code, ESCAPES.sub("", screen.getvalue()) + "\n".join(said)


def test_the_arrow_key_wizard_asks_everything_and_hides_the_key(
    bot_folder: Path, sim_url: str
) -> None:
    keys = [
        DOWN + ENTER,  # network: sim -> testnet
        ENTER,  # the key: into a key file (the default)
        PRIVATE_KEY[:20] + ENTER,  # too short: refused, the prompt keeps it; typing goes on
        PRIVATE_KEY[20:] + ENTER,
        "1" + ENTER,  # account index
        BACKSPACE + "1" + ENTER,  # API key index 1: refused, the mobile app's own
        BACKSPACE + "3" + ENTER,  # API key index: 3
        DOWN + " " + DOWN + " " + ENTER,  # strategies: untick maker_reversion and mean_reversion
        ENTER,  # markets: the strategies' own, ticked
        BACKSPACE * 20 + "5000 USDC" + ENTER,  # largest position
        ENTER,  # largest order: the default, capped at the position
        BACKSPACE + "2" + ENTER,  # leverage 3 -> 2
        BACKSPACE * 5 + "4" + ENTER + "%" + ENTER,  # "4" is refused (4% or 4 USDC?); "4%" not
        ENTER,  # drawdown: the default
        "n",  # dry run? no: live
        "y",  # confirmed
    ]
    code, shown = answer(keys, InitOptions(url=sim_url), env={})
    assert code == 0, shown
    config = load_config("rulebot.yaml", env={})
    assert config.network.name == "testnet"
    assert (config.account.index, config.account.api_key_index) == (1, 3)
    assert config.account.key_file == "rulebot.env" and config.dry_run is False
    assert [m.symbol for m in config.markets] == ["ETH", "BTC", "LTC"]
    assert config.risk.max_position_notional == config.risk.max_order_notional == Decimal(5000)
    assert config.risk.max_leverage == Decimal(2)
    assert config.risk.max_daily_loss == LossLimit(Decimal("0.04"), is_percent=True)
    assert config.private_key is not None and config.private_key.get_secret_value() == PRIVATE_KEY
    assert stat.S_IMODE((bot_folder / "rulebot.env").stat().st_mode) == 0o600
    text = Path("rulebot.yaml").read_text()
    assert "arbitrage (rules/arbitrage.rule), momentum (rules/momentum.yaml)" in text
    assert "mean_reversion" not in text and "maker_reversion" not in text
    assert "testnet is play money; mainnet, one setting away, is not." in shown
    assert "  rulebot run rules/arbitrage.rule rules/momentum.yaml rules/ut_bot.rule" in shown
    for seen in (shown, text):
        assert HEX not in seen and HEX[:20] not in seen and HEX[20:] not in seen


def test_the_api_key_index_prompt_takes_what_rulebot_yaml_takes() -> None:
    assert [answers.api_key_index(text) for text in ("2", " 17 ", "254")] == [None] * 3
    assert answers.api_key_index("1") == (
        "must be from 2 to 254: 0 and 1 are the keys of Lighter's desktop and mobile apps: the "
        "apps and the bot would fight over its nonce; create an API key of rulebot's own on "
        "Lighter (index 2 to 254) and use its index"
    )
    assert answers.api_key_index("255").startswith("must be from 2 to 254: 255 means no key")
    assert answers.api_key_index("two") == "a whole number from 2 to 254"


def test_the_wizard_on_its_defaults_writes_the_sim_config(bot_folder: Path) -> None:
    keys = [ENTER] * 9 + ["y"]  # network sim, every rule, its markets, default limits, dry run
    code, shown = answer(keys, InitOptions(), env={})
    assert code == 0, shown
    config = load_config("rulebot.yaml", env={})
    assert config.network.name == "sim" and config.dry_run is True
    assert [m.symbol for m in config.markets] == ["ETH", "BTC", "LTC"]
    assert config.risk.max_position_notional == Decimal(20000)
    assert "  rulebot run rules/" in shown


def test_ctrl_c_or_declining_writes_nothing(bot_folder: Path) -> None:
    code, shown = answer([CTRL_C], InitOptions(), env={})
    assert code == 1 and "cancelled; nothing was written" in shown
    code, shown = answer([ENTER] * 9 + ["n"], InitOptions(), env={})
    assert code == 1 and "not confirmed; nothing was written" in shown
    assert not (bot_folder / "rulebot.yaml").exists()

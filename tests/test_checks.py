"""`rulebot check` against a real sim over real sockets: the real lighter-sdk checks the key the
sim knows; a dead venue, a broken rule, a wrong key and an exposed key file each fail with a fix."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import lighter
import pytest
from typer.testing import CliRunner

from rulebot.checks import Check, Status, exit_code, render, run_checks
from rulebot.cli import app
from rulebot.secrets import PRIVATE_KEY_ENV
from rulebot.venues.sim.serving import RunningSim
from tests.conftest import RULES
from tests.venues import conftest as venues
from tests.venues.conftest import MakeSigner, MakeSim

make_sim, make_signer, sim = venues.make_sim, venues.make_signer, venues.sim  # the sim fixtures


def rules_folder(folder: Path, *names: str) -> Path:
    rules = folder / "rules"
    rules.mkdir(exist_ok=True)
    for name in names or ("ut_bot.rule", "arbitrage.rule"):
        shutil.copy(RULES / name, rules / name)
    return rules


def write_bot(
    folder: Path,
    url: str,
    key: str | None,
    *,
    account: int = 1,
    key_index: int = 3,
    key_mode: int = 0o600,
    network: str = "sim",
) -> Path:
    """rulebot.yaml trading live on `url`, its key (if any) in a key file beside it."""
    key_line = ""
    if key is not None:
        key_file = folder / "rulebot.env"
        key_file.write_text(f"{PRIVATE_KEY_ENV}={key}\n")
        key_file.chmod(key_mode)
        key_line = "  key_file: rulebot.env\n"
    config = folder / "rulebot.yaml"
    config.write_text(
        f"network:\n  name: {network}\n  url: {url}\n"
        f"account:\n  index: {account}\n  api_key_index: {key_index}\n{key_line}"
        "markets: [BTC, ETH, LTC]\ndry_run: false\n"
    )
    return config


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def the_key(signer: lighter.SignerClient, index: int = 3) -> str:
    return signer.api_key_dict[index]  # the key make_signer registered with the sim


async def test_a_ready_bot_passes_every_check(
    tmp_path: Path, make_sim: MakeSim, make_signer: MakeSigner
) -> None:
    sim = await make_sim()
    key = the_key(make_signer(sim, account_index=1, api_key_index=3))
    config = write_bot(tmp_path, sim.url, key)
    checks = await run_checks(config, [rules_folder(tmp_path)], env={})
    verdicts = {check.name: check.status for check in checks}
    assert verdicts == {
        "config": Status.PASS,
        "rules": Status.PASS,
        "key": Status.PASS,
        "venue": Status.PASS,
        "account": Status.PASS,
        "api key": Status.PASS,
        "balance": Status.PASS,
        "markets": Status.PASS,
        "rule ut_bot": Status.PASS,
        "rule arbitrage": Status.PASS,
    }
    found = by_name(checks)
    assert found["api key"].message == "API key index 3 of account 1 matches the private key"
    assert (
        found["key"].message
        == "API private key from key file " + str(tmp_path / "rulebot.env") + ": format ok"
    )
    assert found["balance"].message == "equity 100000 USDC, available 100000 USDC, 0 open positions"
    assert found["rule arbitrage"].message == "ETH, LTC on the venue"
    assert exit_code(checks) == 0
    report = render(checks)
    assert report.endswith("ready: 10 passed, 0 failed, 0 warnings, 0 skipped\n")
    assert len(report.splitlines()) == len(checks) + 1  # one line per check, and the summary
    assert key.removeprefix("0x") not in report


async def test_a_key_the_venue_does_not_hold_fails_with_the_fix(
    tmp_path: Path, make_sim: MakeSim, make_signer: MakeSigner
) -> None:
    sim = await make_sim()
    registered = the_key(make_signer(sim, account_index=1, api_key_index=3))
    wrong = lighter.signer_client.create_api_key()[0]
    config = write_bot(tmp_path, sim.url, wrong)
    checks = await run_checks(config, [rules_folder(tmp_path)], env={})
    api_key = by_name(checks)["api key"]
    assert api_key.status is Status.FAIL
    assert api_key.message == (
        "the private key does not match API key index 3 of account 1 "
        "(the venue holds another public key there)"
    )
    assert api_key.fix is not None and "account.api_key_index" in api_key.fix
    assert [c.name for c in checks if c.status is Status.FAIL] == ["api key"]
    assert exit_code(checks) == 1
    report = render(checks)
    assert "FAIL  api key" in report and "fix: use the private key of API key index 3" in report
    for secret in (wrong, registered):
        assert secret.removeprefix("0x") not in report


async def test_an_api_key_index_without_a_key_and_an_unknown_account_fail(
    tmp_path: Path, make_sim: MakeSim, make_signer: MakeSigner
) -> None:
    sim = await make_sim()
    key = the_key(make_signer(sim, account_index=1, api_key_index=3))
    rules = rules_folder(tmp_path)
    config = write_bot(tmp_path, sim.url, key, key_index=4, network="testnet")
    other_index = by_name(await run_checks(config, [rules], {}))["api key"]
    assert other_index.status is Status.FAIL
    assert other_index.message == "account 1 has no API key at index 4"
    # the sim itself takes any key at an index where it holds none: the bot runs there
    on_sim = await run_checks(write_bot(tmp_path, sim.url, key, key_index=4), [rules], {})
    assert by_name(on_sim)["api key"].status is Status.SKIP
    assert "takes any key there" in by_name(on_sim)["api key"].message
    assert exit_code(on_sim) == 0
    no_account = await run_checks(write_bot(tmp_path, sim.url, key, account=7), [rules], {})
    found = by_name(no_account)
    assert found["account"].status is Status.FAIL
    assert found["account"].message == "the venue has no account 7"
    assert found["api key"].status is found["balance"].status is Status.SKIP
    assert found["rule ut_bot"].status is Status.PASS  # the markets are still checked


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_dead_venue_fails_and_skips_what_needs_it(tmp_path: Path) -> None:
    port = closed_port()
    key = lighter.signer_client.create_api_key()[0]
    config = write_bot(tmp_path, f"http://127.0.0.1:{port}", key)
    checks = await run_checks(config, [rules_folder(tmp_path)], env={})
    found = by_name(checks)
    assert found["venue"].status is Status.FAIL
    assert found["venue"].message.startswith(f"http://127.0.0.1:{port}: cannot reach the venue")
    assert found["venue"].fix == f"start it (`rulebot sim --port {port}`), or correct network.url"
    for name in ("account", "api key", "balance", "markets"):
        assert found[name].status is Status.SKIP, name
    assert found["key"].status is Status.PASS
    assert exit_code(checks) == 1


async def test_a_broken_rule_fails_with_lints_diagnostics(tmp_path: Path, sim: RunningSim) -> None:
    rules = rules_folder(tmp_path, "ut_bot.rule")
    (rules / "broken.rule").write_text(
        "strategy broken\nmarket ETH\ntimeframe 5m\n"
        "let mid = smaa(close, 20)\nentry long when close > mid\nsize 1% of equity\n"
    )
    config = write_bot(tmp_path, sim.url, None)
    checks = await run_checks(config, [rules], env={})
    rules_check = by_name(checks)["rules"]
    assert rules_check.status is Status.FAIL
    assert rules_check.message == f"1 rule file of 2 in {rules} has errors (1 error)"
    assert rules_check.details is not None
    assert f"{rules / 'broken.rule'}:4:11: error[E201]: unknown function `smaa`" in (
        rules_check.details
    )
    assert "did you mean `sma`?" in rules_check.details
    assert "rule broken" not in by_name(checks)  # no markets to check for a rule that fails
    assert by_name(checks)["rule ut_bot"].status is Status.PASS
    assert exit_code(checks) == 1


async def test_a_key_file_other_users_can_read_fails_with_chmod(
    tmp_path: Path, make_sim: MakeSim, make_signer: MakeSigner
) -> None:
    sim = await make_sim()
    key = the_key(make_signer(sim))
    config = write_bot(tmp_path, sim.url, key, key_mode=0o644)
    checks = await run_checks(config, [rules_folder(tmp_path)], env={})
    found = by_name(checks)["key"]
    assert found.status is Status.FAIL
    assert "open to other users (mode 0644)" in found.message
    assert found.fix == f"chmod 600 {tmp_path / 'rulebot.env'}"
    assert by_name(checks)["api key"].status is Status.SKIP  # never used while exposed
    # the environment's key wins, but a readable key file still leaks one: still a failure
    again = await run_checks(config, [tmp_path / "rules"], env={PRIVATE_KEY_ENV: key})
    assert by_name(again)["key"].status is Status.FAIL
    assert key.removeprefix("0x") not in render(checks) + render(again)


async def test_a_malformed_key_and_a_missing_key_are_told_apart(
    tmp_path: Path, sim: RunningSim
) -> None:
    wallet_key = "0x" + "5f" * 32
    config = write_bot(tmp_path, sim.url, wallet_key, network="testnet")
    checks = await run_checks(config, [rules_folder(tmp_path)], env={})
    found = by_name(checks)
    assert found["key"].status is Status.FAIL
    assert "the length of an Ethereum wallet key" in found["key"].message
    assert found["venue"].status is Status.PASS  # reads need no key: a throwaway one connects
    assert found["api key"].status is Status.SKIP
    (tmp_path / "rulebot.env").unlink()
    config.write_text(config.read_text().replace("  key_file: rulebot.env\n", ""))
    live = by_name(await run_checks(config, [tmp_path / "rules"], env={}))["key"]
    assert live.status is Status.FAIL and live.fix is not None and "rulebot init" in live.fix
    config.write_text(config.read_text().replace("dry_run: false", "dry_run: true"))
    dry = by_name(await run_checks(config, [tmp_path / "rules"], env={}))["key"]
    assert dry.status is Status.WARN
    assert "5f" * 32 not in render(checks)


@pytest.mark.parametrize("index", [0, 1])
async def test_an_api_key_index_of_the_lighter_apps_fails_the_config_with_the_fix(
    tmp_path: Path, sim: RunningSim, make_signer: MakeSigner, index: int
) -> None:
    """The apps' own keys would make the bot and the apps fight over one nonce sequence: the
    check refuses them up front, on every network (the sim included), with what to do."""
    key = the_key(make_signer(sim, account_index=1, api_key_index=3))
    for network in ("sim", "mainnet"):
        config = write_bot(tmp_path, sim.url, key, key_index=index, network=network)
        checks = await run_checks(config, [rules_folder(tmp_path)], {})
        found = by_name(checks)
        assert found["config"].status is Status.FAIL
        assert found["config"].details is not None
        assert (
            f"error[E602]: `account.api_key_index` must be from 2 to 254, found `{index}`"
            in found["config"].details
        )
        assert (
            "help: 0 and 1 are the keys of Lighter's desktop and mobile apps: the apps and the bot "
            "would fight over its nonce; create an API key of rulebot's own on Lighter (index 2 "
            "to 254) and use its index" in found["config"].details
        )
        assert [c.status for c in checks if c.name in ("venue", "api key")] == [Status.SKIP] * 2
        assert exit_code(checks) == 1


async def test_a_config_that_loads_says_which_chain_it_signs_for(
    tmp_path: Path, sim: RunningSim
) -> None:
    config = write_bot(tmp_path, sim.url, None, network="mainnet")
    checks = await run_checks(config, [rules_folder(tmp_path)], {})
    assert by_name(checks)["config"].message == (
        f"{config} is valid: mainnet (chain id 304), account 1, API key index 3, LIVE"
    )
    url_line = f"  url: {sim.url}\n"
    config.write_text(config.read_text().replace(url_line, url_line + "  chain_id: 300\n"))
    checks = await run_checks(config, [rules_folder(tmp_path)], {})
    assert "is valid: mainnet (chain id 300), account 1" in by_name(checks)["config"].message


def test_rulebot_check_on_the_shipped_defaults_starts_a_local_sim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(RULES.parent / "rulebot.yaml", tmp_path / "rulebot.yaml")
    rules_folder(tmp_path, "mean_reversion.rule", "momentum.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(PRIVATE_KEY_ENV, raising=False)
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("PASS  config")
    assert any(line.startswith("PASS  venue") and "the local sim" in line for line in lines)
    assert any(line.startswith("SKIP  api key") for line in lines)
    assert lines[-1].startswith("ready: ")
    broken = CliRunner().invoke(app, ["check", "-c", "missing.yaml"])
    assert broken.exit_code == 1
    assert broken.output.startswith("FAIL  config")


async def test_lint_and_check_flag_the_same_markets_the_built_in_sim_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the sim rulebot starts itself, `check` asks that sim for its markets and `lint` the
    list it is made from: both warn of the same markets, and neither of the ones it has."""
    from rulebot.lint import lint

    monkeypatch.delenv(PRIVATE_KEY_ENV, raising=False)
    config = tmp_path / "rulebot.yaml"
    config.write_text("network:\n  name: sim\nmarkets: [ETH, NOPE, XRP]\n")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "tiny.rule").write_text(
        "strategy tiny\nmarket ETH\ntimeframe 5m\nentry long when close > ema(close, 3)\n"
        "exit long when close < ema(close, 3)\nsize 2% of equity\nstop_loss 2%\n"
    )
    flagged = [d for r in lint([config]) for d in r.diagnostics]
    assert [(d.code, d.severity.name) for d in flagged] == [("W509", "WARNING")]
    assert "`NOPE`" in flagged[0].message and flagged[0].span.line == 3
    checks = by_name(await run_checks(config, [rules]))
    assert checks["markets"].status is Status.WARN
    assert "lists NOPE, which the venue does not" in checks["markets"].message

    config.write_text("network:\n  name: sim\nmarkets: [ETH, XRP]\n")
    assert [d for r in lint([config]) for d in r.diagnostics] == []
    assert by_name(await run_checks(config, [rules]))["markets"].status is Status.PASS
    # a sim of its own address may have any market: only `check` can ask it
    config.write_text("network:\n  name: sim\n  url: http://127.0.0.1:1\nmarkets: [NOPE]\n")
    assert [d for r in lint([config]) for d in r.diagnostics] == []

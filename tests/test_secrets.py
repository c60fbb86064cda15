"""The API private key: from the environment or a private key file, never from a file other users
can read, never in a message."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from lighter.signer_client import create_api_key
from pydantic import SecretStr

from rulebot.config import ConfigError, load_config
from rulebot.secrets import (
    PRIVATE_KEY_ENV,
    SecretsError,
    find_private_key,
    key_format_problem,
    read_key_file,
    write_key_file,
)

KEY = create_api_key()[0]
OTHER_KEY = create_api_key()[0]


def key_file(folder: Path, text: str, mode: int = 0o600, name: str = "rulebot.env") -> Path:
    path = folder / name
    path.write_text(text)
    path.chmod(mode)
    return path


def test_the_environment_wins_over_the_key_file(tmp_path: Path) -> None:
    path = key_file(tmp_path, f"{PRIVATE_KEY_ENV}={OTHER_KEY}\n")
    found = find_private_key({PRIVATE_KEY_ENV: f"  {KEY}\n"}, path)
    assert found.key is not None and found.key.get_secret_value() == KEY
    assert found.origin == PRIVATE_KEY_ENV
    from_file = find_private_key({}, path)
    assert from_file.key is not None and from_file.key.get_secret_value() == OTHER_KEY
    assert from_file.origin == f"key file {path}"
    assert find_private_key({}, None).key is None
    assert KEY not in repr(found) and OTHER_KEY not in repr(from_file)


@pytest.mark.parametrize(
    "text",
    [
        f"{PRIVATE_KEY_ENV}={KEY}\n",
        f'# a comment\n\nexport {PRIVATE_KEY_ENV}="{KEY}"\n',
        f"OTHER=1\n{PRIVATE_KEY_ENV} = '{KEY}'  \n",
        f"{PRIVATE_KEY_ENV}={KEY} # the bot's key\n",
        f"\ufeff{KEY}\n",  # the bare key alone, saved with a byte order mark
    ],
    ids=["assignment", "export", "spaced", "commented", "bare-with-bom"],
)
def test_a_key_file_is_read_in_the_env_file_forms(tmp_path: Path, text: str) -> None:
    assert read_key_file(key_file(tmp_path, text)).get_secret_value() == KEY


@pytest.mark.parametrize(
    "text", ["", "# only a comment\n", "OTHER=1\nANOTHER=2\n", f"{PRIVATE_KEY_ENV}=\n"]
)
def test_a_key_file_without_a_key_says_how_to_write_one(tmp_path: Path, text: str) -> None:
    with pytest.raises(SecretsError) as refused:
        read_key_file(key_file(tmp_path, text))
    assert f"holds no {PRIVATE_KEY_ENV}" in str(refused.value)
    assert f"{PRIVATE_KEY_ENV}=<key>" in refused.value.fix


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666])
def test_a_key_file_other_users_can_open_is_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    path = key_file(tmp_path, f"{PRIVATE_KEY_ENV}={KEY}\n", mode)
    with pytest.raises(SecretsError) as refused:
        read_key_file(path)
    assert f"mode {mode:04o}" in str(refused.value)
    assert refused.value.fix == f"chmod 600 {path}"
    assert KEY not in str(refused.value) and KEY not in refused.value.fix
    path.chmod(0o600)  # the fix works
    assert read_key_file(path).get_secret_value() == KEY


def test_a_missing_key_file_or_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SecretsError, match="does not exist") as missing:
        read_key_file(tmp_path / "nowhere.env")
    assert "rulebot init" in missing.value.fix
    folder = tmp_path / "folder.env"
    folder.mkdir(mode=0o700)
    with pytest.raises(SecretsError, match="is not a regular file"):
        read_key_file(folder)


def test_a_key_file_is_written_for_its_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # the loosest umask: files would be created world-writable
    try:
        path = tmp_path / "keys" / "rulebot.env"
        write_key_file(path, SecretStr(f" {KEY}\n"))
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_key_file(path).get_secret_value() == KEY
    assert sorted(p.name for p in path.parent.iterdir()) == ["rulebot.env"]  # no temporary left
    write_key_file(path, SecretStr(OTHER_KEY))  # replaced whole
    assert read_key_file(path).get_secret_value() == OTHER_KEY


def test_the_key_format_check_names_the_problem_never_the_key() -> None:
    assert key_format_problem(KEY) is None
    assert key_format_problem(KEY.removeprefix("0x").upper()) is None
    assert key_format_problem(SecretStr(KEY)) is None
    wallet_key = "0x" + "ab" * 32
    cases = {
        "": "empty",
        "0x": "empty",
        KEY + "zz": "not hexadecimal",
        KEY[:-2]: "has 78 hex digits",
        wallet_key: "Ethereum wallet key",
    }
    for key, expected in cases.items():
        problem = key_format_problem(key)
        assert problem is not None and expected in problem
        if key.removeprefix("0x"):
            assert key.removeprefix("0x") not in problem


def write_config(folder: Path, account: str) -> Path:
    path = folder / "rulebot.yaml"
    path.write_text(f"network:\n  name: testnet\naccount:\n{account}")
    return path


def test_load_config_reads_the_key_file_beside_rulebot_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "bot"
    folder.mkdir()
    key_file(folder, f"{PRIVATE_KEY_ENV}={KEY}\n", name="my.env")
    config_path = write_config(folder, "  index: 5\n  key_file: my.env\n")
    monkeypatch.chdir(tmp_path)  # the key file is found from rulebot.yaml's folder, not from here
    config = load_config(Path("bot/rulebot.yaml"), env={})
    assert config.private_key is not None and config.private_key.get_secret_value() == KEY
    assert config.account.key_file == "my.env"
    from_env = load_config(config_path, env={PRIVATE_KEY_ENV: OTHER_KEY})
    assert from_env.private_key is not None
    assert from_env.private_key.get_secret_value() == OTHER_KEY
    assert load_config(config_path, env={}, read_key=False).private_key is None
    assert KEY not in repr(config) and KEY not in str(config.model_dump())


def test_load_config_refuses_an_exposed_key_file_with_a_located_fix(tmp_path: Path) -> None:
    key_file(tmp_path, f"{PRIVATE_KEY_ENV}={KEY}\n", mode=0o644)
    config_path = write_config(tmp_path, "  index: 5\n  key_file: rulebot.env\n")
    with pytest.raises(ConfigError) as refused:
        load_config(config_path, env={})
    [diagnostic] = refused.value.diagnostics
    assert diagnostic.code == "E604" and diagnostic.span.line == 5
    assert diagnostic.help == f"chmod 600 {tmp_path / 'rulebot.env'}"
    assert "open to other users" in str(refused.value)
    assert KEY not in str(refused.value)
    assert load_config(config_path, env={}, read_key=False).account.index == 5

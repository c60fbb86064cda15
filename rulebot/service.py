"""`rulebot service`: run the bot under systemd, so it starts at boot and restarts after a crash.

`install` writes a unit that runs `rulebot run` with the absolute path of this very rulebot and of
the bot's folder, restarts it on failure, and loads the key file with `EnvironmentFile=` (the file's
path, never the key). It then enables the unit with `systemctl` when the unit is where systemd
looks and systemd answers; otherwise it prints the commands to run. `uninstall` reverses that;
`status` says what is installed and whether systemd runs it. A user unit (the default) needs no
root; `--system` writes one for the whole machine that runs as the installing user.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final, Literal

import typer

from rulebot.secrets import DEFAULT_KEY_FILE

Scope = Literal["user", "system"]

DEFAULT_NAME: Final = "rulebot"
KEY_FILE: Final = DEFAULT_KEY_FILE
"""Where `rulebot init` keeps the key, beside rulebot.yaml."""
MARKER: Final = "# Written by `rulebot service install`"
SYSTEM_UNIT_DIR: Final = Path("/etc/systemd/system")
_SYSTEMCTL_TIMEOUT_S: Final = 30


class ServiceError(Exception):
    """Why the unit cannot be written or removed, in one message for the user."""


@dataclass(frozen=True, slots=True)
class Unit:
    """What a unit says: the command, where it runs, the key file, for whom."""

    name: str
    scope: Scope
    command: tuple[str, ...]
    working_directory: Path
    key_file: Path
    key_file_required: bool  # False: `EnvironmentFile=-...`, a missing file is no error
    user: str | None = None  # system units: the account it runs as

    @property
    def file_name(self) -> str:
        return f"{self.name}.service"


def rulebot_command(argv0: str | None = None, executable: str | None = None) -> tuple[str, ...]:
    """The absolute command that starts this rulebot: the `rulebot` script being run, else the
    one beside this Python (a virtualenv's), else `python -m rulebot`. Symbolic links are kept:
    a virtualenv's python must be called by its own path to find its packages."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    executable = sys.executable if executable is None else executable
    script = Path(argv0)
    if script.name == "rulebot" and script.is_file() and os.access(script, os.X_OK):
        return (str(script.absolute()),)
    beside = Path(executable).parent / "rulebot"
    if beside.is_file() and os.access(beside, os.X_OK):
        return (str(beside.absolute()),)
    return (str(Path(executable).absolute()), "-m", "rulebot")


def default_unit_dir(scope: Scope, env: Mapping[str, str] = os.environ) -> Path:
    """Where systemd looks: the user's `~/.config/systemd/user`, or /etc/systemd/system."""
    if scope == "system":
        return SYSTEM_UNIT_DIR
    config_home = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "systemd" / "user"


def render_unit(unit: Unit) -> str:
    """The unit file's text."""
    for path in (unit.working_directory, unit.key_file, *map(Path, unit.command)):
        if "\n" in str(path) or "\r" in str(path):
            raise ServiceError(f"a path with a line break cannot go in a unit: {str(path)!r}")
    exec_start = " ".join(_exec_word(word) for word in unit.command)
    optional = "" if unit.key_file_required else "-"
    lines = [
        MARKER,
        "[Unit]",
        f"Description=rulebot trading rules ({_escape(str(unit.working_directory))})",
    ]
    if unit.scope == "system":
        lines += ["Wants=network-online.target", "After=network-online.target"]
    lines += [
        "",
        "[Service]",
        "Type=simple",
    ]
    if unit.user:
        lines.append(f"User={unit.user}")
    lines += [
        f"WorkingDirectory={_escape(str(unit.working_directory))}",
        "# The key file's path only: the key itself never goes in a unit.",
        f"EnvironmentFile={optional}{_escape(str(unit.key_file))}",
        "Environment=PYTHONUNBUFFERED=1",
        f"ExecStart={exec_start}",
        "# SIGTERM stops rulebot cleanly: no new evaluations, the journal flushed, exit 0.",
        "TimeoutStopSec=60",
        "Restart=on-failure",
        "RestartSec=10",
        "NoNewPrivileges=yes",
        "",
        "[Install]",
        f"WantedBy={'multi-user.target' if unit.scope == 'system' else 'default.target'}",
        "",
    ]
    return "\n".join(lines)


def _escape(text: str) -> str:
    """A value for a unit setting: `%` starts a systemd specifier, so it is doubled."""
    return text.replace("%", "%%")


def _exec_word(word: str) -> str:
    """One word of `ExecStart=`: specifiers and `$` escaped, quoted when it holds a space."""
    word = word.replace("%", "%%").replace("$", "$$")
    if re.search(r"[\s\"'\\;]", word) or word == "":
        word = '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return word


def unit_words(text: str, key: str) -> str | None:
    """The value of the first `key=` line of a unit's text, as written."""
    for line in text.splitlines():
        if line.startswith(f"{key}="):
            return line[len(key) + 1 :]
    return None


# --- building a unit from what was asked ------------------------------------------------------


def plan_unit(
    *,
    scope: Scope,
    name: str = DEFAULT_NAME,
    workdir: str | None = None,
    config: str | None = None,
    key_file: str | None = None,
    run_args: Sequence[str] = (),
    env: Mapping[str, str] = os.environ,
) -> tuple[Unit, list[str]]:
    """The unit for this rulebot, and warnings worth reading before it runs unattended."""
    if not re.fullmatch(r"[A-Za-z0-9:_.@-]+", name):
        raise ServiceError(f"`{name}` cannot be a unit name: use letters, digits, `-`, `_`, `.`")
    folder = Path(workdir or os.getcwd()).absolute()
    if not folder.is_dir():
        raise ServiceError(f"{folder}: no such folder to run the bot in")
    warnings: list[str] = []
    config_path = Path(config) if config else None
    if config_path is not None and not config_path.is_absolute():
        config_path = (Path.cwd() / config_path).absolute()
    settings = _read_config(config_path or folder / "rulebot.yaml", warnings)
    if key_file is not None:
        key_path = Path(key_file).expanduser()
        key_path = key_path if key_path.is_absolute() else (Path.cwd() / key_path)
    elif settings.get("key_file"):
        named = Path(str(settings["key_file"])).expanduser()
        key_path = (config_path or folder / "rulebot.yaml").parent / named
    else:
        key_path = folder / KEY_FILE
    key_path = key_path.absolute()
    exists = key_path.is_file()
    if exists:
        mode = stat.S_IMODE(key_path.stat().st_mode)
        if mode & 0o077:
            warnings.append(
                f"{key_path} can be read by other users (mode {mode:o}): run chmod 600 {key_path}"
            )
    elif settings.get("needs_key"):
        warnings.append(
            f"no key file at {key_path}: the bot will have no API private key (run "
            "`rulebot init`, or write RULEBOT_API_PRIVATE_KEY=... there with mode 600)"
        )
    command = [*rulebot_command(), "run"]
    if config_path is not None:
        command += ["--config", str(config_path)]
    command += list(run_args)
    if settings.get("live_mainnet") and "--yes" not in run_args and "--dry-run" not in run_args:
        warnings.append(
            "rulebot.yaml trades real money on mainnet, which a service cannot confirm at a "
            "prompt: add `-- --yes` to the install command if you mean it"
        )
    user = None
    if scope == "system":
        user = env.get("SUDO_USER") or getpass.getuser()
        if user == "root":
            warnings.append("the system unit will run the bot as root: install it with sudo")
    unit = Unit(name, scope, tuple(command), folder, key_path, exists, user)
    return unit, warnings


def _read_config(path: Path, warnings: list[str]) -> dict[str, object]:
    """What the unit needs from rulebot.yaml (its key file, whether it needs a key, whether it
    trades live on mainnet); nothing when it is missing or broken (`rulebot check` says why)."""
    if not path.is_file():
        return {}
    from rulebot.config import check_config
    from rulebot.lang.diagnostics import Source

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return {}
    config, _ = check_config(Source(str(path), text))
    if config is None:
        warnings.append(f"{path} has errors: run `rulebot check` before starting the service")
        return {}
    live = not config.dry_run
    return {
        "key_file": config.account.key_file,
        "needs_key": live and config.network.name != "sim",
        "live_mainnet": live and config.network.name == "mainnet",
    }


# --- systemd ----------------------------------------------------------------------------------

Run = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _run(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), capture_output=True, text=True, timeout=_SYSTEMCTL_TIMEOUT_S, check=False
    )


def systemctl_words(scope: Scope, *words: str) -> list[str]:
    return ["systemctl", *(["--user"] if scope == "user" else []), *words]


def shown(words: Sequence[str]) -> str:
    import shlex

    return shlex.join(words)


def systemd_manages(unit_dir: Path, scope: Scope, env: Mapping[str, str] = os.environ) -> bool:
    """Whether systemctl can act on a unit written to `unit_dir`: it is the folder systemd reads,
    systemctl is installed, and systemd is the running init."""
    return (
        unit_dir.absolute() == default_unit_dir(scope, env).absolute()
        and shutil.which("systemctl") is not None
        and Path("/run/systemd/system").is_dir()
    )


# --- the three commands -----------------------------------------------------------------------


def install(
    unit: Unit,
    unit_dir: Path,
    *,
    enable: bool = True,
    say: Callable[[str], None] = typer.echo,
    run: Run = _run,
) -> int:
    """Write the unit (replacing one rulebot wrote before) and enable it if systemd can."""
    path = unit_dir / unit.file_name
    if path.exists() and MARKER not in _read(path):
        raise ServiceError(f"{path} exists and was not written by rulebot: remove it first")
    text = render_unit(unit)
    try:
        unit_dir.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.chmod(0o644)
        os.replace(temporary, path)
    except OSError as error:
        hint = " (a system unit needs sudo)" if unit.scope == "system" else ""
        raise ServiceError(f"cannot write {path}: {error.strerror}{hint}") from None
    say(f"wrote {path}")
    say(f"  runs: {' '.join(unit.command)}")
    say(f"  in:   {unit.working_directory}")
    steps = [
        systemctl_words(unit.scope, "daemon-reload"),
        systemctl_words(unit.scope, "enable", unit.file_name),
    ]
    code = 0
    if enable and systemd_manages(unit_dir, unit.scope):
        for words in steps:
            done = run(words)
            if done.returncode != 0:
                say(f"`{shown(words)}` failed: {(done.stderr or done.stdout).strip()}")
                code = 1
                break
        else:
            say(f"enabled {unit.file_name}: it starts at boot")
    else:
        reason = _why_not(unit_dir, unit.scope) if enable else " (--no-enable)"
        say(f"not enabled{reason}; to enable it, run:")
        for words in steps:
            say(f"  {shown(words)}")
    say("start it now with:")
    say(f"  {shown(systemctl_words(unit.scope, 'start', unit.file_name))}")
    say(f"its output: {shown(_journalctl(unit))}")
    if unit.scope == "user":
        say(f"to keep it running after you log out: loginctl enable-linger {getpass.getuser()}")
    return code


def uninstall(
    name: str,
    scope: Scope,
    unit_dir: Path,
    *,
    say: Callable[[str], None] = typer.echo,
    run: Run = _run,
) -> int:
    """Stop and disable the unit if systemd can, and remove its file."""
    path = unit_dir / f"{name}.service"
    if not path.exists():
        say(f"nothing to uninstall: no unit at {path}")
        return 0
    if MARKER not in _read(path):
        raise ServiceError(f"{path} was not written by rulebot: remove it yourself")
    code = 0
    manages = systemd_manages(unit_dir, scope)
    if manages:
        done = run(systemctl_words(scope, "disable", "--now", path.name))
        if done.returncode != 0:
            say(f"`systemctl disable` failed: {(done.stderr or done.stdout).strip()}")
            code = 1
    try:
        path.unlink()
    except OSError as error:
        raise ServiceError(f"cannot remove {path}: {error.strerror}") from None
    say(f"removed {path}")
    if manages:
        run(systemctl_words(scope, "daemon-reload"))
    else:
        say(f"systemd was not told{_why_not(unit_dir, scope)}; if it ran the unit, run:")
        say(f"  {shown(systemctl_words(scope, 'disable', '--now', path.name))}")
        say(f"  {shown(systemctl_words(scope, 'daemon-reload'))}")
    return code


def status(
    name: str,
    scope: Scope,
    unit_dir: Path,
    *,
    say: Callable[[str], None] = typer.echo,
    run: Run = _run,
) -> int:
    """Say whether the unit is installed, what it runs (and whether that program is still
    there), and what systemd says of it. 0 when installed, 1 when not."""
    path = unit_dir / f"{name}.service"
    if not path.is_file():
        say(f"not installed: no unit at {path} (`rulebot service install` writes it)")
        return 1
    text = _read(path)
    exec_start = unit_words(text, "ExecStart") or ""
    say(f"installed: {path}")
    say(f"  runs: {exec_start or '?'}")
    say(f"  in:   {unit_words(text, 'WorkingDirectory') or '?'}")
    program = _first_word(exec_start)
    if program and not (Path(program).is_file() and os.access(program, os.X_OK)):
        say(f"  PROBLEM: {program} is gone (a moved virtualenv?): install the unit again")
    elif program and program != rulebot_command()[0]:
        say(f"  it runs another rulebot than this one ({rulebot_command()[0]})")
    if systemd_manages(unit_dir, scope):
        enabled = run(systemctl_words(scope, "is-enabled", path.name)).stdout.strip()
        active = run(systemctl_words(scope, "is-active", path.name)).stdout.strip()
        say(f"  systemd: {enabled or 'unknown'}, {active or 'unknown'}")
    else:
        say(f"  systemd: not asked{_why_not(unit_dir, scope)}")
    say(f"  output: {shown(_journalctl_of(name, scope))}")
    return 0


def _first_word(exec_start: str) -> str | None:
    """The program an `ExecStart=` line runs, unquoted and unescaped."""
    import shlex

    try:
        words = shlex.split(exec_start)
    except ValueError:
        return None
    return words[0].replace("%%", "%").replace("$$", "$") if words else None


def _why_not(unit_dir: Path, scope: Scope) -> str:
    if unit_dir.absolute() != default_unit_dir(scope).absolute():
        return f" ({unit_dir} is not where systemd looks: {default_unit_dir(scope)})"
    if shutil.which("systemctl") is None:
        return " (no systemctl on this machine)"
    return " (systemd is not running here)"


def _journalctl(unit: Unit) -> list[str]:
    return _journalctl_of(unit.name, unit.scope)


def _journalctl_of(name: str, scope: Scope) -> list[str]:
    return ["journalctl", *(["--user"] if scope == "user" else []), "-u", name, "-f"]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise ServiceError(f"cannot read {path}: {error.strerror}") from None


# --- the command line -------------------------------------------------------------------------

service_app = typer.Typer(
    help="Run the bot under systemd: install, uninstall or check its unit.", no_args_is_help=True
)

UserOption = Annotated[
    bool,
    typer.Option("--user/--system", help="A user unit (no root needed) or a system-wide one."),
]
UnitDirOption = Annotated[
    str | None,
    typer.Option("--unit-dir", help="Write the unit here instead of where systemd looks."),
]
NameOption = Annotated[str, typer.Option("--name", help="The unit's name (NAME.service).")]


def _scope(user: bool) -> Scope:
    return "user" if user else "system"


def _unit_dir(unit_dir: str | None, scope: Scope) -> Path:
    return Path(unit_dir).absolute() if unit_dir else default_unit_dir(scope)


@contextlib.contextmanager
def _reported() -> Iterator[None]:
    """A service command's refusal: its message on stderr and exit status 1, no traceback."""
    try:
        yield
    except ServiceError as error:
        typer.echo(f"rulebot service: {error}", err=True)
        raise typer.Exit(1) from None


@service_app.command("install")
def install_command(
    run_args: Annotated[
        list[str] | None,
        typer.Argument(
            help="Arguments for `rulebot run`, after `--` (e.g. `-- rules/ --yes`).",
            show_default=False,
        ),
    ] = None,
    user: UserOption = True,
    unit_dir: UnitDirOption = None,
    name: NameOption = DEFAULT_NAME,
    workdir: Annotated[
        str | None, typer.Option("--workdir", help="The bot's folder (default: this one).")
    ] = None,
    config: Annotated[
        str | None, typer.Option("--config", "-c", help="rulebot.yaml, if not in the folder.")
    ] = None,
    key_file: Annotated[
        str | None,
        typer.Option("--key-file", help=f"The key file (default: rulebot.yaml's, or {KEY_FILE})."),
    ] = None,
    print_only: Annotated[
        bool, typer.Option("--print", help="Show the unit; write nothing.")
    ] = False,
    enable: Annotated[
        bool, typer.Option("--enable/--no-enable", help="Enable it with systemctl.")
    ] = True,
) -> None:
    """Write a systemd unit that runs `rulebot run` here, restarting it on failure."""
    scope = _scope(user)
    with _reported():
        unit, warnings = plan_unit(
            scope=scope,
            name=name,
            workdir=workdir,
            config=config,
            key_file=key_file,
            run_args=run_args or [],
        )
        for warning in warnings:
            typer.echo(f"warning: {warning}", err=True)
        if print_only:
            sys.stdout.write(render_unit(unit))
            raise typer.Exit(0)
        raise typer.Exit(install(unit, _unit_dir(unit_dir, scope), enable=enable))


@service_app.command("uninstall")
def uninstall_command(
    user: UserOption = True, unit_dir: UnitDirOption = None, name: NameOption = DEFAULT_NAME
) -> None:
    """Stop and disable the unit, and remove its file."""
    scope = _scope(user)
    with _reported():
        raise typer.Exit(uninstall(name, scope, _unit_dir(unit_dir, scope)))


@service_app.command("status")
def status_command(
    user: UserOption = True, unit_dir: UnitDirOption = None, name: NameOption = DEFAULT_NAME
) -> None:
    """Whether the unit is installed, what it runs, and whether systemd runs it."""
    scope = _scope(user)
    with _reported():
        raise typer.Exit(status(name, scope, _unit_dir(unit_dir, scope)))


__all__ = [
    "ServiceError",
    "Unit",
    "default_unit_dir",
    "install",
    "plan_unit",
    "render_unit",
    "rulebot_command",
    "service_app",
    "status",
    "uninstall",
]

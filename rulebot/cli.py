"""The `rulebot` command line: a thin typer layer that parses flags and calls the library."""

from __future__ import annotations

import io
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from rulebot import __version__
from rulebot.checks import check_cli
from rulebot.cli_options import Config, Data, Days, Funding
from rulebot.lint import UsageError, exit_code, lint, render_json, render_text
from rulebot.optimize.command import optimize_command
from rulebot.reporting import report_app
from rulebot.service import service_app
from rulebot.wizard import init_cli

app = typer.Typer(
    name="rulebot",
    help="A declarative trading rules engine for the Lighter perpetual exchange.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DEFAULT_LINT_PATHS = ("rules", "rulebot.yaml")


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rulebot {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """rulebot: write a strategy as rules, check it, backtest it, run it on Lighter."""


app.command("init")(init_cli)
app.command("check")(check_cli)


@app.command("lint")
def lint_command(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="Rule files, folders (searched for .rule/.yaml) or rulebot.yaml. "
            "Default: rules/ and rulebot.yaml.",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="text for people, json for tools.")
    ] = OutputFormat.text,
    live: Annotated[
        bool,
        typer.Option(
            "--live", help="Check for live trading: indicators with no streaming version fail."
        ),
    ] = False,
    data: Annotated[
        list[str] | None,
        typer.Option(
            "--data",
            help="Candles (CSV or Parquet) whose prices stops and targets are checked against: "
            "FILE for each rule's market, or MARKET=FILE. Default: the shipped candles.",
        ),
    ] = None,
) -> None:
    """Check rule files and the config; exit 0 if clean (warnings allowed), 1 on errors."""
    chosen = paths or [p for p in DEFAULT_LINT_PATHS if Path(p).exists()]
    if not chosen:
        typer.echo("rulebot lint: nothing to check: give a rule file or folder", err=True)
        raise typer.Exit(2)
    _tolerate_unencodable_output()
    try:
        reports = lint(chosen, live=live, data=data or ())
        render = render_json if output_format is OutputFormat.json else render_text
        output = render(reports)
    except UsageError as error:
        typer.echo(f"rulebot lint: {error}", err=True)
        raise typer.Exit(2) from None
    except Exception as error:  # a bug in rulebot, not in the input: one line, no traceback
        first_line = next(iter(str(error).splitlines()), "")
        typer.echo(f"rulebot lint: internal error: {type(error).__name__}: {first_line}", err=True)
        raise typer.Exit(1) from None
    sys.stdout.write(output)
    raise typer.Exit(exit_code(reports))


def _tolerate_unencodable_output() -> None:
    """Characters the terminal cannot show (an `é` on an ASCII terminal, a file name that is
    not UTF-8) are printed as escapes instead of stopping the command."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")


@app.command("backtest")
def backtest_command(
    rules: Annotated[str, typer.Argument(help="A rule file or a folder of them.")],
    days: Days = None,
    start: Annotated[
        str | None, typer.Option("--start", help="First day traded (YYYY-MM-DD, UTC).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="Day after the last (YYYY-MM-DD, UTC).")
    ] = None,
    data: Data = None,
    funding: Funding = None,
    config: Config = None,
    strategy: Annotated[
        str, typer.Option("--strategy", "-s", help="Which strategy of a folder, or all.")
    ] = "all",
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Write everything as JSON here.")
    ] = None,
    trades: Annotated[
        str | None, typer.Option("--trades", help="Write the trade list as CSV here.")
    ] = None,
    plot: Annotated[
        str | None,
        typer.Option(
            "--plot",
            help="Chart of the price with the trades, equity and drawdown: .png or .html.",
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Say more.")] = False,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Also say, per condition, on how many bars each clause held, and what "
            "stopped the entries that were true.",
        ),
    ] = False,
) -> None:
    """Backtest rules over historical candles and print the summary traders know."""
    from rulebot.backtesting.cli import run_backtests

    code = run_backtests(
        rules,
        days=days,
        start=start,
        end=end,
        data=data or [],
        funding=funding,
        config=config,
        strategy=strategy,
        output=output,
        trades=trades,
        plot=plot,
        verbose=verbose,
        explain=explain,
    )
    raise typer.Exit(code)


@app.command("explain")
def explain_command(
    rules: Annotated[str, typer.Argument(help="A rule file or a folder of them.")],
    data: Data = None,
    config: Config = None,
    strategy: Annotated[
        str, typer.Option("--strategy", "-s", help="Which strategy of a folder, or all.")
    ] = "all",
    at: Annotated[
        str | None,
        typer.Option("--at", help="Explain the bar open at this time (ISO, UTC), not the last."),
    ] = None,
    last: Annotated[int, typer.Option("--last", help="How many bars, ending there.")] = 3,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the decisions as JSON.")
    ] = False,
    port: Annotated[
        int | None,
        typer.Option(
            "--port", help="Ask the bot running with this status port for its last decisions."
        ),
    ] = None,
) -> None:
    """Why a strategy did or did not trade: every let and clause at each bar, and what stopped
    an entry that was true. With --port: the last decision of each strategy of a running bot
    (RULE names the strategy, or `all`)."""
    from rulebot.explain.command import run_explain, run_explain_live

    if port is not None:
        code = run_explain_live(port, config=config, host=None, strategy=rules, as_json=json_output)
        raise typer.Exit(code)
    code = run_explain(
        rules,
        data=data or [],
        config=config,
        strategy=strategy,
        at=at,
        last=last,
        as_json=json_output,
    )
    raise typer.Exit(code)


app.command("optimize")(optimize_command)


@app.command("sim")
def sim_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on (0: any free port).")
    ] = 8787,
    data: Annotated[
        list[str] | None,
        typer.Option(
            "--data",
            help="Candles to replay (CSV or Parquet): FILE, SYMBOL=FILE or "
            "SYMBOL=FILE,FUNDING_FILE; repeat for more markets. Default: the shipped candles.",
        ),
    ] = None,
    speed: Annotated[
        float, typer.Option("--speed", help="Replay speed in times real time (0: paused).")
    ] = 1.0,
    accounts: Annotated[
        str | None,
        typer.Option("--accounts", help="YAML file of accounts, collateral and API keys."),
    ] = None,
    drop_ws_every: Annotated[
        float | None,
        typer.Option("--drop-ws-every", help="Fault: close every WebSocket every N seconds."),
    ] = None,
    rate_limit: Annotated[
        int, typer.Option("--rate-limit", help="Fault: answer the first N requests with 429.")
    ] = 0,
    retry_after: Annotated[
        int, typer.Option("--retry-after", help="Seconds in the 429 answers' Retry-After.")
    ] = 1,
    server_errors: Annotated[
        int, typer.Option("--server-errors", help="Fault: answer the first N requests with 500.")
    ] = 0,
    after_apply: Annotated[
        bool,
        typer.Option("--after-apply", help="The 500s come after handling the request."),
    ] = False,
    fault_path: Annotated[
        str | None,
        typer.Option("--fault-path", help="Only requests to this path get 429/500s."),
    ] = None,
    delay_ms: Annotated[
        int, typer.Option("--delay-ms", help="Fault: delay every response by MS milliseconds.")
    ] = 0,
    reject_orders: Annotated[
        int, typer.Option("--reject-orders", help="Fault: refuse the first N created orders.")
    ] = 0,
    tier: Annotated[
        str | None,
        typer.Option("--tier", help="Enforce the venue's rate limits: standard or premium."),
    ] = None,
    rate_window: Annotated[
        float,
        typer.Option("--rate-window", help="Seconds in the rate limits' window (a test knob)."),
    ] = 60.0,
) -> None:
    """Run a local Lighter-compatible exchange replaying candles, until Ctrl+C."""
    from rulebot.venues.sim.serving import run_command

    code = run_command(
        host=host,
        port=port,
        data=data or [],
        speed=speed,
        accounts_file=accounts,
        rate_limits={"rate_limit_tier": tier, "rate_window_s": rate_window},
        faults={
            "drop_ws_every_s": drop_ws_every,
            "rate_limit": rate_limit,
            "retry_after_s": retry_after,
            "server_errors": server_errors,
            "server_errors_after_apply": after_apply,
            "path": fault_path,
            "delay_ms": delay_ms,
            "reject_orders": reject_orders,
        },
        echo=lambda line: typer.echo(line),
        echo_error=lambda line: typer.echo(line, err=True),
    )
    raise typer.Exit(code)


data_app = typer.Typer(
    help="Market data: download candles and funding from Lighter.", no_args_is_help=True
)
app.add_typer(data_app, name="data")


@data_app.command("download")
def data_download_command(
    market: Annotated[str, typer.Option("--market", "-m", help="Symbol (ETH) or market id.")],
    timeframe: Annotated[
        str, typer.Option("--timeframe", "-t", help="1m, 5m, 15m, 30m, 1h, 4h, 12h, 1d or 1w.")
    ] = "5m",
    days: Annotated[float, typer.Option("--days", help="The last N days of closed bars.")] = 30,
    out: Annotated[
        str, typer.Option("--out", "-o", help="Folder for the files (created if need be).")
    ] = "data",
    network: Annotated[
        str | None,
        typer.Option("--network", help="sim, testnet or mainnet. Default: rulebot.yaml's."),
    ] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="The venue's address, e.g. a running sim's.")
    ] = None,
    config: Annotated[
        str | None, typer.Option("--config", "-c", help="rulebot.yaml (its network).")
    ] = None,
    funding: Annotated[
        bool, typer.Option("--funding/--no-funding", help="Download funding rates too.")
    ] = True,
) -> None:
    """Download a market's candles (and funding) into CSV files `rulebot backtest` reads;
    run it again after an interruption to resume."""
    from rulebot.data.download import run_download

    code = run_download(
        market=market,
        timeframe=timeframe,
        days=days,
        out_dir=out,
        network=network,
        url=url,
        config=config,
        funding=funding,
    )
    raise typer.Exit(code)


class Network(StrEnum):
    sim = "sim"
    testnet = "testnet"
    mainnet = "mainnet"


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


@app.command("run")
def run_command(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Rule files or folders. Default: rules/.", show_default=False),
    ] = None,
    config: Annotated[str | None, typer.Option("--config", "-c", help="rulebot.yaml.")] = None,
    strategy: Annotated[
        str | None, typer.Option("--strategy", "-s", help="Run only this strategy (or all).")
    ] = None,
    market: Annotated[
        str | None, typer.Option("--market", "-m", help="Run only strategies on this market.")
    ] = None,
    network: Annotated[
        Network | None, typer.Option("--network", help="Override rulebot.yaml's network.")
    ] = None,
    dry_run: Annotated[
        bool | None,
        typer.Option(
            "--dry-run/--live",
            help="Live market data, simulated fills: no transaction leaves the machine "
            "(default: rulebot.yaml's dry_run).",
            show_default=False,
        ),
    ] = None,
    log_level: Annotated[
        LogLevel | None,
        typer.Option("--log-level", help="Log detail (default: rulebot.yaml's logging.level)."),
    ] = None,
    log_file: Annotated[
        str | None, typer.Option("--log-file", help="Also log JSON lines to this file.")
    ] = None,
    status_port: Annotated[
        int | None,
        typer.Option("--status-port", help="Status API port (default 8000; 0 turns it off)."),
    ] = None,
    journal: Annotated[
        str | None, typer.Option("--journal", help="The SQLite state file (default: config).")
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm trading real money on mainnet.")
    ] = False,
    stop_after: Annotated[
        float | None,
        typer.Option("--stop-after", help="Stop cleanly after this many seconds (demos, tests)."),
    ] = None,
) -> None:
    """Run every enabled rule live (or on the local sim); hot-reload rules on save."""
    from rulebot.runtime.commands import run_command as run

    code = run(
        paths or ["rules"],
        config_path=config,
        strategy=strategy,
        market=market,
        network=network.value if network else None,
        dry_run=dry_run,
        log_level=log_level.value if log_level else None,
        log_file=log_file,
        status_port=status_port,
        journal=journal,
        confirmed=yes,
        stop_after=stop_after,
        say=typer.echo,
    )
    raise typer.Exit(code)


@app.command("status")
def status_command(
    port: Annotated[
        int | None,
        typer.Option("--port", help="The bot's status API port (default: rulebot.yaml's)."),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option("--host", help="The bot's status API address (default: rulebot.yaml's)."),
    ] = None,
    config: Annotated[
        str | None, typer.Option("--config", "-c", help="rulebot.yaml (its journal and port).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw JSON.")] = False,
) -> None:
    """Print the running bot's state: strategies, positions, orders, equity, risk."""
    from rulebot.runtime.commands import status_command as status

    raise typer.Exit(status(config, port, host, as_json))


@app.command("flatten")
def flatten_command(
    market: Annotated[
        str | None, typer.Option("--market", "-m", help="Only this market (default: all).")
    ] = None,
    config: Annotated[str | None, typer.Option("--config", "-c", help="rulebot.yaml.")] = None,
    network: Annotated[
        Network | None, typer.Option("--network", help="Override rulebot.yaml's network.")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", help="The running bot's status port (default: rulebot.yaml's)."),
    ] = None,
) -> None:
    """Emergency: cancel every order and close every position, reporting each result."""
    from rulebot.runtime.commands import flatten_command as flatten

    raise typer.Exit(flatten(config, market, network.value if network else None, port, None))


app.add_typer(report_app, name="report")
app.add_typer(service_app, name="service")

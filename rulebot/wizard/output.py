"""What `rulebot init` shows and writes: the risk warnings, rulebot.yaml (commented like the
shipped one), the key file, and the next commands."""

from __future__ import annotations

import json
import os
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Final

import yaml

from rulebot.config import CHAIN_IDS, PRIVATE_KEY_ENV, check_config, percent_text, quote_text
from rulebot.lang.diagnostics import Source
from rulebot.secrets import DEFAULT_KEY_FILE, write_key_file
from rulebot.wizard.plan import InitError, Plan


def risk_warnings(plan: Plan) -> str:
    """What the trader must read before anything is written."""
    risk = plan.risk
    lines = ["", "Before you go on, read this:"]
    if plan.network == "mainnet":
        lines.append("  ! mainnet trades REAL MONEY. Everything in the account can be lost.")
    elif plan.network == "testnet":
        lines.append("  ! testnet is play money; mainnet, one setting away, is not.")
    lines += [
        "  ! Perpetual futures are leveraged: a move against a position can take more than the",
        "    position's margin, and a liquidation takes the collateral behind it.",
        "  ! The bot sends orders by itself while it runs. A backtest is not a promise: fills,",
        "    fees, funding, gaps and outages make live results differ.",
        "  ! Stops and targets rest at the exchange, but a gap fills them worse than their price.",
        "  ! `rulebot flatten` cancels every order and closes every position: the emergency stop.",
        "",
        f"  network {plan.network}, account {plan.account_index}, "
        f"API key index {plan.api_key_index}, " + ("dry run" if plan.dry_run else "LIVE orders"),
        f"  strategies: {', '.join(r.name for r in plan.strategies) or 'none yet'}",
        f"  markets: {', '.join(plan.markets)}",
        f"  limits: position {quote_text(risk.max_position)}, order {quote_text(risk.max_order)}, "
        f"leverage {_plain(risk.max_leverage)}x, daily loss {risk.max_daily_loss}, "
        f"drawdown {percent_text(risk.max_drawdown)}",
    ]
    lines += [f"  note: {note}" for note in plan.notes]
    return "\n".join(lines) + "\n"


def write_plan(plan: Plan, config_path: Path) -> None:
    """Write the key file (when there is a new key) and rulebot.yaml, checked before writing."""
    text = render_config(plan)
    config, diagnostics = check_config(Source(str(config_path), text))
    if config is None:  # a bug in the template, never the trader's answers: they were checked
        raise InitError(f"the config written would not load: {diagnostics[0].message}")
    if plan.new_key is not None:
        assert plan.key_file is not None
        write_key_file(config_path.parent / plan.key_file, plan.new_key)
    config_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = config_path.with_name(f".{config_path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(config_path)


def next_steps(plan: Plan, config_path: Path) -> str:
    """What was written and the commands to run next."""
    config_flag = "" if config_path == Path("rulebot.yaml") else f" -c {config_path}"
    wrote = [f"Wrote {config_path}."]
    if plan.new_key is not None and plan.key_file is not None:
        stored = config_path.parent / plan.key_file
        wrote.append(
            f"The API key is in {stored}, readable only by you: keep it out of version control."
        )
    elif plan.key_file is None and plan.network != "sim":
        wrote.append(f"Set {PRIVATE_KEY_ENV} in the bot's environment before it trades live.")
    lines = [*wrote, "", "Next:", f"  rulebot check{config_flag}"]
    if plan.strategies:
        lines.append(f"  {run_command(plan)}{config_flag}")
    return "\n".join(lines)


def run_command(plan: Plan) -> str:
    """`rulebot run` for the chosen strategies: their folder when every rule was chosen."""
    if plan.every_rule:
        return f"rulebot run {plan.rules_dir.as_posix()}/"
    return "rulebot run " + " ".join(rule.path.as_posix() for rule in plan.strategies)


def render_config(plan: Plan) -> str:
    """rulebot.yaml for the plan, commented like the shipped one."""
    risk = plan.risk
    chosen = ", ".join(f"{r.name} ({r.path.as_posix()})" for r in plan.strategies)
    network = [f"  name: {plan.network}"]
    if plan.url is not None:
        network.append(f"  url: {_scalar(plan.url)}")
    if plan.network == "sim":
        network.append(_commented("  sim_speed: 60", "60 = a 5-minute bar every 5 seconds"))
    else:
        network.append(
            f"  # chain_id: {CHAIN_IDS[plan.network]}   ({plan.network}'s own, signed for unless "
            "set: only for a url that leads to another network)"
        )
    if plan.key_file is not None:
        key_line = f"  key_file: {_scalar(plan.key_file.as_posix())}"
    else:
        key_line = (
            f"  # key_file: {DEFAULT_KEY_FILE}   (unset: the key comes from {PRIVATE_KEY_ENV})"
        )
    header = [
        f"# rulebot.yaml — the bot's settings, written by `rulebot init` for {plan.network}.",
        "# Unknown or misspelled keys are errors, never silently ignored. `rulebot check` tests",
        "# this file, the rules, the key, the venue and the account.",
    ]
    if plan.strategies:
        wrapped = textwrap.wrap(f"Strategies chosen: {chosen}.", 90, subsequent_indent="  ")
        header += ["#", *(f"# {line}" for line in wrapped), f"# Run them with: {run_command(plan)}"]
    risk_lines = [
        ("max_position_notional", quote_text(risk.max_position), "largest total position"),
        ("max_order_notional", quote_text(risk.max_order), "largest single order"),
        ("max_leverage", _plain(risk.max_leverage), "total position notional / account equity"),
        ("max_daily_loss", str(risk.max_daily_loss), "of equity at the day's start, or USDC"),
        ("max_drawdown", percent_text(risk.max_drawdown), "from the highest equity seen"),
        ("max_open_orders", "10", "resting orders across all markets"),
    ]
    return "\n".join(
        [
            *header,
            "",
            "# Where orders go. `sim` is a local Lighter-compatible exchange that rulebot starts",
            "# itself, replaying the shipped candles: no keys, no network, no money. `testnet`",
            "# trades play money on Lighter, `mainnet` real money. `url` overrides the address.",
            "network:",
            *network,
            "",
            "# Your Lighter account and which of its API keys signs orders (2-254: 0 and 1 are",
            "# the Lighter apps' own, 255 means none). The API private key never goes in this",
            f"# file: it comes from {PRIVATE_KEY_ENV}, else from `key_file`, which only you",
            "# may read (chmod 600).",
            "account:",
            f"  index: {plan.account_index}",
            f"  api_key_index: {plan.api_key_index}",
            key_line,
            "",
            "# The markets the bot may trade. A rule file that names any other market is refused.",
            "markets:",
            *(f"  - {_scalar(symbol)}" for symbol in plan.markets),
            "",
            "# Account-wide limits, checked before every order on top of each rule file's own.",
            "# A breach stops new entries (exits still run) until the limit is back in bounds.",
            "risk:",
            *(_commented(f"  {key}: {value}", comment) for key, value, comment in risk_lines),
            "",
            _FIXED_SECTIONS,
            "# true: live prices, simulated fills: no order leaves the machine. Set false to trade",
            "# for real; `rulebot run --live` or `--dry-run` overrides it for one run.",
            f"dry_run: {'true' if plan.dry_run else 'false'}",
            "",
        ]
    )


def _commented(line: str, comment: str) -> str:
    return f"{line:<37}# {comment}"


_FIXED_SECTIONS: Final = """\
# What the bot writes down. With `file` set, logs also go to that file as JSON lines
# (one event per line, easy to search), rotated at `max_bytes` keeping `backups` old files.
logging:
  level: INFO        # DEBUG, INFO, WARNING or ERROR
  file: null         # e.g. logs/rulebot.log
  json: true
  max_bytes: 10000000
  backups: 5

# How `rulebot backtest` fills orders: at the next bar's open (or `close`), paying fees as
# fractions of notional (Lighter premium accounts: 0.028% taker, 0.004% maker; standard: 0),
# with slippage in basis points against you, sizes rounded down to `size_decimals`.
backtest:
  initial_equity: 10000
  fill_at: next_open
  taker_fee: 0.00028
  maker_fee: 0.00004
  slippage_bps: 1
  size_decimals: 4
  # periods_per_year: 252  # bars a year for CAGR and Sharpe; unset: from the data's own calendar

# How `rulebot run` keeps its state and answers `rulebot status`.
runtime:
  journal: rulebot-state.sqlite  # orders, fills, positions, equity, risk events (SQLite)
  status_host: 127.0.0.1         # another address needs RULEBOT_STATUS_TOKEN set
  status_port: 8000              # 0 turns the status API off
  cancel_orders_on_exit: false   # on Ctrl+C: leave stops and targets at the exchange
  on_rule_deleted: keep          # a deleted rule's position: keep (and warn) or close

# Hear about fills, risk events, reload errors, disconnections and crashes without watching a
# terminal: uncomment and fill in (docs/notifications.md has every setting). Passwords and
# tokens come from the environment, never from this file.
# notifications:
#   email:
#     host: smtp.example.com
#     port: 587
#     security: starttls     # the password comes from RULEBOT_SMTP_PASSWORD
#     username: bot@example.com
#     from: bot@example.com
#     to: [you@example.com]
#   webhooks:
#     - format: telegram     # the bot token comes from RULEBOT_TELEGRAM_BOT_TOKEN
#       chat_id: 123456789
"""


def _plain(number: Decimal) -> str:
    return f"{number.normalize():f}"


def _scalar(text: str) -> str:
    """`text` as a YAML string: bare when YAML reads it back as that very string, else quoted."""
    try:
        plain = yaml.safe_load(text) == text and "#" not in text and ": " not in text
    except yaml.YAMLError:
        plain = False
    return text if plain else json.dumps(text)

"""What `rulebot run` prints before it trades: on the built-in sim, the shipped pairs priced in
BTC say so, since the sim shows their prices as if they were dollars."""

from __future__ import annotations

from pathlib import Path

from rulebot.config import Config
from rulebot.lang.load import compile_file
from rulebot.runtime.app import banner

ROOT = Path(__file__).resolve().parents[2]


def strategies() -> list:
    return [
        compile_file(ROOT / "rules" / name, live=True).strategy
        for name in ("arbitrage.rule", "ut_bot.rule")
    ]


def lines_of(config: Config) -> dict[str, str]:
    text = banner(config, strategies(), "http://127.0.0.1:1")
    return {line.split()[0]: line for line in text.splitlines()[1:3]}


def test_the_built_in_sim_labels_the_pairs_priced_in_btc() -> None:
    lines = lines_of(Config.model_validate({"network": {"name": "sim"}}))
    assert lines["arbitrage"].endswith("(prices in BTC)")
    assert "prices in" not in lines["ut_bot"]  # BTC itself is priced in USD


def test_a_sim_of_ones_own_data_is_not_labelled() -> None:
    config = Config.model_validate({"network": {"name": "sim", "url": "http://127.0.0.1:1"}})
    assert all("prices in" not in line for line in lines_of(config).values())

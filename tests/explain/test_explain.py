"""`rulebot explain` on the shipped rules and data: the values it shows are the ones the backtest
decided with, and the blockers it names are what the fill loop did."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rulebot.backtesting.engine import backtest, load_rules, market_data, on_timeframe
from rulebot.cli import app
from rulebot.explain.clauses import conditions, parts
from rulebot.explain.decisions import Explanation, explain
from rulebot.explain.render import number
from rulebot.graph.plan import plan
from rulebot.lang.load import compile_text
from rulebot.runtime.messages import Bar
from rulebot.runtime.strategy import LiveStrategy

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
SINGLE_MARKET = ("mean_reversion.rule", "momentum.yaml", "ut_bot.rule")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["explain", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def explained() -> dict[str, Explanation]:
    return {name: explain(load_rules(RULES / name)[0]) for name in SINGLE_MARKET}


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M")


# ---- what a trader reads (snapshots) ------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in RULES.glob("*.*")))
def test_the_last_bars_of_each_shipped_rule(name: str, snapshot) -> None:
    code, output = run(str(RULES / name), "--last", "2")
    assert code == 0, output
    assert output == snapshot


@pytest.mark.parametrize(
    ("name", "blocker"),
    [
        ("mean_reversion.rule", "cooldown"),
        ("mean_reversion.rule", "in_position"),
        ("momentum.yaml", "cooldown"),
        ("ut_bot.rule", None),  # an entry taken: a reverse
    ],
)
def test_a_bar_where_an_entry_was_true(
    explained: dict[str, Explanation], name: str, blocker: str | None, snapshot
) -> None:
    explanation = explained[name]
    entries = explanation.named["entry.long"] | explanation.named["entry.short"]
    bars = [
        int(i)
        for i in np.flatnonzero(entries)
        if explanation.blocker(int(i)) == blocker
        and (blocker is not None or explanation.position(int(i)) != "flat")
    ]
    at = iso(int(explanation.timestamp[bars[0]]))
    code, output = run(str(RULES / name), "--at", at, "--last", "1")
    assert code == 0, output
    assert output == snapshot


def test_the_summary_backtest_explain_prints(snapshot) -> None:
    result = CliRunner().invoke(app, ["backtest", str(RULES / "mean_reversion.rule"), "--explain"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert result.output[result.output.index("why ") :] == snapshot


# ---- the values are the backtest's ---------------------------------------------------------------


@pytest.mark.parametrize("name", SINGLE_MARKET)
def test_every_entry_taken_is_a_trade_of_the_backtest(
    explained: dict[str, Explanation], name: str
) -> None:
    summary = explained[name].summary()
    trades = backtest(load_rules(RULES / name)[0]).trades
    assert summary.entered == len(trades) > 10


def test_a_cooldown_follows_a_losing_trade(explained: dict[str, Explanation]) -> None:
    explanation = explained["mean_reversion.rule"]
    trades = backtest(explanation.strategy).trades
    losers = trades["exit_index"][trades["pnl"] < 0]
    cooled = [i for i in range(len(explanation)) if explanation.blocker(i) == "cooldown"]
    entries = explanation.named["entry.long"] | explanation.named["entry.short"]
    assert cooled and all(entries[i] for i in cooled)
    for i in cooled:  # a loss closed on bar k stops entries read on bars k .. k+4
        assert ((losers <= i) & (i < losers + 5)).any(), i


def test_an_entry_stopped_by_the_position_holds_that_side(
    explained: dict[str, Explanation],
) -> None:
    explanation = explained["mean_reversion.rule"]
    held = [i for i in range(len(explanation)) if explanation.blocker(i) == "in_position"]
    assert held
    for i in held:
        side = explanation.position(i)
        assert explanation.named[f"entry.{side}"][i], i


def test_clauses_hold_exactly_when_their_condition_says(
    explained: dict[str, Explanation],
) -> None:
    explanation = explained["mean_reversion.rule"]
    named = explanation.named
    tree = explanation.trees["entry.long"]
    first, second = tree.children
    z, strength = named["let.z"], named["let.strength"]
    np.testing.assert_array_equal(named[f"part.{first.key}"], z < -2.0)
    np.testing.assert_array_equal(named[f"part.{second.key}"], strength < 35)
    np.testing.assert_array_equal(
        named[f"part.{tree.key}"], named[f"part.{first.key}"] & named[f"part.{second.key}"]
    )
    np.testing.assert_array_equal(named[f"part.{tree.key}"], named["entry.long"])


def test_bars_in_trade_is_what_the_fill_loop_read(explained: dict[str, Explanation]) -> None:
    explanation = explained["mean_reversion.rule"]
    tree = explanation.trees["exit.long"]
    (operand,) = tree.children[1].operands
    bars_in_trade = explanation.named[f"part.{operand.key}"]
    trades = backtest(explanation.strategy).trades
    trade = trades[0]  # filled at the next open: held from its entry bar's close
    inside = np.arange(trade["entry_index"], trade["exit_index"])
    np.testing.assert_array_equal(bars_in_trade[inside], inside - trade["entry_index"])


def test_explaining_adds_nodes_and_changes_none_of_the_strategy() -> None:
    for name in (*SINGLE_MARKET, "arbitrage.rule"):
        strategy = load_rules(RULES / name)[0]
        alone, explained = plan(strategy), plan(strategy, None, parts(conditions(strategy)))
        assert explained.nodes[: len(alone.nodes)] == alone.nodes
        assert explained.warmup_bars == alone.warmup_bars


def test_a_loss_limit_names_itself() -> None:
    text = (RULES / "mean_reversion.rule").read_text()
    tight = text.replace("max_drawdown    10%", "max_drawdown    0.1%")
    compiled = compile_text(tight, "tight.rule")
    assert compiled.strategy is not None
    summary = explain(compiled.strategy).summary()
    assert summary.stopped.get("drawdown", 0) > 0
    assert summary.entered < len(backtest(load_rules(RULES / "mean_reversion.rule")[0]).trades)


# ---- what a user gets wrong ----------------------------------------------------------------------


def test_a_broken_rule_shows_its_diagnostic(tmp_path: Path) -> None:
    broken = tmp_path / "broken.rule"
    broken.write_text((RULES / "mean_reversion.rule").read_text().replace("sma(", "smaa("))
    code, output = run(str(broken))
    assert code == 1
    assert "error[" in output and "smaa" in output and "^" in output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--at", "yesterday"), "--at takes a time"),
        (("--at", "2001-01-01"), "before the first bar"),
        (("--last", "0"), "--last must be 1 or more"),
    ],
)
def test_bad_options_say_why(args: tuple[str, ...], says: str) -> None:
    code, output = run(str(RULES / "mean_reversion.rule"), *args)
    assert code == 2
    assert says in output


def test_json_and_given_data_explain_the_same_bars(tmp_path: Path) -> None:
    import json

    shipped = ROOT / "rulebot" / "data" / "candles" / "btc_usd_perp_5m.csv"
    rows = shipped.read_text().splitlines()
    given = tmp_path / "btc.csv"
    given.write_text("\n".join(rows[:3001]) + "\n")  # the first 3000 bars only
    rule = str(RULES / "mean_reversion.rule")
    code, output = run(rule, "--data", str(given), "--json", "--last", "2")
    assert code == 0, output
    decisions = json.loads(output)
    assert [d["time"] for d in decisions] == [int(r.split(",")[0]) for r in rows[2999:3001]]
    # the same bar, explained with all the shipped data, reads the same values
    at = iso(decisions[-1]["time"])
    code, whole = run(rule, "--json", "--at", at, "--last", "1")
    assert code == 0, whole
    assert json.loads(whole)[0]["lets"] == decisions[-1]["lets"]


def test_a_resting_entry_shows_the_level_it_rests_at_in_the_backtest_and_live() -> None:
    (strategy,) = load_rules(RULES / "maker_reversion.rule")
    explanation = explain(strategy)
    index = len(explanation) - 1
    decision = explanation.decision(index)
    lets = dict(decision.lets)
    orders = dict(decision.orders)
    level = explanation.named["entry_level.long"][index]
    assert level == pytest.approx(lets["mid"] - lets["band"])  # type: ignore[operator]
    assert orders["entry.long"] == (f"post-only limit at mid - band = {number(level)}, for 3 bars")
    assert decision.to_dict()["orders"] == orders
    # live, the streaming evaluator's decision at the same close says the same
    live = LiveStrategy(strategy)
    bars = on_timeframe(market_data(strategy, None)["BTC"], strategy, "BTC")
    for k in range(len(bars)):
        ohlc = (bars.open[k], bars.high[k], bars.low[k], bars.close[k])
        bar = Bar("BTC", int(bars.timestamp[k]), *(float(v) for v in ohlc), 1.0)
        live.on_bar({"BTC": bar}, Decimal(10_000))
    assert live.decision is not None
    assert dict(live.decision.orders)["entry.long"] == orders["entry.long"]

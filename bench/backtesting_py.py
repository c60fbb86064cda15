"""rulebot beside backtesting.py 0.6.6 on its best-known example, trade for trade and to the cent.

backtesting.py's SMA crossover (10/20 here) on GOOG daily: 10,000 cash, 0.2% commission on each
fill, market orders at the next bar's open, every order "all the cash" (`buy()`/`sell()` with no
size: whole units, as many as the cash left after closing the previous trade pays for, commission
included). On a cross it closes the position and opens the other side.

rulebot runs the same strategy as a rule (`size 100% of cash`, below) with the fill settings that
say the same thing: `taker_fee=0.002`, `lot_size=1` (whole units), `fill_at="next_open"` and
`end_of_data="keep"` (backtesting.py leaves the last trade open unless told to finalize it; when
told, it closes that trade at the last bar's open, where rulebot's `end_of_data="close"` closes at
the last close, so the finalized runs are not compared). The crossovers agree: backtesting.py's
`crossover` is strict on the previous bar (`a[-2] < b[-2]`) where rulebot's is not
(`a[1] <= b[1]`), and the script checks that no bar of the data has the tie that would tell them
apart.

Printed: every trade side by side (fill bars, size, prices, PnL), then the differences: a trade
matches when its bars, side and size are equal and its prices and PnL differ by less than half a
cent; the final equity and the equity at every bar the same way; the position left open. Exit
status 0 when everything matches, 1 otherwise.

    .venv/bin/python bench/backtesting_py.py [--data FILE]

`--data` defaults to the GOOG file rulebot ships (`rulebot/data/candles/goog_1d.csv`, the same
bars as backtesting.py's `test/GOOG.csv`). backtesting.py is in the optional extra `bench`
(`pip install -e '.[bench]'`; this comparison pins `backtesting==0.6.6`).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rulebot.backtesting.engine import BacktestResult, backtest  # noqa: E402
from rulebot.backtesting.fills import FillSettings  # noqa: E402
from rulebot.data.candles import Candles, load_candles  # noqa: E402
from rulebot.lang.load import compile_text  # noqa: E402

CASH = 10_000.0
COMMISSION = 0.002
FAST, SLOW = 10, 20
HALF_CENT = 0.005
BACKTESTING_PY_VERSION = "0.6.6"
RULE = f"""strategy sma_cross
market GOOG
timeframe 1d
let fast = sma(close, {FAST})
let slow = sma(close, {SLOW})
entry long  when crossover(fast, slow)
entry short when crossunder(fast, slow)
size 100% of cash
"""
SETTINGS = FillSettings(
    fill_at="next_open",
    taker_fee=COMMISSION,
    lot_size=1.0,
    initial_equity=CASH,
    end_of_data="keep",
)


def run_rulebot(candles: Candles) -> BacktestResult:
    compiled = compile_text(RULE, "sma_cross.rule")
    if compiled.strategy is None:
        raise SystemExit(f"the rule does not compile: {compiled.diagnostics}")
    return backtest(compiled.strategy, candles, settings=SETTINGS)


def run_backtesting_py(candles: Candles) -> tuple[object, object]:
    """backtesting.py's statistics and its strategy instance (which holds the open trade)."""
    import pandas as pd
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    frame = pd.DataFrame(
        {
            "Open": candles.open,
            "High": candles.high,
            "Low": candles.low,
            "Close": candles.close,
            "Volume": candles.volume,
        },
        index=pd.to_datetime(candles.timestamp, unit="ms"),
    )

    def sma(values: np.ndarray, n: int) -> np.ndarray:
        return pd.Series(values).rolling(n).mean().to_numpy()

    class SmaCross(Strategy):
        def init(self) -> None:
            self.fast = self.I(sma, self.data.Close, FAST)
            self.slow = self.I(sma, self.data.Close, SLOW)

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                self.position.close()
                self.buy()
            elif crossover(self.slow, self.fast):
                self.position.close()
                self.sell()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "some trades remain open": kept open on purpose
        stats = Backtest(frame, SmaCross, cash=CASH, commission=COMMISSION).run()
    return stats, stats["_strategy"]


def ties(close: np.ndarray) -> int:
    """Bars where the two averages are equal: the one case the two crossovers read apart."""
    fast = np.convolve(close, np.ones(FAST) / FAST, "valid")[SLOW - FAST :]
    slow = np.convolve(close, np.ones(SLOW) / SLOW, "valid")
    return int(np.count_nonzero(np.abs(fast - slow) < 1e-9 * np.abs(slow)))


def compare(ours: BacktestResult, stats: object, strategy: object, console: Console) -> bool:
    theirs = stats["_trades"]  # type: ignore[index]
    trades = ours.trades
    table = Table(title=f"SMA {FAST}/{SLOW} crossover: rulebot | backtesting.py")
    for name in ("#", "entry bar", "exit bar", "size", "entry", "exit", "PnL", "PnL (bt.py)", "ok"):
        table.add_column(name, justify="right")
    mismatches = 0
    worst_money = 0.0
    for k in range(max(len(trades), len(theirs))):
        if k >= len(trades) or k >= len(theirs):
            mismatches += 1
            table.add_row(str(k + 1), "missing on one side", *[""] * 7)
            continue
        mine, row = trades[k], theirs.iloc[k]
        size = float(mine["side"] * mine["size"])
        money = max(
            abs(float(mine["entry_price"]) - float(row.EntryPrice)),
            abs(float(mine["exit_price"]) - float(row.ExitPrice)),
            abs(float(mine["pnl"]) - float(row.PnL)),
        )
        worst_money = max(worst_money, money)
        same = (
            int(mine["entry_index"]) == int(row.EntryBar)
            and int(mine["exit_index"]) == int(row.ExitBar)
            and size == float(row.Size)
            and money < HALF_CENT
        )
        mismatches += not same
        table.add_row(
            str(k + 1),
            str(mine["entry_index"]),
            str(mine["exit_index"]),
            f"{size:+.0f}",
            f"{mine['entry_price']:.2f}",
            f"{mine['exit_price']:.2f}",
            f"{mine['pnl']:,.2f}",
            f"{row.PnL:,.2f}",
            "yes" if same else "NO",
        )
    console.print(table)

    equity_theirs = stats["_equity_curve"]["Equity"].to_numpy()  # type: ignore[index]
    equity_gap = float(np.max(np.abs(ours.equity - equity_theirs)))
    final_ours = float(ours.equity[-1])
    final_theirs = float(stats["Equity Final [$]"])  # type: ignore[index]
    open_theirs = [
        (float(t.size), float(t.entry_price), int(t.entry_bar))
        for t in strategy.trades  # type: ignore[attr-defined]
    ]
    position = ours.result.position
    held = float(position[-1])
    open_ours = []
    if held != 0.0:
        before = np.nonzero(position != held)[0]
        entry_bar = int(before[-1]) + 1 if len(before) else 0
        open_ours = [(held, float(ours.columns.open[entry_bar]), entry_bar)]
    final_gap = abs(final_ours - final_theirs)
    checks = [
        ("trades", str(len(trades)), str(len(theirs)), mismatches == 0),
        ("worst price/PnL gap", f"{worst_money:.1e}", "", worst_money < HALF_CENT),
        ("final equity", f"{final_ours:,.2f}", f"{final_theirs:,.2f}", final_gap < HALF_CENT),
        ("worst equity gap, any bar", f"{equity_gap:.1e}", "", equity_gap < HALF_CENT),
        ("open at the end", str(open_ours), str(open_theirs), open_ours == open_theirs),
    ]
    summary = Table(title="agreement (money within half a cent)")
    for name in ("", "rulebot", "backtesting.py", "ok"):
        summary.add_column(name, justify="right")
    for name, mine_text, theirs_text, ok in checks:
        summary.add_row(name, mine_text, theirs_text, "yes" if ok else "NO")
    console.print(summary)
    return all(ok for *_, ok in checks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", default=str(REPO / "rulebot" / "data" / "candles" / "goog_1d.csv")
    )
    args = parser.parse_args()
    console = Console(width=120)
    try:
        import backtesting
    except ImportError:
        console.print("backtesting.py is not installed: pip install 'backtesting==0.6.6'")
        return 2
    if backtesting.__version__ != BACKTESTING_PY_VERSION:
        console.print(
            f"note: backtesting.py {backtesting.__version__}; this comparison pins "
            f"{BACKTESTING_PY_VERSION}"
        )
    candles = load_candles(args.data)
    tied = ties(np.asarray(candles.close, dtype=np.float64))
    console.print(f"{len(candles)} bars; bars where the averages tie: {tied}")
    stats, strategy = run_backtesting_py(candles)
    matched = compare(run_rulebot(candles), stats, strategy, console)
    console.print("every trade and the equity match" if matched else "MISMATCH")
    return 0 if matched and tied == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

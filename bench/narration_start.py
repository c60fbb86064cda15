"""What saying trades costs a restart: a `Narrator` (the engine's, fed the journal's fills of the
trades still open) against reading the journal's fills alone (the baseline), and against booking
every fill (what it would cost to replay the whole history), on a real SQLite journal of 20,000
fills of one strategy going long and flat, left holding one trade. Aim: close to the bare read.

    .venv/bin/python bench/narration_start.py
"""

from __future__ import annotations

import sys
import tempfile
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from timing import median_time  # noqa: E402

from rulebot.runtime.journal import Journal  # noqa: E402
from rulebot.runtime.messages import Fill, OrderRecord  # noqa: E402
from rulebot.runtime.narration import Narrator  # noqa: E402
from rulebot.runtime.trades import TradeBook  # noqa: E402

FILLS = 20_001
REPEAT = 3


def fill_journal(journal: Journal) -> None:
    with journal.batch():
        for index in range(1, FILLS + 1):
            side = "buy" if index % 2 else "sell"
            journal.record_order(OrderRecord(
                index, "s", "ETH", side, "market", Decimal("0.5"), None, None, False, "filled",
                index, index, filled=Decimal("0.5"), reason="signal",
            ))  # fmt: skip
            price = Decimal(3000 + index % 50)
            journal.record_fill(
                Fill(index, index, "s", "ETH", side, Decimal("0.5"), price, Decimal("0.3"), index)
            )


def book_everything(journal: Journal) -> None:
    book = TradeBook()
    for fill in journal.fills():
        book.add(fill, lambda _: "")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, Journal.open(Path(folder) / "j.sqlite") as book:
        fill_journal(book)
        bare = median_time(book.fills, REPEAT)
        ours = median_time(lambda: Narrator(book), REPEAT)
        every = median_time(lambda: book_everything(book), REPEAT)
    print(f"a journal of {FILLS:,} fills, one trade open")
    print(f"  Narrator(journal)      {ours * 1000:8.1f} ms")
    print(f"  journal.fills()        {bare * 1000:8.1f} ms  (the baseline)")
    print(f"  booking every fill     {every * 1000:8.1f} ms  (the whole history)")
    print(f"  ratio to the baseline  {ours / bare:8.2f}x")
    print(f"  booking every fill     {every / bare:8.2f}x")


if __name__ == "__main__":
    main()

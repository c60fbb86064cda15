"""How often a clean stop leaves a position without its stop: `rulebot run` is sent SIGTERM while
its first entry is held on the way to the venue (the sim's `/admin/faults/delay` on sendTx), as
`tests/e2e/test_stop.py` does, N times (default 6), each on a fresh paused sim.

Counted per stop: a position at the venue, its fills all in the journal, a stop-loss order of the
bot resting at the venue, the end-of-run summary naming it, and the exit code.

    .venv/bin/python bench/stop_protection.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rulebot.venues.sim.serving import SimThread  # noqa: E402
from rulebot.venues.sim.settings import SimSettings  # noqa: E402
from tests.e2e.test_stop import (  # noqa: E402
    entry_landed,
    held_and_protected,
    sigterm_during_an_entry,
    wait_for,
)


def one_stop(folder: Path) -> tuple[bool, bool, bool, bool, float]:
    """(exit 0, position held, stop resting, summary names it, seconds the stop took)."""
    runner = SimThread(SimSettings(speed=0))
    with runner as sim:
        began = time.monotonic()
        output, code = sigterm_during_an_entry(runner, sim, folder)
        took = time.monotonic() - began
        wait_for(lambda: entry_landed(sim))
        try:
            size, stops = runner.call(lambda _: held_and_protected(sim, folder / "j.sqlite"))
        except AssertionError:  # a fill the journal missed
            return code == 0, True, False, False, took
    named = f"hold ETH +{size}: stop at " in output and "rest at the venue" in output
    return code == 0, size > 0, len(stops) == 1, named, took


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    table = Table("stop", "exit 0", "position", "fills journaled + stop at venue", "summary", "s")
    protected = 0
    for n in range(count):
        with tempfile.TemporaryDirectory() as folder:
            clean, held, stop, named, took = one_stop(Path(folder))
        protected += held and stop
        table.add_row(str(n + 1), str(clean), str(held), str(stop), str(named), f"{took:.1f}")
    console = Console()
    console.print(table)
    console.print(f"{protected} of {count} stops left the position with its stop at the venue")


if __name__ == "__main__":
    main()

"""What a channel sends: one notice, or a summary of many, as a title, a text and JSON data.

A batch keeps every kind's count but only the first few notices, so a storm of a million fills
costs the same memory as a storm of five.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from rulebot.runtime.messages import Notice

KEPT: Final = 5
"""How many notices a summary lists before `... and N more`."""

_LABELS: Final[dict[str, str]] = {
    "fill": "fill",
    "risk": "risk",
    "reload": "rule reloaded",
    "reload_error": "rule not reloaded",
    "disconnected": "disconnected",
    "reconnected": "reconnected",
    "reconciled": "VENUE DIFFERS: adopted",
    "crash": "CRASH",
}


def label(notice: Notice) -> str:
    """The notice's kind in words; a risk event says whether it is a breach or a recovery."""
    if notice.kind == "risk":
        state = notice.data.get("state")
        return "risk limit recovered" if state == "recovered" else "RISK LIMIT BREACHED"
    return _LABELS.get(notice.kind, notice.kind)


def clock(time_ms: int) -> str:
    """`2026-11-25 12:00:01 UTC`."""
    return datetime.fromtimestamp(time_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass
class Batch:
    """Notices gathered for one channel since its last message."""

    counts: Counter[str] = field(default_factory=Counter)
    kept: list[Notice] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, notice: Notice) -> None:
        self.counts[notice.kind] += 1
        if len(self.kept) < KEPT:
            self.kept.append(notice)

    def __bool__(self) -> bool:
        return self.total > 0


@dataclass(frozen=True)
class Message:
    """One outgoing message, in the forms the channels need."""

    title: str
    text: str
    counts: dict[str, int]
    notices: tuple[Notice, ...]
    omitted: int

    @property
    def is_summary(self) -> bool:
        return sum(self.counts.values()) > 1

    def as_json(self) -> dict[str, object]:
        """The generic webhook's body: the text, counts by kind, and the notices it lists."""
        return {
            "source": "rulebot",
            "title": self.title,
            "text": self.text,
            "summary": self.is_summary,
            "counts": self.counts,
            "notices": [
                {
                    "kind": n.kind,
                    "time_ms": n.time_ms,
                    "time": clock(n.time_ms),
                    "message": n.message,
                    "data": n.data,
                }
                for n in self.notices
            ],
            "omitted": self.omitted,
        }


def compose(batch: Batch) -> Message:
    """One notice as itself; several as a summary: counts by kind, then the first few."""
    counts = dict(batch.counts.most_common())
    notices = tuple(batch.kept)
    omitted = batch.total - len(notices)
    if batch.total == 1:
        (notice,) = notices
        first_line = notice.message.splitlines()[0] if notice.message else ""
        title = f"rulebot {label(notice)}: {first_line}"
        text = f"{label(notice)} at {clock(notice.time_ms)}\n{notice.message}"
        return Message(_short(title), text, counts, notices, 0)
    by_kind = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    title = f"rulebot: {batch.total} events ({by_kind})"
    lines = [title]
    for notice in notices:
        lines.append(f"- {clock(notice.time_ms)} {label(notice)}: {notice.message}")
    if omitted:
        lines.append(f"... and {omitted} more")
    return Message(_short(title), "\n".join(lines), counts, notices, omitted)


def _short(title: str, limit: int = 150) -> str:
    return title if len(title) <= limit else title[: limit - 3] + "..."


__all__ = ["KEPT", "Batch", "Message", "clock", "compose", "label"]

"""Did-you-mean suggestions for misspelled names and keywords."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

PINE_PRICE_AVERAGES = {
    "hl2": "(high + low) / 2",
    "hlc3": "(high + low + close) / 3",
    "ohlc4": "(open + high + low + close) / 4",
}
"""Pine Script's names for the bar's average prices, which rulebot writes out."""


def unknown_name_help(name: str, known: Iterable[str]) -> str:
    """The help for a name that is not defined: Pine's spelling, a did-you-mean, or `let`."""
    if name in PINE_PRICE_AVERAGES:
        return f"`{name}` is Pine Script's; write `{PINE_PRICE_AVERAGES[name]}`"
    guess = did_you_mean(name, known)
    return f"did you mean `{guess}`?" if guess else "define it with `let` or `param`"


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to `word`, if one is close enough to be a likely typo."""
    pool = list(dict.fromkeys(candidates))
    lowered = {c.lower(): c for c in pool}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return lowered[word.lower()]
    matches = difflib.get_close_matches(word, pool, n=1, cutoff=0.75)
    if matches:
        return matches[0]
    matches = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.7)
    if matches:
        return lowered[matches[0]]
    # A longer or shorter spelling of one name: `histogram` for `hist`, `stop` for `stop_loss`.
    word = word.lower()
    stems = [
        c
        for low, c in lowered.items()
        if min(len(low), len(word)) >= 3 and (low.startswith(word) or word.startswith(low))
    ]
    return stems[0] if len(stems) == 1 else None

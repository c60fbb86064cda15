"""`rulebot explain`: every value and decision of a strategy, bar by bar, and why it traded."""

from rulebot.explain.clauses import Clause, conditions
from rulebot.explain.decisions import Explanation, Summary, explain
from rulebot.explain.records import ClauseValue, Decision

__all__ = [
    "Clause",
    "ClauseValue",
    "Decision",
    "Explanation",
    "Summary",
    "conditions",
    "explain",
]

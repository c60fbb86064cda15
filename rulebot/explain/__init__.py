"""`rulebot explain`: every value and decision of a strategy, bar by bar, and why it traded."""

from rulebot.explain.clauses import Clause, conditions
from rulebot.explain.decisions import ClauseValue, Decision, Explanation, Summary, explain

__all__ = [
    "Clause",
    "ClauseValue",
    "Decision",
    "Explanation",
    "Summary",
    "conditions",
    "explain",
]

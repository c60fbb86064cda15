"""`rulebot explain`: every value and decision of a strategy, bar by bar, and why it traded.

`clauses` (a condition as a tree of clauses) and `records` (a decision) are what the backtest
(`decisions.explain`) and the live runtime (`rulebot.runtime.decisions`) both build on;
`render` prints them.
"""

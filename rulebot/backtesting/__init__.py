"""The backtester: fill model, metrics and reports."""

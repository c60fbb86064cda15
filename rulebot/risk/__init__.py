"""The risk decision, made once for the backtest and for the live bot (see `decision`)."""

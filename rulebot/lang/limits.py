"""Per-strategy risk limits (`risk { max_position 0.5 ETH; max_drawdown 10% }`): what each
limit accepts (a percentage, a base or quote amount, bars, a count, a ratio) and its value."""

from __future__ import annotations

from collections.abc import Callable

from rulebot.lang import ast, ir
from rulebot.lang.diagnostics import Diagnostic, Span
from rulebot.lang.expressions import Context, ExprChecker, Scope

QUOTE_UNITS = ("USDC", "USD")

# What each risk limit accepts.
_LIMITS: dict[str, tuple[str, ...]] = {
    "max_position": ("base", "quote", "percent"),
    "max_daily_loss": ("percent", "quote"),
    "max_drawdown": ("percent",),
    "cooldown": ("bars",),
    "max_open_orders": ("count",),
    "max_leverage": ("ratio",),
    "max_order_notional": ("quote",),
}
_LIMIT_EXAMPLES = {
    "max_position": "`max_position 0.5 ETH`, `max_position 2000 USDC` or `max_position 20%`",
    "max_daily_loss": "`max_daily_loss 3%` or `max_daily_loss 300 USDC`",
    "max_drawdown": "`max_drawdown 10%`",
    "cooldown": "`cooldown 5 bars`",
    "max_open_orders": "`max_open_orders 4`",
    "max_leverage": "`max_leverage 3`",
    "max_order_notional": "`max_order_notional 5000 USDC`",
}


class LimitChecker:
    """Checks the `risk` blocks of one strategy."""

    def __init__(self, scope: Scope, base: Context, report: Callable[[Diagnostic], None]) -> None:
        self.scope = scope
        self.base = base
        self.report = report

    def run(self, blocks: list[ast.RiskDecl], markets: tuple[str, ...]) -> dict[str, ir.Limit]:
        limits: dict[str, ir.Limit] = {}
        for block in blocks:
            for item in block.limits:
                if item.name in limits:
                    self._error("E207", f"`{item.name}` is set twice", item.span)
                    continue
                limit = self._limit(item, markets)
                if limit is not None:
                    limits[item.name] = limit
        return limits

    def _limit(self, item: ast.RiskLimit, markets: tuple[str, ...]) -> ir.Limit | None:
        accepted = _LIMITS[item.name]
        example = _LIMIT_EXAMPLES[item.name]
        amount = item.amount
        value = ExprChecker(self.scope).number(amount.value, self.base, f"`{item.name}`")
        if value is None:
            return None
        if not value.info.constant:
            return self._error(
                "E403",
                f"`{item.name}` must be a constant",
                amount.value.span,
                help=f"e.g. {example}",
            )
        number = ExprChecker(self.scope).constant_value(value)
        if number is None or isinstance(number, bool):
            return self._error("E406", f"`{item.name}` has no value", amount.value.span)
        if amount.of_cash:
            return self._error(
                "E404",
                f"`{item.name}` does not take a share of cash",
                amount.span,
                help=f"e.g. {example}",
            )
        unit = amount.unit
        if value.info.unit == "percent":
            mode = "percent"
        elif unit in QUOTE_UNITS:
            mode = "quote"
        elif unit is not None and unit in markets:
            mode = "base"
        elif unit == "bars" or (unit is None and accepted == ("bars",)):
            mode = "bars"
        elif unit is None and accepted == ("count",):
            mode = "count"
        elif (unit is None or unit == "x") and accepted == ("ratio",):
            mode = "ratio"
        else:
            mode = "?"
        if mode not in accepted:
            what = (
                f"`{unit}`" if unit else ("a percentage" if mode == "percent" else "a plain number")
            )
            return self._error(
                "E404",
                f"`{item.name}` does not take {what}",
                amount.span,
                help=f"e.g. {example}",
            )
        if mode in ("bars", "count") and float(number) != int(number):
            return self._error("E407", f"`{item.name}` must be a whole number", amount.value.span)
        if number < 0 or (number == 0 and item.name != "cooldown"):
            return self._error(
                "E406", f"`{item.name}` must be positive", amount.value.span, help=f"e.g. {example}"
            )
        market = unit if mode == "base" else None
        return ir.Limit(item.name, mode, float(number), item.span, market)  # type: ignore[arg-type]

    def _error(self, code: str, message: str, span: Span, help: str | None = None) -> None:
        self.report(Diagnostic(code, message, span, help=help))
        return None

"""Answers as values: each typed answer read the way rulebot.yaml will read it, so a prompt
accepts exactly what the written file will load, and says what is wrong in the config's words."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import yaml
from pydantic_core import PydanticCustomError

from rulebot.config import (
    LossLimit,
    api_key_index_problem,
    parse_leverage,
    parse_percent,
    parse_quote_amount,
)
from rulebot.wizard.prompts import Validator


def whole_number(low: int, high: int) -> Validator:
    """A check that an answer is a whole number from `low` to `high`."""

    def check(text: str) -> str | None:
        text = text.strip()
        if not text.isdigit() or not low <= int(text) <= high:
            return f"a whole number from {low} to {high}"
        return None

    return check


def api_key_index(text: str) -> str | None:
    """What is wrong with an API key index typed at the prompt, in rulebot.yaml's words; None if
    the bot may sign with it (2 to 254)."""
    text = text.strip()
    if not text.isdigit():
        return "a whole number from 2 to 254"
    problem = api_key_index_problem(int(text))
    return None if problem is None else f"{problem[0]}: {problem[1]}"


def _typed(text: str) -> object:
    """The answer as YAML would read it in rulebot.yaml, so a prompt accepts what the file will."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, str | int | float) else text


def _via(parse: Callable[[object], Any], text: str) -> Any:
    """`parse` applied to the typed answer, its refusal turned into a ValueError's words."""
    try:
        return parse(_typed(text.strip()))
    except PydanticCustomError as error:
        help_text = (error.context or {}).get("help")
        raise ValueError(error.message() + (f": {help_text}" if help_text else "")) from None


def quote_amount(text: str) -> Decimal:
    """`1000 USDC` (or `1000`) as a Decimal amount; ValueError says what is wrong."""
    return _via(parse_quote_amount, text)


def leverage(text: str) -> Decimal:
    """`3` or `3x` as a Decimal multiple of equity."""
    return _via(parse_leverage, text)


def loss_limit(text: str) -> LossLimit:
    """`5%` of equity or `500 USDC`; a bare number is refused, as rulebot.yaml refuses it."""
    return _via(LossLimit.parse, text)


def percent(text: str) -> Decimal:
    """`20%` as the fraction 0.2."""
    return _via(parse_percent, text)


def items(text: str) -> list[str]:
    """`a, b,c` as [a, b, c]: a flag's list."""
    return [item.strip() for item in text.split(",") if item.strip()]

"""Amounts of money as the pages show them: always with the currency (settings.CONSOLE_CURRENCY)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

SYMBOLS = {"CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def currency_code() -> str:
    return (getattr(settings, "CONSOLE_CURRENCY", "") or "CNY").upper()


def money(amount) -> str:
    """``Decimal("1.5")`` → "¥1.50" (CNY); a currency without a symbol here → "1.50 CHF"; None → "—"."""
    if amount is None:
        return "—"
    value = Decimal(amount)
    # Two decimals, more only when the amount has them (a price of 0.0125 per hour stays exact).
    if value == value.quantize(Decimal("0.01")):
        value = value.quantize(Decimal("0.01"))
    else:
        value = value.normalize()
    code = currency_code()
    symbol = SYMBOLS.get(code)
    return f"{symbol}{value}" if symbol else f"{value} {code}"

"""Token amounts: decimal strings for people (`"2.5"`), integer wei (18 decimals) on chain."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

DECIMALS = 18
WEI_PER_TOKEN = 10**DECIMALS


class AmountError(ValueError):
    """A token amount a person typed cannot be used."""


def parse_amount(text: str | int | float | Decimal) -> int:
    """Parse a decimal token amount (`"2.5"`) into wei; refuses negatives and >18 decimals."""
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise AmountError(f"{text!r} is not a number; write an amount like 2.5") from None
    if not value.is_finite() or value < 0:
        raise AmountError(f"{text!r} is not a valid amount; it must be zero or positive")
    wei = value * WEI_PER_TOKEN
    if wei != wei.to_integral_value():
        raise AmountError(f"{text!r} has more than {DECIMALS} decimal places")
    return int(wei)


def format_amount(wei: int) -> str:
    """Format wei as the shortest exact decimal string (`2500000000000000000` → `"2.5"`)."""
    sign = "-" if wei < 0 else ""
    whole, frac = divmod(abs(int(wei)), WEI_PER_TOKEN)
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{str(frac).rjust(DECIMALS, '0').rstrip('0')}"


def amount_json(wei: int) -> dict[str, str]:
    """The JSON form every command uses: both the decimal and the integer wei (as a string)."""
    return {"amount": format_amount(wei), "wei": str(int(wei))}

"""Money is held as integer cents everywhere; these turn it into text and back."""

from decimal import Decimal, InvalidOperation


def parse_cents(text: str) -> int:
    """'$1,234.50' or '1234.5' -> 123450. Raises ValueError naming the problem."""
    cleaned = text.strip().replace(",", "").removeprefix("$")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"not an amount: {text!r} (use 1234.56)") from None
    if value != value.quantize(Decimal("0.01")):
        raise ValueError(f"more than two decimals: {text!r}")
    return int(value * 100)


def format_cents(cents: int | None) -> str:
    return "" if cents is None else f"{Decimal(cents) / 100:.2f}"

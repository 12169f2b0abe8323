"""Text normalisation as a practitioner compares answers (graders, and label matching of plain-text
classification answers)."""

from __future__ import annotations

import re
import unicodedata

_NUMBER = r"(?<!\w)[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?!\w)"
_TOKEN = re.compile(rf"{_NUMBER}|[^\W_]+")
"""A number ("1,000", "-2.50") or a run of letters and digits; punctuation, symbols and
underscores separate tokens and are dropped."""
_IS_NUMBER = re.compile(_NUMBER)


def normalise(text: str) -> str:
    """The text as a practitioner compares answers: unicode NFKC, case folded, punctuation and
    symbols dropped, whitespace collapsed, numbers written one way ("1,000" and "1000.0" are "1000").

    Accents are kept: "rosé" and "rose" are different words.
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_number(t) for t in _TOKEN.findall(folded))


def _number(token: str) -> str:
    # Text, not Decimal: a 40-digit number keeps every digit.
    if not _IS_NUMBER.fullmatch(token):
        return token
    sign = "-" if token[0] == "-" else ""
    whole, _, fraction = token.lstrip("+-").replace(",", "").partition(".")
    whole, fraction = whole.lstrip("0") or "0", fraction.rstrip("0")
    if whole == "0" and not fraction:
        sign = ""  # -0 is 0
    return f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}"

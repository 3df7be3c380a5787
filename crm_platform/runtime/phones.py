"""Mainland China phone numbers in one stored form: E.164 (``+8613800138000``).

Accepted spellings: ``13800138000``, ``138-0013-8000``, ``138 0013 8000``,
``+86 138 0013 8000``, ``0086 13800138000``, ``86 13800138000``, full-width digits,
and separators ``space - . ( )``. Mobile numbers are 11 digits starting 13-19.

Landlines are accepted too, because customers' switchboards are landlines:
written with the trunk zero and area code (``010-12345678``, ``0755 1234 5678``,
``0571-8765432``) or internationally (``+86 10 1234 5678``), and stored as
``+861012345678``. Two-digit areas (10, 20-29) take 8-digit subscriber numbers,
three-digit areas (3xx-9xx) 7 or 8, never starting with 0. A number
without country code or trunk zero is read as a mobile. Extensions, service numbers (95xxx, 400...)
and numbers outside the mainland are refused.
"""

from __future__ import annotations

import re
import unicodedata

_SEPARATORS = re.compile(r"[\s\-.()]")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
# 400 and 800 are nationwide service prefixes, not areas.
_LANDLINE = re.compile(r"^(?:(?:10|2\d)[1-9]\d{7}|(?![48]00)[3-9]\d{2}[1-9]\d{6,7})$")
_COUNTRY_PREFIXES = ("+86", "0086")


def normalize_cn_phone(raw: str) -> str | None:
    """The E.164 form of a mainland mobile or landline number, or None when it is not one."""
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw))
    parsed = _national_number(text)
    if parsed is None:
        return None
    national, landline_allowed = parsed
    if _MOBILE.match(national) or (landline_allowed and _LANDLINE.match(national)):
        return "+86" + national
    return None


def _national_number(text: str) -> tuple[str, bool] | None:
    """The number without country code and trunk zero, and whether it may be a landline.

    A bare number without country code or trunk zero can only be a mobile: a
    landline written that way (or a 400 service number) has no area code.
    """
    for prefix in _COUNTRY_PREFIXES:
        if text.startswith(prefix):
            rest = text[len(prefix) :]
            # Some write the trunk zero after the country code: +86 010 ...
            return (rest[1:] if rest.startswith("0") else rest), True
    if not text.isdigit():
        return None
    if text.startswith("0"):
        return text[1:], True
    if text.startswith("86") and len(text) == 13:
        return text[2:], False
    return text, False

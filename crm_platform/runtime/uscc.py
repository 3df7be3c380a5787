"""The unified social credit code (统一社会信用代码, GB 32100-2015) and its check character.

Eighteen characters: registration authority (1), organisation category (1),
the registering authority's GB/T 2260 division code (6 digits), the
organisation code (9) and a check character computed over the first 17. The
alphabet leaves out I, O, Z, S and V so that they cannot be misread.
"""

from __future__ import annotations

import re

# 31 symbols, so that a check value modulo 31 always has a character.
CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
USCC_LENGTH = 18
_VALUES = {character: index for index, character in enumerate(CHARSET)}
_ALPHABET = frozenset(CHARSET)
_SHAPE = re.compile(rf"^[{CHARSET}]{{2}}[0-9]{{6}}[{CHARSET}]{{10}}$")


def uscc_check_character(first17: str) -> str:
    """The check character (18th) for the first 17 characters of a code.

    Raises ValueError when `first17` is not 17 characters of the code's alphabet.
    """
    body = first17.upper()
    if len(body) != USCC_LENGTH - 1 or not _ALPHABET.issuperset(body):
        raise ValueError(f"{first17!r} is not 17 characters of the USCC alphabet {CHARSET}")
    # map() keeps the sum in C: an import checks this once per row.
    total = sum(map(int.__mul__, map(_VALUES.__getitem__, body), WEIGHTS))
    return CHARSET[(31 - total % 31) % 31]


def has_uscc_shape(code: str) -> bool:
    """True when `code` (upper case) has the 18-character layout, whatever its check character."""
    return _SHAPE.match(code) is not None


def is_valid_uscc(code: str) -> bool:
    """True when `code` is a well-formed code whose check character is right (case-insensitive)."""
    candidate = code.upper()
    return has_uscc_shape(candidate) and uscc_check_character(candidate[:17]) == candidate[17]

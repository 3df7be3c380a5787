"""The text a picker searches with: checked once, and made safe inside a LIKE pattern.

Shared by the user search (`users.search_users`) and the org unit search
(`org.search_units`), so both refuse the same bad input with the same message.
"""

from __future__ import annotations

from crm_platform.runtime.errors import InvalidOperation

SEARCH_LIMIT = 20
"""How many matches a picker's search returns unless it asks for another number."""
MAX_SEARCH_LIMIT = 100
MAX_SEARCH_LENGTH = 100
"""Longer search text is refused: no name, email or key a picker looks for needs more."""
LIKE_ESCAPE = "\\"


def checked_search_text(query: str, limit: int) -> str:
    """The stripped search text, after checking it and `limit` (`InvalidOperation` if unusable)."""
    if not 1 <= limit <= MAX_SEARCH_LIMIT:
        raise InvalidOperation(
            f"a search returns between 1 and {MAX_SEARCH_LIMIT} matches; {limit} was asked"
        )
    text = query.strip()
    if len(text) > MAX_SEARCH_LENGTH:
        raise InvalidOperation(
            f"the search text is {len(text)} characters long; use at most {MAX_SEARCH_LENGTH}"
        )
    return text


def contains_pattern(text: str) -> str:
    """A LIKE pattern (escaped with `LIKE_ESCAPE`) matching values that contain `text`."""
    return f"%{escape_like(text)}%"


def prefix_pattern(text: str) -> str:
    """A LIKE pattern (escaped with `LIKE_ESCAPE`) matching values that start with `text`."""
    return f"{escape_like(text)}%"


def escape_like(text: str) -> str:
    """`text` with LIKE's wildcards escaped, so that ``%`` and ``_`` match only themselves."""
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )

"""The rows of a list page, written as HTML here rather than in the template.

Why: a page of 50 rows and 7 columns puts about 700 values through the template's
autoescape, and markupsafe builds a `Markup` object for each; that was a fifth of
the whole request (``python -m bench.http_list``). Here each cell's text is escaped
once, with `html.escape`, and a value that repeats down a column (a choice label, an
owner's name, a region) is formatted and escaped once per page. Record ids are
integers and class names come from a fixed vocabulary, so neither needs escaping.
The rest of the page stays in ``records/list.html``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from html import escape
from typing import Any

from markupsafe import Markup

from blueprints.presenting import Formatter

CellWriter = Callable[[Any, str, int], str]
"""Writes one cell: its stored value, the record page's URL and the record id."""

_MEMOISED = (str, int)
"""Types of stored values whose cell text is kept for the next row with the same value."""


def cell_writer(css: str, link: bool, write: Formatter) -> CellWriter:
    """How one column writes its cells: its `<td>`, the value's text escaped, a link if it has one.

    A linked cell with no text shows ``#id``, so that every row can be opened.
    """
    opening = f'<td class="{escape(css)}">' if css else "<td>"
    texts: dict[Any, str] = {}

    def text_of(value: Any) -> str:
        if type(value) in _MEMOISED:
            found = texts.get(value)
            if found is None:
                found = texts[value] = escape(write(value))
            return found
        return escape(write(value))

    if link:

        def linked(value: Any, url: str, record_id: int) -> str:
            return f'{opening}<a href="{url}">{text_of(value) or f"#{record_id}"}</a></td>'

        return linked
    return lambda value, _url, _record_id: f"{opening}{text_of(value)}</td>"


def write_rows(
    records: Iterable[Mapping[str, Any]],
    cells: Sequence[tuple[str, CellWriter]],
    record_url: str,
    select_label: str,
) -> Markup:
    """The `<tr>` of each record: a selection box, then each of `cells` (field key and writer).

    `record_url` is the record page's URL up to the id.
    """
    url_prefix = escape(record_url)
    select = escape(select_label)
    out: list[str] = []
    append = out.append
    for record in records:
        record_id = record["id"]
        if type(record_id) is not int:
            raise TypeError(f"a record id must be an integer, not {record_id!r}")
        url = f"{url_prefix}{record_id}"
        append(
            f'<tr data-id="{record_id}"><td class="select-col"><input type="checkbox" '
            f'name="selected" value="{record_id}" aria-label="{select}"></td>'
        )
        for key, write_cell in cells:
            append(write_cell(record.get(key), url, record_id))
        append("</tr>\n")
    return Markup("".join(out))  # noqa: S704 - each piece is escaped above, or an integer

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

ColumnWriter = Callable[[Sequence[Any], Sequence[str], Sequence[int]], list[str]]
"""Writes one column's cells: the rows' stored values, record page URLs and record ids."""

_MEMOISED = (str, int)
"""Types of stored values whose cell is kept for the next row with the same value."""


def column_writer(css: str, link: bool, write: Formatter) -> ColumnWriter:
    """How one column writes its cells: its `<td>`, the value's text escaped, a link if it has one.

    A linked cell with no text shows ``#id``, so that every row can be opened. An
    unlinked cell is the same for the same value, so a value repeated down the
    column (a choice, an owner, a region) is formatted, escaped and wrapped once.
    """
    opening = f'<td class="{escape(css)}">' if css else "<td>"
    if link:

        def linked(values: Sequence[Any], urls: Sequence[str], ids: Sequence[int]) -> list[str]:
            return [
                f'{opening}<a href="{url}">{escape(write(value)) or f"#{record_id}"}</a></td>'
                for value, url, record_id in zip(values, urls, ids, strict=True)
            ]

        return linked
    cells: dict[Any, str] = {}

    def unlinked(values: Sequence[Any], _urls: Sequence[str], _ids: Sequence[int]) -> list[str]:
        out = []
        for value in values:
            if type(value) in _MEMOISED:
                cell = cells.get(value)
                if cell is None:
                    cell = cells[value] = f"{opening}{escape(write(value))}</td>"
            else:
                cell = f"{opening}{escape(write(value))}</td>"
            out.append(cell)
        return out

    return unlinked


def write_rows(
    records: Iterable[Mapping[str, Any]],
    cells: Sequence[tuple[str, ColumnWriter]],
    record_url: str,
    select_label: str,
) -> Markup:
    """The `<tr>` of each record: a selection box, then each of `cells` (field key and writer).

    `record_url` is the record page's URL up to the id. Written a column at a
    time, so that each column's writer runs once a page rather than once a cell.
    """
    rows = list(records)
    ids = [record["id"] for record in rows]
    for record_id in ids:
        if type(record_id) is not int:
            raise TypeError(f"a record id must be an integer, not {record_id!r}")
    url_prefix = escape(record_url)
    urls = [f"{url_prefix}{record_id}" for record_id in ids]
    select = escape(select_label)
    heads = [
        f'<tr data-id="{record_id}"><td class="select-col"><input type="checkbox" '
        f'name="selected" value="{record_id}" aria-label="{select}"></td>'
        for record_id in ids
    ]
    columns = [writer([record.get(key) for record in rows], urls, ids) for key, writer in cells]
    body = "</tr>\n".join("".join(row) for row in zip(heads, *columns, strict=True))
    return Markup(body + "</tr>\n" if rows else "")  # noqa: S704 - each piece is escaped above, or an integer

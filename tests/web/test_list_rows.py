"""The list body written in Python: escaped cells, record links, and repeated values."""

from __future__ import annotations

from typing import Any

import pytest

from blueprints.list_rows import column_writer, write_rows


def _rows(records: list[dict[str, Any]], **writers: Any) -> str:
    return str(write_rows(records, list(writers.items()), "/r/customer/", "Select"))


def test_hostile_cell_text_is_shown_as_text() -> None:
    html = _rows(
        [{"id": 7, "name": "<script>alert('x')</script> & Co"}], name=column_writer("", False, str)
    )
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; Co" in html


def test_the_link_column_links_to_the_record_and_shows_its_id_when_empty() -> None:
    writer = column_writer("", True, lambda value: "" if value is None else str(value))
    html = _rows([{"id": 7, "name": "Acme"}, {"id": 8, "name": None}], name=writer)
    assert '<td><a href="/r/customer/7">Acme</a></td>' in html
    assert '<td><a href="/r/customer/8">#8</a></td>' in html


def test_each_row_has_its_selection_box_and_cells_keep_their_class() -> None:
    html = _rows([{"id": 7, "amount": "1,200"}], amount=column_writer("number", False, str))
    assert '<tr data-id="7">' in html
    assert 'name="selected" value="7" aria-label="Select"' in html
    assert '<td class="number">1,200</td>' in html


def test_a_value_repeated_down_a_column_is_formatted_once() -> None:
    calls: list[Any] = []

    def label(value: Any) -> str:
        calls.append(value)
        return f"label of {value}"

    writer = column_writer("", False, label)
    html = _rows([{"id": i, "level": "gold"} for i in range(1, 6)], level=writer)
    assert html.count("label of gold") == 5
    assert calls == ["gold"]


def test_unhashable_values_are_formatted_each_time() -> None:
    writer = column_writer("", False, ", ".join)
    html = _rows([{"id": 1, "tags": ["a", "b"]}, {"id": 2, "tags": ["a", "b"]}], tags=writer)
    assert html.count("<td>a, b</td>") == 2


def test_a_record_id_that_is_not_an_integer_is_refused() -> None:
    with pytest.raises(TypeError, match="record id"):
        _rows([{"id": '1"><script>'}], name=column_writer("", False, str))


def test_no_records_write_no_rows_and_every_row_is_closed() -> None:
    writer = column_writer("", False, str)
    assert _rows([], name=writer) == ""
    html = _rows([{"id": 1, "name": "A"}, {"id": 2, "name": "B"}], name=writer)
    assert html.count("<tr ") == html.count("</tr>") == 2
    assert html.index("<td>A</td>") < html.index('<tr data-id="2">') < html.index("<td>B</td>")

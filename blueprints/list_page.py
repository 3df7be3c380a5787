"""The runtime UI's start page and generated list pages.

A list page is the hottest page of the product: it asks the record service for
one page and a capped count, and renders what the user may see of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from flask import flash, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from blueprints.context import (
    capabilities,
    current_configuration,
    current_principal,
    entity_or_404,
    services,
)
from blueprints.list_rows import column_writer, write_rows
from blueprints.listing import SCOPES, ListRequest, columns_of, parse_list_request
from blueprints.navigation import my_units, navigation
from blueprints.presenting import column_formatter, resolve, show
from blueprints.record_routes import bp
from crm_platform.metadata.conditions import ConditionError
from crm_platform.metadata.model import FieldDef, localize
from crm_platform.runtime.errors import InvalidOperation
from crm_platform.runtime.record_capabilities import EntityCapabilities
from crm_platform.runtime.record_queries import Count, Page

COUNT_CAP = 10_000


@dataclass(frozen=True, slots=True)
class ListColumn:
    """A column of the list as the template writes it, decided once rather than once per cell.

    `css` is the class of its cells (numbers right-aligned, masked values marked);
    `link` marks the column whose value links to the record. A sortable column
    has the URL that sorts by it (descending when it is the ascending sort now);
    `sorted` is ``asc`` or ``desc`` when the page is sorted by it.
    """

    key: str
    label: str
    sortable: bool
    numeric: bool
    link: bool
    css: str
    sort_url: str
    sorted: str


_QUERY_SAFE = "!$'()*,/:;?@"
"""What `url_for` leaves unquoted in a query string (`werkzeug.urls._urlencode`)."""


def list_link(list_url: str, query: Mapping[str, str]) -> str:
    """The list page's URL with a query string, as `url_for` writes it, from its URL built once."""
    return f"{list_url}?{urlencode(query, safe=_QUERY_SAFE)}" if query else list_url


def record_url_prefix(entity_key: str) -> str:
    """The record page's URL up to the id, so that rows need no `url_for` each."""
    sample = url_for("records.show_record", entity=entity_key, record_id=0)
    if not sample.endswith("/0"):
        raise RuntimeError(
            f"the record page's URL {sample!r} no longer ends with the record id; "
            "build each row's link with url_for in records/list.html instead"
        )
    return sample[:-1]


@bp.get("/")
@login_required
def home() -> str:
    """The start page: the entities the user may work with."""
    return render_template("records/home.html", items=navigation())


@bp.get("/r/<entity>/")
@login_required
def list_records(entity: str) -> str:
    """The entity's list view: columns, sort, search, filters, keyset pages, a capped count."""
    entity_def = entity_or_404(entity)
    view = current_configuration().default_list_view(entity)
    caps = capabilities(entity)
    wanted = parse_list_request(request.args, entity_def, view, caps.field_levels, caps.sortable)
    condition = wanted.condition(view)
    principal = current_principal()
    service = services().records
    search = wanted.search or None
    fields = columns_of(entity_def, view, caps.field_levels)
    try:
        page = service.list(
            principal,
            entity,
            filter=condition,
            search=search,
            sort=wanted.service_sort(view),
            page_size=view.page_size if view is not None else 50,
            cursor=wanted.cursor,
            fields=tuple(f.key for f in fields),  # what the page shows, not every column
        )
        count = service.count(principal, entity, filter=condition, search=search, cap=COUNT_CAP)
    except (InvalidOperation, ConditionError) as problem:
        flash(
            _("This list cannot be shown with these settings: %(problem)s", problem=problem),
            "error",
        )
        page, count = Page([], None, None), Count(0, True)
    values = show()
    resolve(values, entity_def, page.rows, [f.key for f in fields])
    language = values.language
    list_url = url_for("records.list_records", entity=entity)
    columns = _columns(fields, caps, entity_def.title_field, wanted, list_url, language)
    cells = [
        (f.key, column_writer(c.css, c.link, column_formatter(values, f, caps.level(f.key))))
        for f, c in zip(fields, columns, strict=True)
    ]
    return render_template(
        "records/list.html",
        entity=entity_def,
        entity_label=localize(entity_def.plural_label, language),
        view_label=localize(view.label, language) if view is not None else "",
        columns=columns,
        may_create=caps.holds("create"),
        rows=write_rows(page.rows, cells, record_url_prefix(entity), _("Select")),
        page=page,
        list_url=list_url,
        prev_url=list_link(list_url, wanted.query(cursor=page.prev_cursor))
        if page.prev_cursor
        else "",
        next_url=list_link(list_url, wanted.query(cursor=page.next_cursor))
        if page.next_cursor
        else "",
        count=count,
        wanted=wanted,
        scopes=list(SCOPES),
        active_entity=entity,
        filter_labels={
            control.field.key: localize(control.field.label, language) for control in wanted.filters
        },
        unit_options=my_units()
        if any(control.kind == "unit_subtree" for control in wanted.filters)
        else [],
        option_labels={
            control.field.key: [
                (o.key, localize(o.label, language), control.values.get("") == o.key)
                for o in control.field.options
            ]
            for control in wanted.filters
        },
    )


def _columns(
    fields: list[FieldDef],
    caps: EntityCapabilities,
    title_field: str,
    wanted: ListRequest,
    list_url: str,
    language: str,
) -> list[ListColumn]:
    """The columns of the list; the title field's links to the record (else the first column's)."""
    link = next((i for i, f in enumerate(fields) if f.key == title_field), 0)
    columns = []
    for i, f in enumerate(fields):
        numeric = f.field_type.value_kind in ("integer", "decimal")
        masked = caps.level(f.key) == "masked"
        css = " ".join(name for name, on in (("number", numeric), ("masked", masked)) if on)
        sortable = f.key in caps.sortable
        sorted_now = wanted.sort[1] if wanted.sort is not None and wanted.sort[0] == f.key else ""
        sort = ("-" + f.key) if sorted_now == "asc" else f.key
        sort_url = list_link(list_url, wanted.query(sort=sort, cursor=None)) if sortable else ""
        columns.append(
            ListColumn(
                f.key,
                localize(f.label, language),
                sortable,
                numeric,
                i == link,
                css,
                sort_url,
                sorted_now,
            )
        )
    return columns
